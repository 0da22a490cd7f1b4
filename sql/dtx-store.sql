-- dtx-store.sql: the coordinators' decision store in PostgreSQL (docs/ha.md)
--
-- For several coordinators over one replicated database (PostgreSQL under
-- Patroni, synchronous replication).  A shard is the <coordinator-id> of a
-- gid; its owner holds a lease and writes decisions conditioned on the
-- shard's current epoch (the fencing token), in the same statement.
--   * dtx_store.shard: one row per shard: its epoch, owner and lease, and
--     the watermark below which ended decisions may have been pruned.
--   * dtx_store.epoch: when each epoch of a shard began.
--   * dtx_store.served: the participants that served an epoch (a
--     one-database gid of a closed epoch is asked of them).
--   * dtx_store.decision: COMMIT decisions, with the client key that began
--     the transaction; ended once every participant acknowledged phase 2.
--
-- The coordinator creates this at start if it is missing.  If its database
-- user may not, run this file once as a privileged user:
--     psql -d DBNAME -f dtx-store.sql
-- and grant the coordinators' user USAGE on schema dtx_store and SELECT,
-- INSERT, UPDATE, DELETE on its tables.
CREATE SCHEMA IF NOT EXISTS dtx_store;
CREATE TABLE IF NOT EXISTS dtx_store.shard (
    shard text PRIMARY KEY,
    epoch bigint NOT NULL,
    owner text NOT NULL,
    lease_until timestamptz NOT NULL,
    forgotten_epoch bigint NOT NULL DEFAULT 0,
    forgotten_counter bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS dtx_store.epoch (
    shard text NOT NULL,
    epoch bigint NOT NULL,
    owner text NOT NULL,
    began timestamptz NOT NULL DEFAULT now (),
    PRIMARY KEY (shard, epoch)
);
CREATE TABLE IF NOT EXISTS dtx_store.served (
    shard text NOT NULL,
    epoch bigint NOT NULL,
    participant text NOT NULL,
    identity text NOT NULL,
    PRIMARY KEY (shard, epoch, participant)
);
CREATE TABLE IF NOT EXISTS dtx_store.decision (
    gid text PRIMARY KEY,
    shard text NOT NULL,
    epoch bigint NOT NULL,
    participants text[] NOT NULL,
    owner_key text NOT NULL DEFAULT '',
    decided_at timestamptz NOT NULL DEFAULT now (),
    ended boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS decision_unended ON dtx_store.decision (shard) WHERE NOT ended;
