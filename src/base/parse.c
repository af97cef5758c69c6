/* Bounded integers and words of a list (base/parse.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/parse.h"

int dtp_parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

int dtp_parse_word(const char *s, const char *const *words, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, words[i]) == 0)
			return i;
	return -1;
}
