/* Monotonic time for step timing, deadlines and traces. */
#ifndef DTP_BASE_CLOCK_H
#define DTP_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t dtp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline double dtp_now(void)
{
	return (double)dtp_now_ns() * 1e-9;
}

#endif
