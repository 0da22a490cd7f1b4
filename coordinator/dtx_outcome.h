/*  =========================================================================
    dtx_outcome - what the coordinator knows and answers about a gid

    A pure module: no sockets, no files, no clock of its own.  It keeps
    the outcomes of finished transactions (bounded by count and by age),
    the coordinator's epochs with the participants that served each, and
    the watermark below which outcomes may have been forgotten; and it
    turns that, with the state of a live transaction, into the one answer
    every asker gets: a client (dtx_client_outcome), dtxctl show, and a
    participant recovering a prepared transaction.  The rules are in
    dtx_outcome.c (NOTES) and docs/recovery.md; tests/test_outcome.c
    covers each.
    =========================================================================
*/
#ifndef DTX_OUTCOME_H_INCLUDED
#define DTX_OUTCOME_H_INCLUDED

#include <czmq.h>
#include <stdint.h>
#include "dtx_util.h"

//  The state of a transaction the coordinator holds live, as far as an
//  answer about it goes
typedef enum {
    DTX_LIVE_NONE,          //  not live here
    DTX_LIVE_UNDECIDED,     //  running, preparing, or COMMIT record not yet durable
    DTX_LIVE_COMMITTED,     //  COMMIT record durable: phase 2 goes on
    DTX_LIVE_ONE_PHASE,     //  one-phase COMMIT (or its probe) sent, answer awaited
    DTX_LIVE_ABORTED        //  abort decided, rollbacks going on
} dtx_live_t;

//  Who asks: a participant asks about a gid it holds PREPARED
typedef enum {
    DTX_ASKER_CLIENT,       //  an application, or dtxctl
    DTX_ASKER_PARTICIPANT   //  in-doubt resolution
} dtx_asker_t;

//  Answers besides the dtx_outcome_t values
#define DTX_ANSWER_PROBE    100     //  ask the participants of answer->epoch
#define DTX_ANSWER_REFUSE   101     //  not a question about one of our gids

typedef struct {
    int outcome;                    //  DTX_COMMITTED .. DTX_IN_PROGRESS, or DTX_ANSWER_*
    int code;                       //  dtx_errcode_t: why (aborted, unknown, refused)
    char database [DTX_NAME_MAX + 1];
    char sqlstate [8];
    char reason [512];
    uint64_t epoch;                 //  DTX_ANSWER_PROBE: the gid's epoch ...
    uint64_t epoch_began;           //  ... and when it began (unix s)
} dtx_answer_t;

typedef struct _dtx_outcomes_t dtx_outcomes_t;

//  A store that keeps at most max outcomes, each at most retention_ms
//  after it finished.  Caller owns return value.
dtx_outcomes_t *
    dtx_outcomes_new (const char *coordinator_id, size_t max, int64_t retention_ms);

void
    dtx_outcomes_destroy (dtx_outcomes_t **self_p);

//  New limits (SIGHUP), as dtx_outcomes_new's; outcomes beyond them go
//  at the next add or expiry
void
    dtx_outcomes_set_limits (dtx_outcomes_t *self, size_t max, int64_t retention_ms);

//  The last gid issued: (epoch, counter) of this process.  Gids above it
//  were never issued.
void
    dtx_outcomes_set_issued (dtx_outcomes_t *self, uint64_t epoch, uint64_t counter);

//  An epoch of this coordinator began at `when` (unix seconds; 0 =
//  unknown, a log from before epochs carried their time)
void
    dtx_outcomes_add_epoch (dtx_outcomes_t *self, uint64_t epoch, uint64_t when);

//  Participant `name` (database `identity`) served `epoch`.  Returns true
//  if that was not known yet (the caller makes it durable before the
//  participant gets any one-phase COMMIT of that epoch).
bool
    dtx_outcomes_add_participant (dtx_outcomes_t *self, uint64_t epoch, const char *name,
                                  const char *identity);

//  The identity `name` last registered with (in any epoch), or NULL
const char *
    dtx_outcomes_identity (dtx_outcomes_t *self, const char *name);

//  Names of the participants that served `epoch` (NULL if the epoch is
//  unknown).  Owned by the store.
zlistx_t *
    dtx_outcomes_participants (dtx_outcomes_t *self, uint64_t epoch);

//  Remember a finished transaction's outcome (DTX_COMMITTED, DTX_ABORTED),
//  finished at now_ms, begun by the client key owner (NULL or "" if not
//  known).  A gid already known keeps its first outcome.  Evicts the
//  oldest past the count limit (raising the watermark).
void
    dtx_outcomes_remember (dtx_outcomes_t *self, const char *gid, int outcome, int code,
                           const char *database, const char *sqlstate, const char *text,
                           const char *owner, int64_t now_ms);

//  The client key that began gid, if its outcome is remembered with one
const char *
    dtx_outcomes_owner (dtx_outcomes_t *self, const char *gid);

//  May the client key asker be told about gid?  live_owner: the key that
//  began it if it is live here (NULL if not live, or not known).  asker
//  NULL: an asker told about any gid (no CurveZMQ, an operator key, a
//  participant).  Rules 8 and 9 in dtx_outcome.c.
bool
    dtx_outcomes_visible (dtx_outcomes_t *self, const char *gid, const char *live_owner,
                          const char *asker);

//  The outcome remembered for gid: DTX_COMMITTED, DTX_ABORTED, or 0
int
    dtx_outcomes_lookup (dtx_outcomes_t *self, const char *gid);

//  Outcomes of gids up to (epoch, counter) may be forgotten (a CHECKPOINT
//  read back, or an eviction).  Never lowers the watermark.
void
    dtx_outcomes_forget_up_to (dtx_outcomes_t *self, uint64_t epoch, uint64_t counter);

void
    dtx_outcomes_watermark (dtx_outcomes_t *self, uint64_t *epoch_p, uint64_t *counter_p);

//  Evict outcomes that finished more than the retention before now_ms
void
    dtx_outcomes_expire (dtx_outcomes_t *self, int64_t now_ms);

size_t
    dtx_outcomes_size (dtx_outcomes_t *self);

//  Walk what compaction must keep: every remembered COMMITTED gid, and
//  every epoch at or above the watermark's with its participants
typedef void (dtx_outcomes_gid_fn) (void *arg, const char *gid, const char *owner);
typedef void (dtx_outcomes_epoch_fn) (void *arg, uint64_t epoch, uint64_t when,
                                      const char *name, const char *identity);
void
    dtx_outcomes_each_committed (dtx_outcomes_t *self, dtx_outcomes_gid_fn *fn, void *arg);
//  fn is called once per epoch with name NULL, then once per participant
void
    dtx_outcomes_each_epoch (dtx_outcomes_t *self, dtx_outcomes_epoch_fn *fn, void *arg);

//  The answer about gid, given the state of its live transaction (if
//  any) and who asks.  Fills *answer; never fails.
void
    dtx_outcomes_answer (dtx_outcomes_t *self, const char *gid, dtx_live_t live,
                         dtx_asker_t asker, dtx_answer_t *answer);

#endif
