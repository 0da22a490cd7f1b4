/*  =========================================================================
    dtx_participant - the participant engine: the loop, its sockets, and
    the coordinator's messages

    NOTES

    The participant fronts one PostgreSQL database for a coordinator: one
    PostgreSQL session per live global transaction, from a pool, all
    driven by non-blocking libpq on one event loop.  The engine is split
    by job, sharing one private header (dtx_participant_classes.h):

        dtx_participant.c           the loop (zmq_poll over the coordinator
                                    socket and every busy connection), the
                                    coordinator's messages, life
        dtx_participant_pool.c      connections; start-up checks
        dtx_participant_session.c   sessions: ops, pipelines, results
        dtx_participant_resolve.c   what became of a transaction: in-doubt
                                    prepared transactions, lost one-phase
                                    COMMIT answers, the one-phase marker
                                    (probe, GC)

    A session binds one PostgreSQL connection to one global transaction
    (gid) for as long as the transaction is live, and runs the operations
    the coordinator asks for, in order, one at a time:

        BEGIN + statements -> PREPARE (check write, PREPARE TRANSACTION);
        or BEGIN + deferred statements, the last one with PREPARE (or
        the one-phase COMMIT) in the same pipeline: one round trip
        -> DISCARD ALL (in the same write, a pipeline segment of its own)
        -> the connection goes back to the pool; the prepared transaction
        lives on in PostgreSQL, independent of any connection
        -> COMMIT PREPARED / ROLLBACK PREPARED run later on any pooled
        connection (a short session of their own)

    Nothing blocks the loop on PostgreSQL: queries go out with PQsend*,
    each busy connection's socket is polled with the coordinator socket,
    and results are collected with PQconsumeInput / PQisBusy.  One slow
    query holds its own session only.  (Opening a new pool connection is
    the one blocking step; the pool is filled at start and grows only up
    to pool_max.)

    What a crash of this process leaves behind: live sessions die with
    their connections, and PostgreSQL rolls them back.  Prepared
    transactions survive in PostgreSQL; the coordinator resends phase 2
    until it is acknowledged.  This process never decides the fate of a
    prepared transaction on its own.  A one-phase commit leaves its own
    record in the database, the marker (dtx_participant_resolve.c).
    =========================================================================
*/
#include "dtx_participant_classes.h"

//  --------------------------------------------------------------------------
//  Messages to the coordinator

void
part_send (dtx_participant_t *self, dtx_proto_t **reply_p)
{
    if (dtx_proto_send (*reply_p, self->coordinator))
        zsys_warning ("%s: cannot send %s for %s", self->name,
                      dtx_proto_command (*reply_p), dtx_proto_gid (*reply_p));
    dtx_proto_destroy (reply_p);
}

dtx_proto_t *
part_reply_new (int id, op_t *op, const char *gid)
{
    dtx_proto_t *reply = dtx_proto_new (id);
    dtx_proto_set_seq (reply, op && op->request? dtx_proto_seq (op->request): 0);
    dtx_proto_set_gid (reply, gid);
    return reply;
}

void
part_reply_error (dtx_participant_t *self, op_t *op, const char *gid, int id, int status,
                  const char *sqlstate, const char *text)
{
    if (op && !op->request)
        return;         //  internal: nobody waits for an answer
    dtx_proto_t *reply = part_reply_new (id, op, gid);
    dtx_proto_set_status (reply, (uint8_t) status);
    dtx_proto_set_sqlstate (reply, sqlstate);
    dtx_proto_set_text (reply, text);
    part_send (self, &reply);
}

//  --------------------------------------------------------------------------
//  Messages from the coordinator

//  Refuse a request before it becomes an op: answer as the op would fail
static void
s_refuse (dtx_participant_t *self, op_t *op, const char *gid, int errcode,
          const char *sqlstate, const char *text)
{
    if (op->kind == OP_EXECUTE && op->then == OP_EXECUTE && !op->defer)
        part_reply_error (self, op, gid, DTX_PROTO_ERROR, errcode, sqlstate, text);
    else {
        session_t dummy = { .gid = "" };
        snprintf (dummy.gid, sizeof dummy.gid, "%s", gid);
        part_op_fail (self, &dummy, op, sqlstate, text);
    }
}

static void
s_handle_request (dtx_participant_t *self, dtx_proto_t **msg_p)
{
    dtx_proto_t *msg = *msg_p;
    const char *gid = dtx_proto_gid (msg);
    int id = dtx_proto_id (msg);
    char err [256];
    if (dtx_gid_validate (gid, err, sizeof err)) {
        zsys_warning ("%s: %s with a bad gid: %s", self->name, dtx_proto_command (msg), err);
        if (id == DTX_PROTO_OUTCOME_QUERY) {
            part_reply_error (self, &(op_t) { .kind = OP_PROBE, .request = msg }, gid, DTX_PROTO_ERROR,
                              DTX_ERR_BAD_REQUEST, "", err);
            dtx_proto_destroy (msg_p);
            return;
        }
        op_t op = { .kind = OP_EXECUTE, .request = msg };
        op.kind = id == DTX_PROTO_PREPARE? OP_PREPARE: id == DTX_PROTO_EXECUTE? OP_EXECUTE: OP_ROLLBACK;
        session_t dummy = { .gid = "" };
        part_op_fail (self, &dummy, &op, "", err);
        dtx_proto_destroy (msg_p);
        return;
    }
    session_t *session = (session_t *) zhashx_lookup (self->sessions, gid);
    switch (id) {
        case DTX_PROTO_EXECUTE: {
            uint8_t flags = dtx_proto_flags (msg);
            op_t how = {
                .kind = OP_EXECUTE, .request = msg,
                .defer = (flags & DTX_EXEC_DEFER) != 0,
                .then = flags & DTX_EXEC_PREPARE? OP_PREPARE: flags & DTX_EXEC_COMMIT? OP_COMMIT: OP_EXECUTE
            };
            if (flags & DTX_EXEC_FIRST) {
                if (session) {
                    if (how.defer && !session->failure)
                        session->failure = strdup ("transaction already has a session here");
                    s_refuse (self, &how, gid, DTX_ERR_STATE, "", "transaction already has a session here");
                    session = NULL;
                    break;
                }
                session = part_session_new (self, gid);
                session->in_txn = true;
                how.begin = true;
            }
            else
            if (!session || !session->in_txn) {
                s_refuse (self, &how, gid, DTX_ERR_PARTICIPANT, "08006",
                          "participant has no live session for this transaction (restarted?)");
                break;
            }
            op_t *op = (op_t *) malloc (sizeof (op_t));
            assert (op);
            *op = how;
            *msg_p = NULL;          //  the op owns it now
            zlistx_add_end (session->ops, op);
            break;
        }
        case DTX_PROTO_PREPARE:
        case DTX_PROTO_COMMIT:
            if (!session || !session->in_txn) {
                part_reply_error (self, &(op_t) { .kind = OP_EXECUTE, .request = msg }, gid,
                                  id == DTX_PROTO_PREPARE? DTX_PROTO_VOTE: DTX_PROTO_DONE,
                                  id == DTX_PROTO_PREPARE? DTX_VOTE_NO: DTX_DONE_FAILED, "25P01",
                                  "participant has no live session for this transaction");
                break;
            }
            part_session_enqueue (session, id == DTX_PROTO_PREPARE? OP_PREPARE: OP_COMMIT, msg_p);
            break;
        case DTX_PROTO_ROLLBACK:
        case DTX_PROTO_COMMIT_PREPARED:
            if (!session)
                session = part_session_new (self, gid);
            else
            if (id == DTX_PROTO_ROLLBACK && session->running && session->conn
            &&  !session->resetting
            &&  ((op_t *) zlistx_first (session->ops))->kind == OP_EXECUTE)
                //  A statement is still running (a lock wait, a long query):
                //  cancel it, so that the rollback behind it runs now
                part_session_cancel (self, session);
            part_session_enqueue (session, id == DTX_PROTO_ROLLBACK? OP_ROLLBACK: OP_COMMIT_PREPARED, msg_p);
            break;
        case DTX_PROTO_OUTCOME_QUERY: {
            //  The coordinator lost track of a one-phase gid: a session of
            //  the probe's own (never the gid's live one, whose COMMIT the
            //  fence must be able to wait for); probes of one gid queue
            char key [DTX_GID_MAX + 2];
            snprintf (key, sizeof key, "#%s", gid);
            session = (session_t *) zhashx_lookup (self->sessions, key);
            if (!session)
                session = part_session_new (self, key);
            part_session_enqueue (session, OP_PROBE, msg_p);
            break;
        }
        default:
            zsys_warning ("%s: unexpected %s from coordinator, dropped", self->name,
                          dtx_proto_command (msg));
    }
    if (session)
        part_session_advance (self, session);
    dtx_proto_destroy (msg_p);
}

static void
s_send_register (dtx_participant_t *self)
{
    dtx_proto_t *msg = dtx_proto_new (DTX_PROTO_REGISTER);
    dtx_proto_set_seq (msg, ++self->seq);
    dtx_proto_set_name (msg, self->name);
    dtx_proto_set_ntuples (msg, self->prepared);
    dtx_proto_set_text (msg, self->identity);
    part_send (self, &msg);
}

//  One message, if there is one (the socket does not block): false if none
static bool
s_handle_coordinator (dtx_participant_t *self)
{
    dtx_proto_t *msg;
    char err [256];
    int rc = dtx_proto_recv (&msg, self->coordinator, err, sizeof err);
    if (rc == -2) {
        zsys_warning ("%s: from coordinator: dropped %s", self->name, err);
        return true;
    }
    if (rc)
        return false;
    int id = dtx_proto_id (msg);
    if (id == DTX_PROTO_REGISTER_OK) {
        const char *instance = dtx_proto_text (msg);
        if (strcmp (instance, self->instance)) {
            if (*self->instance) {
                //  The coordinator restarted: it forgot every transaction
                //  that had not reached a commit decision.  Live sessions
                //  opened under the old instance are orphans: roll back.
                zsys_info ("%s: coordinator restarted (%s -> %s): rolling back orphaned live sessions",
                           self->name, self->instance, instance);
                zlistx_t *orphans = zlistx_new ();
                session_t *session = (session_t *) zhashx_first (self->sessions);
                while (session) {
                    if (session->in_txn && !session->prepared
                    &&  strcmp (session->instance, instance))
                        zlistx_add_end (orphans, session);
                    session = (session_t *) zhashx_next (self->sessions);
                }
                session = (session_t *) zlistx_first (orphans);
                while (session) {
                    part_session_enqueue (session, OP_ROLLBACK, NULL);
                    part_session_advance (self, session);
                    session = (session_t *) zlistx_next (orphans);
                }
                zlistx_destroy (&orphans);
                //  and transactions it prepared may be in doubt now
                self->scan_wanted = true;
            }
            else
                zsys_info ("%s: registered with coordinator %s", self->name, instance);
            snprintf (self->instance, sizeof self->instance, "%s", instance);
        }
        self->last_register_ok = dtx_clock_ms ();
        dtx_proto_destroy (&msg);
    }
    else
    if (id == DTX_PROTO_OUTCOME
    || (id == DTX_PROTO_ERROR && zhashx_lookup (self->in_doubt, dtx_proto_gid (msg)))) {
        part_in_doubt_answer (self, msg);
        dtx_proto_destroy (&msg);
    }
    else
    if (id == DTX_PROTO_ERROR && !*dtx_proto_gid (msg)) {
        //  REGISTER refused (e.g. another database registered under this
        //  name).  Loud, but once in 30 s: the heartbeat retries each second
        int64_t now = dtx_clock_ms ();
        if (!self->register_refused_logged || now - self->register_refused_logged >= 30000) {
            zsys_error ("%s: the coordinator refuses to register this participant (database"
                        " %s): %s; retrying (logged at most every 30 s)", self->name,
                        self->identity, dtx_proto_text (msg));
            self->register_refused_logged = now;
        }
        dtx_proto_destroy (&msg);
    }
    else
    if (id == DTX_PROTO_ERROR) {
        zsys_error ("%s: coordinator says: %s", self->name, dtx_proto_text (msg));
        dtx_proto_destroy (&msg);
    }
    else
        s_handle_request (self, &msg);
    return true;
}

//  A live session nobody has touched for idle_timeout_ms is rolled back:
//  the backstop for a coordinator that lost track of it
static void
s_reap_idle (dtx_participant_t *self, int64_t now)
{
    zlistx_t *idle = zlistx_new ();
    session_t *session = (session_t *) zhashx_first (self->sessions);
    while (session) {
        if (session->in_txn && !session->running && zlistx_size (session->ops) == 0
        &&  now - session->last_active > self->config.idle_timeout_ms)
            zlistx_add_end (idle, session);
        session = (session_t *) zhashx_next (self->sessions);
    }
    session = (session_t *) zlistx_first (idle);
    while (session) {
        zsys_warning ("%s: %s: idle for %d ms, rolling back", self->name, session->gid,
                      self->config.idle_timeout_ms);
        part_session_enqueue (session, OP_ROLLBACK, NULL);
        part_session_advance (self, session);
        session = (session_t *) zlistx_next (idle);
    }
    zlistx_destroy (&idle);
}

//  --------------------------------------------------------------------------
//  Life

void
dtx_participant_config_defaults (dtx_participant_config_t *config)
{
    memset (config, 0, sizeof *config);
    config->pool_min = 4;
    config->pool_max = 200;
    config->connect_window_ms = 30000;
    config->heartbeat_ms = 1000;
    config->idle_timeout_ms = 10 * 60 * 1000;
    config->marker_retention_s = 7 * 24 * 3600;
}

int
dtx_participant_config_check (const dtx_participant_config_t *config, char *errbuf, size_t errlen)
{
    if (config->insecure)
        return 0;
    const char *missing = !config->curve_secret? "curve-secret (the participant's certificate)"
                        : !config->coordinator_key? "coordinator-key (the coordinator's public"
                                                    " certificate)"
                        : NULL;
    if (missing) {
        snprintf (errbuf, errlen, "security is on and %s is not set: see docs/security.md"
                  " (dtxctl keygen makes keys), or run with --insecure", missing);
        return -1;
    }
    return 0;
}

dtx_participant_t *
dtx_participant_new (const dtx_participant_config_t *config, char *errbuf, size_t errlen)
{
    if (dtx_name_validate ("participant", config->name, errbuf, errlen))
        return NULL;
    if (dtx_participant_config_check (config, errbuf, errlen))
        return NULL;
    if (!config->conninfo || !config->coordinator_endpoint) {
        snprintf (errbuf, errlen, "conninfo and coordinator endpoint are required");
        return NULL;
    }
    //  A password in the conninfo would show in ps and in logs
    char *parse_err = NULL;
    PQconninfoOption *options = PQconninfoParse (config->conninfo, &parse_err);
    if (!options) {
        snprintf (errbuf, errlen, "bad conninfo: %s", parse_err? parse_err: "out of memory");
        PQfreemem (parse_err);
        return NULL;
    }
    bool has_password = false;
    for (PQconninfoOption *option = options; option->keyword; option++)
        if (streq (option->keyword, "password") && option->val && *option->val)
            has_password = true;
    PQconninfoFree (options);
    if (has_password) {
        snprintf (errbuf, errlen, "conninfo must not contain a password: use PGPASSFILE"
                  " or PGPASSWORD in the environment");
        return NULL;
    }
    //  Keys before the database: a wrong file is said at once
    dtx_security_t *security = NULL;
    if (config->insecure)
        zsys_warning ("participant %s: INSECURE: no CurveZMQ; it will take orders from whatever"
                      " answers on %s (docs/security.md)", config->name,
                      config->coordinator_endpoint);
    else {
        security = dtx_security_new (config->curve_secret, config->coordinator_key, errbuf, errlen);
        if (!security)
            return NULL;
    }
    dtx_participant_t *self = (dtx_participant_t *) calloc (1, sizeof (dtx_participant_t));
    assert (self);
    self->config = *config;
    snprintf (self->name, sizeof self->name, "%s", config->name);
    self->security = security;
    self->conninfo = strdup (config->conninfo);
    self->sessions = zhashx_new ();
    self->in_doubt = zhashx_new ();
    self->status_pending = zlistx_new ();
    zlistx_set_destructor (self->status_pending, part_op_destroy);
    zhashx_set_destructor (self->in_doubt, (czmq_destructor *) zstr_free);
    self->scan_wanted = true;       //  at start: anything left from before?
    self->prepared = 0xFFFFFFFFu;
    self->idle = zlistx_new ();
    self->waiting = zlistx_new ();

    //  First connection, within the retry window
    int64_t give_up = dtx_clock_ms () + config->connect_window_ms;
    char err [512] = "";
    PGconn *conn = NULL;
    while (!conn) {
        conn = part_pool_connect (self, err, sizeof err);
        if (conn || dtx_clock_ms () >= give_up || zsys_interrupted)
            break;
        zsys_info ("%s: database not reachable yet (%s), retrying", self->name, err);
        zclock_sleep (500);
    }
    if (!conn) {
        snprintf (errbuf, errlen, "database for participant %s unreachable after %d ms: %s",
                  self->name, config->connect_window_ms, err);
        dtx_participant_destroy (&self);
        return NULL;
    }
    zlistx_add_end (self->idle, conn);
    if (part_pool_setup (self, conn, errbuf, errlen)) {
        dtx_participant_destroy (&self);
        return NULL;
    }
    while (self->connections < config->pool_min) {
        PGconn *more = part_pool_connect (self, err, sizeof err);
        if (!more)
            break;
        zlistx_add_end (self->idle, more);
    }
    self->coordinator = dtx_sock_new (ZMQ_DEALER, config->coordinator_endpoint, self->security,
                                      DTX_MAXMSG_REQUEST);
    dtx_security_destroy (&self->security);     //  (the socket has the keys)
    if (self->coordinator)
        zsock_set_rcvtimeo (self->coordinator, 0);     //  the loop reads until empty
    if (!self->coordinator) {
        snprintf (errbuf, errlen, "bad coordinator endpoint %s", config->coordinator_endpoint);
        dtx_participant_destroy (&self);
        return NULL;
    }
    self->next_marker_gc = dtx_clock_ms () + 2000;
    zsys_info ("participant %s: database %s ready (max_prepared_transactions=%d, pool %d..%d,"
               " marker retention %d s), coordinator %s", self->name, self->identity, self->max_prepared,
               self->connections, config->pool_max, config->marker_retention_s,
               config->coordinator_endpoint);
    return self;
}

void
dtx_participant_destroy (dtx_participant_t **self_p)
{
    assert (self_p);
    dtx_participant_t *self = *self_p;
    if (!self)
        return;
    dtx_security_destroy (&self->security);
    if (self->sessions) {
        session_t *session;
        while ((session = (session_t *) zhashx_first (self->sessions)))
            part_session_end (self, session);
        zhashx_destroy (&self->sessions);
    }
    PGconn *conn;
    while (self->idle && (conn = (PGconn *) zlistx_detach (self->idle, NULL)))
        PQfinish (conn);
    zlistx_destroy (&self->idle);
    zlistx_destroy (&self->waiting);
    zhashx_destroy (&self->in_doubt);
    zlistx_destroy (&self->status_pending);
    zsock_destroy (&self->coordinator);
    free (self->conninfo);
    free (self);
    *self_p = NULL;
}

int
dtx_participant_run (dtx_participant_t *self, zsock_t *pipe)
{
    size_t capacity = 64;
    zmq_pollitem_t *items = (zmq_pollitem_t *) calloc (capacity, sizeof (zmq_pollitem_t));
    session_t **polled = (session_t **) calloc (capacity, sizeof (session_t *));
    int64_t started = dtx_clock_ms ();
    int64_t next_reap = started + 1000;
    bool coordinator_lost_logged = false;
    while (!self->terminated && !zsys_interrupted) {
        int64_t now = dtx_clock_ms ();
        if (now >= self->next_heartbeat) {
            s_send_register (self);
            self->next_heartbeat = now + self->config.heartbeat_ms;
            //  Silent since the last answer (or since we started)
            int64_t heard = self->last_register_ok? self->last_register_ok: started;
            if (now - heard > 5 * self->config.heartbeat_ms) {
                if (!coordinator_lost_logged)
                    zsys_warning ("%s: no answer from coordinator %s for %" PRId64 " ms; waiting"
                                  " (%zu prepared transaction(s) in doubt)%s", self->name,
                                  self->config.coordinator_endpoint, now - heard,
                                  zhashx_size (self->in_doubt), self->config.insecure? ""
                                  : ".  CurveZMQ: a coordinator without the key of coordinator-key,"
                                    " or one whose participant-keys lacks ours, gets no handshake");
                coordinator_lost_logged = true;
            }
            else
                coordinator_lost_logged = false;
        }
        dtx_logfile_check ();
        if (now >= next_reap) {
            s_reap_idle (self, now);
            part_status_tick (self);
            part_in_doubt_tick (self, now);
            part_marker_gc_tick (self, now);
            next_reap = now + 1000;
        }
        else
        if (self->scan_wanted)
            part_in_doubt_tick (self, now);
        //  Sessions waiting for a connection get one as they free up
        session_t *waiter = (session_t *) zlistx_first (self->waiting);
        if (waiter && zlistx_size (self->idle))
            part_session_advance (self, waiter);

        size_t count = zhashx_size (self->sessions) + 2;
        if (count > capacity) {
            while (capacity < count)
                capacity *= 2;
            items = (zmq_pollitem_t *) realloc (items, capacity * sizeof (zmq_pollitem_t));
            polled = (session_t **) realloc (polled, capacity * sizeof (session_t *));
        }
        size_t n = 0;
        items [n++] = (zmq_pollitem_t) { zsock_resolve (self->coordinator), 0, ZMQ_POLLIN, 0 };
        if (pipe)
            items [n++] = (zmq_pollitem_t) { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 };
        size_t first_session = n;
        session_t *session = (session_t *) zhashx_first (self->sessions);
        while (session) {
            if (session->running && session->conn) {
                polled [n] = session;
                items [n++] = (zmq_pollitem_t) { NULL, PQsocket (session->conn),
                    (short) (ZMQ_POLLIN | (session->want_write? ZMQ_POLLOUT: 0)), 0 };
            }
            session = (session_t *) zhashx_next (self->sessions);
        }
        int64_t wait = self->next_heartbeat - dtx_clock_ms ();
        if (wait < 0)
            wait = 0;
        if (zmq_poll (items, (int) n, wait) == -1 && errno != EINTR)
            break;
        //  PostgreSQL first: replies free connections for new work
        for (size_t i = first_session; i < n; i++)
            if (items [i].revents)
                part_session_io (self, polled [i], (items [i].revents & ZMQ_POLLOUT) != 0);
        //  At most 4096 messages or 20 ms a turn: a stream of big
        //  statements must not hold off the heartbeat and the sessions'
        //  I/O (the coordinator declares a participant lost after 5 s of
        //  silence)
        int64_t drain_until = dtx_clock_ms () + 20;
        for (int i = 0; i < 4096 && s_handle_coordinator (self); i++)
            if (dtx_clock_ms () >= drain_until)
                break;
        if (pipe && (zsock_events (pipe) & ZMQ_POLLIN)) {
            char *command = zstr_recv (pipe);
            if (!command || streq (command, "$TERM"))
                self->terminated = true;
            zstr_free (&command);
        }
    }
    free (items);
    free (polled);
    zsys_info ("participant %s: stopping", self->name);
    return 0;
}

void
dtx_participant_actor (zsock_t *pipe, void *args)
{
    char err [512];
    dtx_participant_t *self = dtx_participant_new ((dtx_participant_config_t *) args, err, sizeof err);
    if (!self) {
        zsys_error ("participant: %s", err);
        zsock_signal (pipe, 1);
        return;
    }
    zsock_signal (pipe, 0);
    dtx_participant_run (self, pipe);
    dtx_participant_destroy (&self);
}
