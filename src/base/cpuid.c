#include "config.h"
#include "base/cpuid.h"

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

/* AMD's cores by display family and model (AMD's Processor Programming
 * References): family 0x19 is Zen 3 and Zen 4, told apart by model range;
 * family 0x1A is Zen 5 */
static void amd_core(struct dtp_cpu_ident *id)
{
	int m = id->model;

	if (id->family == 0x1A) {
		id->core = "Zen 5";
		id->avx512_bits = 512;
	} else if (id->family == 0x19 && ((m >= 0x10 && m <= 0x1F) || (m >= 0x60 && m <= 0x7F) ||
					  (m >= 0xA0 && m <= 0xAF))) {
		id->core = "Zen 4";
		id->avx512_bits = 256;
	} else if (id->family == 0x19) {
		id->core = "Zen 3";
	} else if (id->family == 0x17) {
		id->core = "Zen 2 or earlier";
	}
}

void dtp_cpu_ident(struct dtp_cpu_ident *id)
{
	unsigned a, b, c, d, max, fam, mod;
	unsigned brand[12];

	memset(id, 0, sizeof(*id));
	id->core = "";
	if (!__get_cpuid(0, &max, &b, &c, &d))
		return;
	memcpy(id->vendor, &b, 4);
	memcpy(id->vendor + 4, &d, 4);
	memcpy(id->vendor + 8, &c, 4);
	if (__get_cpuid(1, &a, &b, &c, &d)) {
		fam = (a >> 8) & 0xF;
		mod = (a >> 4) & 0xF;
		if (fam == 0xF)
			fam += (a >> 20) & 0xFF;
		if (fam == 0x6 || fam >= 0xF)
			mod |= ((a >> 16) & 0xF) << 4;
		id->family = (int)fam;
		id->model = (int)mod;
	}
	if (max >= 7) {
		__cpuid_count(7, 0, a, b, c, d);
		id->avx512 = (b >> 16) & 1;
		__cpuid_count(7, 1, a, b, c, d);
		id->bf16 = (a >> 5) & 1;
	}
	if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000004) {
		for (unsigned i = 0; i < 3; i++)
			__get_cpuid(0x80000002 + i, &brand[4 * i], &brand[4 * i + 1],
				    &brand[4 * i + 2], &brand[4 * i + 3]);
		char *s = (char *)brand, *e;

		s[47] = 0;
		while (*s == ' ')
			s++;
		snprintf(id->brand, sizeof(id->brand), "%s", s);
		e = id->brand + strlen(id->brand);
		while (e > id->brand && e[-1] == ' ')
			*--e = 0;
	}
	if (!strcmp(id->vendor, "AuthenticAMD"))
		amd_core(id);
}
#else
void dtp_cpu_ident(struct dtp_cpu_ident *id)
{
	memset(id, 0, sizeof(*id));
	id->core = "";
}
#endif

const char *dtp_cpu_ident_str(const struct dtp_cpu_ident *id, char *buf, size_t len)
{
	char width[48] = "";

	if (!id->vendor[0]) {
		snprintf(buf, len, "unknown CPU");
		return buf;
	}
	if (id->avx512 && id->avx512_bits)
		snprintf(width, sizeof(width), ", AVX-512 on %d-bit datapaths", id->avx512_bits);
	else if (id->avx512)
		snprintf(width, sizeof(width), ", AVX-512");
	snprintf(buf, len, "%s (%s family %d model %d%s%s%s%s)", id->brand[0] ? id->brand : "?",
		 id->vendor, id->family, id->model, id->core[0] ? ": " : "", id->core, width,
		 id->bf16 ? ", AVX512_BF16" : "");
	return buf;
}

const char *dtp_cpu_ident_short(const struct dtp_cpu_ident *id, char *buf, size_t len)
{
	if (!id->vendor[0])
		snprintf(buf, len, "unknown CPU");
	else
		snprintf(buf, len, "%s (%s family %d model %d)",
			 id->core[0] ? id->core : id->brand[0] ? id->brand : "CPU", id->vendor,
			 id->family, id->model);
	return buf;
}

const char *dtp_cpu_ident_key(const struct dtp_cpu_ident *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%d-%d", id->vendor[0] ? id->vendor : "unknown", id->family, id->model);
	return buf;
}
