/* The precision and fp32_matmul settings' names and whether this build
 * can run them. */
#include "config.h"
#include "model/model.h"

#include <errno.h>
#include <string.h>

int dtp_precision_parse(const char *text, enum dtp_precision *out, struct dtp_err *err)
{
	if (text && !strcmp(text, "fp32")) {
		*out = DTP_PRECISION_FP32;
		return 0;
	}
	if (text && !strcmp(text, "bf16")) {
		*out = DTP_PRECISION_BF16;
		return 0;
	}
	return dtp_errf_input(err, -EINVAL, "precision '%s': use fp32 or bf16", text ? text : "");
}

const char *dtp_precision_name(enum dtp_precision p)
{
	return p == DTP_PRECISION_BF16 ? "bf16" : "fp32";
}

size_t dtp_precision_wire_bytes(enum dtp_precision p, size_t fp32_bytes)
{
	return p == DTP_PRECISION_BF16 ? fp32_bytes / 2 : fp32_bytes;
}

int dtp_precision_check(enum dtp_precision p, struct dtp_err *err)
{
#ifndef DTP_HAVE_ONEDNN
	if (p == DTP_PRECISION_BF16)
		return dtp_errf_input(err, -ENOTSUP,
				      "precision = bf16 needs oneDNN, and this dtpipe was built without "
				      "it: install libdnnl-dev and re-run configure (or use precision = "
				      "fp32)");
#endif
	(void)err;
	return p == DTP_PRECISION_FP32 || p == DTP_PRECISION_BF16 ? 0 :
	       dtp_errf_input(err, -EINVAL, "unknown precision %d: use fp32 or bf16", (int)p);
}

int dtp_fp32_matmul_parse(const char *text, enum dtp_fp32_matmul *out, struct dtp_err *err)
{
	if (text && !strcmp(text, "openblas")) {
		*out = DTP_FP32_MATMUL_OPENBLAS;
		return 0;
	}
	if (text && !strcmp(text, "onednn")) {
		*out = DTP_FP32_MATMUL_ONEDNN;
		return 0;
	}
	return dtp_errf_input(err, -EINVAL, "fp32_matmul '%s': use openblas or onednn",
			      text ? text : "");
}

const char *dtp_fp32_matmul_name(enum dtp_fp32_matmul b)
{
	return b == DTP_FP32_MATMUL_ONEDNN ? "onednn" : "openblas";
}

int dtp_fp32_matmul_check(enum dtp_fp32_matmul b, struct dtp_err *err)
{
#ifndef DTP_HAVE_ONEDNN
	if (b == DTP_FP32_MATMUL_ONEDNN)
		return dtp_errf_input(err, -ENOTSUP,
				      "fp32_matmul = onednn needs oneDNN, and this dtpipe was built "
				      "without it: install libdnnl-dev and re-run configure (or use "
				      "fp32_matmul = openblas)");
#endif
	(void)err;
	return b == DTP_FP32_MATMUL_OPENBLAS || b == DTP_FP32_MATMUL_ONEDNN ? 0 :
	       dtp_errf_input(err, -EINVAL, "unknown fp32_matmul %d: use openblas or onednn", (int)b);
}
