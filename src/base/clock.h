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

/* CPU time of the whole process (every thread), for what a span computed
 * apart from the time another process took its core */
static inline uint64_t dtp_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline double dtp_now(void)
{
	return (double)dtp_now_ns() * 1e-9;
}

/* Milliseconds from now to a dtp_now_ns() deadline, for poll(): 0 once it has
 * passed, else rounded up (at least 1), so a wait never ends before the
 * deadline; capped at INT32_MAX. */
static inline int dtp_ms_left(uint64_t deadline_ns)
{
	uint64_t now = dtp_now_ns(), ms;

	if (now >= deadline_ns)
		return 0;
	ms = (deadline_ns - now + 999999u) / 1000000u;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

#endif
