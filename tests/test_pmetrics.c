/*  test_pmetrics - the participant's Prometheus endpoint (--metrics):
    /metrics counts what a committed two-database transaction did on each
    participant, /health says 503 with the reason until the participant
    is registered and while its database is down, 200 when ready.  Real
    clusters, coordinator and participants (tests/testutil.c).  */
#ifdef HAVE_CONFIG_H
#   include "config.h"
#endif
#include "testutil.h"
#include "dtx.h"
#include <czmq.h>

//  The harness's participants serve metrics at harness.metrics_port +
//  PMETRICS + index; a participant of this suite's own at + 4, and the
//  coordinator endpoint nothing listens on at + 3.  All inside the
//  harness's block of ports (base + 4..8: with two databases, base + 4
//  is no cluster's), which it checked free
#define PMETRICS (-5)
#define PORT(index) (harness.metrics_port + PMETRICS + (index))

static dtx_client_t *client;

static void
s_suite_setup (void)
{
    harness_participant_metrics = PMETRICS;
    harness_start (2);
}

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

//  One series of participant index's (its db label filled in, after the
//  name: NAME{db="dbN",REST} or NAME{db="dbN"}), -1 if absent or nothing
//  answers
static double
s_value (int index, const char *name, const char *rest)
{
    char series [512];
    snprintf (series, sizeof series, "%s{db=\"%s\"%s%s} ", name, harness.db_name [index],
              rest? ",": "", rest? rest: "");
    char *text = harness_http_get (PORT (index), "/metrics");
    double value = harness_metric (text, series);
    free (text);
    return value;
}

//  Wait (polling, the snapshot is refreshed every 250 ms) until the series
//  is at least (or, exact: exactly) value; its last value
static double
s_wait_value (int index, const char *name, const char *rest, double value, bool exact,
              int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    double now = s_value (index, name, rest);
    while ((exact? now != value: now < value) && zclock_mono () < deadline) {
        zclock_sleep (100);
        now = s_value (index, name, rest);
    }
    return now;
}

//  Wait until /health on port answers with status (200 or 503) and a body
//  holding text; the last answer (caller frees), NULL if nothing answers
static char *
s_wait_health (int port, const char *status, const char *text, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        char *answer = harness_http_get (port, "/health");
        const char *body = answer? strstr (answer, "\r\n\r\n"): NULL;
        if ((answer && strstr (answer, status) && body && strstr (body, text))
        ||  zclock_mono () >= deadline)
            return answer;
        free (answer);
        zclock_sleep (100);
    }
}

static void
s_insert_item (dtx_txn_t *txn, int index, int id)
{
    char value [16];
    snprintf (value, sizeof value, "%d", id);
    const char *params [] = { value, dtx_txn_gid (txn) };
    dtx_result_t *result = dtx_exec (txn, harness.db_name [index],
                                     "INSERT INTO items (id, note) VALUES ($1::int, $2)", 2, params);
    ck_assert_msg (dtx_result_ok (result), "insert on %s failed: %s", harness.db_name [index],
                   dtx_result_error (result));
    dtx_result_destroy (&result);
}

//  A committed transaction on both databases moves each participant's
//  counters: one more PREPARE that prepared, round trips of PREPARE and
//  COMMIT PREPARED, statements; nothing stays prepared
START_TEST (test_pmetrics_commit)
{
    double prepared [2], rt_prepare [2], rt_commit [2], statements [2];
    for (int i = 0; i < 2; i++) {
        char *answer = s_wait_health (PORT (i), "200 OK", "ready\n", 20000);
        ck_assert_msg (answer && strstr (answer, "200 OK"), "%s: %s", harness.db_name [i],
                       answer? answer: "(nothing answers)");
        free (answer);
        prepared [i] = s_value (i, "dtx_participant_prepare_total", "result=\"prepared\"");
        rt_prepare [i] = s_value (i, "dtx_participant_pg_round_trip_seconds_count", "kind=\"prepare\"");
        rt_commit [i] = s_value (i, "dtx_participant_pg_round_trip_seconds_count",
                                 "kind=\"commit_prepared\"");
        statements [i] = s_value (i, "dtx_participant_statements_total", "result=\"ok\"");
        ck_assert_msg (prepared [i] >= 0 && rt_prepare [i] >= 0 && rt_commit [i] >= 0
                       && statements [i] >= 0, "%s: series missing", harness.db_name [i]);
    }
    dtx_txn_t *txn = dtx_begin (client, 10000);
    ck_assert_ptr_nonnull (txn);
    s_insert_item (txn, 0, 7001);
    s_insert_item (txn, 1, 7001);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    for (int i = 0; i < 2; i++) {
        const char *db = harness.db_name [i];
        //  Exactly one more: nothing else prepares here meanwhile
        double now = s_wait_value (i, "dtx_participant_prepare_total", "result=\"prepared\"",
                                   prepared [i] + 1, true, 5000);
        ck_assert_msg (now == prepared [i] + 1, "%s: PREPARE total %g, was %g", db, now, prepared [i]);
        ck_assert_double_eq (s_value (i, "dtx_participant_prepare_total", "result=\"failed\""), 0);
        now = s_wait_value (i, "dtx_participant_pg_round_trip_seconds_count", "kind=\"prepare\"",
                            rt_prepare [i] + 1, false, 5000);
        ck_assert_msg (now >= rt_prepare [i] + 1, "%s: PREPARE round trips %g, were %g", db, now,
                       rt_prepare [i]);
        //  Phase 2 may be acknowledged after the client has its answer
        now = s_wait_value (i, "dtx_participant_pg_round_trip_seconds_count",
                            "kind=\"commit_prepared\"", rt_commit [i] + 1, false, 5000);
        ck_assert_msg (now >= rt_commit [i] + 1, "%s: COMMIT PREPARED round trips %g, were %g", db,
                       now, rt_commit [i]);
        now = s_value (i, "dtx_participant_statements_total", "result=\"ok\"");
        ck_assert_msg (now >= statements [i] + 1, "%s: statements %g, were %g", db, now, statements [i]);
        now = s_wait_value (i, "dtx_participant_prepared", NULL, 0, true, 5000);
        ck_assert_msg (now == 0, "%s: %g still prepared after the commit", db, now);
        ck_assert_double_eq (s_value (i, "dtx_participant_in_doubt", NULL), 0);
        //  The protocol's cost: at least the statement-and-PREPARE and the
        //  COMMIT PREPARED in, and their answers out; the loop woke for them
        ck_assert_double_ge (s_value (i, "dtx_participant_messages_total", "direction=\"in\""), 2);
        ck_assert_double_ge (s_value (i, "dtx_participant_messages_total", "direction=\"out\""), 2);
        ck_assert_double_ge (s_value (i, "dtx_participant_loop_turns_total", NULL), 2);
        ck_assert_double_ge (s_value (i, "dtx_participant_pool_connections", NULL), 1);
        ck_assert_double_eq (s_value (i, "dtx_participant_pool_connections_max", NULL), 200);
        ck_assert_double_ge (s_value (i, "dtx_participant_pool_waits_total", NULL), 0);
        ck_assert_double_eq (s_value (i, "dtx_participant_database_up", NULL), 1);
        char coordinator [128];
        snprintf (coordinator, sizeof coordinator, "coordinator=\"%s\"", harness.participant_endpoint);
        ck_assert_double_eq (s_value (i, "dtx_participant_coordinator_connected", coordinator), 1);
        ck_assert_double_ge (s_value (i, "dtx_participant_coordinator_heartbeats_missed_total",
                                      coordinator), 0);
        ck_assert_double_ge (s_value (i, "dtx_participant_shard_epoch", "shard=\"test\""), 1);
        ck_assert_double_ge (s_value (i, "dtx_participant_in_doubt_resolutions_total",
                                      "outcome=\"committed\""), 0);
        char *text = harness_http_get (PORT (i), "/metrics");
        ck_assert_ptr_nonnull (text);
        ck_assert_msg (strstr (text, "200 OK") && strstr (text, "text/plain"), "%.300s", text);
        char expect [128];
        snprintf (expect, sizeof expect, "\ndtx_build_info{version=\"%s\",db=\"%s\"} 1\n",
                  PACKAGE_VERSION, db);
        ck_assert_msg (strstr (text, expect), "no %s in %.300s", expect, text);
        ck_assert (strstr (text, "# TYPE dtx_participant_pg_round_trip_seconds histogram\n"));
        ck_assert (strstr (text, "# TYPE dtx_participant_prepare_total counter\n"));
        free (text);
    }
}
END_TEST

//  A prepared transaction nobody drives (left by hand under the gid of a
//  transaction the coordinator rolled back): found by the participant's
//  scan, counted in doubt and prepared, resolved on the coordinator's
//  answer (rolled back), counted so
START_TEST (test_pmetrics_in_doubt_resolved)
{
    double rolled_back = s_value (0, "dtx_participant_in_doubt_resolutions_total",
                                  "outcome=\"rolled_back\"");
    ck_assert_double_ge (rolled_back, 0);
    dtx_txn_t *txn = dtx_begin (client, 10000);
    ck_assert_ptr_nonnull (txn);
    s_insert_item (txn, 0, 7101);
    char gid [64], sql [256];
    snprintf (gid, sizeof gid, "%s", dtx_txn_gid (txn));
    ck_assert_int_eq (dtx_rollback (txn), DTX_ABORTED);
    dtx_txn_destroy (&txn);
    snprintf (sql, sizeof sql, "BEGIN; INSERT INTO items (id, note) VALUES (7102, 'by hand');"
              " PREPARE TRANSACTION '%s'", gid);
    ck_assert_int_eq (harness_pg_exec (0, sql), 0);
    //  The scan runs every 10 s
    double now = s_wait_value (0, "dtx_participant_in_doubt_resolutions_total",
                               "outcome=\"rolled_back\"", rolled_back + 1, false, 25000);
    ck_assert_msg (now == rolled_back + 1, "%s: rolled back %g, were %g", gid, now, rolled_back);
    snprintf (sql, sizeof sql, "SELECT count(*) FROM pg_prepared_xacts WHERE gid = '%s'", gid);
    ck_assert_int_eq (harness_pg_value (0, sql), 0);
    ck_assert_double_eq (s_wait_value (0, "dtx_participant_in_doubt", NULL, 0, true, 5000), 0);
    ck_assert_double_eq (s_wait_value (0, "dtx_participant_prepared", NULL, 0, true, 5000), 0);
    ck_assert_double_ge (s_value (0, "dtx_participant_pg_round_trip_seconds_count",
                                  "kind=\"rollback\""), 1);
}
END_TEST

//  A prepared transaction of a shard no coordinator here serves: in
//  doubt and prepared, its answers counted unknown; ended by hand, it
//  leaves the prepared gauge and the in-doubt table at the next scan
//  (before, the scan only added gids, and the participant asked about a
//  gid that no longer existed every 5 s forever)
START_TEST (test_pmetrics_in_doubt_unknown)
{
    const char *unknown = "outcome=\"unknown\"";
    double before = s_value (0, "dtx_participant_in_doubt_resolutions_total", unknown);
    ck_assert_double_ge (before, 0);
    ck_assert_int_eq (harness_pg_exec (0, "BEGIN; INSERT INTO items (id, note) VALUES (7201, 'x');"
                                          " PREPARE TRANSACTION 'dtx:elsewhere:1:1'"), 0);
    double now = s_wait_value (0, "dtx_participant_in_doubt_resolutions_total", unknown,
                               before + 1, false, 25000);
    ck_assert_msg (now >= before + 1, "unknown answers %g, were %g", now, before);
    ck_assert_double_eq (s_value (0, "dtx_participant_in_doubt", NULL), 1);
    ck_assert_double_eq (s_value (0, "dtx_participant_prepared", NULL), 1);
    ck_assert_int_eq (harness_pg_exec (0, "ROLLBACK PREPARED 'dtx:elsewhere:1:1'"), 0);
    now = s_wait_value (0, "dtx_participant_prepared", NULL, 0, true, 25000);
    ck_assert_msg (now == 0, "still %g prepared after ROLLBACK PREPARED by hand", now);
    now = s_wait_value (0, "dtx_participant_in_doubt", NULL, 0, true, 25000);
    ck_assert_msg (now == 0, "still %g in doubt after ROLLBACK PREPARED by hand", now);
}
END_TEST

//  A participant that no coordinator has answered: 503, and why; its
//  link counted as not connected, its heartbeats as missed
START_TEST (test_pmetrics_health_not_registered)
{
    int port = PORT (4);
    pid_t pid = harness_spawn ("pmetrics-alone.log", "%s/participant/dtx-participant --name alone"
                               " --conninfo 'host=127.0.0.1 port=%d user=postgres dbname=postgres'"
                               " --coordinator tcp://127.0.0.1:%d --insecure --metrics 127.0.0.1:%d",
                               TOP_BUILDDIR, harness.pg_port [0], PORT (3), port);
    char *answer = s_wait_health (port, "503", "not registered with any coordinator", 20000);
    ck_assert_msg (answer && strstr (answer, "503 Service Unavailable")
                   && strstr (answer, "not registered with any coordinator"), "%s",
                   answer? answer: "(nothing answers)");
    free (answer);
    char series [128];
    snprintf (series, sizeof series, "dtx_participant_coordinator_connected{db=\"alone\","
              "coordinator=\"tcp://127.0.0.1:%d\"} ", PORT (3));
    char *text = harness_http_get (port, "/metrics");
    ck_assert_double_eq (harness_metric (text, series), 0);
    free (text);
    //  A heartbeat a second: the second and later are missed
    snprintf (series, sizeof series, "dtx_participant_coordinator_heartbeats_missed_total{db=\"alone\","
              "coordinator=\"tcp://127.0.0.1:%d\"} ", PORT (3));
    double missed = -1;
    int64_t deadline = zclock_mono () + 10000;
    while (missed < 1 && zclock_mono () < deadline) {
        zclock_sleep (200);
        text = harness_http_get (port, "/metrics");
        missed = harness_metric (text, series);
        free (text);
    }
    ck_assert_msg (missed >= 1, "heartbeats missed: %g", missed);
    harness_terminate (pid);
}
END_TEST

//  A bad --metrics address stops the participant at start, saying why
START_TEST (test_pmetrics_bad_address)
{
    char out [4096];
    int rc = harness_capture (out, sizeof out, "%s/participant/dtx-participant --name alone"
                              " --conninfo 'host=127.0.0.1 port=%d user=postgres dbname=postgres'"
                              " --insecure --metrics nowhere", TOP_BUILDDIR, harness.pg_port [0]);
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (out, "metrics address 'nowhere' is not HOST:PORT"), "%s", out);
}
END_TEST

//  The database down: 503 "database unreachable"; back: 200 again
START_TEST (test_pmetrics_health_database_down)
{
    char *answer = s_wait_health (PORT (1), "200 OK", "ready\n", 20000);
    ck_assert_msg (answer && strstr (answer, "200 OK"), "%s", answer? answer: "(nothing answers)");
    free (answer);
    harness_pg_stop_immediate (1);
    //  Seen at the participant's next use of the database, its scan for
    //  prepared transactions at the latest (every 10 s)
    answer = s_wait_health (PORT (1), "503", "database unreachable", 30000);
    ck_assert_msg (answer && strstr (answer, "503 Service Unavailable")
                   && strstr (answer, "database unreachable"), "%s", answer? answer: "(nothing answers)");
    free (answer);
    ck_assert_double_eq (s_value (1, "dtx_participant_database_up", NULL), 0);
    //  The other participant is not concerned
    answer = harness_http_get (PORT (0), "/health");
    ck_assert_msg (answer && strstr (answer, "200 OK"), "%s", answer? answer: "(nothing answers)");
    free (answer);
    harness_pg_start (1);
    answer = s_wait_health (PORT (1), "200 OK", "ready\n", 60000);
    ck_assert_msg (answer && strstr (answer, "200 OK"), "%s", answer? answer: "(nothing answers)");
    free (answer);
    ck_assert (harness_wait_ready (30000));
}
END_TEST

Suite *
suite_pmetrics (void)
{
    Suite *suite = suite_create ("pmetrics");
    TCase *tc = tcase_create ("system");
    tcase_add_unchecked_fixture (tc, s_suite_setup, harness_stop);
    tcase_add_checked_fixture (tc, s_case_setup, s_case_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_pmetrics_commit);
    tcase_add_test (tc, test_pmetrics_in_doubt_resolved);
    tcase_add_test (tc, test_pmetrics_in_doubt_unknown);
    tcase_add_test (tc, test_pmetrics_health_not_registered);
    tcase_add_test (tc, test_pmetrics_bad_address);
    tcase_add_test (tc, test_pmetrics_health_database_down);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return harness_run (suite_pmetrics ());
}
