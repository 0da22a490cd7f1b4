/*  =========================================================================
    dtx_pgstore - the decision store in a (replicated) PostgreSQL database

    The store of docs/ha.md: shards with epochs and leases, and COMMIT
    decisions written in one statement per batch, conditioned on the
    writer still holding the shard's epoch (the fencing token).  Schema:
    sql/dtx-store.sql, installed at open when missing.

    Every call waits at most the timeout given at open.  A write's result
    is one of: OK (durable: PostgreSQL confirmed the commit with no
    warning), FENCED (nothing written: another coordinator holds the
    shard), UNKNOWN (the connection broke, the wait timed out, or the
    commit came with a warning such as "committed locally, but might not
    have been replicated": it may or may not be durable; repeat it, it is
    idempotent), or ERROR (refused before commit: nothing written).

    Not yet used by the coordinator (issue 11): its tests drive it
    against a real PostgreSQL.
    =========================================================================
*/
#ifndef DTX_PGSTORE_H_INCLUDED
#define DTX_PGSTORE_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

typedef enum {
    DTX_PGSTORE_OK = 0,
    DTX_PGSTORE_FENCED = 1,     //  another owner, or a later epoch: nothing written
    DTX_PGSTORE_BUSY = 2,       //  take: the lease of another owner has not expired
    DTX_PGSTORE_UNKNOWN = 3,    //  may or may not have been written: repeat it
    DTX_PGSTORE_ERROR = 4       //  refused: nothing written
} dtx_pgstore_result_t;

const char *
    dtx_pgstore_result_name (dtx_pgstore_result_t result);

//  The schema it installs: sql/dtx-store.sql
const char *
    dtx_pgstore_schema (void);

typedef struct _dtx_pgstore_t dtx_pgstore_t;

//  Connect to conninfo (libpq; several hosts and target_session_attrs=
//  read-write for a Patroni cluster) as coordinator instance `instance`
//  (unique among the coordinators: it names a lease holder), and install
//  the schema if missing.  Each call waits at most timeout_ms.  Returns
//  NULL with errbuf set if the store cannot be reached or set up.
//  Caller owns return value.
dtx_pgstore_t *
    dtx_pgstore_new (const char *conninfo, const char *instance, int timeout_ms,
                     char *errbuf, size_t errlen);

void
    dtx_pgstore_destroy (dtx_pgstore_t **self_p);

//  The last error or warning, for logs (never NULL)
const char *
    dtx_pgstore_error (dtx_pgstore_t *self);

//  True if the database has no synchronous standby: decisions are not
//  replicated before they count (fine for a single node; not for HA)
bool
    dtx_pgstore_unreplicated (dtx_pgstore_t *self);

//  Take shard with a lease of lease_ms: a new epoch (the first is 1).
//  Allowed when nobody holds it, when this instance holds it, or when
//  the holder's lease expired by the store's clock.  OK sets *epoch_p;
//  BUSY sets *holder (static buffer of the store) and *remaining_ms.
dtx_pgstore_result_t
    dtx_pgstore_take (dtx_pgstore_t *self, const char *shard, int lease_ms, uint64_t *epoch_p,
                      const char **holder, int64_t *remaining_ms);

//  Renew the lease on (shard, epoch).  FENCED if it is no longer ours.
dtx_pgstore_result_t
    dtx_pgstore_renew (dtx_pgstore_t *self, const char *shard, uint64_t epoch, int lease_ms);

//  Buffer for the next write: a COMMIT decision (the participants with
//  prepared branches, and the client key that began it, NULL if none),
//  an END, a participant that serves the epoch
int
    dtx_pgstore_add_decision (dtx_pgstore_t *self, const char *gid, size_t nparticipants,
                              const char *const *participants, const char *owner_key);
void
    dtx_pgstore_add_end (dtx_pgstore_t *self, const char *gid);
void
    dtx_pgstore_add_served (dtx_pgstore_t *self, const char *participant, const char *identity);

//  Records buffered for the next write
size_t
    dtx_pgstore_pending (dtx_pgstore_t *self);

//  Write everything buffered, in one statement, fenced by (shard, epoch).
//  OK and FENCED empty the buffer; UNKNOWN and ERROR (refused, nothing
//  written) keep it for the retry (after which the answer is exact): the
//  caller never takes a kept batch for durable.  FENCED is not "aborted": a
//  decision of the batch may exist (an earlier UNKNOWN attempt landed
//  before the takeover; the new owner drives it): ask
//  dtx_pgstore_fenced_decided for each gid (docs/ha.md, finding 1).
dtx_pgstore_result_t
    dtx_pgstore_write (dtx_pgstore_t *self, const char *shard, uint64_t epoch);

//  After a FENCED write: does gid (of that batch) have a decision?  1:
//  committed; 0: it can never be decided (aborted); -1: not known (the
//  read-back did not come back cleanly, or the last write was not FENCED)
int
    dtx_pgstore_fenced_decided (dtx_pgstore_t *self, const char *gid);

//  A decision as read back
typedef struct {
    const char *gid;
    uint64_t epoch;
    size_t nparticipants;
    const char *participants [256];
    const char *owner_key;
    bool ended;
} dtx_pgstore_decision_t;

typedef void (dtx_pgstore_decision_fn) (void *arg, const dtx_pgstore_decision_t *decision);

//  Every decision of shard not ended, through fn.  Read on the primary
//  after a clean write (take), so it is the current state.
dtx_pgstore_result_t
    dtx_pgstore_each_unended (dtx_pgstore_t *self, const char *shard,
                              dtx_pgstore_decision_fn *fn, void *arg);

//  The decision on gid (of shard), if any: OK and *found (then *decision
//  is valid until the next call), and the shard's current epoch (0: no
//  such shard).  OK only after a clean commit that covers the read
//  (docs/ha.md, finding 2): what it says is on the standby too.  A gid of
//  an epoch below *shard_epoch_p without a decision was aborted (2PC); of
//  the current epoch, only its holder can say (finding 3).
dtx_pgstore_result_t
    dtx_pgstore_lookup (dtx_pgstore_t *self, const char *gid, const char *shard, bool *found,
                        dtx_pgstore_decision_t *decision, uint64_t *shard_epoch_p);

//  The owner (instance) of the shard the last lookup read ("" if none),
//  and whether its lease had not expired then (by the store's clock)
const char *
    dtx_pgstore_lookup_owner (dtx_pgstore_t *self, bool *leased_p);

//  ... and its watermark: a gid at or below it without a decision was
//  pruned, or never decided; the store cannot tell (UNKNOWN)
void
    dtx_pgstore_lookup_forgotten (dtx_pgstore_t *self, uint64_t *epoch_p, uint64_t *counter_p);

//  Each epoch of shard (fn with participant NULL, began in unix seconds),
//  then each participant that served it
typedef void (dtx_pgstore_epoch_fn) (void *arg, uint64_t epoch, uint64_t began,
                                     const char *participant, const char *identity);
dtx_pgstore_result_t
    dtx_pgstore_each_epoch (dtx_pgstore_t *self, const char *shard, dtx_pgstore_epoch_fn *fn,
                            void *arg);

//  Delete at most max_rows of shard's ended decisions older than
//  retention_s, the lowest gids first, and raise the shard's watermark
//  to the last one deleted: a gid at or below (*forgotten_epoch_p,
//  *forgotten_counter_p) without a decision may have been committed
//  (UNKNOWN, never "aborted").  Fenced by the owner's epoch.  The
//  watermark is set even when nothing was deleted.
dtx_pgstore_result_t
    dtx_pgstore_prune (dtx_pgstore_t *self, const char *shard, uint64_t epoch, int64_t retention_s,
                       int max_rows, size_t *pruned_p, uint64_t *forgotten_epoch_p,
                       uint64_t *forgotten_counter_p);

//  The shard's current epoch (0 if the shard is unknown)
dtx_pgstore_result_t
    dtx_pgstore_epoch (dtx_pgstore_t *self, const char *shard, uint64_t *epoch_p);

#endif
