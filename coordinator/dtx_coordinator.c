/*  =========================================================================
    dtx_coordinator - the coordinator engine

    NOTES

    One event loop drives everything (docs/architecture.md):

      client ROUTER  <- BEGIN, EXECUTE, COMMIT, ROLLBACK, OUTCOME_QUERY
      participant ROUTER <- REGISTER (also heartbeat), RESULT, ERROR,
                            VOTE, DONE

    Each loop turn: poll, drain both sockets, run timers, then the group
    commit point: every COMMIT record appended during this turn is written
    and made durable with one fdatasync, and only then does COMMIT PREPARED
    go out for those transactions.

    Life of a transaction that wrote to two or more databases:
      ACTIVE     statements routed to participants, one at a time;
                 deferred ones (dtx_send) held per branch, sent before
                 the branch's next statement, past DEFERRED_HOLD_MAX,
                 or with the commit: the last one carries PREPARE
      PREPARING  PREPARE sent to every branch in parallel, votes awaited
      LOGGING    every vote YES/READONLY; COMMIT record buffered
      COMMITTING record durable; COMMIT PREPARED sent; acks awaited
      (gone)     END buffered; outcome kept in the outcomes map
    Any NO vote, error, vote timeout or transaction timeout: ABORTING,
    ROLLBACK (PREPARED) to every branch, nothing logged (presumed abort).
    One branch only: one-phase COMMIT, no PREPARE, no log record.

    BEGIN is lazy in libdtx: it arrives in one burst with the first
    request, which names the transaction by an empty gid; `begun` maps
    each client connection to the transaction it began last.

    Participants replies are matched by gid and by the seq the coordinator
    put in its request; a reply with another seq is stale (an earlier
    attempt) and dropped.
    =========================================================================
*/
#include "dtx_coordinator.h"
#include "dtx_log.h"
#include "dtx_metrics.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include "dtx_fault.h"
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#define BRANCHES_MAX 64
#define DRAIN_MAX 4096              //  messages per socket per loop turn
#define TICK_MS 20                  //  timer granularity
#define PHASE2_RETRY_MAX_MS 30000
#define DEFERRED_HOLD_MAX 64        //  deferred statements held per branch before
                                    //  they go ahead to the participant

typedef struct {
    char name [DTX_NAME_MAX + 1];
    zframe_t *routing_id;           //  current connection, NULL until registered
    int64_t last_seen;
    bool connected;
    uint32_t prepared;              //  its database's dtx prepared transactions
} participant_t;

//  State of one transaction
typedef enum {
    TXN_ACTIVE,                     //  running statements
    TXN_PREPARING,                  //  PREPARE sent, votes awaited
    TXN_LOGGING,                    //  COMMIT record buffered, fsync pending
    TXN_COMMITTING,                 //  decision durable (or one-phase); COMMIT sent
    TXN_ABORTING                    //  ROLLBACK sent, acks awaited
} txn_state_t;

static const char *
s_txn_state_name (txn_state_t state)
{
    switch (state) {
        case TXN_ACTIVE:     return "active";
        case TXN_PREPARING:  return "preparing";
        case TXN_LOGGING:    return "logging";
        case TXN_COMMITTING: return "committing";
        case TXN_ABORTING:   return "aborting";
    }
    return "?";
}

//  State of one transaction's work on one participant
typedef enum {
    BRANCH_ACTIVE,                  //  enlisted, statements may have run
    BRANCH_PREPARING,               //  PREPARE sent
    BRANCH_PREPARED,                //  voted YES: a prepared transaction exists
    BRANCH_FINISHING,               //  COMMIT / ROLLBACK (PREPARED) sent
    BRANCH_DONE                     //  nothing left on this participant
} branch_state_t;

typedef struct {
    participant_t *participant;
    branch_state_t state;
    bool awaiting;                  //  a request is outstanding
    uint32_t seq;                   //  seq of the outstanding request
    int request;                    //  its message id
    uint8_t request_flags;
    int64_t sent_at;
    int retries;
    int64_t next_retry;             //  0 = no retry scheduled
    char *last_error;               //  of the last failed phase-2 try
    bool started;                   //  a statement went to the participant
    dtx_proto_t **deferred;         //  statements held for the commit
    size_t ndeferred, deferred_size;
} branch_t;

typedef struct {
    char gid [DTX_GID_MAX + 1];
    txn_state_t state;
    bool commit_decided;            //  COMMITTING means commit; ABORTING abort
    bool logged;                    //  a COMMIT record for it is in the log
    bool recovered;                 //  replayed from the log at start
    bool one_phase;
    bool abort_only;
    bool ack_decided;               //  answer the client once the decision is durable
    int64_t started;
    int64_t deadline;               //  transaction timeout
    int64_t phase_deadline;         //  vote timeout, or reply timeout
    int64_t prepare_at;             //  PREPARE sent (for the metrics)
    int64_t decided_at;             //  decision durable
    zframe_t *client;               //  routing id of the client
    uint32_t client_seq;            //  seq of the client request awaiting reply
    int client_request;             //  its id, 0 = none pending
    size_t nbranches;
    size_t branches_size;           //  allocated (most transactions: 2)
    branch_t *branches;
    //  Why it aborted (or first statement error)
    int err_code;
    char err_database [DTX_NAME_MAX + 1];
    char err_sqlstate [8];
    char *err_text;
} txn_t;

//  A finished transaction's outcome, kept for OUTCOME_QUERY and for a
//  client that asks again (commit twice, statement after abort)
typedef struct {
    uint8_t outcome;                //  DTX_COMMITTED or DTX_ABORTED
    uint8_t err_code;
    char err_database [DTX_NAME_MAX + 1];
    char err_sqlstate [8];
    char *err_text;
} outcome_t;

struct _dtx_coordinator_t {
    dtx_coordinator_config_t config;
    char id [DTX_NAME_MAX + 1];
    zsock_t *clients;
    zsock_t *participants_sock;
    zsock_t *admin;                 //  dtxctl, local ipc endpoint
    char *admin_path;               //  its socket file
    int64_t started;
    dtx_log_t *log;
    uint64_t epoch;
    uint64_t counter;               //  gids issued this epoch
    uint32_t seq;                   //  requests to participants
    zhashx_t *participants;         //  name -> participant_t
    zhashx_t *txns;                 //  gid -> txn_t, live transactions
    zhashx_t *begun;                //  client routing id (hex) -> gid it began last
    zhashx_t *outcomes;             //  gid -> outcome_t, finished
    zlistx_t *outcome_order;        //  gids in insertion order, for eviction
    uint64_t compact_epoch;         //  watermark of the running compaction
    uint64_t compact_counter;
    uint64_t forgotten_epoch;       //  outcomes of gids up to here may be
    uint64_t forgotten_counter;     //  forgotten (evicted, compacted away)
    zlistx_t *logging;              //  txns whose COMMIT awaits the next sync
    int64_t end_pending_since;      //  END records buffered since (0 = none)
    int64_t next_tick;
    bool terminated;
    bool draining;                  //  SIGTERM: no new transactions
    int64_t drain_deadline;
    //  Replay state
    zhashx_t *replay_commits;       //  gid -> zlistx of participant names
    uint64_t replay_epoch;
    //  Counters
    uint64_t committed;
    uint64_t aborted;
    size_t recovering;              //  replayed commits not yet finished
    uint64_t phase2_retries;
    dtx_metrics_t *metrics;         //  NULL unless serving metrics
    int64_t next_metrics;
};

static void s_participant_lost (dtx_coordinator_t *self, participant_t *participant, const char *why);

//  --------------------------------------------------------------------------
//  Small helpers

static void
s_outcome_destroy (void **item_p)
{
    outcome_t *outcome = (outcome_t *) *item_p;
    if (outcome) {
        free (outcome->err_text);
        free (outcome);
        *item_p = NULL;
    }
}

static void
s_participant_destroy (void **item_p)
{
    participant_t *participant = (participant_t *) *item_p;
    if (participant) {
        zframe_destroy (&participant->routing_id);
        free (participant);
        *item_p = NULL;
    }
}

static void
s_txn_destroy (txn_t **txn_p)
{
    txn_t *txn = *txn_p;
    if (txn) {
        zframe_destroy (&txn->client);
        for (size_t i = 0; i < txn->nbranches; i++) {
            branch_t *branch = &txn->branches [i];
            free (branch->last_error);
            for (size_t j = 0; j < branch->ndeferred; j++)
                dtx_proto_destroy (&branch->deferred [j]);
            free (branch->deferred);
        }
        free (txn->branches);
        free (txn->err_text);
        free (txn);
        *txn_p = NULL;
    }
}

static void
s_txn_destructor (void **item_p)
{
    s_txn_destroy ((txn_t **) item_p);
}

static participant_t *
s_participant_require (dtx_coordinator_t *self, const char *name)
{
    participant_t *participant = (participant_t *) zhashx_lookup (self->participants, name);
    if (!participant) {
        participant = (participant_t *) calloc (1, sizeof (participant_t));
        assert (participant);
        snprintf (participant->name, sizeof participant->name, "%s", name);
        zhashx_insert (self->participants, name, participant);
    }
    return participant;
}

//  Outcomes of gids up to (epoch, counter) may no longer be known
static void
s_forget_up_to (dtx_coordinator_t *self, uint64_t epoch, uint64_t counter)
{
    if (epoch > self->forgotten_epoch
    || (epoch == self->forgotten_epoch && counter > self->forgotten_counter)) {
        self->forgotten_epoch = epoch;
        self->forgotten_counter = counter;
    }
}

static void
s_remember_outcome (dtx_coordinator_t *self, txn_t *txn, uint8_t outcome_value)
{
    outcome_t *outcome = (outcome_t *) calloc (1, sizeof (outcome_t));
    assert (outcome);
    outcome->outcome = outcome_value;
    outcome->err_code = txn->err_code;
    memcpy (outcome->err_database, txn->err_database, sizeof outcome->err_database);
    memcpy (outcome->err_sqlstate, txn->err_sqlstate, sizeof outcome->err_sqlstate);
    outcome->err_text = txn->err_text? strdup (txn->err_text): NULL;
    if (zhashx_insert (self->outcomes, txn->gid, outcome)) {
        //  Already known (recovered from the log): keep the first
        s_outcome_destroy ((void **) &outcome);
        return;
    }
    zlistx_add_end (self->outcome_order, strdup (txn->gid));
    while (zlistx_size (self->outcome_order) > (size_t) self->config.outcomes_max) {
        char *oldest = (char *) zlistx_detach (self->outcome_order, NULL);
        zhashx_delete (self->outcomes, oldest);
        char coordinator [DTX_NAME_MAX + 1];
        uint64_t epoch, counter;
        if (dtx_gid_parse (oldest, coordinator, &epoch, &counter) == 0)
            s_forget_up_to (self, epoch, counter);
        free (oldest);
    }
}

static void
s_set_error (txn_t *txn, int code, const char *database, const char *sqlstate, const char *text)
{
    txn->err_code = code;
    snprintf (txn->err_database, sizeof txn->err_database, "%s", database? database: "");
    snprintf (txn->err_sqlstate, sizeof txn->err_sqlstate, "%s", sqlstate? sqlstate: "");
    free (txn->err_text);
    txn->err_text = strdup (text? text: "");
}

//  Reply to a client: ERROR for a request
static void
s_client_error (dtx_coordinator_t *self, zsock_t *sock, zframe_t *client, uint32_t seq, const char *gid,
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

static void
s_client_outcome (dtx_coordinator_t *self, zsock_t *sock, zframe_t *client, uint32_t seq, const char *gid,
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

//  The branch now awaits the answer to request `id`, under a fresh seq
static uint32_t
s_branch_await (dtx_coordinator_t *self, branch_t *branch, int id, uint8_t flags)
{
    branch->seq = ++self->seq;
    branch->request = id;
    branch->request_flags = flags;
    branch->awaiting = true;
    branch->sent_at = dtx_clock_ms ();
    branch->next_retry = 0;
    return branch->seq;
}

//  Send a request to a branch's participant; the branch awaits its reply
static void
s_branch_send (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, int id, uint8_t flags)
{
    s_branch_await (self, branch, id, flags);
    participant_t *participant = branch->participant;
    if (!participant->connected || !participant->routing_id) {
        //  Not there now: the retry timer sends it when it comes back
        branch->next_retry = branch->sent_at + self->config.phase2_retry_ms;
        return;
    }
    dtx_proto_t *msg = dtx_proto_new (id);
    dtx_proto_set_routing_id (msg, participant->routing_id);
    dtx_proto_set_seq (msg, branch->seq);
    dtx_proto_set_gid (msg, txn->gid);
    if (id == DTX_PROTO_ROLLBACK)
        dtx_proto_set_flags (msg, flags);
    if (dtx_proto_send (msg, self->participants_sock))
        branch->next_retry = branch->sent_at + self->config.phase2_retry_ms;
    dtx_proto_destroy (&msg);
}

//  Send the branch's deferred statements, the last one flagged `end`
//  (DTX_EXEC_PREPARE or DTX_EXEC_COMMIT: that command follows it in the
//  same round trip, and the answer is a VOTE or DONE), or with end 0 all
//  as DTX_EXEC_DEFER.  With end set, the branch then awaits that answer
//  as if `request` had been sent.  Returns -1 if the participant cannot
//  be reached (nothing awaited then).
static int
s_branch_flush (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, uint8_t end, int request)
{
    participant_t *participant = branch->participant;
    int rc = 0;
    for (size_t i = 0; i < branch->ndeferred; i++) {
        dtx_proto_t *msg = branch->deferred [i];
        bool last = i + 1 == branch->ndeferred;
        uint8_t flags = last && end? end: DTX_EXEC_DEFER;
        if (!branch->started)
            flags |= DTX_EXEC_FIRST;
        branch->started = true;
        dtx_proto_set_flags (msg, flags);
        dtx_proto_set_seq (msg, last && end? s_branch_await (self, branch, request, 0): 0);
        if (rc == 0 && participant->connected && participant->routing_id) {
            dtx_proto_set_routing_id (msg, participant->routing_id);
            rc = dtx_proto_send (msg, self->participants_sock);
        }
        else
            rc = -1;
        if (last && end)
            branch->awaiting = rc == 0;
        dtx_proto_destroy (&branch->deferred [i]);
    }
    branch->ndeferred = 0;
    return rc;
}

static branch_t *
s_txn_branch (txn_t *txn, participant_t *participant)
{
    for (size_t i = 0; i < txn->nbranches; i++)
        if (txn->branches [i].participant == participant)
            return &txn->branches [i];
    return NULL;
}

//  A new branch, zeroed; NULL if the transaction has too many
static branch_t *
s_txn_add_branch (txn_t *txn, participant_t *participant)
{
    if (txn->nbranches == BRANCHES_MAX)
        return NULL;
    if (txn->nbranches == txn->branches_size) {
        txn->branches_size = txn->branches_size? txn->branches_size * 2: 2;
        txn->branches = (branch_t *) realloc (txn->branches, txn->branches_size * sizeof (branch_t));
        assert (txn->branches);
    }
    branch_t *branch = &txn->branches [txn->nbranches++];
    memset (branch, 0, sizeof *branch);
    branch->participant = participant;
    return branch;
}

static bool
s_txn_all_done (txn_t *txn)
{
    for (size_t i = 0; i < txn->nbranches; i++)
        if (txn->branches [i].state != BRANCH_DONE)
            return false;
    return true;
}

//  --------------------------------------------------------------------------
//  Ending transactions

//  Answer the client's pending COMMIT / ROLLBACK / EXECUTE with the final
//  outcome, if it still waits
static void
s_txn_reply_outcome (dtx_coordinator_t *self, txn_t *txn)
{
    if (!txn->client_request || !txn->client)
        return;
    int outcome = txn->state == TXN_COMMITTING? DTX_COMMITTED: DTX_ABORTED;
    if (txn->client_request == DTX_PROTO_EXECUTE)
        s_client_error (self, self->clients, txn->client, txn->client_seq, txn->gid, txn->err_code,
                        txn->err_database, txn->err_sqlstate, txn->err_text);
    else
        s_client_outcome (self, self->clients, txn->client, txn->client_seq, txn->gid, outcome,
                          txn->err_code, txn->err_database, txn->err_sqlstate, txn->err_text);
    txn->client_request = 0;
}

//  The transaction a client began last, for its requests that name it
//  by an empty gid (lazy begin: sent before BEGIN_OK came back)
static char *
s_client_key (zframe_t *client)
{
    return client? zframe_strhex (client): strdup ("");
}

static void
s_forget_begun (dtx_coordinator_t *self, txn_t *txn)
{
    char *key = s_client_key (txn->client);
    const char *gid = (const char *) zhashx_lookup (self->begun, key);
    if (gid && streq (gid, txn->gid))
        zhashx_delete (self->begun, key);
    free (key);
}

//  A client request with an empty gid means "the transaction I began
//  last": put that gid in, if this connection has one live
static void
s_resolve_begun (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    if (*dtx_proto_gid (msg))
        return;
    char *key = s_client_key (dtx_proto_routing_id (msg));
    const char *begun = (const char *) zhashx_lookup (self->begun, key);
    if (begun)
        dtx_proto_set_gid (msg, begun);
    free (key);
}

//  Every branch is done: remember the outcome, write END, forget the txn
static void
s_txn_finish (dtx_coordinator_t *self, txn_t *txn)
{
    s_txn_reply_outcome (self, txn);
    bool committed = txn->state == TXN_COMMITTING;
    if (committed && txn->logged) {
        dtx_fault ("coord-before-end");
        //  END needs no fsync of its own: losing it only means recovery
        //  sends COMMIT PREPARED again, which is idempotent
        if (dtx_log_append_end (self->log, txn->gid))
            zsys_error ("%s: cannot append END record", txn->gid);
    }
    int64_t now = dtx_clock_ms ();
    if (committed && txn->decided_at && txn->logged)
        dtx_metrics_observe (self->metrics, DTX_METRIC_COMMIT, (now - txn->decided_at) / 1000.0);
    if (!txn->recovered)
        dtx_metrics_observe (self->metrics, DTX_METRIC_TOTAL, (now - txn->started) / 1000.0);
    if (txn->recovered) {
        self->recovering--;
        zsys_info ("recovery: %s committed on every participant; %zu still in doubt",
                   txn->gid, self->recovering);
    }
    if (committed)
        self->committed++;
    else
        self->aborted++;
    if (self->config.verbose)
        zsys_debug ("%s: %s", txn->gid, committed? "committed": "aborted");
    s_remember_outcome (self, txn, committed? DTX_COMMITTED: DTX_ABORTED);
    s_forget_begun (self, txn);
    zhashx_delete (self->txns, txn->gid);
}

//  A one-phase COMMIT whose answer was lost with the connection: it may
//  or may not have committed, and nothing here can tell.  Say so, keep
//  saying so to anyone who asks, and stop holding the transaction.
static void
s_txn_finish_unknown (dtx_coordinator_t *self, txn_t *txn, const char *why)
{
    s_set_error (txn, DTX_ERR_PARTICIPANT, txn->branches [0].participant->name, "08006", why);
    zsys_error ("%s: outcome UNKNOWN: %s; check database %s", txn->gid, why,
                txn->branches [0].participant->name);
    if (txn->client_request && txn->client)
        s_client_outcome (self, self->clients, txn->client, txn->client_seq, txn->gid,
                          DTX_UNKNOWN, DTX_ERR_PARTICIPANT, txn->err_database, "08006", why);
    s_remember_outcome (self, txn, DTX_UNKNOWN);
    s_forget_begun (self, txn);
    zhashx_delete (self->txns, txn->gid);
}

//  Decide abort: roll back every branch that may hold work.  Never
//  logged: presumed abort.
static void
s_txn_abort (dtx_coordinator_t *self, txn_t *txn, int code, const char *database,
             const char *sqlstate, const char *text)
{
    assert (txn->state != TXN_COMMITTING && txn->state != TXN_LOGGING);
    if (txn->state == TXN_ABORTING)
        return;
    if (!txn->err_code)
        s_set_error (txn, code, database, sqlstate, text);
    zsys_info ("%s: aborting: %s%s%s%s%s", txn->gid, dtx_errcode_name ((dtx_errcode_t) txn->err_code),
               *txn->err_database? " on ": "", txn->err_database,
               txn->err_text? ": ": "", txn->err_text? txn->err_text: "");
    txn->state = TXN_ABORTING;
    txn->phase_deadline = dtx_clock_ms () + self->config.reply_timeout_ms;
    for (size_t i = 0; i < txn->nbranches; i++) {
        branch_t *branch = &txn->branches [i];
        if (branch->state == BRANCH_DONE)
            continue;
        if (!branch->started) {
            //  Its statements were all held here: nothing ran there
            branch->state = BRANCH_DONE;
            continue;
        }
        //  A branch that was sent PREPARE may be prepared even if its vote
        //  was lost: ROLLBACK PREPARED covers it
        uint8_t flags = branch->state == BRANCH_ACTIVE? 0: DTX_ROLLBACK_PREPARED;
        branch->state = BRANCH_FINISHING;
        s_branch_send (self, txn, branch, DTX_PROTO_ROLLBACK, flags);
    }
    if (s_txn_all_done (txn))
        s_txn_finish (self, txn);
}

//  The commit decision is durable (or not needed): phase 2
static void
s_txn_commit_phase2 (dtx_coordinator_t *self, txn_t *txn)
{
    txn->state = TXN_COMMITTING;
    txn->commit_decided = true;
    txn->decided_at = dtx_clock_ms ();
    txn->phase_deadline = txn->decided_at + self->config.reply_timeout_ms;
    size_t sent = 0;
    for (size_t i = 0; i < txn->nbranches; i++) {
        branch_t *branch = &txn->branches [i];
        if (branch->state != BRANCH_PREPARED)
            continue;
        if (sent++ == 1)
            dtx_fault ("coord-after-some-commit-prepared");
        branch->state = BRANCH_FINISHING;
        s_branch_send (self, txn, branch, DTX_PROTO_COMMIT_PREPARED, 0);
    }
    if (txn->ack_decided && txn->logged)
        //  The client asked to hear it now: the decision is durable, phase
        //  2 goes on (and survives any crash through the log)
        s_txn_reply_outcome (self, txn);
    if (s_txn_all_done (txn))
        s_txn_finish (self, txn);
}

//  Every vote is in
static void
s_txn_votes_complete (dtx_coordinator_t *self, txn_t *txn)
{
    dtx_metrics_observe (self->metrics, DTX_METRIC_PREPARE, (dtx_clock_ms () - txn->prepare_at) / 1000.0);
    size_t prepared = 0;
    const char *names [BRANCHES_MAX];
    for (size_t i = 0; i < txn->nbranches; i++)
        if (txn->branches [i].state == BRANCH_PREPARED)
            names [prepared++] = txn->branches [i].participant->name;
    if (prepared == 0) {
        //  Read-only everywhere: nothing to commit, nothing to log
        txn->state = TXN_COMMITTING;
        s_txn_finish (self, txn);
        return;
    }
    if (dtx_log_append_commit (self->log, txn->gid, prepared, names)) {
        s_txn_abort (self, txn, DTX_ERR_COORDINATOR, NULL, NULL, "cannot build COMMIT record");
        return;
    }
    txn->state = TXN_LOGGING;
    txn->logged = true;
    zlistx_add_end (self->logging, txn);
}

//  --------------------------------------------------------------------------
//  Client requests

static void
s_handle_begin (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    if (self->draining) {
        s_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), "",
                        DTX_ERR_STATE, "", "", "coordinator is shutting down: no new transactions");
        return;
    }
    txn_t *txn = (txn_t *) calloc (1, sizeof (txn_t));
    assert (txn);
    dtx_gid_format (txn->gid, self->id, self->epoch, ++self->counter);
    txn->state = TXN_ACTIVE;
    txn->started = dtx_clock_ms ();
    int timeout = dtx_proto_timeout (msg)? (int) dtx_proto_timeout (msg): self->config.txn_timeout_ms;
    txn->deadline = txn->started + timeout;
    txn->client = zframe_dup (dtx_proto_routing_id (msg));
    zhashx_insert (self->txns, txn->gid, txn);
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

//  One message from a socket: 1 and *msg_p; 0 if a malformed one was
//  dropped (and logged: the sender is told nothing, it may not be ours);
//  -1 if none was waiting
static int
s_recv (zsock_t *sock, const char *from, dtx_proto_t **msg_p)
{
    char err [256];
    int rc = dtx_proto_recv (msg_p, sock, err, sizeof err);
    if (rc == -2) {
        zsys_warning ("%s: dropped %s", from, err);
        return 0;
    }
    return rc == 0? 1: -1;
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
        s_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), "",
                        DTX_ERR_BAD_REQUEST, "", "", err);
        return NULL;
    }
    txn_t *txn = (txn_t *) zhashx_lookup (self->txns, gid);
    if (txn) {
        //  The client may have reconnected: answer where it is now
        zframe_destroy (&txn->client);
        txn->client = zframe_dup (dtx_proto_routing_id (msg));
        return txn;
    }
    outcome_t *outcome = (outcome_t *) zhashx_lookup (self->outcomes, gid);
    int id = dtx_proto_id (msg);
    if (outcome && id == DTX_PROTO_ROLLBACK && outcome->outcome == DTX_ABORTED)
        //  Rolling back an aborted transaction is harmless: say so
        s_client_outcome (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), gid,
                          DTX_ABORTED, outcome->err_code, outcome->err_database,
                          outcome->err_sqlstate, outcome->err_text);
    else
    if (outcome) {
        char text [512];
        snprintf (text, sizeof text, "transaction %s already %s%s%s", gid,
                  outcome->outcome == DTX_COMMITTED? "committed": "aborted",
                  outcome->err_text? ": ": "", outcome->err_text? outcome->err_text: "");
        s_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), gid,
                        outcome->outcome == DTX_ABORTED && id == DTX_PROTO_EXECUTE
                            ? DTX_ERR_ABORT_ONLY: DTX_ERR_STATE,
                        outcome->err_database, outcome->err_sqlstate, text);
    }
    else
        s_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), gid,
                        DTX_ERR_NO_TXN, "", "", "no such transaction");
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
                  s_txn_state_name (txn->state));
        if (!defer)
            s_client_error (self, self->clients, client, seq, txn->gid, DTX_ERR_STATE, "", "", text);
        return;
    }
    if (txn->client_request) {
        if (defer) {
            txn->abort_only = true;
            s_set_error (txn, DTX_ERR_BUSY, "", "", "deferred statement sent while a statement was running");
        }
        else
            s_client_error (self, self->clients, client, seq, txn->gid, DTX_ERR_BUSY, "", "",
                            "a statement is already running in this transaction");
        return;
    }
    if (txn->abort_only) {
        snprintf (text, sizeof text, "transaction is abort-only after an earlier error: %s",
                  txn->err_text? txn->err_text: "");
        if (!defer)
            s_client_error (self, self->clients, client, seq, txn->gid, DTX_ERR_ABORT_ONLY,
                            txn->err_database, txn->err_sqlstate, text);
        return;
    }
    const char *name = dtx_proto_name (msg);
    char err [256];
    participant_t *participant = NULL;
    if (dtx_name_validate ("database", name, err, sizeof err) == 0) {
        participant = (participant_t *) zhashx_lookup (self->participants, name);
        if (!participant || !participant->connected)
            snprintf (err, sizeof err, "unknown database '%s': no participant of that name %s",
                      name, participant? "is connected": "has registered");
    }
    if (!participant || !participant->connected) {
        //  Like any failed statement, this dooms the transaction: an
        //  application that carried on regardless would otherwise commit
        //  the other databases' part alone
        txn->abort_only = true;
        s_set_error (txn, DTX_ERR_UNKNOWN_DB, name, "", err);
        if (!defer)
            s_client_error (self, self->clients, client, seq, txn->gid, DTX_ERR_UNKNOWN_DB, name, "", err);
        return;
    }
    branch_t *branch = s_txn_branch (txn, participant);
    if (!branch) {
        branch = s_txn_add_branch (txn, participant);
        if (!branch) {
            txn->abort_only = true;
            s_set_error (txn, DTX_ERR_BAD_REQUEST, name, "", "too many databases in one transaction");
            if (!defer)
                s_client_error (self, self->clients, client, seq, txn->gid, DTX_ERR_BAD_REQUEST, name, "",
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
        if (branch->ndeferred >= DEFERRED_HOLD_MAX
        &&  s_branch_flush (self, txn, branch, 0, 0)) {
            //  Many of them: they go ahead now (the participant runs them
            //  and keeps the first failure), so that this process holds
            //  at most DEFERRED_HOLD_MAX per branch, however many come
            txn->abort_only = true;
            s_set_error (txn, DTX_ERR_PARTICIPANT, name, "08006", "cannot reach participant");
        }
        return;
    }
    //  Statements held for this branch go first, in order
    bool reachable = s_branch_flush (self, txn, branch, 0, 0) == 0;
    //  Forward: same message, our seq, flag the branch's first statement
    //  so that a participant that lost the session (restart) says so
    //  instead of silently starting a new one
    dtx_proto_set_routing_id (msg, participant->routing_id);
    dtx_proto_set_seq (msg, s_branch_await (self, branch, DTX_PROTO_EXECUTE, 0));
    dtx_proto_set_flags (msg, branch->started? 0: DTX_EXEC_FIRST);
    branch->started = true;
    txn->client_request = DTX_PROTO_EXECUTE;
    txn->client_seq = seq;
    if (!reachable || dtx_proto_send (msg, self->participants_sock)) {
        txn->abort_only = true;
        s_set_error (txn, DTX_ERR_PARTICIPANT, name, "", "cannot reach participant");
        //  Gone (ZeroMQ knows no such peer): until it registers again
        participant->connected = false;
        branch->awaiting = false;
        txn->client_request = 0;
        s_participant_lost (self, participant, "unreachable");
        //  (msg's routing id is the participant's now: answer txn->client)
        s_client_error (self, self->clients, txn->client, seq, txn->gid, DTX_ERR_PARTICIPANT,
                        name, "", "cannot reach participant");
    }
}

static void
s_handle_commit (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    txn_t *txn = s_client_txn (self, msg);
    if (!txn)
        return;
    zframe_t *client = dtx_proto_routing_id (msg);
    uint32_t seq = dtx_proto_seq (msg);
    if (txn->state != TXN_ACTIVE || txn->client_request) {
        s_client_error (self, self->clients, client, seq, txn->gid,
                        txn->client_request == DTX_PROTO_EXECUTE? DTX_ERR_BUSY: DTX_ERR_STATE,
                        "", "", txn->client_request == DTX_PROTO_EXECUTE
                            ? "a statement is still running"
                            : "commit or rollback already in progress");
        return;
    }
    txn->client_request = DTX_PROTO_COMMIT;
    txn->client_seq = seq;
    txn->ack_decided = (dtx_proto_flags (msg) & DTX_COMMIT_ACK_DECIDED) != 0;
    if (txn->abort_only) {
        s_txn_abort (self, txn, DTX_ERR_ABORT_ONLY, NULL, NULL, NULL);
        return;
    }
    if (txn->nbranches == 0) {
        txn->state = TXN_COMMITTING;
        s_txn_finish (self, txn);
    }
    else
    if (txn->nbranches == 1) {
        //  One database: plain COMMIT, no PREPARE, no log record
        txn->one_phase = true;
        txn->state = TXN_COMMITTING;
        txn->commit_decided = true;
        txn->phase_deadline = dtx_clock_ms () + self->config.reply_timeout_ms;
        branch_t *branch = &txn->branches [0];
        branch->state = BRANCH_FINISHING;
        if (branch->ndeferred == 0)
            s_branch_send (self, txn, branch, DTX_PROTO_COMMIT, 0);
        else
        if (s_branch_flush (self, txn, branch, DTX_EXEC_COMMIT, DTX_PROTO_COMMIT)) {
            //  Never reached the participant: nothing ran, nothing committed
            branch->state = BRANCH_DONE;
            txn->state = TXN_ABORTING;
            txn->commit_decided = false;
            s_set_error (txn, DTX_ERR_PARTICIPANT, branch->participant->name, "08006",
                         "cannot reach participant");
            s_txn_finish (self, txn);
        }
    }
    else {
        const char *unreachable = NULL;
        txn->state = TXN_PREPARING;
        txn->prepare_at = dtx_clock_ms ();
        txn->phase_deadline = txn->prepare_at + self->config.vote_timeout_ms;
        for (size_t i = 0; i < txn->nbranches; i++) {
            //  Held statements go with PREPARE: one round trip
            branch_t *branch = &txn->branches [i];
            branch->state = BRANCH_PREPARING;
            if (branch->ndeferred == 0)
                s_branch_send (self, txn, branch, DTX_PROTO_PREPARE, 0);
            else
            if (s_branch_flush (self, txn, branch, DTX_EXEC_PREPARE, DTX_PROTO_PREPARE))
                unreachable = branch->participant->name;
        }
        if (unreachable) {
            //  Its statements never left here: it cannot vote YES
            s_txn_abort (self, txn, DTX_ERR_PARTICIPANT, unreachable, "08006", "cannot reach participant");
            return;
        }
        dtx_fault ("coord-after-prepare-sent");
    }
}

static void
s_handle_rollback (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    txn_t *txn = s_client_txn (self, msg);
    if (!txn)
        return;
    //  A running statement does not block a rollback (the client may have
    //  given up waiting for it): its late result is dropped as stale
    if (txn->state != TXN_ACTIVE
    || (txn->client_request && txn->client_request != DTX_PROTO_EXECUTE)) {
        s_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg), txn->gid,
                        DTX_ERR_STATE, "", "", "commit or rollback already in progress");
        return;
    }
    txn->client_request = DTX_PROTO_ROLLBACK;
    txn->client_seq = dtx_proto_seq (msg);
    s_txn_abort (self, txn, DTX_ERR_ABORT_ONLY, NULL, NULL, "rolled back by the client");
}

static void
s_handle_outcome_query (dtx_coordinator_t *self, dtx_proto_t *msg, zsock_t *sock,
                        bool from_participant)
{
    if (!from_participant)
        //  (how a client learns its gid before any other answer:
        //  dtx_txn_gid after a quiet BEGIN whose request's answer was lost)
        s_resolve_begun (self, msg);
    const char *gid = dtx_proto_gid (msg);
    zframe_t *client = dtx_proto_routing_id (msg);
    uint32_t seq = dtx_proto_seq (msg);
    char err [256];
    if (dtx_gid_validate (gid, err, sizeof err)) {
        s_client_error (self, sock, client, seq, "", DTX_ERR_BAD_REQUEST, "", "", err);
        return;
    }
    txn_t *txn = (txn_t *) zhashx_lookup (self->txns, gid);
    if (txn && from_participant) {
        //  A live transaction is ours to drive: the participant must not
        //  act on it (that would race our own phase 2 or rollback)
        s_client_outcome (self, sock, client, seq, gid, DTX_IN_PROGRESS, 0, "", "", "");
        return;
    }
    if (txn) {
        //  LOGGING is not yet durable, and a one-phase COMMIT is not
        //  decided until PostgreSQL answers: both still in progress
        int outcome = txn->state == TXN_COMMITTING && !txn->one_phase? DTX_COMMITTED
                    : txn->state == TXN_ABORTING? DTX_ABORTED: DTX_IN_PROGRESS;
        s_client_outcome (self, sock, client, seq, gid, outcome, txn->err_code,
                          txn->err_database, txn->err_sqlstate, txn->err_text);
        return;
    }
    outcome_t *outcome = (outcome_t *) zhashx_lookup (self->outcomes, gid);
    if (outcome) {
        s_client_outcome (self, sock, client, seq, gid, outcome->outcome, outcome->err_code,
                          outcome->err_database, outcome->err_sqlstate, outcome->err_text);
        return;
    }
    //  Not live, not remembered.
    char coordinator [DTX_NAME_MAX + 1];
    uint64_t epoch, counter;
    if (dtx_gid_parse (gid, coordinator, &epoch, &counter) || strcmp (coordinator, self->id)) {
        s_client_error (self, sock, client, seq, gid, DTX_ERR_NO_TXN, "", "",
                        "not a global id of this coordinator");
        return;
    }
    if (epoch > self->epoch || (epoch == self->epoch && counter > self->counter))
        s_client_error (self, sock, client, seq, gid, DTX_ERR_NO_TXN, "", "",
                        "this global id was never issued");
    else
    if (from_participant || epoch > self->forgotten_epoch
    || (epoch == self->forgotten_epoch && counter > self->forgotten_counter))
        //  Presumed abort.  For a participant's in-doubt gid this is always
        //  sound: a COMMIT decision stays live here (and in the log) until
        //  every participant has acknowledged phase 2, so a gid still
        //  prepared somewhere and not live was never committed.  For a
        //  client it is sound for gids after the forgotten watermark: every
        //  COMMIT record of those is in the log, replayed at start, and
        //  remembered since.
        s_client_outcome (self, sock, client, seq, gid, DTX_ABORTED, DTX_ERR_NO_TXN, "", "",
                          "no commit decision recorded (presumed abort)");
    else
        s_client_outcome (self, sock, client, seq, gid, DTX_UNKNOWN, DTX_ERR_NO_TXN, "", "",
                          "outcome no longer retained");
}

//  One message, if there is one (the socket does not block): false if none
static bool
s_handle_client (dtx_coordinator_t *self)
{
    dtx_proto_t *msg;
    int got = s_recv (self->clients, "client", &msg);
    if (got <= 0)
        return got == 0;
    switch (dtx_proto_id (msg)) {
        case DTX_PROTO_BEGIN:         s_handle_begin (self, msg); break;
        case DTX_PROTO_EXECUTE:       s_handle_execute (self, &msg); break;
        case DTX_PROTO_COMMIT:        s_handle_commit (self, msg); break;
        case DTX_PROTO_ROLLBACK:      s_handle_rollback (self, msg); break;
        case DTX_PROTO_OUTCOME_QUERY: s_handle_outcome_query (self, msg, self->clients, false); break;
        default:
            zsys_warning ("client: unexpected %s message, dropped", dtx_proto_command (msg));
            s_client_error (self, self->clients, dtx_proto_routing_id (msg), dtx_proto_seq (msg),
                            dtx_proto_gid (msg), DTX_ERR_BAD_REQUEST, "", "",
                            "message not valid from a client");
    }
    dtx_proto_destroy (&msg);
    return true;
}

//  --------------------------------------------------------------------------
//  Participant messages

//  A participant's connection is gone (silence, send failure, or it came
//  back as a new peer): requests in flight on it are lost.  A statement
//  fails (the transaction is then abort-only), an awaited vote counts as
//  NO.  Phase-2 requests are simply resent later (idempotent).
static void
s_participant_lost (dtx_coordinator_t *self, participant_t *participant, const char *why)
{
    zlistx_t *affected = zlistx_new ();
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        branch_t *branch = s_txn_branch (txn, participant);
        if (branch && branch->awaiting
        &&  (branch->request == DTX_PROTO_EXECUTE || branch->request == DTX_PROTO_PREPARE
          || (branch->request == DTX_PROTO_COMMIT && txn->one_phase)))
            zlistx_add_end (affected, txn);
        txn = (txn_t *) zhashx_next (self->txns);
    }
    txn = (txn_t *) zlistx_first (affected);
    while (txn) {
        branch_t *branch = s_txn_branch (txn, participant);
        branch->awaiting = false;
        char text [256];
        snprintf (text, sizeof text, "participant %s lost (%s)", participant->name, why);
        if (branch->request == DTX_PROTO_EXECUTE && txn->state == TXN_ACTIVE) {
            txn->abort_only = true;
            s_set_error (txn, DTX_ERR_PARTICIPANT, participant->name, "08006", text);
            if (txn->client_request == DTX_PROTO_EXECUTE) {
                s_client_error (self, self->clients, txn->client, txn->client_seq, txn->gid,
                                DTX_ERR_PARTICIPANT, participant->name, "08006", text);
                txn->client_request = 0;
            }
        }
        else
        if (branch->request == DTX_PROTO_PREPARE && txn->state == TXN_PREPARING) {
            //  It may have prepared before it went: ROLLBACK PREPARED
            //  reaches it when it is back (s_txn_abort marks the branch)
            s_txn_abort (self, txn, DTX_ERR_PARTICIPANT, participant->name, "08006", text);
        }
        else
        if (branch->request == DTX_PROTO_COMMIT && txn->one_phase)
            s_txn_finish_unknown (self, txn, text);
        txn = (txn_t *) zlistx_next (affected);
    }
    zlistx_destroy (&affected);
}

static void
s_handle_register (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    const char *name = dtx_proto_name (msg);
    char err [256];
    if (dtx_name_validate ("participant", name, err, sizeof err)) {
        zsys_warning ("participant: refused REGISTER: %s", err);
        dtx_proto_t *reply = dtx_proto_new (DTX_PROTO_ERROR);
        dtx_proto_set_routing_id (reply, dtx_proto_routing_id (msg));
        dtx_proto_set_seq (reply, dtx_proto_seq (msg));
        dtx_proto_set_status (reply, DTX_ERR_BAD_REQUEST);
        dtx_proto_set_text (reply, err);
        dtx_proto_send (reply, self->participants_sock);
        dtx_proto_destroy (&reply);
        return;
    }
    participant_t *participant = s_participant_require (self, name);
    bool changed = !participant->connected || !participant->routing_id
                || !zframe_eq (participant->routing_id, dtx_proto_routing_id (msg));
    if (changed) {
        zsys_info ("participant %s %s", name,
                   participant->routing_id? "reconnected": "registered");
        if (participant->routing_id && participant->connected)
            s_participant_lost (self, participant, "it reconnected as a new peer");
        zframe_destroy (&participant->routing_id);
        participant->routing_id = zframe_dup (dtx_proto_routing_id (msg));
        participant->connected = true;
        //  Phase-2 work waiting for it goes out on the next tick
        txn_t *txn = (txn_t *) zhashx_first (self->txns);
        while (txn) {
            branch_t *branch = s_txn_branch (txn, participant);
            if (branch && branch->state == BRANCH_FINISHING && branch->awaiting)
                branch->next_retry = dtx_clock_ms ();
            txn = (txn_t *) zhashx_next (self->txns);
        }
    }
    participant->last_seen = dtx_clock_ms ();
    participant->prepared = dtx_proto_ntuples (msg);
    dtx_proto_t *reply = dtx_proto_new (DTX_PROTO_REGISTER_OK);
    dtx_proto_set_routing_id (reply, participant->routing_id);
    dtx_proto_set_seq (reply, dtx_proto_seq (msg));
    dtx_proto_set_name (reply, name);
    //  The instance lets a participant see that we restarted: the live
    //  (unprepared) sessions it holds for us then belong to nobody
    dtx_proto_set_textf (reply, "%s:%" PRIu64, self->id, self->epoch);
    dtx_proto_send (reply, self->participants_sock);
    dtx_proto_destroy (&reply);
}

//  Find the participant a message came from (by routing id)
static participant_t *
s_participant_of (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    participant_t *participant = (participant_t *) zhashx_first (self->participants);
    while (participant) {
        if (participant->routing_id
        &&  zframe_eq (participant->routing_id, dtx_proto_routing_id (msg)))
            return participant;
        participant = (participant_t *) zhashx_next (self->participants);
    }
    return NULL;
}

static void
s_handle_statement_reply (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, dtx_proto_t *msg)
{
    if (txn->state != TXN_ACTIVE || txn->client_request != DTX_PROTO_EXECUTE)
        return;
    txn->client_request = 0;
    if (dtx_proto_id (msg) == DTX_PROTO_ERROR) {
        txn->abort_only = true;
        s_set_error (txn, dtx_proto_status (msg)? dtx_proto_status (msg): DTX_ERR_SQL,
                     branch->participant->name, dtx_proto_sqlstate (msg), dtx_proto_text (msg));
        dtx_proto_set_name (msg, branch->participant->name);
    }
    dtx_proto_set_routing_id (msg, txn->client);
    dtx_proto_set_seq (msg, txn->client_seq);
    dtx_proto_send (msg, self->clients);
}

static void
s_handle_vote (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, dtx_proto_t *msg)
{
    if (branch->state != BRANCH_PREPARING)
        return;
    int vote = dtx_proto_status (msg);
    if (vote == DTX_VOTE_YES)
        branch->state = BRANCH_PREPARED;
    else
    if (vote == DTX_VOTE_READONLY)
        branch->state = BRANCH_DONE;
    else {
        //  NO: that participant rolled back already.  Abort everywhere.
        branch->state = BRANCH_DONE;
        if (txn->state == TXN_PREPARING)
            s_txn_abort (self, txn, DTX_ERR_SQL, branch->participant->name,
                         dtx_proto_sqlstate (msg), dtx_proto_text (msg));
        return;
    }
    if (txn->state != TXN_PREPARING)
        return;         //  already aborting: the ROLLBACK sent covers it
    for (size_t i = 0; i < txn->nbranches; i++)
        if (txn->branches [i].state == BRANCH_PREPARING)
            return;
    s_txn_votes_complete (self, txn);
}

static void
s_handle_done (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, dtx_proto_t *msg)
{
    if (branch->state != BRANCH_FINISHING)
        return;
    int status = dtx_proto_status (msg);
    if (status == DTX_DONE_FAILED) {
        if (txn->one_phase && branch->request == DTX_PROTO_COMMIT
        &&  strncmp (dtx_proto_sqlstate (msg), "08", 2) == 0) {
            //  The connection broke during COMMIT: unknowable here
            char why [512];
            snprintf (why, sizeof why, "connection lost during one-phase COMMIT: %s",
                      dtx_proto_text (msg));
            s_txn_finish_unknown (self, txn, why);
            return;
        }
        if (txn->one_phase && branch->request == DTX_PROTO_COMMIT) {
            //  COMMIT failed (e.g. deferred constraint): PostgreSQL rolled
            //  it back.  The transaction aborted.
            branch->state = BRANCH_DONE;
            txn->state = TXN_ABORTING;
            txn->commit_decided = false;
            s_set_error (txn, DTX_ERR_SQL, branch->participant->name,
                         dtx_proto_sqlstate (msg), dtx_proto_text (msg));
            s_txn_finish (self, txn);
            return;
        }
        //  Phase 2 must succeed eventually: retry with backoff, forever
        branch->awaiting = true;        //  awaits the retry's answer
        branch->retries++;
        self->phase2_retries++;
        free (branch->last_error);
        branch->last_error = zsys_sprintf ("%s %s", dtx_proto_sqlstate (msg), dtx_proto_text (msg));
        int64_t delay = (int64_t) self->config.phase2_retry_ms << (branch->retries < 10? branch->retries: 10);
        if (delay > PHASE2_RETRY_MAX_MS)
            delay = PHASE2_RETRY_MAX_MS;
        branch->next_retry = dtx_clock_ms () + delay;
        zsys_warning ("%s: %s on %s failed (try %d, next in %" PRId64 " ms): %s", txn->gid,
                      branch->request == DTX_PROTO_COMMIT_PREPARED? "COMMIT PREPARED": "ROLLBACK",
                      branch->participant->name, branch->retries, delay, branch->last_error);
        return;
    }
    if (status == DTX_DONE_NOT_FOUND && branch->request == DTX_PROTO_COMMIT_PREPARED
    &&  branch->retries == 0)
        //  It voted YES, we never asked before, and it is gone: someone
        //  else ended it (an operator?).  Heuristic hazard: say so loudly.
        zsys_error ("%s: COMMIT PREPARED on %s found no prepared transaction on the first"
                    " try; it was ended outside dtx (heuristic outcome?)",
                    txn->gid, branch->participant->name);
    branch->state = BRANCH_DONE;
    if (s_txn_all_done (txn))
        s_txn_finish (self, txn);
}

//  One message, if there is one (the socket does not block): false if none
static bool
s_handle_participant (dtx_coordinator_t *self)
{
    dtx_proto_t *msg;
    int got = s_recv (self->participants_sock, "participant", &msg);
    if (got <= 0)
        return got == 0;
    int id = dtx_proto_id (msg);
    if (id == DTX_PROTO_REGISTER) {
        s_handle_register (self, msg);
        dtx_proto_destroy (&msg);
        return true;
    }
    participant_t *participant = s_participant_of (self, msg);
    if (!participant) {
        zsys_warning ("participant: %s from an unregistered peer, dropped", dtx_proto_command (msg));
        dtx_proto_destroy (&msg);
        return true;
    }
    participant->last_seen = dtx_clock_ms ();
    if (id == DTX_PROTO_OUTCOME_QUERY) {
        //  In-doubt resolution by a participant: same answer as a client's
        s_handle_outcome_query (self, msg, self->participants_sock, true);
        dtx_proto_destroy (&msg);
        return true;
    }
    txn_t *txn = (txn_t *) zhashx_lookup (self->txns, dtx_proto_gid (msg));
    branch_t *branch = txn? s_txn_branch (txn, participant): NULL;
    if (!branch || !branch->awaiting || branch->seq != dtx_proto_seq (msg)) {
        if (self->config.verbose)
            zsys_debug ("participant %s: stale %s for %s, dropped", participant->name,
                    dtx_proto_command (msg), dtx_proto_gid (msg));
        dtx_proto_destroy (&msg);
        return true;
    }
    branch->awaiting = false;
    switch (id) {
        case DTX_PROTO_RESULT:
        case DTX_PROTO_ERROR:
            if (branch->request == DTX_PROTO_EXECUTE)
                s_handle_statement_reply (self, txn, branch, msg);
            else
            if (branch->request == DTX_PROTO_PREPARE) {
                //  An ERROR to PREPARE is a NO vote
                dtx_proto_set_status (msg, DTX_VOTE_NO);
                s_handle_vote (self, txn, branch, msg);
            }
            else {
                dtx_proto_set_status (msg, DTX_DONE_FAILED);
                s_handle_done (self, txn, branch, msg);
            }
            break;
        case DTX_PROTO_VOTE:
            s_handle_vote (self, txn, branch, msg);
            break;
        case DTX_PROTO_DONE:
            s_handle_done (self, txn, branch, msg);
            break;
        default:
            zsys_warning ("participant %s: unexpected %s, dropped", participant->name,
                          dtx_proto_command (msg));
    }
    dtx_proto_destroy (&msg);
    return true;
}


//  --------------------------------------------------------------------------
//  Admin: what dtxctl asks (docs/operations.md).  Replies are a human
//  table, or JSON when the ADMIN flags say so.

typedef struct {
    char *data;
    size_t used, size;
} text_t;

static void
s_text_add (text_t *text, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *piece = zsys_vprintf (format, args);
    va_end (args);
    size_t len = strlen (piece);
    if (text->used + len + 1 > text->size) {
        text->size = (text->used + len + 1) * 2;
        text->data = (char *) realloc (text->data, text->size);
        assert (text->data);
    }
    memcpy (text->data + text->used, piece, len + 1);
    text->used += len;
    zstr_free (&piece);
}

//  A JSON string literal (quotes included), caller frees
static char *
s_json (const char *value)
{
    text_t out = { NULL, 0, 0 };
    s_text_add (&out, "\"");
    for (const char *p = value? value: ""; *p; p++) {
        unsigned char c = (unsigned char) *p;
        if (c == '"' || c == '\\')
            s_text_add (&out, "\\%c", c);
        else
        if (c < 0x20)
            s_text_add (&out, "\\u%04x", c);
        else
            s_text_add (&out, "%c", c);
    }
    s_text_add (&out, "\"");
    return out.data;
}

static const char *
s_branch_state_name (branch_state_t state)
{
    switch (state) {
        case BRANCH_ACTIVE:    return "active";
        case BRANCH_PREPARING: return "preparing";
        case BRANCH_PREPARED:  return "prepared";
        case BRANCH_FINISHING: return "finishing";
        case BRANCH_DONE:      return "done";
    }
    return "?";
}

//  In doubt: the decision is made (commit durable, or abort) and some
//  participant has not acknowledged phase 2 yet
static bool
s_txn_in_doubt (txn_t *txn)
{
    return (txn->state == TXN_COMMITTING || txn->state == TXN_ABORTING) && !s_txn_all_done (txn);
}

static void
s_admin_txn (dtx_coordinator_t *self, text_t *out, txn_t *txn, bool json, int64_t now)
{
    if (json) {
        char *gid = s_json (txn->gid);
        s_text_add (out, "{\"gid\":%s,\"state\":\"%s\",\"age_ms\":%" PRId64 ",\"recovered\":%s,\"branches\":[",
                    gid, s_txn_state_name (txn->state), now - txn->started,
                    txn->recovered? "true": "false");
        zstr_free (&gid);
        for (size_t i = 0; i < txn->nbranches; i++) {
            branch_t *branch = &txn->branches [i];
            char *error = s_json (branch->last_error);
            s_text_add (out, "%s{\"participant\":\"%s\",\"state\":\"%s\",\"retries\":%d,\"last_error\":%s}",
                        i? ",": "", branch->participant->name, s_branch_state_name (branch->state),
                        branch->retries, error);
            zstr_free (&error);
        }
        s_text_add (out, "]}");
    }
    else {
        s_text_add (out, "%-28s %-11s %9.1f", txn->gid, s_txn_state_name (txn->state),
                    (now - txn->started) / 1000.0);
        for (size_t i = 0; i < txn->nbranches; i++) {
            branch_t *branch = &txn->branches [i];
            s_text_add (out, "  %s:%s", branch->participant->name, s_branch_state_name (branch->state));
            if (branch->retries)
                s_text_add (out, "(tries %d: %s)", branch->retries,
                            branch->last_error? branch->last_error: "no answer");
        }
        s_text_add (out, "\n");
    }
}

static void
s_admin_txns (dtx_coordinator_t *self, text_t *out, bool json, bool in_doubt_only)
{
    int64_t now = dtx_clock_ms ();
    if (json)
        s_text_add (out, "[");
    else
        s_text_add (out, "%-28s %-11s %9s  %s\n", "GID", "STATE", "AGE (s)", "BRANCHES");
    int count = 0;
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        if (!in_doubt_only || s_txn_in_doubt (txn)) {
            if (json && count)
                s_text_add (out, ",");
            s_admin_txn (self, out, txn, json, now);
            count++;
        }
        txn = (txn_t *) zhashx_next (self->txns);
    }
    if (json)
        s_text_add (out, "]");
}

//  resolve GID commit|abort: an operator's decision.  Refused when it
//  contradicts what the log or presumed abort already decided.
static int
s_admin_resolve (dtx_coordinator_t *self, text_t *out, const char *gid, const char *decision,
                 const char *who)
{
    char err [256];
    if (dtx_gid_validate (gid, err, sizeof err)) {
        s_text_add (out, "%s\n", err);
        return 1;
    }
    bool commit = streq (decision, "commit");
    if (!commit && !streq (decision, "abort")) {
        s_text_add (out, "decision must be commit or abort, not '%s'\n", decision);
        return 1;
    }
    txn_t *txn = (txn_t *) zhashx_lookup (self->txns, gid);
    outcome_t *outcome = (outcome_t *) zhashx_lookup (self->outcomes, gid);
    bool decided_commit = (txn && txn->commit_decided && txn->state == TXN_COMMITTING)
                       || (outcome && outcome->outcome == DTX_COMMITTED);
    bool decided_abort = (txn && txn->state == TXN_ABORTING)
                      || (outcome && outcome->outcome == DTX_ABORTED);
    if (!txn && !outcome) {
        char coordinator [DTX_NAME_MAX + 1];
        uint64_t epoch, counter;
        bool ours = dtx_gid_parse (gid, coordinator, &epoch, &counter) == 0
                 && streq (coordinator, self->id);
        //  No record of it: presumed abort has decided
        if (ours)
            decided_abort = true;
    }
    if ((commit && decided_abort) || (!commit && decided_commit)) {
        s_text_add (out, "refused: %s is already decided %s%s; the log is the truth\n", gid,
                    decided_commit? "COMMIT (durable in the decision log)": "ABORT",
                    decided_abort && !txn && !outcome? " (no commit record: presumed abort)": "");
        return 1;
    }
    if (txn && (txn->state == TXN_ACTIVE || txn->state == TXN_PREPARING || txn->state == TXN_LOGGING)
    &&  commit) {
        s_text_add (out, "refused: %s is undecided (%s); only abort can be forced\n",
                    gid, s_txn_state_name (txn->state));
        return 1;
    }
    if (dtx_log_append_heuristic (self->log, gid, commit? 1: 2, who, (uint64_t) time (NULL))
    ||  dtx_log_sync (self->log)) {
        zsys_error ("FATAL: decision log: cannot record heuristic decision: %s", strerror (errno));
        _exit (3);
    }
    zsys_warning ("%s: operator %s resolved it: %s", gid, who, decision);
    if (txn && !commit && (txn->state == TXN_ACTIVE || txn->state == TXN_PREPARING))
        s_txn_abort (self, txn, DTX_ERR_STATE, NULL, NULL, "aborted by an operator (dtxctl resolve)");
    else
    if (txn) {
        //  Already going that way: retry phase 2 now
        for (size_t i = 0; i < txn->nbranches; i++)
            if (txn->branches [i].state == BRANCH_FINISHING && txn->branches [i].awaiting)
                txn->branches [i].next_retry = dtx_clock_ms ();
    }
    s_text_add (out, "%s: %s recorded (heuristic, by %s)%s\n", gid, decision, who,
                txn? "; phase 2 retried now": "");
    return 0;
}

static void
s_handle_admin (dtx_coordinator_t *self)
{
    dtx_proto_t *msg;
    if (s_recv (self->admin, "admin", &msg) <= 0)
        return;
    dtx_proto_t *reply = dtx_proto_new (DTX_PROTO_ADMIN_REPLY);
    dtx_proto_set_routing_id (reply, dtx_proto_routing_id (msg));
    dtx_proto_set_seq (reply, dtx_proto_seq (msg));
    if (dtx_proto_id (msg) != DTX_PROTO_ADMIN) {
        dtx_proto_set_status (reply, 1);
        dtx_proto_set_text (reply, "expected an ADMIN message");
        dtx_proto_send (reply, self->admin);
        dtx_proto_destroy (&reply);
        dtx_proto_destroy (&msg);
        return;
    }
    bool json = dtx_proto_flags (msg) & 1;
    char *words [8] = { NULL };
    int nwords = 0;
    char *line = strdup (dtx_proto_text (msg)), *save = NULL;
    for (char *word = strtok_r (line, " \t\n", &save); word && nwords < 8;
         word = strtok_r (NULL, " \t\n", &save))
        words [nwords++] = word;
    text_t out = { NULL, 0, 0 };
    s_text_add (&out, "");
    int status = 0;
    int64_t now = dtx_clock_ms ();
    const char *command = nwords? words [0]: "";
    if (streq (command, "status")) {
        size_t connected = 0, in_doubt = 0;
        participant_t *participant = (participant_t *) zhashx_first (self->participants);
        while (participant) {
            connected += participant->connected;
            participant = (participant_t *) zhashx_next (self->participants);
        }
        txn_t *txn = (txn_t *) zhashx_first (self->txns);
        while (txn) {
            in_doubt += s_txn_in_doubt (txn);
            txn = (txn_t *) zhashx_next (self->txns);
        }
        if (json)
            s_text_add (&out, "{\"id\":\"%s\",\"epoch\":%" PRIu64 ",\"uptime_s\":%.1f,\"draining\":%s,"
                        "\"transactions_live\":%zu,\"in_doubt\":%zu,\"committed\":%" PRIu64
                        ",\"aborted\":%" PRIu64 ",\"log_bytes\":%" PRIu64 ",\"log_syncs\":%" PRIu64
                        ",\"log_records_synced\":%" PRIu64 ",\"participants_connected\":%zu"
                        ",\"participants_known\":%zu}",
                        self->id, self->epoch, (now - self->started) / 1000.0,
                        self->draining? "true": "false", zhashx_size (self->txns), in_doubt,
                        self->committed, self->aborted, dtx_log_size (self->log),
                        dtx_log_syncs (self->log), dtx_log_records_synced (self->log),
                        connected, zhashx_size (self->participants));
        else
            s_text_add (&out, "coordinator      %s (epoch %" PRIu64 ")%s\n"
                        "uptime           %.1f s\n"
                        "transactions     %zu live, %zu in doubt\n"
                        "since start      %" PRIu64 " committed, %" PRIu64 " aborted\n"
                        "decision log     %s, %" PRIu64 " bytes, %" PRIu64 " fsyncs for %" PRIu64 " records\n"
                        "participants     %zu connected of %zu known\n",
                        self->id, self->epoch, self->draining? " DRAINING": "",
                        (now - self->started) / 1000.0, zhashx_size (self->txns), in_doubt,
                        self->committed, self->aborted, dtx_log_path (self->log),
                        dtx_log_size (self->log), dtx_log_syncs (self->log),
                        dtx_log_records_synced (self->log), connected,
                        zhashx_size (self->participants));
    }
    else
    if (streq (command, "participants")) {
        if (json)
            s_text_add (&out, "[");
        else
            s_text_add (&out, "%-20s %-13s %s\n", "NAME", "STATE", "LAST SEEN (s ago)");
        int count = 0;
        participant_t *participant = (participant_t *) zhashx_first (self->participants);
        while (participant) {
            double ago = participant->last_seen? (now - participant->last_seen) / 1000.0: -1;
            if (json)
                s_text_add (&out, "%s{\"name\":\"%s\",\"connected\":%s,\"last_seen_s\":%.1f}",
                            count++? ",": "", participant->name,
                            participant->connected? "true": "false", ago);
            else
                s_text_add (&out, "%-20s %-13s %.1f\n", participant->name,
                            participant->connected? "connected": "disconnected", ago);
            participant = (participant_t *) zhashx_next (self->participants);
        }
        if (json)
            s_text_add (&out, "]");
    }
    else
    if (streq (command, "txns") || streq (command, "in-doubt"))
        s_admin_txns (self, &out, json, streq (command, "in-doubt"));
    else
    if (streq (command, "show") && nwords == 2) {
        txn_t *txn = (txn_t *) zhashx_lookup (self->txns, words [1]);
        outcome_t *outcome = (outcome_t *) zhashx_lookup (self->outcomes, words [1]);
        if (txn)
            s_admin_txn (self, &out, txn, json, now);
        else
        if (outcome) {
            char *gid = s_json (words [1]), *why = s_json (outcome->err_text);
            if (json)
                s_text_add (&out, "{\"gid\":%s,\"state\":\"%s\",\"reason\":%s}", gid,
                            outcome->outcome == DTX_COMMITTED? "committed": "aborted", why);
            else
                s_text_add (&out, "%s %s%s%s\n", words [1],
                            outcome->outcome == DTX_COMMITTED? "committed": "aborted",
                            outcome->err_text? ": ": "", outcome->err_text? outcome->err_text: "");
            zstr_free (&gid);
            zstr_free (&why);
        }
        else {
            s_text_add (&out, "%s: not live and no outcome kept\n", words [1]);
            status = 1;
        }
    }
    else
    if (streq (command, "resolve") && nwords >= 3)
        status = s_admin_resolve (self, &out, words [1], words [2], nwords >= 4? words [3]: "unknown");
    else {
        s_text_add (&out, "unknown command '%s': status, participants, txns, in-doubt, show GID,"
                    " resolve GID commit|abort\n", command);
        status = 1;
    }
    dtx_proto_set_status (reply, (uint8_t) status);
    dtx_proto_set_text (reply, out.data);
    free (out.data);
    free (line);
    dtx_proto_send (reply, self->admin);
    dtx_proto_destroy (&reply);
    dtx_proto_destroy (&msg);
}

//  --------------------------------------------------------------------------
//  Timers

static void
s_tick (dtx_coordinator_t *self, int64_t now)
{
    participant_t *participant = (participant_t *) zhashx_first (self->participants);
    while (participant) {
        if (participant->connected
        &&  now - participant->last_seen > self->config.participant_timeout_ms) {
            zsys_warning ("participant %s: silent for %d ms, marked disconnected",
                          participant->name, self->config.participant_timeout_ms);
            participant->connected = false;
            s_participant_lost (self, participant, "silent");
        }
        participant = (participant_t *) zhashx_next (self->participants);
    }
    //  Collect first: aborting or finishing changes the table
    zlistx_t *due = zlistx_new ();
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        zlistx_add_end (due, txn);
        txn = (txn_t *) zhashx_next (self->txns);
    }
    txn = (txn_t *) zlistx_first (due);
    while (txn) {
        if (txn->state == TXN_ACTIVE && now >= txn->deadline) {
            char text [128];
            snprintf (text, sizeof text, "transaction timeout after %" PRId64 " ms",
                      txn->deadline - txn->started);
            s_txn_abort (self, txn, DTX_ERR_TIMEOUT, NULL, NULL, text);
        }
        else
        if (txn->state == TXN_PREPARING && now >= txn->phase_deadline) {
            char text [512] = "no vote within the vote timeout from:";
            for (size_t i = 0; i < txn->nbranches; i++)
                if (txn->branches [i].state == BRANCH_PREPARING) {
                    strncat (text, " ", sizeof text - strlen (text) - 1);
                    strncat (text, txn->branches [i].participant->name,
                             sizeof text - strlen (text) - 1);
                }
            s_txn_abort (self, txn, DTX_ERR_TIMEOUT, NULL, NULL, text);
        }
        else
        if (txn->state == TXN_COMMITTING || txn->state == TXN_ABORTING) {
            //  Don't keep the client waiting on a slow phase 2: the
            //  decision is final (durable for a 2PC commit)
            if (txn->client_request && now >= txn->phase_deadline) {
                if (txn->one_phase) {
                    //  The one-phase COMMIT's fate is unknown until the
                    //  participant answers
                    s_client_outcome (self, self->clients, txn->client, txn->client_seq, txn->gid,
                                      DTX_UNKNOWN, DTX_ERR_PARTICIPANT,
                                      txn->branches [0].participant->name, "",
                                      "no answer to one-phase COMMIT yet");
                    txn->client_request = 0;
                }
                else
                    s_txn_reply_outcome (self, txn);
            }
            for (size_t i = 0; i < txn->nbranches; i++) {
                branch_t *branch = &txn->branches [i];
                if (branch->state != BRANCH_FINISHING || !branch->awaiting)
                    continue;
                //  A request unanswered for long, or a failure retry, is
                //  sent again: phase-2 commands are idempotent (but a
                //  one-phase COMMIT is not, so it is never resent)
                bool resend = branch->next_retry? now >= branch->next_retry
                            : now - branch->sent_at > PHASE2_RETRY_MAX_MS;
                if (resend && !(txn->one_phase && branch->request == DTX_PROTO_COMMIT)
                &&  branch->participant->connected) {
                    branch->retries++;
                    s_branch_send (self, txn, branch, branch->request, branch->request_flags);
                }
            }
        }
        txn = (txn_t *) zlistx_next (due);
    }
    zlistx_destroy (&due);
}

//  Compaction keeps what a restart needs:
//  - the epoch;
//  - a checkpoint at W, just below the oldest live gid (or the last gid
//    issued, if none is live): every gid up to W had finished, and its
//    outcome may be dropped (clients asking get "unknown");
//  - COMMIT + END of every committed gid above W that finished already,
//    so that presumed abort stays exact above W;
//  - the COMMIT of every transaction whose phase 2 is not finished,
//    naming the participants that still owe an acknowledgement.
static void
s_compact_watermark (dtx_coordinator_t *self, uint64_t *epoch_p, uint64_t *counter_p)
{
    uint64_t epoch = self->epoch, counter = self->counter;
    char coordinator [DTX_NAME_MAX + 1];
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        uint64_t e, c;
        if (dtx_gid_parse (txn->gid, coordinator, &e, &c) == 0 && c > 0
        &&  (e < epoch || (e == epoch && c - 1 < counter))) {
            epoch = e;
            counter = c - 1;
        }
        txn = (txn_t *) zhashx_next (self->txns);
    }
    *epoch_p = epoch;
    *counter_p = counter;
}

static void
s_compact_keep (void *arg, dtx_log_t *out)
{
    dtx_coordinator_t *self = (dtx_coordinator_t *) arg;
    dtx_log_append_epoch (out, self->epoch);
    dtx_log_append_checkpoint (out, self->compact_epoch, self->compact_counter);
    char coordinator [DTX_NAME_MAX + 1];
    outcome_t *outcome = (outcome_t *) zhashx_first (self->outcomes);
    while (outcome) {
        const char *gid = (const char *) zhashx_cursor (self->outcomes);
        uint64_t e, c;
        if (outcome->outcome == DTX_COMMITTED
        &&  dtx_gid_parse (gid, coordinator, &e, &c) == 0
        &&  (e > self->compact_epoch || (e == self->compact_epoch && c > self->compact_counter))) {
            dtx_log_append_commit (out, gid, 0, NULL);
            dtx_log_append_end (out, gid);
        }
        outcome = (outcome_t *) zhashx_next (self->outcomes);
    }
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        if (txn->logged && txn->state == TXN_COMMITTING) {
            const char *names [BRANCHES_MAX];
            size_t count = 0;
            for (size_t i = 0; i < txn->nbranches; i++)
                if (txn->branches [i].state != BRANCH_DONE)
                    names [count++] = txn->branches [i].participant->name;
            dtx_log_append_commit (out, txn->gid, count, names);
        }
        txn = (txn_t *) zhashx_next (self->txns);
    }
}

static void
s_compact (dtx_coordinator_t *self)
{
    char err [512];
    s_compact_watermark (self, &self->compact_epoch, &self->compact_counter);
    int rc = dtx_log_compact (self->log, s_compact_keep, self, err, sizeof err);
    if (rc == -2) {
        zsys_error ("FATAL: decision log compaction: %s; stopping", err);
        _exit (3);
    }
    if (rc == -1)
        zsys_error ("decision log compaction failed, old log kept: %s", err);
    else
        s_forget_up_to (self, self->compact_epoch, self->compact_counter);
}

//  The group-commit point: one fdatasync for every COMMIT of this turn
static void
s_group_commit (dtx_coordinator_t *self)
{
    if (!dtx_log_pending (self->log))
        return;
    if (zlistx_size (self->logging) == 0) {
        //  Only END records wait: nobody waits on them.  They ride with
        //  the next COMMIT's fsync, or go out after a quiet second.
        int64_t now = dtx_clock_ms ();
        if (!self->end_pending_since)
            self->end_pending_since = now;
        if (now - self->end_pending_since < 1000)
            return;
    }
    self->end_pending_since = 0;
    if (zlistx_size (self->logging))
        dtx_fault ("coord-before-commit-durable");
    uint64_t records = dtx_log_records_synced (self->log);
    int64_t started = zclock_usecs ();
    if (dtx_log_sync (self->log)) {
        //  Never acknowledge an undurable decision, never retry an fsync
        zsys_error ("FATAL: decision log %s: write/fdatasync failed: %s; stopping so that"
                    " no commit is acknowledged that is not durable",
                    dtx_log_path (self->log), strerror (errno));
        _exit (3);
    }
    dtx_metrics_observe (self->metrics, DTX_METRIC_FSYNC, (zclock_usecs () - started) / 1e6);
    dtx_metrics_observe (self->metrics, DTX_METRIC_BATCH,
                         (double) (dtx_log_records_synced (self->log) - records));
    if (zlistx_size (self->logging))
        dtx_fault ("coord-after-commit-durable");
    txn_t *txn = (txn_t *) zlistx_first (self->logging);
    while (txn) {
        s_txn_commit_phase2 (self, txn);
        txn = (txn_t *) zlistx_next (self->logging);
    }
    zlistx_purge (self->logging);
    if (dtx_log_size (self->log) > (uint64_t) self->config.log_compact_bytes)
        s_compact (self);
}

//  --------------------------------------------------------------------------
//  Start: replay, epoch, sockets

static void
s_replay (void *arg, const dtx_log_record_t *record)
{
    dtx_coordinator_t *self = (dtx_coordinator_t *) arg;
    if (record->type == DTX_LOG_EPOCH) {
        if (record->epoch > self->replay_epoch)
            self->replay_epoch = record->epoch;
    }
    else
    if (record->type == DTX_LOG_CHECKPOINT)
        s_forget_up_to (self, record->epoch, record->counter);
    else
    if (record->type == DTX_LOG_HEURISTIC && record->decision == 2)
        //  An operator's abort of a gid with no COMMIT record: as presumed
        zhashx_delete (self->replay_commits, record->gid);
    else
    if (record->type == DTX_LOG_COMMIT) {
        zlistx_t *names = zlistx_new ();
        zlistx_set_destructor (names, (czmq_destructor *) zstr_free);
        for (size_t i = 0; i < record->nparticipants; i++)
            zlistx_add_end (names, strdup (record->participants [i]));
        zhashx_update (self->replay_commits, record->gid, names);
    }
    else
    if (record->type == DTX_LOG_END) {
        //  Finished: only its outcome is kept, for OUTCOME_QUERY
        zhashx_delete (self->replay_commits, record->gid);
        txn_t done = { .err_code = 0 };
        snprintf (done.gid, sizeof done.gid, "%s", record->gid);
        s_remember_outcome (self, &done, DTX_COMMITTED);
    }
}

static void
s_names_destroy (void **item_p)
{
    zlistx_destroy ((zlistx_t **) item_p);
}

//  Commits without END become COMMITTING transactions again: phase 2 is
//  sent to each listed participant when it registers
static void
s_recover_commits (dtx_coordinator_t *self)
{
    size_t count = zhashx_size (self->replay_commits);
    if (count)
        zsys_info ("recovery: %zu committed transaction(s) without END; driving phase 2", count);
    zlistx_t *names = (zlistx_t *) zhashx_first (self->replay_commits);
    while (names) {
        const char *gid = (const char *) zhashx_cursor (self->replay_commits);
        txn_t *txn = (txn_t *) calloc (1, sizeof (txn_t));
        assert (txn);
        snprintf (txn->gid, sizeof txn->gid, "%s", gid);
        txn->state = TXN_COMMITTING;
        txn->commit_decided = true;
        txn->logged = true;
        txn->recovered = true;
        self->recovering++;
        txn->started = dtx_clock_ms ();
        const char *name = (const char *) zlistx_first (names);
        while (name && txn->nbranches < BRANCHES_MAX) {
            branch_t *branch = s_txn_add_branch (txn, s_participant_require (self, name));
            branch->state = BRANCH_PREPARED;
            name = (const char *) zlistx_next (names);
        }
        zhashx_insert (self->txns, txn->gid, txn);
        s_txn_commit_phase2 (self, txn);
        names = (zlistx_t *) zhashx_next (self->replay_commits);
    }
    zhashx_purge (self->replay_commits);
}

void
dtx_coordinator_config_defaults (dtx_coordinator_config_t *config)
{
    memset (config, 0, sizeof *config);
    config->id = "main";
    config->txn_timeout_ms = 60000;
    config->vote_timeout_ms = 10000;
    config->reply_timeout_ms = 5000;
    config->participant_timeout_ms = 5000;
    config->phase2_retry_ms = 100;
    config->outcomes_max = 200000;
    config->log_compact_bytes = 64 << 20;
    config->drain_ms = 10000;
}

dtx_coordinator_t *
dtx_coordinator_new (const dtx_coordinator_config_t *config, char *errbuf, size_t errlen)
{
    if (dtx_name_validate ("coordinator", config->id, errbuf, errlen))
        return NULL;
    if (!config->client_endpoint || !config->participant_endpoint || !config->log_dir) {
        snprintf (errbuf, errlen, "client endpoint, participant endpoint and log directory are required");
        return NULL;
    }
    dtx_coordinator_t *self = (dtx_coordinator_t *) calloc (1, sizeof (dtx_coordinator_t));
    assert (self);
    self->config = *config;
    snprintf (self->id, sizeof self->id, "%s", config->id);
    self->participants = zhashx_new ();
    zhashx_set_destructor (self->participants, s_participant_destroy);
    self->txns = zhashx_new ();
    self->begun = zhashx_new ();
    zhashx_set_destructor (self->begun, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (self->begun, (zhashx_duplicator_fn *) strdup);
    zhashx_set_destructor (self->txns, s_txn_destructor);
    self->outcomes = zhashx_new ();
    zhashx_set_destructor (self->outcomes, s_outcome_destroy);
    self->outcome_order = zlistx_new ();
    zlistx_set_destructor (self->outcome_order, (czmq_destructor *) zstr_free);
    self->logging = zlistx_new ();
    self->replay_commits = zhashx_new ();
    zhashx_set_destructor (self->replay_commits, s_names_destroy);

    self->log = dtx_log_open (config->log_dir, s_replay, self, errbuf, errlen);
    if (!self->log) {
        dtx_coordinator_destroy (&self);
        return NULL;
    }
    //  A new epoch, durable before the first gid of it is issued
    self->epoch = self->replay_epoch + 1;
    if (dtx_log_append_epoch (self->log, self->epoch) || dtx_log_sync (self->log)) {
        snprintf (errbuf, errlen, "cannot write epoch to decision log %s: %s",
                  dtx_log_path (self->log), strerror (errno));
        dtx_coordinator_destroy (&self);
        return NULL;
    }
    self->clients = dtx_sock_new (ZMQ_ROUTER, config->client_endpoint);
    self->participants_sock = dtx_sock_new (ZMQ_ROUTER, config->participant_endpoint);
    //  The loop receives until a socket is empty: never block there
    if (self->clients)
        zsock_set_rcvtimeo (self->clients, 0);
    if (self->participants_sock)
        zsock_set_rcvtimeo (self->participants_sock, 0);
    if (!self->clients || !self->participants_sock) {
        snprintf (errbuf, errlen, "cannot bind %s endpoint %s", self->clients? "participant": "client",
                  self->clients? config->participant_endpoint: config->client_endpoint);
        dtx_coordinator_destroy (&self);
        return NULL;
    }
    //  Admin endpoint: local only (ipc, owner-only permissions) unless
    //  configured otherwise
    char *admin_endpoint = config->admin_endpoint? strdup (config->admin_endpoint)
                         : zsys_sprintf ("ipc://%s/dtx-admin.sock", config->log_dir);
    self->admin = dtx_sock_new (ZMQ_ROUTER, admin_endpoint);
    if (!self->admin) {
        snprintf (errbuf, errlen, "cannot bind admin endpoint %s", admin_endpoint);
        zstr_free (&admin_endpoint);
        dtx_coordinator_destroy (&self);
        return NULL;
    }
    if (strncmp (admin_endpoint, "ipc://", 6) == 0) {
        self->admin_path = strdup (admin_endpoint + 6);
        chmod (self->admin_path, 0600);
    }
    zstr_free (&admin_endpoint);
    if (config->metrics_listen && *config->metrics_listen) {
        self->metrics = dtx_metrics_new (config->metrics_listen, errbuf, errlen);
        if (!self->metrics) {
            dtx_coordinator_destroy (&self);
            return NULL;
        }
    }
    self->started = dtx_clock_ms ();
    s_recover_commits (self);
    zsys_info ("coordinator %s: epoch %" PRIu64 ", clients on %s, participants on %s, log %s",
               self->id, self->epoch, config->client_endpoint, config->participant_endpoint,
               dtx_log_path (self->log));
    return self;
}

void
dtx_coordinator_destroy (dtx_coordinator_t **self_p)
{
    assert (self_p);
    dtx_coordinator_t *self = *self_p;
    if (!self)
        return;
    if (self->log && dtx_log_pending (self->log))
        dtx_log_sync (self->log);       //  END records; harmless if it fails
    zsock_destroy (&self->clients);
    zsock_destroy (&self->participants_sock);
    zsock_destroy (&self->admin);
    dtx_metrics_destroy (&self->metrics);
    if (self->admin_path)
        unlink (self->admin_path);
    free (self->admin_path);
    dtx_log_destroy (&self->log);
    zlistx_destroy (&self->logging);
    zhashx_destroy (&self->txns);
    zhashx_destroy (&self->begun);
    zhashx_destroy (&self->participants);
    zhashx_destroy (&self->outcomes);
    zlistx_destroy (&self->outcome_order);
    zhashx_destroy (&self->replay_commits);
    free (self);
    *self_p = NULL;
}

//  Render the metrics snapshot the HTTP thread serves
static void
s_metrics_publish (dtx_coordinator_t *self)
{
    size_t in_doubt = 0, connected = 0;
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        in_doubt += s_txn_in_doubt (txn);
        txn = (txn_t *) zhashx_next (self->txns);
    }
    zchunk_t *out = zchunk_new (NULL, 8192);
    char *text = zsys_sprintf (
        "# HELP dtx_transactions_total Transactions ended, by outcome\n"
        "# TYPE dtx_transactions_total counter\n"
        "dtx_transactions_total{outcome=\"committed\"} %" PRIu64 "\n"
        "dtx_transactions_total{outcome=\"aborted\"} %" PRIu64 "\n"
        "# HELP dtx_transactions_live Transactions the coordinator holds now\n"
        "# TYPE dtx_transactions_live gauge\n"
        "dtx_transactions_live %zu\n"
        "# HELP dtx_transactions_in_doubt Decided, waiting for a participant's phase-2 ack\n"
        "# TYPE dtx_transactions_in_doubt gauge\n"
        "dtx_transactions_in_doubt %zu\n"
        "# HELP dtx_phase2_retries_total Phase-2 commands sent again after a failure\n"
        "# TYPE dtx_phase2_retries_total counter\n"
        "dtx_phase2_retries_total %" PRIu64 "\n"
        "# HELP dtx_log_bytes Size of the decision log\n"
        "# TYPE dtx_log_bytes gauge\n"
        "dtx_log_bytes %" PRIu64 "\n",
        self->committed, self->aborted, zhashx_size (self->txns), in_doubt,
        self->phase2_retries, dtx_log_size (self->log));
    zchunk_extend (out, text, strlen (text));
    zstr_free (&text);
    zchunk_t *per = zchunk_new (NULL, 1024);
    text = strdup ("# HELP dtx_participant_connected Participant registered and heard recently\n"
                   "# TYPE dtx_participant_connected gauge\n");
    zchunk_extend (out, text, strlen (text));
    zstr_free (&text);
    text = strdup ("# HELP dtx_participant_prepared_transactions dtx prepared transactions in"
                   " the participant's database (its last scan)\n"
                   "# TYPE dtx_participant_prepared_transactions gauge\n");
    zchunk_extend (per, text, strlen (text));
    zstr_free (&text);
    participant_t *participant = (participant_t *) zhashx_first (self->participants);
    while (participant) {
        connected += participant->connected;
        text = zsys_sprintf ("dtx_participant_connected{participant=\"%s\"} %d\n",
                             participant->name, participant->connected? 1: 0);
        zchunk_extend (out, text, strlen (text));
        zstr_free (&text);
        if (participant->prepared != 0xFFFFFFFFu) {
            text = zsys_sprintf ("dtx_participant_prepared_transactions{participant=\"%s\"} %u\n",
                                 participant->name, participant->prepared);
            zchunk_extend (per, text, strlen (text));
            zstr_free (&text);
        }
        participant = (participant_t *) zhashx_next (self->participants);
    }
    zchunk_extend (out, zchunk_data (per), zchunk_size (per));
    zchunk_destroy (&per);
    text = zsys_sprintf ("# HELP dtx_participants_connected Participants connected\n"
                         "# TYPE dtx_participants_connected gauge\n"
                         "dtx_participants_connected %zu\n", connected);
    zchunk_extend (out, text, strlen (text));
    zstr_free (&text);
    dtx_metrics_render (self->metrics, out);
    char *snapshot = (char *) malloc (zchunk_size (out) + 1);
    memcpy (snapshot, zchunk_data (out), zchunk_size (out));
    snapshot [zchunk_size (out)] = 0;
    zchunk_destroy (&out);
    dtx_metrics_publish (self->metrics, &snapshot);
}

//  Draining is over when nothing is live, or when the deadline passed:
//  then undecided transactions are aborted (presumed abort would say the
//  same after a restart) and decided ones are left to recovery
static bool
s_drained (dtx_coordinator_t *self)
{
    if (zhashx_size (self->txns) == 0)
        return true;
    int64_t now = dtx_clock_ms ();
    if (now < self->drain_deadline)
        return false;
    zlistx_t *undecided = zlistx_new ();
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        if (txn->state == TXN_ACTIVE || txn->state == TXN_PREPARING)
            zlistx_add_end (undecided, txn);
        txn = (txn_t *) zhashx_next (self->txns);
    }
    txn = (txn_t *) zlistx_first (undecided);
    while (txn) {
        s_txn_abort (self, txn, DTX_ERR_STATE, NULL, NULL, "coordinator shut down");
        txn = (txn_t *) zlistx_next (undecided);
    }
    zlistx_destroy (&undecided);
    zsys_info ("coordinator %s: drain timeout: %zu transaction(s) left to recovery",
               self->id, zhashx_size (self->txns));
    //  Let the last ROLLBACKs and replies leave before the sockets close
    zsock_set_linger (self->clients, 500);
    zsock_set_linger (self->participants_sock, 500);
    return true;
}

static bool
s_readable (zsock_t *sock)
{
    return (zsock_events (sock) & ZMQ_POLLIN) != 0;
}

int
dtx_coordinator_run (dtx_coordinator_t *self, zsock_t *pipe)
{
    zmq_pollitem_t items [4] = {
        { zsock_resolve (self->clients), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->participants_sock), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->admin), 0, ZMQ_POLLIN, 0 },
        { pipe? zsock_resolve (pipe): NULL, 0, ZMQ_POLLIN, 0 }
    };
    int nitems = pipe? 4: 3;
    self->next_tick = dtx_clock_ms () + TICK_MS;
    while (!self->terminated) {
        if (zsys_interrupted && !self->draining) {
            //  SIGTERM/SIGINT: take no new transactions, let those in
            //  flight finish (up to the drain timeout), then stop
            self->draining = true;
            self->drain_deadline = dtx_clock_ms () + self->config.drain_ms;
            zsys_info ("coordinator %s: draining %zu live transaction(s), at most %d ms",
                       self->id, zhashx_size (self->txns), self->config.drain_ms);
        }
        if (self->draining && s_drained (self))
            break;
        int64_t wait = self->next_tick - dtx_clock_ms ();
        if (wait < 0)
            wait = 0;
        int rc = zmq_poll (items, nitems, wait);
        if (rc == -1 && errno != EINTR)
            break;
        //  Drain what is there, so that one fsync covers as many
        //  decisions as possible
        //  (Receiving until there is nothing, rather than asking the
        //  socket first, saves a system call per message)
        for (int i = 0; i < DRAIN_MAX && s_handle_participant (self); i++)
            ;
        for (int i = 0; i < DRAIN_MAX && s_handle_client (self); i++)
            ;
        for (int i = 0; i < 16 && s_readable (self->admin); i++)
            s_handle_admin (self);
        if (pipe && s_readable (pipe)) {
            char *command = zstr_recv (pipe);
            if (!command || streq (command, "$TERM"))
                self->terminated = true;
            zstr_free (&command);
        }
        int64_t now = dtx_clock_ms ();
        if (now >= self->next_tick) {
            s_tick (self, now);
            self->next_tick = now + TICK_MS;
        }
        s_group_commit (self);
        dtx_logfile_check ();
        if (self->metrics && now >= self->next_metrics) {
            s_metrics_publish (self);
            self->next_metrics = now + 250;
        }
    }
    zsys_info ("coordinator %s: stopping (%" PRIu64 " committed, %" PRIu64 " aborted, %zu live)",
               self->id, self->committed, self->aborted, zhashx_size (self->txns));
    return 0;
}

void
dtx_coordinator_actor (zsock_t *pipe, void *args)
{
    char err [512];
    dtx_coordinator_t *self = dtx_coordinator_new ((dtx_coordinator_config_t *) args, err, sizeof err);
    if (!self) {
        zsys_error ("coordinator: %s", err);
        zsock_signal (pipe, 1);
        return;
    }
    zsock_signal (pipe, 0);
    dtx_coordinator_run (self, pipe);
    dtx_coordinator_destroy (&self);
}
