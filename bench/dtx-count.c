/*  dtx-count - counts a process's ZeroMQ messages and event-loop turns for
    dtx-bench's counts pass (docs/performance.md), loaded with LD_PRELOAD.

    The coordinator and the participants have no counters of their own for
    these, so dtx-bench starts them with this library preloaded: it wraps
    libzmq's send, receive and poll calls and counts

      msgs_out  messages sent (the last frame of each, no ZMQ_SNDMORE)
      msgs_in   messages received (the last frame of each)
      polls     zmq_poll calls (one per event-loop turn in dtx's loops)

    on ROUTER and DEALER sockets only, and

      allocs    heap allocations (malloc, calloc, realloc, posix_memalign,
                aligned_alloc, memalign; strdup and the like go through
                malloc), every thread of the process: libzmq's and
                libpq's too, as they are part of a message's cost

    the latter which are the sockets dtx talks
    over; inproc PAIR pipes (CZMQ actors) and the ZAP handler's REP socket
    are left out.  A ZeroMQ message is what dtx's codec sends (the ROUTER
    side's routing frame is part of it, not a message of its own).

    The counters live in a file that DTX_COUNT_FILE names, mapped shared,
    so that dtx-bench reads them from outside at any time; without
    DTX_COUNT_FILE they are in this process (dtx_count_counters () finds
    them: dtx-bench's own client side).  Relaxed atomic adds: exact, and
    a few nanoseconds a call.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zmq.h>
#include "dtx-count.h"
#include <stdbool.h>

static dtx_count_t s_local;
static dtx_count_t *s_counts = &s_local;
static __thread int s_depth;        //  a wrapped call made from inside another

__attribute__ ((constructor)) static void
s_init (void)
{
    const char *path = getenv ("DTX_COUNT_FILE");
    if (!path || !*path)
        return;
    int fd = open (path, O_RDWR | O_CREAT, 0644);
    if (fd == -1)
        return;
    //  Not truncated: a libtool wrapper script loads us first, then execs
    //  the program in the same process, which maps the same file
    if (ftruncate (fd, sizeof (dtx_count_t)) == 0) {
        void *map = mmap (NULL, sizeof (dtx_count_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map != MAP_FAILED) {
            s_counts = (dtx_count_t *) map;
            s_counts->magic = DTX_COUNT_MAGIC;
        }
    }
    close (fd);
}

dtx_count_t *
dtx_count_counters (void)
{
    s_counts->magic = DTX_COUNT_MAGIC;
    return s_counts;
}

static void *
s_next (const char *name)
{
    return dlsym (RTLD_NEXT, name);
}

//  ROUTER or DEALER: the sockets dtx's messages travel on
static bool
s_counted (void *socket)
{
    static int (*real) (void *, int, void *, size_t *);
    if (!real)
        real = (int (*) (void *, int, void *, size_t *)) s_next ("zmq_getsockopt");
    int type = -1;
    size_t size = sizeof type;
    return socket && real && real (socket, ZMQ_TYPE, &type, &size) == 0
        && (type == ZMQ_ROUTER || type == ZMQ_DEALER);
}

static bool
s_more (void *socket)
{
    static int (*real) (void *, int, void *, size_t *);
    if (!real)
        real = (int (*) (void *, int, void *, size_t *)) s_next ("zmq_getsockopt");
    int more = 0;
    size_t size = sizeof more;
    return real && real (socket, ZMQ_RCVMORE, &more, &size) == 0 && more;
}

static void
s_add (uint64_t *counter)
{
    __atomic_fetch_add (counter, 1, __ATOMIC_RELAXED);
}

#define WRAP(ret, name, params, args)                                       \
    static ret (*real) params;                                              \
    if (!real)                                                              \
        real = (ret (*) params) s_next (name);                              \
    s_depth++;                                                              \
    ret rc = real args;                                                     \
    s_depth--;

int
zmq_msg_send (zmq_msg_t *msg, void *socket, int flags)
{
    WRAP (int, "zmq_msg_send", (zmq_msg_t *, void *, int), (msg, socket, flags))
    if (rc >= 0 && !s_depth && !(flags & ZMQ_SNDMORE) && s_counted (socket))
        s_add (&s_counts->msgs_out);
    return rc;
}

int
zmq_sendmsg (void *socket, zmq_msg_t *msg, int flags)
{
    WRAP (int, "zmq_sendmsg", (void *, zmq_msg_t *, int), (socket, msg, flags))
    if (rc >= 0 && !s_depth && !(flags & ZMQ_SNDMORE) && s_counted (socket))
        s_add (&s_counts->msgs_out);
    return rc;
}

int
zmq_send (void *socket, const void *buf, size_t len, int flags)
{
    WRAP (int, "zmq_send", (void *, const void *, size_t, int), (socket, buf, len, flags))
    if (rc >= 0 && !s_depth && !(flags & ZMQ_SNDMORE) && s_counted (socket))
        s_add (&s_counts->msgs_out);
    return rc;
}

int
zmq_send_const (void *socket, const void *buf, size_t len, int flags)
{
    WRAP (int, "zmq_send_const", (void *, const void *, size_t, int), (socket, buf, len, flags))
    if (rc >= 0 && !s_depth && !(flags & ZMQ_SNDMORE) && s_counted (socket))
        s_add (&s_counts->msgs_out);
    return rc;
}

int
zmq_msg_recv (zmq_msg_t *msg, void *socket, int flags)
{
    WRAP (int, "zmq_msg_recv", (zmq_msg_t *, void *, int), (msg, socket, flags))
    if (rc >= 0 && !s_depth && !zmq_msg_more (msg) && s_counted (socket))
        s_add (&s_counts->msgs_in);
    return rc;
}

int
zmq_recvmsg (void *socket, zmq_msg_t *msg, int flags)
{
    WRAP (int, "zmq_recvmsg", (void *, zmq_msg_t *, int), (socket, msg, flags))
    if (rc >= 0 && !s_depth && !zmq_msg_more (msg) && s_counted (socket))
        s_add (&s_counts->msgs_in);
    return rc;
}

int
zmq_recv (void *socket, void *buf, size_t len, int flags)
{
    WRAP (int, "zmq_recv", (void *, void *, size_t, int), (socket, buf, len, flags))
    if (rc >= 0 && !s_depth && !s_more (socket) && s_counted (socket))
        s_add (&s_counts->msgs_in);
    return rc;
}

int
zmq_poll (zmq_pollitem_t *items, int nitems, long timeout)
{
    WRAP (int, "zmq_poll", (zmq_pollitem_t *, int, long), (items, nitems, timeout))
    if (!s_depth) {
        //  A loop turn if it polls a ROUTER or DEALER socket
        for (int i = 0; i < nitems; i++)
            if (items [i].socket) {
                if (s_counted (items [i].socket)) {
                    s_add (&s_counts->polls);
                    break;
                }
            }
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Heap allocations: glibc's own entry points underneath (no dlsym, which
//  allocates itself)

extern void *__libc_malloc (size_t size);
extern void *__libc_calloc (size_t count, size_t size);
extern void *__libc_realloc (void *ptr, size_t size);
extern void *__libc_memalign (size_t alignment, size_t size);

static inline void
s_alloc_counted (void)
{
    __atomic_fetch_add (&s_counts->allocs, 1, __ATOMIC_RELAXED);
}

void *
malloc (size_t size)
{
    s_alloc_counted ();
    return __libc_malloc (size);
}

void *
calloc (size_t count, size_t size)
{
    s_alloc_counted ();
    return __libc_calloc (count, size);
}

void *
realloc (void *ptr, size_t size)
{
    s_alloc_counted ();
    return __libc_realloc (ptr, size);
}

int
posix_memalign (void **out, size_t alignment, size_t size)
{
    s_alloc_counted ();
    void *ptr = __libc_memalign (alignment, size);
    if (!ptr)
        return 12;      //  ENOMEM
    *out = ptr;
    return 0;
}

void *
aligned_alloc (size_t alignment, size_t size)
{
    s_alloc_counted ();
    return __libc_memalign (alignment, size);
}

void *
memalign (size_t alignment, size_t size)
{
    s_alloc_counted ();
    return __libc_memalign (alignment, size);
}
