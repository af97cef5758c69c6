/* Which CPU this is, from the cpuid instruction (x86-64; elsewhere only
 * "unknown"). Benchmarks print it beside their figures, and dtpipe
 * --check-env in its report: the same ISA flags (AVX-512, AVX512_BF16) run
 * at very different rates on different cores. A Zen 4 core executes a
 * 512-bit FMA as two 256-bit halves; a Zen 5 core (EPYC family 26) has
 * 512-bit datapaths, so the same binary's AVX-512 matmuls run about twice
 * as fast per clock there. A virtual machine's brand string may hide the
 * model ("AMD EPYC"); the family and model numbers still tell. */
#ifndef DTP_BASE_CPUID_H
#define DTP_BASE_CPUID_H

#include <stddef.h>

struct dtp_cpu_ident {
	char vendor[13];   /* "AuthenticAMD", "GenuineIntel", "" where unknown */
	char brand[49];    /* the brand string, trimmed; "" where unknown */
	int family, model; /* display family and model (base + extended) */
	int avx512, bf16;  /* AVX-512F and AVX512_BF16 */
	const char *core;  /* the core's name where known ("Zen 4"), else "" */
	int avx512_bits;   /* datapath width of an AVX-512 FMA where known (256, 512), else 0 */
};

/* fills *id for the CPU this runs on (all fields zero or "" off x86-64) */
void dtp_cpu_ident(struct dtp_cpu_ident *id);

/* one line for people, e.g. "AMD EPYC (AuthenticAMD family 25 model 17: Zen 4,
 * AVX-512 on 256-bit datapaths, AVX512_BF16)"; returns buf */
const char *dtp_cpu_ident_str(const struct dtp_cpu_ident *id, char *buf, size_t len);

/* the core and its numbers, for a start-up line, e.g. "Zen 4 (AuthenticAMD
 * family 25 model 17)", or the brand where the core is not known; returns buf */
const char *dtp_cpu_ident_short(const struct dtp_cpu_ident *id, char *buf, size_t len);

/* a short token without spaces that changes when the CPU does, e.g.
 * "AuthenticAMD-25-17" (for state files keyed by machine); returns buf */
const char *dtp_cpu_ident_key(const struct dtp_cpu_ident *id, char *buf, size_t len);

#endif
