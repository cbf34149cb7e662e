"""How long and how much the ComfyUI client accepts from a server (pure; no network).

A ComfyUI server is someone else's machine: every wait and every answer is bounded. The
limits come from models.yaml, for all servers (keys of the `comfyui:` block) or per server
(a server given as a mapping):

```yaml
comfyui:
  timeout: 1800               # all servers: a job's time limit, seconds
  servers:
    - http://127.0.0.1:8188
    - {url: http://gpu2:8188, timeout: 3600, read_timeout: 120, max_pixels: 100000000}
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

MB = 1 << 20


@dataclass(frozen=True)
class ComfyLimits:
    """The limits of one server (the defaults fit a GPU server on a local network)."""

    timeout: float = 1800.0  # seconds one job may take, from upload to the last download
    connect_timeout: float = 10.0  # seconds to open a connection
    read_timeout: float = 60.0  # seconds of silence allowed while an answer comes in
    request_timeout: float = 300.0  # seconds one whole HTTP answer may take
    max_object_info_mb: float = 64.0  # /object_info (every node class of the server)
    max_history_mb: float = 16.0  # /history/<prompt>
    max_download_mb: float = 512.0  # one output file (/view)
    max_pixels: int = 8192 * 8192  # one output image: width x height, read from its header
    max_outputs: int = 2048  # images taken from one job (a video's frames); a still takes 1

    def bytes_of(self, key: str) -> int:
        """A `max_..._mb` limit in bytes."""
        return int(getattr(self, key) * MB)


FIELDS = {f.name: f for f in dataclasses.fields(ComfyLimits)}
