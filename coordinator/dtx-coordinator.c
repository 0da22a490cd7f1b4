/*  dtx-coordinator - the coordinator service: parse options, run the engine */
#include "dtx_coordinator.h"
#include "dtx_util.h"
#include <getopt.h>
#include <sys/resource.h>

static const char *s_logfile;

static const char *s_keys [] = {
    "id", "clients", "participants", "log-dir", "admin", "txn-timeout", "vote-timeout",
    "drain-timeout", "log-compact-bytes", "verbose", "metrics", "log-file", "outcomes-max",
    "outcome-retention", "txns-max", "client-txns-max", "participants-max", "curve-secret",
    "client-keys", "participant-keys", "operator-keys", "insecure", NULL
};

//  One key, from the config file or the command line
static int
s_apply (void *arg, const char *key, const char *value)
{
    dtx_coordinator_config_t *config = (dtx_coordinator_config_t *) arg;
    long number;
    if (streq (key, "log-file")) s_logfile = strdup (value);
    else if (streq (key, "id")) config->id = strdup (value);
    else if (streq (key, "clients")) config->client_endpoint = strdup (value);
    else if (streq (key, "participants")) config->participant_endpoint = strdup (value);
    else if (streq (key, "log-dir")) config->log_dir = strdup (value);
    else if (streq (key, "admin")) config->admin_endpoint = strdup (value);
    else if (streq (key, "metrics")) config->metrics_listen = strdup (value);
    else if (streq (key, "verbose")) config->verbose = streq (value, "1") || streq (value, "true");
    else if (streq (key, "insecure")) config->insecure = streq (value, "1") || streq (value, "true");
    else if (streq (key, "curve-secret")) config->curve_secret = strdup (value);
    else if (streq (key, "client-keys")) config->client_keys = strdup (value);
    else if (streq (key, "participant-keys")) config->participant_keys = strdup (value);
    else if (streq (key, "operator-keys")) config->operator_keys = strdup (value);
    else {
        long max = streq (key, "log-compact-bytes")? (1L << 40)
                 : streq (key, "outcomes-max")? 100000000L
                 : streq (key, "outcome-retention")? 3650L * 86400
                 : streq (key, "txns-max") || streq (key, "client-txns-max")? 10000000L
                 : streq (key, "participants-max")? 65536L: 86400000L;
        if (dtx_parse_long (value, 1, max, &number))
            return -1;
        if (streq (key, "txn-timeout")) config->txn_timeout_ms = (int) number;
        else if (streq (key, "vote-timeout")) config->vote_timeout_ms = (int) number;
        else if (streq (key, "drain-timeout")) config->drain_ms = (int) number;
        else if (streq (key, "outcomes-max")) config->outcomes_max = (int) number;
        else if (streq (key, "txns-max")) config->txns_max = (int) number;
        else if (streq (key, "client-txns-max")) config->client_txns_max = (int) number;
        else if (streq (key, "participants-max")) config->participants_max = (int) number;
        else if (streq (key, "outcome-retention")) config->outcome_retention_ms = number * 1000;
        else if (streq (key, "log-compact-bytes")) {
            if (number < 4096)
                return -1;
            config->log_compact_bytes = number;
        }
        else return -1;
    }
    return 0;
}

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
"  --metrics HOST:PORT     serve Prometheus metrics at http://HOST:PORT/metrics (off)\n"
"  --log-file FILE         log there instead of stderr; SIGHUP reopens it\n"
"  --verbose               log every transaction\n"
"Security (CurveZMQ, on by default; docs/security.md):\n"
"  --curve-secret FILE     the coordinator's certificate with its secret key\n"
"                          (NAME_secret from 'dtxctl keygen NAME')\n"
"  --client-keys DIR       allowed client keys (public certificates)\n"
"  --participant-keys DIR  allowed participant keys (their 'databases' metadata\n"
"                          limits the names each may register)\n"
"  --operator-keys DIR     allowed operator keys, for a tcp --admin endpoint\n"
"  --insecure              no CurveZMQ: anyone who can reach a port is trusted\n");
}

int
main (int argc, char *argv [])
{
    dtx_coordinator_config_t config;
    dtx_coordinator_config_defaults (&config);
    config.client_endpoint = "tcp://127.0.0.1:7100";
    config.participant_endpoint = "tcp://127.0.0.1:7101";
    static struct option options [] = {
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
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    int rc = dtx_options_parse (argc, argv, "f:i:c:p:l:a:m:t:v:L:D:VF:O:R:X:C:N:S:K:P:o:Ih", options, "coordinator",
                                s_keys, s_apply, &config, "dtx-coordinator", s_usage);
    if (rc >= 0)
        return rc;
    char err [1024];
    if (!config.log_dir) {
        fprintf (stderr, "dtx-coordinator: --log-dir (or log-dir in the config file) is required\n");
        s_usage (stderr);
        return 2;
    }
    if (dtx_coordinator_config_check (&config, err, sizeof err)) {
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
    zsys_set_logident ("dtx-coordinator");
    zsys_catch_interrupts ();
    if (dtx_logfile_open (s_logfile)) {
        fprintf (stderr, "%s: cannot open log file %s: %s\n", "dtx-coordinator", s_logfile, strerror (errno));
        return 2;
    }
    dtx_coordinator_t *coordinator = dtx_coordinator_new (&config, err, sizeof err);
    if (!coordinator) {
        fprintf (stderr, "dtx-coordinator: %s\n", err);
        return 1;
    }
    dtx_coordinator_run (coordinator, NULL);
    dtx_coordinator_destroy (&coordinator);
    return 0;
}
