/*  =========================================================================
    dtx_metrics - the coordinator's Prometheus metrics

    The event loop records into the metrics object (no locks on the hot
    path) and publishes a rendered text snapshot a few times a second; an
    HTTP server thread (libmicrohttpd, a well-kept server: no hand-written
    HTTP here) serves the latest snapshot at /metrics.
    =========================================================================
*/
#ifndef DTX_METRICS_H_INCLUDED
#define DTX_METRICS_H_INCLUDED

#include <czmq.h>

typedef struct _dtx_metrics_t dtx_metrics_t;

//  Histograms
typedef enum {
    DTX_METRIC_PREPARE,         //  PREPARE sent -> last vote (seconds)
    DTX_METRIC_COMMIT,          //  decision durable -> last phase-2 ack (seconds)
    DTX_METRIC_TOTAL,           //  BEGIN -> end (seconds)
    DTX_METRIC_FSYNC,           //  decision-log write + fdatasync (seconds)
    DTX_METRIC_BATCH,           //  records per decision-log fsync
    DTX_METRIC_HISTOGRAMS
} dtx_metric_t;

//  Start serving on address:port ("127.0.0.1:9187").  Returns NULL with
//  errbuf set if the address is bad or cannot be bound.  Caller owns it.
dtx_metrics_t *
    dtx_metrics_new (const char *listen, char *errbuf, size_t errlen);

void
    dtx_metrics_destroy (dtx_metrics_t **self_p);

void
    dtx_metrics_observe (dtx_metrics_t *self, dtx_metric_t metric, double value);

//  Render the histograms into text (appends); the caller adds gauges and
//  counters around them, then publishes.
void
    dtx_metrics_render (dtx_metrics_t *self, zchunk_t *out);

//  Make text the answer to the next scrapes of /metrics, and health that
//  of /health ("" or NULL: ready, 200; else the reason, 503; no publish
//  for 5 s: 503 "stalled").  Takes ownership of *text_p.
void
    dtx_metrics_publish (dtx_metrics_t *self, char **text_p, const char *health);

#endif
