/*  =========================================================================
    dtx_outcome - what the coordinator knows and answers about a gid

    NOTES

    Every answer is exact, or UNKNOWN with a reason.  In order:

    1. Not a well-formed gid, not one of this coordinator's, or above the
       last gid issued: refused (DTX_ANSWER_REFUSE), never "aborted".
    2. Live here: its state.  Undecided (running, preparing, COMMIT record
       buffered but not yet durable) and a one-phase COMMIT whose answer
       is awaited are IN PROGRESS; a durable COMMIT is COMMITTED; a decided
       abort is ABORTED.  A participant asking about a live gid always
       hears IN PROGRESS: the coordinator is driving it, and a participant
       acting on its own would race phase 2.
    3. Remembered (finished here, or replayed from the log): that outcome.
    4. A participant asking about a gid it holds prepared: ABORTED
       (presumed abort).  Always sound: a prepared gid belongs to a 2PC
       transaction, and a 2PC COMMIT decision stays live here and in the
       log until every participant has acknowledged phase 2.
    5. At or below the watermark: UNKNOWN, "no longer retained".  The
       watermark only rises when an outcome is evicted (count or age
       limit), so this happens only to gids issued before one that aged
       out.
    6. Of the current epoch: ABORTED (presumed abort).  Every transaction
       this process began is live or remembered until evicted (rule 5).
    7. Of an earlier epoch: a 2PC commit of it would be remembered (its
       COMMIT record was replayed, and compaction keeps remembered
       commits).  A one-phase commit leaves no record here, only a marker
       row in its database (sql/dtx-participant.sql): ask every
       participant that served that epoch (DTX_ANSWER_PROBE).  The probe
       fences the gid, so its answer stays true.  An epoch no participant
       served: ABORTED.  An epoch the log does not describe (written
       before epochs carried their participants): UNKNOWN.

    Who is told (dtx_outcomes_visible).  With CurveZMQ, a client is told
    about its own gids only (an operator key, a participant and dtxctl
    about any): gids are sequential, and a stranger must not learn which
    exist nor how they ended.  The owner is the client key that began the
    transaction: kept with a live one, with a remembered outcome, and in
    the COMMIT record (so a 2PC commit's owner survives restarts).
    8. Owner known: told to that key only.
    9. Owner not known: told to anyone only where the answer says nothing
       about someone else's transaction of this process, or could be the
       asker's own and would otherwise be lost: at or below the watermark
       (UNKNOWN, no longer retained), not one of our gids, or of an earlier
       epoch (its aborts and one-phase commits were not logged, so their
       owner is not known after a restart; the owner must still hear how
       they ended).  Else refused, as a gid that is not the asker's: a
       stranger cannot tell "someone else's" from "never issued".
    =========================================================================
*/
#include "dtx_outcome.h"
#include <inttypes.h>

typedef struct {
    char *gid;
    int outcome;
    int code;
    char database [DTX_NAME_MAX + 1];
    char sqlstate [8];
    char *text;
    char *owner;                    //  client key that began it, NULL if not known
    int64_t finished;               //  when it was remembered (ms)
} outcome_t;

typedef struct {
    uint64_t epoch;
    uint64_t when;                  //  unix s it began; 0 = not recorded
    zlistx_t *names;                //  participants that served it
    zhashx_t *identities;           //  name -> identity
} epoch_t;

struct _dtx_outcomes_t {
    char id [DTX_NAME_MAX + 1];
    size_t max;
    int64_t retention_ms;
    zhashx_t *outcomes;             //  gid -> outcome_t
    zlistx_t *order;                //  outcome_t in the order remembered
    zlistx_t *epochs;               //  epoch_t, ascending
    zhashx_t *identity;             //  name -> identity it last served with
    uint64_t issued_epoch, issued_counter;
    uint64_t forgotten_epoch, forgotten_counter;
};

static void
s_outcome_destroy (void **item_p)
{
    outcome_t *outcome = (outcome_t *) *item_p;
    if (outcome) {
        free (outcome->gid);
        free (outcome->text);
        free (outcome->owner);
        free (outcome);
        *item_p = NULL;
    }
}

static int
s_epoch_compare (const void *item1, const void *item2)
{
    uint64_t a = ((const epoch_t *) item1)->epoch, b = ((const epoch_t *) item2)->epoch;
    return a < b? -1: a > b? 1: 0;
}

static void
s_epoch_destroy (void **item_p)
{
    epoch_t *epoch = (epoch_t *) *item_p;
    if (epoch) {
        zlistx_destroy (&epoch->names);
        zhashx_destroy (&epoch->identities);
        free (epoch);
        *item_p = NULL;
    }
}

void
dtx_outcomes_set_limits (dtx_outcomes_t *self, size_t max, int64_t retention_ms)
{
    self->max = max? max: 1;
    self->retention_ms = retention_ms;
}

dtx_outcomes_t *
dtx_outcomes_new (const char *coordinator_id, size_t max, int64_t retention_ms)
{
    dtx_outcomes_t *self = (dtx_outcomes_t *) calloc (1, sizeof (dtx_outcomes_t));
    assert (self);
    snprintf (self->id, sizeof self->id, "%s", coordinator_id);
    self->max = max? max: 1;
    self->retention_ms = retention_ms;
    self->outcomes = zhashx_new ();
    zhashx_set_destructor (self->outcomes, s_outcome_destroy);
    self->order = zlistx_new ();
    self->epochs = zlistx_new ();
    zlistx_set_destructor (self->epochs, s_epoch_destroy);
    zlistx_set_comparator (self->epochs, s_epoch_compare);
    self->identity = zhashx_new ();
    zhashx_set_destructor (self->identity, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (self->identity, (zhashx_duplicator_fn *) strdup);
    return self;
}

void
dtx_outcomes_destroy (dtx_outcomes_t **self_p)
{
    assert (self_p);
    dtx_outcomes_t *self = *self_p;
    if (self) {
        zlistx_destroy (&self->order);
        zhashx_destroy (&self->outcomes);
        zlistx_destroy (&self->epochs);
        zhashx_destroy (&self->identity);
        free (self);
        *self_p = NULL;
    }
}

void
dtx_outcomes_set_issued (dtx_outcomes_t *self, uint64_t epoch, uint64_t counter)
{
    self->issued_epoch = epoch;
    self->issued_counter = counter;
}

static epoch_t *
s_epoch (dtx_outcomes_t *self, uint64_t number)
{
    epoch_t *epoch = (epoch_t *) zlistx_last (self->epochs);
    while (epoch && epoch->epoch > number)
        epoch = (epoch_t *) zlistx_prev (self->epochs);
    return epoch && epoch->epoch == number? epoch: NULL;
}

void
dtx_outcomes_add_epoch (dtx_outcomes_t *self, uint64_t number, uint64_t when)
{
    epoch_t *epoch = s_epoch (self, number);
    if (epoch) {
        if (when)
            epoch->when = when;
        return;
    }
    epoch = (epoch_t *) calloc (1, sizeof (epoch_t));
    assert (epoch);
    epoch->epoch = number;
    epoch->when = when;
    epoch->names = zlistx_new ();
    zlistx_set_destructor (epoch->names, (czmq_destructor *) zstr_free);
    zlistx_set_comparator (epoch->names, (czmq_comparator *) strcmp);
    epoch->identities = zhashx_new ();
    zhashx_set_destructor (epoch->identities, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (epoch->identities, (zhashx_duplicator_fn *) strdup);
    //  Keep the list ascending (epochs arrive in order; sort if not)
    epoch_t *last = (epoch_t *) zlistx_last (self->epochs);
    zlistx_add_end (self->epochs, epoch);
    if (last && last->epoch > number)
        zlistx_sort (self->epochs);
}

bool
dtx_outcomes_add_participant (dtx_outcomes_t *self, uint64_t number, const char *name,
                              const char *identity)
{
    identity = identity? identity: "";
    if (*identity)
        zhashx_update (self->identity, name, (void *) identity);
    epoch_t *epoch = s_epoch (self, number);
    if (!epoch) {
        dtx_outcomes_add_epoch (self, number, 0);
        epoch = s_epoch (self, number);
    }
    bool known = zlistx_find (epoch->names, (void *) name) != NULL;
    if (!known)
        zlistx_add_end (epoch->names, strdup (name));
    zhashx_update (epoch->identities, name, (void *) identity);
    return !known;
}

const char *
dtx_outcomes_identity (dtx_outcomes_t *self, const char *name)
{
    return (const char *) zhashx_lookup (self->identity, name);
}

zlistx_t *
dtx_outcomes_participants (dtx_outcomes_t *self, uint64_t number)
{
    epoch_t *epoch = s_epoch (self, number);
    return epoch? epoch->names: NULL;
}

static bool
s_at_or_below (uint64_t epoch, uint64_t counter, uint64_t mark_epoch, uint64_t mark_counter)
{
    return epoch < mark_epoch || (epoch == mark_epoch && counter <= mark_counter);
}

void
dtx_outcomes_forget_up_to (dtx_outcomes_t *self, uint64_t epoch, uint64_t counter)
{
    if (!s_at_or_below (epoch, counter, self->forgotten_epoch, self->forgotten_counter)) {
        self->forgotten_epoch = epoch;
        self->forgotten_counter = counter;
    }
}

void
dtx_outcomes_watermark (dtx_outcomes_t *self, uint64_t *epoch_p, uint64_t *counter_p)
{
    *epoch_p = self->forgotten_epoch;
    *counter_p = self->forgotten_counter;
}

//  Drop the oldest outcome; everything up to its gid may now be unknown
static void
s_evict_oldest (dtx_outcomes_t *self)
{
    outcome_t *oldest = (outcome_t *) zlistx_detach (self->order, NULL);
    if (!oldest)
        return;
    char coordinator [DTX_NAME_MAX + 1];
    uint64_t epoch, counter;
    if (dtx_gid_parse (oldest->gid, coordinator, &epoch, &counter) == 0
    &&  streq (coordinator, self->id))
        dtx_outcomes_forget_up_to (self, epoch, counter);
    zhashx_delete (self->outcomes, oldest->gid);
}

void
dtx_outcomes_remember (dtx_outcomes_t *self, const char *gid, int outcome_value, int code,
                       const char *database, const char *sqlstate, const char *text,
                       const char *owner, int64_t now_ms)
{
    if (zhashx_lookup (self->outcomes, gid))
        return;         //  known already (replayed from the log): keep the first
    outcome_t *outcome = (outcome_t *) calloc (1, sizeof (outcome_t));
    assert (outcome);
    outcome->gid = strdup (gid);
    outcome->outcome = outcome_value;
    outcome->code = code;
    snprintf (outcome->database, sizeof outcome->database, "%s", database? database: "");
    snprintf (outcome->sqlstate, sizeof outcome->sqlstate, "%s", sqlstate? sqlstate: "");
    outcome->text = text && *text? strdup (text): NULL;
    outcome->owner = owner && *owner? strdup (owner): NULL;
    outcome->finished = now_ms;
    zhashx_insert (self->outcomes, gid, outcome);
    zlistx_add_end (self->order, outcome);
    while (zlistx_size (self->order) > self->max)
        s_evict_oldest (self);
}

const char *
dtx_outcomes_owner (dtx_outcomes_t *self, const char *gid)
{
    outcome_t *outcome = (outcome_t *) zhashx_lookup (self->outcomes, gid);
    return outcome? outcome->owner: NULL;
}

//  Rules 8 and 9 (NOTES)
bool
dtx_outcomes_visible (dtx_outcomes_t *self, const char *gid, const char *live_owner,
                      const char *asker)
{
    if (!asker)
        return true;
    const char *owner = live_owner && *live_owner? live_owner: dtx_outcomes_owner (self, gid);
    if (owner)
        return streq (owner, asker);
    char coordinator [DTX_NAME_MAX + 1];
    uint64_t epoch, counter;
    if (dtx_gid_parse (gid, coordinator, &epoch, &counter) || strcmp (coordinator, self->id))
        return true;
    return epoch < self->issued_epoch
        || s_at_or_below (epoch, counter, self->forgotten_epoch, self->forgotten_counter);
}

int
dtx_outcomes_lookup (dtx_outcomes_t *self, const char *gid)
{
    outcome_t *outcome = (outcome_t *) zhashx_lookup (self->outcomes, gid);
    return outcome? outcome->outcome: 0;
}

void
dtx_outcomes_expire (dtx_outcomes_t *self, int64_t now_ms)
{
    outcome_t *oldest;
    while ((oldest = (outcome_t *) zlistx_first (self->order))
    &&     now_ms - oldest->finished > self->retention_ms)
        s_evict_oldest (self);
}

size_t
dtx_outcomes_size (dtx_outcomes_t *self)
{
    return zhashx_size (self->outcomes);
}

void
dtx_outcomes_each_committed (dtx_outcomes_t *self, dtx_outcomes_gid_fn *fn, void *arg)
{
    outcome_t *outcome = (outcome_t *) zlistx_first (self->order);
    while (outcome) {
        if (outcome->outcome == DTX_COMMITTED)
            fn (arg, outcome->gid, outcome->owner);
        outcome = (outcome_t *) zlistx_next (self->order);
    }
}

void
dtx_outcomes_each_epoch (dtx_outcomes_t *self, dtx_outcomes_epoch_fn *fn, void *arg)
{
    epoch_t *epoch = (epoch_t *) zlistx_first (self->epochs);
    while (epoch) {
        //  Every gid of an epoch below the watermark's is forgotten
        if (epoch->epoch >= self->forgotten_epoch) {
            fn (arg, epoch->epoch, epoch->when, NULL, NULL);
            const char *name = (const char *) zlistx_first (epoch->names);
            while (name) {
                fn (arg, epoch->epoch, epoch->when, name,
                    (const char *) zhashx_lookup (epoch->identities, name));
                name = (const char *) zlistx_next (epoch->names);
            }
        }
        epoch = (epoch_t *) zlistx_next (self->epochs);
    }
}

static void
s_answer (dtx_answer_t *answer, int outcome, int code, const char *format, ...)
{
    answer->outcome = outcome;
    answer->code = code;
    va_list args;
    va_start (args, format);
    vsnprintf (answer->reason, sizeof answer->reason, format, args);
    va_end (args);
}

void
dtx_outcomes_answer (dtx_outcomes_t *self, const char *gid, dtx_live_t live,
                     dtx_asker_t asker, dtx_answer_t *answer)
{
    memset (answer, 0, sizeof *answer);
    char err [256];
    if (dtx_gid_validate (gid, err, sizeof err)) {
        s_answer (answer, DTX_ANSWER_REFUSE, DTX_ERR_BAD_REQUEST, "%s", err);
        return;
    }
    if (live != DTX_LIVE_NONE && asker == DTX_ASKER_PARTICIPANT) {
        s_answer (answer, DTX_IN_PROGRESS, 0, "the coordinator is driving it");
        return;
    }
    switch (live) {
        case DTX_LIVE_NONE:
            break;
        case DTX_LIVE_UNDECIDED:
            s_answer (answer, DTX_IN_PROGRESS, 0, "not decided yet");
            return;
        case DTX_LIVE_COMMITTED:
            s_answer (answer, DTX_COMMITTED, 0, "");
            return;
        case DTX_LIVE_ONE_PHASE:
            s_answer (answer, DTX_IN_PROGRESS, 0, "one-phase COMMIT sent; its database's answer is awaited");
            return;
        case DTX_LIVE_ABORTED:
            s_answer (answer, DTX_ABORTED, DTX_ERR_ABORT_ONLY, "aborted");
            return;
    }
    outcome_t *outcome = (outcome_t *) zhashx_lookup (self->outcomes, gid);
    if (outcome) {
        s_answer (answer, outcome->outcome, outcome->outcome == DTX_COMMITTED? 0: outcome->code,
                  "%s", outcome->text? outcome->text: "");
        snprintf (answer->database, sizeof answer->database, "%s", outcome->database);
        snprintf (answer->sqlstate, sizeof answer->sqlstate, "%s", outcome->sqlstate);
        return;
    }
    char coordinator [DTX_NAME_MAX + 1];
    uint64_t epoch, counter;
    if (dtx_gid_parse (gid, coordinator, &epoch, &counter) || strcmp (coordinator, self->id)) {
        s_answer (answer, DTX_ANSWER_REFUSE, DTX_ERR_NO_TXN,
                  "not a global id of this coordinator ('%s')", self->id);
        return;
    }
    if (!s_at_or_below (epoch, counter, self->issued_epoch, self->issued_counter)) {
        s_answer (answer, DTX_ANSWER_REFUSE, DTX_ERR_NO_TXN, "this global id was never issued");
        return;
    }
    if (asker == DTX_ASKER_PARTICIPANT) {
        s_answer (answer, DTX_ABORTED, DTX_ERR_NO_TXN, "no commit decision recorded (presumed abort)");
        return;
    }
    if (s_at_or_below (epoch, counter, self->forgotten_epoch, self->forgotten_counter)) {
        s_answer (answer, DTX_UNKNOWN, DTX_ERR_NO_TXN,
                  "outcome no longer retained (kept: the last %zu outcomes, for %" PRId64 " s)",
                  self->max, self->retention_ms / 1000);
        return;
    }
    if (epoch == self->issued_epoch) {
        s_answer (answer, DTX_ABORTED, DTX_ERR_NO_TXN, "no commit decision recorded (presumed abort)");
        return;
    }
    epoch_t *described = s_epoch (self, epoch);
    if (!described || !described->when) {
        s_answer (answer, DTX_UNKNOWN, DTX_ERR_NO_TXN,
                  "epoch %" PRIu64 " is not described by the decision log (written before dtx"
                  " recorded each epoch's participants): a one-database transaction of it may"
                  " have committed; check its database", epoch);
        return;
    }
    if (zlistx_size (described->names) == 0) {
        s_answer (answer, DTX_ABORTED, DTX_ERR_NO_TXN,
                  "no commit decision recorded, no participant served its epoch (presumed abort)");
        return;
    }
    s_answer (answer, DTX_ANSWER_PROBE, 0, "ask the participants of epoch %" PRIu64, epoch);
    answer->epoch = epoch;
    answer->epoch_began = described->when;
}
