-- dtx-audit.sql: the audit table of dtxctl resolve --db
--
-- dtxctl resolve GID commit|abort --db NAME=CONNINFO ... carries an
-- operator's decision out on the databases themselves (the coordinator's
-- decision log is lost, or the coordinator is gone): COMMIT PREPARED or
-- ROLLBACK PREPARED, then one row here per database it acted on.  Who and
-- when are the server's, never a value dtxctl sends: the login role
-- (session_user), the client's address (inet_client_addr (), NULL over a
-- Unix socket) and the server's clock.  A later resolve of the same gid
-- reads these rows: a gid committed here is not rolled back elsewhere,
-- and the other way round.
--
-- dtxctl creates it (the same text) before it decides anything; if the
-- role it connects as may not, run this file once as a privileged user:
--     psql -d DBNAME -f dtx-audit.sql
-- and grant that role USAGE on schema dtx and SELECT, INSERT on
-- dtx.resolve_audit.
CREATE SCHEMA IF NOT EXISTS dtx;
CREATE TABLE IF NOT EXISTS dtx.resolve_audit (
    gid text NOT NULL,
    decision text NOT NULL CHECK (decision IN ('commit', 'abort')),
    participant text NOT NULL,
    result text NOT NULL,
    who name NOT NULL DEFAULT session_user,
    client_addr inet DEFAULT inet_client_addr (),
    at timestamptz NOT NULL DEFAULT now ()
);
