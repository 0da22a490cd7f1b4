/*  dtx-participant - fronts one PostgreSQL database: parse options, run the engine */
#include "dtx_participant.h"
#include "dtx_util.h"
#include <getopt.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
"usage: dtx-participant [--config FILE] --name NAME --conninfo CONNINFO [options]\n"
"  --config FILE           ZPL config file (sample: etc/dtx-participant.cfg); flags override it\n"
"  --name NAME             database name clients use\n"
"  --conninfo CONNINFO     libpq conninfo (or DTX_CONNINFO); no password here:\n"
"                          use PGPASSFILE or PGPASSWORD\n"
"  --coordinator ENDPOINT[,ENDPOINT...]\n"
"                          coordinators' participant endpoints, at most 8 (default\n"
"                          tcp://127.0.0.1:7101); it registers with each\n"
"  --pool-min N            connections opened at start (default 4)\n"
"  --pool-max N            most connections (default 200)\n"
"  --connect-window MS     keep trying the database this long at start (default 30000)\n"
"  --marker-retention S    keep one-phase commit markers (dtx.one_phase) this long, seconds\n"
"                          (default 604800, 7 days): the coordinator can learn the outcome of\n"
"                          a one-phase transaction this long after it\n"
"  --log-file FILE         log there instead of stderr; SIGHUP reopens it\n"
"  --metrics HOST:PORT     serve Prometheus metrics at http://HOST:PORT/metrics and\n"
"                          readiness at /health (off)\n"
"Security (CurveZMQ, on by default; docs/security.md):\n"
"  --curve-secret FILE     this participant's certificate with its secret key\n"
"                          (NAME_secret from 'dtxctl keygen NAME --databases NAME')\n"
"  --coordinator-key FILE[,FILE...]\n"
"                          the coordinator's public certificate: no other\n"
"                          coordinator gets a handshake; one for all coordinators,\n"
"                          or one per endpoint in the order of --coordinator\n"
"  --insecure              no CurveZMQ: takes orders from whatever answers\n");
}

//  Everything but the config's lifetime, which main keeps: the strings
//  applied are freed on every way out
static int
s_main (int argc, char *argv [], dtx_participant_config_t *config)
{
    config->coordinator_endpoint = "tcp://127.0.0.1:7101";
    config->conninfo = getenv ("DTX_CONNINFO");
    static struct option options [] = {
        { "config", required_argument, 0, 'f' },
        { "name", required_argument, 0, 'n' },
        { "conninfo", required_argument, 0, 'd' },
        { "coordinator", required_argument, 0, 'c' },
        { "pool-min", required_argument, 0, 'm' },
        { "pool-max", required_argument, 0, 'M' },
        { "connect-window", required_argument, 0, 'w' },
        { "marker-retention", required_argument, 0, 'r' },
        { "log-file", required_argument, 0, 'F' },
        { "curve-secret", required_argument, 0, 'S' },
        { "coordinator-key", required_argument, 0, 'K' },
        { "insecure", no_argument, 0, 'I' },
        { "metrics", required_argument, 0, 'E' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    int rc = dtx_options_parse (argc, argv, "f:n:d:c:m:M:w:r:F:S:K:IE:h", options, "participant",
                                dtx_participant_config_keys, dtx_participant_config_apply, config, "dtx-participant", s_usage);
    if (rc >= 0)
        return rc;
    char err [1024];
    if (!config->name || !config->conninfo || config->pool_max < 1 || config->pool_min < 0) {
        fprintf (stderr, "dtx-participant: --name and --conninfo are required, pool sizes positive\n");
        s_usage (stderr);
        return 2;
    }
    if (dtx_participant_config_check (config, err, sizeof err)) {
        fprintf (stderr, "dtx-participant: %s\n", err);
        return 2;
    }
    zsys_init ();
    zsys_set_logident ("dtx-participant");
    zsys_catch_interrupts ();
    if (dtx_logfile_open (config->log_file)) {
        fprintf (stderr, "%s: cannot open log file %s: %s\n", "dtx-participant", config->log_file, strerror (errno));
        return 2;
    }
    dtx_participant_t *participant = dtx_participant_new (config, err, sizeof err);
    if (!participant) {
        fprintf (stderr, "dtx-participant: %s\n", err);
        return 1;
    }
    dtx_participant_run (participant, NULL);
    dtx_participant_destroy (&participant);
    return 0;
}

int
main (int argc, char *argv [])
{
    dtx_participant_config_t config;
    dtx_participant_config_defaults (&config);
    int rc = s_main (argc, argv, &config);
    dtx_participant_config_free (&config);
    return rc;
}
