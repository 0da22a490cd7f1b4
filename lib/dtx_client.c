/*  =========================================================================
    dtx_client - libdtx: the transaction API (see dtx.h)

    A client has up to DTX_ENDPOINTS_MAX coordinator endpoints (links), a
    DEALER socket to each, made when first needed.  Each request carries a
    fresh seq (one counter over all links); a reply with any other seq is a
    late answer to a request we already gave up on, and is dropped.  Every
    wait is bounded by the request timeout.

    A transaction begins on the client's current link and sends all its
    requests there: a request whose answer was lost may have been done, so
    it is never repeated elsewhere.  A link that does not answer in time,
    or refuses a BEGIN because it is shutting down, passes "current" on to
    the next (round robin): a dead coordinator costs the transactions live
    on it and one timeout, not one per later transaction.  An outcome
    question goes to the gid's coordinator first, then, after silence or
    "not mine", to the others in turn (s_outcome).

    BEGIN is lazy: it goes out with the transaction's first request, which
    names the transaction by an empty gid until BEGIN_OK has been read
    (docs/protocol.md).  dtx_send does not wait at all: its statement is
    held by the coordinator and runs with the commit.
    =========================================================================
*/
#include "dtx.h"
#include "dtx_proto.h"
#include "dtx_util.h"
#include <ctype.h>

//  One coordinator endpoint of the client's list, and its socket
typedef struct {
    char *endpoint;                 //  as given (without a '>' prefix)
    zsock_t *sock;                  //  NULL until first used
    bool silent;                    //  its last wait for an answer timed out
    char shard [DTX_NAME_MAX + 1];  //  shard of the last gid it issued us ("" unknown)
} link_t;

struct _dtx_client_t {
    link_t links [DTX_ENDPOINTS_MAX];
    size_t nlinks;
    size_t current;                 //  where the next transaction begins
    dtx_security_t *security;       //  NULL: no CurveZMQ; kept for sockets made later
    int timeout_ms;
    uint32_t seq;                   //  one counter over all links: a seq names one request
    char error [1024];
    //  The last wait's progress reports (WORKING, docs/protocol.md)
    char progress [384];            //  the last one's text ("" none)
    char progress_database [DTX_NAME_MAX + 1];  //  ... the database it named
    bool capped;                    //  the wait ended at its cap while the coordinator
                                    //  still reported progress: not "unreachable"
    zlistx_t *txns;                 //  its open transactions (dtx_txn_t), for
                                    //  BEGIN_OKs read while waiting for another
};

typedef enum {
    TXN_OPEN,               //  statements may run
    TXN_ENDED               //  committed, aborted or unknown
} txn_state_t;

struct _dtx_txn_t {
    dtx_client_t *client;
    char gid [DTX_GID_MAX + 1];     //  "" until BEGIN_OK has been read
    int timeout_ms;                 //  asked for at dtx_begin
    bool begin_sent;                //  BEGIN went out (with the first request)
    int64_t begin_at;               //  ... then
    bool begin_quiet;               //  ... asking for no BEGIN_OK
    uint32_t begin_seq;             //  ... under this seq
    size_t link;                    //  ... to this coordinator, which gets all its
                                    //  requests (valid once begin_sent)
    char *begin_error;              //  the coordinator refused it: why
    dtx_errcode_t begin_errcode;    //  ... and its code
    bool requested;                 //  a request besides BEGIN went out
    txn_state_t state;
    dtx_outcome_t outcome;
    dtx_errcode_t errcode;
    char database [DTX_NAME_MAX + 1];
    char sqlstate [8];
    char *message;
};

struct _dtx_result_t {
    dtx_proto_t *msg;       //  RESULT, or NULL on error
    dtx_errcode_t errcode;
    char sqlstate [8];
    char *error;
    char **columns;
    size_t ncolumns;
    char **values;
    size_t nvalues;
};

//  --------------------------------------------------------------------------
//  Client

//  The longest endpoint accepted in a list (a tcp endpoint with a long
//  host name fits easily)
#define S_ENDPOINT_MAX 255

//  Split a comma-separated list of endpoints into self->links (blanks
//  around an item are ignored).  Returns 0, or -1 with why in errbuf.
static int
s_endpoints_parse (dtx_client_t *self, const char *list, char *errbuf, size_t errlen)
{
    const char *item = list;
    size_t position = 1;
    while (true) {
        const char *comma = strchr (item, ',');
        const char *end = comma? comma: item + strlen (item);
        while (item < end && isspace ((unsigned char) *item))
            item++;
        while (end > item && isspace ((unsigned char) end [-1]))
            end--;
        size_t size = (size_t) (end - item);
        if (size == 0) {
            snprintf (errbuf, errlen, "endpoint list '%.300s': item %zu is empty", list, position);
            return -1;
        }
        if (self->nlinks == DTX_ENDPOINTS_MAX) {
            snprintf (errbuf, errlen, "endpoint list '%.300s': more than %d endpoints", list,
                      DTX_ENDPOINTS_MAX);
            return -1;
        }
        if (size > S_ENDPOINT_MAX) {
            snprintf (errbuf, errlen, "endpoint list: item %zu is longer than %d characters",
                      position, S_ENDPOINT_MAX);
            return -1;
        }
        char endpoint [S_ENDPOINT_MAX + 1];
        memcpy (endpoint, item, size);
        endpoint [size] = 0;
        //  ">tcp://..." (CZMQ's "connect") is the same endpoint as "tcp://..."
        const char *bare = *endpoint == '>'? endpoint + 1: endpoint;
        const char *scheme = strstr (bare, "://");
        bool blank = false;
        for (const char *c = bare; *c; c++)
            blank |= isspace ((unsigned char) *c) != 0;
        if (!scheme || scheme == bare || !scheme [3] || blank) {
            snprintf (errbuf, errlen, "endpoint list: item %zu '%s' is not an endpoint"
                      " (transport://address, e.g. tcp://127.0.0.1:7100)", position, endpoint);
            return -1;
        }
        for (size_t i = 0; i < self->nlinks; i++)
            if (streq (self->links [i].endpoint, bare)) {
                snprintf (errbuf, errlen, "endpoint list: '%s' is given twice (items %zu and %zu)",
                          bare, i + 1, position);
                return -1;
            }
        self->links [self->nlinks++].endpoint = strdup (bare);
        if (!comma)
            return 0;
        item = comma + 1;
        position++;
    }
}

//  The socket to link i, made on first use through dtx_sock_new (where
//  CurveZMQ is switched on).  A link that timed out gets a fresh socket
//  when no open transaction of ours was begun on it: requests queued for
//  a peer that never answered are dropped (linger 0), so a standby that
//  binds the endpoint later is not handed stale BEGINs and statements.
//  NULL if the endpoint is invalid (self->error).
static zsock_t *
s_link_sock (dtx_client_t *self, size_t i)
{
    assert (i < self->nlinks);
    link_t *link = &self->links [i];
    if (link->sock && link->silent) {
        bool in_use = false;
        for (dtx_txn_t *txn = (dtx_txn_t *) zlistx_first (self->txns); txn && !in_use;
             txn = (dtx_txn_t *) zlistx_next (self->txns))
            in_use = txn->begin_sent && txn->link == i && txn->state == TXN_OPEN;
        if (!in_use) {
            zsock_destroy (&link->sock);
            link->silent = false;
        }
    }
    if (!link->sock) {
        char *connect = zsys_sprintf (">%s", link->endpoint);
        //  (one endpoint as before: "@..." binds)
        link->sock = dtx_sock_new (ZMQ_DEALER, self->nlinks == 1 && *link->endpoint == '@'
                                               ? link->endpoint: connect,
                                   self->security, DTX_MAXMSG_RESULT);
        zstr_free (&connect);
        if (link->sock)
            //  A send blocks only while the queue to a silent peer is
            //  full: a quarter of a request's wait at most (1 s), so that
            //  a send and its answer's wait stay near one request timeout
            zsock_set_sndtimeo (link->sock, self->timeout_ms / 4 < 1000? self->timeout_ms / 4: 1000);
        else
            snprintf (self->error, sizeof self->error, "invalid coordinator endpoint %s",
                      link->endpoint);
    }
    return link->sock;
}

//  Link i gave no answer in time: the next transaction begins on the next
//  endpoint, so that a dead coordinator costs one timeout, not one per
//  transaction
static void
s_link_silent (dtx_client_t *self, size_t i)
{
    self->links [i].silent = true;
    if (self->current == i)
        self->current = (i + 1) % self->nlinks;
}

static void
s_client_free (dtx_client_t *self)
{
    for (size_t i = 0; i < self->nlinks; i++) {
        zsock_destroy (&self->links [i].sock);
        free (self->links [i].endpoint);
    }
    dtx_security_destroy (&self->security);
    zlistx_destroy (&self->txns);
    free (self);
}

//  Takes ownership of security (NULL: no CurveZMQ)
static dtx_client_t *
s_client_new (const char *endpoints, int request_timeout_ms, dtx_security_t **security_p)
{
    dtx_client_t *self = (dtx_client_t *) calloc (1, sizeof (dtx_client_t));
    assert (self);
    self->security = *security_p;
    *security_p = NULL;
    self->timeout_ms = request_timeout_ms > 0? request_timeout_ms: 30000;
    self->txns = zlistx_new ();
    char err [512];
    if (!endpoints) {
        zsys_error ("dtx client: no coordinator endpoint given");
        s_client_free (self);
        return NULL;
    }
    if (s_endpoints_parse (self, endpoints, err, sizeof err)) {
        zsys_error ("dtx client: %s", err);
        s_client_free (self);
        return NULL;
    }
    //  The first socket now, as with one endpoint: an invalid first
    //  endpoint fails here; the others are made when first needed
    if (!s_link_sock (self, 0)) {
        zsys_error ("dtx client: %s", self->error);
        s_client_free (self);
        return NULL;
    }
    return self;
}

int
dtx_client_endpoints_check (const char *endpoint, char *errbuf, size_t errlen)
{
    assert (errbuf && errlen > 0);
    if (!endpoint) {
        snprintf (errbuf, errlen, "no coordinator endpoint given");
        return -1;
    }
    dtx_client_t *self = (dtx_client_t *) calloc (1, sizeof (dtx_client_t));
    assert (self);
    self->txns = zlistx_new ();
    *errbuf = 0;
    int rc = s_endpoints_parse (self, endpoint, errbuf, errlen);
    s_client_free (self);
    return rc;
}

dtx_client_t *
dtx_client_new_secure (const char *endpoint, int request_timeout_ms,
                       const char *client_cert_file, const char *coordinator_cert_file)
{
    char err [512];
    if (!client_cert_file || !coordinator_cert_file) {
        zsys_error ("dtx_client_new_secure: both a client certificate and the coordinator's"
                    " certificate are needed");
        return NULL;
    }
    dtx_security_t *security = dtx_security_new (client_cert_file, coordinator_cert_file,
                                                 err, sizeof err);
    if (!security) {
        zsys_error ("dtx client: %s", err);
        return NULL;
    }
    return s_client_new (endpoint, request_timeout_ms, &security);
}

dtx_client_t *
dtx_client_new (const char *endpoint, int request_timeout_ms)
{
    const char *cert = getenv ("DTX_CLIENT_CERT");
    const char *coordinator = getenv ("DTX_COORDINATOR_CERT");
    if ((cert && *cert) || (coordinator && *coordinator))
        return dtx_client_new_secure (endpoint, request_timeout_ms, cert && *cert? cert: NULL,
                                      coordinator && *coordinator? coordinator: NULL);
    dtx_security_t *none = NULL;
    return s_client_new (endpoint, request_timeout_ms, &none);
}

void
dtx_client_destroy (dtx_client_t **self_p)
{
    assert (self_p);
    dtx_client_t *self = *self_p;
    if (!self)
        return;
    s_client_free (self);
    *self_p = NULL;
}

const char *
dtx_client_error (dtx_client_t *self)
{
    return self->error;
}

//  Send a request to link i under a fresh seq; returns the seq, 0 if it
//  could not be sent (reason in self->error).  Destroys the request.
static uint32_t
s_send (dtx_client_t *self, size_t i, dtx_proto_t **request_p)
{
    uint32_t seq = ++self->seq;
    if (seq == 0)
        seq = ++self->seq;
    dtx_proto_set_seq (*request_p, seq);
    zsock_t *sock = s_link_sock (self, i);
    int rc = sock? dtx_proto_send (*request_p, sock): -1;
    dtx_proto_destroy (request_p);
    if (rc) {
        if (sock)
            snprintf (self->error, sizeof self->error, "cannot send to coordinator %s",
                      self->links [i].endpoint);
        //  (nothing can answer it: as good as silent)
        s_link_silent (self, i);
        return 0;
    }
    return seq;
}

static void s_txn_begun (dtx_txn_t *txn, dtx_proto_t *reply);
static void s_txn_set_gid (dtx_txn_t *self, const char *gid);

//  The flags that ask the coordinator for WORKING reports on a request:
//  three in a request timeout (0.1 s to 1.5 s apart), so that a slow
//  request is reported well before the client would give up on it
static uint8_t
s_progress_flags (dtx_client_t *self)
{
    int units = self->timeout_ms / 3 / DTX_PROGRESS_UNIT_MS;
    units = units < 1? 1: units > 15? 15: units;
    return (uint8_t) (units << DTX_PROGRESS_SHIFT);
}

//  A wait's cap: none (a COMMIT follows the coordinator's reports: it
//  answers by its own vote and reply timeouts) ...
#define S_CAP_NONE  0
//  ... or the deadline a WORKING states for the transaction (a statement
//  does not outlive its transaction), when the client knows none itself
#define S_CAP_STATED INT64_MAX

//  Wait for the reply to seq on link i.  The answer to txn's BEGIN, sent
//  ahead of the request without waiting (lazy begin), is taken on the
//  way, and so is that of any other open transaction begun on link i.
//  Each WORKING for seq (the coordinator still works on it) extends the
//  wait to a request timeout from then, never past cap (S_CAP_NONE, an
//  absolute time, or S_CAP_STATED) nor past the deadline a WORKING
//  states when cap is not S_CAP_NONE, plus one request timeout.
//  Returns the reply (caller owns it) or NULL on timeout (self->error;
//  self->capped if the wait ended at its cap while the coordinator still
//  reported progress).
static dtx_proto_t *
s_wait (dtx_client_t *self, size_t i, uint32_t seq, dtx_txn_t *txn, int timeout_ms, int64_t cap)
{
    int rc;
    link_t *link = &self->links [i];
    assert (link->sock);
    int64_t started = dtx_clock_ms ();
    int64_t deadline = started + timeout_ms;
    int64_t progress_at = 0;
    bool at_cap = false;
    *self->progress = 0;
    *self->progress_database = 0;
    self->capped = false;
    while (true) {
        int64_t left = deadline - dtx_clock_ms ();
        if (left <= 0)
            break;
        zmq_pollitem_t item = { zsock_resolve (link->sock), 0, ZMQ_POLLIN, 0 };
        int n = zmq_poll (&item, 1, left);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (n == 0)
            break;
        dtx_proto_t *reply;
        char err [256];
        rc = dtx_proto_recv (&reply, link->sock, err, sizeof err);
        if (rc == -2) {
            zsys_warning ("dtx client: dropped %s", err);
            continue;
        }
        if (rc)
            continue;
        link->silent = false;
        if (dtx_proto_id (reply) == DTX_PROTO_WORKING) {
            //  Alive and working on it (or a late report on a request we
            //  gave up on: dropped)
            if (dtx_proto_seq (reply) == seq) {
                int64_t now = dtx_clock_ms ();
                progress_at = now;
                snprintf (self->progress, sizeof self->progress, "%s", dtx_proto_text (reply));
                snprintf (self->progress_database, sizeof self->progress_database, "%s",
                          dtx_proto_name (reply));
                if (txn && !*txn->gid && *dtx_proto_gid (reply))
                    s_txn_set_gid (txn, dtx_proto_gid (reply));
                if (cap != S_CAP_NONE && dtx_proto_timeout (reply)) {
                    int64_t stated = now + (int64_t) dtx_proto_timeout (reply) + timeout_ms;
                    if (stated < cap)
                        cap = stated;
                }
                deadline = now + timeout_ms;
                at_cap = cap != S_CAP_NONE && cap != S_CAP_STATED && deadline >= cap;
                if (at_cap)
                    deadline = cap;
            }
            dtx_proto_destroy (&reply);
            continue;
        }
        if (dtx_proto_seq (reply) == seq)
            return reply;
        //  The answer to a BEGIN of this client's (this transaction's or
        //  another open one's): keep its gid; anything else is a late
        //  reply to an abandoned request
        dtx_txn_t *begun = txn && txn->begin_sent && dtx_proto_seq (reply) == txn->begin_seq? txn: NULL;
        for (dtx_txn_t *other = (dtx_txn_t *) zlistx_first (self->txns); other && !begun;
             other = (dtx_txn_t *) zlistx_next (self->txns))
            if (other->begin_sent && other->link == i && dtx_proto_seq (reply) == other->begin_seq)
                begun = other;
        if (begun)
            s_txn_begun (begun, reply);
        dtx_proto_destroy (&reply);
    }
    int64_t now = dtx_clock_ms ();
    if (at_cap && progress_at) {
        //  Still working when the transaction's time was up: the
        //  coordinator is there, the work is too slow
        self->capped = true;
        snprintf (self->error, sizeof self->error, "statement still running on %s after %.1f s:"
                  " no answer by the transaction's deadline (last report: %s)",
                  *self->progress_database? self->progress_database: "its database",
                  (now - started) / 1000.0, self->progress);
        return NULL;
    }
    if (progress_at)
        snprintf (self->error, sizeof self->error, "no reply from coordinator %s within %d ms"
                  " of its last progress report (%.1f s after the request: %s)", link->endpoint,
                  timeout_ms, (progress_at - started) / 1000.0, self->progress);
    else
        snprintf (self->error, sizeof self->error, "no reply from coordinator %s within %d ms",
                  link->endpoint, timeout_ms);
    s_link_silent (self, i);
    return NULL;
}

//  Link i issued gid: remember its shard, so that a question about a gid
//  of that shard goes there first.  One coordinator holds a shard at a
//  time: the latest to issue one of its gids is taken for its holder (after
//  a takeover, the new one)
static void
s_link_learn (dtx_client_t *self, size_t i, const char *gid)
{
    char shard [DTX_NAME_MAX + 1];
    uint64_t epoch, counter;
    if (dtx_gid_parse (gid, shard, &epoch, &counter))
        return;
    for (size_t j = 0; j < self->nlinks; j++)
        if (streq (self->links [j].shard, shard))
            *self->links [j].shard = 0;
    snprintf (self->links [i].shard, sizeof self->links [i].shard, "%s", shard);
}

//  True if text names endpoint as a whole ("ask tcp://h:7100", not a
//  longer "tcp://h:71001")
static bool
s_names_endpoint (const char *text, const char *endpoint)
{
    size_t size = strlen (endpoint);
    for (const char *found = strstr (text, endpoint); found; found = strstr (found + 1, endpoint)) {
        const char *next = found + size;
        bool longer = isalnum ((unsigned char) *next) || (*next && strchr (":/-_", *next))
                   || (*next == '.' && isalnum ((unsigned char) next [1]));
        if (!longer)
            return true;
    }
    return false;
}

//  Which link to ask first about gid: the one that began it, if it is a
//  transaction of ours still open; else the one that last issued a gid of
//  its shard; else the current one
static size_t
s_outcome_first (dtx_client_t *self, const char *gid)
{
    for (dtx_txn_t *txn = (dtx_txn_t *) zlistx_first (self->txns); txn;
         txn = (dtx_txn_t *) zlistx_next (self->txns))
        if (txn->begin_sent && *txn->gid && streq (txn->gid, gid))
            return txn->link;
    char shard [DTX_NAME_MAX + 1];
    uint64_t epoch, counter;
    if (dtx_gid_parse (gid, shard, &epoch, &counter) == 0)
        for (size_t i = 0; i < self->nlinks; i++)
            if (streq (self->links [i].shard, shard))
                return i;
    return self->current;
}

//  Ask the coordinators about gid, link first first: its answer if it is
//  exact (committed, aborted, in progress) or a final word (e.g. "not
//  yours", a bad gid).  No answer, or "not mine" (DTX_ERR_NOT_OWNER), or
//  "cannot say now" (DTX_ERR_COORDINATOR): the others are asked in turn,
//  one named in a "not mine, ask X" first.  Never turns silence into
//  ABORTED: with no exact answer anywhere, UNKNOWN with what each said.
static dtx_outcome_t
s_outcome (dtx_client_t *self, const char *gid, size_t first)
{
    bool asked [DTX_ENDPOINTS_MAX] = { false };
    char said [DTX_ENDPOINTS_MAX][256];
    size_t order [DTX_ENDPOINTS_MAX];
    size_t nasked = 0;
    size_t i = first;
    while (true) {
        asked [i] = true;
        order [nasked] = i;
        char *note = said [nasked++];
        dtx_proto_t *request = dtx_proto_new (DTX_PROTO_OUTCOME_QUERY);
        dtx_proto_set_gid (request, gid);
        uint32_t seq = s_send (self, i, &request);
        dtx_proto_t *reply = seq? s_wait (self, i, seq, NULL, self->timeout_ms, S_CAP_NONE): NULL;
        bool ask_on = true;
        size_t hint = self->nlinks;
        if (!reply)
            snprintf (note, sizeof said [0], "%.255s", self->error);
        else {
            bool outcome = dtx_proto_id (reply) == DTX_PROTO_OUTCOME;
            int status = dtx_proto_status (reply);
            dtx_errcode_t code = (dtx_errcode_t) (outcome? dtx_proto_flags (reply): status);
            snprintf (self->error, sizeof self->error, "%s", dtx_proto_text (reply));
            if (outcome && (status == DTX_COMMITTED || status == DTX_ABORTED
                         || status == DTX_IN_PROGRESS)) {
                dtx_proto_destroy (&reply);
                return (dtx_outcome_t) status;
            }
            //  (NO_TXN: "never issued" here, e.g. by an old holder of the
            //  shard that a later epoch's gid is unknown to; BUSY: too many
            //  such questions there now)
            ask_on = code == DTX_ERR_NOT_OWNER || code == DTX_ERR_COORDINATOR
                  || code == DTX_ERR_NO_TXN || code == DTX_ERR_BUSY
                  || (outcome && status == DTX_ERR_NOT_OWNER);
            snprintf (note, sizeof said [0], "%s%s%s", outcome? "unknown": dtx_errcode_name (code),
                      *dtx_proto_text (reply)? ": ": "", dtx_proto_text (reply));
            //  "not mine, ask X": X first, if it is one of ours
            for (size_t j = 0; ask_on && j < self->nlinks && hint == self->nlinks; j++)
                if (!asked [j] && s_names_endpoint (dtx_proto_text (reply), self->links [j].endpoint))
                    hint = j;
            dtx_proto_destroy (&reply);
        }
        if (!ask_on || nasked == self->nlinks)
            break;
        if (hint < self->nlinks)
            i = hint;
        else
            do
                i = (i + 1) % self->nlinks;
            while (asked [i]);
    }
    if (nasked > 1) {
        //  What each said, in a bounded message: every endpoint gets its
        //  share of the buffer
        size_t share = (sizeof self->error - 64) / nasked;
        size_t used = (size_t) snprintf (self->error, sizeof self->error,
                                         "no exact answer from %zu coordinators:", nasked);
        for (size_t k = 0; k < nasked && used < sizeof self->error; k++) {
            const char *endpoint = self->links [order [k]].endpoint;
            int length = (int) share - (int) strlen (endpoint) - 8;
            used += (size_t) snprintf (self->error + used, sizeof self->error - used, "%s %s: %.*s",
                                       k? ";": "", endpoint, length > 0? length: 0, said [k]);
        }
    }
    //  (one endpoint: its own words, as ever)
    return DTX_UNKNOWN;
}

dtx_outcome_t
dtx_client_outcome (dtx_client_t *self, const char *gid)
{
    assert (self);
    return s_outcome (self, gid? gid: "", s_outcome_first (self, gid? gid: ""));
}

int
dtx_client_wait_ready (dtx_client_t *self, const char *const *databases, int count, int timeout_ms)
{
    assert (self);
    assert (databases && count > 0);        //  (with none, nothing would be asked)
    int64_t deadline = dtx_clock_ms () + timeout_ms;
    while (true) {
        dtx_txn_t *txn = dtx_begin (self, 5000);
        bool ready = true;
        for (int i = 0; ready && i < count; i++) {
            dtx_result_t *result = dtx_exec (txn, databases [i], "SELECT 1", 0, NULL);
            ready = dtx_result_ok (result);
            if (!ready)
                snprintf (self->error, sizeof self->error, "%s: %s", databases [i],
                          dtx_result_error (result));
            dtx_result_destroy (&result);
        }
        dtx_rollback (txn);
        dtx_txn_destroy (&txn);
        if (ready)
            return 1;
        if (dtx_clock_ms () >= deadline)
            return 0;
        zclock_sleep (100);
    }
}

//  --------------------------------------------------------------------------
//  Transactions

//  Lazy: nothing is sent here.  BEGIN goes out with the transaction's
//  first request, in the same burst, and that request names the
//  transaction by an empty gid ("the one I just began"); the coordinator's
//  BEGIN_OK is read on the way to the request's own answer.  One round
//  trip saved per transaction.
dtx_txn_t *
dtx_begin (dtx_client_t *self, int timeout_ms)
{
    assert (self);
    dtx_txn_t *txn = (dtx_txn_t *) calloc (1, sizeof (dtx_txn_t));
    assert (txn);
    txn->client = self;
    txn->timeout_ms = timeout_ms > 0? timeout_ms: 0;
    txn->state = TXN_OPEN;
    zlistx_add_end (self->txns, txn);
    return txn;
}

//  Send BEGIN ahead of the first request, to the client's current
//  coordinator: the transaction's requests all go there (never to
//  another: one whose answer was lost may exist there).  Quiet: the
//  coordinator does not answer it unless it refuses; the gid comes with
//  the request's answer.
static int
s_txn_send_begin (dtx_txn_t *self, bool quiet)
{
    if (self->begin_sent)
        return 0;
    dtx_proto_t *request = dtx_proto_new (DTX_PROTO_BEGIN);
    dtx_proto_set_timeout (request, (uint32_t) self->timeout_ms);
    dtx_proto_set_flags (request, quiet? DTX_BEGIN_QUIET: 0);
    self->link = self->client->current;
    self->begin_at = dtx_clock_ms ();
    self->begin_seq = s_send (self->client, self->link, &request);
    self->begin_sent = self->begin_seq != 0;
    self->begin_quiet = quiet;
    return self->begin_sent? 0: -1;
}

//  The gid, as the transaction's coordinator told it
static void
s_txn_set_gid (dtx_txn_t *self, const char *gid)
{
    snprintf (self->gid, sizeof self->gid, "%s", gid);
    s_link_learn (self->client, self->link, gid);
}

//  The answer to our BEGIN
static void
s_txn_begun (dtx_txn_t *self, dtx_proto_t *reply)
{
    if (dtx_proto_id (reply) == DTX_PROTO_BEGIN_OK)
        s_txn_set_gid (self, dtx_proto_gid (reply));
    else
    if (!self->begin_error) {
        self->begin_error = zsys_sprintf ("begin refused: %s", dtx_proto_text (reply));
        self->begin_errcode = dtx_proto_id (reply) == DTX_PROTO_ERROR && dtx_proto_status (reply)
                            ? (dtx_errcode_t) dtx_proto_status (reply): DTX_ERR_STATE;
        //  Shutting down: the next transaction begins on the next endpoint
        //  (this one was not begun: nothing was done, the caller retries)
        dtx_client_t *client = self->client;
        if (self->begin_errcode == DTX_ERR_UNAVAILABLE && client->current == self->link)
            client->current = (self->link + 1) % client->nlinks;
    }
}

const char *
dtx_txn_gid (dtx_txn_t *self)
{
    assert (self);
    if (!*self->gid && self->state == TXN_OPEN && !self->begin_error) {
        if (!self->begin_sent || !self->begin_quiet) {
            //  An answered BEGIN (sent now, or behind a dtx_send): its
            //  BEGIN_OK is on the way
            if (s_txn_send_begin (self, false) == 0) {
                dtx_proto_t *reply = s_wait (self->client, self->link, self->begin_seq, NULL,
                                             self->client->timeout_ms, S_CAP_NONE);
                if (reply)
                    s_txn_begun (self, reply);
                dtx_proto_destroy (&reply);
            }
        }
        else {
            //  A quiet BEGIN went out behind a dtx_exec whose answer never
            //  came: ask the coordinator what this connection began
            dtx_proto_t *query = dtx_proto_new (DTX_PROTO_OUTCOME_QUERY);
            uint32_t seq = s_send (self->client, self->link, &query);
            dtx_proto_t *reply = seq? s_wait (self->client, self->link, seq, self,
                                              self->client->timeout_ms, S_CAP_NONE): NULL;
            if (reply && dtx_proto_id (reply) == DTX_PROTO_OUTCOME && !self->begin_error
            &&  *dtx_proto_gid (reply))
                s_txn_set_gid (self, dtx_proto_gid (reply));
            dtx_proto_destroy (&reply);
        }
    }
    return self->gid;
}

static void
s_txn_set_error (dtx_txn_t *self, dtx_errcode_t code, const char *database,
                 const char *sqlstate, const char *message)
{
    self->errcode = code;
    snprintf (self->database, sizeof self->database, "%s", database? database: "");
    snprintf (self->sqlstate, sizeof self->sqlstate, "%s", sqlstate? sqlstate: "");
    free (self->message);
    self->message = strdup (message? message: "");
}

//  Send one of the transaction's requests (its BEGIN first, if not sent
//  yet) and wait for the answer, asking for progress reports (WORKING):
//  a statement's wait ends at the transaction's deadline at the latest
//  (statement true), a commit's follows the coordinator.  NULL if none
//  came (client->error; client->capped), or if the coordinator refused
//  the BEGIN (begin_error set).
static dtx_proto_t *
s_txn_request (dtx_txn_t *self, dtx_proto_t **request_p, bool statement)
{
    if (s_txn_send_begin (self, true)) {
        dtx_proto_destroy (request_p);
        return NULL;
    }
    dtx_proto_set_gid (*request_p, self->gid);
    dtx_proto_set_flags (*request_p, dtx_proto_flags (*request_p) | s_progress_flags (self->client));
    self->requested = true;
    int64_t cap = S_CAP_NONE;
    if (statement)
        cap = self->timeout_ms? self->begin_at + self->timeout_ms + self->client->timeout_ms
                              : S_CAP_STATED;
    uint32_t seq = s_send (self->client, self->link, request_p);
    dtx_proto_t *reply = seq? s_wait (self->client, self->link, seq, self,
                                      self->client->timeout_ms, cap): NULL;
    if (self->begin_error && !*self->gid) {
        snprintf (self->client->error, sizeof self->client->error, "%s", self->begin_error);
        dtx_proto_destroy (&reply);
    }
    if (reply && !*self->gid && *dtx_proto_gid (reply))
        s_txn_set_gid (self, dtx_proto_gid (reply));
    return reply;
}

//  The coordinator refused to begin: the transaction never existed
static void
s_txn_refused (dtx_txn_t *self)
{
    self->state = TXN_ENDED;
    self->outcome = DTX_ABORTED;
    s_txn_set_error (self, self->begin_errcode? self->begin_errcode: DTX_ERR_STATE, "", "",
                     self->begin_error);
}

static dtx_result_t *
s_result_error (dtx_errcode_t code, const char *sqlstate, const char *message)
{
    dtx_result_t *result = (dtx_result_t *) calloc (1, sizeof (dtx_result_t));
    assert (result);
    result->errcode = code;
    snprintf (result->sqlstate, sizeof result->sqlstate, "%s", sqlstate? sqlstate: "");
    result->error = strdup (message? message: "");
    return result;
}

dtx_result_t *
dtx_exec (dtx_txn_t *self, const char *database, const char *sql,
          int nparams, const char *const *params)
{
    assert (self);
    if (self->state != TXN_OPEN)
        return s_result_error (DTX_ERR_STATE, "", "transaction already ended");
    if (!database || !sql || nparams < 0 || (nparams > 0 && !params))
        return s_result_error (DTX_ERR_BAD_REQUEST, "", "database and sql are required");
    if (strlen (database) > DTX_NAME_MAX)
        return s_result_error (DTX_ERR_UNKNOWN_DB, "", "database name too long");
    dtx_proto_t *request = dtx_proto_new (DTX_PROTO_EXECUTE);
    dtx_proto_set_name (request, database);
    dtx_proto_set_text (request, sql);
    dtx_proto_set_params (request, (size_t) nparams, params);
    dtx_proto_t *reply = s_txn_request (self, &request, true);
    if (!reply && self->begin_error) {
        s_txn_refused (self);
        return s_result_error (self->errcode, "", self->begin_error);
    }
    if (!reply && self->client->capped) {
        //  The coordinator said it still worked on it when the
        //  transaction's time was up: a timeout, not an unreachable
        //  coordinator.  No COMMIT was sent and its deadline has passed:
        //  it can only abort (the coordinator's timeout does)
        const char *where = *self->client->progress_database
                          ? self->client->progress_database: database;
        s_txn_set_error (self, DTX_ERR_TIMEOUT, where, "", self->client->error);
        self->state = TXN_ENDED;
        self->outcome = DTX_ABORTED;
        return s_result_error (DTX_ERR_TIMEOUT, "", self->client->error);
    }
    if (!reply) {
        //  We don't know if it ran: the transaction can only abort now
        s_txn_set_error (self, DTX_ERR_COORDINATOR, database, "", self->client->error);
        return s_result_error (DTX_ERR_COORDINATOR, "", self->client->error);
    }
    if (dtx_proto_id (reply) == DTX_PROTO_RESULT) {
        dtx_result_t *result = (dtx_result_t *) calloc (1, sizeof (dtx_result_t));
        assert (result);
        result->msg = reply;
        result->error = strdup ("");
        result->ncolumns = dtx_proto_columns (reply, &result->columns);
        result->nvalues = dtx_proto_values (reply, &result->values);
        return result;
    }
    dtx_errcode_t code = dtx_proto_id (reply) == DTX_PROTO_ERROR
                       ? (dtx_errcode_t) dtx_proto_status (reply): DTX_ERR_BAD_REQUEST;
    dtx_result_t *result = s_result_error (code, dtx_proto_sqlstate (reply), dtx_proto_text (reply));
    //  Every failed statement dooms the transaction (the coordinator
    //  agrees), except a refusal to run it at all: busy, wrong state
    if (code != DTX_ERR_BUSY && code != DTX_ERR_STATE && code != DTX_ERR_BAD_REQUEST)
        if (!self->errcode)
            s_txn_set_error (self, code, dtx_proto_name (reply), dtx_proto_sqlstate (reply),
                             dtx_proto_text (reply));
    if (code == DTX_ERR_NO_TXN || code == DTX_ERR_TIMEOUT) {
        self->state = TXN_ENDED;
        self->outcome = DTX_ABORTED;
    }
    dtx_proto_destroy (&reply);
    return result;
}

int
dtx_send (dtx_txn_t *self, const char *database, const char *sql,
          int nparams, const char *const *params)
{
    assert (self);
    if (self->state != TXN_OPEN || !database || !sql || nparams < 0 || (nparams > 0 && !params)
    ||  strlen (database) > DTX_NAME_MAX)
        return -1;
    dtx_proto_t *request = dtx_proto_new (DTX_PROTO_EXECUTE);
    dtx_proto_set_gid (request, self->gid);
    dtx_proto_set_name (request, database);
    dtx_proto_set_flags (request, DTX_EXEC_DEFER);
    dtx_proto_set_text (request, sql);
    dtx_proto_set_params (request, (size_t) nparams, params);
    self->requested = true;
    //  Not quiet here: nothing else may answer before the COMMIT (a
    //  transaction of dtx_send statements only), and the COMMIT must not
    //  go out before the gid is known (s_txn_end)
    if (s_txn_send_begin (self, false) || s_send (self->client, self->link, &request) == 0) {
        dtx_proto_destroy (&request);
        //  Whether it arrived is unknown: the transaction cannot commit
        //  (client->error says why)
        s_txn_set_error (self, DTX_ERR_COORDINATOR, database, "", self->client->error);
        return -1;
    }
    return 0;
}

//  Send COMMIT or ROLLBACK and read the outcome
static dtx_outcome_t
s_txn_end (dtx_txn_t *self, int id, uint8_t flags)
{
    if (self->state != TXN_OPEN) {
        snprintf (self->client->error, sizeof self->client->error,
                  "transaction %s already ended (%s)", self->gid, dtx_outcome_name (self->outcome));
        if (!self->errcode)
            s_txn_set_error (self, DTX_ERR_STATE, "", "", self->client->error);
        return self->outcome;
    }
    //  A statement whose reply never came may or may not have run: the
    //  transaction cannot commit.  No COMMIT goes out, so it is aborted
    //  for certain; a ROLLBACK (by gid only) frees its locks early.
    if (id == DTX_PROTO_COMMIT && self->errcode == DTX_ERR_COORDINATOR) {
        char why [1200], database [DTX_NAME_MAX + 1];
        snprintf (why, sizeof why, "%s; COMMIT was not sent", self->message? self->message: "");
        snprintf (database, sizeof database, "%s", self->database);
        s_txn_end (self, DTX_PROTO_ROLLBACK, 0);
        self->outcome = DTX_ABORTED;
        s_txn_set_error (self, DTX_ERR_COORDINATOR, database, "", why);
        return DTX_ABORTED;
    }
    if (!self->begin_sent || (!self->requested && !*self->gid && id == DTX_PROTO_ROLLBACK)) {
        //  Nothing was ever sent, or only a BEGIN that was never answered
        //  (the coordinator's transaction timeout ends it): nothing to
        //  commit or roll back
        self->state = TXN_ENDED;
        self->outcome = id == DTX_PROTO_COMMIT? DTX_COMMITTED: DTX_ABORTED;
        return self->outcome;
    }
    if (!*dtx_txn_gid (self)) {
        //  Never COMMIT or ROLLBACK by an empty gid: were it delivered
        //  late (after a reconnect, to a restarted coordinator), an empty
        //  gid would name whatever this connection began last.  Without a
        //  gid no COMMIT goes out, so the coordinator can only abort what
        //  it may hold (its transaction timeout does): aborted, for
        //  certain.
        if (self->begin_error) {
            s_txn_refused (self);
            return DTX_ABORTED;
        }
        self->state = TXN_ENDED;
        self->outcome = DTX_ABORTED;
        char why [1200];
        snprintf (why, sizeof why, "%s; the transaction's id never arrived, so no %s was sent"
                  " (the coordinator's transaction timeout rolls back what it holds)",
                  self->client->error, id == DTX_PROTO_COMMIT? "COMMIT": "ROLLBACK");
        if (!self->errcode || id == DTX_PROTO_COMMIT)
            s_txn_set_error (self, DTX_ERR_COORDINATOR, "", "", why);
        return DTX_ABORTED;
    }
    dtx_proto_t *request = dtx_proto_new (id);
    dtx_proto_set_flags (request, flags);
    dtx_proto_t *reply = s_txn_request (self, &request, false);
    self->state = TXN_ENDED;
    if (!reply && self->begin_error) {
        s_txn_refused (self);
        return DTX_ABORTED;
    }
    if (!reply && id == DTX_PROTO_ROLLBACK) {
        //  No COMMIT was ever sent for it: whatever the coordinator holds
        //  can only abort (its transaction timeout at the latest)
        self->outcome = DTX_ABORTED;
        char why [1200];
        snprintf (why, sizeof why, "%s; no COMMIT was sent, so it cannot commit", self->client->error);
        s_txn_set_error (self, DTX_ERR_COORDINATOR, "", "", why);
        return DTX_ABORTED;
    }
    if (!reply) {
        //  Lost contact while committing: the outcome is unknown, not
        //  guessed; the gid is known (never COMMIT without one)
        self->outcome = DTX_UNKNOWN;
        s_txn_set_error (self, DTX_ERR_COORDINATOR, "", "", self->client->error);
        return DTX_UNKNOWN;
    }
    if (dtx_proto_id (reply) == DTX_PROTO_OUTCOME) {
        self->outcome = (dtx_outcome_t) dtx_proto_status (reply);
        if (self->outcome != DTX_COMMITTED) {
            //  Keep the first statement error if we saw one: it is the cause
            dtx_errcode_t why = dtx_proto_flags (reply)? (dtx_errcode_t) dtx_proto_flags (reply)
                                                       : DTX_ERR_SQL;
            if (!self->errcode || self->errcode == DTX_ERR_COORDINATOR)
                s_txn_set_error (self, id == DTX_PROTO_ROLLBACK? DTX_OK: why,
                                 dtx_proto_name (reply), dtx_proto_sqlstate (reply),
                                 dtx_proto_text (reply));
            if (*dtx_proto_sqlstate (reply) && self->errcode == DTX_ERR_SQL)
                s_txn_set_error (self, DTX_ERR_SQL, dtx_proto_name (reply),
                                 dtx_proto_sqlstate (reply), dtx_proto_text (reply));
        }
    }
    else {
        dtx_errcode_t code = (dtx_errcode_t) dtx_proto_status (reply);
        s_txn_set_error (self, code, dtx_proto_name (reply), dtx_proto_sqlstate (reply),
                         dtx_proto_text (reply));
        //  The coordinator refused (e.g. already ended elsewhere): ask it
        //  (then the others) for the real outcome rather than guess
        self->outcome = code == DTX_ERR_NO_TXN? DTX_ABORTED
                      : s_outcome (self->client, self->gid, self->link);
        if (self->outcome == DTX_IN_PROGRESS)
            self->outcome = DTX_UNKNOWN;
    }
    dtx_proto_destroy (&reply);
    return self->outcome;
}

dtx_outcome_t
dtx_commit (dtx_txn_t *self)
{
    assert (self);
    return s_txn_end (self, DTX_PROTO_COMMIT, 0);
}

dtx_outcome_t
dtx_commit_decided (dtx_txn_t *self)
{
    assert (self);
    return s_txn_end (self, DTX_PROTO_COMMIT, DTX_COMMIT_ACK_DECIDED);
}

dtx_outcome_t
dtx_rollback (dtx_txn_t *self)
{
    assert (self);
    return s_txn_end (self, DTX_PROTO_ROLLBACK, 0);
}

dtx_errcode_t dtx_txn_errcode (dtx_txn_t *self) { return self->errcode; }
const char *dtx_txn_error_database (dtx_txn_t *self) { return self->database; }
const char *dtx_txn_error_sqlstate (dtx_txn_t *self) { return self->sqlstate; }
const char *dtx_txn_error_message (dtx_txn_t *self) { return self->message? self->message: ""; }

void
dtx_txn_destroy (dtx_txn_t **self_p)
{
    assert (self_p);
    dtx_txn_t *self = *self_p;
    if (!self)
        return;
    if (self->state == TXN_OPEN)
        dtx_rollback (self);
    void *handle = zlistx_find (self->client->txns, self);
    if (handle)
        zlistx_delete (self->client->txns, handle);
    free (self->message);
    free (self->begin_error);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Results

int dtx_result_ok (dtx_result_t *self) { return self->msg != NULL; }
dtx_errcode_t dtx_result_errcode (dtx_result_t *self) { return self->errcode; }
const char *dtx_result_sqlstate (dtx_result_t *self) { return self->sqlstate; }
const char *dtx_result_error (dtx_result_t *self) { return self->error; }
const char *
dtx_result_command (dtx_result_t *self)
{
    return self->msg? dtx_proto_text (self->msg): "";
}
uint64_t
dtx_result_affected (dtx_result_t *self)
{
    return self->msg? dtx_proto_affected (self->msg): 0;
}
int
dtx_result_ntuples (dtx_result_t *self)
{
    return self->msg? (int) dtx_proto_ntuples (self->msg): 0;
}
int
dtx_result_nfields (dtx_result_t *self)
{
    return (int) self->ncolumns;
}
const char *
dtx_result_fname (dtx_result_t *self, int column)
{
    return column >= 0 && (size_t) column < self->ncolumns? self->columns [column]: NULL;
}
const char *
dtx_result_value (dtx_result_t *self, int row, int column)
{
    if (row < 0 || row >= dtx_result_ntuples (self) || column < 0 || (size_t) column >= self->ncolumns)
        return NULL;
    return self->values [(size_t) row * self->ncolumns + column];
}
int
dtx_result_isnull (dtx_result_t *self, int row, int column)
{
    return dtx_result_value (self, row, column) == NULL;
}
void
dtx_result_destroy (dtx_result_t **self_p)
{
    assert (self_p);
    dtx_result_t *self = *self_p;
    if (!self)
        return;
    dtx_proto_destroy (&self->msg);
    free (self->error);
    free (self);
    *self_p = NULL;
}

const char *
dtx_outcome_name (dtx_outcome_t outcome)
{
    switch (outcome) {
        case DTX_COMMITTED:   return "committed";
        case DTX_ABORTED:     return "aborted";
        case DTX_UNKNOWN:     return "unknown";
        case DTX_IN_PROGRESS: return "in progress";
    }
    return "?";
}

const char *
dtx_errcode_name (dtx_errcode_t code)
{
    switch (code) {
        case DTX_OK:              return "ok";
        case DTX_ERR_SQL:         return "SQL error";
        case DTX_ERR_UNKNOWN_DB:  return "unknown database";
        case DTX_ERR_NO_TXN:      return "no such transaction";
        case DTX_ERR_ABORT_ONLY:  return "transaction aborted";
        case DTX_ERR_BAD_REQUEST: return "bad request";
        case DTX_ERR_TIMEOUT:     return "timeout";
        case DTX_ERR_BUSY:        return "busy";
        case DTX_ERR_PARTICIPANT: return "participant failure";
        case DTX_ERR_COORDINATOR: return "coordinator unreachable";
        case DTX_ERR_STATE:       return "wrong state";
        case DTX_ERR_UNAVAILABLE: return "coordinator unavailable (shutting down), retry";
        case DTX_ERR_FORBIDDEN:   return "not a transaction of this client";
        case DTX_ERR_NOT_OWNER:   return "not this coordinator's shard: ask its owner";
    }
    return "?";
}
