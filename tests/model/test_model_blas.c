/* dtp_blas_core / dtp_blas_core_warning: the kernel OpenBLAS says it runs,
 * and a warning exactly when OPENBLAS_CORETYPE forced a kernel without
 * AVX-512 on a CPU that has it. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>
#include <cblas.h>

#include "model/model.h"

static void test_core_named(void **state)
{
	(void)state;
	assert_string_equal(dtp_blas_core(), openblas_get_corename());
	assert_true(strlen(dtp_blas_core()) > 0);
}

static void test_warning(void **state)
{
	const char *core = dtp_blas_core(), *env = getenv("OPENBLAS_CORETYPE");
	char *keep = env ? strdup(env) : NULL, buf[256];
	int wide = !strcasecmp(core, "SkylakeX") || !strcasecmp(core, "Cooperlake") ||
		   !strcasecmp(core, "SapphireRapids");
	int avx512 = __builtin_cpu_supports("avx512f");

	(void)state;
	/* forced: warns iff the CPU has AVX-512 and the kernel does not use it */
	setenv("OPENBLAS_CORETYPE", core, 1);
	buf[0] = 0;
	assert_int_equal(dtp_blas_core_warning(buf, sizeof(buf)), avx512 && !wide);
	if (avx512 && !wide) {
		assert_non_null(strstr(buf, core));
		assert_non_null(strstr(buf, "unset OPENBLAS_CORETYPE"));
	}
	/* not forced: OpenBLAS picked for this CPU, nothing to say */
	unsetenv("OPENBLAS_CORETYPE");
	assert_int_equal(dtp_blas_core_warning(buf, sizeof(buf)), 0);
	if (keep)
		setenv("OPENBLAS_CORETYPE", keep, 1);
	free(keep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_core_named),
		cmocka_unit_test(test_warning),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
