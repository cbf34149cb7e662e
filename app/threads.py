"""One background thread with a stop flag: the start, stop and close that service threads share.

A shared leaf (imports nothing of app/). The owner's loop polls or waits on `stopping` and
returns once it is set; the owner's `close` calls `close(timeout)`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class BackgroundThread:
    """A named daemon thread running `target`, asked to end through the `stopping` event.

    `start` clears `stopping` and starts a fresh thread (an owner closed before may start
    again); `stop` asks the thread to end without waiting for it; `close(timeout)` asks and
    joins it for at most `timeout` seconds. `stop` and `close` may be called any number of
    times, also before `start`.
    """

    def __init__(self, target: Callable[[], None], name: str) -> None:
        self.target = target
        self.name = name
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.stopping.clear()
        self._thread = threading.Thread(target=self.target, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()

    def close(self, timeout: float) -> None:
        self.stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
