#!/usr/bin/python3
"""transfer.py - the demo's money-transfer workload (demo/dtx-demo.c) in
Python, through the dtx module, with its invariants checked.

Each client thread (one dtx client per thread: dtx.h's rule) moves random
amounts between accounts on different databases, one global transaction
per transfer: the debit runs with execute() and returns the new balance;
an overdraft (a negative balance, the application's rule) rolls back;
otherwise the credit is queued with send() and goes out with the commit.
Each transfer also writes one row per database to `transfers` (its gid
and the amount moved there), so that atomicity can be checked per gid.

Then the invariants (also alone, --check):
  * total conserved: the sum of balances over all databases is what it
    was before the run (--check: 1000 per account, sql/test-schema.sql's
    start, which transfers never change);
  * every transfer atomic: each committed gid has its two rows (amounts
    -x and +x) on its two databases, each aborted gid none anywhere, and
    every gid in `transfers` has exactly two rows that sum to zero;
  * nothing left prepared: no dtx gid in pg_prepared_xacts anywhere.
Everything is read through dtx itself (no other PostgreSQL driver).

usage: transfer.py [--endpoint tcp://127.0.0.1:7100] [--databases bank1,bank2,bank3]
                   [--clients 8] [--transfers 2000] [--check]
Keys: --client-cert/--coordinator-cert, or DTX_CLIENT_CERT and
DTX_COORDINATOR_CERT in the environment (scripts/demo.sh sets them).
Exit status 0 when every invariant holds, 1 when one does not, 2 on bad
usage or a system that is not ready.
"""

import argparse
import random
import sys
import threading
import time

import dtx


def connect(args, timeout=30.0):
    return dtx.connect(args.endpoint, request_timeout=timeout, client_cert=args.client_cert,
                       coordinator_cert=args.coordinator_cert)


def transfer_once(client, rng, databases):
    """One transfer; returns (outcome, gid, (from_db, to_db, amount))."""
    from_db, to_db = rng.sample(databases, 2)
    source, target = rng.randint(1, 100), rng.randint(1, 100)
    amount = rng.randint(1, 400)
    tx = client.transaction(timeout=10)
    try:
        balance = tx.execute(from_db, "UPDATE accounts SET balance = balance - $1::bigint"
                             " WHERE id = $2::int RETURNING balance", [amount, source]).scalar()
        gid = tx.gid
        if int(balance) < 0:
            # the application's rule: no overdraft
            tx.rollback()
            return dtx.Outcome.ABORTED, gid, None
        tx.send(from_db, "INSERT INTO transfers VALUES ($1, $2::int, $3::bigint)",
                [gid, source, -amount])
        tx.send(to_db, "UPDATE accounts SET balance = balance + $1::bigint WHERE id = $2::int",
                [amount, target])
        tx.send(to_db, "INSERT INTO transfers VALUES ($1, $2::int, $3::bigint)",
                [gid, target, amount])
        tx.commit()
        return dtx.Outcome.COMMITTED, gid, (from_db, to_db, amount)
    except dtx.TransactionResolutionUnknown as error:
        # never guessed: resolved by asking, below
        return dtx.Outcome.UNKNOWN, error.gid, (from_db, to_db, amount)
    except dtx.Error as error:
        tx.rollback()
        return dtx.Outcome.ABORTED, error.gid, None


class Workload:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.committed = {}         # gid -> (from_db, to_db, amount)
        self.aborted = set()        # gids
        self.unknown = {}
        self.errors = []
        self.done = 0

    def client_thread(self, number, count):
        rng = random.Random(self.args.seed * 1000 + number)
        try:
            with connect(self.args) as client:
                for _ in range(count):
                    outcome, gid, what = transfer_once(client, rng, self.args.databases)
                    with self.lock:
                        if outcome is dtx.Outcome.COMMITTED:
                            self.committed[gid] = what
                        elif outcome is dtx.Outcome.UNKNOWN:
                            self.unknown[gid] = what
                        elif gid:
                            self.aborted.add(gid)
                        self.done += 1
        except Exception as error:          # reported, and the run fails
            with self.lock:
                self.errors.append("client %d: %r" % (number, error))

    def run(self):
        per_client = self.args.transfers // self.args.clients
        threads = [threading.Thread(target=self.client_thread, args=(n, per_client))
                   for n in range(self.args.clients)]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        total = per_client * self.args.clients
        while any(thread.is_alive() for thread in threads):
            time.sleep(0.2)
            if sys.stdout.isatty():
                elapsed = time.monotonic() - start
                print("\rprogress: %d/%d transfers, %d committed, %.0f tx/s   "
                      % (self.done, total, len(self.committed), self.done / elapsed),
                      end="", flush=True)
        for thread in threads:
            thread.join()
        if sys.stdout.isatty():
            print()
        return time.monotonic() - start


def read_all(client, sql, databases):
    """Rows of sql on every database, read in one (read-only) transaction."""
    with client.transaction(timeout=60) as tx:
        return {db: tx.execute(db, sql).rows for db in databases}


def total_balance(client, databases):
    rows = read_all(client, "SELECT sum(balance), count(*) FROM accounts", databases)
    return sum(int(r[0][0]) for r in rows.values()), sum(int(r[0][1]) for r in rows.values())


def check(client, databases, expected_total, committed=None, aborted=()):
    """The invariants; returns a list of what is wrong (empty: all hold)."""
    problems = []
    total, accounts = total_balance(client, databases)
    if expected_total is None:
        expected_total = 1000 * accounts
    print("total balance %d, expected %d: %s" % (total, expected_total,
          "conserved" if total == expected_total else "NOT CONSERVED"))
    if total != expected_total:
        problems.append("total %d != %d" % (total, expected_total))
    # atomicity, per gid
    rows = read_all(client, "SELECT gid, amount FROM transfers", databases)
    by_gid = {}
    for db, found in rows.items():
        for gid, amount in found:
            by_gid.setdefault(gid, []).append((db, int(amount)))
    for gid, parts in by_gid.items():
        if len(parts) != 2 or len({db for db, _ in parts}) != 2 or sum(a for _, a in parts):
            problems.append("gid %s not atomic: %s" % (gid, parts))
    for gid, (from_db, to_db, amount) in (committed or {}).items():
        if sorted(by_gid.get(gid, [])) != sorted([(from_db, -amount), (to_db, amount)]):
            problems.append("committed gid %s: rows %s" % (gid, by_gid.get(gid)))
    for gid in aborted:
        if gid in by_gid:
            problems.append("aborted gid %s has rows %s" % (gid, by_gid[gid]))
    prepared = read_all(client, "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'dtx:%'",
                        databases)
    left = sum(int(r[0][0]) for r in prepared.values())
    print("prepared transactions left behind: %d" % left)
    if left:
        problems.append("%d prepared transaction(s) left" % left)
    print("transfers checked per gid: %d, atomic: %s" % (
        len(by_gid), "yes" if not any("atomic" in p for p in problems) else "NO"))
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:7100")
    parser.add_argument("--databases", default="bank1,bank2,bank3",
                        help="participant names, comma-separated (2 or more)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--transfers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check", action="store_true",
                        help="only check the invariants of the databases as they are")
    parser.add_argument("--client-cert")
    parser.add_argument("--coordinator-cert")
    args = parser.parse_args()
    args.databases = [db.strip() for db in args.databases.split(",") if db.strip()]
    if len(args.databases) < 2 or args.clients < 1 or args.transfers < args.clients:
        parser.error("need 2+ databases, clients >= 1, transfers >= clients")
    if (args.client_cert is None) != (args.coordinator_cert is None):
        parser.error("give both --client-cert and --coordinator-cert, or neither")
    try:
        with connect(args, timeout=2.0) as client:
            client.wait_ready(args.databases, timeout=30)
    except dtx.Error as error:
        print("transfer.py: %s" % error, file=sys.stderr)
        return 2
    with connect(args) as client:
        if args.check:
            problems = check(client, args.databases, None)
        else:
            before, _ = total_balance(client, args.databases)
            print("transfer.py: %d clients, %d transfers across %d databases, total balance %d"
                  % (args.clients, args.transfers // args.clients * args.clients,
                     len(args.databases), before))
            work = Workload(args)
            elapsed = work.run()
            # an unknown outcome is asked again until it is exact
            for gid, what in list(work.unknown.items()):
                deadline = time.monotonic() + 60
                outcome = client.outcome(gid)
                while outcome not in (dtx.Outcome.COMMITTED, dtx.Outcome.ABORTED) \
                        and time.monotonic() < deadline:
                    time.sleep(0.5)
                    outcome = client.outcome(gid)
                if outcome is dtx.Outcome.COMMITTED:
                    work.committed[gid] = what
                elif outcome is dtx.Outcome.ABORTED:
                    work.aborted.add(gid)
                else:
                    work.errors.append("gid %s: outcome still %s" % (gid, outcome.name))
            print("committed %d, aborted %d (overdrafts rolled back), unknown %d, in %.1f s"
                  % (len(work.committed), len(work.aborted), len(work.unknown), elapsed))
            problems = list(work.errors)
            problems += check(client, args.databases, before, work.committed, work.aborted)
            if not work.committed:
                problems.append("nothing committed")
    if problems:
        for problem in problems[:20]:
            print("transfer.py: %s" % problem, file=sys.stderr)
        print("transfer.py: FAILED")
        return 1
    print("transfer.py: transfers atomic across %d databases, total conserved: OK"
          % len(args.databases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
