/* Loaded before libfaketime by scripts/any_day.sh.
 *
 * libfaketime 0.9.10 (Debian 12) with FAKETIME_DONT_FAKE_MONOTONIC=1 still shifts the absolute
 * deadline of clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), which Python's time.sleep
 * uses: every sleep fails with EINVAL. Faking the monotonic clock instead hangs every
 * timed wait on a lock (sem_clockwait is not intercepted, so the kernel waits for a
 * deadline days away). So: the wall clock is faked, the monotonic clock is not, and
 * sleeps on any clock but the wall clock go straight to the kernel.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_nanosleep_fn)(clockid_t, int, const struct timespec *, struct timespec *);

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req, struct timespec *rem) {
    if (clock == CLOCK_REALTIME) {
        /* a wall-clock deadline is in faked time: libfaketime translates it */
        clock_nanosleep_fn next = (clock_nanosleep_fn)dlsym(RTLD_NEXT, "clock_nanosleep");
        return next(clock, flags, req, rem);
    }
    /* clock_nanosleep returns the error number rather than setting errno */
    return syscall(SYS_clock_nanosleep, clock, flags, req, rem) == 0 ? 0 : errno;
}
