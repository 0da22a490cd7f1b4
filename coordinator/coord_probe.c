/*  =========================================================================
    coord_probe - asking the databases about a one-phase gid of an earlier
    epoch

    NOTES

    A one-phase commit writes no record here: only a marker row in its own
    database (dtx.one_phase, written by the participant in the same local
    transaction as the data).  After a restart, a gid of an earlier epoch
    that the log does not know is therefore either aborted, or a
    one-phase commit on one of the databases that served that epoch (the
    log's PARTICIPANT records name them).  dtx_outcome says when to ask;
    this file asks each of them with OUTCOME_QUERY and combines:

      - one says committed (its marker is there): COMMITTED;
      - every one says aborted: ABORTED.  Each answer is a fence: the
        participant inserts a "not committed" row under the gid, so a
        one-phase COMMIT of it still in flight anywhere fails instead of
        committing after the answer was given;
      - one cannot say (not connected, no answer in PROBE_TIMEOUT_MS, its
        database unreachable, its marker retention passed) and none says
        committed: UNKNOWN with that reason, not remembered: asking again
        asks again.

    An exact answer is remembered (dtx_outcome), so each gid is probed
    once.  Probes in flight and their waiters are bounded.
    =========================================================================
*/
#include "coord_classes.h"

#define PROBES_MAX 10000            //  gids being asked about at once
#define WAITERS_MAX 64              //  askers waiting on one probe

typedef struct {
    zsock_t *sock;                  //  where to answer
    zframe_t *to;                   //  routing id of the asker
    uint32_t seq;
    probe_waiter_kind_t kind;
} waiter_t;

typedef struct {
    char gid [DTX_GID_MAX + 1];
    uint64_t epoch;
    uint64_t epoch_began;
    zlistx_t *pending;              //  names of participants still to answer
    zlistx_t *waiters;              //  waiter_t
    int64_t deadline;
    bool committed;
    char committed_on [DTX_NAME_MAX + 1];
    char unknown [512];             //  why it is not exact (first reason)
} probe_t;

static void
s_waiter_destroy (void **item_p)
{
    waiter_t *waiter = (waiter_t *) *item_p;
    if (waiter) {
        zframe_destroy (&waiter->to);
        free (waiter);
        *item_p = NULL;
    }
}

void
coord_probe_destroy (void **item_p)
{
    probe_t *probe = (probe_t *) *item_p;
    if (probe) {
        zlistx_destroy (&probe->pending);
        zlistx_destroy (&probe->waiters);
        free (probe);
        *item_p = NULL;
    }
}

int
coord_probe_send (dtx_coordinator_t *self, participant_t *participant, const char *gid,
                  uint32_t seq, uint64_t epoch_began)
{
    if (!participant->connected || !participant->routing_id)
        return -1;
    dtx_proto_t *msg = dtx_proto_new (DTX_PROTO_OUTCOME_QUERY);
    dtx_proto_set_routing_id (msg, participant->routing_id);
    dtx_proto_set_seq (msg, seq);
    dtx_proto_set_gid (msg, gid);
    dtx_proto_set_affected (msg, epoch_began);
    int rc = dtx_proto_send (msg, self->participants_sock);
    dtx_proto_destroy (&msg);
    return rc;
}

static void
s_reply (dtx_coordinator_t *self, waiter_t *waiter, const char *gid, const dtx_answer_t *answer)
{
    if (waiter->kind == PROBE_WAITER_CLIENT) {
        coord_client_outcome (self, waiter->sock, waiter->to, waiter->seq, gid, answer->outcome,
                              answer->code, answer->database, answer->sqlstate, answer->reason);
        return;
    }
    char *text = NULL;
    coord_admin_show_answer (&text, gid, answer, waiter->kind == PROBE_WAITER_ADMIN_JSON);
    dtx_proto_t *reply = dtx_proto_new (DTX_PROTO_ADMIN_REPLY);
    dtx_proto_set_routing_id (reply, waiter->to);
    dtx_proto_set_seq (reply, waiter->seq);
    dtx_proto_set_status (reply, answer->outcome == DTX_UNKNOWN? 1: 0);
    dtx_proto_set_text (reply, text);
    dtx_proto_send (reply, waiter->sock);
    dtx_proto_destroy (&reply);
    free (text);
}

//  Every participant answered, or one said committed, or time is up
static void
s_conclude (dtx_coordinator_t *self, probe_t *probe)
{
    dtx_answer_t answer;
    memset (&answer, 0, sizeof answer);
    int64_t now = dtx_clock_ms ();
    if (probe->committed) {
        answer.outcome = DTX_COMMITTED;
        snprintf (answer.database, sizeof answer.database, "%s", probe->committed_on);
        dtx_outcomes_remember (self->outcomes, probe->gid, DTX_COMMITTED, 0, probe->committed_on,
                               "", "", NULL, now);
    }
    else
    if (*probe->unknown) {
        answer.outcome = DTX_UNKNOWN;
        answer.code = DTX_ERR_PARTICIPANT;
        snprintf (answer.reason, sizeof answer.reason, "%s", probe->unknown);
    }
    else {
        answer.outcome = DTX_ABORTED;
        answer.code = DTX_ERR_NO_TXN;
        snprintf (answer.reason, sizeof answer.reason, "no commit decision recorded and no"
                  " one-phase commit marker in any database of epoch %" PRIu64 " (aborted)",
                  probe->epoch);
        dtx_outcomes_remember (self->outcomes, probe->gid, DTX_ABORTED, DTX_ERR_NO_TXN, "", "",
                               answer.reason, NULL, now);
    }
    if (self->config.verbose || answer.outcome == DTX_UNKNOWN)
        zsys_info ("%s: outcome from its databases: %s%s%s", probe->gid,
                   dtx_outcome_name ((dtx_outcome_t) answer.outcome),
                   *answer.reason? ": ": "", answer.reason);
    waiter_t *waiter = (waiter_t *) zlistx_first (probe->waiters);
    while (waiter) {
        s_reply (self, waiter, probe->gid, &answer);
        waiter = (waiter_t *) zlistx_next (probe->waiters);
    }
    zhashx_delete (self->probes, probe->gid);
}

static void
s_unknown (probe_t *probe, const char *format, ...)
{
    if (*probe->unknown)
        return;         //  the first reason is enough
    va_list args;
    va_start (args, format);
    vsnprintf (probe->unknown, sizeof probe->unknown, format, args);
    va_end (args);
}

void
coord_probe_start (dtx_coordinator_t *self, const dtx_answer_t *answer, const char *gid,
                   zsock_t *sock, zframe_t *to, uint32_t seq, probe_waiter_kind_t kind)
{
    probe_t *probe = (probe_t *) zhashx_lookup (self->probes, gid);
    if (!probe && zhashx_size (self->probes) >= PROBES_MAX) {
        dtx_answer_t busy = { .outcome = DTX_UNKNOWN, .code = DTX_ERR_BUSY };
        snprintf (busy.reason, sizeof busy.reason, "%d outcome probes in flight already; ask again",
                  PROBES_MAX);
        s_reply (self, &(waiter_t) { sock, to, seq, kind }, gid, &busy);
        return;
    }
    if (probe && zlistx_size (probe->waiters) >= WAITERS_MAX) {
        dtx_answer_t busy = { .outcome = DTX_UNKNOWN, .code = DTX_ERR_BUSY };
        snprintf (busy.reason, sizeof busy.reason, "%d askers wait for this gid already; ask again",
                  WAITERS_MAX);
        s_reply (self, &(waiter_t) { sock, to, seq, kind }, gid, &busy);
        return;
    }
    waiter_t *waiter = (waiter_t *) calloc (1, sizeof (waiter_t));
    assert (waiter);
    *waiter = (waiter_t) { sock, zframe_dup (to), seq, kind };
    if (probe) {
        zlistx_add_end (probe->waiters, waiter);
        return;
    }
    probe = (probe_t *) calloc (1, sizeof (probe_t));
    assert (probe);
    snprintf (probe->gid, sizeof probe->gid, "%s", gid);
    probe->epoch = answer->epoch;
    probe->epoch_began = answer->epoch_began;
    probe->deadline = dtx_clock_ms () + PROBE_TIMEOUT_MS;
    probe->pending = zlistx_new ();
    zlistx_set_destructor (probe->pending, (czmq_destructor *) zstr_free);
    zlistx_set_comparator (probe->pending, (czmq_comparator *) strcmp);
    probe->waiters = zlistx_new ();
    zlistx_set_destructor (probe->waiters, s_waiter_destroy);
    zlistx_add_end (probe->waiters, waiter);
    zhashx_insert (self->probes, gid, probe);

    zlistx_t *names = dtx_outcomes_participants (self->outcomes, answer->epoch);
    const char *name = names? (const char *) zlistx_first (names): NULL;
    while (name) {
        participant_t *participant = (participant_t *) zhashx_lookup (self->participants, name);
        if (participant && coord_probe_send (self, participant, gid, ++self->seq,
                                             answer->epoch_began) == 0)
            zlistx_add_end (probe->pending, strdup (name));
        else
            s_unknown (probe, "database %s, which served epoch %" PRIu64 ", is not connected: it"
                       " may hold a one-phase commit of this gid", name, answer->epoch);
        name = (const char *) zlistx_next (names);
    }
    if (zlistx_size (probe->pending) == 0)
        s_conclude (self, probe);
}

bool
coord_probe_answer (dtx_coordinator_t *self, participant_t *participant, dtx_proto_t *msg)
{
    probe_t *probe = (probe_t *) zhashx_lookup (self->probes, dtx_proto_gid (msg));
    if (!probe)
        return false;
    void *handle = zlistx_find (probe->pending, participant->name);
    if (!handle)
        return true;            //  a second answer, or not asked: ignore
    zlistx_delete (probe->pending, handle);
    int outcome = dtx_proto_status (msg);
    if (outcome == DTX_COMMITTED) {
        probe->committed = true;
        snprintf (probe->committed_on, sizeof probe->committed_on, "%s", participant->name);
    }
    else
    if (outcome != DTX_ABORTED)
        s_unknown (probe, "database %s cannot tell: %s", participant->name, dtx_proto_text (msg));
    if (probe->committed || zlistx_size (probe->pending) == 0)
        s_conclude (self, probe);
    return true;
}

void
coord_probe_tick (dtx_coordinator_t *self, int64_t now)
{
    if (zhashx_size (self->probes) == 0)
        return;
    zlistx_t *due = zlistx_new ();
    probe_t *probe = (probe_t *) zhashx_first (self->probes);
    while (probe) {
        if (now >= probe->deadline)
            zlistx_add_end (due, probe);
        probe = (probe_t *) zhashx_next (self->probes);
    }
    probe = (probe_t *) zlistx_first (due);
    while (probe) {
        s_unknown (probe, "database %s did not answer within %d ms",
                   (const char *) zlistx_first (probe->pending), PROBE_TIMEOUT_MS);
        s_conclude (self, probe);
        probe = (probe_t *) zlistx_next (due);
    }
    zlistx_destroy (&due);
}
