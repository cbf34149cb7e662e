"""The one wait helper of the tests: wait for a condition (the event), never for a time.

`wait_until(cond)` polls `cond()` until it is truthy and returns its value; the timeout is
only a guard against a hang, and running out of it fails the test with `message`. A test
that must show something did NOT happen waits for a later event instead (a ping answered
after the message under test: anything it caused would have arrived first).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    cond: Callable[[], T], timeout: float = 10.0, message: str = "", interval: float = 0.002
) -> T:
    """`cond()`'s first truthy value; AssertionError after `timeout` seconds without one."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message or cond}")
        time.sleep(interval)
