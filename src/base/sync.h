/* Waiting on memory shared with other threads or processes: the CPU's pause
 * hint for spin loops, and futex waits and wakes on a 32-bit word. */
#ifndef DTP_BASE_SYNC_H
#define DTP_BASE_SYNC_H

#include <stdint.h>

/* In a spin loop: let the sibling hyperthread run and save power (x86
 * `pause`, AArch64 `yield`); nothing elsewhere. */
static inline void dtp_cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Sleep while the 32-bit word at `word` (a uint32_t, plain or _Atomic) still
 * holds `val`, until woken, or for at most timeout_ns (< 0: no limit).
 * shared: the word lies in memory other processes map (else the cheaper
 * process-private futex). Spurious returns happen: callers re-check. */
void dtp_futex_wait(void *word, uint32_t val, int64_t timeout_ns, int shared);
/* Wake every waiter on `word`. */
void dtp_futex_wake(void *word, int shared);

#endif
