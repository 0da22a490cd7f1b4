/*  =========================================================================
    dtx_participant - the participant engine: the loop, its sockets, and
    the coordinator's messages

    NOTES

    The participant fronts one PostgreSQL database for its coordinators:
    one PostgreSQL session per live global transaction, from a pool, all
    driven by non-blocking libpq on one event loop.  The engine is split
    by job, sharing one private header (dtx_participant_classes.h):

        dtx_participant.c           the loop (zmq_poll over the coordinator
                                    links and every busy connection), the
                                    coordinators' messages, shard epochs,
                                    life
        dtx_participant_pool.c      connections; start-up checks
        dtx_participant_session.c   sessions: ops, pipelines, results
        dtx_participant_resolve.c   what became of a transaction: in-doubt
                                    prepared transactions, lost one-phase
                                    COMMIT answers, the one-phase marker
                                    (probe, GC)

    A session binds one PostgreSQL connection to one global transaction
    (gid) for as long as the transaction is live, and runs the operations
    the coordinator asks for, in order, one at a time:

        BEGIN + statements -> PREPARE (check write, PREPARE TRANSACTION);
        or BEGIN + deferred statements, the last one with PREPARE (or
        the one-phase COMMIT) in the same pipeline: one round trip
        -> DISCARD ALL (in the same write, a pipeline segment of its own)
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

    Several coordinators (docs/ha.md, Participants): each shard of gids
    (dtx:SHARD:EPOCH:COUNTER) is driven by one coordinator at a time.  The
    participant has one link (a DEALER, made by dtx_sock_new) per
    coordinator endpoint, at most PART_LINKS_MAX:

        1. REGISTER goes to every link each heartbeat; each link keeps its
           last REGISTER_OK, its "no answer" warning, its refusal log.
        2. A request is answered on the link it came on: the op remembers
           it (op_t.link; -1 for internal ops, which answer nobody).
        3. Per shard, the highest epoch seen (REGISTER_OK's SHARD:EPOCH,
           any request's gid; at most PART_SHARDS_MAX shards).  A higher
           one closes the epochs below: their live sessions are rolled
           back, their statements, PREPAREs and one-phase COMMITs refused
           (also when already queued), their phase 2 and probes served;
           in-doubt gids are asked about at once.
        4. In-doubt gids are asked of every link; the first exact answer
           acts, anything else from one link is no answer.

    What a crash of this process leaves behind: live sessions die with
    their connections, and PostgreSQL rolls them back.  Prepared
    transactions survive in PostgreSQL; the coordinator resends phase 2
    until it is acknowledged.  This process never decides the fate of a
    prepared transaction on its own.  A one-phase commit leaves its own
    record in the database, the marker (dtx_participant_resolve.c).
    =========================================================================
*/
#include "dtx_participant_classes.h"

//  --------------------------------------------------------------------------
//  Messages to the coordinators

void
part_send (dtx_participant_t *self, int link, dtx_proto_t **reply_p)
{
    if (link < 0 || link >= self->nlinks)
        //  (an internal op has no link, and nobody to answer)
        zsys_warning ("%s: %s for %s has no coordinator to go to, dropped", self->name,
                      dtx_proto_command (*reply_p), dtx_proto_gid (*reply_p));
    else
    if (dtx_proto_send (*reply_p, self->links [link].sock)) {
        //  (never blocks: a coordinator that is gone for long fills its
        //  queue, and must not stop the loop that serves the others;
        //  said at most every 30 s per coordinator)
        part_link_t *coordinator = &self->links [link];
        coordinator->send_failed++;
        int64_t now = dtx_clock_ms ();
        if (!coordinator->send_failed_logged || now - coordinator->send_failed_logged >= 30000) {
            zsys_warning ("%s: cannot send %s for %s%s%s (%" PRIu64 " message(s) not sent to it"
                          " so far: its queue is full or it is gone)", self->name,
                          dtx_proto_command (*reply_p), dtx_proto_gid (*reply_p),
                          self->nlinks > 1? " to ": "", part_link_name (self, link),
                          coordinator->send_failed);
            coordinator->send_failed_logged = now;
        }
    }
    dtx_proto_destroy (reply_p);
}

dtx_proto_t *
part_reply_new (int id, op_t *op, const char *gid)
{
    dtx_proto_t *reply = dtx_proto_new (id);
    dtx_proto_set_seq (reply, op && op->request? dtx_proto_seq (op->request): 0);
    dtx_proto_set_gid (reply, gid);
    return reply;
}

void
part_reply_error (dtx_participant_t *self, op_t *op, const char *gid, int id, int status,
                  const char *sqlstate, const char *text)
{
    if (op && !op->request)
        return;         //  internal: nobody waits for an answer
    part_metrics_reply (self, id, status);
    dtx_proto_t *reply = part_reply_new (id, op, gid);
    dtx_proto_set_status (reply, (uint8_t) status);
    dtx_proto_set_sqlstate (reply, sqlstate);
    dtx_proto_set_text (reply, text);
    part_send (self, op? op->link: 0, &reply);
}

const char *
part_link_name (dtx_participant_t *self, int link)
{
    if (self->nlinks < 2 || link < 0 || link >= self->nlinks)
        return "";
    return self->links [link].endpoint;
}

//  --------------------------------------------------------------------------
//  Shards and their epochs (docs/ha.md, Participants)
//
//  A gid is dtx:SHARD:EPOCH:COUNTER.  A shard's epoch rises each time a
//  coordinator takes it (a restart, a takeover); the gids of an earlier
//  epoch belong to a coordinator that is gone or has lost the shard, and
//  whatever it had not decided is presumed aborted by the new owner.  So,
//  per shard, the highest epoch seen (in a REGISTER_OK, in any request's
//  gid) closes the ones below it: their live sessions are rolled back,
//  their new work refused (statements, PREPARE, one-phase COMMIT); phase
//  2 (COMMIT PREPARED, ROLLBACK) and outcome probes of their gids are the
//  new owner's to send and are served.  The table is bounded
//  (PART_SHARDS_MAX); a shard beyond it is not checked, and said so.

bool
part_epoch_closed (dtx_participant_t *self, const char *gid, char *text, size_t size)
{
    char shard [DTX_NAME_MAX + 1];
    uint64_t epoch, counter;
    if (dtx_gid_parse (gid, shard, &epoch, &counter))
        return false;
    uint64_t *known = (uint64_t *) zhashx_lookup (self->epochs, shard);
    if (!known || epoch >= *known)
        return false;
    snprintf (text, size, "epoch %" PRIu64 " of shard %s is closed (now %" PRIu64 "): its"
              " coordinator restarted or lost the shard", epoch, shard, *known);
    return true;
}

//  A refusal for a closed epoch: logged, at most every 5 s
static void
s_closed_refused (dtx_participant_t *self, const char *what, const char *gid, const char *text)
{
    self->closed_refused++;
    int64_t now = dtx_clock_ms ();
    if (self->closed_logged && now - self->closed_logged < 5000)
        return;
    zsys_warning ("%s: %s: %s refused: %s (%" PRIu64 " refused so far)", self->name, gid, what,
                  text, self->closed_refused);
    self->closed_logged = now;
}

//  Shard `shard` is at epoch `epoch` at least (from: where we saw it)
static void
s_epoch_learn (dtx_participant_t *self, const char *shard, uint64_t epoch, const char *from)
{
    uint64_t *known = (uint64_t *) zhashx_lookup (self->epochs, shard);
    if (!known) {
        if (zhashx_size (self->epochs) >= PART_SHARDS_MAX) {
            int64_t now = dtx_clock_ms ();
            if (!self->shards_full_logged || now - self->shards_full_logged >= 30000) {
                zsys_warning ("%s: shard %s (%s) not tracked: %d shards known already, the"
                              " most kept; requests of its gids are not checked against its"
                              " epoch (logged at most every 30 s)", self->name, shard, from,
                              PART_SHARDS_MAX);
                self->shards_full_logged = now;
            }
            return;
        }
        //  First seen: nothing here is of an earlier epoch of it that we
        //  know of (prepared ones are asked about anyway, from the scan)
        known = (uint64_t *) malloc (sizeof (uint64_t));
        assert (known);
        *known = epoch;
        zhashx_insert (self->epochs, shard, known);
        return;
    }
    if (epoch <= *known)
        return;
    uint64_t before = *known;
    *known = epoch;
    //  The old epoch's coordinator is gone or fenced: nobody will commit
    //  its live branches.  Roll them back (prepared ones are not ours to
    //  decide: they are asked about, at once, of every coordinator)
    zlistx_t *orphans = zlistx_new ();
    session_t *session = (session_t *) zhashx_first (self->sessions);
    while (session) {
        char of [DTX_NAME_MAX + 1];
        uint64_t its_epoch, counter;
        if (session->in_txn && !session->prepared
        &&  dtx_gid_parse (session->gid, of, &its_epoch, &counter) == 0
        &&  streq (of, shard) && its_epoch < epoch)
            zlistx_add_end (orphans, session);
        session = (session_t *) zhashx_next (self->sessions);
    }
    zsys_info ("%s: shard %s is at epoch %" PRIu64 " (was %" PRIu64 "; from %s): rolling back"
               " %zu live session(s) of its earlier epochs; asking about in-doubt transactions",
               self->name, shard, epoch, before, from, zlistx_size (orphans));
    session = (session_t *) zlistx_first (orphans);
    while (session) {
        //  A statement still running (a lock wait) is cancelled, as for
        //  a coordinator's ROLLBACK: nobody waits for it any more
        if (session->running && session->conn && !session->resetting
        &&  ((op_t *) zlistx_first (session->ops))->kind == OP_EXECUTE)
            part_session_cancel (self, session);
        part_session_enqueue (session, OP_ROLLBACK, NULL, -1);
        part_session_advance (self, session);
        session = (session_t *) zlistx_next (orphans);
    }
    zlistx_destroy (&orphans);
    //  Its prepared transactions may be in doubt now (ha.md, finding 4)
    self->scan_wanted = true;
    part_in_doubt_ask_all (self);
}

//  --------------------------------------------------------------------------
//  Messages from the coordinators

//  Refuse a request before it becomes an op: answer as the op would fail
static void
s_refuse (dtx_participant_t *self, op_t *op, const char *gid, int errcode,
          const char *sqlstate, const char *text)
{
    if (op->kind == OP_EXECUTE && op->then == OP_EXECUTE && !op->defer)
        part_reply_error (self, op, gid, DTX_PROTO_ERROR, errcode, sqlstate, text);
    else {
        session_t dummy = { .gid = "" };
        snprintf (dummy.gid, sizeof dummy.gid, "%s", gid);
        part_op_fail (self, &dummy, op, sqlstate, text);
    }
}

static void
s_handle_request (dtx_participant_t *self, int link, dtx_proto_t **msg_p)
{
    dtx_proto_t *msg = *msg_p;
    const char *gid = dtx_proto_gid (msg);
    int id = dtx_proto_id (msg);
    char err [256];
    if (dtx_gid_validate (gid, err, sizeof err)) {
        zsys_warning ("%s: %s with a bad gid: %s", self->name, dtx_proto_command (msg), err);
        if (id == DTX_PROTO_OUTCOME_QUERY) {
            part_reply_error (self, &(op_t) { .kind = OP_PROBE, .request = msg, .link = link }, gid,
                              DTX_PROTO_ERROR, DTX_ERR_BAD_REQUEST, "", err);
            dtx_proto_destroy (msg_p);
            return;
        }
        op_t op = { .kind = OP_EXECUTE, .request = msg, .link = link };
        op.kind = id == DTX_PROTO_PREPARE? OP_PREPARE: id == DTX_PROTO_EXECUTE? OP_EXECUTE: OP_ROLLBACK;
        session_t dummy = { .gid = "" };
        part_op_fail (self, &dummy, &op, "", err);
        dtx_proto_destroy (msg_p);
        return;
    }
    //  Any request's gid tells its shard's epoch (and may close others)
    char shard [DTX_NAME_MAX + 1], closed [256] = "";
    uint64_t epoch, counter;
    if (dtx_gid_parse (gid, shard, &epoch, &counter) == 0)
        s_epoch_learn (self, shard, epoch, "a request's gid");
    bool is_closed = part_epoch_closed (self, gid, closed, sizeof closed);
    session_t *session = (session_t *) zhashx_lookup (self->sessions, gid);
    switch (id) {
        case DTX_PROTO_EXECUTE: {
            uint8_t flags = dtx_proto_flags (msg);
            op_t how = {
                .kind = OP_EXECUTE, .request = msg, .link = link,
                .defer = (flags & DTX_EXEC_DEFER) != 0,
                .then = flags & DTX_EXEC_PREPARE? OP_PREPARE: flags & DTX_EXEC_COMMIT? OP_COMMIT: OP_EXECUTE
            };
            if (is_closed) {
                //  Never run, never prepared: a branch of a closed epoch
                //  (its live session, if any, is being rolled back)
                if (session && session->in_txn && how.defer && !session->failure) {
                    session->failure = strdup (closed);
                    snprintf (session->failure_sqlstate, sizeof session->failure_sqlstate, "40000");
                }
                s_closed_refused (self, "statement", gid, closed);
                s_refuse (self, &how, gid, DTX_ERR_PARTICIPANT, "40000", closed);
                session = NULL;
                break;
            }
            if (flags & DTX_EXEC_FIRST) {
                if (session) {
                    if (how.defer && !session->failure)
                        session->failure = strdup ("transaction already has a session here");
                    s_refuse (self, &how, gid, DTX_ERR_STATE, "", "transaction already has a session here");
                    session = NULL;
                    break;
                }
                session = part_session_new (self, gid);
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
            if (is_closed) {
                //  A vote NO, never a PREPARE; a one-phase COMMIT that did
                //  not commit (not class 08: nothing to probe for)
                s_closed_refused (self, id == DTX_PROTO_PREPARE? "PREPARE": "COMMIT", gid, closed);
                part_reply_error (self, &(op_t) { .kind = OP_EXECUTE, .request = msg, .link = link }, gid,
                                  id == DTX_PROTO_PREPARE? DTX_PROTO_VOTE: DTX_PROTO_DONE,
                                  id == DTX_PROTO_PREPARE? DTX_VOTE_NO: DTX_DONE_FAILED, "40000", closed);
                session = NULL;
                break;
            }
            if (!session || !session->in_txn) {
                part_reply_error (self, &(op_t) { .kind = OP_EXECUTE, .request = msg, .link = link }, gid,
                                  id == DTX_PROTO_PREPARE? DTX_PROTO_VOTE: DTX_PROTO_DONE,
                                  id == DTX_PROTO_PREPARE? DTX_VOTE_NO: DTX_DONE_FAILED, "25P01",
                                  "participant has no live session for this transaction");
                break;
            }
            part_session_enqueue (session, id == DTX_PROTO_PREPARE? OP_PREPARE: OP_COMMIT, msg_p, link);
            break;
        case DTX_PROTO_ROLLBACK:
        case DTX_PROTO_COMMIT_PREPARED:
            //  (of a closed epoch too: the shard's new owner drives the
            //  phase 2 of what the old one decided)
            if (!session)
                session = part_session_new (self, gid);
            else
            if (id == DTX_PROTO_ROLLBACK && session->running && session->conn
            &&  !session->resetting
            &&  ((op_t *) zlistx_first (session->ops))->kind == OP_EXECUTE)
                //  A statement is still running (a lock wait, a long query):
                //  cancel it, so that the rollback behind it runs now
                part_session_cancel (self, session);
            part_session_enqueue (session, id == DTX_PROTO_ROLLBACK? OP_ROLLBACK: OP_COMMIT_PREPARED,
                                  msg_p, link);
            break;
        case DTX_PROTO_OUTCOME_QUERY: {
            //  The coordinator lost track of a one-phase gid: a session of
            //  the probe's own (never the gid's live one, whose COMMIT the
            //  fence must be able to wait for); probes of one gid queue
            char key [DTX_GID_MAX + 2];
            snprintf (key, sizeof key, "#%s", gid);
            session = (session_t *) zhashx_lookup (self->sessions, key);
            if (!session)
                session = part_session_new (self, key);
            part_session_enqueue (session, OP_PROBE, msg_p, link);
            break;
        }
        default:
            zsys_warning ("%s: unexpected %s from coordinator, dropped", self->name,
                          dtx_proto_command (msg));
    }
    if (session)
        part_session_advance (self, session);
    dtx_proto_destroy (msg_p);
}

static void
s_send_register (dtx_participant_t *self, int link)
{
    part_link_t *coordinator = &self->links [link];
    if (coordinator->register_sent && coordinator->last_register_ok < coordinator->register_sent)
        coordinator->heartbeats_missed++;       //  (the metrics)
    coordinator->register_sent = dtx_clock_ms ();
    dtx_proto_t *msg = dtx_proto_new (DTX_PROTO_REGISTER);
    dtx_proto_set_seq (msg, ++self->seq);
    dtx_proto_set_name (msg, self->name);
    dtx_proto_set_ntuples (msg, self->prepared);
    dtx_proto_set_text (msg, self->identity);
    part_send (self, link, &msg);
}

//  REGISTER_OK from link: its text is the coordinator's SHARD:EPOCH
static void
s_registered (dtx_participant_t *self, int link, const char *instance)
{
    part_link_t *coordinator = &self->links [link];
    coordinator->last_register_ok = dtx_clock_ms ();
    if (streq (instance, coordinator->instance))
        return;
    const char *name = part_link_name (self, link);
    if (*coordinator->instance)
        zsys_info ("%s: coordinator%s%s restarted or replaced (%s -> %s)", self->name,
                   *name? " ": "", name, coordinator->instance, instance);
    else
        zsys_info ("%s: registered with coordinator %s%s%s%s", self->name, instance,
                   *name? " (": "", name, *name? ")": "");
    snprintf (coordinator->instance, sizeof coordinator->instance, "%s", instance);
    //  SHARD:EPOCH (the shard may hold no ':', the epoch is digits)
    const char *colon = strrchr (instance, ':');
    char shard [DTX_NAME_MAX + 1], err [256];
    char *end = NULL;
    uint64_t epoch = 0;
    if (colon && colon - instance <= DTX_NAME_MAX) {
        memcpy (shard, instance, colon - instance);
        shard [colon - instance] = 0;
        if (isdigit ((unsigned char) colon [1]))
            epoch = strtoull (colon + 1, &end, 10);
    }
    if (!end || *end || dtx_name_validate ("shard", shard, err, sizeof err)) {
        zsys_warning ("%s: coordinator%s%s registers us as '%s', not SHARD:EPOCH: its epochs are"
                      " not tracked", self->name, *name? " ": "", name, instance);
        return;
    }
    uint64_t *known = (uint64_t *) zhashx_lookup (self->epochs, shard);
    if (known && epoch < *known)
        zsys_error ("%s: epoch went backwards: coordinator%s%s holds shard %s at epoch %" PRIu64
                    ", below the %" PRIu64 " seen already: its requests for gids of earlier epochs"
                    " are refused (a coordinator that lost its shard, or a decision store restored"
                    " from an older copy?)", self->name, *name? " ": "", name, shard, epoch, *known);
    char from [PART_ENDPOINT_MAX + 64];
    snprintf (from, sizeof from, "REGISTER_OK of coordinator %s", coordinator->endpoint);
    s_epoch_learn (self, shard, epoch, from);
}

//  One message from link, if there is one (the socket does not block):
//  false if none
static bool
s_handle_coordinator (dtx_participant_t *self, int link)
{
    part_link_t *coordinator = &self->links [link];
    dtx_proto_t *msg;
    char err [256];
    int rc = dtx_proto_recv (&msg, coordinator->sock, err, sizeof err);
    if (rc == -2) {
        zsys_warning ("%s: from coordinator%s%s: dropped %s", self->name,
                      self->nlinks > 1? " ": "", part_link_name (self, link), err);
        return true;
    }
    if (rc)
        return false;
    int id = dtx_proto_id (msg);
    if (id == DTX_PROTO_REGISTER_OK) {
        s_registered (self, link, dtx_proto_text (msg));
        dtx_proto_destroy (&msg);
    }
    else
    if (id == DTX_PROTO_OUTCOME
    || (id == DTX_PROTO_ERROR && zhashx_lookup (self->in_doubt, dtx_proto_gid (msg)))) {
        part_in_doubt_answer (self, link, msg);
        dtx_proto_destroy (&msg);
    }
    else
    if (id == DTX_PROTO_ERROR && !*dtx_proto_gid (msg)) {
        //  REGISTER refused (e.g. another database registered under this
        //  name).  Loud, but once in 30 s: the heartbeat retries each second
        int64_t now = dtx_clock_ms ();
        if (!coordinator->register_refused_logged
        ||  now - coordinator->register_refused_logged >= 30000) {
            const char *name = part_link_name (self, link);
            zsys_error ("%s: the coordinator%s%s refuses to register this participant (database"
                        " %s): %s; retrying (logged at most every 30 s)", self->name,
                        *name? " ": "", name, self->identity, dtx_proto_text (msg));
            coordinator->register_refused_logged = now;
        }
        dtx_proto_destroy (&msg);
    }
    else
    if (id == DTX_PROTO_ERROR) {
        const char *name = part_link_name (self, link);
        zsys_error ("%s: coordinator%s%s says: %s", self->name, *name? " ": "", name,
                    dtx_proto_text (msg));
        dtx_proto_destroy (&msg);
    }
    else
        s_handle_request (self, link, &msg);
    return true;
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
        part_session_enqueue (session, OP_ROLLBACK, NULL, -1);
        part_session_advance (self, session);
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

//  Split a comma-separated list (blanks around items ignored) into items:
//  their count, or -1 with errbuf saying why (key: the setting's name)
static int
s_list_split (const char *key, const char *what, const char *value, bool unique,
              char items [PART_LINKS_MAX][PART_ENDPOINT_MAX], char *errbuf, size_t errlen)
{
    int count = 0;
    const char *item = value;
    while (true) {
        const char *comma = strchr (item, ',');
        const char *end = comma? comma: item + strlen (item);
        while (item < end && isspace ((unsigned char) *item))
            item++;
        while (end > item && isspace ((unsigned char) end [-1]))
            end--;
        if (end == item) {
            snprintf (errbuf, errlen, "%s: %s %d of '%s' is empty", key, what, count + 1, value);
            return -1;
        }
        if (count == PART_LINKS_MAX) {
            snprintf (errbuf, errlen, "%s: more than %d %ss in '%s' (at most %d coordinators)",
                      key, PART_LINKS_MAX, what, value, PART_LINKS_MAX);
            return -1;
        }
        if (end - item >= PART_ENDPOINT_MAX) {
            snprintf (errbuf, errlen, "%s: %s %d is too long (%d bytes, at most %d)", key, what,
                      count + 1, (int) (end - item), PART_ENDPOINT_MAX - 1);
            return -1;
        }
        memcpy (items [count], item, end - item);
        items [count][end - item] = 0;
        for (int i = 0; unique && i < count; i++)
            if (streq (items [i], items [count])) {
                snprintf (errbuf, errlen, "%s: %s %s is listed twice", key, what, items [count]);
                return -1;
            }
        count++;
        if (!comma)
            return count;
        item = comma + 1;
    }
}

//  The coordinators of the config: endpoints, and the certificate of
//  each (NULL key_files: not wanted).  Their count, or -1 with errbuf
static int
s_coordinators (const dtx_participant_config_t *config,
                char endpoints [PART_LINKS_MAX][PART_ENDPOINT_MAX],
                char key_files [PART_LINKS_MAX][PART_ENDPOINT_MAX], char *errbuf, size_t errlen)
{
    int count = s_list_split ("coordinator", "endpoint", config->coordinator_endpoint, true, endpoints,
                              errbuf, errlen);
    if (count < 0 || !key_files || config->insecure)
        return count;
    char keys [PART_LINKS_MAX][PART_ENDPOINT_MAX];
    int nkeys = s_list_split ("coordinator-key", "certificate", config->coordinator_key, false, keys,
                              errbuf, errlen);
    if (nkeys < 0)
        return -1;
    if (nkeys != 1 && nkeys != count) {
        snprintf (errbuf, errlen, "coordinator-key: %d certificates for %d coordinator endpoints:"
                  " give one for all, or one per endpoint in the order of coordinator", nkeys,
                  count);
        return -1;
    }
    for (int i = 0; i < count; i++)
        memcpy (key_files [i], keys [nkeys == 1? 0: i], PART_ENDPOINT_MAX);
    return count;
}

int
dtx_participant_config_check (const dtx_participant_config_t *config, char *errbuf, size_t errlen)
{
    const char *missing = config->insecure? NULL
                        : !config->curve_secret? "curve-secret (the participant's certificate)"
                        : !config->coordinator_key? "coordinator-key (the coordinator's public"
                                                    " certificate)"
                        : NULL;
    if (missing) {
        snprintf (errbuf, errlen, "security is on and %s is not set: see docs/security.md"
                  " (dtxctl keygen makes keys), or run with --insecure", missing);
        return -1;
    }
    if (config->coordinator_endpoint) {
        char endpoints [PART_LINKS_MAX][PART_ENDPOINT_MAX], keys [PART_LINKS_MAX][PART_ENDPOINT_MAX];
        if (s_coordinators (config, endpoints, keys, errbuf, errlen) < 0)
            return -1;
    }
    return 0;
}

dtx_participant_t *
dtx_participant_new (const dtx_participant_config_t *config, char *errbuf, size_t errlen)
{
    if (dtx_name_validate ("participant", config->name, errbuf, errlen))
        return NULL;
    if (dtx_participant_config_check (config, errbuf, errlen))
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
    char endpoints [PART_LINKS_MAX][PART_ENDPOINT_MAX], keys [PART_LINKS_MAX][PART_ENDPOINT_MAX];
    int nlinks = s_coordinators (config, endpoints, keys, errbuf, errlen);
    if (nlinks < 0)
        return NULL;
    //  Keys before the database: a wrong file is said at once
    if (config->insecure)
        zsys_warning ("participant %s: INSECURE: no CurveZMQ; it will take orders from whatever"
                      " answers on %s (docs/security.md)", config->name,
                      config->coordinator_endpoint);
    else
        for (int i = 0; i < nlinks; i++) {
            dtx_security_t *security = dtx_security_new (config->curve_secret, keys [i], errbuf, errlen);
            if (!security)
                return NULL;
            dtx_security_destroy (&security);
        }
    dtx_participant_t *self = (dtx_participant_t *) calloc (1, sizeof (dtx_participant_t));
    assert (self);
    self->config = *config;
    snprintf (self->name, sizeof self->name, "%s", config->name);
    self->nlinks = nlinks;
    for (int i = 0; i < nlinks; i++) {
        snprintf (self->links [i].endpoint, PART_ENDPOINT_MAX, "%s", endpoints [i]);
        snprintf (self->links [i].key_file, PART_ENDPOINT_MAX, "%s", config->insecure? "": keys [i]);
    }
    self->epochs = zhashx_new ();
    zhashx_set_destructor (self->epochs, (czmq_destructor *) zstr_free);
    self->conninfo = strdup (config->conninfo);
    self->sessions = zhashx_new ();
    self->in_doubt = zhashx_new ();
    self->status_pending = zlistx_new ();
    zlistx_set_destructor (self->status_pending, part_op_destroy);
    zhashx_set_destructor (self->in_doubt, (czmq_destructor *) zstr_free);
    self->scan_wanted = true;       //  at start: anything left from before?
    self->prepared = 0xFFFFFFFFu;
    self->idle = zlistx_new ();
    self->waiting = zlistx_new ();
    //  Metrics first: a bad address is said at once, and /health answers
    //  (503) while the database is being waited for
    if (part_metrics_start (self, errbuf, errlen)) {
        dtx_participant_destroy (&self);
        return NULL;
    }

    //  First connection, within the retry window
    int64_t give_up = dtx_clock_ms () + config->connect_window_ms;
    char err [512] = "";
    PGconn *conn = NULL;
    const char *permanent = NULL;
    while (!conn) {
        conn = part_pool_connect (self, err, sizeof err);
        if (conn || dtx_clock_ms () >= give_up || zsys_interrupted)
            break;
        //  What waiting cannot mend (PostgreSQL's messages, which name
        //  it): say so and stop now, not after the retry window
        permanent = strstr (err, "does not exist")? "a database or role it names does not exist"
                  : strstr (err, "authentication failed")? "authentication failed"
                  : strstr (err, "no pg_hba.conf entry")? "pg_hba.conf refuses it"
                  : strstr (err, "password is required")? "a password is required"
                  : strstr (err, "invalid connection option")? "the conninfo is invalid"
                  : NULL;
        if (permanent)
            break;
        zsys_warning ("%s: database not reachable yet (%s), retrying for another %" PRId64 " ms",
                      self->name, err, give_up - dtx_clock_ms ());
        zclock_sleep (500);
    }
    if (!conn && permanent) {
        snprintf (errbuf, errlen, "cannot connect to the database of participant %s (%s): %s;"
                  " check --conninfo and the database's roles and pg_hba.conf", self->name,
                  permanent, err);
        dtx_participant_destroy (&self);
        return NULL;
    }
    if (!conn) {
        snprintf (errbuf, errlen, "database for participant %s unreachable after %d ms: %s",
                  self->name, config->connect_window_ms, err);
        dtx_participant_destroy (&self);
        return NULL;
    }
    zlistx_add_end (self->idle, conn);
    if (part_pool_setup (self, conn, errbuf, errlen)) {
        dtx_participant_destroy (&self);
        return NULL;
    }
    while (self->connections < config->pool_min) {
        PGconn *more = part_pool_connect (self, err, sizeof err);
        if (!more)
            break;
        zlistx_add_end (self->idle, more);
    }
    //  One DEALER per coordinator, each made by dtx_sock_new (CurveZMQ
    //  with that coordinator's key)
    for (int i = 0; i < self->nlinks; i++) {
        part_link_t *link = &self->links [i];
        dtx_security_t *security = NULL;
        if (!config->insecure) {
            security = dtx_security_new (config->curve_secret, link->key_file, errbuf, errlen);
            if (!security) {
                dtx_participant_destroy (&self);
                return NULL;
            }
        }
        link->sock = dtx_sock_new (ZMQ_DEALER, link->endpoint, security, DTX_MAXMSG_REQUEST);
        dtx_security_destroy (&security);       //  (the socket has the keys)
        if (!link->sock) {
            snprintf (errbuf, errlen, "bad coordinator endpoint %s", link->endpoint);
            dtx_participant_destroy (&self);
            return NULL;
        }
        zsock_set_rcvtimeo (link->sock, 0);    //  the loop reads until empty
        zsock_set_sndtimeo (link->sock, 0);    //  and never waits to send
    }
    self->next_marker_gc = dtx_clock_ms () + 2000;
    zsys_info ("participant %s: database %s ready (max_prepared_transactions=%d, pool %d..%d,"
               " marker retention %d s), coordinator%s %s", self->name, self->identity,
               self->max_prepared, self->connections, config->pool_max, config->marker_retention_s,
               self->nlinks > 1? "s": "", config->coordinator_endpoint);
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
            part_session_end (self, session);
        zhashx_destroy (&self->sessions);
    }
    PGconn *conn;
    while (self->idle && (conn = (PGconn *) zlistx_detach (self->idle, NULL)))
        PQfinish (conn);
    zlistx_destroy (&self->idle);
    zlistx_destroy (&self->waiting);
    zhashx_destroy (&self->in_doubt);
    part_in_doubt_free (self);
    zlistx_destroy (&self->status_pending);
    for (int i = 0; i < self->nlinks; i++)
        zsock_destroy (&self->links [i].sock);
    zhashx_destroy (&self->epochs);
    part_metrics_stop (self);
    free (self->conninfo);
    free (self);
    *self_p = NULL;
}

void
dtx_participant_reload (dtx_participant_t *self, const dtx_participant_config_t *config)
{
    self->config.marker_retention_s = config->marker_retention_s;
}

int
dtx_participant_run (dtx_participant_t *self, zsock_t *pipe)
{
    size_t capacity = 64;
    zmq_pollitem_t *items = (zmq_pollitem_t *) calloc (capacity, sizeof (zmq_pollitem_t));
    session_t **polled = (session_t **) calloc (capacity, sizeof (session_t *));
    int64_t started = dtx_clock_ms ();
    int64_t next_reap = started + 1000;
    while (!self->terminated && !zsys_interrupted) {
        int64_t now = dtx_clock_ms ();
        if (now >= self->next_heartbeat) {
            self->next_heartbeat = now + self->config.heartbeat_ms;
            for (int i = 0; i < self->nlinks; i++) {
                part_link_t *link = &self->links [i];
                s_send_register (self, i);
                //  Silent since the last answer (or since we started)
                int64_t heard = link->last_register_ok? link->last_register_ok: started;
                if (now - heard > 5 * self->config.heartbeat_ms) {
                    if (!link->lost_logged)
                        zsys_warning ("%s: no answer from coordinator %s for %" PRId64 " ms;"
                                      " waiting (%zu prepared transaction(s) in doubt)%s",
                                      self->name, link->endpoint, now - heard,
                                      zhashx_size (self->in_doubt), self->config.insecure? ""
                                      : ".  CurveZMQ: a coordinator without the key of"
                                        " coordinator-key, or one whose participant-keys lacks"
                                        " ours, gets no handshake");
                    link->lost_logged = true;
                }
                else
                    link->lost_logged = false;
            }
        }
        dtx_logfile_check ();
        if (now >= next_reap) {
            s_reap_idle (self, now);
            part_status_tick (self);
            part_in_doubt_tick (self, now);
            part_marker_gc_tick (self, now);
            next_reap = now + 1000;
        }
        else
        if (self->scan_wanted)
            part_in_doubt_tick (self, now);
        //  Sessions waiting for a connection get one as they free up
        session_t *waiter = (session_t *) zlistx_first (self->waiting);
        if (waiter && zlistx_size (self->idle))
            part_session_advance (self, waiter);

        size_t count = zhashx_size (self->sessions) + self->nlinks + 1;
        if (count > capacity) {
            while (capacity < count)
                capacity *= 2;
            items = (zmq_pollitem_t *) realloc (items, capacity * sizeof (zmq_pollitem_t));
            polled = (session_t **) realloc (polled, capacity * sizeof (session_t *));
        }
        size_t n = 0;
        for (int i = 0; i < self->nlinks; i++)
            items [n++] = (zmq_pollitem_t) { zsock_resolve (self->links [i].sock), 0, ZMQ_POLLIN, 0 };
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
        int64_t metrics_due = part_metrics_tick (self, dtx_clock_ms ()) - dtx_clock_ms ();
        if (metrics_due < wait)
            wait = metrics_due;
        if (wait < 0)
            wait = 0;
        self->metrics.loop_turns++;
        if (zmq_poll (items, (int) n, wait) == -1 && errno != EINTR)
            break;
        //  PostgreSQL first: replies free connections for new work
        for (size_t i = first_session; i < n; i++)
            if (items [i].revents)
                part_session_io (self, polled [i], (items [i].revents & ZMQ_POLLOUT) != 0);
        //  At most 4096 messages or 20 ms a turn: a stream of big
        //  statements must not hold off the heartbeat and the sessions'
        //  I/O (the coordinator declares a participant lost after 5 s of
        //  silence)
        //  (one message from each coordinator in turn: none waits behind
        //  another's stream)
        //  (only links zmq_poll reported, and each until it is empty:
        //  every look at an empty ZeroMQ socket costs libzmq a getpid and
        //  a poll)
        bool readable [PART_LINKS_MAX];
        for (int i = 0; i < self->nlinks; i++)
            readable [i] = (items [i].revents & ZMQ_POLLIN) != 0;
        int64_t drain_until = dtx_clock_ms () + 20;
        int handled = 0;
        while (handled < 4096) {
            bool any = false;
            for (int i = 0; i < self->nlinks && handled < 4096; i++)
                if (readable [i] && s_handle_coordinator (self, i)) {
                    any = true;
                    handled++;
                }
                else
                    readable [i] = false;
            if (!any || dtx_clock_ms () >= drain_until)
                break;
        }
        if (pipe && (items [self->nlinks].revents & ZMQ_POLLIN)) {
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
