"""harness sweep: the schema, expansion and stable keys, the scheduler (pretraining once, locks,
failures), resume after kill -9, publishing, and the shipped configs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cache import CheckpointCache
from harness.errors import ConfigError, UsageError
from harness.io import read_json, write_json
from harness.launchers import Ended, Launcher
from harness.sweep.cell import run_cell
from harness.sweep.command import load_plan
from harness.sweep.execute import Scheduler, run_sweep
from harness.sweep.live import Display, eta_seconds, progress_line
from harness.sweep.status import Status

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.toml"))

#: Tiny cells: a 4-block CNN, 32-pixel images, 60 synthetic images, 2 epochs.
SMALL = """
[settings.dataset.synthetic]
n_images = 60
min_side = 40
max_side = 48
[settings.backbone.tiny]
width = 8
[settings.pretext.rotnet]
image_size = 32
epochs = 2
batch_size = 16
max_images = 48
[settings.head.nima]
image_size = 32
resize = 36
epochs = 2
batch_size = 16
freeze_until_plateau = false
[settings.head.gaussian_mv]
image_size = 32
epochs = 2
batch_size = 16
[publish]
baseline = "random"
resamples = 200
plots = false
"""


def sweep_file(tmp_path: Path, axes: str, extra: str = "", name: str = "t") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\n[axes]\nbackbones = ["tiny"]\n{axes}\n{SMALL}\n{extra}')
    return path


def plan_of(tmp_path, registry, axes, extra="", out=None):
    return load_plan(sweep_file(tmp_path, axes, extra), registry, out or tmp_path / "sweep")


# -- the schema ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ('[axes]\npretext = ["rotnet"]', "unknown key axes.pretext; did you mean 'pretexts'?"),
    ('heads = ["nima"]', "unknown key heads; "),
    ('[axes]\nseeds = [0, 0]', "axes.seeds: value error, lists a value twice"),
    ('[axes]\nlabel_fractions = [1.5]', "axes.label_fractions[0]: input should be less than or"),
    ('[[variants]]\nname = "a"\naxis = {}', "unknown key variants[0].axis; did you mean 'axes'"),
    ('[launcher.slurm]\ntime = "four hours"', "launcher.slurm.time: value error, 'four hours'"),
    ('[publish]\ncorection = "holm"', "did you mean 'correction'?"),
])
def test_schema_errors_are_one_line_with_a_suggestion(tmp_path, registry, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_plan(path, registry)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message


@pytest.mark.parametrize("extra, expected", [
    ('[settings.pretext.simclr]\nepoch = 3', "settings.pretext.simclr.epoch: unknown key for "
                                            "pretext 'simclr'; did you mean 'epochs'?"),
    ('[settings.head.nimaa]\nepochs = 3', "settings.head.nimaa: unknown head 'nimaa'"),
    ('[base.head]\nname = "nima"', "base.head.name is chosen by an axis; list it in axes.heads"),
    ('[base]\nseed = 3', "base.seed is chosen by an axis; list it in axes.seeds"),
])
def test_plugin_names_and_settings_keys_are_checked_even_when_unused(tmp_path, registry, extra,
                                                                    expected):
    with pytest.raises(ConfigError) as info:
        plan_of(tmp_path, registry, 'pretexts = ["random"]\nheads = ["nima"]', extra)
    assert expected in str(info.value)


def test_a_cell_that_does_not_resolve_is_named(tmp_path, registry):
    with pytest.raises(ConfigError) as info:
        plan_of(tmp_path, registry, 'pretexts = ["random"]\nheads = ["saf_spp"]',
                "[settings.head.saf_spp]\nepochs = -1")
    assert "cell random × saf_spp on synthetic (tiny, seed 0): head.epochs" in str(info.value)


def test_cli_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    from harness.cli import main

    path = tmp_path / "bad.toml"
    path.write_text('[axes]\npretext = ["rotnet"]\n')
    monkeypatch.setattr(sys, "argv", ["harness", "sweep", str(path), "--dry-run"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "did you mean 'pretexts'" in err
    assert len(err.splitlines()) == 1


# -- expansion and keys ------------------------------------------------------------------------
def test_expansion_is_the_cross_product_with_stable_keys(tmp_path, registry):
    axes = ('pretexts = ["random", "rotnet"]\nheads = ["nima", "gaussian_mv"]\n'
            'seeds = [0, 1]\nlabel_fractions = [0.5, 1.0]')
    plan = plan_of(tmp_path, registry, axes)
    assert len(plan.cells) == 2 * 2 * 2 * 2
    keys = {c.key for c in plan.cells}
    assert len(keys) == 16
    # Reordering the axes and adding a head keeps every key.
    reordered = ('pretexts = ["rotnet", "random"]\nheads = ["gaussian_mv", "nima", "saf_spp"]\n'
                 'seeds = [1, 0]\nlabel_fractions = [1.0, 0.5]')
    again = load_plan(sweep_file(tmp_path, reordered, name="u"), registry, tmp_path / "sweep")
    assert keys < {c.key for c in again.cells} and len(again.cells) == 24
    # The key is the run directory's name, and the run directory is default_out's.
    cell = next(c for c in plan.cells if c.config.pretext.name == "rotnet"
                and c.config.head.name == "nima" and c.config.seed == 1
                and c.config.head.settings.label_fraction == 0.5)
    assert cell.key.startswith("rotnet__nima__synthetic__tiny__seed1__")
    assert cell.key.endswith(cell.config.hash[:8]) and cell.run_dir == plan.runs / cell.key


def test_settings_reach_only_their_plugin_and_fractions_reach_the_head(tmp_path, registry):
    plan = plan_of(tmp_path, registry, 'pretexts = ["random", "rotnet"]\nheads = ["nima"]\n'
                   'label_fractions = [0.25, 1.0]')
    for cell in plan.cells:
        pretext, head = cell.raw["pretext"], cell.raw["head"]
        assert ("epochs" in pretext) == (pretext["name"] == "rotnet")
        assert head["freeze_until_plateau"] is False and "target" not in head
        assert head.get("label_fraction", 1.0) == cell.describe()["label_fraction"]
        # settings.dataset.synthetic reaches the labelled and the pretraining data.
        assert cell.raw["dataset"]["n_images"] == cell.raw["pretrain"]["n_images"] == 60
    assert {c.config.head.settings.label_fraction for c in plan.cells} == {0.25, 1.0}
    # Two label fractions share one pretraining: 2 cache keys (random, rotnet) for 4 cells.
    assert len({c.cache_key for c in plan.cells}) == 2


def test_evaluation_datasets_and_groups(tmp_path, registry):
    axes = ('pretexts = ["random"]\nheads = ["nima"]\ndatasets = ["synthetic", "tid2013"]\n'
            'eval_datasets = ["tid2013"]')
    extra = '[settings.eval.tid2013]\nuse_split = "all"\n[settings.dataset.tid2013]\nroot = "/x"'
    plan = plan_of(tmp_path, registry, axes, extra)
    pairs = {(c.config.dataset.name, c.eval_name) for c in plan.cells}
    assert pairs == {("synthetic", "tid2013"), ("tid2013", None)}  # no tid2013 → tid2013
    cross = next(c for c in plan.cells if c.eval_name)
    assert cross.raw["eval"] == {"dataset": "tid2013", "root": "/x", "use_split": "all"}
    assert plan.groups == ["main"]
    # Two evaluation datasets for one training set: one cell and one leaderboard group each.
    plan2 = plan_of(tmp_path, registry, 'pretexts = ["random"]\nheads = ["nima"]\n'
                    'eval_datasets = ["tid2013", "ava"]', extra)
    assert len(plan2.cells) == 2
    assert sorted(plan2.groups) == ["main/eval_ava", "main/eval_tid2013"]


def test_variants_override_axes_and_share_identical_cells(tmp_path, registry):
    extra = ('[[variants]]\nname = "table"\n[[variants]]\nname = "fractions"\n'
             'axes.pretexts = ["rotnet"]\naxes.label_fractions = [0.5, 1.0]\n'
             '[[variants]]\nname = "ablation"\naxes.pretexts = ["rotnet"]\n'
             '[variants.settings.head.nima]\ndropout = 0.5\n')
    plan = plan_of(tmp_path, registry, 'pretexts = ["random", "rotnet"]\nheads = ["nima"]', extra)
    groups = {c.key: c.groups for c in plan.cells}
    assert len(plan.cells) == 2 + 1 + 1  # rotnet at 100 % is shared by "table" and "fractions"
    shared = next(c for c in plan.cells if len(c.groups) == 2)
    assert shared.groups == ["table", "fractions"] and shared.config.pretext.name == "rotnet"
    ablation = next(c for c in plan.cells if groups[c.key] == ["ablation"])
    assert ablation.config.head.settings.dropout == 0.5
    # The ablation pretrains nothing new: same pretext configuration, same cache key.
    assert ablation.cache_key == shared.cache_key


# -- the scheduler, on a launcher that fakes the runs ------------------------------------------
class FakeLauncher(Launcher):
    """Pretends to run cells: fills the cache entry (unless its pretext is in ``fail``), writes
    metrics.json and the outcome, and checks that no two running cells pretrain one entry."""

    name = "fake"

    def __init__(self, plan, jobs: int, fail: tuple[str, ...] = ()) -> None:
        self.parallel, self.fail = jobs, fail
        self.cells = {c.key: c for c in plan.cells}
        self.active: list[str] = []
        self.started: list[str] = []
        self.pretrained: list[str] = []
        self.most = 0

    def free(self):
        return self.parallel - len(self.active)

    def start(self, tasks):
        for task in tasks:
            cell = self.cells[task.key]
            if not self._cache(cell).is_complete(cell.cache_key):
                assert not any(self.cells[k].cache_key == cell.cache_key for k in self.active), \
                    f"{task.key} would pretrain an entry that another running cell pretrains"
            self.active.append(task.key)
            self.started.append(task.key)
        self.most = max(self.most, len(self.active))
        return {t.key: "fake" for t in tasks}

    @staticmethod
    def _cache(cell):
        return CheckpointCache(cell.config.run.resolved_cache_dir())

    def poll(self):
        if not self.active:
            return []
        key = self.active.pop(0)
        cell = self.cells[key]
        cache, outcome = self._cache(cell), {"state": "done", "error": None, "pretrained": False}
        if not cache.is_complete(cell.cache_key):
            if cell.config.pretext.name in self.fail:
                outcome = {"state": "failed", "error": "weights file missing", "pretrained": False}
            else:
                entry = cache.entry(cell.cache_key)
                entry.mkdir(parents=True, exist_ok=True)
                (entry / "checkpoint.pt").write_bytes(b"")
                write_json(entry / "pretext.json", {})
                self.pretrained.append(key)
                outcome["pretrained"] = True
        if outcome["state"] == "done":
            write_json(cell.run_dir / "metrics.json", {})
        write_json(cell.run_dir.parent.parent / "cells" / f"{key}.outcome.json", outcome)
        return [Ended(key, None)]


AXES = 'pretexts = ["random", "rotnet", "simclr"]\nheads = ["nima", "gaussian_mv", "saf_spp"]'


@pytest.mark.parametrize("jobs", [1, 2, 4])
def test_p_pretexts_times_h_heads_pretrain_p_times(tmp_path, registry, jobs):
    plan = plan_of(tmp_path, registry, AXES)
    launcher = FakeLauncher(plan, jobs)
    status = run_sweep(plan, launcher, resume=False, publish=False, live=False, poll_seconds=0)
    assert status.counts()["done"] == 9
    assert len(launcher.pretrained) == 3  # P = 3 pretexts, H = 3 heads
    assert sorted(k for k, c in status.cells.items() if c["pretrained"]) == \
        sorted(launcher.pretrained)
    assert launcher.most == jobs  # no worker idles while a cell could start
    # Leaders first: the first three cells started are one per pretext.
    first = [launcher.cells[k].config.pretext.name for k in launcher.started[:3]]
    assert sorted(first) == ["random", "rotnet", "simclr"]


def test_a_failed_pretraining_fails_its_group_and_the_rest_goes_on(tmp_path, registry):
    plan = plan_of(tmp_path, registry, AXES)
    launcher = FakeLauncher(plan, jobs=2, fail=("simclr",))
    status = run_sweep(plan, launcher, resume=False, publish=False, live=False, poll_seconds=0)
    failed = {k: c for k, c in status.cells.items() if c["state"] == "failed"}
    assert {plan_cell.config.pretext.name for plan_cell in plan.cells
            if plan_cell.key in failed} == {"simclr"} and len(failed) == 3
    leader = next(k for k, c in failed.items() if c["error"] == "weights file missing")
    for key, cell in failed.items():
        if key != leader:
            assert cell["error"] == (f"not run: its pretraining failed in cell {leader}: "
                                     f"weights file missing")
    assert sum(launcher.cells[k].config.pretext.name == "simclr" for k in launcher.started) == 1
    assert status.counts()["done"] == 6 and status.sweep["finished"]


def test_finished_cells_are_skipped_and_interrupted_sweeps_need_resume(tmp_path, registry):
    plan = plan_of(tmp_path, registry, AXES)
    run_sweep(plan, FakeLauncher(plan, 2), resume=False, publish=False, live=False,
              poll_seconds=0)
    again = FakeLauncher(plan, 2)
    status = run_sweep(plan, again, resume=False, publish=False, live=False, poll_seconds=0)
    assert again.started == [] and status.counts()["done"] == 9
    # An interrupted sweep: the status was never finished.
    content = read_json(plan.out / "status.json")
    content["sweep"]["finished"] = None
    write_json(plan.out / "status.json", content)
    with pytest.raises(UsageError, match=r"interrupted sweep \(9 of 9 cells done\); pass "
                                         r"--resume"):
        run_sweep(plan, FakeLauncher(plan, 2), resume=False, publish=False, live=False)
    run_sweep(plan, FakeLauncher(plan, 2), resume=True, publish=False, live=False,
              poll_seconds=0)


def test_cached_pretraining_is_reported_and_reused(tmp_path, registry):
    plan = plan_of(tmp_path, registry, AXES)
    rotnet = next(c for c in plan.cells if c.config.pretext.name == "rotnet")
    entry = CheckpointCache(rotnet.config.run.resolved_cache_dir()).entry(rotnet.cache_key)
    entry.mkdir(parents=True)
    (entry / "checkpoint.pt").write_bytes(b"")
    write_json(entry / "pretext.json", {})
    states = plan.states()
    assert sorted(states[c.key] for c in plan.cells if c.config.pretext.name == "rotnet") == \
        ["cached"] * 3
    assert set(plan.pretraining_to_do(states)) == {c.cache_key for c in plan.cells
                                                   if c.config.pretext.name != "rotnet"}
    launcher = FakeLauncher(plan, 3)
    run_sweep(plan, launcher, resume=False, publish=False, live=False, poll_seconds=0)
    assert len(launcher.pretrained) == 2


def test_live_table_and_eta(tmp_path, registry):
    plan = plan_of(tmp_path, registry, AXES)
    status = Status(plan, "fake", 2)
    assert eta_seconds(status, 2) is None
    keys = list(status.cells)
    status.set(keys[0], state="done", leader=True, wall_seconds=30.0, started="x")
    status.set(keys[1], state="done", leader=False, wall_seconds=10.0, started="x")
    status.set(keys[2], state="failed", error="boom")
    for key in keys[3:5]:
        status.set(key, state="cached")
    # 4 pending cells at 30 s (leader-like) + 2 cached at 10 s, over 2 workers.
    assert eta_seconds(status, 2) == pytest.approx((4 * 30 + 2 * 10) / 2)
    assert progress_line(status, 2) == "[3/9, 1 failed, eta 1 min 10 s]"
    table = Display(plan, status, 2, enabled=False).render()
    assert "failed 1" in str(table.title) and "eta 1 min 10 s" in str(table.title)
    assert table.row_count == 9 and list(table.columns[0].cells)[0].plain == "failed"


def test_scheduler_writes_cell_files_with_threads(tmp_path, registry):
    plan = plan_of(tmp_path, registry, 'pretexts = ["random"]\nheads = ["nima"]')
    status = Status(plan, "fake", 2)
    Scheduler(plan, FakeLauncher(plan, 2), status, threads=3)
    cell = plan.cells[0]
    data = read_json(plan.out / "cells" / f"{cell.key}.json")
    assert data["raw"]["run"] == {"progress": False, "threads": 3}
    assert data["hash"] == cell.config.hash and data["out"] == str(cell.run_dir.resolve())
    # threads=0 leaves torch's default; a sweep's own run.threads wins.
    Scheduler(plan, FakeLauncher(plan, 2), status, threads=0)
    assert read_json(plan.out / "cells" / f"{cell.key}.json")["raw"]["run"] == {"progress": False}
    plan = plan_of(tmp_path, registry, 'pretexts = ["random"]\nheads = ["nima"]',
                   "[base.run]\nthreads = 5")
    Scheduler(plan, FakeLauncher(plan, 2), Status(plan, "fake", 2), threads=3)
    assert read_json(plan.out / "cells" / f"{cell.key}.json")["raw"]["run"]["threads"] == 5


def test_the_cell_lock_keeps_a_second_worker_out(tmp_path, registry, monkeypatch):
    """While one worker holds a cell, another waits; when the first finished it, the second
    returns without running anything."""
    import threading

    from filelock import FileLock

    monkeypatch.setattr("harness.registry.build_registry", lambda strict=False: registry)
    plan = plan_of(tmp_path, registry, 'pretexts = ["random"]\nheads = ["nima"]')
    cell = plan.cells[0]
    Scheduler(plan, FakeLauncher(plan, 1), Status(plan, "fake", 1), threads=1)
    cell.run_dir.mkdir(parents=True)
    outcomes = []
    with FileLock(str(cell.run_dir / ".lock")):
        second = threading.Thread(target=lambda: outcomes.append(
            run_cell(plan.out / "cells" / f"{cell.key}.json")))
        second.start()
        for _ in range(30):  # unlocked, the runner would write config.json at once
            time.sleep(0.1)
            assert not (cell.run_dir / "config.json").exists()
        assert second.is_alive()
        write_json(cell.run_dir / "metrics.json", {"srcc": 0.5})  # the first worker finishes
        write_json(cell.run_dir / "pretext.json", {})
    second.join(timeout=60)
    assert outcomes[0]["state"] == "done" and outcomes[0]["pretrained"] is False
    assert not (cell.run_dir / "config.json").exists()  # nothing ran


# -- real cells --------------------------------------------------------------------------------
class InlineLauncher(Launcher):
    """Runs each cell at once in this process (real runs, no worker start-up cost)."""

    name, parallel = "inline", 1

    def __init__(self) -> None:
        self.ended: list[Ended] = []

    def free(self):
        return 1 - len(self.ended)

    def start(self, tasks):
        for task in tasks:
            run_cell(task.cell_file)
            self.ended.append(Ended(task.key, None))
        return {t.key: "inline" for t in tasks}

    def poll(self):
        ended, self.ended = self.ended, []
        return ended


def test_real_cells_fail_alone_and_the_rest_is_published(tmp_path, registry, monkeypatch):
    monkeypatch.chdir(tmp_path)
    extra = f'[settings.pretext.imagenet]\nweights = "{tmp_path}/missing.pth"'
    plan = plan_of(tmp_path, registry, 'pretexts = ["random", "imagenet"]\n'
                   'heads = ["nima", "gaussian_mv"]', extra)
    status = run_sweep(plan, InlineLauncher(), resume=False, live=False, poll_seconds=0)
    states = {(c["pretext"], c["head"]): (c["state"], c["error"]) for c in status.cells.values()}
    assert states[("random", "nima")] == ("done", None)
    assert states[("random", "gaussian_mv")] == ("done", None)
    leader = states[("imagenet", "nima")]
    assert leader[0] == "failed" and "missing.pth" in leader[1]
    assert states[("imagenet", "gaussian_mv")][1].startswith("not run: its pretraining failed")
    assert sum(bool(c["pretrained"]) for c in status.cells.values()) == 1
    # The leaderboard holds the two finished cells.
    board = (tmp_path / "leaderboards" / "t" / "synthetic.md").read_text()
    assert "| random (baseline) | nima | tiny |" in board
    assert "| random (baseline) | gaussian_mv | tiny |" in board and "imagenet" not in board


def _status(out: Path) -> dict:
    try:
        return json.loads((out / "status.json").read_text())
    except (OSError, ValueError):
        return {}


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kill -9 semantics: Linux")
def test_kill_9_then_resume_equals_an_uninterrupted_sweep(tmp_path):
    config = sweep_file(tmp_path, 'pretexts = ["random", "rotnet"]\n'
                        'heads = ["nima", "gaussian_mv"]')
    command = [sys.executable, "-m", "harness", "sweep", str(config)]

    def env(name):
        return {**os.environ, "HARNESS_CACHE": str(tmp_path / f"cache_{name}")}

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    whole = subprocess.run(command + ["--out", str(tmp_path / "a" / "sweep")], env=env("a"),
                           cwd=tmp_path / "a", capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr

    out = tmp_path / "b" / "sweep"
    proc = subprocess.Popen(command + ["--out", str(out)], env=env("b"), cwd=tmp_path / "b",
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 900
    while time.time() < deadline:
        cells = _status(out).get("cells", {})
        if any(c["state"] == "done" for c in cells.values()):
            break
        assert proc.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cells = _status(out)["cells"]
    assert 1 <= sum(c["state"] == "done" for c in cells.values()) < 4
    # Its workers died with it (PR_SET_PDEATHSIG).
    for cell in cells.values():
        if cell["state"] == "running":
            for _ in range(100):
                if not Path(f"/proc/{cell['job']}").exists():
                    break
                time.sleep(0.1)
            assert not Path(f"/proc/{cell['job']}").exists()

    refused = subprocess.run(command + ["--out", str(out)], env=env("b"), cwd=tmp_path / "b",
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "pass --resume" in refused.stderr
    resumed = subprocess.run(command + ["--out", str(out), "--resume"], env=env("b"),
                             cwd=tmp_path / "b", capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr

    a, b = _status(tmp_path / "a" / "sweep")["cells"], _status(out)["cells"]
    assert sorted(a) == sorted(b) and all(c["state"] == "done" for c in b.values())
    assert sum(bool(c["pretrained"]) for c in a.values()) == 2
    for key in a:
        run_a, run_b = Path(a[key]["run_dir"]), Path(b[key]["run_dir"])
        assert (run_a / "predictions.csv").read_bytes() == (run_b / "predictions.csv").read_bytes()
    boards = [tmp_path / name / "leaderboards" / "t" / "synthetic.csv" for name in ("a", "b")]
    tables = [_without_timing(path) for path in boards]
    assert tables[0] == tables[1]


def _without_timing(path: Path) -> list[str]:
    import pandas as pd

    frame = pd.read_csv(path)
    return frame[[c for c in frame.columns if "time" not in c and "wall" not in c]].to_csv()


# -- the shipped configurations ----------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_shipped_configs_expand(config, registry, tmp_path):
    text = config.read_text()
    assert text.startswith("#"), f"{config.name}: start with a comment citing what it reproduces"
    plan = load_plan(config, registry, tmp_path / "sweep")
    assert plan.cells and not plan.warnings
