"""Threads: a client is used by one thread at a time.  The binding
serializes calls on one client (its lock) and refuses a second open
transaction; blocking calls release the GIL, so other threads run."""

import threading
import time

import dtx


def test_second_transaction_from_another_thread_refused(client):
    tx = client.transaction()
    tx.execute("db1", "SELECT 1")
    errors = []

    def other():
        try:
            client.transaction()
        except dtx.ProgrammingError as error:
            errors.append(error)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(10)
    assert len(errors) == 1
    assert "one thread" in str(errors[0])
    tx.commit()


def test_calls_from_two_threads_are_serialized(client):
    """Thread A runs a 1 s statement; thread B asks an outcome on the same
    client meanwhile.  B's call must wait for A's to end (the lock), never
    run inside it."""
    tx = client.transaction()
    tx.execute("db1", "SELECT 1")
    gid = tx.gid
    times = {}
    calling = threading.Event()

    def slow():
        times["a_start"] = time.monotonic()
        calling.set()
        tx.execute("db1", "SELECT pg_sleep(1)")
        times["a_end"] = time.monotonic()

    def ask():
        calling.wait(10)
        time.sleep(0.3)         # well inside A's statement
        times["b_start"] = time.monotonic()
        times["b_outcome"] = client.outcome(gid)
        times["b_end"] = time.monotonic()

    threads = [threading.Thread(target=slow), threading.Thread(target=ask)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert times["b_start"] < times["a_end"]            # B asked while A ran ...
    assert times["b_end"] >= times["a_end"]             # ... and got in only after
    assert times["b_outcome"] is dtx.Outcome.IN_PROGRESS
    tx.commit()


def test_gil_released_during_calls(system):
    """Two clients in two threads run 2 s statements at the same time, and
    a pure-Python thread keeps counting meanwhile."""
    counted = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            counted[0] += 1

    def sleeper():
        with system.client() as own:
            with own.transaction() as tx:
                tx.execute("db2", "SELECT pg_sleep(2)")

    counter = threading.Thread(target=count)
    counter.start()
    start = time.monotonic()
    sleepers = [threading.Thread(target=sleeper) for _ in range(2)]
    before = counted[0]
    for thread in sleepers:
        thread.start()
    for thread in sleepers:
        thread.join(20)
    elapsed = time.monotonic() - start
    stop.set()
    counter.join()
    assert elapsed < 3.5, elapsed           # in parallel (2 s), not one after the other (4 s)
    assert counted[0] - before > 1000       # Python ran while C waited


def test_one_client_per_thread_workload(system):
    """The rule as the docs give it: a client per thread, all committing."""
    outcomes = []
    lock = threading.Lock()

    def work(n):
        with system.client() as own:
            for i in range(10):
                with own.transaction() as tx:
                    tx.execute("db1", "SELECT $1::int", [n * 100 + i])
                    tx.send("db2", "SELECT 1")
                with lock:
                    outcomes.append(tx.outcome)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes == [dtx.Outcome.COMMITTED] * 40


def test_client_refused_after_fork(client):
    """A client's ZeroMQ sockets are its process's: in a forked child the
    binding refuses to use it (InterfaceError) instead of touching them."""
    import os
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            client.outcome("dtx:test:1:1")
        except dtx.InterfaceError as error:
            status = 0 if "another process" in str(error) else 2
        except BaseException:
            status = 3
        client.close()          # leaves the parent's sockets alone
        os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    # the parent's client is unharmed
    with client.transaction() as tx:
        assert tx.execute("db1", "SELECT 1").scalar() == "1"
