/*  test_slow - a statement that runs longer than the client's request
    timeout is not a dead coordinator: the coordinator reports progress
    (WORKING, docs/protocol.md) and libdtx waits on, up to the
    transaction's deadline; a stopped coordinator is still "unreachable"
    within the request timeout.  Real clusters, coordinator, participants
    (tests/testutil.h).  Every case ends by asserting that
    pg_prepared_xacts holds no dtx gid. */
#ifdef HAVE_CONFIG_H
#   include "config.h"
#endif
#include "testutil.h"
#include "dtx.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include <czmq.h>
#include <pthread.h>
#include <signal.h>

//  The client's request timeout in every case: far shorter than the
//  statements
#define REQUEST_MS 1000

static dtx_client_t *client;

static void
s_case_setup (void)
{
    client = harness_case_client (REQUEST_MS);
}

static void
s_case_teardown (void)
{
    harness_case_client_end (&client);
}

static void
s_suite_setup (void)
{
    harness_start (2);
}

//  Statements still sleeping on cluster index
static long long
s_sleeping (int index)
{
    return harness_pg_value (index, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE"
                                    " 'SELECT%pg_sleep%' AND state = 'active' AND pid <> pg_backend_pid ()");
}

static bool
s_none_sleeping (int index, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (s_sleeping (index) != 0) {
        if (zclock_mono () > deadline)
            return false;
        zclock_sleep (100);
    }
    return true;
}

//  Three times the request timeout: the row comes, not "unreachable"
START_TEST (test_slow_statement_gets_its_row)
{
    dtx_txn_t *txn = dtx_begin (client, 20000);
    int64_t start = zclock_mono ();
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 42 AS answer FROM pg_sleep (3)", 0, NULL);
    int64_t took = zclock_mono () - start;
    ck_assert_msg (dtx_result_ok (result), "slow statement failed after %" PRId64 " ms: %s (%s)",
                   took, dtx_result_error (result),
                   dtx_errcode_name (dtx_result_errcode (result)));
    ck_assert_int_eq (dtx_result_ntuples (result), 1);
    ck_assert_str_eq (dtx_result_value (result, 0, 0), "42");
    ck_assert_int_ge (took, 2900);
    dtx_result_destroy (&result);
    //  The transaction goes on as usual: a fast statement, a commit
    result = dtx_exec (txn, "db2", "SELECT 1", 0, NULL);
    ck_assert (dtx_result_ok (result));
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
}
END_TEST

//  A slow PREPARE round (the last deferred statement goes with PREPARE):
//  the COMMIT's wait outlasts the request timeout, and it commits
START_TEST (test_slow_prepare_commits)
{
    dtx_txn_t *txn = dtx_begin (client, 20000);
    dtx_result_t *result = dtx_exec (txn, "db2", "SELECT 1", 0, NULL);
    ck_assert (dtx_result_ok (result));
    dtx_result_destroy (&result);
    //  (under the harness's 3 s vote timeout)
    ck_assert_int_eq (dtx_send (txn, "db1", "SELECT pg_sleep (1.8)", 0, NULL), 0);
    int64_t start = zclock_mono ();
    dtx_outcome_t outcome = dtx_commit (txn);
    ck_assert_msg (outcome == DTX_COMMITTED, "commit said %s after %" PRId64 " ms: %s",
                   dtx_outcome_name (outcome), zclock_mono () - start, dtx_txn_error_message (txn));
    ck_assert_int_ge (zclock_mono () - start, 1700);
    dtx_txn_destroy (&txn);
}
END_TEST

//  Longer than the transaction's timeout: a timeout naming the statement
//  and its database, soon after the deadline; never "unreachable"
START_TEST (test_statement_past_txn_timeout)
{
    dtx_txn_t *txn = dtx_begin (client, 2500);
    int64_t start = zclock_mono ();
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT pg_sleep (10)", 0, NULL);
    int64_t took = zclock_mono () - start;
    ck_assert (!dtx_result_ok (result));
    ck_assert_msg (dtx_result_errcode (result) == DTX_ERR_TIMEOUT, "%s: %s",
                   dtx_errcode_name (dtx_result_errcode (result)), dtx_result_error (result));
    ck_assert_msg (strstr (dtx_result_error (result), "still running on db1"), "%s",
                   dtx_result_error (result));
    ck_assert_int_ge (took, 2400);
    ck_assert_int_lt (took, 2500 + REQUEST_MS + 2000);
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_int_eq (dtx_txn_errcode (txn), DTX_ERR_TIMEOUT);
    ck_assert_str_eq (dtx_txn_error_database (txn), "db1");
    dtx_txn_destroy (&txn);
    //  And it was cancelled there
    ck_assert (s_none_sleeping (0, 5000));
}
END_TEST

static void *
s_stop_later (void *arg)
{
    zclock_sleep (1500);
    kill (*(pid_t *) arg, SIGSTOP);
    return NULL;
}

//  The coordinator stops (SIGSTOP) while the statement runs: no more
//  progress reports, and "unreachable" one request timeout after the
//  last one, not when the statement would have ended.  Stopped before
//  the request: "unreachable" after one request timeout.
START_TEST (test_stopped_coordinator_unreachable)
{
    pid_t coordinator = harness_coordinator_pid ();
    dtx_txn_t *txn = dtx_begin (client, 20000);
    pthread_t thread;
    pthread_create (&thread, NULL, s_stop_later, &coordinator);
    int64_t start = zclock_mono ();
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT pg_sleep (8)", 0, NULL);
    int64_t took = zclock_mono () - start;
    pthread_join (thread, NULL);
    ck_assert (harness_wait_stopped (coordinator, 2000));
    ck_assert (!dtx_result_ok (result));
    ck_assert_msg (dtx_result_errcode (result) == DTX_ERR_COORDINATOR, "%s: %s",
                   dtx_errcode_name (dtx_result_errcode (result)), dtx_result_error (result));
    //  It had reported progress before it stopped
    ck_assert_msg (strstr (dtx_result_error (result), "statement running on db1"), "%s",
                   dtx_result_error (result));
    ck_assert_int_ge (took, 1500);
    ck_assert_int_lt (took, 1500 + REQUEST_MS + 1500);
    dtx_result_destroy (&result);

    //  Stopped all along: the first request times out as ever
    dtx_txn_t *other = dtx_begin (client, 20000);
    start = zclock_mono ();
    result = dtx_exec (other, "db2", "SELECT 1", 0, NULL);
    took = zclock_mono () - start;
    ck_assert_int_eq (dtx_result_errcode (result), DTX_ERR_COORDINATOR);
    ck_assert_int_ge (took, REQUEST_MS - 50);
    ck_assert_int_lt (took, REQUEST_MS + 1500);
    dtx_result_destroy (&result);
    dtx_txn_destroy (&other);

    ck_assert_int_eq (kill (coordinator, SIGCONT), 0);
    //  The gid came with the progress reports: the rollback names it
    ck_assert_str_ne (dtx_txn_gid (txn), "");
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    dtx_txn_destroy (&txn);
    ck_assert (s_none_sleeping (0, 10000));
}
END_TEST

//  A participant that stops mid-statement: the coordinator says so
//  (WORKING "silent") and ends the wait with the participant's loss
//  (DTX_ERR_PARTICIPANT), not the client with "unreachable"
START_TEST (test_stopped_participant_is_not_the_coordinator)
{
    pid_t participant = harness_participant_pid (0);
    dtx_txn_t *txn = dtx_begin (client, 30000);
    ck_assert_int_eq (kill (participant, SIGSTOP), 0);
    ck_assert (harness_wait_stopped (participant, 2000));
    int64_t start = zclock_mono ();
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
    int64_t took = zclock_mono () - start;
    ck_assert_int_eq (kill (participant, SIGCONT), 0);
    ck_assert (!dtx_result_ok (result));
    ck_assert_msg (dtx_result_errcode (result) == DTX_ERR_PARTICIPANT, "%s after %" PRId64 " ms: %s",
                   dtx_errcode_name (dtx_result_errcode (result)), took, dtx_result_error (result));
    //  (the coordinator's participant timeout, 5 s, from its last heartbeat)
    ck_assert_int_lt (took, 5000 + 2000);
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    dtx_txn_destroy (&txn);
    ck_assert (harness_wait_participant (0, true, 15000));
    ck_assert (harness_wait_ready (15000));
}
END_TEST

//  A participant that stops before voting: the COMMIT's wait outlasts the
//  request timeout (vote timeout, then the rollback waits for the silent
//  participant until it is lost) on the coordinator's reports, and ends
//  with the outcome, aborted, not "unreachable" and unknown
START_TEST (test_silent_voter_aborts_not_unknown)
{
    dtx_txn_t *txn = dtx_begin (client, 30000);
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
    ck_assert (dtx_result_ok (result));
    dtx_result_destroy (&result);
    result = dtx_exec (txn, "db2", "SELECT 1", 0, NULL);
    ck_assert (dtx_result_ok (result));
    dtx_result_destroy (&result);
    pid_t participant = harness_participant_pid (1);
    ck_assert_int_eq (kill (participant, SIGSTOP), 0);
    ck_assert (harness_wait_stopped (participant, 2000));
    int64_t start = zclock_mono ();
    dtx_outcome_t outcome = dtx_commit (txn);
    int64_t took = zclock_mono () - start;
    ck_assert_int_eq (kill (participant, SIGCONT), 0);
    ck_assert_msg (outcome == DTX_ABORTED, "commit said %s after %" PRId64 " ms: %s (%s)",
                   dtx_outcome_name (outcome), took, dtx_txn_error_message (txn),
                   dtx_errcode_name (dtx_txn_errcode (txn)));
    ck_assert_int_ne (dtx_txn_errcode (txn), DTX_ERR_COORDINATOR);
    ck_assert_int_gt (took, REQUEST_MS);
    dtx_txn_destroy (&txn);
    ck_assert (harness_wait_participant (1, true, 15000));
    ck_assert (harness_wait_ready (15000));
}
END_TEST

//  On the wire: WORKING for the request's seq, with its gid, database,
//  what it waits for, at most one per interval; none for a client that
//  did not ask (flags bits 4-7 zero: what older clients send)
static dtx_proto_t *
s_recv (zsock_t *sock)
{
    dtx_proto_t *msg = NULL;
    char err [256];
    zsock_set_rcvtimeo (sock, 10000);
    int rc = dtx_proto_recv (&msg, sock, err, sizeof err);
    ck_assert_msg (rc == 0, "no message (%d): %s", rc, err);
    return msg;
}

static void
s_send (zsock_t *sock, dtx_proto_t **msg_p)
{
    ck_assert_int_eq (dtx_proto_send (*msg_p, sock), 0);
    dtx_proto_destroy (msg_p);
}

START_TEST (test_working_on_the_wire)
{
    zsock_t *raw = (zsock_t *) harness_client_sock (harness.client_endpoint, NULL);
    dtx_proto_t *msg = dtx_proto_new (DTX_PROTO_BEGIN);
    dtx_proto_set_seq (msg, 1);
    dtx_proto_set_timeout (msg, 20000);
    dtx_proto_set_flags (msg, DTX_BEGIN_QUIET);
    s_send (raw, &msg);
    //  Every 200 ms
    msg = dtx_proto_new (DTX_PROTO_EXECUTE);
    dtx_proto_set_seq (msg, 2);
    dtx_proto_set_name (msg, "db1");
    dtx_proto_set_flags (msg, 2 << DTX_PROGRESS_SHIFT);
    dtx_proto_set_text (msg, "SELECT pg_sleep (1.5)");
    int64_t start = zclock_mono ();
    s_send (raw, &msg);
    int working = 0;
    char gid [DTX_GID_MAX + 1] = "";
    while (true) {
        msg = s_recv (raw);
        if (dtx_proto_id (msg) != DTX_PROTO_WORKING)
            break;
        ck_assert_uint_eq (dtx_proto_seq (msg), 2);
        ck_assert_int_eq (dtx_proto_status (msg), DTX_WORKING_RUNNING);
        ck_assert_str_eq (dtx_proto_name (msg), "db1");
        ck_assert_msg (strstr (dtx_proto_text (msg), "statement running on db1 for"), "%s",
                       dtx_proto_text (msg));
        ck_assert_uint_gt (dtx_proto_timeout (msg), 0);
        ck_assert_uint_le (dtx_proto_timeout (msg), 20000);
        ck_assert_uint_ge (dtx_proto_affected (msg), 190);
        ck_assert (strncmp (dtx_proto_gid (msg), "dtx:", 4) == 0);
        snprintf (gid, sizeof gid, "%s", dtx_proto_gid (msg));
        working++;
        dtx_proto_destroy (&msg);
    }
    int64_t took = zclock_mono () - start;
    ck_assert_int_eq (dtx_proto_id (msg), DTX_PROTO_RESULT);
    ck_assert_uint_eq (dtx_proto_seq (msg), 2);
    ck_assert_str_eq (dtx_proto_gid (msg), gid);
    dtx_proto_destroy (&msg);
    //  At most one per 200 ms interval; several came
    ck_assert_int_le (working, took / 200);
    ck_assert_int_ge (working, 3);

    //  Not asked for: none, however long it takes
    msg = dtx_proto_new (DTX_PROTO_EXECUTE);
    dtx_proto_set_seq (msg, 3);
    dtx_proto_set_gid (msg, gid);
    dtx_proto_set_name (msg, "db1");
    dtx_proto_set_text (msg, "SELECT pg_sleep (0.8)");
    s_send (raw, &msg);
    msg = s_recv (raw);
    ck_assert_str_eq (dtx_proto_command (msg), "RESULT");
    ck_assert_uint_eq (dtx_proto_seq (msg), 3);
    dtx_proto_destroy (&msg);

    //  A fast one with the bits: its answer, nothing else
    msg = dtx_proto_new (DTX_PROTO_EXECUTE);
    dtx_proto_set_seq (msg, 4);
    dtx_proto_set_gid (msg, gid);
    dtx_proto_set_name (msg, "db1");
    dtx_proto_set_flags (msg, 2 << DTX_PROGRESS_SHIFT);
    dtx_proto_set_text (msg, "SELECT 1");
    s_send (raw, &msg);
    msg = s_recv (raw);
    ck_assert_str_eq (dtx_proto_command (msg), "RESULT");
    dtx_proto_destroy (&msg);
    msg = dtx_proto_new (DTX_PROTO_ROLLBACK);
    dtx_proto_set_seq (msg, 5);
    dtx_proto_set_gid (msg, gid);
    s_send (raw, &msg);
    msg = s_recv (raw);
    ck_assert_str_eq (dtx_proto_command (msg), "OUTCOME");
    ck_assert_uint_eq (dtx_proto_seq (msg), 5);
    dtx_proto_destroy (&msg);
    //  Nothing late (no WORKING for an answered request)
    zclock_sleep (500);
    zsock_set_rcvtimeo (raw, 0);
    char err [256];
    ck_assert_int_eq (dtx_proto_recv (&msg, raw, err, sizeof err), -1);
    zsock_destroy (&raw);
}
END_TEST

//  libdtx's side against a scripted coordinator (a ROUTER in this test,
//  the client in a thread): reports that never end stop at the
//  transaction's deadline (DTX_ERR_TIMEOUT naming the statement); reports
//  that stop are a silent coordinator one request timeout later
typedef struct {
    char endpoint [64];
    int txn_timeout_ms;
    dtx_errcode_t errcode;
    char error [1024];
    char gid [DTX_GID_MAX + 1];
    int64_t took;
    volatile bool done;
} slow_exec_t;

static void *
s_exec_slow (void *arg)
{
    slow_exec_t *run = (slow_exec_t *) arg;
    dtx_client_t *own = dtx_client_new (run->endpoint, REQUEST_MS);
    dtx_txn_t *txn = dtx_begin (own, run->txn_timeout_ms);
    int64_t start = zclock_mono ();
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT pg_sleep (60)", 0, NULL);
    run->took = zclock_mono () - start;
    run->errcode = dtx_result_errcode (result);
    snprintf (run->error, sizeof run->error, "%s", dtx_result_error (result));
    snprintf (run->gid, sizeof run->gid, "%s", dtx_txn_gid (txn));
    dtx_result_destroy (&result);
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&own);
    run->done = true;
    return NULL;
}

//  Play the coordinator: take the BEGIN and the EXECUTE, then report
//  progress every 300 ms (for stop_ms, 0: for ever), each stating
//  stated_ms - elapsed as the time left (0: none stated), until the
//  client's thread is done
static void
s_scripted_working (zsock_t *sock, slow_exec_t *run, int stop_ms, int stated_ms)
{
    zframe_t *client = NULL;
    uint32_t seq = 0;
    int64_t begun = 0, next = 0;
    int64_t give_up = zclock_mono () + 15000;
    zsock_set_rcvtimeo (sock, 50);
    while (!run->done && zclock_mono () < give_up) {
        dtx_proto_t *msg = NULL;
        char err [256];
        if (dtx_proto_recv (&msg, sock, err, sizeof err) == 0) {
            if (dtx_proto_id (msg) == DTX_PROTO_EXECUTE && !client) {
                ck_assert_int_ne (dtx_proto_flags (msg) & DTX_PROGRESS_MASK, 0);
                client = zframe_dup (dtx_proto_routing_id (msg));
                seq = dtx_proto_seq (msg);
                begun = zclock_mono ();
                next = begun + 300;
            }
            dtx_proto_destroy (&msg);
        }
        int64_t now = zclock_mono ();
        if (client && now >= next && (!stop_ms || now - begun < stop_ms)) {
            next += 300;
            dtx_proto_t *working = dtx_proto_new (DTX_PROTO_WORKING);
            dtx_proto_set_routing_id (working, client);
            dtx_proto_set_seq (working, seq);
            dtx_proto_set_gid (working, "dtx:scripted:1:1");
            dtx_proto_set_status (working, DTX_WORKING_RUNNING);
            dtx_proto_set_name (working, "db1");
            int64_t left = stated_ms - (now - begun);
            dtx_proto_set_timeout (working, stated_ms? (uint32_t) (left > 1? left: 1): 0);
            dtx_proto_set_affected (working, (uint64_t) (now - begun));
            dtx_proto_set_textf (working, "statement running on db1 for %.1f s", (now - begun) / 1000.0);
            dtx_proto_send (working, sock);     //  (fails once the client is gone)
            dtx_proto_destroy (&working);
        }
    }
    ck_assert (run->done);
    zframe_destroy (&client);
}

START_TEST (test_client_bounds_its_wait)
{
    const char *colon = strrchr (harness.client_endpoint, ':');
    ck_assert_ptr_nonnull (colon);
    slow_exec_t run = { .txn_timeout_ms = 2000 };
    snprintf (run.endpoint, sizeof run.endpoint, "tcp://127.0.0.1:%d", atoi (colon + 1) + 6);
    zsock_t *scripted = (zsock_t *) harness_coordinator_sock (run.endpoint);
    ck_assert_ptr_nonnull (scripted);
    pthread_t thread;

    //  Reports for ever, the transaction's timeout known to the client
    //  (2 s): its wait ends one request timeout past it
    ck_assert_int_eq (pthread_create (&thread, NULL, s_exec_slow, &run), 0);
    s_scripted_working (scripted, &run, 0, 0);
    pthread_join (thread, NULL);
    ck_assert_msg (run.errcode == DTX_ERR_TIMEOUT, "%s: %s", dtx_errcode_name (run.errcode), run.error);
    ck_assert_msg (strstr (run.error, "statement still running on db1 after"), "%s", run.error);
    ck_assert_int_ge (run.took, 2000 + REQUEST_MS - 100);
    ck_assert_int_lt (run.took, 2000 + REQUEST_MS + 1000);
    //  (the gid came with the reports)
    ck_assert_str_eq (run.gid, "dtx:scripted:1:1");

    //  The coordinator's default timeout (dtx_begin 0): the time left
    //  the reports state (1.8 s) bounds it
    run.txn_timeout_ms = 0;
    run.done = false;
    ck_assert_int_eq (pthread_create (&thread, NULL, s_exec_slow, &run), 0);
    s_scripted_working (scripted, &run, 0, 1800);
    pthread_join (thread, NULL);
    ck_assert_msg (run.errcode == DTX_ERR_TIMEOUT, "%s: %s", dtx_errcode_name (run.errcode), run.error);
    ck_assert_int_ge (run.took, 1800 + REQUEST_MS - 100);
    ck_assert_int_lt (run.took, 1800 + REQUEST_MS + 1000);

    //  Reports that stop after 1.2 s: unreachable a request timeout after
    //  the last, saying what it last reported
    run.txn_timeout_ms = 20000;
    run.done = false;
    ck_assert_int_eq (pthread_create (&thread, NULL, s_exec_slow, &run), 0);
    s_scripted_working (scripted, &run, 1200, 0);
    pthread_join (thread, NULL);
    ck_assert_msg (run.errcode == DTX_ERR_COORDINATOR, "%s: %s", dtx_errcode_name (run.errcode),
                   run.error);
    ck_assert_msg (strstr (run.error, "last progress report"), "%s", run.error);
    ck_assert_msg (strstr (run.error, "statement running on db1"), "%s", run.error);
    ck_assert_int_ge (run.took, 1200 + REQUEST_MS - 400);
    ck_assert_int_lt (run.took, 1200 + REQUEST_MS + 800);
    zsock_destroy (&scripted);
}
END_TEST

Suite *
suite_slow (void)
{
    Suite *suite = suite_create ("slow");
    TCase *tc = tcase_create ("core");
    tcase_add_unchecked_fixture (tc, s_suite_setup, harness_stop);
    tcase_add_checked_fixture (tc, s_case_setup, s_case_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_slow_statement_gets_its_row);
    tcase_add_test (tc, test_slow_prepare_commits);
    tcase_add_test (tc, test_statement_past_txn_timeout);
    tcase_add_test (tc, test_working_on_the_wire);
    tcase_add_test (tc, test_client_bounds_its_wait);
    tcase_add_test (tc, test_stopped_coordinator_unreachable);
    tcase_add_test (tc, test_stopped_participant_is_not_the_coordinator);
    tcase_add_test (tc, test_silent_voter_aborts_not_unknown);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return harness_run (suite_slow ());
}
