/*  =========================================================================
    coord_classes - the coordinator's private types and the actions its
    files share (Malamute's mlm_classes.h pattern)

    The engine is split by job, one file each:

      dtx_coordinator.c  the loop, the sockets, start and stop, the
                         group-commit point
      coord_txn.c        the transaction state machine: branches, PREPARE,
                         decision, phase 2, abort, finish
      coord_client.c     client requests: BEGIN, EXECUTE, COMMIT, ROLLBACK,
                         OUTCOME_QUERY
      coord_registry.c   participants: REGISTER, identity, loss; their
                         replies routed to the state machine
      coord_probe.c      asking participants about one-phase gids of an
                         earlier epoch (the answer dtx_outcome cannot give
                         alone)
      coord_timers.c     timeouts, silent participants, phase-2 retries
      coord_recovery.c   replay of the decision log, compaction
      coord_admin.c      dtxctl's commands
      coord_metrics.c    the Prometheus snapshot
      dtx_outcome.c      what is answered about a gid (pure, unit-tested)
      dtx_log.c          the durable decision log
    =========================================================================
*/
#ifndef COORD_CLASSES_H_INCLUDED
#define COORD_CLASSES_H_INCLUDED

#include "dtx_coordinator.h"
#include "dtx_log.h"
#include "dtx_metrics.h"
#include "dtx_outcome.h"
#include "dtx_pgstore.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include "dtx_fault.h"
#include <inttypes.h>

#define BRANCHES_MAX 64
#define DRAIN_MAX 4096              //  messages per socket per loop turn
#define WARM_UP_MS 2000             //  at start, wait this long at most for the last
                                    //  epoch's participants before reading clients
#define TICK_MS 20                  //  timer granularity
#define PHASE2_RETRY_MAX_MS 30000
#define PROBE_TIMEOUT_MS 5000       //  participants' answers to a probe
#define DEFERRED_HOLD_MAX 64        //  deferred statements held per branch before
                                    //  they go ahead to the participant
#define IDENTITY_MAX 128
#define DEFERRED_BYTES_MAX (1 << 20)    //  deferred statement bytes held per branch
                                        //  before they go ahead (memory bound)
#define DEFERRED_AHEAD_MAX (16 << 20)   //  deferred bytes sent ahead to a branch with no
                                        //  answer awaited since: past it, refused
#define TIMEOUT_MAX_MS (24 * 3600 * 1000)   //  longest transaction timeout a client may ask
#define FOREIGN_LOOKUPS_PER_S 100       //  store reads a second for other shards' gids

//  Requests refused by a limit (counted for the metrics)
typedef enum {
    COORD_REFUSED_TXNS,             //  live transactions in all
    COORD_REFUSED_CLIENT_TXNS,      //  live transactions of one client
    COORD_REFUSED_TIMEOUT,          //  a timeout out of range
    COORD_REFUSED_OWNER,            //  a request for another client's transaction
    COORD_REFUSED_PARTICIPANTS,     //  participant names in all
    COORD_REFUSED_WRONG_REPLY,      //  a participant reply of the wrong type
    COORD_REFUSED_DEFERRED,         //  deferred statements sent ahead past DEFERRED_AHEAD_MAX
    COORD_REFUSED_FOREIGN,          //  questions about other shards' gids past the rate
    COORD_REFUSED_COUNT
} coord_refused_t;

typedef struct _coord_timers_t coord_timers_t;

typedef struct {
    char name [DTX_NAME_MAX + 1];
    char identity [IDENTITY_MAX + 1];   //  "<system identifier>/<database>"
    zframe_t *routing_id;           //  current connection, NULL until registered
    int64_t last_seen;
    bool connected;
    bool logged;                    //  its PARTICIPANT record of this epoch is durable
    uint32_t prepared;              //  its database's dtx prepared transactions
    int64_t refused_logged;         //  last time a refused REGISTER was logged ...
    uint32_t refused_crc;           //  ... and the CRC of its reason
    bool rebind;                    //  an operator allowed a new database identity
} participant_t;

//  State of one transaction
typedef enum {
    TXN_ACTIVE,                     //  running statements
    TXN_PREPARING,                  //  PREPARE sent, votes awaited
    TXN_LOGGING,                    //  COMMIT record buffered, fsync pending
    TXN_COMMITTING,                 //  decision durable (or one-phase); COMMIT sent
    TXN_ABORTING                    //  ROLLBACK sent, acks awaited
} txn_state_t;

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
    bool maybe_prepared;            //  PREPARE went out: a prepared transaction
                                    //  may exist until phase 2 is acknowledged
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
    size_t deferred_bytes;          //  their SQL and parameters
    size_t ahead_bytes;             //  deferred bytes sent ahead since the branch's
                                    //  last request that is answered
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
    int64_t timer_at;               //  its entry in the timer heap (0 = none)
    zframe_t *client;               //  routing id of the client
    char *owner;                    //  who may send its requests: "k:" + client key
                                    //  (CurveZMQ), or "c:" + connection (coord_client.c)
    uint32_t client_seq;            //  seq of the client request awaiting reply
    int client_request;             //  its id, 0 = none pending
    int64_t request_at;             //  ... when it came
    int progress_ms;                //  ... WORKING interval its client asked for (0: none)
    int64_t working_at;             //  ... next WORKING due (0: none)
    int64_t working_entry;          //  its pending WORKING entry in the timer heap (0:
                                    //  none): one at a time, however many requests
    size_t nbranches;
    size_t branches_size;           //  allocated (most transactions: 2)
    branch_t *branches;
    //  Why it aborted (or first statement error)
    int err_code;
    char err_database [DTX_NAME_MAX + 1];
    char err_sqlstate [8];
    char *err_text;
} txn_t;

struct _dtx_coordinator_t {
    dtx_coordinator_config_t config;
    char id [DTX_NAME_MAX + 1];
    zsock_t *clients;
    zsock_t *participants_sock;
    zsock_t *admin;                 //  dtxctl, local ipc endpoint
    char *admin_path;               //  its socket file
    int64_t started;
    dtx_log_t *log;                 //  the decision log, or NULL with ...
    dtx_pgstore_t *pg;              //  ... the PostgreSQL store (coord_store.c)
    char instance [256];            //  default instance name (ID@HOST)
    int64_t lease_next;             //  pg: next lease renewal
    int64_t lease_sent;             //  ... when the last clean one was sent
    int64_t store_retry_at;         //  pg: an unknown write is repeated from then
    int64_t store_complained;       //  ... last logged
    uint64_t store_renewals;        //  pg: clean lease renewals
    uint64_t store_takeovers;       //  pg: 1 if this instance took the shard from
                                    //  another one's (expired) lease at start
    int64_t store_take_wait;        //  ... ms it waited for that lease
    uint64_t store_foreign_lookups; //  pg: questions about other shards' gids
    int64_t foreign_window;         //  ... this second's start, and how many in it
    int foreign_in_window;
    //  Warm-up after a start or takeover: clients are not read until the
    //  participants of the last epoch that had any have registered, or
    //  until warm_until (WARM_UP_MS): their first transactions would
    //  otherwise be refused "unknown database"
    int64_t warm_until;             //  0: serving clients
    zlistx_t *warm_expect;          //  names (not owned: dtx_outcomes')
    int store_refusals;             //  pg: decision writes refused in a row
    int64_t store_prune_next;       //  pg: next pruning of ended decisions
    uint64_t store_pruned;          //  ... decisions pruned
    uint64_t store_writes [5];      //  pg: decision writes by dtx_pgstore_result_t
    uint64_t epoch;
    uint64_t counter;               //  gids issued this epoch
    uint32_t seq;                   //  requests to participants
    zhashx_t *participants;         //  name -> participant_t
    zhashx_t *txns;                 //  gid -> txn_t, live transactions
    zhashx_t *begun;                //  client routing id (hex) -> gid it began last
    zhashx_t *owners;               //  owner -> its live transactions (count)
    dtx_outcomes_t *outcomes;       //  what is known of finished gids
    coord_timers_t *timers;         //  deadlines, earliest first (coord_timers.c)
    zhashx_t *probes;               //  gid -> probe_t (coord_probe.c)
    zlistx_t *logging;              //  txns whose COMMIT awaits the next sync
    int64_t end_pending_since;      //  END records buffered since (0 = none)
    uint64_t compacted_size;        //  log size after the last compaction
    int64_t next_tick;
    bool terminated;
    bool draining;                  //  SIGTERM: no new transactions
    int64_t drain_deadline;
    //  Replay state
    zhashx_t *replay_commits;       //  gid -> zlistx of participant names
    zhashx_t *replay_owners;        //  gid -> client key of its COMMIT record
    uint64_t replay_epoch;
    //  Counters
    uint64_t committed;
    uint64_t aborted;
    size_t recovering;              //  replayed commits not yet finished
    uint64_t phase2_retries;
    uint64_t refused [COORD_REFUSED_COUNT];     //  requests refused by a limit, by kind
    uint64_t dropped_frames;        //  malformed frames dropped
    uint64_t loop_turns;            //  zmq_poll calls of the event loop
    int64_t dropped_logged;         //  ... when one was last logged
    uint64_t dropped_unlogged;      //  ... dropped since without a log line
    bool admin_recheck;             //  test fault coord-hold-logging: look at the
                                    //  admin socket again in this turn
    int64_t aborts_second;          //  aborts logged: the second (ms / 1000) ...
    int aborts_logged;              //  ... how many in it ...
    uint64_t aborts_unlogged;       //  ... and since then without a line
    dtx_metrics_t *metrics;         //  NULL unless serving metrics
    int64_t next_metrics;
};

//  coord_txn.c: the transaction state machine
const char *coord_txn_state_name (txn_state_t state);
const char *coord_branch_state_name (branch_state_t state);
void coord_txn_destroy (txn_t **txn_p);
void coord_txn_destructor (void **item_p);
void coord_txn_set_error (txn_t *txn, int code, const char *database, const char *sqlstate,
                          const char *text);
uint32_t coord_branch_await (dtx_coordinator_t *self, branch_t *branch, int id, uint8_t flags);
void coord_branch_send (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, int id, uint8_t flags);
int coord_branch_flush (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, uint8_t end, int request);
branch_t *coord_txn_branch (txn_t *txn, participant_t *participant);
branch_t *coord_txn_add_branch (txn_t *txn, participant_t *participant);
bool coord_txn_all_done (txn_t *txn);
bool coord_txn_in_doubt (txn_t *txn);
dtx_live_t coord_txn_live (txn_t *txn);
void coord_txn_reply_outcome (dtx_coordinator_t *self, txn_t *txn);
void coord_txn_finish (dtx_coordinator_t *self, txn_t *txn);
void coord_txn_abort (dtx_coordinator_t *self, txn_t *txn, int code, const char *database,
                      const char *sqlstate, const char *text);
void coord_txn_commit (dtx_coordinator_t *self, txn_t *txn);
void coord_txn_commit_phase2 (dtx_coordinator_t *self, txn_t *txn);
void coord_txn_one_phase_lost (dtx_coordinator_t *self, txn_t *txn, const char *why);
void coord_txn_maybe_answer_abort (dtx_coordinator_t *self, txn_t *txn);
void coord_txn_settle (dtx_coordinator_t *self, txn_t *txn);
//  A client request is now outstanding: WORKING reports every interval
//  its flags ask for (DTX_PROGRESS_MASK; none with 0), first after one
//  interval.  The caller arms the timer (coord_timer_working).
void coord_txn_working_arm (txn_t *txn, uint8_t request_flags);
//  The client's request is still outstanding at now: tell it what it
//  waits for (WORKING), at most once per interval, and only while
//  something is being waited for
void coord_txn_working (dtx_coordinator_t *self, txn_t *txn, int64_t now);
void coord_handle_statement_reply (dtx_coordinator_t *self, txn_t *txn, branch_t *branch,
                                   dtx_proto_t *msg);
void coord_handle_vote (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, dtx_proto_t *msg);
void coord_handle_done (dtx_coordinator_t *self, txn_t *txn, branch_t *branch, dtx_proto_t *msg);
void coord_handle_branch_outcome (dtx_coordinator_t *self, txn_t *txn, branch_t *branch,
                                  dtx_proto_t *msg);

//  coord_client.c: client requests
void coord_owner_set (dtx_coordinator_t *self, txn_t *txn, char *owner);
void coord_owner_release (dtx_coordinator_t *self, txn_t *txn);
//  The client key that began txn (NULL: no CurveZMQ, or not known)
const char *coord_owner_key (txn_t *txn);
void coord_client_error (dtx_coordinator_t *self, zsock_t *sock, zframe_t *client, uint32_t seq,
                         const char *gid, int code, const char *database, const char *sqlstate,
                         const char *text);
void coord_client_outcome (dtx_coordinator_t *self, zsock_t *sock, zframe_t *client, uint32_t seq,
                           const char *gid, int outcome, int code, const char *database,
                           const char *sqlstate, const char *text);
void coord_forget_begun (dtx_coordinator_t *self, txn_t *txn);
bool coord_handle_client (dtx_coordinator_t *self);
//  Answer an OUTCOME_QUERY (from a client or a participant) on sock
void coord_answer_outcome (dtx_coordinator_t *self, zsock_t *sock, zframe_t *to, uint32_t seq,
                           const char *gid, dtx_asker_t asker);

//  coord_registry.c: participants
participant_t *coord_participant_require (dtx_coordinator_t *self, const char *name);
void coord_participant_destroy (void **item_p);
void coord_participant_lost (dtx_coordinator_t *self, participant_t *participant, const char *why);
bool coord_handle_participant (dtx_coordinator_t *self);

//  coord_probe.c: one-phase gids of earlier epochs
typedef enum {
    PROBE_WAITER_CLIENT,            //  answer with OUTCOME / ERROR
    PROBE_WAITER_ADMIN,             //  answer with ADMIN_REPLY text
    PROBE_WAITER_ADMIN_JSON         //  ... JSON
} probe_waiter_kind_t;
void coord_probe_start (dtx_coordinator_t *self, const dtx_answer_t *answer, const char *gid,
                        zsock_t *sock, zframe_t *to, uint32_t seq, probe_waiter_kind_t kind);
bool coord_probe_answer (dtx_coordinator_t *self, participant_t *participant, dtx_proto_t *msg);
void coord_probe_tick (dtx_coordinator_t *self, int64_t now);
void coord_probe_destroy (void **item_p);
//  Send a probe (OUTCOME_QUERY) for gid to a participant; 0 or -1
int coord_probe_send (dtx_coordinator_t *self, participant_t *participant, const char *gid,
                      uint32_t seq, uint64_t epoch_began);

//  coord_timers.c
coord_timers_t *coord_timers_new (void);
void coord_timers_destroy (coord_timers_t **self_p);
//  (Re)schedule a transaction after its deadlines changed; cheap, call it
//  after any change (a missed call costs at most a second: the backstop)
void coord_timer_schedule (dtx_coordinator_t *self, txn_t *txn);
//  Arm txn's next WORKING report (txn->working_at; none if 0): an entry
//  of its own, so that the deadline's stays as it is; none while an
//  earlier one is pending (it re-arms for the later time)
void coord_timer_working (dtx_coordinator_t *self, txn_t *txn);
//  When the loop must wake next
int64_t coord_timers_next (dtx_coordinator_t *self);
void coord_tick (dtx_coordinator_t *self, int64_t now);

//  coord_recovery.c: the log at start, compaction
void coord_replay (void *arg, const dtx_log_record_t *record);
void coord_names_destroy (void **item_p);
void coord_recover_commits (dtx_coordinator_t *self);
void coord_compact_maybe (dtx_coordinator_t *self);

//  coord_admin.c
void coord_handle_admin (dtx_coordinator_t *self);
//  The text (or JSON) `show GID` gives for an answer
void coord_admin_show_answer (char **out_p, const char *gid, const dtx_answer_t *answer, bool json);

//  coord_metrics.c
//  The coordinator's histograms (ids of dtx_metrics_observe)
typedef enum {
    DTX_METRIC_PREPARE,         //  PREPARE sent -> last vote (seconds)
    DTX_METRIC_COMMIT,          //  decision durable -> last phase-2 ack (seconds)
    DTX_METRIC_TOTAL,           //  BEGIN -> end (seconds)
    DTX_METRIC_FSYNC,           //  decision-log write + fdatasync (seconds)
    DTX_METRIC_BATCH,           //  records per decision-log fsync
    DTX_METRIC_HISTOGRAMS
} dtx_metric_t;
//  Serve metrics on listen (HOST:PORT), its histograms registered: NULL
//  with errbuf set if it cannot.  Caller owns return value.
dtx_metrics_t *coord_metrics_new (const char *listen, char *errbuf, size_t errlen);
void coord_metrics_publish (dtx_coordinator_t *self);

//  dtx_coordinator.c: the engine
int coord_recv (dtx_coordinator_t *self, zsock_t *sock, const char *from, dtx_proto_t **msg_p);
//  Write and fdatasync what the log buffers, then run phase 2 of every
//  transaction whose COMMIT that made durable.  Exits the process on
//  failure (never acknowledge an undurable decision).
int coord_decisions_flush (dtx_coordinator_t *self);

//  coord_store.c: where decisions go, the local log or PostgreSQL
//  store-timeout in effect (its default: half the lease, at most 5 s)
int coord_store_timeout (const dtx_coordinator_config_t *config);
int coord_store_open (dtx_coordinator_t *self, const dtx_coordinator_config_t *config,
                      char *errbuf, size_t errlen);
void coord_store_close (dtx_coordinator_t *self);
int coord_store_commit (dtx_coordinator_t *self, txn_t *txn, size_t count, const char **names);
void coord_store_end (dtx_coordinator_t *self, const char *gid);
int coord_store_participant (dtx_coordinator_t *self, const char *name, const char *identity);
bool coord_store_pending (dtx_coordinator_t *self);
int coord_store_sync (dtx_coordinator_t *self);
void coord_store_tick (dtx_coordinator_t *self, int64_t now);
int64_t coord_store_next (dtx_coordinator_t *self);
int coord_store_recall (dtx_coordinator_t *self, const char *gid, char *errbuf, size_t errlen);

#endif
