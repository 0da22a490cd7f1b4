/*  dtx_metrics - a process's Prometheus endpoint (see dtx_metrics.h) */
#include "dtx_metrics.h"
#include "dtx_util.h"
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

typedef struct {
    char *name;
    char *help;                     //  NULL: said by the one before (same name)
    char *labels;                   //  or NULL
    bool counts;                    //  count buckets, not seconds
    uint64_t buckets [BUCKETS];     //  non-cumulative
    uint64_t count;
    double sum;
} histogram_t;

#define HEALTH_STALE_MS 10000        //  the loop has not published for this long: stalled
                                    //  (a coordinator's store call may block it up to
                                    //  5 s, a participant's connect up to 10 s)

struct _dtx_metrics_t {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    char *snapshot;                 //  under lock
    char health [512];              //  under lock: "" ready, else why not
    int64_t published;              //  under lock: when the loop last published
    //  Written and read by the loop only (rendered into the snapshot)
    histogram_t histograms [DTX_METRICS_HISTOGRAMS_MAX];
    int nhistograms;
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
    for (int h = 0; h < self->nhistograms; h++) {
        free (self->histograms [h].name);
        free (self->histograms [h].help);
        free (self->histograms [h].labels);
    }
    free (self);
    *self_p = NULL;
}

int
dtx_metrics_histogram_add (dtx_metrics_t *self, const char *name, const char *help,
                           const char *labels, dtx_metrics_buckets_t buckets)
{
    assert (self->nhistograms < DTX_METRICS_HISTOGRAMS_MAX);
    histogram_t *histogram = &self->histograms [self->nhistograms];
    histogram->name = strdup (name);
    //  Said once for a family: histograms of one name follow each other
    bool follows = self->nhistograms > 0
                && streq (self->histograms [self->nhistograms - 1].name, name);
    histogram->help = help && !follows? strdup (help): NULL;
    histogram->labels = labels && *labels? strdup (labels): NULL;
    histogram->counts = buckets == DTX_METRICS_COUNTS;
    return self->nhistograms++;
}

void
dtx_metrics_observe (dtx_metrics_t *self, int metric, double value)
{
    if (!self || metric < 0 || metric >= self->nhistograms)
        return;
    histogram_t *histogram = &self->histograms [metric];
    const double *bounds = histogram->counts? s_count_buckets: s_time_buckets;
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

void
dtx_metrics_add (zchunk_t *out, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = zsys_vprintf (format, args);
    va_end (args);
    zchunk_extend (out, text, strlen (text));
    zstr_free (&text);
}

void
dtx_metrics_header (zchunk_t *out, const char *name, const char *type, const char *help)
{
    dtx_metrics_add (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
dtx_metrics_build_info (zchunk_t *out, const char *help, const char *labels)
{
    dtx_metrics_header (out, "dtx_build_info", "gauge", help);
    dtx_metrics_add (out, "dtx_build_info{version=\"%s\"%s%s} 1\n", dtx_version (),
                     labels && *labels? ",": "", labels && *labels? labels: "");
}

void
dtx_metrics_render (dtx_metrics_t *self, zchunk_t *out)
{
    for (int m = 0; m < self->nhistograms; m++) {
        histogram_t *histogram = &self->histograms [m];
        const char *name = histogram->name;
        const char *label = histogram->labels;
        if (histogram->help)
            dtx_metrics_add (out, "# HELP %s %s\n# TYPE %s histogram\n", name, histogram->help, name);
        const double *bounds = histogram->counts? s_count_buckets: s_time_buckets;
        uint64_t cumulative = 0;
        for (int b = 0; b < BUCKETS; b++) {
            cumulative += histogram->buckets [b];
            dtx_metrics_add (out, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, label? label: "",
                             label? ",": "", bounds [b], cumulative);
        }
        dtx_metrics_add (out, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, label? label: "",
                         label? ",": "", histogram->count);
        dtx_metrics_add (out, "%s_sum%s%s%s %.6f\n", name, label? "{": "", label? label: "",
                         label? "}": "", histogram->sum);
        dtx_metrics_add (out, "%s_count%s%s%s %" PRIu64 "\n", name, label? "{": "", label? label: "",
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

void
dtx_metrics_publish_chunk (dtx_metrics_t *self, zchunk_t *out, const char *health)
{
    char *text = (char *) malloc (zchunk_size (out) + 1);
    assert (text);
    memcpy (text, zchunk_data (out), zchunk_size (out));
    text [zchunk_size (out)] = 0;
    dtx_metrics_publish (self, &text, health);
}
