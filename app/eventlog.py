"""The event log: JSON lines of actions, cue firings, errors and frames.

Record shapes (the `event` key names the kind):
- `{"event": "action", "t": ..., "action": "GO", "source": "osc", ...}`
- `{"event": "cue", "t": ..., "cue": "1.2", "poem": "1", "media": "demo/tide.mp4"}`
- `{"event": "frame", "t": ..., "frame": n, "layers": [{"layer": 1, "cue": "1.1",
   "media": "...", "opacity": 0.5}, ...], "master": 1.0, "black": 0.0}`
- `{"event": "error", "t": ..., "message": "...", "cue": "1.2"}`
- `{"event": "info", "t": ..., "message": "..."}`
- `{"event": "media", "t": ..., "message": "...", "cue": "1.2", "media": "..."}`: a cue's
  file changed on disk (a pick) and the pool reopened it
- `{"event": "follow", "t": ..., "what": "armed", "cue": "1.2", "target": "1.3", "mode":
   "after 2 s", "at": 5.5}` (`at` null for `on end`) and `{"event": "follow", "what":
   "cancelled", "cue": "1.2", "by": "BACK"}`; the GO a follow fires is an `action` record
   with `"source": "follow"`
- `{"event": "cuetime", "t": ..., "cue": "1.2", "at": 40.5, "how": "captured"}`: a cue's time
  on the reference recording captured from a GO (`how`: captured) or retimed (`how`: the
  source of the `cue_time` command); `{"event": "transport", "t": ..., "position": 12.5}`
  after each transport command (app/rehearse/reference.py)
- `{"event": "refused", "t": ..., "reason": "...", "action": "GO", "source": "web", ...}`: an
  action the player did not apply (a web command that reached it after its deadline)
- `{"event": "input", "t": ..., "coalesced": n, "refused": m, "waiting": k}`: a frame's
  input budget at work (app/control/inbox.py): `n` values of continuous controls replaced by
  a newer one before they were applied, `m` discrete commands refused ("busy"), `k` still
  waiting; written only by frames where n or m is not 0 (applied actions have their own
  `action` records)
- `{"event": "late", "t": ..., "cue": "1.2", "media": "...", "fired": 3.1, "delay": 0.4}`: a
  cue fired (at `fired`) before its media were ready started at `t`, when its first image
  was on the GPU; its fade is measured from `t`
Tests and benchmarks read it; it is the record of a show run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any


class EventLog:
    """Append-only JSON-lines writer; a log with no path keeps nothing (but counts errors)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._fh: IO[str] | None = (
            # Line-buffered: the log of a run survives a crash up to its last line.
            open(self.path, "w", encoding="utf-8", buffering=1) if self.path else None
        )
        self.errors: list[str] = []  # recent error messages, for the status line

    def write(self, event: str, t: float, **fields: Any) -> None:
        """Write one record."""
        if event == "error":
            self.errors.append(str(fields.get("message", "")))
            del self.errors[:-50]
        if self._fh is None:
            return
        rec = {"event": event, "t": round(t, 6), **fields}
        self._fh.write(json.dumps(rec, separators=(",", ":"), default=str) + "\n")

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """All records of an event log file."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
