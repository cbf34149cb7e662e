"""What a test cannot run without: skipped on a developer's machine, a failure in CI.

`.ci/run` sets `REQUIRE_GL=1`: there a GL context, Xvfb, a browser, a Python package, test
data or a network namespace that cannot be had is a failed test, never a silent skip. Every
skip of the suite goes through `missing` (or `module`, which calls it).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest


def required() -> bool:
    """True when missing GL, windows or pads must fail the test (CI)."""
    return os.environ.get("REQUIRE_GL", "") not in ("", "0")


def missing(what: str) -> NoReturn:
    """Skip the test because `what` is missing, or fail it when REQUIRE_GL is set."""
    if required():
        pytest.fail(f"{what} (REQUIRE_GL is set: this must work here)", pytrace=False)
    pytest.skip(what, allow_module_level=True)


def module(name: str) -> ModuleType:
    """Import `name`, or `missing` it (pytest.importorskip that fails in CI)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"{name} cannot be imported ({exc}): install the extra that brings it")
