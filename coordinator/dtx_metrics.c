/*  dtx_metrics - the coordinator's Prometheus metrics (see dtx_metrics.h) */
#include "dtx_metrics.h"
#include <microhttpd.h>
#include <arpa/inet.h>
#include <pthread.h>

#define BUCKETS 15
#define CONNECTIONS_MAX 64          //  scrapes served at once; more are closed at accept
#define CONNECTION_TIMEOUT_S 10     //  an idle connection is closed after this

static const double s_time_buckets [BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
};
static const double s_count_buckets [BUCKETS] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384
};

static const struct {
    const char *name;
    const char *help;
    const char *label;          //  extra label, or NULL
    bool counts;                //  count buckets, not seconds
} s_histograms [DTX_METRIC_HISTOGRAMS] = {
    { "dtx_phase_seconds", "Duration of each 2PC phase", "phase=\"prepare\"", false },
    { "dtx_phase_seconds", NULL, "phase=\"commit\"", false },
    { "dtx_phase_seconds", NULL, "phase=\"total\"", false },
    { "dtx_log_fsync_seconds", "Decision log write + fdatasync latency", NULL, false },
    { "dtx_log_fsync_batch_records", "Records made durable by one fdatasync (group commit)", NULL, true },
};

typedef struct {
    uint64_t buckets [BUCKETS];     //  non-cumulative
    uint64_t count;
    double sum;
} histogram_t;

#define HEALTH_STALE_MS 10000        //  the loop has not published for this long: stalled
                                    //  (a store call may block it up to 5 s)

struct _dtx_metrics_t {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    char *snapshot;                 //  under lock
    char health [256];              //  under lock: "" ready, else why not
    int64_t published;              //  under lock: when the loop last published
    histogram_t histograms [DTX_METRIC_HISTOGRAMS];
};

static enum MHD_Result
s_answer (void *cls, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    dtx_metrics_t *self = (dtx_metrics_t *) cls;
    if (strcmp (method, "GET"))
        return MHD_NO;
    bool found = streq (url, "/metrics");
    unsigned int status = found? MHD_HTTP_OK: MHD_HTTP_NOT_FOUND;
    char *body = NULL;
    pthread_mutex_lock (&self->lock);
    if (streq (url, "/health")) {
        //  Ready: 200 "ready"; else 503 with the reason (for load
        //  balancers and supervisors: warming up, draining, the decision
        //  store not answering, the loop stalled)
        int64_t age = zclock_mono () - self->published;
        if (!self->published)
            body = strdup ("starting\n");
        else
        if (age > HEALTH_STALE_MS)
            body = zsys_sprintf ("stalled: the event loop has not reported for %" PRId64 " ms\n", age);
        else
        if (*self->health)
            body = zsys_sprintf ("%s\n", self->health);
        else
            body = strdup ("ready\n");
        status = streq (body, "ready\n")? MHD_HTTP_OK: MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    else
        body = strdup (found? (self->snapshot? self->snapshot: ""): "see /metrics or /health\n");
    pthread_mutex_unlock (&self->lock);
    struct MHD_Response *response = MHD_create_response_from_buffer (strlen (body), body,
                                                                     MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, "Content-Type", "text/plain; version=0.0.4");
    enum MHD_Result rc = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return rc;
}

//  libmicrohttpd's own messages go to the log, with a level, not raw to
//  stderr
static void
s_mhd_log (void *cls, const char *format, va_list args)
{
    char text [512];
    vsnprintf (text, sizeof text, format, args);
    size_t len = strlen (text);
    while (len && (text [len - 1] == '\n' || text [len - 1] == '\r'))
        text [--len] = 0;
    zsys_warning ("metrics endpoint: %s", text);
}

dtx_metrics_t *
dtx_metrics_new (const char *listen, char *errbuf, size_t errlen)
{
    char host [64];
    int port = 0;
    const char *colon = strrchr (listen, ':');
    if (!colon || colon - listen >= (long) sizeof host || (port = atoi (colon + 1)) <= 0 || port > 65535) {
        snprintf (errbuf, errlen, "metrics address '%s' is not HOST:PORT", listen);
        return NULL;
    }
    memcpy (host, listen, colon - listen);
    host [colon - listen] = 0;
    struct sockaddr_in address;
    memset (&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons (port);
    if (inet_pton (AF_INET, host, &address.sin_addr) != 1) {
        snprintf (errbuf, errlen, "metrics address '%s': '%s' is not an IPv4 address", listen, host);
        return NULL;
    }
    dtx_metrics_t *self = (dtx_metrics_t *) calloc (1, sizeof (dtx_metrics_t));
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    //  poll(), not select(): the coordinator holds a descriptor per client
    //  and participant connection, and select() cannot take one above
    //  FD_SETSIZE (1024): past that many connections a select()-based
    //  server closes every scrape at accept
    self->daemon = MHD_start_daemon (MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
                                     0, NULL, NULL, s_answer, self,
                                     MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &address,
                                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) CONNECTION_TIMEOUT_S,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned int) CONNECTIONS_MAX,
                                     MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL,
                                     MHD_OPTION_END);
    if (!self->daemon) {
        snprintf (errbuf, errlen, "cannot serve metrics on %s (address in use?)", listen);
        dtx_metrics_destroy (&self);
        return NULL;
    }
    return self;
}

void
dtx_metrics_destroy (dtx_metrics_t **self_p)
{
    dtx_metrics_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    pthread_mutex_destroy (&self->lock);
    free (self->snapshot);
    free (self);
    *self_p = NULL;
}

void
dtx_metrics_observe (dtx_metrics_t *self, dtx_metric_t metric, double value)
{
    if (!self)
        return;
    histogram_t *histogram = &self->histograms [metric];
    const double *bounds = s_histograms [metric].counts? s_count_buckets: s_time_buckets;
    int bucket = 0;
    while (bucket < BUCKETS - 1 && value > bounds [bucket])
        bucket++;
    if (value > bounds [BUCKETS - 1])
        bucket = BUCKETS;       //  only in +Inf
    if (bucket < BUCKETS)
        histogram->buckets [bucket]++;
    histogram->count++;
    histogram->sum += value;
}

static void
s_add (zchunk_t *out, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = zsys_vprintf (format, args);
    va_end (args);
    zchunk_extend (out, text, strlen (text));
    zstr_free (&text);
}

void
dtx_metrics_render (dtx_metrics_t *self, zchunk_t *out)
{
    for (int m = 0; m < DTX_METRIC_HISTOGRAMS; m++) {
        const char *name = s_histograms [m].name;
        const char *label = s_histograms [m].label;
        if (s_histograms [m].help)
            s_add (out, "# HELP %s %s\n# TYPE %s histogram\n", name, s_histograms [m].help, name);
        const double *bounds = s_histograms [m].counts? s_count_buckets: s_time_buckets;
        histogram_t *histogram = &self->histograms [m];
        uint64_t cumulative = 0;
        for (int b = 0; b < BUCKETS; b++) {
            cumulative += histogram->buckets [b];
            s_add (out, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, label? label: "",
                   label? ",": "", bounds [b], cumulative);
        }
        s_add (out, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, label? label: "",
               label? ",": "", histogram->count);
        s_add (out, "%s_sum%s%s%s %.6f\n", name, label? "{": "", label? label: "", label? "}": "",
               histogram->sum);
        s_add (out, "%s_count%s%s%s %" PRIu64 "\n", name, label? "{": "", label? label: "",
               label? "}": "", histogram->count);
    }
}

void
dtx_metrics_publish (dtx_metrics_t *self, char **text_p, const char *health)
{
    pthread_mutex_lock (&self->lock);
    free (self->snapshot);
    self->snapshot = *text_p;
    *text_p = NULL;
    snprintf (self->health, sizeof self->health, "%s", health? health: "");
    self->published = zclock_mono ();
    pthread_mutex_unlock (&self->lock);
}
