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
