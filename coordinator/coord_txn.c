/*  =========================================================================
    coord_txn - the transaction state machine

    NOTES

    Life of a transaction that wrote to two or more databases:
      ACTIVE     statements routed to participants, one at a time;
                 deferred ones (dtx_send) held per branch, sent before
                 the branch's next statement, past DEFERRED_HOLD_MAX,
                 or with the commit: the last one carries PREPARE
      PREPARING  PREPARE sent to every branch in parallel, votes awaited
      LOGGING    every vote YES/READONLY; COMMIT record buffered
      COMMITTING record durable; COMMIT PREPARED sent; acks awaited
      (gone)     END buffered; outcome remembered (dtx_outcome)
    Any NO vote, error, vote timeout or transaction timeout: ABORTING,
    ROLLBACK (PREPARED) to every branch, nothing logged (presumed abort).

    Crash windows of a 2PC commit (the decision log's own steps are in
    dtx_log.c):
      - before the COMMIT record is durable: nothing was told "commit";
        after a restart the gid has no record: aborted everywhere
        (participants ask, hear "aborted", roll back);
      - after it is durable, before/while COMMIT PREPARED goes out: replay
        finds COMMIT without END and drives phase 2 again (idempotent);
      - dtx_commit_decided: the client hears "committed" right after the
        fsync, phase 2 goes on; a crash then is the case above;
      - END is not forced: losing it only repeats phase 2.

    One branch only: one-phase COMMIT, no PREPARE, no log record.  The
    participant writes a marker row (dtx.one_phase) in the same local
    transaction, so the outcome stays knowable:
      - COMMIT never sent (participant not connected, deferred statements
        could not be sent): aborted, known here at once;
      - COMMIT sent, answer arrives: that answer;
      - COMMIT sent, the participant lost (silent, gone, or its connection
        to PostgreSQL broke): the transaction stays live (IN PROGRESS)
        and a probe (OUTCOME_QUERY) goes to the participant when it is
        back; the probe fences the gid in the database, so the COMMIT has
        either committed before it or will fail after it: that is the
        outcome;
      - the coordinator crashes meanwhile: the gid is of an earlier epoch
        at restart, and dtx_outcome sends asking clients' questions to
        the participants of that epoch (coord_probe.c).
    =========================================================================
*/
#include "coord_classes.h"

const char *
coord_txn_state_name (txn_state_t state)
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

const char *
coord_branch_state_name (branch_state_t state)
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

void
coord_txn_destroy (txn_t **txn_p)
{
    txn_t *txn = *txn_p;
    if (txn) {
        zframe_destroy (&txn->client);
        free (txn->owner);
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

void
coord_txn_destructor (void **item_p)
{
    coord_txn_destroy ((txn_t **) item_p);
}

void
coord_txn_set_error (txn_t *txn, int code, const char *database, const char *sqlstate, const char *text)
{
    txn->err_code = code;
    snprintf (txn->err_database, sizeof txn->err_database, "%s", database? database: "");
    snprintf (txn->err_sqlstate, sizeof txn->err_sqlstate, "%s", sqlstate? sqlstate: "");
    free (txn->err_text);
    txn->err_text = strdup (text? text: "");
}

//  The branch now awaits the answer to request `id`, under a fresh seq
uint32_t
coord_branch_await (dtx_coordinator_t *self, branch_t *branch, int id, uint8_t flags)
{
    branch->seq = ++self->seq;
    branch->ahead_bytes = 0;        //  (its answer comes after theirs)
    branch->request = id;
    branch->request_flags = flags;
    branch->awaiting = true;
    branch->sent_at = dtx_clock_ms ();
    branch->next_retry = 0;
    return branch->seq;
}

//  Send a request to a branch's participant; the branch awaits its reply
void
coord_branch_send (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, int id, uint8_t flags)
{
    coord_branch_await (self, branch, id, flags);
    participant_t *participant = branch->participant;
    if (!participant->connected || !participant->routing_id) {
        //  Not there now: the retry timer sends it when it comes back
        branch->next_retry = branch->sent_at + self->config.phase2_retry_ms;
        coord_timer_schedule (self, txn);
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
    coord_timer_schedule (self, txn);
}

//  Send the branch's deferred statements, the last one flagged `end`
//  (DTX_EXEC_PREPARE or DTX_EXEC_COMMIT: that command follows it in the
//  same round trip, and the answer is a VOTE or DONE), or with end 0 all
//  as DTX_EXEC_DEFER.  With end set, the branch then awaits that answer
//  as if `request` had been sent.  Returns -1 if the participant cannot
//  be reached (nothing awaited then).
int
coord_branch_flush (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, uint8_t end, int request)
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
        dtx_proto_set_seq (msg, last && end? coord_branch_await (self, branch, request, 0): 0);
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
    branch->deferred_bytes = 0;
    return rc;
}

branch_t *
coord_txn_branch (txn_t *txn, participant_t *participant)
{
    for (size_t i = 0; i < txn->nbranches; i++)
        if (txn->branches [i].participant == participant)
            return &txn->branches [i];
    return NULL;
}

//  A new branch, zeroed; NULL if the transaction has too many
branch_t *
coord_txn_add_branch (txn_t *txn, participant_t *participant)
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

bool
coord_txn_all_done (txn_t *txn)
{
    for (size_t i = 0; i < txn->nbranches; i++)
        if (txn->branches [i].state != BRANCH_DONE)
            return false;
    return true;
}

//  In doubt: a database may hold this transaction PREPARED and not know
//  its fate yet (the decision is made here, phase 2 not acknowledged).
//  An abort whose branches never prepared is certain, not in doubt.
bool
coord_txn_in_doubt (txn_t *txn)
{
    if (txn->state != TXN_COMMITTING && txn->state != TXN_ABORTING)
        return false;
    for (size_t i = 0; i < txn->nbranches; i++)
        if (txn->branches [i].state != BRANCH_DONE && txn->branches [i].maybe_prepared)
            return true;
    return false;
}

//  The transaction as an outcome answer sees it
dtx_live_t
coord_txn_live (txn_t *txn)
{
    switch (txn->state) {
        case TXN_ACTIVE:
        case TXN_PREPARING:
        case TXN_LOGGING:
            return DTX_LIVE_UNDECIDED;
        case TXN_COMMITTING:
            return txn->one_phase? DTX_LIVE_ONE_PHASE: DTX_LIVE_COMMITTED;
        case TXN_ABORTING:
            return DTX_LIVE_ABORTED;
    }
    return DTX_LIVE_UNDECIDED;
}

//  Answer the client's pending COMMIT / ROLLBACK / EXECUTE with the final
//  outcome, if it still waits
void
coord_txn_reply_outcome (dtx_coordinator_t *self, txn_t *txn)
{
    if (!txn->client_request || !txn->client)
        return;
    int outcome = txn->state == TXN_COMMITTING? DTX_COMMITTED: DTX_ABORTED;
    if (txn->client_request == DTX_PROTO_EXECUTE)
        coord_client_error (self, self->clients, txn->client, txn->client_seq, txn->gid, txn->err_code,
                        txn->err_database, txn->err_sqlstate, txn->err_text);
    else
        coord_client_outcome (self, self->clients, txn->client, txn->client_seq, txn->gid, outcome,
                          txn->err_code, txn->err_database, txn->err_sqlstate, txn->err_text);
    txn->client_request = 0;
}

//  Every branch is done: remember the outcome, write END, forget the txn
void
coord_txn_finish (dtx_coordinator_t *self, txn_t *txn)
{
    coord_txn_reply_outcome (self, txn);
    bool committed = txn->state == TXN_COMMITTING;
    if (committed && txn->logged) {
        dtx_fault ("coord-before-end");
        //  END needs no fsync of its own: losing it only means recovery
        //  sends COMMIT PREPARED again, which is idempotent
        coord_store_end (self, txn->gid);
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
    dtx_outcomes_remember (self->outcomes, txn->gid, committed? DTX_COMMITTED: DTX_ABORTED,
                           txn->err_code, txn->err_database, txn->err_sqlstate, txn->err_text,
                           coord_owner_key (txn), now);
    coord_forget_begun (self, txn);
    coord_owner_release (self, txn);
    zhashx_delete (self->txns, txn->gid);
}

//  A one-phase COMMIT whose answer was lost (the participant went silent
//  or away, or its connection to PostgreSQL broke mid-COMMIT): it may or
//  may not have committed.  The transaction stays live (IN PROGRESS) and
//  its database is asked with a probe, sent now if the participant is
//  there and again whenever it registers: the probe fences the gid, so
//  its answer is the outcome (coord_handle_branch_outcome).
void
coord_txn_one_phase_lost (dtx_coordinator_t *self, txn_t *txn, const char *why)
{
    branch_t *branch = &txn->branches [0];
    zsys_warning ("%s: one-phase COMMIT's answer lost (%s); asking database %s", txn->gid,
                  why, branch->participant->name);
    free (branch->last_error);
    branch->last_error = strdup (why);
    branch->state = BRANCH_FINISHING;
    //  (resent by the phase-2 timer until answered, like COMMIT PREPARED)
    coord_branch_send (self, txn, branch, DTX_PROTO_OUTCOME_QUERY, 0);
}

//  The probe's answer about a one-phase COMMIT whose answer was lost
void
coord_handle_branch_outcome (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, dtx_proto_t *msg)
{
    int outcome = dtx_proto_status (msg);
    if (outcome == DTX_COMMITTED) {
        zsys_info ("%s: database %s says the one-phase COMMIT committed", txn->gid,
                   branch->participant->name);
        branch->state = BRANCH_DONE;
        coord_txn_finish (self, txn);
    }
    else
    if (outcome == DTX_ABORTED) {
        zsys_info ("%s: database %s says the one-phase COMMIT did not commit", txn->gid,
                   branch->participant->name);
        branch->state = BRANCH_DONE;
        txn->state = TXN_ABORTING;
        txn->commit_decided = false;
        coord_txn_set_error (txn, DTX_ERR_PARTICIPANT, branch->participant->name, "08006",
                             branch->last_error? branch->last_error: "one-phase COMMIT lost");
        coord_txn_finish (self, txn);
    }
    else {
        //  Its database cannot say now: ask again, backing off
        branch->awaiting = true;
        branch->retries++;
        free (branch->last_error);
        branch->last_error = strdup (dtx_proto_text (msg));
        int64_t delay = (int64_t) self->config.phase2_retry_ms << (branch->retries < 8? branch->retries: 8);
        branch->next_retry = dtx_clock_ms () + (delay > PHASE2_RETRY_MAX_MS? PHASE2_RETRY_MAX_MS: delay);
        coord_timer_schedule (self, txn);
    }
}

//  An abort is certain once decided: the client waiting on it need not
//  wait for a participant that is not there (its rollback is resent when
//  it registers again).  Answer once every reachable branch is done.
void
coord_txn_maybe_answer_abort (dtx_coordinator_t *self, txn_t *txn)
{
    if (txn->state != TXN_ABORTING || !txn->client_request)
        return;
    for (size_t i = 0; i < txn->nbranches; i++)
        if (txn->branches [i].state != BRANCH_DONE && txn->branches [i].participant->connected)
            return;
    coord_txn_reply_outcome (self, txn);
}

//  After a branch is done or a decision's commands went out: finish the
//  transaction if nothing is left, else answer a waiting abort as soon as
//  it can be and keep its timers right
void
coord_txn_settle (dtx_coordinator_t *self, txn_t *txn)
{
    if (coord_txn_all_done (txn))
        coord_txn_finish (self, txn);
    else {
        coord_txn_maybe_answer_abort (self, txn);
        coord_timer_schedule (self, txn);
    }
}

//  Decide abort: roll back every branch that may hold work.  Never
//  logged: presumed abort.
void
coord_txn_abort (dtx_coordinator_t *self, txn_t *txn, int code, const char *database,
             const char *sqlstate, const char *text)
{
    assert (txn->state != TXN_COMMITTING && txn->state != TXN_LOGGING);
    if (txn->state == TXN_ABORTING)
        return;
    if (!txn->err_code)
        coord_txn_set_error (txn, code, database, sqlstate, text);
    //  At most 10 lines a second (--verbose: all): a client that floods
    //  BEGINs and lets them time out must not fill the disk
    int64_t second = dtx_clock_ms () / 1000;
    if (second != self->aborts_second) {
        if (self->aborts_unlogged)
            zsys_info ("(%" PRIu64 " more aborts not logged)", self->aborts_unlogged);
        self->aborts_second = second;
        self->aborts_logged = 0;
        self->aborts_unlogged = 0;
    }
    if (self->config.verbose || self->aborts_logged++ < 10)
        zsys_info ("%s: aborting: %s%s%s%s%s", txn->gid, dtx_errcode_name ((dtx_errcode_t) txn->err_code),
                   *txn->err_database? " on ": "", txn->err_database,
                   txn->err_text? ": ": "", txn->err_text? txn->err_text: "");
    else
        self->aborts_unlogged++;
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
        coord_branch_send (self, txn, branch, DTX_PROTO_ROLLBACK, flags);
    }
    coord_txn_settle (self, txn);
}

//  The client asked to commit a transaction with no error so far
void
coord_txn_commit (dtx_coordinator_t *self, txn_t *txn)
{
    if (txn->nbranches == 0) {
        txn->state = TXN_COMMITTING;
        coord_txn_finish (self, txn);
        return;
    }
    if (txn->nbranches == 1 && txn->branches [0].participant->logged) {
        //  One database: plain COMMIT (with the participant's marker row),
        //  no PREPARE, no log record.  (Only once the store knows the
        //  participant served this epoch: a probe must know whom to ask.)
        branch_t *branch = &txn->branches [0];
        if (!branch->participant->connected) {
            //  COMMIT cannot leave: nothing commits there; its live
            //  session is rolled back when the participant is back
            coord_txn_abort (self, txn, DTX_ERR_PARTICIPANT, branch->participant->name, "08006",
                             "participant not connected: COMMIT was not sent");
            return;
        }
        txn->one_phase = true;
        txn->state = TXN_COMMITTING;
        txn->commit_decided = true;
        txn->phase_deadline = dtx_clock_ms () + self->config.reply_timeout_ms;
        coord_timer_schedule (self, txn);
        branch->state = BRANCH_FINISHING;
        if (branch->ndeferred == 0)
            coord_branch_send (self, txn, branch, DTX_PROTO_COMMIT, 0);
        else
        if (coord_branch_flush (self, txn, branch, DTX_EXEC_COMMIT, DTX_PROTO_COMMIT)) {
            //  Not all of it reached the participant: the COMMIT did not
            //  (a statement before it may have: roll back there)
            txn->one_phase = false;
            txn->state = TXN_ACTIVE;
            txn->commit_decided = false;
            branch->state = BRANCH_ACTIVE;
            branch->awaiting = false;
            coord_txn_abort (self, txn, DTX_ERR_PARTICIPANT, branch->participant->name, "08006",
                             "cannot reach participant: COMMIT was not sent");
        }
        return;
    }
    const char *unreachable = NULL;
    dtx_fault ("coord-before-prepare-sent");
    txn->state = TXN_PREPARING;
    txn->prepare_at = dtx_clock_ms ();
    txn->phase_deadline = txn->prepare_at + self->config.vote_timeout_ms;
    for (size_t i = 0; i < txn->nbranches; i++) {
        //  Held statements go with PREPARE: one round trip
        branch_t *branch = &txn->branches [i];
        branch->state = BRANCH_PREPARING;
        branch->maybe_prepared = true;
        if (!branch->participant->connected)
            unreachable = branch->participant->name;
        else
        if (branch->ndeferred == 0)
            coord_branch_send (self, txn, branch, DTX_PROTO_PREPARE, 0);
        else
        if (coord_branch_flush (self, txn, branch, DTX_EXEC_PREPARE, DTX_PROTO_PREPARE))
            unreachable = branch->participant->name;
    }
    if (unreachable) {
        //  Its statements never left here: it cannot vote YES
        coord_txn_abort (self, txn, DTX_ERR_PARTICIPANT, unreachable, "08006", "cannot reach participant");
        return;
    }
    coord_timer_schedule (self, txn);
    dtx_fault ("coord-after-prepare-sent");
}

//  The commit decision is durable (or not needed): phase 2
void
coord_txn_commit_phase2 (dtx_coordinator_t *self, txn_t *txn)
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
        coord_branch_send (self, txn, branch, DTX_PROTO_COMMIT_PREPARED, 0);
    }
    if (txn->ack_decided && txn->logged)
        //  The client asked to hear it now: the decision is durable, phase
        //  2 goes on (and survives any crash through the log)
        coord_txn_reply_outcome (self, txn);
    coord_txn_settle (self, txn);
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
        coord_txn_finish (self, txn);
        return;
    }
    if (coord_store_commit (self, txn, prepared, names)) {
        coord_txn_abort (self, txn, DTX_ERR_COORDINATOR, NULL, NULL, "cannot build COMMIT record");
        return;
    }
    txn->state = TXN_LOGGING;
    txn->logged = true;
    zlistx_add_end (self->logging, txn);
    if (dtx_fault_hit ("coord-hold-logging")) {
        //  Test fault: the turn stays open with this COMMIT record buffered,
        //  so that what arrives meanwhile (dtxctl resolve) meets it LOGGING
        //  (the loop looks at the admin socket again before the group commit)
        zclock_sleep (1500);
        self->admin_recheck = true;
    }
}

//  --------------------------------------------------------------------------
//  Progress reports (WORKING) for a client request that takes long

void
coord_txn_working_arm (txn_t *txn, uint8_t request_flags)
{
    txn->progress_ms = ((request_flags & DTX_PROGRESS_MASK) >> DTX_PROGRESS_SHIFT)
                     * DTX_PROGRESS_UNIT_MS;
    txn->request_at = dtx_clock_ms ();
    txn->working_at = txn->progress_ms? txn->request_at + txn->progress_ms: 0;
}

//  Append ", name" (or "name") to list, bounded; notes the quietest
//  participant: silent (not heard from within DTX_WORKING_QUIET_MS)
static void
s_working_name (char *list, size_t size, participant_t *participant, int64_t now,
                int64_t *quiet_ms)
{
    size_t used = strlen (list);
    if (used + 8 < size)
        snprintf (list + used, size - used, "%s%s", used? ", ": "", participant->name);
    int64_t quiet = now - participant->last_seen;
    if (quiet > *quiet_ms)
        *quiet_ms = quiet;
}

void
coord_txn_working (dtx_coordinator_t *self, txn_t *txn, int64_t now)
{
    if (!txn->client_request || !txn->progress_ms || !txn->client)
        return;
    txn->working_at = now + txn->progress_ms;   //  at most one per interval
    double waited = (now - txn->request_at) / 1000.0;
    char names [200] = "", text [512];
    int64_t quiet_ms = 0;
    int64_t bound = txn->phase_deadline;        //  when this coordinator answers at the latest
    const char *database = "";
    const char *absent = NULL;                  //  a participant waited for, not connected
    size_t waiting = 0;
    for (size_t i = 0; i < txn->nbranches; i++) {
        branch_t *branch = &txn->branches [i];
        //  Only what is really outstanding: a statement or vote whose
        //  participant is lost is answered at once (coord_participant_lost);
        //  a commit's phase 2 waiting for one that is not connected is
        //  answered at the phase deadline, reported as silent till then
        if (!branch->awaiting || branch->state == BRANCH_DONE)
            continue;
        if (!branch->participant->connected) {
            if (txn->state != TXN_COMMITTING)
                continue;
            absent = branch->participant->name;
        }
        if (txn->state == TXN_ACTIVE && branch->request != DTX_PROTO_EXECUTE)
            continue;
        if (txn->state == TXN_PREPARING && branch->state != BRANCH_PREPARING)
            continue;
        if (!waiting++)
            database = branch->participant->name;
        s_working_name (names, sizeof names, branch->participant, now, &quiet_ms);
    }
    if (txn->state == TXN_ACTIVE && txn->client_request == DTX_PROTO_EXECUTE && waiting) {
        snprintf (text, sizeof text, "statement running on %s for %.1f s", names, waited);
        bound = txn->deadline;
    }
    else
    if (txn->state == TXN_PREPARING && waiting)
        snprintf (text, sizeof text, "waiting for votes from %s (%.1f s)", names, waited);
    else
    if (txn->state == TXN_LOGGING) {
        snprintf (text, sizeof text, "writing the commit decision (%.1f s)", waited);
        bound = 0;      //  (the store's own timeout bounds it)
    }
    else
    if (txn->state == TXN_COMMITTING && waiting)
        snprintf (text, sizeof text, "waiting for %s on %s (%.1f s)", txn->one_phase
                  ? "the one-phase COMMIT": "COMMIT PREPARED", names, waited);
    else
    if (txn->state == TXN_ABORTING && waiting)
        snprintf (text, sizeof text, "rolling back on %s (%.1f s)%s%s", names, waited,
                  txn->err_text && *txn->err_text? " after: ": "", txn->err_text? txn->err_text: "");
    else
        return;         //  nothing outstanding: its answer is on the way
    uint8_t status = DTX_WORKING_RUNNING;
    if (absent) {
        status = DTX_WORKING_SILENT;
        size_t used = strlen (text);
        snprintf (text + used, sizeof text - used, "; participant %s not connected (answered"
                  " within %.1f s at the latest)", absent, bound > now? (bound - now) / 1000.0: 0.0);
    }
    else
    if (quiet_ms > DTX_WORKING_QUIET_MS) {
        //  Its heartbeat stopped: the silence check declares it lost (and
        //  this request answered) by then at the latest
        status = DTX_WORKING_SILENT;
        size_t used = strlen (text);
        snprintf (text + used, sizeof text - used, "; participant silent for %.1f s (lost after"
                  " %.1f s)", quiet_ms / 1000.0, self->config.participant_timeout_ms / 1000.0);
    }
    dtx_proto_t *msg = dtx_proto_new (DTX_PROTO_WORKING);
    dtx_proto_set_routing_id (msg, txn->client);
    dtx_proto_set_seq (msg, txn->client_seq);
    dtx_proto_set_gid (msg, txn->gid);
    dtx_proto_set_status (msg, status);
    dtx_proto_set_name (msg, database);
    dtx_proto_set_timeout (msg, bound > now? (uint32_t) (bound - now): 0);
    dtx_proto_set_affected (msg, (uint64_t) (now - txn->request_at));
    dtx_proto_set_text (msg, text);
    dtx_proto_send (msg, self->clients);    //  (a client gone: dropped)
    dtx_proto_destroy (&msg);
}

void
coord_handle_statement_reply (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, dtx_proto_t *msg)
{
    if (txn->state != TXN_ACTIVE || txn->client_request != DTX_PROTO_EXECUTE)
        return;
    txn->client_request = 0;
    if (dtx_proto_id (msg) == DTX_PROTO_ERROR) {
        txn->abort_only = true;
        coord_txn_set_error (txn, dtx_proto_status (msg)? dtx_proto_status (msg): DTX_ERR_SQL,
                     branch->participant->name, dtx_proto_sqlstate (msg), dtx_proto_text (msg));
        dtx_proto_set_name (msg, branch->participant->name);
    }
    dtx_proto_set_routing_id (msg, txn->client);
    dtx_proto_set_seq (msg, txn->client_seq);
    dtx_proto_send (msg, self->clients);
}

void
coord_handle_vote (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, dtx_proto_t *msg)
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
            coord_txn_abort (self, txn, DTX_ERR_SQL, branch->participant->name,
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

void
coord_handle_done (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, dtx_proto_t *msg)
{
    if (branch->state != BRANCH_FINISHING)
        return;
    int status = dtx_proto_status (msg);
    if (status == DTX_DONE_FAILED) {
        if (txn->one_phase && branch->request == DTX_PROTO_COMMIT
        &&  strncmp (dtx_proto_sqlstate (msg), "08", 2) == 0) {
            //  The connection broke around COMMIT: its database decides
            char why [512];
            snprintf (why, sizeof why, "connection lost during one-phase COMMIT: %s",
                      dtx_proto_text (msg));
            coord_txn_one_phase_lost (self, txn, why);
            return;
        }
        if (txn->one_phase && branch->request == DTX_PROTO_COMMIT) {
            //  COMMIT failed (e.g. deferred constraint): PostgreSQL rolled
            //  it back.  The transaction aborted.
            branch->state = BRANCH_DONE;
            txn->state = TXN_ABORTING;
            txn->commit_decided = false;
            coord_txn_set_error (txn, DTX_ERR_SQL, branch->participant->name,
                         dtx_proto_sqlstate (msg), dtx_proto_text (msg));
            coord_txn_finish (self, txn);
            return;
        }
        if (branch->request == DTX_PROTO_ROLLBACK && !branch->maybe_prepared
        &&  strncmp (dtx_proto_sqlstate (msg), "08", 2) == 0) {
            //  Never prepared, and its database cannot be reached: a live
            //  session there dies with its connection (PostgreSQL rolls
            //  it back), and none was opened if none could connect.  The
            //  abort is certain; nothing to wait for (the participant's
            //  idle reaper is the backstop).
            zsys_info ("%s: ROLLBACK on %s: %s; nothing was prepared there, done", txn->gid,
                       branch->participant->name, dtx_proto_text (msg));
            branch->state = BRANCH_DONE;
            coord_txn_settle (self, txn);
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
        coord_timer_schedule (self, txn);
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
    coord_txn_settle (self, txn);
}

