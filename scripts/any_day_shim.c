/* Preloaded in front of libfaketime by scripts/any_day.sh (see docs/testing.md).
 *
 * The script shifts the wall clock by a constant offset (FAKETIME="+<n>s" or "-<n>s") and
 * leaves the monotonic clock alone. libfaketime 0.9.10 (Debian 12) gets two things wrong in
 * that set-up, so the calls a test run makes most are answered here instead:
 *
 * - clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), which Python's time.sleep uses, gets
 *   its deadline shifted anyway: every sleep failed with EINVAL.
 * - clock_gettime and pthread_cond_timedwait call getenv() on every call, which races with
 *   setenv() in another thread (os.environ[...] = ...): about one CLI process in thirty
 *   died of SIGSEGV, and an xdist worker with it. (Python's GIL waits on a condition
 *   variable with a timeout many times a second.)
 *
 * Here the offset is read once, at load time. The wall clock is the kernel's plus the
 * offset; a wall-clock deadline is moved back by it; everything else goes straight to
 * glibc. libfaketime still covers what is left (time(), timers, timespec_get, ...).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);
typedef int (*cond_timedwait_fn)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
typedef int (*sem_timedwait_fn)(sem_t *, const struct timespec *);

static time_t offset_s;
static int offset_known;
static clock_gettime_fn libc_clock_gettime;
static cond_timedwait_fn libc_cond_timedwait;
static sem_timedwait_fn libc_sem_timedwait;

__attribute__((constructor)) static void any_day_init(void) {
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (libc != NULL) {
        libc_clock_gettime = (clock_gettime_fn)dlsym(libc, "clock_gettime");
        libc_cond_timedwait =
            (cond_timedwait_fn)dlvsym(libc, "pthread_cond_timedwait", "GLIBC_2.3.2");
        libc_sem_timedwait = (sem_timedwait_fn)dlsym(libc, "sem_timedwait");
    }
    /* only the form the script writes; anything else is left to libfaketime */
    const char *spec = getenv("FAKETIME");
    if (spec == NULL || (spec[0] != '+' && spec[0] != '-')) return;
    char *end = NULL;
    long long seconds = strtoll(spec, &end, 10);
    if (end > spec + 1 && strcmp(end, "s") == 0) {
        offset_s = (time_t)seconds;
        offset_known = libc_clock_gettime != NULL && libc_cond_timedwait != NULL &&
                       libc_sem_timedwait != NULL;
    }
}

static int is_wall_clock(clockid_t clock) {
    return clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE;
}

static struct timespec moved_back(const struct timespec *deadline) {
    struct timespec real = *deadline;
    real.tv_sec -= offset_s;
    return real;
}

static void *next(const char *name) { return dlsym(RTLD_NEXT, name); }

int clock_gettime(clockid_t clock, struct timespec *now) {
    if (!offset_known) return ((clock_gettime_fn)next("clock_gettime"))(clock, now);
    int rc = libc_clock_gettime(clock, now);
    if (rc == 0 && is_wall_clock(clock)) now->tv_sec += offset_s;
    return rc;
}

int gettimeofday(struct timeval *restrict now, void *restrict zone) {
    if (!offset_known) {
        typedef int (*fn)(struct timeval *restrict, void *restrict);
        return ((fn)next("gettimeofday"))(now, zone);
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    now->tv_sec = wall.tv_sec;
    now->tv_usec = wall.tv_nsec / 1000;
    return 0;
}

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req, struct timespec *rem) {
    struct timespec real;
    if (is_wall_clock(clock) && (flags & TIMER_ABSTIME)) {
        if (!offset_known) {
            typedef int (*fn)(clockid_t, int, const struct timespec *, struct timespec *);
            return ((fn)next("clock_nanosleep"))(clock, flags, req, rem);
        }
        real = moved_back(req);
        req = &real;
    }
    /* clock_nanosleep returns the error number rather than setting errno */
    return syscall(SYS_clock_nanosleep, clock, flags, req, rem) == 0 ? 0 : errno;
}

int pthread_cond_timedwait(pthread_cond_t *restrict cond, pthread_mutex_t *restrict mutex,
                           const struct timespec *restrict deadline) {
    if (!offset_known) return ((cond_timedwait_fn)next("pthread_cond_timedwait"))(cond, mutex, deadline);
    /* glibc (2.25 on) keeps the condition's clock in bit 0 of __wrefs: 1 = monotonic */
    if (cond->__data.__wrefs & 1U) return libc_cond_timedwait(cond, mutex, deadline);
    struct timespec real = moved_back(deadline);
    return libc_cond_timedwait(cond, mutex, &real);
}

int sem_timedwait(sem_t *restrict sem, const struct timespec *restrict deadline) {
    if (!offset_known) return ((sem_timedwait_fn)next("sem_timedwait"))(sem, deadline);
    struct timespec real = moved_back(deadline);
    return libc_sem_timedwait(sem, &real);
}
