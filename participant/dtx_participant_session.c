/*  =========================================================================
    dtx_participant_session - the session pipeline engine

    A session binds one PostgreSQL connection to one global transaction
    (gid) for as long as the transaction is live, and runs the operations
    the coordinator asks for, in order, one at a time.  Each op is one
    pipeline ending in one sync: one round trip (docs/architecture.md).
    s_op_start sends an op's queries, part_session_io collects their results,
    s_session_op_done picks the result that answers the op, s_op_complete
    answers.  Ops of in-doubt resolution (scan, xid lookup, outcome probe,
    marker GC) run in sessions of their own, keyed "", "?gid", "#gid" and
    "%gc"; their queries and answers are in dtx_participant_resolve.c.

    A branch is doomed by its first failure (a deferred statement's, a
    refused statement's): from then on its ops fail with that failure,
    unrun, and the op that ends it rolls the block back.

    A pooled connection carries nothing from one global transaction to
    the next.  Whatever a client left on its PostgreSQL session (SET
    without LOCAL, set_config (..., false), SET ROLE, PREPARE name AS, a
    temp table, LISTEN, a WITH HOLD cursor, a session advisory lock) is
    dropped by DISCARD ALL before the connection goes back to the pool:
    the op that ends the branch carries it as a second pipeline segment
    (DISCARD ALL refuses to run inside a transaction block, so it needs
    a sync of its own), sent with the op: no round trip of its own.  If
    the reset fails (the block is still open: the ROLLBACK that follows
    carries one again), or the connection leaves the session without one,
    the connection is closed, not pooled (see "Session reset" below).
    =========================================================================
*/
#include "dtx_participant_classes.h"

//  --------------------------------------------------------------------------
//  Sessions and their op queues

void
part_op_destroy (void **item_p)
{
    op_t *op = (op_t *) *item_p;
    if (op) {
        dtx_proto_destroy (&op->request);
        free (op);
        *item_p = NULL;
    }
}

session_t *
part_session_new (dtx_participant_t *self, const char *gid)
{
    session_t *session = (session_t *) calloc (1, sizeof (session_t));
    assert (session);
    snprintf (session->gid, sizeof session->gid, "%s", gid);
    session->ops = zlistx_new ();
    zlistx_set_destructor (session->ops, part_op_destroy);
    session->last_active = dtx_clock_ms ();
    zhashx_insert (self->sessions, gid, session);
    return session;
}

//  Forget a session; its connection goes back to the pool
void
part_session_end (dtx_participant_t *self, session_t *session)
{
    if (session->waiting) {
        void *handle = zlistx_find (self->waiting, session);
        if (handle)
            zlistx_delete (self->waiting, handle);
    }
    if (session->conn) {
        if (session->dirty && PQstatus (session->conn) == CONNECTION_OK)
            zsys_warning ("%s: %s: connection not reset after client statements; closed, not"
                          " pooled", self->name, session->gid);
        part_pool_release (self, session->conn, session->dirty);
        session->conn = NULL;
    }
    for (int i = 0; i < SESSION_QUERIES_MAX; i++)
        PQclear (session->results [i]);
    PQclear (session->reset_result);
    free (session->begin_error);
    free (session->failure);
    zlistx_destroy (&session->ops);
    zhashx_delete (self->sessions, session->gid);
    free (session);
}

op_t *
part_session_enqueue (session_t *session, op_kind_t kind, dtx_proto_t **request_p, int link)
{
    op_t *op = (op_t *) calloc (1, sizeof (op_t));
    assert (op);
    op->kind = kind;
    op->link = -1;
    if (request_p && *request_p) {
        op->request = *request_p;
        op->link = link;
        *request_p = NULL;
    }
    zlistx_add_end (session->ops, op);
    return op;
}

//  An internal op (nobody waits for its answer) ahead of everything queued
static void
s_enqueue_first (session_t *session, op_kind_t kind)
{
    op_t *op = (op_t *) calloc (1, sizeof (op_t));
    assert (op);
    op->kind = kind;
    op->link = -1;
    zlistx_add_start (session->ops, op);
}

//  --------------------------------------------------------------------------
//  Results

//  Error text from a PGresult or a connection
void
part_describe (PGresult *result, PGconn *conn, const char **sqlstate, char *text, size_t size)
{
    const char *state = result? PQresultErrorField (result, PG_DIAG_SQLSTATE): NULL;
    const char *primary = result? PQresultErrorField (result, PG_DIAG_MESSAGE_PRIMARY): NULL;
    const char *detail = result? PQresultErrorField (result, PG_DIAG_MESSAGE_DETAIL): NULL;
    //  The hint often says what to do about it (e.g. "Increase
    //  max_prepared_transactions"): it goes to the application too
    const char *hint = result? PQresultErrorField (result, PG_DIAG_MESSAGE_HINT): NULL;
    if (primary)
        snprintf (text, size, "%s%s%s%s%s", primary, detail? " DETAIL: ": "", detail? detail: "",
                  hint? " HINT: ": "", hint? hint: "");
    else {
        snprintf (text, size, "%s", conn? PQerrorMessage (conn): "connection lost");
        size_t len = strlen (text);
        if (len && text [len - 1] == '\n')
            text [len - 1] = 0;
        if (!*text)
            snprintf (text, size, "connection to the database lost");
    }
    //  No SQLSTATE from the server means the connection broke (class 08)
    *sqlstate = state? state: "08006";
}

static void
s_reply_result (dtx_participant_t *self, op_t *op, const char *gid, PGresult *result)
{
    dtx_proto_t *reply = part_reply_new (DTX_PROTO_RESULT, op, gid);
    dtx_proto_set_text (reply, PQcmdStatus (result));
    const char *tuples = PQcmdTuples (result);
    dtx_proto_set_affected (reply, *tuples? strtoull (tuples, NULL, 10): (uint64_t) PQntuples (result));
    int ntuples = PQntuples (result);
    int nfields = PQnfields (result);
    if (nfields > 0) {
        const char *names [nfields];
        for (int c = 0; c < nfields; c++)
            names [c] = PQfname (result, c);
        dtx_proto_set_columns (reply, nfields, names);
        size_t count = (size_t) ntuples * nfields;
        char **values = count? (char **) calloc (count, sizeof (char *)): NULL;
        for (int r = 0; r < ntuples; r++)
            for (int c = 0; c < nfields; c++)
                if (!PQgetisnull (result, r, c))
                    values [(size_t) r * nfields + c] = strdup (PQgetvalue (result, r, c));
        dtx_proto_take_values (reply, count, values);
        dtx_proto_set_ntuples (reply, ntuples);
    }
    part_send (self, op->link, &reply);
}

//  --------------------------------------------------------------------------
//  Transaction control inside a global transaction
//
//  The session is inside the global transaction's block from its first
//  statement to PREPARE / COMMIT, which only the coordinator sends.  A
//  client statement that ended the block (COMMIT, ROLLBACK, ...) would
//  commit or drop the branch behind the coordinator's back, and later
//  statements would run in autocommit; one that began a block or prepared
//  the transaction would break the protocol the same way.  Such
//  statements are refused unrun, by their first keyword: a statement sent
//  with PQsendQueryParams is one statement (the extended protocol refuses
//  several), so the first keyword says what it is.  (The backstop behind
//  this is in s_session_op_done.)


//  Skip white space and comments (PostgreSQL's block comments nest)
static const char *
s_skip_blank (const char *sql)
{
    while (*sql) {
        if (isspace ((unsigned char) *sql))
            sql++;
        else
        if (sql [0] == '-' && sql [1] == '-') {
            while (*sql && *sql != '\n')
                sql++;
        }
        else
        if (sql [0] == '/' && sql [1] == '*') {
            int depth = 1;
            sql += 2;
            while (*sql && depth) {
                if (sql [0] == '/' && sql [1] == '*')
                    depth++, sql += 2;
                else
                if (sql [0] == '*' && sql [1] == '/')
                    depth--, sql += 2;
                else
                    sql++;
            }
        }
        else
            break;
    }
    return sql;
}

//  The next word, upper-cased into word ("" if none or too long to be a
//  keyword); returns what follows it
static const char *
s_keyword (const char *sql, char *word, size_t size)
{
    sql = s_skip_blank (sql);
    size_t len = 0;
    bool too_long = false;
    while (isalnum ((unsigned char) *sql) || *sql == '_' || *sql == '$') {
        if (len + 1 < size)
            word [len++] = (char) toupper ((unsigned char) *sql);
        else
            too_long = true;
        sql++;
    }
    word [too_long? 0: len] = 0;
    return sql;
}

const char *
dtx_participant_txn_control (const char *sql, const char **sqlstate)
{
    char first [16], second [16];
    const char *rest = s_keyword (sql, first, sizeof first);
    rest = s_keyword (rest, second, sizeof second);
    *sqlstate = "2D000";        //  invalid transaction termination
    if (streq (first, "BEGIN") || streq (first, "START")) {
        *sqlstate = "25001";    //  active SQL transaction
        return streq (first, "BEGIN")? "BEGIN": "START TRANSACTION";
    }
    if (streq (first, "COMMIT"))
        return streq (second, "PREPARED")? "COMMIT PREPARED": "COMMIT";
    if (streq (first, "END"))
        return "END";
    if (streq (first, "ABORT"))
        return "ABORT";
    if (streq (first, "ROLLBACK")) {
        //  ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name stays inside
        if (streq (second, "WORK") || streq (second, "TRANSACTION"))
            s_keyword (rest, second, sizeof second);
        if (streq (second, "TO"))
            return NULL;
        return streq (second, "PREPARED")? "ROLLBACK PREPARED": "ROLLBACK";
    }
    if (streq (first, "PREPARE") && streq (second, "TRANSACTION"))
        return "PREPARE TRANSACTION";
    return NULL;
}

//  --------------------------------------------------------------------------
//  Running operations

//  Connections run in pipeline mode: an op sends its queries, then one
//  sync, and costs one round trip (docs/architecture.md)
int
part_session_send (session_t *session, const char *sql, int nparams, const char *const *params)
{
    session->nqueries++;
    return PQsendQueryParams (session->conn, sql, nparams, NULL, params, NULL, NULL, 0)? 0: -1;
}

static int
s_send_sql (session_t *session, const char *sql)
{
    return part_session_send (session, sql, 0, NULL);
}

static int
s_send_sql_gid (session_t *session, const char *command)
{
    //  gids are validated to [A-Za-z0-9_.:-], but quote anyway
    char *literal = PQescapeLiteral (session->conn, session->gid, strlen (session->gid));
    if (!literal)
        return -1;
    char sql [DTX_GID_MAX * 2 + 64];
    snprintf (sql, sizeof sql, "%s %s", command, literal);
    PQfreemem (literal);
    return s_send_sql (session, sql);
}

//  An op that cannot run (its transaction is gone): answer at once
void
part_op_fail (dtx_participant_t *self, session_t *session, op_t *op,
              const char *sqlstate, const char *text)
{
    switch (op->kind) {
        case OP_RECOVER_SCAN:
        case OP_XACT_STATUS:
        case OP_PROBE:
        case OP_MARKER_GC:
            part_resolve_fail (self, session, op, sqlstate, text);
            break;
        case OP_EXECUTE:
            if (!op->ran)
                self->metrics.statements [PART_STATEMENT_REFUSED]++;
            op->ran = true;
            if (op->then == OP_PREPARE)
                part_reply_error (self, op, session->gid, DTX_PROTO_VOTE, DTX_VOTE_NO, sqlstate, text);
            else
            if (op->then == OP_COMMIT)
                part_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_FAILED, sqlstate, text);
            else
            if (!op->defer)
                part_reply_error (self, op, session->gid, DTX_PROTO_ERROR, DTX_ERR_SQL, sqlstate, text);
            break;
        case OP_PREPARE:
            part_reply_error (self, op, session->gid, DTX_PROTO_VOTE, DTX_VOTE_NO, sqlstate, text);
            break;
        case OP_COMMIT:
        case OP_ROLLBACK:
        case OP_COMMIT_PREPARED:
            part_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_FAILED, sqlstate, text);
            break;
    }
}

//  Does this OP_EXECUTE send the write check after its statement?
static bool
s_op_checks (op_t *op)
{
    //  (a one-phase COMMIT gets the xid from its marker insert)
    return !op->defer && op->then == OP_EXECUTE;
}

//  The one-phase commit: the marker, then COMMIT, in the pipeline of the
//  op that sends it (no round trip of its own)
static int
s_send_one_phase_commit (session_t *session)
{
    if (part_marker_send (session))
        return -1;
    return s_send_sql (session, "COMMIT");
}

//  Start the head op.  Returns 0 if it was sent to PostgreSQL, 1 if it
//  completed without a query, -1 if sending failed.
static int
s_op_start (dtx_participant_t *self, session_t *session, op_t *op)
{
    switch (op->kind) {
        case OP_EXECUTE: {
            //  One round trip: [BEGIN,] the statement, and whether the
            //  transaction has written yet (it has once it has an xid)
            session->dirty = true;      //  reset before it is pooled again
            if (op->begin) {
                session->in_txn = true;
                session->begun = true;
                if (s_send_sql (session, "BEGIN"))
                    return -1;
            }
            char **params;
            size_t nparams = dtx_proto_params (op->request, &params);
            session->nqueries++;
            if (!PQsendQueryParams (session->conn, dtx_proto_text (op->request), (int) nparams,
                                    NULL, (const char *const *) params, NULL, NULL, 0))
                return -1;
            //  The write check, where its answer is used: by a later bare
            //  PREPARE (read-only shortcut) and by a one-phase COMMIT (the
            //  xid, should its answer be lost).  Not for a deferred
            //  statement (a later statement checks the same transaction)
            //  nor before a PREPARE sent in the same pipeline.
            if (s_op_checks (op)
            &&  s_send_sql (session, "SELECT pg_current_xact_id_if_assigned ()::text"))
                return -1;
            if (op->then == OP_EXECUTE)
                return 0;
            //  The branch's last statement: end it in the same pipeline,
            //  one round trip.  If the statement fails, PostgreSQL skips
            //  PREPARE / COMMIT and the transaction block stays open,
            //  failed: s_session_op_done rolls it back.  No read-only
            //  shortcut here: PREPARE is sent before we could know.
            if (op->then == OP_COMMIT)
                return s_send_one_phase_commit (session);
            dtx_fault ("part-before-prepare");
            return s_send_sql_gid (session, "PREPARE TRANSACTION");
        }
        case OP_PREPARE:
            //  A transaction that never got an xid wrote nothing: commit
            //  it and vote READONLY, no PREPARE, no phase 2
            op->readonly = !session->wrote;
            if (op->readonly)
                return s_send_sql (session, "COMMIT");
            dtx_fault ("part-before-prepare");
            return s_send_sql_gid (session, "PREPARE TRANSACTION");
        case OP_COMMIT:
            return s_send_one_phase_commit (session);
        case OP_ROLLBACK:
            if (session->in_txn && !session->begun && !session->prepared) {
                //  Refused before its BEGIN went out, or its connection
                //  was reset: PostgreSQL has nothing of it
                session->in_txn = false;
                return 1;
            }
            if (session->in_txn)
                return s_send_sql (session, "ROLLBACK");
            if (session->prepared || op->resolving
            || (op->request && (dtx_proto_flags (op->request) & DTX_ROLLBACK_PREPARED)))
                return s_send_sql_gid (session, "ROLLBACK PREPARED");
            return 1;       //  nothing was ever started here
        case OP_COMMIT_PREPARED:
            return s_send_sql_gid (session, "COMMIT PREPARED");
        case OP_RECOVER_SCAN:
        case OP_XACT_STATUS:
        case OP_PROBE:
        case OP_MARKER_GC:
            return part_resolve_start (self, session, op);
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  Session reset
//
//  A client statement can change its PostgreSQL session beyond its
//  transaction: SET (without LOCAL) and set_config (..., false) once the
//  transaction commits or prepares, SET ROLE / SESSION AUTHORIZATION,
//  PREPARE name AS, DECLARE ... WITH HOLD, CREATE TEMP TABLE, LISTEN,
//  pg_advisory_lock (these last even when it rolls back).  On a pooled
//  connection that would reach the next global transaction, another
//  client's: a read-only default, a search_path, a statement_timeout or a
//  role it never asked for.  Refusing such statements by keyword cannot
//  work (set_config is a function call, and so can anything be), so the
//  session is reset instead, with DISCARD ALL: it covers every kind of
//  session state PostgreSQL has (and will have: it is the server's own
//  list), and is what PgBouncer runs by default for the same reason.
//
//  When: as the connection leaves the branch, not lazily before its next
//  use, because an idle pooled connection would otherwise hold what it
//  was left with (an advisory lock, LISTEN, temp tables) until it is used
//  again, which with most-recently-used order can be never.  How: the
//  op that ends the branch (PREPARE, COMMIT, ROLLBACK, or a deferred
//  statement with either) sends "Sync, DISCARD ALL, Sync" after its own
//  queries, in the same write: no round trip of its own, and PostgreSQL
//  answers the op's part (flushed at its sync) before it runs the reset.
//  The op is answered from its part at once; the connection stays with
//  the session until the reset's answer is in too.  Only connections that ran
//  client SQL are reset: phase 2 and the resolution queries run none.

//  Does this op end the branch's block on its connection (if it works)?
static bool
s_op_ends_branch (op_t *op)
{
    return op->kind == OP_PREPARE || op->kind == OP_COMMIT || op->kind == OP_ROLLBACK
        || op->kind == OP_COMMIT_PREPARED
        || (op->kind == OP_EXECUTE && op->then != OP_EXECUTE);
}

//  The reset segment, after the op's sync: 0 or -1
static int
s_send_reset (session_t *session)
{
    if (!PQsendQueryParams (session->conn, "DISCARD ALL", 0, NULL, NULL, NULL, NULL, 0)
    ||  !PQpipelineSync (session->conn))
        return -1;
    session->reset_sent = true;
    return 0;
}

//  The reset segment's sync arrived: the connection is clean if DISCARD
//  ALL worked.  If it did not because the block is still open (a
//  statement failed ahead of PREPARE / COMMIT: 25P02), the ROLLBACK that
//  follows resets again; anything else leaves it dirty, and it is closed
//  rather than pooled.
static void
s_reset_done (dtx_participant_t *self, session_t *session)
{
    session->resetting = false;
    PGresult *result = session->reset_result;
    session->reset_result = NULL;
    if (result && PQresultStatus (result) == PGRES_COMMAND_OK)
        session->dirty = false;
    else
    if (PQtransactionStatus (session->conn) == PQTRANS_IDLE) {
        const char *sqlstate;
        char text [512];
        part_describe (result, session->conn, &sqlstate, text, sizeof text);
        zsys_warning ("%s: %s: cannot reset the session (DISCARD ALL): %s %s", self->name,
                      session->gid, sqlstate, text);
    }
    PQclear (result);
}

//  The head op's query finished with `result` (NULL if the connection
//  broke).  Reply, and update the session.
static void
s_op_complete (dtx_participant_t *self, session_t *session, op_t *op, PGresult *result)
{
    ExecStatusType status = result? PQresultStatus (result): PGRES_FATAL_ERROR;
    bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    const char *sqlstate = "";
    char text [1024] = "";
    if (!ok)
        part_describe (result, session->conn, &sqlstate, text, sizeof text);
    const char *tag = result? PQcmdStatus (result): "";
    if (op->kind == OP_EXECUTE && !result)
        part_metrics_statement (self, op, false);   //  its connection broke
    if (op->kind == OP_EXECUTE && op->then != OP_EXECUTE)
        op->kind = op->then;        //  connection broke: answer as the end command

    switch (op->kind) {
        case OP_EXECUTE:
            if (op->defer) {
                //  Nobody waits for it: keep the first failure for the op
                //  that ends the branch
                if (!ok && !session->failure) {
                    session->failure = strdup (text);
                    snprintf (session->failure_sqlstate, sizeof session->failure_sqlstate, "%s", sqlstate);
                }
            }
            else
            if (ok)
                s_reply_result (self, op, session->gid, result);
            else
                part_reply_error (self, op, session->gid, DTX_PROTO_ERROR, DTX_ERR_SQL, sqlstate, text);
            return;
        case OP_PREPARE:
            session->in_txn = false;
            //  PREPARE TRANSACTION in a failed transaction reports ROLLBACK
            //  without an error: check the tag, not just the status
            if (ok && !op->readonly && streq (tag, "PREPARE TRANSACTION")) {
                session->prepared = true;
                part_metrics_prepared (self, session->gid, true);
                dtx_fault ("part-after-prepare-before-vote");
                part_reply_error (self, op, session->gid, DTX_PROTO_VOTE, DTX_VOTE_YES, "", "");
                dtx_fault ("part-after-vote");
            }
            else
            if (ok && op->readonly && streq (tag, "COMMIT"))
                part_reply_error (self, op, session->gid, DTX_PROTO_VOTE, DTX_VOTE_READONLY, "", "");
            else
                part_reply_error (self, op, session->gid, DTX_PROTO_VOTE, DTX_VOTE_NO,
                                  ok? "40000": sqlstate, ok? "transaction was rolled back": text);
            return;
        case OP_COMMIT:
            session->in_txn = false;
            if (!ok && *session->xid && op->request
            &&  (!result || strncmp (sqlstate, "08", 2) == 0)) {
                //  The answer to COMMIT was lost with the connection: read
                //  the gid's marker behind a fence, then answer
                zsys_warning ("%s: %s: connection lost during COMMIT (xid %s); reading its marker",
                              self->name, session->gid, session->xid);
                snprintf (op->xid, sizeof op->xid, "%s", session->xid);
                part_status_later (self, op);
                return;
            }
            if (ok && streq (tag, "COMMIT"))
                part_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_OK, "", "");
            else
            if (op->fenced) {
                //  The coordinator probed this gid first (it restarted and
                //  lost track of it) and was told "aborted": so it is
                char fenced [1280];
                snprintf (fenced, sizeof fenced, "transaction was fenced by an outcome probe and"
                          " rolled back (the coordinator asked for its outcome before it"
                          " committed): %s", text);
                zsys_warning ("%s: %s: %s", self->name, session->gid, fenced);
                part_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_FAILED, sqlstate, fenced);
            }
            else
                part_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_FAILED,
                                  ok? "40000": sqlstate, ok? "transaction was rolled back": text);
            return;
        case OP_ROLLBACK:
        case OP_COMMIT_PREPARED:
            if (op->kind == OP_COMMIT_PREPARED && ok)
                dtx_fault ("part-after-commit-prepared-before-ack");
            if (op->kind == OP_ROLLBACK && session->in_txn) {
                session->in_txn = false;
                if (!ok && PQstatus (session->conn) != CONNECTION_OK)
                    ok = true;      //  connection gone: PostgreSQL rolled it back
            }
            part_in_doubt_settle (self, session->gid, op, ok || streq (sqlstate, "42704"), text);
            if (ok) {
                session->prepared = false;
                part_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_OK, "", "");
            }
            else
            if (streq (sqlstate, "42704"))
                //  "prepared transaction does not exist".  For ROLLBACK it
                //  is done either way (presumed abort).  For COMMIT
                //  PREPARED the coordinator judges: it knows whether an
                //  earlier attempt may have done it.
                part_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_NOT_FOUND, sqlstate, text);
            else
                part_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_FAILED, sqlstate, text);
            return;
        case OP_RECOVER_SCAN:
        case OP_XACT_STATUS:
        case OP_PROBE:
        case OP_MARKER_GC:
            part_resolve_complete (self, session, op, result, ok, sqlstate, text);
            return;
    }
}

//  The branch is over for us.  If its connection still has the block open
//  (a statement failed ahead of its PREPARE / COMMIT in one pipeline, or
//  the branch was doomed before its end), roll that back before anything
//  else runs there; ROLLBACK, not ROLLBACK PREPARED (which would fail,
//  25P02): as far as the next ops go, it is in a transaction after all
static void
s_session_abandon (session_t *session)
{
    session->in_txn = false;
    if (session->conn
    && (PQtransactionStatus (session->conn) == PQTRANS_INERROR
     || PQtransactionStatus (session->conn) == PQTRANS_INTRANS)) {
        session->in_txn = true;
        s_enqueue_first (session, OP_ROLLBACK);     //  (moves the list's cursor)
    }
}

//  A client statement that would begin, end or prepare a transaction dooms
//  the branch, unrun (see "Transaction control" above)
static void
s_refuse_txn_control (dtx_participant_t *self, session_t *session, op_t *op)
{
    const char *sqlstate;
    const char *command = dtx_participant_txn_control (dtx_proto_text (op->request), &sqlstate);
    if (!command || dtx_fault_hit ("part-allow-txn-control"))
        return;
    if (session->failure)
        return;         //  doomed already: the first failure is the reason
    char text [512];
    if (streq (sqlstate, "25001"))
        snprintf (text, sizeof text, "%s inside a global transaction: the transaction is"
                  " open already (dtx_begin) and only dtx ends it (dtx_commit, dtx_rollback);"
                  " the statement was not run and the transaction aborts", command);
    else
        snprintf (text, sizeof text, "invalid transaction termination: %s inside a global"
                  " transaction; only dtx prepares and ends it (dtx_commit, dtx_rollback);"
                  " the statement was not run and the transaction aborts", command);
    session->failure = strdup (text);
    snprintf (session->failure_sqlstate, sizeof session->failure_sqlstate, "%s", sqlstate);
}

//  Run the session's queue as far as it goes without waiting
void
part_session_advance (dtx_participant_t *self, session_t *session)
{
    while (!session->running) {
        op_t *op = (op_t *) zlistx_first (session->ops);
        if (!op) {
            //  Nothing queued: a live transaction keeps its connection,
            //  anything else is over
            if (!session->in_txn || session->lost)
                part_session_end (self, session);
            return;
        }
        //  Ops that need the live transaction cannot run once it is gone
        bool needs_txn = op->kind == OP_EXECUTE || op->kind == OP_PREPARE || op->kind == OP_COMMIT;
        if (needs_txn && (session->lost || session->begin_error)) {
            part_op_fail (self, session, op, session->lost? "08006": "25P01",
                          session->lost? "connection to the database was lost; the transaction is gone"
                                    : session->begin_error);
            zlistx_delete (session->ops, zlistx_cursor (session->ops));
            continue;
        }
        if (op->kind == OP_EXECUTE)
            s_refuse_txn_control (self, session, op);
        char closed [256];
        if (needs_txn && !session->failure
        &&  part_epoch_closed (self, session->gid, closed, sizeof closed)) {
            //  Queued before we learned that its shard moved on: it must
            //  not run (a PREPARE now would vote into the void); the branch
            //  is doomed, and rolled back (docs/ha.md, Participants)
            session->failure = strdup (closed);
            snprintf (session->failure_sqlstate, sizeof session->failure_sqlstate, "40000");
        }
        if (needs_txn && session->failure) {
            //  A doomed branch: nothing more of it runs; what ends it
            //  answers with the first failure, and the block is rolled back
            bool ends = op->kind != OP_EXECUTE || op->then != OP_EXECUTE;
            part_op_fail (self, session, op, session->failure_sqlstate, session->failure);
            zlistx_delete (session->ops, zlistx_cursor (session->ops));
            if (ends)
                s_session_abandon (session);
            continue;
        }
        if (op->kind == OP_ROLLBACK && session->lost && !session->prepared
        &&  !(op->request && (dtx_proto_flags (op->request) & DTX_ROLLBACK_PREPARED))) {
            part_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_OK, "", "");
            zlistx_delete (session->ops, zlistx_cursor (session->ops));
            continue;
        }
        if (!part_pool_acquire (self, session)) {
            if (self->connections == 0) {
                //  Database unreachable: fail now, the coordinator retries
                char text [600];
                snprintf (text, sizeof text, "database unreachable: %s", self->connect_error);
                self->metrics.pool_refused++;
                part_op_fail (self, session, op, "08001", text);
                zlistx_delete (session->ops, zlistx_cursor (session->ops));
                continue;
            }
            return;     //  waits for a connection
        }
        session->nqueries = 0;
        session->query = 0;
        session->reset_sent = false;
        session->resetting = false;
        session->sent_at = zclock_usecs ();
        int rc = s_op_start (self, session, op);
        if (rc == 0 && !PQpipelineSync (session->conn))
            rc = -1;
        if (rc == 0 && session->dirty && s_op_ends_branch (op) && s_send_reset (session))
            rc = -1;
        if (rc == 1) {
            part_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_OK, "", "");
            zlistx_delete (session->ops, zlistx_cursor (session->ops));
            continue;
        }
        if (rc == -1) {
            //  A half-sent pipeline leaves the connection unusable: drop
            //  it (a live transaction on it is gone with it)
            s_op_complete (self, session, op, NULL);
            zlistx_delete (session->ops, zlistx_cursor (session->ops));
            if (PQstatus (session->conn) != CONNECTION_OK)
                self->db_down = true;
            PQfinish (session->conn);
            self->connections--;
            session->conn = NULL;
            session->lost = true;
            session->in_txn = false;
            continue;
        }
        session->running = true;
        session->want_write = PQflush (session->conn) == 1;
        session->last_active = dtx_clock_ms ();
        if ((op->kind == OP_COMMIT || op->then == OP_COMMIT)
        &&  dtx_fault_hit ("part-lose-commit-answer")) {
            //  Test fault: PostgreSQL gets the COMMIT, we lose its answer
            while (PQflush (session->conn) == 1)
                zclock_sleep (1);
            zclock_sleep (200);
            char junk [8192];
            while (recv (PQsocket (session->conn), junk, sizeof junk, MSG_DONTWAIT) > 0)
                ;           //  PostgreSQL's answer, thrown away
            shutdown (PQsocket (session->conn), SHUT_RDWR);
        }
    }
}

//  A one-phase COMMIT's results from index `at`: the marker insert, then
//  COMMIT.  Returns the result that answers it (the marker's if it failed)
static PGresult *
s_one_phase_result (session_t *session, op_t *op, int at)
{
    PGresult *marker = session->results [at];
    if (marker && PQresultStatus (marker) == PGRES_TUPLES_OK && PQntuples (marker) == 1) {
        //  The xid, should the COMMIT's answer be lost
        session->wrote = true;
        snprintf (session->xid, sizeof session->xid, "%s", PQgetvalue (marker, 0, 0));
        return session->results [at + 1];
    }
    const char *sqlstate = marker? PQresultErrorField (marker, PG_DIAG_SQLSTATE): NULL;
    op->fenced = sqlstate && streq (sqlstate, "23505");
    return marker;
}

//  The running op's own part of the pipeline is through (its sync
//  arrived): pick the result that answers it and answer.  Returns true if
//  a statement ended the block behind our back (see the backstop).
static bool
s_session_op_answer (dtx_participant_t *self, session_t *session)
{
    op_t *op = (op_t *) zlistx_first (session->ops);
    PGresult *main = session->results [0];
    bool escaped = false;           //  a statement ended the block
    part_metrics_round_trip (self, session, op);
    if (op->kind == OP_EXECUTE) {
        int first = op->begin? 1: 0;
        if (op->begin && PQresultStatus (session->results [0]) != PGRES_COMMAND_OK) {
            //  BEGIN failed: the statement never ran
            session->in_txn = false;
            free (session->begin_error);
            session->begin_error = strdup (PQresultErrorMessage (session->results [0]));
        }
        else
            main = session->results [first];
        PGresult *check = s_op_checks (op)? session->results [first + 1]: NULL;
        if (check && PQresultStatus (check) == PGRES_TUPLES_OK && PQntuples (check) == 1
        &&  !PQgetisnull (check, 0, 0)) {
            session->wrote = true;
            snprintf (session->xid, sizeof session->xid, "%s", PQgetvalue (check, 0, 0));
        }
        ExecStatusType status = main? PQresultStatus (main): PGRES_FATAL_ERROR;
        bool failed = status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK;
        part_metrics_statement (self, op, !failed);
        if (op->then != OP_EXECUTE) {
            //  Statement and PREPARE / COMMIT in one: answer as the
            //  latter, but with the statement's error if it failed (the
            //  end command then only reports a rollback)
            op->kind = op->then;
            if (!failed)
                main = op->then == OP_COMMIT? s_one_phase_result (session, op, first + 1)
                                            : session->results [first + 1];
        }
        else
        if (!failed && session->in_txn && session->conn
        &&  PQtransactionStatus (session->conn) == PQTRANS_IDLE
        &&  !session->failure) {
            //  Backstop: the statement ran, and the session is no longer in
            //  its transaction block: something ended it (what committed
            //  there is beyond recall).  The branch is doomed: the answer
            //  is an error and the global transaction aborts
            char text [512];
            snprintf (text, sizeof text, "invalid transaction termination: the statement ended"
                      " the global transaction's block on this database (%s); the"
                      " transaction aborts", PQcmdStatus (main));
            zsys_error ("%s: %s: %s; resetting the connection", self->name, session->gid, text);
            session->failure = strdup (text);
            snprintf (session->failure_sqlstate, sizeof session->failure_sqlstate, "2D000");
            escaped = true;
        }
    }
    else
    if (op->kind == OP_COMMIT)
        main = s_one_phase_result (session, op, 0);
    if (session->failure && !op->defer
    &&  (op->kind == OP_PREPARE || op->kind == OP_COMMIT || op->kind == OP_EXECUTE)) {
        //  An earlier deferred statement failed, so this failed too (the
        //  transaction was aborted); the first failure is the reason
        if (op->kind != OP_EXECUTE)
            session->in_txn = false;        //  PREPARE / COMMIT rolled it back
        part_op_fail (self, session, op, session->failure_sqlstate, session->failure);
    }
    else
        s_op_complete (self, session, op, main);
    return escaped;
}

//  The running op's pipeline is through, its reset segment too, if any:
//  the op leaves the queue, and the session runs on
static void
s_session_op_finish (dtx_participant_t *self, session_t *session, bool escaped)
{
    session->running = false;
    //  The transaction is over for us, not for the connection (a statement
    //  failed ahead of its PREPARE / COMMIT in one pipeline, or PREPARE
    //  itself was cancelled): roll it back before anything else runs here
    bool dangling = !session->in_txn && session->conn
                 && (PQtransactionStatus (session->conn) == PQTRANS_INERROR
                  || PQtransactionStatus (session->conn) == PQTRANS_INTRANS);
    //  A session doomed by a statement that ended its block: its connection
    //  is in no known state, so it is closed, not reused
    bool reset = escaped && session->conn;
    for (int i = 0; i < SESSION_QUERIES_MAX; i++) {
        PQclear (session->results [i]);
        session->results [i] = NULL;
    }
    zlistx_delete (session->ops, zlistx_cursor (session->ops));
    if (reset) {
        PQfinish (session->conn);
        self->connections--;
        session->conn = NULL;
        session->begun = false;     //  the ROLLBACK to come has nothing to do
    }
    else
    if (dangling)
        s_session_abandon (session);
    part_session_advance (self, session);
}

//  The running op's pipeline is through, and it carried no reset
static void
s_session_op_done (dtx_participant_t *self, session_t *session)
{
    session->running = false;
    bool escaped = s_session_op_answer (self, session);
    s_session_op_finish (self, session, escaped);
}

//  The session's connection has input (or can take output)
void
part_session_io (dtx_participant_t *self, session_t *session, bool writable)
{
    if (writable && session->want_write)
        session->want_write = PQflush (session->conn) == 1;
    bool broken = !PQconsumeInput (session->conn);
    while (!broken && !PQisBusy (session->conn)) {
        PGresult *result = PQgetResult (session->conn);
        if (!result) {
            //  End of one query's results; past the last, wait for sync
            if (++session->query > (session->resetting? 1: session->nqueries))
                break;
            continue;
        }
        ExecStatusType status = PQresultStatus (result);
        if (status == PGRES_PIPELINE_SYNC) {
            PQclear (result);
            if (session->reset_sent) {
                //  The op's part is through: answer now, the reset is no
                //  client's business.  Its results come next; the
                //  connection stays with the session until they are in.
                //  (An op that ends the branch is never one the backstop
                //  judges: it has no escape to report.)
                session->reset_sent = false;
                session->resetting = true;
                session->query = 0;
                s_session_op_answer (self, session);
                continue;
            }
            if (session->resetting) {
                s_reset_done (self, session);
                s_session_op_finish (self, session, false);
            }
            else
                s_session_op_done (self, session);
            return;
        }
        if (session->resetting) {
            if (!session->reset_result)
                session->reset_result = result;
            else
                PQclear (result);
        }
        else
        //  Keep each query's first result
        if (session->query < SESSION_QUERIES_MAX && !session->results [session->query])
            session->results [session->query] = result;
        else
            PQclear (result);
        if (status == PGRES_COPY_IN)
            PQputCopyEnd (session->conn, "COPY is not supported through dtx");
    }
    if (broken || PQstatus (session->conn) != CONNECTION_OK) {
        zsys_warning ("%s: %s: connection to the database lost", self->name,
                      *session->gid? session->gid: "recovery scan");
        self->db_down = true;       //  rescan for in-doubt work once it is back
        if (session->resetting) {
            //  The op was answered from its own part, which came through
            //  whole; the connection, not reset, is closed as the session
            //  leaves it
            PQclear (session->reset_result);
            session->reset_result = NULL;
            session->resetting = false;
            s_session_op_finish (self, session, false);
            return;
        }
        op_t *op = (op_t *) zlistx_first (session->ops);
        session->running = false;
        for (int i = 0; i < SESSION_QUERIES_MAX; i++) {
            PQclear (session->results [i]);
            session->results [i] = NULL;
        }
        s_op_complete (self, session, op, NULL);
        zlistx_delete (session->ops, zlistx_cursor (session->ops));
        PQfinish (session->conn);
        self->connections--;
        session->conn = NULL;
        session->lost = true;
        session->in_txn = false;
        self->db_down = true;       //  rescan for in-doubt work once it is back
        part_session_advance (self, session);
    }
}

//  Ask PostgreSQL to cancel the session's running statement.  PQcancel
//  opens a short connection of its own: a brief blocking step, taken
//  only when a rollback finds a statement still running.
void
part_session_cancel (dtx_participant_t *self, session_t *session)
{
    PGcancel *cancel = PQgetCancel (session->conn);
    char err [256] = "";
    if (!cancel || !PQcancel (cancel, err, sizeof err))
        zsys_warning ("%s: %s: cannot cancel the running statement: %s", self->name,
                      session->gid, err);
    PQfreeCancel (cancel);
}
