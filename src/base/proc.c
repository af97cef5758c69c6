#include "config.h"
#include "base/proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the kB figure of /proc/self/status's line `key` ("VmHWM:"), in bytes */
static size_t status_bytes(const char *key)
{
	char line[256];
	size_t kb = 0, n = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, n) == 0) {
			kb = strtoull(line + n, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb * 1024;
}

size_t dtp_peak_rss(void)
{
	return status_bytes("VmHWM:");
}

size_t dtp_rss(void)
{
	return status_bytes("VmRSS:");
}
