/*  =========================================================================
    coord_timers - what time does: transaction and vote timeouts, silent
    participants, answers a client should not wait longer for, phase-2
    retries (idempotent commands, backing off to 30 s, forever), outcome
    retention, probe deadlines

    NOTES

    Each live transaction's next deadline sits in a min-heap (by time,
    with its gid).  Entries are lazy: a transaction whose deadline moved
    earlier gets a new entry; an entry that no longer matches the
    transaction's scheduled time (or whose transaction is gone) is dropped
    when it comes up.  So a turn costs the due transactions only, and the
    loop sleeps until the next deadline: idle cost does not grow with the
    number of open transactions.  A walk over every transaction once a
    second is the backstop for any deadline a code path did not schedule.

    A client request that asked for progress reports (WORKING) gets an
    entry of its own at its next report (`working`, matched against the
    transaction's working_entry, not timer_at), and leaves the
    transaction's deadline entry alone.  A transaction has at most one
    such entry pending: a request armed while an earlier entry is pending
    pushes nothing, and that entry, when it comes up, moves on to the
    later request's time.  So fast requests cost at most one push and one
    pop per transaction and interval.  No walk sends reports: a report
    that is due is a heap entry that came up.
    =========================================================================
*/
#include "coord_classes.h"

#define BACKSTOP_MS 1000

typedef struct {
    int64_t at;
    char *gid;
    bool working;           //  a WORKING report (txn->working_at), else txn->timer_at
} timer_entry_t;

struct _coord_timers_t {
    timer_entry_t *heap;
    size_t size, capacity;
    int64_t next_backstop;
    int64_t next_silence_check;     //  participants' heartbeats, every TICK_MS
};

coord_timers_t *
coord_timers_new (void)
{
    coord_timers_t *self = (coord_timers_t *) calloc (1, sizeof (coord_timers_t));
    assert (self);
    return self;
}

void
coord_timers_destroy (coord_timers_t **self_p)
{
    coord_timers_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < self->size; i++)
            free (self->heap [i].gid);
        free (self->heap);
        free (self);
        *self_p = NULL;
    }
}

static void
s_push (coord_timers_t *self, int64_t at, const char *gid, bool working)
{
    if (self->size == self->capacity) {
        self->capacity = self->capacity? self->capacity * 2: 256;
        self->heap = (timer_entry_t *) realloc (self->heap, self->capacity * sizeof (timer_entry_t));
        assert (self->heap);
    }
    size_t i = self->size++;
    while (i > 0 && self->heap [(i - 1) / 2].at > at) {
        self->heap [i] = self->heap [(i - 1) / 2];
        i = (i - 1) / 2;
    }
    self->heap [i] = (timer_entry_t) { at, strdup (gid), working };
}

static timer_entry_t
s_pop (coord_timers_t *self)
{
    timer_entry_t top = self->heap [0];
    timer_entry_t last = self->heap [--self->size];
    size_t i = 0;
    while (true) {
        size_t child = 2 * i + 1;
        if (child >= self->size)
            break;
        if (child + 1 < self->size && self->heap [child + 1].at < self->heap [child].at)
            child++;
        if (self->heap [child].at >= last.at)
            break;
        self->heap [i] = self->heap [child];
        i = child;
    }
    if (self->size)
        self->heap [i] = last;
    return top;
}

//  The earliest time something is due for this transaction, 0 if none
static int64_t
s_next_deadline (txn_t *txn)
{
    int64_t next = 0;
#define S_EARLIER(t) do { int64_t t_ = (t); if (t_ && (!next || t_ < next)) next = t_; } while (0)
    if (txn->state == TXN_ACTIVE)
        S_EARLIER (txn->deadline);
    else
    if (txn->state == TXN_PREPARING)
        S_EARLIER (txn->phase_deadline);
    else
    if (txn->state == TXN_COMMITTING || txn->state == TXN_ABORTING) {
        if (txn->client_request)
            S_EARLIER (txn->phase_deadline);
        for (size_t i = 0; i < txn->nbranches; i++) {
            branch_t *branch = &txn->branches [i];
            //  (a one-phase COMMIT is never resent; a participant not
            //  there is sent to when it registers)
            if (branch->state == BRANCH_FINISHING && branch->awaiting && branch->participant->connected
            &&  !(txn->one_phase && branch->request == DTX_PROTO_COMMIT))
                S_EARLIER (branch->next_retry? branch->next_retry: branch->sent_at + PHASE2_RETRY_MAX_MS);
        }
    }
#undef S_EARLIER
    return next;
}

void
coord_timer_schedule (dtx_coordinator_t *self, txn_t *txn)
{
    int64_t next = s_next_deadline (txn);
    //  A deadline that passed without effect is looked at again shortly,
    //  never in a loop
    int64_t soon = dtx_clock_ms () + TICK_MS;
    if (next && next < soon && txn->timer_at == 0)
        next = soon;
    if (next && (!txn->timer_at || next < txn->timer_at)) {
        s_push (self->timers, next, txn->gid, false);
        txn->timer_at = next;
    }
}

void
coord_timer_working (dtx_coordinator_t *self, txn_t *txn)
{
    if (!txn->working_at || (txn->working_entry && txn->working_entry <= txn->working_at))
        return;
    //  (a later pending entry, if any, is stale now: dropped when it comes up)
    s_push (self->timers, txn->working_at, txn->gid, true);
    txn->working_entry = txn->working_at;
}

int64_t
coord_timers_next (dtx_coordinator_t *self)
{
    coord_timers_t *timers = self->timers;
    int64_t next = timers->next_backstop;
    if (timers->size && timers->heap [0].at < next)
        next = timers->heap [0].at;
    return next;
}

//  What is due for one transaction now
static void
s_txn_due (dtx_coordinator_t *self, txn_t *txn, int64_t now)
{
    if (txn->state == TXN_ACTIVE && now >= txn->deadline) {
        char text [384];
        int used = snprintf (text, sizeof text, "transaction timeout after %" PRId64 " ms",
                             txn->deadline - txn->started);
        //  A client waiting on a statement hears which one was too slow
        //  (not just "timeout"): it is cancelled by the rollback
        const char *database = NULL;
        for (size_t i = 0; i < txn->nbranches && txn->client_request == DTX_PROTO_EXECUTE; i++) {
            branch_t *branch = &txn->branches [i];
            if (branch->awaiting && branch->request == DTX_PROTO_EXECUTE) {
                database = branch->participant->name;
                snprintf (text + used, sizeof text - used, ": statement still running on %s after"
                          " %.1f s (cancelled)", database, (now - branch->sent_at) / 1000.0);
                break;
            }
        }
        coord_txn_abort (self, txn, DTX_ERR_TIMEOUT, database, NULL, text);
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
        coord_txn_abort (self, txn, DTX_ERR_TIMEOUT, NULL, NULL, text);
    }
    else
    if (txn->state == TXN_COMMITTING || txn->state == TXN_ABORTING) {
        //  Don't keep the client waiting on a slow phase 2: the
        //  decision is final (durable for a 2PC commit)
        if (txn->client_request && now >= txn->phase_deadline) {
            if (txn->one_phase) {
                //  The one-phase COMMIT's fate is unknown until the
                //  participant answers
                coord_client_outcome (self, self->clients, txn->client, txn->client_seq, txn->gid,
                                  DTX_UNKNOWN, DTX_ERR_PARTICIPANT,
                                  txn->branches [0].participant->name, "",
                                  txn->branches [0].request == DTX_PROTO_OUTCOME_QUERY
                                  ? "the one-phase COMMIT's answer was lost; its database is"
                                    " being asked (ask again with dtx_client_outcome)"
                                  : "no answer to the one-phase COMMIT yet (ask again with"
                                    " dtx_client_outcome)");
                txn->client_request = 0;
            }
            else
                coord_txn_reply_outcome (self, txn);
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
                coord_branch_send (self, txn, branch, branch->request, branch->request_flags);
            }
        }
    }
}

//  Run what is due for a transaction, then schedule what is next (unless
//  that ended it)
static void
s_txn_run (dtx_coordinator_t *self, txn_t *txn, int64_t now)
{
    char gid [DTX_GID_MAX + 1];
    snprintf (gid, sizeof gid, "%s", txn->gid);
    s_txn_due (self, txn, now);
    txn = (txn_t *) zhashx_lookup (self->txns, gid);
    if (txn)
        coord_timer_schedule (self, txn);
}

void
coord_tick (dtx_coordinator_t *self, int64_t now)
{
    coord_timers_t *timers = self->timers;
    if (now >= timers->next_silence_check) {
        //  (not on every loop turn: a busy loop turns thousands of times
        //  a second)
        timers->next_silence_check = now + TICK_MS;
        participant_t *participant = (participant_t *) zhashx_first (self->participants);
        while (participant) {
            if (participant->connected
            &&  now - participant->last_seen > self->config.participant_timeout_ms) {
                zsys_warning ("participant %s: silent for %d ms, marked disconnected",
                              participant->name, self->config.participant_timeout_ms);
                participant->connected = false;
                coord_participant_lost (self, participant, "silent");
            }
            participant = (participant_t *) zhashx_next (self->participants);
        }
    }
    while (timers->size && timers->heap [0].at <= now) {
        timer_entry_t entry = s_pop (timers);
        txn_t *txn = (txn_t *) zhashx_lookup (self->txns, entry.gid);
        if (entry.working) {
            if (txn && txn->working_entry == entry.at) {
                txn->working_entry = 0;
                //  (its request answered, and none since: nothing more)
                if (txn->client_request && txn->working_at) {
                    if (txn->working_at <= now)
                        coord_txn_working (self, txn, now);
                    if (txn->working_at > now)
                        coord_timer_working (self, txn);    //  the next, or a later request's
                }
            }
        }
        else
        if (txn && txn->timer_at == entry.at) {
            txn->timer_at = 0;
            s_txn_run (self, txn, now);
        }
        free (entry.gid);
    }
    if (now >= timers->next_backstop) {
        timers->next_backstop = now + BACKSTOP_MS;
        //  Collect first: aborting or finishing changes the table
        zlistx_t *all = zlistx_new ();
        txn_t *txn = (txn_t *) zhashx_first (self->txns);
        while (txn) {
            zlistx_add_end (all, txn);
            txn = (txn_t *) zhashx_next (self->txns);
        }
        txn = (txn_t *) zlistx_first (all);
        while (txn) {
            s_txn_run (self, txn, now);
            txn = (txn_t *) zlistx_next (all);
        }
        zlistx_destroy (&all);
        dtx_outcomes_expire (self->outcomes, now);
    }
    coord_probe_tick (self, now);
}
