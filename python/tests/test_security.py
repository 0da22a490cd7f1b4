"""CurveZMQ keys through the binding: explicit files, the environment,
refusals (no key, a key not on the allow-list, another key's gid), an
operator's key, unreadable certificates."""

import os
import subprocess
import sys

import pytest

import dtx
from conftest import BUILDDIR


def committed_gid(client):
    with client.transaction() as tx:
        tx.execute("db1", "SELECT 1")
        tx.execute("db2", "SELECT 1")
    return tx.gid


def test_explicit_keys(system):
    with dtx.connect(system.endpoint, client_cert=system.client_secret,
                     coordinator_cert=system.coordinator_cert) as client:
        assert client.outcome(committed_gid(client)) is dtx.Outcome.COMMITTED


def test_keys_from_environment(system):
    """connect() without keys takes DTX_CLIENT_CERT / DTX_COORDINATOR_CERT
    (libdtx reads them): run in a child so the test process's environment
    stays as it is."""
    code = ("import dtx\n"
            "with dtx.connect(%r, request_timeout=10) as c:\n"
            "    c.wait_ready(['db1', 'db2'], timeout=10)\n"
            "    with c.transaction() as tx:\n"
            "        print(tx.execute('db1', 'SELECT 41 + 1').scalar())\n" % system.endpoint)
    env = dict(os.environ, DTX_CLIENT_CERT=system.client_secret,
               DTX_COORDINATOR_CERT=system.coordinator_cert,
               PYTHONPATH=os.path.dirname(os.path.dirname(dtx.__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "42"


def test_no_keys_gets_no_answer(system, monkeypatch):
    monkeypatch.delenv("DTX_CLIENT_CERT", raising=False)
    monkeypatch.delenv("DTX_COORDINATOR_CERT", raising=False)
    with dtx.connect(system.endpoint, request_timeout=0.5) as client:
        with pytest.raises(dtx.OperationalError) as raised:
            with client.transaction() as tx:
                tx.execute("db1", "SELECT 1")
        assert raised.value.code == dtx.Code.COORDINATOR
        assert "no reply" in raised.value.message


def test_key_not_on_the_allow_list(system, tmp_path):
    subprocess.run([os.path.join(BUILDDIR, "dtxctl", "dtxctl"), "keygen", "stranger",
                    "--dir", str(tmp_path)], check=True, capture_output=True)
    with dtx.connect(system.endpoint, request_timeout=0.5,
                     client_cert=str(tmp_path / "stranger_secret"),
                     coordinator_cert=system.coordinator_cert) as client:
        with pytest.raises(dtx.OperationalError, match="no reply"):
            with client.transaction() as tx:
                tx.execute("db1", "SELECT 1")


def test_another_keys_gid_is_not_told(system, client):
    gid = committed_gid(client)
    with dtx.connect(system.endpoint, request_timeout=5, client_cert=system.other_secret,
                     coordinator_cert=system.coordinator_cert) as other:
        assert other.outcome(gid) is dtx.Outcome.UNKNOWN
        assert "no transaction of this client" in other.error
    with dtx.connect(system.endpoint, request_timeout=5, client_cert=system.operator_secret,
                     coordinator_cert=system.coordinator_cert) as operator:
        assert operator.outcome(gid) is dtx.Outcome.COMMITTED


def test_certificate_errors(system, tmp_path, monkeypatch):
    with pytest.raises(dtx.ProgrammingError, match="both"):
        dtx.connect(system.endpoint, client_cert=system.client_secret)
    with pytest.raises(dtx.InterfaceError, match="cannot be read"):
        dtx.connect(system.endpoint, client_cert=str(tmp_path / "missing_secret"),
                    coordinator_cert=system.coordinator_cert)
    monkeypatch.setenv("DTX_CLIENT_CERT", system.client_secret)
    monkeypatch.delenv("DTX_COORDINATOR_CERT", raising=False)
    with pytest.raises(dtx.InterfaceError, match="set both or neither"):
        dtx.connect(system.endpoint)
    garbage = tmp_path / "garbage_secret"
    garbage.write_text("not a certificate\n")
    with pytest.raises(dtx.InterfaceError, match="cannot make a dtx client"):
        dtx.connect(system.endpoint, client_cert=str(garbage),
                    coordinator_cert=system.coordinator_cert)
