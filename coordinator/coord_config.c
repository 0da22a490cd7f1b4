/*  coord_config - the coordinator's settings, from the config file or the
    command line (both go through dtx_coordinator_config_apply).  Outside
    main () so that the config fuzz target (fuzz/fuzz_config.c) runs the
    same code as the service.  */
#include "dtx_coordinator.h"
#include "dtx_util.h"

const char *const dtx_coordinator_config_keys [] = {
    "id", "clients", "participants", "log-dir", "admin", "txn-timeout", "vote-timeout",
    "drain-timeout", "log-compact-bytes", "verbose", "metrics", "log-file", "outcomes-max",
    "outcome-retention", "txns-max", "client-txns-max", "participants-max", "curve-secret",
    "client-keys", "participant-keys", "operator-keys", "insecure", "store", "instance", "lease",
    "store-timeout", "log-format", "log-level", NULL
};

//  A copy of value that the config owns (a key given twice, in the file
//  and as a flag, keeps both copies until dtx_coordinator_config_free)
static const char *
s_keep (dtx_coordinator_config_t *config, const char *value)
{
    return dtx_strings_keep (&config->strings, value);
}

int
dtx_coordinator_config_apply (void *arg, const char *key, const char *value)
{
    dtx_coordinator_config_t *config = (dtx_coordinator_config_t *) arg;
    long number;
    if (streq (key, "log-file")) config->log_file = s_keep (config, value);
    else if (streq (key, "log-format")) return dtx_logfmt_parse (value, &config->log_format);
    else if (streq (key, "log-level")) return dtx_loglevel_parse (value, &config->log_level);
    else if (streq (key, "id")) config->id = s_keep (config, value);
    else if (streq (key, "clients")) config->client_endpoint = s_keep (config, value);
    else if (streq (key, "participants")) config->participant_endpoint = s_keep (config, value);
    else if (streq (key, "log-dir")) config->log_dir = s_keep (config, value);
    else if (streq (key, "admin")) config->admin_endpoint = s_keep (config, value);
    else if (streq (key, "metrics")) config->metrics_listen = s_keep (config, value);
    else if (streq (key, "verbose")) config->verbose = streq (value, "1") || streq (value, "true");
    else if (streq (key, "insecure")) config->insecure = streq (value, "1") || streq (value, "true");
    else if (streq (key, "curve-secret")) config->curve_secret = s_keep (config, value);
    else if (streq (key, "client-keys")) config->client_keys = s_keep (config, value);
    else if (streq (key, "participant-keys")) config->participant_keys = s_keep (config, value);
    else if (streq (key, "operator-keys")) config->operator_keys = s_keep (config, value);
    else if (streq (key, "store")) config->store_conninfo = *value? s_keep (config, value): NULL;
    else if (streq (key, "instance")) {
        char err [128];
        if (dtx_name_validate ("instance", value, err, sizeof err))
            return -1;
        config->instance = s_keep (config, value);
    }
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
        else if (streq (key, "lease")) {
            if (number < 300)
                return -1;
            config->lease_ms = (int) number;
        }
        else if (streq (key, "store-timeout")) config->store_timeout_ms = (int) number;
        else if (streq (key, "log-compact-bytes")) {
            if (number < 4096)
                return -1;
            config->log_compact_bytes = number;
        }
        else return -1;
    }
    return 0;
}

void
dtx_coordinator_config_free (dtx_coordinator_config_t *config)
{
    zlist_destroy (&config->strings);
}
