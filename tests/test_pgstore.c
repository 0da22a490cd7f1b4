/*  test_pgstore - the PostgreSQL decision store (coordinator/dtx_pgstore.c,
    docs/ha.md) against a real PostgreSQL: leases and epochs, the fenced
    group write, a takeover racing a write on the shard's row lock, and
    the outcomes that must be UNKNOWN (connection lost, no answer in
    time), repeated until exact.  */
#include "testutil.h"
#include "dtx.h"
#include "dtx_pgstore.h"
#include "dtx_proto.h"
#include <signal.h>
#include <sys/wait.h>
#include <libpq-fe.h>
#include <pthread.h>

static char s_conninfo [256];

static void
s_setup (void)
{
    harness_start_clusters (1);
    snprintf (s_conninfo, sizeof s_conninfo, "host=127.0.0.1 port=%d user=postgres dbname=postgres",
              harness.pg_port [0]);
}

static void
s_teardown (void)
{
    harness_stop ();
}

static dtx_pgstore_t *
s_store (const char *instance, int timeout_ms)
{
    char err [1024];
    dtx_pgstore_t *store = dtx_pgstore_new (s_conninfo, instance, timeout_ms, err, sizeof err);
    ck_assert_msg (store, "%s", err);
    return store;
}

static PGconn *
s_raw (void)
{
    PGconn *conn = PQconnectdb (s_conninfo);
    ck_assert_int_eq (PQstatus (conn), CONNECTION_OK);
    return conn;
}

static void
s_sql (PGconn *conn, const char *sql)
{
    PGresult *result = PQexec (conn, sql);
    ck_assert_msg (PQresultStatus (result) == PGRES_COMMAND_OK
                || PQresultStatus (result) == PGRES_TUPLES_OK, "%s: %s", sql,
                   PQresultErrorMessage (result));
    PQclear (result);
}

START_TEST (test_schema_is_the_shipped_file)
{
    char path [512];
    snprintf (path, sizeof path, "%s/sql/dtx-store.sql", TOP_SRCDIR);
    FILE *file = fopen (path, "r");
    ck_assert_ptr_nonnull (file);
    static char text [16384];
    size_t size = fread (text, 1, sizeof text - 1, file);
    fclose (file);
    text [size] = 0;
    ck_assert_str_eq (dtx_pgstore_schema (), text);
}
END_TEST

static int s_seen;
static char s_seen_text [1024];
static void
s_collect (void *arg, const dtx_pgstore_decision_t *decision)
{
    s_seen++;
    size_t used = strlen (s_seen_text);
    used += snprintf (s_seen_text + used, sizeof s_seen_text - used, "%s@%llu:", decision->gid,
                      (unsigned long long) decision->epoch);
    for (size_t i = 0; i < decision->nparticipants; i++)
        used += snprintf (s_seen_text + used, sizeof s_seen_text - used, "%s%s", i? ",": "",
                          decision->participants [i]);
    snprintf (s_seen_text + used, sizeof s_seen_text - used, " by %s;", decision->owner_key);
}

//  Leases, epochs and the fence: the old owner's write after a takeover
//  lands nowhere; the new owner sees what was decided before
START_TEST (test_takeover_fences_the_old_owner)
{
    dtx_pgstore_t *c1 = s_store ("c1", 5000), *c2 = s_store ("c2", 5000);
    ck_assert (dtx_pgstore_unreplicated (c1));          //  a single node
    uint64_t epoch = 0, epoch2 = 0;
    const char *holder = NULL;
    int64_t remaining = 0;
    ck_assert_int_eq (dtx_pgstore_take (c1, "s1", 600, &epoch, NULL, NULL), DTX_PGSTORE_OK);
    ck_assert_uint_eq (epoch, 1);
    const char *names [] = { "db1", "db2" };
    ck_assert_int_eq (dtx_pgstore_add_decision (c1, "dtx:s1:1:1", 2, names, "KEY1"), 0);
    dtx_pgstore_add_served (c1, "db1", "7001/bank");
    ck_assert_uint_eq (dtx_pgstore_pending (c1), 2);
    ck_assert_int_eq (dtx_pgstore_write (c1, "s1", 1), DTX_PGSTORE_OK);
    ck_assert_uint_eq (dtx_pgstore_pending (c1), 0);
    //  Held: another instance may not take it yet
    ck_assert_int_eq (dtx_pgstore_take (c2, "s1", 600, &epoch2, &holder, &remaining), DTX_PGSTORE_BUSY);
    ck_assert_str_eq (holder, "c1");
    ck_assert (remaining > 0 && remaining <= 600);
    ck_assert_int_eq (dtx_pgstore_renew (c1, "s1", 1, 600), DTX_PGSTORE_OK);
    //  Expired (by the store's clock): taken, epoch 2
    usleep (800 * 1000);
    ck_assert_int_eq (dtx_pgstore_take (c2, "s1", 60000, &epoch2, NULL, NULL), DTX_PGSTORE_OK);
    ck_assert_uint_eq (epoch2, 2);
    //  The zombie: its write and renewal are fenced, nothing lands
    ck_assert_int_eq (dtx_pgstore_add_decision (c1, "dtx:s1:1:2", 2, names, "KEY1"), 0);
    ck_assert_int_eq (dtx_pgstore_write (c1, "s1", 1), DTX_PGSTORE_FENCED);
    ck_assert_msg (strstr (dtx_pgstore_error (c1), "no longer ours"), "%s", dtx_pgstore_error (c1));
    ck_assert_int_eq (dtx_pgstore_renew (c1, "s1", 1, 600), DTX_PGSTORE_FENCED);
    bool found = true;
    dtx_pgstore_decision_t decision;
    uint64_t current = 0;
    ck_assert_int_eq (dtx_pgstore_lookup (c2, "dtx:s1:1:2", "s1", &found, &decision, &current),
                      DTX_PGSTORE_OK);
    ck_assert (!found);
    ck_assert_uint_eq (current, 2);
    //  The new owner drives what was decided before
    s_seen = 0;
    s_seen_text [0] = 0;
    ck_assert_int_eq (dtx_pgstore_each_unended (c2, "s1", s_collect, NULL), DTX_PGSTORE_OK);
    ck_assert_int_eq (s_seen, 1);
    ck_assert_str_eq (s_seen_text, "dtx:s1:1:1@1:db1,db2 by KEY1;");
    dtx_pgstore_add_end (c2, "dtx:s1:1:1");
    ck_assert_int_eq (dtx_pgstore_write (c2, "s1", 2), DTX_PGSTORE_OK);
    s_seen = 0;
    ck_assert_int_eq (dtx_pgstore_each_unended (c2, "s1", s_collect, NULL), DTX_PGSTORE_OK);
    ck_assert_int_eq (s_seen, 0);
    ck_assert_int_eq (dtx_pgstore_lookup (c1, "dtx:s1:1:1", "s1", &found, &decision, &current),
                      DTX_PGSTORE_OK);
    ck_assert (found && decision.ended);
    //  A name with a comma cannot be stored (names are comma-joined)
    const char *bad [] = { "a,b" };
    ck_assert_int_eq (dtx_pgstore_add_decision (c2, "dtx:s1:2:1", 1, bad, NULL), -1);
    ck_assert_uint_eq (dtx_pgstore_epoch (c1, "s1", &epoch), DTX_PGSTORE_OK);
    ck_assert_uint_eq (epoch, 2);
    dtx_pgstore_destroy (&c1);
    dtx_pgstore_destroy (&c2);
}
END_TEST

typedef struct {
    dtx_pgstore_t *store;
    const char *shard;
    uint64_t epoch;
    dtx_pgstore_result_t result;
} write_t;

static void *
s_write_thread (void *arg)
{
    write_t *write = (write_t *) arg;
    write->result = dtx_pgstore_write (write->store, write->shard, write->epoch);
    return NULL;
}

//  The write waits on a takeover's row lock: after the takeover commits
//  it is fenced (nothing written); after it rolls back the write lands
START_TEST (test_write_races_takeover)
{
    dtx_pgstore_t *c1 = s_store ("r1", 10000);
    uint64_t epoch = 0;
    ck_assert_int_eq (dtx_pgstore_take (c1, "s2", 60000, &epoch, NULL, NULL), DTX_PGSTORE_OK);
    PGconn *taker = s_raw ();
    const char *names [] = { "db1", "db2" };
    for (int commit = 1; commit >= 0; commit--) {
        char gid [64], sql [256];
        snprintf (gid, sizeof gid, "dtx:s2:%llu:%d", (unsigned long long) epoch, commit);
        s_sql (taker, "BEGIN");
        snprintf (sql, sizeof sql, "UPDATE dtx_store.shard SET epoch = epoch + 1, owner = 'r2'"
                  " WHERE shard = 's2' AND epoch = %llu", (unsigned long long) epoch);
        s_sql (taker, sql);
        ck_assert_int_eq (dtx_pgstore_add_decision (c1, gid, 2, names, NULL), 0);
        write_t write = { c1, "s2", epoch, -1 };
        pthread_t thread;
        pthread_create (&thread, NULL, s_write_thread, &write);
        usleep (300 * 1000);            //  the write is waiting on the lock by now
        s_sql (taker, commit? "COMMIT": "ROLLBACK");
        pthread_join (thread, NULL);
        ck_assert_int_eq (write.result, commit? DTX_PGSTORE_FENCED: DTX_PGSTORE_OK);
        dtx_pgstore_t *reader = s_store ("reader", 5000);
        bool found;
        dtx_pgstore_decision_t decision;
        uint64_t current;
        ck_assert_int_eq (dtx_pgstore_lookup (reader, gid, "s2", &found, &decision, &current),
                          DTX_PGSTORE_OK);
        ck_assert_int_eq (found, !commit);
        dtx_pgstore_destroy (&reader);
        if (commit) {
            //  (give the shard back to r1 for the second round)
            s_sql (taker, "UPDATE dtx_store.shard SET owner = 'r1', epoch = epoch + 1"
                          " WHERE shard = 's2'");
            ck_assert_int_eq (dtx_pgstore_epoch (c1, "s2", &epoch), DTX_PGSTORE_OK);
        }
    }
    PQfinish (taker);
    dtx_pgstore_destroy (&c1);
}
END_TEST

//  A lookup that waits on the shard's row lock while a decision and a
//  takeover commit must see the decision with the new epoch: never "no
//  decision, epoch closed" (an abort) for a committed gid.  (One
//  statement read the decision with the snapshot it started with; the
//  review that found it; dtx_pgstore_lookup now locks, then reads.)
typedef struct {
    dtx_pgstore_t *store;
    const char *gid, *shard;
    bool found;
    uint64_t current;
    dtx_pgstore_result_t result;
} lookup_t;

static void *
s_lookup_thread (void *arg)
{
    lookup_t *lookup = (lookup_t *) arg;
    dtx_pgstore_decision_t decision;
    lookup->result = dtx_pgstore_lookup (lookup->store, lookup->gid, lookup->shard,
                                         &lookup->found, &decision, &lookup->current);
    return NULL;
}

START_TEST (test_lookup_waits_then_sees_decision)
{
    dtx_pgstore_t *c1 = s_store ("l1", 10000);
    uint64_t epoch = 0;
    ck_assert_int_eq (dtx_pgstore_take (c1, "s7", 60000, &epoch, NULL, NULL), DTX_PGSTORE_OK);
    char gid [64], sql [512];
    snprintf (gid, sizeof gid, "dtx:s7:%llu:1", (unsigned long long) epoch);
    //  The decision's write and the takeover, both in flight, holding the
    //  shard's row (as a write whose commit waits for the standby, and
    //  the takeover queued behind it, would when the lookup starts)
    dtx_pgstore_t *reader = s_store ("l3", 10000);     //  (opened before: it checks the schema)
    PGconn *writer = s_raw ();
    s_sql (writer, "BEGIN");
    snprintf (sql, sizeof sql, "INSERT INTO dtx_store.decision (gid, shard, epoch, participants)"
              " VALUES ('%s', 's7', %llu, '{db1,db2}')", gid, (unsigned long long) epoch);
    s_sql (writer, sql);
    s_sql (writer, "UPDATE dtx_store.shard SET epoch = epoch WHERE shard = 's7'");
    lookup_t lookup = { reader, gid, "s7", false, 0, -1 };
    pthread_t thread;
    pthread_create (&thread, NULL, s_lookup_thread, &lookup);
    usleep (300 * 1000);                //  the lookup waits on the row lock by now
    s_sql (writer, "UPDATE dtx_store.shard SET epoch = epoch + 1, owner = 'l2' WHERE shard = 's7'");
    s_sql (writer, "COMMIT");
    pthread_join (thread, NULL);
    ck_assert_int_eq (lookup.result, DTX_PGSTORE_OK);
    ck_assert_uint_eq (lookup.current, epoch + 1);
    ck_assert_msg (lookup.found, "the lookup saw epoch %llu without the decision of %s",
                   (unsigned long long) lookup.current, gid);
    PQfinish (writer);
    dtx_pgstore_destroy (&reader);
    dtx_pgstore_destroy (&c1);
}
END_TEST

//  Not known whether it committed: the connection was killed, or no
//  answer came in time.  UNKNOWN, the batch kept; the repeat is exact.
START_TEST (test_unknown_then_repeated)
{
    dtx_pgstore_t *c1 = s_store ("u1", 800);
    uint64_t epoch = 0;
    ck_assert_int_eq (dtx_pgstore_take (c1, "s3", 60000, &epoch, NULL, NULL), DTX_PGSTORE_OK);
    const char *names [] = { "db1", "db2" };
    PGconn *blocker = s_raw ();
    //  1. No answer within the timeout (the write waits on a lock)
    s_sql (blocker, "BEGIN");
    s_sql (blocker, "SELECT * FROM dtx_store.shard WHERE shard = 's3' FOR UPDATE");
    ck_assert_int_eq (dtx_pgstore_add_decision (c1, "dtx:s3:1:1", 2, names, NULL), 0);
    ck_assert_int_eq (dtx_pgstore_write (c1, "s3", epoch), DTX_PGSTORE_UNKNOWN);
    ck_assert_msg (strstr (dtx_pgstore_error (c1), "no answer within 800 ms"), "%s",
                   dtx_pgstore_error (c1));
    ck_assert_uint_eq (dtx_pgstore_pending (c1), 1);
    s_sql (blocker, "ROLLBACK");
    ck_assert_int_eq (dtx_pgstore_write (c1, "s3", epoch), DTX_PGSTORE_OK);
    ck_assert_uint_eq (dtx_pgstore_pending (c1), 0);
    //  2. The store's backend is killed mid-write
    s_sql (blocker, "BEGIN");
    s_sql (blocker, "SELECT * FROM dtx_store.shard WHERE shard = 's3' FOR UPDATE");
    ck_assert_int_eq (dtx_pgstore_add_decision (c1, "dtx:s3:1:2", 2, names, NULL), 0);
    dtx_pgstore_t *c1_slow = c1;
    write_t write = { c1_slow, "s3", epoch, -1 };
    pthread_t thread;
    pthread_create (&thread, NULL, s_write_thread, &write);
    usleep (300 * 1000);
    s_sql (blocker, "SELECT pg_terminate_backend (pid) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND query LIKE '%dtx_store.decision%'");
    pthread_join (thread, NULL);
    ck_assert_int_eq (write.result, DTX_PGSTORE_UNKNOWN);
    ck_assert_uint_eq (dtx_pgstore_pending (c1), 1);
    s_sql (blocker, "ROLLBACK");
    ck_assert_int_eq (dtx_pgstore_write (c1, "s3", epoch), DTX_PGSTORE_OK);
    bool found = false;
    dtx_pgstore_decision_t decision;
    uint64_t current;
    ck_assert_msg (dtx_pgstore_lookup (c1, "dtx:s3:1:2", "s3", &found, &decision, &current)
                   == DTX_PGSTORE_OK, "%s", dtx_pgstore_error (c1));
    ck_assert (found);
    //  3. A store that cannot be reached: refused at open, naming it
    char err [1024];
    dtx_pgstore_t *none = dtx_pgstore_new ("host=127.0.0.1 port=1 dbname=x connect_timeout=2",
                                           "n", 1000, err, sizeof err);
    ck_assert_ptr_null (none);
    ck_assert_msg (strstr (err, "cannot connect"), "%s", err);
    PQfinish (blocker);
    dtx_pgstore_destroy (&c1);
}
END_TEST

//  The model's finding 1 (docs/ha.md): a write is UNKNOWN but landed;
//  the shard is taken over; the repeat is FENCED.  Its gid is committed
//  (the new owner drives it), not aborted; a gid that never landed is.
static bool
s_landed (dtx_pgstore_t *store, const char *gid)
{
    for (int i = 0; i < 100; i++) {
        bool found = false;
        dtx_pgstore_decision_t decision;
        uint64_t current;
        if (dtx_pgstore_lookup (store, gid, "s4", &found, &decision, &current) == DTX_PGSTORE_OK
        &&  found)
            return true;
        usleep (50 * 1000);
    }
    return false;
}

START_TEST (test_fenced_is_not_aborted)
{
    dtx_pgstore_t *c1 = s_store ("f1", 800), *c2 = s_store ("f2", 5000);
    uint64_t epoch = 0, epoch2 = 0;
    ck_assert_int_eq (dtx_pgstore_take (c1, "s4", 500, &epoch, NULL, NULL), DTX_PGSTORE_OK);
    const char *names [] = { "db1", "db2" };
    PGconn *blocker = s_raw ();
    s_sql (blocker, "BEGIN");
    s_sql (blocker, "SELECT * FROM dtx_store.shard WHERE shard = 's4' FOR UPDATE");
    ck_assert_int_eq (dtx_pgstore_add_decision (c1, "dtx:s4:1:1", 2, names, NULL), 0);
    ck_assert_int_eq (dtx_pgstore_write (c1, "s4", epoch), DTX_PGSTORE_UNKNOWN);
    //  The abandoned statement goes on when the lock is free, and lands
    s_sql (blocker, "ROLLBACK");
    ck_assert (s_landed (c2, "dtx:s4:1:1"));
    //  Taken over once the lease ran out; the repeat (with a new gid in
    //  the batch) is fenced
    usleep (700 * 1000);
    ck_assert_int_eq (dtx_pgstore_take (c2, "s4", 60000, &epoch2, NULL, NULL), DTX_PGSTORE_OK);
    ck_assert_int_eq (dtx_pgstore_add_decision (c1, "dtx:s4:1:2", 2, names, NULL), 0);
    ck_assert_int_eq (dtx_pgstore_write (c1, "s4", epoch), DTX_PGSTORE_FENCED);
    ck_assert_int_eq (dtx_pgstore_fenced_decided (c1, "dtx:s4:1:1"), 1);     //  committed
    ck_assert_int_eq (dtx_pgstore_fenced_decided (c1, "dtx:s4:1:2"), 0);     //  aborted
    ck_assert_uint_eq (dtx_pgstore_pending (c1), 0);
    PQfinish (blocker);
    dtx_pgstore_destroy (&c1);
    dtx_pgstore_destroy (&c2);
}
END_TEST

//  Ended decisions past the retention are pruned, lowest gids first, and
//  the watermark rises past them; unended ones stay
START_TEST (test_prune_raises_watermark)
{
    dtx_pgstore_t *c1 = s_store ("p1", 5000), *c2 = s_store ("p2", 5000);
    uint64_t epoch = 0;
    ck_assert_int_eq (dtx_pgstore_take (c1, "s5", 60000, &epoch, NULL, NULL), DTX_PGSTORE_OK);
    const char *names [] = { "db1", "db2" };
    char gid [64];
    for (int i = 1; i <= 3; i++) {
        snprintf (gid, sizeof gid, "dtx:s5:%llu:%d", (unsigned long long) epoch, i);
        ck_assert_int_eq (dtx_pgstore_add_decision (c1, gid, 2, names, NULL), 0);
    }
    ck_assert_int_eq (dtx_pgstore_write (c1, "s5", epoch), DTX_PGSTORE_OK);
    for (int i = 1; i <= 2; i++) {
        snprintf (gid, sizeof gid, "dtx:s5:%llu:%d", (unsigned long long) epoch, i);
        dtx_pgstore_add_end (c1, gid);
    }
    ck_assert_int_eq (dtx_pgstore_write (c1, "s5", epoch), DTX_PGSTORE_OK);
    size_t pruned = 9;
    uint64_t we = 9, wc = 9;
    //  Nothing old enough yet
    ck_assert_int_eq (dtx_pgstore_prune (c1, "s5", epoch, 3600, 100, &pruned, &we, &wc), DTX_PGSTORE_OK);
    ck_assert_uint_eq (pruned, 0);
    ck_assert_uint_eq (we, 0);
    PGconn *raw = s_raw ();
    s_sql (raw, "UPDATE dtx_store.decision SET decided_at = now () - interval '2 hours'"
                " WHERE shard = 's5'");
    PQfinish (raw);
    //  The two ended ones go; the third (not ended) stays
    ck_assert_int_eq (dtx_pgstore_prune (c1, "s5", epoch, 3600, 100, &pruned, &we, &wc), DTX_PGSTORE_OK);
    ck_assert_uint_eq (pruned, 2);
    ck_assert_uint_eq (we, epoch);
    ck_assert_uint_eq (wc, 2);
    bool found = true;
    dtx_pgstore_decision_t decision;
    uint64_t current;
    snprintf (gid, sizeof gid, "dtx:s5:%llu:1", (unsigned long long) epoch);
    ck_assert_int_eq (dtx_pgstore_lookup (c1, gid, "s5", &found, &decision, &current), DTX_PGSTORE_OK);
    ck_assert (!found);
    snprintf (gid, sizeof gid, "dtx:s5:%llu:3", (unsigned long long) epoch);
    ck_assert_int_eq (dtx_pgstore_lookup (c1, gid, "s5", &found, &decision, &current), DTX_PGSTORE_OK);
    ck_assert (found);
    //  Reading the watermark only; and only the owner prunes
    ck_assert_int_eq (dtx_pgstore_prune (c1, "s5", epoch, 3600, 0, &pruned, &we, &wc), DTX_PGSTORE_OK);
    ck_assert_uint_eq (pruned, 0);
    ck_assert_uint_eq (wc, 2);
    ck_assert_int_eq (dtx_pgstore_prune (c2, "s5", epoch, 3600, 100, &pruned, &we, &wc), DTX_PGSTORE_FENCED);
    dtx_pgstore_destroy (&c1);
    dtx_pgstore_destroy (&c2);
}
END_TEST

//  A write refused by the database (an error before its commit) wrote
//  nothing: the batch is kept and written again, never taken for durable
START_TEST (test_refused_write_is_kept)
{
    dtx_pgstore_t *c1 = s_store ("e1", 5000);
    uint64_t epoch = 0;
    ck_assert_int_eq (dtx_pgstore_take (c1, "s6", 60000, &epoch, NULL, NULL), DTX_PGSTORE_OK);
    PGconn *raw = s_raw ();
    s_sql (raw, "CREATE FUNCTION dtx_store.refuse () RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'refused by a test'; END $$");
    s_sql (raw, "CREATE TRIGGER refuse BEFORE INSERT ON dtx_store.decision"
                " FOR EACH ROW WHEN (NEW.shard = 's6') EXECUTE FUNCTION dtx_store.refuse ()");
    const char *names [] = { "db1", "db2" };
    ck_assert_int_eq (dtx_pgstore_add_decision (c1, "dtx:s6:1:1", 2, names, NULL), 0);
    ck_assert_int_eq (dtx_pgstore_write (c1, "s6", epoch), DTX_PGSTORE_ERROR);
    ck_assert_msg (strstr (dtx_pgstore_error (c1), "refused by a test"), "%s", dtx_pgstore_error (c1));
    ck_assert_uint_eq (dtx_pgstore_pending (c1), 1);
    s_sql (raw, "DROP TRIGGER refuse ON dtx_store.decision");
    ck_assert_int_eq (dtx_pgstore_write (c1, "s6", epoch), DTX_PGSTORE_OK);
    ck_assert_uint_eq (dtx_pgstore_pending (c1), 0);
    bool found = false;
    dtx_pgstore_decision_t decision;
    uint64_t current;
    ck_assert_int_eq (dtx_pgstore_lookup (c1, "dtx:s6:1:1", "s6", &found, &decision, &current),
                      DTX_PGSTORE_OK);
    ck_assert (found);
    PQfinish (raw);
    dtx_pgstore_destroy (&c1);
}
END_TEST

//  --------------------------------------------------------------------------
//  The coordinator on the store (--store): decisions in PostgreSQL

static char s_store_conninfo [256];

static void
s_system_setup (void)
{
    harness_start_clusters (2);
    snprintf (s_store_conninfo, sizeof s_store_conninfo,
              "host=127.0.0.1 port=%d user=postgres dbname=postgres", harness.pg_port [0]);
    //  By hand: the store on a Patroni cluster (scripts/hacluster.sh;
    //  DTX_TEST_HA_DIR its directory, for test_store_failover)
    if (getenv ("DTX_TEST_HA_STORE"))
        snprintf (s_store_conninfo, sizeof s_store_conninfo, "%s", getenv ("DTX_TEST_HA_STORE"));
    harness_store = s_store_conninfo;
    harness_start_coordinator ();
    harness_start_participant (0);
    harness_start_participant (1);
    if (!harness_wait_ready (30000)) {
        fprintf (stderr, "harness: system on the store did not become ready; logs in %s\n",
                 harness.dir);
        harness_stop ();
        exit (2);
    }
}

static int
s_items (int index, int id)
{
    char sql [128];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM items WHERE id = %d", id);
    return (int) harness_pg_value (index, sql);
}

static void
s_insert (dtx_txn_t *txn, int index, int id)
{
    char value [16];
    snprintf (value, sizeof value, "%d", id);
    const char *params [] = { value };
    dtx_result_t *result = dtx_exec (txn, harness.db_name [index],
                                     "INSERT INTO items (id, note) VALUES ($1::int, 'store')", 1, params);
    ck_assert_msg (dtx_result_ok (result), "%s", dtx_result_error (result));
    dtx_result_destroy (&result);
}

//  A transaction of 1 or 2 databases; returns its outcome, its gid in gid
static dtx_outcome_t
s_transaction (dtx_client_t *client, int id, int ndbs, bool rollback, char *gid)
{
    dtx_txn_t *txn = dtx_begin (client, 20000);
    for (int i = 0; i < ndbs; i++)
        s_insert (txn, i, id);
    dtx_outcome_t outcome = rollback? dtx_rollback (txn): dtx_commit (txn);
    snprintf (gid, DTX_GID_MAX + 1, "%s", dtx_txn_gid (txn));
    dtx_txn_destroy (&txn);
    return outcome;
}

//  Has process pid ended (within timeout_ms)?  (It may be the fixture's
//  child, not ours: harness_wait_stopped cannot wait for it.)
static bool
s_wait_gone (pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms && !harness_pid_gone (pid); waited += 50)
        usleep (50 * 1000);     //  polling interval
    return harness_pid_gone (pid);
}

static long long
s_store_value (const char *sql)
{
    return harness_pg_value (0, sql);
}

//  Commits through the store, a restart (the same instance takes its shard
//  back at once), and answers about the earlier epoch's gids: the two-phase
//  commit from the store, the one-phase commit and the abort by the probe
START_TEST (test_coordinator_on_store)
{
    if (getenv ("DTX_TEST_HA_STORE"))
        return;         //  (by hand on Patroni: test_store_failover only)
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 20000);
    char two [DTX_GID_MAX + 1], one [DTX_GID_MAX + 1], aborted [DTX_GID_MAX + 1];
    ck_assert_int_eq (s_transaction (client, 7001, 2, false, two), DTX_COMMITTED);
    ck_assert_int_eq (s_transaction (client, 7002, 1, false, one), DTX_COMMITTED);
    ck_assert_int_eq (s_transaction (client, 7003, 2, true, aborted), DTX_ABORTED);
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM dtx_store.decision WHERE gid = '%s'", two);
    ck_assert_int_eq (s_store_value (sql), 1);
    snprintf (sql, sizeof sql, "SELECT count(*) FROM dtx_store.decision WHERE gid IN ('%s', '%s')",
              one, aborted);
    ck_assert_int_eq (s_store_value (sql), 0);          //  one-phase and aborts: not recorded
    long long epoch = s_store_value ("SELECT epoch FROM dtx_store.shard WHERE shard = 'test'");

    harness_kill_coordinator (SIGKILL);
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (30000));
    ck_assert_int_eq (s_store_value ("SELECT epoch FROM dtx_store.shard WHERE shard = 'test'"),
                      epoch + 1);
    ck_assert_int_eq (dtx_client_outcome (client, two), DTX_COMMITTED);
    ck_assert_int_eq (dtx_client_outcome (client, one), DTX_COMMITTED);
    ck_assert_int_eq (dtx_client_outcome (client, aborted), DTX_ABORTED);
    char out [4096];
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "show %s", two), 0);
    ck_assert_msg (strstr (out, "committed"), "%s", out);
    //  dtxctl status names the store, the shard and its epoch
    char expect [128];
    snprintf (expect, sizeof expect, "decision store   PostgreSQL: shard test epoch %lld", epoch + 1);
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "status"), 0);
    ck_assert_msg (strstr (out, expect), "%s", out);
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "--json status"), 0);
    snprintf (expect, sizeof expect, "\"store\":{\"shard\":\"test\",\"epoch\":%lld,", epoch + 1);
    ck_assert_msg (strstr (out, expect), "%s", out);
    ck_assert_int_eq (s_items (0, 7001) + s_items (1, 7001), 2);
    ck_assert_int_eq (s_items (0, 7003) + s_items (1, 7003), 0);
    dtx_client_destroy (&client);
}
END_TEST

//  Killed after its decision was durable in the store, before phase 2:
//  the restarted coordinator finds it without END and commits everywhere
START_TEST (test_store_decision_survives_crash)
{
    if (getenv ("DTX_TEST_HA_STORE"))
        return;         //  (by hand on Patroni: test_store_failover only)
    harness_kill_coordinator (SIGTERM);
    harness_start_coordinator_fault ("coord-after-commit-durable");
    ck_assert (harness_wait_ready (30000));
    pid_t coordinator = harness_coordinator_pid ();
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 5000);
    char gid [DTX_GID_MAX + 1];
    dtx_outcome_t outcome = s_transaction (client, 7101, 2, false, gid);
    ck_assert_int_eq (outcome, DTX_UNKNOWN);            //  it died before answering
    ck_assert (s_wait_gone (coordinator, 10000));
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (30000));
    ck_assert (harness_wait_no_prepared (20000));
    ck_assert_int_eq (dtx_client_outcome (client, gid), DTX_COMMITTED);
    ck_assert_int_eq (s_items (0, 7101), 1);
    ck_assert_int_eq (s_items (1, 7101), 1);
    dtx_client_destroy (&client);
}
END_TEST

//  A coordinator asked about another shard's gids: a two-phase commit is
//  read from the store (committed, to its owner only); anything else is
//  the owner's to say (UNKNOWN, DTX_ERR_NOT_OWNER), never "aborted"; a
//  request for such a gid is refused with DTX_ERR_NOT_OWNER
START_TEST (test_foreign_gids)
{
    if (getenv ("DTX_TEST_HA_STORE"))
        return;         //  (by hand on Patroni: test_store_failover only)
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 20000);
    char two [DTX_GID_MAX + 1], one [DTX_GID_MAX + 1], aborted [DTX_GID_MAX + 1];
    ck_assert_int_eq (s_transaction (client, 7401, 2, false, two), DTX_COMMITTED);
    ck_assert_int_eq (s_transaction (client, 7402, 1, false, one), DTX_COMMITTED);
    ck_assert_int_eq (s_transaction (client, 7403, 2, true, aborted), DTX_ABORTED);
    int port = harness.metrics_port + 95;
    //  (a store-timeout that outlasts half the lease is refused at start)
    char out [4096];
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s/coordinator/dtx-coordinator --id other"
                                       " --log-dir %s --clients tcp://127.0.0.1:%d --participants"
                                       " tcp://127.0.0.1:%d --insecure --store '%s' --lease 1000"
                                       " --store-timeout 600", TOP_BUILDDIR, harness.dir, port,
                                       port + 1, s_store_conninfo), 2);
    ck_assert_msg (strstr (out, "store-timeout (600 ms) is more than half the lease (1000 ms)"),
                   "%s", out);
    pid_t other = harness_start_instance (NULL, "other", "other", port);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    dtx_client_t *asker = dtx_client_new (endpoint, 5000);
    ck_assert_ptr_nonnull (asker);
    //  (it answers once it holds its own shard)
    int64_t deadline = zclock_mono () + 15000;
    while (dtx_client_outcome (asker, two) == DTX_UNKNOWN && zclock_mono () < deadline)
        usleep (200 * 1000);
    ck_assert_int_eq (dtx_client_outcome (asker, two), DTX_COMMITTED);
    //  dtxctl shards: both shards, their owners, live leases
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s/dtxctl/dtxctl --json shards --store '%s'",
                                       TOP_BUILDDIR, s_store_conninfo), 0);
    ck_assert_msg (strstr (out, "{\"shard\":\"other\",\"epoch\":1,\"owner\":\"other\",\"lease_ms\":")
                   && strstr (out, "{\"shard\":\"test\","), "%s", out);
    ck_assert_int_eq (harness_capture (out, sizeof out, "%s/dtxctl/dtxctl shards --store '%s'",
                                       TOP_BUILDDIR, s_store_conninfo), 0);
    ck_assert_msg (strstr (out, "ms left") && strstr (out, "OWNER"), "%s", out);
    ck_assert_int_eq (dtx_client_outcome (asker, one), DTX_UNKNOWN);
    ck_assert_msg (strstr (dtx_client_error (asker), "ask shard test's coordinator"), "%s",
                   dtx_client_error (asker));
    ck_assert_int_eq (dtx_client_outcome (asker, aborted), DTX_UNKNOWN);
    //  A live transaction of shard test: in progress there, not mine here
    dtx_txn_t *txn = dtx_begin (client, 20000);
    s_insert (txn, 0, 7404);
    ck_assert_int_eq (dtx_client_outcome (asker, dtx_txn_gid (txn)), DTX_UNKNOWN);
    ck_assert_msg (strstr (dtx_client_error (asker), "held at epoch"), "%s", dtx_client_error (asker));
    //  A request for it there: refused, nothing done
    zsock_t *raw = (zsock_t *) harness_client_sock (endpoint, NULL);
    dtx_proto_t *request = dtx_proto_new (DTX_PROTO_ROLLBACK);
    dtx_proto_set_seq (request, 1);
    dtx_proto_set_gid (request, dtx_txn_gid (txn));
    dtx_proto_send (request, raw);
    dtx_proto_destroy (&request);
    zsock_set_rcvtimeo (raw, 5000);
    char err [256];
    dtx_proto_t *reply = NULL;
    ck_assert_int_eq (dtx_proto_recv (&reply, raw, err, sizeof err), 0);
    ck_assert_int_eq (dtx_proto_id (reply), DTX_PROTO_ERROR);
    ck_assert_int_eq (dtx_proto_status (reply), DTX_ERR_NOT_OWNER);
    ck_assert_msg (strstr (dtx_proto_text (reply), "holds shard other"), "%s", dtx_proto_text (reply));
    dtx_proto_destroy (&reply);
    zsock_destroy (&raw);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    ck_assert_int_eq (s_items (0, 7404), 1);
    //  Another client key is not told another's commit
    dtx_client_t *stranger = dtx_client_new_secure (endpoint, 5000, harness.other_client_secret,
                                                    getenv ("DTX_COORDINATOR_CERT"));
    ck_assert_ptr_nonnull (stranger);
    ck_assert_int_eq (dtx_client_outcome (stranger, two), DTX_UNKNOWN);
    ck_assert_msg (strstr (dtx_client_error (stranger), "no transaction of this client"), "%s",
                   dtx_client_error (stranger));
    dtx_client_destroy (&stranger);
    dtx_client_destroy (&asker);
    dtx_client_destroy (&client);
    kill (other, SIGTERM);
    ck_assert (s_wait_gone (other, 15000));
}
END_TEST

//  Another instance waits while the shard's lease is held, and takes
//  over once its holder is gone (a new epoch); the old holder, paused past
//  its lease and resumed, is fenced and steps down (exit 4)
START_TEST (test_takeover_and_zombie)
{
    if (getenv ("DTX_TEST_HA_STORE"))
        return;         //  (by hand on Patroni: test_store_failover only)
    char out [4096];
    long long epoch = s_store_value ("SELECT epoch FROM dtx_store.shard WHERE shard = 'test'");
    pid_t holder = harness_coordinator_pid ();
    //  The taker: another instance, on ports of its own
    pid_t taker = harness_start_instance (NULL, "test", "taker", harness.metrics_port + 90);
    //  It waits: the lease is held and renewed
    sleep (3);
    ck_assert_int_eq (s_store_value ("SELECT epoch FROM dtx_store.shard WHERE shard = 'test'"), epoch);
    ck_assert_int_eq (harness_capture (out, sizeof out, "grep -c 'is held by' %s/taker.log",
                                       harness.dir), 0);
    //  The holder paused past its lease: the taker takes the shard
    kill (holder, SIGSTOP);
    int64_t deadline = zclock_mono () + 10000;
    while (s_store_value ("SELECT epoch FROM dtx_store.shard WHERE shard = 'test'") == epoch
    &&     zclock_mono () < deadline)
        usleep (100 * 1000);
    ck_assert_int_eq (s_store_value ("SELECT epoch FROM dtx_store.shard WHERE shard = 'test'"),
                      epoch + 1);
    ck_assert_int_eq (harness_capture (out, sizeof out, "grep -c 'taken by instance taker' %s/taker.log",
                                       harness.dir), 0);
    //  Resumed: its next renewal is refused, it steps down
    kill (holder, SIGCONT);
    ck_assert (s_wait_gone (holder, 10000));
    ck_assert_int_eq (harness_capture (out, sizeof out, "grep -c 'stepping down' %s/coordinator.log",
                                       harness.dir), 0);
    kill (taker, SIGTERM);
    ck_assert (s_wait_gone (taker, 15000));
}
END_TEST

//  Random SIGKILLs of the coordinator on the store during a workload of
//  two-database transactions.  After each restart every answer is exact,
//  and matches the rows on both databases: no acknowledged commit lost,
//  no transaction half done, nothing left prepared.
static int s_kill_after_ms;

static void *
s_killer (void *arg)
{
    usleep ((useconds_t) s_kill_after_ms * 1000);
    harness_kill_coordinator (SIGKILL);
    return NULL;
}

typedef struct {
    char gid [DTX_GID_MAX + 1];
    int id;
    dtx_outcome_t told;
} done_t;

START_TEST (test_store_random_crashes)
{
    if (getenv ("DTX_TEST_HA_STORE"))
        return;         //  (by hand on Patroni: test_store_failover only)
    const unsigned first = (unsigned) time (NULL) ^ (unsigned) getpid ();
    unsigned seed = first;
    static done_t done [4096];
    int ndone = 0, next_id = 20000, committed = 0, acknowledged = 0;
    for (int round = 0; round < 4; round++) {
        s_kill_after_ms = 200 + (int) (rand_r (&seed) % 1200);
        pthread_t killer;
        pthread_create (&killer, NULL, s_killer, NULL);
        dtx_client_t *client = dtx_client_new (harness.client_endpoint, 2000);
        int64_t until = zclock_mono () + 2000;
        while (zclock_mono () < until && ndone < 4096) {
            done_t *txn_done = &done [ndone];
            txn_done->id = next_id++;
            dtx_txn_t *txn = dtx_begin (client, 10000);
            char value [16];
            snprintf (value, sizeof value, "%d", txn_done->id);
            const char *params [] = { value };
            for (int i = 0; i < 2; i++)
                dtx_send (txn, harness.db_name [i],
                          "INSERT INTO items (id, note) VALUES ($1::int, 'crash')", 1, params);
            txn_done->told = dtx_commit (txn);
            snprintf (txn_done->gid, sizeof txn_done->gid, "%s", dtx_txn_gid (txn));
            dtx_txn_destroy (&txn);
            if (*txn_done->gid)
                ndone++;
        }
        dtx_client_destroy (&client);
        pthread_join (killer, NULL);
        harness_start_coordinator ();
        ck_assert (harness_wait_ready (30000));
    }
    ck_assert (harness_wait_no_prepared (30000));
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 10000);
    for (int i = 0; i < ndone; i++) {
        dtx_outcome_t outcome = dtx_client_outcome (client, done [i].gid);
        int rows = s_items (0, done [i].id) + s_items (1, done [i].id);
        ck_assert_msg (outcome == DTX_COMMITTED || outcome == DTX_ABORTED, "%s: %d (%s), seed %u",
                       done [i].gid, outcome, dtx_client_error (client), first);
        ck_assert_msg (rows == (outcome == DTX_COMMITTED? 2: 0), "%s answered %d, %d rows, seed %u",
                       done [i].gid, outcome, rows, first);
        if (done [i].told == DTX_COMMITTED || done [i].told == DTX_ABORTED)
            ck_assert_msg (done [i].told == outcome, "%s told %d, now %d, seed %u", done [i].gid,
                           done [i].told, outcome, first);
        committed += outcome == DTX_COMMITTED;
        acknowledged += done [i].told == DTX_COMMITTED;
    }
    dtx_client_destroy (&client);
    printf ("store random crashes: %d transactions, %d committed (%d answered committed at the time)"
            ", 4 kills, seed %u\n", ndone, committed, acknowledged, first);
    ck_assert_int_gt (committed, 0);
}
END_TEST

//  A two-database commit past outcome-retention is pruned from the store
//  (here at the restart): asked about, it is "no longer retained", never
//  "aborted"
START_TEST (test_store_prunes_old_decisions)
{
    if (getenv ("DTX_TEST_HA_STORE"))
        return;         //  (by hand on Patroni: test_store_failover only)
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 20000);
    char gid [DTX_GID_MAX + 1], sql [512];
    ck_assert_int_eq (s_transaction (client, 7201, 2, false, gid), DTX_COMMITTED);
    snprintf (sql, sizeof sql, "SELECT count(*) FROM dtx_store.decision WHERE gid = '%s' AND ended", gid);
    for (int i = 0; i < 100 && s_store_value (sql) == 0; i++)
        usleep (100 * 1000);    //  END is written with a later batch or after a quiet second
    ck_assert_int_eq (s_store_value (sql), 1);
    snprintf (sql, sizeof sql, "UPDATE dtx_store.decision SET decided_at = now () - interval '2 days'"
              " WHERE gid = '%s'", gid);
    ck_assert_int_eq (harness_pg_exec (0, sql), 0);
    harness_kill_coordinator (SIGKILL);
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (30000));
    snprintf (sql, sizeof sql, "SELECT count(*) FROM dtx_store.decision WHERE gid = '%s'", gid);
    ck_assert_int_eq (s_store_value (sql), 0);
    ck_assert_int_eq (dtx_client_outcome (client, gid), DTX_UNKNOWN);
    ck_assert_msg (strstr (dtx_client_error (client), "no longer retained"), "%s",
                   dtx_client_error (client));
    ck_assert_int_eq (s_items (0, 7201) + s_items (1, 7201), 2);
    dtx_client_destroy (&client);
}
END_TEST

//  By hand, with the store on a 3-node Patroni cluster (DTX_TEST_HA_STORE,
//  DTX_TEST_HA_DIR; skipped otherwise): the store's leader is killed
//  during a two-database workload.  Decisions wait (unknown writes are
//  repeated) until the standby is promoted; afterwards every answer is
//  exact and matches the rows.
static void *
s_kill_store_leader (void *arg)
{
    usleep (1500 * 1000);
    char command [512];
    snprintf (command, sizeof command, "%s/scripts/hacluster.sh kill-leader %s >%s/kill-leader.log 2>&1",
              TOP_SRCDIR, getenv ("DTX_TEST_HA_DIR"), harness.dir);
    if (system (command)) {}
    return NULL;
}

START_TEST (test_store_failover)
{
    if (!getenv ("DTX_TEST_HA_DIR") || !getenv ("DTX_TEST_HA_STORE"))
        return;
    static done_t done [20000];
    int ndone = 0, next_id = 40000, committed = 0, unknown = 0;
    double worst_ms = 0;
    pthread_t killer;
    pthread_create (&killer, NULL, s_kill_store_leader, NULL);
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 30000);
    int64_t until = zclock_mono () + 25000;
    int restarts = 0;
    while (zclock_mono () < until && ndone < 20000) {
        //  The supervisor (systemd's Restart=): a coordinator that could
        //  not renew its lease during the failover stepped down (exit 4)
        if (harness_pid_gone (harness_coordinator_pid ())) {
            harness_start_coordinator ();
            restarts++;
        }
        done_t *txn_done = &done [ndone];
        txn_done->id = next_id++;
        int64_t started = zclock_mono ();
        dtx_txn_t *txn = dtx_begin (client, 60000);
        char value [16];
        snprintf (value, sizeof value, "%d", txn_done->id);
        const char *params [] = { value };
        for (int i = 0; i < 2; i++)
            dtx_send (txn, harness.db_name [i],
                      "INSERT INTO items (id, note) VALUES ($1::int, 'failover')", 1, params);
        txn_done->told = dtx_commit (txn);
        snprintf (txn_done->gid, sizeof txn_done->gid, "%s", dtx_txn_gid (txn));
        dtx_txn_destroy (&txn);
        double ms = (double) (zclock_mono () - started);
        if (ms > worst_ms)
            worst_ms = ms;
        if (*txn_done->gid)
            ndone++;
    }
    pthread_join (killer, NULL);
    if (harness_pid_gone (harness_coordinator_pid ())) {
        harness_start_coordinator ();
        restarts++;
    }
    ck_assert (harness_wait_ready (60000));
    ck_assert (harness_wait_no_prepared (60000));
    for (int i = 0; i < ndone; i++) {
        dtx_outcome_t outcome = dtx_client_outcome (client, done [i].gid);
        int rows = s_items (0, done [i].id) + s_items (1, done [i].id);
        ck_assert_msg (outcome == DTX_COMMITTED || outcome == DTX_ABORTED, "%s: %d (%s)",
                       done [i].gid, outcome, dtx_client_error (client));
        ck_assert_msg (rows == (outcome == DTX_COMMITTED? 2: 0), "%s answered %d, %d rows",
                       done [i].gid, outcome, rows);
        if (done [i].told == DTX_COMMITTED || done [i].told == DTX_ABORTED)
            ck_assert_int_eq (done [i].told, outcome);
        committed += outcome == DTX_COMMITTED;
        unknown += done [i].told == DTX_UNKNOWN;
    }
    dtx_client_destroy (&client);
    char out [2048];
    harness_capture (out, sizeof out, "grep -h 'failover\\|writable\\|promot' %s/kill-leader.log | tail -n 3",
                     harness.dir);
    printf ("store failover: %d transactions, %d committed, %d told unknown at the time, longest"
            " commit %.0f ms, coordinator restarted %d time(s)\n%s\n", ndone, committed, unknown,
            worst_ms, restarts, out);
    ck_assert_int_gt (committed, 0);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("pgstore");
    TCase *tc = tcase_create ("store");
    tcase_add_unchecked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_schema_is_the_shipped_file);
    tcase_add_test (tc, test_takeover_fences_the_old_owner);
    tcase_add_test (tc, test_write_races_takeover);
    tcase_add_test (tc, test_lookup_waits_then_sees_decision);
    tcase_add_test (tc, test_unknown_then_repeated);
    tcase_add_test (tc, test_fenced_is_not_aborted);
    tcase_add_test (tc, test_prune_raises_watermark);
    tcase_add_test (tc, test_refused_write_is_kept);
    suite_add_tcase (suite, tc);
    TCase *system = tcase_create ("coordinator");
    tcase_add_unchecked_fixture (system, s_system_setup, s_teardown);
    tcase_set_timeout (system, 120);
    tcase_add_test (system, test_coordinator_on_store);
    tcase_add_test (system, test_store_decision_survives_crash);
    tcase_add_test (system, test_foreign_gids);
    tcase_add_test (system, test_takeover_and_zombie);
    tcase_add_test (system, test_store_random_crashes);
    tcase_add_test (system, test_store_prunes_old_decisions);
    tcase_add_test (system, test_store_failover);
    suite_add_tcase (suite, system);
    SRunner *runner = srunner_create (suite);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed? 1: 0;
}
