-- dtx-participant.sql: the one table dtx-participant keeps in its database
--
-- dtx.one_phase has a row per one-phase global transaction: one that touched
-- this database only and commits with a plain COMMIT (no PREPARE, no
-- record in the coordinator's decision log).
--   * Its COMMIT inserts (gid, committed = true) in the same transaction:
--     the row exists exactly when that transaction committed.
--   * A coordinator that lost track of such a gid (it restarted) asks the
--     participant (OUTCOME_QUERY), which inserts (gid, committed = false)
--     unless a row exists.  From then on that COMMIT can only fail (unique
--     violation), so the answer read back is final.
-- Rows older than the participant's marker-retention (default 7 days) are
-- deleted about every minute.
--
-- dtx-participant creates this at start if it is missing.  If its database
-- user may not (no CREATE privilege on the database), run this file once as
-- a privileged user:
--     psql -d DBNAME -f dtx-participant.sql
-- and grant the participant's user USAGE on schema dtx and SELECT, INSERT,
-- DELETE on dtx.one_phase.
CREATE SCHEMA IF NOT EXISTS dtx;
CREATE TABLE IF NOT EXISTS dtx.one_phase (
    gid text PRIMARY KEY,
    committed boolean NOT NULL,
    at timestamptz NOT NULL DEFAULT now ()
);
