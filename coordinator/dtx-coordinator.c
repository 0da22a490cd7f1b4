/*  dtx-coordinator - the coordinator service: parse options, run the engine */
#include "dtx_coordinator.h"
#include "dtx_util.h"
#include <getopt.h>
#include <sys/resource.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
"usage: dtx-coordinator [--config FILE] --log-dir DIR [options]\n"
"  --config FILE           ZPL config file (sample: etc/dtx-coordinator.cfg); flags override it\n"
"  --id ID                 coordinator id, part of every global id (default main)\n"
"  --clients ENDPOINT      client endpoint (default tcp://127.0.0.1:7100)\n"
"  --participants ENDPOINT participant endpoint (default tcp://127.0.0.1:7101)\n"
"  --log-dir DIR           directory of the decision log (must exist)\n"
"  --txn-timeout MS        default transaction timeout (default 60000)\n"
"  --vote-timeout MS       PREPARE to last vote (default 10000)\n"
"  --log-compact-bytes N   rewrite the decision log when it grows past N bytes\n"
"                          (default 67108864)\n"
"  --drain-timeout MS      on SIGTERM, wait this long for live transactions\n"
"                          (default 10000)\n"
"  --outcomes-max N        outcomes of finished transactions kept for questions\n"
"                          (default 200000; older ones answer UNKNOWN)\n"
"  --outcome-retention S   ... and for how many seconds (default 86400)\n"
"  --txns-max N            live transactions in all (default 100000) ...\n"
"  --client-txns-max N     ... and per client connection (default 1000); past\n"
"                          them BEGIN is refused (busy)\n"
"  --participants-max N    participant names known (default 256)\n"
"  --admin ENDPOINT        dtxctl's endpoint (default ipc://LOG-DIR/dtx-admin.sock,\n"
"                          owner-only; a tcp endpoint needs --operator-keys)\n"
"  --metrics HOST:PORT     serve Prometheus metrics at http://HOST:PORT/metrics (off)\n"
"  --log-file FILE         log there instead of stdout; SIGHUP reopens it\n"
"  --log-format FORMAT     text (default): 2026-11-30T00:31:05.123+00:00 I\n"
"                          dtx-coordinator[PID]: message; or json, one object a line\n"
"  --log-level LEVEL       error, warning, notice, info (default) or debug\n"
"  --verbose               log every transaction (and log-level debug)\n"
"  --version, --help\n"
"Security (CurveZMQ, on by default; docs/security.md):\n"
"  --curve-secret FILE     the coordinator's certificate with its secret key\n"
"                          (NAME_secret from 'dtxctl keygen NAME')\n"
"  --client-keys DIR       allowed client keys (public certificates)\n"
"  --participant-keys DIR  allowed participant keys (their 'databases' metadata\n"
"                          limits the names each may register)\n"
"  --operator-keys DIR     allowed operator keys, for a tcp --admin endpoint\n"
"  --insecure              no CurveZMQ: anyone who can reach a port is trusted\n"
"Decision store (docs/ha.md; default: the log in --log-dir):\n"
"  --store CONNINFO        keep decisions in PostgreSQL (sql/dtx-store.sql): this\n"
"                          coordinator holds shard ID by a lease; another one may\n"
"                          take it over when the lease runs out\n"
"  --instance NAME         this process among the coordinators (default ID@HOST)\n"
"  --lease MS              the shard's lease (default 5000)\n"
"  --store-timeout MS      longest wait for the store (default half the lease, at most\n"
"                          5000; more than half the lease is refused)\n"
"SIGHUP reopens the log file and reads the configuration again (the --config file,\n"
"then the flags over it): timeouts, limits, outcome retention, verbose, log-format,\n"
"log-level and the keys directories change at once; other keys are logged as\n"
"needing a restart; a file that cannot be used is logged and changes nothing\n"
"(docs/operations.md).\n");
}

static struct option s_options [] = {
    { "config", required_argument, 0, 'f' },
    { "id", required_argument, 0, 'i' },
    { "clients", required_argument, 0, 'c' },
    { "participants", required_argument, 0, 'p' },
    { "log-dir", required_argument, 0, 'l' },
    { "admin", required_argument, 0, 'a' },
    { "metrics", required_argument, 0, 'm' },
    { "txn-timeout", required_argument, 0, 't' },
    { "vote-timeout", required_argument, 0, 'v' },
    { "log-compact-bytes", required_argument, 0, 'L' },
    { "drain-timeout", required_argument, 0, 'D' },
    { "verbose", no_argument, 0, 'V' },
    { "log-file", required_argument, 0, 'F' },
    { "log-format", required_argument, 0, 'j' },
    { "log-level", required_argument, 0, 'y' },
    { "outcomes-max", required_argument, 0, 'O' },
    { "outcome-retention", required_argument, 0, 'R' },
    { "txns-max", required_argument, 0, 'X' },
    { "client-txns-max", required_argument, 0, 'C' },
    { "participants-max", required_argument, 0, 'N' },
    { "curve-secret", required_argument, 0, 'S' },
    { "client-keys", required_argument, 0, 'K' },
    { "participant-keys", required_argument, 0, 'P' },
    { "operator-keys", required_argument, 0, 'o' },
    { "insecure", no_argument, 0, 'I' },
    { "store", required_argument, 0, 's' },
    { "instance", required_argument, 0, 'n' },
    { "lease", required_argument, 0, 'e' },
    { "store-timeout", required_argument, 0, 'T' },
    { "help", no_argument, 0, 'h' },
    { 0, 0, 0, 0 }
};
#define SHORTOPTS "f:i:c:p:l:a:m:t:v:L:D:VF:j:y:O:R:X:C:N:S:K:P:o:Is:n:e:T:h"

//  What SIGHUP changes at once (dtx_coordinator_reload and the log); any
//  other key needs a restart
static const char *const s_live_keys [] = {
    "txn-timeout", "vote-timeout", "drain-timeout", "verbose", "log-format", "log-level",
    "client-keys", "participant-keys", "operator-keys", "outcomes-max", "outcome-retention",
    "txns-max", "client-txns-max", "participants-max", "log-compact-bytes", NULL
};

static void
s_defaults (dtx_coordinator_config_t *config)
{
    dtx_coordinator_config_defaults (config);
    config->client_endpoint = "tcp://127.0.0.1:7100";
    config->participant_endpoint = "tcp://127.0.0.1:7101";
}

//  --verbose logs every transaction at debug level
static char
s_log_level (const dtx_coordinator_config_t *config)
{
    return config->verbose? 'D': config->log_level? config->log_level: 'I';
}

//  SIGHUP's reload: the command line again, and what it read
typedef struct {
    int argc;
    char **argv;
    dtx_coordinator_t *coordinator;
    zhashx_t *values;                   //  key -> value in effect
} reload_t;

static void
s_reload (void *arg)
{
    reload_t *self = (reload_t *) arg;
    dtx_coordinator_config_t fresh;
    s_defaults (&fresh);
    dtx_config_seen_t seen = { dtx_coordinator_config_apply, &fresh, zhashx_new () };
    zhashx_set_destructor (seen.values, (zhashx_destructor_fn *) zstr_free);
    char err [1024];
    int rc = dtx_options_reload (self->argc, self->argv, SHORTOPTS, s_options, "coordinator",
                                 dtx_coordinator_config_keys, dtx_config_seen_apply, &seen,
                                 err, sizeof err);
    if (rc == 0 && !fresh.log_dir) {
        snprintf (err, sizeof err, "log-dir is not set");
        rc = -1;
    }
    if (rc == 0)
        rc = dtx_coordinator_config_check (&fresh, err, sizeof err);
    if (rc == 0)
        rc = dtx_coordinator_reload (self->coordinator, &fresh, err, sizeof err);
    if (rc)
        zsys_error ("SIGHUP: configuration not reloaded, the previous one stays in effect: %s", err);
    else {
        dtx_logging_set (fresh.log_format, s_log_level (&fresh));
        dtx_config_adopt (dtx_coordinator_config_keys, s_live_keys, &self->values, &seen.values);
    }
    zhashx_destroy (&seen.values);
    //  (the engine copied what it keeps)
    dtx_coordinator_config_free (&fresh);
}

//  Everything but the config's lifetime, which main keeps: the strings
//  applied are freed on every way out
static int
s_main (int argc, char *argv [], dtx_coordinator_config_t *config, reload_t *reload)
{
    s_defaults (config);
    dtx_config_seen_t seen = { dtx_coordinator_config_apply, config, reload->values };
    int rc = dtx_options_parse (argc, argv, SHORTOPTS, s_options, "coordinator",
                                dtx_coordinator_config_keys, dtx_config_seen_apply, &seen,
                                "dtx-coordinator", s_usage);
    if (rc >= 0)
        return rc;
    char err [1024];
    if (!config->log_dir) {
        fprintf (stderr, "dtx-coordinator: --log-dir (or log-dir in the config file) is required\n");
        s_usage (stderr);
        return 2;
    }
    if (dtx_coordinator_config_check (config, err, sizeof err)) {
        fprintf (stderr, "dtx-coordinator: %s\n", err);
        return 2;
    }
    //  Every client and participant connection is a file descriptor: the
    //  common soft limit of 1024 would let ~1000 idle connections lock
    //  everyone else out.  Take the hard limit.
    struct rlimit files;
    if (getrlimit (RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        setrlimit (RLIMIT_NOFILE, &files);
    }
    zsys_init ();
    if (dtx_logging_start ("dtx-coordinator", config->log_format, s_log_level (config))) {
        fprintf (stderr, "dtx-coordinator: cannot set up logging: %s\n", strerror (errno));
        return 2;
    }
    zsys_catch_interrupts ();
    if (dtx_logfile_open (config->log_file)) {
        fprintf (stderr, "%s: cannot open log file %s: %s\n", "dtx-coordinator", config->log_file, strerror (errno));
        return 2;
    }
    dtx_coordinator_t *coordinator = dtx_coordinator_new (config, err, sizeof err);
    if (!coordinator) {
        fprintf (stderr, "dtx-coordinator: %s\n", err);
        return 1;
    }
    reload->argc = argc;
    reload->argv = argv;
    reload->coordinator = coordinator;
    dtx_logfile_on_hangup (s_reload, reload);
    dtx_coordinator_run (coordinator, NULL);
    dtx_logfile_on_hangup (NULL, NULL);
    dtx_coordinator_destroy (&coordinator);
    return 0;
}

int
main (int argc, char *argv [])
{
    dtx_coordinator_config_t config;
    reload_t reload = { 0 };
    reload.values = zhashx_new ();
    zhashx_set_destructor (reload.values, (zhashx_destructor_fn *) zstr_free);
    int rc = s_main (argc, argv, &config, &reload);
    zhashx_destroy (&reload.values);
    dtx_coordinator_config_free (&config);
    return rc;
}
