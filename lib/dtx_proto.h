/*  =========================================================================
    dtx_proto - the dtx wire protocol codec

    One codec for every message between client, coordinator and
    participant.  A message is one ZeroMQ frame (preceded by a routing-id
    frame on ROUTER sockets):

        signature (2 bytes, 0xAA 0xD7), version (1 byte, 3), id (1 byte),
        then the message's fields in the order docs/protocol.md gives.

    Decoding checks every read against the end of the frame and rejects
    the frame as malformed (-2) instead of reading past it.  Field sizes
    are bounded (see DTX_PROTO_*_MAX) so that a hostile length cannot make
    the receiver allocate without limit.
    =========================================================================
*/
#ifndef DTX_PROTO_H_INCLUDED
#define DTX_PROTO_H_INCLUDED

#include <czmq.h>

#define DTX_PROTO_SIGNATURE0 0xAA
#define DTX_PROTO_SIGNATURE1 0xD7
#define DTX_PROTO_VERSION    3

//  Bounds enforced by the decoder
#define DTX_PROTO_STRING_MAX   255          //  short strings (1-byte length)
#define DTX_PROTO_LONGSTR_MAX  (64 << 20)   //  SQL text, one value
#define DTX_PROTO_LIST_MAX     (16 << 20)   //  entries in a list field (values)
#define DTX_PROTO_PARAMS_MAX   65535        //  a statement's parameters (PostgreSQL's limit)
#define DTX_PROTO_COLUMNS_MAX  1664         //  a result's columns (PostgreSQL's limit)

//  Message ids.  Client <-> coordinator:
#define DTX_PROTO_BEGIN            1    //  client: start a transaction
#define DTX_PROTO_BEGIN_OK         2    //  coordinator: here is its gid
#define DTX_PROTO_EXECUTE          3    //  run a statement (also coord -> participant)
#define DTX_PROTO_RESULT           4    //  a statement's rows (also participant -> coord)
#define DTX_PROTO_COMMIT           5    //  client: commit; coord -> participant: one-phase commit
#define DTX_PROTO_ROLLBACK         6    //  client: roll back; coord -> participant: roll back
#define DTX_PROTO_OUTCOME_QUERY    7    //  what became of this gid? (also coord -> participant:
                                        //  one-phase probe, affected = epoch start)
#define DTX_PROTO_OUTCOME          8    //  the outcome of a transaction
#define DTX_PROTO_ERROR            9    //  a request failed
//  Coordinator <-> participant:
#define DTX_PROTO_REGISTER        10    //  participant: I front database `name` (also heartbeat);
                                        //  text: the database identity
#define DTX_PROTO_REGISTER_OK     11    //  coordinator: registered
#define DTX_PROTO_PREPARE         12    //  coordinator: phase 1
#define DTX_PROTO_VOTE            13    //  participant: YES / NO / READONLY
#define DTX_PROTO_COMMIT_PREPARED 14    //  coordinator: phase 2 commit
#define DTX_PROTO_DONE            15    //  participant: commit/rollback finished
//  Operator (dtxctl) <-> coordinator, on the admin endpoint only:
#define DTX_PROTO_ADMIN           16    //  a command line; flags bit 0: JSON
#define DTX_PROTO_ADMIN_REPLY     17    //  status 0 ok, 1 refused/failed; text
//  Coordinator -> client, while a request is outstanding (only to a
//  client that asked for it: the progress bits below):
#define DTX_PROTO_WORKING         18    //  still working on request `seq`: what
                                        //  it waits for (text), how long (affected)
#define DTX_PROTO_COUNT           19

//  Values of `status` in WORKING
#define DTX_WORKING_RUNNING  1          //  the participant(s) it waits for were heard
                                        //  from within DTX_WORKING_QUIET_MS
#define DTX_WORKING_SILENT   2          //  one of them has been silent longer: it is
                                        //  declared lost by `timeout` at the latest
#define DTX_WORKING_QUIET_MS 2500       //  (participants send a heartbeat every second)

//  Bits 4-7 of `flags` in EXECUTE, COMMIT and ROLLBACK from a client: the
//  interval of WORKING reports it wants while the request is outstanding,
//  in units of DTX_PROGRESS_UNIT_MS (1-15: 0.1 s to 1.5 s); 0: none (what
//  older clients send).  Never forwarded to a participant.
#define DTX_PROGRESS_SHIFT   4
#define DTX_PROGRESS_MASK    0xF0
#define DTX_PROGRESS_UNIT_MS 100

//  Values of `status` in VOTE
#define DTX_VOTE_YES       1            //  prepared; will commit if told
#define DTX_VOTE_NO        2            //  could not prepare; rolled back
#define DTX_VOTE_READONLY  3            //  wrote nothing; released, no phase 2

//  Values of `status` in DONE
#define DTX_DONE_OK        0            //  the command succeeded
#define DTX_DONE_NOT_FOUND 1            //  42704: no such prepared transaction
#define DTX_DONE_FAILED    2            //  failed (sqlstate/text say why); retry

//  Bits of `flags` in EXECUTE
#define DTX_EXEC_FIRST    1             //  coord -> participant: the branch's first
                                        //  statement (BEGIN it)
#define DTX_EXEC_DEFER    2             //  no RESULT wanted: it runs at the latest
                                        //  with the commit; a failure dooms the txn
#define DTX_EXEC_PREPARE  4             //  coord -> participant: the branch's last
                                        //  statement; PREPARE in the same round
                                        //  trip, answer with VOTE
#define DTX_EXEC_COMMIT   8             //  coord -> participant: ... one-phase
                                        //  COMMIT in the same round trip, answer DONE

//  Bits of `flags` in ROLLBACK to a participant
#define DTX_ROLLBACK_PREPARED 1         //  it may be prepared: use ROLLBACK PREPARED

//  Bits of `flags` in BEGIN
#define DTX_BEGIN_QUIET 1               //  no BEGIN_OK: the gid comes with the answer
                                        //  to the request sent behind it; only a
                                        //  refusal is answered

//  Bits of `flags` in COMMIT from a client
#define DTX_COMMIT_ACK_DECIDED 1        //  answer once the decision is durable,
                                        //  before phase 2 has finished

typedef struct _dtx_proto_t dtx_proto_t;

//  Create a new empty message.  Caller owns return value.
dtx_proto_t *
    dtx_proto_new (int id);

void
    dtx_proto_destroy (dtx_proto_t **self_p);

//  Decode a message from a frame.  Returns 0 and the message in *msg_p on
//  success, -2 if the frame is malformed (reason in errbuf).  Does not take
//  the frame.  Caller owns the message.
int
    dtx_proto_decode (zframe_t *frame, dtx_proto_t **msg_p, char *errbuf, size_t errlen);

//  Encode to a new frame.  Caller owns return value.
zframe_t *
    dtx_proto_encode (dtx_proto_t *self);

//  Receive one message from a socket: routing id first on ROUTER sockets.
//  Returns 0, -1 on interrupt/no message, -2 on malformed (logged by caller,
//  the frames are consumed).  Caller owns *msg_p.
int
    dtx_proto_recv (dtx_proto_t **msg_p, zsock_t *sock, char *errbuf, size_t errlen);

//  The part of dtx_proto_recv after zmsg_recv: decode the frames of one
//  received message (the routing id first when from_router).  Takes
//  ownership of *zmsg_p (NULLed).  Same returns as dtx_proto_recv.  For
//  the fuzz target (fuzz/fuzz_proto.c), which has no socket.
int
    dtx_proto_decode_zmsg (zmsg_t **zmsg_p, bool from_router, dtx_proto_t **msg_p,
                           char *errbuf, size_t errlen);

//  Send on a socket; on ROUTER sockets prefix the routing id.  Does not
//  destroy the message.  Returns 0 or -1.
int
    dtx_proto_send (dtx_proto_t *self, zsock_t *sock);

//  This process's messages so far: received by dtx_proto_recv or
//  dtx_proto_decode_zmsg (decoded or not) and sent by dtx_proto_send (for the metrics: messages per
//  transaction show the protocol's cost in production too)
void
    dtx_proto_counts (uint64_t *received, uint64_t *sent);

//  Deep copy.  Caller owns return value.
dtx_proto_t *
    dtx_proto_dup (dtx_proto_t *self);

//  Field access.  Strings returned are owned by the message; setters copy.
int         dtx_proto_id (dtx_proto_t *self);
void        dtx_proto_set_id (dtx_proto_t *self, int id);
const char *dtx_proto_command (dtx_proto_t *self);    //  id as a name
const char *dtx_proto_command_name (int id);
zframe_t   *dtx_proto_routing_id (dtx_proto_t *self);
void        dtx_proto_set_routing_id (dtx_proto_t *self, zframe_t *routing_id);
//  Who sent it, as CurveZMQ and the ZAP handler said (dtx_zap.h), kept by
//  dtx_proto_recv on a ROUTER: the sender's public key (Z85), and the
//  "databases" metadata of its certificate, and the role of the allow-list
//  its key is on ("operator": --operator-keys).  NULL without CurveZMQ,
//  or when there is no such metadata.
const char *dtx_proto_user_id (dtx_proto_t *self);
const char *dtx_proto_peer_databases (dtx_proto_t *self);
const char *dtx_proto_peer_role (dtx_proto_t *self);
uint32_t    dtx_proto_seq (dtx_proto_t *self);
void        dtx_proto_set_seq (dtx_proto_t *self, uint32_t seq);
const char *dtx_proto_gid (dtx_proto_t *self);
void        dtx_proto_set_gid (dtx_proto_t *self, const char *gid);
const char *dtx_proto_name (dtx_proto_t *self);
void        dtx_proto_set_name (dtx_proto_t *self, const char *name);
uint32_t    dtx_proto_timeout (dtx_proto_t *self);
void        dtx_proto_set_timeout (dtx_proto_t *self, uint32_t timeout);
uint8_t     dtx_proto_status (dtx_proto_t *self);
void        dtx_proto_set_status (dtx_proto_t *self, uint8_t status);
uint8_t     dtx_proto_flags (dtx_proto_t *self);
void        dtx_proto_set_flags (dtx_proto_t *self, uint8_t flags);
const char *dtx_proto_sqlstate (dtx_proto_t *self);
void        dtx_proto_set_sqlstate (dtx_proto_t *self, const char *sqlstate);
const char *dtx_proto_text (dtx_proto_t *self);
void        dtx_proto_set_text (dtx_proto_t *self, const char *text);
void        dtx_proto_set_textf (dtx_proto_t *self, const char *format, ...)
                __attribute__ ((format (printf, 2, 3)));
uint32_t    dtx_proto_ntuples (dtx_proto_t *self);
void        dtx_proto_set_ntuples (dtx_proto_t *self, uint32_t ntuples);
uint64_t    dtx_proto_affected (dtx_proto_t *self);
void        dtx_proto_set_affected (dtx_proto_t *self, uint64_t affected);

//  List fields: params (statement parameters), columns (names), values
//  (row-major cells).  Entries may be NULL (SQL NULL) in params and values.
//  Getters return the count and the array, owned by the message.
size_t      dtx_proto_params (dtx_proto_t *self, char ***array_p);
size_t      dtx_proto_columns (dtx_proto_t *self, char ***array_p);
size_t      dtx_proto_values (dtx_proto_t *self, char ***array_p);
//  Setters copy count entries.
void        dtx_proto_set_params (dtx_proto_t *self, size_t count, const char *const *array);
void        dtx_proto_set_columns (dtx_proto_t *self, size_t count, const char *const *array);
void        dtx_proto_set_values (dtx_proto_t *self, size_t count, const char *const *array);
//  Take ownership of an array of malloc'd strings (array itself malloc'd).
void        dtx_proto_take_values (dtx_proto_t *self, size_t count, char **array);

#endif
