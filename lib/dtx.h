/*  =========================================================================
    dtx.h - libdtx, the transaction API of the dtx two-phase-commit
    coordinator for PostgreSQL.

    An application connects to a dtx-coordinator, begins a global
    transaction, runs SQL on databases named by their participant names,
    and commits or rolls back.  Commit returns a definite outcome:
    committed, aborted (with the database, SQLSTATE and message of the
    cause), or unknown when the coordinator could not be reached during
    commit.  An unknown outcome is never a guess: ask the coordinator
    again later with dtx_client_outcome ().

    THREAD SAFETY
    A dtx_client_t and everything made from it (transactions, results)
    belong to one thread at a time.  Use one client per thread; different
    clients may be used in different threads at once.  A client runs at
    most one transaction at a time.

    OWNERSHIP
    Every function that returns a pointer says who owns it.  Destructors
    take the address of the pointer and set it to NULL.
    =========================================================================
*/
#ifndef DTX_H_INCLUDED
#define DTX_H_INCLUDED

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DTX_VERSION_MAJOR 0
#define DTX_VERSION_MINOR 1
#define DTX_VERSION_PATCH 0

//  The most coordinator endpoints one client may be given (dtx_client_new)
#define DTX_ENDPOINTS_MAX 8

//  The longest global id dtx issues or accepts (PostgreSQL allows 200
//  bytes in PREPARE TRANSACTION, excluding the terminating NUL).
#define DTX_GID_MAX 200

//  Outcome of a global transaction
typedef enum {
    DTX_COMMITTED = 1,      //  committed on every database it wrote to
    DTX_ABORTED = 2,        //  rolled back on every database
    DTX_UNKNOWN = 3,        //  the coordinator could not be asked; ask again
    DTX_IN_PROGRESS = 4     //  still running (only from dtx_client_outcome)
} dtx_outcome_t;

//  Error codes, as returned by dtx_txn_errcode () and dtx_result_errcode ()
typedef enum {
    DTX_OK = 0,
    DTX_ERR_SQL = 1,            //  PostgreSQL reported an error (see SQLSTATE)
    DTX_ERR_UNKNOWN_DB = 2,     //  no participant of that name is registered
    DTX_ERR_NO_TXN = 3,         //  the coordinator has no such transaction
    DTX_ERR_ABORT_ONLY = 4,     //  an earlier error doomed the transaction
    DTX_ERR_BAD_REQUEST = 5,    //  malformed request, gid too long, ...
    DTX_ERR_TIMEOUT = 6,        //  transaction or request timeout; also a statement
                                //  still running when its transaction's deadline
                                //  passed (the message names it and its database:
                                //  "statement still running on db1 after 2.5 s");
                                //  the transaction is aborted
    DTX_ERR_BUSY = 7,           //  a statement is already running
    DTX_ERR_PARTICIPANT = 8,    //  participant unreachable or failed
    DTX_ERR_COORDINATOR = 9,    //  coordinator unreachable / no reply within the
                                //  request timeout (nor within it of the
                                //  coordinator's last progress report): never
                                //  for a statement that is merely slow
    DTX_ERR_STATE = 10,         //  e.g. commit after commit
    DTX_ERR_UNAVAILABLE = 11,   //  coordinator shutting down: nothing was done, retry
    DTX_ERR_FORBIDDEN = 12,     //  not a transaction of this client (its key, or its
                                //  connection without CurveZMQ): nothing was done
    DTX_ERR_NOT_OWNER = 13      //  the gid's shard is not this coordinator's: nothing
                                //  was done; the text names the shard and its owner
                                //  as far as known ("not mine, ask X"), never "aborted"
} dtx_errcode_t;

typedef struct _dtx_client_t dtx_client_t;
typedef struct _dtx_txn_t dtx_txn_t;
typedef struct _dtx_result_t dtx_result_t;

//  ---------------------------------------------------------------------
//  Client: connections to one coordinator or to several (docs/ha.md)

//  Connect to a coordinator's client endpoint, e.g. "tcp://127.0.0.1:7100",
//  or to several: a comma-separated list of at most DTX_ENDPOINTS_MAX
//  different endpoints ("tcp://10.0.0.1:7100,tcp://10.0.0.2:7100"; blanks
//  around an item are ignored).  request_timeout_ms bounds every wait for
//  a reply (0 = 30000): a coordinator silent that long is unreachable
//  (DTX_ERR_COORDINATOR).  A statement, commit or rollback may take
//  longer: while it runs the coordinator reports progress, and each
//  report extends the wait by request_timeout_ms (docs/protocol.md,
//  WORKING); a statement's wait ends at its transaction's deadline
//  (DTX_ERR_TIMEOUT, naming the statement's database) at the latest.
//  With several endpoints:
//  * A transaction begins on the client's current endpoint (the first at
//    the start), and all its requests (statements, commit, rollback) go to
//    that coordinator: a request whose answer was lost is never repeated
//    on another, so a transaction whose coordinator stops answering fails
//    as with one endpoint (DTX_ERR_COORDINATOR; dtx_commit's rules hold).
//  * When the current endpoint gives no answer within the request timeout,
//    or refuses a BEGIN because it is shutting down (DTX_ERR_UNAVAILABLE),
//    the next transaction begins on the next endpoint of the list, round
//    robin.  A dead coordinator costs the transactions that were live on
//    it and one timeout; the transactions after that go to the next.  An
//    endpoint that is silent for a while (a standby that binds only when
//    it takes a shard over) is tried again when its turn comes.
//  * dtx_client_outcome asks the gid's coordinator first, then the others
//    (see there).
//  A socket to an endpoint is made when first needed; the first at once.
//  With DTX_CLIENT_CERT and DTX_COORDINATOR_CERT set in the environment,
//  this is dtx_client_new_secure with those two files; with neither, the
//  link has no CurveZMQ (a secured coordinator never answers it).
//  Returns NULL if the first endpoint is invalid, the list is malformed
//  (an empty item, an endpoint given twice, more than DTX_ENDPOINTS_MAX,
//  an item not of the form transport://address), or only one of the
//  variables is set, or a certificate cannot be read (logged, naming the
//  item).  Caller owns return value.
dtx_client_t *
    dtx_client_new (const char *endpoint, int request_timeout_ms);

//  Connect over CurveZMQ (docs/security.md): client_cert_file is this
//  client's certificate with its secret key (NAME_secret, written by
//  `dtxctl keygen NAME`; its public half must be in the coordinator's
//  client-keys directory), coordinator_cert_file the coordinator's public
//  certificate: a coordinator without that key gets no handshake, and
//  requests to it time out.  With several endpoints (a list, as for
//  dtx_client_new), every one of them must present that certificate.
//  Returns NULL if the endpoint list is invalid (as for dtx_client_new) or
//  a certificate cannot be read (logged).  Caller owns return value.
dtx_client_t *
    dtx_client_new_secure (const char *endpoint, int request_timeout_ms,
                           const char *client_cert_file, const char *coordinator_cert_file);

//  Check an endpoint list as dtx_client_new takes it, without connecting
//  (e.g. a configuration file's): returns 0, or -1 with the reason in
//  errbuf ("endpoint list: 'tcp://10.0.0.1:7100' is given twice (items 1
//  and 3)").  An endpoint that passes may still fail to connect.
int
    dtx_client_endpoints_check (const char *endpoint, char *errbuf, size_t errlen);

//  Destroy a client.  A transaction still open is abandoned; the
//  coordinator aborts it when its timeout expires.
void
    dtx_client_destroy (dtx_client_t **self_p);

//  Last error message on this client (never NULL).
const char *
    dtx_client_error (dtx_client_t *self);

//  Ask the coordinator for the outcome of a transaction by global id.
//  Returns DTX_COMMITTED, DTX_ABORTED, DTX_IN_PROGRESS, or DTX_UNKNOWN if
//  the coordinator did not answer or could not say (see dtx_client_error).
//  With several endpoints the gid's coordinator is asked first (the one
//  that began it, or that last issued a gid of its shard; else the current
//  endpoint); when it does not answer in time, or answers "not mine"
//  (DTX_ERR_NOT_OWNER) or "cannot say now" (DTX_ERR_COORDINATOR), the others
//  are asked in turn, an endpoint the "not mine" names first.  The first
//  exact answer (committed, aborted, in progress) is returned; any other
//  answer ends the search (e.g. "not yours", a bad gid).  Otherwise
//  DTX_UNKNOWN, and dtx_client_error says what each endpoint said.  Silence
//  is never taken for DTX_ABORTED.  At worst this waits one request timeout
//  per endpoint.
//  A client is told about its own gids only (those its key began), unless
//  its key is an operator's: any other gid is UNKNOWN, "no transaction of
//  this client has that global id".
dtx_outcome_t
    dtx_client_outcome (dtx_client_t *self, const char *gid);

//  Wait until the coordinator answers and each of the count databases
//  runs a statement (`SELECT 1` in a transaction rolled back): the system
//  is up.  Tries again every 100 ms until timeout_ms.  Returns true when
//  ready: 1; 0 on timeout (dtx_client_error says the last reason).
int
    dtx_client_wait_ready (dtx_client_t *self, const char *const *databases, int count,
                           int timeout_ms);

//  ---------------------------------------------------------------------
//  Transactions

//  Begin a global transaction.  timeout_ms bounds its whole life: when it
//  expires, the coordinator aborts it (0 = the coordinator's default).
//  Nothing is sent yet: BEGIN travels with the transaction's first
//  request (no round trip of its own), so a refusal (coordinator shutting
//  down) or an unreachable coordinator shows at the first dtx_exec or
//  dtx_commit.  Returns NULL only on bad arguments.  Caller owns return
//  value and must destroy it after commit or rollback.
dtx_txn_t *
    dtx_begin (dtx_client_t *self, int timeout_ms);

//  The transaction's global id, as used in PREPARE TRANSACTION.  Known
//  once the coordinator has answered a request of the transaction; asked
//  for before that, it waits for the BEGIN's answer (one round trip).
//  "" if the coordinator could not be reached or refused the transaction.
const char *
    dtx_txn_gid (dtx_txn_t *self);

//  Run one SQL statement with $1..$n text parameters (NULL values allowed)
//  on the database the participant `database` fronts.  Always returns a
//  result (check dtx_result_ok); NULL only when out of memory.  After an
//  error the transaction is abort-only.  A statement may run longer than
//  the client's request timeout (the coordinator reports progress; see
//  dtx_client_new), not past the transaction's timeout: then
//  DTX_ERR_TIMEOUT, "statement still running on DB after N s", and the
//  transaction is aborted.  Caller owns return value.
dtx_result_t *
    dtx_exec (dtx_txn_t *self, const char *database, const char *sql,
              int nparams, const char *const *params);

//  Queue one SQL statement whose result the application does not need
//  (an UPDATE, an INSERT).  It does not wait: the statement travels at
//  once, is held by the coordinator, and runs with the next dtx_exec on
//  the same database or, at the latest, with dtx_commit, where the last
//  statement of each database goes out together with PREPARE (or the
//  one-phase COMMIT): one round trip per database for the whole commit.
//  (Past 64 held for one database they go ahead to it without waiting.)
//  If it fails, the transaction aborts: the next dtx_exec or dtx_commit
//  reports that statement's error (dtx_txn_error_*).  Returns 0, or -1 if
//  the transaction has ended or the arguments are bad (nothing sent).
int
    dtx_send (dtx_txn_t *self, const char *database, const char *sql,
              int nparams, const char *const *params);

//  Commit.  Returns DTX_COMMITTED, DTX_ABORTED (see dtx_txn_error_*), or
//  DTX_UNKNOWN if the coordinator did not answer in time; then use
//  dtx_client_outcome () with the gid later.  An UNKNOWN always comes with
//  a gid: COMMIT is never sent before the gid is known (a transaction of
//  dtx_send statements only waits for it first; if it never comes, no
//  COMMIT is sent and the result is DTX_ABORTED).  Likewise DTX_ABORTED
//  when a statement's answer never came (COMMIT is not sent then), and
//  DTX_ERR_UNAVAILABLE when the coordinator was shutting down (nothing was
//  done: retry).
dtx_outcome_t
    dtx_commit (dtx_txn_t *self);

//  Commit, but return as soon as the commit decision is durable in the
//  coordinator's log, without waiting for COMMIT PREPARED to finish on
//  every database (the coordinator finishes phase 2 in the background,
//  and after any crash).  Atomicity and durability are the same as with
//  dtx_commit; what differs is visibility: for a moment after this
//  returns, another session may still read the old rows (and a writer of
//  the same rows waits for their locks).  One database (one-phase) or a
//  read-only transaction: same as dtx_commit.
dtx_outcome_t
    dtx_commit_decided (dtx_txn_t *self);

//  Roll back.  Returns DTX_ABORTED: no COMMIT was sent, so the transaction
//  cannot commit.  On lost contact (the error says so) the coordinator
//  rolls back at its transaction timeout; locks are held until then.
dtx_outcome_t
    dtx_rollback (dtx_txn_t *self);

//  Why the transaction aborted or failed: error code, database, SQLSTATE
//  (5 characters or ""), and message.  Strings owned by the transaction.
dtx_errcode_t
    dtx_txn_errcode (dtx_txn_t *self);
const char *
    dtx_txn_error_database (dtx_txn_t *self);
const char *
    dtx_txn_error_sqlstate (dtx_txn_t *self);
const char *
    dtx_txn_error_message (dtx_txn_t *self);

//  Destroy a transaction handle.  Destroying one that is still open rolls
//  it back first.
void
    dtx_txn_destroy (dtx_txn_t **self_p);

//  ---------------------------------------------------------------------
//  Results

//  True if the statement succeeded.
int
    dtx_result_ok (dtx_result_t *self);
dtx_errcode_t
    dtx_result_errcode (dtx_result_t *self);
//  SQLSTATE of a failed statement ("" when not from PostgreSQL).
const char *
    dtx_result_sqlstate (dtx_result_t *self);
//  Error message of a failed statement ("" on success).
const char *
    dtx_result_error (dtx_result_t *self);
//  Command tag, e.g. "UPDATE 1".
const char *
    dtx_result_command (dtx_result_t *self);
//  Rows affected by INSERT/UPDATE/DELETE (or returned by SELECT).
uint64_t
    dtx_result_affected (dtx_result_t *self);
int
    dtx_result_ntuples (dtx_result_t *self);
int
    dtx_result_nfields (dtx_result_t *self);
//  Column name; NULL if out of range.
const char *
    dtx_result_fname (dtx_result_t *self, int column);
//  Value as text; NULL if SQL NULL or out of range.
const char *
    dtx_result_value (dtx_result_t *self, int row, int column);
int
    dtx_result_isnull (dtx_result_t *self, int row, int column);
void
    dtx_result_destroy (dtx_result_t **self_p);

//  Names for log lines
const char *
    dtx_outcome_name (dtx_outcome_t outcome);
const char *
    dtx_errcode_name (dtx_errcode_t code);

#ifdef __cplusplus
}
#endif

#endif
