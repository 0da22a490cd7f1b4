/*  dtx-demo - a money-transfer workload across several PostgreSQL
    databases through libdtx, with its result checked.

    Each client thread moves random amounts between accounts that live on
    different databases, one global transaction per transfer.  Some
    transfers are refused on purpose (overdraft: the debit would make a
    balance negative, checked by the application) and roll back.  At the
    end the total over every database must equal the total at the start.

    usage: dtx-demo ENDPOINT CLIENTS TRANSFERS NAME=CONNINFO...
    CurveZMQ keys as libdtx takes them: DTX_CLIENT_CERT (the client's
    NAME_secret) and DTX_COORDINATOR_CERT (the coordinator's public
    certificate); scripts/demo.sh makes and sets them.
*/
#include "dtx.h"
#include <czmq.h>
#include <libpq-fe.h>
#include <pthread.h>

#define DBS_MAX 8

static const char *s_endpoint;
static int s_ndbs;
static char *s_names [DBS_MAX];
static char *s_conninfo [DBS_MAX];
static int s_per_client;
static volatile int s_committed, s_aborted, s_unknown, s_done;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

static long long
s_total (void)
{
    long long total = 0;
    for (int i = 0; i < s_ndbs; i++) {
        PGconn *conn = PQconnectdb (s_conninfo [i]);
        PGresult *result = PQexec (conn, "SELECT sum(balance) FROM accounts");
        if (PQresultStatus (result) != PGRES_TUPLES_OK) {
            fprintf (stderr, "dtx-demo: cannot read balances of %s: %s", s_names [i],
                     PQerrorMessage (conn));
            total = -1;
        }
        else
        if (total >= 0)
            total += atoll (PQgetvalue (result, 0, 0));
        PQclear (result);
        PQfinish (conn);
        if (total < 0)
            return -1;
    }
    return total;
}

//  Wait until every participant has registered with the coordinator
static bool
s_wait_ready (int timeout_ms)
{
    dtx_client_t *client = dtx_client_new (s_endpoint, 2000);
    bool ready = client
              && dtx_client_wait_ready (client, (const char *const *) s_names, s_ndbs, timeout_ms);
    dtx_client_destroy (&client);
    return ready;
}

static void *
s_client (void *arg)
{
    unsigned seed = (unsigned) (uintptr_t) arg * 7919 + 17;
    dtx_client_t *client = dtx_client_new (s_endpoint, 30000);
    for (int i = 0; i < s_per_client; i++) {
        int from_db = rand_r (&seed) % s_ndbs;
        int to_db = (from_db + 1 + rand_r (&seed) % (s_ndbs - 1)) % s_ndbs;
        char from [16], to [16], amount [16];
        snprintf (from, sizeof from, "%d", 1 + rand_r (&seed) % 100);
        snprintf (to, sizeof to, "%d", 1 + rand_r (&seed) % 100);
        snprintf (amount, sizeof amount, "%d", 1 + rand_r (&seed) % 400);
        dtx_outcome_t outcome = DTX_ABORTED;
        dtx_txn_t *txn = dtx_begin (client, 10000);
        if (txn) {
            const char *debit [] = { amount, from };
            const char *credit [] = { amount, to };
            dtx_result_t *result = dtx_exec (txn, s_names [from_db],
                "UPDATE accounts SET balance = balance - $1::bigint WHERE id = $2::int"
                " RETURNING balance", 2, debit);
            //  The application's rule: no overdraft.  Roll back if broken.
            bool overdraft = dtx_result_ok (result) && dtx_result_ntuples (result) == 1
                          && atoll (dtx_result_value (result, 0, 0)) < 0;
            dtx_result_destroy (&result);
            if (!overdraft) {
                //  The credit's result is not needed: it travels with the
                //  commit, together with that database's PREPARE
                dtx_send (txn, s_names [to_db],
                    "UPDATE accounts SET balance = balance + $1::bigint WHERE id = $2::int",
                    2, credit);
                outcome = dtx_commit (txn);
            }
            else
                outcome = dtx_rollback (txn);
            dtx_txn_destroy (&txn);
        }
        pthread_mutex_lock (&s_lock);
        if (outcome == DTX_COMMITTED)
            s_committed++;
        else
        if (outcome == DTX_ABORTED)
            s_aborted++;
        else
            s_unknown++;
        s_done++;
        pthread_mutex_unlock (&s_lock);
    }
    dtx_client_destroy (&client);
    return NULL;
}

int
main (int argc, char *argv [])
{
    if (argc < 6) {
        fprintf (stderr, "usage: dtx-demo ENDPOINT CLIENTS TRANSFERS NAME=CONNINFO NAME=CONNINFO...\n"
                 "keys (CurveZMQ): DTX_CLIENT_CERT=our NAME_secret, DTX_COORDINATOR_CERT=its public cert\n");
        return 2;
    }
    s_endpoint = argv [1];
    int clients = atoi (argv [2]);
    int transfers = atoi (argv [3]);
    for (int i = 4; i < argc && s_ndbs < DBS_MAX; i++) {
        char *equals = strchr (argv [i], '=');
        if (!equals) {
            fprintf (stderr, "dtx-demo: expected NAME=CONNINFO, got %s\n", argv [i]);
            return 2;
        }
        *equals = 0;
        s_names [s_ndbs] = argv [i];
        s_conninfo [s_ndbs++] = equals + 1;
    }
    if (clients < 1 || transfers < clients || s_ndbs < 2) {
        fprintf (stderr, "dtx-demo: need clients >= 1, transfers >= clients, 2+ databases\n");
        return 2;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    s_per_client = transfers / clients;
    if (!s_wait_ready (30000)) {
        fprintf (stderr, "dtx-demo: coordinator or participants not ready after 30 s\n");
        return 1;
    }
    long long before = s_total ();
    printf ("demo: %d clients, %d transfers across %d databases, total balance %lld\n",
            clients, s_per_client * clients, s_ndbs, before);
    int64_t start = zclock_mono ();
    pthread_t threads [clients];
    for (int i = 0; i < clients; i++)
        pthread_create (&threads [i], NULL, s_client, (void *) (uintptr_t) i);
    int total = s_per_client * clients;
    while (s_done < total) {
        zclock_sleep (200);
        int64_t elapsed = zclock_mono () - start;
        printf ("\rprogress: %d/%d transfers, %d committed, %d aborted, %.0f tx/s   ",
                s_done, total, s_committed, s_aborted,
                elapsed? s_done * 1000.0 / elapsed: 0.0);
        fflush (stdout);
    }
    for (int i = 0; i < clients; i++)
        pthread_join (threads [i], NULL);
    printf ("\n");
    long long after = s_total ();
    bool ok = before >= 0 && after == before && s_unknown == 0 && s_committed > 0;
    printf ("committed %d, aborted %d (overdrafts rolled back), unknown %d, in %.1f s\n",
            s_committed, s_aborted, s_unknown, (zclock_mono () - start) / 1000.0);
    printf ("total balance before %lld, after %lld: %s\n", before, after,
            after == before? "conserved": "NOT CONSERVED");
    return ok? 0: 1;
}
