"""The Python tests' harness: the same real system as the C tests
(tests/testutil.c), started once per test session.

Two PostgreSQL clusters (scripts/pgcluster.sh, as the postgres account when
run as root) with sql/test-schema.sql, CurveZMQ keys made by `dtxctl
keygen`, a dtx-coordinator and a dtx-participant per cluster (db1, db2),
all from the build tree, in a temporary directory on a free block of 128
ports (DTX_TEST_PORT_BASE, default 20000, DTX_TEST_PORT_SLOTS blocks,
default 93, the block chosen from the pid and skipping ports in use).
Everything is stopped at the end, also when a test fails or the run is
interrupted (SIGINT, SIGTERM); DTX_KEEP_TEST_DIR=1 keeps the directory.

The binding under test is python/dtx with the build tree's libdtx
(DTX_LIBRARY=lib/.libs/libdtx.so.0 unless set).  DTX_BUILDDIR names the
build tree if it is not the source tree.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

SRCDIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILDDIR = os.path.abspath(os.environ.get("DTX_BUILDDIR") or SRCDIR)
PG_BINDIR = os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin")

sys.path.insert(0, os.path.join(SRCDIR, "python"))
if not os.environ.get("DTX_LIBRARY"):
    _built = os.path.join(BUILDDIR, "lib", ".libs", "libdtx.so.0")
    if os.path.exists(_built):
        os.environ["DTX_LIBRARY"] = _built

import dtx      # noqa: E402  (after the path and the library are set)

NDBS = 2


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


PORT_BLOCK = 128   # as tests/testutil.h's HARNESS_PORT_BLOCK


def port_block():
    """A block of PORT_BLOCK free ports, as the C harness picks them."""
    first = int(os.environ.get("DTX_TEST_PORT_BASE") or 20000)
    slots = int(os.environ.get("DTX_TEST_PORT_SLOTS") or 93)
    if first < 1024 or slots < 1 or first + slots * PORT_BLOCK > 65536:
        raise pytest.UsageError("DTX_TEST_PORT_BASE=%d DTX_TEST_PORT_SLOTS=%d: the ports must"
                                " lie within 1024..65535" % (first, slots))
    for tries in range(slots):
        base = first + ((os.getpid() + tries) % slots) * PORT_BLOCK
        if all(_port_free(base + i) for i in range(PORT_BLOCK)):
            return base
    raise RuntimeError("no free block of %d ports from %d (%d slots)" % (PORT_BLOCK, first, slots))


def _run(*argv, **kwargs):
    return subprocess.run(list(argv), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120, **kwargs)


class System:
    """The running system: endpoints, names, keys, and ways to poke it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dtx-pytest-")
        os.chmod(self.dir, 0o755)
        base = port_block()
        self.endpoint = "tcp://127.0.0.1:%d" % base
        self.participant_endpoint = "tcp://127.0.0.1:%d" % (base + 1)
        self.pg_ports = [base + 2 + i for i in range(NDBS)]
        self.dbs = ["db%d" % (i + 1) for i in range(NDBS)]
        self.pg_dirs = [os.path.join(self.dir, "pg%d" % (i + 1)) for i in range(NDBS)]
        self.log_dir = os.path.join(self.dir, "log")
        os.mkdir(self.log_dir, 0o700)
        self.keys = os.path.join(self.dir, "keys")
        self.coordinator = None
        self.participants = [None] * NDBS
        self.started_pg = []

    # -- keys ---------------------------------------------------------------

    def _dtxctl(self, *args):
        return _run(os.path.join(BUILDDIR, "dtxctl", "dtxctl"), *args)

    def make_keys(self):
        k = self.keys
        for sub in ("clients", "participants", "operators"):
            os.makedirs(os.path.join(k, sub))
        self._dtxctl("keygen", "coordinator", "--dir", k)
        self._dtxctl("keygen", "test", "--dir", os.path.join(k, "clients"))
        self._dtxctl("keygen", "other", "--dir", os.path.join(k, "clients"))
        self._dtxctl("keygen", "ops", "--dir", os.path.join(k, "operators"))
        for name in self.dbs:
            self._dtxctl("keygen", name, "--databases", name, "--dir",
                         os.path.join(k, "participants"))
        self.coordinator_cert = os.path.join(k, "coordinator")
        self.client_secret = os.path.join(k, "clients", "test_secret")
        self.other_secret = os.path.join(k, "clients", "other_secret")
        self.operator_secret = os.path.join(k, "operators", "ops_secret")

    # -- PostgreSQL ---------------------------------------------------------

    def start_clusters(self):
        env = dict(os.environ, PG_BINDIR=PG_BINDIR)
        for i in range(NDBS):
            _run(os.path.join(SRCDIR, "scripts", "pgcluster.sh"), "start", self.pg_dirs[i],
                 str(self.pg_ports[i]), env=env)
            self.started_pg.append(i)
            _run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                 str(self.pg_ports[i]), "-U", "postgres", "-d", "postgres", "-f",
                 os.path.join(SRCDIR, "sql", "test-schema.sql"))

    def psql(self, index, sql):
        """Run SQL directly on cluster index (not through dtx): its output
        lines, fields separated by '|'."""
        out = _run("psql", "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                   str(self.pg_ports[index]), "-U", "postgres", "-d", "postgres", "-c", sql)
        return [line for line in out.stdout.splitlines() if line]

    def value(self, index, sql):
        """The first value of SQL run directly on cluster index."""
        lines = self.psql(index, sql)
        return lines[0] if lines else None

    def prepared(self):
        """dtx gids prepared on all clusters."""
        return sum(int(self.value(i, "SELECT count(*) FROM pg_prepared_xacts"
                                     " WHERE gid LIKE 'dtx:%'")) for i in range(NDBS))

    def wait_no_prepared(self, timeout=30):
        deadline = time.monotonic() + timeout
        while self.prepared():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    # -- processes ----------------------------------------------------------

    def _spawn(self, logname, argv, fault=None):
        env = dict(os.environ)
        env.pop("DTX_FAULT", None)
        if fault:
            env["DTX_FAULT"] = fault
        log = open(os.path.join(self.dir, logname), "ab")
        try:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
        finally:
            log.close()

    def start_coordinator(self, fault=None):
        k = self.keys
        self.coordinator = self._spawn("coordinator.log", [
            os.path.join(BUILDDIR, "coordinator", "dtx-coordinator"), "--id", "test",
            "--clients", self.endpoint, "--participants", self.participant_endpoint,
            "--log-dir", self.log_dir, "--vote-timeout", "3000",
            "--curve-secret", os.path.join(k, "coordinator_secret"),
            "--client-keys", os.path.join(k, "clients"),
            "--participant-keys", os.path.join(k, "participants"),
            "--operator-keys", os.path.join(k, "operators")], fault)

    def start_participant(self, i):
        conninfo = "host=127.0.0.1 port=%d user=postgres dbname=postgres" % self.pg_ports[i]
        self.participants[i] = self._spawn("participant-%s.log" % self.dbs[i], [
            os.path.join(BUILDDIR, "participant", "dtx-participant"), "--name", self.dbs[i],
            "--conninfo", conninfo, "--coordinator", self.participant_endpoint,
            "--pool-min", "2",
            "--curve-secret", os.path.join(self.keys, "participants", "%s_secret" % self.dbs[i]),
            "--coordinator-key", self.coordinator_cert])

    @staticmethod
    def _stop(process, sig=signal.SIGTERM, grace=10):
        """Signal process and wait for it; SIGKILL after grace seconds."""
        if process is None or process.poll() is not None:
            return
        try:
            process.send_signal(sig)
            if sig == signal.SIGTERM:
                # a SIGSTOPped process hears SIGTERM only once resumed
                process.send_signal(signal.SIGCONT)
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def stop_coordinator(self, sig=signal.SIGTERM):
        self._stop(self.coordinator, sig)

    def restart_coordinator(self, fault=None):
        """Stop the coordinator and start it again (with DTX_FAULT=fault)."""
        self.stop_coordinator()
        self.start_coordinator(fault)
        self.wait_ready()

    def client(self, request_timeout=10.0, **kwargs):
        kwargs.setdefault("client_cert", self.client_secret)
        kwargs.setdefault("coordinator_cert", self.coordinator_cert)
        return dtx.connect(self.endpoint, request_timeout=request_timeout, **kwargs)

    def wait_ready(self, timeout=30.0):
        with self.client(request_timeout=1.0) as client:
            client.wait_ready(self.dbs, timeout=timeout)

    def start(self):
        self.make_keys()
        self.start_clusters()
        self.start_coordinator()
        for i in range(NDBS):
            self.start_participant(i)
        try:
            self.wait_ready()
        except dtx.Error:
            sys.stderr.write(self.logs())
            raise

    def logs(self):
        text = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name), errors="replace") as log:
                    text.append("== %s\n%s" % (name, "".join(log.readlines()[-20:])))
        return "\n".join(text)

    def stop(self):
        for process in self.participants:
            self._stop(process)
        self._stop(self.coordinator)
        env = dict(os.environ, PG_BINDIR=PG_BINDIR)
        for i in self.started_pg:
            subprocess.run([os.path.join(SRCDIR, "scripts", "pgcluster.sh"), "stop",
                            self.pg_dirs[i], "immediate"], env=env, timeout=120,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.started_pg = []
        if os.environ.get("DTX_KEEP_TEST_DIR"):
            sys.stderr.write("dtx tests: kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def _on_sigterm(signum, frame):
    # pytest runs the fixtures' finalizers on KeyboardInterrupt, not on a
    # plain SIGTERM death: turn one into the other
    raise KeyboardInterrupt("SIGTERM")


@pytest.fixture(scope="session")
def system():
    """The running system (see System); stopped at the end of the session."""
    for program in ("coordinator/dtx-coordinator", "participant/dtx-participant",
                    "dtxctl/dtxctl"):
        if not os.access(os.path.join(BUILDDIR, program), os.X_OK):
            pytest.exit("%s/%s is not built: build first (./scripts/bootstrap.sh)"
                        % (BUILDDIR, program), returncode=2)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    running = System()
    try:
        running.start()
        yield running
    finally:
        running.stop()
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def client(system):
    """A client with the test key, closed after the test."""
    with system.client() as client:
        yield client
