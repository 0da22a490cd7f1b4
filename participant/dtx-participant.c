/*  dtx-participant - fronts one PostgreSQL database: parse options, run the engine */
#include "dtx_participant.h"
#include <getopt.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
"usage: dtx-participant --name NAME --conninfo CONNINFO [options]\n"
"  --name NAME             database name clients use\n"
"  --conninfo CONNINFO     libpq conninfo (or DTX_CONNINFO); no password here:\n"
"                          use PGPASSFILE or PGPASSWORD\n"
"  --coordinator ENDPOINT  coordinator's participant endpoint (default tcp://127.0.0.1:7101)\n"
"  --pool-min N            connections opened at start (default 4)\n"
"  --pool-max N            most connections (default 200)\n"
"  --connect-window MS     keep trying the database this long at start (default 30000)\n");
}

int
main (int argc, char *argv [])
{
    dtx_participant_config_t config;
    dtx_participant_config_defaults (&config);
    config.coordinator_endpoint = "tcp://127.0.0.1:7101";
    config.conninfo = getenv ("DTX_CONNINFO");
    static struct option options [] = {
        { "name", required_argument, 0, 'n' },
        { "conninfo", required_argument, 0, 'd' },
        { "coordinator", required_argument, 0, 'c' },
        { "pool-min", required_argument, 0, 'm' },
        { "pool-max", required_argument, 0, 'M' },
        { "connect-window", required_argument, 0, 'w' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "n:d:c:m:M:w:h", options, NULL)) != -1) {
        switch (opt) {
            case 'n': config.name = optarg; break;
            case 'd': config.conninfo = optarg; break;
            case 'c': config.coordinator_endpoint = optarg; break;
            case 'm': config.pool_min = atoi (optarg); break;
            case 'M': config.pool_max = atoi (optarg); break;
            case 'w': config.connect_window_ms = atoi (optarg); break;
            case 'h': s_usage (stdout); return 0;
            default:  s_usage (stderr); return 2;
        }
    }
    if (!config.name || !config.conninfo || config.pool_max < 1 || config.pool_min < 0) {
        fprintf (stderr, "dtx-participant: --name and --conninfo are required, pool sizes positive\n");
        s_usage (stderr);
        return 2;
    }
    zsys_init ();
    zsys_set_logident ("dtx-participant");
    zsys_catch_interrupts ();
    char err [1024];
    dtx_participant_t *participant = dtx_participant_new (&config, err, sizeof err);
    if (!participant) {
        fprintf (stderr, "dtx-participant: %s\n", err);
        return 1;
    }
    dtx_participant_run (participant, NULL);
    dtx_participant_destroy (&participant);
    return 0;
}
