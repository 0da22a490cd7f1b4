"""A commit whose answer never comes raises TransactionResolutionUnknown
with the gid; client.outcome resolves it once the coordinator is back.

The coordinator is the build's, with fault injection (DTX_FAULT, a build
configured with --enable-fault-injection as scripts/bootstrap.sh does):
it dies, or stops, right after its commit decision is durable, before
answering the client."""

import os
import signal
import time

import pytest

import dtx
from conftest import BUILDDIR


def _fault_injection_built():
    try:
        with open(os.path.join(BUILDDIR, "config.h")) as config:
            return "#define DTX_FAULT_INJECTION 1" in config.read()
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _fault_injection_built(),
    reason="the build has no fault injection (configure --enable-fault-injection, as"
           " scripts/bootstrap.sh does)")


def two_rows(tx, account):
    gid = tx.gid
    for db in ("db1", "db2"):
        tx.execute(db, "INSERT INTO transfers VALUES ($1, $2, 0)", [gid, account])
    return gid


def rows(system, gid):
    return [int(system.value(i, "SELECT count(*) FROM transfers WHERE gid = '%s'" % gid))
            for i in range(2)]


def test_coordinator_killed_during_commit(system):
    system.restart_coordinator(fault="coord-after-commit-durable")
    dying = system.coordinator
    try:
        with system.client(request_timeout=3.0) as client:
            with pytest.raises(dtx.TransactionResolutionUnknown) as raised:
                with client.transaction(timeout=30) as tx:
                    gid = two_rows(tx, 13)
            error = raised.value
            assert error.gid == gid
            assert error.sqlstate == "08007"
            assert isinstance(error, dtx.OperationalError)
            assert gid in str(error)
            assert tx.outcome is dtx.Outcome.UNKNOWN
            assert dying.wait(10) is not None           # it did die (the fault)
            # nobody can say while the coordinator is down: UNKNOWN, not a guess
            assert client.outcome(gid) is dtx.Outcome.UNKNOWN
            assert "no reply" in client.error
    finally:
        system.start_coordinator()
    system.wait_ready()
    # a new client, as an application asking again after a restart would
    with system.client() as client:
        assert client.outcome(gid) is dtx.Outcome.COMMITTED
    assert system.wait_no_prepared(30)
    assert rows(system, gid) == [1, 1]


def test_coordinator_paused_during_commit(system):
    """SIGSTOP after the durable decision: UNKNOWN; once resumed the same
    client learns COMMITTED."""
    system.restart_coordinator(fault="coord-after-commit-durable/stop")
    paused = system.coordinator
    try:
        with system.client(request_timeout=2.0) as client:
            tx = client.transaction()
            gid = two_rows(tx, 14)
            with pytest.raises(dtx.UnknownOutcome) as raised:
                tx.commit(decided=True)
            assert raised.value.gid == gid
            paused.send_signal(signal.SIGCONT)
            deadline = time.monotonic() + 20
            outcome = client.outcome(gid)
            while outcome is not dtx.Outcome.COMMITTED and time.monotonic() < deadline:
                time.sleep(0.1)
                outcome = client.outcome(gid)
            assert outcome is dtx.Outcome.COMMITTED
    finally:
        paused.send_signal(signal.SIGCONT)
        system.restart_coordinator()
    assert system.wait_no_prepared(30)
    assert rows(system, gid) == [1, 1]
