/*  =========================================================================
    dtx_pgstore - the decision store in PostgreSQL (see dtx_pgstore.h)

    NOTES

    Fencing.  A decision write is one statement (group commit):

        WITH fence AS (SELECT ... FROM dtx_store.shard
                        WHERE shard = $1 AND epoch = $2 AND owner = $3 FOR SHARE),
             ins AS (INSERT ... SELECT ... FROM fence, unnest (...)
                     ON CONFLICT (gid) DO NOTHING) ...

    FOR SHARE conflicts with the UPDATE a takeover makes, so the two
    serialize on the shard's row.  If the takeover committed first, the
    fence's row is re-read (READ COMMITTED re-checks a locked row that
    changed), no longer matches, and nothing is inserted: FENCED.  If the
    write holds the lock first, the takeover waits for its commit, and the
    new owner's read after its own commit sees the decisions.  So no
    decision of epoch E is ever written after E was closed.

    Unknown outcomes.  The write is durable only when its COMMIT came back
    clean.  A broken connection, a timeout (we cancel and drop the
    connection), or any WARNING during the statement (PostgreSQL's
    "canceling wait for synchronous replication ... The transaction has
    already committed locally, but might not have been replicated to the
    standby") is UNKNOWN: the batch is kept and written again on a new
    connection (to whichever node is primary by then).  The repeat is
    idempotent (ON CONFLICT DO NOTHING; the fence still holds only if the
    epoch is still ours), and its own clean commit covers the first: WAL
    is replicated in order, so when the repeat's commit record is on the
    standby, so is anything the first wrote.  A repeat that is FENCED is
    exact too: the first write either landed before the takeover (then
    the new owner drives it) or not at all.

    A statement refused before its commit (a SQL error) wrote nothing:
    ERROR, exact.
    =========================================================================
*/
#include "dtx_pgstore.h"
#include "dtx_util.h"
#include <libpq-fe.h>
#include <poll.h>
#include <inttypes.h>

//  sql/dtx-store.sql, byte for byte (test_pgstore checks)
static const char *s_schema =
    "-- dtx-store.sql: the coordinators' decision store in PostgreSQL (docs/ha.md)\n"
    "--\n"
    "-- For several coordinators over one replicated database (PostgreSQL under\n"
    "-- Patroni, synchronous replication).  A shard is the <coordinator-id> of a\n"
    "-- gid; its owner holds a lease and writes decisions conditioned on the\n"
    "-- shard's current epoch (the fencing token), in the same statement.\n"
    "--   * dtx_store.shard: one row per shard: its epoch, owner and lease, and\n"
    "--     the watermark below which ended decisions may have been pruned.\n"
    "--   * dtx_store.epoch: when each epoch of a shard began.\n"
    "--   * dtx_store.served: the participants that served an epoch (a\n"
    "--     one-database gid of a closed epoch is asked of them).\n"
    "--   * dtx_store.decision: COMMIT decisions, with the client key that began\n"
    "--     the transaction; ended once every participant acknowledged phase 2.\n"
    "--\n"
    "-- The coordinator creates this at start if it is missing.  If its database\n"
    "-- user may not, run this file once as a privileged user:\n"
    "--     psql -d DBNAME -f dtx-store.sql\n"
    "-- and grant the coordinators' user USAGE on schema dtx_store and SELECT,\n"
    "-- INSERT, UPDATE, DELETE on its tables.\n"
    "CREATE SCHEMA IF NOT EXISTS dtx_store;\n"
    "CREATE TABLE IF NOT EXISTS dtx_store.shard (\n"
    "    shard text PRIMARY KEY,\n"
    "    epoch bigint NOT NULL,\n"
    "    owner text NOT NULL,\n"
    "    lease_until timestamptz NOT NULL,\n"
    "    forgotten_epoch bigint NOT NULL DEFAULT 0,\n"
    "    forgotten_counter bigint NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS dtx_store.epoch (\n"
    "    shard text NOT NULL,\n"
    "    epoch bigint NOT NULL,\n"
    "    owner text NOT NULL,\n"
    "    began timestamptz NOT NULL DEFAULT now (),\n"
    "    PRIMARY KEY (shard, epoch)\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS dtx_store.served (\n"
    "    shard text NOT NULL,\n"
    "    epoch bigint NOT NULL,\n"
    "    participant text NOT NULL,\n"
    "    identity text NOT NULL,\n"
    "    PRIMARY KEY (shard, epoch, participant)\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS dtx_store.decision (\n"
    "    gid text PRIMARY KEY,\n"
    "    shard text NOT NULL,\n"
    "    epoch bigint NOT NULL,\n"
    "    participants text[] NOT NULL,\n"
    "    owner_key text NOT NULL DEFAULT '',\n"
    "    decided_at timestamptz NOT NULL DEFAULT now (),\n"
    "    ended boolean NOT NULL DEFAULT false\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS decision_unended ON dtx_store.decision (shard) WHERE NOT ended;\n";

const char *
dtx_pgstore_schema (void)
{
    return s_schema;
}

//  A text[] literal being built: {"a","b"}
typedef struct {
    char *data;
    size_t used, size;
    size_t count;
} array_t;

struct _dtx_pgstore_t {
    char *conninfo;
    char *instance;
    int timeout_ms;
    PGconn *conn;
    bool warned;                    //  a WARNING came during the statement
    bool unreplicated;
    char error [1024];
    PGresult *last;                 //  the result decisions point into
    char lookup_owner [256];        //  the shard's owner, as the last lookup read it
    bool lookup_leased;             //  ... and its lease not expired by the store's clock
    uint64_t lookup_forgotten_epoch, lookup_forgotten_counter;     //  ... its watermark
    zhashx_t *decided;              //  a FENCED write's gids whose decision exists ...
    bool decided_exact;             //  ... read back cleanly (else nothing is known)
    //  The batch
    array_t gids, parts, owners, ends, served_names, served_identities;
};

const char *
dtx_pgstore_result_name (dtx_pgstore_result_t result)
{
    switch (result) {
        case DTX_PGSTORE_OK:      return "ok";
        case DTX_PGSTORE_FENCED:  return "fenced";
        case DTX_PGSTORE_BUSY:    return "busy";
        case DTX_PGSTORE_UNKNOWN: return "unknown";
        case DTX_PGSTORE_ERROR:   return "error";
    }
    return "?";
}

static void
s_array_add (array_t *array, const char *value)
{
    size_t need = 2 * strlen (value) + 4;
    if (array->used + need + 2 > array->size) {
        array->size = (array->used + need + 2) * 2;
        array->data = (char *) realloc (array->data, array->size);
        assert (array->data);
    }
    if (array->used == 0)
        array->data [array->used++] = '{';
    else
        array->data [array->used - 1] = ',';        //  over the closing brace
    array->data [array->used++] = '"';
    for (const char *c = value; *c; c++) {
        if (*c == '"' || *c == '\\')
            array->data [array->used++] = '\\';
        array->data [array->used++] = *c;
    }
    array->data [array->used++] = '"';
    array->data [array->used++] = '}';
    array->data [array->used] = 0;
    array->count++;
}

static const char *
s_array_text (array_t *array)
{
    return array->count? array->data: "{}";
}

static void
s_array_reset (array_t *array)
{
    array->used = 0;
    array->count = 0;
}

static void
s_notice (void *arg, const PGresult *result)
{
    dtx_pgstore_t *self = (dtx_pgstore_t *) arg;
    const char *severity = PQresultErrorField (result, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity && (streq (severity, "WARNING") || streq (severity, "ERROR")
                 ||  streq (severity, "FATAL") || streq (severity, "PANIC"))) {
        self->warned = true;
        snprintf (self->error, sizeof self->error, "%s", PQresultErrorMessage (result));
        size_t len = strlen (self->error);
        while (len && (self->error [len - 1] == '\n' || self->error [len - 1] == ' '))
            self->error [--len] = 0;
    }
}

static void
s_disconnect (dtx_pgstore_t *self)
{
    PQclear (self->last);
    self->last = NULL;
    if (self->conn)
        PQfinish (self->conn);
    self->conn = NULL;
}

//  Wait until the socket is ready for events, at most until deadline
static bool
s_wait (PGconn *conn, short events, int64_t deadline)
{
    int64_t left = deadline - dtx_clock_ms ();
    if (left <= 0)
        return false;
    struct pollfd item = { PQsocket (conn), events, 0 };
    return poll (&item, 1, (int) (left > INT32_MAX? INT32_MAX: left)) > 0;
}

static int
s_connect (dtx_pgstore_t *self)
{
    if (self->conn && PQstatus (self->conn) == CONNECTION_OK)
        return 0;
    s_disconnect (self);
    int64_t deadline = dtx_clock_ms () + self->timeout_ms;
    //  Every session: commits wait for the synchronous standby; a
    //  statement we gave up on does not live on (the server cancels it)
    char options [128];
    snprintf (options, sizeof options, "-c synchronous_commit=on -c statement_timeout=%d",
              self->timeout_ms + 1000);
    const char *keywords [] = { "dbname", "options", "application_name", NULL };
    const char *values [] = { self->conninfo, options, "dtx-coordinator", NULL };
    self->conn = PQconnectStartParams (keywords, values, 1);
    if (!self->conn || PQstatus (self->conn) == CONNECTION_BAD) {
        snprintf (self->error, sizeof self->error, "decision store: cannot connect: %s",
                  self->conn? PQerrorMessage (self->conn): "out of memory");
        s_disconnect (self);
        return -1;
    }
    PostgresPollingStatusType status = PGRES_POLLING_WRITING;
    while (status != PGRES_POLLING_OK) {
        if (status == PGRES_POLLING_FAILED) {
            snprintf (self->error, sizeof self->error, "decision store: cannot connect: %s",
                      PQerrorMessage (self->conn));
            s_disconnect (self);
            return -1;
        }
        if (!s_wait (self->conn, status == PGRES_POLLING_READING? POLLIN: POLLOUT, deadline)) {
            snprintf (self->error, sizeof self->error, "decision store: no connection within %d ms",
                      self->timeout_ms);
            s_disconnect (self);
            return -1;
        }
        status = PQconnectPoll (self->conn);
    }
    PQsetNoticeReceiver (self->conn, s_notice, self);
    if (PQsetnonblocking (self->conn, 1)) {
        s_disconnect (self);
        return -1;
    }
    return 0;
}

//  Run one statement (several, without parameters) and keep its last
//  result in self->last.  Returns OK, ERROR (refused: nothing done) or
//  UNKNOWN (connection broke, timeout, a warning: dropped connection).
static dtx_pgstore_result_t
s_exec (dtx_pgstore_t *self, const char *sql, int nparams, const char *const *params)
{
    PQclear (self->last);
    self->last = NULL;
    if (s_connect (self))
        return DTX_PGSTORE_UNKNOWN;
    if (!sql)
        return DTX_PGSTORE_OK;          //  (only connect)
    self->warned = false;
    int64_t deadline = dtx_clock_ms () + self->timeout_ms;
    int sent = nparams > 0 || params
             ? PQsendQueryParams (self->conn, sql, nparams, NULL, params, NULL, NULL, 0)
             : PQsendQuery (self->conn, sql);
    if (!sent) {
        snprintf (self->error, sizeof self->error, "decision store: %s", PQerrorMessage (self->conn));
        s_disconnect (self);
        return DTX_PGSTORE_UNKNOWN;
    }
    //  Flush, then read until the last result
    int flushed;
    while ((flushed = PQflush (self->conn)) == 1)
        if (!s_wait (self->conn, POLLOUT | POLLIN, deadline))
            break;
    dtx_pgstore_result_t rc = DTX_PGSTORE_OK;
    bool done = false;
    while (flushed == 0 && !done) {
        if (!PQconsumeInput (self->conn))
            break;
        while (!PQisBusy (self->conn)) {
            PGresult *result = PQgetResult (self->conn);
            if (!result) {
                done = true;
                break;
            }
            ExecStatusType status = PQresultStatus (result);
            if (status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE
            ||  status == PGRES_NONFATAL_ERROR) {
                snprintf (self->error, sizeof self->error, "decision store: %s",
                          PQresultErrorMessage (result));
                rc = DTX_PGSTORE_ERROR;
            }
            //  (several statements: the last rows are the answer, not the
            //  COMMIT after them; an error is kept whatever came before)
            if (rc != DTX_PGSTORE_ERROR && status == PGRES_COMMAND_OK && self->last
            &&  PQresultStatus (self->last) == PGRES_TUPLES_OK)
                PQclear (result);
            else {
                PQclear (self->last);
                self->last = result;
            }
        }
        if (!done && !s_wait (self->conn, POLLIN, deadline))
            break;
    }
    if (!done) {
        //  Timeout or broken connection: the statement may still commit
        if (PQstatus (self->conn) == CONNECTION_OK)
            snprintf (self->error, sizeof self->error, "decision store: no answer within %d ms",
                      self->timeout_ms);
        else
            snprintf (self->error, sizeof self->error, "decision store: connection lost: %s",
                      PQerrorMessage (self->conn));
        s_disconnect (self);
        return DTX_PGSTORE_UNKNOWN;
    }
    if (PQstatus (self->conn) != CONNECTION_OK) {
        s_disconnect (self);
        return DTX_PGSTORE_UNKNOWN;
    }
    if (PQtransactionStatus (self->conn) != PQTRANS_IDLE) {
        //  A failed statement inside BEGIN ... COMMIT left the block open:
        //  start clean (nothing of it was committed)
        s_disconnect (self);
        return rc == DTX_PGSTORE_OK? DTX_PGSTORE_UNKNOWN: rc;
    }
    if (self->warned && rc == DTX_PGSTORE_OK) {
        //  e.g. committed locally, might not have been replicated
        s_disconnect (self);
        return DTX_PGSTORE_UNKNOWN;
    }
    if (rc == DTX_PGSTORE_ERROR) {
        //  A connection-level failure reported as a result is not a
        //  refusal: the server may be gone mid-commit
        const char *state = self->last? PQresultErrorField (self->last, PG_DIAG_SQLSTATE): NULL;
        if (!state || strncmp (state, "08", 2) == 0 || strncmp (state, "57", 2) == 0
        ||  strncmp (state, "58", 2) == 0 || streq (state, "40001") || streq (state, "40P01")) {
            //  (connection, operator intervention, system errors: unknown;
            //  serialization and deadlock: nothing done, but worth a retry)
            bool retry = state && (streq (state, "40001") || streq (state, "40P01"));
            s_disconnect (self);
            return retry? DTX_PGSTORE_ERROR: DTX_PGSTORE_UNKNOWN;
        }
    }
    return rc;
}

dtx_pgstore_t *
dtx_pgstore_new (const char *conninfo, const char *instance, int timeout_ms,
                 char *errbuf, size_t errlen)
{
    assert (conninfo && instance);
    dtx_pgstore_t *self = (dtx_pgstore_t *) calloc (1, sizeof (dtx_pgstore_t));
    assert (self);
    self->conninfo = strdup (conninfo);
    self->instance = strdup (instance);
    self->timeout_ms = timeout_ms > 0? timeout_ms: 5000;
    self->decided = zhashx_new ();
    dtx_pgstore_result_t rc = s_exec (self, NULL, 0, NULL);
    if (rc == DTX_PGSTORE_OK)
        rc = s_exec (self, s_schema, 0, NULL);
    if (rc == DTX_PGSTORE_OK)
        rc = s_exec (self, "SELECT current_setting ('synchronous_standby_names')", 0, NULL);
    if (rc != DTX_PGSTORE_OK) {
        snprintf (errbuf, errlen, "%s", self->error);
        dtx_pgstore_destroy (&self);
        return NULL;
    }
    self->unreplicated = PQntuples (self->last) != 1 || !*PQgetvalue (self->last, 0, 0);
    return self;
}

void
dtx_pgstore_destroy (dtx_pgstore_t **self_p)
{
    assert (self_p);
    dtx_pgstore_t *self = *self_p;
    if (self) {
        s_disconnect (self);
        zhashx_destroy (&self->decided);
        free (self->conninfo);
        free (self->instance);
        array_t *arrays [] = { &self->gids, &self->parts, &self->owners, &self->ends,
                               &self->served_names, &self->served_identities };
        for (size_t i = 0; i < sizeof arrays / sizeof arrays [0]; i++)
            free (arrays [i]->data);
        free (self);
        *self_p = NULL;
    }
}

const char *
dtx_pgstore_error (dtx_pgstore_t *self)
{
    return self->error;
}

bool
dtx_pgstore_unreplicated (dtx_pgstore_t *self)
{
    return self->unreplicated;
}

dtx_pgstore_result_t
dtx_pgstore_take (dtx_pgstore_t *self, const char *shard, int lease_ms, uint64_t *epoch_p,
                  const char **holder, int64_t *remaining_ms)
{
    char lease [32];
    snprintf (lease, sizeof lease, "%d", lease_ms);
    const char *params [] = { shard, self->instance, lease };
    dtx_pgstore_result_t rc = s_exec (self,
        "WITH taken AS ("
        "  INSERT INTO dtx_store.shard AS s (shard, epoch, owner, lease_until)"
        "  VALUES ($1, 1, $2, clock_timestamp () + $3::int * interval '1 millisecond')"
        "  ON CONFLICT (shard) DO UPDATE"
        "     SET epoch = s.epoch + 1, owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until"
        "   WHERE s.owner = EXCLUDED.owner OR s.lease_until < clock_timestamp ()"
        "  RETURNING shard, epoch, owner)"
        " INSERT INTO dtx_store.epoch (shard, epoch, owner)"
        " SELECT shard, epoch, owner FROM taken RETURNING epoch", 3, params);
    if (rc != DTX_PGSTORE_OK)
        return rc;
    if (PQntuples (self->last) == 1) {
        *epoch_p = strtoull (PQgetvalue (self->last, 0, 0), NULL, 10);
        return DTX_PGSTORE_OK;
    }
    const char *who [] = { shard };
    rc = s_exec (self, "SELECT owner, (extract (epoch FROM lease_until - clock_timestamp ())"
                       " * 1000)::bigint FROM dtx_store.shard WHERE shard = $1", 1, who);
    if (rc != DTX_PGSTORE_OK)
        return rc;
    if (PQntuples (self->last) == 1) {
        if (holder)
            *holder = PQgetvalue (self->last, 0, 0);
        if (remaining_ms)
            *remaining_ms = strtoll (PQgetvalue (self->last, 0, 1), NULL, 10);
        snprintf (self->error, sizeof self->error, "shard %s is held by %s for another %s ms",
                  shard, PQgetvalue (self->last, 0, 0), PQgetvalue (self->last, 0, 1));
    }
    return DTX_PGSTORE_BUSY;
}

dtx_pgstore_result_t
dtx_pgstore_renew (dtx_pgstore_t *self, const char *shard, uint64_t epoch, int lease_ms)
{
    char epoch_text [24], lease [32];
    snprintf (epoch_text, sizeof epoch_text, "%" PRIu64, epoch);
    snprintf (lease, sizeof lease, "%d", lease_ms);
    const char *params [] = { shard, epoch_text, self->instance, lease };
    dtx_pgstore_result_t rc = s_exec (self,
        "UPDATE dtx_store.shard SET lease_until = clock_timestamp () + $4::int * interval '1 millisecond'"
        " WHERE shard = $1 AND epoch = $2::bigint AND owner = $3 RETURNING epoch", 4, params);
    if (rc == DTX_PGSTORE_OK && PQntuples (self->last) != 1) {
        snprintf (self->error, sizeof self->error, "shard %s epoch %" PRIu64 " is no longer ours",
                  shard, epoch);
        return DTX_PGSTORE_FENCED;
    }
    return rc;
}

int
dtx_pgstore_add_decision (dtx_pgstore_t *self, const char *gid, size_t nparticipants,
                          const char *const *participants, const char *owner_key)
{
    char names [256 * 257] = "";
    size_t used = 0;
    for (size_t i = 0; i < nparticipants; i++) {
        if (strchr (participants [i], ',') || strlen (participants [i]) > 255)
            return -1;
        used += snprintf (names + used, sizeof names - used, "%s%s", i? ",": "", participants [i]);
    }
    s_array_add (&self->gids, gid);
    s_array_add (&self->parts, names);
    s_array_add (&self->owners, owner_key? owner_key: "");
    return 0;
}

void
dtx_pgstore_add_end (dtx_pgstore_t *self, const char *gid)
{
    s_array_add (&self->ends, gid);
}

void
dtx_pgstore_add_served (dtx_pgstore_t *self, const char *participant, const char *identity)
{
    s_array_add (&self->served_names, participant);
    s_array_add (&self->served_identities, identity? identity: "");
}

size_t
dtx_pgstore_pending (dtx_pgstore_t *self)
{
    return self->gids.count + self->ends.count + self->served_names.count;
}

static void
s_batch_reset (dtx_pgstore_t *self)
{
    s_array_reset (&self->gids);
    s_array_reset (&self->parts);
    s_array_reset (&self->owners);
    s_array_reset (&self->ends);
    s_array_reset (&self->served_names);
    s_array_reset (&self->served_identities);
}

dtx_pgstore_result_t
dtx_pgstore_write (dtx_pgstore_t *self, const char *shard, uint64_t epoch)
{
    if (dtx_pgstore_pending (self) == 0)
        return DTX_PGSTORE_OK;
    char epoch_text [24];
    snprintf (epoch_text, sizeof epoch_text, "%" PRIu64, epoch);
    const char *params [] = {
        shard, epoch_text, self->instance,
        s_array_text (&self->gids), s_array_text (&self->parts), s_array_text (&self->owners),
        s_array_text (&self->ends),
        s_array_text (&self->served_names), s_array_text (&self->served_identities)
    };
    //  (NOTES: the fence, and what a FENCED write means)
    dtx_pgstore_result_t rc = s_exec (self,
        "WITH locked AS ("
        "  SELECT shard, epoch, owner FROM dtx_store.shard WHERE shard = $1 FOR SHARE),"
        " fence AS ("
        "  SELECT shard, epoch FROM locked WHERE epoch = $2::bigint AND owner = $3),"
        " decided AS ("
        "  INSERT INTO dtx_store.decision (gid, shard, epoch, participants, owner_key)"
        "  SELECT d.gid, fence.shard, fence.epoch, string_to_array (d.parts, ','), d.owner_key"
        "    FROM fence, unnest ($4::text[], $5::text[], $6::text[]) AS d (gid, parts, owner_key)"
        "  ON CONFLICT (gid) DO NOTHING RETURNING gid),"
        " served AS ("
        "  INSERT INTO dtx_store.served (shard, epoch, participant, identity)"
        "  SELECT fence.shard, fence.epoch, s.name, s.identity"
        "    FROM fence, unnest ($8::text[], $9::text[]) AS s (name, identity)"
        "  ON CONFLICT DO NOTHING RETURNING participant),"
        " ended AS ("
        "  UPDATE dtx_store.decision SET ended = true"
        "   WHERE gid = ANY ($7::text[]) AND NOT ended RETURNING gid)"
        " SELECT (SELECT count (*) FROM fence), (SELECT count (*) FROM locked),"
        "        (SELECT count (*) FROM decided), (SELECT count (*) FROM served),"
        "        (SELECT count (*) FROM ended)", 9, params);
    if (rc == DTX_PGSTORE_UNKNOWN || rc == DTX_PGSTORE_ERROR)
        return rc;              //  kept for the repeat (ERROR: nothing was written)
    zhashx_purge (self->decided);
    self->decided_exact = false;
    if (rc == DTX_PGSTORE_OK && atoi (PQgetvalue (self->last, 0, 0)) != 1) {
        //  Fenced.  Which of the batch's decisions exist (an earlier,
        //  UNKNOWN attempt of this write may have landed before the
        //  takeover): those are committed, the new owner drives them; the
        //  rest can never be decided.  Read in a statement of its own: the
        //  fenced one kept the snapshot it started with, which may predate
        //  the commit of an earlier attempt that held the row lock.  The
        //  read locks the shard's row, so its clean commit means what it
        //  saw is on the standby too.
        snprintf (self->error, sizeof self->error, "shard %s epoch %" PRIu64 " is no longer ours%s:"
                  " nothing written", shard, epoch, atoi (PQgetvalue (self->last, 0, 1))? "": " (no such shard)");
        char saved [sizeof self->error];
        snprintf (saved, sizeof saved, "%s", self->error);
        const char *read_params [] = { shard, s_array_text (&self->gids) };
        self->decided_exact = s_exec (self,
            "WITH locked AS (SELECT epoch FROM dtx_store.shard WHERE shard = $1 FOR SHARE)"
            " SELECT (SELECT count (*) FROM locked),"
            "        coalesce ((SELECT string_agg (gid, ',') FROM dtx_store.decision"
            "                    WHERE gid = ANY ($2::text[])), '')", 2, read_params) == DTX_PGSTORE_OK;
        if (self->decided_exact) {
            char *gids = PQgetvalue (self->last, 0, 1);
            while (*gids) {
                char *comma = strchr (gids, ',');
                if (comma)
                    *comma = 0;
                zhashx_update (self->decided, gids, (void *) 1);
                if (!comma)
                    break;
                gids = comma + 1;
            }
        }
        snprintf (self->error, sizeof self->error, "%s", saved);
        rc = DTX_PGSTORE_FENCED;
    }
    s_batch_reset (self);
    return rc;
}

static void
s_decision_from (PGresult *result, int row, dtx_pgstore_decision_t *decision)
{
    memset (decision, 0, sizeof *decision);
    decision->gid = PQgetvalue (result, row, 0);
    decision->epoch = strtoull (PQgetvalue (result, row, 1), NULL, 10);
    //  participants come as one comma-joined text (names have no commas)
    char *names = PQgetvalue (result, row, 2);
    while (*names && decision->nparticipants < 256) {
        decision->participants [decision->nparticipants++] = names;
        char *comma = strchr (names, ',');
        if (!comma)
            break;
        *comma = 0;
        names = comma + 1;
    }
    decision->owner_key = PQgetvalue (result, row, 3);
    decision->ended = streq (PQgetvalue (result, row, 4), "t");
}

#define DECISION_COLUMNS "gid, epoch, array_to_string (participants, ','), owner_key, ended"

dtx_pgstore_result_t
dtx_pgstore_each_unended (dtx_pgstore_t *self, const char *shard,
                          dtx_pgstore_decision_fn *fn, void *arg)
{
    const char *params [] = { shard };
    dtx_pgstore_result_t rc = s_exec (self, "SELECT " DECISION_COLUMNS " FROM dtx_store.decision"
                                      " WHERE shard = $1 AND NOT ended ORDER BY decided_at", 1, params);
    if (rc != DTX_PGSTORE_OK)
        return rc;
    for (int row = 0; row < PQntuples (self->last); row++) {
        dtx_pgstore_decision_t decision;
        s_decision_from (self->last, row, &decision);
        fn (arg, &decision);
    }
    return DTX_PGSTORE_OK;
}

dtx_pgstore_result_t
dtx_pgstore_lookup (dtx_pgstore_t *self, const char *gid, const char *shard, bool *found,
                    dtx_pgstore_decision_t *decision, uint64_t *shard_epoch_p)
{
    //  An answer read on the primary may not be on the standby yet (a
    //  commit whose sync wait was cancelled is visible at once): the read
    //  locks the shard's row, so the statement's commit writes WAL and
    //  waits for the standby; a clean commit means what was read is
    //  there too (WAL is replicated in order).  Not clean: UNKNOWN.
    //  The lock first, the read in a statement after it: one statement
    //  would read with the snapshot it started with, taken perhaps before
    //  a decision write that held the lock committed (and before the
    //  takeover queued behind it), and see the new epoch without the
    //  decision (a review found this).  Several statements in one string
    //  take no parameters: the gid and shard go in as escaped literals.
    if (s_connect (self))
        return DTX_PGSTORE_UNKNOWN;
    char *gid_literal = PQescapeLiteral (self->conn, gid, strlen (gid));
    char *shard_literal = PQescapeLiteral (self->conn, shard, strlen (shard));
    if (!gid_literal || !shard_literal) {
        snprintf (self->error, sizeof self->error, "decision store: %s", PQerrorMessage (self->conn));
        PQfreemem (gid_literal);
        PQfreemem (shard_literal);
        return DTX_PGSTORE_ERROR;
    }
    char *sql = zsys_sprintf (
        "BEGIN;"
        " SELECT 1 FROM dtx_store.shard WHERE shard = %s FOR SHARE;"
        " SELECT d.gid, d.epoch, array_to_string (d.participants, ','), d.owner_key, d.ended,"
        "        s.epoch, s.owner, s.lease_until > clock_timestamp (),"
        "        s.forgotten_epoch, s.forgotten_counter"
        "   FROM (SELECT 1) AS one LEFT JOIN dtx_store.decision d ON d.gid = %s"
        "   LEFT JOIN dtx_store.shard s ON s.shard = %s;"
        " COMMIT", shard_literal, gid_literal, shard_literal);
    PQfreemem (gid_literal);
    PQfreemem (shard_literal);
    dtx_pgstore_result_t rc = s_exec (self, sql, 0, NULL);
    zstr_free (&sql);
    *found = false;
    *shard_epoch_p = 0;
    *self->lookup_owner = 0;
    self->lookup_leased = false;
    self->lookup_forgotten_epoch = self->lookup_forgotten_counter = 0;
    if (rc == DTX_PGSTORE_OK && PQresultStatus (self->last) == PGRES_TUPLES_OK
    &&  PQntuples (self->last) == 1) {
        *shard_epoch_p = strtoull (PQgetvalue (self->last, 0, 5), NULL, 10);
        snprintf (self->lookup_owner, sizeof self->lookup_owner, "%s", PQgetvalue (self->last, 0, 6));
        self->lookup_leased = streq (PQgetvalue (self->last, 0, 7), "t");
        self->lookup_forgotten_epoch = strtoull (PQgetvalue (self->last, 0, 8), NULL, 10);
        self->lookup_forgotten_counter = strtoull (PQgetvalue (self->last, 0, 9), NULL, 10);
        if (!PQgetisnull (self->last, 0, 0)) {
            *found = true;
            s_decision_from (self->last, 0, decision);
        }
    }
    return rc;
}

dtx_pgstore_result_t
dtx_pgstore_each_epoch (dtx_pgstore_t *self, const char *shard, dtx_pgstore_epoch_fn *fn, void *arg)
{
    const char *params [] = { shard };
    dtx_pgstore_result_t rc = s_exec (self,
        "SELECT e.epoch, extract (epoch FROM e.began)::bigint, s.participant, s.identity"
        "  FROM dtx_store.epoch e LEFT JOIN dtx_store.served s USING (shard, epoch)"
        " WHERE e.shard = $1 ORDER BY e.epoch, s.participant", 1, params);
    if (rc != DTX_PGSTORE_OK)
        return rc;
    uint64_t last = 0;
    for (int row = 0; row < PQntuples (self->last); row++) {
        uint64_t epoch = strtoull (PQgetvalue (self->last, row, 0), NULL, 10);
        if (epoch != last)
            fn (arg, epoch, strtoull (PQgetvalue (self->last, row, 1), NULL, 10), NULL, NULL);
        last = epoch;
        if (!PQgetisnull (self->last, row, 2))
            fn (arg, epoch, 0, PQgetvalue (self->last, row, 2), PQgetvalue (self->last, row, 3));
    }
    return DTX_PGSTORE_OK;
}

void
dtx_pgstore_lookup_forgotten (dtx_pgstore_t *self, uint64_t *epoch_p, uint64_t *counter_p)
{
    *epoch_p = self->lookup_forgotten_epoch;
    *counter_p = self->lookup_forgotten_counter;
}

const char *
dtx_pgstore_lookup_owner (dtx_pgstore_t *self, bool *leased_p)
{
    if (leased_p)
        *leased_p = self->lookup_leased;
    return self->lookup_owner;
}

int
dtx_pgstore_fenced_decided (dtx_pgstore_t *self, const char *gid)
{
    if (!self->decided_exact)
        return -1;
    return zhashx_lookup (self->decided, gid) != NULL;
}

dtx_pgstore_result_t
dtx_pgstore_prune (dtx_pgstore_t *self, const char *shard, uint64_t epoch, int64_t retention_s,
                   int max_rows, size_t *pruned_p, uint64_t *forgotten_epoch_p,
                   uint64_t *forgotten_counter_p)
{
    //  The oldest ended decisions decided before the retention, by gid
    //  order; the watermark rises to the last one deleted, so that a gid
    //  at or below it without a decision is "no longer retained", never
    //  "aborted".  Fenced like a decision write (the owner prunes).
    char epoch_text [24], retention [24], rows [16];
    snprintf (epoch_text, sizeof epoch_text, "%" PRIu64, epoch);
    snprintf (retention, sizeof retention, "%" PRId64, retention_s);
    snprintf (rows, sizeof rows, "%d", max_rows);
    const char *params [] = { shard, epoch_text, self->instance, retention, rows };
    dtx_pgstore_result_t rc = s_exec (self,
        "WITH fence AS ("
        "  SELECT shard FROM dtx_store.shard"
        "   WHERE shard = $1 AND epoch = $2::bigint AND owner = $3 FOR UPDATE),"
        " old AS ("
        "  SELECT gid, split_part (gid, ':', 3)::bigint AS e, split_part (gid, ':', 4)::bigint AS c"
        "    FROM dtx_store.decision JOIN fence USING (shard)"
        "   WHERE ended AND decided_at < now () - $4::bigint * interval '1 second'"
        "   ORDER BY e, c LIMIT $5::int),"
        " top AS (SELECT e, c FROM old ORDER BY e DESC, c DESC LIMIT 1),"
        " mark AS ("
        "  UPDATE dtx_store.shard s SET forgotten_epoch = top.e, forgotten_counter = top.c"
        "    FROM top WHERE s.shard = $1"
        "     AND (top.e, top.c) > (s.forgotten_epoch, s.forgotten_counter) RETURNING s.shard),"
        " gone AS (DELETE FROM dtx_store.decision WHERE gid IN (SELECT gid FROM old) RETURNING gid)"
        " SELECT (SELECT count (*) FROM fence), (SELECT count (*) FROM gone),"
        "        CASE WHEN (t.e, t.c) > (s.forgotten_epoch, s.forgotten_counter)"
        "             THEN t.e ELSE s.forgotten_epoch END,"
        "        CASE WHEN (t.e, t.c) > (s.forgotten_epoch, s.forgotten_counter)"
        "             THEN t.c ELSE s.forgotten_counter END"
        "   FROM dtx_store.shard s LEFT JOIN top t ON true WHERE s.shard = $1", 5, params);
    if (rc != DTX_PGSTORE_OK)
        return rc;
    if (PQntuples (self->last) != 1 || atoi (PQgetvalue (self->last, 0, 0)) != 1) {
        snprintf (self->error, sizeof self->error, "shard %s epoch %" PRIu64 " is no longer ours",
                  shard, epoch);
        return DTX_PGSTORE_FENCED;
    }
    *pruned_p = strtoull (PQgetvalue (self->last, 0, 1), NULL, 10);
    *forgotten_epoch_p = strtoull (PQgetvalue (self->last, 0, 2), NULL, 10);
    *forgotten_counter_p = strtoull (PQgetvalue (self->last, 0, 3), NULL, 10);
    return DTX_PGSTORE_OK;
}

dtx_pgstore_result_t
dtx_pgstore_epoch (dtx_pgstore_t *self, const char *shard, uint64_t *epoch_p)
{
    const char *params [] = { shard };
    dtx_pgstore_result_t rc = s_exec (self, "SELECT epoch FROM dtx_store.shard WHERE shard = $1",
                                      1, params);
    *epoch_p = 0;
    if (rc == DTX_PGSTORE_OK && PQntuples (self->last) == 1)
        *epoch_p = strtoull (PQgetvalue (self->last, 0, 0), NULL, 10);
    return rc;
}
