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

static const char *s_ha_dir;

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

static void
s_teardown (void)
{
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

//  Runs for ms, under the supervisor
static void
s_workload (int ms, workload_t *work)
{
    memset (work, 0, sizeof *work);
    s_restarts = 0;
    s_supervising = true;
    pthread_t supervisor;
    pthread_create (&supervisor, NULL, s_supervisor, NULL);
    //  (a request in flight when its coordinator stops is answered by
    //  nobody: the client gives up after 10 s and asks the outcome later)
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 10000);
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
            dtx_send (txn, harness.db_name [i],
                      "INSERT INTO items (id, note) VALUES ($1::int, 'ha')", 1, params);
        done->told = dtx_commit (txn);
        snprintf (done->gid, sizeof done->gid, "%s", dtx_txn_gid (txn));
        dtx_txn_destroy (&txn);
        double took = (double) (zclock_mono () - started);
        if (took > work->worst_ms)
            work->worst_ms = took;
        if (*done->gid) {
            work->told [done->told]++;
            work->ndone++;
            s_ndone++;
        }
    }
    dtx_client_destroy (&client);
    s_supervising = false;
    pthread_join (supervisor, NULL);
    work->restarts = s_restarts;
}

//  Every transaction since from: nothing prepared, every answer exact,
//  matching the rows, and never contradicting what was told at the time.
//  Returns how many committed.
static int
s_verify (int from, const char *what)
{
    if (harness_pid_gone (harness_coordinator_pid ()))
        harness_start_coordinator ();
    ck_assert_msg (harness_wait_ready (60000), "%s: the system did not come back", what);
    ck_assert_msg (harness_wait_no_prepared (60000), "%s: prepared transactions left", what);
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 10000);
    int committed = 0;
    for (int i = from; i < s_ndone; i++) {
        done_t *done = &s_done [i];
        dtx_outcome_t outcome = dtx_client_outcome (client, done->gid);
        int rows = s_items (0, done->id) + s_items (1, done->id);
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
    s_workload (8000, &work);
    pthread_join (freezer, NULL);
    int committed = s_verify (from, "sync wait cancelled");
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
    //  A lease longer than the failover (about 11 s here) rides through
    //  it: 3/4 of 20 s before the coordinator would step down
    harness_lease_ms = 20000;
    harness_kill_coordinator (SIGTERM);
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (30000));
    int from = s_ndone;
    int stepped_before = s_log_count ("coordinator.log", "stepping down");
    pthread_t killer;
    pthread_create (&killer, NULL, s_kill_leader, NULL);
    workload_t work;
    s_workload (25000, &work);
    pthread_join (killer, NULL);
    int committed = s_verify (from, "store primary killed");
    printf ("ha: store primary %s killed: new primary after %" PRId64 " ms; %d transactions, %d"
            " committed, %d answered unknown at the time, longest commit %.0f ms, coordinator"
            " step-downs %d (restarted %d)\n", s_killed, s_failover_ms, work.ndone, committed,
            work.told [DTX_UNKNOWN], work.worst_ms,
            s_log_count ("coordinator.log", "stepping down") - stepped_before, work.restarts);
    ck_assert_int_gt (committed, 0);
    //  The cluster whole again for the next case
    char out [4096];
    ck_assert_msg (harness_capture (out, sizeof out, "%s/scripts/hacluster.sh restart-node %s %s",
                                    TOP_SRCDIR, s_ha_dir, s_killed) == 0, "%s", out);
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
