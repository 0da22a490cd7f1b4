/*  dtxctl - the operator's tool (docs/operations.md)

    dtxctl [--admin ENDPOINT | --log-dir DIR] [--json] STATUS-COMMAND
    dtxctl [--coordinator ENDPOINT] run FILE
    dtxctl keygen NAME [--dir DIR] [--databases a,b]

    Exit codes: 0 ok; 1 refused or failed (for run: the transaction
    aborted); 2 usage; 3 coordinator unreachable; 4 run: outcome unknown.
*/
#include "dtx.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include <getopt.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <ctype.h>
#include <fcntl.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
"usage: dtxctl [--admin ENDPOINT | --log-dir DIR] [--json] [--timeout MS] COMMAND\n"
"  status                    uptime, transactions live and in doubt, log, participants\n"
"  participants              registered participants and when they were last heard\n"
"  txns                      live transactions with their branches\n"
"  in-doubt [--db NAME=CONNINFO ...]\n"
"                            decided transactions still waiting for a participant; with\n"
"                            --db, also each database's dtx prepared transactions and the\n"
"                            locks they hold\n"
"  show GID                  one transaction (live or remembered)\n"
"  resolve GID commit|abort  an operator's decision; refused if it contradicts the log\n"
"  rebind NAME               let participant NAME register once with another database\n"
"                            (its database was restored or upgraded)\n"
"dtxctl [--json] shards --store CONNINFO\n"
"  the decision store's shards (docs/ha.md): epoch, owner instance, lease left (or\n"
"  expired), decisions waiting for phase 2; read from the store, no coordinator needed\n"
"dtxctl [--coordinator ENDPOINT[,ENDPOINT...]] run FILE\n"
"  run a SQL script as one global transaction; '\\c NAME' (or '\\connect NAME') switches database,\n"
"  statements end with ';' at the end of a line; several coordinators: as\n"
"  libdtx takes them (up to 8, comma-separated)\n"
"dtxctl keygen NAME [--dir DIR] [--databases a,b]\n"
"  write a CurveZMQ certificate: DIR/NAME (public: goes into an allow-list or to\n"
"  the peers) and DIR/NAME_secret (stays with its owner); --databases: the\n"
"  participant names a participant key may register\n"
"Keys (CurveZMQ, docs/security.md): --cert FILE (our NAME_secret, or\n"
"DTX_CLIENT_CERT) and --coordinator-cert FILE (its public certificate, or\n"
"DTX_COORDINATOR_CERT), for run and for a tcp admin endpoint.\n"
"The admin endpoint defaults to ipc://LOG_DIR/dtx-admin.sock (owner-only).\n"
"--version prints dtx's version.\n"
"Exit: 0 ok, 1 refused/failed/aborted, 2 usage, 3 unreachable, 4 outcome unknown.\n");
}

static const char *s_cert, *s_coordinator_cert;
static bool s_json;                 //  --json: errors too are JSON, on stdout
static bool s_json_member;          //  output is a member of a larger document

//  An error: a line on stderr, or with --json the document
//  {"error": "..."} on stdout (one document per command)
static void
s_error (const char *format, ...)
{
    char text [2048];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    size_t len = strlen (text);
    while (len && text [len - 1] == '\n')
        text [--len] = 0;
    if (!s_json || s_json_member) {
        //  (inside a larger document the member says null; the reason
        //  goes to stderr)
        fprintf (stderr, "dtxctl: %s\n", text);
        return;
    }
    char *literal = dtx_json_string (text);
    printf ("{\"error\":%s}\n", literal);
    free (literal);
}

//  shards --store CONNINFO: the store's view of every shard (docs/ha.md)
static int
s_shards (const char *conninfo, bool json)
{
    //  (bounded: an operator's tool must not hang on a dead store)
    const char *keywords [] = { "connect_timeout", "options", "dbname", NULL };
    const char *values [] = { "10", "-c statement_timeout=10000", conninfo, NULL };
    PGconn *conn = PQconnectdbParams (keywords, values, 1);
    PGresult *result = PQstatus (conn) == CONNECTION_OK? PQexec (conn,
        "SELECT s.shard, s.epoch, s.owner,"
        "       (extract (epoch FROM s.lease_until - clock_timestamp ()) * 1000)::bigint,"
        "       (SELECT count (*) FROM dtx_store.decision d"
        "         WHERE d.shard = s.shard AND NOT d.ended),"
        "       s.forgotten_epoch, s.forgotten_counter"
        "  FROM dtx_store.shard s ORDER BY s.shard"): NULL;
    int rc = 0;
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        fprintf (stderr, "dtxctl: decision store: %s", PQerrorMessage (conn));
        rc = 3;
    }
    else {
        if (json)
            printf ("[");
        else
            printf ("%-20s %8s %-32s %-16s %s\n", "SHARD", "EPOCH", "OWNER", "LEASE", "UNENDED");
        for (int row = 0; row < PQntuples (result); row++) {
            long long left = atoll (PQgetvalue (result, row, 3));
            if (json)
                printf ("%s{\"shard\":\"%s\",\"epoch\":%s,\"owner\":\"%s\",\"lease_ms\":%lld,"
                        "\"unended\":%s,\"forgotten\":\"%s:%s\"}", row? ",": "",
                        PQgetvalue (result, row, 0), PQgetvalue (result, row, 1),
                        PQgetvalue (result, row, 2), left, PQgetvalue (result, row, 4),
                        PQgetvalue (result, row, 5), PQgetvalue (result, row, 6));
            else {
                char lease [32];
                if (left > 0)
                    snprintf (lease, sizeof lease, "%lld ms left", left);
                else
                    snprintf (lease, sizeof lease, "expired %lld ms", -left);
                printf ("%-20s %8s %-32s %-16s %s\n", PQgetvalue (result, row, 0),
                        PQgetvalue (result, row, 1), PQgetvalue (result, row, 2), lease,
                        PQgetvalue (result, row, 4));
            }
        }
        if (json)
            printf ("]\n");
    }
    PQclear (result);
    PQfinish (conn);
    return rc;
}

//  keygen NAME [--dir DIR] [--databases a,b]
static int
s_keygen (int argc, char *argv [])
{
    const char *dir = ".", *databases = NULL;
    if (argc < 2) {
        s_usage (stderr);
        return 2;
    }
    const char *name = argv [1];
    for (int i = 2; i < argc; i++) {
        if (streq (argv [i], "--dir") && i + 1 < argc)
            dir = argv [++i];
        else
        if (streq (argv [i], "--databases") && i + 1 < argc)
            databases = argv [++i];
        else {
            s_usage (stderr);
            return 2;
        }
    }
    char err [256];
    if (dtx_name_validate ("key", name, err, sizeof err)) {
        fprintf (stderr, "dtxctl: %s\n", err);
        return 2;
    }
    zcert_t *cert = zcert_new ();
    if (!cert) {
        fprintf (stderr, "dtxctl: cannot make a key pair (libzmq without CURVE?)\n");
        return 1;
    }
    zcert_set_meta (cert, "name", "%s", name);
    if (databases)
        zcert_set_meta (cert, "databases", "%s", databases);
    char *path = zsys_sprintf ("%s/%s", dir, name);
    //  The secret file is made owner-only before any key is in it; an
    //  existing pair is never overwritten (a key in use would be lost)
    char *secret = zsys_sprintf ("%s_secret", path);
    if (access (path, F_OK) == 0 || access (secret, F_OK) == 0) {
        fprintf (stderr, "dtxctl: %s or %s exists already: rotate by making a new name,"
                 " or remove the old pair first (docs/security.md)\n", path, secret);
        zstr_free (&path);
        zstr_free (&secret);
        zcert_destroy (&cert);
        return 1;
    }
    int fd = open (secret, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0)
        close (fd);
    int rc = fd < 0 || zcert_save (cert, path)? 1: 0;
    if (rc)
        fprintf (stderr, "dtxctl: cannot write %s and %s: %s\n", path, secret, strerror (errno));
    else
        printf ("%s: public key %s\n%s: secret key (keep it with its owner, mode 0600)\n",
                path, zcert_public_txt (cert), secret);
    zstr_free (&path);
    zstr_free (&secret);
    zcert_destroy (&cert);
    return rc;
}

//  A tcp endpoint wants keys; ipc is guarded by file permissions
static bool
s_tcp (const char *endpoint)
{
    return strncmp (endpoint, "ipc://", 6) && strncmp (endpoint, "inproc://", 9);
}

static int
s_admin (const char *endpoint, const char *line, bool json, int timeout_ms)
{
    //  An ipc socket file we may not use, or that is not there, would
    //  only show as a timeout: say which at once
    if (strncmp (endpoint, "ipc://", 6) == 0) {
        const char *path = endpoint + 6;
        if (access (path, R_OK | W_OK)) {
            int error = errno;
            if (error == EACCES)
                s_error ("%s: permission denied: the admin socket is the coordinator user's"
                         " only; run dtxctl as that user (e.g. sudo -u dtx dtxctl ...)", path);
            else
                s_error ("%s: %s: is a coordinator running with that log directory?", path,
                         strerror (error));
            return 3;
        }
    }
    char *connect = zsys_sprintf (">%s", endpoint);
    dtx_security_t *security = NULL;
    if (s_tcp (endpoint) && (s_cert || s_coordinator_cert)) {
        char err [512];
        security = dtx_security_new (s_cert, s_coordinator_cert? s_coordinator_cert: "(none)",
                                     err, sizeof err);
        if (!security) {
            fprintf (stderr, "dtxctl: %s\n", err);
            zstr_free (&connect);
            return 2;
        }
    }
    zsock_t *sock = dtx_sock_new (ZMQ_DEALER, connect, security, DTX_MAXMSG_RESULT);
    dtx_security_destroy (&security);
    zstr_free (&connect);
    if (!sock) {
        fprintf (stderr, "dtxctl: bad admin endpoint %s\n", endpoint);
        return 2;
    }
    dtx_proto_t *request = dtx_proto_new (DTX_PROTO_ADMIN);
    dtx_proto_set_seq (request, 1);
    dtx_proto_set_flags (request, json? 1: 0);
    dtx_proto_set_text (request, line);
    dtx_proto_send (request, sock);
    dtx_proto_destroy (&request);
    zsock_set_rcvtimeo (sock, timeout_ms);
    dtx_proto_t *reply = NULL;
    char err [256];
    int rc = dtx_proto_recv (&reply, sock, err, sizeof err);
    zsock_destroy (&sock);
    if (rc) {
        s_error ("no answer from the coordinator at %s within %d ms", endpoint, timeout_ms);
        return 3;
    }
    const char *text = dtx_proto_text (reply);
    int status = dtx_proto_status (reply);
    if (status)
        s_error ("%s", text);
    else {
        fputs (text, stdout);
        //  (in-doubt --db: the coordinator's view is the first member of
        //  one document, the databases' the second)
        if (json && !s_json_member)
            fputs ("\n", stdout);
    }
    dtx_proto_destroy (&reply);
    return status? 1: 0;
}

//  A result's rows, aligned like psql's (columns as wide as their widest
//  value, NULL as empty), or as JSON objects one per line with --json
static void
s_print_rows (dtx_result_t *result)
{
    int rows = dtx_result_ntuples (result), fields = dtx_result_nfields (result);
    if (fields <= 0)
        return;
    if (s_json) {
        for (int row = 0; row < rows; row++) {
            printf ("{");
            for (int column = 0; column < fields; column++) {
                char *name = dtx_json_string (dtx_result_fname (result, column));
                const char *value = dtx_result_value (result, row, column);
                char *literal = value? dtx_json_string (value): NULL;
                printf ("%s%s:%s", column? ",": "", name, literal? literal: "null");
                free (name);
                free (literal);
            }
            printf ("}\n");
        }
        return;
    }
    int *width = (int *) calloc ((size_t) fields, sizeof (int));
    for (int column = 0; column < fields; column++) {
        width [column] = (int) strlen (dtx_result_fname (result, column));
        for (int row = 0; row < rows; row++) {
            const char *value = dtx_result_value (result, row, column);
            int len = value? (int) strlen (value): 0;
            if (len > width [column])
                width [column] = len;
        }
    }
    for (int column = 0; column < fields; column++)
        printf ("%s%-*s", column? " | ": " ", width [column], dtx_result_fname (result, column));
    printf ("\n");
    for (int column = 0; column < fields; column++) {
        printf ("%s", column? "-+-": "-");
        for (int i = 0; i < width [column]; i++)
            putchar ('-');
    }
    printf ("\n");
    for (int row = 0; row < rows; row++) {
        for (int column = 0; column < fields; column++) {
            const char *value = dtx_result_value (result, row, column);
            printf ("%s%-*s", column? " | ": " ", width [column], value? value: "");
        }
        printf ("\n");
    }
    printf ("(%d row%s)\n", rows, rows == 1? "": "s");
    free (width);
}

//  run FILE: one global transaction across the databases the script names
static int
s_run (const char *endpoint, const char *path, int timeout_ms)
{
    FILE *file = streq (path, "-")? stdin: fopen (path, "r");
    if (!file) {
        fprintf (stderr, "dtxctl: cannot open %s: %s\n", path, strerror (errno));
        return 2;
    }
    dtx_client_t *client = s_cert || s_coordinator_cert
                         ? dtx_client_new_secure (endpoint, timeout_ms, s_cert, s_coordinator_cert)
                         : dtx_client_new (endpoint, timeout_ms);
    dtx_txn_t *txn = client? dtx_begin (client, 0): NULL;
    if (!txn) {
        char why [512] = "bad endpoint";
        if (!client && dtx_client_endpoints_check (endpoint, why, sizeof why) == 0)
            snprintf (why, sizeof why, "bad endpoint or certificate");
        fprintf (stderr, "dtxctl: cannot begin: %s\n", client? dtx_client_error (client): why);
        dtx_client_destroy (&client);
        return 3;
    }
    char database [DTX_NAME_MAX + 1] = "";
    char line [65536];
    char *statement = NULL;
    size_t statement_size = 0, statement_used = 0;
    int lineno = 0, statements = 0, rc = 0;
    while (rc == 0 && fgets (line, sizeof line, file)) {
        lineno++;
        char *p = line;
        while (isspace ((unsigned char) *p))
            p++;
        bool connect = strncmp (p, "\\connect", 8) == 0 && (isspace ((unsigned char) p [8]) || !p [8]);
        if (statement_used == 0
        && (connect || (strncmp (p, "\\c", 2) == 0 && (isspace ((unsigned char) p [2]) || !p [2])))) {
            char name [256] = "";
            if (sscanf (p + (connect? 8: 2), " %255s", name) != 1) {
                fprintf (stderr, "dtxctl: %s:%d: \\c needs a database name\n", path, lineno);
                rc = 2;
                break;
            }
            snprintf (database, sizeof database, "%s", name);
            continue;
        }
        if (statement_used == 0 && (*p == 0 || strncmp (p, "--", 2) == 0))
            continue;
        size_t len = strlen (line);
        if (statement_used + len + 1 > statement_size) {
            statement_size = (statement_used + len + 1) * 2;
            statement = (char *) realloc (statement, statement_size);
        }
        memcpy (statement + statement_used, line, len + 1);
        statement_used += len;
        //  A statement ends with ';' at the end of a line
        char *end = statement + statement_used;
        while (end > statement && isspace ((unsigned char) end [-1]))
            end--;
        if (end > statement && end [-1] == ';') {
            if (!*database) {
                fprintf (stderr, "dtxctl: %s:%d: no database chosen: start with \\c NAME\n", path, lineno);
                rc = 2;
                break;
            }
            dtx_result_t *result = dtx_exec (txn, database, statement, 0, NULL);
            if (!dtx_result_ok (result)) {
                fprintf (stderr, "dtxctl: %s:%d: on %s: %s%s%s\n", path, lineno, database,
                         dtx_result_sqlstate (result), *dtx_result_sqlstate (result)? " ": "",
                         dtx_result_error (result));
                rc = 1;
            }
            else {
                s_print_rows (result);
                printf ("%s: %s\n", database, dtx_result_command (result));
            }
            dtx_result_destroy (&result);
            statements++;
            statement_used = 0;
        }
    }
    if (file != stdin)
        fclose (file);
    free (statement);
    if (rc == 0 && statement_used) {
        fprintf (stderr, "dtxctl: %s: last statement has no ';'\n", path);
        rc = 2;
    }
    dtx_outcome_t outcome = rc == 0? dtx_commit (txn): dtx_rollback (txn);
    printf ("%s: %s (%d statement%s)\n", dtx_txn_gid (txn), dtx_outcome_name (outcome),
            statements, statements == 1? "": "s");
    if (rc == 0 && outcome != DTX_COMMITTED) {
        rc = outcome == DTX_UNKNOWN? 4: 1;
        if (outcome == DTX_ABORTED)
            fprintf (stderr, "dtxctl: aborted: %s %s %s\n", dtx_txn_error_database (txn),
                     dtx_txn_error_sqlstate (txn), dtx_txn_error_message (txn));
    }
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&client);
    return rc;
}

//  The databases' own view: pg_prepared_xacts and the locks each holds
static int
s_prepared_view (char **dbs, int ndbs, bool json)
{
    const char *sql =
        "SELECT p.gid, extract (epoch FROM now () - p.prepared)::bigint, p.owner,"
        " coalesce ((SELECT string_agg (l.mode || ' on ' || coalesce (l.relation::regclass::text,"
        "            l.locktype), ', ' ORDER BY 1)"
        "            FROM pg_locks l WHERE l.pid IS NULL AND l.virtualtransaction IN"
        "             (SELECT x.virtualtransaction FROM pg_locks x WHERE x.pid IS NULL"
        "              AND x.locktype = 'transactionid' AND x.transactionid = p.transaction)), '')"
        " FROM pg_prepared_xacts p WHERE p.gid LIKE 'dtx:%' AND p.database = current_database ()"
        " ORDER BY p.prepared";
    int rc = 0, count = 0;
    if (json)
        printf ("[");
    else
        printf ("\n%-12s %-28s %8s %-10s %s\n", "DATABASE", "PREPARED GID", "AGE (s)", "OWNER", "LOCKS HELD");
    for (int i = 0; i < ndbs; i++) {
        char *equals = strchr (dbs [i], '=');
        if (!equals) {
            fprintf (stderr, "dtxctl: --db wants NAME=CONNINFO, got %s\n", dbs [i]);
            return 2;
        }
        *equals = 0;
        PGconn *conn = PQconnectdb (equals + 1);
        PGresult *result = PQstatus (conn) == CONNECTION_OK? PQexec (conn, sql): NULL;
        if (PQresultStatus (result) != PGRES_TUPLES_OK) {
            fprintf (stderr, "dtxctl: %s: %s", dbs [i], PQerrorMessage (conn));
            rc = 1;
        }
        else
        for (int row = 0; row < PQntuples (result); row++) {
            if (json)
                printf ("%s{\"database\":\"%s\",\"gid\":\"%s\",\"age_s\":%s,\"owner\":\"%s\","
                        "\"locks\":\"%s\"}", count++? ",": "", dbs [i], PQgetvalue (result, row, 0),
                        PQgetvalue (result, row, 1), PQgetvalue (result, row, 2),
                        PQgetvalue (result, row, 3));
            else
                printf ("%-12s %-28s %8s %-10s %s\n", dbs [i], PQgetvalue (result, row, 0),
                        PQgetvalue (result, row, 1), PQgetvalue (result, row, 2),
                        PQgetvalue (result, row, 3));
        }
        PQclear (result);
        PQfinish (conn);
    }
    if (json)
        printf (s_json_member? "]": "]\n");
    return rc;
}

int
main (int argc, char *argv [])
{
    const char *admin = NULL, *log_dir = getenv ("DTX_LOG_DIR");
    const char *coordinator = "tcp://127.0.0.1:7100";
    bool json = false;
    int timeout_ms = 5000;
    for (int i = 1; i < argc; i++)
        if (streq (argv [i], "--version")) {
            printf ("dtxctl (dtx) %s\n", dtx_version ());
            return 0;
        }
    //  --json anywhere on the line (also after the command)
    for (int i = 1; i < argc; i++)
        if (streq (argv [i], "--json")) {
            json = true;
            memmove (argv + i, argv + i + 1, (argc - i) * sizeof (char *));
            argc--;
            i--;
        }
    s_json = json;
    static struct option options [] = {
        { "admin", required_argument, 0, 'a' }, { "log-dir", required_argument, 0, 'l' },
        { "coordinator", required_argument, 0, 'c' }, { "json", no_argument, 0, 'j' },
        { "timeout", required_argument, 0, 't' }, { "help", no_argument, 0, 'h' },
        { "cert", required_argument, 0, 'k' }, { "coordinator-cert", required_argument, 0, 'K' },
        { 0, 0, 0, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "+a:l:c:jt:hk:K:", options, NULL)) != -1) {
        switch (opt) {
            case 'a': admin = optarg; break;
            case 'l': log_dir = optarg; break;
            case 'c': coordinator = optarg; break;
            case 'j': json = true; break;
            case 't': timeout_ms = atoi (optarg); break;
            case 'k': s_cert = optarg; break;
            case 'K': s_coordinator_cert = optarg; break;
            case 'h': s_usage (stdout); return 0;
            default:  s_usage (stderr); return 2;
        }
    }
    if (optind >= argc) {
        s_usage (stderr);
        return 2;
    }
    if (streq (argv [optind], "keygen"))
        return s_keygen (argc - optind, argv + optind);
    //  Flags over the environment (the same variables as libdtx's)
    if (!s_cert && getenv ("DTX_CLIENT_CERT") && *getenv ("DTX_CLIENT_CERT"))
        s_cert = getenv ("DTX_CLIENT_CERT");
    if (!s_coordinator_cert && getenv ("DTX_COORDINATOR_CERT") && *getenv ("DTX_COORDINATOR_CERT"))
        s_coordinator_cert = getenv ("DTX_COORDINATOR_CERT");
    zsys_init ();
    zsys_set_logstream (NULL);
    if (streq (argv [optind], "shards")) {
        if (optind + 3 != argc || strcmp (argv [optind + 1], "--store")) {
            s_usage (stderr);
            return 2;
        }
        return s_shards (argv [optind + 2], json);
    }
    if (streq (argv [optind], "run")) {
        if (optind + 2 != argc) {
            s_usage (stderr);
            return 2;
        }
        return s_run (coordinator, argv [optind + 1], timeout_ms);
    }
    char endpoint [512];
    if (admin)
        snprintf (endpoint, sizeof endpoint, "%s", admin);
    else
    if (log_dir)
        snprintf (endpoint, sizeof endpoint, "ipc://%s/dtx-admin.sock", log_dir);
    else {
        fprintf (stderr, "dtxctl: say where the coordinator is: --admin ENDPOINT or --log-dir DIR\n");
        return 2;
    }
    //  The command line goes as one string; resolve carries who asked
    char line [1024] = "";
    for (int i = optind; i < argc; i++) {
        strncat (line, argv [i], sizeof line - strlen (line) - 2);
        strncat (line, " ", sizeof line - strlen (line) - 1);
    }
    //  in-doubt --db NAME=CONNINFO ...: the coordinator's view, then the
    //  databases'
    char *dbs [32];
    int ndbs = 0;
    if (streq (argv [optind], "in-doubt")) {
        for (int i = optind + 1; i < argc; i++) {
            if (streq (argv [i], "--db") && i + 1 < argc && ndbs < 32)
                dbs [ndbs++] = argv [++i];
            else {
                s_usage (stderr);
                return 2;
            }
        }
        snprintf (line, sizeof line, "in-doubt");
    }
    if (streq (argv [optind], "resolve")) {
        struct passwd *pw = getpwuid (getuid ());
        strncat (line, pw? pw->pw_name: "unknown", sizeof line - strlen (line) - 1);
    }
    if (json && ndbs) {
        //  One document: {"coordinator": ..., "databases": [...]}
        s_json_member = true;
        printf ("{\"coordinator\":");
        fflush (stdout);
        int rc = s_admin (endpoint, line, json, timeout_ms);
        if (rc)
            printf ("null");
        printf (",\"databases\":");
        int view = s_prepared_view (dbs, ndbs, json);
        printf ("}\n");
        return rc? rc: view;
    }
    int rc = s_admin (endpoint, line, json, timeout_ms);
    if (ndbs && rc != 2) {
        int view = s_prepared_view (dbs, ndbs, json);
        rc = rc? rc: view;
    }
    return rc;
}
