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
    record is durable replays it as the gid's outcome.  A gid that is not
    live is judged as a participant holding it prepared would hear it
    (dtx_outcome.c): never issued, or not this coordinator's, is refused
    with that answer's words (no record is written for a gid we never
    issued); no commit record is presumed abort.

    Who asked is taken from the connection, never from the request: the
    CurveZMQ key (ZAP User-Id) and address on a tcp admin endpoint, the
    peer's uid and pid (SO_PEERCRED, libzmq's Peer-Address metadata
    "host:uid:gid:pid") on the ipc socket.  The user name dtxctl sends is
    kept beside it as a claim.  Both go into the HEURISTIC record and the
    log line.

    forget NAME removes a retired participant from the registry.  The
    registry is not persisted (a name comes back after a restart only when
    it registers, or when a replayed COMMIT names it, and forget refuses
    while any transaction has a branch on it), so removal needs no record.
    The decision log's PARTICIPANT records stay: they say which databases
    an epoch's one-phase commits may be in (coord_probe.c), and keep the
    name bound to its database (a new database under the name: rebind).
    =========================================================================
*/
#include "coord_classes.h"
#include <stdarg.h>

static void
s_admin_txn (dtx_coordinator_t *self, dtx_text_t *out, txn_t *txn, bool json, int64_t now)
{
    if (json) {
        char *gid = dtx_json_string (txn->gid);
        dtx_text_add (out, "{\"gid\":%s,\"state\":\"%s\",\"age_ms\":%" PRId64 ",\"recovered\":%s,\"branches\":[",
                    gid, coord_txn_state_name (txn->state), now - txn->started,
                    txn->recovered? "true": "false");
        zstr_free (&gid);
        for (size_t i = 0; i < txn->nbranches; i++) {
            branch_t *branch = &txn->branches [i];
            char *error = dtx_json_string (branch->last_error);
            dtx_text_add (out, "%s{\"participant\":\"%s\",\"state\":\"%s\",\"retries\":%d,\"last_error\":%s}",
                        i? ",": "", branch->participant->name, coord_branch_state_name (branch->state),
                        branch->retries, error);
            zstr_free (&error);
        }
        dtx_text_add (out, "]}");
    }
    else {
        dtx_text_add (out, "%-28s %-11s %9.1f", txn->gid, coord_txn_state_name (txn->state),
                    (now - txn->started) / 1000.0);
        for (size_t i = 0; i < txn->nbranches; i++) {
            branch_t *branch = &txn->branches [i];
            dtx_text_add (out, "  %s:%s", branch->participant->name, coord_branch_state_name (branch->state));
            if (branch->retries)
                dtx_text_add (out, "(tries %d: %s)", branch->retries,
                            branch->last_error? branch->last_error: "no answer");
        }
        dtx_text_add (out, "\n");
    }
}

static void
s_admin_txns (dtx_coordinator_t *self, dtx_text_t *out, bool json, bool in_doubt_only)
{
    int64_t now = dtx_clock_ms ();
    if (json)
        dtx_text_add (out, "[");
    else
        dtx_text_add (out, "%-28s %-11s %9s  %s\n", "GID", "STATE", "AGE (s)", "BRANCHES");
    int count = 0;
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        if (!in_doubt_only || coord_txn_in_doubt (txn)) {
            if (json && count)
                dtx_text_add (out, ",");
            s_admin_txn (self, out, txn, json, now);
            count++;
        }
        txn = (txn_t *) zhashx_next (self->txns);
    }
    if (json)
        dtx_text_add (out, "]");
}

//  resolve GID commit|abort: an operator's decision.  Refused when it
//  contradicts what the log or presumed abort already decided.
static int
s_admin_resolve (dtx_coordinator_t *self, dtx_text_t *out, const char *gid, const char *decision,
                 const char *who)
{
    char err [256];
    if (dtx_gid_validate (gid, err, sizeof err)) {
        dtx_text_add (out, "%s\n", err);
        return 1;
    }
    if (self->pg) {
        dtx_text_add (out, "refused: resolve is not available with the PostgreSQL decision store yet;"
                    " decide by hand on the databases\n");
        return 1;
    }
    bool commit = streq (decision, "commit");
    if (!commit && !streq (decision, "abort")) {
        dtx_text_add (out, "decision must be commit or abort, not '%s'\n", decision);
        return 1;
    }
    txn_t *txn = (txn_t *) zhashx_lookup (self->txns, gid);
    if (txn && txn->state == TXN_LOGGING) {
        dtx_text_add (out, "refused: %s's COMMIT record is being written now; ask again in a"
                    " moment\n", gid);
        return 1;
    }
    //  Live: its state.  Not live: as a participant holding it prepared
    //  hears it (resolve is for prepared, two-phase transactions), so that
    //  resolve, show and the participants agree
    dtx_answer_t answer;
    dtx_outcomes_answer (self->outcomes, gid, txn? coord_txn_live (txn): DTX_LIVE_NONE,
                         txn? DTX_ASKER_CLIENT: DTX_ASKER_PARTICIPANT, &answer);
    bool decided_commit = answer.outcome == DTX_COMMITTED;
    bool decided_abort = answer.outcome == DTX_ABORTED;
    bool presumed = !txn && decided_abort && answer.code == DTX_ERR_NO_TXN;
    if (!txn && answer.outcome == DTX_ANSWER_REFUSE) {
        //  (a participant asking is refused the same way and keeps the
        //  transaction prepared: a HEURISTIC record for a gid we never
        //  issued would decide someone else's transaction)
        dtx_text_add (out, "refused: %s: %s (a participant holding it is told the same); nothing"
                    " recorded.  If a database holds it prepared, it is not this coordinator's"
                    " to decide: ask the coordinator that issued it, or decide on the databases"
                    " with 'dtxctl resolve %s commit|abort --db NAME=CONNINFO ...'\n",
                    gid, answer.reason, gid);
        return 1;
    }
    if (!txn && answer.outcome == DTX_UNKNOWN) {
        dtx_text_add (out, "refused: %s: %s; decide by hand on the databases\n", gid, answer.reason);
        return 1;
    }
    if ((commit && decided_abort) || (!commit && decided_commit)) {
        dtx_text_add (out, "refused: %s is already decided %s%s; the log is the truth, and"
                    " participants are told %s\n", gid,
                    decided_commit? "COMMIT (durable in the decision log)": "ABORT",
                    presumed? " (presumed abort: no commit record)": "",
                    decided_commit? "to commit": "to roll back");
        return 1;
    }
    if (!txn) {
        //  Not live: participants holding it prepared are already told
        //  (committed, or aborted by presumed abort) and act on it.  A
        //  HEURISTIC record would add nothing but a second word, which
        //  replay would remember: a presumed abort recorded for a gid whose
        //  client answer was a one-phase commit or UNKNOWN (possibly
        //  committed) made later client answers false
        dtx_text_add (out, "%s: already %s%s; participants holding it prepared are told so and"
                    " %s; nothing recorded\n", gid, decided_commit? "committed": "aborted",
                    presumed? " (presumed abort: no commit record)": "",
                    decided_commit? "commit it": "roll it back");
        return 0;
    }
    if ((txn->state == TXN_ACTIVE || txn->state == TXN_PREPARING || txn->state == TXN_LOGGING)
    &&  commit) {
        dtx_text_add (out, "refused: %s is undecided (%s); only abort can be forced\n",
                    gid, coord_txn_state_name (txn->state));
        return 1;
    }
    if (dtx_log_append_heuristic (self->log, gid, commit? 1: 2, who, (uint64_t) time (NULL))) {
        dtx_text_add (out, "cannot build the HEURISTIC record (operator name too long?)\n");
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
    dtx_text_add (out, "%s: %s recorded (heuristic, by %s)%s\n", gid, decision, who,
                txn? "; phase 2 retried now": "");
    return 0;
}

//  Who is on the other end of an admin connection, from the connection
//  itself (NOTES): into who (under 180 bytes: with the claim it fits a HEURISTIC record)
static void
s_operator_identity (zframe_t *frame, bool ipc, char *who, size_t size)
{
    const char *key = zframe_meta (frame, "User-Id");
    const char *peer = zframe_meta (frame, "Peer-Address");
    peer = peer? peer: "";
    if (key && *key) {
        snprintf (who, size, "key %.60s from %.60s", key, *peer? peer: "?");
        return;
    }
    //  ipc: "host:uid:gid:pid" (libzmq, SO_PEERCRED); told by the
    //  endpoint's transport, not the address's shape (an IPv6 address on
    //  a tcp endpoint may have three colons too)
    const char *fields [4] = { NULL };
    int nfields = 0;
    const char *colon = peer;
    while (ipc && (colon = strchr (colon, ':')) && nfields < 4)
        fields [nfields++] = ++colon;
    if (ipc && nfields == 3) {
        long uid = atol (fields [0]), pid = atol (fields [2]);
        snprintf (who, size, "uid %ld pid %ld on the ipc socket", uid, pid);
    }
    else
        snprintf (who, size, "%.100s (no key)", *peer? peer: "unknown peer");
}

//  forget NAME: a retired participant out of the registry (NOTES), unless
//  anything still needs it
static int
s_admin_forget (dtx_coordinator_t *self, dtx_text_t *out, const char *name, const char *who)
{
    char err [256];
    if (dtx_name_validate ("participant", name, err, sizeof err)) {
        dtx_text_add (out, "%s\n", err);
        return 1;
    }
    participant_t *participant = (participant_t *) zhashx_lookup (self->participants, name);
    if (!participant) {
        dtx_text_add (out, "refused: no participant named '%s' is known here (dtxctl participants)\n",
                    name);
        return 1;
    }
    if (participant->connected) {
        dtx_text_add (out, "refused: participant %s is connected (heard %.1f s ago): stop it first;"
                    " a connected participant is in use and would register again at once\n",
                    name, (dtx_clock_ms () - participant->last_seen) / 1000.0);
        return 1;
    }
    //  Transactions with a branch on it (live, or decided and waiting for
    //  its phase 2): they hold a pointer to it and still need it
    size_t waiting = 0;
    dtx_text_t gids = { NULL, 0, 0 };
    dtx_text_add (&gids, "%s", "");
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        branch_t *branch = coord_txn_branch (txn, participant);
        if (branch) {
            if (waiting < 5)
                dtx_text_add (&gids, "%s%s (%s, branch %s)", waiting? ", ": "", txn->gid,
                            coord_txn_state_name (txn->state), coord_branch_state_name (branch->state));
            waiting++;
        }
        txn = (txn_t *) zhashx_next (self->txns);
    }
    if (waiting) {
        dtx_text_add (out, "refused: %zu transaction%s still need%s participant %s: %s%s.  Bring it"
                    " back so that they finish (phase 2 is retried until it answers), or decide"
                    " them (dtxctl in-doubt, resolve)\n", waiting, waiting == 1? "": "s",
                    waiting == 1? "s": "", name, gids.data, waiting > 5? ", ...": "");
        free (gids.data);
        return 1;
    }
    free (gids.data);
    //  (0xFFFFFFFF: its count was not known when it registered)
    if (participant->prepared && participant->prepared != 0xFFFFFFFFu) {
        dtx_text_add (out, "refused: participant %s's database held %u dtx prepared transaction%s"
                    " when it last registered: they would be left in doubt with nobody asking"
                    " for them.  Resolve them first (dtxctl in-doubt --db %s=CONNINFO)\n", name,
                    participant->prepared, participant->prepared == 1? "": "s", name);
        return 1;
    }
    zsys_warning ("participant %s: forgotten by an operator (%s)", name, who);
    zhashx_delete (self->participants, name);
    dtx_text_add (out, "participant %s forgotten (it was not connected and no transaction needs it);"
                " if it registers again it is known again\n", name);
    return 0;
}

void
coord_handle_admin (dtx_coordinator_t *self)
{
    //  Received here rather than through coord_recv: the frame's metadata
    //  (who is connected) is read before it is decoded
    zmsg_t *zmsg = zmsg_recv (self->admin);
    if (!zmsg)
        return;
    char who [400] = "unknown peer";
    if (zmsg_size (zmsg) >= 2)
        s_operator_identity (zmsg_last (zmsg), self->admin_path != NULL, who, 180);
    dtx_proto_t *msg;
    char err [256];
    if (dtx_proto_decode_zmsg (&zmsg, true, &msg, err, sizeof err)) {
        self->dropped_frames++;
        zsys_warning ("admin: dropped %s", err);
        return;
    }
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
    dtx_text_t out = { NULL, 0, 0 };
    dtx_text_add (&out, "%s", "");
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
            dtx_text_add (&out, "{\"id\":\"%s\",\"epoch\":%" PRIu64 ",\"uptime_s\":%.1f,\"draining\":%s,"
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
            dtx_text_add (&out, ",\"store\":{\"shard\":\"%s\",\"epoch\":%" PRIu64 ",\"instance\":\"%s\","
                        "\"lease_ms\":%d,\"lease_age_s\":%.1f,\"writes_ok\":%" PRIu64 ","
                        "\"writes_unknown\":%" PRIu64 ",\"writes_refused\":%" PRIu64 "}",
                        self->id, self->epoch, self->config.instance, self->config.lease_ms,
                        (now - self->lease_sent) / 1000.0, self->store_writes [DTX_PGSTORE_OK],
                        self->store_writes [DTX_PGSTORE_UNKNOWN], self->store_writes [DTX_PGSTORE_ERROR]);
        if (json)
            dtx_text_add (&out, "}");
        else
            dtx_text_add (&out, "coordinator      %s (epoch %" PRIu64 ")%s\n"
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
            dtx_text_add (&out, "decision store   PostgreSQL: shard %s epoch %" PRIu64 ", instance %s,"
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
            dtx_text_add (&out, "[");
        else
            dtx_text_add (&out, "%-20s %-13s %s\n", "NAME", "STATE", "LAST SEEN (s ago)");
        int count = 0;
        participant_t *participant = (participant_t *) zhashx_first (self->participants);
        while (participant) {
            double ago = participant->last_seen? (now - participant->last_seen) / 1000.0: -1;
            if (json)
                dtx_text_add (&out, "%s{\"name\":\"%s\",\"connected\":%s,\"last_seen_s\":%.1f}",
                            count++? ",": "", participant->name,
                            participant->connected? "true": "false", ago);
            else
                dtx_text_add (&out, "%-20s %-13s %.1f\n", participant->name,
                            participant->connected? "connected": "disconnected", ago);
            participant = (participant_t *) zhashx_next (self->participants);
        }
        if (json)
            dtx_text_add (&out, "]");
    }
    else
    if (streq (command, "txns") || streq (command, "in-doubt"))
        s_admin_txns (self, &out, json, streq (command, "in-doubt"));
    else
    if (streq (command, "show") && nwords == 2) {
        txn_t *txn = (txn_t *) zhashx_lookup (self->txns, words [1]);
        char recall [600];
        if (coord_store_recall (self, words [1], recall, sizeof recall)) {
            dtx_text_add (&out, "%s: unknown: %s\n", words [1], recall);
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
                out.used = strlen (out.data);
                out.size = out.used + 1;
                //  What a participant holding it prepared is told, when
                //  that differs (e.g. an outcome no longer retained: it is
                //  told presumed abort, rule 4 of dtx_outcome.c).  (With
                //  the PostgreSQL store the store answers it, coord_client.c)
                dtx_answer_t told;
                dtx_outcomes_answer (self->outcomes, words [1], DTX_LIVE_NONE,
                                     DTX_ASKER_PARTICIPANT, &told);
                if (!self->pg && told.outcome != answer.outcome && told.outcome != DTX_ANSWER_PROBE) {
                    const char *state = told.outcome == DTX_ANSWER_REFUSE? "none"
                                      : dtx_outcome_name ((dtx_outcome_t) told.outcome);
                    if (json) {
                        char *why = dtx_json_string (told.reason);
                        out.data [--out.used] = 0;      //  (the closing brace)
                        dtx_text_add (&out, ",\"participants_told\":{\"state\":\"%s\",\"reason\":%s}}",
                                    state, why);
                        zstr_free (&why);
                    }
                    else
                        dtx_text_add (&out, "  a participant holding it prepared is told: %s: %s\n",
                                    state, told.reason);
                }
                status = answer.outcome == DTX_COMMITTED || answer.outcome == DTX_ABORTED
                      || answer.outcome == DTX_IN_PROGRESS? 0: 1;
            }
        }
    }
    else
    if (streq (command, "rebind") && nwords == 2) {
        char err [256];
        if (dtx_name_validate ("participant", words [1], err, sizeof err)) {
            dtx_text_add (&out, "%s\n", err);
            status = 1;
        }
        else {
            participant_t *participant = coord_participant_require (self, words [1]);
            participant->rebind = true;
            zsys_warning ("participant %s: an operator allowed it to register with another database",
                          words [1]);
            dtx_text_add (&out, "participant %s may register once with another database; transactions"
                        " still to finish on it keep that refused\n", words [1]);
        }
    }
    else
    if (streq (command, "resolve") && nwords >= 3) {
        //  (the name dtxctl sends is a claim: kept beside the identity)
        if (nwords >= 4) {
            size_t len = strlen (who);
            snprintf (who + len, sizeof who - len, ", says user %.60s", words [3]);
        }
        status = s_admin_resolve (self, &out, words [1], words [2], who);
    }
    else
    if (streq (command, "forget") && nwords == 2)
        status = s_admin_forget (self, &out, words [1], who);
    else
    if (streq (command, "endpoints")) {
        //  Where clients connect (dtxctl run finds it here)
        const char *clients = self->config.client_endpoint? self->config.client_endpoint: "";
        if (json) {
            char *literal = dtx_json_string (clients);
            dtx_text_add (&out, "{\"clients\":%s}", literal);
            zstr_free (&literal);
        }
        else
            dtx_text_add (&out, "clients %s\n", clients);
    }
    else {
        dtx_text_add (&out, "unknown command '%s': status, participants, txns, in-doubt, show GID,"
                    " resolve GID commit|abort, rebind NAME, forget NAME, endpoints\n", command);
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
    dtx_text_t out = { NULL, 0, 0 };
    const char *state = answer->outcome == DTX_ANSWER_REFUSE? "none"
                      : dtx_outcome_name ((dtx_outcome_t) answer->outcome);
    //  Aborted for want of a commit record (presumed abort, or a probe
    //  that found no one-phase marker) rather than by a recorded abort
    bool presumed = answer->outcome == DTX_ABORTED && answer->code == DTX_ERR_NO_TXN;
    if (json) {
        char *gid_json = dtx_json_string (gid), *why = dtx_json_string (answer->reason);
        dtx_text_add (&out, "{\"gid\":%s,\"state\":\"%s\",\"presumed\":%s,\"reason\":%s}", gid_json,
                    state, presumed? "true": "false", why);
        zstr_free (&gid_json);
        zstr_free (&why);
    }
    else
        dtx_text_add (&out, "%s %s%s%s%s\n", gid, state,
                    presumed? " (presumed abort: no commit record)": "",
                    *answer->reason? ": ": "", answer->reason);
    *out_p = out.data;
}
