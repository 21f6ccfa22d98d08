"""One run: pretrain (or reuse the cached checkpoint) -> fit the head on train, select on val ->
predict test -> metrics. Every file is written atomically; a run directory without
``metrics.json`` is unfinished, and running the same configuration again resumes it.

Run directory::

    config.json        resolved configuration, its hash, provenance
    pretext.json       the pretext's validation metrics and pretraining budget
    predictions.csv    one row per test image (see harness.metrics)
    metrics.json       the metrics, n_test, epochs (written last: its presence means "finished")
    skipped.csv        unreadable images, if any
    model.pt           the trained backbone + head
    head_resume.pt     only while the head trains
    run.log            the run's log lines
"""

from __future__ import annotations

import contextlib

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from harness import distributed
from harness.cache import CheckpointCache, cache_key
from harness.config import PluginChoice, RunConfig
from harness.data.loading import EpochBatchSampler, Samples, SkipLog, make_loader
from harness.data.records import Dataset
from harness.data.sampling import carve, stratified_fraction
from harness.errors import DataError, HarnessError, PluginError, UsageError
from harness.head import Head
from harness.io import read_json, save_torch, write_csv, write_json
from harness.metrics import compute
from harness.pretext import Initialization, PretextTask
from harness.progress import Bar, progress_bar
from harness.provenance import provenance
from harness.registry import Registry
from harness.training import Trainer

log = logging.getLogger(__name__)

VAL_FRACTION = 0.05
DATASET_SPLIT_SEED = 0


@dataclass
class RunResult:
    out: Path
    metrics: dict[str, Any]
    pretext: dict[str, Any]
    resumed: bool
    pretrain_cached: bool


def default_out(config: RunConfig, root: Path = Path("runs")) -> Path:
    """``runs/<pretext>__<head>__<dataset>__<backbone>__seed<N>__<hash8>``: the same configuration
    always maps to the same folder, which is what makes re-running resume."""
    parts = [config.pretext.name, config.head.name, config.dataset.name, config.backbone.name,
             f"seed{config.seed}", config.hash[:8]]
    return root / "__".join(parts)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: no CUDA device is available on this machine")
    return device


def plugin_provenance(registry: Registry, config: RunConfig) -> dict[str, Any]:
    out = {}
    for choice in (config.pretext, config.head, config.dataset, config.backbone, config.pretrain,
                   config.eval):
        if choice is None:
            continue
        provider = registry.provider(choice.spec.kind, choice.name)
        out[f"{choice.section}:{choice.name}"] = {
            "version": choice.spec.version, "module": provider.module,
            "distribution": provider.distribution,
            "distribution_version": provider.distribution_version}
    return out


def build_backbone(config: RunConfig):
    return config.backbone.spec.factory(config.backbone.settings)


def load_dataset(choice: PluginChoice, purpose: str) -> Dataset:
    try:
        dataset = choice.spec.factory(choice.settings, purpose)
    except HarnessError:
        raise
    except Exception as error:
        raise PluginError(f"dataset {choice.name!r} failed to load: {type(error).__name__}: "
                          f"{error}") from error
    if not isinstance(dataset, Dataset):
        raise PluginError(f"dataset {choice.name!r} returned {type(dataset).__name__}, "
                          f"not a harness.data.Dataset")
    return dataset


def train_val(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The train and val splits; without a val split, a seeded 5 % of train (the same every run)."""
    train = dataset.split("train")
    if "val" in dataset.splits and len(dataset.splits["val"]):
        return train, dataset.splits["val"]
    train, val = carve(train, VAL_FRACTION, DATASET_SPLIT_SEED)
    log.info("dataset %s has no val split: using a seeded %.0f%% of train (%d images)",
             dataset.name, VAL_FRACTION * 100, len(val))
    return train, val


class Runner:
    """Runs one configuration. ``registry`` provides the plugins; ``out`` the run directory."""

    def __init__(self, config: RunConfig, registry: Registry, out: Path | None = None) -> None:
        self.config = config
        self.registry = registry
        self.out = Path(out) if out is not None else default_out(config)
        self.device = resolve_device(config.device)
        if distributed.init_from_env(self.device.type) and self.device.type == "cuda":
            self.device = torch.device("cuda", distributed.local_rank())
            torch.cuda.set_device(self.device)
        self.main = distributed.is_main()
        self.cache = CheckpointCache(config.run.resolved_cache_dir())
        self.progress = config.run.progress

    # -- the whole run -------------------------------------------------------------------------
    def run(self) -> RunResult:
        config, out = self.config, self.out
        if (out / "metrics.json").is_file():
            log.info("%s is finished (metrics.json exists); nothing to do", out)
            return RunResult(out, read_json(out / "metrics.json"), read_json(out / "pretext.json"),
                             resumed=False, pretrain_cached=True)
        resumed = (out / "config.json").is_file()
        distributed.barrier()  # no rank may see the config.json that rank 0 is about to write
        self._write_config(resumed)
        handler = self._log_to_file()
        try:
            if config.run.threads:
                torch.set_num_threads(config.run.threads)
            with progress_bar(self.progress and self.main) as bar:
                checkpoint, pretext_info, cached = self.pretrain(bar)
                if self.main:
                    write_json(out / "pretext.json", pretext_info)
                metrics = self.fit_and_evaluate(checkpoint, pretext_info, bar)
        finally:
            if handler is not None:
                logging.getLogger().removeHandler(handler)
                handler.close()
        distributed.barrier()
        return RunResult(out, metrics, pretext_info, resumed=resumed, pretrain_cached=cached)

    def _write_config(self, resumed: bool) -> None:
        path = self.out / "config.json"
        content = {**self.config.to_json(), "hash": self.config.hash}
        if resumed:
            old = read_json(path)
            if old.get("hash") != self.config.hash:
                raise UsageError(f"{self.out} holds a run of a different configuration "
                                 f"(hash {str(old.get('hash'))[:8]} vs {self.config.hash[:8]}); "
                                 f"choose another --out")
            log.info("resuming the unfinished run in %s", self.out)
            return
        if not self.main:
            return
        content["provenance"] = provenance(self.device, plugin_provenance(self.registry,
                                                                          self.config),
                                           self.config.seed)
        write_json(path, content)

    def _log_to_file(self) -> logging.Handler | None:
        """run.log (rank 0 of a distributed run; the other ranks log warnings only)."""
        if not self.main:
            logging.getLogger().setLevel(logging.WARNING)
            return None
        self.out.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.out / "run.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logging.getLogger().addHandler(handler)
        return handler

    # -- pretraining ---------------------------------------------------------------------------
    def build_pretext(self):
        choice = self.config.pretext
        backbone = build_backbone(self.config)
        try:
            task = choice.spec.factory(backbone, choice.settings)
        except HarnessError:
            raise
        except Exception as error:
            raise PluginError(f"pretext {choice.name!r} failed to build: {type(error).__name__}: "
                              f"{error}") from error
        if not isinstance(task, (PretextTask, Initialization)):
            raise PluginError(f"pretext {choice.name!r} returned {type(task).__name__}, not a "
                              f"PretextTask or Initialization")
        return task

    def pretrain(self, bar: Bar) -> tuple[Path, dict[str, Any], bool]:
        """The cached checkpoint of this pretext configuration, training it first if needed."""
        key = cache_key(self.config)
        entry = self.cache.entry(key)
        label = f"pretext {self.config.pretext.name!r}"
        if self.cache.is_complete(key):
            log.info("%s: reusing the cached pretraining %s", label, entry)
            return entry / "checkpoint.pt", read_json(entry / "pretext.json"), True
        # In a distributed run rank 0 holds the lock; every rank trains its shard.
        with self.cache.lock(key) if self.main else contextlib.nullcontext():
            # another process finished it while we waited
            if distributed.broadcast(self.cache.is_complete(key)):
                log.info("%s: reusing the cached pretraining %s", label, entry)
                return entry / "checkpoint.pt", read_json(entry / "pretext.json"), True
            seed_everything(self.config.seed, 1)
            task = self.build_pretext()
            started = time.perf_counter()
            if not task.trains:
                facts = task.initialize() or {}
                info = {"pretext": self.config.pretext.name, "metrics": {}, "facts": facts,
                        "budget": {"images_seen": 0, "epochs": 0, "wall_seconds": 0.0}}
            else:
                info = self._train_pretext(task, entry, label, bar)
            info.update(cache_key=key, wall_seconds_total=time.perf_counter() - started)
            if distributed.active():
                info["budget"]["world_size"] = distributed.world_size()
            if self.main:
                save_torch(entry / "checkpoint.pt", {
                    "backbone": task.backbone.state_dict(), "pretext": task.state_dict(),
                    "arch": task.backbone.arch, "pretext_name": self.config.pretext.name,
                    "config": {k: self.config.to_json()[k]
                               for k in ("seed", "pretext", "backbone", "pretrain")}})
                write_json(entry / "pretext.json", info)
                (entry / "resume.pt").unlink(missing_ok=True)
            distributed.barrier()  # the checkpoint exists before any rank builds the head
        return entry / "checkpoint.pt", info, False

    def _train_pretext(self, task: PretextTask, entry: Path, label: str, bar: Bar
                       ) -> dict[str, Any]:
        settings = task.settings
        dataset = load_dataset(self.config.pretrain, "pretrain")
        train, val = train_val(dataset)
        if getattr(settings, "max_images", None):
            train = np.sort(np.random.default_rng([self.config.seed, 3]).permutation(train)
                            [:settings.max_images])
        transform = task.sample_transform()
        skips = SkipLog(f"pretraining dataset {dataset.name!r}", dataset.root)
        batch_size = settings.batch_size
        if len(train) < batch_size:
            raise DataError(f"{label}: {len(train)} pretraining images are fewer than one batch "
                            f"({batch_size}); lower pretext.batch_size")
        train_loader, sampler = self._loader(dataset, train, transform, batch_size, shuffle=True,
                                             labels=False)
        val_loader, val_sampler = self._loader(dataset, val, transform, batch_size, shuffle=False,
                                               labels=False)
        log.info("%s: pretraining on %d images of %r (val %d), %d epochs of %d steps", label,
                 len(train), dataset.name, len(val), settings.epochs, sampler.steps_per_epoch())

        def train_batches(epoch: int, start: int):
            sampler.set_epoch(epoch, start)
            return train_loader

        def val_batches():
            val_sampler.set_epoch(0)
            return val_loader

        sampler.set_epoch(0)  # a task's statistics of its pretraining images (PretextTask.prepare)
        task.to(self.device).prepare(map(self._to_device(SkipLog(skips.label, skips.root)),
                                         train_loader))
        trainer = Trainer(task, label=label, epochs=settings.epochs, device=self.device,
                          seed=self.config.seed, resume_path=entry / "resume.pt",
                          amp=self.config.run.amp,
                          checkpoint_minutes=self.config.run.checkpoint_minutes, bar=bar,
                          precise_bn=getattr(settings, "precise_bn", 0))
        result = trainer.fit(train_batches, sampler.steps_per_epoch(), val_batches,
                             self._to_device(skips))
        best = result.best_logs
        val_logs = {k[4:]: v for k, v in best.items() if k.startswith("val_")}
        return {"pretext": self.config.pretext.name, "metrics": task.pretext_metrics(val_logs),
                "budget": {"images_seen": result.samples_seen, "epochs": result.epochs_run,
                           "best_epoch": result.best_epoch + 1,
                           "wall_seconds": result.wall_seconds,
                           "train_images": int(len(train)), "val_images": int(len(val))},
                "history": result.history, "skipped": len(skips.rows)}

    # -- the head ------------------------------------------------------------------------------
    def build_head(self, checkpoint: Path, dataset: Dataset) -> Head:
        choice = self.config.head
        reason = getattr(choice.spec.factory, "accepts", lambda labels: None)(dataset.labels)
        if reason:
            raise UsageError(f"head {choice.name!r} cannot train on dataset {dataset.name!r}: "
                             f"{reason}")
        backbone = build_backbone(self.config)
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        backbone.load_state_dict(saved["backbone"])
        try:
            head = choice.spec.factory(backbone, choice.settings, dataset.labels)
        except HarnessError:
            raise
        except Exception as error:
            raise PluginError(f"head {choice.name!r} failed to build: {type(error).__name__}: "
                              f"{error}") from error
        if not isinstance(head, Head):
            raise PluginError(f"head {choice.name!r} returned {type(head).__name__}, not a Head")
        try:
            head.load_pretext(saved)
        except HarnessError:
            raise
        except Exception as error:
            raise PluginError(f"head {choice.name!r} failed to load the pretext checkpoint "
                              f"{checkpoint}: {type(error).__name__}: {error}") from error
        return head

    def fit_and_evaluate(self, checkpoint: Path, pretext_info: dict[str, Any], bar: Bar
                         ) -> dict[str, Any]:
        config, out = self.config, self.out
        dataset = load_dataset(config.dataset, "labelled")
        for note in dataset.notes:
            log.info("dataset %s: %s", dataset.name, note)
        seed_everything(config.seed, 2)
        head = self.build_head(checkpoint, dataset)
        settings = head.settings
        train, val = train_val(dataset)
        fraction = getattr(settings, "label_fraction", 1.0)
        if fraction < 1:
            train = stratified_fraction(dataset.records, train, fraction, config.seed)
            log.info("head: training on a stratified %.0f%% of the training labels (%d images)",
                     fraction * 100, len(train))
        skips = SkipLog(f"dataset {dataset.name!r}", dataset.root)
        label = f"head {config.head.name!r}"
        batch_size = settings.batch_size
        train_loader, sampler = self._loader(dataset, train, head.sample_transform(True),
                                             batch_size, shuffle=True, labels=True)
        val_loader, val_sampler = self._loader(dataset, val, head.sample_transform(False),
                                               batch_size, shuffle=False, labels=True)
        log.info("%s: training on %d images of %r (val %d) for up to %d epochs", label,
                 len(train), dataset.name, len(val), settings.epochs)

        def train_batches(epoch: int, start: int):
            sampler.set_epoch(epoch, start)
            return train_loader

        def val_batches():
            val_sampler.set_epoch(0)
            return val_loader

        trainer = Trainer(head, label=label, epochs=settings.epochs, device=self.device,
                          seed=config.seed, resume_path=out / "head_resume.pt",
                          patience=getattr(settings, "patience", None),
                          min_delta=getattr(settings, "min_delta", 0.0), amp=config.run.amp,
                          checkpoint_minutes=config.run.checkpoint_minutes, bar=bar)
        result = trainer.fit(train_batches, sampler.steps_per_epoch(), val_batches,
                             self._to_device(skips))
        val_logs = {k[4:]: v for k, v in result.best_logs.items() if k.startswith("val_")}
        extra = head.finalize(val_logs) or {}
        if not self.main:  # rank 0 alone predicts the test split and writes the files
            return {}
        save_torch(out / "model.pt", {"model": head.state_dict(), "head": config.head.name,
                                      "arch": head.backbone.arch})

        block_frames: dict[str, pd.DataFrame] = {}
        frame = self.predict(head, dataset, dataset.split("test"), skips, bar, "test",
                             blocks=block_frames)
        write_csv(out / "predictions.csv", frame)
        metrics = compute(frame, dataset.labels.kinds)
        # Per-block results: the head's own entries (finalize) + test metrics per block.
        blocks = dict(extra.pop("blocks", None) or {})
        for name, block in block_frames.items():
            blocks[name] = {**blocks.get(name, {}), **compute(block, dataset.labels.kinds)}
        metrics.update(epochs=result.epochs_run, best_epoch=result.best_epoch + 1,
                       train_images=int(len(train)), val_loss=result.best_val_loss,
                       dataset=dataset.name, labels=dataset.labels.to_json(),
                       head_wall_seconds=result.wall_seconds,
                       train_label_stats=train_label_stats(dataset, train), **extra)
        if blocks:
            metrics["blocks"] = blocks
        if config.eval is not None:
            metrics["cross"] = {config.eval.name: self.cross_evaluate(head, bar)}
        skips.write(out / "skipped.csv")
        metrics["skipped"] = len(skips.rows)
        metrics["pretext_budget"] = pretext_info.get("budget", {})
        write_json(out / "metrics.json", metrics)
        (out / "head_resume.pt").unlink(missing_ok=True)
        return metrics

    def cross_evaluate(self, head: Head, bar: Bar) -> dict[str, Any]:
        """Evaluate the trained model on another dataset without fine-tuning (e.g. AVA -> TID2013).

        Scores are compared by rank and linear correlation only (scales differ across datasets).
        """
        choice = self.config.eval
        dataset = load_dataset(choice, "labelled")
        split = choice.extras.get("use_split", "test")
        skips = SkipLog(f"evaluation dataset {dataset.name!r}", dataset.root)
        frame = self.predict(head, dataset, dataset.split(split), skips, bar, f"{dataset.name}")
        write_csv(self.out / f"predictions_{dataset.name}.csv", frame)
        skips.write(self.out / f"skipped_{dataset.name}.csv")
        kinds = dataset.labels.kinds & {"score"}
        metrics = {k: v for k, v in compute(frame, kinds).items() if k in ("srcc", "plcc", "n_test")}
        metrics.update(split=split, skipped=len(skips.rows))
        return metrics

    @torch.no_grad()
    def predict(self, head: Head, dataset: Dataset, indices: np.ndarray, skips: SkipLog, bar: Bar,
                what: str, blocks: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
        """One row per readable image of ``indices``: targets and predictions (see harness.metrics).

        ``blocks``, if given, receives one such table per entry of ``Prediction.blocks`` (e.g. the
        linear probes of every block), for metrics per block."""
        head.to(self.device).eval()
        loader, sampler = self._loader(dataset, indices, head.sample_transform(False),
                                       getattr(head.settings, "batch_size", 32), shuffle=False,
                                       labels=False, shard=False)
        sampler.set_epoch(0)
        to_device = self._to_device(skips)
        task = bar.add(f"predict {what}", total=sampler.steps_per_epoch())
        rows, means, dists, binaries = [], [], [], []
        block_parts: dict[str, tuple[list, list]] = {}
        for batch in loader:
            batch = to_device(batch)
            if "image" not in batch:
                continue
            prediction = head.predict(batch["image"])
            rows.append(batch["index"].cpu().numpy())
            means.append(prediction.mean.float().cpu().numpy())
            if prediction.dist is not None:
                dists.append(prediction.dist.float().cpu().numpy())
            if prediction.binary is not None:
                binaries.append(prediction.binary.cpu().numpy())
            for name, part in (prediction.blocks or {}).items():
                block_means, block_binaries = block_parts.setdefault(name, ([], []))
                block_means.append(part.mean.float().cpu().numpy())
                if part.binary is not None:
                    block_binaries.append(part.binary.cpu().numpy())
            bar.update(task)
        bar.remove(task)
        if not rows:
            raise DataError(f"dataset {dataset.name!r}: no readable images to predict")
        index = np.concatenate(rows)
        pred_mean = np.concatenate(means)
        if blocks is not None:
            for name, (block_means, block_binaries) in block_parts.items():
                blocks[name] = prediction_frame(
                    dataset, index, np.concatenate(block_means), None,
                    np.concatenate(block_binaries) if block_binaries else None)
        return prediction_frame(dataset, index, pred_mean,
                                np.concatenate(dists) if dists else None,
                                np.concatenate(binaries) if binaries else None)

    # -- plumbing ------------------------------------------------------------------------------
    def _loader(self, dataset: Dataset, indices: np.ndarray, transform, batch_size: int,
                shuffle: bool, labels: bool, shard: bool = True):
        """A loader and its sampler. In a distributed run each rank takes every world_size-th
        training batch (``shard``); validation is not sharded (every rank sees all of it, so the
        summed sums and counts give the same means) and prediction runs on rank 0 alone."""
        rank, world = (distributed.rank(), distributed.world_size()) if shard and shuffle \
            else (0, 1)
        sampler = EpochBatchSampler(len(indices), batch_size, self.config.seed, shuffle=shuffle,
                                    drop_last=shuffle, rank=rank, world_size=world)
        samples = Samples(dataset, indices, transform, labels=labels, seed=self.config.seed)
        loader = make_loader(samples, sampler, self.config.run.num_workers,
                             pin=self.device.type == "cuda", seed=self.config.seed)
        return loader, sampler

    def _to_device(self, skips: SkipLog):
        device = self.device
        channels_last = self.config.run.channels_last and device.type == "cuda"

        def move(value):
            if torch.is_tensor(value):
                value = value.to(device, non_blocking=True)
                if channels_last and value.dim() == 4:
                    value = value.contiguous(memory_format=torch.channels_last)
                return value
            if isinstance(value, (list, tuple)):
                return type(value)(move(v) for v in value)
            return value

        def to_device(batch: dict) -> dict:
            skips.record(batch)
            return {k: move(v) for k, v in batch.items() if k != "skipped"}

        return to_device


def seed_everything(seed: int, stage: int) -> None:
    """Seed the global generators before building a stage's modules, so a stage's initialisation
    does not depend on what ran before it (e.g. a cached vs. a fresh pretraining)."""
    value = int(np.random.SeedSequence([seed, stage]).generate_state(1)[0])
    torch.manual_seed(value)
    np.random.seed(value)


def prediction_frame(dataset: Dataset, index: np.ndarray, pred_mean: np.ndarray,
                     pred_dist: np.ndarray | None, pred_binary: np.ndarray | None) -> pd.DataFrame:
    """The ``predictions.csv`` table for records ``index`` (columns documented in harness.metrics)."""
    records, labels = dataset.records, dataset.labels
    # float64 throughout: CSV then round-trips exactly, so metrics recomputed from the file agree.
    pred_mean = np.asarray(pred_mean, dtype=np.float64)
    pred_dist = None if pred_dist is None else np.asarray(pred_dist, dtype=np.float64)
    frame = pd.DataFrame({"image_id": records.image_id[index].astype(str)})
    target_mean = (records.score[index] if records.score is not None
                   else records.dist[index] @ np.asarray(labels.bins) if records.votes is not None
                   and labels.bins else np.full(len(index), np.nan))
    frame["target_mean"] = target_mean
    frame["pred_mean"] = pred_mean
    if records.binary is not None:
        frame["target_binary"] = records.binary[index].astype(int)
        frame["pred_binary"] = (pred_binary.astype(int) if pred_binary is not None
                                else (pred_mean > labels.threshold).astype(int))
    if records.votes is not None and pred_dist is not None and pred_dist.shape[1] == labels.n_bins:
        target = records.dist[index]
        for m in range(labels.n_bins):
            frame[f"target_p{m + 1}"] = target[:, m]
        for m in range(labels.n_bins):
            frame[f"pred_p{m + 1}"] = pred_dist[:, m]
    return frame


def train_label_stats(dataset: Dataset, index: np.ndarray) -> dict[str, Any]:
    """What a constant predictor learns from the head's training labels (records ``index``):
    ``n``; ``score_mean``, the mean of the targets as ``predictions.csv``'s ``target_mean``
    defines them; ``binary_rate``, the fraction of positive binary labels; ``prior``, the mean of
    the vote distributions (rows without votes left out). A key is absent where the dataset lacks
    that label kind. ``harness publish`` builds its trivial baseline from these."""
    records, labels = dataset.records, dataset.labels
    out: dict[str, Any] = {"n": int(len(index))}
    if records.score is not None:
        out["score_mean"] = float(np.nanmean(records.score[index]))
    elif records.votes is not None and labels.bins:
        out["score_mean"] = float(np.mean(records.dist[index] @ np.asarray(labels.bins)))
    if records.binary is not None:
        out["binary_rate"] = float(np.mean(records.binary[index]))
    if records.votes is not None:
        dist = records.dist[index]  # (n, M)
        dist = dist[dist.sum(axis=1) > 0]  # (n', M) rows with votes
        out["prior"] = dist.mean(axis=0).tolist()
    return out


def remove_run(out: Path) -> None:
    """Delete a run directory (used by ``--restart``)."""
    if out.exists():
        shutil.rmtree(out)


