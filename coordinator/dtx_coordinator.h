/*  =========================================================================
    dtx_coordinator - the coordinator engine

    Owns the client ROUTER socket, the participant ROUTER socket and the
    decision log, and runs the 2PC state machine of every transaction on
    one event loop.  main () (dtx-coordinator.c) only parses options and
    runs it; tests may run it in a thread as a zactor.
    =========================================================================
*/
#ifndef DTX_COORDINATOR_H_INCLUDED
#define DTX_COORDINATOR_H_INCLUDED

#include <czmq.h>

typedef struct {
    const char *id;                     //  coordinator id, part of every gid
    const char *client_endpoint;        //  e.g. tcp://127.0.0.1:7100
    const char *participant_endpoint;   //  e.g. tcp://127.0.0.1:7101
    const char *log_dir;                //  directory of the decision log
    const char *admin_endpoint;         //  dtxctl; default ipc://LOG_DIR/dtx-admin.sock
    const char *metrics_listen;         //  Prometheus HOST:PORT, NULL = off
    int txn_timeout_ms;                 //  default life of a transaction
    int vote_timeout_ms;                //  PREPARE sent -> all votes in
    int reply_timeout_ms;               //  phase 2 acks awaited before replying
    int participant_timeout_ms;         //  silence before a participant is gone
    int phase2_retry_ms;                //  first phase-2 retry interval (doubles, max 30 s)
    int outcomes_max;                   //  finished outcomes kept for OUTCOME_QUERY ...
    int64_t outcome_retention_ms;       //  ... and for how long (older: UNKNOWN)
    long log_compact_bytes;             //  compact the decision log above this size
    bool verbose;                       //  log every transaction's end
    int drain_ms;                       //  SIGTERM: wait this long for live transactions
    int txns_max;                       //  live transactions in all ...
    int client_txns_max;                //  ... and per client
    int participants_max;               //  participant names known
    //  CurveZMQ (docs/security.md); all needed unless insecure
    const char *curve_secret;           //  our certificate, with secret key
    const char *client_keys;            //  allow-list: client certificates
    const char *participant_keys;       //  allow-list: participant certificates
    const char *operator_keys;          //  allow-list for a tcp admin endpoint
    bool insecure;                      //  no CurveZMQ at all (warned at start)
    //  The decision store: the local log in log_dir (default), or
    //  PostgreSQL (docs/ha.md) when store_conninfo is set
    const char *store_conninfo;         //  libpq conninfo of the store database
    const char *instance;               //  this process among the coordinators
                                        //  (default ID@HOSTNAME): the lease holder's name
    int lease_ms;                       //  the shard's lease (default 5000)
    int store_timeout_ms;               //  longest wait for the store (0: half the
                                        //  lease, at most 5000; above half: refused)
    const char *log_file;               //  main's: log there instead of stderr
    int log_format;                     //  main's: DTX_LOGFMT_TEXT or _JSON (dtx_util.h)
    char log_level;                     //  main's: E W N I D, 0 = info
    zlist_t *strings;                   //  copies the config owns (config_apply)
} dtx_coordinator_config_t;

//  Fill a config with defaults (endpoints and log_dir NULL).
void
    dtx_coordinator_config_defaults (dtx_coordinator_config_t *config);

//  The keys of the config file (section "coordinator") and of the
//  command line, NULL-terminated.
extern const char *const dtx_coordinator_config_keys [];

//  Apply one key, from the config file or a flag (a dtx_config_fn, for
//  dtx_config_load and dtx_options_parse): arg is the config.  String
//  values are copied; the config owns the copies until
//  dtx_coordinator_config_free.  Returns 0, or -1 if the value is bad.
int
    dtx_coordinator_config_apply (void *arg, const char *key, const char *value);

//  Free the strings config_apply copied (not the config itself)
void
    dtx_coordinator_config_free (dtx_coordinator_config_t *config);

//  Is the security configuration complete?  Returns 0, or -1 with errbuf
//  naming what is missing (security is on unless config->insecure).
int
    dtx_coordinator_config_check (const dtx_coordinator_config_t *config,
                                  char *errbuf, size_t errlen);

typedef struct _dtx_coordinator_t dtx_coordinator_t;

//  Open the decision log (replaying it), raise the epoch durably, bind both
//  sockets.  Returns NULL with the reason in errbuf.  Caller owns result.
dtx_coordinator_t *
    dtx_coordinator_new (const dtx_coordinator_config_t *config, char *errbuf, size_t errlen);

void
    dtx_coordinator_destroy (dtx_coordinator_t **self_p);

//  Run the event loop until SIGINT/SIGTERM (zsys_interrupted) or, if pipe
//  is not NULL, until "$TERM" arrives on it.  Returns 0, or exits the
//  process if the decision log cannot be made durable.
int
    dtx_coordinator_run (dtx_coordinator_t *self, zsock_t *pipe);

//  SIGHUP: take the settings of config that can change while running
//  (timeouts, limits, outcome retention, verbose, the allow-lists of
//  keys; docs/operations.md lists them); the others are left as they
//  are.  Transactions already begun keep their deadlines.  Returns 0, or
//  -1 with errbuf naming the problem (a keys directory that cannot be
//  read): then nothing changed.
int
    dtx_coordinator_reload (dtx_coordinator_t *self, const dtx_coordinator_config_t *config,
                            char *errbuf, size_t errlen);

//  zactor body: args is a dtx_coordinator_config_t *.  Signals 0 on the
//  pipe when serving, -1 if it could not start.
void
    dtx_coordinator_actor (zsock_t *pipe, void *args);

#endif
