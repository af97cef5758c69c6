/* Parsing the small values of options and plan keys: a bounded integer, one
 * word of a fixed list. The callers write the message (they know the option). */
#ifndef DTP_BASE_PARSE_H
#define DTP_BASE_PARSE_H

/* s, all of it, as a decimal integer (strtol's syntax) from lo to hi: 0, or
 * -EINVAL when it is not a number, has more after it, or is out of range */
int dtp_parse_long(const char *s, long lo, long hi, long *out);
/* the index of s in words[0 .. n), or -1 */
int dtp_parse_word(const char *s, const char *const *words, int n);

#endif
