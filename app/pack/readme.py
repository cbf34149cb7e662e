"""The README.txt inside a pack: what the show is, how to play it, what made which media."""

from __future__ import annotations

import textwrap
from typing import Any

from app.pack.format import MANIFEST, MODELS_JSON, PoemSize, size_table


def readme_text(
    info: dict[str, Any],
    models: list[dict[str, Any]],
    made: list[dict[str, Any]],
    sizes: list[PoemSize],
) -> str:
    """The whole README.txt of a pack."""
    out = [
        f"{info['title']}",
        "=" * len(str(info["title"])),
        "",
        f"A show pack (.vjshow, format {info['version']}) made on {info['created']} by app "
        f"{info['app']['version']} (Python {info['python']}).",
        f"Show file: {info['show']}   media: {info['media_root']}/   output: "
        f"{info['output']['width']}x{info['output']['height']} at {info['output']['fps']:g} fps",
        "",
        "How to play it",
        "--------------",
        "  python -m app verify THIS.vjshow     every file against MANIFEST, media probed",
        "  python -m app play THIS.vjshow       unpacked once into a cache, then played",
        "  python -m app unpack THIS.vjshow --to FOLDER    a plain folder: play FOLDER/"
        + info["show"],
        "A pack's own network settings (web:/osc: host, allow-list, tokens, passcode) are",
        "not applied unless `play --trust-pack`; its media must lie inside the pack.",
        "No network is needed. This is a plain tar archive: `tar -xf` opens it too, and",
        f"`{MANIFEST}` holds the SHA-256 of every other file (`sha256  bytes  path`).",
        "",
        "Sizes per poem",
        "--------------",
        size_table(sizes),
        "",
        "Models",
        "------",
    ]
    if not models:
        out.append("No cue names a model.")
    for m in models:
        licence = m.get("licence") or "no licence note in the registry"
        where = m.get("source", "not in the model registry when packed")
        out.append(f"* {m['name']} ({m.get('kind', '?')}; {where}); licence: {licence}")
        if m.get("identity"):
            out.append(
                f"    identity {m['identity'][:16]}..., {len(m.get('files', []))} files "
                f"hashed in {MODELS_JSON}"
            )
        elif m.get("registered"):
            out.append("    its files were not on the packing machine: no hashes recorded")
        if m.get("made_by_backend"):
            out.append(
                f"    made {len(m['made'])} media (backend: {', '.join(m['made_by_backend'])})"
            )
    out += ["", "Which media were made how", "-------------------------"]
    for row in made:
        if not row["recipe"]:
            how = "supplied as a file (no generate: recipe)"
        elif row["backend"] is None:
            how = f"recipe for {row['model'] or 'no model'}; not recorded in the manifest"
        elif row["backend"] == "placeholder":
            how = f"placeholder stand-in (recipe names {row['model'] or 'no model'})"
        else:
            how = f"{row['backend']}: {row['model']}, seed {row['seed']}"
        out.append(f"  {row['cue']:<8} {row['media']}: {how}")
    out += [
        "",
        "What is kept and what is not",
        "----------------------------",
        *textwrap.wrap(
            "Kept: the show file, its picks and venue files, every media file a cue plays, "
            "the generation manifest's records of those media (recipes, seeds, timings, "
            "versions, device), video and splat sidecars, the models' names, licence notes "
            "and file hashes, and the versions of every installed package (env/requirements"
            ".lock). Not kept: seed-sweep variations and contact sheets, other shows' media, "
            "the model weights (unless packed with --with-models), the model registry's "
            "folders on the packing machine.",
            88,
        ),
        "",
    ]
    return "\n".join(out)
