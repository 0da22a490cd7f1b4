/*  dtx-coordinator - the coordinator service: parse options, run the engine */
#include "dtx_coordinator.h"
#include <getopt.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
"usage: dtx-coordinator --log-dir DIR [options]\n"
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
"  --verbose               log every transaction\n");
}

int
main (int argc, char *argv [])
{
    dtx_coordinator_config_t config;
    dtx_coordinator_config_defaults (&config);
    config.client_endpoint = "tcp://127.0.0.1:7100";
    config.participant_endpoint = "tcp://127.0.0.1:7101";
    bool verbose = false;
    static struct option options [] = {
        { "id", required_argument, 0, 'i' },
        { "clients", required_argument, 0, 'c' },
        { "participants", required_argument, 0, 'p' },
        { "log-dir", required_argument, 0, 'l' },
        { "txn-timeout", required_argument, 0, 't' },
        { "vote-timeout", required_argument, 0, 'v' },
        { "log-compact-bytes", required_argument, 0, 'L' },
        { "drain-timeout", required_argument, 0, 'D' },
        { "verbose", no_argument, 0, 'V' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "i:c:p:l:t:v:L:D:Vh", options, NULL)) != -1) {
        switch (opt) {
            case 'i': config.id = optarg; break;
            case 'c': config.client_endpoint = optarg; break;
            case 'p': config.participant_endpoint = optarg; break;
            case 'l': config.log_dir = optarg; break;
            case 't': config.txn_timeout_ms = atoi (optarg); break;
            case 'v': config.vote_timeout_ms = atoi (optarg); break;
            case 'L': config.log_compact_bytes = atol (optarg); break;
            case 'D': config.drain_ms = atoi (optarg); break;
            case 'V': verbose = true; break;
            case 'h': s_usage (stdout); return 0;
            default:  s_usage (stderr); return 2;
        }
    }
    if (!config.log_dir || config.txn_timeout_ms <= 0 || config.vote_timeout_ms <= 0
    ||  config.log_compact_bytes < 4096) {
        fprintf (stderr, "dtx-coordinator: %s\n", config.log_dir
                 ? "timeouts must be positive, --log-compact-bytes at least 4096"
                 : "--log-dir is required");
        s_usage (stderr);
        return 2;
    }
    zsys_init ();
    zsys_set_logident ("dtx-coordinator");
    zsys_catch_interrupts ();
    config.verbose = verbose;
    char err [1024];
    dtx_coordinator_t *coordinator = dtx_coordinator_new (&config, err, sizeof err);
    if (!coordinator) {
        fprintf (stderr, "dtx-coordinator: %s\n", err);
        return 1;
    }
    dtx_coordinator_run (coordinator, NULL);
    dtx_coordinator_destroy (&coordinator);
    return 0;
}
