"""What a test cannot run without: skipped on a developer's machine, a failure in CI.

`.ci/run` sets `REQUIRE_GL=1`: there a GL context, Xvfb or pygame that cannot be had is a
failed test, never a silent skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def required() -> bool:
    """True when missing GL, windows or pads must fail the test (CI)."""
    return os.environ.get("REQUIRE_GL", "") not in ("", "0")


def missing(what: str) -> NoReturn:
    """Skip the test because `what` is missing, or fail it when REQUIRE_GL is set."""
    if required():
        pytest.fail(f"{what} (REQUIRE_GL is set: this must work here)", pytrace=False)
    pytest.skip(what)
