/*  =========================================================================
    coord_metrics - the Prometheus snapshot the metrics thread serves
    (dtx_metrics.c runs the HTTP side)
    =========================================================================
*/
#include "coord_classes.h"

dtx_metrics_t *
coord_metrics_new (const char *listen, char *errbuf, size_t errlen)
{
    dtx_metrics_t *metrics = dtx_metrics_new (listen, errbuf, errlen);
    if (!metrics)
        return NULL;
    //  In the order of dtx_metric_t (its values are the ids)
    static const struct {
        const char *name;
        const char *help;
        const char *labels;
        dtx_metrics_buckets_t buckets;
    } histograms [DTX_METRIC_HISTOGRAMS] = {
        { "dtx_phase_seconds", "Duration of each 2PC phase", "phase=\"prepare\"", DTX_METRICS_SECONDS },
        { "dtx_phase_seconds", NULL, "phase=\"commit\"", DTX_METRICS_SECONDS },
        { "dtx_phase_seconds", NULL, "phase=\"total\"", DTX_METRICS_SECONDS },
        { "dtx_log_fsync_seconds", "Decision log write + fdatasync latency", NULL, DTX_METRICS_SECONDS },
        { "dtx_log_fsync_batch_records", "Records made durable by one fdatasync (group commit)",
          NULL, DTX_METRICS_COUNTS },
    };
    for (int m = 0; m < DTX_METRIC_HISTOGRAMS; m++) {
        int id = dtx_metrics_histogram_add (metrics, histograms [m].name, histograms [m].help,
                                            histograms [m].labels, histograms [m].buckets);
        assert (id == m);
    }
    return metrics;
}

//  Render the metrics snapshot the HTTP thread serves
void
coord_metrics_publish (dtx_coordinator_t *self)
{
    size_t in_doubt = 0, connected = 0;
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        in_doubt += coord_txn_in_doubt (txn);
        txn = (txn_t *) zhashx_next (self->txns);
    }
    zchunk_t *out = zchunk_new (NULL, 8192);
    char *labels = zsys_sprintf ("shard=\"%s\",instance=\"%s\"", self->id, self->config.instance);
    dtx_metrics_build_info (out, "dtx's version, and this coordinator's shard and instance", labels);
    zstr_free (&labels);
    char *text = zsys_sprintf (
        "# HELP dtx_transactions_total Transactions ended, by outcome\n"
        "# TYPE dtx_transactions_total counter\n"
        "dtx_transactions_total{outcome=\"committed\"} %" PRIu64 "\n"
        "dtx_transactions_total{outcome=\"aborted\"} %" PRIu64 "\n"
        "# HELP dtx_transactions_live Transactions the coordinator holds now\n"
        "# TYPE dtx_transactions_live gauge\n"
        "dtx_transactions_live %zu\n"
        "# HELP dtx_transactions_in_doubt Decided, waiting for a participant's phase-2 ack\n"
        "# TYPE dtx_transactions_in_doubt gauge\n"
        "dtx_transactions_in_doubt %zu\n"
        "# HELP dtx_phase2_retries_total Phase-2 commands sent again after a failure\n"
        "# TYPE dtx_phase2_retries_total counter\n"
        "dtx_phase2_retries_total %" PRIu64 "\n"
        "# HELP dtx_log_bytes Size of the decision log\n"
        "# TYPE dtx_log_bytes gauge\n"
        "dtx_log_bytes %" PRIu64 "\n",
        self->committed, self->aborted,
        zhashx_size (self->txns), in_doubt, self->phase2_retries, dtx_log_size (self->log));
    zchunk_extend (out, text, strlen (text));
    zstr_free (&text);
    if (self->pg) {
        //  The PostgreSQL store (docs/ha.md); write latency is
        //  dtx_log_fsync_seconds
        text = zsys_sprintf (
            "# HELP dtx_store_epoch The shard's epoch this coordinator holds\n"
            "# TYPE dtx_store_epoch gauge\n"
            "dtx_store_epoch %" PRIu64 "\n"
            "# HELP dtx_store_lease_renewals_total Clean renewals of the shard's lease\n"
            "# TYPE dtx_store_lease_renewals_total counter\n"
            "dtx_store_lease_renewals_total %" PRIu64 "\n"
            "# HELP dtx_store_lease_age_seconds Since the last clean renewal was sent\n"
            "# TYPE dtx_store_lease_age_seconds gauge\n"
            "dtx_store_lease_age_seconds %.3f\n"
            "# HELP dtx_store_writes_total Decision writes, by result (unknown: written again)\n"
            "# TYPE dtx_store_writes_total counter\n"
            "dtx_store_writes_total{result=\"ok\"} %" PRIu64 "\n"
            "dtx_store_writes_total{result=\"unknown\"} %" PRIu64 "\n"
            "dtx_store_writes_total{result=\"error\"} %" PRIu64 "\n"
            "# HELP dtx_store_takeovers_total Shards this instance took from another instance's"
            " expired lease\n"
            "# TYPE dtx_store_takeovers_total counter\n"
            "dtx_store_takeovers_total %" PRIu64 "\n"
            "# HELP dtx_store_take_wait_seconds How long this instance waited for the shard's lease"
            " at start\n"
            "# TYPE dtx_store_take_wait_seconds gauge\n"
            "dtx_store_take_wait_seconds %.3f\n"
            "# HELP dtx_store_foreign_lookups_total Questions about other shards' gids read from"
            " the store\n"
            "# TYPE dtx_store_foreign_lookups_total counter\n"
            "dtx_store_foreign_lookups_total %" PRIu64 "\n",
            self->epoch, self->store_renewals, (dtx_clock_ms () - self->lease_sent) / 1000.0,
            self->store_writes [DTX_PGSTORE_OK], self->store_writes [DTX_PGSTORE_UNKNOWN],
            self->store_writes [DTX_PGSTORE_ERROR], self->store_takeovers,
            self->store_take_wait / 1000.0, self->store_foreign_lookups);
        zchunk_extend (out, text, strlen (text));
        zstr_free (&text);
    }
    zchunk_t *per = zchunk_new (NULL, 1024);
    text = strdup ("# HELP dtx_participant_connected Participant registered and heard recently\n"
                   "# TYPE dtx_participant_connected gauge\n");
    zchunk_extend (out, text, strlen (text));
    zstr_free (&text);
    text = strdup ("# HELP dtx_participant_prepared_transactions dtx prepared transactions in"
                   " the participant's database (its last scan)\n"
                   "# TYPE dtx_participant_prepared_transactions gauge\n");
    zchunk_extend (per, text, strlen (text));
    zstr_free (&text);
    participant_t *participant = (participant_t *) zhashx_first (self->participants);
    while (participant) {
        connected += participant->connected;
        text = zsys_sprintf ("dtx_participant_connected{participant=\"%s\"} %d\n",
                             participant->name, participant->connected? 1: 0);
        zchunk_extend (out, text, strlen (text));
        zstr_free (&text);
        if (participant->prepared != 0xFFFFFFFFu) {
            text = zsys_sprintf ("dtx_participant_prepared_transactions{participant=\"%s\"} %u\n",
                                 participant->name, participant->prepared);
            zchunk_extend (per, text, strlen (text));
            zstr_free (&text);
        }
        participant = (participant_t *) zhashx_next (self->participants);
    }
    zchunk_extend (out, zchunk_data (per), zchunk_size (per));
    zchunk_destroy (&per);
    text = zsys_sprintf ("# HELP dtx_participants_connected Participants connected\n"
                         "# TYPE dtx_participants_connected gauge\n"
                         "dtx_participants_connected %zu\n", connected);
    zchunk_extend (out, text, strlen (text));
    zstr_free (&text);
    static const char *reasons [COORD_REFUSED_COUNT] = {
        "txns_max", "client_txns_max", "timeout_range", "not_owner", "participants_max", "wrong_reply",
        "deferred_ahead", "foreign_lookups"
    };
    text = strdup ("# HELP dtx_refused_total Requests refused by a limit or a rule, by reason\n"
                   "# TYPE dtx_refused_total counter\n");
    zchunk_extend (out, text, strlen (text));
    zstr_free (&text);
    for (int i = 0; i < COORD_REFUSED_COUNT; i++) {
        text = zsys_sprintf ("dtx_refused_total{reason=\"%s\"} %" PRIu64 "\n", reasons [i],
                             self->refused [i]);
        zchunk_extend (out, text, strlen (text));
        zstr_free (&text);
    }
    text = zsys_sprintf ("# HELP dtx_dropped_frames_total Malformed frames dropped\n"
                         "# TYPE dtx_dropped_frames_total counter\n"
                         "dtx_dropped_frames_total %" PRIu64 "\n", self->dropped_frames);
    zchunk_extend (out, text, strlen (text));
    zstr_free (&text);
    //  The protocol's cost: messages and loop turns per transaction are
    //  these over dtx_transactions_total (docs/performance.md)
    uint64_t received, sent;
    dtx_proto_counts (&received, &sent);
    text = zsys_sprintf ("# HELP dtx_messages_total dtx protocol messages, by direction\n"
                         "# TYPE dtx_messages_total counter\n"
                         "dtx_messages_total{direction=\"in\"} %" PRIu64 "\n"
                         "dtx_messages_total{direction=\"out\"} %" PRIu64 "\n"
                         "# HELP dtx_loop_turns_total Turns of the event loop (wake-ups)\n"
                         "# TYPE dtx_loop_turns_total counter\n"
                         "dtx_loop_turns_total %" PRIu64 "\n", received, sent, self->loop_turns);
    zchunk_extend (out, text, strlen (text));
    zstr_free (&text);
    dtx_metrics_render (self->metrics, out);
    //  /health: ready, or why not
    const char *health = self->draining? "draining: shutting down, no new transactions"
                       : self->warm_until? "warming up: waiting for the participants of the last"
                                           " epoch to register"
                       : self->pg && self->store_retry_at? "the decision store does not answer"
                                           " cleanly: decisions wait"
                       : "";
    dtx_metrics_publish_chunk (self->metrics, out, health);
    zchunk_destroy (&out);
}
