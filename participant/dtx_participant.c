/*  =========================================================================
    dtx_participant - the participant engine

    NOTES

    A session binds one PostgreSQL connection to one global transaction
    (gid) for as long as the transaction is live, and runs the operations
    the coordinator asks for, in order, one at a time:

        BEGIN + statements -> PREPARE (check write, PREPARE TRANSACTION);
        or BEGIN + deferred statements, the last one with PREPARE (or
        the one-phase COMMIT) in the same pipeline: one round trip
        -> the connection goes back to the pool; the prepared transaction
        lives on in PostgreSQL, independent of any connection
        -> COMMIT PREPARED / ROLLBACK PREPARED run later on any pooled
        connection (a short session of their own)

    Nothing blocks the loop on PostgreSQL: queries go out with PQsend*,
    each busy connection's socket is polled with the coordinator socket,
    and results are collected with PQconsumeInput / PQisBusy.  One slow
    query holds its own session only.  (Opening a new pool connection is
    the one blocking step; the pool is filled at start and grows only up
    to pool_max.)

    What a crash of this process leaves behind: live sessions die with
    their connections, and PostgreSQL rolls them back.  Prepared
    transactions survive in PostgreSQL; the coordinator resends phase 2
    until it is acknowledged.  This process never decides the fate of a
    prepared transaction on its own.

    A one-phase commit (a transaction on this database only, no PREPARE,
    no coordinator log record) leaves its own record, in the database:

        1. [BEGIN, statement,] INSERT INTO dtx.one_phase (gid, true),
           COMMIT: one pipeline, one transaction
        2. DONE to the coordinator

    A crash (of this process, of PostgreSQL, of the connection) before
    the COMMIT completes: PostgreSQL rolls it all back, marker included.
    After it: data and marker are committed together.  So the marker says
    what happened, whatever was lost between 1 and 2.  A coordinator that
    lost track of the gid (it restarted) asks with OUTCOME_QUERY: the
    probe inserts (gid, false) unless a row exists, waiting for a marker
    insert in flight, then reads the row.  A COMMIT arriving after the
    probe fails on the primary key and rolls back, so the probe's answer
    is final.  Markers are deleted after marker_retention_s; a probe about
    an older gid answers UNKNOWN, never a guess.
    =========================================================================
*/
#include "dtx_participant.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include "dtx_fault.h"
#include <libpq-fe.h>
#include <inttypes.h>
#include <ctype.h>
#include <sys/socket.h>

//  What a queued operation does
typedef enum {
    OP_EXECUTE,             //  a client statement (BEGIN first, for the first)
    OP_PREPARE,             //  PREPARE TRANSACTION, or COMMIT if it wrote nothing
    OP_COMMIT,              //  one-phase commit
    OP_ROLLBACK,            //  roll back, live or prepared
    OP_COMMIT_PREPARED,     //  phase 2 commit
    OP_RECOVER_SCAN,        //  list this database's dtx prepared transactions
    OP_XACT_STATUS,         //  did a one-phase COMMIT whose answer was lost commit?
    OP_PROBE,               //  coordinator's OUTCOME_QUERY: fence the gid's
                            //  one-phase marker, read it
    OP_MARKER_GC            //  delete markers older than the retention
} op_kind_t;

//  Most queries one op sends in its pipeline: BEGIN, statement, marker,
//  COMMIT (or BEGIN, statement, check)
#define SESSION_QUERIES_MAX 6

//  The one-phase marker (sql/dtx-participant.sql).  A one-phase COMMIT
//  inserts its gid as committed in the same transaction; an outcome probe
//  inserts it as not committed if absent.  The primary key makes the two
//  exclusive, whichever comes first wins, and the probe's INSERT ... ON
//  CONFLICT waits for a marker insert still in flight: after the probe,
//  the one-phase COMMIT of that gid has either committed or never will.
//  The marker's INSERT also returns the xid, for a lost COMMIT answer.
#define SQL_MARKER_COMMITTED \
    "INSERT INTO dtx.one_phase (gid, committed) VALUES ($1, true)" \
    " RETURNING pg_current_xact_id ()::text"
#define SQL_MARKER_FENCE \
    "INSERT INTO dtx.one_phase (gid, committed) VALUES ($1, false)" \
    " ON CONFLICT (gid) DO NOTHING"
#define SQL_MARKER_READ \
    "SELECT committed, extract (epoch FROM now ())::bigint" \
    " FROM dtx.one_phase WHERE gid = $1"
#define SQL_MARKER_GC \
    "DELETE FROM dtx.one_phase WHERE at < now () - make_interval (secs => $1::int)"

typedef struct {
    op_kind_t kind;
    bool begin;             //  OP_EXECUTE: the transaction's first statement
    bool defer;             //  OP_EXECUTE: no RESULT wanted; a failure is kept
                            //  for the op that ends the branch
    op_kind_t then;         //  OP_EXECUTE: OP_PREPARE or OP_COMMIT to send in
                            //  the same round trip (OP_EXECUTE: nothing)
    bool readonly;          //  OP_PREPARE found no xid: commit, vote READONLY
    bool resolving;         //  internal phase 2 of an in-doubt transaction
    bool fenced;            //  one-phase: the marker insert failed with 23505
    char xid [24];          //  OP_XACT_STATUS: the transaction's xid
    dtx_proto_t *request;   //  what asked for it; NULL for internal ops
} op_t;

//  A prepared transaction found in the database and not being handled
//  by a live session: its fate is asked of the coordinator, never guessed
typedef struct {
    char gid [DTX_GID_MAX + 1];
    int64_t found;          //  when first seen
    int64_t asked;          //  when last asked
    int queries;            //  how often asked
    int attempts;           //  resolution attempts that failed
    char last_answer [256];
} in_doubt_t;

typedef struct {
    char gid [DTX_GID_MAX + 2];     //  or a key: "" scan, "?gid" status lookup,
                                    //  "#gid" outcome probe, "%gc" marker GC
    PGconn *conn;           //  NULL until a pool connection is free
    zlistx_t *ops;          //  queue; the head runs when `running`
    bool running;
    bool want_write;        //  PQflush has more to send
    bool in_txn;            //  BEGIN sent and not yet ended
    bool prepared;          //  PREPARE TRANSACTION succeeded
    bool lost;              //  its connection died: the live txn is gone
    bool waiting;           //  queued for a pool connection
    char *begin_error;      //  BEGIN failed: why
    PGresult *results [SESSION_QUERIES_MAX];  //  of the running op's queries, in order
    int nqueries;           //  queries the running op sent
    int query;              //  the one whose results come now
    char *failure;          //  first failure that dooms the branch (a deferred
                            //  statement's, a refused statement's): later ops
                            //  of the transaction fail with it, unrun ...
    char failure_sqlstate [6];  //  ... and its SQLSTATE
    bool begun;             //  BEGIN went out on the current connection
    bool wrote;             //  PostgreSQL gave the transaction an xid
    char xid [24];          //  ... this one
    int64_t last_active;
    char instance [DTX_NAME_MAX + 32];  //  coordinator instance that opened it
} session_t;

struct _dtx_participant_t {
    dtx_participant_config_t config;
    char name [DTX_NAME_MAX + 1];
    char *conninfo;
    zsock_t *coordinator;
    zhashx_t *sessions;             //  gid -> session_t
    zlistx_t *idle;                 //  PGconn * ready for use
    zlistx_t *waiting;              //  sessions waiting for a connection
    int connections;                //  open, idle or busy
    char instance [DTX_NAME_MAX + 32];  //  coordinator instance we registered with
    int64_t next_heartbeat;
    int64_t last_register_ok;
    bool terminated;
    uint32_t seq;
    zhashx_t *in_doubt;             //  gid -> in_doubt_t
    bool scan_wanted;               //  list prepared transactions soon
    uint32_t prepared;              //  dtx prepared transactions at the last scan
    bool db_down;                   //  a connection failed since the last success
    int64_t next_scan;
    zlistx_t *status_pending;       //  lost one-phase COMMITs to look up (op_t)
    char identity [DTX_NAME_MAX + 256];  //  "<system identifier>/<database name>"
    int64_t next_marker_gc;
    int64_t register_refused_logged;    //  when a refused REGISTER was last logged
    char connect_error [512];       //  why the last new connection failed
};

static void s_session_advance (dtx_participant_t *self, session_t *session);

//  --------------------------------------------------------------------------
//  Pool

static PGconn *
s_connect (dtx_participant_t *self, char *errbuf, size_t errlen)
{
    PGconn *conn = PQconnectdb (self->conninfo);
    if (PQstatus (conn) != CONNECTION_OK) {
        self->db_down = true;
        snprintf (errbuf, errlen, "%s", PQerrorMessage (conn));
        size_t len = strlen (errbuf);
        if (len && errbuf [len - 1] == '\n')
            errbuf [len - 1] = 0;
        PQfinish (conn);
        return NULL;
    }
    PQsetnonblocking (conn, 1);
    PQenterPipelineMode (conn);
    self->connections++;
    if (self->db_down) {
        //  Back after a failure: PostgreSQL may have restarted with
        //  prepared transactions that nobody is driving now
        zsys_info ("%s: database reachable again; checking for in-doubt transactions", self->name);
        self->db_down = false;
        self->scan_wanted = true;
    }
    return conn;
}

static void
s_conn_release (dtx_participant_t *self, PGconn *conn)
{
    if (PQstatus (conn) == CONNECTION_OK
    &&  PQtransactionStatus (conn) == PQTRANS_IDLE)
        //  Most recently used first: the next session gets a backend
        //  whose caches are warm (round-robin over the whole pool costs
        //  PostgreSQL several times the CPU per transaction)
        zlistx_add_start (self->idle, conn);
    else {
        PQfinish (conn);
        self->connections--;
    }
}

//  Give the session a connection if one can be had now
static bool
s_session_acquire (dtx_participant_t *self, session_t *session)
{
    if (session->conn)
        return true;
    PGconn *conn = (PGconn *) zlistx_detach (self->idle, NULL);
    if (!conn && self->connections < self->config.pool_max) {
        char err [512];
        conn = s_connect (self, err, sizeof err);
        if (!conn) {
            zsys_warning ("%s: cannot open a connection: %s", self->name, err);
            snprintf (self->connect_error, sizeof self->connect_error, "%s", err);
        }
    }
    if (conn) {
        session->conn = conn;
        if (session->waiting) {
            void *handle = zlistx_find (self->waiting, session);
            if (handle)
                zlistx_delete (self->waiting, handle);
            session->waiting = false;
        }
        return true;
    }
    if (!session->waiting && self->connections > 0) {
        zlistx_add_end (self->waiting, session);
        session->waiting = true;
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Sessions

static void
s_op_destroy (void **item_p)
{
    op_t *op = (op_t *) *item_p;
    if (op) {
        dtx_proto_destroy (&op->request);
        free (op);
        *item_p = NULL;
    }
}

static session_t *
s_session_new (dtx_participant_t *self, const char *gid)
{
    session_t *session = (session_t *) calloc (1, sizeof (session_t));
    assert (session);
    snprintf (session->gid, sizeof session->gid, "%s", gid);
    session->ops = zlistx_new ();
    zlistx_set_destructor (session->ops, s_op_destroy);
    session->last_active = dtx_clock_ms ();
    snprintf (session->instance, sizeof session->instance, "%s", self->instance);
    zhashx_insert (self->sessions, gid, session);
    return session;
}

//  Forget a session; its connection goes back to the pool
static void
s_session_end (dtx_participant_t *self, session_t *session)
{
    if (session->waiting) {
        void *handle = zlistx_find (self->waiting, session);
        if (handle)
            zlistx_delete (self->waiting, handle);
    }
    if (session->conn) {
        s_conn_release (self, session->conn);
        session->conn = NULL;
    }
    for (int i = 0; i < SESSION_QUERIES_MAX; i++)
        PQclear (session->results [i]);
    free (session->begin_error);
    free (session->failure);
    zlistx_destroy (&session->ops);
    zhashx_delete (self->sessions, session->gid);
    free (session);
}

static void
s_enqueue (session_t *session, op_kind_t kind, dtx_proto_t **request_p)
{
    op_t *op = (op_t *) calloc (1, sizeof (op_t));
    assert (op);
    op->kind = kind;
    if (request_p) {
        op->request = *request_p;
        *request_p = NULL;
    }
    zlistx_add_end (session->ops, op);
}

//  An internal op (nobody waits for its answer) ahead of everything queued
static void
s_enqueue_first (session_t *session, op_kind_t kind)
{
    op_t *op = (op_t *) calloc (1, sizeof (op_t));
    assert (op);
    op->kind = kind;
    zlistx_add_start (session->ops, op);
}

//  --------------------------------------------------------------------------
//  Replies to the coordinator

static void
s_reply (dtx_participant_t *self, dtx_proto_t **reply_p)
{
    if (dtx_proto_send (*reply_p, self->coordinator))
        zsys_warning ("%s: cannot send %s for %s", self->name,
                      dtx_proto_command (*reply_p), dtx_proto_gid (*reply_p));
    dtx_proto_destroy (reply_p);
}

static dtx_proto_t *
s_reply_new (int id, op_t *op, const char *gid)
{
    dtx_proto_t *reply = dtx_proto_new (id);
    dtx_proto_set_seq (reply, op && op->request? dtx_proto_seq (op->request): 0);
    dtx_proto_set_gid (reply, gid);
    return reply;
}

//  Error text from a PGresult or a connection
static void
s_describe (PGresult *result, PGconn *conn, const char **sqlstate, char *text, size_t size)
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
s_reply_error (dtx_participant_t *self, op_t *op, const char *gid, int id, int status,
               const char *sqlstate, const char *text)
{
    if (op && !op->request)
        return;         //  internal: nobody waits for an answer
    dtx_proto_t *reply = s_reply_new (id, op, gid);
    dtx_proto_set_status (reply, (uint8_t) status);
    dtx_proto_set_sqlstate (reply, sqlstate);
    dtx_proto_set_text (reply, text);
    s_reply (self, &reply);
}

static void
s_reply_result (dtx_participant_t *self, op_t *op, const char *gid, PGresult *result)
{
    dtx_proto_t *reply = s_reply_new (DTX_PROTO_RESULT, op, gid);
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
    s_reply (self, &reply);
}

//  --------------------------------------------------------------------------
//  In-doubt resolution
//
//  Prepared transactions found in the database with no live session here
//  are asked of the coordinator (OUTCOME_QUERY).  Only a definite answer
//  acts: committed -> COMMIT PREPARED, aborted -> ROLLBACK PREPARED.  "In
//  progress" means the coordinator is driving it; no answer means wait
//  and ask again.  Never decided here.

static void
s_in_doubt_ask (dtx_participant_t *self, in_doubt_t *entry)
{
    entry->asked = dtx_clock_ms ();
    entry->queries++;
    dtx_proto_t *query = dtx_proto_new (DTX_PROTO_OUTCOME_QUERY);
    dtx_proto_set_seq (query, ++self->seq);
    dtx_proto_set_gid (query, entry->gid);
    s_reply (self, &query);
}

//  The scan's result: gids prepared in this database
static void
s_in_doubt_found (dtx_participant_t *self, PGresult *result)
{
    int found = 0;
    self->prepared = (uint32_t) PQntuples (result);
    for (int row = 0; row < PQntuples (result); row++) {
        const char *gid = PQgetvalue (result, row, 0);
        char err [256];
        if (dtx_gid_validate (gid, err, sizeof err)
        ||  zhashx_lookup (self->sessions, gid)         //  live here: not in doubt
        ||  zhashx_lookup (self->in_doubt, gid))
            continue;
        in_doubt_t *entry = (in_doubt_t *) calloc (1, sizeof (in_doubt_t));
        assert (entry);
        snprintf (entry->gid, sizeof entry->gid, "%s", gid);
        entry->found = dtx_clock_ms ();
        zhashx_insert (self->in_doubt, gid, entry);
        s_in_doubt_ask (self, entry);
        found++;
    }
    if (found)
        zsys_info ("%s: recovery: %d prepared transaction(s) in doubt, %zu in all; asking"
                   " the coordinator", self->name, found, zhashx_size (self->in_doubt));
}

//  A phase-2 command for gid finished (from the coordinator or ours)
static void
s_in_doubt_settle (dtx_participant_t *self, const char *gid, op_t *op, bool done, const char *text)
{
    in_doubt_t *entry = (in_doubt_t *) zhashx_lookup (self->in_doubt, gid);
    if (!entry)
        return;
    if (done) {
        zsys_info ("%s: recovery: %s %s; %zu still in doubt", self->name, gid,
                   op->kind == OP_COMMIT_PREPARED? "committed": "rolled back",
                   zhashx_size (self->in_doubt) - 1);
        zhashx_delete (self->in_doubt, gid);
    }
    else {
        entry->attempts++;
        snprintf (entry->last_answer, sizeof entry->last_answer, "%s", text);
    }
}

//  The coordinator's answer about an in-doubt gid
static void
s_in_doubt_answer (dtx_participant_t *self, dtx_proto_t *msg)
{
    const char *gid = dtx_proto_gid (msg);
    in_doubt_t *entry = (in_doubt_t *) zhashx_lookup (self->in_doubt, gid);
    if (!entry)
        return;
    int outcome = dtx_proto_id (msg) == DTX_PROTO_OUTCOME? dtx_proto_status (msg): DTX_UNKNOWN;
    snprintf (entry->last_answer, sizeof entry->last_answer, "%s %s",
              dtx_proto_id (msg) == DTX_PROTO_OUTCOME? dtx_outcome_name ((dtx_outcome_t) outcome)
                                                      : "error:", dtx_proto_text (msg));
    if (outcome != DTX_COMMITTED && outcome != DTX_ABORTED) {
        if (dtx_proto_id (msg) == DTX_PROTO_ERROR)
            zsys_warning ("%s: recovery: coordinator cannot resolve %s: %s; it stays prepared"
                          " (see docs/recovery.md)", self->name, gid, dtx_proto_text (msg));
        return;         //  asked again later
    }
    if (zhashx_lookup (self->sessions, gid))
        return;         //  something is already working on it
    session_t *session = s_session_new (self, gid);
    s_enqueue (session, outcome == DTX_COMMITTED? OP_COMMIT_PREPARED: OP_ROLLBACK, NULL);
    op_t *op = (op_t *) zlistx_last (session->ops);
    op->resolving = true;
    session->prepared = true;
    s_session_advance (self, session);
}

static void
s_in_doubt_tick (dtx_participant_t *self, int64_t now)
{
    if (self->scan_wanted || now >= self->next_scan) {
        self->scan_wanted = false;
        //  Every 10 s: it is cheap, and the count feeds the metrics
        self->next_scan = now + 10000;
        if (!zhashx_lookup (self->sessions, "")) {
            session_t *scan = s_session_new (self, "");
            s_enqueue (scan, OP_RECOVER_SCAN, NULL);
            s_session_advance (self, scan);
        }
    }
    in_doubt_t *entry = (in_doubt_t *) zhashx_first (self->in_doubt);
    while (entry) {
        if (now - entry->asked >= 5000 && !zhashx_lookup (self->sessions, entry->gid)) {
            if (entry->queries % 12 == 0)
                zsys_warning ("%s: recovery: %s in doubt for %" PRId64 " s, asked %d times,"
                              " last answer: %s", self->name, entry->gid,
                              (now - entry->found) / 1000, entry->queries,
                              *entry->last_answer? entry->last_answer: "none");
            s_in_doubt_ask (self, entry);
        }
        entry = (in_doubt_t *) zhashx_next (self->in_doubt);
    }
}

//  --------------------------------------------------------------------------
//  Lost one-phase COMMITs: keep the request (its reply is owed) and the
//  xid, and ask PostgreSQL with pg_xact_status until it can say

static void
s_status_later (dtx_participant_t *self, op_t *op)
{
    op_t *pending = (op_t *) calloc (1, sizeof (op_t));
    assert (pending);
    pending->kind = OP_XACT_STATUS;
    pending->request = op->request;
    op->request = NULL;             //  the reply is now owed by the pending op
    snprintf (pending->xid, sizeof pending->xid, "%s", op->xid);
    zlistx_add_end (self->status_pending, pending);
}

//  Each second: one lookup per pending xid
static void
s_status_tick (dtx_participant_t *self)
{
    op_t *pending;
    size_t count = zlistx_size (self->status_pending);
    while (count-- && (pending = (op_t *) zlistx_detach (self->status_pending, NULL))) {
        char key [DTX_GID_MAX + 2];
        snprintf (key, sizeof key, "?%s", dtx_proto_gid (pending->request));
        session_t *session = (session_t *) zhashx_lookup (self->sessions, key);
        if (!session)
            session = s_session_new (self, key);
        zlistx_add_end (session->ops, pending);
        s_session_advance (self, session);
    }
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
//  several), so the first keyword says what it is.

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
static int
s_send_sql (session_t *session, const char *sql)
{
    session->nqueries++;
    return PQsendQueryParams (session->conn, sql, 0, NULL, NULL, NULL, NULL, 0)? 0: -1;
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

//  The answer to the coordinator's one-phase probe (OUTCOME_QUERY)
//  (errcode: why it is no answer; 0 for a definite one, and for one beyond
//  the marker retention)
static void
s_reply_probe (dtx_participant_t *self, op_t *op, dtx_outcome_t outcome, int errcode,
               const char *text)
{
    dtx_proto_t *reply = s_reply_new (DTX_PROTO_OUTCOME, op, dtx_proto_gid (op->request));
    dtx_proto_set_status (reply, (uint8_t) outcome);
    dtx_proto_set_flags (reply, (uint8_t) errcode);
    dtx_proto_set_name (reply, self->name);
    dtx_proto_set_text (reply, text);
    s_reply (self, &reply);
}

//  An op that cannot run (its transaction is gone): answer at once
static void
s_op_fail (dtx_participant_t *self, session_t *session, op_t *op,
           const char *sqlstate, const char *text)
{
    switch (op->kind) {
        case OP_RECOVER_SCAN:
        case OP_MARKER_GC:
            break;
        case OP_PROBE: {
            char reason [1100];
            if (strncmp (sqlstate, "08", 2) == 0 && strncmp (text, "database unreachable", 20))
                snprintf (reason, sizeof reason, "database unreachable: %s", text);
            else
            if (strncmp (sqlstate, "08", 2))
                snprintf (reason, sizeof reason, "cannot read the one-phase marker: %s", text);
            else
                snprintf (reason, sizeof reason, "%s", text);
            s_reply_probe (self, op, DTX_UNKNOWN, DTX_ERR_PARTICIPANT, reason);
            break;
        }
        case OP_XACT_STATUS:
            s_status_later (self, op);
            break;
        case OP_EXECUTE:
            if (op->then == OP_PREPARE)
                s_reply_error (self, op, session->gid, DTX_PROTO_VOTE, DTX_VOTE_NO, sqlstate, text);
            else
            if (op->then == OP_COMMIT)
                s_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_FAILED, sqlstate, text);
            else
            if (!op->defer)
                s_reply_error (self, op, session->gid, DTX_PROTO_ERROR, DTX_ERR_SQL, sqlstate, text);
            break;
        case OP_PREPARE:
            s_reply_error (self, op, session->gid, DTX_PROTO_VOTE, DTX_VOTE_NO, sqlstate, text);
            break;
        case OP_COMMIT:
        case OP_ROLLBACK:
        case OP_COMMIT_PREPARED:
            s_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_FAILED, sqlstate, text);
            break;
    }
}

//  Refuse a request before it becomes an op: answer as the op would fail
static void
s_refuse (dtx_participant_t *self, op_t *op, const char *gid, int errcode,
          const char *sqlstate, const char *text)
{
    if (op->kind == OP_EXECUTE && op->then == OP_EXECUTE && !op->defer)
        s_reply_error (self, op, gid, DTX_PROTO_ERROR, errcode, sqlstate, text);
    else {
        session_t dummy = { .gid = "" };
        snprintf (dummy.gid, sizeof dummy.gid, "%s", gid);
        s_op_fail (self, &dummy, op, sqlstate, text);
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
    const char *params [] = { session->gid };
    session->nqueries++;
    if (!PQsendQueryParams (session->conn, SQL_MARKER_COMMITTED, 1, NULL, params, NULL, NULL, 0))
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
        case OP_XACT_STATUS: {
            char sql [96];
            snprintf (sql, sizeof sql, "SELECT pg_xact_status ('%s'::xid8)", op->xid);
            return s_send_sql (session, sql);
        }
        case OP_RECOVER_SCAN:
            return s_send_sql (session, "SELECT gid FROM pg_prepared_xacts"
                                        " WHERE gid LIKE 'dtx:%' AND database = current_database()");
        case OP_PROBE: {
            //  Fence, then read: one pipeline, one implicit transaction
            const char *params [] = { dtx_proto_gid (op->request) };
            session->nqueries += 2;
            if (!PQsendQueryParams (session->conn, SQL_MARKER_FENCE, 1, NULL, params, NULL, NULL, 0)
            ||  !PQsendQueryParams (session->conn, SQL_MARKER_READ, 1, NULL, params, NULL, NULL, 0))
                return -1;
            return 0;
        }
        case OP_MARKER_GC: {
            char seconds [16];
            snprintf (seconds, sizeof seconds, "%d", self->config.marker_retention_s);
            const char *params [] = { seconds };
            session->nqueries++;
            return PQsendQueryParams (session->conn, SQL_MARKER_GC, 1, NULL, params, NULL, NULL, 0)? 0: -1;
        }
    }
    return -1;
}

//  The probe's read: the marker as it is after the fence
static void
s_probe_answer (dtx_participant_t *self, op_t *op, PGresult *result)
{
    if (PQntuples (result) != 1) {
        s_reply_probe (self, op, DTX_UNKNOWN, DTX_ERR_PARTICIPANT,
                       "cannot read the one-phase marker: no row after the fence");
        return;
    }
    bool committed = streq (PQgetvalue (result, 0, 0), "t");
    //  The database's clock, as the marker's `at` and its deletion use
    int64_t now = atoll (PQgetvalue (result, 0, 1));
    uint64_t since = dtx_proto_affected (op->request);
    if (committed)
        s_reply_probe (self, op, DTX_COMMITTED, 0, "one-phase COMMIT found");
    else
    if (since && (int64_t) since < now - self->config.marker_retention_s) {
        //  Its marker may have been deleted: "not committed" is no answer
        char text [128];
        snprintf (text, sizeof text, "older than the participant's marker retention (%d s)",
                  self->config.marker_retention_s);
        s_reply_probe (self, op, DTX_UNKNOWN, 0, text);
    }
    else
        s_reply_probe (self, op, DTX_ABORTED, 0, "no one-phase COMMIT; fenced");
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
        s_describe (result, session->conn, &sqlstate, text, sizeof text);
    const char *tag = result? PQcmdStatus (result): "";
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
                s_reply_error (self, op, session->gid, DTX_PROTO_ERROR, DTX_ERR_SQL, sqlstate, text);
            return;
        case OP_PREPARE:
            session->in_txn = false;
            //  PREPARE TRANSACTION in a failed transaction reports ROLLBACK
            //  without an error: check the tag, not just the status
            if (ok && !op->readonly && streq (tag, "PREPARE TRANSACTION")) {
                session->prepared = true;
                dtx_fault ("part-after-prepare-before-vote");
                s_reply_error (self, op, session->gid, DTX_PROTO_VOTE, DTX_VOTE_YES, "", "");
                dtx_fault ("part-after-vote");
            }
            else
            if (ok && op->readonly && streq (tag, "COMMIT"))
                s_reply_error (self, op, session->gid, DTX_PROTO_VOTE, DTX_VOTE_READONLY, "", "");
            else
                s_reply_error (self, op, session->gid, DTX_PROTO_VOTE, DTX_VOTE_NO,
                               ok? "40000": sqlstate, ok? "transaction was rolled back": text);
            return;
        case OP_COMMIT:
            session->in_txn = false;
            if (!ok && *session->xid && op->request
            &&  (!result || strncmp (sqlstate, "08", 2) == 0)) {
                //  The answer to COMMIT was lost with the connection: ask
                //  PostgreSQL what became of the xid, then answer
                zsys_warning ("%s: %s: connection lost during COMMIT; looking up xid %s",
                              self->name, session->gid, session->xid);
                snprintf (op->xid, sizeof op->xid, "%s", session->xid);
                s_status_later (self, op);
                return;
            }
            if (ok && streq (tag, "COMMIT"))
                s_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_OK, "", "");
            else
            if (op->fenced) {
                //  The coordinator probed this gid first (it restarted and
                //  lost track of it) and was told "aborted": so it is
                char fenced [1280];
                snprintf (fenced, sizeof fenced, "transaction was fenced by an outcome probe and"
                          " rolled back (the coordinator asked for its outcome before it"
                          " committed): %s", text);
                zsys_warning ("%s: %s: %s", self->name, session->gid, fenced);
                s_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_FAILED, sqlstate, fenced);
            }
            else
                s_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_FAILED,
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
            s_in_doubt_settle (self, session->gid, op, ok || streq (sqlstate, "42704"), text);
            if (ok) {
                session->prepared = false;
                s_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_OK, "", "");
            }
            else
            if (streq (sqlstate, "42704"))
                //  "prepared transaction does not exist".  For ROLLBACK it
                //  is done either way (presumed abort).  For COMMIT
                //  PREPARED the coordinator judges: it knows whether an
                //  earlier attempt may have done it.
                s_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_NOT_FOUND, sqlstate, text);
            else
                s_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_FAILED, sqlstate, text);
            return;
        case OP_XACT_STATUS: {
            const char *status = ok && PQntuples (result) == 1 && !PQgetisnull (result, 0, 0)
                               ? PQgetvalue (result, 0, 0): "";
            if (streq (status, "committed"))
                s_reply_error (self, op, session->gid + 1, DTX_PROTO_DONE, DTX_DONE_OK, "", "");
            else
            if (streq (status, "aborted"))
                s_reply_error (self, op, session->gid + 1, DTX_PROTO_DONE, DTX_DONE_FAILED, "40000",
                               "connection lost during COMMIT; PostgreSQL rolled the transaction back");
            else
                s_status_later (self, op);      //  in progress, or not reachable: ask again
            if (*status)
                zsys_info ("%s: %s: xid %s %s", self->name, session->gid + 1, op->xid, status);
            return;
        }
        case OP_RECOVER_SCAN:
            if (ok)
                s_in_doubt_found (self, result);
            else
                zsys_warning ("%s: cannot list prepared transactions: %s", self->name, text);
            return;
        case OP_PROBE:
            if (!ok)
                s_op_fail (self, session, op, sqlstate, text);
            else
                s_probe_answer (self, op, result);
            return;
        case OP_MARKER_GC:
            if (!ok)
                zsys_warning ("%s: cannot delete old one-phase markers: %s", self->name, text);
            else
            if (atol (PQcmdTuples (result)) > 0)
                zsys_info ("%s: deleted %s one-phase marker(s) older than %d s", self->name,
                           PQcmdTuples (result), self->config.marker_retention_s);
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
static void
s_session_advance (dtx_participant_t *self, session_t *session)
{
    while (!session->running) {
        op_t *op = (op_t *) zlistx_first (session->ops);
        if (!op) {
            //  Nothing queued: a live transaction keeps its connection,
            //  anything else is over
            if (!session->in_txn || session->lost)
                s_session_end (self, session);
            return;
        }
        //  Ops that need the live transaction cannot run once it is gone
        bool needs_txn = op->kind == OP_EXECUTE || op->kind == OP_PREPARE || op->kind == OP_COMMIT;
        if (needs_txn && (session->lost || session->begin_error)) {
            s_op_fail (self, session, op, session->lost? "08006": "25P01",
                       session->lost? "connection to the database was lost; the transaction is gone"
                                    : session->begin_error);
            zlistx_delete (session->ops, zlistx_cursor (session->ops));
            continue;
        }
        if (op->kind == OP_EXECUTE)
            s_refuse_txn_control (self, session, op);
        if (needs_txn && session->failure) {
            //  A doomed branch: nothing more of it runs; what ends it
            //  answers with the first failure, and the block is rolled back
            bool ends = op->kind != OP_EXECUTE || op->then != OP_EXECUTE;
            s_op_fail (self, session, op, session->failure_sqlstate, session->failure);
            zlistx_delete (session->ops, zlistx_cursor (session->ops));
            if (ends)
                s_session_abandon (session);
            continue;
        }
        if (op->kind == OP_ROLLBACK && session->lost && !session->prepared
        &&  !(op->request && (dtx_proto_flags (op->request) & DTX_ROLLBACK_PREPARED))) {
            s_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_OK, "", "");
            zlistx_delete (session->ops, zlistx_cursor (session->ops));
            continue;
        }
        if (!s_session_acquire (self, session)) {
            if (self->connections == 0) {
                //  Database unreachable: fail now, the coordinator retries
                char text [600];
                snprintf (text, sizeof text, "database unreachable: %s", self->connect_error);
                s_op_fail (self, session, op, "08001", text);
                zlistx_delete (session->ops, zlistx_cursor (session->ops));
                continue;
            }
            return;     //  waits for a connection
        }
        session->nqueries = 0;
        session->query = 0;
        int rc = s_op_start (self, session, op);
        if (rc == 0 && !PQpipelineSync (session->conn))
            rc = -1;
        if (rc == 1) {
            s_reply_error (self, op, session->gid, DTX_PROTO_DONE, DTX_DONE_OK, "", "");
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

//  The running op's pipeline is through (its sync arrived): pick the
//  result that answers it and complete it
static void
s_session_op_done (dtx_participant_t *self, session_t *session)
{
    op_t *op = (op_t *) zlistx_first (session->ops);
    session->running = false;
    PGresult *main = session->results [0];
    bool escaped = false;           //  a statement ended the block
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
    else
    if (op->kind == OP_PROBE && main && PQresultStatus (main) == PGRES_COMMAND_OK)
        main = session->results [1];        //  the fence went in: the read answers
    if (session->failure && !op->defer
    &&  (op->kind == OP_PREPARE || op->kind == OP_COMMIT || op->kind == OP_EXECUTE)) {
        //  An earlier deferred statement failed, so this failed too (the
        //  transaction was aborted); the first failure is the reason
        if (op->kind != OP_EXECUTE)
            session->in_txn = false;        //  PREPARE / COMMIT rolled it back
        s_op_fail (self, session, op, session->failure_sqlstate, session->failure);
    }
    else
        s_op_complete (self, session, op, main);
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
    s_session_advance (self, session);
}

//  The session's connection has input (or can take output)
static void
s_session_io (dtx_participant_t *self, session_t *session, bool writable)
{
    if (writable && session->want_write)
        session->want_write = PQflush (session->conn) == 1;
    bool broken = !PQconsumeInput (session->conn);
    while (!broken && !PQisBusy (session->conn)) {
        PGresult *result = PQgetResult (session->conn);
        if (!result) {
            //  End of one query's results; past the last, wait for sync
            if (++session->query > session->nqueries)
                break;
            continue;
        }
        ExecStatusType status = PQresultStatus (result);
        if (status == PGRES_PIPELINE_SYNC) {
            PQclear (result);
            s_session_op_done (self, session);
            return;
        }
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
        s_session_advance (self, session);
    }
}

//  Ask PostgreSQL to cancel the session's running statement.  PQcancel
//  opens a short connection of its own: a brief blocking step, taken
//  only when a rollback finds a statement still running.
static void
s_cancel (dtx_participant_t *self, session_t *session)
{
    PGcancel *cancel = PQgetCancel (session->conn);
    char err [256] = "";
    if (!cancel || !PQcancel (cancel, err, sizeof err))
        zsys_warning ("%s: %s: cannot cancel the running statement: %s", self->name,
                      session->gid, err);
    PQfreeCancel (cancel);
}

//  --------------------------------------------------------------------------
//  Coordinator messages

static void
s_handle_request (dtx_participant_t *self, dtx_proto_t **msg_p)
{
    dtx_proto_t *msg = *msg_p;
    const char *gid = dtx_proto_gid (msg);
    int id = dtx_proto_id (msg);
    char err [256];
    if (dtx_gid_validate (gid, err, sizeof err)) {
        zsys_warning ("%s: %s with a bad gid: %s", self->name, dtx_proto_command (msg), err);
        if (id == DTX_PROTO_OUTCOME_QUERY) {
            s_reply_error (self, &(op_t) { .kind = OP_PROBE, .request = msg }, gid, DTX_PROTO_ERROR,
                           DTX_ERR_BAD_REQUEST, "", err);
            dtx_proto_destroy (msg_p);
            return;
        }
        op_t op = { .kind = OP_EXECUTE, .request = msg };
        op.kind = id == DTX_PROTO_PREPARE? OP_PREPARE: id == DTX_PROTO_EXECUTE? OP_EXECUTE: OP_ROLLBACK;
        session_t dummy = { .gid = "" };
        s_op_fail (self, &dummy, &op, "", err);
        dtx_proto_destroy (msg_p);
        return;
    }
    session_t *session = (session_t *) zhashx_lookup (self->sessions, gid);
    switch (id) {
        case DTX_PROTO_EXECUTE: {
            uint8_t flags = dtx_proto_flags (msg);
            op_t how = {
                .kind = OP_EXECUTE, .request = msg,
                .defer = (flags & DTX_EXEC_DEFER) != 0,
                .then = flags & DTX_EXEC_PREPARE? OP_PREPARE: flags & DTX_EXEC_COMMIT? OP_COMMIT: OP_EXECUTE
            };
            if (flags & DTX_EXEC_FIRST) {
                if (session) {
                    if (how.defer && !session->failure)
                        session->failure = strdup ("transaction already has a session here");
                    s_refuse (self, &how, gid, DTX_ERR_STATE, "", "transaction already has a session here");
                    session = NULL;
                    break;
                }
                session = s_session_new (self, gid);
                session->in_txn = true;
                how.begin = true;
            }
            else
            if (!session || !session->in_txn) {
                s_refuse (self, &how, gid, DTX_ERR_PARTICIPANT, "08006",
                          "participant has no live session for this transaction (restarted?)");
                break;
            }
            op_t *op = (op_t *) malloc (sizeof (op_t));
            assert (op);
            *op = how;
            *msg_p = NULL;          //  the op owns it now
            zlistx_add_end (session->ops, op);
            break;
        }
        case DTX_PROTO_PREPARE:
        case DTX_PROTO_COMMIT:
            if (!session || !session->in_txn) {
                s_reply_error (self, &(op_t) { .kind = OP_EXECUTE, .request = msg }, gid,
                               id == DTX_PROTO_PREPARE? DTX_PROTO_VOTE: DTX_PROTO_DONE,
                               id == DTX_PROTO_PREPARE? DTX_VOTE_NO: DTX_DONE_FAILED, "25P01",
                               "participant has no live session for this transaction");
                break;
            }
            s_enqueue (session, id == DTX_PROTO_PREPARE? OP_PREPARE: OP_COMMIT, msg_p);
            break;
        case DTX_PROTO_ROLLBACK:
        case DTX_PROTO_COMMIT_PREPARED:
            if (!session)
                session = s_session_new (self, gid);
            else
            if (id == DTX_PROTO_ROLLBACK && session->running && session->conn
            &&  ((op_t *) zlistx_first (session->ops))->kind == OP_EXECUTE)
                //  A statement is still running (a lock wait, a long query):
                //  cancel it, so that the rollback behind it runs now
                s_cancel (self, session);
            s_enqueue (session, id == DTX_PROTO_ROLLBACK? OP_ROLLBACK: OP_COMMIT_PREPARED, msg_p);
            break;
        case DTX_PROTO_OUTCOME_QUERY: {
            //  The coordinator lost track of a one-phase gid: a session of
            //  the probe's own (never the gid's live one, whose COMMIT the
            //  fence must be able to wait for); probes of one gid queue
            char key [DTX_GID_MAX + 2];
            snprintf (key, sizeof key, "#%s", gid);
            session = (session_t *) zhashx_lookup (self->sessions, key);
            if (!session)
                session = s_session_new (self, key);
            s_enqueue (session, OP_PROBE, msg_p);
            break;
        }
        default:
            zsys_warning ("%s: unexpected %s from coordinator, dropped", self->name,
                          dtx_proto_command (msg));
    }
    if (session)
        s_session_advance (self, session);
    dtx_proto_destroy (msg_p);
}

static void
s_send_register (dtx_participant_t *self)
{
    dtx_proto_t *msg = dtx_proto_new (DTX_PROTO_REGISTER);
    dtx_proto_set_seq (msg, ++self->seq);
    dtx_proto_set_name (msg, self->name);
    dtx_proto_set_ntuples (msg, self->prepared);
    dtx_proto_set_text (msg, self->identity);
    s_reply (self, &msg);
}

//  One message, if there is one (the socket does not block): false if none
static bool
s_handle_coordinator (dtx_participant_t *self)
{
    dtx_proto_t *msg;
    char err [256];
    int rc = dtx_proto_recv (&msg, self->coordinator, err, sizeof err);
    if (rc == -2) {
        zsys_warning ("%s: from coordinator: dropped %s", self->name, err);
        return true;
    }
    if (rc)
        return false;
    int id = dtx_proto_id (msg);
    if (id == DTX_PROTO_REGISTER_OK) {
        const char *instance = dtx_proto_text (msg);
        if (strcmp (instance, self->instance)) {
            if (*self->instance) {
                //  The coordinator restarted: it forgot every transaction
                //  that had not reached a commit decision.  Live sessions
                //  opened under the old instance are orphans: roll back.
                zsys_info ("%s: coordinator restarted (%s -> %s): rolling back orphaned live sessions",
                           self->name, self->instance, instance);
                zlistx_t *orphans = zlistx_new ();
                session_t *session = (session_t *) zhashx_first (self->sessions);
                while (session) {
                    if (session->in_txn && !session->prepared
                    &&  strcmp (session->instance, instance))
                        zlistx_add_end (orphans, session);
                    session = (session_t *) zhashx_next (self->sessions);
                }
                session = (session_t *) zlistx_first (orphans);
                while (session) {
                    s_enqueue (session, OP_ROLLBACK, NULL);
                    s_session_advance (self, session);
                    session = (session_t *) zlistx_next (orphans);
                }
                zlistx_destroy (&orphans);
                //  and transactions it prepared may be in doubt now
                self->scan_wanted = true;
            }
            else
                zsys_info ("%s: registered with coordinator %s", self->name, instance);
            snprintf (self->instance, sizeof self->instance, "%s", instance);
        }
        self->last_register_ok = dtx_clock_ms ();
        dtx_proto_destroy (&msg);
    }
    else
    if (id == DTX_PROTO_OUTCOME
    || (id == DTX_PROTO_ERROR && zhashx_lookup (self->in_doubt, dtx_proto_gid (msg)))) {
        s_in_doubt_answer (self, msg);
        dtx_proto_destroy (&msg);
    }
    else
    if (id == DTX_PROTO_ERROR && !*dtx_proto_gid (msg)) {
        //  REGISTER refused (e.g. another database registered under this
        //  name).  Loud, but once in 30 s: the heartbeat retries each second
        int64_t now = dtx_clock_ms ();
        if (!self->register_refused_logged || now - self->register_refused_logged >= 30000) {
            zsys_error ("%s: the coordinator refuses to register this participant (database"
                        " %s): %s; retrying (logged at most every 30 s)", self->name,
                        self->identity, dtx_proto_text (msg));
            self->register_refused_logged = now;
        }
        dtx_proto_destroy (&msg);
    }
    else
    if (id == DTX_PROTO_ERROR) {
        zsys_error ("%s: coordinator says: %s", self->name, dtx_proto_text (msg));
        dtx_proto_destroy (&msg);
    }
    else
        s_handle_request (self, &msg);
    return true;
}

//  About every minute (and soon after start): delete the one-phase markers
//  older than the retention.  A probe for a gid that old answers UNKNOWN
static void
s_marker_gc_tick (dtx_participant_t *self, int64_t now)
{
    if (now < self->next_marker_gc)
        return;
    self->next_marker_gc = now + 60000;
    if (!zhashx_lookup (self->sessions, "%gc")) {
        session_t *session = s_session_new (self, "%gc");
        s_enqueue (session, OP_MARKER_GC, NULL);
        s_session_advance (self, session);
    }
}

//  A live session nobody has touched for idle_timeout_ms is rolled back:
//  the backstop for a coordinator that lost track of it
static void
s_reap_idle (dtx_participant_t *self, int64_t now)
{
    zlistx_t *idle = zlistx_new ();
    session_t *session = (session_t *) zhashx_first (self->sessions);
    while (session) {
        if (session->in_txn && !session->running && zlistx_size (session->ops) == 0
        &&  now - session->last_active > self->config.idle_timeout_ms)
            zlistx_add_end (idle, session);
        session = (session_t *) zhashx_next (self->sessions);
    }
    session = (session_t *) zlistx_first (idle);
    while (session) {
        zsys_warning ("%s: %s: idle for %d ms, rolling back", self->name, session->gid,
                      self->config.idle_timeout_ms);
        s_enqueue (session, OP_ROLLBACK, NULL);
        s_session_advance (self, session);
        session = (session_t *) zlistx_next (idle);
    }
    zlistx_destroy (&idle);
}

//  --------------------------------------------------------------------------
//  Life

void
dtx_participant_config_defaults (dtx_participant_config_t *config)
{
    memset (config, 0, sizeof *config);
    config->pool_min = 4;
    config->pool_max = 200;
    config->connect_window_ms = 30000;
    config->heartbeat_ms = 1000;
    config->idle_timeout_ms = 10 * 60 * 1000;
    config->marker_retention_s = 7 * 24 * 3600;
}

//  sql/dtx-participant.sql, byte for byte (test_participant checks)
static const char s_schema_sql [] =
    "-- dtx-participant.sql: the one table dtx-participant keeps in its database\n"
    "--\n"
    "-- dtx.one_phase has a row per one-phase global transaction: one that touched\n"
    "-- this database only and commits with a plain COMMIT (no PREPARE, no\n"
    "-- record in the coordinator's decision log).\n"
    "--   * Its COMMIT inserts (gid, committed = true) in the same transaction:\n"
    "--     the row exists exactly when that transaction committed.\n"
    "--   * A coordinator that lost track of such a gid (it restarted) asks the\n"
    "--     participant (OUTCOME_QUERY), which inserts (gid, committed = false)\n"
    "--     unless a row exists.  From then on that COMMIT can only fail (unique\n"
    "--     violation), so the answer read back is final.\n"
    "-- Rows older than the participant's marker-retention (default 7 days) are\n"
    "-- deleted about every minute.\n"
    "--\n"
    "-- dtx-participant creates this at start if it is missing.  If its database\n"
    "-- user may not (no CREATE privilege on the database), run this file once as\n"
    "-- a privileged user:\n"
    "--     psql -d DBNAME -f dtx-participant.sql\n"
    "-- and grant the participant's user USAGE on schema dtx and SELECT, INSERT,\n"
    "-- DELETE on dtx.one_phase.\n"
    "CREATE SCHEMA IF NOT EXISTS dtx;\n"
    "CREATE TABLE IF NOT EXISTS dtx.one_phase (\n"
    "    gid text PRIMARY KEY,\n"
    "    committed boolean NOT NULL,\n"
    "    at timestamptz NOT NULL DEFAULT now ()\n"
    ");\n";

const char *
dtx_participant_schema_sql (void)
{
    return s_schema_sql;
}

//  A one-row query on the setup connection: the row's values into
//  values [] (each of size), or -1 with PostgreSQL's message in errbuf
static int
s_setup_query (PGconn *conn, const char *sql, int nvalues, char values [][128], char *errbuf, size_t errlen)
{
    PGresult *result = PQexec (conn, sql);
    int rc = 0;
    if (PQresultStatus (result) != PGRES_TUPLES_OK || PQntuples (result) != 1
    ||  PQnfields (result) < nvalues) {
        const char *sqlstate;
        s_describe (result, conn, &sqlstate, errbuf, errlen);
        rc = -1;
    }
    else
        for (int i = 0; i < nvalues; i++)
            snprintf (values [i], 128, "%s", PQgetvalue (result, 0, i));
    PQclear (result);
    return rc;
}

//  Once at start, on the first connection: the database's identity (for
//  REGISTER) and the one-phase marker table, installed if missing
static int
s_database_setup (dtx_participant_t *self, PGconn *conn, char *errbuf, size_t errlen)
{
    char values [3][128], err [512];
    if (s_setup_query (conn, "SELECT system_identifier::text, current_database ()"
                             " FROM pg_control_system ()", 2, values, err, sizeof err)) {
        snprintf (errbuf, errlen, "cannot read the identity of the database for participant %s"
                  " (pg_control_system (), PostgreSQL 9.6 or later; a user that is not superuser"
                  " needs EXECUTE on it, e.g. through pg_monitor): %s", self->name, err);
        return -1;
    }
    snprintf (self->identity, sizeof self->identity, "%s/%s", values [0], values [1]);
    //  (from the catalog: to_regclass would need USAGE on the schema)
    if (s_setup_query (conn, "SELECT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n"
                             " ON n.oid = c.relnamespace WHERE n.nspname = 'dtx'"
                             " AND c.relname = 'one_phase')", 1, values, err, sizeof err))
        *values [0] = 0;
    if (!streq (values [0], "t")) {
        PGresult *result = PQexec (conn, s_schema_sql);
        bool installed = PQresultStatus (result) == PGRES_COMMAND_OK;
        const char *sqlstate;
        if (!installed)
            s_describe (result, conn, &sqlstate, err, sizeof err);
        PQclear (result);
        if (!installed) {
            snprintf (errbuf, errlen, "cannot create the one-phase marker table dtx.one_phase"
                      " in the database for participant %s (%s): run sql/dtx-participant.sql"
                      " there as a privileged user (psql -f), then start again", self->name, err);
            return -1;
        }
        zsys_info ("participant %s: created dtx.one_phase (sql/dtx-participant.sql)", self->name);
    }
    *err = 0;
    if (s_setup_query (conn, "SELECT has_schema_privilege ('dtx', 'USAGE')"
                             " AND has_table_privilege ('dtx.one_phase', 'SELECT')"
                             " AND has_table_privilege ('dtx.one_phase', 'INSERT')"
                             " AND has_table_privilege ('dtx.one_phase', 'DELETE')", 1, values,
                       err, sizeof err) || !streq (values [0], "t")) {
        snprintf (errbuf, errlen, "the database user of participant %s may not use"
                  " dtx.one_phase%s%s: grant it USAGE on schema dtx and SELECT, INSERT, DELETE"
                  " on dtx.one_phase (sql/dtx-participant.sql)", self->name, *err? ": ": "", err);
        return -1;
    }
    return 0;
}

dtx_participant_t *
dtx_participant_new (const dtx_participant_config_t *config, char *errbuf, size_t errlen)
{
    if (dtx_name_validate ("participant", config->name, errbuf, errlen))
        return NULL;
    if (!config->conninfo || !config->coordinator_endpoint) {
        snprintf (errbuf, errlen, "conninfo and coordinator endpoint are required");
        return NULL;
    }
    //  A password in the conninfo would show in ps and in logs
    char *parse_err = NULL;
    PQconninfoOption *options = PQconninfoParse (config->conninfo, &parse_err);
    if (!options) {
        snprintf (errbuf, errlen, "bad conninfo: %s", parse_err? parse_err: "out of memory");
        PQfreemem (parse_err);
        return NULL;
    }
    bool has_password = false;
    for (PQconninfoOption *option = options; option->keyword; option++)
        if (streq (option->keyword, "password") && option->val && *option->val)
            has_password = true;
    PQconninfoFree (options);
    if (has_password) {
        snprintf (errbuf, errlen, "conninfo must not contain a password: use PGPASSFILE"
                  " or PGPASSWORD in the environment");
        return NULL;
    }
    dtx_participant_t *self = (dtx_participant_t *) calloc (1, sizeof (dtx_participant_t));
    assert (self);
    self->config = *config;
    snprintf (self->name, sizeof self->name, "%s", config->name);
    self->conninfo = strdup (config->conninfo);
    self->sessions = zhashx_new ();
    self->in_doubt = zhashx_new ();
    self->status_pending = zlistx_new ();
    zlistx_set_destructor (self->status_pending, s_op_destroy);
    zhashx_set_destructor (self->in_doubt, (czmq_destructor *) zstr_free);
    self->scan_wanted = true;       //  at start: anything left from before?
    self->prepared = 0xFFFFFFFFu;
    self->idle = zlistx_new ();
    self->waiting = zlistx_new ();

    //  First connection, within the retry window
    int64_t give_up = dtx_clock_ms () + config->connect_window_ms;
    char err [512] = "";
    PGconn *conn = NULL;
    while (!conn) {
        conn = s_connect (self, err, sizeof err);
        if (conn || dtx_clock_ms () >= give_up || zsys_interrupted)
            break;
        zsys_info ("%s: database not reachable yet (%s), retrying", self->name, err);
        zclock_sleep (500);
    }
    if (!conn) {
        snprintf (errbuf, errlen, "database for participant %s unreachable after %d ms: %s",
                  self->name, config->connect_window_ms, err);
        dtx_participant_destroy (&self);
        return NULL;
    }
    PQexitPipelineMode (conn);
    PQsetnonblocking (conn, 0);
    PGresult *result = PQexec (conn, "SELECT current_setting('max_prepared_transactions')::int");
    int max_prepared = PQresultStatus (result) == PGRES_TUPLES_OK? atoi (PQgetvalue (result, 0, 0)): -1;
    PQclear (result);
    int rc = max_prepared > 0? s_database_setup (self, conn, errbuf, errlen): 0;
    PQsetnonblocking (conn, 1);
    PQenterPipelineMode (conn);
    zlistx_add_end (self->idle, conn);
    if (max_prepared <= 0) {
        snprintf (errbuf, errlen, max_prepared == 0
                  ? "database for participant %s has max_prepared_transactions = 0: it cannot"
                    " prepare transactions; set it above the number of concurrent transactions"
                    " and restart PostgreSQL"
                  : "cannot read max_prepared_transactions of the database for participant %s",
                  self->name);
        dtx_participant_destroy (&self);
        return NULL;
    }
    if (rc) {
        dtx_participant_destroy (&self);
        return NULL;
    }
    if (max_prepared < config->pool_max)
        //  Each pooled connection can hold a transaction that prepares
        zsys_warning ("participant %s: max_prepared_transactions = %d is below pool-max = %d:"
                      " beyond %d transactions preparing at once, PREPARE fails (\"maximum"
                      " number of prepared transactions reached\"); raise the setting to at"
                      " least %d or lower pool-max", self->name, max_prepared, config->pool_max,
                      max_prepared, config->pool_max);
    while (self->connections < config->pool_min) {
        PGconn *more = s_connect (self, err, sizeof err);
        if (!more)
            break;
        zlistx_add_end (self->idle, more);
    }
    self->coordinator = dtx_sock_new (ZMQ_DEALER, config->coordinator_endpoint);
    if (self->coordinator)
        zsock_set_rcvtimeo (self->coordinator, 0);     //  the loop reads until empty
    if (!self->coordinator) {
        snprintf (errbuf, errlen, "bad coordinator endpoint %s", config->coordinator_endpoint);
        dtx_participant_destroy (&self);
        return NULL;
    }
    self->next_marker_gc = dtx_clock_ms () + 2000;
    zsys_info ("participant %s: database %s ready (max_prepared_transactions=%d, pool %d..%d,"
               " marker retention %d s), coordinator %s", self->name, self->identity, max_prepared,
               self->connections, config->pool_max, config->marker_retention_s,
               config->coordinator_endpoint);
    return self;
}

void
dtx_participant_destroy (dtx_participant_t **self_p)
{
    assert (self_p);
    dtx_participant_t *self = *self_p;
    if (!self)
        return;
    if (self->sessions) {
        session_t *session;
        while ((session = (session_t *) zhashx_first (self->sessions)))
            s_session_end (self, session);
        zhashx_destroy (&self->sessions);
    }
    PGconn *conn;
    while (self->idle && (conn = (PGconn *) zlistx_detach (self->idle, NULL)))
        PQfinish (conn);
    zlistx_destroy (&self->idle);
    zlistx_destroy (&self->waiting);
    zhashx_destroy (&self->in_doubt);
    zlistx_destroy (&self->status_pending);
    zsock_destroy (&self->coordinator);
    free (self->conninfo);
    free (self);
    *self_p = NULL;
}

int
dtx_participant_run (dtx_participant_t *self, zsock_t *pipe)
{
    size_t capacity = 64;
    zmq_pollitem_t *items = (zmq_pollitem_t *) calloc (capacity, sizeof (zmq_pollitem_t));
    session_t **polled = (session_t **) calloc (capacity, sizeof (session_t *));
    int64_t started = dtx_clock_ms ();
    int64_t next_reap = started + 1000;
    bool coordinator_lost_logged = false;
    while (!self->terminated && !zsys_interrupted) {
        int64_t now = dtx_clock_ms ();
        if (now >= self->next_heartbeat) {
            s_send_register (self);
            self->next_heartbeat = now + self->config.heartbeat_ms;
            //  Silent since the last answer (or since we started)
            int64_t heard = self->last_register_ok? self->last_register_ok: started;
            if (now - heard > 5 * self->config.heartbeat_ms) {
                if (!coordinator_lost_logged)
                    zsys_warning ("%s: no answer from coordinator %s for %" PRId64 " ms; waiting"
                                  " (%zu prepared transaction(s) in doubt)", self->name,
                                  self->config.coordinator_endpoint, now - heard,
                                  zhashx_size (self->in_doubt));
                coordinator_lost_logged = true;
            }
            else
                coordinator_lost_logged = false;
        }
        dtx_logfile_check ();
        if (now >= next_reap) {
            s_reap_idle (self, now);
            s_status_tick (self);
            s_in_doubt_tick (self, now);
            s_marker_gc_tick (self, now);
            next_reap = now + 1000;
        }
        else
        if (self->scan_wanted)
            s_in_doubt_tick (self, now);
        //  Sessions waiting for a connection get one as they free up
        session_t *waiter = (session_t *) zlistx_first (self->waiting);
        if (waiter && zlistx_size (self->idle))
            s_session_advance (self, waiter);

        size_t count = zhashx_size (self->sessions) + 2;
        if (count > capacity) {
            while (capacity < count)
                capacity *= 2;
            items = (zmq_pollitem_t *) realloc (items, capacity * sizeof (zmq_pollitem_t));
            polled = (session_t **) realloc (polled, capacity * sizeof (session_t *));
        }
        size_t n = 0;
        items [n++] = (zmq_pollitem_t) { zsock_resolve (self->coordinator), 0, ZMQ_POLLIN, 0 };
        if (pipe)
            items [n++] = (zmq_pollitem_t) { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 };
        size_t first_session = n;
        session_t *session = (session_t *) zhashx_first (self->sessions);
        while (session) {
            if (session->running && session->conn) {
                polled [n] = session;
                items [n++] = (zmq_pollitem_t) { NULL, PQsocket (session->conn),
                    (short) (ZMQ_POLLIN | (session->want_write? ZMQ_POLLOUT: 0)), 0 };
            }
            session = (session_t *) zhashx_next (self->sessions);
        }
        int64_t wait = self->next_heartbeat - dtx_clock_ms ();
        if (wait < 0)
            wait = 0;
        if (zmq_poll (items, (int) n, wait) == -1 && errno != EINTR)
            break;
        //  PostgreSQL first: replies free connections for new work
        for (size_t i = first_session; i < n; i++)
            if (items [i].revents)
                s_session_io (self, polled [i], (items [i].revents & ZMQ_POLLOUT) != 0);
        for (int i = 0; i < 4096 && s_handle_coordinator (self); i++)
            ;
        if (pipe && (zsock_events (pipe) & ZMQ_POLLIN)) {
            char *command = zstr_recv (pipe);
            if (!command || streq (command, "$TERM"))
                self->terminated = true;
            zstr_free (&command);
        }
    }
    free (items);
    free (polled);
    zsys_info ("participant %s: stopping", self->name);
    return 0;
}

void
dtx_participant_actor (zsock_t *pipe, void *args)
{
    char err [512];
    dtx_participant_t *self = dtx_participant_new ((dtx_participant_config_t *) args, err, sizeof err);
    if (!self) {
        zsys_error ("participant: %s", err);
        zsock_signal (pipe, 1);
        return;
    }
    zsock_signal (pipe, 0);
    dtx_participant_run (self, pipe);
    dtx_participant_destroy (&self);
}
