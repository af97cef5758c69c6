/* dtpipe base: the few helpers every module shares (errors for people, logging,
 * the counter-based PRNG, aligned memory and arenas, the monotonic clock,
 * little-endian packing, spin/futex waits, whole-buffer I/O, option values,
 * the stop signals' handler, the per-core speed probe, sorting and medians of timings).
 * Nothing here knows about models, data, transports or schedules. */
#ifndef DTP_BASE_H
#define DTP_BASE_H

#include "base/err.h"
#include "base/log.h"
#include "base/prng.h"
#include "base/mem.h"
#include "base/clock.h"
#include "base/proc.h"
#include "base/bytes.h"
#include "base/sync.h"
#include "base/fdio.h"
#include "base/parse.h"
#include "base/preempt.h"
#include "base/cpuprobe.h"
#include "base/cpuid.h"
#include "base/stats.h"

#endif
