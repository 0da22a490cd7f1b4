/*  test_dtxctl - the operator's tool against a real coordinator, real
    participants and real clusters (docs/operations.md, "dtxctl" and the
    in-doubt runbook): run's JSON document and exit codes (4 when the
    outcome is unknown), resolve's gid checks and its agreement with what
    participants are told (never issued, presumed abort), resolve --db on
    the databases themselves with its audit row, forget, and one JSON
    document per command.  */
#include "testutil.h"
#include "dtx.h"
#include "dtx_util.h"
#include <czmq.h>
#include <signal.h>
#include <sys/stat.h>

static void
s_suite_setup (void)
{
    harness_start (2);
}

//  dtxctl with the admin endpoint only (--log-dir): run finds the client
//  endpoint itself.  Standard output only into out (stderr to a file);
//  the exit status
static int
s_dtxctl (char *out, size_t size, const char *format, ...)
{
    char args [2048];
    va_list ap;
    va_start (ap, format);
    vsnprintf (args, sizeof args, format, ap);
    va_end (ap);
    return harness_capture (out, size, "(%s/dtxctl/dtxctl --log-dir %s %s 2>%s/dtxctl.err)",
                            TOP_BUILDDIR, harness.log_dir, args, harness.dir);
}

//  The last dtxctl's standard error
static const char *
s_stderr (void)
{
    static char text [8192];
    char path [400];
    snprintf (path, sizeof path, "%s/dtxctl.err", harness.dir);
    FILE *file = fopen (path, "r");
    size_t used = file? fread (text, 1, sizeof text - 1, file): 0;
    text [used] = 0;
    if (file)
        fclose (file);
    return text;
}

//  text must be exactly one JSON document: python's json.load answers the
//  expression expr over it (d is the document); its output into result.
//  Returns python's exit status (0: parsed, and expr evaluated)
static int
s_json (const char *text, const char *expr, char *result, size_t size)
{
    char path [400];
    snprintf (path, sizeof path, "%s/doc.json", harness.dir);
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fputs (text, file);
    fclose (file);
    char program [400];
    snprintf (program, sizeof program, "%s/doc.py", harness.dir);
    file = fopen (program, "w");
    ck_assert_ptr_nonnull (file);
    fprintf (file, "import json, sys\nd = json.load (open (sys.argv [1]))\nprint (%s)\n", expr);
    fclose (file);
    return harness_capture (result, size, "/usr/bin/python3 %s %s", program, path);
}

//  A script file in the harness's directory
static const char *
s_script (const char *name, const char *text)
{
    static char path [400];
    snprintf (path, sizeof path, "%s/%s", harness.dir, name);
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fputs (text, file);
    fclose (file);
    return path;
}

//  The coordinator's epoch (status --json)
static long
s_epoch (void)
{
    char out [4096], value [64];
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "--json status"), 0);
    ck_assert_int_eq (s_json (out, "d['epoch']", value, sizeof value), 0);
    return atol (value);
}

//  The coordinator's log has text
static bool
s_log_has (const char *text)
{
    char out [256];
    return harness_capture (out, sizeof out, "grep -qF -- '%s' %s/coordinator.log", text,
                            harness.dir) == 0;
}

//  conninfo of cluster index for --db
static const char *
s_conninfo (int index)
{
    static char text [2][128];
    snprintf (text [index], sizeof text [index], "host=127.0.0.1 port=%d user=postgres dbname=postgres",
              harness.pg_port [index]);
    return text [index];
}

//  A prepared transaction made by hand on cluster index: gid, item id
static void
s_prepare_by_hand (int index, const char *gid, int id)
{
    char sql [256];
    PGconn *conn = harness_pg (index);
    snprintf (sql, sizeof sql, "BEGIN; INSERT INTO items (id, note) VALUES (%d, 'by hand');"
              " PREPARE TRANSACTION '%s'", id, gid);
    PGresult *result = PQexec (conn, sql);
    ck_assert_msg (PQresultStatus (result) == PGRES_COMMAND_OK, "%s", PQerrorMessage (conn));
    PQclear (result);
    PQfinish (conn);
}

static long long
s_prepared (int index, const char *gid)
{
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM pg_prepared_xacts WHERE gid = '%s'", gid);
    return harness_pg_value (index, sql);
}

//  --------------------------------------------------------------------------
//  run

START_TEST (test_run_json_document)
{
    const char *script = s_script ("ok.sql",
        "\\c db1\n"
        "INSERT INTO items (id, note) VALUES (7001, 'one'), (7002, NULL);\n"
        "SELECT id, note FROM items WHERE id IN (7001, 7002) ORDER BY id;\n"
        "\\connect db2\n"
        "-- a comment\n"
        "INSERT INTO items (id, note)\n"
        "  VALUES (7003, 'it''s \"quoted\"');\n");
    char out [16384], value [4096];
    //  No --coordinator: the client endpoint comes from the admin endpoint
    int rc = s_dtxctl (out, sizeof out, "run %s --json", script);
    ck_assert_msg (rc == 0, "exit %d: %s %s", rc, out, s_stderr ());
    ck_assert_int_eq (s_json (out, "d['outcome'], d['statements'], len (d['results']), d['gid'][:4]",
                              value, sizeof value), 0);
    ck_assert_str_eq (value, "committed 3 3 dtx:\n");
    //  The rows are the database's, NULL as null
    ck_assert_int_eq (s_json (out, "json.dumps ([d['results'][1]['columns'], d['results'][1]['rows']])",
                              value, sizeof value), 0);
    ck_assert_str_eq (value, "[[\"id\", \"note\"], [[\"7001\", \"one\"], [\"7002\", null]]]\n");
    ck_assert_int_eq (s_json (out, "d['results'][0]['rows_affected'], d['results'][2]['database'],"
                                   " d['results'][2]['line'], d['results'][0]['command']",
                              value, sizeof value), 0);
    ck_assert_str_eq (value, "2 db2 6 INSERT 0 2\n");
    ck_assert_int_eq (harness_pg_value (1, "SELECT count (*) FROM items WHERE id = 7003"
                                           " AND note = 'it''s \"quoted\"'"), 1);
    ck_assert_int_eq (harness_pg_value (0, "SELECT count (*) FROM items WHERE id IN (7001, 7002)"), 2);

    //  A failing statement: aborted, exit 1, still one document, with
    //  the error; nothing of it stays
    script = s_script ("fails.sql",
        "\\c db1\n"
        "INSERT INTO items (id, note) VALUES (7004, 'x');\n"
        "SELECT 1 / 0;\n");
    rc = s_dtxctl (out, sizeof out, "--json run %s", script);
    ck_assert_msg (rc == 1, "exit %d: %s", rc, out);
    ck_assert_int_eq (s_json (out, "d['outcome'], d['failure']['sqlstate'], d['failure']['database'],"
                                   " 'division by zero' in d['error']", value, sizeof value), 0);
    ck_assert_str_eq (value, "aborted 22012 db1 True\n");
    ck_assert_int_eq (harness_pg_value (0, "SELECT count (*) FROM items WHERE id = 7004"), 0);

    //  Usage errors in the script: exit 2, a JSON document
    script = s_script ("nodb.sql", "SELECT 1;\n");
    rc = s_dtxctl (out, sizeof out, "--json run %s", script);
    ck_assert_int_eq (rc, 2);
    ck_assert_int_eq (s_json (out, "'no database chosen' in d['error']", value, sizeof value), 0);
    ck_assert_str_eq (value, "True\n");
    rc = s_dtxctl (out, sizeof out, "--json run %s/no-such-file.sql", harness.dir);
    ck_assert_int_eq (rc, 2);
    ck_assert_int_eq (s_json (out, "'cannot open' in d['error']", value, sizeof value), 0);
    ck_assert_str_eq (value, "True\n");
    //  A coordinator that does not answer (a spare port of the harness's
    //  block, where nothing listens): unreachable (3), nothing done
    rc = harness_capture (out, sizeof out, "(%s/dtxctl/dtxctl --coordinator tcp://127.0.0.1:%d"
                          " --timeout 1000 --json run %s 2>/dev/null)", TOP_BUILDDIR,
                          harness.metrics_port - 3, s_script ("u.sql", "\\c db1\nSELECT 1;\n"));
    ck_assert_msg (rc == 3, "exit %d: %s", rc, out);
    ck_assert_int_eq (s_json (out, "'did not answer' in d['error'], d['gid']", value, sizeof value), 0);
    ck_assert_str_eq (value, "True \n");
    //  Text mode keeps the psql-like table
    rc = s_dtxctl (out, sizeof out, "run %s", s_script ("text.sql", "\\c db2\nSELECT 41 + 1 AS answer;\n"));
    ck_assert_int_eq (rc, 0);
    ck_assert_msg (strstr (out, " answer\n-------\n 42    \n(1 row)\n") && strstr (out, ": committed"), "%s", out);

    //  --config FILE: the coordinator's clients key
    char config [512];
    snprintf (config, sizeof config, "coordinator\n    clients = \"%s\"\n", harness.client_endpoint);
    char path [400];
    snprintf (path, sizeof path, "%s", s_script ("coordinator.cfg", config));
    rc = harness_capture (out, sizeof out, "(%s/dtxctl/dtxctl --config %s --json run %s 2>/dev/null)",
                          TOP_BUILDDIR, path, s_script ("cfg.sql", "\\c db1\nSELECT 5;\n"));
    ck_assert_msg (rc == 0, "exit %d: %s", rc, out);
    ck_assert_int_eq (s_json (out, "d['results'][0]['rows']", value, sizeof value), 0);
    ck_assert_str_eq (value, "[['5']]\n");
    //  An admin endpoint nobody serves: unreachable (3), one document
    rc = harness_capture (out, sizeof out, "(%s/dtxctl/dtxctl --log-dir %s --json run %s 2>/dev/null)",
                          TOP_BUILDDIR, harness.dir, path);
    ck_assert_int_eq (rc, 3);
    ck_assert_int_eq (s_json (out, "'client endpoint' in d['error']", value, sizeof value), 0);
    ck_assert_str_eq (value, "True\n");
}
END_TEST

//  The coordinator stops (SIGSTOP) after its COMMIT record is durable:
//  run cannot learn the outcome, says so and exits 4.  After SIGCONT the
//  transaction is committed, as the log says.
START_TEST (test_run_outcome_unknown)
{
    harness_kill_coordinator (SIGTERM);
    harness_start_coordinator_fault ("coord-after-commit-durable/stop");
    ck_assert (harness_wait_ready (20000));
    const char *script = s_script ("unknown.sql",
        "\\c db1\nINSERT INTO items (id, note) VALUES (7101, 'u');\n"
        "\\c db2\nINSERT INTO items (id, note) VALUES (7101, 'u');\n");
    char out [8192], value [1024];
    int rc = s_dtxctl (out, sizeof out, "--timeout 1500 --json run %s", script);
    pid_t coordinator = harness_coordinator_pid ();
    ck_assert (harness_wait_stopped (coordinator, 5000));
    ck_assert_msg (rc == 4, "exit %d: %s %s", rc, out, s_stderr ());
    ck_assert_int_eq (s_json (out, "d['outcome'], 'outcome unknown' in d['error'], d['gid'][:4]",
                              value, sizeof value), 0);
    ck_assert_str_eq (value, "unknown True dtx:\n");
    char gid [256];
    ck_assert_int_eq (s_json (out, "d['gid']", gid, sizeof gid), 0);
    gid [strcspn (gid, "\n")] = 0;
    ck_assert_int_eq (kill (coordinator, SIGCONT), 0);
    //  The log decided: committed
    int64_t deadline = zclock_mono () + 15000;
    while (zclock_mono () < deadline
    &&     harness_pg_value (1, "SELECT count (*) FROM items WHERE id = 7101") != 1)
        zclock_sleep (100);
    ck_assert_int_eq (harness_pg_value (0, "SELECT count (*) FROM items WHERE id = 7101"), 1);
    ck_assert_int_eq (harness_pg_value (1, "SELECT count (*) FROM items WHERE id = 7101"), 1);
    rc = s_dtxctl (out, sizeof out, "show %s", gid);
    ck_assert_msg (rc == 0 && strstr (out, "committed"), "%d %s", rc, out);
}
END_TEST

//  --------------------------------------------------------------------------
//  resolve and show

START_TEST (test_resolve_rejects_malformed_gids)
{
    char out [4096], value [1024], gid [300];
    memset (gid, 0, sizeof gid);
    snprintf (gid, sizeof gid, "dtx:test:1:");
    while (strlen (gid) < DTX_GID_MAX + 5)
        strcat (gid, "9");
    const char *bad [] = { gid, "dtx:test:1:2;DROP", "foo", "dtx:test:x:1", "''", NULL };
    for (int i = 0; bad [i]; i++) {
        int rc = s_dtxctl (out, sizeof out, "resolve \"%s\" commit", bad [i]);
        ck_assert_msg (rc == 2, "%s: exit %d", bad [i], rc);
        ck_assert_msg (strstr (s_stderr (), "bad gid"), "%s: %s", bad [i], s_stderr ());
        rc = s_dtxctl (out, sizeof out, "--json show \"%s\"", bad [i]);
        ck_assert_int_eq (rc, 2);
        ck_assert_int_eq (s_json (out, "'bad gid' in d['error']", value, sizeof value), 0);
        ck_assert_str_eq (value, "True\n");
    }
    int rc = s_dtxctl (out, sizeof out, "resolve %s commit", gid);
    ck_assert_int_eq (rc, 2);
    ck_assert_msg (strstr (s_stderr (), "200"), "%s", s_stderr ());
    //  Neither commit nor abort
    rc = s_dtxctl (out, sizeof out, "resolve dtx:test:1:1 maybe");
    ck_assert_int_eq (rc, 2);
}
END_TEST

//  A gid never issued and one of presumed abort: show and resolve say
//  what a participant holding it would be told
START_TEST (test_resolve_show_agree_with_participants)
{
    char out [8192], value [2048], gid [128];
    long epoch = s_epoch ();
    //  Never issued (an epoch to come)
    snprintf (gid, sizeof gid, "dtx:test:%ld:1", epoch + 5);
    int rc = s_dtxctl (out, sizeof out, "show %s", gid);
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (s_stderr (), "never issued"), "%s %s", out, s_stderr ());
    rc = s_dtxctl (out, sizeof out, "resolve %s commit", gid);
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (s_stderr (), "never issued") && strstr (s_stderr (), "nothing recorded"),
                   "%s", s_stderr ());
    rc = s_dtxctl (out, sizeof out, "resolve %s abort", gid);
    ck_assert_int_eq (rc, 1);
    //  Another coordinator's
    rc = s_dtxctl (out, sizeof out, "resolve dtx:elsewhere:1:1 abort");
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (s_stderr (), "not a global id of this coordinator"), "%s", s_stderr ());

    //  Presumed abort: a gid of an earlier epoch with no commit record
    //  (the coordinator restarts for one if it is still in its first)
    if (epoch == 1) {
        harness_kill_coordinator (SIGTERM);
        harness_start_coordinator ();
        ck_assert (harness_wait_ready (20000));
        epoch = s_epoch ();
    }
    snprintf (gid, sizeof gid, "dtx:test:%ld:424242", epoch - 1);
    rc = s_dtxctl (out, sizeof out, "--timeout 10000 --json show %s", gid);
    ck_assert_msg (rc == 0, "exit %d: %s %s", rc, out, s_stderr ());
    ck_assert_int_eq (s_json (out, "d['state'], d['presumed']", value, sizeof value), 0);
    ck_assert_str_eq (value, "aborted True\n");
    rc = s_dtxctl (out, sizeof out, "--timeout 10000 show %s", gid);
    ck_assert_msg (rc == 0 && strstr (out, "aborted (presumed abort: no commit record)"), "%s", out);
    rc = s_dtxctl (out, sizeof out, "resolve %s commit", gid);
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (s_stderr (), "presumed abort: no commit record")
                   && strstr (s_stderr (), "told to roll back"), "%s", s_stderr ());
    //  Abort agrees, and nothing is recorded: participants holding it are
    //  told to roll back already, and a second word in the log would be
    //  remembered at the next start (for a gid whose client answer was a
    //  one-phase commit or UNKNOWN it made client answers false)
    rc = s_dtxctl (out, sizeof out, "resolve %s abort", gid);
    ck_assert_msg (rc == 0 && strstr (out, "nothing recorded"), "exit %d: %s %s", rc, out, s_stderr ());
    //  A live transaction aborted by an operator: recorded, with who asked
    //  taken from the connection (the ipc socket's peer uid and pid), the
    //  user name dtxctl sent beside it as a claim
    dtx_client_t *live_client = dtx_client_new (harness.client_endpoint, 5000);
    dtx_txn_t *live = dtx_begin (live_client, 30000);
    ck_assert_ptr_nonnull (live);
    dtx_result_t *live_result = dtx_exec (live, "db1", "SELECT 1", 0, NULL);
    ck_assert (dtx_result_ok (live_result));
    dtx_result_destroy (&live_result);
    rc = s_dtxctl (out, sizeof out, "resolve %s abort", dtx_txn_gid (live));
    ck_assert_msg (rc == 0, "exit %d: %s %s", rc, out, s_stderr ());
    ck_assert_int_eq (dtx_commit (live), DTX_ABORTED);
    dtx_txn_destroy (&live);
    dtx_client_destroy (&live_client);
    char who [64];
    snprintf (who, sizeof who, "by uid %d pid ", (int) getuid ());
    ck_assert_msg (strstr (out, who) && strstr (out, "on the ipc socket, says user "), "%s", out);
    snprintf (who, sizeof who, "operator uid %d pid ", (int) getuid ());
    ck_assert (s_log_has (who));

    //  A committed transaction: abort is refused, as before
    rc = s_dtxctl (out, sizeof out, "--json run %s",
                   s_script ("c.sql", "\\c db1\nINSERT INTO items (id) VALUES (7201);\n"
                                      "\\c db2\nINSERT INTO items (id) VALUES (7201);\n"));
    ck_assert_int_eq (rc, 0);
    ck_assert_int_eq (s_json (out, "d['gid']", gid, sizeof gid), 0);
    gid [strcspn (gid, "\n")] = 0;
    rc = s_dtxctl (out, sizeof out, "resolve %s abort", gid);
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (s_stderr (), "already decided COMMIT"), "%s", s_stderr ());
    //  ... also with --db: the coordinator's word vetoes, nothing is done
    rc = s_dtxctl (out, sizeof out, "--json resolve %s abort --db 'db1=%s'", gid, s_conninfo (0));
    ck_assert_int_eq (rc, 1);
    ck_assert_int_eq (s_json (out, "d['coordinator'], d['acted'], 'refused' in d['error']",
                              value, sizeof value), 0);
    ck_assert_str_eq (value, "committed 0 True\n");

    //  A one-phase commit, after a restart (no live transaction, no
    //  commit record): resolve abort records nothing, and across the next
    //  restart the client is still told committed (a HEURISTIC abort used
    //  to be written, and replay then answered "aborted")
    rc = s_dtxctl (out, sizeof out, "--json run %s",
                   s_script ("one.sql", "\\c db1\nINSERT INTO items (id) VALUES (7202);\n"));
    ck_assert_int_eq (rc, 0);
    ck_assert_int_eq (s_json (out, "d['gid']", gid, sizeof gid), 0);
    gid [strcspn (gid, "\n")] = 0;
    harness_kill_coordinator (SIGTERM);
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (20000));
    rc = s_dtxctl (out, sizeof out, "resolve %s abort", gid);
    ck_assert_msg (rc == 0 && strstr (out, "nothing recorded"), "exit %d: %s %s", rc, out, s_stderr ());
    harness_kill_coordinator (SIGTERM);
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (20000));
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 10000);
    ck_assert_int_eq (dtx_client_outcome (client, gid), DTX_COMMITTED);
    dtx_client_destroy (&client);
    ck_assert_int_eq (harness_pg_value (0, "SELECT count (*) FROM items WHERE id = 7202"), 1);
}
END_TEST

//  The coordinator's log is lost (the gid is not its): dtxctl commits the
//  prepared transaction on the database itself, audited with the
//  server's session_user; a contradicting decision elsewhere is refused
START_TEST (test_resolve_db_lost_log)
{
    char out [8192], value [2048];
    const char *gid = "dtx:lost:3:7";
    s_prepare_by_hand (0, gid, 7301);
    ck_assert_int_eq (s_prepared (0, gid), 1);
    //  The coordinator has no definite answer (not its gid): it may be
    //  alive and decide otherwise, so the operator must say it is gone
    int rc = s_dtxctl (out, sizeof out, "--json resolve %s commit --db 'db1=%s'", gid, s_conninfo (0));
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (out, "--force"), "%s", out);
    ck_assert_int_eq (s_prepared (0, gid), 1);
    rc = s_dtxctl (out, sizeof out, "--json resolve %s commit --force --db 'db1=%s'", gid, s_conninfo (0));
    ck_assert_msg (rc == 0, "exit %d: %s %s", rc, out, s_stderr ());
    ck_assert_int_eq (s_json (out, "d['acted'], d['databases'][0]['result'], d['coordinator']",
                              value, sizeof value), 0);
    ck_assert_str_eq (value, "1 done (forced: the operator says the coordinator is gone) none\n");
    ck_assert_int_eq (s_prepared (0, gid), 0);
    ck_assert_int_eq (harness_pg_value (0, "SELECT count (*) FROM items WHERE id = 7301"), 1);
    //  Who and when: the server's
    ck_assert_int_eq (harness_pg_value (0, "SELECT count (*) FROM dtx.resolve_audit WHERE"
                                           " gid = 'dtx:lost:3:7' AND decision = 'commit'"
                                           " AND result LIKE 'done%%' AND who = 'postgres'"
                                           " AND at > now () - interval '1 minute'"), 1);

    //  Committed on db1, prepared on both: abort on db1 and db2 is
    //  refused and touches nothing; commit finishes db2
    const char *gid2 = "dtx:lost:3:8";
    s_prepare_by_hand (0, gid2, 7302);
    s_prepare_by_hand (1, gid2, 7302);
    rc = s_dtxctl (out, sizeof out, "resolve %s commit --force --db 'db1=%s'", gid2, s_conninfo (0));
    ck_assert_msg (rc == 0, "exit %d: %s %s", rc, out, s_stderr ());
    rc = s_dtxctl (out, sizeof out, "resolve %s abort --force --db 'db1=%s' --db 'db2=%s'", gid2,
                   s_conninfo (0), s_conninfo (1));
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (s_stderr (), "refused") && strstr (s_stderr (), "committed by postgres")
                   && strstr (s_stderr (), "on db1"), "%s", s_stderr ());
    ck_assert_int_eq (s_prepared (1, gid2), 1);
    rc = s_dtxctl (out, sizeof out, "resolve %s commit --force --db 'db1=%s' --db 'db2=%s'", gid2,
                   s_conninfo (0), s_conninfo (1));
    ck_assert_msg (rc == 0, "exit %d: %s %s", rc, out, s_stderr ());
    ck_assert_int_eq (s_prepared (1, gid2), 0);
    ck_assert_int_eq (harness_pg_value (1, "SELECT count (*) FROM items WHERE id = 7302"), 1);
    //  Committed on db1 by the coordinator's phase 2 (no trace there),
    //  prepared on db2: an abort, even forced, is refused (it could split
    //  the transaction) and nothing is touched
    const char *gid3 = "dtx:lost:3:9";
    s_prepare_by_hand (0, gid3, 7303);
    s_prepare_by_hand (1, gid3, 7303);
    ck_assert_int_eq (harness_pg_exec (0, "COMMIT PREPARED 'dtx:lost:3:9'"), 0);
    rc = s_dtxctl (out, sizeof out, "resolve %s abort --force --db 'db1=%s' --db 'db2=%s'", gid3,
                   s_conninfo (0), s_conninfo (1));
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (s_stderr (), "is not prepared on db1 and nothing there says how it ended"),
                   "%s", s_stderr ());
    ck_assert_int_eq (s_prepared (1, gid3), 1);
    ck_assert_int_eq (harness_pg_exec (1, "COMMIT PREPARED 'dtx:lost:3:9'"), 0);
    //  A live transaction is the coordinator's to finish: refused
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 5000);
    dtx_txn_t *txn = dtx_begin (client, 30000);
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
    ck_assert (dtx_result_ok (result));
    dtx_result_destroy (&result);
    rc = s_dtxctl (out, sizeof out, "resolve %s commit --db 'db1=%s'", dtx_txn_gid (txn), s_conninfo (0));
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (s_stderr (), "is driving"), "%s", s_stderr ());
    dtx_rollback (txn);
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&client);
    //  Nothing prepared any more: exit 1, nothing to do
    rc = s_dtxctl (out, sizeof out, "resolve %s commit --db 'db2=%s'", gid2, s_conninfo (1));
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (s_stderr (), "not prepared on any database"), "%s", s_stderr ());
    //  A database that cannot be reached: nothing done, exit 3
    rc = s_dtxctl (out, sizeof out, "resolve %s commit --db 'db2=host=127.0.0.1 port=1 connect_timeout=2'",
                   gid2);
    ck_assert_int_eq (rc, 3);
}
END_TEST

//  On a tcp admin endpoint the operator is its CurveZMQ key (ZAP
//  User-Id) and address, as the connection says
static bool
s_file_has (const char *file, const char *text, int timeout_ms)
{
    char out [256];
    int64_t deadline = zclock_mono () + timeout_ms;
    do {
        if (harness_capture (out, sizeof out, "grep -qF -- '%s' %s/%s", text, harness.dir, file) == 0)
            return true;
        zclock_sleep (100);     //  polling interval, not a synchronisation
    } while (zclock_mono () < deadline);
    return false;
}

START_TEST (test_resolve_tcp_operator_key)
{
    char out [8192], dir [400];
    snprintf (dir, sizeof dir, "%s/admin-tcp", harness.dir);
    ck_assert_int_eq (mkdir (dir, 0700), 0);
    int port = harness.metrics_port - 4;     //  base + 5..7: spares of the harness's checked block
    //  Twice: epoch 2, so that a gid of epoch 1 is presumed abort
    for (int epoch = 1; epoch <= 2; epoch++) {
        char logname [64], started [64];
        snprintf (logname, sizeof logname, "admin-tcp-%d.log", epoch);
        snprintf (started, sizeof started, "coordinator admintcp: epoch %d", epoch);
        pid_t pid = harness_spawn (logname, "%s/coordinator/dtx-coordinator --id admintcp"
                                   " --log-dir %s --clients tcp://127.0.0.1:%d --participants"
                                   " tcp://127.0.0.1:%d --admin tcp://127.0.0.1:%d %s"
                                   " --operator-keys %s/operators", TOP_BUILDDIR, dir, port,
                                   port + 1, port + 2, harness.coordinator_args, harness.keys_dir);
        ck_assert (s_file_has (logname, started, 10000));
        if (epoch == 1) {
            harness_terminate (pid);
            continue;
        }
        //  A live transaction (BEGIN answered) aborted by an operator key
        char endpoint [64];
        snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
        dtx_client_t *client = dtx_client_new (endpoint, 5000);
        dtx_txn_t *txn = dtx_begin (client, 30000);
        ck_assert_ptr_nonnull (txn);
        ck_assert_msg (*dtx_txn_gid (txn), "no gid from the coordinator on port %d", port);
        int rc = harness_capture (out, sizeof out, "%s/dtxctl/dtxctl --admin tcp://127.0.0.1:%d"
                                  " --cert %s --coordinator-cert %s/coordinator resolve"
                                  " %s abort", TOP_BUILDDIR, port + 2,
                                  harness.operator_secret, harness.keys_dir, dtx_txn_gid (txn));
        ck_assert_msg (rc == 0 && strstr (out, "recorded (heuristic, by key "), "%d: %s", rc, out);
        dtx_txn_destroy (&txn);
        dtx_client_destroy (&client);
        ck_assert (s_file_has (logname, "operator key ", 5000));
        ck_assert (s_file_has (logname, " from 127.0.0.1, says user ", 1000));
        //  run finds the client endpoint through the tcp admin endpoint
        rc = harness_capture (out, sizeof out, "(%s/dtxctl/dtxctl --admin tcp://127.0.0.1:%d"
                              " --cert %s --coordinator-cert %s/coordinator endpoints --json"
                              " 2>/dev/null)", TOP_BUILDDIR, port + 2, harness.operator_secret,
                              harness.keys_dir);
        char value [256], want [256];
        ck_assert_int_eq (rc, 0);
        ck_assert_int_eq (s_json (out, "d['clients']", value, sizeof value), 0);
        snprintf (want, sizeof want, "tcp://127.0.0.1:%d\n", port);
        ck_assert_str_eq (value, want);
        harness_terminate (pid);
    }
}
END_TEST

//  --------------------------------------------------------------------------
//  forget, and one JSON document per command

START_TEST (test_json_one_document_each)
{
    const char *commands [] = {
        "status", "participants", "txns", "in-doubt", "endpoints", "show dtx:test:1:1",
        "show dtx:test:999:1", "resolve dtx:test:999:1 commit", "resolve bad commit",
        "forget nobody", "forget db1", "rebind 'bad name'", "nonsense", "", "run", "keygen",
        "shards", "in-doubt --bogus", "resolve dtx:test:1:1 commit --bogus", "--frobnicate status",
        "--timeout x status", NULL
    };
    char out [16384], value [256];
    for (int i = 0; commands [i]; i++) {
        s_dtxctl (out, sizeof out, "--json %s", commands [i]);
        ck_assert_msg (s_json (out, "type (d).__name__", value, sizeof value) == 0,
                       "%s: not one JSON document: %s", commands [i], out);
    }
    //  keygen too
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "--json keygen k1 --dir %s", harness.dir), 0);
    ck_assert_int_eq (s_json (out, "d['public'].endswith ('/k1'), len (d['public_key'])",
                              value, sizeof value), 0);
    ck_assert_str_eq (value, "True 40\n");
    //  in-doubt --db: one document of both views
    s_dtxctl (out, sizeof out, "--json in-doubt --db 'db1=%s'", s_conninfo (0));
    ck_assert_int_eq (s_json (out, "sorted (d.keys ())", value, sizeof value), 0);
    ck_assert_str_eq (value, "['coordinator', 'databases']\n");
    //  shards with a store that is not there: an error document
    int rc = s_dtxctl (out, sizeof out, "--json shards --store 'host=127.0.0.1 port=1 connect_timeout=2'");
    ck_assert_int_eq (rc, 3);
    ck_assert_int_eq (s_json (out, "list (d.keys ())", value, sizeof value), 0);
    ck_assert_str_eq (value, "['error']\n");
}
END_TEST

START_TEST (test_forget_participant)
{
    char out [8192], value [1024];
    int rc = s_dtxctl (out, sizeof out, "forget db2");
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (s_stderr (), "is connected"), "%s", s_stderr ());
    rc = s_dtxctl (out, sizeof out, "forget nobody");
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (s_stderr (), "no participant named"), "%s", s_stderr ());
    rc = s_dtxctl (out, sizeof out, "forget 'bad name'");
    ck_assert_int_eq (rc, 2);
    //  Stopped, but a live transaction has a branch on it: refused,
    //  naming it
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 5000);
    dtx_txn_t *txn = dtx_begin (client, 30000);
    dtx_result_t *result = dtx_exec (txn, "db2", "SELECT 1", 0, NULL);
    ck_assert (dtx_result_ok (result));
    dtx_result_destroy (&result);
    harness_kill_participant (1, SIGKILL);
    ck_assert (harness_wait_participant (1, false, 15000));
    rc = s_dtxctl (out, sizeof out, "forget db2");
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (s_stderr (), "1 transaction still needs participant db2: ")
                   && strstr (s_stderr (), dtx_txn_gid (txn)), "%s", s_stderr ());
    //  Its rollback waits for the participant (refused still); back, it
    //  ends; stopped again, nothing waits for it: removed
    dtx_rollback (txn);
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&client);
    rc = s_dtxctl (out, sizeof out, "forget db2");
    ck_assert_int_eq (rc, 1);
    ck_assert_msg (strstr (s_stderr (), "aborting"), "%s", s_stderr ());
    harness_start_participant (1);
    ck_assert (harness_wait_participant (1, true, 15000));
    int64_t deadline = zclock_mono () + 10000;
    while (zclock_mono () < deadline
    &&     (s_dtxctl (out, sizeof out, "txns"), strstr (out, "dtx:")))
        zclock_sleep (100);
    harness_kill_participant (1, SIGKILL);
    ck_assert (harness_wait_participant (1, false, 15000));
    rc = s_dtxctl (out, sizeof out, "forget db2");
    ck_assert_msg (rc == 0, "exit %d: %s %s", rc, out, s_stderr ());
    ck_assert (s_log_has ("participant db2: forgotten by an operator (uid "));
    ck_assert_int_eq (s_dtxctl (out, sizeof out, "--json participants"), 0);
    ck_assert_int_eq (s_json (out, "[p['name'] for p in d]", value, sizeof value), 0);
    ck_assert_str_eq (value, "['db1']\n");
    //  It comes back when it registers again
    harness_start_participant (1);
    ck_assert (harness_wait_participant (1, true, 15000));
    ck_assert (harness_wait_ready (15000));
}
END_TEST

Suite *
suite_dtxctl (void)
{
    Suite *suite = suite_create ("dtxctl");
    TCase *tc = tcase_create ("dtxctl");
    tcase_add_unchecked_fixture (tc, s_suite_setup, harness_stop);
    tcase_add_checked_fixture (tc, harness_case_setup, NULL);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_run_json_document);
    tcase_add_test (tc, test_resolve_rejects_malformed_gids);
    tcase_add_test (tc, test_json_one_document_each);
    tcase_add_test (tc, test_resolve_db_lost_log);
    tcase_add_test (tc, test_run_outcome_unknown);
    tcase_add_test (tc, test_resolve_show_agree_with_participants);
    tcase_add_test (tc, test_resolve_tcp_operator_key);
    tcase_add_test (tc, test_forget_participant);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return harness_run (suite_dtxctl ());
}
