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
"  --log-file FILE         log there instead of stdout; SIGHUP reopens it\n"
"  --metrics HOST:PORT     serve Prometheus metrics at http://HOST:PORT/metrics and\n"
"                          readiness at /health (off)\n"
"  --log-format FORMAT     text (default): 2026-11-30T00:31:05.123+00:00 I\n"
"                          dtx-participant[PID]: message; or json, one object a line\n"
"  --log-level LEVEL       error, warning, notice, info (default) or debug\n"
"Security (CurveZMQ, on by default; docs/security.md):\n"
"  --curve-secret FILE     this participant's certificate with its secret key\n"
"                          (NAME_secret from 'dtxctl keygen NAME --databases NAME')\n"
"  --coordinator-key FILE[,FILE...]\n"
"                          the coordinator's public certificate: no other\n"
"                          coordinator gets a handshake; one for all coordinators,\n"
"                          or one per endpoint in the order of --coordinator\n"
"  --insecure              no CurveZMQ: takes orders from whatever answers\n"
"SIGHUP reopens the log file and reads the configuration again (the --config file,\n"
"then the flags over it): log-format, log-level and marker-retention change at once;\n"
"other keys are logged as needing a restart; a file that cannot be used is logged\n"
"and changes nothing (docs/operations.md).\n");
}

static struct option s_options [] = {
    { "config", required_argument, 0, 'f' },
    { "name", required_argument, 0, 'n' },
    { "conninfo", required_argument, 0, 'd' },
    { "coordinator", required_argument, 0, 'c' },
    { "pool-min", required_argument, 0, 'm' },
    { "pool-max", required_argument, 0, 'M' },
    { "connect-window", required_argument, 0, 'w' },
    { "marker-retention", required_argument, 0, 'r' },
    { "log-file", required_argument, 0, 'F' },
    { "log-format", required_argument, 0, 'j' },
    { "log-level", required_argument, 0, 'y' },
    { "curve-secret", required_argument, 0, 'S' },
    { "coordinator-key", required_argument, 0, 'K' },
    { "insecure", no_argument, 0, 'I' },
    { "metrics", required_argument, 0, 'E' },
    { "help", no_argument, 0, 'h' },
    { 0, 0, 0, 0 }
};
#define SHORTOPTS "f:n:d:c:m:M:w:r:F:j:y:S:K:IE:h"

//  What SIGHUP changes at once; any other key needs a restart
static const char *const s_live_keys [] = {
    "log-format", "log-level", "marker-retention", NULL
};

static void
s_defaults (dtx_participant_config_t *config)
{
    dtx_participant_config_defaults (config);
    config->coordinator_endpoint = "tcp://127.0.0.1:7101";
    config->conninfo = getenv ("DTX_CONNINFO");
}

static char
s_log_level (const dtx_participant_config_t *config)
{
    return config->log_level? config->log_level: 'I';
}

//  SIGHUP's reload: the command line again, and what it read
typedef struct {
    int argc;
    char **argv;
    dtx_participant_t *participant;
    zhashx_t *values;                   //  key -> value in effect
} reload_t;

static void
s_reload (void *arg)
{
    reload_t *self = (reload_t *) arg;
    dtx_participant_config_t fresh;
    s_defaults (&fresh);
    dtx_config_seen_t seen = { dtx_participant_config_apply, &fresh, zhashx_new () };
    zhashx_set_destructor (seen.values, (zhashx_destructor_fn *) zstr_free);
    char err [1024];
    int rc = dtx_options_reload (self->argc, self->argv, SHORTOPTS, s_options, "participant",
                                 dtx_participant_config_keys, dtx_config_seen_apply, &seen,
                                 err, sizeof err);
    if (rc == 0 && (!fresh.name || !fresh.conninfo || fresh.pool_max < 1)) {
        snprintf (err, sizeof err, "name and conninfo are required, pool sizes positive");
        rc = -1;
    }
    if (rc == 0)
        rc = dtx_participant_config_check (&fresh, err, sizeof err);
    if (rc)
        zsys_error ("SIGHUP: configuration not reloaded, the previous one stays in effect: %s", err);
    else {
        dtx_participant_reload (self->participant, &fresh);
        dtx_logging_set (fresh.log_format, s_log_level (&fresh));
        dtx_config_adopt (dtx_participant_config_keys, s_live_keys, &self->values, &seen.values);
    }
    zhashx_destroy (&seen.values);
    dtx_participant_config_free (&fresh);
}

//  Everything but the config's lifetime, which main keeps: the strings
//  applied are freed on every way out
static int
s_main (int argc, char *argv [], dtx_participant_config_t *config, reload_t *reload)
{
    s_defaults (config);
    dtx_config_seen_t seen = { dtx_participant_config_apply, config, reload->values };
    int rc = dtx_options_parse (argc, argv, SHORTOPTS, s_options, "participant",
                                dtx_participant_config_keys, dtx_config_seen_apply, &seen,
                                "dtx-participant", s_usage);
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
    if (dtx_logging_start ("dtx-participant", config->log_format, s_log_level (config))) {
        fprintf (stderr, "dtx-participant: cannot set up logging: %s\n", strerror (errno));
        return 2;
    }
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
    reload->argc = argc;
    reload->argv = argv;
    reload->participant = participant;
    dtx_logfile_on_hangup (s_reload, reload);
    dtx_participant_run (participant, NULL);
    dtx_logfile_on_hangup (NULL, NULL);
    dtx_participant_destroy (&participant);
    return 0;
}

int
main (int argc, char *argv [])
{
    dtx_participant_config_t config;
    reload_t reload = { 0 };
    reload.values = zhashx_new ();
    zhashx_set_destructor (reload.values, (zhashx_destructor_fn *) zstr_free);
    int rc = s_main (argc, argv, &config, &reload);
    zhashx_destroy (&reload.values);
    dtx_participant_config_free (&config);
    return rc;
}
