"""The action inbox: what every input hands the frame loop, within a per-frame budget.

Inputs (OSC, gamepad, web console, keys, scripts) call `put` from any thread; the main loop
calls `take(now)` once a frame and applies what it returns. The work one frame does for its
inputs is bounded whatever arrives:

- **Continuous controls** (master, T-bar, layer opacity and rate) keep only the newest value
  per control until the next frame; camera moves (relative) are summed per kind. A fader
  sending 60 values a second from three tablets costs the frame one action per control.
- **Discrete commands** (GO, standby, blackout, panic...) queue in arrival order, one queue
  per source (key, osc, web, gamepad, script...); at most `per_frame` of them are handed out
  a frame, taken in turn from each source that has some, the rest wait. A flood from one
  input never makes the keyboard's GO wait behind it. Each queue holds `bound` commands;
  beyond that a command is refused: `put` returns False (the input answers "busy" where it
  can), it is counted, and handed back in `Batch.refused` so that the player can tell
  whoever waits for an acknowledgement.

Actions the player makes itself (`MediaFailed`) go through `put_internal` and are never
refused. The counters (`coalesced`, `refused`) are handed out with each batch, so that the
event log can record the counts instead of every datagram.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field, replace

from app.cues.actions import (
    Action,
    CameraDolly,
    CameraOrbit,
    CameraPan,
    LayerOpacity,
    LayerRate,
    Master,
    TBar,
)
from app.cues.commands import MAX_CAMERA_MOVE

PER_FRAME = 4  # discrete commands applied per frame
BOUND = 64  # discrete commands of one source waiting at most
KEEP_SUPERSEDED = 256  # superseded/refused actions handed back per frame (the rest counted)
BUSY = "busy: too many commands queued, try again"


def control_of(action: Action) -> Hashable | None:
    """The continuous control an action sets (its coalescing key), None for a discrete one."""
    if isinstance(action, Master):
        return ("master",)
    if isinstance(action, TBar):
        return ("tbar",)
    if isinstance(action, LayerOpacity):
        return ("opacity", action.layer)
    if isinstance(action, LayerRate):
        return ("rate", action.layer)
    if isinstance(action, CameraOrbit | CameraPan | CameraDolly):
        return ("camera", type(action).__name__)
    return None


def _clamp(x: float) -> float:
    return max(-MAX_CAMERA_MOVE, min(MAX_CAMERA_MOVE, x))


def merge(old: Action, new: Action) -> Action:
    """The one action that stands for `old` then `new` of the same control: the newest value,
    or for relative camera moves their sum (clamped to the command's range)."""
    if isinstance(old, CameraOrbit | CameraPan) and type(new) is type(old):
        return replace(new, dx=_clamp(old.dx + new.dx), dy=_clamp(old.dy + new.dy))  # type: ignore[attr-defined]
    if isinstance(old, CameraDolly) and isinstance(new, CameraDolly):
        return replace(new, d=_clamp(old.d + new.d))
    return new


@dataclass
class Batch:
    """What one frame takes: `actions` (time, action) in time order, then what the frame does
    not apply: the actions `superseded` by a newer value of their control and the `refused`
    ones (each list at most `KEEP_SUPERSEDED` long), the counts since the last batch, and
    how many discrete commands still wait."""

    actions: list[tuple[float, Action]] = field(default_factory=list)
    superseded: list[Action] = field(default_factory=list)
    refused: list[Action] = field(default_factory=list)
    coalesced: int = 0
    refused_count: int = 0
    waiting: int = 0


class Inbox:
    """Thread-safe action inbox with a per-frame budget (see the module docstring)."""

    def __init__(self, *, per_frame: int = PER_FRAME, bound: int = BOUND) -> None:
        self.per_frame = per_frame
        self.bound = bound
        self._lock = threading.Lock()
        # (time, arrival number, action): equal times keep their arrival order
        self._internal: list[tuple[float, int, Action]] = []
        self._discrete: dict[str, deque[tuple[float, int, Action]]] = {}  # by source
        self._latest: dict[Hashable, tuple[float, int, Action]] = {}
        self._seq = 0
        self._superseded: list[Action] = []
        self._refused: list[Action] = []
        self._coalesced = 0
        self._refused_count = 0
        self.total_coalesced = 0  # since the start
        self.total_refused = 0

    def put(self, action: Action, t: float) -> bool:
        """Queue an action that arrived at clock time t; False when refused (busy)."""
        key = control_of(action)
        with self._lock:
            self._seq += 1
            if key is not None:
                old = self._latest.get(key)
                if old is not None:
                    action = merge(old[2], action)
                    self._coalesced += 1
                    self.total_coalesced += 1
                    if len(self._superseded) < KEEP_SUPERSEDED:
                        self._superseded.append(old[2])
                self._latest[key] = (t, self._seq, action)
                return True
            waiting = self._discrete.setdefault(action.source, deque())
            if len(waiting) >= self.bound:
                self._refused_count += 1
                self.total_refused += 1
                if len(self._refused) < KEEP_SUPERSEDED:
                    self._refused.append(action)
                return False
            waiting.append((t, self._seq, action))
            return True

    def put_internal(self, action: Action, t: float) -> None:
        """Queue an action of the player's own (never refused, never coalesced)."""
        with self._lock:
            self._seq += 1
            self._internal.append((t, self._seq, action))

    def take(self) -> Batch:
        """This frame's share: every internal action, the newest value of each continuous
        control, and up to `per_frame` discrete commands, oldest first."""
        with self._lock:
            discrete = self._take_discrete()
            batch = Batch(
                actions=[
                    (t, action)
                    for t, _, action in sorted(
                        [*self._internal, *discrete, *self._latest.values()],
                        key=lambda p: (p[0], p[1]),
                    )
                ],
                superseded=self._superseded,
                refused=self._refused,
                coalesced=self._coalesced,
                refused_count=self._refused_count,
                waiting=sum(len(q) for q in self._discrete.values()),
            )
            self._internal, self._latest = [], {}
            self._superseded, self._refused = [], []
            self._coalesced = self._refused_count = 0
        return batch

    def _take_discrete(self) -> list[tuple[float, int, Action]]:
        """Up to `per_frame` discrete commands: the oldest of each source in turn (sources
        in the order of their oldest command), round after round. Lock held."""
        taken: list[tuple[float, int, Action]] = []
        while len(taken) < self.per_frame:
            queues = sorted((q for q in self._discrete.values() if q), key=lambda q: q[0][1])
            if not queues:
                break
            for q in queues[: self.per_frame - len(taken)]:
                taken.append(q.popleft())
        self._discrete = {src: q for src, q in self._discrete.items() if q}
        return taken

    def __len__(self) -> int:
        with self._lock:
            waiting = sum(len(q) for q in self._discrete.values())
            return len(self._internal) + waiting + len(self._latest)
