"""The demo's transfer workload in Python (python/examples/transfer.py)
keeps the demo's invariants: total conserved, every transfer atomic,
nothing left prepared.  Its own checks read through dtx; this test also
reads the databases directly."""

import os
import subprocess
import sys

import dtx

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "transfer.py")


def run_example(system, *args):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(dtx.__file__)))
    return subprocess.run(
        [sys.executable, EXAMPLE, "--endpoint", system.endpoint, "--databases", "db1,db2",
         "--client-cert", system.client_secret, "--coordinator-cert", system.coordinator_cert]
        + list(args), env=env, capture_output=True, text=True, timeout=300)


def test_transfer_workload_keeps_invariants(system):
    before = sum(int(system.value(i, "SELECT sum(balance) FROM accounts")) for i in range(2))
    out = run_example(system, "--clients", "4", "--transfers", "400", "--seed", "7")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "total conserved: OK" in out.stdout
    assert "prepared transactions left behind: 0" in out.stdout
    committed = int(out.stdout.split("committed ")[1].split(",")[0])
    assert committed > 100          # most transfers commit; overdrafts roll back
    # checked again, directly
    after = sum(int(system.value(i, "SELECT sum(balance) FROM accounts")) for i in range(2))
    assert after == before
    assert system.prepared() == 0
    unbalanced = [system.psql(i, "SELECT gid, amount FROM transfers") for i in range(2)]
    by_gid = {}
    for lines in unbalanced:
        for line in lines:
            gid, amount = line.split("|")
            by_gid.setdefault(gid, []).append(int(amount))
    assert len(by_gid) >= committed
    assert all(len(parts) == 2 and sum(parts) == 0 for parts in by_gid.values())
    # --check alone finds the same
    out = run_example(system, "--check")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "total conserved: OK" in out.stdout


def test_check_finds_a_broken_invariant(system):
    """--check must be able to fail: a balance changed behind dtx's back."""
    system.psql(0, "UPDATE accounts SET balance = balance + 1 WHERE id = 1")
    try:
        out = run_example(system, "--check")
        assert out.returncode == 1, out.stdout + out.stderr
        assert "NOT CONSERVED" in out.stdout
    finally:
        system.psql(0, "UPDATE accounts SET balance = balance - 1 WHERE id = 1")
