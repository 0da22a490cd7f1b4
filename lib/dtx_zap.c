/*  =========================================================================
    dtx_zap - the ZAP handler (see dtx_zap.h; RFC 27/ZAP)
    =========================================================================
*/
#include "dtx_zap.h"
#include <signal.h>
#include <pthread.h>
#include "dtx_util.h"
#include <dirent.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define REFUSAL_LOG_MS 30000

typedef struct {
    zsock_t *pipe;
    zsock_t *handler;               //  REP on ZAP_ENDPOINT
    zhashx_t *stores;               //  domain -> zlistx of allow_t, searched in order
    zhashx_t *refusals;             //  "domain key" -> last logged (ms, as a pointer)
    bool terminated;
} zap_t;

//  One allow-list of a domain: a certificate directory, and the role its
//  keys get (NULL: none)
typedef struct {
    zcertstore_t *store;
    char *directory;
    char *role;
} allow_t;

static void
s_allow_destroy (void **item_p)
{
    allow_t *allow = (allow_t *) *item_p;
    if (allow) {
        zcertstore_destroy (&allow->store);
        free (allow->directory);
        free (allow->role);
        free (allow);
        *item_p = NULL;
    }
}

static void
s_allows_destroy (void **item_p)
{
    zlistx_destroy ((zlistx_t **) item_p);
}

//  ZAP metadata: name (1-byte length), value (4-byte length, network order)
static void
s_meta_add (zchunk_t *chunk, const char *name, const char *value)
{
    size_t name_len = strlen (name), value_len = strlen (value);
    if (name_len == 0 || name_len > 255)
        return;
    byte header [5] = { (byte) name_len };
    zchunk_extend (chunk, header, 1);
    zchunk_extend (chunk, name, name_len);
    header [1] = (byte) (value_len >> 24);
    header [2] = (byte) (value_len >> 16);
    header [3] = (byte) (value_len >> 8);
    header [4] = (byte) value_len;
    zchunk_extend (chunk, header + 1, 4);
    zchunk_extend (chunk, value, value_len);
}

static void
s_refused (zap_t *self, const char *domain, const char *key, const char *address, const char *why)
{
    char id [128];
    snprintf (id, sizeof id, "%s %s", domain, key);
    int64_t now = dtx_clock_ms ();
    int64_t logged = (int64_t) (intptr_t) zhashx_lookup (self->refusals, id);
    if (logged && now - logged < REFUSAL_LOG_MS)
        return;
    if (zhashx_size (self->refusals) > 10000)
        zhashx_purge (self->refusals);
    zhashx_update (self->refusals, id, (void *) (intptr_t) (now? now: 1));
    zsys_warning ("ZAP: refused %s from %s on the %s endpoint: %s", key, address, domain, why);
}

static void
s_handle_request (zap_t *self)
{
    zmsg_t *request = zmsg_recv (self->handler);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    char *sequence = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credentials = zmsg_pop (request);
    const char *status = "400", *text = "not allowed";
    char key [41] = "";
    zchunk_t *metadata = zchunk_new (NULL, 0);
    zlistx_t *allows = domain? (zlistx_t *) zhashx_lookup (self->stores, domain): NULL;
    if (!version || !streq (version, "1.0") || !mechanism)
        text = "malformed ZAP request";
    else
    if (streq (mechanism, "CURVE") && credentials && zframe_size (credentials) == 32) {
        zmq_z85_encode (key, zframe_data (credentials), 32);
        //  The first list that has the key gives the certificate; any
        //  list with a role that has it gives the role (a key on both the
        //  client and the operator list is an operator)
        zcert_t *cert = NULL;
        const char *role = NULL;
        allow_t *allow = allows? (allow_t *) zlistx_first (allows): NULL;
        for (; allow; allow = (allow_t *) zlistx_next (allows)) {
            zcert_t *found = zcertstore_lookup (allow->store, key);
            if (found && !cert)
                cert = found;
            if (found && allow->role && !role)
                role = allow->role;
        }
        if (cert) {
            status = "200";
            text = "OK";
            //  The certificate's metadata, but never a role of its own:
            //  the role is the allow-list's
            zlist_t *names = zcert_meta_keys (cert);
            for (char *name = (char *) zlist_first (names); name; name = (char *) zlist_next (names))
                if (!streq (name, DTX_ZAP_ROLE))
                    s_meta_add (metadata, name, zcert_meta (cert, name));
            zlist_destroy (&names);
            if (role)
                s_meta_add (metadata, DTX_ZAP_ROLE, role);
        }
        else {
            char why [600];
            if (allows) {
                allow = (allow_t *) zlistx_first (allows);
                snprintf (why, sizeof why, "key not on the allow-list %s%s", allow->directory,
                          zlistx_size (allows) > 1? " (nor the others of this endpoint)": "");
            }
            else
                snprintf (why, sizeof why, "no allow-list for this endpoint");
            s_refused (self, domain, key, address? address: "?", why);
        }
    }
    else
    if (streq (mechanism, "NULL") && domain && *domain == 0)
        //  A socket without CurveZMQ nor domain: the admin ipc socket,
        //  guarded by file permissions (libzmq asks only with a domain;
        //  answered in case it does)
        status = "200", text = "OK";
    else
        s_refused (self, domain? domain: "?", mechanism, address? address: "?",
                   "CurveZMQ required");
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence? sequence: "");
    zmsg_addstr (reply, status);
    zmsg_addstr (reply, text);
    zmsg_addstr (reply, streq (status, "200")? key: "");
    zmsg_addmem (reply, zchunk_data (metadata), zchunk_size (metadata));
    zmsg_send (&reply, self->handler);
    zchunk_destroy (&metadata);
    zstr_free (&version);
    zstr_free (&sequence);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&identity);
    zstr_free (&mechanism);
    zframe_destroy (&credentials);
    zmsg_destroy (&request);
}

static void
s_handle_pipe (zap_t *self)
{
    zmsg_t *request = zmsg_recv (self->pipe);
    if (!request) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (request);
    if (streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "REPLACE")) {
        //  REPLACE domain (directory role)*: the new lists are made whole
        //  first, then swapped in between two ZAP requests
        char *domain = zmsg_popstr (request);
        zlistx_t *allows = zlistx_new ();
        zlistx_set_destructor (allows, s_allow_destroy);
        int rc = domain? 0: -1;
        while (rc == 0 && zmsg_size (request) >= 2) {
            char *directory = zmsg_popstr (request);
            char *role = zmsg_popstr (request);
            DIR *dir = opendir (directory);
            if (dir) {
                closedir (dir);
                allow_t *allow = (allow_t *) calloc (1, sizeof (allow_t));
                assert (allow);
                allow->store = zcertstore_new (directory);
                allow->directory = strdup (directory);
                allow->role = *role? strdup (role): NULL;
                zlistx_add_end (allows, allow);
            }
            else
                rc = -1;
            zstr_free (&directory);
            zstr_free (&role);
        }
        if (rc == 0 && zlistx_size (allows))
            zhashx_update (self->stores, domain, allows);
        else {
            if (rc == 0)
                zhashx_delete (self->stores, domain);
            zlistx_destroy (&allows);
        }
        zstr_free (&domain);
        zsock_signal (self->pipe, rc? 1: 0);
    }
    else
    if (streq (command, "ALLOW")) {
        char *domain = zmsg_popstr (request);
        char *directory = zmsg_popstr (request);
        char *role = zmsg_popstr (request);
        DIR *dir = directory? opendir (directory): NULL;
        int rc = domain && dir? 0: -1;
        if (dir)
            closedir (dir);
        if (rc == 0) {
            zlistx_t *allows = (zlistx_t *) zhashx_lookup (self->stores, domain);
            if (!allows) {
                allows = zlistx_new ();
                zlistx_set_destructor (allows, s_allow_destroy);
                zhashx_insert (self->stores, domain, allows);
            }
            allow_t *allow = (allow_t *) calloc (1, sizeof (allow_t));
            assert (allow);
            allow->store = zcertstore_new (directory);
            allow->directory = strdup (directory);
            allow->role = role && *role? strdup (role): NULL;
            zlistx_add_end (allows, allow);
        }
        zstr_free (&domain);
        zstr_free (&directory);
        zstr_free (&role);
        zsock_signal (self->pipe, rc? 1: 0);
    }
    zstr_free (&command);
    zmsg_destroy (&request);
}

void
dtx_zap_actor (zsock_t *pipe, void *args)
{
    zap_t self;
    memset (&self, 0, sizeof self);
    self.pipe = pipe;
    self.handler = zsock_new (ZMQ_REP);
    bool bound = self.handler && zsock_bind (self.handler, ZAP_ENDPOINT) == 0;
    zsock_signal (pipe, 0);
    //  (zactor_new swallows the signal's status: say it again)
    zstr_send (pipe, bound? "OK": "NOT BOUND");
    if (!bound) {
        zsock_destroy (&self.handler);
        return;
    }
    self.stores = zhashx_new ();
    zhashx_set_destructor (self.stores, s_allows_destroy);
    self.refusals = zhashx_new ();
    //  This thread must outlive every socket that relies on it: libzmq
    //  lets every CurveZMQ key in once no ZAP handler answers.  So no
    //  signal is taken here (SIGHUP, SIGTERM go to another thread), the
    //  poller ignores zsys_interrupted (a SIGTERM drain keeps checking
    //  keys), and only $TERM on the pipe or the context's end stops it
    sigset_t all;
    sigfillset (&all);
    //  (faults stay this thread's own: a crash here must still crash, and
    //  a sanitizer still report it)
    sigdelset (&all, SIGSEGV);
    sigdelset (&all, SIGBUS);
    sigdelset (&all, SIGFPE);
    sigdelset (&all, SIGILL);
    sigdelset (&all, SIGABRT);
    pthread_sigmask (SIG_BLOCK, &all, NULL);
    zpoller_t *poller = zpoller_new (pipe, self.handler, NULL);
    zpoller_set_nonstop (poller, true);
    while (!self.terminated) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe)
            s_handle_pipe (&self);
        else
        if (which == self.handler)
            s_handle_request (&self);
        else
        if (!which && errno != EINTR)
            break;                  //  the context is ending (ETERM) or the poll is
                                    //  broken: nothing left to guard, and no spinning
    }
    zpoller_destroy (&poller);
    zhashx_destroy (&self.stores);
    zhashx_destroy (&self.refusals);
    zsock_destroy (&self.handler);
}

zactor_t *
dtx_zap_new (void)
{
    zactor_t *self = zactor_new (dtx_zap_actor, NULL);
    char *status = self? zstr_recv (self): NULL;
    if (!status || !streq (status, "OK"))
        zactor_destroy (&self);
    zstr_free (&status);
    return self;
}

int
dtx_zap_allow (zactor_t *self, const char *domain, const char *directory)
{
    return dtx_zap_allow_as (self, domain, directory, NULL);
}

int
dtx_zap_allow_as (zactor_t *self, const char *domain, const char *directory, const char *role)
{
    zstr_sendx (self, "ALLOW", domain, directory, role? role: "", NULL);
    return zsock_wait (self) == 0? 0: -1;
}

int
dtx_zap_replace (zactor_t *self, const char *domain, const char *const *directories,
                 const char *const *roles, size_t count)
{
    zmsg_t *request = zmsg_new ();
    zmsg_addstr (request, "REPLACE");
    zmsg_addstr (request, domain);
    for (size_t i = 0; i < count; i++) {
        zmsg_addstr (request, directories [i]);
        zmsg_addstr (request, roles && roles [i]? roles [i]: "");
    }
    zmsg_send (&request, self);
    return zsock_wait (self) == 0? 0: -1;
}
