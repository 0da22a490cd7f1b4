/*  =========================================================================
    dtx_participant_metrics - the participant's Prometheus endpoint

    With `metrics HOST:PORT` the participant serves /metrics and /health
    (lib/dtx_metrics.c runs the HTTP side, as for the coordinator).  The
    loop counts into self->metrics whether or not they are served, and
    renders a snapshot every 250 ms when they are.  Every series is
    labelled db="NAME" (the participant's name) and named
    dtx_participant_*, but dtx_build_info; the list is in
    docs/operations.md.

    /health: 200 "ready" when the database answers (no connection has
    failed since the last success) and a coordinator answered REGISTER
    within five heartbeats; else 503 with the reason.
    =========================================================================
*/
#include "dtx_participant_classes.h"

//  Round-trip histograms, one per kind of op, in this order from
//  metrics.round_trip
typedef enum {
    RT_STATEMENT, RT_PREPARE, RT_COMMIT, RT_COMMIT_PREPARED, RT_ROLLBACK, RT_RESOLVE, RT_KINDS
} round_trip_t;
static const char *s_round_trip_names [RT_KINDS] = {
    "statement", "prepare", "commit", "commit_prepared", "rollback", "resolve"
};

//  Label values: dtx names and endpoints hold none of '"', '\\', '\n',
//  but a label must never break the text format
static void
s_label (char *to, size_t size, const char *value)
{
    size_t at = 0;
    for (const char *p = value; *p && at + 3 < size; p++) {
        if (*p == '"' || *p == '\\' || *p == '\n') {
            to [at++] = '\\';
            to [at++] = *p == '\n'? 'n': *p;
        }
        else
            to [at++] = *p;
    }
    to [at] = 0;
}

int
part_metrics_start (dtx_participant_t *self, char *errbuf, size_t errlen)
{
    if (!self->metrics.prepared)
        self->metrics.prepared = zhashx_new ();
    const char *listen = self->config.metrics_listen;
    if (!listen || !*listen)
        return 0;
    self->metrics.server = dtx_metrics_new (listen, errbuf, errlen);
    if (!self->metrics.server)
        return -1;
    char db [2 * DTX_NAME_MAX + 2];
    s_label (db, sizeof db, self->name);
    for (int kind = 0; kind < RT_KINDS; kind++) {
        char labels [3 * DTX_NAME_MAX];
        snprintf (labels, sizeof labels, "db=\"%s\",kind=\"%s\"", db, s_round_trip_names [kind]);
        int id = dtx_metrics_histogram_add (self->metrics.server,
                                            "dtx_participant_pg_round_trip_seconds",
                                            "PostgreSQL round trips (one op's pipeline, sent to"
                                            " its answer), by kind", labels, DTX_METRICS_SECONDS);
        if (kind == 0)
            self->metrics.round_trip = id;
    }
    return 0;
}

void
part_metrics_stop (dtx_participant_t *self)
{
    dtx_metrics_destroy (&self->metrics.server);
    zhashx_destroy (&self->metrics.prepared);
}

void
part_metrics_round_trip (dtx_participant_t *self, session_t *session, op_t *op)
{
    if (!self->metrics.server || !session->sent_at)
        return;
    round_trip_t kind = op->kind == OP_EXECUTE? (op->then == OP_PREPARE? RT_PREPARE
                                               : op->then == OP_COMMIT? RT_COMMIT: RT_STATEMENT)
                      : op->kind == OP_PREPARE? RT_PREPARE
                      : op->kind == OP_COMMIT? RT_COMMIT
                      : op->kind == OP_COMMIT_PREPARED? RT_COMMIT_PREPARED
                      : op->kind == OP_ROLLBACK? RT_ROLLBACK
                      : RT_RESOLVE;
    dtx_metrics_observe (self->metrics.server, self->metrics.round_trip + (int) kind,
                         (zclock_usecs () - session->sent_at) / 1e6);
}

void
part_metrics_statement (dtx_participant_t *self, op_t *op, bool ok)
{
    if (op->ran)
        return;
    op->ran = true;
    self->metrics.statements [ok? PART_STATEMENT_OK: PART_STATEMENT_ERROR]++;
}

void
part_metrics_reply (dtx_participant_t *self, int id, int status)
{
    if (id == DTX_PROTO_VOTE)
        self->metrics.prepares [status == DTX_VOTE_YES? PART_PREPARE_PREPARED
                              : status == DTX_VOTE_READONLY? PART_PREPARE_READONLY
                              : PART_PREPARE_FAILED]++;
}

//  metrics.prepared maps a gid to when it was prepared (or found by the
//  scan), as ms.  A gid that ends while a scan is running is kept, marked
//  ended (minus when), until that scan's answer, which may list it still
//  prepared; one that ends at any other time is dropped (a scan queued
//  later cannot list it)
void
part_metrics_prepared (dtx_participant_t *self, const char *gid, bool prepared)
{
    if (!self->metrics.prepared)
        return;
    if (prepared)
        zhashx_update (self->metrics.prepared, gid, (void *) (intptr_t) dtx_clock_ms ());
    else
    if (zhashx_lookup (self->metrics.prepared, gid)) {
        if (zhashx_lookup (self->sessions, ""))         //  the scan's session
            zhashx_update (self->metrics.prepared, gid, (void *) (intptr_t) -dtx_clock_ms ());
        else
            zhashx_delete (self->metrics.prepared, gid);
    }
}

void
part_metrics_scanned (dtx_participant_t *self, PGresult *result)
{
    if (!self->metrics.prepared)
        return;
    //  The scan is the truth as of its start: what it lists is prepared
    //  (added if prepared by an earlier run), unless it ended since (marked
    //  ended: dropped now); what it does not list and was prepared before
    //  the scan was queued is gone (ended by hand, or its end was not seen
    //  here).  Prepared after: the scan cannot know yet
    zhashx_t *listed = zhashx_new ();
    for (int row = 0; row < PQntuples (result); row++) {
        const char *gid = PQgetvalue (result, row, 0);
        if (strncmp (gid, "dtx:", 4))
            continue;
        zhashx_insert (listed, gid, (void *) 1);
        if (!zhashx_lookup (self->metrics.prepared, gid))
            zhashx_insert (self->metrics.prepared, gid, (void *) (intptr_t) dtx_clock_ms ());
    }
    zlistx_t *gone = zlistx_new ();
    zlistx_set_destructor (gone, (czmq_destructor *) zstr_free);
    void *value = zhashx_first (self->metrics.prepared);
    while (value) {
        const char *gid = (const char *) zhashx_cursor (self->metrics.prepared);
        int64_t when = (int64_t) (intptr_t) value;
        if (when < 0
        ||  (when > 0 && when < self->metrics.scan_at && !zhashx_lookup (listed, gid)))
            zlistx_add_end (gone, strdup (gid));
        value = zhashx_next (self->metrics.prepared);
    }
    char *gid = (char *) zlistx_first (gone);
    while (gid) {
        zhashx_delete (self->metrics.prepared, gid);
        gid = (char *) zlistx_next (gone);
    }
    zlistx_destroy (&gone);
    zhashx_destroy (&listed);
}

//  Prepared transactions not ended
static size_t
s_prepared_count (dtx_participant_t *self)
{
    size_t count = 0;
    void *value = self->metrics.prepared? zhashx_first (self->metrics.prepared): NULL;
    while (value) {
        count += (int64_t) (intptr_t) value > 0;
        value = zhashx_next (self->metrics.prepared);
    }
    return count;
}

//  Why the participant is not ready, "" if it is
static void
s_health (dtx_participant_t *self, int64_t now, char *why, size_t size)
{
    *why = 0;
    if (self->db_down) {
        snprintf (why, size, "database unreachable%s%s", *self->connect_error? ": ": "",
                  self->connect_error);
        return;
    }
    int64_t heard = 0;
    for (int i = 0; i < self->nlinks; i++)
        if (self->links [i].last_register_ok > heard)
            heard = self->links [i].last_register_ok;
    if (!heard)
        snprintf (why, size, "not registered with any coordinator yet (%s)",
                  self->config.coordinator_endpoint);
    else
    if (now - heard > 5 * self->config.heartbeat_ms)
        snprintf (why, size, "no coordinator has answered REGISTER for %" PRId64 " ms", now - heard);
}

int64_t
part_metrics_tick (dtx_participant_t *self, int64_t now)
{
    part_metrics_t *metrics = &self->metrics;
    if (!metrics->server)
        return INT64_MAX;
    if (now < metrics->next_publish)
        return metrics->next_publish;
    metrics->next_publish = now + 250;
    char db [2 * DTX_NAME_MAX + 2];
    s_label (db, sizeof db, self->name);
    zchunk_t *out = zchunk_new (NULL, 8192);
    char labels [2 * DTX_NAME_MAX + 16];
    snprintf (labels, sizeof labels, "db=\"%s\"", db);
    dtx_metrics_build_info (out, "dtx's version, and this participant's name", labels);

    //  The pool
    size_t idle = zlistx_size (self->idle);
    dtx_metrics_header (out, "dtx_participant_pool_connections", "gauge",
                        "PostgreSQL sessions open (idle or in use)");
    dtx_metrics_add (out, "dtx_participant_pool_connections{db=\"%s\"} %d\n", db, self->connections);
    dtx_metrics_header (out, "dtx_participant_pool_connections_in_use", "gauge",
                        "PostgreSQL sessions held by a transaction or a resolution");
    dtx_metrics_add (out, "dtx_participant_pool_connections_in_use{db=\"%s\"} %zu\n", db,
                     (size_t) self->connections > idle? (size_t) self->connections - idle: 0);
    dtx_metrics_header (out, "dtx_participant_pool_connections_max", "gauge",
                        "Most PostgreSQL sessions (pool-max)");
    dtx_metrics_add (out, "dtx_participant_pool_connections_max{db=\"%s\"} %d\n", db,
                     self->config.pool_max);
    dtx_metrics_header (out, "dtx_participant_pool_waiting", "gauge",
                        "Transactions waiting for a PostgreSQL session now (the pool is full)");
    dtx_metrics_add (out, "dtx_participant_pool_waiting{db=\"%s\"} %zu\n", db,
                     zlistx_size (self->waiting));
    dtx_metrics_header (out, "dtx_participant_pool_waits_total", "counter",
                        "Transactions that had to wait for a PostgreSQL session");
    dtx_metrics_add (out, "dtx_participant_pool_waits_total{db=\"%s\"} %" PRIu64 "\n", db,
                     metrics->pool_waits);
    dtx_metrics_header (out, "dtx_participant_pool_refused_total", "counter",
                        "Requests failed because no PostgreSQL session could be opened");
    dtx_metrics_add (out, "dtx_participant_pool_refused_total{db=\"%s\"} %" PRIu64 "\n", db,
                     metrics->pool_refused);
    dtx_metrics_header (out, "dtx_participant_database_up", "gauge",
                        "1 unless a connection to the database failed since the last success");
    dtx_metrics_add (out, "dtx_participant_database_up{db=\"%s\"} %d\n", db, self->db_down? 0: 1);

    //  Transactions
    dtx_metrics_header (out, "dtx_participant_transactions_live", "gauge",
                        "Global transactions with a live session here");
    size_t live = 0;
    session_t *session = (session_t *) zhashx_first (self->sessions);
    while (session) {
        live += session->in_txn;
        session = (session_t *) zhashx_next (self->sessions);
    }
    dtx_metrics_add (out, "dtx_participant_transactions_live{db=\"%s\"} %zu\n", db, live);
    uint64_t received, sent;
    dtx_proto_counts (&received, &sent);
    dtx_metrics_header (out, "dtx_participant_messages_total", "counter",
                        "dtx protocol messages with the coordinators, by direction");
    dtx_metrics_add (out, "dtx_participant_messages_total{db=\"%s\",direction=\"in\"} %" PRIu64 "\n"
                     "dtx_participant_messages_total{db=\"%s\",direction=\"out\"} %" PRIu64 "\n",
                     db, received, db, sent);
    dtx_metrics_header (out, "dtx_participant_loop_turns_total", "counter",
                        "Turns of the event loop (wake-ups)");
    dtx_metrics_add (out, "dtx_participant_loop_turns_total{db=\"%s\"} %" PRIu64 "\n", db,
                     metrics->loop_turns);
    static const char *statement_results [PART_STATEMENTS] = { "ok", "error", "refused" };
    dtx_metrics_header (out, "dtx_participant_statements_total", "counter",
                        "Client statements, by result (refused: never run)");
    for (int i = 0; i < PART_STATEMENTS; i++)
        dtx_metrics_add (out, "dtx_participant_statements_total{db=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                         db, statement_results [i], metrics->statements [i]);
    static const char *prepare_results [PART_PREPARES] = { "prepared", "readonly", "failed" };
    dtx_metrics_header (out, "dtx_participant_prepare_total", "counter",
                        "PREPAREs answered, by result (the vote: YES, READONLY, NO)");
    for (int i = 0; i < PART_PREPARES; i++)
        dtx_metrics_add (out, "dtx_participant_prepare_total{db=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                         db, prepare_results [i], metrics->prepares [i]);
    dtx_metrics_header (out, "dtx_participant_prepared", "gauge",
                        "dtx prepared transactions in this database waiting for phase 2");
    dtx_metrics_add (out, "dtx_participant_prepared{db=\"%s\"} %zu\n", db,
                     s_prepared_count (self));

    //  In-doubt resolution
    dtx_metrics_header (out, "dtx_participant_in_doubt", "gauge",
                        "Prepared transactions found with nobody driving them, asked of the"
                        " coordinators");
    dtx_metrics_add (out, "dtx_participant_in_doubt{db=\"%s\"} %zu\n", db,
                     zhashx_size (self->in_doubt));
    static const char *outcomes [PART_RESOLUTIONS] = { "committed", "rolled_back", "unknown" };
    dtx_metrics_header (out, "dtx_participant_in_doubt_resolutions_total", "counter",
                        "In-doubt transactions resolved, by outcome (unknown: an answer that"
                        " left it in doubt, asked again)");
    for (int i = 0; i < PART_RESOLUTIONS; i++)
        dtx_metrics_add (out, "dtx_participant_in_doubt_resolutions_total{db=\"%s\",outcome=\"%s\"} %"
                         PRIu64 "\n", db, outcomes [i], metrics->resolutions [i]);

    //  Coordinators and shards
    dtx_metrics_header (out, "dtx_participant_coordinator_connected", "gauge",
                        "1 if the coordinator answered REGISTER within five heartbeats");
    for (int i = 0; i < self->nlinks; i++) {
        char endpoint [2 * PART_ENDPOINT_MAX];
        s_label (endpoint, sizeof endpoint, self->links [i].endpoint);
        bool connected = self->links [i].last_register_ok
                      && now - self->links [i].last_register_ok <= 5 * self->config.heartbeat_ms;
        dtx_metrics_add (out, "dtx_participant_coordinator_connected{db=\"%s\",coordinator=\"%s\"} %d\n",
                         db, endpoint, connected? 1: 0);
    }
    dtx_metrics_header (out, "dtx_participant_coordinator_heartbeats_missed_total", "counter",
                        "REGISTERs (heartbeats) the coordinator had not accepted when the next went out");
    for (int i = 0; i < self->nlinks; i++) {
        char endpoint [2 * PART_ENDPOINT_MAX];
        s_label (endpoint, sizeof endpoint, self->links [i].endpoint);
        dtx_metrics_add (out, "dtx_participant_coordinator_heartbeats_missed_total{db=\"%s\","
                         "coordinator=\"%s\"} %" PRIu64 "\n", db, endpoint,
                         self->links [i].heartbeats_missed);
    }
    dtx_metrics_header (out, "dtx_participant_shard_epoch", "gauge",
                        "The highest epoch seen of each shard (its earlier epochs are closed)");
    uint64_t *epoch = (uint64_t *) zhashx_first (self->epochs);
    while (epoch) {
        char shard [2 * DTX_NAME_MAX + 2];
        s_label (shard, sizeof shard, (const char *) zhashx_cursor (self->epochs));
        dtx_metrics_add (out, "dtx_participant_shard_epoch{db=\"%s\",shard=\"%s\"} %" PRIu64 "\n",
                         db, shard, *epoch);
        epoch = (uint64_t *) zhashx_next (self->epochs);
    }
    dtx_metrics_render (metrics->server, out);
    char why [700];
    s_health (self, now, why, sizeof why);
    dtx_metrics_publish_chunk (metrics->server, out, why);
    zchunk_destroy (&out);
    return metrics->next_publish;
}
