"""`python -m app generate | variations | pick`: the generation commands.

`register(subparsers)` adds them to the program's argparse subcommands. Nothing heavy is
imported until a command runs, and torch only when the diffusers backend renders.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from app.generate.errors import GenerateError

EXIT_OK, EXIT_FAILED, EXIT_SETUP = 0, 1, 2


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `generate`, `variations` and `pick` to the program's subcommands."""
    gen = sub.add_parser(
        "generate",
        help="render the media of a show's generate: recipes (cached, resumable)",
        description="Render every cue's media from its generate: recipe. Outputs whose recipe "
        "has not changed are skipped; a killed run resumes where it stopped.",
    )
    gen.add_argument("show", type=Path, help="show file (YAML)")
    gen.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="POEM[/CUE]",
        help="only this poem or cue (and what it is made from); repeatable",
    )
    gen.add_argument("--dry-run", action="store_true", help="print the plan, render nothing")
    gen.add_argument(
        "--verify",
        action="store_true",
        help="re-render the kept media from their recipes and compare (nothing is replaced)",
    )
    gen.add_argument("--force", action="store_true", help="re-render even current outputs")
    gen.add_argument(
        "--no-sweeps", action="store_true", help="skip seed sweeps (seeds:), render cue media only"
    )
    _backend_arguments(gen)
    gen.set_defaults(handler=cmd_generate)

    var = sub.add_parser(
        "variations",
        help="render a cue at many seeds and make a contact sheet",
        description="Render a cue's recipe at several seeds into "
        "<media_root>/.generate/variations/<cue>/ and write contact.png and index.html there.",
    )
    var.add_argument("show", type=Path)
    var.add_argument("cue", help="cue id")
    var.add_argument(
        "--seeds",
        default=None,
        help="a count (24: that many seeds from --start) or a list (3,17,40); "
        "default: the recipe's seeds:, else 24",
    )
    var.add_argument("--start", type=int, default=None, help="first seed (default: the recipe's)")
    var.add_argument("--columns", type=int, default=6, help="contact sheet columns")
    var.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="FIELD=V1,V2",
        help="sweep a recipe field over values (X, then Y, then Z axis; repeatable), e.g. "
        "--grid guidance=2,3.5,5 --grid steps=20,40; each cell at every --seeds seed "
        "(default: the recipe's seed); writes a labelled sheet",
    )
    var.add_argument(
        "--prune",
        action="store_true",
        help="delete the variations of CUE rejected in the desk (lists them and asks first)",
    )
    var.add_argument("--yes", action="store_true", help="with --prune: do not ask")
    _backend_arguments(var)
    var.set_defaults(handler=cmd_variations)

    pick = sub.add_parser(
        "pick",
        help="record the seed chosen for a cue (generate then uses it)",
        description="Record SEED as the pick for CUE in <show>.picks.yaml. The next generate "
        "renders the cue at that seed (copying the variation when it exists) and re-renders "
        "what is made from it.",
    )
    pick.add_argument("show", type=Path)
    pick.add_argument("cue", help="cue id")
    pick.add_argument("seed", type=int, nargs="?", default=None)
    pick.add_argument("--clear", action="store_true", help="forget the pick of CUE")
    pick.set_defaults(handler=cmd_pick)


def _backend_arguments(p: argparse.ArgumentParser) -> None:
    backend_arguments(p)
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        help="seeds per pipeline call in sweeps (default 4 on CUDA, 1 on CPU)",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the denoiser")
    p.add_argument("--verbose", action="store_true", help="tracebacks for failed jobs")
    executor_arguments(p)


def backend_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that choose what renders (generate, variations, the desk's "more like
    this"): --backend, --device, --models."""
    p.add_argument(
        "--backend",
        choices=("diffusers", "placeholder"),
        default="diffusers",
        help="diffusers (real models, GPU) or placeholder (title cards, no GPU); recipes "
        "with workflow: go to the ComfyUI servers of models.yaml unless placeholder",
    )
    p.add_argument("--device", default="cuda", help="torch device (default cuda; cpu for tests)")
    p.add_argument(
        "--models",
        type=Path,
        default=None,
        help="model registry (default: models.yaml next to the show, or in its parent folder)",
    )


def executor_arguments(p: argparse.ArgumentParser) -> None:
    """The executor flags (generate, variations, the desk's "more like this")."""
    p.add_argument(
        "--executor",
        choices=("auto", "local", "ray"),
        default="auto",
        help="where jobs run: local (this process) or ray (a worker per GPU, or --workers N; "
        "default: ray when --workers, --gpus, --cluster or RAY_ADDRESS ask for it or more "
        "than one GPU is visible, else local)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="Ray workers on this machine (with --device cpu: CPU workers)",
    )
    p.add_argument(
        "--gpus",
        default=None,
        metavar="0,1,...",
        help="GPUs of this machine to use, one Ray worker each",
    )
    p.add_argument(
        "--cluster",
        default=None,
        metavar="ADDRESS",
        help="join a Ray cluster (HEAD:6379; default $RAY_ADDRESS); one worker per GPU there",
    )


def _load(path: Path) -> Any:
    """The show (media may be missing: generating them is the point); errors as one message."""
    from app.show.loader import ShowError, load_show

    try:
        return load_show(path, allow_missing=True)
    except ShowError as exc:
        raise GenerateError("\n".join(str(p) for p in exc.problems)) from None


class _Session:
    """What every generation command sets up: the show, backend, manifest."""

    def __init__(self, args: argparse.Namespace, err: TextIO) -> None:
        from app.generate.backends import make_backend
        from app.generate.curation.picks import load_pick_recipes, load_picks
        from app.generate.manifest import Manifest
        from app.generate.registry import find_registry, load_registry

        self.show = _load(args.show)
        self.picks = load_picks(self.show.path)
        self.recipes = load_pick_recipes(self.show.path)
        options = {}
        if args.backend == "diffusers":
            registry = load_registry(find_registry(self.show.path, args.models))
            options = {
                "registry": registry,
                "device": args.device,
                "batch": args.batch,
                "compile": args.compile,
            }
        self.backend = make_backend(args.backend, **options)
        if args.backend != "placeholder" and any(
            c.generate is not None and c.generate.workflow for c in self.show.cues
        ):
            from app.generate.comfyui.backend import ComfyUIBackend, RoutedBackend

            registry = load_registry(find_registry(self.show.path, args.models))
            comfy = ComfyUIBackend(
                list(registry.comfyui_servers), self.show.path.parent, None, registry.comfyui_limits
            )
            self.backend = RoutedBackend(self.backend, comfy)
        self.manifest = Manifest.load(self.show.media_root, warn=err)
        self.factory = worker_factory(
            args, find_registry(self.show.path, args.models), self.show.media_root
        )


def worker_factory(
    args: argparse.Namespace, registry: Path | None, media_root: Path | None = None
) -> Any:
    """A picklable recipe for the backend of each worker (built on the worker's machine)."""
    import functools

    from app.generate.backends import worker_backend
    from app.generate.manifest import state_dir

    device = args.device
    if device.startswith("cuda") and _wants_ray(args):
        device = "cuda"  # Ray shows each worker its own GPU as cuda:0
    return functools.partial(
        worker_backend,
        args.backend,
        str(registry) if registry else None,
        device,
        args.batch,
        args.compile,
        str(state_dir(media_root) / "steps") if media_root is not None else None,
        not getattr(args, "force", False),
    )


def _wants_ray(args: argparse.Namespace) -> bool:
    """True when the options ask for the Ray executor."""
    if args.executor != "auto":
        return args.executor == "ray"
    if args.workers or args.gpus or args.cluster or os.environ.get("RAY_ADDRESS"):
        return True
    if args.backend == "diffusers" and args.device == "cuda":
        try:
            import torch

            return torch.cuda.device_count() > 1
        except ImportError:
            return False
    return False


def make_executor(args: argparse.Namespace, session: Any) -> Any:
    """The executor the options ask for (the local one by default)."""
    from app.generate.executors.local import local_executor

    servers = list(getattr(session.backend, "server_slots", lambda: [])())
    if not _wants_ray(args):
        backend = session.backend
        return local_executor(lambda: backend, servers, close_backend=False)
    try:
        import ray  # noqa: F401
    except ImportError:
        raise GenerateError(
            "the ray executor needs Ray: pip install -e '.[generate]' (or pip install ray)"
        ) from None
    from app.generate.executors.ray import ray_executor

    gpus = None
    if args.gpus:
        try:
            gpus = [int(g) for g in args.gpus.split(",") if g.strip()]
        except ValueError:
            raise GenerateError(f"--gpus {args.gpus}: expected GPU numbers, e.g. 0,1") from None
    if args.workers is not None and args.workers < 1:
        raise GenerateError("--workers: expected a number >= 1")
    return ray_executor(
        session.factory,
        workers=args.workers,
        gpus=gpus,
        device=args.device,
        address=args.cluster,
        max_batch=session.backend.max_batch,
        extra=servers,
    )


def _fail(err: TextIO, message: str) -> int:
    for line in message.splitlines():
        print(f"error: {line}" if not line.startswith(" ") else line, file=err)
    return EXIT_SETUP


def cmd_generate(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """`generate SHOW`: render what is missing or out of date."""
    out, err = out or sys.stdout, err or sys.stderr
    if getattr(args, "verify", False):
        from app.generate.reverify import cmd_verify

        return cmd_verify(args, out, err)
    from app.generate.manifest import RunLock
    from app.generate.plan import plan_show
    from app.generate.runner import Runner, validate_jobs

    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        s = _Session(args, err)
        jobs = plan_show(
            s.show,
            only=args.only,
            picks=s.picks,
            sweeps=not args.no_sweeps,
            recipes=s.recipes,
        )
        if not jobs:
            print(f"{s.show.path}: no cue has a generate: recipe, nothing to do", file=out)
            return EXIT_OK
        problems = validate_jobs(s.show, jobs, s.backend)
        if problems:
            return _fail(err, "\n".join(problems))
        runner = Runner(
            s.show, s.backend, s.manifest, force=args.force, verbose=args.verbose, out=out, err=err
        )
        executor = make_executor(args, s)
        try:
            if args.dry_run:
                runner.print_plan(jobs, executor)
                for note in getattr(s.backend, "notes", []):
                    print(f"note: {note}", file=out)
                return EXIT_OK
            with RunLock(s.show.media_root):
                try:
                    report = runner.run(jobs, executor)
                finally:
                    s.backend.close()
        finally:
            executor.close()
    except GenerateError as exc:
        return _fail(err, str(exc))
    for note in getattr(s.backend, "notes", []):
        print(f"note: {note}", file=err)
    print(f"generate: {report.summary()}", file=out)
    for message in [*report.failed.values(), *report.skipped.values()]:
        print(f"  {message.splitlines()[0]}", file=err)
    return report.exit_code


def recipe_report(show_path: Path) -> tuple[list[str], list[str]]:
    """(problems, warnings) of a show's generate: recipes for `python -m app check`.

    With a models.yaml next to the show (or in its parent folder), each recipe is checked
    against its model's family rules (sizes, frames, last frame, guidance, twins); a model
    whose files are not on this machine is a warning, since a show is often played on
    another machine than the one that made its media. Without a registry, nothing is said.
    No torch import: the rules and the registry are plain data.
    """
    from app.generate.chain.diffusers_backend import DiffusersBackend
    from app.generate.plan import plan_show
    from app.generate.registry import find_registry, load_registry

    try:
        show = _load(show_path)
        registry_path = find_registry(show.path)
        if registry_path is None or not any(c.generate for c in show.cues):
            return [], []
        backend = DiffusersBackend(load_registry(registry_path), device="cpu")
        # A workflow recipe names its own weights; check_show_workflows checks it.
        jobs = [j for j in plan_show(show, sweeps=False) if not j.spec.workflow]
    except GenerateError as exc:
        return str(exc).splitlines(), []
    problems, missing = backend.check_split(jobs)

    def lines(found: list[tuple[Any, str]]) -> list[str]:
        return list(
            dict.fromkeys(f"{show.path}:{j.cue.line}: cue '{j.cue.id}': {m}" for j, m in found)
        )

    return lines(problems), lines(missing)


def _parse_seeds(text: str | None, start: int, recipe_seeds: tuple[int, ...]) -> list[int]:
    if text is None:
        return list(recipe_seeds) if recipe_seeds else list(range(start, start + 24))
    try:
        if "," in text:
            seeds = [int(t) for t in text.split(",") if t.strip()]
        else:
            seeds = list(range(start, start + int(text)))
    except ValueError:
        raise GenerateError(f"--seeds {text}: expected a count (24) or a list (3,17,40)") from None
    if not seeds or any(s < 0 for s in seeds):
        raise GenerateError(f"--seeds {text}: expected at least one seed, all >= 0")
    return seeds


def _run_checked(
    s: _Session, jobs: list[Any], args: argparse.Namespace, out: TextIO, err: TextIO
) -> Any:
    """Check `jobs` (GenerateError listing every problem, before anything renders), then run
    them on the command's executor under the media root's lock; the runner's report."""
    from app.generate.manifest import RunLock
    from app.generate.runner import Runner, validate_jobs

    problems = validate_jobs(s.show, jobs, s.backend)
    if problems:
        raise GenerateError("\n".join(problems))
    runner = Runner(s.show, s.backend, s.manifest, verbose=args.verbose, out=out, err=err)
    executor = make_executor(args, s)
    try:
        with RunLock(s.show.media_root):
            try:
                return runner.run(jobs, executor)
            finally:
                s.backend.close()
    finally:
        executor.close()


def cmd_variations(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """`variations SHOW CUE`: render a seed sweep and its contact sheet."""
    out, err = out or sys.stdout, err or sys.stderr
    from app.generate.chain.previews import read_steps
    from app.generate.curation.contact_sheet import make_contact_sheet
    from app.generate.plan import recipe_cue, variation_jobs, variation_path

    if args.prune:
        return cmd_prune(args, out, err)
    if args.grid:
        return cmd_grid(args, out, err)
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        s = _Session(args, err)
        cue = recipe_cue(s.show, args.cue)
        spec = cue.generate
        start = spec.seed if args.start is None else args.start
        seeds = _parse_seeds(args.seeds, start, () if args.start is not None else spec.seeds)
        jobs = variation_jobs(s.show, args.cue, seeds)
        report = _run_checked(s, jobs, args, out, err)
        items = [
            (seed, variation_path(s.show.media_root, cue.id, seed, spec.kind)) for seed in seeds
        ]
        items = [(seed, p) for seed, p in items if p.is_file()]
        steps = {seed: read_steps(s.show.media_root, cue.id, seed) for seed, _ in items}
        print(f"variations: {report.summary()}", file=out)
        if items:
            png, page = make_contact_sheet(
                items,
                items[0][1].parent,
                title=f"{s.show.title} - cue {cue.id}: {spec.prompt[:80]}",
                pick_command=f"python -m app pick {args.show} {cue.id} {{seed}}",
                picked=s.picks.get(cue.id),
                columns=args.columns,
                steps=steps,
            )
            print(f"contact sheet: {png}\npage: {page}", file=out)
            print(f"pick one: python -m app pick {args.show} {cue.id} SEED", file=out)
    except GenerateError as exc:
        return _fail(err, str(exc))
    for message in report.failed.values():
        print(f"  {message.splitlines()[0]}", file=err)
    return report.exit_code


def cmd_pick(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`pick SHOW CUE SEED`: record the chosen seed of a cue."""
    out, err = out or sys.stdout, err or sys.stderr
    from app.generate.curation.picks import save_pick
    from app.generate.plan import dependants, plan_show, recipe_cue, variation_path

    try:
        show = _load(args.show)
        cue = recipe_cue(show, args.cue)
        if args.clear:
            path = save_pick(show.path, cue.id, None)
            print(f"cleared the pick of cue {cue.id} in {path}", file=out)
            return EXIT_OK
        if args.seed is None or args.seed < 0:
            raise GenerateError("pick: give a SEED (an integer >= 0) or --clear")
        path = save_pick(show.path, cue.id, args.seed)
    except GenerateError as exc:
        return _fail(err, str(exc))
    variation = variation_path(show.media_root, cue.id, args.seed, cue.generate.kind)
    jobs = plan_show(show, picks={cue.id: args.seed}, sweeps=False)
    downstream = sorted(dependants(jobs, cue.id))
    print(f"picked seed {args.seed} for cue {cue.id} (recorded in {path})", file=out)
    how = "copied from its variation" if variation.is_file() else "rendered at that seed"
    print(f"next `python -m app generate {args.show}`: cue {cue.id} is {how}", file=out, end="")
    print(f"; then re-rendered from it: {', '.join(downstream)}" if downstream else "", file=out)
    return EXIT_OK


def cmd_grid(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`variations SHOW CUE --grid F=a,b [--grid G=c,d] [--seeds N]`: an X/Y/Z grid."""
    from app.generate.curation.grid import cells_for, make_grid_sheet, parse_axes
    from app.generate.plan import recipe_cue

    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        axes = parse_axes(args.grid)  # bad values are refused before anything loads
        show = _load(args.show)
        cue = recipe_cue(show, args.cue)
        spec = cue.generate
        start = spec.seed if args.start is None else args.start
        seeds = [spec.seed] if args.seeds is None else _parse_seeds(args.seeds, start, ())
        s = _Session(args, err)
        cells, jobs = cells_for(s.show, cue.id, axes, seeds)
        report = _run_checked(s, jobs, args, out, err)
        shape = " x ".join(f"{len(a.values)} {a.field}" for a in axes)
        print(f"grid {shape} x {len(seeds)} seeds: {report.summary()}", file=out)
        folder = cells[0].job.output.parent / "sheets"
        png, layout = make_grid_sheet(
            cells, axes, seeds, folder, title=f"{s.show.title} - cue {cue.id}: {spec.prompt[:80]}"
        )
        print(f"grid sheet: {png}\nlayout: {layout}", file=out)
        print(f"pick in the browser: python -m app desk {args.show}", file=out)
    except GenerateError as exc:
        return _fail(err, str(exc))
    for message in report.failed.values():
        print(f"  {message.splitlines()[0]}", file=err)
    return report.exit_code


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def cmd_prune(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`variations SHOW CUE --prune`: delete the rejected variations of a cue, after asking."""
    from app.generate.curation.catalog import list_variations
    from app.generate.curation.picks import load_pick_variations
    from app.generate.curation.ratings import load_ratings, save_ratings
    from app.generate.manifest import Manifest, RunLock
    from app.generate.plan import recipe_cue

    try:
        show = _load(args.show)
        cue = recipe_cue(show, args.cue)
        ratings = load_ratings(show.path)
        marks = ratings.get(cue.id, {})
        picked = load_pick_variations(show.path).get(cue.id)
        with RunLock(show.media_root):
            manifest = Manifest.load(show.media_root, warn=err)
            found, _ = list_variations(cue, show.media_root, manifest)
            doomed = [v for v in found if marks.get(v.name) and marks[v.name].rejected]
            doomed = [v for v in doomed if v.name != picked]  # the show's media is never pruned
            if not doomed:
                print(f"cue {cue.id}: no rejected variations to delete", file=out)
                return EXIT_OK
            total = sum(v.bytes for v in doomed)
            print(f"cue {cue.id}: {len(doomed)} rejected variations, {_size(total)}:", file=out)
            for v in doomed:
                print(f"  {_size(v.bytes):>9}  {v.path}", file=out)
            if not args.yes:
                print(f"delete these {len(doomed)} files? [y/N] ", end="", file=out, flush=True)
                answer = sys.stdin.readline().strip().lower()
                if answer not in ("y", "yes"):
                    print("nothing deleted", file=out)
                    return EXIT_OK
            for v in doomed:
                v.path.unlink(missing_ok=True)
                side = v.path.with_name(v.path.name + ".json")
                side.unlink(missing_ok=True)
                manifest.forget(v.path)
                marks.pop(v.name, None)
            manifest.save()
            save_ratings(show.path, ratings)
        print(f"deleted {len(doomed)} files ({_size(total)})", file=out)
    except GenerateError as exc:
        return _fail(err, str(exc))
    return EXIT_OK
