/*  test_recovery - the crash matrix.  A transfer workload runs while a
    process dies at a named fault point (SIGKILL, by itself: DTX_FAULT), and
    at two points PostgreSQL is stopped with -m immediate too; a randomized
    variant kills a random process at a random moment.

    The workload mixes the shapes an application uses: two-database
    transfers (statements by dtx_exec, by dtx_send, or both; committed by
    dtx_commit or dtx_commit_decided) and, for a third of the transactions,
    one-database transfers (one-phase: a plain COMMIT, no PREPARE, no log
    record), by dtx_exec and by dtx_send only.  Every transaction writes
    `transfers` rows keyed by its gid, or by a tag of ours when the gid is
    not asked for before the commit, and is recorded: gid, tag, databases,
    what the commit answered and why.

    Every outcome answer is checked against the rows, per transaction:
      - a commit-time UNKNOWN always comes with a gid (dtx.h);
      - right after a restart, and again after recovery, dtx_client_outcome
        gives a definite answer for every gid (asked again for up to 30 s
        while it says IN_PROGRESS or UNKNOWN: these gids are young, "no
        longer retained" is wrong for them);
      - a definite commit-time answer, the answer right after the restart
        and the final answer are the same answer;
      - COMMITTED <=> the rows are on every database of the transaction,
        ABORTED <=> on none (and never on some only);
      - the total balance over all databases is conserved, and no dtx gid
        is left in pg_prepared_xacts within 30 s of the restart.
    A case does not stop at the first wrong answer: it prints every one
    (gid, shape, databases, expected, got, the coordinator's reason) and
    fails with the count and the first.

    Random rounds run a fixed list of seeds (seeds that once found bugs
    among them) and one fresh seed, each printed: DTX_CRASH_SEED=N runs
    only seed N (3 rounds, or DTX_CRASH_ROUNDS), DTX_CRASH_ROUNDS=N alone a
    fresh seed for N rounds.  DTX_FAULT_CASE picks one case (see main). */
#include "testutil.h"
#include "dtx.h"
#include <czmq.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define WORKERS 4
//  The workers run at full speed until stopped: a round of a few seconds
//  records a few thousand transactions
#define PER_WORKER_MAX 3000
#define RECORDS_MAX (WORKERS * PER_WORKER_MAX)
#define REASON_MAX 160
//  How long a young gid may stay IN_PROGRESS / UNKNOWN after a restart
#define OUTCOME_WAIT_MS 30000
//  ... right after a restart, while the workload runs on: nothing from
//  before the restart is live any more, so each answer is definite at
//  once (what stays open is asked again after recovery, for 30 s)
#define EARLY_WAIT_MS 5000

//  The transaction shapes, taken in turn (offset per worker, so that all
//  run at once): a third touch one database only
typedef enum {
    SHAPE_2DB_EXEC,             //  debit and credit by dtx_exec; dtx_commit
    SHAPE_1DB_EXEC,             //  one database, dtx_exec twice; dtx_commit
    SHAPE_2DB_EXEC_SEND,        //  credit by dtx_send (goes with PREPARE); dtx_commit_decided
    SHAPE_2DB_SEND,             //  both by dtx_send, gid not asked before commit; dtx_commit
    SHAPE_1DB_SEND,             //  one database, dtx_send only; dtx_commit
    SHAPE_2DB_SEND_DECIDED,     //  both by dtx_send; dtx_commit_decided
    SHAPES
} shape_t;

static const char *s_shape_name [SHAPES] = {
    "2db exec/exec commit", "1db exec/exec commit", "2db exec/send commit_decided",
    "2db send/send commit", "1db send/send commit", "2db send/send commit_decided"
};

typedef struct {
    char gid [DTX_GID_MAX + 1];     //  "" if the coordinator never named it
    char tag [DTX_GID_MAX + 1];     //  the transfers rows' key: the gid, or our own
    shape_t shape;
    int ndbs;                       //  1 or 2
    int db [2];                     //  db [1] == db [0] when one database
    dtx_outcome_t outcome;          //  what the commit answered
    char reason [REASON_MAX];       //  ... and why (dtx_txn_error_message)
    dtx_outcome_t early;            //  answer right after a restart (0 = not asked)
    char early_reason [REASON_MAX];
} record_t;

static record_t s_records [RECORDS_MAX];
static int s_nrecords;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile bool s_stop;
static unsigned s_seed_base;
static int s_run;                   //  tags stay unique across rounds
static int s_per_worker = 40;       //  fault cases; the random rounds run until stopped

//  Failures of the current case: each printed at once (the first few of
//  each kind), the first kept, and a count per kind of check and reason
//  printed when the case ends
static int s_nfailures;
static int64_t s_case_started;
static int64_t s_waited_in_vain;    //  ms spent waiting for answers that never came
static char s_first_failure [1024];
#define FAILURE_KINDS_MAX 32
#define FAILURES_PRINTED_PER_KIND 5
static struct {
    char key [160];
    int count;
} s_failure_kinds [FAILURE_KINDS_MAX];
static int s_nfailure_kinds;
//  Set while one record is checked: its failures are counted apart for
//  one- and two-database transactions
static const char *s_kind_scope = "";

//  kind: which check; why: the answer's reason, or NULL
static void
s_fail (const char *kind, const char *why, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_fail (const char *kind, const char *why, const char *format, ...)
{
    char line [1024], key [160];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof line, format, args);
    va_end (args);
    snprintf (key, sizeof key, "%s%s%s%s%s", s_kind_scope, kind, why? " (\"": "", why? why: "", why? "\")": "");
    int k;
    for (k = 0; k < s_nfailure_kinds; k++)
        if (streq (s_failure_kinds [k].key, key))
            break;
    if (k == s_nfailure_kinds && k < FAILURE_KINDS_MAX) {
        snprintf (s_failure_kinds [k].key, sizeof s_failure_kinds [k].key, "%s", key);
        s_failure_kinds [k].count = 0;
        s_nfailure_kinds++;
    }
    int seen = k < FAILURE_KINDS_MAX? s_failure_kinds [k].count++: 0;
    if (s_nfailures == 0)
        snprintf (s_first_failure, sizeof s_first_failure, "%s", line);
    if (seen < FAILURES_PRINTED_PER_KIND)
        printf ("FAILED: %s\n", line);
    else
    if (seen == FAILURES_PRINTED_PER_KIND)
        printf ("FAILED: ... more of: %s\n", key);
    fflush (stdout);
    s_nfailures++;
}

//  End of a case: fail it if any check failed, with a count per kind
static void
s_assert_no_failures (const char *label)
{
    for (int k = 0; k < s_nfailure_kinds; k++)
        printf ("%s: %d x %s\n", label, s_failure_kinds [k].count, s_failure_kinds [k].key);
    printf ("%s: %.1f s, %.1f s of it waiting for answers that never came\n", label,
            (zclock_mono () - s_case_started) / 1000.0, s_waited_in_vain / 1000.0);
    fflush (stdout);
    ck_assert_msg (s_nfailures == 0, "%s: %d check(s) failed; first: %s", label, s_nfailures,
                   s_first_failure);
}

static void
s_setup (void)
{
    harness_case_setup ();
    s_nrecords = 0;
    s_stop = false;
    s_nfailures = 0;
    s_case_started = zclock_mono ();
    s_waited_in_vain = 0;
    s_first_failure [0] = 0;
    s_nfailure_kinds = 0;
}

static void
s_suite_setup (void)
{
    //  Compact the decision log every couple of hundred commits, so that
    //  crashes hit compacted logs too
    harness_log_compact_bytes = 16384;
    harness_start (3);
}

static const char *
s_dbs_text (record_t *record, char *text, size_t size)
{
    if (record->ndbs == 1)
        snprintf (text, size, "db%d", record->db [0] + 1);
    else
        snprintf (text, size, "db%d+db%d", record->db [0] + 1, record->db [1] + 1);
    return text;
}

static const char *
s_outcome_text (dtx_outcome_t outcome)
{
    return outcome? dtx_outcome_name (outcome): "(not asked)";
}

static bool
s_definite (dtx_outcome_t outcome)
{
    return outcome == DTX_COMMITTED || outcome == DTX_ABORTED;
}

//  --------------------------------------------------------------------------
//  The workload

static const char *s_debit_sql =
    "WITH t AS (INSERT INTO transfers VALUES ($1, $2::int, -$3::bigint))"
    " UPDATE accounts SET balance = balance - $3::bigint WHERE id = $2::int";
static const char *s_credit_sql =
    "WITH t AS (INSERT INTO transfers VALUES ($1, $2::int, $3::bigint))"
    " UPDATE accounts SET balance = balance + $3::bigint WHERE id = $2::int";

//  One transfer of the given shape from account `from` on database a to
//  `to` on b (a == b for one database), recorded with what the commit
//  answered.  The rows are keyed by the gid, or by our tag for a
//  transaction that does not ask for its gid before the commit (a
//  dtx_send-only one, or use_tag).  False if nothing was started: the
//  gid was asked for and the coordinator did not give one.
static bool
s_transfer (dtx_client_t *client, shape_t shape, int a, int b, const char *from, const char *to,
            const char *amount, bool use_tag, int worker, int i)
{
    bool sends_only = shape == SHAPE_2DB_SEND || shape == SHAPE_1DB_SEND
                   || shape == SHAPE_2DB_SEND_DECIDED;
    bool decided = shape == SHAPE_2DB_EXEC_SEND || shape == SHAPE_2DB_SEND_DECIDED;
    char tag [DTX_GID_MAX + 1] = "";
    dtx_txn_t *txn = dtx_begin (client, 20000);
    if (sends_only || use_tag)
        snprintf (tag, sizeof tag, "tag-%d-%d-%d-%d", (int) getpid (), s_run, worker, i);
    else
    if (!*dtx_txn_gid (txn)) {
        dtx_txn_destroy (&txn);
        return false;
    }
    else
        snprintf (tag, sizeof tag, "%s", dtx_txn_gid (txn));
    const char *debit [] = { tag, from, amount };
    const char *credit [] = { tag, to, amount };
    dtx_result_t *r1 = NULL, *r2 = NULL;
    if (sends_only)
        dtx_send (txn, harness.db_name [a], s_debit_sql, 3, debit);
    else
        r1 = dtx_exec (txn, harness.db_name [a], s_debit_sql, 3, debit);
    if (shape == SHAPE_2DB_EXEC || shape == SHAPE_1DB_EXEC)
        r2 = dtx_exec (txn, harness.db_name [b], s_credit_sql, 3, credit);
    else
        dtx_send (txn, harness.db_name [b], s_credit_sql, 3, credit);
    dtx_outcome_t outcome = decided? dtx_commit_decided (txn): dtx_commit (txn);
    pthread_mutex_lock (&s_lock);
    if (s_nrecords < RECORDS_MAX) {
        record_t *record = &s_records [s_nrecords];
        memset (record, 0, sizeof *record);
        snprintf (record->gid, sizeof record->gid, "%s", dtx_txn_gid (txn));
        snprintf (record->tag, sizeof record->tag, "%s", tag);
        record->shape = shape;
        record->ndbs = a == b? 1: 2;
        record->db [0] = a;
        record->db [1] = b;
        record->outcome = outcome;
        snprintf (record->reason, sizeof record->reason, "%s", dtx_txn_error_message (txn));
        s_nrecords++;
    }
    else
        s_stop = true;
    pthread_mutex_unlock (&s_lock);
    dtx_result_destroy (&r1);
    dtx_result_destroy (&r2);
    dtx_txn_destroy (&txn);
    return true;
}

static void *
s_worker (void *arg)
{
    int worker = (int) (uintptr_t) arg;
    unsigned seed = s_seed_base + (unsigned) worker * 977;
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 8000);
    for (int i = 0; i < s_per_worker && !s_stop; i++) {
        shape_t shape = (shape_t) ((i + worker) % SHAPES);
        bool one_db = shape == SHAPE_1DB_EXEC || shape == SHAPE_1DB_SEND;
        int a = rand_r (&seed) % 3, b = one_db? a: (a + 1 + rand_r (&seed) % 2) % 3;
        char from [16], to [16], amount [16];
        snprintf (from, sizeof from, "%d", 1 + rand_r (&seed) % 50);
        snprintf (to, sizeof to, "%d", 1 + rand_r (&seed) % 50);
        snprintf (amount, sizeof amount, "%d", 1 + rand_r (&seed) % 20);
        if (!s_transfer (client, shape, a, b, from, to, amount, false, worker, i))
            zclock_sleep (200);     //  pacing: coordinator down, nothing was started; try again later
    }
    dtx_client_destroy (&client);
    return NULL;
}

static pthread_t s_threads [WORKERS];

static void
s_workload_start (void)
{
    s_stop = false;
    s_run++;
    for (int i = 0; i < WORKERS; i++)
        pthread_create (&s_threads [i], NULL, s_worker, (void *) (uintptr_t) i);
}

static void
s_workload_stop (void)
{
    s_stop = true;
    for (int i = 0; i < WORKERS; i++)
        pthread_join (s_threads [i], NULL);
}

static int
s_records_now (void)
{
    pthread_mutex_lock (&s_lock);
    int count = s_nrecords;
    pthread_mutex_unlock (&s_lock);
    return count;
}

//  --------------------------------------------------------------------------
//  Rows: transfers rows per key on each database, read in one query

typedef struct {
    zhashx_t *rows [HARNESS_DBS_MAX];   //  key -> count (as a pointer)
} rows_t;

static void
s_rows_load (rows_t *self)
{
    for (int db = 0; db < harness.ndbs; db++) {
        self->rows [db] = zhashx_new ();
        PGconn *conn = harness_pg (db);
        PGresult *result = PQexec (conn, "SELECT gid, count(*) FROM transfers GROUP BY gid");
        ck_assert_msg (PQresultStatus (result) == PGRES_TUPLES_OK, "db%d: %s", db + 1,
                       PQerrorMessage (conn));
        for (int row = 0; row < PQntuples (result); row++)
            zhashx_insert (self->rows [db], PQgetvalue (result, row, 0),
                           (void *) (intptr_t) atoi (PQgetvalue (result, row, 1)));
        PQclear (result);
        PQfinish (conn);
    }
}

static void
s_rows_free (rows_t *self)
{
    for (int db = 0; db < harness.ndbs; db++)
        zhashx_destroy (&self->rows [db]);
}

//  A committed transfer leaves two rows: one per database of a two-database
//  one, both on the one database of a one-database one.  Returns 1 if all
//  are there, 0 if none, -1 if some only; what is where into text.
static int
s_rows_state (rows_t *self, record_t *record, char *text, size_t size)
{
    int expected = record->ndbs == 1? 2: 1;
    int all = 0, none = 0;
    text [0] = 0;
    for (int i = 0; i < record->ndbs; i++) {
        int db = record->db [i];
        int count = (int) (intptr_t) zhashx_lookup (self->rows [db], record->tag);
        if (count == expected)
            all++;
        else
        if (count == 0)
            none++;
        size_t used = strlen (text);
        snprintf (text + used, size - used, "%s%d row(s) on db%d", i? ", ": "", count, db + 1);
    }
    return all == record->ndbs? 1: none == record->ndbs? 0: -1;
}

//  Rows for one key on one database (-1 on error)
static int
s_rows (PGconn *conn, const char *gid)
{
    const char *params [] = { gid };
    PGresult *result = PQexecParams (conn, "SELECT count(*) FROM transfers WHERE gid = $1",
                                     1, NULL, params, NULL, NULL, 0);
    int n = PQresultStatus (result) == PGRES_TUPLES_OK? atoi (PQgetvalue (result, 0, 0)): -1;
    PQclear (result);
    return n;
}

//  --------------------------------------------------------------------------
//  Outcome answers

//  Ask the coordinator about the gids of records [0, count), all of them in
//  turn, again and again while some answer IN_PROGRESS or UNKNOWN, until
//  each is definite or timeout_ms have passed.  Answers and the
//  coordinator's reasons (dtx_client_error) into s_answer [] and
//  s_answer_reason [], by record index.
static dtx_outcome_t s_answer [RECORDS_MAX];
static char s_answer_reason [RECORDS_MAX][REASON_MAX];

static void
s_ask_all (int count, int timeout_ms)
{
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 3000);
    for (int i = 0; i < count; i++) {
        s_answer [i] = 0;
        s_answer_reason [i][0] = 0;
    }
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int pending = 0;
        for (int i = 0; i < count; i++) {
            record_t *record = &s_records [i];
            if (!*record->gid || s_definite (s_answer [i]))
                continue;
            if (zclock_mono () >= deadline) {
                //  Out of time: keep its last answer (a coordinator that
                //  does not answer at all must not cost 3 s per gid)
                if (!s_answer [i]) {
                    s_answer [i] = DTX_UNKNOWN;
                    snprintf (s_answer_reason [i], REASON_MAX, "not asked: out of time");
                }
                continue;
            }
            s_answer [i] = dtx_client_outcome (client, record->gid);
            snprintf (s_answer_reason [i], REASON_MAX, "%s", dtx_client_error (client));
        }
        for (int i = 0; i < count; i++)
            pending += *s_records [i].gid && !s_definite (s_answer [i]);
        if (!pending)
            break;
        if (zclock_mono () >= deadline) {
            s_waited_in_vain += timeout_ms;
            break;
        }
        zclock_sleep (200);     //  poll interval of the wait for definite answers
    }
    dtx_client_destroy (&client);
}

//  Right after a restart: ask about every gid recorded so far, while the
//  workload may still run.  The answer must be definite, agree with a
//  definite commit-time answer, and is kept to be compared with the final
//  one (an answer may not change: one seen bug was right only until
//  something else happened).  ABORTED means the rows never appear.
static void
s_ask_after_restart (const char *label)
{
    int count = s_records_now ();
    int64_t started = zclock_mono ();
    s_ask_all (count, EARLY_WAIT_MS);
    rows_t rows;
    s_rows_load (&rows);
    int asked = 0;
    for (int i = 0; i < count; i++) {
        record_t *record = &s_records [i];
        if (!*record->gid)
            continue;
        s_kind_scope = record->ndbs == 1? "one-database: ": "two-database: ";
        asked++;
        char dbs [32], where [128];
        s_dbs_text (record, dbs, sizeof dbs);
        if (!record->early) {
            record->early = s_answer [i];
            memcpy (record->early_reason, s_answer_reason [i], REASON_MAX);
        }
        else
        if (s_definite (record->early) && s_definite (s_answer [i]) && s_answer [i] != record->early)
            s_fail ("answer changed between restarts", NULL,
                    "%s: %s (%s, %s): after an earlier restart the coordinator answered %s,"
                    " now %s (%s)", label, record->gid, s_shape_name [record->shape], dbs,
                    s_outcome_text (record->early), s_outcome_text (s_answer [i]), s_answer_reason [i]);
        if (!s_definite (s_answer [i]))
            s_fail ("no definite answer right after the restart", s_answer_reason [i],
                    "%s: %s (%s, %s): right after the restart the answer is still %s after"
                    " %d s: \"%s\" (commit answered %s)", label, record->gid,
                    s_shape_name [record->shape], dbs, s_outcome_text (s_answer [i]),
                    EARLY_WAIT_MS / 1000, s_answer_reason [i], s_outcome_text (record->outcome));
        else
        if (s_definite (record->outcome) && s_answer [i] != record->outcome)
            s_fail ("answer right after the restart differs from the commit's", s_answer_reason [i],
                    "%s: %s (%s, %s): commit answered %s, right after the restart the"
                    " coordinator answers %s: \"%s\"", label, record->gid,
                    s_shape_name [record->shape], dbs, s_outcome_text (record->outcome),
                    s_outcome_text (s_answer [i]), s_answer_reason [i]);
        if (s_answer [i] == DTX_ABORTED && s_rows_state (&rows, record, where, sizeof where) != 0)
            s_fail ("ABORTED right after the restart but rows there", s_answer_reason [i],
                    "%s: %s (%s, %s): right after the restart the coordinator answers ABORTED"
                    " (\"%s\") but %s", label, record->gid, s_shape_name [record->shape], dbs,
                    s_answer_reason [i], where);
    }
    s_kind_scope = "";
    s_rows_free (&rows);
    printf ("%s: asked about %d gid(s) right after the restart (%" PRId64 " ms)\n", label, asked,
            zclock_mono () - started);
    fflush (stdout);
}

//  After recovery: every invariant of the crash matrix, every record
static void
s_check_invariants (long long total_before, const char *label)
{
    ck_assert_msg (harness_wait_ready (30000), "%s: system not ready after restart", label);
    if (!harness_wait_no_prepared (30000)) {
        s_waited_in_vain += 30000;
        s_fail ("prepared transactions left", NULL, "%s: %d dtx prepared transaction(s) left 30 s after the restart", label,
                harness_prepared_dtx ());
    }
    s_ask_all (s_nrecords, OUTCOME_WAIT_MS);
    rows_t rows;
    s_rows_load (&rows);
    int committed = 0, aborted = 0, unknown = 0, one_db = 0, asked_early = 0;
    for (int i = 0; i < s_nrecords; i++) {
        record_t *record = &s_records [i];
        s_kind_scope = record->ndbs == 1? "one-database: ": "two-database: ";
        char dbs [32], where [128];
        s_dbs_text (record, dbs, sizeof dbs);
        const char *shape = s_shape_name [record->shape];
        int state = s_rows_state (&rows, record, where, sizeof where);
        one_db += record->ndbs == 1;
        asked_early += record->early != 0;
        if (state < 0)
            s_fail ("not atomic", NULL, "%s: %s (%s, %s) not atomic: %s (commit answered %s, now %s)", label,
                    record->tag, shape, dbs, where, s_outcome_text (record->outcome),
                    s_outcome_text (s_answer [i]));
        if (record->outcome == DTX_UNKNOWN)
            unknown++;
        dtx_outcome_t final = record->outcome;
        if (!*record->gid) {
            //  Never named by the coordinator: only a definite commit
            //  answer is of any use (dtx.h: an UNKNOWN comes with a gid)
            if (record->outcome == DTX_UNKNOWN || record->outcome == DTX_IN_PROGRESS) {
                s_fail ("commit answered UNKNOWN without a gid", NULL,
                        "%s: %s (%s, %s): commit answered %s without a gid (\"%s\"); %s",
                        label, record->tag, shape, dbs, s_outcome_text (record->outcome),
                        record->reason, where);
                continue;
            }
        }
        else {
            final = s_answer [i];
            if (!s_definite (final)) {
                //  Definite right after the restart and not now: the
                //  answer changed, which is worse than never knowing
                s_fail (s_definite (record->early)? "definite right after the restart, no definite"
                        " answer after recovery": "no definite answer after recovery",
                        s_answer_reason [i],
                        "%s: %s (%s, %s): no definite outcome %d s after recovery: %s \"%s\""
                        " (commit answered %s \"%s\"; right after the restart %s \"%s\"; %s)",
                        label, record->gid, shape, dbs, OUTCOME_WAIT_MS / 1000,
                        s_outcome_text (final), s_answer_reason [i], s_outcome_text (record->outcome),
                        record->reason, s_outcome_text (record->early), record->early_reason, where);
                continue;
            }
            if (s_definite (record->outcome) && record->outcome != final)
                s_fail ("answer after recovery differs from the commit's", s_answer_reason [i],
                        "%s: %s (%s, %s): commit answered %s, after recovery the coordinator"
                        " answers %s \"%s\"; %s", label, record->gid, shape, dbs,
                        s_outcome_text (record->outcome), s_outcome_text (final),
                        s_answer_reason [i], where);
            if (s_definite (record->early) && record->early != final)
                s_fail ("answer after recovery differs from the one right after the restart", NULL,
                        "%s: %s (%s, %s): right after the restart the coordinator answered %s"
                        " \"%s\", after recovery %s \"%s\"; %s", label, record->gid, shape, dbs,
                        s_outcome_text (record->early), record->early_reason,
                        s_outcome_text (final), s_answer_reason [i], where);
        }
        if (final == DTX_COMMITTED) {
            committed++;
            if (state != 1)
                s_fail ("COMMITTED but rows missing", NULL,
                        "%s: %s (%s, %s): answered COMMITTED (%s; commit answered %s \"%s\") but %s",
                        label, *record->gid? record->gid: record->tag, shape, dbs,
                        *record->gid? "coordinator, after recovery": "commit",
                        s_outcome_text (record->outcome), record->reason, where);
        }
        else {
            aborted++;
            if (state != 0)
                s_fail ("ABORTED but rows there", NULL,
                        "%s: %s (%s, %s): answered ABORTED (%s \"%s\"; commit answered %s \"%s\")"
                        " but %s", label, *record->gid? record->gid: record->tag, shape, dbs,
                        *record->gid? "coordinator, after recovery": "commit",
                        *record->gid? s_answer_reason [i]: record->reason,
                        s_outcome_text (record->outcome), record->reason, where);
        }
    }
    s_kind_scope = "";
    s_rows_free (&rows);
    long long total_after = harness_total_balance ();
    if (total_after != total_before)
        s_fail ("balance", NULL, "%s: total balance %lld, was %lld", label, total_after, total_before);
    printf ("%s: %d transactions (%d one-database), %d committed, %d aborted, %d unknown to"
            " the client until asked, %d asked right after the restart\n",
            label, s_nrecords, one_db, committed, aborted, unknown, asked_early);
    fflush (stdout);
}

//  --------------------------------------------------------------------------
//  Process logs: a positive signal instead of a sleep

static long
s_log_size (const char *name)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s.log", harness.dir, name);
    struct stat st;
    return stat (path, &st) == 0? (long) st.st_size: 0;
}

//  Wait until the log `name` (e.g. "participant-db1") has, past offset, a
//  line that contains needle and, unless NULL, also.  True if it came
//  within timeout_ms.
static bool
s_log_wait (const char *name, long offset, const char *needle, const char *also, int timeout_ms)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s.log", harness.dir, name);
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        bool found = false;
        FILE *file = fopen (path, "r");
        if (file && fseek (file, offset, SEEK_SET) == 0) {
            char line [2048];
            while (!found && fgets (line, sizeof line, file))
                found = strstr (line, needle) && (!also || strstr (line, also));
        }
        if (file)
            fclose (file);
        if (found)
            return true;
        if (zclock_mono () >= deadline)
            return false;
        zclock_sleep (100);     //  poll interval of the wait for the line
    }
}

//  Wait until the target has died (true) or timeout_ms have passed
static bool
s_wait_gone (pid_t target, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (!harness_pid_gone (target)) {
        if (zclock_mono () >= deadline)
            return false;
        zclock_sleep (20);      //  poll interval of the wait for the death
    }
    return true;
}

//  --------------------------------------------------------------------------
//  The named fault points

typedef struct {
    const char *point;
    bool coordinator;           //  else participant db2
    int pg_kill;                //  also stop this PostgreSQL immediately (-1 none)
} fault_case_t;

static const fault_case_t s_faults [] = {
    { "coord-after-prepare-sent:3",             true,  -1 },
    { "coord-before-commit-durable:3",          true,  -1 },
    { "coord-after-commit-durable:3",           true,   0 },
    { "coord-after-some-commit-prepared:3",     true,  -1 },
    { "coord-before-end:3",                     true,  -1 },
    { "part-before-prepare:3",                  false, -1 },
    { "part-after-prepare-before-vote:3",       false, -1 },
    { "part-after-vote:3",                      false,  1 },
    { "part-after-commit-prepared-before-ack:3", false, -1 },
};
#define FAULT_CASES (int) (sizeof s_faults / sizeof s_faults [0])

START_TEST (test_fault_point)
{
    const fault_case_t *fault = &s_faults [_i];
    s_seed_base = 1000 + _i;
    long long total_before = harness_total_balance ();
    //  Restart the target armed with its fault point
    if (fault->coordinator) {
        harness_kill_coordinator (SIGTERM);
        harness_start_coordinator_fault (fault->point);
    }
    else {
        harness_kill_participant (1, SIGTERM);
        harness_start_participant_fault (1, fault->point);
    }
    ck_assert (harness_wait_ready (20000));
    pid_t target = fault->coordinator? harness_coordinator_pid (): harness_participant_pid (1);
    s_workload_start ();
    if (!s_wait_gone (target, 60000)) {
        s_workload_stop ();
        ck_abort_msg ("%s: the fault point was never reached", fault->point);
    }
    if (fault->pg_kill >= 0) {
        harness_pg_stop_immediate (fault->pg_kill);
        harness_pg_start (fault->pg_kill);
    }
    zclock_sleep (1000);        //  pacing: the workload meets the dead process for a second
    //  Back while the workload still runs: a worker's request lost with
    //  the dead process costs it one reply timeout, the next ones are
    //  answered by the new process (waiting for the workers first made
    //  each of their requests wait out the timeout, up to 30 s)
    if (fault->coordinator)
        harness_start_coordinator ();
    else
        harness_start_participant (1);
    s_workload_stop ();
    //  The first answers after the restart, before phase 2 is finished
    ck_assert_msg (harness_wait_ready (30000), "%s: system not ready after restart", fault->point);
    s_ask_after_restart (fault->point);
    s_check_invariants (total_before, fault->point);
    s_assert_no_failures (fault->point);
}
END_TEST

//  --------------------------------------------------------------------------
//  Random process, random moment

//  Seeds run in every suite run (SEED_ROUNDS rounds each).  Victims in
//  their first two rounds, as drawn below:
static const unsigned s_seeds [] = {
    1795950261,     //  PostgreSQL db3; coordinator SIGKILL (once found a bug)
    1795952338,     //  coordinator SIGKILL twice (once found an UNKNOWN without a gid, b670076)
    1795960019,     //  participant db1; coordinator SIGTERM
    1795960022,     //  PostgreSQL db3; coordinator SIGTERM
    1795960017,     //  participant db2; PostgreSQL db1
};
#define SEEDS (int) (sizeof s_seeds / sizeof s_seeds [0])
#define SEED_ROUNDS 2

//  _i < SEEDS: a seed of the list; _i == SEEDS: DTX_CRASH_SEED, or a fresh one
START_TEST (test_random_crashes)
{
    const char *env_seed = getenv ("DTX_CRASH_SEED");
    const char *env_rounds = getenv ("DTX_CRASH_ROUNDS");
    unsigned seed;
    int rounds;
    if (_i < SEEDS) {
        seed = s_seeds [_i];
        rounds = SEED_ROUNDS;
    }
    else
    if (env_seed) {
        seed = (unsigned) strtoul (env_seed, NULL, 10);
        rounds = env_rounds? atoi (env_rounds): 3;
    }
    else {
        seed = (unsigned) time (NULL);
        rounds = env_rounds? atoi (env_rounds): SEED_ROUNDS;
    }
    unsigned first_seed = seed;
    printf ("random crashes: seed %u%s, %d rounds (DTX_FAULT_CASE=random DTX_CRASH_SEED=%u"
            " reproduces)\n", seed, _i < SEEDS? "": " (fresh or given)", rounds, seed);
    fflush (stdout);
    s_per_worker = PER_WORKER_MAX;
    for (int round = 0; round < rounds; round++) {
        int64_t round_started = zclock_mono ();
        s_nrecords = 0;
        s_seed_base = seed + round * 7;
        long long total_before = harness_total_balance ();
        //  0 coordinator, 1..3 participant, 4..6 PostgreSQL
        int victim = rand_r (&seed) % 7;
        int delay = 200 + rand_r (&seed) % 1500;
        //  The coordinator is killed or drained (SIGTERM); drawn from the
        //  delay, so that each seed's victims stay what they always were
        int signal = delay % 2? SIGTERM: SIGKILL;
        s_workload_start ();
        zclock_sleep (delay);       //  the random moment of the crash
        char label [128];
        if (victim == 0) {
            snprintf (label, sizeof label, "seed %u round %d: coordinator %s at %d ms", first_seed,
                      round, signal == SIGTERM? "stopped by SIGTERM": "killed", delay);
            harness_kill_coordinator (signal);
            zclock_sleep (300);     //  pacing: the clients meet a coordinator that is down
            harness_start_coordinator ();
        }
        else
        if (victim <= 3) {
            snprintf (label, sizeof label, "seed %u round %d: participant db%d killed at %d ms",
                      first_seed, round, victim, delay);
            harness_kill_participant (victim - 1, SIGKILL);
            zclock_sleep (300);     //  pacing: the transactions meet a participant that is down
            harness_start_participant (victim - 1);
        }
        else {
            snprintf (label, sizeof label, "seed %u round %d: PostgreSQL db%d stopped at %d ms",
                      first_seed, round, victim - 3, delay);
            harness_pg_stop_immediate (victim - 4);
            zclock_sleep (300);     //  pacing: the participant meets a database that is down
            harness_pg_start (victim - 4);
        }
        //  Ask right after the restart, with the workload still running
        ck_assert_msg (harness_wait_ready (30000), "%s: system not ready after the restart", label);
        s_ask_after_restart (label);
        zclock_sleep (1500);        //  pacing: the workload goes on after the restart
        s_workload_stop ();
        s_check_invariants (total_before, label);
        printf ("%s: round took %.1f s\n", label, (zclock_mono () - round_started) / 1000.0);
    }
    char label [64];
    snprintf (label, sizeof label, "random crashes, seed %u", first_seed);
    s_assert_no_failures (label);
}
END_TEST

//  --------------------------------------------------------------------------
//  One-database transactions across a coordinator restart.  They commit
//  with a plain COMMIT and no log record; after the restart (_i 0:
//  SIGTERM, 1: SIGKILL) each must still be answered COMMITTED, with its
//  rows there.  A transaction tried while the coordinator is down must
//  not end UNKNOWN without a gid; its client lives on across the restart
//  (what it queued reaches the new coordinator).

START_TEST (test_one_phase_restart)
{
    int signal = _i == 0? SIGTERM: SIGKILL;
    char label [64];
    snprintf (label, sizeof label, "one-database commits, coordinator %s",
              signal == SIGTERM? "SIGTERM": "SIGKILL");
    ck_assert (harness_wait_ready (20000));
    long long total_before = harness_total_balance ();
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 8000);
    s_run++;
    int i = 0;
    for (int db = 0; db < 3; db++) {
        ck_assert (s_transfer (client, SHAPE_1DB_EXEC, db, db, "21", "22", "5", false, 0, i++));
        ck_assert (s_transfer (client, SHAPE_1DB_SEND, db, db, "23", "24", "5", false, 0, i++));
    }
    //  Two-database controls
    ck_assert (s_transfer (client, SHAPE_2DB_EXEC, 0, 1, "25", "26", "5", false, 0, i++));
    ck_assert (s_transfer (client, SHAPE_2DB_SEND_DECIDED, 1, 2, "27", "28", "5", false, 0, i++));
    for (int r = 0; r < s_nrecords; r++)
        if (s_records [r].outcome != DTX_COMMITTED)
            s_fail ("commit did not answer COMMITTED", NULL,
                    "%s: %s (%s): commit answered %s before the restart: \"%s\"", label,
                    s_records [r].gid, s_shape_name [s_records [r].shape],
                    s_outcome_text (s_records [r].outcome), s_records [r].reason);
    dtx_client_destroy (&client);
    harness_kill_coordinator (signal);
    //  While it is down
    dtx_client_t *down = dtx_client_new (harness.client_endpoint, 1500);
    s_transfer (down, SHAPE_1DB_SEND, 0, 0, "29", "30", "5", false, 1, i++);
    s_transfer (down, SHAPE_1DB_EXEC, 1, 1, "31", "32", "5", true, 1, i++);
    harness_start_coordinator ();
    ck_assert_msg (harness_wait_ready (30000), "%s: system not ready after the restart", label);
    s_ask_after_restart (label);
    s_check_invariants (total_before, label);
    dtx_client_destroy (&down);
    s_assert_no_failures (label);
}
END_TEST

//  --------------------------------------------------------------------------
//  SIGTERM drains: no new transactions, those in flight finish, exit 0

START_TEST (test_sigterm_drain)
{
    //  Our own coordinator process, so that we can read its exit status
    harness_kill_coordinator (SIGTERM);
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (20000));
    pid_t coordinator = harness_coordinator_pid ();
    long long total_before = harness_total_balance ();
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 8000);
    dtx_txn_t *txn = dtx_begin (client, 30000);
    ck_assert_ptr_nonnull (txn);
    const char *debit [] = { dtx_txn_gid (txn), "7", "5" };
    dtx_result_t *result = dtx_exec (txn, "db1",
        "WITH t AS (INSERT INTO transfers VALUES ($1, $2::int, -$3::bigint))"
        " UPDATE accounts SET balance = balance - $3::bigint WHERE id = $2::int", 3, debit);
    ck_assert (dtx_result_ok (result));
    dtx_result_destroy (&result);
    kill (coordinator, SIGTERM);
    //  Draining: a new transaction is refused with a clear reason
    //  (BEGIN travels with the first request: that is where it shows).
    //  The signal takes effect at the coordinator's next loop turn: a new
    //  transaction is tried until it is refused (one that still gets in
    //  is rolled back at once, leaving nothing live to wait for)
    dtx_client_t *late = dtx_client_new (harness.client_endpoint, 3000);
    dtx_txn_t *refused = NULL;
    dtx_result_t *nothing = NULL;
    int64_t deadline = zclock_mono () + 5000;
    while (true) {
        refused = dtx_begin (late, 1000);
        ck_assert_ptr_nonnull (refused);
        nothing = dtx_exec (refused, "db1", "SELECT 1", 0, NULL);
        if (!dtx_result_ok (nothing) || zclock_mono () >= deadline)
            break;
        dtx_result_destroy (&nothing);
        ck_assert_int_eq (dtx_rollback (refused), DTX_ABORTED);
        dtx_txn_destroy (&refused);
        zclock_sleep (20);      //  poll interval of the wait for the drain
    }
    ck_assert_msg (!dtx_result_ok (nothing), "a new transaction still runs 5 s after SIGTERM");
    ck_assert_msg (strstr (dtx_result_error (nothing), "shutting down"), "%s", dtx_result_error (nothing));
    dtx_result_destroy (&nothing);
    ck_assert_int_eq (dtx_commit (refused), DTX_ABORTED);
    ck_assert (strstr (dtx_txn_error_message (refused), "shutting down"));
    dtx_txn_destroy (&refused);
    dtx_client_destroy (&late);
    //  ... while the one in flight goes on and commits
    const char *credit [] = { dtx_txn_gid (txn), "7", "5" };
    result = dtx_exec (txn, "db2",
        "WITH t AS (INSERT INTO transfers VALUES ($1, $2::int, $3::bigint))"
        " UPDATE accounts SET balance = balance + $3::bigint WHERE id = $2::int", 3, credit);
    ck_assert (dtx_result_ok (result));
    dtx_result_destroy (&result);
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    char gid [DTX_GID_MAX + 1];
    snprintf (gid, sizeof gid, "%s", dtx_txn_gid (txn));
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&client);
    //  Nothing live: it exits, with status 0
    int status = -1;
    for (int i = 0; i < 100 && waitpid (coordinator, &status, WNOHANG) == 0; i++)
        zclock_sleep (50);      //  poll interval of the wait for the exit (5 s)
    ck_assert_msg (WIFEXITED (status) && WEXITSTATUS (status) == 0, "exit status %d", status);
    harness_start_coordinator ();
    ck_assert (harness_wait_ready (20000));
    ck_assert_int_eq (harness_total_balance (), total_before);
    PGconn *conn [2] = { harness_pg (0), harness_pg (1) };
    ck_assert_int_eq (s_rows (conn [0], gid), 1);
    ck_assert_int_eq (s_rows (conn [1], gid), 1);
    PQfinish (conn [0]);
    PQfinish (conn [1]);
}
END_TEST

//  Begin a transaction that inserts a transfers row for its gid on db1
//  and db2 (account `account`, amount 0); gid copied out
static dtx_txn_t *
s_begin_two_rows (dtx_client_t *client, const char *account, char *gid)
{
    dtx_txn_t *txn = dtx_begin (client, 30000);
    ck_assert_ptr_nonnull (txn);
    snprintf (gid, DTX_GID_MAX + 1, "%s", dtx_txn_gid (txn));
    const char *params [] = { gid, account, "0" };
    for (int db = 0; db < 2; db++) {
        dtx_result_t *result = dtx_exec (txn, harness.db_name [db],
            "INSERT INTO transfers VALUES ($1, $2::int, $3::bigint)", 3, params);
        ck_assert (dtx_result_ok (result));
        dtx_result_destroy (&result);
    }
    return txn;
}

//  --------------------------------------------------------------------------
//  Coordinator unreachable: prepared transactions wait, never guessed

START_TEST (test_coordinator_unreachable_waits)
{
    //  The coordinator dies with a durable COMMIT, before any COMMIT PREPARED
    harness_kill_coordinator (SIGTERM);
    harness_start_coordinator_fault ("coord-after-commit-durable");
    ck_assert (harness_wait_ready (20000));
    pid_t coordinator = harness_coordinator_pid ();
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 3000);
    char gid [DTX_GID_MAX + 1];
    dtx_txn_t *txn = s_begin_two_rows (client, "13", gid);
    ck_assert_int_eq (dtx_commit (txn), DTX_UNKNOWN);     //  it died before answering
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&client);
    for (int i = 0; i < 100 && !harness_pid_gone (coordinator); i++)
        zclock_sleep (50);      //  poll interval of the wait for its death (5 s)
    ck_assert (harness_pid_gone (coordinator));
    //  Participants restart while the coordinator is down: they find the
    //  prepared transactions, ask, get no answer, and wait.  Their logs say
    //  so: first that they found it and asked, then (5 heartbeats later)
    //  that the coordinator has not answered, with it still in doubt.
    //  Only then is "left alone" worth checking.
    long offset [2];
    for (int p = 0; p < 2; p++) {
        char name [32];
        snprintf (name, sizeof name, "participant-%s", harness.db_name [p]);
        offset [p] = s_log_size (name);
        harness_kill_participant (p, SIGKILL);
        harness_start_participant (p);
    }
    for (int p = 0; p < 2; p++) {
        char name [32];
        snprintf (name, sizeof name, "participant-%s", harness.db_name [p]);
        ck_assert_msg (s_log_wait (name, offset [p], "prepared transaction(s) in doubt",
                                   "asking the coordinator", 20000),
                       "%s: no \"in doubt ... asking the coordinator\" in %s/%s.log within 20 s",
                       harness.db_name [p], harness.dir, name);
        ck_assert_msg (s_log_wait (name, offset [p], "no answer from coordinator",
                                   "(1 prepared transaction(s) in doubt)", 20000),
                       "%s: no \"no answer from coordinator ... (1 prepared transaction(s) in"
                       " doubt)\" in %s/%s.log within 20 s", harness.db_name [p], harness.dir, name);
    }
    ck_assert_int_eq (harness_prepared_dtx (), 2);
    PGconn *conn [2] = { harness_pg (0), harness_pg (1) };
    ck_assert_int_eq (s_rows (conn [0], gid), 0);
    ck_assert_int_eq (s_rows (conn [1], gid), 0);
    //  The coordinator returns with its log: committed everywhere
    harness_start_coordinator ();
    ck_assert (harness_wait_no_prepared (30000));
    ck_assert_int_eq (s_rows (conn [0], gid), 1);
    ck_assert_int_eq (s_rows (conn [1], gid), 1);
    PQfinish (conn [0]);
    PQfinish (conn [1]);
    client = dtx_client_new (harness.client_endpoint, 5000);
    ck_assert_int_eq (dtx_client_outcome (client, gid), DTX_COMMITTED);
    dtx_client_destroy (&client);
}
END_TEST

//  --------------------------------------------------------------------------
//  dtxctl against the live system


START_TEST (test_dtxctl)
{
    char out [16384];
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "status"), 0);
    ck_assert_msg (strstr (out, "coordinator      test") && strstr (out, "3 connected of 3"), "%s", out);
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "--json participants"), 0);
    ck_assert_msg (strstr (out, "\"name\":\"db2\",\"connected\":true"), "%s", out);
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "frobnicate"), 1);
    ck_assert (strstr (out, "unknown command"));
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "%s", ""), 2);

    //  A real in-doubt transaction: db2 votes YES and dies
    harness_kill_participant (1, SIGTERM);
    harness_start_participant_fault (1, "part-after-vote");
    ck_assert (harness_wait_ready (20000));
    dtx_client_t *client = dtx_client_new (harness.client_endpoint, 15000);
    char gid [DTX_GID_MAX + 1];
    dtx_txn_t *txn = s_begin_two_rows (client, "9", gid);
    //  The decision is durable: the client hears committed (after the
    //  reply timeout, as db2 never acknowledges)
    ck_assert_int_eq (dtx_commit (txn), DTX_COMMITTED);
    dtx_txn_destroy (&txn);
    dtx_client_destroy (&client);
    ck_assert_int_eq (harness_pg_value (1, "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'dtx:%'"), 1);
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "in-doubt"), 0);
    ck_assert_msg (strstr (out, gid) && strstr (out, "db2:finishing"), "%s", out);
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "--json in-doubt"), 0);
    ck_assert_msg (strstr (out, gid) && strstr (out, "\"state\":\"committing\""), "%s", out);
    //  ... and the database's own view: the prepared transaction and its locks
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "in-doubt --db 'db2=host=127.0.0.1 port=%d"
                                " user=postgres dbname=postgres'", harness.pg_port [1]), 0);
    ck_assert_msg (strstr (out, "PREPARED GID") && strstr (out, "RowExclusiveLock on transfers"),
                   "%s", out);
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "show %s", gid), 0);
    ck_assert (strstr (out, "committing"));
    //  An operator abort contradicts the durable commit: refused
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "resolve %s abort", gid), 1);
    ck_assert_msg (strstr (out, "refused") && strstr (out, "COMMIT"), "%s", out);
    //  Commit agrees: recorded, phase 2 retried
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "resolve %s commit", gid), 0);
    ck_assert_msg (strstr (out, "recorded"), "%s", out);
    //  Presumed abort: a gid with no commit record cannot be committed
    //  (in epoch 1, when this case runs alone, that gid was never issued:
    //  refused too, in the words a participant would hear)
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "resolve dtx:test:1:999999 commit"), 1);
    ck_assert_msg (strstr (out, "presumed abort") || strstr (out, "never issued"), "%s", out);
    harness_start_participant (1);
    ck_assert (harness_wait_no_prepared (30000));
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "--json in-doubt"), 0);
    ck_assert_msg (strcmp (out, "[]\n") == 0, "%s", out);

    //  run: a script switching databases, one global transaction
    char script [320];
    snprintf (script, sizeof script, "%s/script.sql", harness.dir);
    FILE *file = fopen (script, "w");
    fprintf (file, "-- move 3 from db1 to db3\n\\c db1\nUPDATE accounts SET balance = balance - 3\n"
                   "  WHERE id = 11;\n\\connect db3\nUPDATE accounts SET balance = balance + 3 WHERE id = 11;\n"
                   "SELECT id, balance, NULL AS nothing FROM accounts WHERE id IN (11, 12) ORDER BY id;\n");
    fclose (file);
    long long before1 = harness_pg_value (0, "SELECT balance FROM accounts WHERE id = 11");
    long long before3 = harness_pg_value (2, "SELECT balance FROM accounts WHERE id = 11");
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "run %s", script), 0);
    ck_assert_msg (strstr (out, "committed (3 statements)"), "%s", out);
    //  The SELECT's rows, aligned like psql's (seen inside the transaction)
    char row [128];
    snprintf (row, sizeof row, " 11 | %-7lld | %-7s\n", before3 + 3, "");
    ck_assert_msg (strstr (out, " id | balance | nothing\n") && strstr (out, "----+---------+--------\n")
                   && strstr (out, row) && strstr (out, "(2 rows)\n"), "%s", out);
    ck_assert_int_eq (harness_pg_value (0, "SELECT balance FROM accounts WHERE id = 11"), before1 - 3);
    //  A failing script changes nothing
    file = fopen (script, "w");
    fprintf (file, "\\c db1\nUPDATE accounts SET balance = balance - 3 WHERE id = 11;\n"
                   "\\c db3\nUPDATE no_such_table SET x = 1;\n");
    fclose (file);
    ck_assert_int_eq (harness_dtxctl (out, sizeof out, "run %s", script), 1);
    ck_assert_msg (strstr (out, "42P01") && strstr (out, "aborted"), "%s", out);
    ck_assert_int_eq (harness_pg_value (0, "SELECT balance FROM accounts WHERE id = 11"), before1 - 3);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("recovery");
    TCase *tc = tcase_create ("crash-matrix");
    tcase_add_unchecked_fixture (tc, s_suite_setup, harness_stop);
    tcase_add_checked_fixture (tc, s_setup, NULL);
    tcase_set_timeout (tc, 300);
    //  DTX_FAULT_CASE=N runs only that fault case, =random only the random
    //  rounds (only DTX_CRASH_SEED's, or only a fresh seed's when
    //  DTX_CRASH_SEED or DTX_CRASH_ROUNDS is set), =one-phase only the
    //  one-database restart cases
    const char *only = getenv ("DTX_FAULT_CASE");
    bool one_seed = getenv ("DTX_CRASH_SEED") || getenv ("DTX_CRASH_ROUNDS");
    if (only && streq (only, "random"))
        tcase_add_loop_test (tc, test_random_crashes, one_seed? SEEDS: 0, SEEDS + 1);
    else
    if (only && streq (only, "one-phase"))
        tcase_add_loop_test (tc, test_one_phase_restart, 0, 2);
    else
    if (only && streq (only, "drain"))
        tcase_add_test (tc, test_sigterm_drain);
    else
    if (only && streq (only, "dtxctl"))
        tcase_add_test (tc, test_dtxctl);
    else
    if (only && streq (only, "unreachable"))
        tcase_add_test (tc, test_coordinator_unreachable_waits);
    else
    if (only)
        tcase_add_loop_test (tc, test_fault_point, atoi (only), atoi (only) + 1);
    else {
        tcase_add_loop_test (tc, test_fault_point, 0, FAULT_CASES);
        tcase_add_loop_test (tc, test_one_phase_restart, 0, 2);
        tcase_add_loop_test (tc, test_random_crashes, 0, SEEDS + 1);
        tcase_add_test (tc, test_sigterm_drain);
        tcase_add_test (tc, test_dtxctl);
        tcase_add_test (tc, test_coordinator_unreachable_waits);
    }
    suite_add_tcase (suite, tc);
    SRunner *runner = srunner_create (suite);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed? 1: 0;
}
