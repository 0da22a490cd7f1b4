/*  dtx_participant_config - the participant's settings, from the config
    file or the command line (both go through
    dtx_participant_config_apply).  Outside main () so that the config fuzz
    target (fuzz/fuzz_config.c) runs the same code as the service.  */
#include "dtx_participant.h"
#include "dtx_util.h"

const char *const dtx_participant_config_keys [] = {
    "name", "conninfo", "coordinator", "pool-min", "pool-max", "connect-window", "marker-retention", "log-file",
    "curve-secret", "coordinator-key", "insecure", "metrics", "log-format", "log-level", NULL
};

//  A copy of value that the config owns until dtx_participant_config_free
static const char *
s_keep (dtx_participant_config_t *config, const char *value)
{
    return dtx_strings_keep (&config->strings, value);
}

int
dtx_participant_config_apply (void *arg, const char *key, const char *value)
{
    dtx_participant_config_t *config = (dtx_participant_config_t *) arg;
    long number;
    if (streq (key, "log-file")) config->log_file = s_keep (config, value);
    else if (streq (key, "log-format")) return dtx_logfmt_parse (value, &config->log_format);
    else if (streq (key, "log-level")) return dtx_loglevel_parse (value, &config->log_level);
    else if (streq (key, "name")) config->name = s_keep (config, value);
    else if (streq (key, "conninfo")) config->conninfo = s_keep (config, value);
    else if (streq (key, "coordinator")) config->coordinator_endpoint = s_keep (config, value);
    else if (streq (key, "curve-secret")) config->curve_secret = s_keep (config, value);
    else if (streq (key, "coordinator-key")) config->coordinator_key = s_keep (config, value);
    else if (streq (key, "metrics")) config->metrics_listen = s_keep (config, value);
    else if (streq (key, "insecure")) config->insecure = streq (value, "1") || streq (value, "true");
    else {
        //  (marker-retention: up to about 68 years, in seconds)
        if (dtx_parse_long (value, streq (key, "pool-min")? 0: 1,
                            streq (key, "marker-retention")? 2147483647L: 86400000L, &number))
            return -1;
        if (streq (key, "pool-min")) config->pool_min = (int) number;
        else if (streq (key, "pool-max")) config->pool_max = (int) number;
        else if (streq (key, "connect-window")) config->connect_window_ms = (int) number;
        else if (streq (key, "marker-retention")) config->marker_retention_s = (int) number;
        else return -1;
    }
    return 0;
}

void
dtx_participant_config_free (dtx_participant_config_t *config)
{
    zlist_destroy (&config->strings);
}
