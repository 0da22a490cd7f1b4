/*  =========================================================================
    dtx_participant_resolve - what became of a transaction

    NOTES

    Three questions, each answered from PostgreSQL, never guessed:

    *   A prepared transaction nobody drives here (found by the scan every
        10 s and after reconnecting): asked of the coordinator; only a
        definite answer acts.
    *   A one-phase COMMIT whose answer was lost with the connection: its
        gid's marker is read behind a fence until PostgreSQL can say.
    *   A one-phase transaction the coordinator lost track of (it
        restarted): the outcome probe reads the gid's marker.

    A one-phase commit (a transaction on this database only, no PREPARE,
    no coordinator log record) leaves its own record, in the database:

        1. [BEGIN, statement,] INSERT INTO dtx.one_phase (gid, true),
           COMMIT: one pipeline, one transaction
        2. DONE to the coordinator

    A crash (of this process, of PostgreSQL, of the connection) before
    the COMMIT completes: PostgreSQL rolls it all back, marker included.
    After it: data and marker are committed together.  So the marker says
    what happened, whatever was lost between 1 and 2.  A coordinator that
    lost track of the gid asks with OUTCOME_QUERY: the probe inserts (gid,
    false) unless a row exists, waiting for a marker insert in flight,
    then reads the row.  A COMMIT arriving after the probe fails on the
    primary key and rolls back, so the probe's answer is final.  Markers
    are deleted after marker_retention_s; a probe about an older gid
    answers UNKNOWN.
    =========================================================================
*/
#include "dtx_participant_classes.h"

//  The one-phase marker (sql/dtx-participant.sql).  A one-phase COMMIT
//  inserts its gid as committed in the same transaction; an outcome probe
//  inserts it as not committed if absent.  The primary key makes the two
//  exclusive, whichever comes first wins, and the probe's INSERT ... ON
//  CONFLICT waits for a marker insert still in flight: after the probe,
//  the one-phase COMMIT of that gid has either committed or never will.
//  The marker's INSERT also returns the xid, for a lost COMMIT answer, and
//  makes the COMMIT durable before it is acknowledged: with
//  synchronous_commit off (the server's setting, or a client's SET), a
//  PostgreSQL crash could lose a one-phase commit dtx had reported
//  committed.  (PREPARE TRANSACTION and COMMIT PREPARED flush anyway.)
#define SQL_MARKER_COMMITTED \
    "INSERT INTO dtx.one_phase (gid, committed) SELECT $1, true FROM (SELECT CASE" \
    " WHEN current_setting ('synchronous_commit') = 'off'" \
    " THEN set_config ('synchronous_commit', 'on', true) END) AS durable" \
    " RETURNING pg_current_xact_id ()::text"
#define SQL_MARKER_FENCE \
    "INSERT INTO dtx.one_phase (gid, committed) VALUES ($1, false)" \
    " ON CONFLICT (gid) DO NOTHING"
#define SQL_MARKER_READ \
    "SELECT committed, extract (epoch FROM now ())::bigint" \
    " FROM dtx.one_phase WHERE gid = $1"
#define SQL_MARKER_GC \
    "DELETE FROM dtx.one_phase WHERE at < now () - make_interval (secs => $1::int)"

//  --------------------------------------------------------------------------
//  In-doubt prepared transactions
//
//  Prepared transactions found in the database with no live session here
//  are asked of the coordinator (OUTCOME_QUERY), of every coordinator
//  when there are several: the shard's owner answers, the others say they
//  cannot (an ERROR, "not my shard", or UNKNOWN).  Only a definite answer
//  acts: committed -> COMMIT PREPARED, aborted -> ROLLBACK PREPARED.  "In
//  progress" means the coordinator is driving it; anything else from one
//  coordinator is no answer and stops nobody waiting for the others: ask
//  again.  Two definite answers cannot disagree (the store has one
//  decision per gid); if they ever did, nothing more is done and it is
//  said loudly.  Never decided here.

static void
s_in_doubt_ask (dtx_participant_t *self, in_doubt_t *entry)
{
    entry->asked = dtx_clock_ms ();
    entry->queries++;
    for (int link = 0; link < self->nlinks; link++) {
        dtx_proto_t *query = dtx_proto_new (DTX_PROTO_OUTCOME_QUERY);
        dtx_proto_set_seq (query, ++self->seq);
        dtx_proto_set_gid (query, entry->gid);
        part_send (self, link, &query);
    }
}

//  The scan's result: gids prepared in this database
void
part_in_doubt_found (dtx_participant_t *self, PGresult *result)
{
    int found = 0;
    self->prepared = (uint32_t) PQntuples (result);
    part_metrics_scanned (self, result);
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
                   " the coordinator%s", self->name, found, zhashx_size (self->in_doubt),
                   self->nlinks > 1? "s": "");
}

//  Ask about every in-doubt gid now, not at its next turn (a shard's
//  epoch rose: its new owner may answer what the old one could not)
void
part_in_doubt_ask_all (dtx_participant_t *self)
{
    in_doubt_t *entry = (in_doubt_t *) zhashx_first (self->in_doubt);
    while (entry) {
        if (!zhashx_lookup (self->sessions, entry->gid))
            s_in_doubt_ask (self, entry);
        entry = (in_doubt_t *) zhashx_next (self->in_doubt);
    }
}

//  Most resolved gids remembered, to see a late answer that contradicts
#define SETTLED_MAX 1024

//  The answers of the other coordinators may come after one acted and
//  the gid was resolved: what it became is kept a while (the last
//  SETTLED_MAX), so that a contradiction is still seen
static void
s_settled_keep (dtx_participant_t *self, const char *gid, int outcome)
{
    if (!self->settled) {
        self->settled = zhashx_new ();
        self->settled_order = zlistx_new ();
        zlistx_set_destructor (self->settled_order, (czmq_destructor *) zstr_free);
    }
    if (zhashx_lookup (self->settled, gid))
        return;
    if (zlistx_size (self->settled_order) >= SETTLED_MAX) {
        char *oldest = (char *) zlistx_first (self->settled_order);
        zhashx_delete (self->settled, oldest);
        zlistx_delete (self->settled_order, zlistx_cursor (self->settled_order));
    }
    zhashx_insert (self->settled, gid, (void *) (intptr_t) outcome);
    zlistx_add_end (self->settled_order, strdup (gid));
}

void
part_in_doubt_free (dtx_participant_t *self)
{
    zhashx_destroy (&self->settled);
    zlistx_destroy (&self->settled_order);
}

//  A phase-2 command for gid finished (from the coordinator or ours)
void
part_in_doubt_settle (dtx_participant_t *self, const char *gid, op_t *op, bool done, const char *text)
{
    if (done)
        part_metrics_prepared (self, gid, false);
    in_doubt_t *entry = (in_doubt_t *) zhashx_lookup (self->in_doubt, gid);
    if (!entry)
        return;
    if (done) {
        self->metrics.resolutions [op->kind == OP_COMMIT_PREPARED? PART_RESOLVED_COMMITTED
                                                                 : PART_RESOLVED_ROLLED_BACK]++;
        s_settled_keep (self, gid, op->kind == OP_COMMIT_PREPARED? DTX_COMMITTED: DTX_ABORTED);
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

//  A coordinator's answer about an in-doubt gid
void
part_in_doubt_answer (dtx_participant_t *self, int link, dtx_proto_t *msg)
{
    const char *gid = dtx_proto_gid (msg);
    in_doubt_t *entry = (in_doubt_t *) zhashx_lookup (self->in_doubt, gid);
    bool error = dtx_proto_id (msg) == DTX_PROTO_ERROR;
    int outcome = error? DTX_UNKNOWN: dtx_proto_status (msg);
    const char *from = part_link_name (self, link);
    if (!entry) {
        //  Resolved already (a late answer of another coordinator)?
        int settled = self->settled? (int) (intptr_t) zhashx_lookup (self->settled, gid): 0;
        if (settled && (outcome == DTX_COMMITTED || outcome == DTX_ABORTED) && outcome != settled)
            zsys_error ("%s: recovery: %s: coordinator %s says %s, but it was %s on another"
                        " coordinator's word: CONTRADICTING OUTCOMES; check every database and"
                        " the decision store (docs/recovery.md)", self->name, gid,
                        *from? from: "(the only one)", dtx_outcome_name ((dtx_outcome_t) outcome),
                        settled == DTX_COMMITTED? "committed": "rolled back");
        return;
    }
    snprintf (entry->last_answer, sizeof entry->last_answer, "%s%s%s %s", *from? from: "",
              *from? ": ": "", error? "error:": dtx_outcome_name ((dtx_outcome_t) outcome),
              dtx_proto_text (msg));
    if (outcome != DTX_COMMITTED && outcome != DTX_ABORTED) {
        //  No answer: one coordinator's, which is not the others'
        self->metrics.resolutions [PART_RESOLVED_UNKNOWN]++;
        if (error && self->nlinks == 1)
            zsys_warning ("%s: recovery: coordinator cannot resolve %s: %s; it stays prepared"
                          " (see docs/recovery.md)", self->name, gid, dtx_proto_text (msg));
        else
        if (error && link >= 0 && link < 32 && !(entry->warned & (1u << link))) {
            //  Expected from coordinators of other shards: once per link
            entry->warned |= 1u << link;
            zsys_warning ("%s: recovery: coordinator %s cannot resolve %s: %s; asking the"
                          " others too", self->name, from, gid, dtx_proto_text (msg));
        }
        return;         //  asked again later
    }
    if (entry->contradicted) {
        zsys_error ("%s: recovery: %s: the coordinators' outcomes contradicted each other"
                    " (logged before); nothing is done for it: decide by hand", self->name, gid);
        return;
    }
    if (entry->acted && entry->acted != outcome) {
        //  The store keeps one decision per gid: this cannot happen.  If it
        //  does, neither answer can be trusted: do nothing more, loudly
        entry->contradicted = true;
        zsys_error ("%s: recovery: %s: coordinator %s says %s, but another coordinator said %s"
                    " and that was acted on: CONTRADICTING OUTCOMES, nothing more is done for"
                    " it; check every database and the decision store, decide by hand"
                    " (docs/recovery.md)", self->name, gid, *from? from: "(the only one)",
                    dtx_outcome_name ((dtx_outcome_t) outcome),
                    dtx_outcome_name ((dtx_outcome_t) entry->acted));
        return;
    }
    if (zhashx_lookup (self->sessions, gid))
        return;         //  something is already working on it
    entry->acted = outcome;
    session_t *session = part_session_new (self, gid);
    op_t *op = part_session_enqueue (session, outcome == DTX_COMMITTED? OP_COMMIT_PREPARED: OP_ROLLBACK,
                                     NULL, -1);
    op->resolving = true;
    session->prepared = true;
    part_session_advance (self, session);
}

void
part_in_doubt_tick (dtx_participant_t *self, int64_t now)
{
    if (self->scan_wanted || now >= self->next_scan) {
        self->scan_wanted = false;
        //  Every 10 s: it is cheap, and the count feeds the metrics
        self->next_scan = now + 10000;
        if (!zhashx_lookup (self->sessions, "")) {
            session_t *scan = part_session_new (self, "");
            self->metrics.scan_at = now;
            part_session_enqueue (scan, OP_RECOVER_SCAN, NULL, -1);
            part_session_advance (self, scan);
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
//  Lost one-phase COMMITs: keep the request (its reply is owed), and read
//  the gid's marker behind a fence each second until PostgreSQL can say

void
part_status_later (dtx_participant_t *self, op_t *op)
{
    op_t *pending = (op_t *) calloc (1, sizeof (op_t));
    assert (pending);
    pending->kind = OP_XACT_STATUS;
    pending->request = op->request;
    op->request = NULL;             //  the reply is now owed by the pending op
    snprintf (pending->xid, sizeof pending->xid, "%s", op->xid);
    pending->link = op->link;       //  answered where it was asked
    zlistx_add_end (self->status_pending, pending);
}

//  Each second: one lookup per pending xid
void
part_status_tick (dtx_participant_t *self)
{
    op_t *pending;
    size_t count = zlistx_size (self->status_pending);
    while (count-- && (pending = (op_t *) zlistx_detach (self->status_pending, NULL))) {
        char key [DTX_GID_MAX + 2];
        snprintf (key, sizeof key, "?%s", dtx_proto_gid (pending->request));
        session_t *session = (session_t *) zhashx_lookup (self->sessions, key);
        if (!session)
            session = part_session_new (self, key);
        zlistx_add_end (session->ops, pending);
        part_session_advance (self, session);
    }
}

//  --------------------------------------------------------------------------
//  The one-phase marker: install, commit, probe, garbage collection

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

//  At start (part_pool_setup): create the marker table if it is missing,
//  and check that this user may use it
int
part_marker_install (dtx_participant_t *self, PGconn *conn, char *errbuf, size_t errlen)
{
    char values [1][128], err [512];
    //  (from the catalog: to_regclass would need USAGE on the schema)
    if (part_setup_query (conn, "SELECT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n"
                                " ON n.oid = c.relnamespace WHERE n.nspname = 'dtx'"
                                " AND c.relname = 'one_phase')", 1, values, err, sizeof err))
        *values [0] = 0;
    if (!streq (values [0], "t")) {
        PGresult *result = PQexec (conn, s_schema_sql);
        bool installed = PQresultStatus (result) == PGRES_COMMAND_OK;
        const char *sqlstate;
        if (!installed)
            part_describe (result, conn, &sqlstate, err, sizeof err);
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
    if (part_setup_query (conn, "SELECT has_schema_privilege ('dtx', 'USAGE')"
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

//  The marker of a one-phase COMMIT, into the op's pipeline, before COMMIT
int
part_marker_send (session_t *session)
{
    const char *params [] = { session->gid };
    return part_session_send (session, SQL_MARKER_COMMITTED, 1, params);
}


//  The answer to the coordinator's one-phase probe (OUTCOME_QUERY)
//  (errcode: why it is no answer; 0 for a definite one, and for one beyond
//  the marker retention)
static void
s_reply_probe (dtx_participant_t *self, op_t *op, dtx_outcome_t outcome, int errcode,
               const char *text)
{
    dtx_proto_t *reply = part_reply_new (DTX_PROTO_OUTCOME, op, dtx_proto_gid (op->request));
    dtx_proto_set_status (reply, (uint8_t) outcome);
    dtx_proto_set_flags (reply, (uint8_t) errcode);
    dtx_proto_set_name (reply, self->name);
    dtx_proto_set_text (reply, text);
    part_send (self, op->link, &reply);
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

//  About every minute (and soon after start): delete the one-phase markers
//  older than the retention.  A probe for a gid that old answers UNKNOWN
void
part_marker_gc_tick (dtx_participant_t *self, int64_t now)
{
    if (now < self->next_marker_gc)
        return;
    self->next_marker_gc = now + 60000;
    if (!zhashx_lookup (self->sessions, "%gc")) {
        session_t *session = part_session_new (self, "%gc");
        part_session_enqueue (session, OP_MARKER_GC, NULL, -1);
        part_session_advance (self, session);
    }
}

//  --------------------------------------------------------------------------
//  The ops of resolution, started, failed and completed for the session
//  engine

int
part_resolve_start (dtx_participant_t *self, session_t *session, op_t *op)
{
    switch (op->kind) {
        case OP_RECOVER_SCAN:
            return part_session_send (session, "SELECT gid FROM pg_prepared_xacts"
                                      " WHERE gid LIKE 'dtx:%' AND database = current_database()",
                                      0, NULL);
        case OP_XACT_STATUS: {
            //  Fence and read the gid's marker, as a probe does: exact.
            //  (pg_xact_status on the xid was not: after a crash, an xid
            //  whose assignment never reached the WAL is handed out again,
            //  and its status is then another transaction's.)
            const char *params [] = { session->gid + 1 };
            if (part_session_send (session, SQL_MARKER_FENCE, 1, params))
                return -1;
            return part_session_send (session, SQL_MARKER_READ, 1, params);
        }
        case OP_PROBE: {
            //  Fence, then read: one pipeline, one implicit transaction
            const char *params [] = { dtx_proto_gid (op->request) };
            if (part_session_send (session, SQL_MARKER_FENCE, 1, params))
                return -1;
            return part_session_send (session, SQL_MARKER_READ, 1, params);
        }
        case OP_MARKER_GC: {
            char seconds [16];
            snprintf (seconds, sizeof seconds, "%d", self->config.marker_retention_s);
            const char *params [] = { seconds };
            return part_session_send (session, SQL_MARKER_GC, 1, params);
        }
        default:
            assert (false);
            return -1;
    }
}

void
part_resolve_fail (dtx_participant_t *self, session_t *session, op_t *op,
                   const char *sqlstate, const char *text)
{
    switch (op->kind) {
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
            part_status_later (self, op);
            break;
        default:
            break;          //  the scan and the GC run again by themselves
    }
}

//  result: the op's first query's (NULL if the connection broke); ok,
//  sqlstate and text describe it
void
part_resolve_complete (dtx_participant_t *self, session_t *session, op_t *op, PGresult *result,
                       bool ok, const char *sqlstate, const char *text)
{
    switch (op->kind) {
        case OP_XACT_STATUS: {
            //  result is the fence's; the marker's read follows it
            PGresult *read = ok? session->results [1]: NULL;
            const char *committed = read && PQresultStatus (read) == PGRES_TUPLES_OK
                                 && PQntuples (read) == 1 && !PQgetisnull (read, 0, 0)
                                  ? PQgetvalue (read, 0, 0): "";
            if (streq (committed, "t"))
                part_reply_error (self, op, session->gid + 1, DTX_PROTO_DONE, DTX_DONE_OK, "", "");
            else
            if (streq (committed, "f"))
                part_reply_error (self, op, session->gid + 1, DTX_PROTO_DONE, DTX_DONE_FAILED, "40000",
                                  "connection lost during COMMIT; it did not commit (no one-phase"
                                  " marker; the gid is fenced)");
            else
                part_status_later (self, op);   //  not reachable: ask again
            if (*committed)
                zsys_info ("%s: %s: after the lost COMMIT answer its marker says %s", self->name,
                           session->gid + 1, streq (committed, "t")? "committed": "not committed");
            return;
        }
        case OP_RECOVER_SCAN:
            if (ok)
                part_in_doubt_found (self, result);
            else
                zsys_warning ("%s: cannot list prepared transactions: %s", self->name, text);
            return;
        case OP_PROBE: {
            //  result is the fence's; the read follows it
            PGresult *read = ok? session->results [1]: NULL;
            if (read && PQresultStatus (read) == PGRES_TUPLES_OK)
                s_probe_answer (self, op, read);
            else
            if (!ok)
                part_resolve_fail (self, session, op, sqlstate, text);
            else {
                const char *read_sqlstate;
                char read_text [1024];
                part_describe (read, session->conn, &read_sqlstate, read_text, sizeof read_text);
                part_resolve_fail (self, session, op, read_sqlstate, read_text);
            }
            return;
        }
        case OP_MARKER_GC:
            if (!ok)
                zsys_warning ("%s: cannot delete old one-phase markers: %s", self->name, text);
            else
            if (atol (PQcmdTuples (result)) > 0)
                zsys_info ("%s: deleted %s one-phase marker(s) older than %d s", self->name,
                           PQcmdTuples (result), self->config.marker_retention_s);
            return;
        default:
            assert (false);
    }
}
