"""The one rate-limited log (OSC and web console): burst 5, one line a second per kind, the
count of what it held back on the next line, nothing written until `deliver`."""

from __future__ import annotations

from typing import Any

from app.ratelog import RateLimitedLog


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_flood_passes_as_a_burst_then_one_line_a_second_with_the_count() -> None:
    lines: list[tuple[str, dict[str, Any]]] = []
    clock = FakeClock()
    log = RateLimitedLog(lambda m, f: lines.append((m, f)), clock)
    for i in range(20):
        log("bad", "osc error", {"i": i})
    log("other", "osc connect", {})
    assert lines == []  # nothing reaches the sink before deliver
    log.deliver()
    assert [f.get("i") for _, f in lines] == [0, 1, 2, 3, 4, None]
    lines.clear()
    clock.t = 1.0
    log("bad", "osc error", {"i": 20})
    log("bad", "osc error", {"i": 21})
    log.deliver()
    assert lines == [("osc error", {"i": 20, "suppressed": 15})]


def test_the_table_of_kinds_is_forgotten_past_its_bound() -> None:
    lines: list[str] = []
    log = RateLimitedLog(lambda m, f: lines.append(m), FakeClock(), max_kinds=4)
    for _ in range(6):
        log("a", "a", {})
    for kind in "bcde":  # the fifth kind clears the table: "a" starts a fresh burst
        log(kind, kind, {})
    log("a", "a again", {})
    log.deliver()
    assert lines == ["a"] * 5 + ["b", "c", "d", "e", "a again"]


def test_a_failing_sink_is_ignored() -> None:
    def sink(message: str, fields: dict[str, Any]) -> None:
        raise OSError("disk full")

    log = RateLimitedLog(sink, FakeClock())
    log("kind", "message", {})
    log.deliver()  # does not raise: logging never stops the show
