/* Data-parallel replicas: what does not need MPI itself (is this process
 * under an MPI launcher), built with and without MPI. */
#include "config.h"

#include <stdlib.h>

#include "rdma/dp.h"

int dtp_dp_launched(void)
{
	return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") ||
	       (getenv("PMI_RANK") && getenv("PMI_SIZE"));
}

size_t dtp_dp_bucket_bytes(size_t plan_bytes, int given, int replicas)
{
	if (given)
		return plan_bytes;
	return replicas == 2 ? DTP_DP_BUCKET_BYTES : 0;
}
