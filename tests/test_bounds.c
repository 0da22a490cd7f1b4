/*  test_bounds - one test per coordinator bound not tested elsewhere
    (docs/operations.md, "Limits"): participant names under a REGISTER
    flood, the metrics endpoint's connections, the dropped-frame log rate,
    deferred statements held per branch (count and bytes), transaction
    timeouts at and past 2^31 ms on the wire.  Each checks the refusal, its
    count in the metrics, and that the coordinator goes on serving.

    (test_integration covers the BEGIN limits through libdtx and a
    stranger's gid; test_security frames over the size limit.) */
#include "testutil.h"
#include "dtx.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include <czmq.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>

//  Free ports of the harness's block (base .. base+9: clients,
//  participants, up to three clusters, metrics at base+9)
#define PORT_SPARE(n) (harness.metrics_port - 9 + 5 + (n))

static void
s_suite_setup (void)
{
    harness_start (2);
}

//  Poll until fn is true or timeout_ms passed
static bool
s_wait_for (bool (*fn) (void *), void *arg, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        if (fn (arg))
            return true;
        zclock_sleep (50);      //  polling interval, not a synchronisation
    }
    return fn (arg);
}

//  --------------------------------------------------------------------------
//  Metrics over HTTP

static int
s_connect (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge (fd, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons (port) };
    inet_pton (AF_INET, "127.0.0.1", &address.sin_addr);
    if (connect (fd, (struct sockaddr *) &address, sizeof address)) {
        close (fd);
        return -1;
    }
    return fd;
}

//  The whole answer (headers and body) of GET /metrics on port, "" if
//  the connection was refused or closed without an answer
static char *
s_scrape_port (int port)
{
    char *body = calloc (1 << 20, 1);
    int fd = s_connect (port);
    if (fd < 0)
        return body;
    //  Never hang: an answer comes at once or not at all
    struct timeval timeout = { 3, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    const char *request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write (fd, request, strlen (request)) == (ssize_t) strlen (request)) {
        size_t used = 0;
        ssize_t n;
        while ((n = read (fd, body + used, (1 << 20) - used - 1)) > 0)
            used += n;
    }
    close (fd);
    return body;
}

//  A sample's value, -1 if absent
static double
s_metric_port (int port, const char *series)
{
    char *text = s_scrape_port (port);
    char line [256];
    snprintf (line, sizeof line, "\n%s ", series);
    const char *at = strstr (text, line);
    double value = at? atof (at + strlen (line)): -1;
    free (text);
    return value;
}

static double
s_metric (const char *series)
{
    return s_metric_port (harness.metrics_port, series);
}

typedef struct {
    int port;
    const char *series;
    double value;
} metric_wait_t;

static bool
s_metric_is (void *arg)
{
    metric_wait_t *wait = (metric_wait_t *) arg;
    return s_metric_port (wait->port, wait->series) == wait->value;
}

//  The snapshot is published every 250 ms: wait for a value
static bool
s_wait_metric (int port, const char *series, double value)
{
    metric_wait_t wait = { port, series, value };
    return s_wait_for (s_metric_is, &wait, 5000);
}

//  Lines of a log file (in the harness dir) holding text
static int
s_log_count (const char *file, const char *text)
{
    char out [64];
    harness_capture (out, sizeof out, "grep -c -- '%s' %s/%s", text, harness.dir, file);
    return atoi (out);
}

//  A 2-database transaction through the harness's (secured) coordinator
static void
s_assert_commits (const char *endpoint, int id)
{
    dtx_client_t *client = dtx_client_new (endpoint, 10000);
    ck_assert_ptr_nonnull (client);
    dtx_txn_t *txn = dtx_begin (client, 10000);
    char value [16];
    snprintf (value, sizeof value, "%d", id);
    const char *params [] = { value };
    ck_assert_int_eq (dtx_send (txn, "db1", "INSERT INTO items (id) VALUES ($1::int)", 1, params), 0);
    ck_assert_int_eq (dtx_send (txn, "db2", "INSERT INTO items (id) VALUES ($1::int)", 1, params), 0);
    ck_assert_msg (dtx_commit (txn) == DTX_COMMITTED, "%s", dtx_txn_error_message (txn));
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&client);
    char sql [128];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM items WHERE id = %d", id);
    ck_assert_int_eq (harness_pg_value (0, sql) + harness_pg_value (1, sql), 2);
}

//  --------------------------------------------------------------------------
//  A process in the background, its pid; stopped with s_stop

//  --------------------------------------------------------------------------

//  participants-max: a REGISTER flood under ever new names (an --insecure
//  coordinator: with keys a stranger gets no handshake, and a participant
//  key registers only the names its certificate lists)
START_TEST (test_register_flood_bounded)
{
    const int max = 8, flood = 200;
    char dir [400];
    snprintf (dir, sizeof dir, "%s/insecure", harness.dir);
    ck_assert_int_eq (mkdir (dir, 0700), 0);
    char clients [64], participants [64];
    snprintf (clients, sizeof clients, "tcp://127.0.0.1:%d", PORT_SPARE (0));
    snprintf (participants, sizeof participants, "tcp://127.0.0.1:%d", PORT_SPARE (1));
    int metrics = PORT_SPARE (2);
    pid_t coordinator = harness_spawn ("insecure-coordinator.log", "%s/coordinator/dtx-coordinator"
                                 " --id bounds --log-dir %s --clients %s --participants %s"
                                 " --metrics 127.0.0.1:%d --participants-max %d --insecure",
                                 TOP_BUILDDIR, dir, clients, participants, metrics, max);
    pid_t part [2];
    for (int i = 0; i < 2; i++)
        part [i] = harness_spawn (i? "insecure-db2.log": "insecure-db1.log",
                            "%s/participant/dtx-participant --name db%d --conninfo"
                            " 'host=127.0.0.1 port=%d user=postgres dbname=postgres'"
                            " --coordinator %s --pool-min 1 --insecure", TOP_BUILDDIR, i + 1,
                            harness.pg_port [i], participants);
    //  Both real participants registered before the flood (this case's
    //  clients without keys: it runs in a process of its own)
    setenv ("DTX_CLIENT_CERT", "", 1);
    setenv ("DTX_COORDINATOR_CERT", "", 1);
    dtx_client_t *client = dtx_client_new (clients, 10000);
    const char *databases [] = { "db1", "db2" };
    ck_assert_msg (dtx_client_wait_ready (client, databases, 2, 20000), "%s", dtx_client_error (client));
    dtx_client_destroy (&client);

    int64_t started = zclock_mono ();
    zsock_t *raw = dtx_sock_new (ZMQ_DEALER, participants, NULL, -1);
    ck_assert_ptr_nonnull (raw);
    for (int i = 0; i < flood; i++) {
        dtx_proto_t *hello = dtx_proto_new (DTX_PROTO_REGISTER);
        dtx_proto_set_seq (hello, i + 1);
        char name [32];
        snprintf (name, sizeof name, "flood%d", i);
        dtx_proto_set_name (hello, name);
        ck_assert_int_eq (dtx_proto_send (hello, raw), 0);
        dtx_proto_destroy (&hello);
    }
    //  Exactly max - 2 new names fit; every other REGISTER is refused, and
    //  says which limit
    zsock_set_rcvtimeo (raw, 5000);
    int accepted = 0, refused = 0;
    while (accepted + refused < flood) {
        dtx_proto_t *reply = NULL;
        char err [256];
        ck_assert_int_eq (dtx_proto_recv (&reply, raw, err, sizeof err), 0);
        if (dtx_proto_id (reply) == DTX_PROTO_REGISTER_OK)
            accepted++;
        else {
            ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_ERROR);
            ck_assert_int_eq (dtx_proto_status (reply), DTX_ERR_BUSY);
            ck_assert_msg (strstr (dtx_proto_text (reply), "(participants-max)"), "%s",
                           dtx_proto_text (reply));
            refused++;
        }
        dtx_proto_destroy (&reply);
    }
    zsock_destroy (&raw);
    ck_assert_int_eq (accepted, max - 2);
    ck_assert_int_eq (refused, flood - (max - 2));
    //  Counted, every one
    ck_assert_msg (s_wait_metric (metrics, "dtx_refused_total{reason=\"participants_max\"}", refused),
                   "refused %d, metrics say %g", refused,
                   s_metric_port (metrics, "dtx_refused_total{reason=\"participants_max\"}"));
    //  Logged at most once a second (and once at least)
    int lines = s_log_count ("insecure-coordinator.log", "refused REGISTER");
    int64_t seconds = (zclock_mono () - started) / 1000;
    ck_assert_msg (lines >= 1 && lines <= seconds + 2, "%d log lines about refused REGISTERs in"
                   " %" PRId64 " s", lines, seconds);
    //  The real participants still serve a 2-database transaction
    s_assert_commits (clients, 9001);
    for (int i = 0; i < 2; i++)
        harness_terminate (part [i]);
    harness_terminate (coordinator);
}
END_TEST

//  The metrics endpoint serves at most 64 connections at once: idle ones
//  past that do not stop the coordinator, and it answers again when they
//  are gone
START_TEST (test_metrics_connection_limit)
{
    ck_assert_double_ge (s_metric ("dtx_transactions_live"), 0);
    enum { IDLE = 80 };
    int fds [IDLE];
    for (int i = 0; i < IDLE; i++)
        fds [i] = s_connect (harness.metrics_port);
    zclock_sleep (300);     //  let the server take them in
    //  Past the limit: no answer (the server closes what it cannot serve)
    char *text = s_scrape_port (harness.metrics_port);
    ck_assert_msg (!strstr (text, "200 OK"), "answered past the connection limit");
    free (text);
    //  Transactions go on
    s_assert_commits (harness.client_endpoint, 9101);
    for (int i = 0; i < IDLE; i++)
        if (fds [i] >= 0)
            close (fds [i]);
    //  ... and metrics answer again
    int64_t deadline = zclock_mono () + 5000;
    double live = -1;
    while (live < 0 && zclock_mono () < deadline) {
        live = s_metric ("dtx_transactions_live");
        if (live < 0)
            zclock_sleep (50);
    }
    ck_assert_double_ge (live, 0);
}
END_TEST

//  The metrics endpoint answers while the coordinator holds more than
//  FD_SETSIZE (1024) descriptors: a select()-based server cannot take a
//  connection whose descriptor is above that
START_TEST (test_metrics_many_descriptors)
{
    enum { IDLE = 1100 };
    struct rlimit files;
    getrlimit (RLIMIT_NOFILE, &files);
    files.rlim_cur = files.rlim_max;
    setrlimit (RLIMIT_NOFILE, &files);
    ck_assert_msg (files.rlim_max > IDLE + 100, "open-files hard limit %lu", (unsigned long) files.rlim_max);
    int *fds = calloc (IDLE, sizeof (int));
    int open = 0;
    for (int i = 0; i < IDLE; i++) {
        fds [i] = s_connect (harness.metrics_port - 9);   //  the client endpoint
        open += fds [i] >= 0;
    }
    ck_assert_int_ge (open, 1050);
    zclock_sleep (500);     //  accepted by the coordinator's ZeroMQ
    ck_assert_double_ge (s_metric ("dtx_transactions_live"), 0);
    s_assert_commits (harness.client_endpoint, 9151);
    for (int i = 0; i < IDLE; i++)
        if (fds [i] >= 0)
            close (fds [i]);
    free (fds);
}
END_TEST

//  Malformed frames: every one counted, at most one log line a second
START_TEST (test_dropped_frames_log_rate)
{
    const int frames = 5000;
    double before = s_metric ("dtx_dropped_frames_total");
    ck_assert_double_ge (before, 0);
    int lines_before = s_log_count ("coordinator.log", "dropped");
    int64_t started = zclock_mono ();
    zsock_t *raw = (zsock_t *) harness_client_sock (harness.client_endpoint, NULL);
    byte truncated [] = { 0xAA, 0xD7, DTX_PROTO_VERSION, DTX_PROTO_EXECUTE, 0, 0 };
    for (int i = 0; i < frames; i++) {
        ck_assert_int_eq (zsock_send (raw, "b", truncated, sizeof truncated), 0);
        if (i % 1000 == 999)
            zclock_sleep (300);     //  spread over more than a second
    }
    zsock_set_linger (raw, 5000);
    zsock_destroy (&raw);
    ck_assert_msg (s_wait_metric (harness.metrics_port, "dtx_dropped_frames_total", before + frames),
                   "dropped frames: %g counted of %d", s_metric ("dtx_dropped_frames_total") - before,
                   frames);
    int lines = s_log_count ("coordinator.log", "dropped") - lines_before;
    int64_t seconds = (zclock_mono () - started) / 1000;
    ck_assert_msg (lines >= 1 && lines <= seconds + 2, "%d log lines for %d dropped frames in"
                   " %" PRId64 " s", lines, frames, seconds);
    s_assert_commits (harness.client_endpoint, 9201);
}
END_TEST

//  Backends of cluster index whose last statement holds marker (the
//  participant ran it)
static long long
s_ran (int index, const char *marker)
{
    char sql [256];
    //  (Not our own earlier look: the backend of a psql that has just
    //  exited can still be listed, its last query this one)
    snprintf (sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%%s%%'"
              " AND query NOT LIKE '%%pg_stat_activity%%' AND pid <> pg_backend_pid ()", marker);
    return harness_pg_value (index, sql);
}

typedef struct {
    int index;
    const char *marker;
} ran_t;

static bool
s_has_run (void *arg)
{
    ran_t *ran = (ran_t *) arg;
    return s_ran (ran->index, ran->marker) > 0;
}

//  A round trip behind the statements sent so far (the coordinator reads
//  a connection in order)
static void
s_round_trip (dtx_txn_t *txn)
{
    dtx_result_t *result = dtx_exec (txn, "db2", "SELECT 1", 0, NULL);
    ck_assert_msg (dtx_result_ok (result), "%s", dtx_result_error (result));
    dtx_result_destroy (&result);
}

//  Deferred statements (dtx_send) are held by the coordinator up to 64 per
//  branch and about 1 MiB: past either they go ahead to the participant
START_TEST (test_deferred_hold_bounds)
{
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 20000);
    //  Bytes: 3 x 300 kB held, the fourth (1.2 MB in all) sends them on
    dtx_txn_t *txn = dtx_begin (client, 20000);
    size_t size = 300 * 1000;
    char *note = malloc (size + 1);
    memset (note, 'n', size);
    note [size] = 0;
    const char *sql = "INSERT INTO items (id, note) VALUES ($1::int, $2) /* bounds-bytes */";
    for (int i = 0; i < 4; i++) {
        char id [16];
        snprintf (id, sizeof id, "%d", 9300 + i);
        const char *params [] = { id, note };
        ck_assert_int_eq (dtx_send (txn, "db1", sql, 2, params), 0);
        s_round_trip (txn);
        if (i < 3)
            ck_assert_msg (s_ran (0, "bounds-bytes") == 0, "held statements ran after %d", i + 1);
    }
    ran_t bytes = { 0, "bounds-bytes" };
    ck_assert_msg (s_wait_for (s_has_run, &bytes, 5000), "1.2 MB of deferred statements still held");
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (harness_pg_value (0, "SELECT count(*) FROM items WHERE id BETWEEN 9300 AND 9303"), 4);
    free (note);

    //  Count: 63 held, the 64th sends them on
    txn = dtx_begin (client, 20000);
    sql = "INSERT INTO items (id) VALUES ($1::int) /* bounds-count */";
    for (int i = 0; i < 64; i++) {
        char id [16];
        snprintf (id, sizeof id, "%d", 9400 + i);
        const char *params [] = { id };
        ck_assert_int_eq (dtx_send (txn, "db1", sql, 1, params), 0);
        if (i == 62) {
            s_round_trip (txn);
            ck_assert_msg (s_ran (0, "bounds-count") == 0, "63 held statements ran");
        }
    }
    s_round_trip (txn);
    ran_t count = { 0, "bounds-count" };
    ck_assert_msg (s_wait_for (s_has_run, &count, 5000), "64 deferred statements still held");
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (harness_pg_value (0, "SELECT count(*) FROM items WHERE id BETWEEN 9400 AND 9463"), 64);
    dtx_client_destroy (&client);
}
END_TEST

//  Deferred statements that went ahead with nothing awaited are bounded
//  per branch (DEFERRED_AHEAD_MAX, 16 MiB): past it the transaction is
//  refused, instead of piling them into the participant's queue (a flood
//  of 1 MiB statements once starved the participant's heartbeat and it
//  was declared lost, with everyone's transactions).  An answer awaited
//  now and then (dtx_exec) starts the count again.
START_TEST (test_deferred_ahead_bounded)
{
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 30000);
    size_t size = 1 << 20;
    char *note = malloc (size + 1);
    memset (note, 'a', size);
    note [size] = 0;
    const char *sql = "SELECT length ($1) /* bounds-ahead */";
    const char *params [] = { note };
    dtx_txn_t *txn = dtx_begin (client, 30000);
    for (int i = 0; i < 24; i++)
        ck_assert_int_eq (dtx_send (txn, "db1", sql, 1, params), 0);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_int_eq (dtx_txn_errcode (txn), DTX_ERR_BUSY);
    ck_assert_msg (strstr (dtx_txn_error_message (txn), "without waiting for an answer"), "%s",
                   dtx_txn_error_message (txn));
    dtx_txn_destroy (&txn);
    ck_assert (s_wait_metric (harness.metrics_port, "dtx_refused_total{reason=\"deferred_ahead\"}", 1));
    //  The same volume with an answer awaited every 8 MiB: committed
    txn = dtx_begin (client, 30000);
    for (int i = 0; i < 24; i++) {
        ck_assert_int_eq (dtx_send (txn, "db1", sql, 1, params), 0);
        if (i % 8 == 7) {
            dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
            ck_assert_msg (dtx_result_ok (result), "%s", dtx_result_error (result));
            dtx_result_destroy (&result);
        }
    }
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    free (note);
    dtx_client_destroy (&client);
}
END_TEST

//  BEGIN with a raw timeout on the wire (uint32 ms): up to 24 h accepted,
//  above refused, 2^31 and 2^32-1 too (they once wrapped negative)
static dtx_proto_t *
s_begin_raw (zsock_t *raw, uint32_t seq, uint32_t timeout_ms)
{
    dtx_proto_t *begin = dtx_proto_new (DTX_PROTO_BEGIN);
    dtx_proto_set_seq (begin, seq);
    dtx_proto_set_timeout (begin, timeout_ms);
    ck_assert_int_eq (dtx_proto_send (begin, raw), 0);
    dtx_proto_destroy (&begin);
    dtx_proto_t *reply = NULL;
    char err [256];
    ck_assert_int_eq (dtx_proto_recv (&reply, raw, err, sizeof err), 0);
    ck_assert_int_eq (dtx_proto_seq (reply), seq);
    return reply;
}

START_TEST (test_begin_timeout_range)
{
    const char *series = "dtx_refused_total{reason=\"timeout_range\"}";
    double before = s_metric (series);
    ck_assert_double_ge (before, 0);
    zsock_t *raw = (zsock_t *) harness_client_sock (harness.client_endpoint, NULL);
    zsock_set_rcvtimeo (raw, 5000);
    const uint32_t refused [] = { 24u * 3600 * 1000 + 1, 1u << 31, (1u << 31) + 1, 0xFFFFFFFFu };
    for (int i = 0; i < 4; i++) {
        dtx_proto_t *reply = s_begin_raw (raw, i + 1, refused [i]);
        ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_ERROR);
        ck_assert_int_eq (dtx_proto_status (reply), DTX_ERR_BAD_REQUEST);
        ck_assert_msg (strstr (dtx_proto_text (reply), "above the limit"), "%s", dtx_proto_text (reply));
        dtx_proto_destroy (&reply);
    }
    //  The limit itself is accepted; rolled back at once
    dtx_proto_t *reply = s_begin_raw (raw, 5, 24u * 3600 * 1000);
    ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_BEGIN_OK);
    dtx_proto_t *rollback = dtx_proto_new (DTX_PROTO_ROLLBACK);
    dtx_proto_set_seq (rollback, 6);
    dtx_proto_set_gid (rollback, dtx_proto_gid (reply));
    ck_assert_int_eq (dtx_proto_send (rollback, raw), 0);
    dtx_proto_destroy (&rollback);
    dtx_proto_destroy (&reply);
    char err [256];
    ck_assert_int_eq (dtx_proto_recv (&reply, raw, err, sizeof err), 0);
    ck_assert_int_eq (dtx_proto_seq (reply), 6);
    ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_OUTCOME);
    ck_assert_int_eq (dtx_proto_status (reply), DTX_ABORTED);
    dtx_proto_destroy (&reply);
    zsock_destroy (&raw);
    ck_assert_msg (s_wait_metric (harness.metrics_port, series, before + 4), "timeout refusals: %g",
                   s_metric (series) - before);
    s_assert_commits (harness.client_endpoint, 9501);
}
END_TEST

//  txns-max is a bound over all connections, client-txns-max over one: a
//  coordinator of its own with small limits (keys on), two connections
START_TEST (test_txns_max_all_connections)
{
    char dir [400];
    snprintf (dir, sizeof dir, "%s/limits", harness.dir);
    ck_assert_int_eq (mkdir (dir, 0700), 0);
    char clients [64];
    snprintf (clients, sizeof clients, "tcp://127.0.0.1:%d", PORT_SPARE (0));
    int metrics = PORT_SPARE (2);
    pid_t coordinator = harness_spawn ("limits-coordinator.log", "%s/coordinator/dtx-coordinator"
                                 " --id limits --log-dir %s --clients %s"
                                 " --participants tcp://127.0.0.1:%d --metrics 127.0.0.1:%d"
                                 " --txns-max 5 --client-txns-max 3 %s", TOP_BUILDDIR, dir,
                                 clients, PORT_SPARE (1), metrics, harness.coordinator_args);
    zsock_t *one = (zsock_t *) harness_client_sock (clients, NULL);
    zsock_t *two = (zsock_t *) harness_client_sock (clients, harness.other_client_secret);
    zsock_set_rcvtimeo (one, 10000);    //  (the first answer waits for the start)
    zsock_set_rcvtimeo (two, 10000);
    //  One client key: 3 live, the 4th refused by its own limit
    char gids [3][DTX_GID_MAX + 1];
    for (int i = 0; i < 4; i++) {
        dtx_proto_t *reply = s_begin_raw (one, i + 1, 60000);
        if (i < 3) {
            ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_BEGIN_OK);
            snprintf (gids [i], sizeof gids [i], "%s", dtx_proto_gid (reply));
        }
        else {
            ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_ERROR);
            ck_assert_int_eq (dtx_proto_status (reply), DTX_ERR_BUSY);
            ck_assert_msg (strstr (dtx_proto_text (reply), "(client-txns-max)"), "%s",
                           dtx_proto_text (reply));
        }
        dtx_proto_destroy (&reply);
    }
    //  The same key on another connection counts with them (client-txns-max
    //  is per key: many connections do not multiply it)
    zsock_t *again = (zsock_t *) harness_client_sock (clients, NULL);
    zsock_set_rcvtimeo (again, 10000);
    dtx_proto_t *refused = s_begin_raw (again, 1, 60000);
    ck_assert_int_eq (dtx_proto_id (refused), DTX_PROTO_ERROR);
    ck_assert_msg (strstr (dtx_proto_text (refused), "(client-txns-max)"), "%s", dtx_proto_text (refused));
    dtx_proto_destroy (&refused);
    zsock_destroy (&again);
    //  Another key: 2 more make 5 in all, the 6th refused by the global limit
    for (int i = 0; i < 3; i++) {
        dtx_proto_t *reply = s_begin_raw (two, i + 1, 60000);
        if (i < 2)
            ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_BEGIN_OK);
        else {
            ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_ERROR);
            ck_assert_int_eq (dtx_proto_status (reply), DTX_ERR_BUSY);
            ck_assert_msg (strstr (dtx_proto_text (reply), "(txns-max)"), "%s", dtx_proto_text (reply));
        }
        dtx_proto_destroy (&reply);
    }
    ck_assert (s_wait_metric (metrics, "dtx_refused_total{reason=\"client_txns_max\"}", 2));
    ck_assert (s_wait_metric (metrics, "dtx_refused_total{reason=\"txns_max\"}", 1));
    ck_assert (s_wait_metric (metrics, "dtx_transactions_live", 5));
    //  One ended: room again, for the other connection
    dtx_proto_t *rollback = dtx_proto_new (DTX_PROTO_ROLLBACK);
    dtx_proto_set_seq (rollback, 9);
    dtx_proto_set_gid (rollback, gids [0]);
    ck_assert_int_eq (dtx_proto_send (rollback, one), 0);
    dtx_proto_destroy (&rollback);
    dtx_proto_t *reply = NULL;
    char err [256];
    ck_assert_int_eq (dtx_proto_recv (&reply, one, err, sizeof err), 0);
    ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_OUTCOME);
    dtx_proto_destroy (&reply);
    reply = s_begin_raw (two, 4, 60000);
    ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_BEGIN_OK);
    dtx_proto_destroy (&reply);
    zsock_destroy (&one);
    zsock_destroy (&two);
    harness_terminate (coordinator);
}
END_TEST

Suite *
suite_bounds (void)
{
    Suite *suite = suite_create ("bounds");
    TCase *tc = tcase_create ("limits");
    tcase_add_unchecked_fixture (tc, s_suite_setup, harness_stop);
    tcase_add_checked_fixture (tc, harness_case_setup, NULL);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_register_flood_bounded);
    tcase_add_test (tc, test_metrics_connection_limit);
    tcase_add_test (tc, test_metrics_many_descriptors);
    tcase_add_test (tc, test_dropped_frames_log_rate);
    tcase_add_test (tc, test_deferred_hold_bounds);
    tcase_add_test (tc, test_deferred_ahead_bounded);
    tcase_add_test (tc, test_begin_timeout_range);
    tcase_add_test (tc, test_txns_max_all_connections);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return harness_run (suite_bounds ());
}
