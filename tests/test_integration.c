/*  test_integration - dtx end to end: libdtx -> dtx-coordinator ->
    dtx-participant -> real PostgreSQL clusters started by the harness.
    Every case ends by asserting that pg_prepared_xacts holds no dtx gid. */
#ifdef HAVE_CONFIG_H
#   include "config.h"
#endif
#include "testutil.h"
#include "dtx.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include "dtx_log.h"
#include <czmq.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static dtx_client_t *client;

//  Checked fixture: runs in the forked child of each case
static void
s_case_setup (void)
{
    client = harness_case_client (20000);
}

static void
s_case_teardown (void)
{
    harness_case_client_end (&client);
}

static void
s_suite_setup (void)
{
    harness_start (3);
}

//  Run one statement, assert it succeeded
static void
s_exec_ok (dtx_txn_t *txn, const char *db, const char *sql, int nparams, const char *const *params)
{
    dtx_result_t *result = dtx_exec (txn, db, sql, nparams, params);
    ck_assert_msg (dtx_result_ok (result), "%s on %s failed: %s %s", sql, db,
                   dtx_result_sqlstate (result), dtx_result_error (result));
    dtx_result_destroy (&result);
}

//  COMMIT records for gid in the decision log, read without touching it
typedef struct {
    const char *gid;
    int commits;
} log_count_t;

static void
s_log_count (void *arg, const dtx_log_record_t *record)
{
    log_count_t *count = (log_count_t *) arg;
    if (record->type == DTX_LOG_COMMIT && streq (record->gid, count->gid))
        count->commits++;
}

static int
s_log_commits (const char *gid)
{
    char path [512], err [512];
    snprintf (path, sizeof path, "%s/%s", harness.log_dir, DTX_LOG_FILENAME);
    log_count_t count = { gid, 0 };
    ck_assert_msg (dtx_log_read (path, s_log_count, &count, err, sizeof err) >= 0, "%s", err);
    return count.commits;
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

static bool
s_none_idle_in_transaction (void *arg)
{
    return harness_pg_value (1, "SELECT count(*) FROM pg_stat_activity"
                                " WHERE state LIKE 'idle in transaction%'") == 0;
}

static long long
s_count_items (int index, int id)
{
    char sql [128];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM items WHERE id = %d", id);
    return harness_pg_value (index, sql);
}

static void
s_insert_item (dtx_txn_t *txn, int db_index, int id)
{
    char value [16];
    snprintf (value, sizeof value, "%d", id);
    const char *params [] = { value, dtx_txn_gid (txn) };
    s_exec_ok (txn, harness.db_name [db_index], "INSERT INTO items (id, note) VALUES ($1::int, $2)",
               2, params);
}

//  --------------------------------------------------------------------------

START_TEST (test_commit_two_databases)
{
    dtx_txn_t *txn = dtx_begin (client, 10000);
    ck_assert_ptr_nonnull (txn);
    ck_assert (strncmp (dtx_txn_gid (txn), "dtx:test:", 9) == 0);
    s_insert_item (txn, 0, 1001);
    s_insert_item (txn, 1, 1001);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    //  Read-your-writes: visible on both as soon as commit returns
    ck_assert_int_eq (s_count_items (0, 1001), 1);
    ck_assert_int_eq (s_count_items (1, 1001), 1);
    ck_assert_int_eq (s_count_items (2, 1001), 0);
    //  A 2PC commit is durable in the decision log before it is acknowledged
    ck_assert_int_eq (s_log_commits (dtx_txn_gid (txn)), 1);
    ck_assert_int_eq (dtx_client_outcome (client, dtx_txn_gid (txn)), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
}
END_TEST

START_TEST (test_commit_three_databases_with_rows)
{
    dtx_txn_t *txn = dtx_begin (client, 10000);
    for (int i = 0; i < 3; i++)
        s_insert_item (txn, i, 1002);
    //  Rows come back with names, values and NULLs
    dtx_result_t *result = dtx_exec (txn, "db3",
        "SELECT id, note, NULL::text AS nothing FROM items WHERE id = $1", 1,
        (const char *[]) { "1002" });
    ck_assert (dtx_result_ok (result));
    ck_assert_int_eq (dtx_result_ntuples (result), 1);
    ck_assert_int_eq (dtx_result_nfields (result), 3);
    ck_assert_str_eq (dtx_result_fname (result, 1), "note");
    ck_assert_str_eq (dtx_result_value (result, 0, 0), "1002");
    ck_assert_str_eq (dtx_result_value (result, 0, 1), dtx_txn_gid (txn));
    ck_assert (dtx_result_isnull (result, 0, 2));
    ck_assert_ptr_null (dtx_result_value (result, 1, 0));
    dtx_result_destroy (&result);
    result = dtx_exec (txn, "db2", "UPDATE accounts SET balance = balance WHERE id <= 5", 0, NULL);
    ck_assert_int_eq (dtx_result_affected (result), 5);
    ck_assert_str_eq (dtx_result_command (result), "UPDATE 5");
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq (s_count_items (i, 1002), 1);
    dtx_txn_destroy (&txn);
}
END_TEST

START_TEST (test_statement_error_changes_nothing)
{
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 1003);
    dtx_result_t *result = dtx_exec (txn, "db2", "INSERT INTO no_such_table VALUES (1)", 0, NULL);
    ck_assert (!dtx_result_ok (result));
    ck_assert_int_eq (dtx_result_errcode (result), DTX_ERR_SQL);
    ck_assert_str_eq (dtx_result_sqlstate (result), "42P01");
    ck_assert (strstr (dtx_result_error (result), "no_such_table"));
    dtx_result_destroy (&result);
    //  Statement after the error: refused, names the cause
    result = dtx_exec (txn, "db3", "SELECT 1", 0, NULL);
    ck_assert_int_eq (dtx_result_errcode (result), DTX_ERR_ABORT_ONLY);
    ck_assert_str_eq (dtx_result_sqlstate (result), "42P01");
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_str_eq (dtx_txn_error_sqlstate (txn), "42P01");
    ck_assert_str_eq (dtx_txn_error_database (txn), "db2");
    ck_assert_int_eq (s_count_items (0, 1003), 0);
    ck_assert_int_eq (dtx_client_outcome (client, dtx_txn_gid (txn)), DTX_ABORTED);
    dtx_txn_destroy (&txn);
}
END_TEST

START_TEST (test_no_vote_aborts_everywhere)
{
    //  The deferred unique constraint passes the INSERT and fails at
    //  PREPARE TRANSACTION on db2 only: db2 votes NO
    ck_assert_int_eq (harness_pg_exec (1, "INSERT INTO items (id, note) VALUES (1004, 'already')"), 0);
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 1004);
    s_insert_item (txn, 1, 1004);
    s_insert_item (txn, 2, 1004);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_str_eq (dtx_txn_error_sqlstate (txn), "23505");
    ck_assert_str_eq (dtx_txn_error_database (txn), "db2");
    ck_assert_int_eq (s_count_items (0, 1004), 0);
    ck_assert_int_eq (s_count_items (1, 1004), 1);   //  only the row from before
    ck_assert_int_eq (s_count_items (2, 1004), 0);
    dtx_txn_destroy (&txn);
}
END_TEST

START_TEST (test_client_rollback)
{
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 1005);
    s_insert_item (txn, 1, 1005);
    ck_assert_int_eq (dtx_rollback (txn), DTX_ABORTED);
    ck_assert_int_eq (s_count_items (0, 1005), 0);
    ck_assert_int_eq (s_count_items (1, 1005), 0);
    //  Commit after rollback: a clear refusal, not a commit
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_int_eq (dtx_txn_errcode (txn), DTX_ERR_STATE);
    ck_assert (strstr (dtx_txn_error_message (txn), "already ended"));
    dtx_txn_destroy (&txn);
}
END_TEST

static bool
s_outcome_aborted (void *gid)
{
    return dtx_client_outcome (client, (const char *) gid) == DTX_ABORTED;
}

START_TEST (test_transaction_timeout)
{
    dtx_txn_t *txn = dtx_begin (client, 400);
    s_insert_item (txn, 0, 1006);
    s_insert_item (txn, 1, 1006);
    char gid [DTX_GID_MAX + 1];
    snprintf (gid, sizeof gid, "%s", dtx_txn_gid (txn));
    ck_assert (s_wait_for (s_outcome_aborted, gid, 5000));
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
    ck_assert (!dtx_result_ok (result));
    ck_assert_msg (strstr (dtx_result_error (result), "timeout"), "%s", dtx_result_error (result));
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_int_eq (s_count_items (0, 1006), 0);
    ck_assert_int_eq (s_count_items (1, 1006), 0);
    dtx_txn_destroy (&txn);
}
END_TEST

START_TEST (test_unknown_database)
{
    dtx_txn_t *txn = dtx_begin (client, 10000);
    dtx_result_t *result = dtx_exec (txn, "nosuchdb", "SELECT 1", 0, NULL);
    ck_assert_int_eq (dtx_result_errcode (result), DTX_ERR_UNKNOWN_DB);
    //  It names the databases there are, and no word twice
    const char *error = dtx_result_error (result);
    ck_assert_msg (strstr (error, "nosuchdb") && strstr (error, "db1") && strstr (error, "db2")
                   && !strstr (error, "unknown database: unknown database"), "%s", error);
    dtx_result_destroy (&result);
    dtx_txn_destroy (&txn);
    //  Like any failed statement it dooms the transaction: what ran
    //  elsewhere must not commit alone
    txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 1007);
    result = dtx_exec (txn, "bad name!", "SELECT 1", 0, NULL);
    ck_assert_int_eq (dtx_result_errcode (result), DTX_ERR_UNKNOWN_DB);
    dtx_result_destroy (&result);
    result = dtx_exec (txn, "db2", "SELECT 1", 0, NULL);
    ck_assert_int_eq (dtx_result_errcode (result), DTX_ERR_ABORT_ONLY);
    ck_assert (strstr (dtx_result_error (result), "bad name!"));
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_int_eq (dtx_txn_errcode (txn), DTX_ERR_UNKNOWN_DB);
    ck_assert_int_eq (s_count_items (0, 1007), 0);
    dtx_txn_destroy (&txn);
}
END_TEST

START_TEST (test_one_database_one_phase)
{
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert_item (txn, 2, 1008);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    ck_assert_int_eq (s_count_items (2, 1008), 1);
    ck_assert_int_eq (harness_prepared_dtx (), 0);
    //  No PREPARE and no decision-log record
    ck_assert_int_eq (s_log_commits (dtx_txn_gid (txn)), 0);
    dtx_txn_destroy (&txn);
    //  One-phase COMMIT failing at commit time (deferred constraint) aborts
    ck_assert_int_eq (harness_pg_exec (2, "INSERT INTO items (id, note) VALUES (1009, 'x')"), 0);
    txn = dtx_begin (client, 10000);
    s_insert_item (txn, 2, 1009);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_str_eq (dtx_txn_error_sqlstate (txn), "23505");
    ck_assert_int_eq (s_count_items (2, 1009), 1);
    dtx_txn_destroy (&txn);
}
END_TEST

START_TEST (test_read_only_branch)
{
    //  Reads on two databases, no writes: no PREPARE anywhere, no record
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_exec_ok (txn, "db1", "SELECT count(*) FROM accounts", 0, NULL);
    s_exec_ok (txn, "db2", "SELECT count(*) FROM accounts", 0, NULL);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    ck_assert_int_eq (s_log_commits (dtx_txn_gid (txn)), 0);
    dtx_txn_destroy (&txn);
    //  Read on one, write on two: commits
    txn = dtx_begin (client, 10000);
    s_exec_ok (txn, "db1", "SELECT count(*) FROM accounts", 0, NULL);
    s_insert_item (txn, 1, 1010);
    s_insert_item (txn, 2, 1010);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    ck_assert_int_eq (s_count_items (1, 1010), 1);
    ck_assert_int_eq (s_count_items (2, 1010), 1);
    dtx_txn_destroy (&txn);
}
END_TEST

START_TEST (test_bad_input_keeps_serving)
{
    //  gid too long, and with bad characters
    char gid [400];
    memset (gid, 'a', 300);
    gid [300] = 0;
    ck_assert_int_eq (dtx_client_outcome (client, gid), DTX_UNKNOWN);
    ck_assert (strstr (dtx_client_error (client), "too long"));
    ck_assert_int_eq (dtx_client_outcome (client, "dtx:test:1:1'; DROP"), DTX_UNKNOWN);
    ck_assert (strstr (dtx_client_error (client), "character"));
    //  A gid never issued: an operator key is told so; a client key hears
    //  what it hears of any gid not its own
    ck_assert_int_eq (dtx_client_outcome (client, "dtx:test:999999:1"), DTX_UNKNOWN);
    ck_assert (strstr (dtx_client_error (client), "no transaction of this client"));
    dtx_client_t *operator = dtx_client_new_secure (harness.client_endpoint, 10000,
                                                    harness.operator_secret,
                                                    getenv ("DTX_COORDINATOR_CERT"));
    ck_assert_int_eq (dtx_client_outcome (operator, "dtx:test:999999:1"), DTX_UNKNOWN);
    ck_assert_msg (strstr (dtx_client_error (operator), "never issued"), "%s", dtx_client_error (operator));
    dtx_client_destroy (&operator);
    //  Malformed frames straight onto both coordinator sockets
    //  (with keys: CurveZMQ keeps everyone else out before any frame)
    char db1_secret [512];
    snprintf (db1_secret, sizeof db1_secret, "%s/participants/db1_secret", harness.keys_dir);
    zsock_t *raw = (zsock_t *) harness_client_sock (harness.client_endpoint, NULL);
    zsock_t *raw_participant = (zsock_t *) harness_client_sock (harness.participant_endpoint, db1_secret);
    zstr_send (raw, "not a dtx frame");
    zstr_send (raw_participant, "garbage");
    byte truncated [] = { 0xAA, 0xD7, DTX_PROTO_VERSION, DTX_PROTO_EXECUTE, 0, 0 };
    zsock_send (raw, "b", truncated, sizeof truncated);
    byte huge_list [] = { 0xAA, 0xD7, DTX_PROTO_VERSION, DTX_PROTO_EXECUTE, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
                          0xFF, 0xFF, 0xFF, 0x00 };
    zsock_send (raw, "b", huge_list, sizeof huge_list);
    zsock_send (raw, "ss", "two", "frames");
    //  Let them all leave before the sockets close
    zsock_set_linger (raw, 2000);
    zsock_set_linger (raw_participant, 2000);
    zsock_destroy (&raw);
    zsock_destroy (&raw_participant);
    //  Commit twice
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 1011);
    s_insert_item (txn, 1, 1011);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    ck_assert_int_eq (dtx_txn_errcode (txn), DTX_ERR_STATE);
    ck_assert (strstr (dtx_txn_error_message (txn), "already ended"));
    dtx_txn_destroy (&txn);
    //  Commit twice as the coordinator sees it (a second client sends it)
    txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 1012);
    s_insert_item (txn, 1, 1012);
    char gid2 [DTX_GID_MAX + 1];
    snprintf (gid2, sizeof gid2, "%s", dtx_txn_gid (txn));
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    zsock_t *raw2 = (zsock_t *) harness_client_sock (harness.client_endpoint, NULL);
    dtx_proto_t *commit = dtx_proto_new (DTX_PROTO_COMMIT);
    dtx_proto_set_seq (commit, 7);
    dtx_proto_set_gid (commit, gid2);
    dtx_proto_send (commit, raw2);
    dtx_proto_destroy (&commit);
    zsock_set_rcvtimeo (raw2, 5000);
    dtx_proto_t *reply;
    char err [256];
    ck_assert_int_eq (dtx_proto_recv (&reply, raw2, err, sizeof err), 0);
    ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_ERROR);
    ck_assert_int_eq (dtx_proto_status (reply), DTX_ERR_STATE);
    ck_assert (strstr (dtx_proto_text (reply), "already committed"));
    dtx_proto_destroy (&reply);
    zsock_destroy (&raw2);
    ck_assert_int_eq (s_count_items (0, 1012), 1);
}
END_TEST

START_TEST (test_client_disconnect_releases_sessions)
{
    //  A client takes a row lock and vanishes without ending
    dtx_client_t *gone = dtx_client_new (harness.client_endpoint, 5000);
    dtx_txn_t *txn = dtx_begin (gone, 600);
    dtx_result_t *result = dtx_exec (txn, "db1", "UPDATE accounts SET balance = balance + 1 WHERE id = 100", 0, NULL);
    ck_assert (dtx_result_ok (result));
    dtx_result_destroy (&result);
    s_insert_item (txn, 1, 1013);
    char gid [DTX_GID_MAX + 1];
    snprintf (gid, sizeof gid, "%s", dtx_txn_gid (txn));
    free (txn);     //  abandon without a word (no rollback)
    dtx_client_destroy (&gone);
    //  After its timeout the lock is released: this waits for it
    long long before = harness_pg_value (0, "SELECT balance FROM accounts WHERE id = 100");
    dtx_txn_t *next = dtx_begin (client, 10000);
    s_exec_ok (next, "db1", "UPDATE accounts SET balance = balance + 0 WHERE id = 100", 0, NULL);
    ck_assert_int_eq (dtx_commit (next), DTX_COMMITTED);
    dtx_txn_destroy (&next);
    ck_assert_int_eq (harness_pg_value (0, "SELECT balance FROM accounts WHERE id = 100"), before);
    ck_assert_int_eq (s_count_items (1, 1013), 0);
    ck_assert_int_eq (dtx_client_outcome (client, gid), DTX_ABORTED);
    //  Its PostgreSQL sessions went back to the pool: none idle in transaction
    ck_assert (s_wait_for (s_none_idle_in_transaction, NULL, 5000));
}
END_TEST

//  16 clients, each in its own thread, moving money between databases
typedef struct {
    int index;
    int committed;
    int aborted;
    int other;
} worker_t;

static void *
s_transfer_worker (void *arg)
{
    worker_t *worker = (worker_t *) arg;
    dtx_client_t *mine = dtx_client_new (harness.client_endpoint, 20000);
    unsigned seed = 1234 + worker->index;
    for (int i = 0; i < 25; i++) {
        int from_db = rand_r (&seed) % 3, to_db = (from_db + 1 + rand_r (&seed) % 2) % 3;
        char from [16], to [16], amount [16];
        snprintf (from, sizeof from, "%d", 1 + rand_r (&seed) % 20);
        snprintf (to, sizeof to, "%d", 1 + rand_r (&seed) % 20);
        snprintf (amount, sizeof amount, "%d", 1 + rand_r (&seed) % 50);
        dtx_txn_t *txn = dtx_begin (mine, 10000);
        if (!txn) {
            worker->other++;
            continue;
        }
        const char *debit [] = { amount, from };
        const char *credit [] = { amount, to };
        dtx_result_t *r1 = dtx_exec (txn, harness.db_name [from_db],
            "UPDATE accounts SET balance = balance - $1::bigint WHERE id = $2::int", 2, debit);
        dtx_result_t *r2 = dtx_exec (txn, harness.db_name [to_db],
            "UPDATE accounts SET balance = balance + $1::bigint WHERE id = $2::int", 2, credit);
        dtx_outcome_t outcome = dtx_commit (txn);
        if (outcome == DTX_COMMITTED)
            worker->committed++;
        else
        if (outcome == DTX_ABORTED)
            worker->aborted++;
        else
            worker->other++;
        dtx_result_destroy (&r1);
        dtx_result_destroy (&r2);
        dtx_txn_destroy (&txn);
    }
    dtx_client_destroy (&mine);
    return NULL;
}

START_TEST (test_concurrent_transfers_conserve_total)
{
    long long before = harness_total_balance ();
    pthread_t threads [16];
    worker_t workers [16];
    for (int i = 0; i < 16; i++) {
        workers [i] = (worker_t) { i, 0, 0, 0 };
        pthread_create (&threads [i], NULL, s_transfer_worker, &workers [i]);
    }
    int committed = 0, aborted = 0, other = 0;
    for (int i = 0; i < 16; i++) {
        pthread_join (threads [i], NULL);
        committed += workers [i].committed;
        aborted += workers [i].aborted;
        other += workers [i].other;
    }
    ck_assert_int_eq (other, 0);
    ck_assert_int_eq (committed + aborted, 16 * 25);
    ck_assert_int_gt (committed, 16 * 25 / 2);
    ck_assert_int_eq (harness_total_balance (), before);
}
END_TEST

START_TEST (test_participant_lost_before_vote)
{
    dtx_txn_t *txn = dtx_begin (client, 30000);
    s_insert_item (txn, 0, 1014);
    s_insert_item (txn, 2, 1014);
    harness_kill_participant (2, SIGKILL);
    int64_t start = zclock_mono ();
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    //  The vote timeout (3 s in the harness) decided it
    ck_assert_int_ge (zclock_mono () - start, 2500);
    ck_assert (strstr (dtx_txn_error_message (txn), "db3"));
    dtx_txn_destroy (&txn);
    harness_start_participant (2);
    ck_assert (harness_wait_ready (20000));
    ck_assert_int_eq (s_count_items (0, 1014), 0);
    ck_assert_int_eq (s_count_items (2, 1014), 0);
}
END_TEST

//  --------------------------------------------------------------------------
//  Start-up refusals: each a clear message naming the problem

static void
s_write (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fputs (text, file);
    fclose (file);
}

START_TEST (test_startup_refusals)
{
    char dir [] = "/tmp/dtx-startup-XXXXXX", path [128], out [4096];
    ck_assert_ptr_nonnull (mkdtemp (dir));
    const char *coordinator = TOP_BUILDDIR "/coordinator/dtx-coordinator";
    const char *participant = TOP_BUILDDIR "/participant/dtx-participant";
    snprintf (path, sizeof path, "%s/c.cfg", dir);
    //  Unknown key
    s_write (path, "coordinator\n    log-dir = /tmp\n    colour = blue\n");
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --config %s", coordinator, path), 2);
    ck_assert_msg (strstr (out, "unknown key 'coordinator/colour'"), "%s", out);
    //  Bad value
    s_write (path, "coordinator\n    log-dir = /tmp\n    vote-timeout = soon\n");
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --config %s", coordinator, path), 2);
    ck_assert_msg (strstr (out, "bad value for 'coordinator/vote-timeout'"), "%s", out);
    //  Not ZPL at all, and a missing file
    s_write (path, "coordinator\n  = = =\n\tbroken\n");
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --config %s", coordinator, path), 2);
    ck_assert_msg (strstr (out, path), "%s", out);
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --config %s/nope.cfg", coordinator, dir), 2);
    ck_assert (strstr (out, "No such file"));
    //  Flag with a bad number
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --log-dir %s --txn-timeout -5", coordinator, dir), 2);
    ck_assert (strstr (out, "--txn-timeout"));
    //  Missing decision-log directory
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --log-dir %s/missing --clients tcp://127.0.0.1:1"
                                 " --participants tcp://127.0.0.1:2 --insecure", coordinator, dir), 1);
    ck_assert_msg (strstr (out, "missing"), "%s", out);
    //  A password on the command line
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --name x --conninfo 'host=127.0.0.1 password=secret' --insecure",
                                 participant), 1);
    ck_assert_msg (strstr (out, "must not contain a password"), "%s", out);
    //  An unreachable database, after the retry window
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --name x --conninfo 'host=127.0.0.1 port=1'"
                                 " --connect-window 300 --insecure", participant), 1);
    ck_assert_msg (strstr (out, "unreachable after 300 ms"), "%s", out);
    //  A database or role that does not exist: said at once, not after
    //  the retry window (60 s here: the check is that it was not used)
    int64_t started = zclock_mono ();
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --name x --conninfo 'host=127.0.0.1"
                                       " port=%d user=postgres dbname=nosuchdb' --connect-window 60000 --insecure",
                                       participant, harness.pg_port [0]), 1);
    ck_assert_msg (strstr (out, "a database or role it names does not exist")
                   && strstr (out, "nosuchdb"), "%s", out);
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --name x --conninfo 'host=127.0.0.1"
                                       " port=%d user=nosuchrole dbname=postgres' --connect-window 60000"
                                       " --insecure",
                                       participant, harness.pg_port [0]), 1);
    ck_assert_msg (strstr (out, "nosuchrole"), "%s", out);
    ck_assert_int_lt (zclock_mono () - started, 60000);
    //  A database that cannot prepare transactions (db3, restarted with
    //  max_prepared_transactions = 0, then back to normal)
    char command [1024];
    snprintf (command, sizeof command, "PG_BINDIR=%s %s/scripts/pgcluster.sh stop %s && MAX_PREPARED=0"
              " PG_BINDIR=%s %s/scripts/pgcluster.sh start %s %d", PG_BINDIR, TOP_SRCDIR,
              harness.pg_dir [2], PG_BINDIR, TOP_SRCDIR, harness.pg_dir [2], harness.pg_port [2]);
    ck_assert_int_eq (system (command), 0);
    int rc = harness_capture (out, sizeof out, "%s --name x --conninfo 'host=127.0.0.1 port=%d user=postgres"
                        " dbname=postgres' --insecure", participant, harness.pg_port [2]);
    snprintf (command, sizeof command, "PG_BINDIR=%s %s/scripts/pgcluster.sh stop %s &&"
              " PG_BINDIR=%s %s/scripts/pgcluster.sh start %s %d", PG_BINDIR, TOP_SRCDIR,
              harness.pg_dir [2], PG_BINDIR, TOP_SRCDIR, harness.pg_dir [2], harness.pg_port [2]);
    ck_assert_int_eq (system (command), 0);
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (out, "max_prepared_transactions = 0"), "%s", out);
    ck_assert (harness_wait_ready (20000));
    snprintf (command, sizeof command, "rm -rf %s", dir);
    ck_assert_int_eq (system (command), 0);
}
END_TEST

//  The Prometheus endpoint, scraped over HTTP
static char *
s_http_get (const char *path)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons (harness.metrics_port) };
    inet_pton (AF_INET, "127.0.0.1", &address.sin_addr);
    ck_assert_int_eq (connect (fd, (struct sockaddr *) &address, sizeof address), 0);
    char request [256];
    snprintf (request, sizeof request, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    ck_assert_int_eq (write (fd, request, strlen (request)), (ssize_t) strlen (request));
    size_t size = 1 << 20, used = 0;
    char *body = calloc (size, 1);
    ssize_t n;
    while ((n = read (fd, body + used, size - used - 1)) > 0)
        used += n;
    close (fd);
    return body;
}

static char *
s_scrape (void)
{
    return s_http_get ("/metrics");
}

static double
s_metric (const char *text, const char *series)
{
    //  A sample line, not the HELP/TYPE line that names it too
    char line [256];
    snprintf (line, sizeof line, "\n%s", series);
    const char *at = strstr (text, line);
    return at? atof (at + strlen (line)): -1;
}


//  The snapshot is refreshed every 250 ms: wait for one with the commit
static bool
s_metrics_show_commit (void *arg)
{
    char *text = s_scrape ();
    bool seen = text && s_metric (text, "dtx_transactions_total{outcome=\"committed\"} ") >= 1
             && s_metric (text, "dtx_log_fsync_seconds_count ") >= 1;
    free (text);
    return seen;
}

START_TEST (test_metrics_endpoint)
{
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 1015);
    s_insert_item (txn, 1, 1015);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    ck_assert (s_wait_for (s_metrics_show_commit, NULL, 5000));
    char *text = s_scrape ();
    ck_assert_msg (strstr (text, "200 OK") && strstr (text, "text/plain"), "%.300s", text);
    ck_assert_double_ge (s_metric (text, "dtx_transactions_total{outcome=\"committed\"} "), 1);
    ck_assert_double_ge (s_metric (text, "dtx_transactions_total{outcome=\"aborted\"} "), 0);
    ck_assert_double_eq (s_metric (text, "dtx_participants_connected "), 3);
    ck_assert_double_eq (s_metric (text, "dtx_participant_connected{participant=\"db2\"} "), 1);
    ck_assert_double_ge (s_metric (text, "dtx_phase_seconds_count{phase=\"prepare\"} "), 1);
    ck_assert_double_ge (s_metric (text, "dtx_phase_seconds_count{phase=\"commit\"} "), 1);
    ck_assert_double_ge (s_metric (text, "dtx_log_fsync_seconds_count "), 1);
    ck_assert_double_ge (s_metric (text, "dtx_log_fsync_batch_records_bucket{le=\"+Inf\"} "), 1);
    //  The protocol's cost: a two-database commit is 8 messages in (BEGIN
    //  and statements and COMMIT from the client, answers from both
    //  participants) and 6 out at least; the loop woke for them
    ck_assert_double_ge (s_metric (text, "dtx_messages_total{direction=\"in\"} "), 8);
    ck_assert_double_ge (s_metric (text, "dtx_messages_total{direction=\"out\"} "), 6);
    ck_assert_double_ge (s_metric (text, "dtx_loop_turns_total "), 2);
    ck_assert (strstr (text, "dtx_phase2_retries_total "));
    ck_assert (strstr (text, "dtx_transactions_in_doubt 0"));
    ck_assert (strstr (text, "# TYPE dtx_phase_seconds histogram"));
    char expect [128];
    snprintf (expect, sizeof expect, "dtx_build_info{version=\"%s\",shard=\"test\",", PACKAGE_VERSION);
    ck_assert_msg (strstr (text, expect), "%.300s", text);
    free (text);
    //  /health: ready (200), for load balancers and supervisors
    text = s_http_get ("/health");
    ck_assert_msg (strstr (text, "200 OK") && strstr (text, "\r\n\r\nready\n"), "%.300s", text);
    free (text);
}
END_TEST

//  SIGHUP reopens the log file (logrotate moved it); SIGTERM exits 0
START_TEST (test_sighup_reopens_log)
{
    char dir [] = "/tmp/dtx-hup-XXXXXX", command [4096], out [4096];
    ck_assert_ptr_nonnull (mkdtemp (dir));
    snprintf (command, sizeof command,
              "%s/coordinator/dtx-coordinator --log-dir %s --clients tcp://127.0.0.1:%d"
              " --participants tcp://127.0.0.1:%d --log-file %s/c.log %s & pid=$!;"
              " for i in $(seq 200); do grep -q \"epoch 1\" %s/c.log 2>/dev/null && break; sleep 0.05; done;"
              " mv %s/c.log %s/c.log.1; kill -HUP $pid;"
              " for i in $(seq 200); do grep -q \"SIGHUP: reopened\" %s/c.log 2>/dev/null && break; sleep 0.05; done;"
              " kill -0 $pid || exit 3; kill -TERM $pid; wait $pid",
              TOP_BUILDDIR, dir, harness.metrics_port + 10, harness.metrics_port + 11, dir,
              harness.coordinator_args, dir, dir, dir, dir);
    ck_assert_int_eq (harness_capture (out, sizeof out, "bash -c '%s'", command), 0);
    snprintf (command, sizeof command, "grep -q 'epoch 1' %s/c.log.1 && grep -q 'SIGHUP: reopened'"
              " %s/c.log && grep -q stopping %s/c.log", dir, dir, dir);
    ck_assert_int_eq (system (command), 0);
    snprintf (command, sizeof command, "rm -rf %s", dir);
    ck_assert_int_eq (system (command), 0);
}
END_TEST

//  A one-phase COMMIT whose answer is lost with the connection: the
//  participant reads its marker behind a fence and answers for real
START_TEST (test_one_phase_lost_answer)
{
    harness_kill_participant (2, SIGTERM);
    harness_start_participant_fault (2, "part-lose-commit-answer");
    ck_assert (harness_wait_ready (20000));
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert_item (txn, 2, 1016);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    ck_assert_int_eq (dtx_client_outcome (client, dtx_txn_gid (txn)), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (s_count_items (2, 1016), 1);
    harness_kill_participant (2, SIGTERM);
    harness_start_participant (2);
    ck_assert (harness_wait_ready (20000));
}
END_TEST

//  A transaction timing out while its statement still runs: the
//  statement is cancelled and the session freed, not left running
START_TEST (test_timeout_cancels_running_statement)
{
    dtx_txn_t *txn = dtx_begin (client, 500);
    s_insert_item (txn, 0, 1017);
    int64_t start = zclock_mono ();
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT pg_sleep (30)", 0, NULL);
    ck_assert (!dtx_result_ok (result));
    ck_assert_msg (strstr (dtx_result_error (result), "timeout"), "%s", dtx_result_error (result));
    dtx_result_destroy (&result);
    ck_assert_int_lt (zclock_mono () - start, 5000);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    dtx_txn_destroy (&txn);
    //  Within a couple of seconds nothing is left sleeping on db1
    long long sleeping = -1;
    for (int i = 0; i < 40 && sleeping != 0; i++) {
        zclock_sleep (100);
        sleeping = harness_pg_value (0, "SELECT count(*) FROM pg_stat_activity"
                                        " WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'");
    }
    ck_assert_int_eq (sleeping, 0);
    ck_assert_int_eq (s_count_items (0, 1017), 0);
}
END_TEST

//  dtx_send: statements held by the coordinator and sent with PREPARE /
//  the one-phase COMMIT; their failures abort and are reported at commit
static void
s_send_item (dtx_txn_t *txn, int db_index, int id)
{
    char value [16];
    snprintf (value, sizeof value, "%d", id);
    const char *params [] = { value, dtx_txn_gid (txn) };
    ck_assert_int_eq (dtx_send (txn, harness.db_name [db_index],
                                "INSERT INTO items (id, note) VALUES ($1::int, $2)", 2, params), 0);
}

START_TEST (test_deferred_statements)
{
    //  Two databases, nothing but deferred statements: 2PC with a logged
    //  decision, both rows there
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_send_item (txn, 0, 1101);
    s_send_item (txn, 0, 1102);
    s_send_item (txn, 1, 1101);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    ck_assert_int_eq (s_count_items (0, 1101) + s_count_items (0, 1102), 2);
    ck_assert_int_eq (s_count_items (1, 1101), 1);
    ck_assert_int_eq (s_log_commits (dtx_txn_gid (txn)), 1);
    dtx_txn_destroy (&txn);

    //  One database: one-phase, no log record
    txn = dtx_begin (client, 10000);
    s_send_item (txn, 2, 1103);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    ck_assert_int_eq (s_count_items (2, 1103), 1);
    ck_assert_int_eq (s_log_commits (dtx_txn_gid (txn)), 0);
    dtx_txn_destroy (&txn);

    //  A read after a deferred write on the same database sees it
    txn = dtx_begin (client, 10000);
    s_send_item (txn, 0, 1104);
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT count(*) FROM items WHERE id = 1104", 0, NULL);
    ck_assert (dtx_result_ok (result));
    ck_assert_str_eq (dtx_result_value (result, 0, 0), "1");
    dtx_result_destroy (&result);
    s_send_item (txn, 1, 1104);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    ck_assert_int_eq (s_count_items (0, 1104) + s_count_items (1, 1104), 2);
    dtx_txn_destroy (&txn);

    //  Many deferred statements: past the coordinator's hold limit they go
    //  ahead to the participant; all of them run, the last with PREPARE
    txn = dtx_begin (client, 20000);
    for (int id = 1200; id < 1400; id++)
        s_send_item (txn, 0, id);
    s_send_item (txn, 1, 1200);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    ck_assert_int_eq (harness_pg_value (0, "SELECT count(*) FROM items WHERE id >= 1200 AND id < 1400"), 200);
    ck_assert_int_eq (s_count_items (1, 1200), 1);
    dtx_txn_destroy (&txn);

    //  The gid asked for after a dtx_send (its BEGIN went out quietly)
    txn = dtx_begin (client, 10000);
    s_send_item (txn, 0, 1106);
    char gid [DTX_GID_MAX + 1];
    snprintf (gid, sizeof gid, "%s", dtx_txn_gid (txn));
    char err [256];
    ck_assert_msg (dtx_gid_validate (gid, err, sizeof err) == 0, "'%s': %s", gid, err);
    s_send_item (txn, 1, 1106);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    ck_assert_str_eq (dtx_txn_gid (txn), gid);
    ck_assert_int_eq (dtx_client_outcome (client, gid), DTX_COMMITTED);
    dtx_txn_destroy (&txn);

    //  An empty gid from a connection that began nothing: refused, named
    zsock_t *raw = (zsock_t *) harness_client_sock (harness.client_endpoint, NULL);
    dtx_proto_t *orphan = dtx_proto_new (DTX_PROTO_EXECUTE);
    dtx_proto_set_name (orphan, "db1");
    dtx_proto_set_text (orphan, "SELECT 1");
    dtx_proto_set_seq (orphan, 7);
    ck_assert_int_eq (dtx_proto_send (orphan, raw), 0);
    dtx_proto_destroy (&orphan);
    zsock_set_rcvtimeo (raw, 5000);
    dtx_proto_t *refusal;
    ck_assert_int_eq (dtx_proto_recv (&refusal, raw, err, sizeof err), 0);
    ck_assert_int_eq (dtx_proto_id (refusal), DTX_PROTO_ERROR);
    ck_assert_int_eq (dtx_proto_status (refusal), DTX_ERR_BAD_REQUEST);
    ck_assert_msg (strstr (dtx_proto_text (refusal), "no live transaction was begun"), "%s",
                   dtx_proto_text (refusal));
    dtx_proto_destroy (&refusal);
    zsock_destroy (&raw);

    //  Acknowledged on the durable decision: logged before the answer,
    //  and phase 2 finishes on its own
    txn = dtx_begin (client, 10000);
    s_send_item (txn, 0, 1105);
    s_send_item (txn, 1, 1105);
    ck_assert_int_eq (dtx_commit_decided (txn), DTX_COMMITTED);
    ck_assert_int_eq (s_log_commits (dtx_txn_gid (txn)), 1);
    int64_t deadline = zclock_mono () + 5000;
    while (s_count_items (0, 1105) + s_count_items (1, 1105) < 2 && zclock_mono () < deadline)
        zclock_sleep (10);
    ck_assert_int_eq (s_count_items (0, 1105) + s_count_items (1, 1105), 2);
    ck_assert_int_eq (dtx_client_outcome (client, dtx_txn_gid (txn)), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
}
END_TEST

START_TEST (test_deferred_failures_abort)
{
    //  A deferred statement that fails with its PREPARE: the commit is
    //  refused with that statement's error, the other side is untouched
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_send_item (txn, 0, 1111);
    ck_assert_int_eq (dtx_send (txn, "db2", "INSERT INTO items (id, note) VALUES (1 / 0, 'x')", 0, NULL), 0);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_str_eq (dtx_txn_error_sqlstate (txn), "22012");
    ck_assert_str_eq (dtx_txn_error_database (txn), "db2");
    ck_assert (strstr (dtx_txn_error_message (txn), "division by zero"));
    ck_assert_int_eq (s_count_items (0, 1111), 0);
    dtx_txn_destroy (&txn);
    //  PostgreSQL skipped that PREPARE: the participant must have rolled
    //  back the failed transaction block its connection still had open
    int64_t deadline = zclock_mono () + 3000;
    const char *stuck = "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'";
    while (harness_pg_value (1, stuck) > 0 && zclock_mono () < deadline)
        zclock_sleep (20);
    ck_assert_int_eq (harness_pg_value (1, stuck), 0);

    //  Failure of an earlier deferred statement, reported by the next
    //  dtx_exec on that database, not the "transaction is aborted" echo
    txn = dtx_begin (client, 10000);
    ck_assert_int_eq (dtx_send (txn, "db1", "INSERT INTO no_such_table VALUES (1)", 0, NULL), 0);
    s_send_item (txn, 0, 1112);
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
    ck_assert (!dtx_result_ok (result));
    ck_assert_str_eq (dtx_result_sqlstate (result), "42P01");
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_str_eq (dtx_txn_error_sqlstate (txn), "42P01");
    dtx_txn_destroy (&txn);

    //  A failure among statements that went ahead of the commit (past
    //  the coordinator's hold limit) is the reason the commit gives
    txn = dtx_begin (client, 20000);
    for (int id = 1400; id < 1500; id++) {
        if (id == 1420)
            ck_assert_int_eq (dtx_send (txn, "db1", "INSERT INTO items (id, note) VALUES (1 / 0, 'x')",
                                        0, NULL), 0);
        else
            s_send_item (txn, 0, id);
    }
    s_send_item (txn, 1, 1400);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_str_eq (dtx_txn_error_sqlstate (txn), "22012");
    ck_assert_str_eq (dtx_txn_error_database (txn), "db1");
    ck_assert_int_eq (harness_pg_value (0, "SELECT count(*) FROM items WHERE id >= 1400 AND id < 1500"), 0);
    ck_assert_int_eq (s_count_items (1, 1400), 0);
    dtx_txn_destroy (&txn);

    //  One-phase: the statement's error, not "rolled back"
    txn = dtx_begin (client, 10000);
    ck_assert_int_eq (dtx_send (txn, "db3", "INSERT INTO no_such_table VALUES (1)", 0, NULL), 0);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_str_eq (dtx_txn_error_sqlstate (txn), "42P01");
    ck_assert_str_eq (dtx_txn_error_database (txn), "db3");
    dtx_txn_destroy (&txn);

    //  Unknown database, and rollback of held statements: nothing runs
    txn = dtx_begin (client, 10000);
    s_send_item (txn, 0, 1113);
    ck_assert_int_eq (dtx_send (txn, "nosuchdb", "SELECT 1", 0, NULL), 0);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_int_eq (dtx_txn_errcode (txn), DTX_ERR_UNKNOWN_DB);
    dtx_txn_destroy (&txn);
    txn = dtx_begin (client, 10000);
    s_send_item (txn, 0, 1114);
    s_send_item (txn, 1, 1114);
    ck_assert_int_eq (dtx_rollback (txn), DTX_ABORTED);
    ck_assert_int_eq (dtx_send (txn, "db1", "SELECT 1", 0, NULL), -1);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (s_count_items (0, 1113) + s_count_items (0, 1114) + s_count_items (1, 1114), 0);

    //  The transaction after all that works
    txn = dtx_begin (client, 10000);
    s_send_item (txn, 0, 1115);
    s_send_item (txn, 1, 1115);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
}
END_TEST

//  --------------------------------------------------------------------------
//  Every answer is true (issue: outcome correctness)

static bool
s_no_live_txns (void *arg)
{
    char out [4096];
    return harness_dtxctl (out, sizeof out, "--json status") == 0
        && strstr (out, "\"transactions_live\":0,");
}

//  A one-phase COMMIT to a participant the coordinator has lost: it used
//  to stay "committing" forever (and in doubt).  COMMIT cannot leave, so
//  the answer is a prompt ABORTED, and nothing commits when it is back.
START_TEST (test_one_phase_commit_participant_gone)
{
    dtx_txn_t *txn = dtx_begin (client, 30000);
    s_insert_item (txn, 0, 2201);
    pid_t pid = harness_participant_pid (0);
    ck_assert_int_eq (kill (pid, SIGSTOP), 0);
    ck_assert_msg (harness_wait_participant (0, false, 15000), "db1 never marked disconnected");
    int64_t started = zclock_mono ();
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_int_lt (zclock_mono () - started, 3000);
    ck_assert_int_eq (dtx_txn_errcode (txn), DTX_ERR_PARTICIPANT);
    char gid [DTX_GID_MAX + 1];
    snprintf (gid, sizeof gid, "%s", dtx_txn_gid (txn));
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (kill (pid, SIGCONT), 0);
    ck_assert (harness_wait_participant (0, true, 15000));
    ck_assert_int_eq (dtx_client_outcome (client, gid), DTX_ABORTED);
    //  Its session was rolled back once the participant was back
    ck_assert (s_wait_for (s_no_live_txns, NULL, 10000));
    ck_assert_int_eq (s_count_items (0, 2201), 0);
    char out [4096];
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "--json in-doubt"), 0);
    ck_assert_msg (streq (out, "[]") || strstr (out, "[]"), "%s", out);
}
END_TEST

static bool
s_item_gone (void *arg)
{
    return s_count_items (0, *(int *) arg) == 0;
}

//  The coordinator stops answering mid-transaction.  An UNKNOWN must come
//  with a gid; with no COMMIT sent the answer is a certain ABORTED, and
//  what the coordinator later receives of it is rolled back.
START_TEST (test_no_unknown_without_gid)
{
    dtx_client_t *impatient = dtx_client_new (harness.client_endpoint, 1000);
    pid_t coordinator = harness_coordinator_pid ();
    ck_assert_int_eq (kill (coordinator, SIGSTOP), 0);
    dtx_txn_t *txn = dtx_begin (impatient, 3000);
    const char *params [] = { "2202", "stopped" };
    dtx_result_t *result = dtx_exec (txn, "db1", "INSERT INTO items (id, note) VALUES ($1::int, $2)",
                                     2, params);
    ck_assert (!dtx_result_ok (result));
    ck_assert_int_eq (dtx_result_errcode (result), DTX_ERR_COORDINATOR);
    dtx_result_destroy (&result);
    dtx_outcome_t outcome = dtx_commit (txn);
    ck_assert_msg (outcome == DTX_ABORTED || (outcome == DTX_UNKNOWN && *dtx_txn_gid (txn)),
                   "commit said %s with gid '%s'", dtx_outcome_name (outcome), dtx_txn_gid (txn));
    ck_assert_int_eq (outcome, DTX_ABORTED);
    ck_assert_int_eq (dtx_txn_errcode (txn), DTX_ERR_COORDINATOR);
    ck_assert (strstr (dtx_txn_error_message (txn), "COMMIT was not sent"));
    dtx_txn_destroy (&txn);
    //  Rolling back without an answer is certain too
    txn = dtx_begin (impatient, 3000);
    dtx_send (txn, "db1", "SELECT 1", 0, NULL);
    ck_assert_int_eq (dtx_rollback (txn), DTX_ABORTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (kill (coordinator, SIGCONT), 0);
    //  The INSERT reaches the coordinator late: it runs, nobody commits
    //  it, the transaction timeout rolls it back
    int id = 2202;
    ck_assert (s_wait_for (s_no_live_txns, NULL, 15000));
    ck_assert (s_wait_for (s_item_gone, &id, 5000));
    dtx_client_destroy (&impatient);
}
END_TEST

//  A database that cannot be reached aborts its transaction at once: no
//  5-second wait for a rollback that cannot run, nothing "in doubt"
START_TEST (test_abort_with_database_down)
{
    harness_pg_stop_immediate (1);
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 2203);
    const char *params [] = { "2203", "x" };
    dtx_result_t *result = dtx_exec (txn, "db2", "INSERT INTO items (id, note) VALUES ($1::int, $2)",
                                     2, params);
    ck_assert (!dtx_result_ok (result));
    dtx_result_destroy (&result);
    int64_t started = zclock_mono ();
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_int_lt (zclock_mono () - started, 2000);
    dtx_txn_destroy (&txn);
    char out [4096];
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "--json status"), 0);
    ck_assert_msg (strstr (out, "\"in_doubt\":0,"), "%s", out);
    harness_pg_start (1);
    ck_assert (harness_wait_ready (30000));
    ck_assert_int_eq (s_count_items (0, 2203), 0);
}
END_TEST

//  A second coordinator on the same log directory used to start, write its
//  own epoch (overwritten by the first) and remove the first's admin socket
START_TEST (test_second_coordinator_refused)
{
    char out [4096];
    int rc = harness_capture (out, sizeof out, "%s/coordinator/dtx-coordinator --id test"
                              " --clients tcp://127.0.0.1:%d --participants tcp://127.0.0.1:%d"
                              " --log-dir %s %s", TOP_BUILDDIR, harness.pg_port [0] + 5,
                              harness.pg_port [0] + 6, harness.log_dir, harness.coordinator_args);
    ck_assert_int_ne (rc, 0);
    char pid [32];
    snprintf (pid, sizeof pid, "pid %d", (int) harness_coordinator_pid ());
    ck_assert_msg (strstr (out, "in use by another coordinator") && strstr (out, pid), "%s", out);
    //  The first still serves, admin socket included
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "status"), 0);
    //  ... to its own user only: another is told so at once, not after a
    //  timeout (as root the test can be another user)
    if (geteuid () == 0) {
        ck_assert_int_eq (harness_capture (out, sizeof out, "setpriv --reuid=postgres --regid=postgres"
                                           " --clear-groups %s/dtxctl/dtxctl --log-dir %s status",
                                           TOP_BUILDDIR, harness.log_dir), 3);
        ck_assert_msg (strstr (out, "permission denied"), "%s", out);
    }
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s/dtxctl/dtxctl --log-dir %s/nowhere status",
                                       TOP_BUILDDIR, harness.dir), 3);
    ck_assert_msg (strstr (out, "No such file") && strstr (out, "is a coordinator running"), "%s", out);
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 2204);
    s_insert_item (txn, 1, 2204);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
}
END_TEST

//  dtxctl --json: anywhere on the line, exactly one valid JSON document
//  per command, errors too (checked by Python's json module)
START_TEST (test_dtxctl_json)
{
    char out [8192];
    const char *check = "/usr/bin/python3 -c 'import json, sys; d = json.load (sys.stdin);"
                        " print (\"keys:\", \",\".join (sorted (d)) if isinstance (d, dict) else \"list\")'";
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s/dtxctl/dtxctl --log-dir %s status --json"
                                       " | %s", TOP_BUILDDIR, harness.log_dir, check), 0);
    ck_assert_msg (strstr (out, "keys:") && strstr (out, "in_doubt"), "%s", out);
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s/dtxctl/dtxctl --log-dir %s in-doubt"
                                       " --db 'db1=host=127.0.0.1 port=%d user=postgres dbname=postgres'"
                                       " --db 'db2=host=127.0.0.1 port=%d user=postgres dbname=postgres'"
                                       " --json | %s", TOP_BUILDDIR, harness.log_dir,
                                       harness.pg_port [0], harness.pg_port [1], check), 0);
    ck_assert_msg (strstr (out, "keys: coordinator,databases"), "%s", out);
    //  An error: a document too, exit status kept
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s/dtxctl/dtxctl --log-dir %s/nowhere"
                                       " --json status", TOP_BUILDDIR, harness.dir), 3);
    ck_assert_msg (strncmp (out, "{\"error\":\"", 10) == 0, "%s", out);
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s/dtxctl/dtxctl --log-dir %s/nowhere"
                                       " --json status | %s", TOP_BUILDDIR, harness.dir, check), 0);
    ck_assert_msg (strstr (out, "keys: error"), "%s", out);
}
END_TEST

//  A coordinator shutting down refuses new work with a code that says
//  "retry" (it said "wrong state")
START_TEST (test_shutdown_refusal_is_retryable)
{
    dtx_txn_t *holder = dtx_begin (client, 30000);
    s_insert_item (holder, 0, 2205);
    ck_assert_int_eq (kill (harness_coordinator_pid (), SIGTERM), 0);
    dtx_client_t *late = dtx_client_new (harness.client_endpoint, 5000);
    dtx_errcode_t code = DTX_OK;
    //  Until the signal is seen, BEGIN still works: take the first refusal
    for (int i = 0; i < 100 && code != DTX_ERR_UNAVAILABLE; i++) {
        dtx_txn_t *txn = dtx_begin (late, 5000);
        dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
        code = dtx_result_errcode (result);
        dtx_result_destroy (&result);
        dtx_rollback (txn);
        dtx_txn_destroy (&txn);
        if (code != DTX_ERR_UNAVAILABLE)
            zclock_sleep (20);  //  pacing: the coordinator sees SIGTERM at its next turn
    }
    ck_assert_int_eq (code, DTX_ERR_UNAVAILABLE);
    ck_assert_int_eq (dtx_commit (holder), DTX_COMMITTED);
    dtx_txn_destroy (&holder);
    dtx_client_destroy (&late);
    harness_kill_coordinator (SIGTERM);
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (30000));
    ck_assert_int_eq (s_count_items (0, 2205), 1);
}
END_TEST

//  A one-database commit answered after a coordinator restart: it used to
//  be "aborted (presumed abort)" to clients and dtxctl alike while its rows
//  were in the database.  Now its database is asked (marker, fence).
START_TEST (test_one_phase_answers_after_restart)
{
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert_item (txn, 2, 2206);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    char committed [DTX_GID_MAX + 1];
    snprintf (committed, sizeof committed, "%s", dtx_txn_gid (txn));
    dtx_txn_destroy (&txn);
    //  and one that aborted at COMMIT (deferred unique violation)
    ck_assert_int_eq (harness_pg_exec (2, "INSERT INTO items (id, note) VALUES (2207, 'x')"), 0);
    txn = dtx_begin (client, 10000);
    s_insert_item (txn, 2, 2207);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    char aborted [DTX_GID_MAX + 1];
    snprintf (aborted, sizeof aborted, "%s", dtx_txn_gid (txn));
    dtx_txn_destroy (&txn);

    harness_kill_coordinator (SIGKILL);
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (30000));
    ck_assert_int_eq (dtx_client_outcome (client, committed), DTX_COMMITTED);
    ck_assert_int_eq (dtx_client_outcome (client, aborted), DTX_ABORTED);
    char out [4096];
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "show %s", committed), 0);
    ck_assert_msg (strstr (out, "committed"), "%s", out);
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "--json show %s", aborted), 0);
    ck_assert_msg (strstr (out, "\"state\":\"aborted\""), "%s", out);
    ck_assert_int_eq (s_count_items (2, 2206), 1);
    ck_assert_int_eq (s_count_items (2, 2207), 1);      //  only the row inserted directly
}
END_TEST

static bool
s_coordinator_logged (void *text)
{
    char out [4096];
    return harness_capture (out, sizeof out, "grep -c -- '%s' %s/coordinator.log",
                            (const char *) text, harness.dir) == 0;
}

//  Two participants under one name, fronting different databases: the
//  second used to take the name over and commit db1's work on db2
START_TEST (test_participant_name_taken_is_refused)
{
    pid_t impostor = harness_spawn ("impostor.log", "%s/participant/dtx-participant --name %s"
                                    " --conninfo 'host=127.0.0.1 port=%d user=postgres dbname=postgres'"
                                    " --coordinator %s --pool-min 1 %s", TOP_BUILDDIR,
                                    harness.db_name [0], harness.pg_port [1],
                                    harness.participant_endpoint, harness.participant_args [0]);
    ck_assert_msg (s_wait_for (s_coordinator_logged, "is registered already, fronting", 10000),
                   "no refusal in the coordinator's log");
    //  db1's work still goes to db1's database, and db1 is still the first
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 2208);
    s_insert_item (txn, 2, 2208);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (s_count_items (0, 2208), 1);
    ck_assert_int_eq (s_count_items (1, 2208), 0);
    //  With the real one gone (as after a restart, when an impostor may be
    //  first), the name stays bound to its database
    harness_kill_participant (0, SIGKILL);
    ck_assert (harness_wait_participant (0, false, 15000));
    ck_assert_msg (s_wait_for (s_coordinator_logged, "(decision log); this one fronts", 10000),
                   "the impostor was not refused once db1 was gone");
    ck_assert (harness_wait_participant (0, false, 100));
    //  The real one coming back is accepted
    harness_start_participant (0);
    ck_assert (harness_wait_participant (0, true, 15000));
    kill (impostor, SIGKILL);
    ck_assert (harness_wait_ready (30000));
    txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 2210);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (s_count_items (0, 2210), 1);
    ck_assert_int_eq (s_count_items (1, 2210), 0);
}
END_TEST

//  dtxctl resolve meeting a transaction whose COMMIT record is being
//  written (LOGGING): it used to accept "abort" (a HEURISTIC abort next to
//  a COMMIT) and its own fsync left the commit without phase 2 (stalled)
static void *
s_commit_two (void *arg)
{
    char *gid = (char *) arg;
    dtx_client_t *own = dtx_client_new (harness.client_endpoint, 20000);
    dtx_txn_t *txn = dtx_begin (own, 20000);
    s_insert_item (txn, 0, 2209);
    s_insert_item (txn, 1, 2209);
    snprintf (gid, DTX_GID_MAX + 1, "%s", dtx_txn_gid (txn));
    dtx_outcome_t outcome = dtx_commit (txn);
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&own);
    return (void *) (intptr_t) outcome;
}

START_TEST (test_resolve_meets_logging)
{
    harness_kill_coordinator (SIGTERM);
    harness_start_coordinator_fault ("coord-hold-logging");
    ck_assert (harness_wait_ready (30000));
    char gid [DTX_GID_MAX + 1] = "";
    pthread_t thread;
    ck_assert_int_eq (pthread_create (&thread, NULL, s_commit_two, gid), 0);
    if (!s_wait_for (s_coordinator_logged, "fault point coord-hold-logging reached", 15000)) {
        char log [4096];
        harness_capture (log, sizeof log, "tail -n 12 %s/coordinator.log", harness.dir);
        ck_abort_msg ("the COMMIT record was never held (gid '%s'); coordinator log:\n%s", gid, log);
    }
    char out [4096];
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "resolve %s abort", gid), 1);
    ck_assert_msg (strstr (out, "being written"), "%s", out);
    void *outcome;
    pthread_join (thread, &outcome);
    ck_assert_int_eq ((int) (intptr_t) outcome, DTX_COMMITTED);
    ck_assert_int_eq (s_count_items (0, 2209) + s_count_items (1, 2209), 2);
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "show %s", gid), 0);
    ck_assert_msg (strstr (out, "committed"), "%s", out);
    //  A resolve that contradicts the log afterwards is refused too
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "resolve %s abort", gid), 1);
    ck_assert_msg (strstr (out, "refused"), "%s", out);
}
END_TEST

//  --------------------------------------------------------------------------
//  Hostile clients (security issue): someone else's gid, floods, bad ranges

//  A raw client connection speaking the protocol: one request, its reply
static dtx_proto_t *
s_raw_request (zsock_t *raw, int id, const char *gid, const char *database, const char *sql)
{
    dtx_proto_t *request = dtx_proto_new (id);
    dtx_proto_set_seq (request, 77);
    dtx_proto_set_gid (request, gid);
    if (database)
        dtx_proto_set_name (request, database);
    if (sql)
        dtx_proto_set_text (request, sql);
    dtx_proto_send (request, raw);
    dtx_proto_destroy (&request);
    zsock_set_rcvtimeo (raw, 5000);
    dtx_proto_t *reply = NULL;
    char err [256];
    if (dtx_proto_recv (&reply, raw, err, sizeof err))
        return NULL;
    return reply;
}

//  The refusal of a gid that is not the asker's
static void
s_assert_forbidden (dtx_proto_t *reply)
{
    ck_assert_ptr_nonnull (reply);
    ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_ERROR);
    ck_assert_int_eq (dtx_proto_status (reply), DTX_ERR_FORBIDDEN);
    ck_assert_msg (strstr (dtx_proto_text (reply), "no transaction of this client"), "%s",
                   dtx_proto_text (reply));
}

//  Someone else's gid: another client key is refused its requests and its
//  outcome, with the answer a gid never issued gets (gids are sequential:
//  a stranger must not learn which exist).  The same key on another
//  connection is the owner: a client that reconnects keeps its
//  transaction.  An operator key is told any outcome.
START_TEST (test_foreign_gid_refused)
{
    dtx_txn_t *txn = dtx_begin (client, 20000);
    s_insert_item (txn, 0, 2211);
    char gid [DTX_GID_MAX + 1], coordinator [DTX_NAME_MAX + 1], never [DTX_GID_MAX + 1];
    snprintf (gid, sizeof gid, "%s", dtx_txn_gid (txn));
    uint64_t epoch, counter;
    ck_assert_int_eq (dtx_gid_parse (gid, coordinator, &epoch, &counter), 0);
    dtx_gid_format (never, coordinator, epoch, counter + 1000000);
    zsock_t *stranger = (zsock_t *) harness_client_sock (harness.client_endpoint,
                                                         harness.other_client_secret);
    int ids [] = { DTX_PROTO_EXECUTE, DTX_PROTO_COMMIT, DTX_PROTO_ROLLBACK, DTX_PROTO_OUTCOME_QUERY };
    for (int i = 0; i < 4; i++) {
        dtx_proto_t *reply = s_raw_request (stranger, ids [i], gid, "db2",
                                            "INSERT INTO items (id, note) VALUES (2211, 'stranger')");
        s_assert_forbidden (reply);
        dtx_proto_destroy (&reply);
    }
    dtx_proto_t *reply = s_raw_request (stranger, DTX_PROTO_OUTCOME_QUERY, never, NULL, NULL);
    s_assert_forbidden (reply);
    dtx_proto_destroy (&reply);
    //  Its own key, another connection: the owner's statement runs there
    zsock_t *again = (zsock_t *) harness_client_sock (harness.client_endpoint, NULL);
    reply = s_raw_request (again, DTX_PROTO_EXECUTE, gid, "db2",
                           "INSERT INTO items (id, note) VALUES (2212, 'reconnected')");
    ck_assert_ptr_nonnull (reply);
    ck_assert_msg (dtx_proto_id (reply) == DTX_PROTO_RESULT, "%s", dtx_proto_text (reply));
    dtx_proto_destroy (&reply);
    zsock_destroy (&again);
    //  The owner's transaction is untouched by the stranger: it commits
    //  (from the first connection again), with its rows only
    s_insert_item (txn, 1, 2211);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (s_count_items (0, 2211), 1);
    ck_assert_int_eq (s_count_items (1, 2211), 1);
    ck_assert_int_eq (s_count_items (1, 2212), 1);
    //  Finished: still not the stranger's to know; the owner's and an
    //  operator's
    reply = s_raw_request (stranger, DTX_PROTO_OUTCOME_QUERY, gid, NULL, NULL);
    s_assert_forbidden (reply);
    dtx_proto_destroy (&reply);
    zsock_destroy (&stranger);
    ck_assert_int_eq (dtx_client_outcome (client, gid), DTX_COMMITTED);
    zsock_t *operator = (zsock_t *) harness_client_sock (harness.client_endpoint,
                                                         harness.operator_secret);
    reply = s_raw_request (operator, DTX_PROTO_OUTCOME_QUERY, gid, NULL, NULL);
    ck_assert_ptr_nonnull (reply);
    ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_OUTCOME);
    ck_assert_int_eq (dtx_proto_status (reply), DTX_COMMITTED);
    dtx_proto_destroy (&reply);
    zsock_destroy (&operator);
}
END_TEST

//  The owner of a two-database commit is in its COMMIT record: after a
//  restart, the stranger is still refused and the owner still told
START_TEST (test_owner_survives_restart)
{
    char coordinator_cert [512];
    snprintf (coordinator_cert, sizeof coordinator_cert, "%s", getenv ("DTX_COORDINATOR_CERT"));
    dtx_client_t *other = dtx_client_new_secure (harness.client_endpoint, 10000,
                                                 harness.other_client_secret, coordinator_cert);
    ck_assert_ptr_nonnull (other);
    dtx_txn_t *txn = dtx_begin (other, 10000);
    s_insert_item (txn, 0, 2215);
    s_insert_item (txn, 1, 2215);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    char gid [DTX_GID_MAX + 1];
    snprintf (gid, sizeof gid, "%s", dtx_txn_gid (txn));
    dtx_txn_destroy (&txn);
    //  and one it aborted (not logged: presumed abort)
    txn = dtx_begin (other, 10000);
    s_insert_item (txn, 0, 2216);
    ck_assert_int_eq (dtx_rollback (txn), DTX_ABORTED);
    char aborted [DTX_GID_MAX + 1];
    snprintf (aborted, sizeof aborted, "%s", dtx_txn_gid (txn));
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (dtx_client_outcome (client, gid), DTX_UNKNOWN);
    ck_assert_msg (strstr (dtx_client_error (client), "no transaction of this client"), "%s",
                   dtx_client_error (client));
    ck_assert_int_eq (dtx_client_outcome (client, aborted), DTX_UNKNOWN);
    ck_assert_msg (strstr (dtx_client_error (client), "no transaction of this client"), "%s",
                   dtx_client_error (client));

    harness_kill_coordinator (SIGKILL);
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (30000));
    ck_assert_int_eq (dtx_client_outcome (client, gid), DTX_UNKNOWN);
    ck_assert_msg (strstr (dtx_client_error (client), "no transaction of this client"), "%s",
                   dtx_client_error (client));
    ck_assert_int_eq (dtx_client_outcome (other, gid), DTX_COMMITTED);
    //  The abort's owner was not logged: after the restart it is told to
    //  any client key (docs/security.md), and still true
    ck_assert_int_eq (dtx_client_outcome (other, aborted), DTX_ABORTED);
    dtx_client_destroy (&other);
    ck_assert_int_eq (s_count_items (0, 2215), 1);
    ck_assert_int_eq (s_count_items (1, 2215), 1);
    ck_assert_int_eq (s_count_items (0, 2216), 0);
}
END_TEST

static bool
s_metrics_show_refusals (void *arg)
{
    char *text = s_scrape ();
    bool seen = s_metric (text, "dtx_refused_total{reason=\"client_txns_max\"} ") >= 1
             && s_metric (text, "dtx_refused_total{reason=\"timeout_range\"} ") >= 1;
    free (text);
    return seen;
}

START_TEST (test_begin_limits)
{
    //  A timeout past the limit (it used to wrap negative at 2^31)
    dtx_txn_t *txn = dtx_begin (client, 100000000);
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
    ck_assert (!dtx_result_ok (result));
    ck_assert_int_eq (dtx_result_errcode (result), DTX_ERR_BAD_REQUEST);
    ck_assert_msg (strstr (dtx_result_error (result), "above the limit"), "%s", dtx_result_error (result));
    dtx_result_destroy (&result);
    dtx_txn_destroy (&txn);
    //  A flood of BEGINs from one client (one key) stops at its limit
    //  (1000 live); other clients are not refused
    dtx_client_t *flood = dtx_client_new_secure (harness.client_endpoint, 10000,
                                                 harness.other_client_secret,
                                                 getenv ("DTX_COORDINATOR_CERT"));
    static dtx_txn_t *open [1000];
    for (int i = 0; i < 1000; i++) {
        open [i] = dtx_begin (flood, 3000);
        ck_assert_int_eq (dtx_send (open [i], "db1", "SELECT 1", 0, NULL), 0);
    }
    txn = dtx_begin (flood, 3000);
    result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
    ck_assert (!dtx_result_ok (result));
    ck_assert_int_eq (dtx_result_errcode (result), DTX_ERR_BUSY);
    ck_assert_msg (strstr (dtx_result_error (result), "client-txns-max"), "%s", dtx_result_error (result));
    dtx_result_destroy (&result);
    dtx_txn_destroy (&txn);
    dtx_txn_t *other = dtx_begin (client, 10000);
    s_insert_item (other, 0, 2212);
    ck_assert_int_eq (dtx_commit (other), DTX_COMMITTED);
    dtx_txn_destroy (&other);
    for (int i = 0; i < 1000; i++)
        dtx_txn_destroy (&open [i]);
    dtx_client_destroy (&flood);
    //  They time out; the refusals are counted
    ck_assert (s_wait_for (s_no_live_txns, NULL, 15000));
    ck_assert_msg (s_wait_for (s_metrics_show_refusals, NULL, 5000), "refusals not in the metrics");
}
END_TEST

//  A participant answering phase 2 with a reply of the wrong type (a VOTE
//  to COMMIT_PREPARED) used to clear the wait: its real answer was then
//  "stale" and the commit stayed unfinished for good.  The test plays a
//  participant named "fake" (a key on the allow-list, no database bound).
static void *
s_commit_with_fake (void *arg)
{
    dtx_client_t *own = dtx_client_new (harness.client_endpoint, 20000);
    dtx_txn_t *txn = dtx_begin (own, 20000);
    s_insert_item (txn, 0, 2213);
    dtx_send (txn, "fake", "SELECT 1", 0, NULL);
    dtx_outcome_t outcome = dtx_commit (txn);
    snprintf ((char *) arg, DTX_GID_MAX + 1, "%s", dtx_txn_gid (txn));
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&own);
    return (void *) (intptr_t) outcome;
}

//  The next request the coordinator sends the fake participant (its
//  heartbeat answers skipped); NULL after 5 s
static dtx_proto_t *
s_fake_next (zsock_t *fake)
{
    zsock_set_rcvtimeo (fake, 5000);
    while (true) {
        dtx_proto_t *msg = NULL;
        char err [256];
        if (dtx_proto_recv (&msg, fake, err, sizeof err))
            return NULL;
        if (dtx_proto_id (msg) != DTX_PROTO_REGISTER_OK)
            return msg;
        dtx_proto_destroy (&msg);
    }
}

static void
s_fake_reply (zsock_t *fake, int id, dtx_proto_t *request, int status)
{
    dtx_proto_t *reply = dtx_proto_new (id);
    dtx_proto_set_seq (reply, dtx_proto_seq (request));
    dtx_proto_set_gid (reply, dtx_proto_gid (request));
    dtx_proto_set_status (reply, (uint8_t) status);
    dtx_proto_send (reply, fake);
    dtx_proto_destroy (&reply);
}

START_TEST (test_wrong_type_reply_in_phase2)
{
    char out [4096], secret [512];
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s/dtxctl/dtxctl keygen fake --dir"
                                       " %s/participants", TOP_BUILDDIR, harness.keys_dir), 0);
    snprintf (secret, sizeof secret, "%s/participants/fake_secret", harness.keys_dir);
    zsock_t *fake = (zsock_t *) harness_client_sock (harness.participant_endpoint, secret);
    dtx_proto_t *hello = dtx_proto_new (DTX_PROTO_REGISTER);
    dtx_proto_set_seq (hello, 1);
    dtx_proto_set_name (hello, "fake");
    dtx_proto_send (hello, fake);
    dtx_proto_destroy (&hello);
    zsock_set_rcvtimeo (fake, 5000);
    dtx_proto_t *welcome = NULL;
    char err [256];
    ck_assert_int_eq (dtx_proto_recv (&welcome, fake, err, sizeof err), 0);
    ck_assert_int_eq (dtx_proto_id (welcome), DTX_PROTO_REGISTER_OK);
    dtx_proto_destroy (&welcome);

    char gid [DTX_GID_MAX + 1] = "";
    pthread_t thread;
    ck_assert_int_eq (pthread_create (&thread, NULL, s_commit_with_fake, gid), 0);
    //  The held statement comes with PREPARE: vote YES
    dtx_proto_t *request = s_fake_next (fake);
    ck_assert_ptr_nonnull (request);
    ck_assert_int_eq (dtx_proto_id (request), DTX_PROTO_EXECUTE);
    ck_assert (dtx_proto_flags (request) & DTX_EXEC_PREPARE);
    s_fake_reply (fake, DTX_PROTO_VOTE, request, DTX_VOTE_YES);
    dtx_proto_destroy (&request);
    //  COMMIT_PREPARED: first a reply of the wrong type, then the right one
    request = s_fake_next (fake);
    ck_assert_ptr_nonnull (request);
    ck_assert_int_eq (dtx_proto_id (request), DTX_PROTO_COMMIT_PREPARED);
    s_fake_reply (fake, DTX_PROTO_VOTE, request, DTX_VOTE_YES);
    s_fake_reply (fake, DTX_PROTO_DONE, request, DTX_DONE_OK);
    dtx_proto_destroy (&request);
    void *outcome;
    pthread_join (thread, &outcome);
    ck_assert_int_eq ((int) (intptr_t) outcome, DTX_COMMITTED);
    //  Finished: nothing left in doubt, the row is there, the reply counted
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "--json in-doubt"), 0);
    ck_assert_msg (strstr (out, "[]"), "%s", out);
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "show %s", gid), 0);
    ck_assert_msg (strstr (out, "committed"), "%s", out);
    ck_assert_int_eq (s_count_items (0, 2213), 1);
    zsock_destroy (&fake);
}
END_TEST

//  --------------------------------------------------------------------------
//  Several coordinator endpoints (docs/ha.md, "Clients")

//  A port of this run's block (the harness spreads runs by pid): offset 5
//  has nothing listening, 6 is for a coordinator moved to another endpoint
static int
s_port (int offset)
{
    const char *colon = strrchr (harness.client_endpoint, ':');
    ck_assert_ptr_nonnull (colon);
    return atoi (colon + 1) + offset;
}

//  One two-database transfer of item id, timed; asserts it committed
static int64_t
s_timed_commit (dtx_client_t *multi, int id)
{
    int64_t started = zclock_mono ();
    dtx_txn_t *txn = dtx_begin (multi, 10000);
    s_insert_item (txn, 0, id);
    s_insert_item (txn, 1, id);
    ck_assert_msg (dtx_commit (txn) == DTX_COMMITTED, "%d: %s", id, dtx_txn_error_message (txn));
    dtx_txn_destroy (&txn);
    int64_t took = zclock_mono () - started;
    ck_assert_int_eq (s_count_items (0, id), 1);
    ck_assert_int_eq (s_count_items (1, id), 1);
    return took;
}

//  The first endpoint has nothing listening: the first transaction pays
//  one timeout there and fails (never retried elsewhere); the next ones
//  begin on the live coordinator and pay nothing
START_TEST (test_endpoints_first_dead)
{
    char endpoints [300], dead [64];
    snprintf (dead, sizeof dead, "tcp://127.0.0.1:%d", s_port (5));
    snprintf (endpoints, sizeof endpoints, "%s,%s", dead, harness.client_endpoint);
    dtx_client_t *multi = dtx_client_new (endpoints, 2000);
    ck_assert_ptr_nonnull (multi);
    int64_t started = zclock_mono ();
    dtx_txn_t *txn = dtx_begin (multi, 10000);
    const char *params [] = { "2301", "dead" };
    dtx_result_t *result = dtx_exec (txn, "db1", "INSERT INTO items (id, note) VALUES ($1::int, $2)",
                                     2, params);
    ck_assert (!dtx_result_ok (result));
    ck_assert_int_eq (dtx_result_errcode (result), DTX_ERR_COORDINATOR);
    ck_assert_msg (strstr (dtx_result_error (result), dead), "%s", dtx_result_error (result));
    dtx_result_destroy (&result);
    ck_assert_int_ge (zclock_mono () - started, 2000);
    //  Its coordinator never answered: no COMMIT, certainly aborted, and
    //  nothing of it ran on the live one
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_int_eq (dtx_txn_errcode (txn), DTX_ERR_COORDINATOR);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (s_count_items (0, 2301), 0);
    //  The next five begin on the live coordinator: each well under one
    //  request timeout
    for (int i = 0; i < 5; i++) {
        int64_t took = s_timed_commit (multi, 2302 + i);
        ck_assert_msg (took < 1000, "commit %d took %" PRId64 " ms", i, took);
    }
    //  ... and their outcomes come from it too, at once
    started = zclock_mono ();
    txn = dtx_begin (multi, 10000);
    s_insert_item (txn, 2, 2307);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    ck_assert (strncmp (dtx_txn_gid (txn), "dtx:test:", 9) == 0);
    ck_assert_int_eq (dtx_client_outcome (multi, dtx_txn_gid (txn)), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_lt (zclock_mono () - started, 1000);
    dtx_client_destroy (&multi);
}
END_TEST

//  A dead endpoint after the live one changes nothing
START_TEST (test_endpoints_second_dead)
{
    char endpoints [300];
    snprintf (endpoints, sizeof endpoints, "%s, tcp://127.0.0.1:%d", harness.client_endpoint,
              s_port (5));
    dtx_client_t *multi = dtx_client_new (endpoints, 2000);
    ck_assert_ptr_nonnull (multi);
    const char *databases [] = { "db1", "db2", "db3" };
    ck_assert_msg (dtx_client_wait_ready (multi, databases, 3, 5000), "%s", dtx_client_error (multi));
    for (int i = 0; i < 5; i++) {
        int64_t took = s_timed_commit (multi, 2311 + i);
        ck_assert_msg (took < 1000, "commit %d took %" PRId64 " ms", i, took);
    }
    //  A statement error, a rollback and an outcome: as with one endpoint
    dtx_txn_t *txn = dtx_begin (multi, 10000);
    s_insert_item (txn, 0, 2316);
    dtx_result_t *result = dtx_exec (txn, "db2", "INSERT INTO no_such_table VALUES (1)", 0, NULL);
    ck_assert_int_eq (dtx_result_errcode (result), DTX_ERR_SQL);
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_str_eq (dtx_txn_error_sqlstate (txn), "42P01");
    int64_t started = zclock_mono ();
    ck_assert_int_eq (dtx_client_outcome (multi, dtx_txn_gid (txn)), DTX_ABORTED);
    ck_assert_int_lt (zclock_mono () - started, 1000);
    dtx_txn_destroy (&txn);
    txn = dtx_begin (multi, 10000);
    s_insert_item (txn, 0, 2317);
    ck_assert_int_eq (dtx_rollback (txn), DTX_ABORTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (s_count_items (0, 2316), 0);
    ck_assert_int_eq (s_count_items (0, 2317), 0);
    dtx_client_destroy (&multi);
}
END_TEST

//  An outcome asked through a client whose first endpoint is dead: the
//  dead one's silence is not an answer, the live one's is
START_TEST (test_endpoints_outcome_past_dead)
{
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 2321);
    s_insert_item (txn, 1, 2321);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    char committed [DTX_GID_MAX + 1], aborted [DTX_GID_MAX + 1];
    snprintf (committed, sizeof committed, "%s", dtx_txn_gid (txn));
    dtx_txn_destroy (&txn);
    txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 2322);
    ck_assert_int_eq (dtx_rollback (txn), DTX_ABORTED);
    snprintf (aborted, sizeof aborted, "%s", dtx_txn_gid (txn));
    dtx_txn_destroy (&txn);

    char endpoints [300], dead [64];
    snprintf (dead, sizeof dead, "tcp://127.0.0.1:%d", s_port (5));
    snprintf (endpoints, sizeof endpoints, "%s,%s", dead, harness.client_endpoint);
    dtx_client_t *multi = dtx_client_new (endpoints, 1000);
    ck_assert_ptr_nonnull (multi);
    int64_t started = zclock_mono ();
    ck_assert_msg (dtx_client_outcome (multi, committed) == DTX_COMMITTED, "%s",
                   dtx_client_error (multi));
    ck_assert_int_ge (zclock_mono () - started, 1000);       //  (the dead one was asked first)
    ck_assert_int_eq (s_count_items (0, 2321), 1);
    ck_assert_int_eq (s_count_items (1, 2321), 1);
    //  The dead one is passed by now
    started = zclock_mono ();
    ck_assert_int_eq (dtx_client_outcome (multi, aborted), DTX_ABORTED);
    ck_assert_int_lt (zclock_mono () - started, 1000);
    ck_assert_int_eq (s_count_items (0, 2322), 0);
    //  A final answer of the live one ("not yours": never issued) ends
    //  the search
    char shard [DTX_NAME_MAX + 1], never [DTX_GID_MAX + 1];
    uint64_t epoch, counter;
    ck_assert_int_eq (dtx_gid_parse (committed, shard, &epoch, &counter), 0);
    dtx_gid_format (never, shard, epoch, counter + 1000000);
    ck_assert_int_eq (dtx_client_outcome (multi, never), DTX_UNKNOWN);
    ck_assert_msg (strstr (dtx_client_error (multi), "no transaction of this client"), "%s",
                   dtx_client_error (multi));
    dtx_client_destroy (&multi);

    //  Nobody answers: UNKNOWN (never ABORTED), saying what each did, after
    //  one timeout per endpoint
    char dead2 [64];
    snprintf (dead2, sizeof dead2, "tcp://127.0.0.1:%d", s_port (6));
    snprintf (endpoints, sizeof endpoints, "%s,%s", dead, dead2);
    multi = dtx_client_new (endpoints, 300);
    ck_assert_ptr_nonnull (multi);
    started = zclock_mono ();
    ck_assert_int_eq (dtx_client_outcome (multi, committed), DTX_UNKNOWN);
    int64_t took = zclock_mono () - started;
    ck_assert_msg (took >= 600 && took < 2000, "took %" PRId64 " ms", took);
    const char *why = dtx_client_error (multi);
    ck_assert_msg (strstr (why, dead) && strstr (why, dead2) && strstr (why, "no reply"), "%s", why);
    dtx_client_destroy (&multi);
}
END_TEST

//  What dtx_client_new logs about a list, or "" when it accepts it
static char *
s_client_new_says (const char *endpoints, bool *accepted)
{
    char *text = NULL;
    size_t size = 0;
    FILE *log = open_memstream (&text, &size);
    ck_assert_ptr_nonnull (log);
    zsys_set_logstream (log);
    dtx_client_t *multi = dtx_client_new (endpoints, 1000);
    zsys_set_logstream (NULL);
    fclose (log);
    *accepted = multi != NULL;
    dtx_client_destroy (&multi);
    return text;
}

//  Refused by dtx_client_new (logged) and by dtx_client_endpoints_check,
//  both giving reason
static void
s_assert_refused (const char *endpoints, const char *reason)
{
    bool accepted;
    char *said = s_client_new_says (endpoints, &accepted);
    ck_assert_msg (!accepted, "'%s' was accepted", endpoints);
    ck_assert_msg (strstr (said, reason), "'%s': expected '%s', logged: %s", endpoints, reason, said);
    free (said);
    char why [512];
    ck_assert_int_eq (dtx_client_endpoints_check (endpoints, why, sizeof why), -1);
    ck_assert_msg (strstr (why, reason), "'%s': expected '%s', said: %s", endpoints, reason, why);
}

START_TEST (test_endpoints_list_errors)
{
    const char *a = "tcp://127.0.0.1:1", *b = "tcp://127.0.0.1:2";
    char list [1024];
    s_assert_refused ("", "item 1 is empty");
    snprintf (list, sizeof list, "%s,,%s", a, b);
    s_assert_refused (list, "item 2 is empty");
    snprintf (list, sizeof list, "%s, ", a);
    s_assert_refused (list, "item 2 is empty");
    snprintf (list, sizeof list, ",%s", a);
    s_assert_refused (list, "item 1 is empty");
    snprintf (list, sizeof list, "%s,%s, %s", a, b, a);
    s_assert_refused (list, "'tcp://127.0.0.1:1' is given twice (items 1 and 3)");
    snprintf (list, sizeof list, "%s,>%s", a, a);
    s_assert_refused (list, "given twice");
    snprintf (list, sizeof list, "%s,127.0.0.1:7100", a);
    s_assert_refused (list, "item 2 '127.0.0.1:7100' is not an endpoint");
    //  Eight are fine (sockets but the first are made when needed), nine not
    size_t used = 0;
    for (int i = 1; i <= 9; i++) {
        bool accepted;
        used += (size_t) snprintf (list + used, sizeof list - used, "%stcp://127.0.0.1:%d",
                                   i > 1? ",": "", i);
        char *said = s_client_new_says (list, &accepted);
        char why [512];
        ck_assert_int_eq (dtx_client_endpoints_check (list, why, sizeof why),
                          i <= DTX_ENDPOINTS_MAX? 0: -1);
        if (i <= DTX_ENDPOINTS_MAX)
            ck_assert_msg (accepted, "%d endpoints refused: %s", i, said);
        else {
            ck_assert (!accepted);
            ck_assert_msg (strstr (said, "more than 8 endpoints"), "%s", said);
        }
        free (said);
    }
    //  dtxctl says why
    char out [4096];
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s/dtxctl/dtxctl --coordinator '%s,%s,%s'"
                                       " run /dev/null", TOP_BUILDDIR, a, b, a), 3);
    ck_assert_msg (strstr (out, "is given twice"), "%s", out);
    //  One endpoint: refused as before when invalid
    bool accepted;
    free (s_client_new_says ("tcp://", &accepted));
    ck_assert (!accepted);
    free (s_client_new_says ("nonsense", &accepted));
    ck_assert (!accepted);
}
END_TEST

static bool
s_item_2332_gone (void *arg)
{
    return s_count_items (0, 2332) == 0;
}

//  A standby that binds another endpoint only when it takes the shard
//  over (here: the shard's coordinator restarted on the second endpoint
//  of the client's list, with its log).  The client loses the transaction
//  that was live on the dead one (never moved to the new one) and one
//  timeout; then it goes on with the new one, which also answers for the
//  dead one's commits
START_TEST (test_endpoints_standby_takes_over)
{
    char endpoints [300], standby [64];
    snprintf (standby, sizeof standby, "tcp://127.0.0.1:%d", s_port (6));
    snprintf (endpoints, sizeof endpoints, "%s,%s", harness.client_endpoint, standby);
    dtx_client_t *multi = dtx_client_new (endpoints, 2000);
    ck_assert_ptr_nonnull (multi);
    dtx_txn_t *txn = dtx_begin (multi, 10000);
    s_insert_item (txn, 0, 2331);
    s_insert_item (txn, 1, 2331);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    char before [DTX_GID_MAX + 1];
    snprintf (before, sizeof before, "%s", dtx_txn_gid (txn));
    dtx_txn_destroy (&txn);
    //  A transaction live on it when it dies
    dtx_txn_t *live = dtx_begin (multi, 30000);
    s_insert_item (live, 0, 2332);
    harness_kill_coordinator (SIGKILL);
    harness_coordinator_clients = standby;
    harness_start_coordinator ();
    const char *params [] = { "2332", "after the crash" };
    dtx_result_t *result = dtx_exec (live, "db2", "INSERT INTO items (id, note) VALUES ($1::int, $2)",
                                     2, params);
    ck_assert (!dtx_result_ok (result));
    ck_assert_int_eq (dtx_result_errcode (result), DTX_ERR_COORDINATOR);
    ck_assert_msg (strstr (dtx_result_error (result), harness.client_endpoint), "%s",
                   dtx_result_error (result));
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (live), DTX_ABORTED);
    dtx_txn_destroy (&live);
    //  The next transactions begin on the standby, once its participants
    //  are back (they reconnect to the same participant endpoint)
    const char *databases [] = { "db1", "db2", "db3" };
    int64_t started = zclock_mono ();
    ck_assert_msg (dtx_client_wait_ready (multi, databases, 3, 20000), "%s", dtx_client_error (multi));
    ck_assert_int_lt (zclock_mono () - started, 20000);
    for (int i = 0; i < 5; i++) {
        int64_t took = s_timed_commit (multi, 2333 + i);
        ck_assert_msg (took < 1000, "commit %d took %" PRId64 " ms", i, took);
    }
    //  The dead one's commit, answered by the standby, which issues gids
    //  of that shard now: asked first, no timeout paid
    started = zclock_mono ();
    ck_assert_msg (dtx_client_outcome (multi, before) == DTX_COMMITTED, "%s",
                   dtx_client_error (multi));
    ck_assert_int_lt (zclock_mono () - started, 1000);
    ck_assert_int_eq (s_count_items (0, 2331), 1);
    ck_assert_int_eq (s_count_items (1, 2331), 1);
    //  What the lost transaction wrote is rolled back, on db2 never run
    ck_assert (s_wait_for (s_item_2332_gone, NULL, 15000));
    ck_assert_int_eq (s_count_items (1, 2332), 0);
    dtx_client_destroy (&multi);
    //  The harness's coordinator where it was, for the next cases
    harness_kill_coordinator (SIGTERM);
    harness_coordinator_clients = NULL;
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (30000));
}
END_TEST

//  "Not mine, ask X" (DTX_ERR_NOT_OWNER).  Today's coordinator does not
//  send it yet (one coordinator per shard, its gids only), so a scripted
//  peer speaking the protocol on the first endpoint plays a coordinator
//  of another shard; the second endpoint has nothing listening; the third
//  is the real coordinator, which the "not mine" names
typedef struct {
    const char *endpoints;
    const char *gid;
    dtx_outcome_t outcome;
    char error [1024];
    int64_t took;
} ask_t;

static void *
s_ask_outcome (void *arg)
{
    ask_t *ask = (ask_t *) arg;
    dtx_client_t *multi = dtx_client_new (ask->endpoints, 1500);
    int64_t started = zclock_mono ();
    ask->outcome = multi? dtx_client_outcome (multi, ask->gid): DTX_UNKNOWN;
    ask->took = zclock_mono () - started;
    snprintf (ask->error, sizeof ask->error, "%s", multi? dtx_client_error (multi): "no client");
    dtx_client_destroy (&multi);
    return NULL;
}

//  Answer the next OUTCOME_QUERY on the scripted coordinator with message
//  id, status, flags and text
static void
s_scripted_answer (zsock_t *scripted, const char *gid, int id, int status, int flags,
                   const char *text)
{
    zsock_set_rcvtimeo (scripted, 5000);
    dtx_proto_t *query = NULL;
    char err [256];
    ck_assert_int_eq (dtx_proto_recv (&query, scripted, err, sizeof err), 0);
    ck_assert_int_eq (dtx_proto_id (query), DTX_PROTO_OUTCOME_QUERY);
    ck_assert_str_eq (dtx_proto_gid (query), gid);
    dtx_proto_t *reply = dtx_proto_new (id);
    dtx_proto_set_seq (reply, dtx_proto_seq (query));
    dtx_proto_set_gid (reply, gid);
    dtx_proto_set_status (reply, (uint8_t) status);
    dtx_proto_set_flags (reply, (uint8_t) flags);
    dtx_proto_set_text (reply, text);
    dtx_proto_set_routing_id (reply, dtx_proto_routing_id (query));
    ck_assert_int_eq (dtx_proto_send (reply, scripted), 0);
    dtx_proto_destroy (&reply);
    dtx_proto_destroy (&query);
}

START_TEST (test_endpoints_not_owner)
{
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert_item (txn, 0, 2341);
    s_insert_item (txn, 1, 2341);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    char gid [DTX_GID_MAX + 1];
    snprintf (gid, sizeof gid, "%s", dtx_txn_gid (txn));
    dtx_txn_destroy (&txn);

    char scripted_endpoint [64], dead [64], endpoints [300], not_mine [300];
    snprintf (scripted_endpoint, sizeof scripted_endpoint, "tcp://127.0.0.1:%d", s_port (6));
    snprintf (dead, sizeof dead, "tcp://127.0.0.1:%d", s_port (5));
    snprintf (endpoints, sizeof endpoints, "%s,%s,%s", scripted_endpoint, dead,
              harness.client_endpoint);
    snprintf (not_mine, sizeof not_mine, "not mine: shard test is held by %s",
              harness.client_endpoint);
    zsock_t *scripted = (zsock_t *) harness_coordinator_sock (scripted_endpoint);
    ck_assert_ptr_nonnull (scripted);

    //  OUTCOME unknown, "not mine, ask X": X next (the dead one skipped,
    //  no timeout paid), and its exact answer returned
    ask_t ask = { endpoints, gid, DTX_UNKNOWN, "", 0 };
    pthread_t thread;
    ck_assert_int_eq (pthread_create (&thread, NULL, s_ask_outcome, &ask), 0);
    s_scripted_answer (scripted, gid, DTX_PROTO_OUTCOME, DTX_UNKNOWN, DTX_ERR_NOT_OWNER, not_mine);
    pthread_join (thread, NULL);
    ck_assert_msg (ask.outcome == DTX_COMMITTED, "%s: %s", dtx_outcome_name (ask.outcome), ask.error);
    ck_assert_msg (ask.took < 1500, "took %" PRId64 " ms", ask.took);

    //  ERROR "not mine" naming nobody: the others in turn (the dead one's
    //  timeout, then the real one)
    ck_assert_int_eq (pthread_create (&thread, NULL, s_ask_outcome, &ask), 0);
    s_scripted_answer (scripted, gid, DTX_PROTO_ERROR, DTX_ERR_NOT_OWNER, 0, "not mine, ask shard test");
    pthread_join (thread, NULL);
    ck_assert_msg (ask.outcome == DTX_COMMITTED, "%s: %s", dtx_outcome_name (ask.outcome), ask.error);
    ck_assert_msg (ask.took >= 1500, "took %" PRId64 " ms", ask.took);

    //  A final word from the first ("not yours"): nobody else is asked
    ck_assert_int_eq (pthread_create (&thread, NULL, s_ask_outcome, &ask), 0);
    s_scripted_answer (scripted, gid, DTX_PROTO_ERROR, DTX_ERR_FORBIDDEN, 0, "not yours, scripted");
    pthread_join (thread, NULL);
    ck_assert_int_eq (ask.outcome, DTX_UNKNOWN);
    ck_assert_msg (streq (ask.error, "not yours, scripted"), "%s", ask.error);

    //  "Cannot say now" (DTX_ERR_COORDINATOR) from the first, silence from
    //  the second: UNKNOWN, naming both and what each did
    snprintf (endpoints, sizeof endpoints, "%s,%s", scripted_endpoint, dead);
    ck_assert_int_eq (pthread_create (&thread, NULL, s_ask_outcome, &ask), 0);
    s_scripted_answer (scripted, gid, DTX_PROTO_OUTCOME, DTX_UNKNOWN, DTX_ERR_COORDINATOR,
                       "store unreachable, scripted");
    pthread_join (thread, NULL);
    ck_assert_int_eq (ask.outcome, DTX_UNKNOWN);
    ck_assert_msg (strstr (ask.error, scripted_endpoint) && strstr (ask.error, "store unreachable, scripted")
                   && strstr (ask.error, dead) && strstr (ask.error, "no reply"), "%s", ask.error);
    zsock_destroy (&scripted);
}
END_TEST

Suite *
suite_integration (void)
{
    Suite *suite = suite_create ("integration");
    TCase *tc = tcase_create ("core");
    tcase_add_unchecked_fixture (tc, s_suite_setup, harness_stop);
    tcase_add_checked_fixture (tc, s_case_setup, s_case_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_commit_two_databases);
    tcase_add_test (tc, test_commit_three_databases_with_rows);
    tcase_add_test (tc, test_statement_error_changes_nothing);
    tcase_add_test (tc, test_no_vote_aborts_everywhere);
    tcase_add_test (tc, test_client_rollback);
    tcase_add_test (tc, test_transaction_timeout);
    tcase_add_test (tc, test_unknown_database);
    tcase_add_test (tc, test_one_database_one_phase);
    tcase_add_test (tc, test_read_only_branch);
    tcase_add_test (tc, test_bad_input_keeps_serving);
    tcase_add_test (tc, test_client_disconnect_releases_sessions);
    tcase_add_test (tc, test_concurrent_transfers_conserve_total);
    tcase_add_test (tc, test_participant_lost_before_vote);
    tcase_add_test (tc, test_startup_refusals);
    tcase_add_test (tc, test_metrics_endpoint);
    tcase_add_test (tc, test_dtxctl_json);
    tcase_add_test (tc, test_sighup_reopens_log);
    tcase_add_test (tc, test_one_phase_lost_answer);
    tcase_add_test (tc, test_timeout_cancels_running_statement);
    tcase_add_test (tc, test_deferred_statements);
    tcase_add_test (tc, test_deferred_failures_abort);
    tcase_add_test (tc, test_one_phase_commit_participant_gone);
    tcase_add_test (tc, test_no_unknown_without_gid);
    tcase_add_test (tc, test_abort_with_database_down);
    tcase_add_test (tc, test_second_coordinator_refused);
    tcase_add_test (tc, test_shutdown_refusal_is_retryable);
    tcase_add_test (tc, test_one_phase_answers_after_restart);
    tcase_add_test (tc, test_participant_name_taken_is_refused);
    tcase_add_test (tc, test_resolve_meets_logging);
    tcase_add_test (tc, test_foreign_gid_refused);
    tcase_add_test (tc, test_owner_survives_restart);
    tcase_add_test (tc, test_begin_limits);
    tcase_add_test (tc, test_wrong_type_reply_in_phase2);
    tcase_add_test (tc, test_endpoints_first_dead);
    tcase_add_test (tc, test_endpoints_second_dead);
    tcase_add_test (tc, test_endpoints_outcome_past_dead);
    tcase_add_test (tc, test_endpoints_list_errors);
    tcase_add_test (tc, test_endpoints_standby_takes_over);
    tcase_add_test (tc, test_endpoints_not_owner);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return harness_run (suite_integration ());
}
