/*  dtx-bench - what does dtx cost?  One run, same PostgreSQL clusters,
    side by side (docs/performance.md):

      (a) direct libpq, one-phase COMMIT on each database (no atomicity)
      (b) direct libpq 2PC: PREPARE TRANSACTION on both, COMMIT PREPARED on
          both, no decision log (not crash-safe)
      (c) (b) plus a decision record fdatasync'd per transaction
      (d) dtx: libdtx -> coordinator -> participants
      (e) dtx, one database per transaction, against (a1): direct libpq,
          one database
      (s) with --store CONNINFO: (d) through a second coordinator that
          keeps its decisions in PostgreSQL (docs/ha.md) instead of its
          log, with participants of its own on the same databases

    Each transaction updates one row of pgbench_accounts in each of two
    databases (one in (e)/(a1)).  Both phases of the direct 2PC client run
    on the two databases in parallel, as the coordinator does.

    --log-only measures the decision log alone: durable records per second
    with 1..64 concurrent writers sharing group commits.
*/
#include "dtx.h"
#include "dtx_log.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include <czmq.h>
#include <libpq-fe.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include "dtx-count.h"

#define MODES 10
enum { MODE_A, MODE_B, MODE_B2, MODE_C, MODE_D, MODE_D1, MODE_D2, MODE_E, MODE_A1, MODE_S };
static const char *s_mode_names [MODES] = {
    "a:libpq-1pc", "b:libpq-2pc", "b2:libpq-2pc-pipelined", "c:libpq-2pc+fsync", "d:dtx",
    "d1:dtx-exec", "d2:dtx-ack-decided", "e:dtx-1db", "a1:libpq-1db", "s:dtx-pg-store"
};
#define IS_DTX(mode) (((mode) >= MODE_D && (mode) <= MODE_E) || (mode) == MODE_S)
#define LEVELS_MAX 8

typedef struct {
    double tps;
    double p50, p99;                //  milliseconds
    long txns;
    long errors;
    double coord_us, part_us;       //  CPU microseconds per transaction
    bool ran;                       //  measured in this run (else every figure is nan)
} result_t;

//  Settings
static int s_seconds = 10;
static int s_scale = 10;
static int s_levels [LEVELS_MAX] = { 1, 8, 32, 128 };
static int s_nlevels = 4;
static bool s_mode_off [MODES];     //  --modes: the ones not asked for
static char s_conninfo [2][512];
static char s_endpoint [128];
static bool s_own = true;           //  we started the clusters and processes
static char s_work [256];
static int s_base_port;
static pid_t s_coordinator, s_participant [2];
//  --store: the second system, its decisions in PostgreSQL
static char s_store [512];
static char s_store_endpoint [128];
static pid_t s_store_coordinator, s_store_participant [2];
//  ... and its standby (the takeover measurement): same id, its own
//  endpoints; the store's participants and the client know both
static char s_standby_endpoint [64], s_standby_participants [64], s_standby_logdir [300];
static char s_standby_keys [3][400];
static pid_t s_standby;
static int s_decision_fd = -1;
static long s_accounts;
//  The counts pass: bench/dtx-count.c preloaded into the processes we
//  start (and into this one, see main), and perf for system calls
static char s_count_lib [512];      //  its path, "" when not built
static int s_counts_n = 2000;       //  transactions per counts row, 0: no pass

//  Per run
static volatile bool s_running;
static int s_mode;
//  Counts pass: the workers start together, and the counters are read
//  after the last one is done and before any disconnects
static pthread_barrier_t s_barrier_start, s_barrier_done, s_barrier_release;

typedef struct {
    int index;
    double *latencies;
    long count;
    long capacity;
    long errors;
    long quota;                     //  counts pass: this many transactions, then stop
} worker_t;

//  --------------------------------------------------------------------------
//  Processes and clusters

static void
s_system (const char *format, ...)
{
    char command [2048];
    va_list args;
    va_start (args, format);
    vsnprintf (command, sizeof command, format, args);
    va_end (args);
    if (system (command) != 0) {
        fprintf (stderr, "dtx-bench: failed: %s\n", command);
        exit (1);
    }
}

static pid_t
s_spawn (const char *logname, char *const argv [])
{
    pid_t pid = fork ();
    if (pid == 0) {
        char path [512];
        snprintf (path, sizeof path, "%s/%s", s_work, logname);
        if (!freopen (path, "a", stderr))
            _exit (127);
        dup2 (2, 1);
        if (*s_count_lib) {
            //  Counted (bench/dtx-count.c): its messages and loop turns in
            //  WORK/count-NAME for the counts pass
            snprintf (path, sizeof path, "%s/count-%.*s", s_work,
                      (int) (strlen (logname) - strlen (".log")), logname);
            setenv ("DTX_COUNT_FILE", path, 1);
            setenv ("LD_PRELOAD", s_count_lib, 1);
        }
        execv (argv [0], argv);
        _exit (127);
    }
    return pid;
}

static void
s_stop_all (void)
{
    if (!s_own || !*s_work)
        return;
    pid_t pids [7] = { s_participant [0], s_participant [1], s_coordinator,
                       s_store_participant [0], s_store_participant [1], s_store_coordinator,
                       s_standby };
    for (int i = 0; i < 7; i++)
        if (pids [i] > 0) {
            kill (pids [i], SIGTERM);
            waitpid (pids [i], NULL, 0);
        }
    for (int i = 0; i < 2; i++) {
        char command [1024];
        snprintf (command, sizeof command, "%s/scripts/pgcluster.sh stop %s/pg%d immediate",
                  TOP_SRCDIR, s_work, i + 1);
        if (system (command)) {}
    }
    if (!getenv ("DTX_BENCH_KEEP")) {
        char command [512];
        snprintf (command, sizeof command, "rm -rf %s", s_work);
        if (system (command)) {}
    }
    *s_work = 0;
}

static void
s_on_signal (int sig)
{
    s_stop_all ();
    _exit (128 + sig);
}

static void
s_start_all (void)
{
    snprintf (s_work, sizeof s_work, "/tmp/dtx-bench-XXXXXX");
    if (!mkdtemp (s_work)) {
        perror ("mkdtemp");
        exit (1);
    }
    chmod (s_work, 0755);
    atexit (s_stop_all);
    signal (SIGINT, s_on_signal);
    signal (SIGTERM, s_on_signal);
    s_base_port = 16000 + getpid () % 1000 * 4;     //  below the ephemeral ports
    snprintf (s_endpoint, sizeof s_endpoint, "tcp://127.0.0.1:%d", s_base_port);
    fprintf (stderr, "bench: 2 PostgreSQL clusters (fsync on), pgbench scale %d (%ld rows each) in %s\n",
             s_scale, (long) s_scale * 100000, s_work);
    for (int i = 0; i < 2; i++) {
        int port = s_base_port + 2 + i;
        //  fsync on: the costs being compared are durability costs
        s_system ("%s/scripts/pgcluster.sh start %s/pg%d %d on", TOP_SRCDIR, s_work, i + 1, port);
        s_system ("%s/pgbench -q -i -s %d -h 127.0.0.1 -p %d -U postgres postgres >%s/pgbench-init-%d.log 2>&1",
                  PG_BINDIR, s_scale, port, s_work, i + 1);
        snprintf (s_conninfo [i], sizeof s_conninfo [i],
                  "host=127.0.0.1 port=%d user=postgres dbname=postgres", port);
    }
    //  CurveZMQ keys, as an operator would make them (docs/security.md);
    //  this process's clients find theirs in the environment
    char keys [300], secret [400], pkeys [400], ckeys [400], coordinator_cert [400],
         psecret [2][400];
    snprintf (keys, sizeof keys, "%s/keys", s_work);
    s_system ("mkdir -p %s/clients %s/participants && cd %s"
              " && %s/dtxctl/dtxctl keygen coordinator >/dev/null"
              " && %s/dtxctl/dtxctl keygen bench --dir clients >/dev/null"
              " && %s/dtxctl/dtxctl keygen db1 --databases db1 --dir participants >/dev/null"
              " && %s/dtxctl/dtxctl keygen db2 --databases db2 --dir participants >/dev/null",
              keys, keys, keys, TOP_BUILDDIR, TOP_BUILDDIR, TOP_BUILDDIR, TOP_BUILDDIR);
    snprintf (secret, sizeof secret, "%s/coordinator_secret", keys);
    snprintf (coordinator_cert, sizeof coordinator_cert, "%s/coordinator", keys);
    snprintf (ckeys, sizeof ckeys, "%s/clients", keys);
    snprintf (pkeys, sizeof pkeys, "%s/participants", keys);
    for (int i = 0; i < 2; i++)
        snprintf (psecret [i], sizeof psecret [i], "%s/participants/db%d_secret", keys, i + 1);
    char client_secret [400];
    snprintf (client_secret, sizeof client_secret, "%s/clients/bench_secret", keys);
    setenv ("DTX_CLIENT_CERT", client_secret, 1);
    setenv ("DTX_COORDINATOR_CERT", coordinator_cert, 1);
    char binary [512], clients [64], participants [64], logdir [300];
    snprintf (binary, sizeof binary, "%s/coordinator/dtx-coordinator", TOP_BUILDDIR);
    snprintf (clients, sizeof clients, "tcp://127.0.0.1:%d", s_base_port);
    snprintf (participants, sizeof participants, "tcp://127.0.0.1:%d", s_base_port + 1);
    snprintf (logdir, sizeof logdir, "%s/log", s_work);
    mkdir (logdir, 0700);
    char *const cargv [] = { binary, "--id", "bench", "--clients", clients,
                             "--participants", participants, "--log-dir", logdir,
                             "--curve-secret", secret, "--client-keys", ckeys,
                             "--participant-keys", pkeys, NULL };
    s_coordinator = s_spawn ("coordinator.log", cargv);
    for (int i = 0; i < 2; i++) {
        char pbinary [512], name [16];
        snprintf (pbinary, sizeof pbinary, "%s/participant/dtx-participant", TOP_BUILDDIR);
        snprintf (name, sizeof name, "db%d", i + 1);
        char *const pargv [] = { pbinary, "--name", name, "--conninfo", s_conninfo [i],
                                 "--coordinator", participants, "--pool-min", "140",
                                 "--pool-max", "200", "--curve-secret", psecret [i],
                                 "--coordinator-key", coordinator_cert, NULL };
        char logname [32];
        snprintf (logname, sizeof logname, "participant-%d.log", i + 1);
        s_participant [i] = s_spawn (logname, pargv);
    }
    if (!*s_store)
        return;
    //  The second system: the same keys, another coordinator id, its
    //  decisions in PostgreSQL ("local": the first cluster's database)
    if (streq (s_store, "local"))
        snprintf (s_store, sizeof s_store, "%s", s_conninfo [0]);
    int store_port = 20000 + getpid () % 1000 * 2;
    char sclients [64], sparticipants [64], slogdir [300];
    snprintf (sclients, sizeof sclients, "tcp://127.0.0.1:%d", store_port);
    snprintf (sparticipants, sizeof sparticipants, "tcp://127.0.0.1:%d", store_port + 1);
    snprintf (s_store_endpoint, sizeof s_store_endpoint, "%s", sclients);
    snprintf (slogdir, sizeof slogdir, "%s/log-store", s_work);
    mkdir (slogdir, 0700);
    char *const sargv [] = { binary, "--id", "benchs", "--clients", sclients,
                             "--participants", sparticipants, "--log-dir", slogdir,
                             "--curve-secret", secret, "--client-keys", ckeys,
                             "--participant-keys", pkeys, "--store", s_store, NULL };
    s_store_coordinator = s_spawn ("coordinator-store.log", sargv);
    //  Its standby's endpoints (started by s_takeover): the participants
    //  register with both
    snprintf (s_standby_endpoint, sizeof s_standby_endpoint, "tcp://127.0.0.1:%d", store_port + 10000);
    snprintf (s_standby_participants, sizeof s_standby_participants, "tcp://127.0.0.1:%d",
              store_port + 10001);
    snprintf (s_standby_logdir, sizeof s_standby_logdir, "%s/log-standby", s_work);
    snprintf (s_standby_keys [0], sizeof s_standby_keys [0], "%s", secret);
    snprintf (s_standby_keys [1], sizeof s_standby_keys [1], "%s", ckeys);
    snprintf (s_standby_keys [2], sizeof s_standby_keys [2], "%s", pkeys);
    char both [160];
    snprintf (both, sizeof both, "%s,%s", sparticipants, s_standby_participants);
    for (int i = 0; i < 2; i++) {
        char pbinary [512], name [16];
        snprintf (pbinary, sizeof pbinary, "%s/participant/dtx-participant", TOP_BUILDDIR);
        snprintf (name, sizeof name, "db%d", i + 1);
        char *const pargv [] = { pbinary, "--name", name, "--conninfo", s_conninfo [i],
                                 "--coordinator", both, "--pool-min", "40",
                                 "--pool-max", "200", "--curve-secret", psecret [i],
                                 "--coordinator-key", coordinator_cert, NULL };
        char logname [32];
        snprintf (logname, sizeof logname, "participant-store-%d.log", i + 1);
        s_store_participant [i] = s_spawn (logname, pargv);
    }
}

//  Wait until both participants answer through the coordinator
static bool
s_wait_ready (void)
{
    dtx_client_t *client = dtx_client_new (s_endpoint, 2000);
    const char *names [] = { "db1", "db2" };
    bool ready = client && dtx_client_wait_ready (client, names, 2, 60000);
    dtx_client_destroy (&client);
    if (ready && *s_store_endpoint) {
        client = dtx_client_new (s_store_endpoint, 2000);
        ready = client && dtx_client_wait_ready (client, names, 2, 60000);
        dtx_client_destroy (&client);
    }
    return ready;
}

//  --------------------------------------------------------------------------
//  Takeover time (--store): a standby of the store coordinator's shard
//  waits for its lease; the holder is SIGKILLed; how long until the
//  standby holds the shard (its epoch in the store), and until a client
//  given both endpoints commits again

static volatile int64_t s_taken_ms;
static bool s_dtx_txn (dtx_client_t *client, int mode, unsigned *seed);

static long long
s_shard_epoch (PGconn *conn)
{
    PGresult *result = PQexec (conn, "SELECT epoch FROM dtx_store.shard WHERE shard = 'benchs'");
    long long epoch = PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1
                    ? atoll (PQgetvalue (result, 0, 0)): -1;
    PQclear (result);
    return epoch;
}

static void *
s_watch_epoch (void *arg)
{
    int64_t killed = *(int64_t *) arg;
    PGconn *conn = PQconnectdb (s_store);
    long long before = s_shard_epoch (conn);
    while (s_shard_epoch (conn) <= before && zclock_mono () - killed < 60000)
        zclock_sleep (20);
    s_taken_ms = zclock_mono () - killed;
    PQfinish (conn);
    return NULL;
}

static void
s_takeover (void)
{
    char binary [512];
    snprintf (binary, sizeof binary, "%s/coordinator/dtx-coordinator", TOP_BUILDDIR);
    mkdir (s_standby_logdir, 0700);
    char *const argv [] = { binary, "--id", "benchs", "--instance", "standby",
                            "--clients", s_standby_endpoint, "--participants", s_standby_participants,
                            "--log-dir", s_standby_logdir, "--curve-secret", s_standby_keys [0],
                            "--client-keys", s_standby_keys [1], "--participant-keys",
                            s_standby_keys [2], "--store", s_store, NULL };
    s_standby = s_spawn ("coordinator-standby.log", argv);
    zclock_sleep (1000);
    char both [200];
    snprintf (both, sizeof both, "%s,%s", s_store_endpoint, s_standby_endpoint);
    dtx_client_t *client = dtx_client_new (both, 2000);
    unsigned seed = 7;
    int64_t killed = zclock_mono ();
    kill (s_store_coordinator, SIGKILL);
    waitpid (s_store_coordinator, NULL, 0);
    s_store_coordinator = 0;
    pthread_t watcher;
    s_taken_ms = -1;
    pthread_create (&watcher, NULL, s_watch_epoch, &killed);
    int64_t committed = -1;
    while (client && zclock_mono () - killed < 60000)
        if (s_dtx_txn (client, MODE_D, &seed)) {
            committed = zclock_mono () - killed;
            break;
        }
    pthread_join (watcher, NULL);
    dtx_client_destroy (&client);
    printf ("takeover (store, lease 5000 ms, client request timeout 2000 ms): the standby held the"
            " shard %" PRId64 " ms after the holder was killed; first commit through it %" PRId64
            " ms after\n", s_taken_ms, committed);
}

static double
s_cpu_seconds (pid_t pid)
{
    if (pid <= 0)
        return 0;
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    unsigned long utime = 0, stime = 0;
    //  Fields 14 and 15; the command name (field 2) has no spaces here
    if (fscanf (file, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                &utime, &stime) != 2)
        utime = stime = 0;
    fclose (file);
    return (double) (utime + stime) / sysconf (_SC_CLK_TCK);
}

static long
s_status_kb (pid_t pid, const char *field)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    long value = -1;
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, field, strlen (field)) == 0)
            value = atol (line + strlen (field) + 1);
    if (file)
        fclose (file);
    return value;
}

//  --------------------------------------------------------------------------
//  Direct libpq clients

static bool
s_ok (PGresult *result)
{
    bool ok = result && (PQresultStatus (result) == PGRES_COMMAND_OK
                      || PQresultStatus (result) == PGRES_TUPLES_OK);
    PQclear (result);
    return ok;
}

//  Run sql on both connections at once, wait for both
static bool
s_both (PGconn *c1, const char *sql1, PGconn *c2, const char *sql2)
{
    if (!PQsendQuery (c1, sql1) || !PQsendQuery (c2, sql2))
        return false;
    bool ok = true;
    PGconn *conns [2] = { c1, c2 };
    for (int i = 0; i < 2; i++) {
        PGresult *result;
        while ((result = PQgetResult (conns [i])))
            ok = s_ok (result) && ok;
    }
    return ok;
}

static bool
s_update (PGconn *conn, long aid, int delta)
{
    char a [32], d [16];
    snprintf (a, sizeof a, "%ld", aid);
    snprintf (d, sizeof d, "%d", delta);
    const char *params [] = { d, a };
    return s_ok (PQexecParams (conn, "UPDATE pgbench_accounts SET abalance = abalance + $1::int"
                                     " WHERE aid = $2::int", 2, NULL, params, NULL, NULL, 0));
}

//  Pipeline mode: wait for the sync; false if any query in it failed
static bool
s_pipe_wait (PGconn *conn)
{
    bool ok = true;
    while (true) {
        PGresult *result = PQgetResult (conn);
        if (!result) {
            if (PQstatus (conn) != CONNECTION_OK)
                return false;
            continue;               //  end of one query's results
        }
        ExecStatusType status = PQresultStatus (result);
        PQclear (result);
        if (status == PGRES_PIPELINE_SYNC)
            return ok;
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
            ok = false;
    }
}

//  (b2) the best a hand-written direct client can do: on each database
//  BEGIN, UPDATE and PREPARE in one pipeline, both databases at once;
//  then COMMIT PREPARED on both at once.  Two round trips per database.
static bool
s_pipelined_2pc (PGconn *conns [2], worker_t *worker, long n, unsigned *seed)
{
    long aid [2] = { 1 + rand_r (seed) % s_accounts, 1 + rand_r (seed) % s_accounts };
    int delta = rand_r (seed) % 100 - 50;
    char prepare [128], commit [128], rollback [128];
    snprintf (prepare, sizeof prepare, "PREPARE TRANSACTION 'bench_%d_%ld'", worker->index, n);
    snprintf (commit, sizeof commit, "COMMIT PREPARED 'bench_%d_%ld'", worker->index, n);
    snprintf (rollback, sizeof rollback, "ROLLBACK PREPARED 'bench_%d_%ld'", worker->index, n);
    for (int i = 0; i < 2; i++) {
        char a [32], d [16];
        snprintf (a, sizeof a, "%ld", aid [i]);
        snprintf (d, sizeof d, "%d", i? -delta: delta);
        const char *params [] = { d, a };
        if (!PQsendQueryParams (conns [i], "BEGIN", 0, NULL, NULL, NULL, NULL, 0)
        ||  !PQsendQueryParams (conns [i], "UPDATE pgbench_accounts SET abalance = abalance + $1::int"
                                " WHERE aid = $2::int", 2, NULL, params, NULL, NULL, 0)
        ||  !PQsendQueryParams (conns [i], prepare, 0, NULL, NULL, NULL, NULL, 0)
        ||  !PQpipelineSync (conns [i]))
            return false;
    }
    bool ok = s_pipe_wait (conns [0]);
    ok = s_pipe_wait (conns [1]) && ok;
    for (int i = 0; i < 2; i++) {
        if (!ok) {
            //  Leave nothing open or prepared behind a failure
            PQsendQueryParams (conns [i], "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
            PQpipelineSync (conns [i]);
            s_pipe_wait (conns [i]);
        }
        PQsendQueryParams (conns [i], ok? commit: rollback, 0, NULL, NULL, NULL, NULL, 0);
        PQpipelineSync (conns [i]);
    }
    bool done = s_pipe_wait (conns [0]);
    done = s_pipe_wait (conns [1]) && done;
    return ok && done;
}

static bool
s_direct_txn (PGconn *c1, PGconn *c2, int mode, worker_t *worker, long n, unsigned *seed)
{
    if (mode == MODE_B2)
        return s_pipelined_2pc ((PGconn *[]) { c1, c2 }, worker, n, seed);
    long aid1 = 1 + rand_r (seed) % s_accounts, aid2 = 1 + rand_r (seed) % s_accounts;
    int delta = rand_r (seed) % 100 - 50;
    if (mode == MODE_A1)
        return s_ok (PQexec (c1, "BEGIN")) && s_update (c1, aid1, delta) && s_ok (PQexec (c1, "COMMIT"));
    if (!s_ok (PQexec (c1, "BEGIN")) || !s_update (c1, aid1, delta)
    ||  !s_ok (PQexec (c2, "BEGIN")) || !s_update (c2, aid2, -delta))
        return false;
    if (mode == MODE_A)
        return s_both (c1, "COMMIT", c2, "COMMIT");
    char prepare [128], commit [128];
    snprintf (prepare, sizeof prepare, "PREPARE TRANSACTION 'bench_%d_%ld'", worker->index, n);
    snprintf (commit, sizeof commit, "COMMIT PREPARED 'bench_%d_%ld'", worker->index, n);
    if (!s_both (c1, prepare, c2, prepare))
        return false;
    if (mode == MODE_C) {
        //  Naive crash-safe: one durable decision record per transaction
        char record [128];
        int len = snprintf (record, sizeof record, "commit bench_%d_%ld\n", worker->index, n);
        if (write (s_decision_fd, record, len) != len || fdatasync (s_decision_fd))
            return false;
    }
    return s_both (c1, commit, c2, commit);
}

static bool
s_dtx_txn (dtx_client_t *client, int mode, unsigned *seed)
{
    long aid1 = 1 + rand_r (seed) % s_accounts, aid2 = 1 + rand_r (seed) % s_accounts;
    char a1 [32], a2 [32], d [16], nd [16];
    int delta = rand_r (seed) % 100 - 50;
    snprintf (a1, sizeof a1, "%ld", aid1);
    snprintf (a2, sizeof a2, "%ld", aid2);
    snprintf (d, sizeof d, "%d", delta);
    snprintf (nd, sizeof nd, "%d", -delta);
    dtx_txn_t *txn = dtx_begin (client, 30000);
    if (!txn)
        return false;
    const char *p1 [] = { d, a1 }, *p2 [] = { nd, a2 };
    const char *sql = "UPDATE pgbench_accounts SET abalance = abalance + $1::int WHERE aid = $2::int";
    bool ok = true;
    if (mode == MODE_D1) {
        //  Each statement waits for its result
        for (int i = 0; ok && i < 2; i++) {
            dtx_result_t *result = dtx_exec (txn, i? "db2": "db1", sql, 2, i? p2: p1);
            ok = dtx_result_ok (result);
            dtx_result_destroy (&result);
        }
    }
    else {
        //  The results are not needed: dtx_send, and each statement
        //  travels with its database's PREPARE (or one-phase COMMIT)
        ok = dtx_send (txn, "db1", sql, 2, p1) == 0;
        if (ok && mode != MODE_E)
            ok = dtx_send (txn, "db2", sql, 2, p2) == 0;
    }
    if (mode == MODE_D2)
        ok = ok && dtx_commit_decided (txn) == DTX_COMMITTED;
    else
        ok = ok && dtx_commit (txn) == DTX_COMMITTED;
    dtx_txn_destroy (&txn);
    return ok;
}

static void *
s_worker (void *arg)
{
    worker_t *worker = (worker_t *) arg;
    unsigned seed = 7 + worker->index * 7919;
    PGconn *c1 = NULL, *c2 = NULL;
    dtx_client_t *client = NULL;
    bool dtx = IS_DTX (s_mode);
    if (dtx)
        client = dtx_client_new (s_mode == MODE_S? s_store_endpoint: s_endpoint, 60000);
    else {
        c1 = PQconnectdb (s_conninfo [0]);
        if (s_mode != MODE_A1)
            c2 = PQconnectdb (s_conninfo [1]);
        if (s_mode == MODE_B2) {
            PQenterPipelineMode (c1);
            PQenterPipelineMode (c2);
        }
    }
    long n = 0, attempts = 0;
    if (worker->quota) {
        //  Counts pass: connected, and one transaction done (handshakes,
        //  first allocations) before the window opens; then exactly quota
        if (dtx)
            s_dtx_txn (client, s_mode, &seed);
        else
            s_direct_txn (c1, c2, s_mode, worker, n, &seed);
        n++;
        pthread_barrier_wait (&s_barrier_start);
    }
    while (s_running && (!worker->quota || attempts++ < worker->quota)) {
        int64_t start = zclock_usecs ();
        bool ok = dtx? s_dtx_txn (client, s_mode == MODE_S? MODE_D: s_mode, &seed)
                     : s_direct_txn (c1, c2, s_mode, worker, n, &seed);
        double ms = (zclock_usecs () - start) / 1000.0;
        n++;
        if (!ok) {
            worker->errors++;
            if (!dtx && s_mode != MODE_B2) {
                //  Leave no transaction open behind a failure
                PQclear (PQexec (c1, "ROLLBACK"));
                if (c2)
                    PQclear (PQexec (c2, "ROLLBACK"));
            }
            continue;
        }
        if (worker->count == worker->capacity) {
            worker->capacity = worker->capacity? worker->capacity * 2: 4096;
            worker->latencies = (double *) realloc (worker->latencies, worker->capacity * sizeof (double));
        }
        worker->latencies [worker->count++] = ms;
    }
    if (worker->quota) {
        //  The window closes when every worker is done: still connected
        pthread_barrier_wait (&s_barrier_done);
        pthread_barrier_wait (&s_barrier_release);
    }
    dtx_client_destroy (&client);
    if (c1)
        PQfinish (c1);
    if (c2)
        PQfinish (c2);
    return NULL;
}

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y? -1: x > y;
}

static result_t
s_run (int mode, int clients, int seconds)
{
    s_mode = mode;
    s_running = true;
    worker_t *workers = (worker_t *) calloc (clients, sizeof (worker_t));
    pthread_t *threads = (pthread_t *) calloc (clients, sizeof (pthread_t));
    pid_t coordinator = mode == MODE_S? s_store_coordinator: s_coordinator;
    pid_t *participant = mode == MODE_S? s_store_participant: s_participant;
    double coord_before = s_cpu_seconds (coordinator);
    double part_before = s_cpu_seconds (participant [0]) + s_cpu_seconds (participant [1]);
    int64_t start = zclock_usecs ();
    for (int i = 0; i < clients; i++) {
        workers [i].index = i;
        pthread_create (&threads [i], NULL, s_worker, &workers [i]);
    }
    zclock_sleep (seconds * 1000);
    s_running = false;
    for (int i = 0; i < clients; i++)
        pthread_join (threads [i], NULL);
    double elapsed = (zclock_usecs () - start) / 1e6;
    result_t result = { .ran = true };
    long total = 0;
    for (int i = 0; i < clients; i++) {
        total += workers [i].count;
        result.errors += workers [i].errors;
    }
    double *all = (double *) malloc ((total? total: 1) * sizeof (double));
    long at = 0;
    for (int i = 0; i < clients; i++) {
        memcpy (all + at, workers [i].latencies, workers [i].count * sizeof (double));
        at += workers [i].count;
        free (workers [i].latencies);
    }
    qsort (all, total, sizeof (double), s_compare);
    result.txns = total;
    result.tps = total / elapsed;
    result.p50 = total? all [total / 2]: 0;
    result.p99 = total? all [(long) (total * 0.99)]: 0;
    if (total && IS_DTX (mode)) {
        result.coord_us = (s_cpu_seconds (coordinator) - coord_before) * 1e6 / total;
        result.part_us = (s_cpu_seconds (participant [0]) + s_cpu_seconds (participant [1])
                          - part_before) * 1e6 / total;
    }
    free (all);
    free (workers);
    free (threads);
    return result;
}

//  --------------------------------------------------------------------------
//  The counts pass: per transaction and per process, figures that do not
//  move with the machine's speed, from a fixed number of transactions
//  (docs/performance.md, "The counts pass")
//
//  system calls   perf stat -e raw_syscalls:sys_enter -p PID (every thread,
//                 those started later too), enabled and disabled around the
//                 window through perf's control FIFO
//  messages       ZeroMQ messages in and out on ROUTER/DEALER sockets, and
//  loop turns     zmq_poll calls over them: bench/dtx-count.c, preloaded
//  context        voluntary and involuntary, summed over the threads in
//   switches      /proc/PID/task/*/status (this process: getrusage, which
//                 keeps the workers' after they end)
//  CPU            /proc/PID/task/*/schedstat, nanoseconds (this process:
//                 CLOCK_PROCESS_CPUTIME_ID)

#define PROCS 4
#define TOP_SYSCALLS 8
enum { PROC_COORD, PROC_P1, PROC_P2, PROC_CLIENT };
static const char *s_proc_keys [PROCS] = { "coord", "p1", "p2", "client" };
static const char *s_proc_labels [PROCS] = {
    "coordinator", "participant db1", "participant db2", "bench client"
};
#define FIELDS 8
enum { F_SYSCALLS, F_MSGS_IN, F_MSGS_OUT, F_TURNS, F_VCSW, F_NVCSW, F_CPU_US, F_ALLOCS };
static const char *s_field_keys [FIELDS] = {
    "syscalls", "msgs_in", "msgs_out", "loop_turns", "vcsw", "nvcsw", "cpu_us", "allocs"
};

typedef struct {
    int clients;
    long txns, errors;
    double per_tx [PROCS][FIELDS];  //  nan: not known
    //  --syscall-names: the most frequent system calls, per transaction
    char top_names [PROCS][TOP_SYSCALLS][32];
    double top_counts [PROCS][TOP_SYSCALLS];
} counts_t;

typedef struct {
    pid_t pid;                      //  0: not ours to count
    dtx_count_t *map;               //  its messages and loop turns, or NULL
    pid_t perf;                     //  its perf stat, 0 when none
    int ctl, ack;                   //  perf's control FIFOs
    char out [400];                 //  perf's output file
    double before [FIELDS];
} counted_t;

static bool s_perf_ok;              //  perf counts raw_syscalls here
static bool s_syscall_names;        //  --syscall-names: and each system call apart
static char s_count_dir [300];

//  Sum a number after 'field' in each thread's file (status), or the first
//  number (schedstat, field NULL)
static double
s_task_sum (pid_t pid, const char *file, const char *field)
{
    char path [128];
    snprintf (path, sizeof path, "/proc/%d/task", (int) pid);
    DIR *dir = opendir (path);
    if (!dir)
        return NAN;
    double sum = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        char name [512], line [256];
        snprintf (name, sizeof name, "%s/%s/%s", path, entry->d_name, file);
        FILE *in = fopen (name, "r");
        while (in && fgets (line, sizeof line, in)) {
            if (!field) {
                sum += strtod (line, NULL);
                break;
            }
            if (strncmp (line, field, strlen (field)) == 0) {
                sum += strtod (line + strlen (field), NULL);
                break;
            }
        }
        if (in)
            fclose (in);
    }
    closedir (dir);
    return sum;
}

//  Now's raw values (F_SYSCALLS comes from perf at the end)
static void
s_count_snapshot (counted_t *proc, int which, double raw [FIELDS])
{
    raw [F_SYSCALLS] = NAN;
    raw [F_MSGS_IN] = proc->map? (double) __atomic_load_n (&proc->map->msgs_in, __ATOMIC_RELAXED): NAN;
    raw [F_MSGS_OUT] = proc->map? (double) __atomic_load_n (&proc->map->msgs_out, __ATOMIC_RELAXED): NAN;
    raw [F_TURNS] = proc->map? (double) __atomic_load_n (&proc->map->polls, __ATOMIC_RELAXED): NAN;
    raw [F_ALLOCS] = proc->map? (double) __atomic_load_n (&proc->map->allocs, __ATOMIC_RELAXED): NAN;
    if (which == PROC_CLIENT) {
        struct rusage usage;
        struct timespec cpu;
        getrusage (RUSAGE_SELF, &usage);
        clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &cpu);
        raw [F_VCSW] = usage.ru_nvcsw;
        raw [F_NVCSW] = usage.ru_nivcsw;
        raw [F_CPU_US] = cpu.tv_sec * 1e6 + cpu.tv_nsec / 1e3;
    }
    else {
        raw [F_VCSW] = s_task_sum (proc->pid, "status", "voluntary_ctxt_switches:");
        raw [F_NVCSW] = s_task_sum (proc->pid, "status", "nonvoluntary_ctxt_switches:");
        raw [F_CPU_US] = s_task_sum (proc->pid, "schedstat", NULL) / 1e3;
    }
}

//  Send a command to perf's control FIFO, wait for its ack (10 s)
static bool
s_perf_command (counted_t *proc, const char *command)
{
    if (write (proc->ctl, command, strlen (command)) != (ssize_t) strlen (command))
        return false;
    struct pollfd item = { proc->ack, POLLIN, 0 };
    char ack [16];
    return poll (&item, 1, 10000) == 1 && read (proc->ack, ack, sizeof ack) > 0
        && strncmp (ack, "ack", 3) == 0;
}

//  perf stat on proc->pid, attached and counting when this returns true
static bool
s_perf_start (counted_t *proc, int which)
{
    char ctl [400], ack [400], target [32], control [820];
    snprintf (ctl, sizeof ctl, "%s/perf-%s.ctl", s_count_dir, s_proc_keys [which]);
    snprintf (ack, sizeof ack, "%s/perf-%s.ack", s_count_dir, s_proc_keys [which]);
    snprintf (proc->out, sizeof proc->out, "%s/perf-%s.out", s_count_dir, s_proc_keys [which]);
    snprintf (target, sizeof target, "%d", (int) proc->pid);
    snprintf (control, sizeof control, "fifo:%s,%s", ctl, ack);
    unlink (ctl);
    unlink (ack);
    unlink (proc->out);
    if (mkfifo (ctl, 0600) || mkfifo (ack, 0600))
        return false;
    //  Read-write: neither open waits for perf, neither end sees EOF
    proc->ctl = open (ctl, O_RDWR | O_CLOEXEC);
    proc->ack = open (ack, O_RDWR | O_CLOEXEC);
    proc->perf = fork ();
    if (proc->perf == 0) {
        //  One counter per event and thread: --syscall-names opens ~360
        //  per thread
        struct rlimit files = { 65536, 65536 };
        setrlimit (RLIMIT_NOFILE, &files);
        int null = open ("/dev/null", O_RDWR);
        dup2 (null, 0);
        dup2 (null, 1);
        dup2 (null, 2);
        //  -D -1: counters open but off until "enable"
        execlp ("perf", "perf", "stat", "-x,", "-o", proc->out, "-e",
                s_syscall_names? "raw_syscalls:sys_enter,syscalls:sys_enter_*": "raw_syscalls:sys_enter",
                "-D", "-1", "--control", control, "-p", target, (char *) NULL);
        _exit (127);
    }
    if (proc->perf > 0 && proc->ctl >= 0 && proc->ack >= 0 && s_perf_command (proc, "enable\n"))
        return true;
    if (proc->perf > 0) {
        kill (proc->perf, SIGKILL);
        waitpid (proc->perf, NULL, 0);
    }
    proc->perf = 0;
    return false;
}

//  Stop perf; the system calls it counted, or nan; with --syscall-names
//  the most frequent ones into names and counts (sorted, 0 after the last)
static double
s_perf_stop (counted_t *proc, char names [TOP_SYSCALLS][32], double counts [TOP_SYSCALLS])
{
    for (int i = 0; i < TOP_SYSCALLS; i++) {
        names [i][0] = 0;
        counts [i] = 0;
    }
    if (!proc->perf)
        return NAN;
    bool disabled = s_perf_command (proc, "disable\n");
    kill (proc->perf, SIGINT);
    waitpid (proc->perf, NULL, 0);
    proc->perf = 0;
    close (proc->ctl);
    close (proc->ack);
    double count = NAN;
    char line [512];
    FILE *in = fopen (proc->out, "r");
    const char *prefix = ",syscalls:sys_enter_";
    while (disabled && in && fgets (line, sizeof line, in)) {
        if (!isdigit ((unsigned char) line [0]))
            continue;
        if (strstr (line, ",raw_syscalls:sys_enter,"))
            count = strtod (line, NULL);
        char *name = strstr (line, prefix);
        double value = strtod (line, NULL);
        if (!name || value <= counts [TOP_SYSCALLS - 1])
            continue;
        name += strlen (prefix);
        int at = TOP_SYSCALLS - 1;
        while (at > 0 && counts [at - 1] < value) {
            counts [at] = counts [at - 1];
            memcpy (names [at], names [at - 1], 32);
            at--;
        }
        counts [at] = value;
        snprintf (names [at], 32, "%.*s", (int) strcspn (name, ","), name);
    }
    if (in)
        fclose (in);
    return count;
}

static dtx_count_t *
s_count_map (const char *name)
{
    char path [400];
    snprintf (path, sizeof path, "%s/count-%s", s_work, name);
    int fd = open (path, O_RDONLY);
    if (fd == -1)
        return NULL;
    void *map = mmap (NULL, sizeof (dtx_count_t), PROT_READ, MAP_SHARED, fd, 0);
    close (fd);
    if (map == MAP_FAILED)
        return NULL;
    if (((dtx_count_t *) map)->magic != DTX_COUNT_MAGIC) {
        munmap (map, sizeof (dtx_count_t));
        return NULL;
    }
    return (dtx_count_t *) map;
}

//  total transactions of mode over clients workers, counted
static counts_t
s_count_run (int mode, int clients, long total)
{
    counts_t counts = { .clients = clients, .txns = 0 };
    counted_t procs [PROCS];
    memset (procs, 0, sizeof procs);
    bool dtx = IS_DTX (mode);
    if (s_own && dtx) {
        procs [PROC_COORD].pid = mode == MODE_S? s_store_coordinator: s_coordinator;
        procs [PROC_P1].pid = mode == MODE_S? s_store_participant [0]: s_participant [0];
        procs [PROC_P2].pid = mode == MODE_S? s_store_participant [1]: s_participant [1];
        const char *prefix = mode == MODE_S? "-store": "";
        char name [64];
        snprintf (name, sizeof name, "coordinator%s", prefix);
        procs [PROC_COORD].map = s_count_map (name);
        for (int i = 0; i < 2; i++) {
            snprintf (name, sizeof name, "participant%s-%d", prefix, i + 1);
            procs [PROC_P1 + i].map = s_count_map (name);
        }
    }
    procs [PROC_CLIENT].pid = getpid ();
    dtx_count_t *(*self_counters) (void) =
        (dtx_count_t *(*) (void)) dlsym (RTLD_DEFAULT, "dtx_count_counters");
    procs [PROC_CLIENT].map = self_counters? self_counters (): NULL;

    s_mode = mode;
    s_running = true;
    pthread_barrier_init (&s_barrier_start, NULL, clients + 1);
    pthread_barrier_init (&s_barrier_done, NULL, clients + 1);
    pthread_barrier_init (&s_barrier_release, NULL, clients + 1);
    worker_t *workers = (worker_t *) calloc (clients, sizeof (worker_t));
    pthread_t *threads = (pthread_t *) calloc (clients, sizeof (pthread_t));
    for (int i = 0; i < clients; i++) {
        workers [i].index = i;
        workers [i].quota = total / clients + (i < total % clients);
        pthread_create (&threads [i], NULL, s_worker, &workers [i]);
    }
    //  Every worker connected and warm: open the window
    for (int p = 0; p < PROCS; p++)
        if (procs [p].pid > 0 && s_perf_ok)
            s_perf_start (&procs [p], p);
    for (int p = 0; p < PROCS; p++)
        if (procs [p].pid > 0)
            s_count_snapshot (&procs [p], p, procs [p].before);
    pthread_barrier_wait (&s_barrier_start);
    pthread_barrier_wait (&s_barrier_done);
    //  Every worker done, none gone: close it
    for (int p = 0; p < PROCS; p++) {
        if (procs [p].pid <= 0) {
            for (int f = 0; f < FIELDS; f++)
                counts.per_tx [p][f] = NAN;
            continue;
        }
        double after [FIELDS];
        s_count_snapshot (&procs [p], p, after);
        for (int f = 0; f < FIELDS; f++)
            counts.per_tx [p][f] = after [f] - procs [p].before [f];
    }
    for (int p = 0; p < PROCS; p++)
        counts.per_tx [p][F_SYSCALLS] = s_perf_stop (&procs [p], counts.top_names [p],
                                                     counts.top_counts [p]);
    pthread_barrier_wait (&s_barrier_release);
    s_running = false;
    for (int i = 0; i < clients; i++) {
        pthread_join (threads [i], NULL);
        counts.txns += workers [i].count;
        counts.errors += workers [i].errors;
        free (workers [i].latencies);
    }
    long attempts = counts.txns + counts.errors;
    for (int p = 0; p < PROCS; p++)
        for (int f = 0; f < FIELDS; f++)
            counts.per_tx [p][f] = attempts? counts.per_tx [p][f] / attempts: NAN;
    for (int p = 0; p < PROCS; p++)
        for (int i = 0; i < TOP_SYSCALLS; i++)
            counts.top_counts [p][i] = attempts? counts.top_counts [p][i] / attempts: NAN;
    for (int p = 0; p < PROCS; p++)
        if (procs [p].map && p != PROC_CLIENT)
            munmap (procs [p].map, sizeof (dtx_count_t));
    pthread_barrier_destroy (&s_barrier_start);
    pthread_barrier_destroy (&s_barrier_done);
    pthread_barrier_destroy (&s_barrier_release);
    free (workers);
    free (threads);
    return counts;
}

//  --------------------------------------------------------------------------
//  10,000 transactions in flight: the coordinator's memory

static void
s_measure_in_flight (long *rss_kb, long *hwm_kb)
{
    //  (keys as libdtx takes them: DTX_CLIENT_CERT, DTX_COORDINATOR_CERT)
    char err [512];
    const char *cert = getenv ("DTX_CLIENT_CERT");
    dtx_security_t *security = cert && *cert
        ? dtx_security_new (cert, getenv ("DTX_COORDINATOR_CERT"), err, sizeof err): NULL;
    if (cert && *cert && !security) {
        fprintf (stderr, "bench: %s\n", err);
        *rss_kb = *hwm_kb = -1;
        return;
    }
    zsock_t *sock = dtx_sock_new (ZMQ_DEALER, s_endpoint, security, DTX_MAXMSG_RESULT);
    dtx_security_destroy (&security);
    const int count = 10000;
    for (int i = 0; i < count; i++) {
        dtx_proto_t *begin = dtx_proto_new (DTX_PROTO_BEGIN);
        dtx_proto_set_seq (begin, i + 1);
        dtx_proto_set_timeout (begin, 120000);
        dtx_proto_send (begin, sock);
        dtx_proto_destroy (&begin);
    }
    char **gids = (char **) calloc (count, sizeof (char *));
    zsock_set_rcvtimeo (sock, 10000);
    for (int i = 0; i < count; i++) {
        dtx_proto_t *reply;
        char err [128];
        if (dtx_proto_recv (&reply, sock, err, sizeof err))
            break;
        gids [i] = strdup (dtx_proto_gid (reply));
        dtx_proto_destroy (&reply);
    }
    *rss_kb = s_status_kb (s_coordinator, "VmRSS");
    *hwm_kb = s_status_kb (s_coordinator, "VmHWM");
    for (int i = 0; i < count && gids [i]; i++) {
        dtx_proto_t *rollback = dtx_proto_new (DTX_PROTO_ROLLBACK);
        dtx_proto_set_gid (rollback, gids [i]);
        dtx_proto_send (rollback, sock);
        dtx_proto_destroy (&rollback);
        free (gids [i]);
    }
    free (gids);
    zclock_sleep (500);
    zsock_destroy (&sock);
}

//  --------------------------------------------------------------------------
//  The decision log alone: group commit with N writers

static pthread_mutex_t s_log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_log_appended = PTHREAD_COND_INITIALIZER;
static pthread_cond_t s_log_synced = PTHREAD_COND_INITIALIZER;
static uint64_t s_log_appended_seq, s_log_synced_seq;
static dtx_log_t *s_log;
static volatile bool s_log_running;

static void *
s_log_flusher (void *arg)
{
    pthread_mutex_lock (&s_log_lock);
    while (s_log_running || s_log_synced_seq < s_log_appended_seq) {
        while (s_log_synced_seq == s_log_appended_seq && s_log_running)
            pthread_cond_wait (&s_log_appended, &s_log_lock);
        uint64_t upto = s_log_appended_seq;
        //  Take what is buffered, write it without the lock: writers keep
        //  appending to the next batch meanwhile (group commit)
        dtx_log_batch_t *batch = dtx_log_batch_take (s_log);
        pthread_mutex_unlock (&s_log_lock);
        if (dtx_log_batch_write (s_log, batch)) {
            fprintf (stderr, "bench: fdatasync failed: %s\n", strerror (errno));
            exit (1);
        }
        pthread_mutex_lock (&s_log_lock);
        dtx_log_batch_done (s_log, &batch);
        s_log_synced_seq = upto;
        pthread_cond_broadcast (&s_log_synced);
    }
    pthread_mutex_unlock (&s_log_lock);
    return NULL;
}

static void *
s_log_writer (void *arg)
{
    long *done = (long *) arg;
    const char *names [] = { "db1", "db2" };
    char gid [64];
    while (true) {
        pthread_mutex_lock (&s_log_lock);
        if (!s_log_running) {
            //  Checked under the lock: the flusher may have gone already
            pthread_mutex_unlock (&s_log_lock);
            break;
        }
        snprintf (gid, sizeof gid, "dtx:bench:1:%" PRIu64, s_log_appended_seq + 1);
        dtx_log_append_commit (s_log, gid, 2, names);
        uint64_t mine = ++s_log_appended_seq;
        pthread_cond_signal (&s_log_appended);
        while (s_log_synced_seq < mine)
            pthread_cond_wait (&s_log_synced, &s_log_lock);
        pthread_mutex_unlock (&s_log_lock);
        (*done)++;
    }
    return NULL;
}

static void
s_log_only (int seconds)
{
    char dir [] = "/tmp/dtx-bench-log-XXXXXX";
    if (!mkdtemp (dir))
        exit (1);
    printf ("decision log alone (%s, ext4 on this machine), %d s per row\n", dir, seconds);
    printf ("threads: each writer a thread waiting for its record's fsync (condvar wake-ups)\n"
            "loop:    the coordinator's model, one event loop turn appends every writer's\n"
            "         record, then one fdatasync\n");
    printf ("%8s %14s %12s %12s %14s\n", "writers", "threads rec/s", "per fsync", "fsync/s", "loop rec/s");
    int writers [] = { 1, 2, 4, 8, 16, 32, 64 };
    double last = 0, last_loop = 0;
    for (size_t w = 0; w < sizeof writers / sizeof writers [0]; w++) {
        char err [256];
        char command [128];
        snprintf (command, sizeof command, "rm -f %s/*", dir);
        if (system (command)) {}
        s_log = dtx_log_open (dir, NULL, NULL, err, sizeof err);
        s_log_appended_seq = s_log_synced_seq = 0;
        s_log_running = true;
        pthread_t flusher, threads [64];
        long done [64] = { 0 };
        pthread_create (&flusher, NULL, s_log_flusher, NULL);
        for (int i = 0; i < writers [w]; i++)
            pthread_create (&threads [i], NULL, s_log_writer, &done [i]);
        zclock_sleep (seconds * 1000);
        pthread_mutex_lock (&s_log_lock);
        s_log_running = false;
        pthread_cond_broadcast (&s_log_appended);
        pthread_mutex_unlock (&s_log_lock);
        for (int i = 0; i < writers [w]; i++)
            pthread_join (threads [i], NULL);
        pthread_join (flusher, NULL);
        long total = 0;
        for (int i = 0; i < writers [w]; i++)
            total += done [i];
        double rate = (double) total / seconds;
        double per_fsync = (double) dtx_log_records_synced (s_log)
                         / (dtx_log_syncs (s_log)? dtx_log_syncs (s_log): 1);
        double fsyncs = (double) dtx_log_syncs (s_log) / seconds;
        dtx_log_destroy (&s_log);
        //  Loop model: N writers each with one decision outstanding
        if (system (command)) {}
        s_log = dtx_log_open (dir, NULL, NULL, err, sizeof err);
        const char *names [] = { "db1", "db2" };
        int64_t until = zclock_mono () + seconds * 1000;
        long records = 0;
        int64_t started = zclock_mono ();
        while (zclock_mono () < until) {
            for (int i = 0; i < writers [w]; i++) {
                char gid [64];
                snprintf (gid, sizeof gid, "dtx:bench:1:%ld", records++);
                dtx_log_append_commit (s_log, gid, 2, names);
            }
            if (dtx_log_sync (s_log)) {
                fprintf (stderr, "bench: fdatasync failed: %s\n", strerror (errno));
                exit (1);
            }
        }
        double loop_rate = records * 1000.0 / (zclock_mono () - started);
        dtx_log_destroy (&s_log);
        printf ("%8d %14.0f %12.1f %12.0f %14.0f\n", writers [w], rate, per_fsync, fsyncs, loop_rate);
        fflush (stdout);
        last = rate;
        last_loop = loop_rate;
    }
    printf ("headline: log_loop_records_per_s@64=%.0f log_thread_records_per_s@64=%.0f\n",
            last_loop, last);
    snprintf (dir + strlen (dir), 1, "%s", "");
    char command [128];
    snprintf (command, sizeof command, "rm -rf %s", dir);
    if (system (command)) {}
}

//  --------------------------------------------------------------------------

static void
s_usage (void)
{
    fprintf (stderr,
"usage: dtx-bench [--quick] [--seconds N] [--clients 1,8,32,128] [--scale N]\n"
"                 [--csv FILE] [--plot FILE.png] [--log-only] [--modes d,e,...]\n"
"                 [--db1 CONNINFO --db2 CONNINFO --coordinator ENDPOINT]\n"
"                 [--store CONNINFO|local] [--counts N] [--count-clients 1,8]\n"
"                 [--count-mode d] [--syscall-names]\n"
"By default it starts two PostgreSQL clusters, a coordinator and two participants\n"
"of its own, and stops them at the end.  --db1/--db2/--coordinator use existing\n"
"ones instead (participants named db1 and db2, pgbench_accounts loaded); their\n"
"CurveZMQ keys come from DTX_CLIENT_CERT (our NAME_secret) and DTX_COORDINATOR_CERT\n"
"(the coordinator's public certificate).  Its own system runs with keys it makes.\n"
"--store adds mode s: dtx with a second coordinator whose decisions go to that\n"
"PostgreSQL database (docs/ha.md; 'local': the first cluster), side by side with d.\n"
"--counts N (default 2000, 0: none): after the timed rows, N transactions of\n"
"--count-mode (d) at each --count-clients, counted per process: system calls\n"
"(perf), ZeroMQ messages and loop turns, context switches, CPU per transaction;\n"
"--syscall-names adds the most frequent system calls of each process.\n");
}

//  a / b, or nan when either was not measured (a mode left out with
//  --modes, a client count not run: their figures are nan)
static double
s_ratio (double a, double b)
{
    return b > 0? a / b: NAN;
}

//  A row that was not run: every figure nan, so that every ratio with it is
static result_t
s_not_run (void)
{
    result_t result = { .tps = NAN, .p50 = NAN, .p99 = NAN, .coord_us = NAN, .part_us = NAN };
    return result;
}

//  Run the counts pass and print it: a table, one counts@N line per
//  client count, and the CSV (csv_path with -counts before .csv)
static void
s_counts_pass (int mode, const int *levels, int nlevels, const char *csv_path)
{
    if (!s_perf_ok)
        printf ("\ncounts: no system call counts (perf stat -e raw_syscalls:sys_enter does not work"
                " here: apt-get install linux-perf)\n");
    if (!*s_count_lib)
        printf ("\ncounts: no message or loop-turn counts (%s)\n", getenv ("DTX_BENCH_NO_PRELOAD")
                ? "DTX_BENCH_NO_PRELOAD is set": "bench/.libs/libdtxcount.so not built: make");
    counts_t counts [LEVELS_MAX];
    printf ("\ncounts (mode %s, %d transactions per row, per transaction; system calls: perf,"
            " messages and loop turns: bench/dtx-count.c, context switches and CPU: /proc):\n",
            s_mode_names [mode], s_counts_n);
    printf ("%8s %-16s %9s %9s %9s %10s %8s %8s %9s %9s\n", "clients", "process", "syscalls",
            "msgs in", "msgs out", "loop turns", "vcsw", "nvcsw", "cpu us", "allocs");
    for (int l = 0; l < nlevels; l++) {
        counts [l] = s_count_run (mode, levels [l], s_counts_n);
        for (int p = 0; p < PROCS; p++) {
            double *v = counts [l].per_tx [p];
            printf ("%8d %-16s %9.2f %9.2f %9.2f %10.2f %8.2f %8.2f %9.1f %9.1f\n", levels [l],
                    s_proc_labels [p], v [F_SYSCALLS], v [F_MSGS_IN], v [F_MSGS_OUT], v [F_TURNS],
                    v [F_VCSW], v [F_NVCSW], v [F_CPU_US], v [F_ALLOCS]);
        }
        for (int p = 0; s_syscall_names && p < PROCS; p++) {
            if (!counts [l].top_names [p][0][0])
                continue;
            printf ("%8s   %s:", "", s_proc_labels [p]);
            for (int i = 0; i < TOP_SYSCALLS && counts [l].top_names [p][i][0]; i++)
                printf (" %s %.2f", counts [l].top_names [p][i], counts [l].top_counts [p][i]);
            printf ("\n");
        }
        if (counts [l].errors)
            printf ("%8d (%ld of %ld transactions failed: counted all the same)\n", levels [l],
                    counts [l].errors, counts [l].errors + counts [l].txns);
        fflush (stdout);
    }
    for (int l = 0; l < nlevels; l++) {
        printf ("counts@%d:", levels [l]);
        for (int p = 0; p < PROCS; p++)
            for (int f = 0; f < FIELDS; f++)
                printf (f == F_CPU_US || f == F_ALLOCS? " %s_%s=%.1f": " %s_%s=%.2f", s_proc_keys [p], s_field_keys [f],
                        counts [l].per_tx [p][f]);
        printf ("\n");
    }
    char path [600];
    size_t len = strlen (csv_path);
    if (len > 4 && streq (csv_path + len - 4, ".csv"))
        snprintf (path, sizeof path, "%.*s-counts.csv", (int) (len - 4), csv_path);
    else
        snprintf (path, sizeof path, "%s-counts", csv_path);
    FILE *csv = fopen (path, "w");
    if (csv) {
        fprintf (csv, "clients,mode,process,transactions,errors");
        for (int f = 0; f < FIELDS; f++)
            fprintf (csv, ",%s_per_tx", s_field_keys [f]);
        fprintf (csv, "\n");
        for (int l = 0; l < nlevels; l++)
            for (int p = 0; p < PROCS; p++) {
                fprintf (csv, "%d,%s,%s,%ld,%ld", levels [l], s_mode_names [mode], s_proc_keys [p],
                         counts [l].txns, counts [l].errors);
                for (int f = 0; f < FIELDS; f++)
                    fprintf (csv, ",%.3f", counts [l].per_tx [p][f]);
                fprintf (csv, "\n");
            }
        fclose (csv);
        printf ("counts csv: %s\n", path);
    }
}

int
main (int argc, char *argv [])
{
    //  The counts pass counts this process's messages too: start again
    //  with bench/dtx-count.c preloaded (once); the processes started from
    //  here get it explicitly, the shells and PostgreSQL do not
    snprintf (s_count_lib, sizeof s_count_lib, "%s/bench/.libs/libdtxcount.so", TOP_BUILDDIR);
    if (access (s_count_lib, R_OK) != 0 || getenv ("DTX_BENCH_NO_PRELOAD"))
        *s_count_lib = 0;       //  (DTX_BENCH_NO_PRELOAD: to compare timings without it)
    const char *preloaded = getenv ("DTX_BENCH_PRELOADED");
    if (*s_count_lib && !preloaded) {
        const char *was = getenv ("LD_PRELOAD");
        char preload [1200];
        snprintf (preload, sizeof preload, "%s%s%s", s_count_lib, was && *was? " ": "",
                  was? was: "");
        setenv ("DTX_BENCH_PRELOADED", was? was: "", 1);
        setenv ("LD_PRELOAD", preload, 1);
        execv ("/proc/self/exe", argv);
        fprintf (stderr, "dtx-bench: cannot start again with %s (%s): not counting this"
                 " process's messages\n", s_count_lib, strerror (errno));
        preloaded = getenv ("DTX_BENCH_PRELOADED");
    }
    if (preloaded) {
        //  As it was, for what we start (system(), pgbench, PostgreSQL)
        if (*preloaded)
            setenv ("LD_PRELOAD", preloaded, 1);
        else
            unsetenv ("LD_PRELOAD");
        unsetenv ("DTX_BENCH_PRELOADED");
    }
    const char *csv_path = "bench-results.csv", *plot_path = NULL;
    bool quick = false, log_only = false;
    int count_levels [LEVELS_MAX] = { 1, 8 }, count_nlevels = 2, count_mode = MODE_D;
    static struct option options [] = {
        { "quick", no_argument, 0, 'q' }, { "seconds", required_argument, 0, 's' },
        { "clients", required_argument, 0, 'c' }, { "scale", required_argument, 0, 'S' },
        { "csv", required_argument, 0, 'o' }, { "plot", required_argument, 0, 'p' },
        { "log-only", no_argument, 0, 'l' }, { "db1", required_argument, 0, '1' },
        { "db2", required_argument, 0, '2' }, { "coordinator", required_argument, 0, 'C' },
        { "modes", required_argument, 0, 'm' }, { "store", required_argument, 0, 'T' },
        { "counts", required_argument, 0, 'n' }, { "count-clients", required_argument, 0, 'k' },
        { "count-mode", required_argument, 0, 'M' }, { "syscall-names", no_argument, 0, 'N' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    int opt, seconds = -1, scale = -1;
    while ((opt = getopt_long (argc, argv, "qs:c:S:o:p:l12:C:m:T:n:k:M:Nh", options, NULL)) != -1) {
        switch (opt) {
            case 'm': {
                //  Only these modes (by the name before the colon): for profiling
                char list [256];
                snprintf (list, sizeof list, ",%s,", optarg);
                for (int mode = 0; mode < MODES; mode++) {
                    char name [32];
                    snprintf (name, sizeof name, ",%.*s,", (int) strcspn (s_mode_names [mode], ":"),
                              s_mode_names [mode]);
                    s_mode_off [mode] = strstr (list, name) == NULL;
                }
                break;
            }
            case 'n': {
                char *end;
                long n = strtol (optarg, &end, 10);
                if (*end || n < 0 || n > 10000000) {
                    fprintf (stderr, "dtx-bench: --counts '%s' is not a number of transactions"
                             " (0 to 10000000)\n", optarg);
                    return 2;
                }
                s_counts_n = (int) n;
                break;
            }
            case 'k': {
                count_nlevels = 0;
                char *list = strdup (optarg), *save = NULL;
                for (char *tok = strtok_r (list, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
                    int clients = atoi (tok);
                    if (clients < 1 || clients > 1024 || count_nlevels == LEVELS_MAX) {
                        fprintf (stderr, "dtx-bench: --count-clients '%s': at most %d client counts"
                                 " of 1 to 1024\n", optarg, LEVELS_MAX);
                        free (list);
                        return 2;
                    }
                    count_levels [count_nlevels++] = clients;
                }
                free (list);
                break;
            }
            case 'M': {
                count_mode = -1;
                for (int mode = 0; mode < MODES; mode++)
                    if (strlen (optarg) == strcspn (s_mode_names [mode], ":")
                    &&  strncmp (optarg, s_mode_names [mode], strlen (optarg)) == 0)
                        count_mode = mode;
                if (count_mode < 0) {
                    fprintf (stderr, "dtx-bench: --count-mode '%s' is not a mode (a, b, b2, c, d,"
                             " d1, d2, e, a1, s)\n", optarg);
                    return 2;
                }
                break;
            }
            case 'N': s_syscall_names = true; break;
            case 'q': quick = true; break;
            case 'T': snprintf (s_store, sizeof s_store, "%s", optarg); break;
            case 's': seconds = atoi (optarg); break;
            case 'S': scale = atoi (optarg); break;
            case 'c': {
                s_nlevels = 0;
                char *list = strdup (optarg), *save = NULL;
                for (char *tok = strtok_r (list, ",", &save); tok && s_nlevels < LEVELS_MAX;
                     tok = strtok_r (NULL, ",", &save))
                    s_levels [s_nlevels++] = atoi (tok);
                free (list);
                break;
            }
            case 'o': csv_path = optarg; break;
            case 'p': plot_path = optarg; break;
            case 'l': log_only = true; break;
            case '1': snprintf (s_conninfo [0], sizeof s_conninfo [0], "%s", optarg); s_own = false; break;
            case '2': snprintf (s_conninfo [1], sizeof s_conninfo [1], "%s", optarg); s_own = false; break;
            case 'C': snprintf (s_endpoint, sizeof s_endpoint, "%s", optarg); s_own = false; break;
            default: s_usage (); return opt == 'h'? 0: 2;
        }
    }
    if (!*s_store || !s_own)
        s_mode_off [MODE_S] = true;
    s_seconds = seconds > 0? seconds: quick? 3: 10;
    s_scale = scale > 0? scale: quick? 1: 10;
    zsys_init ();
    zsys_set_logstream (NULL);
    if (log_only) {
        s_log_only (quick? 2: 5);
        return 0;
    }
    if (!s_own && (!*s_conninfo [0] || !*s_conninfo [1] || !*s_endpoint)) {
        fprintf (stderr, "dtx-bench: --db1, --db2 and --coordinator go together\n");
        return 2;
    }
    if (s_own)
        s_start_all ();
    s_accounts = (long) s_scale * 100000;
    if (!s_wait_ready ()) {
        fprintf (stderr, "dtx-bench: coordinator/participants not ready\n");
        return 1;
    }
    char decision_path [512];
    snprintf (decision_path, sizeof decision_path, "%s/naive-decisions.log", s_own? s_work: "/tmp");
    s_decision_fd = open (decision_path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);

    //  Warm up: settle PostgreSQL after the load (checkpoint, caches) and
    //  the participants' pools, so that the first rows measure the same
    //  system as the last
    for (int i = 0; i < 2; i++) {
        PGconn *conn = PQconnectdb (s_conninfo [i]);
        PQclear (PQexec (conn, "VACUUM ANALYZE pgbench_accounts"));
        PQclear (PQexec (conn, "CHECKPOINT"));
        PQfinish (conn);
    }
    s_run (MODE_D, 8, 1);
    s_run (MODE_B, 8, 1);
    if (!s_mode_off [MODE_S])
        s_run (MODE_S, 8, 1);

    result_t results [LEVELS_MAX][MODES];
    for (int l = 0; l < LEVELS_MAX; l++)
        for (int mode = 0; mode < MODES; mode++)
            results [l][mode] = s_not_run ();
    printf ("%8s %-23s %10s %9s %9s %8s %11s %11s\n", "clients", "mode", "tps", "p50 ms",
            "p99 ms", "errors", "coord us/tx", "parts us/tx");
    for (int l = 0; l < s_nlevels; l++) {
        for (int mode = 0; mode < MODES; mode++) {
            if (s_mode_off [mode])
                continue;
            result_t *r = &results [l][mode];
            *r = s_run (mode, s_levels [l], s_seconds);
            printf ("%8d %-23s %10.0f %9.2f %9.2f %8ld", s_levels [l], s_mode_names [mode],
                    r->tps, r->p50, r->p99, r->errors);
            if (IS_DTX (mode))
                printf (" %11.1f %11.1f", r->coord_us, r->part_us);
            printf ("\n");
            fflush (stdout);
        }
    }
    //  The counts pass, before the 10,000 BEGINs below
    if (s_counts_n > 0 && !s_mode_off [count_mode]) {
        s_perf_ok = system ("perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1") == 0;
        if (s_own)
            snprintf (s_count_dir, sizeof s_count_dir, "%s", s_work);
        else {
            snprintf (s_count_dir, sizeof s_count_dir, "/tmp/dtx-bench-counts-XXXXXX");
            if (!mkdtemp (s_count_dir))
                *s_count_dir = 0;
        }
        if (*s_count_dir)
            s_counts_pass (count_mode, count_levels, count_nlevels, csv_path);
        if (!s_own && *s_count_dir) {
            char command [400];
            snprintf (command, sizeof command, "rm -rf %s", s_count_dir);
            if (system (command)) {}
        }
    }
    else if (s_counts_n > 0)
        printf ("\ncounts: not run (mode %s left out by --modes)\n", s_mode_names [count_mode]);
    long rss = -1, hwm = -1;
    if (s_own)
        s_measure_in_flight (&rss, &hwm);

    //  Ratios, side by side from this one run
    FILE *csv = fopen (csv_path, "w");
    if (csv) {
        fprintf (csv, "clients,mode,tps,p50_ms,p99_ms,errors,coord_us_per_tx,participants_us_per_tx\n");
        for (int l = 0; l < s_nlevels; l++)
            for (int mode = 0; mode < MODES; mode++) {
                result_t *r = &results [l][mode];
                if (!r->ran)
                    continue;
                fprintf (csv, "%d,%s,%.1f,%.3f,%.3f,%ld,%.2f,%.2f\n", s_levels [l], s_mode_names [mode],
                         r->tps, r->p50, r->p99, r->errors, r->coord_us, r->part_us);
            }
        fclose (csv);
    }
    printf ("\nratios (same run):\n");
    int at1 = -1, at8 = -1, at32 = -1;
    for (int l = 0; l < s_nlevels; l++) {
        result_t *r = results [l];
        printf ("  %3d clients: d/b=%.2f d/c=%.2f e/a1=%.2f p50 d/c=%.2f | d1/b=%.2f d2/b=%.2f d2/c=%.2f"
                " p50 d2/c=%.2f d/b2=%.2f\n", s_levels [l],
                s_ratio (r [MODE_D].tps, r [MODE_B].tps), s_ratio (r [MODE_D].tps, r [MODE_C].tps),
                s_ratio (r [MODE_E].tps, r [MODE_A1].tps), s_ratio (r [MODE_D].p50, r [MODE_C].p50),
                s_ratio (r [MODE_D1].tps, r [MODE_B].tps), s_ratio (r [MODE_D2].tps, r [MODE_B].tps),
                s_ratio (r [MODE_D2].tps, r [MODE_C].tps), s_ratio (r [MODE_D2].p50, r [MODE_C].p50),
                s_ratio (r [MODE_D].tps, r [MODE_B2].tps));
        if (s_levels [l] == 1) at1 = l;
        if (s_levels [l] == 8) at8 = l;
        if (s_levels [l] == 32) at32 = l;
    }
    if (!s_mode_off [MODE_S])
        for (int l = 0; l < s_nlevels; l++) {
            result_t *r = results [l];
            printf ("  %3d clients: PostgreSQL store vs local log: tps s/d=%.2f p50 s/d=%.2f"
                    " (%.2f vs %.2f ms) coordinator us/tx %.1f vs %.1f\n", s_levels [l],
                    s_ratio (r [MODE_S].tps, r [MODE_D].tps), s_ratio (r [MODE_S].p50, r [MODE_D].p50),
                    r [MODE_S].p50, r [MODE_D].p50, r [MODE_S].coord_us, r [MODE_D].coord_us);
        }
    if (rss >= 0)
        printf ("coordinator with 10000 transactions in flight: RSS %.1f MiB (peak over the run %.1f MiB)\n",
                rss / 1024.0, hwm / 1024.0);
    printf ("csv: %s\n", csv_path);
    if (plot_path) {
        char script [2048];
        snprintf (script, sizeof script,
            "gnuplot -e \"set terminal pngcairo size 900,540; set output '%s';"
            " set datafile separator ','; set logscale x 2; set xlabel 'concurrent clients';"
            " set ylabel 'transactions per second'; set key left top; set grid;"
            //  direct libpq dashed, dtx solid: 9 series, 8 colours
            " D = 'a:libpq-1pc b:libpq-2pc b2:libpq-2pc-pipelined c:libpq-2pc+fsync a1:libpq-1db';"
            " X = 'd:dtx d1:dtx-exec d2:dtx-ack-decided e:dtx-1db';"
            " plot for [m in D] '< grep ,'.m.', %s' using 1:3 with linespoints lw 2 dt 2 title m,"
            " for [m in X] '< grep ,'.m.', %s' using 1:3 with linespoints lw 2 dt 1 title m\" 2>/dev/null",
            plot_path, csv_path, csv_path);
        if (system (script) == 0)
            printf ("plot: %s\n", plot_path);
        else
            printf ("plot: gnuplot not available (apt-get install gnuplot-nox)\n");
    }
    //  Each figure at its own client count, or nan when that count (or a
    //  mode in it) was not run: never another count's figure instead
    result_t none [MODES];
    for (int mode = 0; mode < MODES; mode++)
        none [mode] = s_not_run ();
    result_t *r1 = at1 >= 0? results [at1]: none, *r8 = at8 >= 0? results [at8]: none,
             *r32 = at32 >= 0? results [at32]: none;
    printf ("headline: d/b@8=%.2f d/b@32=%.2f d/c@8=%.2f e/a=%.2f p50@1=%.2f coord_us=%.1f"
            " rss_mib=%.1f d/b2@8=%.2f own_us@8=%.1f\n",
            s_ratio (r8 [MODE_D].tps, r8 [MODE_B].tps), s_ratio (r32 [MODE_D].tps, r32 [MODE_B].tps),
            s_ratio (r8 [MODE_D].tps, r8 [MODE_C].tps), s_ratio (r8 [MODE_E].tps, r8 [MODE_A1].tps),
            s_ratio (r1 [MODE_D].p50, r1 [MODE_C].p50), r32 [MODE_D].coord_us,
            rss >= 0? rss / 1024.0: NAN, s_ratio (r8 [MODE_D].tps, r8 [MODE_B2].tps),
            r8 [MODE_D].coord_us + r8 [MODE_D].part_us);
    if (!s_mode_off [MODE_S] && *s_store && s_own)
        s_takeover ();
    return 0;
}
