/*  dtxctl - the operator's tool (docs/operations.md)

    dtxctl [--admin ENDPOINT | --log-dir DIR | --config FILE] [--json] COMMAND
    dtxctl [--coordinator ENDPOINT | --log-dir DIR | --config FILE] [--json] run FILE
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
#include <syslog.h>
#include <inttypes.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
"usage: dtxctl [--admin ENDPOINT | --log-dir DIR | --config FILE] [--json] [--timeout MS] COMMAND\n"
"  status                    uptime, transactions live and in doubt, log, participants\n"
"  participants              registered participants and when they were last heard\n"
"  txns                      live transactions with their branches\n"
"  in-doubt [--db NAME=CONNINFO ...]\n"
"                            decided transactions still waiting for a participant; with\n"
"                            --db, also each database's dtx prepared transactions and the\n"
"                            locks they hold\n"
"  show GID                  one transaction (live or remembered)\n"
"  resolve GID commit|abort  an operator's decision, recorded in the decision log; refused if\n"
"                            it contradicts what participants are told (the log, presumed\n"
"                            abort) or the gid was never issued\n"
"  resolve GID commit|abort [--force] --db NAME=CONNINFO ...\n"
"                            carry it out on the databases themselves (the log is lost or\n"
"                            the coordinator gone): COMMIT/ROLLBACK PREPARED, audited in\n"
"                            dtx.resolve_audit; a coordinator that knows better, or a\n"
"                            database where it ended the other way, vetoes; without the\n"
"                            coordinator's answer, only with --force (it is gone for good)\n"
"  forget NAME               remove a retired participant (not connected, nothing waiting\n"
"                            for it) from the registry\n"
"  endpoints                 where the coordinator serves clients\n"
"  rebind NAME               let participant NAME register once with another database\n"
"                            (its database was restored or upgraded)\n"
"dtxctl [--json] shards --store CONNINFO\n"
"  the decision store's shards (docs/ha.md): epoch, owner instance, lease left (or\n"
"  expired), decisions waiting for phase 2; read from the store, no coordinator needed\n"
"dtxctl [--coordinator ENDPOINT[,ENDPOINT...] | --log-dir DIR | --config FILE] run FILE\n"
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
"--config FILE: the coordinator's config file (its admin, log-dir and clients keys).\n"
"run connects to --coordinator, else the config's clients, else asks the admin endpoint.\n"
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

//  A usage error: the usage on stderr, or with --json an error document
static int
s_usage_error (const char *what)
{
    if (s_json)
        s_error ("usage: %s (dtxctl --help)", what);
    else
        s_usage (stderr);
    return 2;
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
        s_error ("decision store: %s", PQerrorMessage (conn));
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
    if (argc < 2)
        return s_usage_error ("keygen NAME [--dir DIR] [--databases a,b]");
    const char *name = argv [1];
    for (int i = 2; i < argc; i++) {
        if (streq (argv [i], "--dir") && i + 1 < argc)
            dir = argv [++i];
        else
        if (streq (argv [i], "--databases") && i + 1 < argc)
            databases = argv [++i];
        else
            return s_usage_error ("keygen NAME [--dir DIR] [--databases a,b]");
    }
    char err [256];
    if (dtx_name_validate ("key", name, err, sizeof err)) {
        s_error ("%s", err);
        return 2;
    }
    zcert_t *cert = zcert_new ();
    if (!cert) {
        s_error ("cannot make a key pair (libzmq without CURVE?)");
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
        s_error ("%s or %s exists already: rotate by making a new name, or remove the old"
                 " pair first (docs/security.md)", path, secret);
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
        s_error ("cannot write %s and %s: %s", path, secret, strerror (errno));
    else
    if (s_json) {
        char *public_json = dtx_json_string (path), *secret_json = dtx_json_string (secret);
        printf ("{\"public\":%s,\"secret\":%s,\"public_key\":\"%s\"}\n", public_json,
                secret_json, zcert_public_txt (cert));
        free (public_json);
        free (secret_json);
    }
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

//  One admin request: 0 and the reply's text (*text_p, caller frees) and
//  status; else an exit code (2 bad endpoint or keys, 3 no answer) with
//  the reason in why
static int
s_admin_ask (const char *endpoint, const char *line, bool json, int timeout_ms,
             char **text_p, int *status_p, char *why, size_t whylen)
{
    *text_p = NULL;
    //  An ipc socket file we may not use, or that is not there, would
    //  only show as a timeout: say which at once
    if (strncmp (endpoint, "ipc://", 6) == 0) {
        const char *path = endpoint + 6;
        if (access (path, R_OK | W_OK)) {
            int error = errno;
            if (error == EACCES)
                snprintf (why, whylen, "%s: permission denied: the admin socket is the coordinator"
                          " user's only; run dtxctl as that user (e.g. sudo -u dtx dtxctl ...)", path);
            else
                snprintf (why, whylen, "%s: %s: is a coordinator running with that log directory?",
                          path, strerror (error));
            return 3;
        }
    }
    char *connect = zsys_sprintf (">%s", endpoint);
    dtx_security_t *security = NULL;
    if (s_tcp (endpoint) && (s_cert || s_coordinator_cert)) {
        security = dtx_security_new (s_cert, s_coordinator_cert? s_coordinator_cert: "(none)",
                                     why, whylen);
        if (!security) {
            zstr_free (&connect);
            return 2;
        }
    }
    zsock_t *sock = dtx_sock_new (ZMQ_DEALER, connect, security, DTX_MAXMSG_RESULT);
    dtx_security_destroy (&security);
    zstr_free (&connect);
    if (!sock) {
        snprintf (why, whylen, "bad admin endpoint %s", endpoint);
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
        snprintf (why, whylen, "no answer from the coordinator at %s within %d ms", endpoint,
                  timeout_ms);
        return 3;
    }
    *text_p = strdup (dtx_proto_text (reply));
    *status_p = dtx_proto_status (reply);
    dtx_proto_destroy (&reply);
    return 0;
}

//  An admin command, its answer printed: the exit code
static int
s_admin (const char *endpoint, const char *line, bool json, int timeout_ms)
{
    char *text, why [1024];
    int status = 0;
    int rc = s_admin_ask (endpoint, line, json, timeout_ms, &text, &status, why, sizeof why);
    if (rc) {
        s_error ("%s", why);
        return rc;
    }
    if (status)
        s_error ("%s", text);
    else {
        fputs (text, stdout);
        //  (in-doubt --db: the coordinator's view is the first member of
        //  one document, the databases' the second)
        if (json && !s_json_member)
            fputs ("\n", stdout);
    }
    free (text);
    return status? 1: 0;
}

//  The client endpoint a coordinator binds, as something to connect to:
//  a wildcard host (tcp://*:7100, 0.0.0.0) means this host
static void
s_connectable (char *endpoint, size_t size)
{
    const char *wild [] = { "tcp://*:", "tcp://0.0.0.0:", "tcp://[::]:", "tcp://[*]:", NULL };
    for (int i = 0; wild [i]; i++)
        if (strncmp (endpoint, wild [i], strlen (wild [i])) == 0) {
            char port [64];
            snprintf (port, sizeof port, "%s", endpoint + strlen (wild [i]));
            snprintf (endpoint, size, "tcp://127.0.0.1:%s", port);
            return;
        }
}

//  A statement's rows and columns for run's JSON document
static void
s_json_result (dtx_text_t *doc, dtx_result_t *result, const char *database, int lineno,
               const char *statement)
{
    int rows = dtx_result_ntuples (result), fields = dtx_result_nfields (result);
    dtx_text_add (doc, "{\"database\":");
    dtx_text_json (doc, database);
    dtx_text_add (doc, ",\"line\":%d,\"statement\":", lineno);
    //  (the statement as written, without its trailing newline)
    char *text = strdup (statement);
    size_t len = strlen (text);
    while (len && isspace ((unsigned char) text [len - 1]))
        text [--len] = 0;
    dtx_text_json (doc, text);
    free (text);
    dtx_text_add (doc, ",\"command\":");
    dtx_text_json (doc, dtx_result_command (result));
    dtx_text_add (doc, ",\"columns\":[");
    for (int column = 0; column < fields; column++) {
        dtx_text_add (doc, column? ",": "");
        dtx_text_json (doc, dtx_result_fname (result, column));
    }
    dtx_text_add (doc, "],\"rows\":[");
    for (int row = 0; row < rows; row++) {
        dtx_text_add (doc, row? ",[": "[");
        for (int column = 0; column < fields; column++) {
            const char *value = dtx_result_value (result, row, column);
            dtx_text_add (doc, column? ",": "");
            if (!value || dtx_result_isnull (result, row, column))
                dtx_text_add (doc, "null");
            else
                dtx_text_json (doc, value);
        }
        dtx_text_add (doc, "]");
    }
    dtx_text_add (doc, "],\"rows_affected\":%" PRId64 "}", (int64_t) dtx_result_affected (result));
}

//  A result's rows, aligned like psql's (columns as wide as their widest
//  value, NULL as empty)
static void
s_print_rows (dtx_result_t *result)
{
    int rows = dtx_result_ntuples (result), fields = dtx_result_nfields (result);
    if (fields <= 0)
        return;
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

//  run FILE: one global transaction across the databases the script names.
//  With --json, one document (docs/operations.md):
//  {"gid", "outcome", "statements", "results": [{"database", "line",
//  "statement", "command", "columns", "rows", "rows_affected"}, ...]}
//  and, when it did not commit, "error" (a sentence: file, line, database,
//  SQLSTATE, message) and "failure" {"database", "sqlstate"}.
static int
s_run (const char *endpoint, const char *path, int timeout_ms)
{
    FILE *file = streq (path, "-")? stdin: fopen (path, "r");
    if (!file) {
        s_error ("cannot open %s: %s", path, strerror (errno));
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
        s_error ("cannot begin at %s: %s", endpoint, client? dtx_client_error (client): why);
        dtx_client_destroy (&client);
        if (file != stdin)
            fclose (file);
        return 3;
    }
    dtx_text_t doc = { NULL, 0, 0 };
    dtx_text_add (&doc, "%s", "");
    char failure [1200] = "";           //  why it will not commit
    char failed_db [DTX_NAME_MAX + 1] = "", failed_state [8] = "";
    char database [DTX_NAME_MAX + 1] = "";
    //  Whole lines however long (fgets cut a line over its buffer into
    //  pieces, and a piece ending in ';' ran as a statement of its own)
    char *line = NULL;
    size_t line_size = 0;
    char *statement = NULL;
    size_t statement_size = 0, statement_used = 0;
    int lineno = 0, statement_line = 0, statements = 0, rc = 0;
    while (rc == 0 && getline (&line, &line_size, file) != -1) {
        lineno++;
        char *p = line;
        while (isspace ((unsigned char) *p))
            p++;
        bool connect = strncmp (p, "\\connect", 8) == 0 && (isspace ((unsigned char) p [8]) || !p [8]);
        if (statement_used == 0
        && (connect || (strncmp (p, "\\c", 2) == 0 && (isspace ((unsigned char) p [2]) || !p [2])))) {
            char name [256] = "", err [256];
            if (sscanf (p + (connect? 8: 2), " %255s", name) != 1) {
                snprintf (failure, sizeof failure, "%s:%d: \\c needs a database name", path, lineno);
                rc = 2;
                break;
            }
            if (dtx_name_validate ("database", name, err, sizeof err)) {
                snprintf (failure, sizeof failure, "%s:%d: %s", path, lineno, err);
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
        if (statement_used == 0)
            statement_line = lineno;
        memcpy (statement + statement_used, line, len + 1);
        statement_used += len;
        //  A statement ends with ';' at the end of a line
        char *end = statement + statement_used;
        while (end > statement && isspace ((unsigned char) end [-1]))
            end--;
        if (end > statement && end [-1] == ';') {
            if (!*database) {
                snprintf (failure, sizeof failure, "%s:%d: no database chosen: start with \\c NAME",
                          path, lineno);
                rc = 2;
                break;
            }
            dtx_result_t *result = dtx_exec (txn, database, statement, 0, NULL);
            if (!dtx_result_ok (result)) {
                snprintf (failure, sizeof failure, "%s:%d: on %s: %s%s%s", path, statement_line,
                          database, dtx_result_sqlstate (result),
                          *dtx_result_sqlstate (result)? " ": "", dtx_result_error (result));
                snprintf (failed_db, sizeof failed_db, "%s", database);
                snprintf (failed_state, sizeof failed_state, "%s", dtx_result_sqlstate (result));
                //  No answer before any gid was issued: nothing began, the
                //  coordinator is unreachable (once it began, no COMMIT is
                //  sent after a lost reply: aborted for certain, exit 1)
                const char *began = dtx_txn_gid (txn);
                rc = dtx_result_errcode (result) == DTX_ERR_COORDINATOR && !(began && *began)? 3: 1;
            }
            else
            if (s_json) {
                dtx_text_add (&doc, statements? ",": "");
                s_json_result (&doc, result, database, statement_line, statement);
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
    free (line);
    if (rc == 0 && statement_used) {
        snprintf (failure, sizeof failure, "%s: last statement has no ';'", path);
        rc = 2;
    }
    dtx_outcome_t outcome = rc == 0? dtx_commit (txn): dtx_rollback (txn);
    if (rc == 3)
        snprintf (failure, sizeof failure, "the coordinator at %s did not answer within %d ms:"
                  " nothing committed (no COMMIT was sent; a statement it may have received"
                  " is rolled back)", endpoint, timeout_ms);
    if (rc == 0 && outcome != DTX_COMMITTED) {
        rc = outcome == DTX_UNKNOWN? 4: 1;
        snprintf (failed_db, sizeof failed_db, "%s", dtx_txn_error_database (txn));
        snprintf (failed_state, sizeof failed_state, "%s", dtx_txn_error_sqlstate (txn));
        snprintf (failure, sizeof failure, "%s%s%s%s%s", outcome == DTX_UNKNOWN
                  ? "outcome unknown (ask again: dtxctl show GID): ": "aborted: ",
                  dtx_txn_error_database (txn), *dtx_txn_error_database (txn)? " ": "",
                  dtx_txn_error_sqlstate (txn), *dtx_txn_error_sqlstate (txn)? " ": "");
        size_t used = strlen (failure);
        snprintf (failure + used, sizeof failure - used, "%s", dtx_txn_error_message (txn));
    }
    const char *gid = dtx_txn_gid (txn)? dtx_txn_gid (txn): "";
    if (s_json) {
        dtx_text_t out = { NULL, 0, 0 };
        dtx_text_add (&out, "{\"gid\":");
        dtx_text_json (&out, gid);
        dtx_text_add (&out, ",\"outcome\":\"%s\",\"statements\":%d,\"results\":[%s]",
                    dtx_outcome_name (outcome), statements, doc.data);
        if (*failure) {
            dtx_text_add (&out, ",\"error\":");
            dtx_text_json (&out, failure);
            dtx_text_add (&out, ",\"failure\":{\"database\":");
            dtx_text_json (&out, failed_db);
            dtx_text_add (&out, ",\"sqlstate\":");
            dtx_text_json (&out, failed_state);
            dtx_text_add (&out, "}");
        }
        dtx_text_add (&out, "}\n");
        fputs (out.data, stdout);
        free (out.data);
    }
    else {
        if (*failure)
            fprintf (stderr, "dtxctl: %s\n", failure);
        printf ("%s: %s (%d statement%s)\n", gid, dtx_outcome_name (outcome),
                statements, statements == 1? "": "s");
    }
    free (doc.data);
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
            rc = 2;
            continue;
        }
        *equals = 0;
        //  (bounded: an operator's tool must not hang on a dead database)
        const char *keywords [] = { "connect_timeout", "options", "dbname", NULL };
        const char *values [] = { "10", "-c statement_timeout=10000", equals + 1, NULL };
        PGconn *conn = PQconnectdbParams (keywords, values, 1);
        PGresult *result = PQstatus (conn) == CONNECTION_OK? PQexec (conn, sql): NULL;
        if (PQresultStatus (result) != PGRES_TUPLES_OK) {
            fprintf (stderr, "dtxctl: %s: %s", dbs [i], PQerrorMessage (conn));
            rc = rc? rc: 1;
        }
        else
        for (int row = 0; row < PQntuples (result); row++) {
            if (json) {
                char *name = dtx_json_string (dbs [i]), *gid = dtx_json_string (PQgetvalue (result, row, 0));
                char *owner = dtx_json_string (PQgetvalue (result, row, 2));
                char *locks = dtx_json_string (PQgetvalue (result, row, 3));
                printf ("%s{\"database\":%s,\"gid\":%s,\"age_s\":%s,\"owner\":%s,\"locks\":%s}",
                        count++? ",": "", name, gid, PQgetvalue (result, row, 1), owner, locks);
                free (name);
                free (gid);
                free (owner);
                free (locks);
            }
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

//  A gid from the command line: a dtx global id (dtx:COORDINATOR:EPOCH:
//  COUNTER, at most DTX_GID_MAX bytes of [A-Za-z0-9_.:-]); else the reason
static int
s_gid_check (const char *gid, char *why, size_t whylen)
{
    char err [256], coordinator [DTX_NAME_MAX + 1];
    uint64_t epoch, counter;
    if (dtx_gid_validate (gid, err, sizeof err)) {
        snprintf (why, whylen, "bad gid '%.60s%s': %s", gid, strlen (gid) > 60? "...": "", err);
        return -1;
    }
    if (dtx_gid_parse (gid, coordinator, &epoch, &counter)) {
        snprintf (why, whylen, "bad gid '%s': not a dtx global id (dtx:COORDINATOR:EPOCH:COUNTER,"
                  " as dtxctl in-doubt and pg_prepared_xacts show them)", gid);
        return -1;
    }
    return 0;
}

//  The audit table of decisions taken on a database by dtxctl resolve
//  --db (sql/dtx-audit.sql, the same text): who and when are the
//  server's (session_user, inet_client_addr (), now ()), never a value
//  dtxctl sends
static const char *s_audit_sql =
    "CREATE SCHEMA IF NOT EXISTS dtx;\n"
    "CREATE TABLE IF NOT EXISTS dtx.resolve_audit (\n"
    "    gid text NOT NULL,\n"
    "    decision text NOT NULL CHECK (decision IN ('commit', 'abort')),\n"
    "    participant text NOT NULL,\n"
    "    result text NOT NULL,\n"
    "    who name NOT NULL DEFAULT session_user,\n"
    "    client_addr inet DEFAULT inet_client_addr (),\n"
    "    at timestamptz NOT NULL DEFAULT now ()\n"
    ");\n";

typedef struct {
    char *name;                     //  participant name (NAME of --db)
    PGconn *conn;
    bool prepared;                  //  holds the gid prepared
    char *evidence;                 //  what it says about the gid's outcome, or NULL
    bool evidence_commit;           //  ... commit (else abort)
    char result [600];              //  what was done
} resolve_db_t;

//  PQexecParams with one text parameter; NULL unless it gives status
static PGresult *
s_exec1 (PGconn *conn, const char *sql, const char *param, ExecStatusType status)
{
    const char *values [1] = { param };
    PGresult *result = PQexecParams (conn, sql, param? 1: 0, NULL, param? values: NULL,
                                     NULL, NULL, 0);
    if (PQresultStatus (result) != status) {
        PQclear (result);
        return NULL;
    }
    return result;
}

//  Why a libpq call failed, on one line
static const char *
s_pq_error (PGconn *conn)
{
    static char text [512];
    snprintf (text, sizeof text, "%s", PQerrorMessage (conn));
    for (char *c = text; *c; c++)
        if (*c == '\n')
            *c = *(c + 1)? ' ': 0;
    return text;
}

//  resolve GID commit|abort --db NAME=CONNINFO ...: the decision carried
//  out on the databases themselves (the coordinator's log is lost, or the
//  coordinator is gone).  In order: (1) a reachable coordinator that knows
//  the outcome vetoes a contradicting decision; (2) every database is
//  reached and checked before any is touched: one whose audit table or
//  one-phase marker says the gid ended the other way vetoes; (3) on each
//  database holding it prepared, COMMIT PREPARED / ROLLBACK PREPARED, then
//  an audit row (dtx.resolve_audit) and a syslog line.
static int
s_resolve_db (const char *admin, const char *gid, bool commit, char **dbs, int ndbs,
              bool force, int timeout_ms)
{
    const char *decision = commit? "commit": "abort";
    dtx_text_t doc = { NULL, 0, 0 };
    dtx_text_add (&doc, "{\"gid\":");
    dtx_text_json (&doc, gid);
    dtx_text_add (&doc, ",\"decision\":\"%s\",\"coordinator\":", decision);
    //  (1) The coordinator's word, as participants holding it are told
    char *text = NULL, why [1024] = "";
    int status = 0, rc = 0;
    bool definite = false;          //  the coordinator said committed or aborted
    char coordinator [200] = "not consulted (no --admin, --log-dir or --config)";
    if (admin) {
        char line [DTX_GID_MAX + 32];
        snprintf (line, sizeof line, "show %s", gid);
        int asked = s_admin_ask (admin, line, true, timeout_ms, &text, &status, why, sizeof why);
        if (asked)
            snprintf (coordinator, sizeof coordinator, "unreachable (%.150s)", why);
        else {
            //  A client's answer (the first "state"), and the participants'
            //  when it differs (participants_told, last in the document)
            const char *told = strstr (text, "\"participants_told\":");
            const char *state = strstr (text, "\"state\":\"");
            const char *told_state = told? strstr (told, "\"state\":\""): NULL;
            char client_word [32] = "", word [32] = "";
            if (state && state != told_state)
                sscanf (state + 9, "%31[^\"]", client_word);
            if (told_state)
                sscanf (told_state + 9, "%31[^\"]", word);
            else
                snprintf (word, sizeof word, "%s", client_word);
            //  Either answer vetoes its opposite; only both agreeing on
            //  committed or aborted is definite (an outcome no longer
            //  retained is UNKNOWN to a client and presumed abort to a
            //  participant: the coordinator does not know then)
            bool says_commit = streq (word, "committed") || streq (client_word, "committed");
            bool says_abort = streq (word, "aborted") || streq (client_word, "aborted");
            //  (a live transaction is the coordinator's to finish: phase 2
            //  is retried until every participant has answered)
            bool live = strstr (text, "\"branches\":") != NULL || streq (word, "in progress");
            if (live) {
                rc = 1;
                snprintf (why, sizeof why, "refused: the coordinator at %s is driving %s (%s): let"
                          " it finish (bring its participants back); nothing done", admin, gid, word);
            }
            else
            if ((says_commit && !commit) || (says_abort && commit)) {
                rc = 1;
                snprintf (why, sizeof why, "refused: the coordinator at %s says %s is %s%s; its"
                          " participants are told so.  Nothing done (%s)", admin, gid, word,
                          strstr (text, "\"presumed\":true")? " (presumed abort: no commit record)": "",
                          text);
            }
            definite = !live && streq (word, client_word)
                    && (streq (word, "committed") || streq (word, "aborted"));
            snprintf (coordinator, sizeof coordinator, "%s", *word? word: "no answer");
        }
        free (text);
    }
    dtx_text_json (&doc, coordinator);
    resolve_db_t *db = (resolve_db_t *) calloc ((size_t) ndbs, sizeof (resolve_db_t));
    //  (2) Every database, checked before any is touched
    char timeout_option [64];
    snprintf (timeout_option, sizeof timeout_option, "-c statement_timeout=%d", timeout_ms * 2);
    for (int i = 0; i < ndbs && rc == 0; i++) {
        char *equals = strchr (dbs [i], '=');
        char err [256];
        if (!equals) {
            snprintf (why, sizeof why, "--db wants NAME=CONNINFO, got '%s'", dbs [i]);
            rc = 2;
            break;
        }
        db [i].name = strndup (dbs [i], (size_t) (equals - dbs [i]));
        if (dtx_name_validate ("participant", db [i].name, err, sizeof err)) {
            snprintf (why, sizeof why, "--db %s: %s", dbs [i], err);
            rc = 2;
            break;
        }
        const char *keywords [] = { "connect_timeout", "options", "application_name", "dbname", NULL };
        const char *values [] = { "10", timeout_option, "dtxctl resolve", equals + 1, NULL };
        db [i].conn = PQconnectdbParams (keywords, values, 1);
        if (PQstatus (db [i].conn) != CONNECTION_OK) {
            snprintf (why, sizeof why, "%s: cannot connect: %s; nothing done (every database is"
                      " checked before any is touched)", db [i].name, s_pq_error (db [i].conn));
            rc = 3;
            break;
        }
        //  One resolve of a gid at a time on each database (held until the
        //  connection closes): two at once, deciding opposite ways, could
        //  both pass the checks below before either wrote its intent
        PGresult *result = s_exec1 (db [i].conn, "SELECT pg_try_advisory_lock (hashtext ($1))",
                                    gid, PGRES_TUPLES_OK);
        if (!result || strcmp (PQgetvalue (result, 0, 0), "t")) {
            snprintf (why, sizeof why, "%s: %s; nothing done", db [i].name, result
                      ? "another dtxctl resolve of this gid is running there": s_pq_error (db [i].conn));
            PQclear (result);
            rc = 1;
            break;
        }
        PQclear (result);
        result = s_exec1 (db [i].conn, "SELECT count (*) FROM pg_prepared_xacts"
                          " WHERE gid = $1 AND database = current_database ()",
                          gid, PGRES_TUPLES_OK);
        if (!result) {
            snprintf (why, sizeof why, "%s: %s; nothing done", db [i].name, s_pq_error (db [i].conn));
            rc = 1;
            break;
        }
        db [i].prepared = atoi (PQgetvalue (result, 0, 0)) > 0;
        PQclear (result);
        //  The audit table must be there before anything is decided
        //  (made if missing: a DBA may have made it and granted only
        //  INSERT, and CREATE SCHEMA IF NOT EXISTS needs CREATE)
        result = s_exec1 (db [i].conn, "SELECT to_regclass ('dtx.resolve_audit') IS NOT NULL",
                          NULL, PGRES_TUPLES_OK);
        bool audit_there = result && streq (PQgetvalue (result, 0, 0), "t");
        PQclear (result);
        result = PQexec (db [i].conn, audit_there? "SELECT 1": s_audit_sql);
        if (PQresultStatus (result) != PGRES_COMMAND_OK && PQresultStatus (result) != PGRES_TUPLES_OK) {
            snprintf (why, sizeof why, "%s: cannot create the audit table dtx.resolve_audit (%s):"
                      " run sql/dtx-audit.sql there as a privileged user; nothing done",
                      db [i].name, s_pq_error (db [i].conn));
            PQclear (result);
            rc = 1;
            break;
        }
        PQclear (result);
        //  How it ended there, if it did: an earlier resolve --db, or a
        //  one-phase commit's marker (sql/dtx-participant.sql)
        //  ('intent': an earlier resolve wrote its decision and may have
        //  died before carrying it out; it binds as much as 'done')
        //  A row that cannot be read is no proof of none: refused
        result = s_exec1 (db [i].conn, "SELECT decision, who, at, result FROM dtx.resolve_audit"
                          " WHERE gid = $1 AND (result LIKE 'done%' OR result LIKE 'intent%')"
                          " ORDER BY at DESC LIMIT 1",
                          gid, PGRES_TUPLES_OK);
        if (!result) {
            snprintf (why, sizeof why, "%s: cannot read dtx.resolve_audit (%s): the role needs SELECT"
                      " and INSERT on it; nothing done", db [i].name, s_pq_error (db [i].conn));
            rc = 1;
            break;
        }
        if (PQntuples (result)) {
            db [i].evidence_commit = streq (PQgetvalue (result, 0, 0), "commit");
            bool intent = strncmp (PQgetvalue (result, 0, 3), "intent", 6) == 0;
            db [i].evidence = zsys_sprintf ("%s by %s at %s (dtx.resolve_audit)",
                                            db [i].evidence_commit? (intent? "decided commit": "committed")
                                                                  : (intent? "decided abort": "rolled back"),
                                            PQgetvalue (result, 0, 1), PQgetvalue (result, 0, 2));
        }
        PQclear (result);
        if (!db [i].evidence) {
            //  No marker table (42P01: no participant installed it) is no
            //  marker; any other failure is no proof of none
            const char *values [1] = { gid };
            result = PQexecParams (db [i].conn, "SELECT committed FROM dtx.one_phase WHERE gid = $1",
                                   1, NULL, values, NULL, NULL, 0);
            const char *sqlstate = PQresultErrorField (result, PG_DIAG_SQLSTATE);
            if (PQresultStatus (result) == PGRES_TUPLES_OK) {
                if (PQntuples (result) && streq (PQgetvalue (result, 0, 0), "t")) {
                    db [i].evidence_commit = true;
                    db [i].evidence = strdup ("committed (its one-phase commit marker, dtx.one_phase)");
                }
            }
            else
            if (!sqlstate || strcmp (sqlstate, "42P01")) {
                snprintf (why, sizeof why, "%s: cannot read dtx.one_phase (%s); nothing done",
                          db [i].name, s_pq_error (db [i].conn));
                rc = 1;
            }
            PQclear (result);
            if (rc)
                break;
        }
    }
    for (int i = 0; i < ndbs && rc == 0; i++)
        if (db [i].evidence && db [i].evidence_commit != commit) {
            snprintf (why, sizeof why, "refused: %s was %s on %s; a transaction must end the same"
                      " way everywhere: %s it on the others instead.  Nothing done", gid,
                      db [i].evidence, db [i].name, db [i].evidence_commit? "commit": "abort");
            rc = 1;
        }
    //  A database that no longer holds it prepared, with no trace of how
    //  it ended there, may have had it committed or rolled back by the
    //  coordinator's phase 2 (which leaves no trace in the database): only
    //  the coordinator's definite word says which.  Without it, refused:
    //  carrying out the decision elsewhere could split the transaction
    int prepared = 0;
    for (int i = 0; i < ndbs && rc == 0; i++)
        if (db [i].prepared)
            prepared++;
        else
        if (!db [i].evidence && !definite) {
            snprintf (why, sizeof why, "refused: %s is not prepared on %s and nothing there says how"
                      " it ended (the coordinator's phase 2 leaves no trace: it may have been %s"
                      " there), and the coordinator gave no definite answer (%s).  Nothing done;"
                      " a transaction must end the same way everywhere.  Leave %s out of --db"
                      " only if it never took part", gid, db [i].name,
                      commit? "rolled back": "committed", coordinator, db [i].name);
            rc = 1;
        }
    if (rc == 0 && prepared == 0) {
        snprintf (why, sizeof why, "%s is not prepared on any database given: nothing to do", gid);
        rc = 1;
    }
    //  The coordinator unreachable, not consulted or without an answer may
    //  still be alive and decide otherwise: only the operator can say it
    //  is gone for good (--force, recorded in the audit rows)
    if (rc == 0 && !definite && !force) {
        snprintf (why, sizeof why, "refused: the coordinator %s; if it is alive it may still decide"
                  " %s otherwise.  If it is gone for good (its log lost), say so with --force"
                  " (recorded in the audit rows).  Nothing done",
                  strncmp (coordinator, "unreachable", 11) == 0 || strncmp (coordinator, "not consulted", 13) == 0
                  ? coordinator: "gave no definite answer", gid);
        rc = 1;
    }
    //  Intent rows first, on every database, before any is touched: a
    //  dtxctl that dies half-way leaves the decision written where it
    //  did not act, and a contradicting resolve later is refused
    const char *intent_result = force && !definite? "intent (forced: the operator says the coordinator"
                                " is gone)": "intent";
    char intents [300] = "";        //  where an intent row was written
    for (int i = 0; i < ndbs && rc == 0; i++) {
        if (!db [i].prepared)
            continue;
        const char *values [4] = { gid, decision, db [i].name, intent_result };
        PGresult *result = PQexecParams (db [i].conn, "INSERT INTO dtx.resolve_audit (gid, decision,"
                                         " participant, result) VALUES ($1, $2, $3, $4)",
                                         4, NULL, values, NULL, NULL, 0);
        if (PQresultStatus (result) != PGRES_COMMAND_OK) {
            snprintf (why, sizeof why, "%s: cannot write the audit row (%s); no database touched%s%s%s",
                      db [i].name, s_pq_error (db [i].conn),
                      *intents? ", but the intent to ": "", *intents? decision: "",
                      *intents? " is recorded on": "");
            if (*intents) {
                size_t used = strlen (why);
                snprintf (why + used, sizeof why - used, "%s (it binds a later resolve of this gid:"
                          " delete those rows by hand to decide otherwise)", intents);
            }
            rc = 1;
        }
        else {
            size_t used = strlen (intents);
            snprintf (intents + used, sizeof intents - used, " %s", db [i].name);
            snprintf (db [i].result, sizeof db [i].result, "intent to %s recorded, nothing done",
                      decision);
        }
        PQclear (result);
    }
    //  From here the decision is written everywhere it will be carried
    //  out: each database is finished whatever another one said (a
    //  failure is reported and a rerun finishes it; stopping at the first
    //  would leave the others half done)
    int acted = 0;
    bool intents_written = rc == 0;
    for (int i = 0; i < ndbs && intents_written; i++) {
        if (!db [i].prepared) {
            snprintf (db [i].result, sizeof db [i].result, "not prepared there%s%s",
                      db [i].evidence? ": ": "", db [i].evidence? db [i].evidence: "");
            continue;
        }
        char *literal = PQescapeLiteral (db [i].conn, gid, strlen (gid));
        char *sql = zsys_sprintf ("%s %s", commit? "COMMIT PREPARED": "ROLLBACK PREPARED", literal);
        PQfreemem (literal);
        PGresult *result = PQexec (db [i].conn, sql);
        zstr_free (&sql);
        bool done = PQresultStatus (result) == PGRES_COMMAND_OK;
        if (done) {
            snprintf (db [i].result, sizeof db [i].result, "%s", force && !definite
                      ? "done (forced: the operator says the coordinator is gone)": "done");
            acted++;
        }
        else {
            snprintf (db [i].result, sizeof db [i].result, "failed: %s", s_pq_error (db [i].conn));
            rc = 1;
        }
        PQclear (result);
        //  Who did it: the server's session_user, client address and
        //  clock (the table's defaults)
        //  (no RETURNING: that needs SELECT, and a DBA may grant INSERT only)
        const char *values [4] = { gid, decision, db [i].name, db [i].result };
        result = PQexecParams (db [i].conn, "INSERT INTO dtx.resolve_audit (gid, decision,"
                               " participant, result) VALUES ($1, $2, $3, $4)",
                               4, NULL, values, NULL, NULL, 0);
        bool audited = PQresultStatus (result) == PGRES_COMMAND_OK;
        char audit_error [512];
        snprintf (audit_error, sizeof audit_error, "%s", audited? "": s_pq_error (db [i].conn));
        PQclear (result);
        result = PQexec (db [i].conn, "SELECT session_user, now ()");
        char by [200] = "?";
        if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result))
            snprintf (by, sizeof by, "%s at %s", PQgetvalue (result, 0, 0), PQgetvalue (result, 0, 1));
        PQclear (result);
        result = NULL;
        if (!audited) {
            size_t used = strlen (db [i].result);
            snprintf (db [i].result + used, sizeof db [i].result - used, "; audit row not written: %s",
                      audit_error);
            rc = 1;
        }
        PQclear (result);
        syslog (LOG_NOTICE, "%s: %s on %s by database user %s (uid %d): %s", gid,
                commit? "COMMIT PREPARED": "ROLLBACK PREPARED", db [i].name, by, (int) getuid (),
                db [i].result);
        if (!s_json)
            fprintf (stderr, "dtxctl: %s: %s on %s by %s: %s\n", gid,
                     commit? "COMMIT PREPARED": "ROLLBACK PREPARED", db [i].name, by, db [i].result);
    }
    dtx_text_add (&doc, ",\"databases\":[");
    for (int i = 0; i < ndbs; i++) {
        if (!db [i].name)
            break;
        dtx_text_add (&doc, "%s{\"database\":", i? ",": "");
        dtx_text_json (&doc, db [i].name);
        dtx_text_add (&doc, ",\"prepared\":%s,\"result\":", db [i].prepared? "true": "false");
        dtx_text_json (&doc, *db [i].result? db [i].result: "nothing done");
        dtx_text_add (&doc, "}");
        if (!s_json)
            printf ("%-12s %s\n", db [i].name, *db [i].result? db [i].result: "nothing done");
        PQfinish (db [i].conn);
        free (db [i].name);
        free (db [i].evidence);
    }
    dtx_text_add (&doc, "]");
    free (db);
    if (*why) {
        dtx_text_add (&doc, ",\"error\":");
        dtx_text_json (&doc, why);
    }
    dtx_text_add (&doc, ",\"acted\":%d}\n", acted);
    if (s_json)
        fputs (doc.data, stdout);
    else {
        if (*why)
            fprintf (stderr, "dtxctl: %s\n", why);
        if (acted || rc == 0)
            printf ("%s: %s on %d database%s (coordinator: %s)\n", gid,
                    commit? "committed": "rolled back", acted, acted == 1? "": "s", coordinator);
        else
            printf ("%s: nothing done (coordinator: %s)\n", gid, coordinator);
    }
    free (doc.data);
    return rc;
}

//  The coordinator's config file (ZPL, section "coordinator"): where its
//  admin endpoint, log directory and client endpoint are
static int
s_read_config (const char *path, char *admin, char *log_dir, char *clients, size_t size)
{
    zchunk_t *text = zchunk_slurp (path, 0);
    zconfig_t *root = text? zconfig_chunk_load (text): NULL;
    zchunk_destroy (&text);
    if (!root) {
        s_error ("--config %s: %s", path, access (path, R_OK)? strerror (errno)
                 : "not valid ZPL (see etc/dtx-coordinator.cfg)");
        return -1;
    }
    snprintf (admin, size, "%s", zconfig_get (root, "coordinator/admin", ""));
    snprintf (log_dir, size, "%s", zconfig_get (root, "coordinator/log-dir", ""));
    snprintf (clients, size, "%s", zconfig_get (root, "coordinator/clients", ""));
    zconfig_destroy (&root);
    return 0;
}

int
main (int argc, char *argv [])
{
    const char *admin = NULL, *log_dir = NULL, *config = NULL;
    const char *coordinator = NULL;
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
        { "config", required_argument, 0, 'f' },
        { 0, 0, 0, 0 }
    };
    int opt;
    long number;
    while ((opt = getopt_long (argc, argv, "+a:l:c:jt:hk:K:f:", options, NULL)) != -1) {
        switch (opt) {
            case 'a': admin = optarg; break;
            case 'l': log_dir = optarg; break;
            case 'c': coordinator = optarg; break;
            case 'f': config = optarg; break;
            case 'j': json = true; break;
            case 't':
                if (dtx_parse_long (optarg, 1, 3600000, &number)) {
                    s_error ("--timeout wants milliseconds (1..3600000), not '%s'", optarg);
                    return 2;
                }
                timeout_ms = (int) number;
                break;
            case 'k': s_cert = optarg; break;
            case 'K': s_coordinator_cert = optarg; break;
            case 'h': s_usage (stdout); return 0;
            default:  return s_usage_error ("unknown option");
        }
    }
    if (optind >= argc)
        return s_usage_error ("no command");
    const char *command = argv [optind];
    if (streq (command, "keygen"))
        return s_keygen (argc - optind, argv + optind);
    //  Flags over the environment (the same variables as libdtx's)
    if (!s_cert && getenv ("DTX_CLIENT_CERT") && *getenv ("DTX_CLIENT_CERT"))
        s_cert = getenv ("DTX_CLIENT_CERT");
    if (!s_coordinator_cert && getenv ("DTX_COORDINATOR_CERT") && *getenv ("DTX_COORDINATOR_CERT"))
        s_coordinator_cert = getenv ("DTX_COORDINATOR_CERT");
    zsys_init ();
    zsys_set_logstream (NULL);
    if (streq (command, "shards")) {
        if (optind + 3 != argc || strcmp (argv [optind + 1], "--store"))
            return s_usage_error ("shards --store CONNINFO");
        return s_shards (argv [optind + 2], json);
    }
    //  Where the coordinator is: flags, then its config file (--config),
    //  then DTX_LOG_DIR
    char config_admin [512] = "", config_log_dir [512] = "", config_clients [512] = "";
    if (config && s_read_config (config, config_admin, config_log_dir, config_clients,
                                 sizeof config_admin))
        return 2;
    //  (the config's admin is the endpoint when it is set: its log-dir's
    //  socket is only the default)
    if (!admin && !log_dir && *config_admin)
        admin = config_admin;
    if (!admin && !log_dir && *config_log_dir)
        log_dir = config_log_dir;
    if (!log_dir && getenv ("DTX_LOG_DIR") && *getenv ("DTX_LOG_DIR"))
        log_dir = getenv ("DTX_LOG_DIR");
    char endpoint [600] = "";
    if (admin)
        snprintf (endpoint, sizeof endpoint, "%s", admin);
    else
    if (log_dir)
        snprintf (endpoint, sizeof endpoint, "ipc://%s/dtx-admin.sock", log_dir);
    if (streq (command, "run")) {
        if (optind + 2 != argc)
            return s_usage_error ("run FILE");
        //  The client endpoint: --coordinator, the config's clients, or
        //  the coordinator's own answer on its admin endpoint
        char clients [600] = "tcp://127.0.0.1:7100";
        if (coordinator)
            snprintf (clients, sizeof clients, "%s", coordinator);
        else
        if (*config_clients)
            snprintf (clients, sizeof clients, "%s", config_clients);
        else
        if (*endpoint) {
            char *text, why [1024];
            int status = 0;
            int rc = s_admin_ask (endpoint, "endpoints", true, timeout_ms, &text, &status, why,
                                  sizeof why);
            const char *found = rc == 0 && status == 0? strstr (text, "\"clients\":\""): NULL;
            if (!found || sscanf (found + 11, "%599[^\"]", clients) != 1) {
                s_error ("cannot learn the coordinator's client endpoint from %s: %s; give"
                         " --coordinator ENDPOINT", endpoint, rc? why: text? text: "no answer");
                free (text);
                return rc? rc: 3;
            }
            free (text);
        }
        s_connectable (clients, sizeof clients);
        return s_run (clients, argv [optind + 1], timeout_ms);
    }
    //  Gids and names are checked here: a malformed one is a usage error
    char why [512];
    if ((streq (command, "show") || streq (command, "resolve")) && optind + 1 < argc
    &&  s_gid_check (argv [optind + 1], why, sizeof why)) {
        s_error ("%s", why);
        return 2;
    }
    if ((streq (command, "forget") || streq (command, "rebind")) && optind + 1 < argc
    &&  dtx_name_validate ("participant", argv [optind + 1], why, sizeof why)) {
        s_error ("%s", why);
        return 2;
    }
    char *dbs [32];
    int ndbs = 0;
    if (streq (command, "resolve")) {
        if (optind + 3 > argc
        || (strcmp (argv [optind + 2], "commit") && strcmp (argv [optind + 2], "abort"))) {
            s_error ("usage: resolve GID commit|abort [--db NAME=CONNINFO ...]");
            return 2;
        }
        bool force = false;
        for (int i = optind + 3; i < argc; i++) {
            if (streq (argv [i], "--db") && i + 1 < argc && ndbs < 32)
                dbs [ndbs++] = argv [++i];
            else
            if (streq (argv [i], "--force"))
                force = true;
            else {
                s_error ("resolve: unexpected '%s' (--db NAME=CONNINFO, at most 32; --force)", argv [i]);
                return 2;
            }
        }
        if (force && !ndbs) {
            s_error ("resolve: --force goes with --db (a decision carried out on the databases)");
            return 2;
        }
        if (ndbs)
            return s_resolve_db (*endpoint? endpoint: NULL, argv [optind + 1],
                                 streq (argv [optind + 2], "commit"), dbs, ndbs, force, timeout_ms);
    }
    if (!*endpoint) {
        s_error ("say where the coordinator is: --admin ENDPOINT, --log-dir DIR or --config FILE");
        return 2;
    }
    //  The command line goes as one string; resolve adds who runs dtxctl
    //  (a claim: the coordinator records who is on the connection)
    char line [1024] = "";
    for (int i = optind; i < argc; i++) {
        strncat (line, argv [i], sizeof line - strlen (line) - 2);
        strncat (line, " ", sizeof line - strlen (line) - 1);
    }
    //  in-doubt --db NAME=CONNINFO ...: the coordinator's view, then the
    //  databases'
    if (streq (command, "in-doubt")) {
        for (int i = optind + 1; i < argc; i++) {
            if (streq (argv [i], "--db") && i + 1 < argc && ndbs < 32)
                dbs [ndbs++] = argv [++i];
            else
                return s_usage_error ("in-doubt [--db NAME=CONNINFO ...] (at most 32)");
        }
        snprintf (line, sizeof line, "in-doubt");
    }
    if (streq (command, "resolve")) {
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
