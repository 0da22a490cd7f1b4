/*  =========================================================================
    coord_registry - the participants: REGISTER (also the heartbeat),
    identity, loss, and their replies routed to the state machine

    NOTES

    A participant is known by its name; the database behind it by its
    identity (system identifier / database name).  A second live
    registration under a name with another identity is refused, loudly:
    two participants of one name fronting different databases would
    commit one database's work on the other.  A reconnect with the same
    identity replaces the old connection.

    Before a participant gets any work in this epoch, a PARTICIPANT record
    (name, epoch, identity) is made durable.  After a crash, that record
    says which databases may hold the marker of a one-phase commit of the
    epoch (coord_probe.c); a one-phase COMMIT to a participant the log
    does not name could be lost to a later answer.
    =========================================================================
*/
#include "coord_classes.h"

void
coord_participant_destroy (void **item_p)
{
    participant_t *participant = (participant_t *) *item_p;
    if (participant) {
        zframe_destroy (&participant->routing_id);
        free (participant);
        *item_p = NULL;
    }
}

participant_t *
coord_participant_require (dtx_coordinator_t *self, const char *name)
{
    participant_t *participant = (participant_t *) zhashx_lookup (self->participants, name);
    if (!participant) {
        participant = (participant_t *) calloc (1, sizeof (participant_t));
        assert (participant);
        snprintf (participant->name, sizeof participant->name, "%s", name);
        zhashx_insert (self->participants, name, participant);
    }
    return participant;
}

//  A participant's connection is gone (silence, send failure, or it came
//  back as a new peer): requests in flight on it are lost.  A statement
//  fails (the transaction is then abort-only), an awaited vote counts as
//  NO.  Phase-2 requests are simply resent later (idempotent).
void
coord_participant_lost (dtx_coordinator_t *self, participant_t *participant, const char *why)
{
    zlistx_t *affected = zlistx_new ();
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        branch_t *branch = coord_txn_branch (txn, participant);
        if (branch && ((branch->awaiting
        &&  (branch->request == DTX_PROTO_EXECUTE || branch->request == DTX_PROTO_PREPARE
          || (branch->request == DTX_PROTO_COMMIT && txn->one_phase)))
          || (txn->state == TXN_ABORTING && txn->client_request)))
            zlistx_add_end (affected, txn);
        txn = (txn_t *) zhashx_next (self->txns);
    }
    txn = (txn_t *) zlistx_first (affected);
    while (txn) {
        branch_t *branch = coord_txn_branch (txn, participant);
        if (txn->state == TXN_ABORTING) {
            //  Its rollback is resent when it is back; the abort is certain
            coord_txn_maybe_answer_abort (self, txn);
            txn = (txn_t *) zlistx_next (affected);
            continue;
        }
        branch->awaiting = false;
        char text [256];
        snprintf (text, sizeof text, "participant %s lost (%s)", participant->name, why);
        if (branch->request == DTX_PROTO_EXECUTE && txn->state == TXN_ACTIVE) {
            txn->abort_only = true;
            coord_txn_set_error (txn, DTX_ERR_PARTICIPANT, participant->name, "08006", text);
            if (txn->client_request == DTX_PROTO_EXECUTE) {
                coord_client_error (self, self->clients, txn->client, txn->client_seq, txn->gid,
                                DTX_ERR_PARTICIPANT, participant->name, "08006", text);
                txn->client_request = 0;
            }
        }
        else
        if (branch->request == DTX_PROTO_PREPARE && txn->state == TXN_PREPARING) {
            //  It may have prepared before it went: ROLLBACK PREPARED
            //  reaches it when it is back (coord_txn_abort marks the branch)
            coord_txn_abort (self, txn, DTX_ERR_PARTICIPANT, participant->name, "08006", text);
        }
        else
        if (branch->request == DTX_PROTO_COMMIT && txn->one_phase)
            coord_txn_one_phase_lost (self, txn, text);
        txn = (txn_t *) zlistx_next (affected);
    }
    zlistx_destroy (&affected);
}

static void
s_register_refuse (dtx_coordinator_t *self, dtx_proto_t *msg, participant_t *participant,
                   int code, const char *text)
{
    //  Logged once per reason every 30 s: a refused participant retries
    //  every second.  Refusals that name no known participant (a bad
    //  name, participants-max) are logged at most once a second in all: a
    //  REGISTER flood under ever new names must not fill the disk (the
    //  refusals are counted in the metrics)
    static int64_t unnamed_logged;
    static uint64_t unnamed_unlogged;
    int64_t now = dtx_clock_ms ();
    uint32_t crc = dtx_crc32c (0, text, strlen (text));
    if (!participant) {
        if (now - unnamed_logged >= 1000) {
            if (unnamed_unlogged)
                zsys_error ("participant: refused REGISTER: %s (and %" PRIu64 " more refused"
                            " since the last line, not logged)", text, unnamed_unlogged);
            else
                zsys_error ("participant: refused REGISTER: %s", text);
            unnamed_logged = now;
            unnamed_unlogged = 0;
        }
        else
            unnamed_unlogged++;
    }
    else
    if (now - participant->refused_logged >= 30000 || crc != participant->refused_crc) {
        zsys_error ("participant: refused REGISTER: %s", text);
        participant->refused_logged = now;
        participant->refused_crc = crc;
    }
    dtx_proto_t *reply = dtx_proto_new (DTX_PROTO_ERROR);
    dtx_proto_set_routing_id (reply, dtx_proto_routing_id (msg));
    dtx_proto_set_seq (reply, dtx_proto_seq (msg));
    dtx_proto_set_status (reply, (uint8_t) code);
    dtx_proto_set_name (reply, dtx_proto_name (msg));
    dtx_proto_set_text (reply, text);
    dtx_proto_send (reply, self->participants_sock);
    dtx_proto_destroy (&reply);
}

//  Unfinished work for this participant: branches not done
static bool
s_participant_busy (dtx_coordinator_t *self, participant_t *participant)
{
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        branch_t *branch = coord_txn_branch (txn, participant);
        if (branch && branch->state != BRANCH_DONE)
            return true;
        txn = (txn_t *) zhashx_next (self->txns);
    }
    return false;
}

static void
s_handle_register (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    const char *name = dtx_proto_name (msg);
    const char *identity = dtx_proto_text (msg);
    char err [512];
    if (dtx_name_validate ("participant", name, err, sizeof err)) {
        s_register_refuse (self, msg, NULL, DTX_ERR_BAD_REQUEST, err);
        return;
    }
    //  CurveZMQ: a participant key names the databases it may front
    //  (its certificate's "databases" metadata, via the ZAP handler); a
    //  key without that list may register any name (docs/security.md)
    const char *allowed = dtx_proto_peer_databases (msg);
    if (dtx_proto_user_id (msg) && allowed) {
        bool listed = false;
        size_t len = strlen (name);
        for (const char *p = allowed; *p && !listed; ) {
            while (*p == ',' || *p == ' ')
                p++;
            size_t item = strcspn (p, ", ");
            listed = item == len && strncmp (p, name, len) == 0;
            p += item;
        }
        if (!listed) {
            snprintf (err, sizeof err, "participant key %.40s may register only '%.200s', not"
                      " '%s' (its certificate's databases list; see docs/security.md)",
                      dtx_proto_user_id (msg), allowed, name);
            //  (logged once per 30 s, like the other refusals; no registry
            //  entry is made for a name this key may not use)
            static participant_t unlisted;
            s_register_refuse (self, msg, &unlisted, DTX_ERR_STATE, err);
            return;
        }
    }
    bool printable = true;
    for (const char *c = identity; *c; c++)
        printable = printable && *c >= 0x20 && *c < 0x7f;
    if (strlen (identity) > IDENTITY_MAX || !printable) {
        //  (it goes into the decision log or store: printable ASCII only)
        snprintf (err, sizeof err, "participant %s: database identity %s", name,
                  printable? "too long": "not printable ASCII");
        s_register_refuse (self, msg, NULL, DTX_ERR_BAD_REQUEST, err);
        return;
    }
    if (!zhashx_lookup (self->participants, name)
    &&  zhashx_size (self->participants) >= (size_t) self->config.participants_max) {
        //  Names are kept (and logged) for good: bound them
        self->refused [COORD_REFUSED_PARTICIPANTS]++;
        snprintf (err, sizeof err, "participant %s: %zu participant names known, the limit"
                  " (participants-max)", name, zhashx_size (self->participants));
        s_register_refuse (self, msg, NULL, DTX_ERR_BUSY, err);
        return;
    }
    participant_t *participant = coord_participant_require (self, name);
    bool same_peer = participant->connected && participant->routing_id
                  && zframe_eq (participant->routing_id, dtx_proto_routing_id (msg));
    const char *known = *participant->identity? participant->identity
                      : dtx_outcomes_identity (self->outcomes, name);
    bool other_database = *identity && known && *known && strcmp (identity, known);
    if (!same_peer && other_database) {
        if (participant->connected) {
            snprintf (err, sizeof err, "participant name '%s' is registered already, fronting"
                      " database %s; this one fronts database %s.  Two participants of one name"
                      " would commit one database's work on the other: give each its own name",
                      name, known, identity);
            s_register_refuse (self, msg, participant, DTX_ERR_STATE, err);
            return;
        }
        if (s_participant_busy (self, participant)) {
            snprintf (err, sizeof err, "participant '%s' now fronts database %s, but transactions"
                      " still to finish on '%s' belong to database %s: point it back at that"
                      " database until they are done (dtxctl in-doubt)", name, identity, name, known);
            s_register_refuse (self, msg, participant, DTX_ERR_STATE, err);
            return;
        }
        if (!participant->rebind) {
            //  (after a restart an impostor could register first: the
            //  log's identity is the one bound to the name)
            snprintf (err, sizeof err, "participant '%s' fronted database %s (decision log); this"
                      " one fronts database %s.  If the database really changed (a restore, an"
                      " upgrade), bind the name to it with 'dtxctl rebind %s'", name, known,
                      identity, name);
            s_register_refuse (self, msg, participant, DTX_ERR_STATE, err);
            return;
        }
        zsys_warning ("participant %s: rebound by an operator from database %s to %s", name,
                      known, identity);
        participant->rebind = false;
    }
    if (!same_peer) {
        zsys_info ("participant %s %s (database %s)", name,
                   participant->routing_id? "reconnected": "registered", *identity? identity: "?");
        if (participant->routing_id && participant->connected)
            coord_participant_lost (self, participant, "it reconnected as a new peer");
        zframe_destroy (&participant->routing_id);
        participant->routing_id = zframe_dup (dtx_proto_routing_id (msg));
        participant->connected = true;
        snprintf (participant->identity, sizeof participant->identity, "%s", identity);
        //  Work waiting for it (phase 2, probes) goes out on the next tick
        txn_t *txn = (txn_t *) zhashx_first (self->txns);
        while (txn) {
            branch_t *branch = coord_txn_branch (txn, participant);
            if (branch && branch->state == BRANCH_FINISHING && branch->awaiting) {
                branch->next_retry = dtx_clock_ms ();
                coord_timer_schedule (self, txn);
            }
            txn = (txn_t *) zhashx_next (self->txns);
        }
    }
    if (!participant->logged) {
        //  Durable before it gets any one-phase COMMIT of this epoch
        //  (NOTES).  Not durable yet (PostgreSQL store, unknown outcome):
        //  its transactions use two phases, and the next REGISTER (a
        //  second later) tries again.
        dtx_outcomes_add_participant (self->outcomes, self->epoch, name, identity);
        if (coord_store_participant (self, name, identity)) {
            zsys_error ("FATAL: decision log: cannot build PARTICIPANT record for %s", name);
            _exit (3);
        }
        participant->logged = coord_decisions_flush (self) == 0;
    }
    participant->last_seen = dtx_clock_ms ();
    participant->prepared = dtx_proto_ntuples (msg);
    dtx_proto_t *reply = dtx_proto_new (DTX_PROTO_REGISTER_OK);
    dtx_proto_set_routing_id (reply, participant->routing_id);
    dtx_proto_set_seq (reply, dtx_proto_seq (msg));
    dtx_proto_set_name (reply, name);
    //  The instance lets a participant see that we restarted: the live
    //  (unprepared) sessions it holds for us then belong to nobody
    dtx_proto_set_textf (reply, "%s:%" PRIu64, self->id, self->epoch);
    dtx_proto_send (reply, self->participants_sock);
    dtx_proto_destroy (&reply);
}

//  Find the participant a message came from (by routing id)
static participant_t *
s_participant_of (dtx_coordinator_t *self, dtx_proto_t *msg)
{
    participant_t *participant = (participant_t *) zhashx_first (self->participants);
    while (participant) {
        if (participant->routing_id
        &&  zframe_eq (participant->routing_id, dtx_proto_routing_id (msg)))
            return participant;
        participant = (participant_t *) zhashx_next (self->participants);
    }
    return NULL;
}

//  One message, if there is one (the socket does not block): false if none
bool
coord_handle_participant (dtx_coordinator_t *self)
{
    dtx_proto_t *msg;
    int got = coord_recv (self, self->participants_sock, "participant", &msg);
    if (got <= 0)
        return got == 0;
    int id = dtx_proto_id (msg);
    if (id == DTX_PROTO_REGISTER) {
        s_handle_register (self, msg);
        dtx_proto_destroy (&msg);
        return true;
    }
    participant_t *participant = s_participant_of (self, msg);
    if (!participant) {
        zsys_warning ("participant: %s from an unregistered peer, dropped", dtx_proto_command (msg));
        dtx_proto_destroy (&msg);
        return true;
    }
    participant->last_seen = dtx_clock_ms ();
    if (id == DTX_PROTO_OUTCOME_QUERY) {
        //  In-doubt resolution by a participant: it holds the gid prepared
        coord_answer_outcome (self, self->participants_sock, dtx_proto_routing_id (msg),
                              dtx_proto_seq (msg), dtx_proto_gid (msg), DTX_ASKER_PARTICIPANT);
        dtx_proto_destroy (&msg);
        return true;
    }
    txn_t *txn = (txn_t *) zhashx_lookup (self->txns, dtx_proto_gid (msg));
    branch_t *branch = txn? coord_txn_branch (txn, participant): NULL;
    if (!branch || !branch->awaiting || branch->seq != dtx_proto_seq (msg)) {
        if (id == DTX_PROTO_OUTCOME && coord_probe_answer (self, participant, msg)) {
            dtx_proto_destroy (&msg);
            return true;
        }
        if (self->config.verbose)
            zsys_debug ("participant %s: stale %s for %s, dropped", participant->name,
                    dtx_proto_command (msg), dtx_proto_gid (msg));
        dtx_proto_destroy (&msg);
        return true;
    }
    //  The reply must be of the kind the request asks for; any other is
    //  dropped and the branch keeps waiting (and retrying)
    int expected = branch->request == DTX_PROTO_EXECUTE? DTX_PROTO_RESULT
                 : branch->request == DTX_PROTO_PREPARE? DTX_PROTO_VOTE
                 : branch->request == DTX_PROTO_OUTCOME_QUERY? DTX_PROTO_OUTCOME: DTX_PROTO_DONE;
    if (id != expected && id != DTX_PROTO_ERROR) {
        if (self->refused [COORD_REFUSED_WRONG_REPLY]++ == 0)
            //  Logged once (counted in the metrics): a buggy or hostile
            //  peer must not flood the log
            zsys_warning ("participant %s: %s answers %s for %s: not a valid reply, dropped (the"
                          " request stays outstanding and is retried)", participant->name,
                          dtx_proto_command (msg), dtx_proto_command_name (branch->request), txn->gid);
        dtx_proto_destroy (&msg);
        return true;
    }
    branch->awaiting = false;
    if (branch->request == DTX_PROTO_OUTCOME_QUERY) {
        if (id == DTX_PROTO_ERROR)
            dtx_proto_set_status (msg, DTX_UNKNOWN);
        coord_handle_branch_outcome (self, txn, branch, msg);
    }
    else
    if (branch->request == DTX_PROTO_EXECUTE)
        coord_handle_statement_reply (self, txn, branch, msg);
    else
    if (branch->request == DTX_PROTO_PREPARE) {
        if (id == DTX_PROTO_ERROR)          //  an ERROR to PREPARE is a NO vote
            dtx_proto_set_status (msg, DTX_VOTE_NO);
        coord_handle_vote (self, txn, branch, msg);
    }
    else {
        if (id == DTX_PROTO_ERROR)
            dtx_proto_set_status (msg, DTX_DONE_FAILED);
        coord_handle_done (self, txn, branch, msg);
    }
    dtx_proto_destroy (&msg);
    return true;
}

