/*  =========================================================================
    coord_admin - what dtxctl asks (docs/operations.md), on the admin
    endpoint.  Replies are a human table, or JSON when the ADMIN flags say
    so.

    NOTES

    resolve GID commit|abort records an operator's decision (HEURISTIC)
    and makes it durable through the same flush as the group commit
    (coord_decisions_flush), so COMMIT records buffered in this turn are
    not left behind.  It is refused when it contradicts what is decided:
    a durable COMMIT (or one being written: LOGGING), an abort, or
    presumed abort (a gid with no COMMIT record).  A crash after the
    record is durable replays it as the gid's outcome.
    =========================================================================
*/
#include "coord_classes.h"
#include <stdarg.h>

typedef struct {
    char *data;
    size_t used, size;
} text_t;

static void
s_text_add (text_t *text, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *piece = zsys_vprintf (format, args);
    va_end (args);
    size_t len = strlen (piece);
    if (text->used + len + 1 > text->size) {
        text->size = (text->used + len + 1) * 2;
        text->data = (char *) realloc (text->data, text->size);
        assert (text->data);
    }
    memcpy (text->data + text->used, piece, len + 1);
    text->used += len;
    zstr_free (&piece);
}

static void
s_admin_txn (dtx_coordinator_t *self, text_t *out, txn_t *txn, bool json, int64_t now)
{
    if (json) {
        char *gid = dtx_json_string (txn->gid);
        s_text_add (out, "{\"gid\":%s,\"state\":\"%s\",\"age_ms\":%" PRId64 ",\"recovered\":%s,\"branches\":[",
                    gid, coord_txn_state_name (txn->state), now - txn->started,
                    txn->recovered? "true": "false");
        zstr_free (&gid);
        for (size_t i = 0; i < txn->nbranches; i++) {
            branch_t *branch = &txn->branches [i];
            char *error = dtx_json_string (branch->last_error);
            s_text_add (out, "%s{\"participant\":\"%s\",\"state\":\"%s\",\"retries\":%d,\"last_error\":%s}",
                        i? ",": "", branch->participant->name, coord_branch_state_name (branch->state),
                        branch->retries, error);
            zstr_free (&error);
        }
        s_text_add (out, "]}");
    }
    else {
        s_text_add (out, "%-28s %-11s %9.1f", txn->gid, coord_txn_state_name (txn->state),
                    (now - txn->started) / 1000.0);
        for (size_t i = 0; i < txn->nbranches; i++) {
            branch_t *branch = &txn->branches [i];
            s_text_add (out, "  %s:%s", branch->participant->name, coord_branch_state_name (branch->state));
            if (branch->retries)
                s_text_add (out, "(tries %d: %s)", branch->retries,
                            branch->last_error? branch->last_error: "no answer");
        }
        s_text_add (out, "\n");
    }
}

static void
s_admin_txns (dtx_coordinator_t *self, text_t *out, bool json, bool in_doubt_only)
{
    int64_t now = dtx_clock_ms ();
    if (json)
        s_text_add (out, "[");
    else
        s_text_add (out, "%-28s %-11s %9s  %s\n", "GID", "STATE", "AGE (s)", "BRANCHES");
    int count = 0;
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        if (!in_doubt_only || coord_txn_in_doubt (txn)) {
            if (json && count)
                s_text_add (out, ",");
            s_admin_txn (self, out, txn, json, now);
            count++;
        }
        txn = (txn_t *) zhashx_next (self->txns);
    }
    if (json)
        s_text_add (out, "]");
}

//  resolve GID commit|abort: an operator's decision.  Refused when it
//  contradicts what the log or presumed abort already decided.
static int
s_admin_resolve (dtx_coordinator_t *self, text_t *out, const char *gid, const char *decision,
                 const char *who)
{
    char err [256];
    if (dtx_gid_validate (gid, err, sizeof err)) {
        s_text_add (out, "%s\n", err);
        return 1;
    }
    if (self->pg) {
        s_text_add (out, "refused: resolve is not available with the PostgreSQL decision store yet;"
                    " decide by hand on the databases\n");
        return 1;
    }
    bool commit = streq (decision, "commit");
    if (!commit && !streq (decision, "abort")) {
        s_text_add (out, "decision must be commit or abort, not '%s'\n", decision);
        return 1;
    }
    txn_t *txn = (txn_t *) zhashx_lookup (self->txns, gid);
    if (txn && txn->state == TXN_LOGGING) {
        s_text_add (out, "refused: %s's COMMIT record is being written now; ask again in a"
                    " moment\n", gid);
        return 1;
    }
    //  As a participant holding it prepared would hear it: resolve is for
    //  prepared (two-phase) transactions
    dtx_answer_t answer;
    dtx_outcomes_answer (self->outcomes, gid, txn? coord_txn_live (txn): DTX_LIVE_NONE,
                         DTX_ASKER_CLIENT, &answer);
    if (!txn && answer.outcome == DTX_ANSWER_PROBE)
        dtx_outcomes_answer (self->outcomes, gid, DTX_LIVE_NONE, DTX_ASKER_PARTICIPANT, &answer);
    bool decided_commit = answer.outcome == DTX_COMMITTED;
    bool decided_abort = answer.outcome == DTX_ABORTED;
    bool presumed = !txn && !dtx_outcomes_lookup (self->outcomes, gid) && decided_abort;
    if (!txn && answer.outcome == DTX_UNKNOWN) {
        s_text_add (out, "refused: %s: %s; decide by hand on the databases\n", gid, answer.reason);
        return 1;
    }
    if ((commit && decided_abort) || (!commit && decided_commit)) {
        s_text_add (out, "refused: %s is already decided %s%s; the log is the truth\n", gid,
                    decided_commit? "COMMIT (durable in the decision log)": "ABORT",
                    presumed? " (no commit record: presumed abort)": "");
        return 1;
    }
    if (txn && (txn->state == TXN_ACTIVE || txn->state == TXN_PREPARING || txn->state == TXN_LOGGING)
    &&  commit) {
        s_text_add (out, "refused: %s is undecided (%s); only abort can be forced\n",
                    gid, coord_txn_state_name (txn->state));
        return 1;
    }
    if (dtx_log_append_heuristic (self->log, gid, commit? 1: 2, who, (uint64_t) time (NULL))) {
        s_text_add (out, "cannot build the HEURISTIC record (operator name too long?)\n");
        return 1;
    }
    coord_decisions_flush (self);
    txn = (txn_t *) zhashx_lookup (self->txns, gid);    //  (the flush may end transactions)
    zsys_warning ("%s: operator %s resolved it: %s", gid, who, decision);
    if (txn && !commit && (txn->state == TXN_ACTIVE || txn->state == TXN_PREPARING))
        coord_txn_abort (self, txn, DTX_ERR_STATE, NULL, NULL, "aborted by an operator (dtxctl resolve)");
    else
    if (txn) {
        //  Already going that way: retry phase 2 now
        for (size_t i = 0; i < txn->nbranches; i++)
            if (txn->branches [i].state == BRANCH_FINISHING && txn->branches [i].awaiting)
                txn->branches [i].next_retry = dtx_clock_ms ();
        coord_timer_schedule (self, txn);
    }
    s_text_add (out, "%s: %s recorded (heuristic, by %s)%s\n", gid, decision, who,
                txn? "; phase 2 retried now": "");
    return 0;
}

void
coord_handle_admin (dtx_coordinator_t *self)
{
    dtx_proto_t *msg;
    if (coord_recv (self, self->admin, "admin", &msg) <= 0)
        return;
    dtx_proto_t *reply = dtx_proto_new (DTX_PROTO_ADMIN_REPLY);
    dtx_proto_set_routing_id (reply, dtx_proto_routing_id (msg));
    dtx_proto_set_seq (reply, dtx_proto_seq (msg));
    if (dtx_proto_id (msg) != DTX_PROTO_ADMIN) {
        dtx_proto_set_status (reply, 1);
        dtx_proto_set_text (reply, "expected an ADMIN message");
        dtx_proto_send (reply, self->admin);
        dtx_proto_destroy (&reply);
        dtx_proto_destroy (&msg);
        return;
    }
    bool json = dtx_proto_flags (msg) & 1;
    char *words [8] = { NULL };
    int nwords = 0;
    char *line = strdup (dtx_proto_text (msg)), *save = NULL;
    for (char *word = strtok_r (line, " \t\n", &save); word && nwords < 8;
         word = strtok_r (NULL, " \t\n", &save))
        words [nwords++] = word;
    text_t out = { NULL, 0, 0 };
    s_text_add (&out, "");
    int status = 0;
    int64_t now = dtx_clock_ms ();
    const char *command = nwords? words [0]: "";
    if (streq (command, "status")) {
        size_t connected = 0, in_doubt = 0;
        participant_t *participant = (participant_t *) zhashx_first (self->participants);
        while (participant) {
            connected += participant->connected;
            participant = (participant_t *) zhashx_next (self->participants);
        }
        txn_t *txn = (txn_t *) zhashx_first (self->txns);
        while (txn) {
            in_doubt += coord_txn_in_doubt (txn);
            txn = (txn_t *) zhashx_next (self->txns);
        }
        if (json)
            s_text_add (&out, "{\"id\":\"%s\",\"epoch\":%" PRIu64 ",\"uptime_s\":%.1f,\"draining\":%s,"
                        "\"transactions_live\":%zu,\"in_doubt\":%zu,\"committed\":%" PRIu64
                        ",\"aborted\":%" PRIu64 ",\"log_bytes\":%" PRIu64 ",\"log_syncs\":%" PRIu64
                        ",\"log_records_synced\":%" PRIu64 ",\"participants_connected\":%zu"
                        ",\"participants_known\":%zu",
                        self->id, self->epoch, (now - self->started) / 1000.0,
                        self->draining? "true": "false", zhashx_size (self->txns), in_doubt,
                        self->committed, self->aborted, dtx_log_size (self->log),
                        dtx_log_syncs (self->log), dtx_log_records_synced (self->log),
                        connected, zhashx_size (self->participants));
        if (json && self->pg)
            s_text_add (&out, ",\"store\":{\"shard\":\"%s\",\"epoch\":%" PRIu64 ",\"instance\":\"%s\","
                        "\"lease_ms\":%d,\"lease_age_s\":%.1f,\"writes_ok\":%" PRIu64 ","
                        "\"writes_unknown\":%" PRIu64 ",\"writes_refused\":%" PRIu64 "}",
                        self->id, self->epoch, self->config.instance, self->config.lease_ms,
                        (now - self->lease_sent) / 1000.0, self->store_writes [DTX_PGSTORE_OK],
                        self->store_writes [DTX_PGSTORE_UNKNOWN], self->store_writes [DTX_PGSTORE_ERROR]);
        if (json)
            s_text_add (&out, "}");
        else
            s_text_add (&out, "coordinator      %s (epoch %" PRIu64 ")%s\n"
                        "uptime           %.1f s\n"
                        "transactions     %zu live, %zu in doubt\n"
                        "since start      %" PRIu64 " committed, %" PRIu64 " aborted\n"
                        "decision log     %s, %" PRIu64 " bytes, %" PRIu64 " fsyncs for %" PRIu64 " records\n"
                        "participants     %zu connected of %zu known\n",
                        self->id, self->epoch, self->draining? " DRAINING": "",
                        (now - self->started) / 1000.0, zhashx_size (self->txns), in_doubt,
                        self->committed, self->aborted, dtx_log_path (self->log),
                        dtx_log_size (self->log), dtx_log_syncs (self->log),
                        dtx_log_records_synced (self->log), connected,
                        zhashx_size (self->participants));
        if (self->pg && !json)
            s_text_add (&out, "decision store   PostgreSQL: shard %s epoch %" PRIu64 ", instance %s,"
                        " lease %d ms renewed %.1f s ago; writes %" PRIu64 " ok, %" PRIu64
                        " unknown (written again), %" PRIu64 " refused\n", self->id, self->epoch,
                        self->config.instance, self->config.lease_ms,
                        (now - self->lease_sent) / 1000.0, self->store_writes [DTX_PGSTORE_OK],
                        self->store_writes [DTX_PGSTORE_UNKNOWN],
                        self->store_writes [DTX_PGSTORE_ERROR]);
    }
    else
    if (streq (command, "participants")) {
        if (json)
            s_text_add (&out, "[");
        else
            s_text_add (&out, "%-20s %-13s %s\n", "NAME", "STATE", "LAST SEEN (s ago)");
        int count = 0;
        participant_t *participant = (participant_t *) zhashx_first (self->participants);
        while (participant) {
            double ago = participant->last_seen? (now - participant->last_seen) / 1000.0: -1;
            if (json)
                s_text_add (&out, "%s{\"name\":\"%s\",\"connected\":%s,\"last_seen_s\":%.1f}",
                            count++? ",": "", participant->name,
                            participant->connected? "true": "false", ago);
            else
                s_text_add (&out, "%-20s %-13s %.1f\n", participant->name,
                            participant->connected? "connected": "disconnected", ago);
            participant = (participant_t *) zhashx_next (self->participants);
        }
        if (json)
            s_text_add (&out, "]");
    }
    else
    if (streq (command, "txns") || streq (command, "in-doubt"))
        s_admin_txns (self, &out, json, streq (command, "in-doubt"));
    else
    if (streq (command, "show") && nwords == 2) {
        txn_t *txn = (txn_t *) zhashx_lookup (self->txns, words [1]);
        char recall [600];
        if (coord_store_recall (self, words [1], recall, sizeof recall)) {
            s_text_add (&out, "%s: unknown: %s\n", words [1], recall);
            status = 1;
        }
        else {
            dtx_answer_t answer;
            dtx_outcomes_answer (self->outcomes, words [1], txn? coord_txn_live (txn): DTX_LIVE_NONE,
                                 DTX_ASKER_CLIENT, &answer);
            if (txn)
                s_admin_txn (self, &out, txn, json, now);
            else
            if (answer.outcome == DTX_ANSWER_PROBE) {
                //  Its databases decide: answered when they have
                coord_probe_start (self, &answer, words [1], self->admin, dtx_proto_routing_id (msg),
                                   dtx_proto_seq (msg), json? PROBE_WAITER_ADMIN_JSON: PROBE_WAITER_ADMIN);
                free (out.data);
                free (line);
                dtx_proto_destroy (&reply);
                dtx_proto_destroy (&msg);
                return;
            }
            else {
                free (out.data);
                out.data = NULL;
                coord_admin_show_answer (&out.data, words [1], &answer, json);
                status = answer.outcome == DTX_COMMITTED || answer.outcome == DTX_ABORTED
                      || answer.outcome == DTX_IN_PROGRESS? 0: 1;
            }
        }
    }
    else
    if (streq (command, "rebind") && nwords == 2) {
        char err [256];
        if (dtx_name_validate ("participant", words [1], err, sizeof err)) {
            s_text_add (&out, "%s\n", err);
            status = 1;
        }
        else {
            participant_t *participant = coord_participant_require (self, words [1]);
            participant->rebind = true;
            zsys_warning ("participant %s: an operator allowed it to register with another database",
                          words [1]);
            s_text_add (&out, "participant %s may register once with another database; transactions"
                        " still to finish on it keep that refused\n", words [1]);
        }
    }
    else
    if (streq (command, "resolve") && nwords >= 3)
        status = s_admin_resolve (self, &out, words [1], words [2], nwords >= 4? words [3]: "unknown");
    else {
        s_text_add (&out, "unknown command '%s': status, participants, txns, in-doubt, show GID,"
                    " resolve GID commit|abort, rebind NAME\n", command);
        status = 1;
    }
    dtx_proto_set_status (reply, (uint8_t) status);
    dtx_proto_set_text (reply, out.data);
    free (out.data);
    free (line);
    dtx_proto_send (reply, self->admin);
    dtx_proto_destroy (&reply);
    dtx_proto_destroy (&msg);
}


//  `show GID` for a gid that is not live: its answer, as a client would
//  get it (outcome and reason), in words or JSON.  *out_p is malloc'd.
void
coord_admin_show_answer (char **out_p, const char *gid, const dtx_answer_t *answer, bool json)
{
    text_t out = { NULL, 0, 0 };
    const char *state = answer->outcome == DTX_ANSWER_REFUSE? "none"
                      : dtx_outcome_name ((dtx_outcome_t) answer->outcome);
    if (json) {
        char *gid_json = dtx_json_string (gid), *why = dtx_json_string (answer->reason);
        s_text_add (&out, "{\"gid\":%s,\"state\":\"%s\",\"reason\":%s}", gid_json, state, why);
        zstr_free (&gid_json);
        zstr_free (&why);
    }
    else
        s_text_add (&out, "%s %s%s%s\n", gid, state, *answer->reason? ": ": "", answer->reason);
    *out_p = out.data;
}
