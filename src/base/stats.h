/* Sorting timings and taking their median: one comparator for every
 * module's best-of and median-of figures. */
#ifndef DTP_BASE_STATS_H
#define DTP_BASE_STATS_H

#include <stddef.h>
#include <stdlib.h>

static inline int dtp_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* v[0..n) ascending, in place */
static inline void dtp_sort_doubles(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), dtp_cmp_double);
}

/* the median of v[0..n) (n > 0; the mean of the middle two when n is
 * even), sorting v */
static inline double dtp_median_doubles(double *v, size_t n)
{
	dtp_sort_doubles(v, n);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif
