/*  test_participant - dtx-participant on its own and in the real system.

    unit:     what needs no process (statement classification, the schema
              file and the binary agree).
    system:   libdtx -> real coordinator -> real participants -> real
              clusters (harness_start): transaction control refused, the
              backstop behind it, the max_prepared_transactions warning and
              hints.
    sessions: the same, with db1 fronted by a participant of one pooled
              connection: nothing a transaction leaves in its PostgreSQL
              session (SET, roles, prepared statements, temp tables,
              cursors, LISTEN, advisory locks) reaches the next one.
    protocol: the test is the coordinator.  It binds its own ZeroMQ ROUTER
              on the participant endpoint, starts a real dtx-participant
              against a real cluster and speaks dtx_proto to it: REGISTER
              and its identity, one-phase commits and their markers, the
              outcome probe (OUTCOME_QUERY) and its fence, marker GC;
              per-shard epochs: a closed epoch's work refused, its phase 2
              served.
    shards:   participants given two real coordinators (--id test, --id
              beta): both served, one SIGKILLed and the other goes on, one
              restarted (its shard's epoch rises) and only its live
              sessions rolled back; the coordinator list's config errors.  */
#include "testutil.h"
#include "dtx.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include "dtx_participant.h"
#include <czmq.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

//  --------------------------------------------------------------------------
//  unit

START_TEST (test_txn_control_classified)
{
    struct { const char *sql; const char *command; const char *sqlstate; } cases [] = {
        { "COMMIT", "COMMIT", "2D000" },
        { "commit work", "COMMIT", "2D000" },
        { "  /* a /* nested */ comment */ -- and a line\n\tEnd;", "END", "2D000" },
        { "ROLLBACK", "ROLLBACK", "2D000" },
        { "rollback and chain", "ROLLBACK", "2D000" },
        { "ABORT", "ABORT", "2D000" },
        { "BEGIN", "BEGIN", "25001" },
        { "begin isolation level serializable", "BEGIN", "25001" },
        { "START TRANSACTION", "START TRANSACTION", "25001" },
        { "PREPARE TRANSACTION 'x'", "PREPARE TRANSACTION", "2D000" },
        { "prepare/**/transaction 'x'", "PREPARE TRANSACTION", "2D000" },
        { "COMMIT PREPARED 'x'", "COMMIT PREPARED", "2D000" },
        { "ROLLBACK PREPARED 'x'", "ROLLBACK PREPARED", "2D000" },
        { "ROLLBACK TO SAVEPOINT s", NULL, NULL },
        { "rollback to s", NULL, NULL },
        { "ROLLBACK WORK TO SAVEPOINT s", NULL, NULL },
        { "rollback transaction /* */ to s", NULL, NULL },
        { "SAVEPOINT s", NULL, NULL },
        { "RELEASE SAVEPOINT s", NULL, NULL },
        { "PREPARE q AS SELECT 1", NULL, NULL },
        { "SELECT 'COMMIT'", NULL, NULL },
        { "-- COMMIT\nSELECT 1", NULL, NULL },
        { "/* COMMIT */ INSERT INTO t VALUES (1)", NULL, NULL },
        { "committed_rows", NULL, NULL },
        { "beginning", NULL, NULL },
        { "", NULL, NULL },
        { "/* unterminated", NULL, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        const char *sqlstate = NULL;
        const char *command = dtx_participant_txn_control (cases [i].sql, &sqlstate);
        if (!cases [i].command)
            ck_assert_msg (command == NULL, "%s: refused as %s", cases [i].sql, command);
        else {
            ck_assert_msg (command && streq (command, cases [i].command), "%s: %s",
                           cases [i].sql, command? command: "allowed");
            ck_assert_str_eq (sqlstate, cases [i].sqlstate);
        }
    }
}
END_TEST

//  The participant installs the SQL it carries: it must be the file's
START_TEST (test_schema_file_matches_binary)
{
    FILE *file = fopen (TOP_SRCDIR "/sql/dtx-participant.sql", "r");
    ck_assert_ptr_nonnull (file);
    static char text [16384];
    size_t size = fread (text, 1, sizeof text - 1, file);
    fclose (file);
    text [size] = 0;
    ck_assert_msg (streq (text, dtx_participant_schema_sql ()),
                   "sql/dtx-participant.sql and the participant's copy differ");
    ck_assert (strstr (text, "CREATE TABLE IF NOT EXISTS dtx.one_phase"));
}
END_TEST

//  --------------------------------------------------------------------------
//  system

static dtx_client_t *client;

static void
s_system_setup (void)
{
    harness_start (2);
}

static void
s_harness_stop (void)
{
    harness_stop ();
}

static void
s_client_setup (void)
{
    harness_case_setup ();
    client = dtx_client_new (harness.client_endpoint, 20000);
    ck_assert_ptr_nonnull (client);
}

static void
s_client_teardown (void)
{
    dtx_client_destroy (&client);
    ck_assert_msg (harness_wait_no_prepared (10000),
                   "dtx prepared transactions left behind: %d", harness_prepared_dtx ());
}

static long long
s_count_items (int index, int id)
{
    char sql [128];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM items WHERE id = %d", id);
    return harness_pg_value (index, sql);
}

static void
s_exec_ok (dtx_txn_t *txn, int index, const char *sql)
{
    dtx_result_t *result = dtx_exec (txn, harness.db_name [index], sql, 0, NULL);
    ck_assert_msg (dtx_result_ok (result), "%s failed: %s %s", sql, dtx_result_sqlstate (result),
                   dtx_result_error (result));
    dtx_result_destroy (&result);
}

static void
s_insert (dtx_txn_t *txn, int index, int id)
{
    char sql [128];
    snprintf (sql, sizeof sql, "INSERT INTO items (id, note) VALUES (%d, 'participant test')", id);
    s_exec_ok (txn, index, sql);
}

static void
s_send_insert (dtx_txn_t *txn, int index, int id)
{
    char sql [128];
    snprintf (sql, sizeof sql, "INSERT INTO items (id, note) VALUES (%d, 'participant test')", id);
    ck_assert_int_eq (dtx_send (txn, harness.db_name [index], sql, 0, NULL), 0);
}

//  No session left idle in an open transaction block on cluster index
static void
s_assert_no_open_block (int index)
{
    const char *stuck = "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'";
    int64_t deadline = zclock_mono () + 3000;
    while (harness_pg_value (index, stuck) > 0 && zclock_mono () < deadline)
        zclock_sleep (20);
    ck_assert_int_eq (harness_pg_value (index, stuck), 0);
}

//  The next transaction on that database works, inside a real block: a
//  rolled-back row stays away, a committed one lands
static void
s_assert_next_transaction_works (int index, int id)
{
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert (txn, index, id);
    ck_assert_int_eq (dtx_rollback (txn), DTX_ABORTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (s_count_items (index, id), 0);
    txn = dtx_begin (client, 10000);
    s_insert (txn, index, id);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (s_count_items (index, id), 1);
}

static const struct {
    const char *sql;
    const char *sqlstate;
    const char *command;
} s_control [] = {
    { "COMMIT", "2D000", "COMMIT" },
    { "end", "2D000", "END" },
    { "/* x */ ROLLBACK", "2D000", "ROLLBACK" },
    { "ABORT", "2D000", "ABORT" },
    { "BEGIN", "25001", "BEGIN" },
    { "START TRANSACTION", "25001", "START TRANSACTION" },
    { "PREPARE TRANSACTION 'dtx-test-x'", "2D000", "PREPARE TRANSACTION" },
    { "COMMIT PREPARED 'dtx-test-x'", "2D000", "COMMIT PREPARED" },
    { "ROLLBACK PREPARED 'dtx-test-x'", "2D000", "ROLLBACK PREPARED" },
};
#define CONTROL_COUNT (int) (sizeof s_control / sizeof s_control [0])

//  Each through dtx_exec: an error naming it, the transaction aborted,
//  nothing committed (one database and two), the next transaction fine
START_TEST (test_txn_control_refused_exec)
{
    for (int i = 0; i < CONTROL_COUNT; i++) {
        int id = 7000 + i * 10;
        bool two = i % 2 == 1;      //  every other one with a second database
        dtx_txn_t *txn = dtx_begin (client, 10000);
        s_insert (txn, 0, id);
        if (two)
            s_insert (txn, 1, id);
        dtx_result_t *result = dtx_exec (txn, "db1", s_control [i].sql, 0, NULL);
        ck_assert_msg (!dtx_result_ok (result), "%s was run", s_control [i].sql);
        ck_assert_str_eq (dtx_result_sqlstate (result), s_control [i].sqlstate);
        ck_assert_int_eq (dtx_result_errcode (result), DTX_ERR_SQL);
        ck_assert_msg (strstr (dtx_result_error (result), s_control [i].command)
                    && strstr (dtx_result_error (result), "inside a global transaction"),
                       "%s: %s", s_control [i].sql, dtx_result_error (result));
        dtx_result_destroy (&result);
        //  Committed behind the coordinator's back, autocommit after: no
        dtx_result_t *later = dtx_exec (txn, "db1", "INSERT INTO items (id) VALUES (1)", 0, NULL);
        ck_assert (!dtx_result_ok (later));
        dtx_result_destroy (&later);
        ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
        dtx_txn_destroy (&txn);
        ck_assert_int_eq (s_count_items (0, id), 0);
        ck_assert_int_eq (s_count_items (1, id), 0);
        ck_assert_int_eq (s_count_items (0, 1), 0);
        s_assert_no_open_block (0);
        s_assert_next_transaction_works (0, id + 1);
    }
    //  ROLLBACK TO SAVEPOINT stays inside: allowed
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_exec_ok (txn, 0, "SAVEPOINT s");
    s_insert (txn, 0, 7200);
    s_exec_ok (txn, 0, "ROLLBACK TO SAVEPOINT s");
    s_insert (txn, 0, 7201);
    s_exec_ok (txn, 0, "rollback to s");
    s_insert (txn, 0, 7202);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (s_count_items (0, 7200) + s_count_items (0, 7201), 0);
    ck_assert_int_eq (s_count_items (0, 7202), 1);
}
END_TEST

//  Each through dtx_send: held, refused when it reaches the participant;
//  the commit reports it, nothing lands anywhere
START_TEST (test_txn_control_refused_send)
{
    for (int i = 0; i < CONTROL_COUNT; i++) {
        int id = 7300 + i * 10;
        for (int shape = 0; shape < 3; shape++) {
            //  0: refused statement in the middle, two databases (PREPARE);
            //  1: refused statement last, one database (one-phase COMMIT);
            //  2: refused statement first, then a dtx_exec on that database
            dtx_txn_t *txn = dtx_begin (client, 10000);
            if (shape != 2)
                s_send_insert (txn, 0, id + shape);
            ck_assert_int_eq (dtx_send (txn, "db1", s_control [i].sql, 0, NULL), 0);
            if (shape == 0) {
                s_send_insert (txn, 0, id + 5);
                s_send_insert (txn, 1, id);
            }
            if (shape == 2) {
                dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
                ck_assert (!dtx_result_ok (result));
                ck_assert_str_eq (dtx_result_sqlstate (result), s_control [i].sqlstate);
                dtx_result_destroy (&result);
            }
            ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
            ck_assert_msg (streq (dtx_txn_error_sqlstate (txn), s_control [i].sqlstate),
                           "%s (shape %d): %s %s", s_control [i].sql, shape,
                           dtx_txn_error_sqlstate (txn), dtx_txn_error_message (txn));
            ck_assert_str_eq (dtx_txn_error_database (txn), "db1");
            ck_assert_msg (strstr (dtx_txn_error_message (txn), s_control [i].command), "%s",
                           dtx_txn_error_message (txn));
            dtx_txn_destroy (&txn);
            ck_assert_int_eq (s_count_items (0, id + shape) + s_count_items (0, id + 5), 0);
            ck_assert_int_eq (s_count_items (1, id), 0);
        }
        s_assert_no_open_block (0);
        s_assert_next_transaction_works (0, id + 9);
    }
}
END_TEST

//  The backstop: with the refusal switched off (test fault), a COMMIT runs
//  and ends the block.  The participant notices, answers with an error,
//  the transaction aborts and the connection is not reused as it is
START_TEST (test_txn_control_backstop)
{
    harness_kill_participant (0, SIGTERM);
    harness_start_participant_fault (0, "part-allow-txn-control");
    ck_assert (harness_wait_ready (20000));
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert (txn, 0, 7500);
    dtx_result_t *result = dtx_exec (txn, "db1", "COMMIT", 0, NULL);
    ck_assert (!dtx_result_ok (result));
    ck_assert_str_eq (dtx_result_sqlstate (result), "2D000");
    ck_assert_msg (strstr (dtx_result_error (result), "ended the global transaction's block"), "%s",
                   dtx_result_error (result));
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    dtx_txn_destroy (&txn);
    //  (7500 committed with that COMMIT: beyond recall, which is why the
    //  refusal comes first)
    s_assert_no_open_block (0);
    for (int i = 0; i < 4; i++)
        s_assert_next_transaction_works (0, 7510 + i);
    char out [4096];
    harness_capture (out, sizeof out, "grep -c 'resetting the connection' %s/participant-db1.log",
                     harness.dir);
    ck_assert_int_eq (atoi (out), 1);
    harness_kill_participant (0, SIGTERM);
    harness_start_participant (0);
    ck_assert (harness_wait_ready (20000));
}
END_TEST

static void
s_pg_restart (int index, int max_prepared)
{
    char command [1024];
    snprintf (command, sizeof command, "PG_BINDIR=%s %s/scripts/pgcluster.sh stop %s && MAX_PREPARED=%d"
              " PG_BINDIR=%s %s/scripts/pgcluster.sh start %s %d", PG_BINDIR, TOP_SRCDIR,
              harness.pg_dir [index], max_prepared, PG_BINDIR, TOP_SRCDIR, harness.pg_dir [index],
              harness.pg_port [index]);
    ck_assert_int_eq (system (command), 0);
}

//  A database that can prepare fewer transactions than the pool can hold:
//  warned at start; the error when it runs out carries PostgreSQL's hint
START_TEST (test_max_prepared_warning_and_hint)
{
    harness_kill_participant (1, SIGTERM);
    s_pg_restart (1, 1);
    harness_start_participant (1);
    ck_assert (harness_wait_ready (20000));
    char out [4096];
    harness_capture (out, sizeof out, "grep -c 'max_prepared_transactions = 1 is below pool-max = 200'"
                     " %s/participant-db2.log", harness.dir);
    ck_assert_int_eq (atoi (out), 1);
    //  The one slot taken by a transaction of someone else's
    PGconn *conn = harness_pg (1);
    PQclear (PQexec (conn, "BEGIN"));
    PQclear (PQexec (conn, "INSERT INTO items (id) VALUES (7600)"));
    PGresult *prepared = PQexec (conn, "PREPARE TRANSACTION 'blocker'");
    ck_assert_int_eq (PQresultStatus (prepared), PGRES_COMMAND_OK);
    PQclear (prepared);
    dtx_txn_t *txn = dtx_begin (client, 10000);
    s_insert (txn, 0, 7601);
    s_insert (txn, 1, 7601);
    ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
    ck_assert_str_eq (dtx_txn_error_database (txn), "db2");
    ck_assert_msg (strstr (dtx_txn_error_message (txn), "maximum number of prepared transactions")
                && strstr (dtx_txn_error_message (txn), "HINT: ")
                && strstr (dtx_txn_error_message (txn), "max_prepared_transactions"),
                   "%s", dtx_txn_error_message (txn));
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (s_count_items (0, 7601) + s_count_items (1, 7601), 0);
    PQclear (PQexec (conn, "ROLLBACK PREPARED 'blocker'"));
    PQfinish (conn);
    //  Back to normal
    harness_kill_participant (1, SIGTERM);
    s_pg_restart (1, 250);
    harness_start_participant (1);
    ck_assert (harness_wait_ready (20000));
    harness_capture (out, sizeof out, "grep -c 'is below pool-max' %s/participant-db2.log", harness.dir);
    ck_assert_int_eq (atoi (out), 1);
}
END_TEST

//  --------------------------------------------------------------------------
//  sessions: a pooled PostgreSQL session carries nothing from one global
//  transaction to the next.  db1 is fronted by a participant of one
//  connection (pool 1..1, in this process), so every transaction on db1
//  runs on the same PostgreSQL session: whatever the last one left there,
//  the next one would meet.

static zactor_t *s_pool1;
static dtx_participant_config_t s_pool1_config;
static char s_pool1_conninfo [256];

static void
s_pool1_start (void)
{
    harness_kill_participant (0, SIGTERM);
    snprintf (s_pool1_conninfo, sizeof s_pool1_conninfo,
              "host=127.0.0.1 port=%d user=postgres dbname=postgres", harness.pg_port [0]);
    dtx_participant_config_defaults (&s_pool1_config);
    s_pool1_config.name = "db1";
    s_pool1_config.conninfo = s_pool1_conninfo;
    s_pool1_config.coordinator_endpoint = harness.participant_endpoint;
    s_pool1_config.pool_min = 1;
    s_pool1_config.pool_max = 1;
    //  The harness's keys for db1 (security is on)
    static char secret [400], coordinator [400];
    snprintf (secret, sizeof secret, "%s/participants/db1_secret", harness.keys_dir);
    snprintf (coordinator, sizeof coordinator, "%s/coordinator", harness.keys_dir);
    s_pool1_config.curve_secret = secret;
    s_pool1_config.coordinator_key = coordinator;
    s_pool1 = zactor_new (dtx_participant_actor, &s_pool1_config);
    ck_assert_ptr_nonnull (s_pool1);
    ck_assert (harness_wait_ready (20000));
}

static void
s_pool1_stop (void)
{
    zactor_destroy (&s_pool1);
    harness_start_participant (0);
    ck_assert (harness_wait_ready (20000));
}

//  One value of a one-row query through dtx, on db index (caller frees)
static char *
s_value (dtx_txn_t *txn, int index, const char *sql)
{
    dtx_result_t *result = dtx_exec (txn, harness.db_name [index], sql, 0, NULL);
    ck_assert_msg (dtx_result_ok (result), "%s failed: %s %s", sql, dtx_result_sqlstate (result),
                   dtx_result_error (result));
    ck_assert_int_eq (dtx_result_ntuples (result), 1);
    char *value = strdup (dtx_result_isnull (result, 0, 0)? "(null)": dtx_result_value (result, 0, 0));
    dtx_result_destroy (&result);
    return value;
}

//  The backend pid of db1's one pooled session
static int
s_backend (void)
{
    dtx_txn_t *txn = dtx_begin (client, 10000);
    char *pid = s_value (txn, 0, "SELECT pg_backend_pid ()");
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    int backend = atoi (pid);
    free (pid);
    return backend;
}

//  The next transaction on db1 meets a session as new: PostgreSQL's
//  defaults, nothing left by earlier clients, and a write through the
//  default search_path commits (on db1 alone, and with db2)
static void
s_assert_session_fresh (const char *after, int id)
{
    const char *checks [][2] = {
        { "SHOW search_path", "\"$user\", public" },
        { "SHOW default_transaction_read_only", "off" },
        { "SHOW transaction_read_only", "off" },
        { "SHOW statement_timeout", "0" },
        { "SHOW application_name", "" },
        { "SELECT current_user", "postgres" },
        { "SELECT session_user", "postgres" },
        { "SHOW default_transaction_isolation", "read committed" },
        //  (a custom setting, once set, stays defined: empty after RESET)
        { "SELECT coalesce (current_setting ('dtx_test.left', true), '')", "" },
        { "SELECT count(*) FROM pg_prepared_statements", "0" },
        { "SELECT count(*) FROM pg_cursors WHERE is_holdable", "0" },
        { "SELECT count(*) FROM pg_listening_channels ()", "0" },
        { "SELECT to_regclass ('pg_temp.dtx_left')::text", "(null)" },
        { "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", "0" },
    };
    for (int two = 0; two < 2; two++) {
        dtx_txn_t *txn = dtx_begin (client, 10000);
        if (!two)
            for (size_t i = 0; i < sizeof checks / sizeof checks [0]; i++) {
                char *value = s_value (txn, 0, checks [i][0]);
                ck_assert_msg (streq (value, checks [i][1]), "after %s: %s is '%s', not '%s'", after,
                               checks [i][0], value, checks [i][1]);
                free (value);
            }
        char sql [128];
        snprintf (sql, sizeof sql, "INSERT INTO items (id, note) VALUES (%d, 'fresh')", id + two);
        dtx_result_t *result = dtx_exec (txn, "db1", sql, 0, NULL);
        ck_assert_msg (dtx_result_ok (result), "after %s: %s: %s %s", after, sql,
                       dtx_result_sqlstate (result), dtx_result_error (result));
        dtx_result_destroy (&result);
        if (two)
            s_insert (txn, 1, id + two);
        ck_assert_msg (dtx_commit (txn) == DTX_COMMITTED, "after %s: %s %s", after,
                       dtx_txn_error_sqlstate (txn), dtx_txn_error_message (txn));
        dtx_txn_destroy (&txn);
        ck_assert_int_eq (s_count_items (0, id + two), 1);
    }
}

//  Statements that change the session beyond their transaction
static const char *s_session_changes [] = {
    "SET default_transaction_read_only = on",
    "SET search_path = nowhere",
    "SET statement_timeout = 1",
    "SET ROLE dtx_test_role",
    "SET SESSION AUTHORIZATION dtx_test_role",
    "SELECT set_config ('dtx_test.left', 'yes', false)",
    "SET application_name = 'left behind'",
    "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE",
};
#define SESSION_CHANGES (int) (sizeof s_session_changes / sizeof s_session_changes [0])

static void
s_test_role (void)
{
    //  A lesser role, with what the transaction and its marker need
    harness_pg_exec (0, "CREATE ROLE dtx_test_role");
    ck_assert_int_eq (harness_pg_exec (0, "GRANT USAGE ON SCHEMA dtx TO dtx_test_role;"
                                          " GRANT SELECT, INSERT ON dtx.one_phase TO dtx_test_role;"
                                          " GRANT ALL ON items TO dtx_test_role"), 0);
}

//  Each, committed by one database (one-phase), by two (PREPARE), and
//  sent with dtx_send (with the PREPARE / COMMIT in one pipeline): the
//  next transaction on the same PostgreSQL session sees none of it
START_TEST (test_session_settings_reset)
{
    s_pool1_start ();
    s_test_role ();
    int backend = s_backend ();
    for (int i = 0; i < SESSION_CHANGES; i++)
        for (int shape = 0; shape < 4; shape++) {
            //  0: dtx_exec, one database; 1: dtx_exec, two databases;
            //  2: dtx_send, one database; 3: dtx_send, two databases
            int id = 9000 + i * 40 + shape * 10;
            char after [256];
            snprintf (after, sizeof after, "'%s' (shape %d)", s_session_changes [i], shape);
            //  With a statement timeout of 1 ms the commit itself may time
            //  out: try again (what matters is what is left after it)
            int outcome = DTX_ABORTED;
            for (int attempt = 0; attempt < 20 && outcome != DTX_COMMITTED; attempt++) {
                dtx_txn_t *txn = dtx_begin (client, 10000);
                if (shape < 2) {
                    s_insert (txn, 0, id);
                    s_exec_ok (txn, 0, s_session_changes [i]);
                }
                else {
                    s_send_insert (txn, 0, id);
                    ck_assert_int_eq (dtx_send (txn, "db1", s_session_changes [i], 0, NULL), 0);
                }
                if (shape == 1)
                    s_insert (txn, 1, id);
                if (shape == 3)
                    s_send_insert (txn, 1, id);
                outcome = dtx_commit (txn);
                ck_assert_msg (outcome == DTX_COMMITTED || strstr (s_session_changes [i], "timeout"),
                               "%s: %s %s", after, dtx_txn_error_sqlstate (txn),
                               dtx_txn_error_message (txn));
                dtx_txn_destroy (&txn);
            }
            ck_assert_int_eq (outcome, DTX_COMMITTED);
            ck_assert_int_eq (s_count_items (0, id), 1);
            s_assert_session_fresh (after, id + 1);
            if (!strstr (s_session_changes [i], "timeout")) {
                //  Reset, not replaced: still the one session (a reset
                //  that fails closes it; a 1 ms timeout may do that)
                ck_assert_int_eq (s_backend (), backend);
            }
            else
                backend = s_backend ();
        }
    s_pool1_stop ();
}
END_TEST

//  What a transaction leaves in the session even when it rolls back
//  (PREPARE name AS, a session advisory lock) or once it commits (a temp
//  table, a WITH HOLD cursor, LISTEN; PostgreSQL refuses to PREPARE with
//  those, so one database): gone for the next transaction
START_TEST (test_session_objects_reset)
{
    s_pool1_start ();
    int backend = s_backend ();
    struct { const char *sql [2]; bool two; bool commit; } cases [] = {
        { { "PREPARE dtx_left AS SELECT 1", NULL }, false, false },
        { { "PREPARE dtx_left AS SELECT 1", NULL }, false, true },
        { { "PREPARE dtx_left AS SELECT 1", NULL }, true, true },
        { { "SELECT pg_advisory_lock (4242)", NULL }, false, false },
        { { "SELECT pg_advisory_lock (4242)", NULL }, false, true },
        { { "CREATE TEMP TABLE dtx_left (x int)", "INSERT INTO dtx_left VALUES (1)" }, false, true },
        { { "DECLARE dtx_left CURSOR WITH HOLD FOR SELECT 1", NULL }, false, true },
        { { "LISTEN dtx_left", NULL }, false, true },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        int id = 9500 + (int) i * 10;
        char after [256];
        snprintf (after, sizeof after, "'%s' (%s, %s)", cases [i].sql [0],
                  cases [i].two? "two databases": "one", cases [i].commit? "committed": "rolled back");
        for (int send = 0; send < 2; send++) {
            dtx_txn_t *txn = dtx_begin (client, 10000);
            s_insert (txn, 0, id + send);
            for (int k = 0; k < 2 && cases [i].sql [k]; k++)
                if (send)
                    ck_assert_int_eq (dtx_send (txn, "db1", cases [i].sql [k], 0, NULL), 0);
                else
                    s_exec_ok (txn, 0, cases [i].sql [k]);
            if (cases [i].two)
                s_insert (txn, 1, id + send);
            if (!cases [i].commit)
                ck_assert_int_eq (dtx_rollback (txn), DTX_ABORTED);
            else
                ck_assert_msg (dtx_commit (txn) == DTX_COMMITTED, "%s: %s %s", after,
                               dtx_txn_error_sqlstate (txn), dtx_txn_error_message (txn));
            dtx_txn_destroy (&txn);
            ck_assert_int_eq (s_count_items (0, id + send), cases [i].commit? 1: 0);
            //  Seen from outside too: no advisory lock held by anyone
            ck_assert_int_eq (harness_pg_value (0, "SELECT count(*) FROM pg_locks"
                                                   " WHERE locktype = 'advisory'"), 0);
            s_assert_session_fresh (after, id + 2 + send * 3);
            ck_assert_int_eq (s_backend (), backend);
        }
    }
    s_pool1_stop ();
}
END_TEST

//  A statement that fails ahead of the PREPARE in its pipeline leaves the
//  block open when the reset comes; the ROLLBACK after it resets then.
//  Several clients at once on the one connection.
START_TEST (test_session_reset_after_failure)
{
    s_pool1_start ();
    int backend = s_backend ();
    for (int i = 0; i < 4; i++) {
        dtx_txn_t *txn = dtx_begin (client, 10000);
        ck_assert_int_eq (dtx_send (txn, "db1", "SET search_path = nowhere", 0, NULL), 0);
        ck_assert_int_eq (dtx_send (txn, "db1", "SELECT 1/0", 0, NULL), 0);
        if (i % 2)
            s_send_insert (txn, 1, 9800 + i);
        ck_assert_int_eq (dtx_commit (txn), DTX_ABORTED);
        ck_assert_str_eq (dtx_txn_error_sqlstate (txn), "22012");
        dtx_txn_destroy (&txn);
        //  and a committed SET, then a failed statement that dooms the next
        txn = dtx_begin (client, 10000);
        s_exec_ok (txn, 0, "SET search_path = nowhere");
        ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
        dtx_txn_destroy (&txn);
        s_assert_session_fresh ("a failed deferred statement", 9810 + i * 10);
        ck_assert_int_eq (s_backend (), backend);
    }
    s_pool1_stop ();
}
END_TEST

//  --------------------------------------------------------------------------
//  protocol: the test is the coordinator

static zsock_t *router;
static zframe_t *peer;          //  the participant's routing id
static uint32_t seq;
static int registers;           //  REGISTERs seen
static const char *refuse_register;     //  answer REGISTER with this ERROR
static const char *register_text;       //  REGISTER_OK's SHARD:EPOCH
static bool skip_queries;               //  drop the participant's OUTCOME_QUERYs ...
static int queries_seen;                //  ... counting them

static void
s_clusters_setup (void)
{
    harness_start_clusters (1);
}

static void
s_router_setup (void)
{
    harness_case_setup ();
    router = (zsock_t *) harness_coordinator_sock (harness.participant_endpoint);
    ck_assert_ptr_nonnull (router);
    peer = NULL;
    registers = 0;
    refuse_register = NULL;
    register_text = "test:1";
    skip_queries = false;
    queries_seen = 0;
}

static void
s_router_teardown (void)
{
    harness_kill_participant (0, SIGTERM);
    zframe_destroy (&peer);
    zsock_destroy (&router);
}

//  The next message, answering REGISTERs on the way (as a coordinator
//  does); NULL if none within timeout_ms
static dtx_proto_t *
s_next (int timeout_ms, bool answer_register)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t wait = deadline - zclock_mono ();
        if (wait <= 0)
            return NULL;
        zsock_set_rcvtimeo (router, (int) wait);
        dtx_proto_t *msg;
        char err [256];
        int rc = dtx_proto_recv (&msg, router, err, sizeof err);
        ck_assert_msg (rc != -2, "malformed from participant: %s", err);
        if (rc)
            continue;
        if (skip_queries && dtx_proto_id (msg) == DTX_PROTO_OUTCOME_QUERY) {
            queries_seen++;
            dtx_proto_destroy (&msg);
            continue;
        }
        if (dtx_proto_id (msg) != DTX_PROTO_REGISTER || !answer_register)
            return msg;
        registers++;
        zframe_destroy (&peer);
        peer = zframe_dup (dtx_proto_routing_id (msg));
        dtx_proto_t *reply = dtx_proto_new (refuse_register? DTX_PROTO_ERROR: DTX_PROTO_REGISTER_OK);
        dtx_proto_set_routing_id (reply, peer);
        dtx_proto_set_seq (reply, dtx_proto_seq (msg));
        dtx_proto_set_name (reply, dtx_proto_name (msg));
        if (refuse_register) {
            dtx_proto_set_status (reply, DTX_ERR_STATE);
            dtx_proto_set_text (reply, refuse_register);
        }
        else
            dtx_proto_set_text (reply, register_text);
        ck_assert_int_eq (dtx_proto_send (reply, router), 0);
        dtx_proto_destroy (&reply);
        dtx_proto_destroy (&msg);
    }
}

//  Start the participant, take its first REGISTER; returns it
static dtx_proto_t *
s_participant_start (void)
{
    harness_start_participant (0);
    dtx_proto_t *reg = s_next (20000, false);
    ck_assert_msg (reg != NULL, "no REGISTER from the participant");
    ck_assert_int_eq (dtx_proto_id (reg), DTX_PROTO_REGISTER);
    peer = zframe_dup (dtx_proto_routing_id (reg));
    dtx_proto_t *ok = dtx_proto_new (DTX_PROTO_REGISTER_OK);
    dtx_proto_set_routing_id (ok, peer);
    dtx_proto_set_seq (ok, dtx_proto_seq (reg));
    dtx_proto_set_name (ok, dtx_proto_name (reg));
    dtx_proto_set_text (ok, register_text);
    ck_assert_int_eq (dtx_proto_send (ok, router), 0);
    dtx_proto_destroy (&ok);
    return reg;
}

//  Send a request to the participant; returns its seq
static uint32_t
s_send (dtx_proto_t **msg_p)
{
    dtx_proto_set_routing_id (*msg_p, peer);
    dtx_proto_set_seq (*msg_p, ++seq);
    ck_assert_int_eq (dtx_proto_send (*msg_p, router), 0);
    dtx_proto_destroy (msg_p);
    return seq;
}

//  The reply to request seq: of message id
static dtx_proto_t *
s_reply (uint32_t request, int id, int timeout_ms)
{
    dtx_proto_t *reply = s_next (timeout_ms, true);
    ck_assert_msg (reply != NULL, "no reply to request %u", request);
    ck_assert_msg (dtx_proto_id (reply) == id, "reply %s (%s %s), not %d",
                   dtx_proto_command (reply), dtx_proto_sqlstate (reply), dtx_proto_text (reply), id);
    ck_assert_uint_eq (dtx_proto_seq (reply), request);
    return reply;
}

static uint32_t
s_execute (const char *gid, uint8_t flags, const char *sql)
{
    dtx_proto_t *msg = dtx_proto_new (DTX_PROTO_EXECUTE);
    dtx_proto_set_gid (msg, gid);
    dtx_proto_set_name (msg, "db1");
    dtx_proto_set_flags (msg, flags);
    dtx_proto_set_text (msg, sql);
    return s_send (&msg);
}

//  One-phase commit of one INSERT (deferred statement + COMMIT in one)
static dtx_proto_t *
s_one_phase (const char *gid, int id)
{
    char sql [128];
    snprintf (sql, sizeof sql, "INSERT INTO items (id, note) VALUES (%d, '%s')", id, gid);
    uint32_t request = s_execute (gid, DTX_EXEC_FIRST | DTX_EXEC_DEFER | DTX_EXEC_COMMIT, sql);
    dtx_proto_t *done = s_reply (request, DTX_PROTO_DONE, 10000);
    ck_assert_str_eq (dtx_proto_gid (done), gid);
    return done;
}

static uint32_t
s_probe_send (const char *gid, uint64_t since)
{
    dtx_proto_t *query = dtx_proto_new (DTX_PROTO_OUTCOME_QUERY);
    dtx_proto_set_gid (query, gid);
    dtx_proto_set_affected (query, since);
    return s_send (&query);
}

//  OUTCOME_QUERY -> OUTCOME: its status; its text into text if not NULL
static int
s_probe (const char *gid, uint64_t since, char *text, size_t size)
{
    uint32_t request = s_probe_send (gid, since);
    dtx_proto_t *outcome = s_reply (request, DTX_PROTO_OUTCOME, 10000);
    ck_assert_str_eq (dtx_proto_gid (outcome), gid);
    ck_assert_str_eq (dtx_proto_name (outcome), "db1");
    int status = dtx_proto_status (outcome);
    if (text)
        snprintf (text, size, "%s", dtx_proto_text (outcome));
    dtx_proto_destroy (&outcome);
    return status;
}

static long long
s_marker (const char *gid, bool committed)
{
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM dtx.one_phase WHERE gid = '%s' AND committed = %s",
              gid, committed? "true": "false");
    return harness_pg_value (0, sql);
}

START_TEST (test_register_identity)
{
    dtx_proto_t *reg = s_participant_start ();
    ck_assert_str_eq (dtx_proto_name (reg), "db1");
    char identity [128];
    snprintf (identity, sizeof identity, "%lld/postgres",
              harness_pg_value (0, "SELECT system_identifier FROM pg_control_system ()"));
    ck_assert_str_eq (dtx_proto_text (reg), identity);
    dtx_proto_destroy (&reg);
    //  The heartbeat carries it too
    dtx_proto_t *again = s_next (3000, false);
    ck_assert_ptr_nonnull (again);
    ck_assert_int_eq (dtx_proto_id (again), DTX_PROTO_REGISTER);
    ck_assert_str_eq (dtx_proto_text (again), identity);
    dtx_proto_destroy (&again);
    //  Refused: logged once (not once a second), and it keeps trying
    refuse_register = "participant db1 is registered with another database (1/other)";
    int before = registers;
    dtx_proto_t *none = s_next (4500, true);
    ck_assert_ptr_null (none);
    ck_assert_int_ge (registers - before, 3);
    char out [4096];
    harness_capture (out, sizeof out, "grep -c 'refuses to register this participant.*registered with"
                     " another database' %s/participant-db1.log", harness.dir);
    ck_assert_int_eq (atoi (out), 1);
    //  Accepted again: it works
    refuse_register = NULL;
    dtx_proto_t *done = s_one_phase ("dtx:test:1:900", 8900);
    ck_assert_int_eq (dtx_proto_status (done), DTX_DONE_OK);
    dtx_proto_destroy (&done);
}
END_TEST

START_TEST (test_one_phase_marker_and_probe)
{
    dtx_proto_t *reg = s_participant_start ();
    dtx_proto_destroy (&reg);
    //  A one-phase commit leaves a committed marker with its row
    dtx_proto_t *done = s_one_phase ("dtx:test:1:1", 8001);
    ck_assert_msg (dtx_proto_status (done) == DTX_DONE_OK, "%s %s", dtx_proto_sqlstate (done),
                   dtx_proto_text (done));
    dtx_proto_destroy (&done);
    ck_assert_int_eq (s_count_items (0, 8001), 1);
    ck_assert_int_eq (s_marker ("dtx:test:1:1", true), 1);
    ck_assert_int_eq (s_probe ("dtx:test:1:1", 0, NULL, 0), DTX_COMMITTED);
    //  ... also by statements with their results, then a bare COMMIT
    uint32_t request = s_execute ("dtx:test:1:2", DTX_EXEC_FIRST,
                                  "INSERT INTO items (id, note) VALUES (8002, 'bare')");
    dtx_proto_t *result = s_reply (request, DTX_PROTO_RESULT, 10000);
    dtx_proto_destroy (&result);
    dtx_proto_t *commit = dtx_proto_new (DTX_PROTO_COMMIT);
    dtx_proto_set_gid (commit, "dtx:test:1:2");
    request = s_send (&commit);
    done = s_reply (request, DTX_PROTO_DONE, 10000);
    ck_assert_int_eq (dtx_proto_status (done), DTX_DONE_OK);
    dtx_proto_destroy (&done);
    ck_assert_int_eq (s_marker ("dtx:test:1:2", true), 1);
    ck_assert_int_eq (s_probe ("dtx:test:1:2", (uint64_t) time (NULL) - 10, NULL, 0), DTX_COMMITTED);

    //  A gid never seen: aborted, and fenced
    char text [512];
    ck_assert_int_eq (s_probe ("dtx:test:1:3", 0, text, sizeof text), DTX_ABORTED);
    ck_assert_int_eq (s_marker ("dtx:test:1:3", false), 1);
    //  Asked again: the same answer, one fence row
    ck_assert_int_eq (s_probe ("dtx:test:1:3", 0, NULL, 0), DTX_ABORTED);
    //  Its one-phase commit arriving late fails, naming the fence, and
    //  leaves nothing behind
    done = s_one_phase ("dtx:test:1:3", 8003);
    ck_assert_int_eq (dtx_proto_status (done), DTX_DONE_FAILED);
    ck_assert_str_eq (dtx_proto_sqlstate (done), "23505");
    ck_assert_msg (strstr (dtx_proto_text (done), "fenced by an outcome probe and rolled back"), "%s",
                   dtx_proto_text (done));
    dtx_proto_destroy (&done);
    ck_assert_int_eq (s_count_items (0, 8003), 0);
    ck_assert_int_eq (s_marker ("dtx:test:1:3", false), 1);
    ck_assert_int_eq (s_marker ("dtx:test:1:3", true), 0);
    s_assert_no_open_block (0);

    //  A probe while the gid's live session is open (not in it): fenced,
    //  and the COMMIT that follows fails
    request = s_execute ("dtx:test:1:4", DTX_EXEC_FIRST, "INSERT INTO items (id, note) VALUES (8004, 'live')");
    result = s_reply (request, DTX_PROTO_RESULT, 10000);
    dtx_proto_destroy (&result);
    ck_assert_int_eq (s_probe ("dtx:test:1:4", 0, NULL, 0), DTX_ABORTED);
    commit = dtx_proto_new (DTX_PROTO_COMMIT);
    dtx_proto_set_gid (commit, "dtx:test:1:4");
    request = s_send (&commit);
    done = s_reply (request, DTX_PROTO_DONE, 10000);
    ck_assert_int_eq (dtx_proto_status (done), DTX_DONE_FAILED);
    ck_assert_str_eq (dtx_proto_sqlstate (done), "23505");
    dtx_proto_destroy (&done);
    ck_assert_int_eq (s_count_items (0, 8004), 0);
    s_assert_no_open_block (0);

    //  The fence waits for a marker insert in flight, then reads it
    PGconn *conn = harness_pg (0);
    PQclear (PQexec (conn, "BEGIN"));
    PQclear (PQexec (conn, "INSERT INTO dtx.one_phase (gid, committed) VALUES ('dtx:test:1:5', true)"));
    request = s_probe_send ("dtx:test:1:5", 0);
    ck_assert_ptr_null (s_next (500, true));        //  waiting on the row lock
    PQclear (PQexec (conn, "COMMIT"));
    dtx_proto_t *outcome = s_reply (request, DTX_PROTO_OUTCOME, 10000);
    ck_assert_int_eq (dtx_proto_status (outcome), DTX_COMMITTED);
    dtx_proto_destroy (&outcome);
    //  ... and one rolled back leaves the fence to win
    PQclear (PQexec (conn, "BEGIN"));
    PQclear (PQexec (conn, "INSERT INTO dtx.one_phase (gid, committed) VALUES ('dtx:test:1:6', true)"));
    request = s_probe_send ("dtx:test:1:6", 0);
    ck_assert_ptr_null (s_next (500, true));
    PQclear (PQexec (conn, "ROLLBACK"));
    outcome = s_reply (request, DTX_PROTO_OUTCOME, 10000);
    ck_assert_int_eq (dtx_proto_status (outcome), DTX_ABORTED);
    dtx_proto_destroy (&outcome);
    PQfinish (conn);

    //  Older than the retention: no marker means nothing
    uint64_t old = (uint64_t) time (NULL) - 8 * 24 * 3600;
    ck_assert_int_eq (s_probe ("dtx:test:1:7", old, text, sizeof text), DTX_UNKNOWN);
    ck_assert_msg (strstr (text, "older than the participant's marker retention (604800 s)"), "%s", text);
    //  ... but a marker that is there still answers
    ck_assert_int_eq (s_probe ("dtx:test:1:1", old, NULL, 0), DTX_COMMITTED);

    //  A bad gid: refused as a bad request
    request = s_probe_send ("no spaces allowed", 0);
    dtx_proto_t *error = s_reply (request, DTX_PROTO_ERROR, 5000);
    ck_assert_int_eq (dtx_proto_status (error), DTX_ERR_BAD_REQUEST);
    dtx_proto_destroy (&error);

    //  Database down: unknown, saying so
    harness_pg_stop_immediate (0);
    ck_assert_int_eq (s_probe ("dtx:test:1:8", 0, text, sizeof text), DTX_UNKNOWN);
    ck_assert_msg (strncmp (text, "database unreachable: ", 22) == 0, "%s", text);
    harness_pg_start (0);
    int64_t deadline = zclock_mono () + 20000;
    int status = DTX_UNKNOWN;
    while (status == DTX_UNKNOWN && zclock_mono () < deadline) {
        zclock_sleep (200);
        status = s_probe ("dtx:test:1:8", 0, NULL, 0);
    }
    ck_assert_int_eq (status, DTX_ABORTED);
}
END_TEST

//  Per-shard epochs, spoken to by a coordinator of shard test: a higher
//  epoch learned from a request's gid or a REGISTER_OK closes the ones
//  below.  Their live sessions are rolled back, their statements,
//  PREPAREs and one-phase COMMITs refused (nothing left prepared); their
//  phase 2 and probes still served (the new owner sends them)
START_TEST (test_closed_epoch_refused)
{
    skip_queries = true;        //  (in-doubt questions, asked as it learns)
    dtx_proto_t *reg = s_participant_start ();
    dtx_proto_destroy (&reg);
    //  A live session of epoch 1, and a prepared transaction of epoch 1
    //  (as an old owner leaves them)
    uint32_t request = s_execute ("dtx:test:1:50", DTX_EXEC_FIRST,
                                  "INSERT INTO items (id, note) VALUES (8500, 'epoch 1')");
    dtx_proto_t *result = s_reply (request, DTX_PROTO_RESULT, 10000);
    dtx_proto_destroy (&result);
    ck_assert_int_eq (harness_pg_exec (0, "BEGIN; INSERT INTO items (id, note) VALUES (8560, 'old');"
                                          " PREPARE TRANSACTION 'dtx:test:1:60'"), 0);
    ck_assert_int_eq (harness_pg_exec (0, "BEGIN; INSERT INTO items (id, note) VALUES (8561, 'old');"
                                          " PREPARE TRANSACTION 'dtx:test:1:61'"), 0);
    ck_assert_int_eq (harness_pg_value (0, "SELECT count(*) FROM pg_stat_activity"
                                           " WHERE state LIKE 'idle in transaction%'"), 1);
    //  ... busy with a long statement
    uint32_t sleeping = s_execute ("dtx:test:1:50", 0, "SELECT pg_sleep (60)");
    ck_assert_ptr_null (s_next (300, true));
    //  A request of epoch 2 (the shard's new owner): epoch 1 is closed,
    //  its live session's statement cancelled, the session rolled back
    request = s_execute ("dtx:test:2:1", DTX_EXEC_FIRST,
                         "INSERT INTO items (id, note) VALUES (8501, 'epoch 2')");
    for (int replies = 0; replies < 2; replies++) {
        result = s_next (5000, true);
        ck_assert_msg (result, "%d of 2 answers within 5 s (the long statement of epoch 1"
                       " not cancelled?)", replies);
        if (dtx_proto_seq (result) == sleeping) {
            ck_assert_int_eq (dtx_proto_id (result), DTX_PROTO_ERROR);
            ck_assert_str_eq (dtx_proto_sqlstate (result), "57014");       //  query_canceled
        }
        else {
            ck_assert_uint_eq (dtx_proto_seq (result), request);
            ck_assert_int_eq (dtx_proto_id (result), DTX_PROTO_RESULT);
        }
        dtx_proto_destroy (&result);
    }
    int64_t deadline = zclock_mono () + 5000;
    while (harness_pg_value (0, "SELECT count(*) FROM pg_stat_activity WHERE state LIKE"
                                " 'idle in transaction%'") != 1 && zclock_mono () < deadline)
        zclock_sleep (20);
    char out [4096];
    harness_capture (out, sizeof out, "grep -c 'shard test is at epoch 2 (was 1; from a request.s gid):"
                     " rolling back 1 live session' %s/participant-db1.log", harness.dir);
    ck_assert_int_eq (atoi (out), 1);
    //  Its next statement: refused, as a failed statement
    request = s_execute ("dtx:test:1:50", 0, "INSERT INTO items (id, note) VALUES (8502, 'late')");
    dtx_proto_t *error = s_reply (request, DTX_PROTO_ERROR, 10000);
    ck_assert_int_eq (dtx_proto_status (error), DTX_ERR_PARTICIPANT);
    ck_assert_msg (strstr (dtx_proto_text (error), "epoch 1 of shard test is closed (now 2)"), "%s",
                   dtx_proto_text (error));
    dtx_proto_destroy (&error);
    //  ... a new branch of epoch 1: refused, first statement or not
    request = s_execute ("dtx:test:1:51", DTX_EXEC_FIRST, "INSERT INTO items (id, note) VALUES (8510, 'x')");
    error = s_reply (request, DTX_PROTO_ERROR, 10000);
    ck_assert (strstr (dtx_proto_text (error), "epoch 1 of shard test is closed (now 2)"));
    dtx_proto_destroy (&error);
    //  ... PREPARE, bare and with its statement: vote NO, nothing prepared
    dtx_proto_t *prepare = dtx_proto_new (DTX_PROTO_PREPARE);
    dtx_proto_set_gid (prepare, "dtx:test:1:50");
    request = s_send (&prepare);
    dtx_proto_t *vote = s_reply (request, DTX_PROTO_VOTE, 10000);
    ck_assert_int_eq (dtx_proto_status (vote), DTX_VOTE_NO);
    ck_assert_msg (strstr (dtx_proto_text (vote), "epoch 1 of shard test is closed (now 2)"), "%s",
                   dtx_proto_text (vote));
    dtx_proto_destroy (&vote);
    request = s_execute ("dtx:test:1:52", DTX_EXEC_FIRST | DTX_EXEC_DEFER | DTX_EXEC_PREPARE,
                         "INSERT INTO items (id, note) VALUES (8520, 'x')");
    vote = s_reply (request, DTX_PROTO_VOTE, 10000);
    ck_assert_int_eq (dtx_proto_status (vote), DTX_VOTE_NO);
    ck_assert (strstr (dtx_proto_text (vote), "epoch 1 of shard test is closed (now 2)"));
    dtx_proto_destroy (&vote);
    //  ... the one-phase COMMIT: failed, and not class 08 (nothing to probe)
    request = s_execute ("dtx:test:1:53", DTX_EXEC_FIRST | DTX_EXEC_DEFER | DTX_EXEC_COMMIT,
                         "INSERT INTO items (id, note) VALUES (8530, 'x')");
    dtx_proto_t *done = s_reply (request, DTX_PROTO_DONE, 10000);
    ck_assert_int_eq (dtx_proto_status (done), DTX_DONE_FAILED);
    ck_assert_msg (strncmp (dtx_proto_sqlstate (done), "08", 2), "%s", dtx_proto_sqlstate (done));
    ck_assert (strstr (dtx_proto_text (done), "epoch 1 of shard test is closed (now 2)"));
    dtx_proto_destroy (&done);
    dtx_proto_t *commit = dtx_proto_new (DTX_PROTO_COMMIT);
    dtx_proto_set_gid (commit, "dtx:test:1:50");
    request = s_send (&commit);
    done = s_reply (request, DTX_PROTO_DONE, 10000);
    ck_assert_int_eq (dtx_proto_status (done), DTX_DONE_FAILED);
    ck_assert (strncmp (dtx_proto_sqlstate (done), "08", 2));
    dtx_proto_destroy (&done);
    for (int id = 8500; id <= 8530; id += 10)
        ck_assert_int_eq (s_count_items (0, id) + s_count_items (0, id + 2), 0);
    ck_assert_int_eq (harness_pg_value (0, "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE"
                                           " 'dtx:test:1:5%'"), 0);
    //  Phase 2 and probes of epoch 1: served
    dtx_proto_t *phase2 = dtx_proto_new (DTX_PROTO_COMMIT_PREPARED);
    dtx_proto_set_gid (phase2, "dtx:test:1:60");
    request = s_send (&phase2);
    done = s_reply (request, DTX_PROTO_DONE, 10000);
    ck_assert_int_eq (dtx_proto_status (done), DTX_DONE_OK);
    dtx_proto_destroy (&done);
    ck_assert_int_eq (s_count_items (0, 8560), 1);
    dtx_proto_t *rollback = dtx_proto_new (DTX_PROTO_ROLLBACK);
    dtx_proto_set_gid (rollback, "dtx:test:1:61");
    dtx_proto_set_flags (rollback, DTX_ROLLBACK_PREPARED);
    request = s_send (&rollback);
    done = s_reply (request, DTX_PROTO_DONE, 10000);
    ck_assert_int_eq (dtx_proto_status (done), DTX_DONE_OK);
    dtx_proto_destroy (&done);
    ck_assert_int_eq (s_count_items (0, 8561), 0);
    ck_assert_int_eq (s_probe ("dtx:test:1:62", 0, NULL, 0), DTX_ABORTED);
    //  A REGISTER_OK of epoch 3 closes epoch 2: its live session goes
    register_text = "test:3";
    deadline = zclock_mono () + 5000;
    while (harness_pg_value (0, "SELECT count(*) FROM pg_stat_activity WHERE state LIKE"
                                " 'idle in transaction%'") != 0 && zclock_mono () < deadline)
        ck_assert_ptr_null (s_next (100, true));
    s_assert_no_open_block (0);
    request = s_execute ("dtx:test:2:2", DTX_EXEC_FIRST | DTX_EXEC_DEFER | DTX_EXEC_PREPARE,
                         "INSERT INTO items (id, note) VALUES (8540, 'x')");
    vote = s_reply (request, DTX_PROTO_VOTE, 10000);
    ck_assert_int_eq (dtx_proto_status (vote), DTX_VOTE_NO);
    ck_assert_msg (strstr (dtx_proto_text (vote), "epoch 2 of shard test is closed (now 3)"), "%s",
                   dtx_proto_text (vote));
    dtx_proto_destroy (&vote);
    //  Epoch 3 works; another shard's epoch 1 is untouched by all this
    const char *fine [] = { "dtx:test:3:1", "dtx:other:1:1" };
    for (int i = 0; i < 2; i++) {
        request = s_execute (fine [i], DTX_EXEC_FIRST | DTX_EXEC_DEFER | DTX_EXEC_PREPARE,
                             i? "INSERT INTO items (id, note) VALUES (8551, 'x')"
                              : "INSERT INTO items (id, note) VALUES (8550, 'x')");
        vote = s_reply (request, DTX_PROTO_VOTE, 10000);
        ck_assert_msg (dtx_proto_status (vote) == DTX_VOTE_YES, "%s: %s", fine [i], dtx_proto_text (vote));
        dtx_proto_destroy (&vote);
        phase2 = dtx_proto_new (DTX_PROTO_COMMIT_PREPARED);
        dtx_proto_set_gid (phase2, fine [i]);
        request = s_send (&phase2);
        done = s_reply (request, DTX_PROTO_DONE, 10000);
        ck_assert_int_eq (dtx_proto_status (done), DTX_DONE_OK);
        dtx_proto_destroy (&done);
    }
    ck_assert_int_eq (s_count_items (0, 8550) + s_count_items (0, 8551), 2);
    ck_assert_int_eq (s_count_items (0, 8501) + s_count_items (0, 8540), 0);
    ck_assert_int_eq (harness_prepared_dtx (), 0);
    //  and the in-doubt ones were asked about as each epoch rose
    ck_assert_int_ge (queries_seen, 2);
}
END_TEST

//  Markers older than the retention are deleted soon after start (and
//  about every minute); younger ones stay
START_TEST (test_marker_gc)
{
    char out [4096];
    //  Installed by a privileged user beforehand: the participant uses it
    ck_assert_int_eq (harness_capture (out, sizeof out, "psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p %d"
                                       " -U postgres -d postgres -f %s/sql/dtx-participant.sql",
                                       harness.pg_port [0], TOP_SRCDIR), 0);
    ck_assert_int_eq (harness_pg_exec (0, "INSERT INTO dtx.one_phase (gid, committed, at) VALUES"
                                          " ('dtx:test:0:1', true, now () - interval '8 days'),"
                                          " ('dtx:test:0:2', false, now () - interval '8 days'),"
                                          " ('dtx:test:0:3', true, now () - interval '6 days')"), 0);
    dtx_proto_t *reg = s_participant_start ();
    dtx_proto_destroy (&reg);
    const char *old = "SELECT count(*) FROM dtx.one_phase WHERE gid IN ('dtx:test:0:1', 'dtx:test:0:2')";
    int64_t deadline = zclock_mono () + 10000;
    while (harness_pg_value (0, old) > 0 && zclock_mono () < deadline)
        zclock_sleep (100);
    ck_assert_int_eq (harness_pg_value (0, old), 0);
    ck_assert_int_eq (s_marker ("dtx:test:0:3", true), 1);
    harness_capture (out, sizeof out, "grep -c 'deleted 2 one-phase marker(s) older than 604800 s'"
                     " %s/participant-db1.log", harness.dir);
    ck_assert_int_eq (atoi (out), 1);
}
END_TEST

//  A database user that can neither read the identity nor create the
//  marker table: the start fails, saying what to do; granted, it starts
static int
s_start_weak (char *out, size_t size)
{
    return harness_capture (out, size, "timeout -k 10 --preserve-status 4 %s/participant/dtx-participant --name weak"
                            " --conninfo 'host=127.0.0.1 port=%d user=weak dbname=weakdb'"
                            " --coordinator %s --connect-window 2000 --insecure", TOP_BUILDDIR,
                            harness.pg_port [0], harness.participant_endpoint);
}

static void
s_weakdb (const char *sql)
{
    char out [4096];
    ck_assert_msg (harness_capture (out, sizeof out, "psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p %d"
                                    " -U postgres -d weakdb -c \"%s\"", harness.pg_port [0], sql) == 0,
                   "%s: %s", sql, out);
}

START_TEST (test_start_needs_identity_and_schema)
{
    ck_assert_int_eq (harness_pg_exec (0, "CREATE ROLE weak LOGIN"), 0);
    ck_assert_int_eq (harness_pg_exec (0, "CREATE DATABASE weakdb"), 0);
    char out [4096];
    //  pg_control_system () not executable
    s_weakdb ("REVOKE EXECUTE ON FUNCTION pg_control_system () FROM PUBLIC");
    ck_assert_int_eq (s_start_weak (out, sizeof out), 1);
    ck_assert_msg (strstr (out, "cannot read the identity") && strstr (out, "pg_control_system"),
                   "%s", out);
    //  Identity readable; no marker table, and no right to create it
    s_weakdb ("GRANT EXECUTE ON FUNCTION pg_control_system () TO weak");
    ck_assert_int_eq (s_start_weak (out, sizeof out), 1);
    ck_assert_msg (strstr (out, "cannot create the one-phase marker table dtx.one_phase")
                && strstr (out, "run sql/dtx-participant.sql"), "%s", out);
    //  Installed by a privileged user but not granted: refused, naming
    //  the grants
    ck_assert_int_eq (harness_capture (out, sizeof out, "psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p %d"
                                       " -U postgres -d weakdb -f %s/sql/dtx-participant.sql",
                                       harness.pg_port [0], TOP_SRCDIR), 0);
    ck_assert_int_eq (s_start_weak (out, sizeof out), 1);
    ck_assert_msg (strstr (out, "may not use dtx.one_phase") && strstr (out, "grant"), "%s", out);
    //  Granted: it starts (and runs until timeout stops it)
    s_weakdb ("GRANT USAGE ON SCHEMA dtx TO weak; GRANT SELECT, INSERT, DELETE ON dtx.one_phase TO weak");
    ck_assert_int_eq (s_start_weak (out, sizeof out), 0);
    ck_assert_msg (strstr (out, "/weakdb ready"), "%s", out);
}
END_TEST

//  --------------------------------------------------------------------------
//  shards: one participant per database, each given two coordinators
//  (real dtx-coordinator processes, --id test and --id beta, each with its
//  own log and ports): both are served, one's death stops nothing of the
//  other's, and one's restart (a new epoch of its shard) rolls back its
//  live sessions only

static char s_beta_clients [64], s_beta_participants [64], s_beta_log [400];
static int s_beta_metrics;

//  Ports: the harness's base + 5, 6, 7 (free in its layout)
static void
s_shards_setup (void)
{
    harness_start_clusters (2);
    int base = harness.metrics_port - 9;
    snprintf (s_beta_clients, sizeof s_beta_clients, "tcp://127.0.0.1:%d", base + 5);
    snprintf (s_beta_participants, sizeof s_beta_participants, "tcp://127.0.0.1:%d", base + 6);
    s_beta_metrics = base + 7;
    snprintf (s_beta_log, sizeof s_beta_log, "%s/log-beta", harness.dir);
    mkdir (s_beta_log, 0700);
}

static void
s_shards_teardown (void)
{
    //  (started in the test's process: its pid is in a file of its own)
    char path [512];
    snprintf (path, sizeof path, "%s/coordinator-beta.pid", harness.dir);
    FILE *file = fopen (path, "r");
    int pid = 0;
    if (file) {
        if (fscanf (file, "%d", &pid) != 1)
            pid = 0;
        fclose (file);
    }
    if (pid > 0 && kill (pid, SIGKILL) == 0)
        zclock_sleep (100);
    harness_stop ();
}

//  Start a process with its output appended to harness.dir/log; its pid
//  into harness.dir/role.pid (harness_stop stops participants by theirs)
static pid_t
s_spawn_role (const char *role, const char *log, const char *command)
{
    pid_t pid = fork ();
    if (pid == 0) {
        char logfile [512];
        snprintf (logfile, sizeof logfile, "%s/%s", harness.dir, log);
        if (!freopen (logfile, "a", stderr))
            _exit (126);
        dup2 (2, 1);
        setpgid (0, 0);
        unsetenv ("DTX_FAULT");
        execl ("/bin/sh", "sh", "-c", command, (char *) NULL);
        _exit (127);
    }
    ck_assert_int_gt (pid, 0);
    char path [512];
    snprintf (path, sizeof path, "%s/%s.pid", harness.dir, role);
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fprintf (file, "%d\n", (int) pid);
    fclose (file);
    return pid;
}

static pid_t
s_beta_start (void)
{
    char command [2048];
    snprintf (command, sizeof command, "exec %s/coordinator/dtx-coordinator --id beta --clients %s"
              " --participants %s --log-dir %s --vote-timeout 3000 --metrics 127.0.0.1:%d"
              " --curve-secret %s/coordinator_secret --client-keys %s/clients"
              " --participant-keys %s/participants", TOP_BUILDDIR, s_beta_clients,
              s_beta_participants, s_beta_log, s_beta_metrics, harness.keys_dir, harness.keys_dir,
              harness.keys_dir);
    return s_spawn_role ("coordinator-beta", "coordinator-beta.log", command);
}

//  Participant index, given both coordinators (one certificate for both:
//  they share the harness's key pair)
static pid_t
s_two_coordinator_participant (int index)
{
    char command [2048];
    snprintf (command, sizeof command, "exec %s/participant/dtx-participant --name %s --conninfo"
              " 'host=127.0.0.1 port=%d user=postgres dbname=postgres' --coordinator '%s, %s'"
              " --pool-min 2 --curve-secret %s/participants/%s_secret --coordinator-key %s/coordinator",
              TOP_BUILDDIR, harness.db_name [index], harness.pg_port [index],
              harness.participant_endpoint, s_beta_participants, harness.keys_dir,
              harness.db_name [index], harness.keys_dir);
    char log [64];
    snprintf (log, sizeof log, "participant-%s.log", harness.db_name [index]);
    return s_spawn_role (harness.db_name [index], log, command);
}

static bool
s_ready (const char *endpoint, int timeout_ms)
{
    dtx_client_t *ready = dtx_client_new (endpoint, 1000);
    const char *names [] = { "db1", "db2" };
    bool ok = ready && dtx_client_wait_ready (ready, names, 2, timeout_ms);
    dtx_client_destroy (&ready);
    return ok;
}

//  A transaction through client: rows id on db1 and, if two, on db2;
//  returns its outcome; its gid's shard must be `shard`
static int
s_shard_txn (dtx_client_t *through, const char *shard, int id, bool two)
{
    dtx_txn_t *txn = dtx_begin (through, 10000);
    ck_assert_ptr_nonnull (txn);
    char sql [128];
    snprintf (sql, sizeof sql, "INSERT INTO items (id, note) VALUES (%d, 'shards')", id);
    for (int i = 0; i < (two? 2: 1); i++) {
        dtx_result_t *result = dtx_exec (txn, harness.db_name [i], sql, 0, NULL);
        ck_assert_msg (dtx_result_ok (result), "%s on %s through %s: %s %s", sql,
                       harness.db_name [i], shard, dtx_result_sqlstate (result),
                       dtx_result_error (result));
        dtx_result_destroy (&result);
    }
    char prefix [32];
    snprintf (prefix, sizeof prefix, "dtx:%s:", shard);
    ck_assert_msg (strncmp (dtx_txn_gid (txn), prefix, strlen (prefix)) == 0, "%s", dtx_txn_gid (txn));
    int outcome = dtx_commit (txn);
    ck_assert_msg (outcome == DTX_COMMITTED, "%d through %s: %s %s", id, shard,
                   dtx_txn_error_sqlstate (txn), dtx_txn_error_message (txn));
    dtx_txn_destroy (&txn);
    return outcome;
}

static long long
s_idle_in_txn (int index)
{
    return harness_pg_value (index, "SELECT count(*) FROM pg_stat_activity"
                                    " WHERE state LIKE 'idle in transaction%'");
}

//  (a) both coordinators served through the same participants; (b) one
//  SIGKILLed, the other goes on; (c) a restart of one (a new epoch of its
//  shard) rolls back its live sessions, not the other's
START_TEST (test_two_coordinators)
{
    harness_case_setup ();
    harness_start_coordinator ();
    pid_t beta = s_beta_start ();
    for (int i = 0; i < 2; i++)
        s_two_coordinator_participant (i);
    ck_assert_msg (s_ready (harness.client_endpoint, 30000), "not ready through coordinator test");
    ck_assert_msg (s_ready (s_beta_clients, 30000), "not ready through coordinator beta");
    dtx_client_t *alpha_client = dtx_client_new (harness.client_endpoint, 20000);
    dtx_client_t *beta_client = dtx_client_new (s_beta_clients, 20000);
    ck_assert_ptr_nonnull (alpha_client);
    ck_assert_ptr_nonnull (beta_client);

    //  (a) interleaved: two-phase (two databases) and one-phase (one)
    for (int i = 0; i < 20; i++) {
        bool two = i % 3 != 2;
        s_shard_txn (i % 2? beta_client: alpha_client, i % 2? "beta": "test", 12000 + i, two);
    }
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq (s_count_items (0, 12000 + i), 1);
        ck_assert_int_eq (s_count_items (1, 12000 + i), i % 3 != 2? 1: 0);
    }
    //  and at once: a transaction of each open together on both databases
    dtx_txn_t *both [2] = { dtx_begin (alpha_client, 10000), dtx_begin (beta_client, 10000) };
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 2; i++)
            s_insert (both [t], i, 12100 + t);
    for (int t = 0; t < 2; t++) {
        ck_assert_int_eq (dtx_commit (both [t]), DTX_COMMITTED);
        dtx_txn_destroy (&both [t]);
        ck_assert_int_eq (s_count_items (0, 12100 + t) + s_count_items (1, 12100 + t), 2);
    }

    //  (b) beta killed: test's transactions go on through the same
    //  participants, and they say which coordinator is silent
    ck_assert_int_eq (kill (beta, SIGKILL), 0);
    ck_assert_int_eq (waitpid (beta, NULL, 0), beta);
    for (int i = 0; i < 10; i++)
        s_shard_txn (alpha_client, "test", 12200 + i, i % 2 == 0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq (s_count_items (0, 12200 + i) + s_count_items (1, 12200 + i),
                          i % 2 == 0? 2: 1);
    char out [4096], pattern [256];
    snprintf (pattern, sizeof pattern, "no answer from coordinator %s", s_beta_participants);
    int64_t deadline = zclock_mono () + 10000;
    do {
        zclock_sleep (200);
        harness_capture (out, sizeof out, "grep -c '%s' %s/participant-db1.log", pattern, harness.dir);
    } while (atoi (out) < 1 && zclock_mono () < deadline);
    ck_assert_msg (atoi (out) == 1, "db1 does not say '%s' once: %s", pattern, out);
    harness_capture (out, sizeof out, "grep -c 'no answer from coordinator %s' %s/participant-db1.log",
                     harness.participant_endpoint, harness.dir);
    ck_assert_int_eq (atoi (out), 0);

    //  (c) beta back (epoch 2 of shard beta); a live session of each
    //  shard on db1; test restarts (epoch 2 of shard test): its session
    //  is rolled back, beta's is not
    beta = s_beta_start ();
    ck_assert (s_ready (s_beta_clients, 30000));
    dtx_txn_t *alpha_txn = dtx_begin (alpha_client, 60000);
    dtx_txn_t *beta_txn = dtx_begin (beta_client, 60000);
    s_insert (alpha_txn, 0, 12300);
    s_insert (beta_txn, 0, 12301);
    ck_assert_int_eq (s_idle_in_txn (0), 2);
    harness_kill_coordinator (SIGKILL);
    harness_start_coordinator ();
    deadline = zclock_mono () + 10000;
    while (s_idle_in_txn (0) != 1 && zclock_mono () < deadline)
        zclock_sleep (50);
    ck_assert_int_eq (s_idle_in_txn (0), 1);
    harness_capture (out, sizeof out, "grep -c 'shard test is at epoch 2 (was 1; from REGISTER_OK.*"
                     "rolling back 1 live session' %s/participant-db1.log", harness.dir);
    ck_assert_int_eq (atoi (out), 1);
    //  beta's goes on, on both databases, and commits
    s_insert (beta_txn, 1, 12301);
    ck_assert_int_eq (dtx_commit (beta_txn), DTX_COMMITTED);
    dtx_txn_destroy (&beta_txn);
    dtx_txn_destroy (&alpha_txn);
    ck_assert_int_eq (s_count_items (0, 12301) + s_count_items (1, 12301), 2);
    ck_assert_int_eq (s_count_items (0, 12300), 0);
    //  and the restarted coordinator serves again
    ck_assert (s_ready (harness.client_endpoint, 30000));
    dtx_client_destroy (&alpha_client);
    alpha_client = dtx_client_new (harness.client_endpoint, 20000);
    s_shard_txn (alpha_client, "test", 12302, true);
    s_shard_txn (beta_client, "beta", 12303, true);
    ck_assert_int_eq (s_count_items (0, 12302) + s_count_items (1, 12302), 2);
    ck_assert_int_eq (s_count_items (0, 12303) + s_count_items (1, 12303), 2);
    ck_assert (harness_wait_no_prepared (10000));
    ck_assert_int_eq (s_idle_in_txn (0) + s_idle_in_txn (1), 0);
    dtx_client_destroy (&alpha_client);
    dtx_client_destroy (&beta_client);
}
END_TEST

//  In-doubt gids are asked of every coordinator; one's "not mine" (an
//  ERROR, status 13), UNKNOWN or IN_PROGRESS is no answer and cancels
//  nothing; the other's exact answer, when it comes, acts.  Requests are
//  answered on the link they came on.  (The test is both coordinators:
//  two ROUTERs, test on the harness's endpoint, gamma on beta's; gids of
//  a shard of their own, not to meet test_two_coordinators' in the
//  markers)
static zsock_t *s_links [2];
static zframe_t *s_link_peer [2];

//  Answer REGISTERs (test:1, gamma:1); return the next other message of
//  either link, *from its index; NULL after timeout_ms
static dtx_proto_t *
s_links_next (int timeout_ms, int *from)
{
    const char *instance [] = { "test:1", "gamma:1" };
    zpoller_t *poller = zpoller_new (s_links [0], s_links [1], NULL);
    int64_t deadline = zclock_mono () + timeout_ms;
    dtx_proto_t *found = NULL;
    while (!found && zclock_mono () < deadline) {
        zsock_t *which = (zsock_t *) zpoller_wait (poller, (int) (deadline - zclock_mono ()));
        if (!which)
            continue;
        int link = which == s_links [0]? 0: 1;
        dtx_proto_t *msg;
        char err [256];
        int rc = dtx_proto_recv (&msg, which, err, sizeof err);
        ck_assert_msg (rc != -2, "malformed: %s", err);
        if (rc)
            continue;
        zframe_destroy (&s_link_peer [link]);
        s_link_peer [link] = zframe_dup (dtx_proto_routing_id (msg));
        if (dtx_proto_id (msg) == DTX_PROTO_REGISTER) {
            dtx_proto_t *ok = dtx_proto_new (DTX_PROTO_REGISTER_OK);
            dtx_proto_set_routing_id (ok, s_link_peer [link]);
            dtx_proto_set_seq (ok, dtx_proto_seq (msg));
            dtx_proto_set_name (ok, dtx_proto_name (msg));
            dtx_proto_set_text (ok, instance [link]);
            ck_assert_int_eq (dtx_proto_send (ok, which), 0);
            dtx_proto_destroy (&ok);
            dtx_proto_destroy (&msg);
            continue;
        }
        *from = link;
        found = msg;
    }
    zpoller_destroy (&poller);
    return found;
}

static void
s_links_answer (int link, dtx_proto_t *query, int id, int status, const char *text)
{
    dtx_proto_t *answer = dtx_proto_new (id);
    dtx_proto_set_routing_id (answer, s_link_peer [link]);
    dtx_proto_set_seq (answer, dtx_proto_seq (query));
    dtx_proto_set_gid (answer, dtx_proto_gid (query));
    dtx_proto_set_status (answer, (uint8_t) status);
    dtx_proto_set_text (answer, text);
    ck_assert_int_eq (dtx_proto_send (answer, s_links [link]), 0);
    dtx_proto_destroy (&answer);
}

START_TEST (test_in_doubt_asks_every_coordinator)
{
    harness_case_setup ();
    //  Four gids prepared, nobody driving them
    for (int i = 1; i <= 4; i++) {
        char sql [256];
        snprintf (sql, sizeof sql, "BEGIN; INSERT INTO items (id, note) VALUES (%d, 'in doubt');"
                  " PREPARE TRANSACTION 'dtx:gamma:1:%d'", 13000 + i, i);
        ck_assert_int_eq (harness_pg_exec (0, sql), 0);
    }
    s_links [0] = (zsock_t *) harness_coordinator_sock (harness.participant_endpoint);
    s_links [1] = (zsock_t *) harness_coordinator_sock (s_beta_participants);
    ck_assert (s_links [0] && s_links [1]);
    s_two_coordinator_participant (0);
    //  Round one: test says it cannot (ERROR 13, UNKNOWN, IN_PROGRESS),
    //  beta is silent.  Nothing may be resolved
    int asked [2] = { 0, 0 }, from;
    int64_t deadline = zclock_mono () + 20000;
    while ((asked [0] < 4 || asked [1] < 4) && zclock_mono () < deadline) {
        dtx_proto_t *msg = s_links_next (1000, &from);
        if (!msg)
            continue;
        ck_assert_int_eq (dtx_proto_id (msg), DTX_PROTO_OUTCOME_QUERY);
        int which = atoi (dtx_proto_gid (msg) + strlen ("dtx:gamma:1:"));
        if (from == 0) {
            if (which == 1)
                s_links_answer (0, msg, DTX_PROTO_ERROR, DTX_ERR_NOT_OWNER, "not mine, ask beta");
            else
                s_links_answer (0, msg, DTX_PROTO_OUTCOME, which == 2? DTX_UNKNOWN: DTX_IN_PROGRESS,
                                "not mine");
        }
        asked [from]++;
        dtx_proto_destroy (&msg);
    }
    ck_assert_msg (asked [0] >= 4 && asked [1] >= 4, "asked: test %d, beta %d", asked [0], asked [1]);
    //  (the participant's turn to act on those, were it wrong)
    ck_assert_ptr_null (s_links_next (1500, &from));
    ck_assert_int_eq (harness_prepared_dtx (), 4);
    //  Requests meanwhile: answered on the link they came on
    for (int link = 0; link < 2; link++) {
        dtx_proto_t *execute = dtx_proto_new (DTX_PROTO_EXECUTE);
        dtx_proto_set_routing_id (execute, s_link_peer [link]);
        dtx_proto_set_seq (execute, 77 + link);
        dtx_proto_set_gid (execute, link? "dtx:gamma:1:10": "dtx:gamma:1:11");
        dtx_proto_set_name (execute, "db1");
        dtx_proto_set_flags (execute, DTX_EXEC_FIRST | DTX_EXEC_DEFER | DTX_EXEC_COMMIT);
        dtx_proto_set_text (execute, link? "INSERT INTO items (id) VALUES (13011)"
                                         : "INSERT INTO items (id) VALUES (13010)");
        ck_assert_int_eq (dtx_proto_send (execute, s_links [link]), 0);
        dtx_proto_destroy (&execute);
        dtx_proto_t *done = s_links_next (10000, &from);
        ck_assert_ptr_nonnull (done);
        ck_assert_int_eq (dtx_proto_id (done), DTX_PROTO_DONE);
        ck_assert_int_eq (from, link);
        ck_assert_int_eq (dtx_proto_seq (done), 77 + link);
        ck_assert_int_eq (dtx_proto_status (done), DTX_DONE_OK);
        dtx_proto_destroy (&done);
    }
    //  Round two: test the same, beta answers: committed, aborted,
    //  committed; about the fourth they contradict each other (test:
    //  aborted, beta: committed), which the participant says loudly
    int resolved = 0;
    deadline = zclock_mono () + 20000;
    while (resolved < 4 && zclock_mono () < deadline) {
        dtx_proto_t *msg = s_links_next (1000, &from);
        if (!msg)
            continue;
        int which = atoi (dtx_proto_gid (msg) + strlen ("dtx:gamma:1:"));
        if (from == 0 && which == 4)
            s_links_answer (0, msg, DTX_PROTO_OUTCOME, DTX_ABORTED, "");
        else
        if (from == 0)
            s_links_answer (0, msg, DTX_PROTO_ERROR, DTX_ERR_NOT_OWNER, "not mine, ask beta");
        else {
            s_links_answer (1, msg, DTX_PROTO_OUTCOME, which == 2? DTX_ABORTED: DTX_COMMITTED, "");
            resolved++;
        }
        dtx_proto_destroy (&msg);
    }
    ck_assert_int_eq (resolved, 4);
    ck_assert_msg (harness_wait_no_prepared (10000), "still prepared: %d", harness_prepared_dtx ());
    ck_assert_int_eq (s_count_items (0, 13001), 1);
    ck_assert_int_eq (s_count_items (0, 13002), 0);
    ck_assert_int_eq (s_count_items (0, 13003), 1);
    ck_assert_int_eq (s_count_items (0, 13010) + s_count_items (0, 13011), 2);
    //  test's ERROR said once for that gid, not at every question
    char out [4096];
    harness_capture (out, sizeof out, "grep -c 'coordinator %s cannot resolve dtx:gamma:1:1: not mine,"
                     " ask beta; asking the others too' %s/participant-db1.log",
                     harness.participant_endpoint, harness.dir);
    ck_assert_int_eq (atoi (out), 1);
    deadline = zclock_mono () + 5000;
    do {
        harness_capture (out, sizeof out, "grep -c 'dtx:gamma:1:4: coordinator .* says .*"
                         "CONTRADICTING OUTCOMES' %s/participant-db1.log", harness.dir);
    } while (atoi (out) < 1 && zclock_mono () < deadline && (zclock_sleep (100), true));
    ck_assert_msg (atoi (out) >= 1, "no contradiction said: %s", out);
    harness_capture (out, sizeof out, "grep -c 'CONTRADICTING' %s/participant-db1.log", harness.dir);
    ck_assert_int_eq (atoi (out), 1);       //  (about the fourth only)
    harness_kill_participant (0, SIGTERM);
    for (int link = 0; link < 2; link++) {
        zframe_destroy (&s_link_peer [link]);
        zsock_destroy (&s_links [link]);
    }
}
END_TEST

//  The coordinator list and its certificates: refused when malformed,
//  saying what is wrong, before anything starts
START_TEST (test_coordinator_list_config)
{
    const char *good = "tcp://127.0.0.1:1";
    struct { const char *coordinators; const char *keys; const char *says; } cases [] = {
        { "tcp://127.0.0.1:1,,tcp://127.0.0.1:2", "K", "coordinator: endpoint 2 of" },
        { "tcp://127.0.0.1:1, ", "K", "is empty" },
        { "tcp://127.0.0.1:1,tcp://127.0.0.1:2,tcp://127.0.0.1:1", "K", "endpoint tcp://127.0.0.1:1 is listed twice" },
        { "tcp://127.0.0.1:1,tcp://127.0.0.1:2,tcp://127.0.0.1:3,tcp://127.0.0.1:4,tcp://127.0.0.1:5,"
          "tcp://127.0.0.1:6,tcp://127.0.0.1:7,tcp://127.0.0.1:8,tcp://127.0.0.1:9", "K",
          "more than 8 endpoints" },
        { "tcp://127.0.0.1:1,tcp://127.0.0.1:2,tcp://127.0.0.1:3", "K,K", "coordinator-key: 2 certificates for 3 coordinator endpoints" },
        { "tcp://127.0.0.1:1,tcp://127.0.0.1:2", "K,", "coordinator-key: certificate 2 of" },
    };
    char keys [4096], out [8192];
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        //  K: the harness's coordinator certificate
        snprintf (keys, sizeof keys, "%s", cases [i].keys);
        char expanded [4096] = "";
        for (const char *c = keys; *c; c++)
            if (*c == 'K')
                snprintf (expanded + strlen (expanded), sizeof expanded - strlen (expanded), "%s/coordinator",
                          harness.keys_dir);
            else
                snprintf (expanded + strlen (expanded), sizeof expanded - strlen (expanded), "%c", *c);
        int rc = harness_capture (out, sizeof out, "timeout -k 5 10 %s/participant/dtx-participant"
                                  " --name db1 --conninfo 'host=127.0.0.1 port=%d user=postgres"
                                  " dbname=postgres' --coordinator '%s' --curve-secret"
                                  " %s/participants/db1_secret --coordinator-key '%s'", TOP_BUILDDIR,
                                  harness.pg_port [0], cases [i].coordinators, harness.keys_dir,
                                  expanded);
        ck_assert_msg (rc == 2, "%s / %s: exit %d: %s", cases [i].coordinators, cases [i].keys, rc, out);
        ck_assert_msg (strstr (out, cases [i].says), "%s / %s: %s", cases [i].coordinators,
                       cases [i].keys, out);
    }
    //  One certificate per endpoint (the same file twice is fine), and a
    //  certificate that is not there: named
    int rc = harness_capture (out, sizeof out, "timeout -k 5 10 %s/participant/dtx-participant"
                              " --name db1 --conninfo 'host=127.0.0.1 port=%d user=postgres"
                              " dbname=postgres' --coordinator '%s,tcp://127.0.0.1:2' --curve-secret"
                              " %s/participants/db1_secret --coordinator-key '%s/coordinator,%s/nothing'",
                              TOP_BUILDDIR, harness.pg_port [0], good, harness.keys_dir,
                              harness.keys_dir, harness.keys_dir);
    ck_assert_msg (rc == 1 && strstr (out, "/nothing"), "exit %d: %s", rc, out);
}
END_TEST

Suite *
suite_participant (void)
{
    Suite *suite = suite_create ("participant");
    TCase *tc = tcase_create ("unit");
    tcase_add_test (tc, test_txn_control_classified);
    tcase_add_test (tc, test_schema_file_matches_binary);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("system");
    tcase_add_unchecked_fixture (tc, s_system_setup, s_harness_stop);
    tcase_add_checked_fixture (tc, s_client_setup, s_client_teardown);
    tcase_set_timeout (tc, 180);
    tcase_add_test (tc, test_txn_control_refused_exec);
    tcase_add_test (tc, test_txn_control_refused_send);
    tcase_add_test (tc, test_txn_control_backstop);
    tcase_add_test (tc, test_max_prepared_warning_and_hint);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("sessions");
    tcase_add_unchecked_fixture (tc, s_system_setup, s_harness_stop);
    tcase_add_checked_fixture (tc, s_client_setup, s_client_teardown);
    tcase_set_timeout (tc, 180);
    tcase_add_test (tc, test_session_settings_reset);
    tcase_add_test (tc, test_session_objects_reset);
    tcase_add_test (tc, test_session_reset_after_failure);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("protocol");
    tcase_add_unchecked_fixture (tc, s_clusters_setup, s_harness_stop);
    tcase_add_checked_fixture (tc, s_router_setup, s_router_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_marker_gc);
    tcase_add_test (tc, test_register_identity);
    tcase_add_test (tc, test_one_phase_marker_and_probe);
    tcase_add_test (tc, test_start_needs_identity_and_schema);
    tcase_add_test (tc, test_closed_epoch_refused);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("shards");
    tcase_add_unchecked_fixture (tc, s_shards_setup, s_shards_teardown);
    tcase_set_timeout (tc, 240);
    tcase_add_test (tc, test_coordinator_list_config);
    tcase_add_test (tc, test_in_doubt_asks_every_coordinator);
    tcase_add_test (tc, test_two_coordinators);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return harness_run (suite_participant ());
}
