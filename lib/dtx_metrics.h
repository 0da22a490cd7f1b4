/*  =========================================================================
    dtx_metrics - a process's Prometheus endpoint (/metrics, /health)

    Shared by the coordinator and the participant (a convenience library
    of its own, lib/libdtxmetrics.la: libdtx.so, which clients link, does
    not carry libmicrohttpd).

    The event loop records into the metrics object (no locks on the hot
    path) and publishes a rendered text snapshot a few times a second; an
    HTTP server thread (libmicrohttpd, a well-kept server: no hand-written
    HTTP here) serves the latest snapshot at /metrics, and /health: 200
    "ready", or 503 with the reason the loop gave (or "starting" before
    its first snapshot, "stalled" when it has not published for 10 s).

    Histograms are registered with the object and kept in it; counters
    and gauges live in the process's own state and are rendered into the
    snapshot with dtx_metrics_header / dtx_metrics_add.
    =========================================================================
*/
#ifndef DTX_METRICS_H_INCLUDED
#define DTX_METRICS_H_INCLUDED

#include <czmq.h>

typedef struct _dtx_metrics_t dtx_metrics_t;

//  Bucket bounds of a histogram
typedef enum {
    DTX_METRICS_SECONDS,        //  0.5 ms .. 30 s
    DTX_METRICS_COUNTS          //  1 .. 16384, powers of two
} dtx_metrics_buckets_t;

//  Most histograms one object keeps
#define DTX_METRICS_HISTOGRAMS_MAX 32

//  Start serving on address:port ("127.0.0.1:9187").  Returns NULL with
//  errbuf set if the address is bad or cannot be bound.  Caller owns it.
dtx_metrics_t *
    dtx_metrics_new (const char *listen, char *errbuf, size_t errlen);

void
    dtx_metrics_destroy (dtx_metrics_t **self_p);

//  Register a histogram: name, its help (said once per name: histograms
//  of one name registered one after another are one family), its labels
//  ('kind="x",db="y"', or NULL), its buckets.  Returns its id for
//  dtx_metrics_observe: ids are given in order from 0.  Name, help and
//  labels are copied.  Asserts fewer than DTX_METRICS_HISTOGRAMS_MAX.
int
    dtx_metrics_histogram_add (dtx_metrics_t *self, const char *name, const char *help,
                               const char *labels, dtx_metrics_buckets_t buckets);

//  Count value in histogram id.  A NULL self (metrics off) does nothing.
void
    dtx_metrics_observe (dtx_metrics_t *self, int histogram, double value);

//  Render the histograms into text (appends), in the order registered
void
    dtx_metrics_render (dtx_metrics_t *self, zchunk_t *out);

//  Append "# HELP name help" and "# TYPE name type" (type: "counter",
//  "gauge")
void
    dtx_metrics_header (zchunk_t *out, const char *name, const char *type, const char *help);

//  Append printf-formatted text (a sample line, "name{labels} value\n")
void
    dtx_metrics_add (zchunk_t *out, const char *format, ...) CHECK_PRINTF (2);

//  Append dtx_build_info with help, dtx's version and labels (appended
//  after version=, e.g. 'db="orders"'; NULL for none)
void
    dtx_metrics_build_info (zchunk_t *out, const char *help, const char *labels);

//  Make out's text the answer to the next scrapes of /metrics, and health
//  that of /health ("" or NULL: ready, 200; else the reason, 503; no
//  publish for 10 s: 503 "stalled").  Does not take out.
void
    dtx_metrics_publish_chunk (dtx_metrics_t *self, zchunk_t *out, const char *health);

//  The same with a string.  Takes ownership of *text_p.
void
    dtx_metrics_publish (dtx_metrics_t *self, char **text_p, const char *health);

#endif
