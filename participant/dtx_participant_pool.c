/*  =========================================================================
    dtx_participant_pool - connections to the database

    The pool: idle connections (most recently used first), sessions
    waiting for one, and a new connection opened on demand up to
    pool_max (a blocking connect, the one blocking step on the loop).
    Every connection runs in non-blocking pipeline mode.  A connection
    goes back to the pool only idle (no transaction block open) and
    reset (DISCARD ALL after the last client statement that ran on it,
    dtx_participant_session.c); anything else is closed.

    Also the start-up checks, run once on the first connection before the
    loop: max_prepared_transactions, the database identity, the marker
    table.
    =========================================================================
*/
#include "dtx_participant_classes.h"

//  PostgreSQL's notices and warnings (a client statement's RAISE NOTICE, a
//  WARNING from the server) go through the log, one escaped line each, not
//  raw to stderr (libpq's default): warnings at warning level, the rest at
//  debug (a statement may raise thousands)
static void
s_notice (void *arg, const PGresult *result)
{
    dtx_participant_t *self = (dtx_participant_t *) arg;
    const char *severity = PQresultErrorField (result, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *text = PQresultErrorMessage (result);
    if (severity && streq (severity, "WARNING"))
        zsys_warning ("%s: PostgreSQL says: %s", self->name, text);
    else
        zsys_debug ("%s: PostgreSQL says: %s", self->name, text);
}

PGconn *
part_pool_connect (dtx_participant_t *self, char *errbuf, size_t errlen)
{
    //  A connect blocks the loop: at most connect_timeout (10 s unless
    //  the conninfo names its own; it comes after, so it wins) per host
    const char *keywords [] = { "connect_timeout", "dbname", NULL };
    const char *values [] = { "10", self->conninfo, NULL };
    PGconn *conn = PQconnectdbParams (keywords, values, 1);
    if (PQstatus (conn) != CONNECTION_OK) {
        self->db_down = true;
        snprintf (errbuf, errlen, "%s", PQerrorMessage (conn));
        size_t len = strlen (errbuf);
        if (len && errbuf [len - 1] == '\n')
            errbuf [len - 1] = 0;
        PQfinish (conn);
        return NULL;
    }
    PQsetNoticeReceiver (conn, s_notice, self);
    PQsetnonblocking (conn, 1);
    PQenterPipelineMode (conn);
    self->connections++;
    if (self->db_down) {
        //  Back after a failure: PostgreSQL may have restarted with
        //  prepared transactions that nobody is driving now
        zsys_info ("%s: database reachable again; checking for in-doubt transactions", self->name);
        self->db_down = false;
        self->scan_wanted = true;
    }
    return conn;
}

void
part_pool_release (dtx_participant_t *self, PGconn *conn, bool dirty)
{
    if (PQstatus (conn) == CONNECTION_OK
    &&  PQtransactionStatus (conn) == PQTRANS_IDLE
    &&  !dirty)
        //  Most recently used first: the next session gets a backend
        //  whose caches are warm (round-robin over the whole pool costs
        //  PostgreSQL several times the CPU per transaction)
        zlistx_add_start (self->idle, conn);
    else {
        PQfinish (conn);
        self->connections--;
    }
}

//  Give the session a connection if one can be had now
bool
part_pool_acquire (dtx_participant_t *self, session_t *session)
{
    if (session->conn)
        return true;
    PGconn *conn = (PGconn *) zlistx_detach (self->idle, NULL);
    if (!conn && self->connections < self->config.pool_max) {
        char err [512];
        conn = part_pool_connect (self, err, sizeof err);
        if (!conn) {
            zsys_warning ("%s: cannot open a connection: %s", self->name, err);
            snprintf (self->connect_error, sizeof self->connect_error, "%s", err);
        }
    }
    if (conn) {
        session->conn = conn;
        session->dirty = false;         //  pooled connections are reset
        if (session->waiting) {
            void *handle = zlistx_find (self->waiting, session);
            if (handle)
                zlistx_delete (self->waiting, handle);
            session->waiting = false;
        }
        return true;
    }
    if (!session->waiting && self->connections > 0) {
        zlistx_add_end (self->waiting, session);
        session->waiting = true;
        self->metrics.pool_waits++;
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Start-up checks, on the first connection

//  A one-row query on the setup connection: the row's values into
//  values [] (each of size), or -1 with PostgreSQL's message in errbuf
int
part_setup_query (PGconn *conn, const char *sql, int nvalues, char values [][128], char *errbuf, size_t errlen)
{
    PGresult *result = PQexec (conn, sql);
    int rc = 0;
    if (PQresultStatus (result) != PGRES_TUPLES_OK || PQntuples (result) != 1
    ||  PQnfields (result) < nvalues) {
        const char *sqlstate;
        part_describe (result, conn, &sqlstate, errbuf, errlen);
        rc = -1;
    }
    else
        for (int i = 0; i < nvalues; i++)
            snprintf (values [i], 128, "%s", PQgetvalue (result, 0, i));
    PQclear (result);
    return rc;
}

static int
s_setup (dtx_participant_t *self, PGconn *conn, char *errbuf, size_t errlen)
{
    char values [2][128], err [512];
    if (part_setup_query (conn, "SELECT current_setting ('max_prepared_transactions')::int", 1,
                          values, err, sizeof err)) {
        snprintf (errbuf, errlen, "cannot read max_prepared_transactions of the database for"
                  " participant %s: %s", self->name, err);
        return -1;
    }
    self->max_prepared = atoi (values [0]);
    if (self->max_prepared <= 0) {
        snprintf (errbuf, errlen, "database for participant %s has max_prepared_transactions = 0:"
                  " it cannot prepare transactions; set it above the number of concurrent"
                  " transactions and restart PostgreSQL", self->name);
        return -1;
    }
    if (self->max_prepared < self->config.pool_max)
        //  Each pooled connection can hold a transaction that prepares
        zsys_warning ("participant %s: max_prepared_transactions = %d is below pool-max = %d:"
                      " beyond %d transactions preparing at once, PREPARE fails (\"maximum"
                      " number of prepared transactions reached\"); raise the setting to at"
                      " least %d or lower pool-max", self->name, self->max_prepared,
                      self->config.pool_max, self->max_prepared, self->config.pool_max);
    if (part_setup_query (conn, "SELECT system_identifier::text, current_database ()"
                                " FROM pg_control_system ()", 2, values, err, sizeof err)) {
        snprintf (errbuf, errlen, "cannot read the identity of the database for participant %s"
                  " (pg_control_system (), PostgreSQL 9.6 or later; a user that is not superuser"
                  " needs EXECUTE on it, e.g. through pg_monitor): %s", self->name, err);
        return -1;
    }
    snprintf (self->identity, sizeof self->identity, "%s/%s", values [0], values [1]);
    //  A YES vote survives a failover of this database only if PREPARE
    //  waited for a synchronous standby (docs/ha.md).  What can be seen
    //  from here: standbys streaming while no synchronous one is named.
    //  (pg_stat_replication shows its rows to pg_monitor and superusers.)
    if (part_setup_query (conn, "SELECT (SELECT count (*) FROM pg_stat_replication)::text,"
                                " current_setting ('synchronous_standby_names')", 2, values,
                          err, sizeof err) == 0
    &&  atoi (values [0]) > 0 && !*values [1])
        zsys_warning ("participant %s: its database has %s standby(s) but no synchronous one"
                      " (synchronous_standby_names is empty): after a failover, a transaction"
                      " it voted YES for may be gone from the new primary and the global"
                      " transaction would not be atomic; use synchronous replication (Patroni:"
                      " synchronous_mode) for participant databases (docs/ha.md)", self->name,
                      values [0]);
    return part_marker_install (self, conn, errbuf, errlen);
}

//  Once at start, on the first connection (blocking: the loop is not
//  running yet): can the database prepare transactions, and how many at
//  once; its identity (for REGISTER); the one-phase marker table
int
part_pool_setup (dtx_participant_t *self, PGconn *conn, char *errbuf, size_t errlen)
{
    PQexitPipelineMode (conn);
    PQsetnonblocking (conn, 0);
    int rc = s_setup (self, conn, errbuf, errlen);
    PQsetnonblocking (conn, 1);
    PQenterPipelineMode (conn);
    return rc;
}
