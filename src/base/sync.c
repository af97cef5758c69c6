/* Futex waits and wakes (base/sync.h). */
#include "config.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/sync.h"

void dtp_futex_wait(void *word, uint32_t val, int64_t timeout_ns, int shared)
{
	struct timespec ts = { .tv_sec = (time_t)(timeout_ns / 1000000000),
			       .tv_nsec = (long)(timeout_ns % 1000000000) };

	syscall(SYS_futex, word, shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, val,
		timeout_ns < 0 ? NULL : &ts, NULL, 0);
}

void dtp_futex_wake(void *word, int shared)
{
	syscall(SYS_futex, word, shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
