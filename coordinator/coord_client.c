/*  =========================================================================
    coord_client - client requests: BEGIN, EXECUTE, COMMIT, ROLLBACK,
    OUTCOME_QUERY

    BEGIN is lazy in libdtx: it arrives in one burst with the first
    request, which names the transaction by an empty gid; `begun` maps
    each client connection to the transaction it began last.
    =========================================================================
*/
#include "coord_classes.h"

//  Reply to a client: ERROR for a request
void
coord_client_error (dtx_coordinator_t *self, zsock_t *sock, zframe_t *client, uint32_t seq, const char *gid,
                int code, const char *database, const char *sqlstate, const char *text)
{
    dtx_proto_t *reply = dtx_proto_new (DTX_PROTO_ERROR);
    dtx_proto_set_routing_id (reply, client);
    dtx_proto_set_seq (reply, seq);
    dtx_proto_set_gid (reply, gid);
    dtx_proto_set_status (reply, (uint8_t) code);
    dtx_proto_set_name (reply, database);
    dtx_proto_set_sqlstate (reply, sqlstate);
    dtx_proto_set_text (reply, text);
    dtx_proto_send (reply, sock);
    dtx_proto_destroy (&reply);
}

void
coord_client_outcome (dtx_coordinator_t *self, zsock_t *sock, zframe_t *client, uint32_t seq, const char *gid,
                  int outcome, int code, const char *database, const char *sqlstate,
                  const char *text)
{
    dtx_proto_t *reply = dtx_proto_new (DTX_PROTO_OUTCOME);
    dtx_proto_set_routing_id (reply, client);
    dtx_proto_set_seq (reply, seq);
    dtx_proto_set_gid (reply, gid);
    dtx_proto_set_status (reply, (uint8_t) outcome);
    dtx_proto_set_flags (reply, outcome == DTX_COMMITTED? 0: (uint8_t) code);
    dtx_proto_set_name (reply, database);
    dtx_proto_set_sqlstate (reply, sqlstate);
    dtx_proto_set_textf (reply, "%s%s%s", dtx_errcode_name ((dtx_errcode_t) code),
                         text && *text? ": ": "", text? text: "");
    if (outcome == DTX_COMMITTED)
        dtx_proto_set_text (reply, "");
    dtx_proto_send (reply, sock);
    dtx_proto_destroy (&reply);
}

//  The transaction a client began last, for its requests that name it
//  by an empty gid (lazy begin: sent before BEGIN_OK came back)
static char *
s_client_key (zframe_t *client)
{
    return client? zframe_strhex (client): strdup ("");
}

void
coord_forget_begun (dtx_coordinator_t *self, txn_t *txn)
{
    char *key = s_client_key (txn->client);
    const char *gid = (const char *) zhashx_lookup (self->begun, key);
    if (gid && streq (gid, txn->gid))
        zhashx_delete (self->begun, key);
    free (key);
}

//  Who may send a transaction's requests and be told its outcome: with
//  CurveZMQ, the client key that began it, on any connection (a client
//  that reconnects keeps its transactions; processes sharing a key share
//  them); without, the connection that began it (its routing id).  A
//  request for another client's gid is refused: gids are predictable, and
//  a stranger must not add statements to, commit or roll back someone
//  else's transaction, nor learn which exist (dtx_outcome.c, rules 8-9).
static char *
s_owner (dtx_proto_t *msg)
{
    if (dtx_proto_user_id (msg))
        return zsys_sprintf ("k:%s", dtx_proto_user_id (msg));
    char *connection = s_client_key (dtx_proto_routing_id (msg));
    char *owner = zsys_sprintf ("c:%s", connection);
    free (connection);
    return owner;
}

const char *
coord_owner_key (txn_t *txn)
{
    return txn->owner && strncmp (txn->owner, "k:", 2) == 0? txn->owner + 2: NULL;
}

//  The key whose gids alone the sender may be told about; NULL if it may
//  be told about any (an operator key, or no CurveZMQ at all)
static const char *
s_asker (dtx_proto_t *msg)
{
    const char *role = dtx_proto_peer_role (msg);
    if (role && streq (role, "operator"))
        return NULL;
    return dtx_proto_user_id (msg);
}

//  The refusal of a gid that is not the sender's: the same whether the gid
//  is someone else's, or unknown, or was never issued
static void
s_not_yours (dtx_coordinator_t *self, dtx_proto_t *msg, const char *gid)
{
    self->refused [COORD_REFUSED_OWNER]++;
    coord_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), gid,
                        DTX_ERR_FORBIDDEN, "", "", dtx_proto_user_id (msg)
                        ? "no transaction of this client has that global id (its requests and its"
                          " outcome are for the client key that began it, or an operator key)"
                        : "no transaction of this connection has that global id (without CurveZMQ,"
                          " a transaction's requests must come on the connection that began it)");
}

//  --------------------------------------------------------------------------
//  Gids of another coordinator's shard ("not mine, ask X", docs/ha.md)

//  True if gid is valid and of another shard (named into shard)
static bool
s_foreign (dtx_coordinator_t *self, const char *gid, char *shard)
{
    uint64_t epoch, counter;
    return dtx_gid_parse (gid, shard, &epoch, &counter) == 0 && strcmp (shard, self->id);
}

//  A request of another shard's transaction: nothing is done here
static void
s_refuse_foreign (dtx_coordinator_t *self, dtx_proto_t *msg, const char *gid, const char *shard)
{
    char text [300];
    snprintf (text, sizeof text, "global id of shard %s; this coordinator holds shard %s: a"
              " transaction's requests go to the coordinator that began it", shard, self->id);
    coord_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), gid,
                        DTX_ERR_NOT_OWNER, "", "", text);
}

//  The outcome of another shard's gid, as far as this coordinator can
//  tell without being its owner: from the decision store, read under
//  the shard's row lock (covered by a clean commit, finding 2).  A
//  decision: committed.  None, for a participant's prepared gid (a
//  two-phase branch) of an epoch the store has closed: aborted (only the
//  epoch's holder writes its decisions, and a fenced write inserts
//  nothing).  Anything else is the owner's to say (finding 3): UNKNOWN
//  with DTX_ERR_NOT_OWNER naming it; never "aborted" for a client, whose
//  gid may be a one-phase commit (the owner probes for its marker).
//  Returns false if asker_key may not know (the caller refuses).
static bool
s_answer_foreign (dtx_coordinator_t *self, zsock_t *sock, zframe_t *to, uint32_t seq,
                  const char *gid, const char *shard, dtx_asker_t asker, const char *asker_key)
{
    char text [600];
    if (!self->pg) {
        snprintf (text, sizeof text, "global id of shard %s; this coordinator holds shard %s and"
                  " has no shared decision store: ask shard %s's coordinator", shard, self->id, shard);
        coord_client_outcome (self, sock, to, seq, gid, DTX_UNKNOWN, DTX_ERR_NOT_OWNER, "", "", text);
        return true;
    }
    bool found = false, leased = false;
    dtx_pgstore_decision_t decision;
    uint64_t current = 0, epoch = 0, counter = 0;
    char parsed [DTX_NAME_MAX + 1];
    dtx_gid_parse (gid, parsed, &epoch, &counter);
    //  Each is a blocking read of the store: at most FOREIGN_LOOKUPS_PER_S
    //  a second, and none once half the lease has gone by since the last
    //  clean renewal (the loop must renew it): beyond, ask again later
    int64_t now = dtx_clock_ms ();
    if (now - self->foreign_window >= 1000) {
        self->foreign_window = now;
        self->foreign_in_window = 0;
    }
    if (self->foreign_in_window >= FOREIGN_LOOKUPS_PER_S
    ||  now - self->lease_sent > self->config.lease_ms / 2) {
        self->refused [COORD_REFUSED_FOREIGN]++;
        snprintf (text, sizeof text, "busy: more than %d questions a second about other shards'"
                  " gids (or the lease due for renewal); ask again, or ask shard %s's coordinator",
                  FOREIGN_LOOKUPS_PER_S, shard);
        coord_client_outcome (self, sock, to, seq, gid, DTX_UNKNOWN, DTX_ERR_BUSY, "", "", text);
        return true;
    }
    self->foreign_in_window++;
    self->store_foreign_lookups++;
    if (dtx_pgstore_lookup (self->pg, gid, shard, &found, &decision, &current) != DTX_PGSTORE_OK) {
        snprintf (text, sizeof text, "the decision store cannot say now (%s): ask again",
                  dtx_pgstore_error (self->pg));
        coord_client_outcome (self, sock, to, seq, gid, DTX_UNKNOWN, DTX_ERR_COORDINATOR, "", "", text);
        return true;
    }
    if (found) {
        if (asker_key && *decision.owner_key && strcmp (decision.owner_key, asker_key))
            return false;
        coord_client_outcome (self, sock, to, seq, gid, DTX_COMMITTED, 0, "", "", "");
        return true;
    }
    uint64_t forgotten_epoch, forgotten_counter;
    dtx_pgstore_lookup_forgotten (self->pg, &forgotten_epoch, &forgotten_counter);
    if (epoch < forgotten_epoch || (epoch == forgotten_epoch && counter <= forgotten_counter)) {
        snprintf (text, sizeof text, "no longer retained: shard %s's decisions up to %" PRIu64 ":%"
                  PRIu64 " were pruned (outcome-retention); this one is not in the store", shard,
                  forgotten_epoch, forgotten_counter);
        coord_client_outcome (self, sock, to, seq, gid, DTX_UNKNOWN, DTX_ERR_COORDINATOR, "", "", text);
        return true;
    }
    if (asker == DTX_ASKER_PARTICIPANT && current > epoch) {
        snprintf (text, sizeof text, "no commit decision in the decision store, and epoch %" PRIu64
                  " of shard %s is closed (now %" PRIu64 "): presumed abort", epoch, shard, current);
        coord_client_outcome (self, sock, to, seq, gid, DTX_ABORTED, DTX_ERR_NO_TXN, "", "", text);
        return true;
    }
    const char *owner = dtx_pgstore_lookup_owner (self->pg, &leased);
    if (current == 0)
        snprintf (text, sizeof text, "global id of shard %s, which the decision store does not"
                  " know; this coordinator holds shard %s", shard, self->id);
    else
        snprintf (text, sizeof text, "global id of shard %s (held at epoch %" PRIu64 " by %s%s);"
                  " this coordinator holds shard %s and may not presume its outcome: ask shard"
                  " %s's coordinator", shard, current, *owner? owner: "nobody",
                  leased? "": ", lease expired", self->id, shard);
    coord_client_outcome (self, sock, to, seq, gid, DTX_UNKNOWN, DTX_ERR_NOT_OWNER, "", "", text);
    return true;
}

static size_t
s_owner_count (dtx_coordinator_t *self, const char *owner)
{
    return (size_t) (uintptr_t) zhashx_lookup (self->owners, owner);
}

//  txn is owner's (takes the string)
void
coord_owner_set (dtx_coordinator_t *self, txn_t *txn, char *owner)
{
    txn->owner = owner;
    zhashx_update (self->owners, owner, (void *) (uintptr_t) (s_owner_count (self, owner) + 1));
}

void
coord_owner_release (dtx_coordinator_t *self, txn_t *txn)
{
    if (!txn->owner)
        return;
    size_t count = s_owner_count (self, txn->owner);
    if (count <= 1)
        zhashx_delete (self->owners, txn->owner);
    else
        zhashx_update (self->owners, txn->owner, (void *) (uintptr_t) (count - 1));
}

static void
s_resolve_begun (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    if (*dtx_proto_gid (msg))
        return;
    char *key = s_client_key (dtx_proto_routing_id (msg));
    const char *begun = (const char *) zhashx_lookup (self->begun, key);
    if (begun && *begun)
        dtx_proto_set_gid (msg, begun);
    free (key);
}

//  A BEGIN was refused: the requests sent behind it (by an empty gid)
//  must not land in this connection's previous transaction
static void
s_begin_refused (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    char *key = s_client_key (dtx_proto_routing_id (msg));
    if (zhashx_lookup (self->begun, key))
        zhashx_update (self->begun, key, "");
    free (key);
}

static void
s_handle_begin (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    if (self->draining) {
        coord_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), "",
                        DTX_ERR_UNAVAILABLE, "", "", "coordinator is shutting down: no new"
                        " transactions (nothing was done; retry, on another coordinator if there is one)");
        s_begin_refused (self, msg);
        return;
    }
    //  Limits: a flood of BEGINs must not take the memory and the timers
    //  every other client needs
    char *owner = s_owner (msg);
    const char *refusal = NULL;
    int64_t timeout = dtx_proto_timeout (msg)? (int64_t) dtx_proto_timeout (msg): self->config.txn_timeout_ms;
    char text [256];
    if (timeout > TIMEOUT_MAX_MS) {
        snprintf (text, sizeof text, "transaction timeout %" PRId64 " ms is above the limit of"
                  " %d ms", timeout, TIMEOUT_MAX_MS);
        refusal = text;
        self->refused [COORD_REFUSED_TIMEOUT]++;
    }
    else
    if (zhashx_size (self->txns) >= (size_t) self->config.txns_max) {
        snprintf (text, sizeof text, "%zu live transactions, the limit (txns-max): retry later",
                  zhashx_size (self->txns));
        refusal = text;
        self->refused [COORD_REFUSED_TXNS]++;
    }
    else
    if (s_owner_count (self, owner) >= (size_t) self->config.client_txns_max) {
        snprintf (text, sizeof text, "this client has %zu live transactions, the limit"
                  " (client-txns-max): end some first", s_owner_count (self, owner));
        refusal = text;
        self->refused [COORD_REFUSED_CLIENT_TXNS]++;
    }
    if (refusal) {
        coord_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), "",
                            timeout > TIMEOUT_MAX_MS? DTX_ERR_BAD_REQUEST: DTX_ERR_BUSY, "", "", refusal);
        s_begin_refused (self, msg);
        zstr_free (&owner);
        return;
    }
    txn_t *txn = (txn_t *) calloc (1, sizeof (txn_t));
    assert (txn);
    coord_owner_set (self, txn, owner);
    dtx_gid_format (txn->gid, self->id, self->epoch, ++self->counter);
    dtx_outcomes_set_issued (self->outcomes, self->epoch, self->counter);
    txn->state = TXN_ACTIVE;
    txn->started = dtx_clock_ms ();
    txn->deadline = txn->started + timeout;
    txn->client = zframe_dup (dtx_proto_routing_id (msg));
    zhashx_insert (self->txns, txn->gid, txn);
    coord_timer_schedule (self, txn);
    char *key = s_client_key (txn->client);
    zhashx_update (self->begun, key, txn->gid);
    free (key);
    if (dtx_proto_flags (msg) & DTX_BEGIN_QUIET)
        return;         //  the gid goes with the answer to the next request

    dtx_proto_t *reply = dtx_proto_new (DTX_PROTO_BEGIN_OK);
    dtx_proto_set_routing_id (reply, txn->client);
    dtx_proto_set_seq (reply, dtx_proto_seq (msg));
    dtx_proto_set_gid (reply, txn->gid);
    dtx_proto_send (reply, self->clients);
    dtx_proto_destroy (&reply);
}

//  Find the live transaction a client request names, or answer the
//  request with an error and return NULL
static txn_t *
s_client_txn (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    s_resolve_begun (self, msg);
    const char *gid = dtx_proto_gid (msg);
    char err [256];
    if (dtx_gid_validate (gid, err, sizeof err)) {
        if (*gid == 0)
            snprintf (err, sizeof err, "global id is empty, and no live transaction was begun"
                      " on this connection");
        coord_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), "",
                        DTX_ERR_BAD_REQUEST, "", "", err);
        return NULL;
    }
    char shard [DTX_NAME_MAX + 1];
    if (s_foreign (self, gid, shard)) {
        s_refuse_foreign (self, msg, gid, shard);
        return NULL;
    }
    txn_t *txn = (txn_t *) zhashx_lookup (self->txns, gid);
    if (txn) {
        char *owner = s_owner (msg);
        bool own = txn->owner && streq (owner, txn->owner);
        zstr_free (&owner);
        if (!own) {
            s_not_yours (self, msg, gid);   //  (the owner's transaction is untouched)
            return NULL;
        }
        if ((!txn->client || !zframe_eq (txn->client, dtx_proto_routing_id (msg)))
        &&  !txn->client_request) {
            //  (not while a request waits: its answer, with its seq, goes
            //  to the connection that sent it)
            //  Its key, on another connection (the client reconnected):
            //  answers go there from now on
            coord_forget_begun (self, txn);
            zframe_destroy (&txn->client);
            txn->client = zframe_dup (dtx_proto_routing_id (msg));
        }
        return txn;
    }
    char recall [600];
    if (coord_store_recall (self, gid, recall, sizeof recall)) {
        coord_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), gid,
                            DTX_ERR_COORDINATOR, "", "", recall);
        return NULL;
    }
    if (!dtx_outcomes_visible (self->outcomes, gid, NULL, s_asker (msg))) {
        s_not_yours (self, msg, gid);
        return NULL;
    }
    int id = dtx_proto_id (msg);
    dtx_answer_t answer;
    dtx_outcomes_answer (self->outcomes, gid, DTX_LIVE_NONE, DTX_ASKER_CLIENT, &answer);
    if (dtx_outcomes_lookup (self->outcomes, gid) == 0)
        coord_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), gid,
                            DTX_ERR_NO_TXN, "", "", "no such live transaction (ask its outcome with"
                            " OUTCOME_QUERY)");
    else
    if (id == DTX_PROTO_ROLLBACK && answer.outcome == DTX_ABORTED)
        //  Rolling back an aborted transaction is harmless: say so
        coord_client_outcome (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), gid,
                              DTX_ABORTED, answer.code, answer.database, answer.sqlstate, answer.reason);
    else {
        char text [768];
        snprintf (text, sizeof text, "transaction %s already %s%s%s", gid,
                  answer.outcome == DTX_COMMITTED? "committed": "aborted",
                  *answer.reason? ": ": "", answer.reason);
        coord_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), gid,
                            answer.outcome == DTX_ABORTED && id == DTX_PROTO_EXECUTE
                                ? DTX_ERR_ABORT_ONLY: DTX_ERR_STATE,
                            answer.database, answer.sqlstate, text);
    }
    return NULL;
}

//  A statement from a client.  With DTX_EXEC_DEFER the client wants no
//  answer: the statement is held here (taken from *msg_p) and goes to
//  its participant with the next statement for that branch, or with the
//  commit, in the same message train as PREPARE; any problem with it
//  dooms the transaction and is reported when the client next asks.
static void
s_handle_execute (dtx_coordinator_t *self, dtx_proto_t **msg_p)
{
    dtx_proto_t *msg = *msg_p;
    bool defer = (dtx_proto_flags (msg) & DTX_EXEC_DEFER) != 0;
    txn_t *txn = s_client_txn (self, msg);
    if (!txn)
        return;
    zframe_t *client = dtx_proto_routing_id (msg);
    uint32_t seq = dtx_proto_seq (msg);
    char text [512];
    if (txn->state != TXN_ACTIVE) {
        snprintf (text, sizeof text, "transaction is %s: no more statements",
                  coord_txn_state_name (txn->state));
        if (!defer)
            coord_client_error (self, self->clients, client, seq, txn->gid, DTX_ERR_STATE, "", "", text);
        return;
    }
    if (txn->client_request) {
        if (defer) {
            txn->abort_only = true;
            coord_txn_set_error (txn, DTX_ERR_BUSY, "", "", "deferred statement sent while a statement was running");
        }
        else
            coord_client_error (self, self->clients, client, seq, txn->gid, DTX_ERR_BUSY, "", "",
                            "a statement is already running in this transaction");
        return;
    }
    if (txn->abort_only) {
        snprintf (text, sizeof text, "transaction is abort-only after an earlier error: %s",
                  txn->err_text? txn->err_text: "");
        if (!defer)
            coord_client_error (self, self->clients, client, seq, txn->gid, DTX_ERR_ABORT_ONLY,
                            txn->err_database, txn->err_sqlstate, text);
        return;
    }
    const char *name = dtx_proto_name (msg);
    char err [512];
    participant_t *participant = NULL;
    if (dtx_name_validate ("database", name, err, sizeof err) == 0) {
        participant = (participant_t *) zhashx_lookup (self->participants, name);
        if (!participant || !participant->connected) {
            //  Name the ones there are (a typo is the usual cause)
            char known [200] = "";
            size_t used = 0;
            participant_t *other = (participant_t *) zhashx_first (self->participants);
            while (other && used < sizeof known - 8) {
                if (other->connected)
                    used += snprintf (known + used, sizeof known - used, "%s%s", used? ", ": "",
                                      other->name);
                other = (participant_t *) zhashx_next (self->participants);
            }
            if (used >= sizeof known - 8)
                snprintf (known + sizeof known - 8, 8, ", ...");
            snprintf (err, sizeof err, "no participant named '%s' %s (connected: %s)", name,
                      participant? "is connected": "has registered", used? known: "none");
        }
    }
    if (!participant || !participant->connected) {
        //  Like any failed statement, this dooms the transaction: an
        //  application that carried on regardless would otherwise commit
        //  the other databases' part alone
        txn->abort_only = true;
        coord_txn_set_error (txn, DTX_ERR_UNKNOWN_DB, name, "", err);
        if (!defer)
            coord_client_error (self, self->clients, client, seq, txn->gid, DTX_ERR_UNKNOWN_DB, name, "", err);
        return;
    }
    branch_t *branch = coord_txn_branch (txn, participant);
    if (!branch) {
        branch = coord_txn_add_branch (txn, participant);
        if (!branch) {
            txn->abort_only = true;
            coord_txn_set_error (txn, DTX_ERR_BAD_REQUEST, name, "", "too many databases in one transaction");
            if (!defer)
                coord_client_error (self, self->clients, client, seq, txn->gid, DTX_ERR_BAD_REQUEST, name, "",
                                "too many databases in one transaction");
            return;
        }
        branch->state = BRANCH_ACTIVE;
    }
    if (defer) {
        if (branch->ndeferred == branch->deferred_size) {
            branch->deferred_size = branch->deferred_size? branch->deferred_size * 2: 2;
            branch->deferred = (dtx_proto_t **) realloc (branch->deferred,
                                                         branch->deferred_size * sizeof (dtx_proto_t *));
            assert (branch->deferred);
        }
        branch->deferred [branch->ndeferred++] = msg;
        *msg_p = NULL;
        char **params;
        size_t nparams = dtx_proto_params (msg, &params);
        //  (what it costs here: each parameter is a pointer and a string)
        branch->deferred_bytes += strlen (dtx_proto_text (msg)) + 256;
        for (size_t i = 0; i < nparams; i++)
            branch->deferred_bytes += sizeof (char *) + (params [i]? strlen (params [i]) + 1: 0);
        if ((branch->ndeferred >= DEFERRED_HOLD_MAX || branch->deferred_bytes >= DEFERRED_BYTES_MAX)
        &&  branch->ahead_bytes + branch->deferred_bytes > DEFERRED_AHEAD_MAX) {
            //  Sent ahead with nothing to wait for, they would pile up in
            //  the participant's queue faster than its database runs them
            //  (one client's flood once starved a participant's heartbeat,
            //  and it was declared lost with everyone's transactions)
            txn->abort_only = true;
            self->refused [COORD_REFUSED_DEFERRED]++;
            char text [256];
            snprintf (text, sizeof text, "more than %d MiB of statements sent with dtx_send to %s"
                      " without waiting for an answer: refused (use dtx_exec now and then, or"
                      " smaller transactions)", DEFERRED_AHEAD_MAX >> 20, name);
            coord_txn_set_error (txn, DTX_ERR_BUSY, name, "", text);
            return;
        }
        if ((branch->ndeferred >= DEFERRED_HOLD_MAX || branch->deferred_bytes >= DEFERRED_BYTES_MAX)
        &&  (branch->ahead_bytes += branch->deferred_bytes,
             coord_branch_flush (self, txn, branch, 0, 0))) {
            //  Many of them, or big: they go ahead now (the participant runs
            //  them and keeps the first failure), so that this process
            //  holds at most DEFERRED_HOLD_MAX statements and about
            //  DEFERRED_BYTES_MAX bytes per branch, however many come
            txn->abort_only = true;
            coord_txn_set_error (txn, DTX_ERR_PARTICIPANT, name, "08006", "cannot reach participant");
        }
        return;
    }
    //  Statements held for this branch go first, in order
    uint8_t client_flags = dtx_proto_flags (msg);
    bool reachable = coord_branch_flush (self, txn, branch, 0, 0) == 0;
    //  Forward: same message, our seq, flag the branch's first statement
    //  so that a participant that lost the session (restart) says so
    //  instead of silently starting a new one
    dtx_proto_set_routing_id (msg, participant->routing_id);
    dtx_proto_set_seq (msg, coord_branch_await (self, branch, DTX_PROTO_EXECUTE, 0));
    dtx_proto_set_flags (msg, branch->started? 0: DTX_EXEC_FIRST);
    branch->started = true;
    txn->client_request = DTX_PROTO_EXECUTE;
    txn->client_seq = seq;
    coord_txn_working_arm (txn, client_flags);
    if (!reachable || dtx_proto_send (msg, self->participants_sock)) {
        txn->abort_only = true;
        coord_txn_set_error (txn, DTX_ERR_PARTICIPANT, name, "", "cannot reach participant");
        //  Gone (ZeroMQ knows no such peer): until it registers again
        participant->connected = false;
        branch->awaiting = false;
        txn->client_request = 0;
        coord_participant_lost (self, participant, "unreachable");
        //  (msg's routing id is the participant's now: answer txn->client)
        coord_client_error (self, self->clients, txn->client, seq, txn->gid, DTX_ERR_PARTICIPANT,
                        name, "", "cannot reach participant");
    }
    else
        coord_timer_working (self, txn);
}

static void
s_handle_commit (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    txn_t *txn = s_client_txn (self, msg);
    if (!txn)
        return;
    zframe_t *client = dtx_proto_routing_id (msg);
    uint32_t seq = dtx_proto_seq (msg);
    if (txn->state == TXN_ABORTING && !txn->client_request) {
        //  It aborted (timeout, error) before the client asked
        coord_client_outcome (self, self->clients, client, seq, txn->gid, DTX_ABORTED, txn->err_code,
                              txn->err_database, txn->err_sqlstate, txn->err_text);
        return;
    }
    if (txn->state != TXN_ACTIVE || txn->client_request) {
        coord_client_error (self, self->clients, client, seq, txn->gid,
                        txn->client_request == DTX_PROTO_EXECUTE? DTX_ERR_BUSY: DTX_ERR_STATE,
                        "", "", txn->client_request == DTX_PROTO_EXECUTE
                            ? "a statement is still running"
                            : "commit or rollback already in progress");
        return;
    }
    txn->client_request = DTX_PROTO_COMMIT;
    txn->client_seq = seq;
    coord_txn_working_arm (txn, dtx_proto_flags (msg));
    coord_timer_working (self, txn);        //  (before: the commit may end txn)
    txn->ack_decided = (dtx_proto_flags (msg) & DTX_COMMIT_ACK_DECIDED) != 0;
    if (txn->abort_only) {
        coord_txn_abort (self, txn, DTX_ERR_ABORT_ONLY, NULL, NULL, NULL);
        return;
    }
    coord_txn_commit (self, txn);
}

static void
s_handle_rollback (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    txn_t *txn = s_client_txn (self, msg);
    if (!txn)
        return;
    if (txn->state == TXN_ABORTING) {
        //  Aborting already (timeout, error): that is what was asked
        coord_client_outcome (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg),
                              txn->gid, DTX_ABORTED, txn->err_code, txn->err_database,
                              txn->err_sqlstate, txn->err_text);
        return;
    }
    //  A running statement does not block a rollback (the client may have
    //  given up waiting for it): its late result is dropped as stale
    if (txn->state != TXN_ACTIVE
    || (txn->client_request && txn->client_request != DTX_PROTO_EXECUTE)) {
        coord_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), txn->gid,
                        DTX_ERR_STATE, "", "", "commit or rollback already in progress");
        return;
    }
    txn->client_request = DTX_PROTO_ROLLBACK;
    txn->client_seq = dtx_proto_seq (msg);
    coord_txn_working_arm (txn, dtx_proto_flags (msg));
    coord_timer_working (self, txn);        //  (before: the abort may end txn)
    coord_txn_abort (self, txn, DTX_ERR_ABORT_ONLY, NULL, NULL, "rolled back by the client");
}

//  An OUTCOME_QUERY, from a client or a participant: the answer comes
//  from dtx_outcome, or from the participants of the gid's epoch
//  The answer, once the store was asked about an earlier epoch's gid
//  (coord_store_recall)
static void
s_answer_recalled (dtx_coordinator_t *self, zsock_t *sock, zframe_t *to, uint32_t seq,
                   const char *gid, dtx_asker_t asker)
{
    txn_t *txn = (txn_t *) zhashx_lookup (self->txns, gid);
    dtx_answer_t answer;
    dtx_outcomes_answer (self->outcomes, gid, txn? coord_txn_live (txn): DTX_LIVE_NONE, asker, &answer);
    if (answer.outcome == DTX_ANSWER_REFUSE)
        coord_client_error (self, sock, to, seq, gid, answer.code, "", "", answer.reason);
    else
    if (answer.outcome == DTX_ANSWER_PROBE)
        coord_probe_start (self, &answer, gid, sock, to, seq, PROBE_WAITER_CLIENT);
    else
    if (txn && answer.outcome != DTX_IN_PROGRESS)
        //  A live transaction's own error says more than the answer's
        coord_client_outcome (self, sock, to, seq, gid, answer.outcome, txn->err_code,
                              txn->err_database, txn->err_sqlstate, txn->err_text);
    else
        coord_client_outcome (self, sock, to, seq, gid, answer.outcome, answer.code,
                              answer.database, answer.sqlstate, answer.reason);
}

//  Recall failed: UNKNOWN with why (never the probe's "aborted" for a
//  commit the store may hold)
static bool
s_recall (dtx_coordinator_t *self, zsock_t *sock, zframe_t *to, uint32_t seq, const char *gid)
{
    char recall [600];
    if (coord_store_recall (self, gid, recall, sizeof recall) == 0)
        return true;
    coord_client_outcome (self, sock, to, seq, gid, DTX_UNKNOWN, DTX_ERR_COORDINATOR, "", "", recall);
    return false;
}

void
coord_answer_outcome (dtx_coordinator_t *self, zsock_t *sock, zframe_t *to, uint32_t seq,
                      const char *gid, dtx_asker_t asker)
{
    char shard [DTX_NAME_MAX + 1];
    if (s_foreign (self, gid, shard))
        s_answer_foreign (self, sock, to, seq, gid, shard, asker, NULL);
    else
    if (s_recall (self, sock, to, seq, gid))
        s_answer_recalled (self, sock, to, seq, gid, asker);
}

static void
s_handle_outcome_query (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    //  (how a client learns its gid before any other answer: dtx_txn_gid
    //  after a quiet BEGIN whose request's answer was lost)
    s_resolve_begun (self, msg);
    const char *gid = dtx_proto_gid (msg);
    char shard [DTX_NAME_MAX + 1];
    if (s_foreign (self, gid, shard)) {
        if (!s_answer_foreign (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg),
                               gid, shard, DTX_ASKER_CLIENT, s_asker (msg)))
            s_not_yours (self, msg, gid);
        return;
    }
    txn_t *txn = (txn_t *) zhashx_lookup (self->txns, gid);
    //  (recalled first: a commit's owner may be in the store)
    if (!s_recall (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), gid))
        return;
    if (!dtx_outcomes_visible (self->outcomes, gid, txn? coord_owner_key (txn): NULL, s_asker (msg))) {
        s_not_yours (self, msg, gid);
        return;
    }
    s_answer_recalled (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg),
                       gid, DTX_ASKER_CLIENT);
}

//  One message, if there is one (the socket does not block): false if none
bool
coord_handle_client (dtx_coordinator_t *self)
{
    dtx_proto_t *msg;
    int got = coord_recv (self, self->clients, "client", &msg);
    if (got <= 0)
        return got == 0;
    switch (dtx_proto_id (msg)) {
        case DTX_PROTO_BEGIN:         s_handle_begin (self, msg); break;
        case DTX_PROTO_EXECUTE:       s_handle_execute (self, &msg); break;
        case DTX_PROTO_COMMIT:        s_handle_commit (self, msg); break;
        case DTX_PROTO_ROLLBACK:      s_handle_rollback (self, msg); break;
        case DTX_PROTO_OUTCOME_QUERY: s_handle_outcome_query (self, msg); break;
        default:
            zsys_warning ("client: unexpected %s message, dropped", dtx_proto_command (msg));
            coord_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg),
                            dtx_proto_gid (msg), DTX_ERR_BAD_REQUEST, "", "",
                            "message not valid from a client");
    }
    dtx_proto_destroy (&msg);
    return true;
}

