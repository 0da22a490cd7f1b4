/*  =========================================================================
    coord_store - where decisions go: the local decision log (default), or
    the PostgreSQL store (--store, docs/ha.md)

    NOTES

    With the local log a failed write or fsync stops the process (D1-D5 in
    dtx_log.c).  With PostgreSQL:

    * At start the coordinator takes its shard (its id) in the store: a new
      epoch, the fencing token of every decision it writes.  While another
      instance holds the lease it waits (logged), then takes over: the
      decisions without END become committing transactions again, as a
      replayed log would.

    * The loop turn's decisions go in one fenced statement
      (dtx_pgstore_write).  OK: durable, phase 2 goes out.  UNKNOWN (the
      connection broke, no answer in time, committed "locally" only): the
      transactions stay LOGGING, nobody is answered, the same batch is
      written again 200 ms later (idempotent) until the answer is exact.
      FENCED: another coordinator took the shard; each client waiting on
      that batch is told what the store says, read back in a statement of
      its own (a decision there: committed, the new owner drives it; none:
      aborted, it can never be decided; the read-back not clean: UNKNOWN),
      and the process stops (exit 4): it is no longer the owner.  Stepping
      down for any other reason (renewal refused or late, 50 refused
      writes in a row) tells waiting clients UNKNOWN: only a fenced write's
      read-back knows.

    * The lease is renewed every lease/3.  A renewal refused (FENCED), or
      none clean for three quarters of the lease (the store unreachable),
      stops the process too: it must not act as owner once another may
      have taken over.  Fencing does not depend on this (the epoch in
      every write does); it keeps an old owner from holding clients.

    * Ended decisions older than outcome-retention are pruned every minute
      (the lowest gids first, at most 10,000 a time), and the shard's
      watermark rises past them: a gid at or below it without a decision
      is answered UNKNOWN ("no longer retained"), as with the log.

    * An earlier epoch's two-phase commit is not kept in memory after a
      restart: a question about such a gid reads the store first
      (coord_store_recall), so the one-phase probe never answers "aborted"
      for a gid with a decision.  The store unreachable: UNKNOWN.

    Not yet (issue 11): several coordinators serving one another's
    clients and participants, dtxctl resolve on this store.
    =========================================================================
*/
#include "coord_classes.h"
#include <unistd.h>

#define STORE_RETRY_MS 200
#define START_ATTEMPTS_MAX 10           //  takes of the shard at start whose reads fail
#define PRUNE_EVERY_MS 60000
#define PRUNE_ROWS 10000

//  Prune ended decisions past the retention (max_rows 0: only read the
//  watermark) and forget below the store's watermark
static dtx_pgstore_result_t
s_prune (dtx_coordinator_t *self, int max_rows)
{
    size_t pruned = 0;
    uint64_t epoch = 0, counter = 0;
    dtx_pgstore_result_t rc = dtx_pgstore_prune (self->pg, self->id, self->epoch,
                                                 self->config.outcome_retention_ms / 1000,
                                                 max_rows, &pruned, &epoch, &counter);
    if (rc == DTX_PGSTORE_OK) {
        self->store_pruned += pruned;
        if (epoch)
            dtx_outcomes_forget_up_to (self->outcomes, epoch, counter);
        if (pruned)
            zsys_info ("decision store: %zu ended decision(s) older than %" PRId64 " s pruned;"
                       " outcomes up to %s:%" PRIu64 ":%" PRIu64 " may be forgotten", pruned,
                       self->config.outcome_retention_ms / 1000, self->id, epoch, counter);
    }
    else
        zsys_warning ("decision store: pruning: %s (%s)", dtx_pgstore_error (self->pg),
                      dtx_pgstore_result_name (rc));
    return rc;
}

//  fenced_write: called after a FENCED decision write, whose read-back
//  may tell each waiting client exactly; else (a renewal refused or too
//  late, a prune fenced) nothing is known of them here: UNKNOWN
static void
s_step_down (dtx_coordinator_t *self, const char *why, bool fenced_write)
{
    txn_t *txn = (txn_t *) zlistx_first (self->logging);
    while (txn) {
        if (txn->client && txn->client_request == DTX_PROTO_COMMIT) {
            int decided = fenced_write? dtx_pgstore_fenced_decided (self->pg, txn->gid): -1;
            if (decided == -1)
                coord_client_outcome (self, self->clients, txn->client, txn->client_seq, txn->gid,
                                      DTX_UNKNOWN, DTX_ERR_COORDINATOR, "", "",
                                      "the coordinator lost its shard while the decision was being"
                                      " written: ask again (OUTCOME_QUERY) once a coordinator holds it");
            else
                coord_client_outcome (self, self->clients, txn->client, txn->client_seq, txn->gid,
                                      decided? DTX_COMMITTED: DTX_ABORTED,
                                      decided? 0: DTX_ERR_COORDINATOR, "", "",
                                      decided? "": "the coordinator lost its shard before the"
                                      " decision was recorded (aborted)");
        }
        txn = (txn_t *) zlistx_next (self->logging);
    }
    zsys_error ("FATAL: coordinator %s (instance %s): %s; stepping down (exit 4)",
                self->id, self->config.instance, why);
    //  (let the answers leave before the process goes)
    zclock_sleep (100);
    _exit (4);
}

//  The store's epochs and the participants that served them
static void
s_replay_epoch (void *arg, uint64_t epoch, uint64_t began, const char *participant,
                const char *identity)
{
    dtx_coordinator_t *self = (dtx_coordinator_t *) arg;
    if (participant)
        dtx_outcomes_add_participant (self->outcomes, epoch, participant, identity);
    else
        dtx_outcomes_add_epoch (self->outcomes, epoch, began? began: 1);
}

static dtx_pgstore_result_t
s_pg_epochs (dtx_coordinator_t *self)
{
    return dtx_pgstore_each_epoch (self->pg, self->id, s_replay_epoch, self);
}

static void
s_replay_decision (void *arg, const dtx_pgstore_decision_t *decision)
{
    dtx_coordinator_t *self = (dtx_coordinator_t *) arg;
    zlistx_t *names = zlistx_new ();
    zlistx_set_destructor (names, (czmq_destructor *) zstr_free);
    for (size_t i = 0; i < decision->nparticipants; i++)
        zlistx_add_end (names, strdup (decision->participants [i]));
    zhashx_update (self->replay_commits, decision->gid, names);
    if (*decision->owner_key)
        zhashx_update (self->replay_owners, decision->gid, (void *) decision->owner_key);
}

//  store-timeout, or by default half the lease, at most 5 s
int
coord_store_timeout (const dtx_coordinator_config_t *config)
{
    if (config->store_timeout_ms)
        return config->store_timeout_ms;
    return config->lease_ms / 2 < 5000? config->lease_ms / 2: 5000;
}

static int
s_pg_open (dtx_coordinator_t *self, const dtx_coordinator_config_t *config,
           char *errbuf, size_t errlen)
{
    self->pg = dtx_pgstore_new (config->store_conninfo, self->config.instance,
                                coord_store_timeout (config), errbuf, errlen);
    if (!self->pg)
        return -1;
    if (dtx_pgstore_unreplicated (self->pg))
        zsys_warning ("decision store: the database has no synchronous standby"
                      " (synchronous_standby_names is empty): a decision is acknowledged once"
                      " it is on that one server; for high availability use synchronous"
                      " replication (Patroni: synchronous_mode_strict, docs/ha.md)");
    //  Take the shard (wait while another instance holds its lease), then
    //  read its state.  A read that fails (no answer in time, refused, or
    //  another instance took the shard meanwhile) starts over: the shard
    //  is taken again (a new epoch, nothing was issued in the last one)
    //  and everything read again (the replay is idempotent)
    uint64_t epoch = 0;
    int64_t logged = 0, sent = 0, first_busy = 0;
    char previous [256] = "";
    for (int attempt = 0; ; attempt++) {
        while (!zsys_interrupted) {
            const char *holder = NULL;
            int64_t remaining = 0;
            sent = dtx_clock_ms ();     //  (the lease runs from before the request)
            dtx_pgstore_result_t rc = dtx_pgstore_take (self->pg, self->id, config->lease_ms,
                                                        &epoch, &holder, &remaining);
            if (rc == DTX_PGSTORE_OK)
                break;
            int64_t now = dtx_clock_ms ();
            if (rc == DTX_PGSTORE_BUSY && holder) {
                if (!first_busy)
                    first_busy = now;
                snprintf (previous, sizeof previous, "%s", holder);
            }
            if (now - logged >= 5000) {
                zsys_info ("coordinator %s: %s; waiting", self->id, dtx_pgstore_error (self->pg));
                logged = now;
            }
            int64_t wait = rc == DTX_PGSTORE_BUSY? remaining + 50: 1000;
            zclock_sleep ((int) (wait < 50? 50: wait > 1000? 1000: wait));
        }
        if (zsys_interrupted) {
            snprintf (errbuf, errlen, "interrupted while waiting to take shard %s", self->id);
            return -1;
        }
        if (attempt > 0 && epoch <= self->epoch)
            zsys_error ("coordinator %s: epoch went backwards: the decision store gives shard %s"
                        " epoch %" PRIu64 ", not above the %" PRIu64 " taken before (a store"
                        " restored from an older copy, or a failover that lost commits?)",
                        self->id, self->id, epoch, self->epoch);
        self->epoch = epoch;
        self->lease_sent = sent;
        self->lease_next = self->lease_sent + config->lease_ms / 3;
        //  The take's commit was clean: these reads are the current state
        //  (the watermark too: without it a pruned commit would be
        //  answered as an abort)
        dtx_pgstore_result_t rc = s_pg_epochs (self);
        if (rc == DTX_PGSTORE_OK)
            rc = dtx_pgstore_each_unended (self->pg, self->id, s_replay_decision, self);
        if (rc == DTX_PGSTORE_OK)
            rc = s_prune (self, PRUNE_ROWS);
        if (rc == DTX_PGSTORE_OK)
            break;
        if (zsys_interrupted) {
            snprintf (errbuf, errlen, "interrupted while reading shard %s", self->id);
            return -1;
        }
        //  Refused (a missing grant, a schema that does not match): no
        //  retry mends it.  Unknown, or another instance took the shard
        //  meanwhile: a few more tries, then stop (a supervisor restarts
        //  us; a standby may take the shard once our lease runs out)
        if (rc == DTX_PGSTORE_ERROR || attempt + 1 >= START_ATTEMPTS_MAX) {
            snprintf (errbuf, errlen, "reading shard %s at start: %s (%s%s)", self->id,
                      dtx_pgstore_error (self->pg), dtx_pgstore_result_name (rc),
                      rc == DTX_PGSTORE_ERROR? "": ", after several attempts");
            return -1;
        }
        zsys_warning ("coordinator %s: reading shard %s at epoch %" PRIu64 ": %s; taking it"
                      " again (attempt %d)", self->id, self->id, epoch,
                      dtx_pgstore_error (self->pg), attempt + 2);
        zclock_sleep (500);
    }
    if (first_busy && strcmp (previous, self->config.instance)) {
        //  A standby's takeover: the lease it waited for expired
        self->store_takeovers = 1;
        self->store_take_wait = dtx_clock_ms () - first_busy;
        zsys_info ("coordinator %s: took shard %s over from instance %s (its lease expired) after"
                   " waiting %" PRId64 " ms", self->id, self->id, previous, self->store_take_wait);
    }
    dtx_outcomes_set_issued (self->outcomes, self->epoch, 0);
    self->store_prune_next = dtx_clock_ms () + PRUNE_EVERY_MS;
    zsys_info ("coordinator %s: decision store PostgreSQL, shard %s epoch %" PRIu64 " taken by"
               " instance %s (lease %d ms)", self->id, self->id, self->epoch,
               self->config.instance, config->lease_ms);
    return 0;
}

int
coord_store_open (dtx_coordinator_t *self, const dtx_coordinator_config_t *config,
                  char *errbuf, size_t errlen)
{
    if (config->store_conninfo)
        return s_pg_open (self, config, errbuf, errlen);
    self->log = dtx_log_open (config->log_dir, coord_replay, self, errbuf, errlen);
    if (!self->log)
        return -1;
    //  A new epoch, durable before the first gid of it is issued
    self->epoch = self->replay_epoch + 1;
    uint64_t began = (uint64_t) time (NULL);
    dtx_outcomes_add_epoch (self->outcomes, self->epoch, began);
    dtx_outcomes_set_issued (self->outcomes, self->epoch, 0);
    self->compacted_size = dtx_log_size (self->log);
    if (dtx_log_append_epoch_at (self->log, self->epoch, began) || dtx_log_sync (self->log)) {
        snprintf (errbuf, errlen, "cannot write epoch to decision log %s: %s",
                  dtx_log_path (self->log), strerror (errno));
        return -1;
    }
    return 0;
}

void
coord_store_close (dtx_coordinator_t *self)
{
    if (self->log && dtx_log_pending (self->log))
        dtx_log_sync (self->log);       //  END records; harmless if it fails
    if (self->pg && dtx_pgstore_pending (self->pg))
        dtx_pgstore_write (self->pg, self->id, self->epoch);
    dtx_log_destroy (&self->log);
    dtx_pgstore_destroy (&self->pg);
}

int
coord_store_commit (dtx_coordinator_t *self, txn_t *txn, size_t count, const char **names)
{
    if (self->pg)
        return dtx_pgstore_add_decision (self->pg, txn->gid, count, names, coord_owner_key (txn));
    return dtx_log_append_commit_owned (self->log, txn->gid, count, names, coord_owner_key (txn));
}

void
coord_store_end (dtx_coordinator_t *self, const char *gid)
{
    if (self->pg)
        dtx_pgstore_add_end (self->pg, gid);
    else
    if (dtx_log_append_end (self->log, gid))
        zsys_error ("%s: cannot append END record", gid);
}

int
coord_store_participant (dtx_coordinator_t *self, const char *name, const char *identity)
{
    if (self->pg) {
        dtx_pgstore_add_served (self->pg, name, identity);
        return 0;
    }
    return dtx_log_append_participant (self->log, name, self->epoch, identity);
}

bool
coord_store_pending (dtx_coordinator_t *self)
{
    return self->pg? dtx_pgstore_pending (self->pg) > 0: dtx_log_pending (self->log);
}

//  Make what is buffered durable.  0: done; 1: not yet (PostgreSQL: the
//  outcome was unknown or the store refused; it is written again later).
//  A failure of the local log, or a fenced write, ends the process.
int
coord_store_sync (dtx_coordinator_t *self)
{
    if (!self->pg) {
        if (dtx_log_sync (self->log)) {
            //  Never acknowledge an undurable decision, never retry an fsync
            zsys_error ("FATAL: decision log %s: write/fdatasync failed: %s; stopping so that"
                        " no commit is acknowledged that is not durable",
                        dtx_log_path (self->log), strerror (errno));
            _exit (3);
        }
        return 0;
    }
    int64_t now = dtx_clock_ms ();
    if (now < self->store_retry_at)
        return 1;
    dtx_pgstore_result_t rc = dtx_pgstore_write (self->pg, self->id, self->epoch);
    self->store_writes [rc]++;
    if (rc == DTX_PGSTORE_OK) {
        self->store_retry_at = 0;
        return 0;
    }
    if (rc == DTX_PGSTORE_FENCED)
        s_step_down (self, dtx_pgstore_error (self->pg), true);
    //  Unknown (or refused): nothing is decided until it is written.  A
    //  refusal that lasts (50 in a row, 10 s) is not going away: step down
    //  rather than hold every commit (its clients hear UNKNOWN)
    self->store_refusals = rc == DTX_PGSTORE_ERROR? self->store_refusals + 1: 0;
    if (self->store_refusals >= 50)
        s_step_down (self, dtx_pgstore_error (self->pg), false);
    if (now - self->store_complained >= 5000) {
        zsys_warning ("decision store: %s (%s); %zu decision(s) wait, written again every %d ms",
                      dtx_pgstore_error (self->pg), dtx_pgstore_result_name (rc),
                      zlistx_size (self->logging), STORE_RETRY_MS);
        self->store_complained = now;
    }
    self->store_retry_at = now + STORE_RETRY_MS;
    return 1;
}

void
coord_store_tick (dtx_coordinator_t *self, int64_t now)
{
    if (self->pg && now >= self->store_prune_next) {
        self->store_prune_next = now + PRUNE_EVERY_MS;
        if (s_prune (self, PRUNE_ROWS) == DTX_PGSTORE_FENCED)
            s_step_down (self, dtx_pgstore_error (self->pg), false);
    }
    if (!self->pg || now < self->lease_next)
        return;
    int64_t sent = dtx_clock_ms ();
    dtx_pgstore_result_t rc = dtx_pgstore_renew (self->pg, self->id, self->epoch,
                                                 self->config.lease_ms);
    if (rc == DTX_PGSTORE_OK) {
        self->store_renewals++;
        self->lease_sent = sent;
        self->lease_next = sent + self->config.lease_ms / 3;
        return;
    }
    if (rc == DTX_PGSTORE_FENCED)
        s_step_down (self, dtx_pgstore_error (self->pg), false);
    if (dtx_clock_ms () - self->lease_sent > self->config.lease_ms * 3 / 4)
        s_step_down (self, "the lease could not be renewed in time (decision store unreachable)",
                     false);
    self->lease_next = dtx_clock_ms () + STORE_RETRY_MS;
}

int64_t
coord_store_next (dtx_coordinator_t *self)
{
    if (!self->pg)
        return INT64_MAX;
    int64_t next = self->lease_next < self->store_prune_next? self->lease_next: self->store_prune_next;
    if (self->store_retry_at && self->store_retry_at < next)
        next = self->store_retry_at;
    return next;
}

//  Before answering about gid: an earlier epoch's two-phase commit is in
//  the store, not in memory.  Remembers it (with its owner) if found.
//  Returns 0, or -1 if the store could not say (errbuf).
int
coord_store_recall (dtx_coordinator_t *self, const char *gid, char *errbuf, size_t errlen)
{
    if (!self->pg || dtx_outcomes_lookup (self->outcomes, gid) || zhashx_lookup (self->txns, gid))
        return 0;
    char coordinator [DTX_NAME_MAX + 1];
    uint64_t epoch, counter;
    if (dtx_gid_parse (gid, coordinator, &epoch, &counter) || !streq (coordinator, self->id)
    ||  epoch >= self->epoch)
        return 0;
    bool found = false;
    dtx_pgstore_decision_t decision;
    uint64_t current = 0;
    if (dtx_pgstore_lookup (self->pg, gid, self->id, &found, &decision, &current) != DTX_PGSTORE_OK) {
        snprintf (errbuf, errlen, "the decision store cannot say now (%s): ask again",
                  dtx_pgstore_error (self->pg));
        return -1;
    }
    if (found)
        dtx_outcomes_remember (self->outcomes, gid, DTX_COMMITTED, 0, "", "", "",
                               decision.owner_key, dtx_clock_ms ());
    return 0;
}
