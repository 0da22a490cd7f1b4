/*  =========================================================================
    coord_timers - what time does: transaction and vote timeouts, silent
    participants, answers a client should not wait longer for, phase-2
    retries (idempotent commands, backing off to 30 s, forever), outcome
    retention, probe deadlines
    =========================================================================
*/
#include "coord_classes.h"

void
coord_tick (dtx_coordinator_t *self, int64_t now)
{
    participant_t *participant = (participant_t *) zhashx_first (self->participants);
    while (participant) {
        if (participant->connected
        &&  now - participant->last_seen > self->config.participant_timeout_ms) {
            zsys_warning ("participant %s: silent for %d ms, marked disconnected",
                          participant->name, self->config.participant_timeout_ms);
            participant->connected = false;
            coord_participant_lost (self, participant, "silent");
        }
        participant = (participant_t *) zhashx_next (self->participants);
    }
    //  Collect first: aborting or finishing changes the table
    zlistx_t *due = zlistx_new ();
    txn_t *txn = (txn_t *) zhashx_first (self->txns);
    while (txn) {
        zlistx_add_end (due, txn);
        txn = (txn_t *) zhashx_next (self->txns);
    }
    txn = (txn_t *) zlistx_first (due);
    while (txn) {
        if (txn->state == TXN_ACTIVE && now >= txn->deadline) {
            char text [128];
            snprintf (text, sizeof text, "transaction timeout after %" PRId64 " ms",
                      txn->deadline - txn->started);
            coord_txn_abort (self, txn, DTX_ERR_TIMEOUT, NULL, NULL, text);
        }
        else
        if (txn->state == TXN_PREPARING && now >= txn->phase_deadline) {
            char text [512] = "no vote within the vote timeout from:";
            for (size_t i = 0; i < txn->nbranches; i++)
                if (txn->branches [i].state == BRANCH_PREPARING) {
                    strncat (text, " ", sizeof text - strlen (text) - 1);
                    strncat (text, txn->branches [i].participant->name,
                             sizeof text - strlen (text) - 1);
                }
            coord_txn_abort (self, txn, DTX_ERR_TIMEOUT, NULL, NULL, text);
        }
        else
        if (txn->state == TXN_COMMITTING || txn->state == TXN_ABORTING) {
            //  Don't keep the client waiting on a slow phase 2: the
            //  decision is final (durable for a 2PC commit)
            if (txn->client_request && now >= txn->phase_deadline) {
                if (txn->one_phase) {
                    //  The one-phase COMMIT's fate is unknown until the
                    //  participant answers
                    coord_client_outcome (self, self->clients, txn->client, txn->client_seq, txn->gid,
                                      DTX_UNKNOWN, DTX_ERR_PARTICIPANT,
                                      txn->branches [0].participant->name, "",
                                      txn->probing
                                      ? "the one-phase COMMIT's answer was lost; its database is"
                                        " being asked (ask again with dtx_client_outcome)"
                                      : "no answer to the one-phase COMMIT yet (ask again with"
                                        " dtx_client_outcome)");
                    txn->client_request = 0;
                }
                else
                    coord_txn_reply_outcome (self, txn);
            }
            for (size_t i = 0; i < txn->nbranches; i++) {
                branch_t *branch = &txn->branches [i];
                if (branch->state != BRANCH_FINISHING || !branch->awaiting)
                    continue;
                //  A request unanswered for long, or a failure retry, is
                //  sent again: phase-2 commands are idempotent (but a
                //  one-phase COMMIT is not, so it is never resent)
                bool resend = branch->next_retry? now >= branch->next_retry
                            : now - branch->sent_at > PHASE2_RETRY_MAX_MS;
                if (resend && !(txn->one_phase && branch->request == DTX_PROTO_COMMIT)
                &&  branch->participant->connected) {
                    branch->retries++;
                    coord_branch_send (self, txn, branch, branch->request, branch->request_flags);
                }
            }
        }
        txn = (txn_t *) zlistx_next (due);
    }
    zlistx_destroy (&due);
    dtx_outcomes_expire (self->outcomes, now);
    coord_probe_tick (self, now);
}
