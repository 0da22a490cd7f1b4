/*  testutil - the integration harness (see testutil.h)

    Runs in Check's parent process (unchecked fixtures), which must never
    touch ZeroMQ: the test cases run in forked children, and a ZeroMQ
    context does not survive fork.  Readiness is therefore checked in a
    child of its own.  */
#include "testutil.h"
#include "dtx.h"
#include "dtx_util.h"
#include <czmq.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

harness_t harness;
long harness_log_compact_bytes = 64 << 20;
const char *harness_store = NULL;
int harness_lease_ms = 3000;
int harness_store_timeout_ms = 0;
const char *harness_coordinator_clients = NULL;
const char *harness_participant_coordinators = NULL;
int harness_participant_metrics = 0;
//  Key files (see harness_t)
static char s_coordinator_secret [400], s_coordinator_cert [400], s_client_keys [400],
            s_participant_keys [400], s_client_secret [400], s_operator_keys [400],
            s_participant_secret [HARNESS_DBS_MAX][400];
static bool s_started = false;

//  True if nothing listens on 127.0.0.1:port (we can bind it)
static bool
s_port_free (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    int on = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    bool free_ = bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0;
    close (fd);
    return free_;
}

//  The test's block of HARNESS_PORT_BLOCK ports (README, Tests): slots of
//  that many from DTX_TEST_PORT_BASE (default 20000), DTX_TEST_PORT_SLOTS
//  of them (default 93: up to 31903; the kernel hands out ephemeral ports
//  from 32768, and a port in use by an outgoing connection cannot be
//  listened on).  The slot starts from the pid, so that parallel suites
//  spread, and moves on past a block with a port in use.  Every port a
//  test uses is in its block: base .. base + 9 the harness's (clients,
//  participants, clusters, metrics at base + 9), the rest the tests' own
//  (metrics_port + N, N up to 118)
static int
s_port_base (void)
{
    const char *env_base = getenv ("DTX_TEST_PORT_BASE");
    const char *env_slots = getenv ("DTX_TEST_PORT_SLOTS");
    long first = env_base && *env_base? strtol (env_base, NULL, 10): 20000;
    long slots = env_slots && *env_slots? strtol (env_slots, NULL, 10): 93;
    if (first < 1024 || slots < 1 || first + slots * HARNESS_PORT_BLOCK > 65536) {
        fprintf (stderr, "harness: DTX_TEST_PORT_BASE=%s DTX_TEST_PORT_SLOTS=%s: the ports"
                 " must lie within 1024..65535\n", env_base? env_base: "", env_slots? env_slots: "");
        exit (2);
    }
    for (long tries = 0; tries < slots; tries++) {
        int base = (int) (first + ((getpid () + tries) % slots) * HARNESS_PORT_BLOCK);
        bool all_free = true;
        for (int i = 0; i < HARNESS_PORT_BLOCK && all_free; i++)
            all_free = s_port_free (base + i);
        if (all_free)
            return base;
    }
    fprintf (stderr, "harness: no free block of %d ports from %ld (%ld slots)\n", HARNESS_PORT_BLOCK,
             first, slots);
    exit (2);
}
static pid_t s_owner = 0;

static void
s_run (const char *format, ...)
{
    char command [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (command, sizeof command, format, args);
    va_end (args);
    int rc = system (command);
    if (rc != 0) {
        fprintf (stderr, "harness: command failed (%d): %s\n", rc, command);
        harness_stop ();
        exit (2);
    }
}

//  Processes may be started from a test case (a forked child): their pids
//  go to files, so that the parent's harness_stop finds them all
static void
s_write_pid (const char *role, pid_t pid)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s.pid", harness.dir, role);
    FILE *file = fopen (path, "w");
    if (file) {
        fprintf (file, "%d\n", (int) pid);
        fclose (file);
    }
}

static pid_t
s_read_pid (const char *role)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s.pid", harness.dir, role);
    FILE *file = fopen (path, "r");
    int pid = 0;
    if (file) {
        if (fscanf (file, "%d", &pid) != 1)
            pid = 0;
        fclose (file);
    }
    return (pid_t) pid;
}

//  Gone, or a zombie waiting for another process to reap it
static bool
s_gone (pid_t pid)
{
    if (kill (pid, 0) != 0)
        return true;
    char path [64], state = '?';
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return true;
    if (fscanf (file, "%*d %*s %c", &state) != 1)
        state = '?';
    fclose (file);
    return state == 'Z' || state == 'X';
}

//  env: NULL, or "NAME=value" strings ending with NULL, added to the
//  child's environment
static pid_t
s_spawn_env (const char *logfile, char *const argv [], const char *fault,
             const char *const *env)
{
    pid_t pid = fork ();
    if (pid == 0) {
        if (fault)
            setenv ("DTX_FAULT", fault, 1);
        else
            unsetenv ("DTX_FAULT");
        for (int i = 0; env && env [i]; i++)
            putenv (strdup (env [i]));
        FILE *log = freopen (logfile, "a", stderr);
        (void) log;
        dup2 (2, 1);
        setpgid (0, 0);
        execv (argv [0], argv);
        fprintf (stderr, "cannot exec %s: %s\n", argv [0], strerror (errno));
        _exit (127);
    }
    return pid;
}

static pid_t
s_spawn (const char *logfile, char *const argv [], const char *fault)
{
    return s_spawn_env (logfile, argv, fault, NULL);
}

static void
s_kill_wait (pid_t *pid, int signal)
{
    if (*pid <= 0)
        return;
    if (kill (*pid, signal) != 0) {
        *pid = 0;       //  gone already
        return;
    }
    //  A process that ignores SIGTERM for 10 s gets SIGKILL.  It may be
    //  another process's child (started in a test case): then waitpid
    //  fails and kill (pid, 0) tells when it is gone.
    for (int i = 0; i < 1000; i++) {
        pid_t reaped = waitpid (*pid, NULL, WNOHANG);
        if (reaped == *pid || (reaped == -1 && errno == ECHILD && s_gone (*pid))) {
            *pid = 0;
            return;
        }
        usleep (10000);
    }
    kill (*pid, SIGKILL);
    if (waitpid (*pid, NULL, 0) == -1)
        usleep (100000);
    *pid = 0;
}

void
harness_start_coordinator (void)
{
    harness_start_coordinator_fault (NULL);
}

void
harness_start_coordinator_fault (const char *fault)
{
    harness_start_coordinator_env (fault, NULL);
}

void
harness_start_coordinator_env (const char *fault, const char *const *env)
{
    char binary [512], logfile [512], vote [32], compact [32], metrics [64], lease [16], wait [16];
    snprintf (binary, sizeof binary, "%s/coordinator/dtx-coordinator", TOP_BUILDDIR);
    snprintf (lease, sizeof lease, "%d", harness_lease_ms);
    snprintf (wait, sizeof wait, "%d", harness_store_timeout_ms);
    snprintf (logfile, sizeof logfile, "%s/coordinator.log", harness.dir);
    snprintf (vote, sizeof vote, "%d", harness.vote_timeout_ms);
    snprintf (compact, sizeof compact, "%ld", harness_log_compact_bytes);
    snprintf (metrics, sizeof metrics, "127.0.0.1:%d", harness.metrics_port);
    char *clients = harness_coordinator_clients? (char *) harness_coordinator_clients
                                               : harness.client_endpoint;
    char *const argv [] = { binary, "--id", "test", "--clients", clients,
                            "--participants", harness.participant_endpoint,
                            "--log-dir", harness.log_dir, "--vote-timeout", vote,
                            "--log-compact-bytes", compact, "--metrics", metrics,
                            "--curve-secret", s_coordinator_secret, "--client-keys", s_client_keys,
                            "--participant-keys", s_participant_keys,
                            "--operator-keys", s_operator_keys,
                            harness_store? "--store": NULL, (char *) harness_store,
                            "--lease", lease,
                            harness_store_timeout_ms? "--store-timeout": NULL, wait, NULL };
    harness.coordinator = s_spawn_env (logfile, argv, fault, env);
    s_write_pid ("coordinator", harness.coordinator);
}

void
harness_kill_coordinator (int signal)
{
    harness.coordinator = s_read_pid ("coordinator");
    s_kill_wait (&harness.coordinator, signal);
}

pid_t
harness_coordinator_pid (void)
{
    return s_read_pid ("coordinator");
}

pid_t
harness_participant_pid (int index)
{
    return s_read_pid (harness.db_name [index]);
}

bool
harness_pid_gone (pid_t pid)
{
    if (pid <= 0)
        return true;
    int status;
    if (waitpid (pid, &status, WNOHANG) == pid)
        return true;
    return s_gone (pid);
}

void
harness_pg_stop_immediate (int index)
{
    s_run ("PG_BINDIR=%s %s/scripts/pgcluster.sh kill %s", PG_BINDIR, TOP_SRCDIR, harness.pg_dir [index]);
}

void
harness_pg_start (int index)
{
    s_run ("PG_BINDIR=%s %s/scripts/pgcluster.sh start %s %d", PG_BINDIR, TOP_SRCDIR,
           harness.pg_dir [index], harness.pg_port [index]);
}

void
harness_start_participant (int index)
{
    harness_start_participant_fault (index, NULL);
}

void
harness_start_participant_fault (int index, const char *fault)
{
    char binary [512], logfile [512], conninfo [512], metrics [64] = "";
    snprintf (binary, sizeof binary, "%s/participant/dtx-participant", TOP_BUILDDIR);
    if (harness_participant_metrics)
        snprintf (metrics, sizeof metrics, "127.0.0.1:%d",
                  harness.metrics_port + harness_participant_metrics + index);
    snprintf (logfile, sizeof logfile, "%s/participant-%s.log", harness.dir, harness.db_name [index]);
    snprintf (conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=postgres dbname=postgres",
              harness.pg_port [index]);
    char *const argv [] = { binary, "--name", harness.db_name [index], "--conninfo", conninfo,
                            "--coordinator", harness_participant_coordinators
                                             ? (char *) harness_participant_coordinators
                                             : harness.participant_endpoint,
                            "--pool-min", "2", "--curve-secret", s_participant_secret [index],
                            "--coordinator-key", s_coordinator_cert,
                            *metrics? "--metrics": NULL, metrics, NULL };
    harness.participant [index] = s_spawn (logfile, argv, fault);
    s_write_pid (harness.db_name [index], harness.participant [index]);
}

void
harness_kill_participant (int index, int signal)
{
    harness.participant [index] = s_read_pid (harness.db_name [index]);
    s_kill_wait (&harness.participant [index], signal);
}

static void
s_on_signal (int signal)
{
    harness_stop ();
    _exit (128 + signal);
}

static void
s_at_exit (void)
{
    harness_stop ();
}

//  Keys by the operator's tool; no ZeroMQ here (this is the parent)
static void
s_make_keys (void)
{
    const char *k = harness.keys_dir;
    snprintf (harness.keys_dir, sizeof harness.keys_dir, "%s/keys", harness.dir);
    s_run ("mkdir -p %s/clients %s/participants %s/operators && %s/dtxctl/dtxctl keygen coordinator"
           " --dir %s >/dev/null && %s/dtxctl/dtxctl keygen test --dir %s/clients >/dev/null"
           " && %s/dtxctl/dtxctl keygen other --dir %s/clients >/dev/null"
           " && %s/dtxctl/dtxctl keygen ops --dir %s/operators >/dev/null",
           k, k, k, TOP_BUILDDIR, k, TOP_BUILDDIR, k, TOP_BUILDDIR, k, TOP_BUILDDIR, k);
    snprintf (harness.other_client_secret, sizeof harness.other_client_secret,
              "%s/clients/other_secret", k);
    snprintf (harness.operator_secret, sizeof harness.operator_secret, "%s/operators/ops_secret", k);
    snprintf (s_operator_keys, sizeof s_operator_keys, "%s/operators", k);
    snprintf (s_coordinator_secret, sizeof s_coordinator_secret, "%s/coordinator_secret", k);
    snprintf (s_coordinator_cert, sizeof s_coordinator_cert, "%s/coordinator", k);
    snprintf (s_client_keys, sizeof s_client_keys, "%s/clients", k);
    snprintf (s_participant_keys, sizeof s_participant_keys, "%s/participants", k);
    snprintf (s_client_secret, sizeof s_client_secret, "%s/clients/test_secret", k);
    snprintf (harness.coordinator_args, sizeof harness.coordinator_args,
              "--curve-secret %s --client-keys %s --participant-keys %s", s_coordinator_secret,
              s_client_keys, s_participant_keys);
    for (int i = 0; i < HARNESS_DBS_MAX; i++) {
        s_run ("%s/dtxctl/dtxctl keygen db%d --databases db%d --dir %s/participants >/dev/null",
               TOP_BUILDDIR, i + 1, i + 1, k);
        snprintf (s_participant_secret [i], sizeof s_participant_secret [i],
                  "%s/participants/db%d_secret", k, i + 1);
        snprintf (harness.participant_args [i], sizeof harness.participant_args [i],
                  "--curve-secret %s --coordinator-key %s", s_participant_secret [i],
                  s_coordinator_cert);
    }
    //  Every client of the tests (libdtx, dtxctl run) finds its keys here
    setenv ("DTX_CLIENT_CERT", s_client_secret, 1);
    setenv ("DTX_COORDINATOR_CERT", s_coordinator_cert, 1);
}

void *
harness_client_sock (const char *endpoint, const char *secret_file)
{
    char err [512], connect [300];
    dtx_security_t *security = dtx_security_new (secret_file? secret_file: s_client_secret,
                                                 s_coordinator_cert, err, sizeof err);
    ck_assert_msg (security, "%s", err);
    snprintf (connect, sizeof connect, ">%s", endpoint);
    zsock_t *sock = dtx_sock_new (ZMQ_DEALER, connect, security, -1);
    dtx_security_destroy (&security);
    return sock;
}

void *
harness_coordinator_sock (const char *endpoint)
{
    char err [512], bind [300];
    dtx_security_t *security = dtx_security_new (s_coordinator_secret, NULL, err, sizeof err);
    ck_assert_msg (security, "%s", err);
    snprintf (bind, sizeof bind, "@%s", endpoint);
    zsock_t *sock = dtx_sock_new (ZMQ_ROUTER, bind, security, -1);
    dtx_security_destroy (&security);
    return sock;
}

void
harness_start (int ndbs)
{
    harness_start_clusters (ndbs);
    harness_start_coordinator ();
    for (int i = 0; i < ndbs; i++)
        harness_start_participant (i);
    if (!harness_wait_ready (30000)) {
        fprintf (stderr, "harness: system did not become ready; logs in %s\n", harness.dir);
        s_run ("tail -n 20 %s/*.log >&2", harness.dir);
        harness_stop ();
        exit (2);
    }
}

void
harness_start_clusters (int ndbs)
{
    assert (ndbs >= 1 && ndbs <= HARNESS_DBS_MAX);
    memset (&harness, 0, sizeof harness);
    harness.ndbs = ndbs;
    harness.vote_timeout_ms = 3000;
    snprintf (harness.dir, sizeof harness.dir, "/tmp/dtx-test-XXXXXX");
    if (!mkdtemp (harness.dir)) {
        perror ("mkdtemp");
        exit (2);
    }
    chmod (harness.dir, 0755);
    s_owner = getpid ();
    s_started = true;
    atexit (s_at_exit);
    signal (SIGINT, s_on_signal);
    signal (SIGTERM, s_on_signal);
    int base = s_port_base ();
    snprintf (harness.client_endpoint, sizeof harness.client_endpoint, "tcp://127.0.0.1:%d", base);
    snprintf (harness.participant_endpoint, sizeof harness.participant_endpoint,
              "tcp://127.0.0.1:%d", base + 1);
    snprintf (harness.log_dir, sizeof harness.log_dir, "%s/log", harness.dir);
    harness.metrics_port = base + 9;
    mkdir (harness.log_dir, 0700);
    s_make_keys ();
    for (int i = 0; i < ndbs; i++) {
        harness.pg_port [i] = base + 2 + i;
        snprintf (harness.pg_dir [i], sizeof harness.pg_dir [i], "%s/pg%d", harness.dir, i + 1);
        snprintf (harness.db_name [i], sizeof harness.db_name [i], "db%d", i + 1);
        s_run ("PG_BINDIR=%s %s/scripts/pgcluster.sh start %s %d", PG_BINDIR, TOP_SRCDIR,
               harness.pg_dir [i], harness.pg_port [i]);
        s_run ("psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p %d -U postgres -d postgres"
               " -f %s/sql/test-schema.sql >/dev/null", harness.pg_port [i], TOP_SRCDIR);
    }
}

void
harness_stop (void)
{
    if (!s_started || getpid () != s_owner)
        return;
    s_started = false;
    for (int i = 0; i < harness.ndbs; i++) {
        harness.participant [i] = s_read_pid (harness.db_name [i]);
        s_kill_wait (&harness.participant [i], SIGTERM);
    }
    harness.coordinator = s_read_pid ("coordinator");
    s_kill_wait (&harness.coordinator, SIGTERM);
    char command [1024];
    for (int i = 0; i < harness.ndbs; i++) {
        snprintf (command, sizeof command, "PG_BINDIR=%s %s/scripts/pgcluster.sh stop %s immediate",
                  PG_BINDIR, TOP_SRCDIR, harness.pg_dir [i]);
        if (system (command) != 0)
            fprintf (stderr, "harness: could not stop %s\n", harness.pg_dir [i]);
    }
    if (getenv ("DTX_KEEP_TEST_DIR"))
        fprintf (stderr, "harness: kept %s\n", harness.dir);
    else {
        snprintf (command, sizeof command, "rm -rf %s", harness.dir);
        if (system (command) != 0)
            fprintf (stderr, "harness: could not remove %s\n", harness.dir);
    }
}

static bool
s_check_ready (int timeout_ms)
{
    harness_case_setup ();
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 1000);
    const char *names [HARNESS_DBS_MAX];
    for (int i = 0; i < harness.ndbs; i++)
        names [i] = harness.db_name [i];
    bool ready = client && dtx_client_wait_ready (client, names, harness.ndbs, timeout_ms);
    dtx_client_destroy (&client);
    return ready;
}

bool
harness_wait_ready (int timeout_ms)
{
    //  In a test case (a forked child) ZeroMQ is ours to use; in the
    //  parent it must not be touched, so ask from a child of its own
    if (getpid () != s_owner)
        return s_check_ready (timeout_ms);
    pid_t pid = fork ();
    if (pid == 0)
        _exit (s_check_ready (timeout_ms)? 0: 1);
    int status;
    waitpid (pid, &status, 0);
    return WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

PGconn *
harness_pg (int index)
{
    char conninfo [256];
    snprintf (conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=postgres dbname=postgres",
              harness.pg_port [index]);
    PGconn *conn = PQconnectdb (conninfo);
    ck_assert_msg (PQstatus (conn) == CONNECTION_OK, "cannot connect to db%d: %s", index + 1,
                   PQerrorMessage (conn));
    return conn;
}

long long
harness_pg_value (int index, const char *sql)
{
    PGconn *conn = harness_pg (index);
    PGresult *result = PQexec (conn, sql);
    long long value = -1;
    if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) > 0
    &&  !PQgetisnull (result, 0, 0))
        value = atoll (PQgetvalue (result, 0, 0));
    PQclear (result);
    PQfinish (conn);
    return value;
}

int
harness_pg_exec (int index, const char *sql)
{
    PGconn *conn = harness_pg (index);
    PGresult *result = PQexec (conn, sql);
    int rc = PQresultStatus (result) == PGRES_COMMAND_OK
          || PQresultStatus (result) == PGRES_TUPLES_OK? 0: -1;
    PQclear (result);
    PQfinish (conn);
    return rc;
}

long long
harness_total_balance (void)
{
    long long total = 0;
    for (int i = 0; i < harness.ndbs; i++)
        total += harness_pg_value (i, "SELECT sum(balance) FROM accounts");
    return total;
}

int
harness_prepared_dtx (void)
{
    int total = 0;
    for (int i = 0; i < harness.ndbs; i++)
        total += (int) harness_pg_value (i, "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'dtx:%'");
    return total;
}

bool
harness_wait_no_prepared (int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        if (harness_prepared_dtx () == 0)
            return true;
        usleep (50000);
    }
    return false;
}

bool
harness_wait_stopped (pid_t pid, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        char path [64], state = '?';
        snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
        FILE *file = fopen (path, "r");
        if (file) {
            //  The command name is in parentheses and may hold spaces
            char line [512];
            if (fgets (line, sizeof line, file)) {
                char *close = strrchr (line, ')');
                if (close && close [1] == ' ')
                    state = close [2];
            }
            fclose (file);
        }
        if (state == 'T')
            return true;
        if (zclock_mono () >= deadline)
            return false;
        usleep (10000);
    }
}

long long
harness_log_size (void)
{
    char path [512];
    snprintf (path, sizeof path, "%s/dtx-decisions.log", harness.log_dir);
    struct stat st;
    return stat (path, &st) == 0? (long long) st.st_size: -1;
}

int
harness_capture (char *output, size_t size, const char *format, ...)
{
    char command [4096];
    va_list args;
    va_start (args, format);
    vsnprintf (command, sizeof command, format, args);
    va_end (args);
    strncat (command, " 2>&1", sizeof command - strlen (command) - 1);
    FILE *pipe = popen (command, "r");
    if (!pipe)
        return -1;
    size_t used = fread (output, 1, size - 1, pipe);
    output [used] = 0;
    //  Read to the end: a command that says more than fits must not
    //  block on a full pipe while pclose waits for it
    char rest [4096];
    while (fread (rest, 1, sizeof rest, pipe) > 0)
        ;
    int status = pclose (pipe);
    return WIFEXITED (status)? WEXITSTATUS (status): -1;
}

pid_t
harness_spawn (const char *logname, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *command = zsys_vprintf (format, args);
    va_end (args);
    char out [256], pidfile [512];
    snprintf (pidfile, sizeof pidfile, "%s/%s.bgpid", harness.dir, logname);
    harness_capture (out, sizeof out, "%s > %s/%s 2>&1 & echo $! > %s", command, harness.dir,
                     logname, pidfile);
    zstr_free (&command);
    FILE *file = fopen (pidfile, "r");
    ck_assert_ptr_nonnull (file);
    int pid = 0;
    ck_assert_int_eq (fscanf (file, "%d", &pid), 1);
    fclose (file);
    return (pid_t) pid;
}

pid_t
harness_start_instance (const char *env, const char *id, const char *instance, int port)
{
    char dir [400], logname [300], timeout [64] = "";
    snprintf (dir, sizeof dir, "%s/%s", harness.dir, instance);
    mkdir (dir, 0700);
    snprintf (logname, sizeof logname, "%s.log", instance);
    if (harness_store_timeout_ms)
        snprintf (timeout, sizeof timeout, "--store-timeout %d", harness_store_timeout_ms);
    return harness_spawn (logname, "%s %s/coordinator/dtx-coordinator --id %s --instance %s"
                          " --log-dir %s --clients tcp://127.0.0.1:%d --participants"
                          " tcp://127.0.0.1:%d %s --store '%s' --lease %d %s", env? env: "",
                          TOP_BUILDDIR, id, instance, dir, port, port + 1,
                          harness.coordinator_args, harness_store, harness_lease_ms, timeout);
}

void
harness_terminate (pid_t pid)
{
    kill (pid, SIGTERM);
    for (int i = 0; i < 500 && !harness_pid_gone (pid); i++)
        usleep (10000);
    if (!harness_pid_gone (pid))
        kill (pid, SIGKILL);
}

int
harness_dtxctl (char *output, size_t size, const char *format, ...)
{
    char args [1024];
    va_list ap;
    va_start (ap, format);
    vsnprintf (args, sizeof args, format, ap);
    va_end (ap);
    return harness_capture (output, size, "%s/dtxctl/dtxctl --log-dir %s --coordinator %s %s",
                            TOP_BUILDDIR, harness.log_dir, harness.client_endpoint, args);
}

bool
harness_wait_participant (int index, bool connected, int timeout_ms)
{
    char want [64], out [8192];
    snprintf (want, sizeof want, "\"name\":\"%s\",\"connected\":%s", harness.db_name [index],
              connected? "true": "false");
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        if (harness_dtxctl (out, sizeof out, "--json participants") == 0 && strstr (out, want))
            return true;
        usleep (50000);         //  polling interval, not a synchronisation
    }
    return false;
}

char *
harness_http_get (int port, const char *path)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert (fd >= 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons (port) };
    inet_pton (AF_INET, "127.0.0.1", &address.sin_addr);
    //  (a read timeout: a stuck server fails the test, not hangs it)
    struct timeval timeout = { .tv_sec = 10 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (connect (fd, (struct sockaddr *) &address, sizeof address)) {
        close (fd);
        return NULL;
    }
    char request [256];
    snprintf (request, sizeof request, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write (fd, request, strlen (request)) != (ssize_t) strlen (request)) {
        close (fd);
        return NULL;
    }
    size_t size = 1 << 20, used = 0;
    char *answer = (char *) calloc (size, 1);
    assert (answer);
    ssize_t n;
    while (used < size - 1 && (n = read (fd, answer + used, size - used - 1)) > 0)
        used += n;
    close (fd);
    return answer;
}

double
harness_metric (const char *text, const char *series)
{
    //  A sample line, not the HELP/TYPE line that names it too
    char line [512];
    snprintf (line, sizeof line, "\n%s", series);
    const char *at = text? strstr (text, line): NULL;
    return at? atof (at + strlen (line)): -1;
}

int
harness_run (Suite *suite)
{
    SRunner *runner = srunner_create (suite);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed? 1: 0;
}

void
harness_case_setup (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
}

dtx_client_t *
harness_case_client (int request_ms)
{
    harness_case_setup ();
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, request_ms);
    ck_assert_ptr_nonnull (client);
    return client;
}

void
harness_case_client_end (dtx_client_t **client_p)
{
    dtx_client_destroy (client_p);
    ck_assert_msg (harness_wait_no_prepared (10000),
                   "dtx prepared transactions left behind: %d", harness_prepared_dtx ());
}
