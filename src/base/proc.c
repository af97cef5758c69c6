#include "config.h"
#include "base/proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t dtp_peak_rss(void)
{
	char line[256];
	size_t kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmHWM:", 6) == 0) {
			kb = strtoull(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb * 1024;
}
