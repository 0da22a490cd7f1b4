"""Threads: a client is used by one thread at a time.  The binding
serializes calls on one client (its lock) and refuses a second open
transaction; blocking calls release the GIL, so other threads run."""

import threading
import time

import pytest

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

    def slow():
        times["a_start"] = time.monotonic()
        tx.execute("db1", "SELECT pg_sleep(1)")
        times["a_end"] = time.monotonic()

    def ask():
        time.sleep(0.2)         # well inside A's statement
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
    """Two clients in two threads run 1 s statements at the same time, and
    a pure-Python thread keeps counting meanwhile."""
    counted = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            counted[0] += 1

    def sleeper():
        with system.client() as own:
            with own.transaction() as tx:
                tx.execute("db2", "SELECT pg_sleep(1)")

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
    assert elapsed < 1.9, elapsed           # in parallel, not one after the other
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
