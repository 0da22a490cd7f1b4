/*  =========================================================================
    coord_recovery - the decision log read back at start, and compaction

    NOTES

    Replay (file order): EPOCH and PARTICIPANT records rebuild the epoch
    table (dtx_outcome: which databases served which epoch, for one-phase
    probes); CHECKPOINT raises the forgotten watermark; COMMIT without
    END becomes a committing transaction again (phase 2 is driven to the
    listed participants as they register); END and HEURISTIC become
    remembered outcomes.

    Compaction rewrites the log to what a restart needs to answer exactly
    what the running coordinator answers now:
      1. EPOCH of every epoch at or above the watermark's (with its start
         time) and the PARTICIPANT records of each;
      2. CHECKPOINT at the forgotten watermark: the gids whose outcomes
         this process may already have forgotten (evicted by count or
         age).  Never the oldest live gid: a watermark above a remembered
         commit would turn it into "unknown", and one below an evicted
         commit into a false "aborted";
      3. COMMIT + END of every remembered committed gid (one-phase ones
         too: cheaper than a probe later);
      4. COMMIT of every transaction whose phase 2 is unfinished, naming
         only the participants that still owe an acknowledgement.
    Crash windows (dtx_log_compact: temp file, fsync, rename, fsync of
    the directory): before the rename the old log is in use (a superset of
    the new); after it, either file is complete.  A failed directory fsync
    stops the process.  Compaction runs when the log passes both the
    configured size and twice its size after the last compaction, so a
    large retained set does not make it run every turn.
    =========================================================================
*/
#include "coord_classes.h"

void
coord_replay (void *arg, const dtx_log_record_t *record)
{
    dtx_coordinator_t *self = (dtx_coordinator_t *) arg;
    int64_t now = dtx_clock_ms ();
    switch (record->type) {
        case DTX_LOG_EPOCH:
            if (record->epoch > self->replay_epoch)
                self->replay_epoch = record->epoch;
            dtx_outcomes_add_epoch (self->outcomes, record->epoch, record->when);
            break;
        case DTX_LOG_PARTICIPANT:
            dtx_outcomes_add_participant (self->outcomes, record->epoch, record->name,
                                          record->identity);
            break;
        case DTX_LOG_CHECKPOINT:
            dtx_outcomes_forget_up_to (self->outcomes, record->epoch, record->counter);
            break;
        case DTX_LOG_HEURISTIC:
            //  An operator's decision (dtxctl resolve): abort is only
            //  accepted for a gid with no durable COMMIT, so it ends any
            //  replayed commit of it (there is none); commit only for a
            //  transaction already committing
            if (record->decision == 2) {
                zhashx_delete (self->replay_commits, record->gid);
                zhashx_delete (self->replay_owners, record->gid);
            }
            dtx_outcomes_remember (self->outcomes, record->gid,
                                   record->decision == 1? DTX_COMMITTED: DTX_ABORTED,
                                   record->decision == 1? 0: DTX_ERR_STATE, "", "",
                                   "decided by an operator (dtxctl resolve)",
                                   (const char *) zhashx_lookup (self->replay_owners, record->gid),
                                   now);
            break;
        case DTX_LOG_COMMIT: {
            zlistx_t *names = zlistx_new ();
            zlistx_set_destructor (names, (czmq_destructor *) zstr_free);
            for (size_t i = 0; i < record->nparticipants; i++)
                zlistx_add_end (names, strdup (record->participants [i]));
            zhashx_update (self->replay_commits, record->gid, names);
            if (*record->owner)
                zhashx_update (self->replay_owners, record->gid, (void *) record->owner);
            break;
        }
        case DTX_LOG_END:
            //  Finished: only its outcome is kept
            zhashx_delete (self->replay_commits, record->gid);
            dtx_outcomes_remember (self->outcomes, record->gid, DTX_COMMITTED, 0, "", "", "",
                                   (const char *) zhashx_lookup (self->replay_owners, record->gid),
                                   now);
            zhashx_delete (self->replay_owners, record->gid);
            break;
    }
}

void
coord_names_destroy (void **item_p)
{
    zlistx_destroy ((zlistx_t **) item_p);
}

//  Commits without END become COMMITTING transactions again: phase 2 is
//  sent to each listed participant when it registers
void
coord_recover_commits (dtx_coordinator_t *self)
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
        const char *owner = (const char *) zhashx_lookup (self->replay_owners, gid);
        if (owner)
            coord_owner_set (self, txn, zsys_sprintf ("k:%s", owner));
        const char *name = (const char *) zlistx_first (names);
        while (name && txn->nbranches < BRANCHES_MAX) {
            branch_t *branch = coord_txn_add_branch (txn, coord_participant_require (self, name));
            branch->state = BRANCH_PREPARED;
            branch->maybe_prepared = true;
            name = (const char *) zlistx_next (names);
        }
        zhashx_insert (self->txns, txn->gid, txn);
        coord_txn_commit_phase2 (self, txn);
        names = (zlistx_t *) zhashx_next (self->replay_commits);
    }
    zhashx_purge (self->replay_commits);
    zhashx_purge (self->replay_owners);
}

static void
s_keep_epoch (void *arg, uint64_t epoch, uint64_t when, const char *name, const char *identity)
{
    dtx_log_t *out = (dtx_log_t *) arg;
    if (name)
        dtx_log_append_participant (out, name, epoch, identity? identity: "");
    else
        dtx_log_append_epoch_at (out, epoch, when);
}

static void
s_keep_commit (void *arg, const char *gid, const char *owner)
{
    dtx_log_t *out = (dtx_log_t *) arg;
    dtx_log_append_commit_owned (out, gid, 0, NULL, owner);
    dtx_log_append_end (out, gid);
}

static void
s_compact_keep (void *arg, dtx_log_t *out)
{
    dtx_coordinator_t *self = (dtx_coordinator_t *) arg;
    dtx_outcomes_each_epoch (self->outcomes, s_keep_epoch, out);
    uint64_t epoch, counter;
    dtx_outcomes_watermark (self->outcomes, &epoch, &counter);
    dtx_log_append_checkpoint (out, epoch, counter);
    dtx_outcomes_each_committed (self->outcomes, s_keep_commit, out);
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        if (txn->logged && txn->state == TXN_COMMITTING) {
            const char *names [BRANCHES_MAX];
            size_t count = 0;
            for (size_t i = 0; i < txn->nbranches; i++)
                if (txn->branches [i].state != BRANCH_DONE)
                    names [count++] = txn->branches [i].participant->name;
            dtx_log_append_commit_owned (out, txn->gid, count, names, coord_owner_key (txn));
        }
        txn = (txn_t *) zhashx_next (self->txns);
    }
}

void
coord_compact_maybe (dtx_coordinator_t *self)
{
    if (!self->log)
        return;                 //  (the PostgreSQL store keeps its own)
    uint64_t size = dtx_log_size (self->log);
    if (size <= (uint64_t) self->config.log_compact_bytes || size <= 2 * self->compacted_size)
        return;
    char err [512];
    int rc = dtx_log_compact (self->log, s_compact_keep, self, err, sizeof err);
    if (rc == -2) {
        zsys_error ("FATAL: decision log compaction: %s; stopping", err);
        _exit (3);
    }
    if (rc == -1)
        zsys_error ("decision log compaction failed, old log kept: %s", err);
    else
        self->compacted_size = dtx_log_size (self->log);
}
