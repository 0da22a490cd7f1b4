/*  test_security - CurveZMQ on every link (docs/security.md), against the
    real processes of the harness, which runs them all with keys.

    Who is kept out: a client without keys or with a key not on the
    allow-list; a participant with a key not on the list, or whose
    certificate does not list the name it registers; an impostor
    coordinator (another key) on the participant's endpoint.  And the
    start: no keys and no --insecure is refused (exit 2, naming what is
    missing); --insecure starts, and says so.  */
#include "testutil.h"
#include "dtx.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include <czmq.h>
#include <signal.h>

static void
s_system_setup (void)
{
    harness_start (1);
}

static void
s_harness_stop (void)
{
    harness_stop ();
}

static void
s_quiet (void)
{
    harness_case_setup ();
}

//  A key pair made by the operator's tool, in the harness dir (not on any
//  allow-list); path of its secret file into secret
static void
s_keygen (const char *name, const char *databases, char *secret, size_t size)
{
    char out [2048];
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s/dtxctl/dtxctl keygen %s --dir %s%s%s",
                                       TOP_BUILDDIR, name, harness.dir,
                                       databases? " --databases ": "", databases? databases: ""), 0);
    ck_assert_msg (strstr (out, "public key"), "%s", out);
    snprintf (secret, size, "%s/%s_secret", harness.dir, name);
}

//  Lines of the coordinator's log holding text
static int
s_coordinator_log_count (const char *text)
{
    char out [64];
    harness_capture (out, sizeof out, "grep -c -- '%s' %s/coordinator.log", text, harness.dir);
    return atoi (out);
}

static bool
s_wait_log (const char *file, const char *text, int timeout_ms)
{
    char out [64];
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        harness_capture (out, sizeof out, "grep -c -- '%s' %s/%s", text, harness.dir, file);
        if (atoi (out) > 0)
            return true;
        usleep (100000);        //  polling interval, not a synchronisation
    }
    return false;
}

//  A participant in the background: its pid
static pid_t
s_start_participant (const char *name, const char *endpoint, const char *secret,
                     const char *coordinator_cert, const char *logname)
{
    return harness_spawn (logname, "%s/participant/dtx-participant --name %s"
                          " --conninfo 'host=127.0.0.1 port=%d user=postgres dbname=postgres'"
                          " --coordinator %s --pool-min 1 --curve-secret %s --coordinator-key %s",
                          TOP_BUILDDIR, name, harness.pg_port [0], endpoint, secret,
                          coordinator_cert);
}//  The real system still commits on db1
static void
s_assert_db1_works (void)
{
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 10000);
    ck_assert_ptr_nonnull (client);
    dtx_txn_t *txn = dtx_begin (client, 10000);
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
    ck_assert_msg (dtx_result_ok (result), "%s", dtx_result_error (result));
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&client);
}

START_TEST (test_client_keys)
{
    s_quiet ();
    const char *names [] = { "db1" };
    //  The harness's client (keys from DTX_CLIENT_CERT, DTX_COORDINATOR_CERT)
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 5000);
    ck_assert (dtx_client_wait_ready (client, names, 1, 5000));
    dtx_client_destroy (&client);
    //  No keys at all: no handshake, the request times out
    char *cert = strdup (getenv ("DTX_CLIENT_CERT"));
    char *coordinator = strdup (getenv ("DTX_COORDINATOR_CERT"));
    unsetenv ("DTX_CLIENT_CERT");
    unsetenv ("DTX_COORDINATOR_CERT");
    client = dtx_client_new (harness.client_endpoint, 1500);
    ck_assert_ptr_nonnull (client);
    ck_assert_int_eq (dtx_client_outcome (client, "dtx:test:999999:1"), DTX_UNKNOWN);
    ck_assert_msg (!strstr (dtx_client_error (client), "no transaction of this client"), "%s", dtx_client_error (client));
    dtx_client_destroy (&client);
    //  Only one of the two variables: refused at once
    setenv ("DTX_CLIENT_CERT", cert, 1);
    ck_assert_ptr_null (dtx_client_new (harness.client_endpoint, 1500));
    setenv ("DTX_COORDINATOR_CERT", coordinator, 1);
    //  A key of its own, not on the allow-list: refused by ZAP, logged
    char stranger [512];
    s_keygen ("stranger", NULL, stranger, sizeof stranger);
    client = dtx_client_new_secure (harness.client_endpoint, 1500, stranger, coordinator);
    ck_assert_ptr_nonnull (client);
    ck_assert_int_eq (dtx_client_outcome (client, "dtx:test:999999:1"), DTX_UNKNOWN);
    ck_assert_msg (!strstr (dtx_client_error (client), "no transaction of this client"), "%s", dtx_client_error (client));
    dtx_client_destroy (&client);
    ck_assert (s_wait_log ("coordinator.log", "ZAP: refused .* on the clients endpoint: key not on"
                           " the allow-list", 5000));
    //  The allow-list is re-read when it changes: added, the key gets in;
    //  removed, it is refused again at its next connection
    char out [512];
    ck_assert_int_eq (harness_capture (out, sizeof out, "cp %s/stranger %s/clients/", harness.dir,
                                       harness.keys_dir), 0);
    client = dtx_client_new_secure (harness.client_endpoint, 5000, stranger, coordinator);
    ck_assert_int_eq (dtx_client_outcome (client, "dtx:test:999999:1"), DTX_UNKNOWN);
    ck_assert_msg (strstr (dtx_client_error (client), "no transaction of this client"), "%s", dtx_client_error (client));
    dtx_client_destroy (&client);
    ck_assert_int_eq (harness_capture (out, sizeof out, "rm %s/clients/stranger", harness.keys_dir), 0);
    client = dtx_client_new_secure (harness.client_endpoint, 1500, stranger, coordinator);
    ck_assert_int_eq (dtx_client_outcome (client, "dtx:test:999999:1"), DTX_UNKNOWN);
    ck_assert_msg (!strstr (dtx_client_error (client), "no transaction of this client"), "%s", dtx_client_error (client));
    dtx_client_destroy (&client);
    //  A participant key is no client key (its own allow-list)
    char db1 [512];
    snprintf (db1, sizeof db1, "%s/participants/db1_secret", harness.keys_dir);
    client = dtx_client_new_secure (harness.client_endpoint, 1500, db1, coordinator);
    ck_assert_int_eq (dtx_client_outcome (client, "dtx:test:999999:1"), DTX_UNKNOWN);
    ck_assert_msg (!strstr (dtx_client_error (client), "no transaction of this client"), "%s", dtx_client_error (client));
    dtx_client_destroy (&client);
    //  Trusting another coordinator key: our coordinator is not it
    client = dtx_client_new_secure (harness.client_endpoint, 1500, cert, stranger);
    ck_assert_int_eq (dtx_client_outcome (client, "dtx:test:999999:1"), DTX_UNKNOWN);
    dtx_client_destroy (&client);
    //  The allowed client, as before
    client = dtx_client_new_secure (harness.client_endpoint, 5000, cert, coordinator);
    ck_assert_int_eq (dtx_client_outcome (client, "dtx:test:999999:1"), DTX_UNKNOWN);
    ck_assert_msg (strstr (dtx_client_error (client), "no transaction of this client"), "%s", dtx_client_error (client));
    dtx_client_destroy (&client);
    free (cert);
    free (coordinator);
}
END_TEST

//  During a SIGTERM drain (zsys_interrupted set) and after SIGHUPs, keys
//  are still checked: the ZAP thread used to leave its loop on either, and
//  libzmq then let every CurveZMQ key in (a stranger reached the client
//  and admin endpoints while the coordinator drained)
START_TEST (test_keys_checked_while_draining)
{
    s_quiet ();
    char *cert = strdup (getenv ("DTX_CLIENT_CERT"));
    char *coordinator = strdup (getenv ("DTX_COORDINATOR_CERT"));
    char stranger [512];
    s_keygen ("drainer", NULL, stranger, sizeof stranger);
    pid_t pid = harness_coordinator_pid ();
    for (int i = 0; i < 5; i++)
        kill (pid, SIGHUP);
    //  A live transaction keeps the drain going (drain-timeout 10 s)
    dtx_client_t *client = dtx_client_new_secure (harness.client_endpoint, 5000, cert, coordinator);
    dtx_txn_t *txn = dtx_begin (client, 30000);
    ck_assert_ptr_nonnull (txn);
    dtx_result_t *result = dtx_exec (txn, "db1", "SELECT 1", 0, NULL);
    ck_assert_msg (dtx_result_ok (result), "%s", dtx_result_error (result));
    dtx_result_destroy (&result);
    kill (pid, SIGTERM);
    ck_assert (s_wait_log ("coordinator.log", "draining 1 live transaction", 5000));
    for (int attempt = 0; attempt < 3; attempt++) {
        dtx_client_t *other = dtx_client_new_secure (harness.client_endpoint, 1000, stranger, coordinator);
        ck_assert_ptr_nonnull (other);
        ck_assert_int_eq (dtx_client_outcome (other, "dtx:test:999999:1"), DTX_UNKNOWN);
        const char *error = dtx_client_error (other);
        ck_assert_msg (strstr (error, "no reply from coordinator"),
                       "a key not on the allow-list was answered while draining (attempt %d): %s",
                       attempt + 1, error);
        dtx_client_destroy (&other);
    }
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&client);
    harness_kill_coordinator (SIGTERM);     //  (a second SIGTERM changes nothing: waits)
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (30000));
    free (cert);
    free (coordinator);
}
END_TEST

START_TEST (test_participant_keys)
{
    s_quiet ();
    char coordinator [512], stranger [512], db2 [512];
    snprintf (coordinator, sizeof coordinator, "%s/coordinator", harness.keys_dir);
    snprintf (db2, sizeof db2, "%s/participants/db2_secret", harness.keys_dir);
    s_keygen ("rogue", "db1", stranger, sizeof stranger);
    //  A key not on the participant allow-list (it even claims db1)
    pid_t rogue = s_start_participant ("db1", harness.participant_endpoint, stranger, coordinator,
                                       "rogue.log");
    ck_assert (s_wait_log ("coordinator.log", "ZAP: refused .* on the participants endpoint", 8000));
    //  A listed key whose certificate says db2, registering as db1
    pid_t other = s_start_participant ("db1", harness.participant_endpoint, db2, coordinator,
                                       "other.log");
    ck_assert (s_wait_log ("coordinator.log", "may register only .db2., not .db1.", 15000));
    ck_assert (s_wait_log ("other.log", "refuses to register", 5000));
    //  A client key on the participant endpoint: another allow-list
    char client [512];
    snprintf (client, sizeof client, "%s/clients/test_secret", harness.keys_dir);
    zsock_t *raw = (zsock_t *) harness_client_sock (harness.participant_endpoint, client);
    dtx_proto_t *reg = dtx_proto_new (DTX_PROTO_REGISTER);
    dtx_proto_set_name (reg, "db1");
    dtx_proto_send (reg, raw);
    dtx_proto_destroy (&reg);
    zsock_set_rcvtimeo (raw, 2000);
    char err [256];
    dtx_proto_t *reply = NULL;
    ck_assert_int_eq (dtx_proto_recv (&reply, raw, err, sizeof err), -1);
    zsock_destroy (&raw);
    //  The real db1 kept its name and works
    s_assert_db1_works ();
    ck_assert_int_eq (s_coordinator_log_count ("participant db1 reconnected"), 0);
    harness_terminate (rogue);
    harness_terminate (other);
    s_assert_db1_works ();
}
END_TEST

//  A coordinator bound on the participant's endpoint with another key (as
//  while the real one restarts): the participant never talks to it
START_TEST (test_impostor_coordinator)
{
    s_quiet ();
    char impostor [512], impostor_cert [512], db1 [512], coordinator [512], endpoint [64];
    s_keygen ("impostor", NULL, impostor, sizeof impostor);
    snprintf (impostor_cert, sizeof impostor_cert, "%s/impostor", harness.dir);
    snprintf (db1, sizeof db1, "%s/participants/db1_secret", harness.keys_dir);
    snprintf (coordinator, sizeof coordinator, "%s/coordinator", harness.keys_dir);
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", harness.metrics_port + 40);
    char err [512], bind [80];
    dtx_security_t *security = dtx_security_new (impostor, NULL, err, sizeof err);
    ck_assert_msg (security, "%s", err);
    snprintf (bind, sizeof bind, "@%s", endpoint);
    zsock_t *router = dtx_sock_new (ZMQ_ROUTER, bind, security, -1);
    dtx_security_destroy (&security);
    ck_assert_ptr_nonnull (router);
    zsock_set_rcvtimeo (router, 4000);
    //  The real participant's keys, trusting the real coordinator's key
    pid_t pid = s_start_participant ("db1", endpoint, db1, coordinator, "fooled.log");
    dtx_proto_t *msg = NULL;
    int rc = dtx_proto_recv (&msg, router, err, sizeof err);
    ck_assert_msg (rc == -1, "the impostor heard %s", msg? dtx_proto_command (msg): "a malformed frame");
    harness_terminate (pid);
    //  The same participant trusting the impostor's key does register
    //  there: what the check above waited for would have come
    pid = s_start_participant ("db1", endpoint, db1, impostor_cert, "trusting.log");
    zsock_set_rcvtimeo (router, 15000);
    rc = dtx_proto_recv (&msg, router, err, sizeof err);
    ck_assert_int_eq (rc, 0);
    ck_assert_int_eq (dtx_proto_id (msg), DTX_PROTO_REGISTER);
    dtx_proto_destroy (&msg);
    harness_terminate (pid);
    zsock_destroy (&router);
}
END_TEST

//  Peak resident memory of a process, kB
static long
s_hwm_kb (pid_t pid)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    long kb = -1;
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "VmHWM:", 6) == 0)
            kb = atol (line + 6);
    if (file)
        fclose (file);
    return kb;
}

//  A frame over the client endpoint's limit (DTX_MAXMSG_REQUEST) from an
//  allowed client: ZeroMQ drops the connection, the coordinator never
//  sees it (a small garbage frame, by contrast, is seen and dropped)
START_TEST (test_oversized_frame_refused)
{
    s_quiet ();
    pid_t coordinator = harness_coordinator_pid ();
    long before = s_hwm_kb (coordinator);
    ck_assert_int_gt (before, 0);
    int dropped = s_coordinator_log_count ("dropped");
    zsock_t *raw = (zsock_t *) harness_client_sock (harness.client_endpoint, NULL);
    size_t size = DTX_MAXMSG_REQUEST + 1024;
    byte *big = (byte *) calloc (1, size);
    ck_assert_ptr_nonnull (big);
    zframe_t *frame = zframe_new (big, size);
    free (big);
    ck_assert_int_eq (zframe_send (&frame, raw, 0), 0);
    zsock_set_linger (raw, 5000);
    zsock_destroy (&raw);
    zclock_sleep (1000);
    ck_assert_int_eq (s_coordinator_log_count ("dropped"), dropped);
    long after = s_hwm_kb (coordinator);
    ck_assert_msg (after - before < 32 * 1024, "coordinator peak memory grew %ld kB", after - before);
    raw = (zsock_t *) harness_client_sock (harness.client_endpoint, NULL);
    zstr_send (raw, "not a dtx frame");
    zsock_set_linger (raw, 2000);
    zsock_destroy (&raw);
    int64_t deadline = zclock_mono () + 5000;
    while (s_coordinator_log_count ("dropped") == dropped && zclock_mono () < deadline)
        usleep (100000);        //  polling interval, not a synchronisation
    ck_assert_int_eq (s_coordinator_log_count ("dropped"), dropped + 1);
    s_assert_db1_works ();
}
END_TEST

//  A tcp admin endpoint: CurveZMQ, operator keys only
START_TEST (test_admin_tcp_needs_operator_key)
{
    char out [8192], dir [400], operators [400];
    snprintf (dir, sizeof dir, "%s/admin-tcp", harness.dir);
    snprintf (operators, sizeof operators, "%s/operators", harness.dir);
    ck_assert_int_eq (mkdir (dir, 0700), 0);
    ck_assert_int_eq (mkdir (operators, 0700), 0);
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s/dtxctl/dtxctl keygen alice --dir %s",
                                       TOP_BUILDDIR, operators), 0);
    int port = harness.metrics_port + 70;
    pid_t pid = harness_spawn ("admin-coordinator.log", "%s/coordinator/dtx-coordinator --id admintest"
                               " --log-dir %s --clients tcp://127.0.0.1:%d --participants"
                               " tcp://127.0.0.1:%d --admin tcp://127.0.0.1:%d %s --operator-keys %s",
                               TOP_BUILDDIR, dir, port, port + 1, port + 2,
                               harness.coordinator_args, operators);
    ck_assert (s_wait_log ("admin-coordinator.log", "coordinator admintest: epoch", 10000));
    //  The operator's key
    int rc = harness_capture (out, sizeof out, "%s/dtxctl/dtxctl --admin tcp://127.0.0.1:%d"
                              " --cert %s/alice_secret --coordinator-cert %s/coordinator status",
                              TOP_BUILDDIR, port + 2, operators, harness.keys_dir);
    ck_assert_msg (rc == 0 && strstr (out, "admintest"), "%d: %s", rc, out);
    //  A client key (DTX_CLIENT_CERT) is no operator key
    rc = harness_capture (out, sizeof out, "%s/dtxctl/dtxctl --admin tcp://127.0.0.1:%d --timeout 1500"
                          " status", TOP_BUILDDIR, port + 2);
    ck_assert_msg (rc == 3, "%d: %s", rc, out);
    ck_assert (s_wait_log ("admin-coordinator.log", "ZAP: refused .* on the admin endpoint", 5000));
    harness_terminate ((pid_t) pid);
}
END_TEST

START_TEST (test_start_needs_keys)
{
    char out [4096], dir [400];
    const char *coordinator = TOP_BUILDDIR "/coordinator/dtx-coordinator";
    const char *participant = TOP_BUILDDIR "/participant/dtx-participant";
    snprintf (dir, sizeof dir, "%s/nokeys", harness.dir);
    ck_assert_int_eq (mkdir (dir, 0700), 0);
    int port = harness.metrics_port + 50;
    //  Nothing: names the coordinator's certificate
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --log-dir %s --clients tcp://127.0.0.1:%d"
                                       " --participants tcp://127.0.0.1:%d", coordinator, dir,
                                       port, port + 1), 2);
    ck_assert_msg (strstr (out, "curve-secret") && strstr (out, "--insecure"), "%s", out);
    //  A certificate, no allow-lists
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --log-dir %s --curve-secret %s/coordinator_secret",
                                       coordinator, dir, harness.keys_dir), 2);
    ck_assert_msg (strstr (out, "client-keys"), "%s", out);
    //  A tcp admin endpoint wants operator keys
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --log-dir %s %s --admin tcp://127.0.0.1:%d",
                                       coordinator, dir, harness.coordinator_args, port + 2), 2);
    ck_assert_msg (strstr (out, "operator-keys"), "%s", out);
    //  A public certificate where the secret one belongs (alone: next to
    //  its NAME_secret, zcert_load would read that one)
    ck_assert_int_eq (harness_capture (out, sizeof out, "cp %s/clients/test %s/public-only",
                                       harness.keys_dir, dir), 0);
    ck_assert_int_eq (harness_capture (out, sizeof out, "timeout 10 %s --log-dir %s"
                                       " --clients tcp://127.0.0.1:%d --participants tcp://127.0.0.1:%d"
                                       " --curve-secret %s/public-only --client-keys %s/clients"
                                       " --participant-keys %s/participants", coordinator, dir, port,
                                       port + 1, dir, harness.keys_dir, harness.keys_dir), 1);
    ck_assert_msg (strstr (out, "has no secret key"), "%s", out);
    //  The participant: its certificate, then the coordinator's
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --name x --conninfo 'host=127.0.0.1'",
                                       participant), 2);
    ck_assert_msg (strstr (out, "curve-secret"), "%s", out);
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --name x --conninfo 'host=127.0.0.1'"
                                       " --curve-secret %s/participants/db1_secret", participant,
                                       harness.keys_dir), 2);
    ck_assert_msg (strstr (out, "coordinator-key"), "%s", out);
    //  ... also from a config file
    char path [512];
    snprintf (path, sizeof path, "%s/p.cfg", dir);
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fprintf (file, "participant\n    name = x\n    conninfo = \"host=127.0.0.1\"\n");
    fclose (file);
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s --config %s", participant, path), 2);
    ck_assert_msg (strstr (out, "curve-secret"), "%s", out);
}
END_TEST

START_TEST (test_insecure_starts_and_warns)
{
    char out [8192], dir [400];
    snprintf (dir, sizeof dir, "%s/insecure", harness.dir);
    ck_assert_int_eq (mkdir (dir, 0700), 0);
    int port = harness.metrics_port + 60, rc;
    //  Runs until timeout's SIGTERM, then drains and exits 0
    rc = harness_capture (out, sizeof out, "timeout -k 10 --preserve-status 2"
                                       " %s/coordinator/dtx-coordinator --id insecure --log-dir %s"
                                       " --clients tcp://127.0.0.1:%d --participants tcp://127.0.0.1:%d"
                                       " --insecure", TOP_BUILDDIR, dir, port, port + 1);
    ck_assert_msg (rc == 0 && strstr (out, "INSECURE: no CurveZMQ") && strstr (out, "stopping"), "exit %d: %s", rc, out);
    //  ... and from a config file
    char path [512];
    snprintf (path, sizeof path, "%s/c.cfg", dir);
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fprintf (file, "coordinator\n    id = insecure\n    log-dir = %s\n    clients = tcp://127.0.0.1:%d\n"
             "    participants = tcp://127.0.0.1:%d\n    insecure = 1\n", dir, port, port + 1);
    fclose (file);
    rc = harness_capture (out, sizeof out, "timeout -k 10 --preserve-status 2"
                                       " %s/coordinator/dtx-coordinator --config %s", TOP_BUILDDIR,
                                       path);
    ck_assert_msg (rc == 0 && strstr (out, "INSECURE: no CurveZMQ"), "exit %d: %s", rc, out);
    //  The participant too (its database is real; the coordinator absent)
    rc = harness_capture (out, sizeof out, "timeout -k 10 --preserve-status 3"
                                       " %s/participant/dtx-participant --name db9 --conninfo"
                                       " 'host=127.0.0.1 port=%d user=postgres dbname=postgres'"
                                       " --coordinator tcp://127.0.0.1:%d --pool-min 1 --insecure",
                                       TOP_BUILDDIR, harness.pg_port [0], port + 1);
    ck_assert_msg (rc == 0 && strstr (out, "INSECURE: no CurveZMQ") && strstr (out, "ready"), "exit %d: %s", rc, out);
}
END_TEST

//  --insecure still runs transactions, and without keys a transaction
//  belongs to its connection: another connection is refused its requests
//  (it may ask the outcome: without keys there is no one to tell apart)
START_TEST (test_insecure_transactions_owned_by_connection)
{
    s_quiet ();
    char dir [400], endpoint [64], participants [64];
    snprintf (dir, sizeof dir, "%s/insecure-run", harness.dir);
    ck_assert_int_eq (mkdir (dir, 0700), 0);
    int port = harness.metrics_port + 80;
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    snprintf (participants, sizeof participants, "tcp://127.0.0.1:%d", port + 1);
    pid_t coordinator = harness_spawn ("insecure-coordinator.log", "%s/coordinator/dtx-coordinator"
                                       " --id loose --log-dir %s --clients %s --participants %s"
                                       " --insecure", TOP_BUILDDIR, dir, endpoint, participants);
    pid_t participant = harness_spawn ("insecure-participant.log", "%s/participant/dtx-participant"
                                       " --name loose1 --conninfo 'host=127.0.0.1 port=%d"
                                       " user=postgres dbname=postgres' --coordinator %s --pool-min 1"
                                       " --insecure", TOP_BUILDDIR, harness.pg_port [0], participants);

    //  A client without keys (the harness's are in the environment)
    char *cert = strdup (getenv ("DTX_CLIENT_CERT"));
    char *coordinator_cert = strdup (getenv ("DTX_COORDINATOR_CERT"));
    unsetenv ("DTX_CLIENT_CERT");
    unsetenv ("DTX_COORDINATOR_CERT");
    dtx_client_t *client = dtx_client_new (endpoint, 10000);
    const char *names [] = { "loose1" };
    ck_assert_msg (dtx_client_wait_ready (client, names, 1, 20000), "%s", dtx_client_error (client));
    dtx_txn_t *txn = dtx_begin (client, 20000);
    const char *params [] = { "3301" };
    dtx_result_t *result = dtx_exec (txn, "loose1", "INSERT INTO items (id, note)"
                                     " VALUES ($1::int, 'insecure')", 1, params);
    ck_assert_msg (dtx_result_ok (result), "%s", dtx_result_error (result));
    dtx_result_destroy (&result);
    char gid [DTX_GID_MAX + 1];
    snprintf (gid, sizeof gid, "%s", dtx_txn_gid (txn));
    //  Another connection: refused
    char connect [80];
    snprintf (connect, sizeof connect, ">%s", endpoint);
    zsock_t *raw = dtx_sock_new (ZMQ_DEALER, connect, NULL, -1);
    ck_assert_ptr_nonnull (raw);
    zsock_set_rcvtimeo (raw, 5000);
    dtx_proto_t *request = dtx_proto_new (DTX_PROTO_ROLLBACK);
    dtx_proto_set_seq (request, 5);
    dtx_proto_set_gid (request, gid);
    dtx_proto_send (request, raw);
    dtx_proto_destroy (&request);
    dtx_proto_t *reply = NULL;
    char err [256];
    ck_assert_int_eq (dtx_proto_recv (&reply, raw, err, sizeof err), 0);
    ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_ERROR);
    ck_assert_int_eq (dtx_proto_status (reply), DTX_ERR_FORBIDDEN);
    ck_assert_msg (strstr (dtx_proto_text (reply), "no transaction of this connection"), "%s",
                   dtx_proto_text (reply));
    dtx_proto_destroy (&reply);
    zsock_destroy (&raw);
    //  The owner's connection commits it
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (harness_pg_value (0, "SELECT count(*) FROM items WHERE id = 3301"), 1);
    dtx_client_t *other = dtx_client_new (endpoint, 10000);
    ck_assert_int_eq (dtx_client_outcome (other, gid), DTX_COMMITTED);
    dtx_client_destroy (&other);
    dtx_client_destroy (&client);
    setenv ("DTX_CLIENT_CERT", cert, 1);
    setenv ("DTX_COORDINATOR_CERT", coordinator_cert, 1);
    free (cert);
    free (coordinator_cert);
    harness_terminate ((pid_t) participant);
    harness_terminate ((pid_t) coordinator);
    ck_assert (s_wait_log ("insecure-coordinator.log", "INSECURE: no CurveZMQ", 1000));
}
END_TEST

Suite *
suite_security (void)
{
    Suite *suite = suite_create ("security");
    TCase *tc = tcase_create ("curve");
    tcase_add_unchecked_fixture (tc, s_system_setup, s_harness_stop);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_client_keys);
    tcase_add_test (tc, test_participant_keys);
    tcase_add_test (tc, test_keys_checked_while_draining);
    tcase_add_test (tc, test_impostor_coordinator);
    tcase_add_test (tc, test_oversized_frame_refused);
    tcase_add_test (tc, test_admin_tcp_needs_operator_key);
    tcase_add_test (tc, test_start_needs_keys);
    tcase_add_test (tc, test_insecure_starts_and_warns);
    tcase_add_test (tc, test_insecure_transactions_owned_by_connection);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return harness_run (suite_security ());
}
