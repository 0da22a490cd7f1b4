/*  =========================================================================
    dtx_coordinator - the coordinator engine: the loop, the sockets, start
    and stop, and the group-commit point

    NOTES

    One event loop drives everything (docs/architecture.md):

      client ROUTER  <- BEGIN, EXECUTE, COMMIT, ROLLBACK, OUTCOME_QUERY
      participant ROUTER <- REGISTER (also heartbeat), RESULT, ERROR,
                            VOTE, DONE, OUTCOME (probe answers),
                            OUTCOME_QUERY (in-doubt resolution)
      admin ROUTER   <- ADMIN (dtxctl)

    Each loop turn: poll, drain the sockets, run timers, then the group
    commit point: every COMMIT record appended during this turn is written
    and made durable with one fdatasync, and only then does COMMIT PREPARED
    go out for those transactions (coord_decisions_flush; a failed write or
    fsync ends the process before anyone hears "committed").

    The work is split by job (coord_classes.h lists the files).
    Participants' replies are matched by gid and by the seq the coordinator
    put in its request; a reply with another seq is stale (an earlier
    attempt) and dropped.
    =========================================================================
*/
#include "coord_classes.h"
#include "dtx_zap.h"
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

//  CurveZMQ: one ZAP handler per process (one per ZeroMQ context), so it
//  lives here rather than on the engine; the engine's sockets borrow the
//  certificate (dtx_sock_new).  A second engine in the same process (a
//  test) shares the first one's keys and allow-lists.
static zactor_t *s_zap;
static dtx_security_t *s_security;
static int s_secured;           //  engines of this process using them

//  One message from a socket: 1 and *msg_p; 0 if a malformed one was
//  dropped (and logged: the sender is told nothing, it may not be ours);
//  -1 if none was waiting
int
coord_recv (dtx_coordinator_t *self, zsock_t *sock, const char *from, dtx_proto_t **msg_p)
{
    char err [256];
    int rc = dtx_proto_recv (msg_p, sock, err, sizeof err);
    if (rc == -2) {
        //  Logged at most once a second: a peer sending garbage must not
        //  fill the disk (the count is in the metrics)
        self->dropped_frames++;
        int64_t now = dtx_clock_ms ();
        if (now - self->dropped_logged >= 1000) {
            zsys_warning ("%s: dropped %s%s", from, err, self->dropped_unlogged? " (and more not logged)": "");
            self->dropped_logged = now;
            self->dropped_unlogged = 0;
        }
        else
            self->dropped_unlogged++;
        return 0;
    }
    return rc == 0? 1: -1;
}

int
coord_decisions_flush (dtx_coordinator_t *self)
{
    bool deciding = zlistx_size (self->logging) > 0;
    if (coord_store_pending (self)) {
        if (deciding)
            dtx_fault ("coord-before-commit-durable");
        uint64_t records = self->log? dtx_log_records_synced (self->log): 0;
        size_t batch = self->pg? dtx_pgstore_pending (self->pg): 0;
        int64_t started = zclock_usecs ();
        if (coord_store_sync (self))
            return 1;           //  not durable yet: nobody hears of it (coord_store.c)
        dtx_metrics_observe (self->metrics, DTX_METRIC_FSYNC, (zclock_usecs () - started) / 1e6);
        dtx_metrics_observe (self->metrics, DTX_METRIC_BATCH, self->log
                             ? (double) (dtx_log_records_synced (self->log) - records): (double) batch);
    }
    self->end_pending_since = 0;
    if (deciding)
        dtx_fault ("coord-after-commit-durable");
    //  Phase 2 may end a transaction (and append END): take the list first
    zlistx_t *decided = self->logging;
    self->logging = zlistx_new ();
    txn_t *txn = (txn_t *) zlistx_first (decided);
    while (txn) {
        coord_txn_commit_phase2 (self, txn);
        txn = (txn_t *) zlistx_next (decided);
    }
    zlistx_destroy (&decided);
    coord_compact_maybe (self);
    return 0;
}

//  The group-commit point, once per loop turn: one fdatasync for every
//  COMMIT of this turn
static void
s_group_commit (dtx_coordinator_t *self)
{
    if (zlistx_size (self->logging) == 0) {
        if (!coord_store_pending (self))
            return;
        //  Only END records wait: nobody waits on them.  They ride with
        //  the next COMMIT's fsync, or go out after a quiet second.
        int64_t now = dtx_clock_ms ();
        if (!self->end_pending_since)
            self->end_pending_since = now;
        if (now - self->end_pending_since < 1000)
            return;
    }
    coord_decisions_flush (self);
}

void
dtx_coordinator_config_defaults (dtx_coordinator_config_t *config)
{
    memset (config, 0, sizeof *config);
    config->id = "main";
    config->txn_timeout_ms = 60000;
    config->vote_timeout_ms = 10000;
    config->reply_timeout_ms = 5000;
    config->participant_timeout_ms = 5000;
    config->phase2_retry_ms = 100;
    config->outcomes_max = 200000;
    config->outcome_retention_ms = 24 * 3600 * 1000;
    config->log_compact_bytes = 64 << 20;
    config->drain_ms = 10000;
    config->txns_max = 100000;
    config->client_txns_max = 1000;
    config->participants_max = 256;
    config->lease_ms = 5000;
    config->store_timeout_ms = 0;       //  half the lease, at most 5000
}

static bool
s_tcp (const char *endpoint)
{
    if (*endpoint == '@' || *endpoint == '>')
        endpoint++;
    return strncmp (endpoint, "ipc://", 6) && strncmp (endpoint, "inproc://", 9);
}

int
dtx_coordinator_config_check (const dtx_coordinator_config_t *config, char *errbuf, size_t errlen)
{
    //  A store call blocks the loop for up to store-timeout: longer than
    //  half the lease and the lease can run out before the coordinator
    //  can notice and step down (fencing still holds; this keeps an owner
    //  from acting on a lease it has lost)
    if (config->store_conninfo && config->store_timeout_ms > config->lease_ms / 2) {
        snprintf (errbuf, errlen, "store-timeout (%d ms) is more than half the lease (%d ms): a"
                  " store call that waits that long outlasts the lease; lower store-timeout or"
                  " raise lease", config->store_timeout_ms, config->lease_ms);
        return -1;
    }
    if (config->insecure)
        return 0;
    const char *missing = !config->curve_secret? "curve-secret (the coordinator's certificate)"
                        : !config->client_keys? "client-keys (directory of allowed client keys)"
                        : !config->participant_keys? "participant-keys (directory of allowed"
                                                     " participant keys)"
                        : config->admin_endpoint && s_tcp (config->admin_endpoint)
                          && !config->operator_keys? "operator-keys (directory of allowed"
                                                     " operator keys, for a tcp admin endpoint)"
                        : NULL;
    if (missing) {
        snprintf (errbuf, errlen, "security is on and %s is not set: see docs/security.md"
                  " (dtxctl keygen makes keys), or run with --insecure", missing);
        return -1;
    }
    return 0;
}

//  The ZAP handler and our certificate, once per process
static int
s_security_start (const dtx_coordinator_config_t *config, char *errbuf, size_t errlen)
{
    if (s_secured++)
        return 0;
    s_security = dtx_security_new (config->curve_secret, NULL, errbuf, errlen);
    s_zap = s_security? dtx_zap_new (): NULL;
    if (s_security && !s_zap)
        snprintf (errbuf, errlen, "cannot start the ZAP handler (another one in this process?)");
    const char *domains [] = { "clients", "participants", "admin" };
    const char *dirs [] = { config->client_keys, config->participant_keys, config->operator_keys };
    for (int i = 0; s_zap && i < 3; i++)
        if (dirs [i] && dtx_zap_allow (s_zap, domains [i], dirs [i])) {
            snprintf (errbuf, errlen, "%s keys directory %s: cannot read it", domains [i], dirs [i]);
            zactor_destroy (&s_zap);
        }
    //  An operator key may also use the client endpoint, where it is told
    //  the outcome of any gid (coord_client.c)
    if (s_zap && config->operator_keys
    &&  dtx_zap_allow_as (s_zap, "clients", config->operator_keys, "operator")) {
        snprintf (errbuf, errlen, "operator keys directory %s: cannot read it", config->operator_keys);
        zactor_destroy (&s_zap);
    }
    if (!s_zap) {
        dtx_security_destroy (&s_security);
        s_secured = 0;
        return -1;
    }
    zsys_info ("CurveZMQ on: our public key %s; allowed keys: clients %s, participants %s%s%s",
               zcert_public_txt (s_security->cert), config->client_keys, config->participant_keys,
               config->operator_keys? ", operators ": "",
               config->operator_keys? config->operator_keys: "");
    return 0;
}

static void
s_security_stop (void)
{
    if (s_secured && --s_secured == 0) {
        zactor_destroy (&s_zap);
        dtx_security_destroy (&s_security);
    }
}

//  SIGHUP: the allow-lists again, from config's directories (every one
//  read before any is replaced)
static int
s_security_reload (const dtx_coordinator_config_t *config, char *errbuf, size_t errlen)
{
    const char *dirs [] = { config->client_keys, config->participant_keys, config->operator_keys };
    for (int i = 0; i < 3; i++) {
        DIR *dir = dirs [i]? opendir (dirs [i]): NULL;
        if (dirs [i] && !dir) {
            snprintf (errbuf, errlen, "keys directory %s: %s", dirs [i], strerror (errno));
            return -1;
        }
        if (dir)
            closedir (dir);
    }
    //  As at start: operator keys may also use the client endpoint
    const char *clients [2], *roles [2];
    size_t nclients = 0;
    if (config->client_keys) {
        clients [nclients] = config->client_keys;
        roles [nclients++] = NULL;
    }
    if (config->operator_keys) {
        clients [nclients] = config->operator_keys;
        roles [nclients++] = "operator";
    }
    //  (Each domain is swapped whole; if a directory vanishes between the
    //  check above and its swap, the domains before it are already new:
    //  say so, rather than claim that nothing changed)
    const char *done = "";
    if (dtx_zap_replace (s_zap, "clients", clients, roles, nclients))
        done = "none";
    else
    if (dtx_zap_replace (s_zap, "participants", dirs + 1, NULL, config->participant_keys? 1: 0))
        done = "the client keys";
    else
    if (dtx_zap_replace (s_zap, "admin", dirs + 2, NULL, config->operator_keys? 1: 0))
        done = "the client and participant keys";
    if (*done) {
        snprintf (errbuf, errlen, "a keys directory changed while being read; of the key lists,"
                  " %s %s already replaced, the others are as before", done,
                  streq (done, "none")? "was": "were");
        return -1;
    }
    return 0;
}

//  A server socket of the coordinator, with its ZAP domain
static zsock_t *
s_server_sock (const char *endpoint, const char *domain, int64_t max_message)
{
    dtx_security_t security;
    if (s_security) {
        security = *s_security;
        security.zap_domain = domain;
    }
    return dtx_sock_new (ZMQ_ROUTER, endpoint, s_security? &security: NULL, max_message);
}

dtx_coordinator_t *
dtx_coordinator_new (const dtx_coordinator_config_t *config, char *errbuf, size_t errlen)
{
    if (dtx_name_validate ("coordinator", config->id, errbuf, errlen))
        return NULL;
    if (dtx_coordinator_config_check (config, errbuf, errlen))
        return NULL;
    if (!config->client_endpoint || !config->participant_endpoint || !config->log_dir) {
        snprintf (errbuf, errlen, "client endpoint, participant endpoint and log directory are required");
        return NULL;
    }
    //  First, so that every later failure has it to undo (destroy)
    if (config->insecure)
        zsys_warning ("coordinator %s: INSECURE: no CurveZMQ; anyone who can reach %s or %s"
                      " can act as a client or a participant (docs/security.md)", config->id,
                      config->client_endpoint, config->participant_endpoint);
    else
    if (s_security_start (config, errbuf, errlen))
        return NULL;
    dtx_coordinator_t *self = (dtx_coordinator_t *) calloc (1, sizeof (dtx_coordinator_t));
    assert (self);
    self->config = *config;
    if (!config->instance) {
        //  The lease holder's name: stable across restarts on one host, so
        //  that a restarted coordinator takes its shard back at once
        char host [128] = "";
        gethostname (host, sizeof host - 1);
        snprintf (self->instance, sizeof self->instance, "%s@%s", config->id, host);
        self->config.instance = self->instance;
    }
    snprintf (self->id, sizeof self->id, "%s", config->id);
    self->participants = zhashx_new ();
    zhashx_set_destructor (self->participants, coord_participant_destroy);
    self->txns = zhashx_new ();
    self->owners = zhashx_new ();
    self->begun = zhashx_new ();
    zhashx_set_destructor (self->begun, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (self->begun, (zhashx_duplicator_fn *) strdup);
    zhashx_set_destructor (self->txns, coord_txn_destructor);
    self->outcomes = dtx_outcomes_new (self->id, (size_t) config->outcomes_max,
                                       config->outcome_retention_ms);
    self->timers = coord_timers_new ();
    self->probes = zhashx_new ();
    zhashx_set_destructor (self->probes, coord_probe_destroy);
    self->logging = zlistx_new ();
    self->replay_commits = zhashx_new ();
    zhashx_set_destructor (self->replay_commits, coord_names_destroy);
    self->replay_owners = zhashx_new ();
    zhashx_set_destructor (self->replay_owners, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (self->replay_owners, (zhashx_duplicator_fn *) strdup);

    if (coord_store_open (self, config, errbuf, errlen)) {
        dtx_coordinator_destroy (&self);
        return NULL;
    }
    //  Who served the last epoch that had participants: they will
    //  register again within a heartbeat or two
    for (uint64_t epoch = self->epoch - 1; epoch > 0 && !self->warm_expect; epoch--) {
        zlistx_t *names = dtx_outcomes_participants (self->outcomes, epoch);
        if (names && zlistx_size (names))
            self->warm_expect = names;
        if (self->epoch - epoch >= 64)
            break;      //  (epochs without participants: a fresh system)
    }
    if (self->warm_expect)
        self->warm_until = dtx_clock_ms () + WARM_UP_MS;
    self->clients = s_server_sock (config->client_endpoint, "clients", DTX_MAXMSG_REQUEST);
    self->participants_sock = s_server_sock (config->participant_endpoint, "participants",
                                             DTX_MAXMSG_RESULT);
    //  The loop receives until a socket is empty: never block there
    if (self->clients)
        zsock_set_rcvtimeo (self->clients, 0);
    if (self->participants_sock)
        zsock_set_rcvtimeo (self->participants_sock, 0);
    if (!self->clients || !self->participants_sock) {
        snprintf (errbuf, errlen, "cannot bind %s endpoint %s", self->clients? "participant": "client",
                  self->clients? config->participant_endpoint: config->client_endpoint);
        dtx_coordinator_destroy (&self);
        return NULL;
    }
    //  Admin endpoint: local only (ipc, owner-only permissions) unless
    //  configured otherwise
    char *admin_endpoint = config->admin_endpoint? strdup (config->admin_endpoint)
                         : zsys_sprintf ("ipc://%s/dtx-admin.sock", config->log_dir);
    //  (ipc: file permissions guard it; tcp: CurveZMQ, operator keys)
    self->admin = s_tcp (admin_endpoint)? s_server_sock (admin_endpoint, "admin", DTX_MAXMSG_ADMIN)
                : dtx_sock_new (ZMQ_ROUTER, admin_endpoint, NULL, DTX_MAXMSG_ADMIN);
    if (!self->admin) {
        snprintf (errbuf, errlen, "cannot bind admin endpoint %s", admin_endpoint);
        zstr_free (&admin_endpoint);
        dtx_coordinator_destroy (&self);
        return NULL;
    }
    if (strncmp (admin_endpoint, "ipc://", 6) == 0) {
        self->admin_path = strdup (admin_endpoint + 6);
        chmod (self->admin_path, 0600);
    }
    zstr_free (&admin_endpoint);
    if (config->metrics_listen && *config->metrics_listen) {
        self->metrics = coord_metrics_new (config->metrics_listen, errbuf, errlen);
        if (!self->metrics) {
            dtx_coordinator_destroy (&self);
            return NULL;
        }
    }
    self->started = dtx_clock_ms ();
    coord_recover_commits (self);
    zsys_info ("coordinator %s: epoch %" PRIu64 ", clients on %s, participants on %s, %s %s",
               self->id, self->epoch, config->client_endpoint, config->participant_endpoint,
               self->log? "log": "decision store", self->log? dtx_log_path (self->log)
                                                             : "PostgreSQL (--store)");
    return self;
}

void
dtx_coordinator_destroy (dtx_coordinator_t **self_p)
{
    assert (self_p);
    dtx_coordinator_t *self = *self_p;
    if (!self)
        return;
    coord_store_close (self);
    zsock_destroy (&self->clients);
    zsock_destroy (&self->participants_sock);
    zsock_destroy (&self->admin);
    if (!self->config.insecure)
        s_security_stop ();
    dtx_metrics_destroy (&self->metrics);
    if (self->admin_path)
        unlink (self->admin_path);
    free (self->admin_path);
    zlistx_destroy (&self->logging);
    zhashx_destroy (&self->txns);
    zhashx_destroy (&self->begun);
    zhashx_destroy (&self->owners);
    zhashx_destroy (&self->participants);
    zhashx_destroy (&self->probes);
    coord_timers_destroy (&self->timers);
    dtx_outcomes_destroy (&self->outcomes);
    zhashx_destroy (&self->replay_commits);
    zhashx_destroy (&self->replay_owners);
    free (self);
    *self_p = NULL;
}

//  Draining is over when nothing is live, or when the deadline passed:
//  then undecided transactions are aborted (presumed abort would say the
//  same after a restart) and decided ones are left to recovery
static bool
s_drained (dtx_coordinator_t *self)
{
    if (zhashx_size (self->txns) == 0)
        return true;
    int64_t now = dtx_clock_ms ();
    if (now < self->drain_deadline)
        return false;
    zlistx_t *undecided = zlistx_new ();
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        if (txn->state == TXN_ACTIVE || txn->state == TXN_PREPARING)
            zlistx_add_end (undecided, txn);
        txn = (txn_t *) zhashx_next (self->txns);
    }
    txn = (txn_t *) zlistx_first (undecided);
    while (txn) {
        coord_txn_abort (self, txn, DTX_ERR_STATE, NULL, NULL, "coordinator shut down");
        txn = (txn_t *) zlistx_next (undecided);
    }
    zlistx_destroy (&undecided);
    zsys_info ("coordinator %s: drain timeout: %zu transaction(s) left to recovery",
               self->id, zhashx_size (self->txns));
    //  Let the last ROLLBACKs and replies leave before the sockets close
    zsock_set_linger (self->clients, 500);
    zsock_set_linger (self->participants_sock, 500);
    return true;
}

//  Still warming up?  Done once every expected participant is connected,
//  or at the deadline (logged either way)
static bool
s_warming (dtx_coordinator_t *self, int64_t now)
{
    if (!self->warm_until)
        return false;
    size_t missing = 0;
    const char *name = (const char *) zlistx_first (self->warm_expect);
    while (name) {
        participant_t *participant = (participant_t *) zhashx_lookup (self->participants, name);
        if (!participant || !participant->connected)
            missing++;
        name = (const char *) zlistx_next (self->warm_expect);
    }
    if (missing && now < self->warm_until)
        return true;
    if (missing)
        zsys_warning ("coordinator %s: serving clients; %zu of the %zu participant(s) of the last"
                      " epoch have not registered within %d ms", self->id, missing,
                      zlistx_size (self->warm_expect), WARM_UP_MS);
    else
        zsys_info ("coordinator %s: serving clients: the %zu participant(s) of the last epoch have"
                   " registered", self->id, zlistx_size (self->warm_expect));
    self->warm_until = 0;
    self->warm_expect = NULL;
    return false;
}

static bool
s_readable (zsock_t *sock)
{
    return (zsock_events (sock) & ZMQ_POLLIN) != 0;
}

int
dtx_coordinator_run (dtx_coordinator_t *self, zsock_t *pipe)
{
    zmq_pollitem_t items [4] = {
        { zsock_resolve (self->clients), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->participants_sock), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->admin), 0, ZMQ_POLLIN, 0 },
        { pipe? zsock_resolve (pipe): NULL, 0, ZMQ_POLLIN, 0 }
    };
    int nitems = pipe? 4: 3;
    while (!self->terminated) {
        if (zsys_interrupted && !self->draining) {
            //  SIGTERM/SIGINT: take no new transactions, let those in
            //  flight finish (up to the drain timeout), then stop
            self->draining = true;
            self->drain_deadline = dtx_clock_ms () + self->config.drain_ms;
            zsys_info ("coordinator %s: draining %zu live transaction(s), at most %d ms",
                       self->id, zhashx_size (self->txns), self->config.drain_ms);
        }
        if (self->draining && s_drained (self))
            break;
        //  Sleep until the next deadline (timers, END records waiting, the
        //  metrics snapshot), not on a fixed tick
        int64_t wake = coord_timers_next (self);
        if (self->end_pending_since && self->end_pending_since + 1000 < wake
        &&  !self->store_retry_at)      //  (a store write waits: coord_store_next)
            wake = self->end_pending_since + 1000;
        if (self->metrics && self->next_metrics < wake)
            wake = self->next_metrics;
        if (self->draining && self->drain_deadline < wake)
            wake = self->drain_deadline;
        if (coord_store_next (self) < wake)
            wake = coord_store_next (self);
        bool warming = s_warming (self, dtx_clock_ms ());
        if (warming && self->warm_until < wake)
            wake = self->warm_until;
        items [0].events = warming? 0: ZMQ_POLLIN;
        int64_t wait = wake - dtx_clock_ms ();
        if (wait < 0)
            wait = 0;
        int rc = zmq_poll (items, nitems, wait);
        self->loop_turns++;
        if (rc == -1 && errno != EINTR)
            break;
        if (rc <= 0)                //  (EINTR leaves the last turn's revents)
            for (int i = 0; i < nitems; i++)
                items [i].revents = 0;
        //  Drain what is there, so that one fsync covers as many
        //  decisions as possible
        //  (Receiving until there is nothing, rather than asking the
        //  socket first, saves a system call per message.  A socket that
        //  zmq_poll did not report is not tried at all: each look at an
        //  empty ZeroMQ socket costs libzmq a getpid and a poll)
        if (items [1].revents & ZMQ_POLLIN)
            for (int i = 0; i < DRAIN_MAX && coord_handle_participant (self); i++)
                ;
        if (items [0].revents & ZMQ_POLLIN)
            for (int i = 0; !warming && i < DRAIN_MAX && coord_handle_client (self); i++)
                ;
        if ((items [2].revents & ZMQ_POLLIN) || self->admin_recheck)
            for (int i = 0; i < 16 && s_readable (self->admin); i++)
                coord_handle_admin (self);
        self->admin_recheck = false;
        if (pipe && (items [3].revents & ZMQ_POLLIN)) {
            char *command = zstr_recv (pipe);
            if (!command || streq (command, "$TERM"))
                self->terminated = true;
            zstr_free (&command);
        }
        int64_t now = dtx_clock_ms ();
        coord_tick (self, now);
        coord_store_tick (self, now);
        s_group_commit (self);
        dtx_logfile_check ();
        if (self->metrics && now >= self->next_metrics) {
            coord_metrics_publish (self);
            self->next_metrics = now + 250;
        }
    }
    zsys_info ("coordinator %s: stopping (%" PRIu64 " committed, %" PRIu64 " aborted, %zu live)",
               self->id, self->committed, self->aborted, zhashx_size (self->txns));
    return 0;
}

int
dtx_coordinator_reload (dtx_coordinator_t *self, const dtx_coordinator_config_t *config,
                        char *errbuf, size_t errlen)
{
    if (s_zap && !self->config.insecure && s_security_reload (config, errbuf, errlen))
        return -1;
    self->config.txn_timeout_ms = config->txn_timeout_ms;
    self->config.vote_timeout_ms = config->vote_timeout_ms;
    self->config.drain_ms = config->drain_ms;
    self->config.verbose = config->verbose;
    self->config.txns_max = config->txns_max;
    self->config.client_txns_max = config->client_txns_max;
    self->config.participants_max = config->participants_max;
    self->config.log_compact_bytes = config->log_compact_bytes;
    self->config.outcomes_max = config->outcomes_max;
    self->config.outcome_retention_ms = config->outcome_retention_ms;
    dtx_outcomes_set_limits (self->outcomes, (size_t) config->outcomes_max,
                             config->outcome_retention_ms);
    return 0;
}

void
dtx_coordinator_actor (zsock_t *pipe, void *args)
{
    char err [512];
    dtx_coordinator_t *self = dtx_coordinator_new ((dtx_coordinator_config_t *) args, err, sizeof err);
    if (!self) {
        zsys_error ("coordinator: %s", err);
        zsock_signal (pipe, 1);
        return;
    }
    zsock_signal (pipe, 0);
    dtx_coordinator_run (self, pipe);
    dtx_coordinator_destroy (&self);
}

