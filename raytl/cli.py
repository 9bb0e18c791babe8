"""The `raytl` command. Heavy imports (Ray, torch) happen inside commands, after the input is validated."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml

from raytl.errors import InputError, StorageFull, no_space, no_space_message

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
Verbose = Annotated[bool, typer.Option("--verbose", help="also print the libraries' messages (Ray, DeepSpeed, Optuna, "
                                       "transformers, Python warnings); they always go to RUN_DIR/search.log")]


@app.command()
def search(
    space_file: Annotated[Path, typer.Argument(help="search-space YAML, e.g. search_spaces/quickstart.yaml")],
    storage: Annotated[str | None, typer.Option(help="override the YAML's storage (path or s3://, gs://)")] = None,
    name: Annotated[str | None, typer.Option(help="override the YAML's name (the run directory's name)")] = None,
    verbose: Verbose = False,
) -> None:
    """Run a search: `raytl search search_spaces/quickstart.yaml`."""
    from raytl.pipeline.run_dir import RunDir
    from raytl.search.plan import describe, load_checked

    space = load_checked(space_file, storage, name)
    run = RunDir.of(space.storage, space.name)
    if run.exists(run.tune) or run.exists(run.targets):
        raise InputError(f"{space_file}: name: run directory {run.location} exists; resume it with `raytl resume "
                         f"{run.location}`, or choose another name")
    run.write_text(run.space, yaml.safe_dump(space.model_dump(mode="json"), sort_keys=False))
    typer.echo(describe(space))
    _route_library_logs(run, verbose)
    from raytl.search.modes import start_search

    _print_results(start_search(space, run), run)


@app.command()
def resume(run_dir: Annotated[str, typer.Argument(help="a run directory or URI, e.g. runs/quickstart")],
           verbose: Verbose = False) -> None:
    """Continue a search after any failure (driver killed, head restarted): `raytl resume runs/quickstart`."""
    from raytl.search.plan import load_checked

    run = _run_dir(run_dir)
    space = load_checked(run.space)
    _route_library_logs(run, verbose)
    from raytl.search.modes import continue_search, start_search

    began = run.tune.is_dir() or run.targets.is_dir()
    if not began:  # `raytl search` died before Tune saved anything (Ray starting): no trial can have run
        typer.echo(f"{run.location}: the search stopped before its first trial; starting it from its space.yaml")
    _print_results((continue_search if began else start_search)(space, run), run)


@app.command()
def rerun(
    run_dir: Annotated[str, typer.Argument(help="a run directory or URI (per-target runs: RUN_DIR/targets/TARGET)")],
    trial: Annotated[str, typer.Option(help="the trial whose configuration is re-run, e.g. 3f2a1_00004")],
    seeds: Annotated[str, typer.Option(help="seeds to report over, comma-separated, e.g. 0,1,2 (seeds the "
                                        "configuration already has are not run again)")],
    verbose: Verbose = False,
) -> None:
    """Re-run a trial's configuration with more seeds, report mean and spread:
    `raytl rerun runs/quickstart --trial ID --seeds 0,1,2`."""
    from raytl.search.plan import load_checked

    run = _run_dir(run_dir)
    try:
        seed_list = [int(seed) for seed in seeds.split(",") if seed.strip()]
    except ValueError:
        raise InputError(f"--seeds {seeds}: allowed: integers separated by commas, e.g. 0,1,2") from None
    space = load_checked(run.space)
    _route_library_logs(run, verbose)
    from raytl.search.rerun import rerun as rerun_seeds

    report = rerun_seeds(space, run, trial, seed_list)
    typer.echo(json.dumps(report, indent=2))
    typer.echo(f"Written: {run.root / 'reruns' / (trial + '.json')}")


@app.command()
def simulate(
    space_file: Annotated[Path, typer.Argument(help="search-space YAML; its search and scheduler settings are used")],
    table: Annotated[Path, typer.Option(help="transfer table, CSV or JSON: model, intermediate, target, score "
                                       "[, noise, lr_sensitivity, gap, tau] (see docs/readme/simulate.md)")],
    seeds: Annotated[int, typer.Option(min=1, help="searches to run; run i seeds the sampler and the noise with "
                                                 "search.seed + i; median reported")
                     ] = 1,
    max_concurrent: Annotated[int | None, typer.Option(min=1, help="override search.max_concurrent_trials")] = None,
    out: Annotated[Path | None, typer.Option(help="also write every seed's result as JSON here")] = None,
) -> None:
    """Run the search on a transfer table instead of training, to choose a scheduler and budget:
    `raytl simulate search_spaces/quickstart.yaml --table transfer.csv --seeds 5`."""
    from raytl.config import load_space
    from raytl.models.zoo import ZOO
    from raytl.search.sim_table import TransferTable
    from raytl.tasks import INTERMEDIATE_TASKS, TARGET_TASKS

    space = load_space(space_file, models=list(ZOO), intermediate_tasks=INTERMEDIATE_TASKS, targets=TARGET_TASKS)
    transfer = TransferTable.load(table)
    from raytl.search.simulate import check_simulable, format_report
    from raytl.search.simulate import simulate as run_simulation

    check_simulable(space, transfer)
    results = run_simulation(space, transfer, seeds=seeds, max_concurrent=max_concurrent)
    typer.echo(format_report(space, results))
    if out is not None:
        from dataclasses import asdict

        out.write_text(json.dumps([asdict(result) for result in results], indent=1))
        typer.echo(f"Written: {out}")


@app.command()
def rank(
    space_file: Annotated[Path, typer.Argument(help="search-space YAML, or a run directory (its space.yaml)")],
    json_output: Annotated[bool, typer.Option("--json", help="print {model: {target: [{intermediate, score, "
                                              "method}, ...]}}, best first per method")] = False,
    method: Annotated[list[str] | None, typer.Option(help="semb and/or logme (default both)")] = None,
    semb_examples: Annotated[int, typer.Option(min=1, help="training rows embedded per task (SEmb)")] = 1000,
    semb_layer: Annotated[int, typer.Option(help="hidden_states index mean-pooled (SEmb); -1 = last layer")] = -1,
    logme_examples: Annotated[int, typer.Option(min=1, help="target training rows scored (LogME)")] = 1000,
    train_missing: Annotated[bool, typer.Option("--train-missing", help="train intermediate phases missing from "
                                                "the store (the real intermediate phase, reused by later searches)")
                             ] = False,
) -> None:
    """Rank the intermediate tasks for every (model, target) before any target training, by SEmb (training-free)
    and LogME (on the phase store's intermediate encoders): `raytl rank search_spaces/quickstart.yaml`."""
    from raytl.pipeline.run_dir import RunDir
    from raytl.search.plan import load_checked
    from raytl.search.rank import METHODS, RankSettings, format_table
    from raytl.search.rank import rank as rank_space

    methods = tuple(method or METHODS)
    if unknown := [m for m in methods if m not in METHODS]:
        raise InputError(f"--method {unknown[0]}: unknown; allowed: {', '.join(METHODS)}")
    run = _run_dir(str(space_file)) if space_file.is_dir() else None
    space = load_checked(run.space if run else space_file)
    run = run or RunDir.of(space.storage, space.name)
    settings = RankSettings(semb_examples, semb_layer, logme_examples, methods, train_missing)
    ranking = rank_space(space, run, settings)
    typer.echo(json.dumps(ranking, indent=1) if json_output else format_table(ranking, space, settings))


@app.command()
def plan(space_file: Annotated[Path, typer.Argument(help="search-space YAML")]) -> None:
    """Validate a search space and print what it would run, without starting Ray: `raytl plan SPACE.yaml`."""
    from raytl.search.plan import describe, load_checked

    typer.echo(describe(load_checked(space_file)))


@app.command()
def tasks(
    name: Annotated[str | None, typer.Argument(help="a task: print what its original files in --data-dir hold")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="directory with the task's original release files")] = None,
) -> None:
    """List the known tasks with their complexity level (`raytl tasks`), or count one task's examples per split and
    language in its original files as JSON (`raytl tasks xnli --data-dir data/`)."""
    from raytl.tasks import TASKS

    if name is None:
        typer.echo(f"{'task':14} {'role':12} {'format':17} {'metric':14} {'complexity (intermediate tasks)':46} "
                   "languages")
        for task in TASKS.values():
            complexity = task.complexity.label() if task.complexity else "-"
            typer.echo(f"{task.name:14} {task.role:12} {task.format:17} {task.metric:14} {complexity:46} "
                       f"{' '.join(task.languages)}")
        return
    if name not in TASKS:
        raise InputError(f"task '{name}': unknown; allowed: {', '.join(TASKS)}")
    if data_dir is None:
        raise InputError("--data-dir: required with a task name; allowed: a directory with its original files")
    from raytl.tasks.loading import count_local

    typer.echo(json.dumps(count_local(TASKS[name], data_dir), indent=2))


@app.command()
def score(
    pred_dir: Annotated[Path, typer.Argument(help="predictions in XTREME's layout: TASK/test-LANG.tsv|json")],
    label_dir: Annotated[Path, typer.Argument(help="labels in the same layout")],
) -> None:
    """Score predictions like XTREME's official evaluator; prints JSON: `raytl score PRED_DIR LABEL_DIR`."""
    from raytl.tasks.scoring import score_dirs

    typer.echo(json.dumps(score_dirs(pred_dir, label_dir), indent=2))


@app.command()
def report(
    run_dir: Annotated[str, typer.Argument(help="a run directory or URI (finished or running)")],
    out: Annotated[Path | None, typer.Option(help="output directory (default RUN_DIR/report; for a run on "
                                             "s3:// or gs://, in its local mirror)")] = None,
) -> None:
    """Build the Markdown/HTML report of a run: `raytl report runs/quickstart`."""
    from raytl.report.render import build_report

    run = _run_dir(run_dir)  # a directory that is not a run: one line, exit 2, nothing written
    typer.echo(build_report(run.root, out))


store_app = typer.Typer(no_args_is_help=True, help="Inspect and clean a run's phase store and checkpoints.")
app.add_typer(store_app, name="store")


def _run_dir(run_dir: str):
    """The run at a path or URI; a remote run's small files are pulled into this machine's mirror first."""
    from raytl.pipeline.run_dir import RunDir

    try:
        run = RunDir(run_dir)
    except ValueError as exc:
        raise InputError(f"{run_dir}: {exc}") from None
    run.pull()
    if not run.space.is_file():
        raise InputError(f"{run_dir}: not a run directory (no space.yaml inside); allowed: a directory `raytl "
                         "search` made")
    return run


@store_app.command("ls")
def store_ls(run_dir: Annotated[str, typer.Argument(help="a run directory or URI, e.g. runs/quickstart")]) -> None:
    """List published phases with task, model, size, checksum status and referencing trials:
    `raytl store ls runs/quickstart`."""
    from raytl.pipeline.housekeeping import human, inventory

    phases, trials = inventory(_run_dir(run_dir))
    typer.echo(f"{'phase':24} {'task':12} {'model':10} {'size':>10} {'checksum':16} trials")
    for phase in phases:
        users = ", ".join(f"{t} ({trials[t].tune_status or trials[t].status or '?'})" for t in phase.trials)
        typer.echo(f"{phase.name:24} {phase.task:12} {','.join(phase.models) or '?':10} {human(phase.size):>10} "
                   f"{phase.checksum:16} {users or '-'}")


@store_app.command("gc")
def store_gc(
    run_dir: Annotated[str, typer.Argument(help="a run directory or URI, e.g. runs/quickstart")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print what would be removed, remove nothing")] = False,
    min_age_s: Annotated[float, typer.Option(help="keep phases written less than this many seconds ago")] = 3600.0,
) -> None:
    """Remove phases no live or best trial references, quarantined and stale copies, and finished trials'
    checkpoint shards: `raytl store gc runs/quickstart --dry-run`."""
    from raytl.pipeline.housekeeping import apply, human, plan_gc

    removals, kept = plan_gc(_run_dir(run_dir), min_age_s=min_age_s)
    for line in kept:
        typer.echo(f"keep    {line}")
    for removal in removals:
        verb = "would remove" if dry_run else "remove"
        typer.echo(f"{verb}  {removal.location} ({removal.reason}, {human(removal.size)})")
    total = human(sum(r.size for r in removals))
    typer.echo(f"{'would free' if dry_run else 'freed'} {total}" if dry_run else f"freed {human(apply(removals))}")


@app.command()
def export(
    run_dir: Annotated[str, typer.Argument(help="a run directory or URI, e.g. runs/quickstart")],
    trial: Annotated[str, typer.Option(help="trial id (see `raytl report` or RUN_DIR/trials/)")],
    out: Annotated[Path | None, typer.Option(help="output directory (default RUN_DIR/export/<trial>)")] = None,
) -> None:
    """Write a trial's dev-selected encoder and heads as Hugging Face model directories (safetensors):
    `raytl export runs/quickstart --trial 81261a0b`."""
    from raytl.pipeline.export import export_trial

    typer.echo(export_trial(_run_dir(run_dir), trial, out))


def _route_library_logs(run, verbose: bool) -> None:
    from raytl.search.console import route_library_logs

    route_library_logs(run.log, verbose)
    typer.echo(f"Library messages (Ray, DeepSpeed, Optuna, transformers, warnings): {run.log}"
               + ("" if verbose else " (--verbose also prints them here)"))


def _print_results(table, run) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4g}".format):
        typer.echo("\nResults (one row per trial; scores in percent; objective = mean dev selection score, what "
                   "every decision reads; test:* = test scores of the selected checkpoints, reported only):")
        typer.echo(table.sort_values("objective", ascending=False, na_position="last").to_string(index=False))
    done = table.dropna(subset=["objective"])
    if "target" in table:  # per-target mode
        typer.echo("\nBest per target: " + (run.root / "winners.json").read_text())
    elif len(done):
        best = done.loc[done["objective"].idxmax()]
        typer.echo("\nBest configuration (on dev): " + json.dumps({k: best[k] for k in
                   ("model", "intermediate", "lr_intermediate", "lr_target", "seed", "objective")}, default=str))
    typer.echo(f"Run directory: {run.location}")


def main() -> None:
    """The command line: usage mistakes get the CLI library's short usage message and exit 2 (standalone mode);
    bad input found by raytl, and a full disk, get one line and exit 2."""
    try:
        app()
    except SystemExit as exc:  # standalone mode exits even on success; in-process callers get a plain return
        if exc.code not in (0, None):
            raise
    except (InputError, StorageFull) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a full disk hit outside a trial (the study, Tune's state)
        if no_space(exc):
            typer.echo(f"error: {no_space_message(exc)}", err=True)
            sys.exit(2)
        raise
