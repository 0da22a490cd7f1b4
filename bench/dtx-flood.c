/*  =========================================================================
    dtx-flood - a well-behaved client's latency while someone floods the
    coordinator (docs/performance.md, "Under a flood")

    One well-behaved client runs small 2-database transfers (dtx_begin,
    dtx_send on db1 and db2, dtx_commit) one after the other and measures
    each; first with nothing else going on (baseline), then while a flood
    runs, side by side in one run:

      a   BEGIN flood, one authenticated connection: BEGINs never ended,
          past client-txns-max refused (and kept coming)
      b1  frames just under the client endpoint's limit (a well-formed
          EXECUTE with a 63 MiB statement, refused: no transaction)
      b2  frames above the limit (ZeroMQ drops the connection; the flooder
          reconnects and sends the next)
      c   malformed frames, as fast as one connection sends them
      d   idle TCP connections to the client port (no handshake)
      d2  idle authenticated ZeroMQ connections (handshake done, silent)
      f   deferred statements of 1 MiB into one transaction of the
          flooder's, as fast as they go (each goes on to the participant)
      a2  BEGIN flood over many authenticated connections, until txns-max
          (last: the heap it grows is not given back)
      e   REGISTER flood on the participant port, distinct names (run it
          against an --insecure coordinator: with keys a stranger gets no
          handshake)

    For each: p50/p99 of the good client and their ratio to the baseline
    measured just before, the coordinator's RSS before, at its peak during
    the flood (VmHWM, reset before each flood through /proc/PID/clear_refs)
    and after, and the refusals the metrics endpoint counted.

    scripts/bench-flood.sh starts everything (clusters, keys, coordinator,
    participants) and runs this program.
    =========================================================================
*/
#include "dtx.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include <czmq.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>
#include <math.h>
#include <signal.h>
#include <sys/wait.h>

static struct {
    const char *clients;            //  the coordinator's client endpoint
    const char *participants;       //  ... participant endpoint
    pid_t pid;                      //  the coordinator
    const char *metrics;            //  HOST:PORT, or NULL
    const char *log;                //  the coordinator's log file, or NULL
    const char *cert;               //  the good client's secret certificate
    const char *flood_cert;         //  the flooder's
    const char *coordinator_cert;
    bool insecure;
    int seconds;                    //  per measurement
    int idle;                       //  connections for d and d2
    int connections;                //  for a2
    int txns_max, client_txns_max, participants_max;   //  the bounds (for the table)
    int nice;                       //  the flooder process's nice value
    const char *exe;                //  this program (the flooder runs as a copy of it)
} s_opt = { .seconds = 5, .idle = 500, .connections = 110,
            .txns_max = 100000, .client_txns_max = 1000, .participants_max = 256 };

static volatile sig_atomic_t s_stop;    //  the flooder stops (SIGTERM)
static volatile uint64_t s_flood_sent, s_flood_refused, s_flood_accepted;

//  --------------------------------------------------------------------------
//  The coordinator's memory

static long
s_status_kib (const char *field)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) s_opt.pid);
    FILE *file = fopen (path, "r");
    long value = -1;
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, field, strlen (field)) == 0)
            value = atol (line + strlen (field) + 1);
    if (file)
        fclose (file);
    return value;
}

//  CPU ticks (user + system) of the coordinator: the whole process, or
//  its main thread (the event loop) with main_thread
static long
s_cpu_ticks (bool main_thread)
{
    char path [96], text [1024];
    if (main_thread)
        snprintf (path, sizeof path, "/proc/%d/task/%d/stat", (int) s_opt.pid, (int) s_opt.pid);
    else
        snprintf (path, sizeof path, "/proc/%d/stat", (int) s_opt.pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    size_t n = fread (text, 1, sizeof text - 1, file);
    fclose (file);
    text [n] = 0;
    const char *at = strrchr (text, ')');
    long utime = 0, stime = 0;
    //  Fields after the name: state is 3rd; utime 14th, stime 15th
    if (at)
        sscanf (at + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime);
    return utime + stime;
}

//  The kernel's peak RSS starts again from the current RSS
static void
s_reset_peak (void)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/clear_refs", (int) s_opt.pid);
    FILE *file = fopen (path, "w");
    if (file) {
        fputs ("5", file);
        fclose (file);
    }
}

//  --------------------------------------------------------------------------
//  Metrics (the refusal counters) and the log

static char *
s_scrape (void)
{
    if (!s_opt.metrics)
        return NULL;
    char host [64];
    const char *colon = strrchr (s_opt.metrics, ':');
    snprintf (host, sizeof host, "%.*s", (int) (colon - s_opt.metrics), s_opt.metrics);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons (atoi (colon + 1)) };
    inet_pton (AF_INET, host, &address.sin_addr);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (connect (fd, (struct sockaddr *) &address, sizeof address)) {
        close (fd);
        return NULL;
    }
    const char *request = "GET /metrics HTTP/1.0\r\n\r\n";
    if (write (fd, request, strlen (request)) < 0) {
        close (fd);
        return NULL;
    }
    size_t size = 1 << 20, used = 0;
    char *body = (char *) calloc (size, 1);
    ssize_t n;
    while ((n = read (fd, body + used, size - used - 1)) > 0)
        used += n;
    close (fd);
    return body;
}

static double
s_metric (const char *text, const char *series)
{
    char line [256];
    snprintf (line, sizeof line, "\n%s ", series);
    const char *at = text? strstr (text, line): NULL;
    return at? atof (at + strlen (line)): -1;
}

typedef struct {
    double refused [6];
    double dropped;
    double live;
} counters_t;

static const char *s_reasons [6] = {
    "txns_max", "client_txns_max", "timeout_range", "not_owner", "participants_max", "wrong_reply"
};

static counters_t
s_counters (void)
{
    //  The snapshot is up to 250 ms old: let it catch up
    zclock_sleep (300);
    counters_t counters = { { 0 }, 0, 0 };
    char *text = s_scrape ();
    for (int i = 0; i < 6; i++) {
        char series [128];
        snprintf (series, sizeof series, "dtx_refused_total{reason=\"%s\"}", s_reasons [i]);
        counters.refused [i] = s_metric (text, series);
    }
    counters.dropped = s_metric (text, "dtx_dropped_frames_total");
    counters.live = s_metric (text, "dtx_transactions_live");
    free (text);
    return counters;
}

static int
s_log_lines (const char *word)
{
    if (!s_opt.log)
        return -1;
    FILE *file = fopen (s_opt.log, "r");
    if (!file)
        return -1;
    char line [4096];
    int count = 0;
    while (fgets (line, sizeof line, file))
        count += strstr (line, word) != NULL;
    fclose (file);
    return count;
}

//  --------------------------------------------------------------------------
//  The well-behaved client

typedef struct {
    size_t count, errors;
    double p50, p99;                //  ms
    char first_error [256];
} latency_t;

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y? -1: x > y;
}

static latency_t
s_measure (dtx_client_t *client, int seconds)
{
    latency_t result;
    memset (&result, 0, sizeof result);
    size_t size = 1 << 16;
    double *samples = (double *) malloc (size * sizeof (double));
    int64_t end = zclock_usecs () + (int64_t) seconds * 1000000;
    unsigned account = 1;
    while (zclock_usecs () < end) {
        char id [16];
        snprintf (id, sizeof id, "%u", account);
        account = account % 100 + 1;
        const char *params [] = { id };
        int64_t started = zclock_usecs ();
        dtx_txn_t *txn = dtx_begin (client, 10000);
        dtx_send (txn, "db1", "UPDATE accounts SET balance = balance - 1 WHERE id = $1::int", 1, params);
        dtx_send (txn, "db2", "UPDATE accounts SET balance = balance + 1 WHERE id = $1::int", 1, params);
        dtx_outcome_t outcome = dtx_commit (txn);
        double ms = (zclock_usecs () - started) / 1000.0;
        if (outcome != DTX_COMMITTED) {
            if (result.errors++ == 0)
                snprintf (result.first_error, sizeof result.first_error, "%s",
                          dtx_txn_error_message (txn));
            zclock_sleep (10);  //  a refusal comes back at once: do not spin
        }
        else {
            if (result.count == size)
                samples = (double *) realloc (samples, (size *= 2) * sizeof (double));
            samples [result.count++] = ms;
        }
        dtx_txn_destroy (&txn);
    }
    if (result.count) {
        qsort (samples, result.count, sizeof (double), s_compare);
        result.p50 = samples [(size_t) (result.count * 0.50)];
        result.p99 = samples [(size_t) (result.count * 0.99)];
    }
    free (samples);
    return result;
}

//  --------------------------------------------------------------------------
//  Flooders (each runs in its own thread, with its own sockets)

//  A DEALER as libdtx makes one, but with a small send queue: the flooder
//  waits on the network instead of buffering gigabytes in itself
static zsock_t *
s_flood_sock (const char *endpoint, int sndhwm, bool secure)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    zsock_set_linger (sock, 0);
    zsock_set_sndhwm (sock, sndhwm);
    zsock_set_sndtimeo (sock, 200);
    zsock_set_rcvtimeo (sock, 0);
    if (secure && !s_opt.insecure) {
        zcert_t *own = zcert_load (s_opt.flood_cert);
        zcert_t *server = zcert_load (s_opt.coordinator_cert);
        assert (own && server);
        zcert_apply (own, sock);
        zsock_set_curve_serverkey (sock, zcert_public_txt (server));
        zcert_destroy (&own);
        zcert_destroy (&server);
    }
    int rc = zsock_connect (sock, "%s", endpoint);
    assert (rc == 0);
    return sock;
}

//  Read and count what came back (BEGIN_OK / REGISTER_OK vs ERROR)
static void
s_drain_replies (zsock_t *sock)
{
    while (true) {
        dtx_proto_t *reply = NULL;
        char err [256];
        if (dtx_proto_recv (&reply, sock, err, sizeof err) == -1)
            return;
        if (reply && dtx_proto_id (reply) == DTX_PROTO_ERROR)
            s_flood_refused++;
        else
        if (reply)
            s_flood_accepted++;
        dtx_proto_destroy (&reply);
    }
}

static void
s_send_begin (zsock_t *sock, uint32_t seq, uint32_t timeout_ms)
{
    dtx_proto_t *begin = dtx_proto_new (DTX_PROTO_BEGIN);
    dtx_proto_set_seq (begin, seq);
    dtx_proto_set_timeout (begin, timeout_ms);
    if (dtx_proto_send (begin, sock) == 0)
        s_flood_sent++;
    dtx_proto_destroy (&begin);
}

//  a: one connection, BEGINs as fast as the replies come, never ended
static void *
s_flood_begin (void *arg)
{
    uint32_t timeout_ms = (uint32_t) (uintptr_t) arg;
    zsock_t *sock = s_flood_sock (s_opt.clients, 1000, true);
    uint32_t seq = 0;
    while (!s_stop) {
        //  At most 500 unanswered: a flood, not a queue in ourselves
        if (s_flood_sent - s_flood_refused - s_flood_accepted < 500)
            s_send_begin (sock, ++seq, timeout_ms);
        else {
            zmq_pollitem_t item = { zsock_resolve (sock), 0, ZMQ_POLLIN, 0 };
            zmq_poll (&item, 1, 10);
        }
        s_drain_replies (sock);
    }
    zsock_destroy (&sock);
    return NULL;
}

//  a2: many connections, client-txns-max BEGINs each and more, until
//  txns-max is reached
static void *
s_flood_begin_many (void *arg)
{
    uint32_t timeout_ms = (uint32_t) (uintptr_t) arg;
    int count = s_opt.connections;
    zsock_t **socks = (zsock_t **) calloc (count, sizeof (zsock_t *));
    for (int i = 0; i < count; i++)
        socks [i] = s_flood_sock (s_opt.clients, 2000, true);
    uint32_t seq = 0;
    int per = s_opt.client_txns_max;
    for (int round = 0; !s_stop; round++) {
        for (int i = 0; i < count && !s_stop; i++) {
            //  Each connection up to its own limit, then one more each
            //  round (refused: the global limit, or its own)
            int n = round == 0? per: 1;
            for (int k = 0; k < n; k++)
                s_send_begin (socks [i], ++seq, timeout_ms);
            s_drain_replies (socks [i]);
        }
        if (round > 0)
            zclock_sleep (5);
    }
    for (int i = 0; i < count; i++)
        zsock_destroy (&socks [i]);
    free (socks);
    return NULL;
}

//  b1: well-formed EXECUTEs with a statement near the frame limit
static void *
s_flood_near_limit (void *arg)
{
    zsock_t *sock = s_flood_sock (s_opt.clients, 2, true);
    size_t size = DTX_PROTO_LONGSTR_MAX - 1024;
    char *sql = (char *) malloc (size + 1);
    memset (sql, ' ', size);
    memcpy (sql, "SELECT 1 --", 11);
    sql [size] = 0;
    dtx_proto_t *execute = dtx_proto_new (DTX_PROTO_EXECUTE);
    dtx_proto_set_name (execute, "db1");
    dtx_proto_set_text (execute, sql);     //  (empty gid, nothing begun: refused)
    free (sql);
    uint32_t seq = 0;
    while (!s_stop) {
        dtx_proto_set_seq (execute, ++seq);
        if (dtx_proto_send (execute, sock) == 0)
            s_flood_sent++;
        s_drain_replies (sock);
    }
    dtx_proto_destroy (&execute);
    zsock_destroy (&sock);
    return NULL;
}

//  b2: frames above the limit: ZeroMQ refuses each before allocating it and
//  drops the connection; the DEALER reconnects by itself
static void *
s_flood_over_limit (void *arg)
{
    zsock_t *sock = s_flood_sock (s_opt.clients, 1, true);
    size_t size = DTX_MAXMSG_REQUEST + (1 << 20);
    char *frame = (char *) malloc (size);
    memset (frame, 'x', size);
    while (!s_stop)
        if (zmq_send (zsock_resolve (sock), frame, size, 0) == (int) size)
            s_flood_sent++;
    free (frame);
    zsock_destroy (&sock);
    return NULL;
}

//  f: one transaction of the flooder's, deferred statements of 1 MiB each
//  (past the hold bound every one goes ahead to the participant at once),
//  as fast as they go; never committed
static void *
s_flood_deferred (void *arg)
{
    zsock_t *sock = s_flood_sock (s_opt.clients, 100, true);
    s_send_begin (sock, 1, 20000);
    size_t size = 1 << 20;
    char *sql = (char *) malloc (size + 1);
    memset (sql, ' ', size);
    memcpy (sql, "SELECT 1 --", 11);
    sql [size] = 0;
    dtx_proto_t *execute = dtx_proto_new (DTX_PROTO_EXECUTE);
    dtx_proto_set_name (execute, "db1");
    dtx_proto_set_flags (execute, DTX_EXEC_DEFER);
    dtx_proto_set_text (execute, sql);     //  empty gid: the one just begun
    free (sql);
    uint32_t seq = 1;
    while (!s_stop) {
        dtx_proto_set_seq (execute, ++seq);
        if (dtx_proto_send (execute, sock) == 0)
            s_flood_sent++;
        s_drain_replies (sock);
    }
    dtx_proto_destroy (&execute);
    zsock_destroy (&sock);
    return NULL;
}

//  c: small malformed frames, as fast as they go
static void *
s_flood_malformed (void *arg)
{
    zsock_t *sock = s_flood_sock (s_opt.clients, 1000, true);
    byte garbage [] = { 0xAA, 0xD7, DTX_PROTO_VERSION, DTX_PROTO_EXECUTE, 0, 0 };   //  truncated
    while (!s_stop)
        for (int i = 0; i < 100; i++)
            if (zmq_send (zsock_resolve (sock), garbage, sizeof garbage, 0) == (int) sizeof garbage)
                s_flood_sent++;
    zsock_destroy (&sock);
    return NULL;
}

//  d: idle TCP connections (no ZMTP greeting, no handshake)
static void *
s_flood_idle_tcp (void *arg)
{
    const char *endpoint = s_opt.clients + strlen ("tcp://");
    char host [64];
    const char *colon = strrchr (endpoint, ':');
    snprintf (host, sizeof host, "%.*s", (int) (colon - endpoint), endpoint);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons (atoi (colon + 1)) };
    inet_pton (AF_INET, host, &address.sin_addr);
    int *fds = (int *) calloc (s_opt.idle, sizeof (int));
    for (int i = 0; i < s_opt.idle; i++) {
        fds [i] = socket (AF_INET, SOCK_STREAM, 0);
        if (fds [i] >= 0 && connect (fds [i], (struct sockaddr *) &address, sizeof address) == 0)
            s_flood_sent++;
    }
    while (!s_stop)
        zclock_sleep (50);
    for (int i = 0; i < s_opt.idle; i++)
        if (fds [i] >= 0)
            close (fds [i]);
    free (fds);
    return NULL;
}

//  d2: idle authenticated connections (each costs the coordinator a
//  ZeroMQ session and a heartbeat a second)
static void *
s_flood_idle_zmq (void *arg)
{
    zsock_t **socks = (zsock_t **) calloc (s_opt.idle, sizeof (zsock_t *));
    for (int i = 0; i < s_opt.idle; i++) {
        socks [i] = s_flood_sock (s_opt.clients, 10, true);
        zsock_set_heartbeat_ivl (socks [i], 1000);
        s_flood_sent++;
    }
    while (!s_stop)
        zclock_sleep (50);
    for (int i = 0; i < s_opt.idle; i++)
        zsock_destroy (&socks [i]);
    free (socks);
    return NULL;
}

//  e: REGISTER under distinct names, one after the other
static void *
s_flood_register (void *arg)
{
    zsock_t *sock = s_flood_sock (s_opt.participants, 1000, false);
    uint32_t seq = 0;
    while (!s_stop) {
        if (s_flood_sent - s_flood_refused - s_flood_accepted < 200) {
            dtx_proto_t *hello = dtx_proto_new (DTX_PROTO_REGISTER);
            dtx_proto_set_seq (hello, ++seq);
            char name [32];
            snprintf (name, sizeof name, "flood%u", seq);
            dtx_proto_set_name (hello, name);
            if (dtx_proto_send (hello, sock) == 0)
                s_flood_sent++;
            dtx_proto_destroy (&hello);
        }
        else
            zclock_sleep (1);
        s_drain_replies (sock);
    }
    zsock_destroy (&sock);
    return NULL;
}

//  --------------------------------------------------------------------------

typedef struct {
    const char *name;
    const char *what;
    void *(*run) (void *);
    void *arg;
    const char *bound;              //  what holds the memory (printed)
} flood_t;

static void
s_wait_no_live (int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        counters_t counters = s_counters ();
        if (counters.live <= 0)
            return;
    }
}

static void
s_run (dtx_client_t *client, const flood_t *flood)
{
    latency_t base = s_measure (client, s_opt.seconds);
    counters_t before = s_counters ();
    int log_before = s_log_lines ("dropped");
    long rss_before = s_status_kib ("VmRSS");
    s_reset_peak ();
    //  The flooder is a process of its own (a copy of this program), so
    //  that it has its own ZeroMQ context and I/O thread, and can be
    //  given a lower CPU priority (--nice: on a 2-core machine a flooder
    //  at full priority takes the CPU the client and the servers need,
    //  which a flooder on another host would not)
    int out [2];
    if (pipe (out))
        return;
    char nice [16], idle [16], connections [16];
    snprintf (nice, sizeof nice, "%d", s_opt.nice);
    snprintf (idle, sizeof idle, "%d", s_opt.idle);
    snprintf (connections, sizeof connections, "%d", s_opt.connections);
    const char *args [32] = { s_opt.exe, "--flooder", flood->name, "--clients", s_opt.clients,
                              "--participants", s_opt.participants, "--pid", "1", "--nice", nice,
                              "--idle", idle, "--connections", connections };
    int nargs = 15;
    if (s_opt.insecure)
        args [nargs++] = "--insecure";
    else {
        args [nargs++] = "--cert";
        args [nargs++] = s_opt.cert;
        args [nargs++] = "--flood-cert";
        args [nargs++] = s_opt.flood_cert;
        args [nargs++] = "--coordinator-cert";
        args [nargs++] = s_opt.coordinator_cert;
    }
    args [nargs] = NULL;
    pid_t flooder = fork ();
    if (flooder == 0) {
        dup2 (out [1], 1);
        close (out [0]);
        execv (s_opt.exe, (char *const *) args);
        _exit (127);
    }
    close (out [1]);
    zclock_sleep (1500);            //  let it build up
    long cpu_all = s_cpu_ticks (false), cpu_loop = s_cpu_ticks (true);
    int64_t cpu_from = zclock_mono ();
    latency_t during = s_measure (client, s_opt.seconds);
    double cpu_ms = (double) (zclock_mono () - cpu_from);
    double hz = (double) sysconf (_SC_CLK_TCK);
    double pct_all = (s_cpu_ticks (false) - cpu_all) / hz * 1000 / cpu_ms * 100;
    double pct_loop = (s_cpu_ticks (true) - cpu_loop) / hz * 1000 / cpu_ms * 100;
    long rss_during = s_status_kib ("VmRSS");
    long peak = s_status_kib ("VmHWM");
    kill (flooder, SIGTERM);
    char counts [256] = "";
    FILE *from = fdopen (out [0], "r");
    if (!fgets (counts, sizeof counts, from))
        counts [0] = 0;
    fclose (from);
    waitpid (flooder, NULL, 0);
    uint64_t sent = 0, accepted = 0, refused = 0;
    sscanf (counts, "%" SCNu64 " %" SCNu64 " %" SCNu64, &sent, &accepted, &refused);
    s_flood_sent = sent;
    s_flood_accepted = accepted;
    s_flood_refused = refused;
    counters_t after = s_counters ();
    int log_after = s_log_lines ("dropped");
    //  BEGIN floods: their transactions hold memory until they time out
    s_wait_no_live (30000);
    zclock_sleep (1000);
    long rss_after = s_status_kib ("VmRSS");

    printf ("\n%-3s %s\n", flood->name, flood->what);
    printf ("    flood: %" PRIu64 " sent, %" PRIu64 " accepted, %" PRIu64 " refused (as the flooder"
            " saw them)\n", (uint64_t) s_flood_sent, (uint64_t) s_flood_accepted,
            (uint64_t) s_flood_refused);
    printf ("    good client  baseline: %6zu tx  p50 %7.2f ms  p99 %7.2f ms  errors %zu\n",
            base.count, base.p50, base.p99, base.errors);
    printf ("                 flood:    %6zu tx  p50 %7.2f ms  p99 %7.2f ms  errors %zu%s%s\n",
            during.count, during.p50, during.p99, during.errors,
            during.errors? "  first: ": "", during.first_error);
    double r50 = base.p50 > 0 && during.p50 > 0? during.p50 / base.p50: NAN;
    double r99 = base.p99 > 0 && during.p99 > 0? during.p99 / base.p99: NAN;
    printf ("    ratio p50 %.2f  p99 %.2f  (target <= 2.00: %s)\n", r50, r99,
            r50 <= 2 && r99 <= 2 && during.errors == 0? "met": "MISSED");
    printf ("    coordinator CPU during the flood: %.0f%% of a core (event loop thread %.0f%%)\n",
            pct_all, pct_loop);
    printf ("    coordinator RSS: before %.1f MiB, during %.1f MiB, peak %.1f MiB, after %.1f MiB"
            " (+%.1f MiB at peak)\n", rss_before / 1024.0, rss_during / 1024.0, peak / 1024.0,
            rss_after / 1024.0, (peak - rss_before) / 1024.0);
    printf ("    bound: %s\n", flood->bound);
    printf ("    metrics:");
    for (int i = 0; i < 6; i++)
        if (after.refused [i] > before.refused [i])
            printf (" refused{%s} +%.0f", s_reasons [i], after.refused [i] - before.refused [i]);
    if (after.dropped > before.dropped)
        printf (" dropped_frames +%.0f", after.dropped - before.dropped);
    if (log_before >= 0)
        printf ("; log lines about dropped frames +%d", log_after - log_before);
    printf ("\n");
    printf ("flood: %s p50x=%.2f p99x=%.2f errors=%zu rss_before_mib=%.1f rss_peak_mib=%.1f"
            " rss_after_mib=%.1f\n", flood->name, r50, r99, during.errors, rss_before / 1024.0,
            peak / 1024.0, rss_after / 1024.0);
    fflush (stdout);
}

//  The floods, by name
static const flood_t *
s_floods (size_t *count)
{
    static char bound_a [160], bound_a2 [160], bound_e [160];
    snprintf (bound_a, sizeof bound_a, "client-txns-max = %d live transactions per connection",
              s_opt.client_txns_max);
    snprintf (bound_a2, sizeof bound_a2, "txns-max = %d live transactions in all",
              s_opt.txns_max);
    snprintf (bound_e, sizeof bound_e, "participants-max = %d names", s_opt.participants_max);
    //  Flood transactions live 20 s: past the measurement, then they go
    static flood_t all [] = {
        { "a", "BEGIN flood, one connection (never ended)", s_flood_begin, (void *) (uintptr_t) 20000,
          bound_a },
        { "b1", "frames just under the 65 MiB limit (63 MiB EXECUTE, refused)", s_flood_near_limit,
          NULL, "ZMQ_MAXMSGSIZE 65 MiB per frame; frames are read as the loop drains them" },
        { "b2", "frames above the limit (66 MiB; connection dropped, reconnects)",
          s_flood_over_limit, NULL, "ZMQ_MAXMSGSIZE: refused before it is allocated" },
        { "c", "malformed frames, one connection, as fast as it sends", s_flood_malformed, NULL,
          "nothing kept per frame; one log line a second" },
        { "d", "idle TCP connections to the client port (no handshake)", s_flood_idle_tcp, NULL,
          "a ZeroMQ session per connection; dropped after the 30 s handshake interval" },
        { "d2", "idle authenticated ZeroMQ connections", s_flood_idle_zmq, NULL,
          "a ZeroMQ session per connection, a heartbeat a second each" },
        { "f", "deferred statements of 1 MiB into one transaction, as fast as they go",
          s_flood_deferred, NULL, "1 MiB held per branch; past it, the send queue to the"
          " participant (SNDHWM 100000 messages)" },
        { "a2", "BEGIN flood, many connections, until txns-max", s_flood_begin_many,
          (void *) (uintptr_t) 20000, bound_a2 },
        { "e", "REGISTER flood, distinct names (participant port, --insecure)", s_flood_register,
          NULL, bound_e },
    };
    *count = sizeof all / sizeof all [0];
    return all;
}

static void
s_on_term (int signal)
{
    s_stop = 1;
}

//  The flooder process: run one flood until SIGTERM, then print what it
//  sent and what came back
static int
s_flooder (const char *name)
{
    signal (SIGTERM, s_on_term);
    if (s_opt.nice)
        setpriority (PRIO_PROCESS, 0, s_opt.nice);
    size_t nfloods;
    const flood_t *all = s_floods (&nfloods);
    for (size_t f = 0; f < nfloods; f++)
        if (streq (all [f].name, name)) {
            all [f].run (all [f].arg);
            printf ("%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", (uint64_t) s_flood_sent,
                    (uint64_t) s_flood_accepted, (uint64_t) s_flood_refused);
            return 0;
        }
    return 2;
}

int
main (int argc, char *argv [])
{
    const char *floods = "a,b1,b2,c,d,d2,f,a2";
    const char *flooder = NULL;
    s_opt.exe = "/proc/self/exe";
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        const char *value = i + 1 < argc? argv [i + 1]: NULL;
        if (streq (arg, "--insecure")) {
            s_opt.insecure = true;
            continue;
        }
        if (!value) {
            fprintf (stderr, "dtx-flood: %s needs a value\n", arg);
            return 2;
        }
        i++;
        if (streq (arg, "--clients")) s_opt.clients = value;
        else if (streq (arg, "--participants")) s_opt.participants = value;
        else if (streq (arg, "--pid")) s_opt.pid = atoi (value);
        else if (streq (arg, "--metrics")) s_opt.metrics = value;
        else if (streq (arg, "--log")) s_opt.log = value;
        else if (streq (arg, "--cert")) s_opt.cert = value;
        else if (streq (arg, "--flood-cert")) s_opt.flood_cert = value;
        else if (streq (arg, "--coordinator-cert")) s_opt.coordinator_cert = value;
        else if (streq (arg, "--seconds")) s_opt.seconds = atoi (value);
        else if (streq (arg, "--idle")) s_opt.idle = atoi (value);
        else if (streq (arg, "--connections")) s_opt.connections = atoi (value);
        else if (streq (arg, "--floods")) floods = value;
        else if (streq (arg, "--nice")) s_opt.nice = atoi (value);
        else if (streq (arg, "--flooder")) flooder = value;
        else {
            fprintf (stderr, "usage: dtx-flood --clients EP --participants EP --pid PID"
                     " [--metrics HOST:PORT] [--log FILE] [--cert F --flood-cert F"
                     " --coordinator-cert F | --insecure] [--seconds N] [--idle N]"
                     " [--connections N] [--nice N] [--floods a,a2,b1,b2,c,d,d2,f,e]\n");
            return 2;
        }
    }
    if (!s_opt.clients || !s_opt.participants || !s_opt.pid
    ||  (!s_opt.insecure && (!s_opt.cert || !s_opt.flood_cert || !s_opt.coordinator_cert))) {
        fprintf (stderr, "dtx-flood: --clients, --participants, --pid and (unless --insecure)"
                 " the three certificates are required\n");
        return 2;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    zsys_set_max_sockets (0);       //  d2 opens hundreds
    struct rlimit files;
    getrlimit (RLIMIT_NOFILE, &files);
    files.rlim_cur = files.rlim_max;
    setrlimit (RLIMIT_NOFILE, &files);

    if (flooder)
        return s_flooder (flooder);
    if (s_opt.insecure) {
        setenv ("DTX_CLIENT_CERT", "", 1);
        setenv ("DTX_COORDINATOR_CERT", "", 1);
    }
    dtx_client_t *client = s_opt.insecure? dtx_client_new (s_opt.clients, 20000)
                         : dtx_client_new_secure (s_opt.clients, 20000, s_opt.cert,
                                                  s_opt.coordinator_cert);
    const char *databases [] = { "db1", "db2" };
    if (!client || !dtx_client_wait_ready (client, databases, 2, 30000)) {
        fprintf (stderr, "dtx-flood: the system is not ready: %s\n",
                 client? dtx_client_error (client): "no client");
        return 1;
    }
    s_measure (client, 1);          //  warm-up, discarded
    size_t nfloods;
    const flood_t *all = s_floods (&nfloods);
    printf ("dtx-flood: %d s per measurement, coordinator pid %d%s, flooder at nice %d\n",
            s_opt.seconds, (int) s_opt.pid, s_opt.insecure? ", INSECURE run": "", s_opt.nice);
    for (size_t f = 0; f < nfloods; f++) {
        char list [128];
        snprintf (list, sizeof list, ",%s,", floods);
        char item [16];
        snprintf (item, sizeof item, ",%s,", all [f].name);
        if (strstr (list, item))
            s_run (client, &all [f]);
    }
    dtx_client_destroy (&client);
    return 0;
}
