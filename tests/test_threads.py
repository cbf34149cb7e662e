"""app/threads.py: the shared start/stop/close of a service thread."""

from __future__ import annotations

import threading

from app.threads import BackgroundThread


def test_close_stops_and_joins_the_thread_and_start_runs_it_again() -> None:
    runs: list[str] = []
    entered = threading.Event()

    def loop() -> None:
        entered.set()
        thread.stopping.wait()
        runs.append(threading.current_thread().name)

    thread = BackgroundThread(loop, "test-worker")
    thread.start()
    assert entered.wait(10.0)
    thread.close(10.0)
    assert runs == ["test-worker"]  # joined: the loop has returned
    thread.close(10.0)  # idempotent
    entered.clear()
    thread.start()  # the owner may start again: the flag is cleared
    assert entered.wait(10.0) and not thread.stopping.is_set()
    thread.close(10.0)
    assert runs == ["test-worker", "test-worker"]


def test_stop_asks_without_waiting_and_close_before_start_is_harmless() -> None:
    release = threading.Event()
    done = threading.Event()

    def loop() -> None:
        thread.stopping.wait()
        release.wait()
        done.set()

    never = BackgroundThread(lambda: None, "never")
    never.stop()
    never.close(1.0)
    thread = BackgroundThread(loop, "slow-worker")
    thread.start()
    thread.stop()  # returns while the loop still waits on `release`
    assert thread.stopping.is_set() and not done.is_set()
    release.set()
    thread.close(10.0)
    assert done.is_set()
