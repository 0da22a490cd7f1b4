/*  test_outcome - what the coordinator answers about a gid (dtx_outcome),
    case by case, with no process, socket or file: every rule of the NOTES
    in coordinator/dtx_outcome.c, and each false answer seen before it
    existed (docs/recovery.md "Outcome answers").  */
#include <check.h>
#include "dtx_outcome.h"

static dtx_outcomes_t *
s_store (size_t max, int64_t retention_ms)
{
    dtx_outcomes_t *store = dtx_outcomes_new ("c1", max, retention_ms);
    //  Epoch 1 (began at 1000 s) served by db1 and db2, then this process
    //  (epoch 2) which has issued 100 gids
    dtx_outcomes_add_epoch (store, 1, 1000);
    dtx_outcomes_add_participant (store, 1, "db1", "7001/bank");
    dtx_outcomes_add_participant (store, 1, "db2", "7002/bank");
    dtx_outcomes_add_epoch (store, 2, 2000);
    dtx_outcomes_set_issued (store, 2, 100);
    return store;
}

static int
s_ask (dtx_outcomes_t *store, const char *gid, dtx_live_t live, dtx_asker_t asker,
       dtx_answer_t *answer)
{
    dtx_outcomes_answer (store, gid, live, asker, answer);
    return answer->outcome;
}

START_TEST (test_live_states)
{
    dtx_outcomes_t *store = s_store (100, 60000);
    dtx_answer_t a;
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:5", DTX_LIVE_UNDECIDED, DTX_ASKER_CLIENT, &a), DTX_IN_PROGRESS);
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:5", DTX_LIVE_COMMITTED, DTX_ASKER_CLIENT, &a), DTX_COMMITTED);
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:5", DTX_LIVE_ABORTED, DTX_ASKER_CLIENT, &a), DTX_ABORTED);
    //  A one-phase COMMIT in flight (or being probed) is not decided yet:
    //  never "committed" before its database said so (seen: COMMITTED
    //  while in flight), never "aborted"
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:5", DTX_LIVE_ONE_PHASE, DTX_ASKER_CLIENT, &a), DTX_IN_PROGRESS);
    //  A participant must leave live work to the coordinator
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:5", DTX_LIVE_COMMITTED, DTX_ASKER_PARTICIPANT, &a), DTX_IN_PROGRESS);
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:5", DTX_LIVE_ABORTED, DTX_ASKER_PARTICIPANT, &a), DTX_IN_PROGRESS);
    dtx_outcomes_destroy (&store);
}
END_TEST

START_TEST (test_remembered_and_refused)
{
    dtx_outcomes_t *store = s_store (100, 60000);
    dtx_answer_t a;
    dtx_outcomes_remember (store, "dtx:c1:2:7", DTX_COMMITTED, 0, "", "", "", NULL, 0);
    dtx_outcomes_remember (store, "dtx:c1:2:8", DTX_ABORTED, 1, "db2", "23505", "duplicate key", NULL, 0);
    //  The first outcome stays (a replayed one is not overwritten)
    dtx_outcomes_remember (store, "dtx:c1:2:7", DTX_ABORTED, 1, "", "", "", NULL, 0);
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:7", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_COMMITTED);
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:8", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_ABORTED);
    ck_assert_str_eq (a.database, "db2");
    ck_assert_str_eq (a.sqlstate, "23505");
    ck_assert_str_eq (a.reason, "duplicate key");
    //  Not ours, never issued, malformed: refused, never "aborted"
    ck_assert_int_eq (s_ask (store, "dtx:other:2:7", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_ANSWER_REFUSE);
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:101", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_ANSWER_REFUSE);
    ck_assert (strstr (a.reason, "never issued"));
    ck_assert_int_eq (s_ask (store, "dtx:c1:3:1", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_ANSWER_REFUSE);
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:7'; DROP", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_ANSWER_REFUSE);
    ck_assert_int_eq (a.code, DTX_ERR_BAD_REQUEST);
    dtx_outcomes_destroy (&store);
}
END_TEST

START_TEST (test_presumed_abort_only_where_sound)
{
    dtx_outcomes_t *store = s_store (100, 60000);
    dtx_answer_t a;
    //  This epoch: everything that ended is remembered, so no record is abort
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:9", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_ABORTED);
    ck_assert (strstr (a.reason, "presumed abort"));
    //  An earlier epoch: a one-phase commit left no record here.  Never
    //  "aborted" from the log alone (seen: committed one-database
    //  transactions answered "aborted" after a restart): ask its databases
    ck_assert_int_eq (s_ask (store, "dtx:c1:1:9", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_ANSWER_PROBE);
    ck_assert_uint_eq (a.epoch, 1);
    ck_assert_uint_eq (a.epoch_began, 1000);
    zlistx_t *names = dtx_outcomes_participants (store, 1);
    ck_assert_uint_eq (zlistx_size (names), 2);
    //  A participant asks only about prepared (two-phase) gids: a COMMIT
    //  of those stays live until acknowledged, so no record is abort
    ck_assert_int_eq (s_ask (store, "dtx:c1:1:9", DTX_LIVE_NONE, DTX_ASKER_PARTICIPANT, &a), DTX_ABORTED);
    //  An epoch no participant served committed nothing
    dtx_outcomes_t *quiet = dtx_outcomes_new ("c1", 10, 60000);
    dtx_outcomes_add_epoch (quiet, 1, 1000);
    dtx_outcomes_add_epoch (quiet, 2, 2000);
    dtx_outcomes_set_issued (quiet, 2, 1);
    ck_assert_int_eq (s_ask (quiet, "dtx:c1:1:3", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_ABORTED);
    //  An epoch the log does not describe (older log): unknown, with why
    ck_assert_int_eq (s_ask (quiet, "dtx:c1:0:3", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_UNKNOWN);
    ck_assert (strstr (a.reason, "not described"));
    dtx_outcomes_destroy (&quiet);
    dtx_outcomes_destroy (&store);
}
END_TEST

START_TEST (test_retention_by_count_and_age)
{
    dtx_outcomes_t *store = s_store (3, 60000);
    dtx_answer_t a;
    for (int i = 10; i < 15; i++) {
        char gid [64];
        snprintf (gid, sizeof gid, "dtx:c1:2:%d", i);
        dtx_outcomes_remember (store, gid, DTX_COMMITTED, 0, "", "", "", NULL, i * 1000);
    }
    //  10 and 11 were evicted: the watermark rose to 11
    uint64_t epoch, counter;
    dtx_outcomes_watermark (store, &epoch, &counter);
    ck_assert_uint_eq (epoch, 2);
    ck_assert_uint_eq (counter, 11);
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:10", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_UNKNOWN);
    ck_assert (strstr (a.reason, "no longer retained"));
    //  ... and every gid issued before it, even of an earlier epoch
    ck_assert_int_eq (s_ask (store, "dtx:c1:1:500", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_UNKNOWN);
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:12", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_COMMITTED);
    //  Above the watermark nothing is forgotten
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:50", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_ABORTED);
    //  A participant's answer does not depend on retention
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:10", DTX_LIVE_NONE, DTX_ASKER_PARTICIPANT, &a), DTX_ABORTED);
    //  Age: 12 finished at 12 s; at 72.5 s it is past the 60 s retention
    dtx_outcomes_expire (store, 72500);
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:12", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_UNKNOWN);
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:13", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_COMMITTED);
    //  A CHECKPOINT read back never lowers the watermark
    dtx_outcomes_forget_up_to (store, 1, 5);
    dtx_outcomes_watermark (store, &epoch, &counter);
    ck_assert_uint_eq (counter, 12);
    dtx_outcomes_destroy (&store);
}
END_TEST

//  A long transaction finishing after younger ones were evicted: its gid
//  is below the watermark, but it is remembered, and compaction keeps it
//  (seen: after compaction + restart a committed gid answered "aborted")
static int s_kept;
static void
s_count_kept (void *arg, const char *gid, const char *owner)
{
    if (streq (gid, (const char *) arg))
        s_kept++;
}

START_TEST (test_late_finisher_below_watermark)
{
    dtx_outcomes_t *store = s_store (2, 60000);
    dtx_answer_t a;
    dtx_outcomes_remember (store, "dtx:c1:2:20", DTX_COMMITTED, 0, "", "", "", NULL, 0);
    dtx_outcomes_remember (store, "dtx:c1:2:21", DTX_COMMITTED, 0, "", "", "", NULL, 0);
    dtx_outcomes_remember (store, "dtx:c1:2:22", DTX_ABORTED, 0, "", "", "", NULL, 0);
    //  gid 5 began long ago and commits now
    dtx_outcomes_remember (store, "dtx:c1:2:5", DTX_COMMITTED, 0, "", "", "", NULL, 0);
    ck_assert_int_eq (s_ask (store, "dtx:c1:2:5", DTX_LIVE_NONE, DTX_ASKER_CLIENT, &a), DTX_COMMITTED);
    s_kept = 0;
    dtx_outcomes_each_committed (store, s_count_kept, "dtx:c1:2:5");
    ck_assert_int_eq (s_kept, 1);
    dtx_outcomes_destroy (&store);
}
END_TEST

//  Compaction keeps the epochs a restart needs to probe
static int s_epochs, s_names;
static void
s_count_epochs (void *arg, uint64_t epoch, uint64_t when, const char *name, const char *identity)
{
    if (name) {
        s_names++;
        ck_assert_str_eq (identity, streq (name, "db1")? "7001/bank": "7002/bank");
    }
    else
        s_epochs++;
}

START_TEST (test_epochs_kept_for_compaction)
{
    dtx_outcomes_t *store = s_store (100, 60000);
    s_epochs = s_names = 0;
    dtx_outcomes_each_epoch (store, s_count_epochs, NULL);
    ck_assert_int_eq (s_epochs, 2);
    ck_assert_int_eq (s_names, 2);
    //  Registering again in the same epoch is no new record
    ck_assert (!dtx_outcomes_add_participant (store, 1, "db1", "7001/bank"));
    ck_assert (dtx_outcomes_add_participant (store, 2, "db1", "7001/bank"));
    ck_assert_str_eq (dtx_outcomes_identity (store, "db2"), "7002/bank");
    //  Once the watermark is in epoch 2, epoch 1 is forgotten whole
    dtx_outcomes_forget_up_to (store, 2, 1);
    s_epochs = s_names = 0;
    dtx_outcomes_each_epoch (store, s_count_epochs, NULL);
    ck_assert_int_eq (s_epochs, 1);
    ck_assert_int_eq (s_names, 1);
    dtx_outcomes_destroy (&store);
}
END_TEST

static void
s_collect_owners (void *arg, const char *gid, const char *owner)
{
    char *text = (char *) arg;
    snprintf (text + strlen (text), 256 - strlen (text), "%s=%s ", gid, owner? owner: "");
}

//  Who is told (rules 8 and 9): with keys, a client about its own gids;
//  the same refusal for someone else's gid and for one never issued
START_TEST (test_told_to_its_owner)
{
    dtx_outcomes_t *store = s_store (100, 60000);
    dtx_outcomes_remember (store, "dtx:c1:2:7", DTX_COMMITTED, 0, "", "", "", "alice", 0);
    dtx_outcomes_remember (store, "dtx:c1:2:8", DTX_ABORTED, 1, "", "", "", NULL, 0);
    ck_assert_str_eq (dtx_outcomes_owner (store, "dtx:c1:2:7"), "alice");
    ck_assert_ptr_null (dtx_outcomes_owner (store, "dtx:c1:2:8"));
    //  Remembered with an owner: that key only
    ck_assert (dtx_outcomes_visible (store, "dtx:c1:2:7", NULL, "alice"));
    ck_assert (!dtx_outcomes_visible (store, "dtx:c1:2:7", NULL, "mallory"));
    //  No key to check (no CurveZMQ, an operator, a participant): told
    ck_assert (dtx_outcomes_visible (store, "dtx:c1:2:7", NULL, NULL));
    //  Live: its live owner decides
    ck_assert (dtx_outcomes_visible (store, "dtx:c1:2:50", "bob", "bob"));
    ck_assert (!dtx_outcomes_visible (store, "dtx:c1:2:50", "bob", "alice"));
    //  Owner not known, this epoch: refused like a gid never issued
    ck_assert (!dtx_outcomes_visible (store, "dtx:c1:2:8", NULL, "alice"));
    ck_assert (!dtx_outcomes_visible (store, "dtx:c1:2:500", NULL, "alice"));
    //  An earlier epoch: its aborts and one-phase commits left no owner;
    //  their owner must still hear the outcome after a restart
    ck_assert (dtx_outcomes_visible (store, "dtx:c1:1:9", NULL, "alice"));
    //  ... but a remembered owner of an earlier epoch still counts
    dtx_outcomes_remember (store, "dtx:c1:1:10", DTX_COMMITTED, 0, "", "", "", "bob", 0);
    ck_assert (!dtx_outcomes_visible (store, "dtx:c1:1:10", NULL, "alice"));
    //  Not one of ours, or malformed: the answer itself refuses it
    ck_assert (dtx_outcomes_visible (store, "dtx:other:2:1", NULL, "alice"));
    ck_assert (dtx_outcomes_visible (store, "nonsense", NULL, "alice"));
    //  At or below the watermark: UNKNOWN ("no longer retained") for
    //  anyone says nothing of whose it was
    dtx_outcomes_forget_up_to (store, 2, 20);
    ck_assert (dtx_outcomes_visible (store, "dtx:c1:2:15", NULL, "alice"));
    ck_assert (!dtx_outcomes_visible (store, "dtx:c1:2:21", NULL, "alice"));
    //  Compaction is given each commit's owner, to write it again
    char owners [256] = "";
    dtx_outcomes_each_committed (store, s_collect_owners, owners);
    ck_assert_str_eq (owners, "dtx:c1:2:7=alice dtx:c1:1:10=bob ");
    dtx_outcomes_destroy (&store);
}
END_TEST

Suite *
suite_outcome (void)
{
    Suite *suite = suite_create ("outcome");
    TCase *tc = tcase_create ("answers");
    tcase_add_test (tc, test_live_states);
    tcase_add_test (tc, test_remembered_and_refused);
    tcase_add_test (tc, test_presumed_abort_only_where_sound);
    tcase_add_test (tc, test_retention_by_count_and_age);
    tcase_add_test (tc, test_late_finisher_below_watermark);
    tcase_add_test (tc, test_epochs_kept_for_compaction);
    tcase_add_test (tc, test_told_to_its_owner);
    suite_add_tcase (suite, tc);
    return suite;
}
