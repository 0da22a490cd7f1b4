/*  =========================================================================
    dtx_participant_classes - what the participant's files share

    Private to participant/ (Malamute's mlm_classes.h): the engine's
    types, and the functions each file offers the others, under the name
    of the file they live in.  Nothing here is API: dtx_participant.h is.
    =========================================================================
*/
#ifndef DTX_PARTICIPANT_CLASSES_H_INCLUDED
#define DTX_PARTICIPANT_CLASSES_H_INCLUDED

#include "dtx_participant.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include "dtx_fault.h"
#include "dtx_metrics.h"
#include <libpq-fe.h>
#include <inttypes.h>
#include <ctype.h>
#include <sys/socket.h>

//  What a queued operation does
typedef enum {
    OP_EXECUTE,             //  a client statement (BEGIN first, for the first)
    OP_PREPARE,             //  PREPARE TRANSACTION, or COMMIT if it wrote nothing
    OP_COMMIT,              //  one-phase commit
    OP_ROLLBACK,            //  roll back, live or prepared
    OP_COMMIT_PREPARED,     //  phase 2 commit
    OP_RECOVER_SCAN,        //  list this database's dtx prepared transactions
    OP_XACT_STATUS,         //  did a one-phase COMMIT whose answer was lost commit?
    OP_PROBE,               //  coordinator's OUTCOME_QUERY: fence the gid's
                            //  one-phase marker, read it
    OP_MARKER_GC            //  delete markers older than the retention
} op_kind_t;

//  Most queries one op sends in its pipeline: BEGIN, statement, marker,
//  COMMIT (or BEGIN, statement, check)
#define SESSION_QUERIES_MAX 6

typedef struct {
    op_kind_t kind;
    bool begin;             //  OP_EXECUTE: the transaction's first statement
    bool defer;             //  OP_EXECUTE: no RESULT wanted; a failure is kept
                            //  for the op that ends the branch
    op_kind_t then;         //  OP_EXECUTE: OP_PREPARE or OP_COMMIT to send in
                            //  the same round trip (OP_EXECUTE: nothing)
    bool readonly;          //  OP_PREPARE found no xid: commit, vote READONLY
    bool resolving;         //  internal phase 2 of an in-doubt transaction
    bool fenced;            //  one-phase: the marker insert failed with 23505
    char xid [24];          //  OP_XACT_STATUS: the transaction's xid
    dtx_proto_t *request;   //  what asked for it; NULL for internal ops
    int link;               //  the coordinator link the request came on: its
                            //  answer goes back there (-1 for internal ops)
    bool ran;               //  OP_EXECUTE: counted as run (the metrics)
} op_t;

//  A prepared transaction found in the database and not being handled
//  by a live session: its fate is asked of the coordinator, never guessed
typedef struct {
    char gid [DTX_GID_MAX + 1];
    int64_t found;          //  when first seen
    int64_t asked;          //  when last asked
    int queries;            //  how often asked (every link each time)
    int attempts;           //  resolution attempts that failed
    char last_answer [256];
    int acted;              //  the exact answer acted on (DTX_COMMITTED or
                            //  DTX_ABORTED), 0 before any
    bool contradicted;      //  two exact answers disagreed: never acted on again
    unsigned warned;        //  links whose ERROR answer was logged (a bit each)
} in_doubt_t;

typedef struct {
    char gid [DTX_GID_MAX + 2];     //  or a key: "" scan, "?gid" status lookup,
                                    //  "#gid" outcome probe, "%gc" marker GC
    PGconn *conn;           //  NULL until a pool connection is free
    zlistx_t *ops;          //  queue; the head runs when `running`
    bool running;
    bool want_write;        //  PQflush has more to send
    bool in_txn;            //  BEGIN sent and not yet ended
    bool prepared;          //  PREPARE TRANSACTION succeeded
    bool lost;              //  its connection died: the live txn is gone
    bool waiting;           //  queued for a pool connection
    char *begin_error;      //  BEGIN failed: why
    PGresult *results [SESSION_QUERIES_MAX];  //  of the running op's queries, in order
    int nqueries;           //  queries the running op sent
    int query;              //  the one whose results come now
    char *failure;          //  first failure that dooms the branch (a deferred
                            //  statement's, a refused statement's): later ops
                            //  of the transaction fail with it, unrun ...
    char failure_sqlstate [6];  //  ... and its SQLSTATE
    bool begun;             //  BEGIN went out on the current connection
    bool dirty;             //  client SQL ran on the current connection since
                            //  it came from the pool: it may carry session
                            //  state (SET, temp tables, prepared statements,
                            //  LISTEN, advisory locks, ...) until DISCARD ALL
    bool reset_sent;        //  the running op's pipeline has a second segment,
                            //  DISCARD ALL, after its sync ...
    bool resetting;         //  ... whose results come now
    PGresult *reset_result; //  ... DISCARD ALL's
    bool wrote;             //  PostgreSQL gave the transaction an xid
    char xid [24];          //  ... this one
    int64_t last_active;
    int64_t sent_at;        //  the running op went out (usecs, the metrics)
} session_t;

//  Most coordinators a participant knows (config `coordinator`, a list)
#define PART_LINKS_MAX 8
//  Most shards whose epoch a participant keeps (docs/ha.md)
#define PART_SHARDS_MAX 1024
//  Longest coordinator endpoint, and certificate path, in the lists
#define PART_ENDPOINT_MAX 256

//  One coordinator: a DEALER of its own.  Requests from it are answered on
//  it; REGISTER goes to every link
typedef struct {
    char endpoint [PART_ENDPOINT_MAX];
    char key_file [PART_ENDPOINT_MAX];  //  its public certificate ("" insecure)
    zsock_t *sock;
    char instance [DTX_NAME_MAX + 32];  //  its last REGISTER_OK text ("" before)
    int64_t last_register_ok;
    bool lost_logged;                   //  "no answer from coordinator" said
    int64_t register_refused_logged;    //  when a refused REGISTER was last logged
    uint64_t send_failed;               //  messages it could not be sent (queue full)
    int64_t send_failed_logged;         //  ... last said when
    int64_t register_sent;              //  the last REGISTER went out
    uint64_t heartbeats_missed;         //  REGISTERs not answered before the next
} part_link_t;

//  What the metrics count (dtx_participant_metrics.c); kept whether or
//  not they are served
typedef enum { PART_STATEMENT_OK, PART_STATEMENT_ERROR, PART_STATEMENT_REFUSED,
               PART_STATEMENTS } part_statement_t;
typedef enum { PART_PREPARE_PREPARED, PART_PREPARE_READONLY, PART_PREPARE_FAILED,
               PART_PREPARES } part_prepare_t;
typedef enum { PART_RESOLVED_COMMITTED, PART_RESOLVED_ROLLED_BACK, PART_RESOLVED_UNKNOWN,
               PART_RESOLUTIONS } part_resolution_t;
typedef struct {
    dtx_metrics_t *server;          //  NULL unless serving (--metrics)
    int round_trip;                 //  id of the first round-trip histogram
    int64_t next_publish;
    uint64_t statements [PART_STATEMENTS];
    uint64_t prepares [PART_PREPARES];      //  votes: YES, READONLY, NO
    uint64_t resolutions [PART_RESOLUTIONS];
    uint64_t pool_waits;            //  sessions queued for a connection (pool full)
    uint64_t pool_refused;          //  ops failed: no connection could be had
    uint64_t loop_turns;            //  zmq_poll calls of the event loop
    zhashx_t *prepared;             //  gid -> when prepared or found (ms): prepared
                                    //  transactions of this database not yet ended
    int64_t scan_at;                //  the last prepared-transactions scan was queued
} part_metrics_t;

struct _dtx_participant_t {
    dtx_participant_config_t config;
    char name [DTX_NAME_MAX + 1];
    char *conninfo;
    part_link_t links [PART_LINKS_MAX];     //  one per coordinator endpoint
    int nlinks;
    zhashx_t *sessions;             //  gid -> session_t
    zlistx_t *idle;                 //  PGconn * ready for use
    zlistx_t *waiting;              //  sessions waiting for a connection
    int connections;                //  open, idle or busy
    zhashx_t *epochs;               //  shard -> uint64_t *, the highest epoch seen
    int64_t shards_full_logged;     //  when "too many shards" was last logged
    int64_t closed_logged;          //  when a refusal for a closed epoch was last logged
    uint64_t closed_refused;        //  ... and how many since
    int64_t next_heartbeat;
    bool terminated;
    uint32_t seq;
    zhashx_t *in_doubt;             //  gid -> in_doubt_t
    zhashx_t *settled;              //  gid -> its outcome, of the last resolved ...
    zlistx_t *settled_order;        //  ... in the order resolved (oldest first)
    bool scan_wanted;               //  list prepared transactions soon
    uint32_t prepared;              //  dtx prepared transactions at the last scan
    bool db_down;                   //  a connection failed since the last success
    int64_t next_scan;
    zlistx_t *status_pending;       //  lost one-phase COMMITs to look up (op_t)
    char identity [DTX_NAME_MAX + 256];  //  "<system identifier>/<database name>"
    int64_t next_marker_gc;
    char connect_error [512];       //  why the last new connection failed
    int max_prepared;               //  the database's max_prepared_transactions
    part_metrics_t metrics;
};

//  --------------------------------------------------------------------------
//  dtx_participant.c: messages to the coordinator

//  Send to the coordinator of link (an index into links).  Takes
//  ownership of the message.
void
    part_send (dtx_participant_t *self, int link, dtx_proto_t **reply_p);
//  A reply to op's request (seq echoed; 0 for an internal op).  Caller
//  owns return value.
dtx_proto_t *
    part_reply_new (int id, op_t *op, const char *gid);
//  A reply with status, sqlstate and text (ERROR, VOTE, DONE), on the
//  op's link; nothing for an internal op
void
    part_reply_error (dtx_participant_t *self, op_t *op, const char *gid, int id, int status,
                      const char *sqlstate, const char *text);
//  Is gid of an epoch below the highest known for its shard (docs/ha.md)?
//  If so, true with "epoch E of shard S is closed (now E')" in text
bool
    part_epoch_closed (dtx_participant_t *self, const char *gid, char *text, size_t size);
//  A coordinator's name for logs: its endpoint, or "" when there is one
const char *
    part_link_name (dtx_participant_t *self, int link);

//  --------------------------------------------------------------------------
//  dtx_participant_pool.c: connections

//  A new connection in pipeline mode, or NULL with the reason in errbuf
PGconn *
    part_pool_connect (dtx_participant_t *self, char *errbuf, size_t errlen);
//  Back to the pool if idle and carrying no session state (dirty: client
//  SQL ran on it and no DISCARD ALL since), else closed.  Takes ownership
//  of conn.
void
    part_pool_release (dtx_participant_t *self, PGconn *conn, bool dirty);
//  Give the session a connection if one can be had now; else queue it
bool
    part_pool_acquire (dtx_participant_t *self, session_t *session);
//  The start-up checks on the first connection: 0, or -1 with the reason
int
    part_pool_setup (dtx_participant_t *self, PGconn *conn, char *errbuf, size_t errlen);
//  A blocking one-row query at start: its first nvalues values, or -1
//  with PostgreSQL's message in errbuf
int
    part_setup_query (PGconn *conn, const char *sql, int nvalues, char values [][128],
                      char *errbuf, size_t errlen);

//  --------------------------------------------------------------------------
//  dtx_participant_session.c: sessions, ops, pipelines, results

void
    part_op_destroy (void **item_p);
//  A session under key gid (a gid, or a resolution key).  The participant
//  owns it; part_session_end frees it.
session_t *
    part_session_new (dtx_participant_t *self, const char *gid);
void
    part_session_end (dtx_participant_t *self, session_t *session);
//  Queue an op; takes ownership of the request, if any (answered on link;
//  -1 for an internal op).  Returns the op (the session owns it).
op_t *
    part_session_enqueue (session_t *session, op_kind_t kind, dtx_proto_t **request_p, int link);
//  Run the session's queue as far as it goes without waiting
void
    part_session_advance (dtx_participant_t *self, session_t *session);
//  The session's connection is readable (or writable)
void
    part_session_io (dtx_participant_t *self, session_t *session, bool writable);
//  Cancel the session's running statement (PQcancel: briefly blocking)
void
    part_session_cancel (dtx_participant_t *self, session_t *session);
//  One more query into the running op's pipeline: 0 or -1
int
    part_session_send (session_t *session, const char *sql, int nparams, const char *const *params);
//  Answer an op that cannot run as it would have failed
void
    part_op_fail (dtx_participant_t *self, session_t *session, op_t *op,
                  const char *sqlstate, const char *text);
//  Error text and SQLSTATE from a result or connection (08006 if none)
void
    part_describe (PGresult *result, PGconn *conn, const char **sqlstate, char *text, size_t size);

//  --------------------------------------------------------------------------
//  dtx_participant_resolve.c: in-doubt resolution, one-phase outcomes

void
    part_in_doubt_found (dtx_participant_t *self, PGresult *result);
void
    part_in_doubt_settle (dtx_participant_t *self, const char *gid, op_t *op, bool done,
                          const char *text);
//  An answer (OUTCOME or ERROR) about an in-doubt gid, from link
void
    part_in_doubt_answer (dtx_participant_t *self, int link, dtx_proto_t *msg);
void
    part_in_doubt_tick (dtx_participant_t *self, int64_t now);
//  Ask about every in-doubt gid now
void
    part_in_doubt_ask_all (dtx_participant_t *self);
//  Free what resolution keeps (at destroy)
void
    part_in_doubt_free (dtx_participant_t *self);
//  Read the gid's marker behind a fence later; takes its request
void
    part_status_later (dtx_participant_t *self, op_t *op);
void
    part_status_tick (dtx_participant_t *self);
void
    part_marker_gc_tick (dtx_participant_t *self, int64_t now);
int
    part_marker_install (dtx_participant_t *self, PGconn *conn, char *errbuf, size_t errlen);
//  The one-phase COMMIT's marker insert, into the running op's pipeline
int
    part_marker_send (session_t *session);
//  The resolution ops (OP_RECOVER_SCAN, OP_XACT_STATUS, OP_PROBE,
//  OP_MARKER_GC) for the session engine: start (0 sent, -1 failed),
//  fail (cannot run), complete (result of the first query, NULL if the
//  connection broke)
int
    part_resolve_start (dtx_participant_t *self, session_t *session, op_t *op);
void
    part_resolve_fail (dtx_participant_t *self, session_t *session, op_t *op,
                       const char *sqlstate, const char *text);
void
    part_resolve_complete (dtx_participant_t *self, session_t *session, op_t *op,
                           PGresult *result, bool ok, const char *sqlstate, const char *text);

//  --------------------------------------------------------------------------
//  dtx_participant_metrics.c: the Prometheus endpoint (docs/operations.md)

//  Serve metrics if the config says where: 0, or -1 with errbuf
int
    part_metrics_start (dtx_participant_t *self, char *errbuf, size_t errlen);
void
    part_metrics_stop (dtx_participant_t *self);
//  Publish the snapshot when due; the time it is due next (ms; INT64_MAX
//  if not serving)
int64_t
    part_metrics_tick (dtx_participant_t *self, int64_t now);
//  The running op's answer came (its round trip ends)
void
    part_metrics_round_trip (dtx_participant_t *self, session_t *session, op_t *op);
//  A statement ran (PostgreSQL answered it, or its connection broke)
void
    part_metrics_statement (dtx_participant_t *self, op_t *op, bool ok);
//  A reply goes to a coordinator (votes are counted)
void
    part_metrics_reply (dtx_participant_t *self, int id, int status);
//  gid is prepared here (true), or ended (false)
void
    part_metrics_prepared (dtx_participant_t *self, const char *gid, bool prepared);
//  The scan's list of prepared gids (queued at scan_at)
void
    part_metrics_scanned (dtx_participant_t *self, PGresult *result);

#endif
