/*  test_recovery - the crash matrix.  A transfer workload runs while a
    process dies at a named fault point (SIGKILL, by itself: DTX_FAULT), and
    at two points PostgreSQL is stopped with -m immediate too.  After the
    restart every case checks:
      - atomicity per gid: each transfer's rows are on both its databases
        or on neither;
      - the total balance over all databases is conserved;
      - every transaction the client saw committed is there, every one it
        saw aborted is not, and every unknown one has a definite outcome
        now that matches the data;
      - no dtx gid is left in pg_prepared_xacts within 30 s of the restart.
    A randomized variant kills a random process at a random moment; its
    seed is printed (DTX_CRASH_SEED reproduces it, DTX_CRASH_ROUNDS runs it
    longer). */
#include "testutil.h"
#include "dtx.h"
#include <czmq.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define WORKERS 4
#define PER_WORKER_MAX 400
#define RECORDS_MAX (WORKERS * PER_WORKER_MAX)

typedef struct {
    char gid [DTX_GID_MAX + 1];
    char tag [DTX_GID_MAX + 1];     //  the transfers rows' key: the gid, or our own
    int db [2];
    dtx_outcome_t outcome;
} record_t;

static record_t s_records [RECORDS_MAX];
static int s_nrecords;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile bool s_stop;
static unsigned s_seed_base;
static int s_per_worker = 40;       //  fault cases; the random rounds run until stopped

static void
s_setup (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    s_nrecords = 0;
    s_stop = false;
}

static void
s_suite_setup (void)
{
    //  Compact the decision log every couple of hundred commits, so that
    //  crashes hit compacted logs too
    harness_log_compact_bytes = 16384;
    harness_start (3);
}

static void
s_suite_teardown (void)
{
    harness_stop ();
}

static void *
s_worker (void *arg)
{
    unsigned seed = s_seed_base + (unsigned) (uintptr_t) arg * 977;
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 8000);
    for (int i = 0; i < s_per_worker && !s_stop; i++) {
        int a = rand_r (&seed) % 3, b = (a + 1 + rand_r (&seed) % 2) % 3;
        char from [16], to [16], amount [16];
        snprintf (from, sizeof from, "%d", 1 + rand_r (&seed) % 50);
        snprintf (to, sizeof to, "%d", 1 + rand_r (&seed) % 50);
        snprintf (amount, sizeof amount, "%d", 1 + rand_r (&seed) % 20);
        //  Three shapes: debit and credit with dtx_exec; credit with
        //  dtx_send; both with dtx_send and the gid never asked for
        //  before the commit (rows keyed by a tag of ours), so that a
        //  lost COMMIT answer must still leave a gid to ask about
        int shape = i % 3;
        char tag [DTX_GID_MAX + 1] = "";
        dtx_txn_t *txn = dtx_begin (client, 20000);
        if (shape == 2)
            snprintf (tag, sizeof tag, "tag-%d-%u-%d", getpid (), seed, i);
        else
        if (!*dtx_txn_gid (txn)) {
            dtx_txn_destroy (&txn);
            zclock_sleep (200);     //  coordinator down: nothing was started
            continue;
        }
        else
            snprintf (tag, sizeof tag, "%s", dtx_txn_gid (txn));
        const char *debit [] = { tag, from, amount };
        const char *credit [] = { tag, to, amount };
        const char *debit_sql = "WITH t AS (INSERT INTO transfers VALUES ($1, $2::int, -$3::bigint))"
                                " UPDATE accounts SET balance = balance - $3::bigint WHERE id = $2::int";
        const char *credit_sql = "WITH t AS (INSERT INTO transfers VALUES ($1, $2::int, $3::bigint))"
                                 " UPDATE accounts SET balance = balance + $3::bigint WHERE id = $2::int";
        dtx_result_t *r1 = NULL, *r2 = NULL;
        if (shape == 2)
            dtx_send (txn, harness.db_name [a], debit_sql, 3, debit);
        else
            r1 = dtx_exec (txn, harness.db_name [a], debit_sql, 3, debit);
        if (shape == 0)
            r2 = dtx_exec (txn, harness.db_name [b], credit_sql, 3, credit);
        else
            dtx_send (txn, harness.db_name [b], credit_sql, 3, credit);
        dtx_outcome_t outcome = dtx_commit (txn);
        pthread_mutex_lock (&s_lock);
        record_t *record = &s_records [s_nrecords++];
        snprintf (record->gid, sizeof record->gid, "%s", dtx_txn_gid (txn));
        snprintf (record->tag, sizeof record->tag, "%s", tag);
        record->db [0] = a;
        record->db [1] = b;
        record->outcome = outcome;
        pthread_mutex_unlock (&s_lock);
        dtx_result_destroy (&r1);
        dtx_result_destroy (&r2);
        dtx_txn_destroy (&txn);
    }
    dtx_client_destroy (&client);
    return NULL;
}

static int
s_rows (PGconn *conn, const char *gid)
{
    const char *params [] = { gid };
    PGresult *result = PQexecParams (conn, "SELECT count(*) FROM transfers WHERE gid = $1",
                                     1, NULL, params, NULL, NULL, 0);
    int n = PQresultStatus (result) == PGRES_TUPLES_OK? atoi (PQgetvalue (result, 0, 0)): -1;
    PQclear (result);
    return n;
}

//  After recovery: every invariant of the crash matrix
static void
s_check_invariants (long long total_before, const char *label)
{
    ck_assert_msg (harness_wait_ready (30000), "%s: system not ready after restart", label);
    ck_assert_msg (harness_wait_no_prepared (30000),
                   "%s: %d dtx prepared transactions left 30 s after restart",
                   label, harness_prepared_dtx ());
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 8000);
    PGconn *conn [3];
    for (int db = 0; db < 3; db++)
        conn [db] = harness_pg (db);
    int committed = 0, aborted = 0, unknown = 0;
    for (int i = 0; i < s_nrecords; i++) {
        record_t *record = &s_records [i];
        int on_a = s_rows (conn [record->db [0]], record->tag);
        int on_b = s_rows (conn [record->db [1]], record->tag);
        ck_assert_msg (on_a == on_b && (on_a == 0 || on_a == 1),
                       "%s: %s not atomic: %d row(s) on db%d, %d on db%d", label, record->tag,
                       on_a, record->db [0] + 1, on_b, record->db [1] + 1);
        dtx_outcome_t outcome = record->outcome;
        if (outcome == DTX_UNKNOWN) {
            unknown++;
            //  An unknown outcome is only useful with a gid to ask about
            ck_assert_msg (*record->gid, "%s: transaction %s ended unknown without a gid", label,
                           record->tag);
            //  Still running at the coordinator (e.g. until its timeout
            //  aborts it): the answer must come within a bounded time
            int64_t deadline = zclock_mono () + 30000;
            while ((outcome = dtx_client_outcome (client, record->gid)) == DTX_IN_PROGRESS
            &&     zclock_mono () < deadline)
                zclock_sleep (200);
            if (outcome == DTX_COMMITTED || outcome == DTX_ABORTED) {
                //  Its rows may have changed meanwhile: read them again
                on_a = s_rows (conn [record->db [0]], record->tag);
                on_b = s_rows (conn [record->db [1]], record->tag);
                ck_assert_msg (on_a == on_b, "%s: %s not atomic after resolution", label, record->tag);
            }
            ck_assert_msg (outcome == DTX_COMMITTED || outcome == DTX_ABORTED,
                           "%s: %s still has no definite outcome after recovery (%s: %s)", label,
                           record->gid, dtx_outcome_name (outcome), dtx_client_error (client));
        }
        if (outcome == DTX_COMMITTED) {
            committed++;
            ck_assert_msg (on_a == 1, "%s: %s was reported committed but is missing", label, record->tag);
        }
        else {
            aborted++;
            ck_assert_msg (on_a == 0, "%s: %s was reported aborted but is present", label, record->tag);
        }
    }
    for (int db = 0; db < 3; db++)
        PQfinish (conn [db]);
    dtx_client_destroy (&client);
    ck_assert_int_eq (harness_total_balance (), total_before);
    printf ("%s: %d transactions, %d committed, %d aborted, %d unknown to the client until asked\n",
            label, s_nrecords, committed, aborted, unknown);
    fflush (stdout);
}

//  Run the workload until the target dies (or the workload ends)
static bool
s_run_until_dead (pid_t target, int timeout_ms)
{
    pthread_t threads [WORKERS];
    for (int i = 0; i < WORKERS; i++)
        pthread_create (&threads [i], NULL, s_worker, (void *) (uintptr_t) i);
    bool died = false;
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        if (harness_pid_gone (target)) {
            died = true;
            break;
        }
        zclock_sleep (20);
    }
    s_stop = true;
    for (int i = 0; i < WORKERS; i++)
        pthread_join (threads [i], NULL);
    return died;
}

//  --------------------------------------------------------------------------
//  The named fault points

typedef struct {
    const char *point;
    bool coordinator;           //  else participant db2
    int pg_kill;                //  also stop this PostgreSQL immediately (-1 none)
} fault_case_t;

static const fault_case_t s_faults [] = {
    { "coord-after-prepare-sent:3",             true,  -1 },
    { "coord-before-commit-durable:3",          true,  -1 },
    { "coord-after-commit-durable:3",           true,   0 },
    { "coord-after-some-commit-prepared:3",     true,  -1 },
    { "coord-before-end:3",                     true,  -1 },
    { "part-before-prepare:3",                  false, -1 },
    { "part-after-prepare-before-vote:3",       false, -1 },
    { "part-after-vote:3",                      false,  1 },
    { "part-after-commit-prepared-before-ack:3", false, -1 },
};
#define FAULT_CASES (int) (sizeof s_faults / sizeof s_faults [0])

START_TEST (test_fault_point)
{
    const fault_case_t *fault = &s_faults [_i];
    s_seed_base = 1000 + _i;
    long long total_before = harness_total_balance ();
    //  Restart the target armed with its fault point
    if (fault->coordinator) {
        harness_kill_coordinator (SIGTERM);
        harness_start_coordinator_fault (fault->point);
    }
    else {
        harness_kill_participant (1, SIGTERM);
        harness_start_participant_fault (1, fault->point);
    }
    ck_assert (harness_wait_ready (20000));
    pid_t target = fault->coordinator? harness_coordinator_pid (): harness_participant_pid (1);
    bool died = s_run_until_dead (target, 60000);
    ck_assert_msg (died, "%s: the fault point was never reached", fault->point);
    if (fault->pg_kill >= 0) {
        harness_pg_stop_immediate (fault->pg_kill);
        harness_pg_start (fault->pg_kill);
    }
    if (fault->coordinator)
        harness_start_coordinator ();
    else
        harness_start_participant (1);
    s_check_invariants (total_before, fault->point);
}
END_TEST

//  --------------------------------------------------------------------------
//  Random process, random moment

START_TEST (test_random_crashes)
{
    const char *env_seed = getenv ("DTX_CRASH_SEED");
    const char *env_rounds = getenv ("DTX_CRASH_ROUNDS");
    unsigned seed = env_seed? (unsigned) strtoul (env_seed, NULL, 10): (unsigned) time (NULL);
    int rounds = env_rounds? atoi (env_rounds): 3;
    printf ("random crashes: seed %u, %d rounds (DTX_CRASH_SEED=%u reproduces)\n", seed, rounds, seed);
    fflush (stdout);
    s_per_worker = PER_WORKER_MAX;
    for (int round = 0; round < rounds; round++) {
        s_nrecords = 0;
        s_stop = false;
        s_seed_base = seed + round * 7;
        long long total_before = harness_total_balance ();
        //  0 coordinator, 1..3 participant, 4..6 PostgreSQL
        int victim = rand_r (&seed) % 7;
        int delay = 200 + rand_r (&seed) % 1500;
        pthread_t threads [WORKERS];
        for (int i = 0; i < WORKERS; i++)
            pthread_create (&threads [i], NULL, s_worker, (void *) (uintptr_t) i);
        zclock_sleep (delay);
        char label [64];
        if (victim == 0) {
            snprintf (label, sizeof label, "round %d: coordinator killed at %d ms", round, delay);
            harness_kill_coordinator (SIGKILL);
            zclock_sleep (300);
            harness_start_coordinator ();
        }
        else
        if (victim <= 3) {
            snprintf (label, sizeof label, "round %d: participant db%d killed at %d ms", round, victim, delay);
            harness_kill_participant (victim - 1, SIGKILL);
            zclock_sleep (300);
            harness_start_participant (victim - 1);
        }
        else {
            snprintf (label, sizeof label, "round %d: PostgreSQL db%d stopped at %d ms", round, victim - 3, delay);
            harness_pg_stop_immediate (victim - 4);
            zclock_sleep (300);
            harness_pg_start (victim - 4);
        }
        zclock_sleep (1500);
        s_stop = true;
        for (int i = 0; i < WORKERS; i++)
            pthread_join (threads [i], NULL);
        s_check_invariants (total_before, label);
    }
}
END_TEST

//  --------------------------------------------------------------------------
//  SIGTERM drains: no new transactions, those in flight finish, exit 0

START_TEST (test_sigterm_drain)
{
    //  Our own coordinator process, so that we can read its exit status
    harness_kill_coordinator (SIGTERM);
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (20000));
    pid_t coordinator = harness_coordinator_pid ();
    long long total_before = harness_total_balance ();
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 8000);
    dtx_txn_t *txn = dtx_begin (client, 30000);
    ck_assert_ptr_nonnull (txn);
    const char *debit [] = { dtx_txn_gid (txn), "7", "5" };
    dtx_result_t *result = dtx_exec (txn, "db1",
        "WITH t AS (INSERT INTO transfers VALUES ($1, $2::int, -$3::bigint))"
        " UPDATE accounts SET balance = balance - $3::bigint WHERE id = $2::int", 3, debit);
    ck_assert (dtx_result_ok (result));
    dtx_result_destroy (&result);
    kill (coordinator, SIGTERM);
    zclock_sleep (300);
    //  Draining: a new transaction is refused with a clear reason
    //  (BEGIN travels with the first request: that is where it shows)
    dtx_client_t *late = dtx_client_new (harness.client_endpoint, 3000);
    dtx_txn_t *refused = dtx_begin (late, 1000);
    ck_assert_ptr_nonnull (refused);
    dtx_result_t *nothing = dtx_exec (refused, "db1", "SELECT 1", 0, NULL);
    ck_assert (!dtx_result_ok (nothing));
    ck_assert_msg (strstr (dtx_result_error (nothing), "shutting down"), "%s", dtx_result_error (nothing));
    dtx_result_destroy (&nothing);
    ck_assert_int_eq (dtx_commit (refused), DTX_ABORTED);
    ck_assert (strstr (dtx_txn_error_message (refused), "shutting down"));
    dtx_txn_destroy (&refused);
    dtx_client_destroy (&late);
    //  ... while the one in flight goes on and commits
    const char *credit [] = { dtx_txn_gid (txn), "7", "5" };
    result = dtx_exec (txn, "db2",
        "WITH t AS (INSERT INTO transfers VALUES ($1, $2::int, $3::bigint))"
        " UPDATE accounts SET balance = balance + $3::bigint WHERE id = $2::int", 3, credit);
    ck_assert (dtx_result_ok (result));
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    char gid [DTX_GID_MAX + 1];
    snprintf (gid, sizeof gid, "%s", dtx_txn_gid (txn));
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&client);
    //  Nothing live: it exits, with status 0
    int status = -1;
    for (int i = 0; i < 100 && waitpid (coordinator, &status, WNOHANG) == 0; i++)
        zclock_sleep (50);
    ck_assert_msg (WIFEXITED (status) && WEXITSTATUS (status) == 0, "exit status %d", status);
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (20000));
    ck_assert_int_eq (harness_total_balance (), total_before);
    PGconn *conn [2] = { harness_pg (0), harness_pg (1) };
    ck_assert_int_eq (s_rows (conn [0], gid), 1);
    ck_assert_int_eq (s_rows (conn [1], gid), 1);
    PQfinish (conn [0]);
    PQfinish (conn [1]);
}
END_TEST

//  Begin a transaction that inserts a transfers row for its gid on db1
//  and db2 (account `account`, amount 0); gid copied out
static dtx_txn_t *
s_begin_two_rows (dtx_client_t *client, const char *account, char *gid)
{
    dtx_txn_t *txn = dtx_begin (client, 30000);
    ck_assert_ptr_nonnull (txn);
    snprintf (gid, DTX_GID_MAX + 1, "%s", dtx_txn_gid (txn));
    const char *params [] = { gid, account, "0" };
    for (int db = 0; db < 2; db++) {
        dtx_result_t *result = dtx_exec (txn, harness.db_name [db],
            "INSERT INTO transfers VALUES ($1, $2::int, $3::bigint)", 3, params);
        ck_assert (dtx_result_ok (result));
        dtx_result_destroy (&result);
    }
    return txn;
}

//  --------------------------------------------------------------------------
//  Coordinator unreachable: prepared transactions wait, never guessed

START_TEST (test_coordinator_unreachable_waits)
{
    //  The coordinator dies with a durable COMMIT, before any COMMIT PREPARED
    harness_kill_coordinator (SIGTERM);
    harness_start_coordinator_fault ("coord-after-commit-durable");
    ck_assert (harness_wait_ready (20000));
    pid_t coordinator = harness_coordinator_pid ();
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 3000);
    char gid [DTX_GID_MAX + 1];
    dtx_txn_t *txn = s_begin_two_rows (client, "13", gid);
    ck_assert_int_eq (dtx_commit (txn), DTX_UNKNOWN);     //  it died before answering
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&client);
    for (int i = 0; i < 100 && !harness_pid_gone (coordinator); i++)
        zclock_sleep (50);
    ck_assert (harness_pid_gone (coordinator));
    //  Participants restart while the coordinator is down: they find the
    //  prepared transactions, ask, get no answer, and wait
    harness_kill_participant (0, SIGKILL);
    harness_kill_participant (1, SIGKILL);
    harness_start_participant (0);
    harness_start_participant (1);
    zclock_sleep (6000);
    ck_assert_int_eq (harness_prepared_dtx (), 2);
    PGconn *conn [2] = { harness_pg (0), harness_pg (1) };
    ck_assert_int_eq (s_rows (conn [0], gid), 0);
    ck_assert_int_eq (s_rows (conn [1], gid), 0);
    //  The coordinator returns with its log: committed everywhere
    harness_start_coordinator ();
    ck_assert (harness_wait_no_prepared (30000));
    ck_assert_int_eq (s_rows (conn [0], gid), 1);
    ck_assert_int_eq (s_rows (conn [1], gid), 1);
    PQfinish (conn [0]);
    PQfinish (conn [1]);
    client = dtx_client_new (harness.client_endpoint, 5000);
    ck_assert_int_eq (dtx_client_outcome (client, gid), DTX_COMMITTED);
    dtx_client_destroy (&client);
}
END_TEST

//  --------------------------------------------------------------------------
//  dtxctl against the live system

//  Run dtxctl, capture its output; returns the exit status
static int
s_dtxctl (char *output, size_t size, const char *format, ...)
{
    char args [1024];
    va_list ap;
    va_start (ap, format);
    vsnprintf (args, sizeof args, format, ap);
    va_end (ap);
    return harness_capture (output, size, "%s/dtxctl/dtxctl --log-dir %s --coordinator %s %s",
                            TOP_BUILDDIR, harness.log_dir, harness.client_endpoint, args);
}

START_TEST (test_dtxctl)
{
    char out [16384];
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "status"), 0);
    ck_assert_msg (strstr (out, "coordinator      test") && strstr (out, "3 connected of 3"), "%s", out);
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "--json participants"), 0);
    ck_assert_msg (strstr (out, "\"name\":\"db2\",\"connected\":true"), "%s", out);
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "frobnicate"), 1);
    ck_assert (strstr (out, "unknown command"));
    ck_assert_int_eq (s_dtxctl (out, sizeof out, ""), 2);

    //  A real in-doubt transaction: db2 votes YES and dies
    harness_kill_participant (1, SIGTERM);
    harness_start_participant_fault (1, "part-after-vote");
    ck_assert (harness_wait_ready (20000));
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 15000);
    char gid [DTX_GID_MAX + 1];
    dtx_txn_t *txn = s_begin_two_rows (client, "9", gid);
    //  The decision is durable: the client hears committed (after the
    //  reply timeout, as db2 never acknowledges)
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&client);
    ck_assert_int_eq (harness_pg_value (1, "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'dtx:%'"), 1);
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "in-doubt"), 0);
    ck_assert_msg (strstr (out, gid) && strstr (out, "db2:finishing"), "%s", out);
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "--json in-doubt"), 0);
    ck_assert_msg (strstr (out, gid) && strstr (out, "\"state\":\"committing\""), "%s", out);
    //  ... and the database's own view: the prepared transaction and its locks
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "in-doubt --db 'db2=host=127.0.0.1 port=%d"
                                " user=postgres dbname=postgres'", harness.pg_port [1]), 0);
    ck_assert_msg (strstr (out, "PREPARED GID") && strstr (out, "RowExclusiveLock on transfers"),
                   "%s", out);
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "show %s", gid), 0);
    ck_assert (strstr (out, "committing"));
    //  An operator abort contradicts the durable commit: refused
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "resolve %s abort", gid), 1);
    ck_assert_msg (strstr (out, "refused") && strstr (out, "COMMIT"), "%s", out);
    //  Commit agrees: recorded, phase 2 retried
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "resolve %s commit", gid), 0);
    ck_assert_msg (strstr (out, "recorded"), "%s", out);
    //  Presumed abort: a gid with no commit record cannot be committed
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "resolve dtx:test:1:999999 commit"), 1);
    ck_assert (strstr (out, "presumed abort"));
    harness_start_participant (1);
    ck_assert (harness_wait_no_prepared (30000));
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "--json in-doubt"), 0);
    ck_assert_msg (strcmp (out, "[]\n") == 0, "%s", out);

    //  run: a script switching databases, one global transaction
    char script [320];
    snprintf (script, sizeof script, "%s/script.sql", harness.dir);
    FILE *file = fopen (script, "w");
    fprintf (file, "-- move 3 from db1 to db3\n\\c db1\nUPDATE accounts SET balance = balance - 3\n"
                   "  WHERE id = 11;\n\\c db3\nUPDATE accounts SET balance = balance + 3 WHERE id = 11;\n");
    fclose (file);
    long long before1 = harness_pg_value (0, "SELECT balance FROM accounts WHERE id = 11");
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "run %s", script), 0);
    ck_assert_msg (strstr (out, "committed (2 statements)"), "%s", out);
    ck_assert_int_eq (harness_pg_value (0, "SELECT balance FROM accounts WHERE id = 11"), before1 - 3);
    //  A failing script changes nothing
    file = fopen (script, "w");
    fprintf (file, "\\c db1\nUPDATE accounts SET balance = balance - 3 WHERE id = 11;\n"
                   "\\c db3\nUPDATE no_such_table SET x = 1;\n");
    fclose (file);
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "run %s", script), 1);
    ck_assert_msg (strstr (out, "42P01") && strstr (out, "aborted"), "%s", out);
    ck_assert_int_eq (harness_pg_value (0, "SELECT balance FROM accounts WHERE id = 11"), before1 - 3);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("recovery");
    TCase *tc = tcase_create ("crash-matrix");
    tcase_add_unchecked_fixture (tc, s_suite_setup, s_suite_teardown);
    tcase_add_checked_fixture (tc, s_setup, NULL);
    tcase_set_timeout (tc, 300);
    //  DTX_FAULT_CASE=N runs only that fault case, =random only the random rounds
    const char *only = getenv ("DTX_FAULT_CASE");
    if (only && streq (only, "random"))
        tcase_add_test (tc, test_random_crashes);
    else
    if (only && streq (only, "drain"))
        tcase_add_test (tc, test_sigterm_drain);
    else
    if (only && streq (only, "dtxctl"))
        tcase_add_test (tc, test_dtxctl);
    else
    if (only && streq (only, "unreachable"))
        tcase_add_test (tc, test_coordinator_unreachable_waits);
    else
    if (only)
        tcase_add_loop_test (tc, test_fault_point, atoi (only), atoi (only) + 1);
    else {
        tcase_add_loop_test (tc, test_fault_point, 0, FAULT_CASES);
        tcase_add_test (tc, test_random_crashes);
        tcase_add_test (tc, test_sigterm_drain);
        tcase_add_test (tc, test_dtxctl);
        tcase_add_test (tc, test_coordinator_unreachable_waits);
    }
    suite_add_tcase (suite, tc);
    SRunner *runner = srunner_create (suite);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed? 1: 0;
}
