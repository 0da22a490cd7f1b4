/*  =========================================================================
    test_ha - the HA suite (issue 11, docs/ha.md): the decision store on a
    real Patroni cluster (three PostgreSQL 15 nodes, one etcd, synchronous
    replication in strict mode), two participant databases, coordinators
    and a two-database workload, with failures injected under it.

    Run by scripts/test-ha.sh (part of scripts/test.sh), which starts the
    cluster (scripts/hacluster.sh) and sets DTX_TEST_HA_STORE (its
    multi-host conninfo) and DTX_TEST_HA_DIR; without them every case
    is skipped.  Each case checks, for every transaction of its workload:
    the answer given at the time is never contradicted, the answer asked
    afterwards is exact and matches the rows on both databases (2 or 0),
    and nothing is left prepared; and prints what it measured.
    =========================================================================
*/
#include "testutil.h"
#include "dtx.h"
#include <czmq.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>
#include <pthread.h>
#include <sys/stat.h>
#include <libpq-fe.h>

static const char *s_ha_dir;
static pid_t s_extra [8];           //  processes started here (teardown)
static int s_nextra;

static void
s_setup (void)
{
    s_ha_dir = getenv ("DTX_TEST_HA_DIR");
    harness_store = getenv ("DTX_TEST_HA_STORE");
    if (!s_ha_dir || !harness_store)
        return;
    //  A lease that rides through a cancelled synchronous wait (below
    //  3/4 of it) with a store-timeout short enough to cancel one
    harness_lease_ms = 12000;
    harness_store_timeout_ms = 2000;
    harness_start (2);
}

static void s_stop_extra (void);

static void
s_teardown (void)
{
    s_stop_extra ();
    if (s_ha_dir && harness_store)
        harness_stop ();
}

static int
s_items (int index, int id)
{
    char sql [128];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM items WHERE id = %d", id);
    return (int) harness_pg_value (index, sql);
}

//  The workload's two databases: db1, and db2 or (in the store failover
//  case) db3, a database on the Patroni cluster itself
static const char *s_dbs [2] = { "db1", "db2" };
static char s_ha_db [600];          //  db3's conninfo (multi-host, read-write)

static long long
s_ha_db_value (const char *sql)
{
    PGconn *conn = PQconnectdb (s_ha_db);
    PGresult *result = PQexec (conn, sql);
    long long value = PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1
                    ? atoll (PQgetvalue (result, 0, 0)): -1;
    PQclear (result);
    PQfinish (conn);
    return value;
}

//  Rows of transaction id on the workload's databases
static int
s_rows (int id)
{
    if (streq (s_dbs [1], "db3")) {
        char sql [128];
        snprintf (sql, sizeof sql, "SELECT count(*) FROM items WHERE id = %d", id);
        return s_items (0, id) + (int) s_ha_db_value (sql);
    }
    return s_items (0, id) + s_items (1, id);
}

//  --------------------------------------------------------------------------
//  The workload: two-database transactions, one after another, for a
//  while; what each was told at the time

typedef struct {
    char gid [DTX_GID_MAX + 1];
    int id;
    dtx_outcome_t told;
} done_t;

#define DONE_MAX 20000
static done_t s_done [DONE_MAX];
static int s_ndone;
static int s_next_id = 50000;

typedef struct {
    int ndone;
    int told [5];           //  by dtx_outcome_t
    double worst_ms;
    int restarts;           //  coordinators started again by the supervisor
} workload_t;

//  The supervisor (systemd's Restart=): a coordinator that steps down
//  (exit 4) is started again within 100 ms, while the workload runs
static volatile bool s_supervising;
static volatile int s_restarts;

static void *
s_supervisor (void *arg)
{
    while (s_supervising) {
        if (harness_pid_gone (harness_coordinator_pid ())) {
            harness_start_coordinator ();
            s_restarts++;
        }
        usleep (100 * 1000);
    }
    return NULL;
}

//  When a failure was injected (zclock_mono), and the first commit
//  acknowledged after it
static volatile int64_t s_failed_at;
static int64_t s_first_commit_after;

//  Runs for ms against endpoints (one, or a list), under the supervisor
//  if supervise (a single coordinator restarted in place; with a standby
//  nobody restarts the one that died)
static void
s_workload (const char *endpoints, int ms, bool supervise, workload_t *work)
{
    memset (work, 0, sizeof *work);
    s_restarts = 0;
    s_failed_at = 0;
    s_first_commit_after = 0;
    s_supervising = supervise;
    pthread_t supervisor;
    if (supervise)
        pthread_create (&supervisor, NULL, s_supervisor, NULL);
    //  (a request in flight when its coordinator stops is answered by
    //  nobody: the client gives up after 10 s and asks the outcome later)
    dtx_client_t *client = dtx_client_new (endpoints, 10000);
    ck_assert_ptr_nonnull (client);
    int64_t until = zclock_mono () + ms;
    while (zclock_mono () < until && s_ndone < DONE_MAX) {
        done_t *done = &s_done [s_ndone];
        done->id = s_next_id++;
        int64_t started = zclock_mono ();
        dtx_txn_t *txn = dtx_begin (client, 60000);
        char value [16];
        snprintf (value, sizeof value, "%d", done->id);
        const char *params [] = { value };
        for (int i = 0; i < 2; i++)
            dtx_send (txn, s_dbs [i], "INSERT INTO items (id, note) VALUES ($1::int, 'ha')", 1,
                      params);
        done->told = dtx_commit (txn);
        snprintf (done->gid, sizeof done->gid, "%s", dtx_txn_gid (txn));
        dtx_txn_destroy (&txn);
        double took = (double) (zclock_mono () - started);
        if (took > work->worst_ms)
            work->worst_ms = took;
        if (s_failed_at && !s_first_commit_after && done->told == DTX_COMMITTED
        &&  started > s_failed_at)
            s_first_commit_after = zclock_mono ();
        if (*done->gid) {
            work->told [done->told]++;
            work->ndone++;
            s_ndone++;
        }
    }
    dtx_client_destroy (&client);
    if (supervise) {
        s_supervising = false;
        pthread_join (supervisor, NULL);
    }
    work->restarts = s_restarts;
}

//  The system answers through endpoints and both databases run a statement
static bool
s_wait_ready (const char *endpoints, int timeout_ms)
{
    dtx_client_t *client = dtx_client_new (endpoints, 2000);
    bool ready = client && dtx_client_wait_ready (client, s_dbs, 2, timeout_ms);
    dtx_client_destroy (&client);
    return ready;
}

//  Every transaction since from: nothing prepared, every answer exact,
//  matching the rows, and never contradicting what was told at the time.
//  Returns how many committed.
static int
s_verify (const char *endpoints, bool supervise, int from, const char *what)
{
    if (supervise && harness_pid_gone (harness_coordinator_pid ()))
        harness_start_coordinator ();
    ck_assert_msg (s_wait_ready (endpoints, 60000), "%s: the system did not come back", what);
    ck_assert_msg (harness_wait_no_prepared (60000), "%s: prepared transactions left", what);
    if (streq (s_dbs [1], "db3")) {
        int64_t started = zclock_mono ();
        while (s_ha_db_value ("SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'dtx:%'") != 0
        &&     zclock_mono () - started < 60000)
            usleep (200 * 1000);
        ck_assert_msg (s_ha_db_value ("SELECT count(*) FROM pg_prepared_xacts"
                                      " WHERE gid LIKE 'dtx:%'") == 0,
                       "%s: prepared transactions left on db3", what);
    }
    dtx_client_t *client = dtx_client_new (endpoints, 10000);
    int committed = 0;
    for (int i = from; i < s_ndone; i++) {
        done_t *done = &s_done [i];
        dtx_outcome_t outcome = dtx_client_outcome (client, done->gid);
        int rows = s_rows (done->id);
        ck_assert_msg (outcome == DTX_COMMITTED || outcome == DTX_ABORTED, "%s: %s: %d (%s)",
                       what, done->gid, outcome, dtx_client_error (client));
        ck_assert_msg (rows == (outcome == DTX_COMMITTED? 2: 0), "%s: %s answered %d, %d rows",
                       what, done->gid, outcome, rows);
        if (done->told == DTX_COMMITTED || done->told == DTX_ABORTED)
            ck_assert_msg (done->told == outcome, "%s: %s told %d at the time, now %d", what,
                           done->gid, done->told, outcome);
        committed += outcome == DTX_COMMITTED;
    }
    dtx_client_destroy (&client);
    return committed;
}

static int
s_log_count (const char *file, const char *text)
{
    char out [64];
    harness_capture (out, sizeof out, "grep -cF '%s' %s/%s", text, harness.dir, file);
    return atoi (out);
}

static int
s_participant_log_count3 (const char *text)
{
    return s_log_count ("participant-db3.log", text);
}

//  --------------------------------------------------------------------------
//  4. A decision write cancelled while it waits for the standby: every
//  standby's WAL receiver is stopped (SIGSTOP) for longer than the
//  store-timeout, so the coordinator's writes are cancelled client-side
//  ("committed locally, but might not have been replicated"): UNKNOWN,
//  written again; never abort.  The lease (12 s) rides through.

static int s_freeze_ms;

static void *
s_freeze_standbys (void *arg)
{
    usleep (1000 * 1000);
    char out [256], command [1024];
    snprintf (command, sizeof command,
              ". %s/env; for i in $(seq 1 $HA_NODES); do n=node$i; [ $n = \"$HA_LEADER\" ] && continue;"
              " pm=$(head -1 %s/$n/data/postmaster.pid); pgrep -P $pm -f walreceiver; done"
              " | tr '\\n' ' '", s_ha_dir, s_ha_dir);
    harness_capture (out, sizeof out, "%s", command);
    char *pids = strdup (out);
    harness_capture (out, sizeof out, "kill -STOP %s", pids);
    usleep ((useconds_t) s_freeze_ms * 1000);
    harness_capture (out, sizeof out, "kill -CONT %s", pids);
    fprintf (stderr, "test_ha: WAL receivers %s stopped for %d ms\n", pids, s_freeze_ms);
    free (pids);
    return NULL;
}

START_TEST (test_sync_wait_cancelled)
{
    if (!s_ha_dir || !harness_store)
        return;
    int from = s_ndone;
    int unknown_before = s_log_count ("coordinator.log", "(unknown); ");
    pid_t coordinator = harness_coordinator_pid ();
    s_freeze_ms = 3500;
    pthread_t freezer;
    pthread_create (&freezer, NULL, s_freeze_standbys, NULL);
    workload_t work;
    s_workload (harness.client_endpoint, 8000, true, &work);
    pthread_join (freezer, NULL);
    int committed = s_verify (harness.client_endpoint, true, from, "sync wait cancelled");
    int unknown = s_log_count ("coordinator.log", "(unknown); ") - unknown_before;
    printf ("ha: sync wait cancelled: %d transactions, %d committed, %d answered unknown at the"
            " time, %d unknown-write warnings, longest commit %.0f ms, coordinator restarts %d\n",
            work.ndone, committed, work.told [DTX_UNKNOWN], unknown, work.worst_ms, work.restarts);
    ck_assert_int_gt (unknown, 0);              //  the writes were cancelled ...
    ck_assert_int_eq (work.restarts, 0);        //  ... and the lease rode through
    ck_assert_int_eq (harness_coordinator_pid (), coordinator);
    ck_assert_int_gt (committed, 0);
}
END_TEST

//  --------------------------------------------------------------------------
//  3. The store's primary killed (SIGKILL, host loss) under the workload:
//  Patroni promotes the synchronous standby; decisions acknowledged
//  before are there; coordinators reconnect and go on, and decide
//  nothing while the store is unavailable.

static char s_killed [64];
static int64_t s_failover_ms;

static void *
s_kill_leader (void *arg)
{
    usleep (1500 * 1000);
    char out [4096];
    harness_capture (out, sizeof out, ". %s/env; echo $HA_LEADER", s_ha_dir);
    out [strcspn (out, "\n")] = 0;
    out [sizeof s_killed - 1] = 0;
    memcpy (s_killed, out, sizeof s_killed);
    int64_t started = zclock_mono ();
    harness_capture (out, sizeof out, "%s/scripts/hacluster.sh kill-leader %s", TOP_SRCDIR, s_ha_dir);
    s_failover_ms = zclock_mono () - started;
    return NULL;
}

START_TEST (test_store_primary_killed)
{
    if (!s_ha_dir || !harness_store)
        return;
    //  The workload's second database is on the Patroni cluster too (a
    //  database of its own, dtxp): its participant, given the cluster's
    //  multi-host conninfo (target_session_attrs=read-write), follows the
    //  promotion and resolves its prepared transactions on the new
    //  primary (synchronous replication kept them)
    char out [4096], env [512];
    harness_capture (env, sizeof env, ". %s/env; echo \"$HA_CONNINFO\"", s_ha_dir);
    env [strcspn (env, "\n")] = 0;
    snprintf (s_ha_db, sizeof s_ha_db, "%s dbname=dtxp", env);
    //  Made on the leader; then wait until every node has it: libpq does
    //  not try the next host of the list after a FATAL from one (a replica
    //  that has not replayed the CREATE DATABASE yet says "does not exist")
    ck_assert_msg (harness_capture (out, sizeof out, ". %s/env; psql -X -q -v ON_ERROR_STOP=1"
                                    " \"host=127.0.0.1 port=$HA_LEADER_PORT user=postgres dbname=dtx\""
                                    " -c 'CREATE DATABASE dtxp' && psql -X -q -v ON_ERROR_STOP=1"
                                    " \"host=127.0.0.1 port=$HA_LEADER_PORT user=postgres dbname=dtxp\""
                                    " -f %s/sql/test-schema.sql", s_ha_dir, TOP_SRCDIR) == 0,
                   "%s", out);
    ck_assert_msg (harness_capture (out, sizeof out, ". %s/env; for i in $(seq 1 $HA_NODES); do"
                                    " p=$(eval echo \\$HA_NODE${i}_PORT); ok=; for t in $(seq 1 100);"
                                    " do psql -X -q -At \"host=127.0.0.1 port=$p user=postgres"
                                    " dbname=dtxp\" -c 'SELECT count(*) FROM items' >/dev/null 2>&1"
                                    " && ok=1 && break; sleep 0.2; done; [ -n \"$ok\" ] || exit 1; done",
                                    s_ha_dir) == 0, "dtxp not on every node: %s", out);
    pid_t db3 = harness_spawn ("participant-db3.log", "%s/participant/dtx-participant --name db3"
                               " --conninfo '%s' --coordinator %s --pool-min 2 %s", TOP_BUILDDIR,
                               s_ha_db, harness.participant_endpoint, harness.participant_args [2]);
    if (s_nextra < 8)
        s_extra [s_nextra++] = db3;     //  (stopped at teardown if still running)
    s_dbs [1] = "db3";
    //  A lease longer than the failover (about 11 s here) rides through
    //  it: 3/4 of 20 s before the coordinator would step down
    harness_lease_ms = 20000;
    harness_kill_coordinator (SIGTERM);
    harness_start_coordinator ();
    ck_assert (s_wait_ready (harness.client_endpoint, 30000));
    int from = s_ndone;
    int stepped_before = s_log_count ("coordinator.log", "stepping down");
    pthread_t killer;
    pthread_create (&killer, NULL, s_kill_leader, NULL);
    workload_t work;
    s_workload (harness.client_endpoint, 20000, true, &work);
    pthread_join (killer, NULL);
    int committed = s_verify (harness.client_endpoint, true, from, "store primary killed");
    printf ("ha: store primary %s killed (the store and db3 on it): new primary after %" PRId64
            " ms; %d transactions on db1 + db3, %d committed, %d answered unknown at the time,"
            " longest commit %.0f ms, coordinator step-downs %d (restarted %d), db3's participant"
            " reconnected %d time(s)\n", s_killed, s_failover_ms, work.ndone, committed,
            work.told [DTX_UNKNOWN], work.worst_ms,
            s_log_count ("coordinator.log", "stepping down") - stepped_before, work.restarts,
            s_participant_log_count3 ("database reachable again"));
    ck_assert_int_gt (committed, 0);
    //  db3 done with; the cluster whole again for the next case
    s_dbs [1] = "db2";
    kill (db3, SIGTERM);
    s_nextra--;
    ck_assert_msg (harness_capture (out, sizeof out, "%s/scripts/hacluster.sh restart-node %s %s",
                                    TOP_SRCDIR, s_ha_dir, s_killed) == 0, "%s", out);
}
END_TEST

//  --------------------------------------------------------------------------
//  Coordinators with a standby: the shard's holder and a second process
//  of the same id on endpoints of its own; clients and participants
//  given both (libdtx and dtx-participant take a list)

static char s_clients [160], s_participants [160];

//  A coordinator of shard test: instance name, clients on port,
//  participants on port + 1, log in harness.dir/NAME.log
static pid_t
s_start_instance_env (const char *env, const char *instance, int port)
{
    pid_t pid = harness_start_instance (env, "test", instance, port);
    if (s_nextra < 8)
        s_extra [s_nextra++] = pid;
    return pid;
}

static pid_t
s_start_instance (const char *instance, int port)
{
    return s_start_instance_env ("", instance, port);
}

static void
s_stop_extra (void)
{
    for (int i = 0; i < s_nextra; i++)
        if (!harness_pid_gone (s_extra [i]))
            kill (s_extra [i], SIGKILL);
    s_nextra = 0;
}

static long long
s_store_epoch (void)
{
    PGconn *conn = PQconnectdb (harness_store);
    PGresult *result = PQexec (conn, "SELECT epoch FROM dtx_store.shard WHERE shard = 'test'");
    long long epoch = PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1
                    ? atoll (PQgetvalue (result, 0, 0)): -1;
    PQclear (result);
    PQfinish (conn);
    return epoch;
}

//  Until the store's epoch rises above epoch (or timeout): ms it took
static int64_t
s_wait_epoch_above (long long epoch, int timeout_ms)
{
    int64_t started = zclock_mono ();
    while (zclock_mono () - started < timeout_ms) {
        long long now = s_store_epoch ();
        if (now > epoch)
            return zclock_mono () - started;
        usleep (50 * 1000);
    }
    return -1;
}

static int s_participant_log_count (const char *text)
{
    return s_log_count ("participant-db1.log", text) + s_log_count ("participant-db2.log", text);
}

//  1. The holder SIGKILLed under the workload: its standby takes the
//  shard within the lease, drives what was decided, and the clients'
//  next transactions commit through it; no acknowledged commit is lost,
//  nothing stays prepared.

static pid_t s_victim;
static int s_victim_after_ms;

static void *
s_kill_victim (void *arg)
{
    usleep ((useconds_t) s_victim_after_ms * 1000);
    s_failed_at = zclock_mono ();
    kill (s_victim, SIGKILL);
    return NULL;
}

START_TEST (test_coordinator_killed)
{
    if (!s_ha_dir || !harness_store)
        return;
    //  A short lease: the takeover waits for it
    harness_lease_ms = 3000;
    harness_store_timeout_ms = 0;
    int base = harness.metrics_port - 9;
    snprintf (s_clients, sizeof s_clients, "%s,tcp://127.0.0.1:%d", harness.client_endpoint, base + 5);
    snprintf (s_participants, sizeof s_participants, "%s,tcp://127.0.0.1:%d",
              harness.participant_endpoint, base + 6);
    harness_participant_coordinators = s_participants;
    harness_kill_coordinator (SIGTERM);
    harness_start_coordinator ();
    for (int i = 0; i < 2; i++) {
        harness_kill_participant (i, SIGTERM);
        harness_start_participant (i);
    }
    ck_assert (s_wait_ready (harness.client_endpoint, 30000));
    pid_t standby = s_start_instance ("standby", base + 5);
    usleep (1000 * 1000);
    long long epoch = s_store_epoch ();
    int from = s_ndone;
    s_victim = harness_coordinator_pid ();
    s_victim_after_ms = 3000;
    pthread_t killer;
    pthread_create (&killer, NULL, s_kill_victim, NULL);
    workload_t work;
    s_workload (s_clients, 15000, false, &work);
    pthread_join (killer, NULL);
    int committed = s_verify (s_clients, false, from, "coordinator killed");
    long long now = s_store_epoch ();
    ck_assert_int_eq (now, epoch + 1);              //  taken once, by the standby
    ck_assert (!harness_pid_gone (standby));
    ck_assert_int_eq (s_log_count ("standby.log", "took shard test over from instance"), 1);
    ck_assert_msg (s_first_commit_after > 0, "no commit after the kill");
    printf ("ha: coordinator killed: the standby committed again %" PRId64 " ms after the kill"
            " (lease %d ms); %d transactions, %d committed, %d answered unknown at the time\n",
            s_first_commit_after - s_failed_at, harness_lease_ms, work.ndone, committed,
            work.told [DTX_UNKNOWN]);
    ck_assert_int_gt (committed, 0);
}
END_TEST

//  2 and 5. The holder paused (SIGSTOP) past its lease: another instance
//  takes the shard; resumed, the old holder's decision writes and lease
//  are refused and it steps down; what it sends the participants after
//  the takeover is refused (its epoch is closed) or, prepared, rolled
//  back by the new holder's presumed abort: no gid committed on one
//  database and rolled back on the other, nothing left prepared.

static pid_t s_paused;
static int64_t s_takeover_ms;

static void *
s_pause_holder (void *arg)
{
    long long epoch = s_store_epoch ();
    usleep (3000 * 1000);
    s_failed_at = zclock_mono ();
    kill (s_paused, SIGSTOP);
    s_takeover_ms = s_wait_epoch_above (epoch, 20000);
    usleep (1500 * 1000);
    kill (s_paused, SIGCONT);
    return NULL;
}

START_TEST (test_coordinator_paused)
{
    if (!s_ha_dir || !harness_store)
        return;
    ck_assert_msg (*s_clients, "runs after test_coordinator_killed (its standby holds the shard)");
    //  The holder now: the standby of the case before, on base + 5 (base
    //  + 2 and + 3 are the databases).  A new instance on the first
    //  endpoints (free since the kill) waits.
    int base = harness.metrics_port - 9;
    pid_t taker = s_start_instance ("taker", base);
    ck_assert_int_eq (s_nextra, 2);
    s_paused = s_extra [0];
    usleep (1000 * 1000);
    int refused_before = s_participant_log_count ("is closed");
    int from = s_ndone;
    pthread_t pauser;
    pthread_create (&pauser, NULL, s_pause_holder, NULL);
    workload_t work;
    s_workload (s_clients, 15000, false, &work);
    pthread_join (pauser, NULL);
    ck_assert_msg (s_takeover_ms >= 0, "nobody took the shard from the paused holder");
    //  Resumed, it learns it lost the shard and steps down
    for (int waited = 0; waited < 15000 && !harness_pid_gone (s_paused); waited += 100)
        usleep (100 * 1000);
    ck_assert_msg (harness_pid_gone (s_paused), "the old holder did not step down");
    ck_assert_int_eq (s_log_count ("standby.log", "stepping down (exit 4)"), 1);
    int committed = s_verify (s_clients, false, from, "coordinator paused");
    ck_assert (!harness_pid_gone (taker));
    printf ("ha: coordinator paused: shard taken %" PRId64 " ms after the pause (lease %d ms),"
            " first commit after it at %" PRId64 " ms; %d transactions, %d committed, %d answered"
            " unknown at the time; %d request(s) of the closed epoch refused by participants\n",
            s_takeover_ms, harness_lease_ms,
            s_first_commit_after? s_first_commit_after - s_failed_at: -1, work.ndone, committed,
            work.told [DTX_UNKNOWN], s_participant_log_count ("is closed") - refused_before);
    ck_assert_int_gt (committed, 0);
}
END_TEST

//  5. A PREPARE sent by an old holder after the takeover: the holder
//  stops itself (SIGSTOP, DTX_FAULT=coord-before-prepare-sent/stop) with
//  a two-database transaction's statements run and its PREPAREs not yet
//  sent; another instance takes the shard and the participants learn the
//  new epoch (they roll the transaction's live sessions back); resumed,
//  the old holder sends PREPARE: refused by both, nothing prepared, the
//  gid aborted everywhere and answered so; the old holder steps down.

static pid_t s_late;
static long long s_late_epoch;
static int64_t s_late_takeover_ms;
static int s_late_port;

static void *
s_take_from_late (void *arg)
{
    //  Wait for the stop, then for a taker to hold the shard and the
    //  participants to know it, then resume the old holder
    for (int waited = 0; waited < 20000 && s_log_count ("late.log", "stopping now (SIGSTOP)") == 0;
         waited += 50)
        usleep (50 * 1000);
    s_start_instance ("taker2", s_late_port);
    s_late_takeover_ms = s_wait_epoch_above (s_late_epoch, 20000);
    char learned [64];
    snprintf (learned, sizeof learned, "shard test is at epoch %lld ", s_late_epoch + 1);
    for (int waited = 0; waited < 10000 && s_participant_log_count (learned) < 2; waited += 50)
        usleep (50 * 1000);
    kill (s_late, SIGCONT);
    return NULL;
}

START_TEST (test_old_prepare_after_takeover)
{
    if (!s_ha_dir || !harness_store)
        return;
    ck_assert_msg (*s_clients, "runs after test_coordinator_paused");
    int base = harness.metrics_port - 9;
    //  The holder now: taker, on the first endpoints.  The next holder
    //  ("late", stopping itself before its first PREPARE) waits on the
    //  standby's endpoints, free since it stepped down
    pid_t taker = s_extra [1];
    s_late = s_start_instance_env ("DTX_FAULT=coord-before-prepare-sent/stop", "late", base + 5);
    usleep (1000 * 1000);
    long long epoch = s_store_epoch ();
    kill (taker, SIGKILL);
    ck_assert_msg (s_wait_epoch_above (epoch, 20000) >= 0, "late did not take the shard");
    s_late_epoch = s_store_epoch ();
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", base + 5);
    ck_assert (s_wait_ready (endpoint, 30000));
    //  (its wait-ready transactions prepare nothing: one-database, read only)
    ck_assert_int_eq (s_log_count ("late.log", "stopping now (SIGSTOP)"), 0);
    s_late_port = base;
    pthread_t taker2;
    pthread_create (&taker2, NULL, s_take_from_late, NULL);
    dtx_client_t *client = dtx_client_new (endpoint, 30000);
    dtx_txn_t *txn = dtx_begin (client, 60000);
    int id = s_next_id++;
    char value [16];
    snprintf (value, sizeof value, "%d", id);
    const char *params [] = { value };
    for (int i = 0; i < 2; i++) {
        dtx_result_t *result = dtx_exec (txn, harness.db_name [i],
                                         "INSERT INTO items (id, note) VALUES ($1::int, 'late')", 1,
                                         params);
        ck_assert_msg (dtx_result_ok (result), "%s", dtx_result_error (result));
        dtx_result_destroy (&result);
    }
    char gid [DTX_GID_MAX + 1];
    snprintf (gid, sizeof gid, "%s", dtx_txn_gid (txn));
    dtx_outcome_t told = dtx_commit (txn);
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&client);
    pthread_join (taker2, NULL);
    ck_assert_msg (s_late_takeover_ms >= 0, "nobody took the shard from the stopped holder");
    ck_assert_msg (told != DTX_COMMITTED, "the old holder's commit was answered committed");
    //  Refused by both participants, for the closed epoch
    char refused [DTX_GID_MAX + 32];
    snprintf (refused, sizeof refused, "%s: PREPARE refused: epoch", gid);
    int64_t started = zclock_mono ();
    while (s_participant_log_count (refused) < 2 && zclock_mono () - started < 10000)
        usleep (100 * 1000);
    ck_assert_msg (s_participant_log_count (refused) == 2, "PREPARE of %s not refused by both", gid);
    //  ... and it steps down; nothing prepared; aborted everywhere
    for (int waited = 0; waited < 15000 && !harness_pid_gone (s_late); waited += 100)
        usleep (100 * 1000);
    ck_assert_msg (harness_pid_gone (s_late), "the old holder did not step down");
    ck_assert (harness_wait_no_prepared (30000));
    ck_assert_int_eq (s_items (0, id) + s_items (1, id), 0);
    client = dtx_client_new (s_clients, 10000);
    ck_assert_int_eq (dtx_client_outcome (client, gid), DTX_ABORTED);
    dtx_client_destroy (&client);
    printf ("ha: old PREPARE after takeover: shard taken %" PRId64 " ms after the holder stopped;"
            " its commit told %d at the time; PREPARE refused by both participants; aborted\n",
            s_late_takeover_ms, told);
}
END_TEST

static Suite *
suite_ha (void)
{
    Suite *suite = suite_create ("ha");
    TCase *tc = tcase_create ("patroni");
    tcase_add_unchecked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 300);
    tcase_add_test (tc, test_sync_wait_cancelled);
    tcase_add_test (tc, test_store_primary_killed);
    tcase_add_test (tc, test_coordinator_killed);
    tcase_add_test (tc, test_coordinator_paused);
    tcase_add_test (tc, test_old_prepare_after_takeover);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    if (!getenv ("DTX_TEST_HA_DIR") || !getenv ("DTX_TEST_HA_STORE"))
        printf ("test_ha: DTX_TEST_HA_DIR and DTX_TEST_HA_STORE not set: skipped"
                " (scripts/test-ha.sh runs it on a Patroni cluster)\n");
    SRunner *runner = srunner_create (suite_ha ());
    //  One process: the cases share the workload's record and the cluster
    srunner_set_fork_status (runner, CK_NOFORK);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed? 1: 0;
}
