-- Schema every test and demo database gets.  Run with psql -f.
-- accounts: the money-transfer workload; each database holds 100 accounts.
CREATE TABLE accounts (
    id      int PRIMARY KEY,
    balance bigint NOT NULL
);
INSERT INTO accounts SELECT g, 1000 FROM generate_series (1, 100) g;

-- transfers: one row per global transaction on each database it touched,
-- so that atomicity can be checked per gid.
CREATE TABLE transfers (
    gid     text NOT NULL,
    account int NOT NULL,
    amount  bigint NOT NULL
);

-- items: plain rows for commit/abort visibility tests.  The deferred
-- unique constraint fails only at COMMIT / PREPARE TRANSACTION: a NO vote.
CREATE TABLE items (
    id   int NOT NULL,
    note text,
    CONSTRAINT items_id_unique UNIQUE (id) DEFERRABLE INITIALLY DEFERRED
);
