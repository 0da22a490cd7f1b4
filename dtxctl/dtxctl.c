/*  dtxctl - the operator's tool (docs/operations.md)

    dtxctl [--admin ENDPOINT | --log-dir DIR] [--json] STATUS-COMMAND
    dtxctl [--coordinator ENDPOINT] run FILE

    Exit codes: 0 ok; 1 refused or failed (for run: the transaction
    aborted); 2 usage; 3 coordinator unreachable; 4 run: outcome unknown.
*/
#include "dtx.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include <getopt.h>
#include <pwd.h>
#include <ctype.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
"usage: dtxctl [--admin ENDPOINT | --log-dir DIR] [--json] [--timeout MS] COMMAND\n"
"  status                    uptime, transactions live and in doubt, log, participants\n"
"  participants              registered participants and when they were last heard\n"
"  txns                      live transactions with their branches\n"
"  in-doubt                  decided transactions still waiting for a participant\n"
"  show GID                  one transaction (live or remembered)\n"
"  resolve GID commit|abort  an operator's decision; refused if it contradicts the log\n"
"dtxctl [--coordinator ENDPOINT] run FILE\n"
"  run a SQL script as one global transaction; '\\c NAME' switches database,\n"
"  statements end with ';' at the end of a line\n"
"The admin endpoint defaults to ipc://LOG_DIR/dtx-admin.sock (owner-only).\n"
"Exit: 0 ok, 1 refused/failed/aborted, 2 usage, 3 unreachable, 4 outcome unknown.\n");
}

static int
s_admin (const char *endpoint, const char *line, bool json, int timeout_ms)
{
    char *connect = zsys_sprintf (">%s", endpoint);
    zsock_t *sock = dtx_sock_new (ZMQ_DEALER, connect);
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
        fprintf (stderr, "dtxctl: no answer from the coordinator at %s within %d ms\n",
                 endpoint, timeout_ms);
        return 3;
    }
    const char *text = dtx_proto_text (reply);
    int status = dtx_proto_status (reply);
    fputs (text, status? stderr: stdout);
    if (json && !status)
        fputs ("\n", stdout);
    dtx_proto_destroy (&reply);
    return status? 1: 0;
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
    dtx_client_t *client = dtx_client_new (endpoint, timeout_ms);
    dtx_txn_t *txn = client? dtx_begin (client, 0): NULL;
    if (!txn) {
        fprintf (stderr, "dtxctl: cannot begin: %s\n", client? dtx_client_error (client): "bad endpoint");
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
        if (statement_used == 0 && strncmp (p, "\\c", 2) == 0) {
            char name [256] = "";
            if (sscanf (p + 2, " %255s", name) != 1) {
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
            else
                printf ("%s: %s\n", database, dtx_result_command (result));
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

int
main (int argc, char *argv [])
{
    const char *admin = NULL, *log_dir = getenv ("DTX_LOG_DIR");
    const char *coordinator = "tcp://127.0.0.1:7100";
    bool json = false;
    int timeout_ms = 5000;
    static struct option options [] = {
        { "admin", required_argument, 0, 'a' }, { "log-dir", required_argument, 0, 'l' },
        { "coordinator", required_argument, 0, 'c' }, { "json", no_argument, 0, 'j' },
        { "timeout", required_argument, 0, 't' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "+a:l:c:jt:h", options, NULL)) != -1) {
        switch (opt) {
            case 'a': admin = optarg; break;
            case 'l': log_dir = optarg; break;
            case 'c': coordinator = optarg; break;
            case 'j': json = true; break;
            case 't': timeout_ms = atoi (optarg); break;
            case 'h': s_usage (stdout); return 0;
            default:  s_usage (stderr); return 2;
        }
    }
    if (optind >= argc) {
        s_usage (stderr);
        return 2;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
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
    if (streq (argv [optind], "resolve")) {
        struct passwd *pw = getpwuid (getuid ());
        strncat (line, pw? pw->pw_name: "unknown", sizeof line - strlen (line) - 1);
    }
    return s_admin (endpoint, line, json, timeout_ms);
}
