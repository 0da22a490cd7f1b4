/*  test_ops - operations (docs/operations.md, "Logging and signals"): the
    coordinator and a participant started from a --config file with a
    --log-file, on real clusters.  SIGHUP after the file changed: the
    live keys act at once (a client key only on the new allow-list gets
    in; a transaction times out at the new txn-timeout), a key that needs
    a restart says so, a flag still beats the file, a broken file is an
    error line and the process serves on with its old settings.  Every
    line of the log files is an ISO-8601 text line or, after log-format
    changed to json, a JSON object (read back by python3).  A shard's
    epoch going backwards is an error line. */
#include "testutil.h"
#include "dtx.h"
#include "dtx_util.h"
#include "dtx_proto.h"
#include <czmq.h>
#include <signal.h>

//  Free ports of the harness's block (base .. base+9: clients,
//  participants, up to three clusters, metrics at base+9)
#define PORT_SPARE(n) (harness.metrics_port - 9 + 5 + (n))

static void
s_suite_setup (void)
{
    harness_start (1);
}

static void
s_write_file (const char *path, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = zsys_vprintf (format, args);
    va_end (args);
    //  Written whole, then renamed: SIGHUP never reads half a file
    char temp [600];
    snprintf (temp, sizeof temp, "%s.new", path);
    FILE *file = fopen (temp, "w");
    ck_assert_ptr_nonnull (file);
    ck_assert_int_eq (fputs (text, file) >= 0, 1);
    ck_assert_int_eq (fclose (file), 0);
    ck_assert_int_eq (rename (temp, path), 0);
    zstr_free (&text);
}

//  Lines of the file at path that hold text
static int
s_count (const char *path, const char *text)
{
    zchunk_t *chunk = zchunk_slurp (path, 0);
    if (!chunk)
        return 0;
    char *all = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    int count = 0;
    for (char *line = strtok (all, "\n"); line; line = strtok (NULL, "\n"))
        if (strstr (line, text))
            count++;
    free (all);
    return count;
}

static bool
s_wait_count (const char *path, const char *text, int count, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        if (s_count (path, text) >= count)
            return true;
        zclock_sleep (100);     //  polling interval, not a synchronisation
    }
    return s_count (path, text) >= count;
}

//  Every line of the log is an ISO-8601 text line of process or one JSON
//  object with ts, level, process, pid, msg; at least one of each
static void
s_assert_log_lines (const char *path, const char *process)
{
    char script [600];
    snprintf (script, sizeof script, "%s/check-log.py", harness.dir);
    s_write_file (script,
        "import json, re, sys\n"
        "ts = r'\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}[+-]\\d\\d:\\d\\d'\n"
        "text_line = re.compile('^' + ts + r' [EWNID] ' + sys.argv[2] + r'\\[\\d+\\]: ')\n"
        "texts = objects = 0\n"
        "for line in open(sys.argv[1], encoding='utf-8'):\n"
        "    line = line.rstrip('\\n')\n"
        "    if line.startswith('{'):\n"
        "        o = json.loads(line)\n"
        "        assert set(o) - {'gid'} == {'ts', 'level', 'process', 'pid', 'msg'}, line\n"
        "        assert 'gid' not in o or o['msg'].startswith(o['gid'] + ': '), line\n"
        "        assert re.fullmatch(ts, o['ts']), line\n"
        "        assert o['level'] in ('error', 'warning', 'notice', 'info', 'debug'), line\n"
        "        assert o['process'] == sys.argv[2] and isinstance(o['pid'], int), line\n"
        "        objects += 1\n"
        "    else:\n"
        "        assert text_line.match(line), 'not a log line: %%r' %% line\n"
        "        texts += 1\n"
        "assert texts > 0 and objects > 0, (texts, objects)\n"
        "print('lines', texts, objects)\n");
    char out [4096];
    int rc = harness_capture (out, sizeof out, "/usr/bin/python3 %s %s %s", script, path, process);
    ck_assert_msg (rc == 0, "%s: %s", path, out);
}

//  A transaction on db1 through client, committed (true) or not
static bool
s_commit_on_db1 (dtx_client_t *client)
{
    dtx_txn_t *txn = dtx_begin (client, 10000);
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
    bool ok = dtx_result_ok (result);
    dtx_result_destroy (&result);
    ok = ok && dtx_commit (txn) == DTX_COMMITTED;
    if (!ok)
        dtx_rollback (txn);
    dtx_txn_destroy (&txn);
    return ok;
}

//  Is key (a client's secret file) let in by the coordinator?  A stranger
//  gets no handshake: its question times out unanswered
static bool
s_key_accepted (const char *secret)
{
    dtx_client_t *client = dtx_client_new_secure (harness.client_endpoint, 3000, secret,
                                                  getenv ("DTX_COORDINATOR_CERT"));
    ck_assert_ptr_nonnull (client);
    dtx_client_outcome (client, "dtx:test:999999:1");
    bool accepted = strstr (dtx_client_error (client), "no transaction of this client") != NULL;
    dtx_client_destroy (&client);
    return accepted;
}

static void
s_coordinator_config (const char *path, const char *client_keys, int txn_timeout,
                      const char *extra)
{
    s_write_file (path,
        "#   test_ops\n"
        "coordinator\n"
        "    id = test\n"
        "    clients = %s\n"
        "    participants = %s\n"
        "    log-dir = %s\n"
        "    curve-secret = %s/coordinator_secret\n"
        "    client-keys = %s\n"
        "    participant-keys = %s/participants\n"
        "    txn-timeout = %d\n"
        "    vote-timeout = 4000\n"
        "%s",
        harness.client_endpoint, harness.participant_endpoint, harness.log_dir, harness.keys_dir,
        client_keys, harness.keys_dir, txn_timeout, extra);
}

START_TEST (test_coordinator_sighup)
{
    char out [2048], config [400], log [400], old_keys [400], new_keys [400], fresh [400];
    snprintf (config, sizeof config, "%s/ops-coordinator.cfg", harness.dir);
    snprintf (log, sizeof log, "%s/ops-coordinator.log", harness.dir);
    snprintf (old_keys, sizeof old_keys, "%s/ops-clients-old", harness.dir);
    snprintf (new_keys, sizeof new_keys, "%s/ops-clients-new", harness.dir);
    snprintf (fresh, sizeof fresh, "%s/fresh_secret", harness.dir);
    //  Two allow-lists: the harness's client in both, a fresh key only in
    //  the new one
    ck_assert_int_eq (harness_capture (out, sizeof out,
        "mkdir -p %s %s && cp %s/clients/test %s/ && cp %s/clients/test %s/"
        " && %s/dtxctl/dtxctl keygen fresh --dir %s && cp %s/fresh %s/",
        old_keys, new_keys, harness.keys_dir, old_keys, harness.keys_dir, new_keys,
        TOP_BUILDDIR, harness.dir, harness.dir, new_keys), 0);
    //  Our coordinator in the harness's place (same keys and endpoints:
    //  the harness's participant registers with it)
    harness_kill_coordinator (SIGTERM);
    s_coordinator_config (config, old_keys, 60000, "");
    pid_t pid = harness_spawn ("ops-coordinator.out", "%s/coordinator/dtx-coordinator --config %s"
                               " --log-file %s --vote-timeout 7000", TOP_BUILDDIR, config, log);
    const char *names [] = { "db1" };
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 10000);
    ck_assert (dtx_client_wait_ready (client, names, 1, 20000));
    ck_assert (!s_key_accepted (fresh));

    //  Live keys and one that needs a restart; vote-timeout is a flag,
    //  which beats the file
    char metrics [128];
    snprintf (metrics, sizeof metrics, "    metrics = 127.0.0.1:%d\n    vote-timeout = 3000\n",
              PORT_SPARE (0));
    s_coordinator_config (config, new_keys, 1500, metrics);
    kill (pid, SIGHUP);
    ck_assert_msg (s_wait_count (log, "SIGHUP: configuration read again, 3 key(s) changed", 1, 10000),
                   "no reload line in %s", log);
    ck_assert_int_eq (s_count (log, "SIGHUP: txn-timeout is now 1500 (was 60000)"), 1);
    ck_assert_int_eq (s_count (log, "SIGHUP: client-keys is now"), 1);
    snprintf (out, sizeof out, "SIGHUP: metrics changed to 127.0.0.1:%d but needs a restart",
              PORT_SPARE (0));
    ck_assert_int_eq (s_count (log, out), 1);
    ck_assert_int_eq (s_count (log, "vote-timeout"), 0);
    //  The new allow-list: the fresh key gets in and commits
    ck_assert (s_key_accepted (fresh));
    dtx_client_t *fresh_client = dtx_client_new_secure (harness.client_endpoint, 10000, fresh,
                                                        getenv ("DTX_COORDINATOR_CERT"));
    ck_assert (s_commit_on_db1 (fresh_client));
    dtx_client_destroy (&fresh_client);
    //  The new default timeout: a transaction idle past 1.5 s is aborted
    dtx_txn_t *txn = dtx_begin (client, 0);
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
    ck_assert_msg (dtx_result_ok (result), "%s", dtx_result_error (result));
    dtx_result_destroy (&result);
    zclock_sleep (2500);        //  past the new timeout, far below the old one
    result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
    ck_assert (!dtx_result_ok (result));
    ck_assert_msg (dtx_result_errcode (result) == DTX_ERR_TIMEOUT
                   || strstr (dtx_result_error (result), "timeout"), "%s", dtx_result_error (result));
    dtx_result_destroy (&result);
    dtx_rollback (txn);
    dtx_txn_destroy (&txn);

    //  A broken file: an error line, nothing changes, it serves on
    s_write_file (config, "coordinator\n    txn-timeout = soon\n");
    kill (pid, SIGHUP);
    ck_assert (s_wait_count (log, "SIGHUP: configuration not reloaded, the previous one stays in"
                             " effect: config file", 1, 10000));
    ck_assert_int_eq (s_count (log, " E dtx-coordinator["), 1);
    ck_assert (!harness_pid_gone (pid));
    ck_assert (s_commit_on_db1 (client));
    ck_assert (s_key_accepted (fresh));

    //  JSON from now on (nothing else changed: the file as it was)
    char json [200];
    snprintf (json, sizeof json, "%s    log-format = json\n    verbose = 1\n", metrics);
    s_coordinator_config (config, new_keys, 1500, json);
    kill (pid, SIGHUP);
    ck_assert (s_wait_count (log, "\"msg\":\"SIGHUP: configuration read again, 3 key(s) changed\"",
                             1, 10000));
    //  (a key that needs a restart is reported at every reload until then)
    ck_assert_int_eq (s_count (log, "SIGHUP: metrics changed to"), 2);
    //  verbose: every transaction's end, at debug level, its gid a field
    ck_assert (s_commit_on_db1 (client));
    ck_assert (s_wait_count (log, "\"level\":\"debug\",\"process\":\"dtx-coordinator\",\"pid\":", 1,
                             5000));
    ck_assert_int_ge (s_count (log, "\"gid\":\"dtx:test:"), 1);
    dtx_client_destroy (&client);
    harness_terminate (pid);
    ck_assert (s_wait_count (log, "\"level\":\"info\",\"process\":\"dtx-coordinator\"", 3, 5000));
    s_assert_log_lines (log, "dtx-coordinator");
    //  The harness's coordinator back, for the next case
    harness_start_coordinator ();
}
END_TEST

START_TEST (test_participant_sighup)
{
    char config [400], log [400];
    snprintf (config, sizeof config, "%s/ops-participant.cfg", harness.dir);
    snprintf (log, sizeof log, "%s/ops-participant.log", harness.dir);
    const char *format =
        "participant\n"
        "    name = db1\n"
        "    conninfo = host=127.0.0.1 port=%d user=postgres dbname=postgres\n"
        "    coordinator = %s\n"
        "    curve-secret = %s/participants/db1_secret\n"
        "    coordinator-key = %s/coordinator\n"
        "    pool-min = 1\n"
        "%s";
    s_write_file (config, format, harness.pg_port [0], harness.participant_endpoint,
                  harness.keys_dir, harness.keys_dir, "");
    harness_kill_participant (0, SIGTERM);
    pid_t pid = harness_spawn ("ops-participant.out", "%s/participant/dtx-participant --config %s"
                               " --log-file %s", TOP_BUILDDIR, config, log);
    const char *names [] = { "db1" };
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 10000);
    ck_assert (dtx_client_wait_ready (client, names, 1, 20000));

    s_write_file (config, format, harness.pg_port [0], harness.participant_endpoint,
                  harness.keys_dir, harness.keys_dir,
                  "    log-format = json\n    marker-retention = 3600\n    pool-max = 50\n");
    kill (pid, SIGHUP);
    ck_assert_msg (s_wait_count (log, "\"msg\":\"SIGHUP: configuration read again, 3 key(s)"
                                 " changed\"", 1, 10000), "no reload line in %s", log);
    ck_assert_int_eq (s_count (log, "SIGHUP: marker-retention is now 3600 (was the default)"), 1);
    ck_assert_int_eq (s_count (log, "SIGHUP: pool-max changed to 50 but needs a restart"), 1);
    ck_assert (s_commit_on_db1 (client));
    //  A statement's WARNING (two lines) is one JSON line of the log, not
    //  libpq's raw text on stderr (which is the log file too here)
    dtx_txn_t *txn = dtx_begin (client, 10000);
    dtx_result_t *result = dtx_exec (txn, "db1", "DO $$BEGIN RAISE WARNING E'ops-notice\\nsecond line';"
                                     " END$$", 0, NULL);
    ck_assert_msg (dtx_result_ok (result), "%s", dtx_result_error (result));
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    ck_assert (s_wait_count (log, "\"level\":\"warning\"", 1, 10000));
    ck_assert_int_eq (s_count (log, "PostgreSQL says: WARNING:  ops-notice\\nsecond line"), 1);

    s_write_file (config, "participant\n    pool-max = many\n");
    kill (pid, SIGHUP);
    ck_assert (s_wait_count (log, "\"level\":\"error\",\"process\":\"dtx-participant\"", 1, 10000));
    ck_assert_int_eq (s_count (log, "configuration not reloaded, the previous one stays in effect"), 1);
    ck_assert (!harness_pid_gone (pid));
    ck_assert (s_commit_on_db1 (client));
    dtx_client_destroy (&client);
    harness_terminate (pid);
    s_assert_log_lines (log, "dtx-participant");
    harness_start_participant (0);
}
END_TEST

//  Answer the participant's next REGISTER (within 10 s) with REGISTER_OK
//  text (SHARD:EPOCH), as a coordinator does
static void
s_answer_register (zsock_t *router, const char *text)
{
    int64_t deadline = zclock_mono () + 10000;
    while (zclock_mono () < deadline) {
        zsock_set_rcvtimeo (router, 500);
        dtx_proto_t *msg;
        char err [256];
        if (dtx_proto_recv (&msg, router, err, sizeof err))
            continue;
        if (dtx_proto_id (msg) == DTX_PROTO_REGISTER) {
            dtx_proto_t *ok = dtx_proto_new (DTX_PROTO_REGISTER_OK);
            dtx_proto_set_routing_id (ok, dtx_proto_routing_id (msg));
            dtx_proto_set_seq (ok, dtx_proto_seq (msg));
            dtx_proto_set_name (ok, dtx_proto_name (msg));
            dtx_proto_set_text (ok, text);
            ck_assert_int_eq (dtx_proto_send (ok, router), 0);
            dtx_proto_destroy (&ok);
            dtx_proto_destroy (&msg);
            return;
        }
        dtx_proto_destroy (&msg);
    }
    ck_abort_msg ("no REGISTER from the participant");
}

//  A shard's epoch going backwards is an error line, not an info one:
//  the test is the coordinator, and its REGISTER_OK says epoch 1000, then
//  999
START_TEST (test_participant_epoch_backwards)
{
    char log [400];
    snprintf (log, sizeof log, "%s/participant-db1.log", harness.dir);
    harness_kill_coordinator (SIGTERM);
    zsock_t *router = (zsock_t *) harness_coordinator_sock (harness.participant_endpoint);
    ck_assert_ptr_nonnull (router);
    s_answer_register (router, "test:1000");
    ck_assert (s_wait_count (log, "coordinator test:1000", 1, 10000));
    s_answer_register (router, "test:999");
    ck_assert_msg (s_wait_count (log, " E dtx-participant[", 1, 10000), "no error line in %s", log);
    ck_assert_int_eq (s_count (log, "db1: epoch went backwards: coordinator holds shard test at"
                                    " epoch 999, below the 1000 seen already"), 1);
    zsock_destroy (&router);
    //  Everything as it was, the participant's epochs forgotten
    harness_kill_participant (0, SIGTERM);
    harness_start_coordinator ();
    harness_start_participant (0);
}
END_TEST

Suite *
suite_ops (void)
{
    Suite *suite = suite_create ("ops");
    TCase *tc = tcase_create ("sighup");
    tcase_add_unchecked_fixture (tc, s_suite_setup, harness_stop);
    tcase_add_checked_fixture (tc, harness_case_setup, NULL);
    tcase_set_timeout (tc, 180);
    tcase_add_test (tc, test_coordinator_sighup);
    tcase_add_test (tc, test_participant_sighup);
    tcase_add_test (tc, test_participant_epoch_backwards);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return harness_run (suite_ops ());
}
