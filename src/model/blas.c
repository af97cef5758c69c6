/* Which OpenBLAS kernel runs, and whether it is narrower than the CPU's
 * (model.h). OpenBLAS picks a kernel per CPU at load time unless
 * OPENBLAS_CORETYPE forces one; on an AVX-512 CPU a forced AVX2 kernel
 * ("Haswell") ran sgemm at ~0.55x of the default here (docs/benchmarks.md). */
#include "config.h"
#include "model/model.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* OpenBLAS 0.3.21's kernels that use AVX-512 */
static const char *const avx512_cores[] = { "SkylakeX", "Cooperlake", "SapphireRapids" };

const char *dtp_blas_core(void)
{
	const char *c = openblas_get_corename();

	return c ? c : "unknown";
}

int dtp_blas_core_warning(char *buf, size_t len)
{
	const char *core = dtp_blas_core(), *forced = getenv("OPENBLAS_CORETYPE");

#if defined(__x86_64__) && defined(__GNUC__)
	if (!forced || !*forced || !__builtin_cpu_supports("avx512f"))
		return 0;
#else
	return 0;
#endif
	for (size_t i = 0; i < sizeof(avx512_cores) / sizeof(avx512_cores[0]); i++)
		if (!strcasecmp(core, avx512_cores[i]))
			return 0;
	snprintf(buf, len,
		 "OpenBLAS runs its %s kernel (OPENBLAS_CORETYPE=%s) on a CPU with AVX-512: "
		 "fp32 matmuls run at about half the speed of its AVX-512 kernel; unset "
		 "OPENBLAS_CORETYPE to let OpenBLAS pick", core, forced);
	return 1;
}
