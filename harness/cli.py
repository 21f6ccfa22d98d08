"""The ``harness`` command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
from rich.table import Table

from harness import __version__
from harness.config import merge, parse_sets, read_config_file, resolve
from harness.errors import HarnessError, UsageError
from harness.progress import console, setup_logging
from harness.registry import HOOKS, Registry, build_registry

log = logging.getLogger("harness")
stdout = console.__class__()  # tables go to stdout, logs and progress to stderr


class State:
    def __init__(self, strict: bool, verbose: bool) -> None:
        self.strict = strict
        self.verbose = verbose
        self._registry: Registry | None = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = build_registry(strict=self.strict)
        return self._registry


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="harness")
@click.option("--strict-plugins", is_flag=True, envvar="HARNESS_STRICT_PLUGINS",
              help="Fail when a plugin cannot be imported or its hook raises, instead of "
                   "skipping it with a warning.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def cli(ctx: click.Context, strict_plugins: bool, verbose: bool) -> None:
    """Which self-supervised pretext task gives the best initialisation for image aesthetic
    assessment, measured how, and is the difference real?

    Quick start on the built-in synthetic data: harness run --pretext ranking_regr --head nima
    """
    setup_logging(verbose)
    ctx.obj = State(strict_plugins, verbose)


# -- harness plugins ---------------------------------------------------------------------------
@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List every pretext, head, dataset and backbone with its summary, references, version and
    the module and distribution that provide it."""
    if ctx.invoked_subcommand is not None:
        return
    registry: Registry = ctx.obj.registry
    rows = []
    for kind in HOOKS:
        for spec in registry.list(kind):
            provider = registry.provider(kind, spec.name)
            rows.append({"kind": kind, "name": spec.name, "summary": spec.summary,
                         "references": list(spec.references), "version": spec.version,
                         "module": provider.module, "distribution": provider.distribution,
                         "distribution_version": provider.distribution_version,
                         "defaults": spec.defaults().model_dump(mode="json")
                         if _constructible(spec.defaults) else None,
                         "profiles": {k: dict(v) for k, v in spec.profiles.items()}})
    if as_json:
        click.echo(json.dumps({"plugins": rows, "problems": registry.problems}, indent=2))
        return
    for kind in HOOKS:
        table = Table(title=f"{kind}s", title_justify="left", show_lines=False)
        for column in ("name", "summary", "version", "provided by", "references"):
            table.add_column(column, overflow="fold")
        for row in (r for r in rows if r["kind"] == kind):
            table.add_row(row["name"], row["summary"], row["version"],
                          f"{row['module']} ({row['distribution'] or 'local'})",
                          "; ".join(row["references"]))
        stdout.print(table)
    for problem in registry.problems:
        console.print(f"[yellow]warning:[/yellow] {problem}", markup=True, highlight=False)


def _constructible(model) -> bool:
    try:
        model()
        return True
    except Exception:
        return False


@plugins.command("check")
@click.argument("name")
@click.option("--kind", type=click.Choice(list(HOOKS)), help="The plugin kind, when NAME exists "
              "in several kinds.")
@click.pass_context
def plugins_check(ctx: click.Context, name: str, kind: str | None) -> None:
    """Conformance check of one plugin: build it on a tiny backbone, one forward/backward on
    synthetic data, a finite loss, the same result twice under the same seed."""
    from harness.conformance import check

    registry: Registry = ctx.obj.registry
    found = registry.find(name) if kind is None else [(kind, registry.get(kind, name))]
    if not found:
        from harness.registry import unknown_name_message

        known = {n for specs in registry.records.values() for n in specs}
        raise UsageError(unknown_name_message("plugin", name, known))
    if len(found) > 1:
        raise UsageError(f"{name!r} is a {' and a '.join(k for k, _ in found)}; pass --kind")
    kind, spec = found[0]
    results = check(registry, kind, spec)
    failed = False
    for line, ok in results:
        failed |= not ok
        stdout.print(f"{'[green]PASS[/green]' if ok else '[red]FAIL[/red]'} {line}",
                     highlight=False)
    if failed:
        raise click.exceptions.Exit(1)


# -- harness run -------------------------------------------------------------------------------
@cli.command(context_settings={"show_default": True})
@click.option("--pretext", help="Pretext task (see `harness plugins`), e.g. ranking_regr.")
@click.option("--head", help="Head, e.g. nima.")
@click.option("--dataset", help="Labelled dataset.  [default: synthetic]")
@click.option("--backbone", help="Backbone network.  [default: mobilenet_v2]")
@click.option("--seed", type=int, help="Run seed (pretraining, head, data order).  [default: 0]")
@click.option("--device", help="cpu, cuda, cuda:N or auto.  [default: auto]")
@click.option("--out", type=click.Path(path_type=Path), help="Run directory.  [default: "
              "runs/<pretext>__<head>__<dataset>__<backbone>__seed<N>__<hash8>]")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="TOML or JSON configuration file (data only).")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override one setting, e.g. --set head.lr=0.001 (repeatable). Sections: "
                   "pretext, head, dataset, backbone, pretrain, eval, run.")
@click.option("--profile", type=click.Choice(["quick", "paper"]),
              help="quick: small images and few steps (the default on the synthetic dataset); "
                   "paper: the papers' settings (the default elsewhere).")
@click.option("--restart", is_flag=True, help="Delete an unfinished or finished run directory "
              "of this configuration first instead of resuming it.")
@click.option("--print-config", is_flag=True, help="Print the resolved configuration and exit.")
@click.pass_context
def run(ctx: click.Context, pretext, head, dataset, backbone, seed, device, out, config_file,
        sets, profile, restart, print_config) -> None:
    """Pretrain (or reuse the cached pretraining), fit the head, predict the test split and
    compute the metrics; write config.json, pretext.json, predictions.csv and metrics.json.

    Running the same configuration again resumes an unfinished run."""
    from harness.runner import Runner, remove_run

    raw = read_config_file(config_file) if config_file else {}
    flags = {"pretext": {"name": pretext} if pretext else {}, "head": {"name": head} if head else {},
             "dataset": {"name": dataset} if dataset else {},
             "backbone": {"name": backbone} if backbone else {}}
    for key, value in (("seed", seed), ("device", device), ("profile", profile)):
        if value is not None:
            flags[key] = value
    raw = merge(merge(raw, {k: v for k, v in flags.items() if v != {}}), parse_sets(list(sets)))
    config = resolve(ctx.obj.registry, raw)
    if print_config:
        click.echo(json.dumps({**config.to_json(), "hash": config.hash}, indent=2))
        return
    from harness import distributed

    runner = Runner(config, ctx.obj.registry, out)
    try:
        if restart and runner.main:
            remove_run(runner.out)
        result = runner.run()
        if runner.main:  # under torchrun, rank 0 reports
            print_metrics(result.metrics, result.pretext, runner.out, config)
    finally:
        distributed.shutdown()


def print_metrics(metrics: dict, pretext: dict, out: Path, config) -> None:
    from harness.metrics import METRICS

    table = Table(title=f"{config.pretext.name} + {config.head.name} on {metrics.get('dataset')} "
                        f"({config.backbone.name}, seed {config.seed})", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, metric in METRICS.items():
        if name in metrics:
            arrow = "↑" if metric.higher_is_better else "↓"
            table.add_row(f"{metric.title} {arrow}", f"{metrics[name]:.4f}")
    table.add_row("test images", str(metrics.get("n_test")))
    table.add_row("epochs", str(metrics.get("epochs")))
    for dataset, cross in metrics.get("cross", {}).items():
        for key in ("srcc", "plcc"):
            if key in cross:
                table.add_row(f"{dataset} {key.upper()} ↑", f"{cross[key]:.4f}")
    for key, value in pretext.get("metrics", {}).items():
        table.add_row(f"pretext {key}", f"{value:.4f}" if isinstance(value, float) else str(value))
    stdout.print(table)
    if metrics.get("blocks"):
        stdout.print(blocks_table(metrics["blocks"], metrics.get("best_block")))
    stdout.print(f"run directory: {out}", highlight=False)


def blocks_table(blocks: dict[str, dict], best: str | None = None) -> Table:
    """``metrics.json``'s per-block section (e.g. linear probes) as a second table: one row per
    block; the metrics of harness.metrics first (with their arrows), then any other numbers."""
    from harness.metrics import METRICS

    keys = list(dict.fromkeys(k for entry in blocks.values() for k, v in entry.items()
                              if isinstance(v, (int, float)) and not isinstance(v, bool)))
    known = [k for k in METRICS if k in keys]
    other = [k for k in keys if k not in METRICS and k != "n_test"]
    table = Table(title="per block" + (" (* best on validation)" if best else ""),
                  title_justify="left")
    table.add_column("block")
    for key in known:
        table.add_column(f"{METRICS[key].title} {'↑' if METRICS[key].higher_is_better else '↓'}",
                         justify="right")
    for key in other:
        table.add_column(key, justify="right")
    for name, entry in blocks.items():
        cells = [entry.get(k) for k in known + other]
        table.add_row(f"{name} *" if name == best else name,
                      *("" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
                        for v in cells))
    return table


# -- harness analyze ---------------------------------------------------------------------------
@cli.group()
def analyze() -> None:
    """Analyses of finished runs."""


@analyze.command("cross-distortion", context_settings={"show_default": True})
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--distortion", required=True, help="The distortion fed at every level, e.g. "
              "brightness.")
@click.option("--neurons", help="Comma-separated distortions whose regression outputs to plot.  "
              "[default: the distortion's own and the next of its aspect]")
@click.option("--max-images", type=int, default=200, help="Held-out pretraining images to feed.")
@click.option("--out", type=click.Path(path_type=Path), help="The PNG.  [default: "
              "RUN_DIR/cross_distortion_<distortion>.png]")
@click.option("--device", default="auto", help="cpu, cuda, cuda:N or auto.")
@click.option("--seed", type=int, default=0, help="Seed of the noisy distortions.")
@click.pass_context
def analyze_cross_distortion(ctx: click.Context, run_dir, distortion, neurons, max_images, out,
                             device, seed) -> None:
    """Violin plot of a ranking_regr run's regression outputs across the levels of one distortion
    (Pfister et al. 2021, Fig. 4); prints the per-level medians."""
    import torch

    from harness.analysis import (cross_distortion, default_neurons, held_out_bases,
                                  load_pretext, violin_plot)
    from harness.runner import resolve_device

    chosen = [n.strip() for n in neurons.split(",") if n.strip()] if neurons else None
    task, config = load_pretext(run_dir, ctx.obj.registry)
    task.to(resolve_device(device))
    bases, skipped = held_out_bases(config, task, max_images)
    generator = torch.Generator().manual_seed(seed)
    result = cross_distortion(task, bases, distortion, chosen or default_neurons(distortion),
                              generator)
    path = violin_plot(result, out or Path(run_dir) / f"cross_distortion_{distortion}.png")
    table = Table(title=f"median regression output per {distortion} level ({len(bases)} held-out "
                        f"images{f', {skipped} unreadable skipped' if skipped else ''})",
                  title_justify="left")
    table.add_column("level", justify="right")
    for neuron in result.neurons:
        table.add_column(neuron, justify="right")
    medians = result.medians()
    for level in result.levels:
        table.add_row(str(level), *(f"{medians[n][level]:+.3f}" for n in result.neurons))
    stdout.print(table)
    stdout.print(f"violin plot: {path}", highlight=False)


# -- harness publish ---------------------------------------------------------------------------
@cli.command(context_settings={"show_default": True})
@click.option("--runs", "runs_root", type=click.Path(path_type=Path), default=Path("runs"),
              help="Folder searched recursively for run directories.")
@click.option("--baseline", help="Pretext every entry is tested against (same head and "
              "backbone).  [default: imagenet; when given, it must exist]")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.01,
              help="Family-wise significance level.")
@click.option("--correction", type=click.Choice(["holm", "bonferroni"]), default="holm",
              help="Multiple-comparison correction over each table's tests.")
@click.option("--decide", type=click.Choice(["auto", "wilcoxon", "srcc", "plcc", "acc", "mae"]),
              default="auto", help="The test behind † and the tiers: wilcoxon (one-sided, on "
              "per-image absolute errors) or the paired bootstrap on a metric; auto: wilcoxon "
              "where a table has scores, acc where it has only binary labels, srcc for "
              "cross-dataset tables.")
@click.option("--resamples", type=click.IntRange(100), default=10_000,
              help="Paired bootstrap resamples.")
@click.option("--bootstrap-seed", type=int, default=0, help="Seed of the bootstrap resamples.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("leaderboards"),
              help="Folder for <dataset>.md, .csv and the plots.")
@click.option("--plots/--no-plots", default=True, help="Write the PNG plots.")
def publish(runs_root, baseline, alpha, correction, decide, resamples, bootstrap_seed, out,
            plots) -> None:
    """Turn run directories into leaderboards: metrics as mean ± std over seeds, the best value
    per column in bold, † on entries significantly better than the baseline (corrected over
    the table), tiers, and the test, correction and α under each table.

    Paired tests run on the test images common to every run of a table (by image_id); run
    directories without predictions are listed and skipped. See docs/statistics.md."""
    from harness.leaderboard import Options
    from harness.publish import publish as run_publish

    options = Options(baseline=baseline or "imagenet", decide=decide, correction=correction,
                      alpha=alpha, n_resamples=resamples, bootstrap_seed=bootstrap_seed)
    result = run_publish(runs_root, out, options, explicit_baseline=baseline is not None,
                         draw=plots)
    for table in result.tables:
        marked = ", ".join("/".join(k) for k in sorted(table.marked)) or "none"
        fraction = table.section.label_fraction * 100
        stdout.print(f"{table.section.stem}, {fraction:g} % of the labels: {len(table.rows)} rows "
                     f"on {table.n_images} test images; † {marked}", highlight=False)
    for path in result.files:
        stdout.print(f"wrote {path}", highlight=False)


# -- harness sweep -----------------------------------------------------------------------------
@cli.command(context_settings={"show_default": True})
@click.argument("config_file", metavar="CONFIG.toml", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the plan: every cell and whether it is "
              "finished, cached or pending, and the pretraining runs to do; run nothing.")
@click.option("-j", "--jobs", type=click.IntRange(1), default=1,
              help="Cells run at once (local worker processes, each with cores/jobs threads).")
@click.option("--launcher", type=click.Choice(["local", "slurm", "submitit-local"]),
              default="local", help="local: worker processes on this machine; slurm: submitit "
              "job arrays with the config's [launcher.slurm]; submitit-local: the same through "
              "submitit's local executor.")
@click.option("--resume", is_flag=True, help="Finish an interrupted sweep (e.g. after kill -9).")
@click.option("--out", type=click.Path(path_type=Path), help="The sweep folder (status.json, "
              "runs/, logs/).  [default: the config's `out`, else sweeps/<name>]")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a setting of every cell, e.g. --set run.num_workers=4 (repeatable).")
@click.option("--publish/--no-publish", default=True, help="Run `harness publish` on the "
              "sweep's runs at the end.")
@click.pass_context
def sweep(ctx: click.Context, config_file, dry_run, jobs, launcher, resume, out, sets,
          publish) -> None:
    """Run a cross product of configurations (pretexts × heads × datasets × backbones × seeds ×
    label fractions, see docs/sweeps.md): each pretext configuration is pretrained once and
    reused by every head, finished cells are skipped, a failed cell is recorded in the sweep's
    status.json and the others go on; at the end, the leaderboards are published."""
    from harness.launchers import make_launcher
    from harness.sweep.command import load_plan, print_plan, summary_lines
    from harness.sweep.execute import run_sweep

    plan = load_plan(config_file, ctx.obj.registry, out, parse_sets(list(sets)))
    if dry_run:
        print_plan(plan, stdout)
        return
    for warning in plan.warnings:
        log.warning(warning)
    runner = make_launcher(launcher, jobs, plan.out / "submitit", plan.spec.launcher.slurm,
                           plan.name)
    try:
        status = run_sweep(plan, runner, resume=resume, publish=publish, strict=ctx.obj.strict)
    except KeyboardInterrupt:
        console.print(f"interrupted: finish it with harness sweep {config_file} --resume",
                      markup=False, highlight=False)
        raise click.exceptions.Exit(130) from None
    for line in summary_lines(plan, status):
        stdout.print(line, highlight=False, markup=False)
    if status.counts()["failed"] or status.sweep.get("publish_errors"):
        raise click.exceptions.Exit(1)


# -- harness make-synthetic --------------------------------------------------------------------
@cli.command("make-synthetic", context_settings={"show_default": True})
@click.option("--format", "fmt", type=click.Choice(["ava", "aadb", "cuhkpq", "tid2013",
                                                   "imagefolder"]), required=True,
              help="Write the synthetic dataset in this public dataset's on-disk layout.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Target folder.")
@click.option("--n", "n_images", type=int, default=200, help="Number of images.")
@click.option("--seed", type=int, default=0, help="Dataset seed.")
@click.option("--min-side", type=int, default=96, help="Smallest long side of an image.")
@click.option("--max-side", type=int, default=192, help="Largest long side of an image.")
@click.option("--clean/--with-quirks", default=False,
              help="Leave out the real datasets' defects (CRLF, mixed-case names, a truncated "
                   "JPEG, a missing image, a zero-vote row).")
def make_synthetic(fmt, out, n_images, seed, min_side, max_side, clean) -> None:
    """Write the built-in synthetic dataset to disk in a public dataset's real layout (for
    testing the loaders and trying the harness without the real data)."""
    from harness.synthetic.layouts import write_layout

    summary = write_layout(fmt, out, n_images=n_images, seed=seed, min_side=min_side,
                           max_side=max_side, quirks=not clean)
    stdout.print(f"wrote {summary}", highlight=False)


def main() -> None:
    """Entry point: one-line errors, exit 2 for usage mistakes, 1 for other failures."""
    try:
        cli.main(standalone_mode=False, prog_name="harness")
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        console.print("aborted")
        sys.exit(130)
    except HarnessError as error:
        console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        console.print("interrupted: run the same command again to resume", markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
