/*  =========================================================================
    dtx_participant - the participant engine

    Fronts one PostgreSQL database for a coordinator: one PostgreSQL
    session per live global transaction, taken from a pool, all driven by
    non-blocking libpq on one event loop.
    =========================================================================
*/
#ifndef DTX_PARTICIPANT_H_INCLUDED
#define DTX_PARTICIPANT_H_INCLUDED

#include <czmq.h>

typedef struct {
    const char *name;                   //  database name clients use
    const char *coordinator_endpoint;   //  coordinators' participant endpoints,
                                        //  comma-separated (at most 8)
    const char *conninfo;               //  libpq conninfo, without password
    int pool_min;                       //  connections opened at start
    int pool_max;                       //  most connections at once
    int connect_window_ms;              //  retry window for the first connect
    int heartbeat_ms;                   //  REGISTER interval
    int idle_timeout_ms;                //  live session idle this long is rolled back
    int marker_retention_s;             //  one-phase markers kept this long
    //  CurveZMQ (docs/security.md); both needed unless insecure
    const char *curve_secret;           //  our certificate, with secret key
    const char *coordinator_key;        //  the coordinators' public certificate: one
                                        //  for all, or a comma-separated list, one
                                        //  per endpoint in the same order
    bool insecure;                      //  no CurveZMQ (warned at start)
    const char *log_file;               //  main's: log there instead of stderr
    const char *metrics_listen;         //  Prometheus HOST:PORT, NULL = off
    int log_format;                     //  main's: DTX_LOGFMT_TEXT or _JSON (dtx_util.h)
    char log_level;                     //  main's: E W N I D, 0 = info
    zlist_t *strings;                   //  copies the config owns (config_apply)
} dtx_participant_config_t;

void
    dtx_participant_config_defaults (dtx_participant_config_t *config);

//  The keys of the config file (section "participant") and of the
//  command line, NULL-terminated.
extern const char *const dtx_participant_config_keys [];

//  Apply one key, from the config file or a flag (a dtx_config_fn): arg
//  is the config.  String values are copied; the config owns the copies
//  until dtx_participant_config_free.  Returns 0, or -1 if the value is bad.
int
    dtx_participant_config_apply (void *arg, const char *key, const char *value);

//  Free the strings config_apply copied (not the config itself)
void
    dtx_participant_config_free (dtx_participant_config_t *config);

//  Is the configuration usable: the security settings complete (security
//  is on unless config->insecure), the coordinator list and its
//  certificates well formed (no empty item, no duplicate, at most 8, one
//  certificate or one per endpoint)?  Returns 0, or -1 with errbuf naming
//  what is wrong.
int
    dtx_participant_config_check (const dtx_participant_config_t *config,
                                  char *errbuf, size_t errlen);

typedef struct _dtx_participant_t dtx_participant_t;

//  Connect to the database (retrying within the window), check that it
//  can prepare transactions, open the pool, connect to the coordinator.
//  Returns NULL with the reason in errbuf.  Caller owns return value.
dtx_participant_t *
    dtx_participant_new (const dtx_participant_config_t *config, char *errbuf, size_t errlen);

void
    dtx_participant_destroy (dtx_participant_t **self_p);

//  Run until SIGINT/SIGTERM, or "$TERM" on pipe if not NULL.
int
    dtx_participant_run (dtx_participant_t *self, zsock_t *pipe);

//  SIGHUP: take the settings of config that can change while running
//  (marker_retention_s); the others are left as they are
void
    dtx_participant_reload (dtx_participant_t *self, const dtx_participant_config_t *config);

//  zactor body: args is a dtx_participant_config_t *.
void
    dtx_participant_actor (zsock_t *pipe, void *args);

//  The SQL that creates the one-phase marker table (the text of
//  sql/dtx-participant.sql).  Static string.
const char *
    dtx_participant_schema_sql (void);

//  Does sql begin, end or prepare a transaction (its first keyword, after
//  white space and comments)?  Returns the command's name ("COMMIT", "BEGIN",
//  "ROLLBACK PREPARED", ...) and its SQLSTATE (2D000 for those that end or
//  prepare, 25001 for BEGIN / START) in *sqlstate, or NULL if it is none of
//  those (ROLLBACK TO SAVEPOINT is none).  Static strings.
const char *
    dtx_participant_txn_control (const char *sql, const char **sqlstate);

#endif
