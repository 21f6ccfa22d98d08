"""One training loop for pretext tasks and heads: epochs, validation, best-epoch selection,
early stopping, resumable checkpoints, mixed precision, a fail-fast on non-finite losses.

A *trainable* is an ``nn.Module`` with

- ``training_step(batch, ctx) -> StepOutput`` and ``validation_step(batch, ctx) -> StepOutput``;
- ``configure_optimizers() -> Optimization``;
- optionally ``on_epoch_end(epoch, val_loss, optimization) -> bool`` (True stops training).

Its ``forward(batch, ctx)`` must run ``training_step`` (so a DistributedDataParallel wrapper syncs
gradients). The loop owns everything else, so every plugin gets resume, progress, AMP and the
non-finite check for free.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness import distributed
from harness.errors import NonFiniteLossError
from harness.io import save_torch
from harness.progress import Bar
from harness.types import StepOutput

log = logging.getLogger(__name__)


@dataclass
class Optimization:
    """What a trainable's ``configure_optimizers`` returns.

    Attributes:
        optimizer: the optimizer over the trainable's parameters.
        scheduler: an LR scheduler or None.
        interval: when the scheduler steps: ``"epoch"`` or ``"step"``.
        monitor: the scheduler takes the validation loss (``ReduceLROnPlateau``).
    """

    optimizer: torch.optim.Optimizer
    scheduler: Any = None
    interval: str = "epoch"
    monitor: bool = False


@dataclass
class StepContext:
    """Passed to every step: where we are, and the only source of randomness a step may use."""

    epoch: int
    step: int
    generator: torch.Generator
    device: torch.device
    training: bool


@dataclass
class FitResult:
    """What training produced: the selected epoch and the history of epoch logs."""

    best_epoch: int
    best_val_loss: float
    epochs_run: int
    samples_seen: int
    wall_seconds: float
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def best_logs(self) -> dict[str, float]:
        return next((h for h in self.history if h["epoch"] == self.best_epoch), {})


def step_generator(device: torch.device, *keys: int) -> torch.Generator:
    """A generator on ``device`` seeded from integers (seed, epoch, step, ...): resumable randomness."""
    generator = torch.Generator(device=device)
    value = 0
    for key in keys:
        value = (value * 1_000_003 + int(key) + 7) % (2**63 - 1)
    generator.manual_seed(value)
    return generator


class Averager:
    """Sample-weighted means of step logs over an epoch."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, float] = {}

    def add(self, out: StepOutput) -> None:
        n = float(out.n)
        for key, value in {"loss": out.loss, **out.logs}.items():
            value = float(value.detach()) if torch.is_tensor(value) else float(value)
            self.sums[key] = self.sums.get(key, 0.0) + value * n
            self.counts[key] = self.counts.get(key, 0.0) + n

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / max(self.counts[k], 1e-12) for k in self.sums}

    def reduce(self, device: torch.device) -> Averager:
        """Sums and counts added over all ranks of a distributed run (a no-op otherwise)."""
        merged = distributed.sum_across(
            {**{f"s:{k}": v for k, v in self.sums.items()},
             **{f"c:{k}": v for k, v in self.counts.items()}}, device)
        out = Averager()
        out.sums = {k[2:]: v for k, v in merged.items() if k.startswith("s:")}
        out.counts = {k[2:]: v for k, v in merged.items() if k.startswith("c:")}
        return out


class Trainer:
    """Runs a trainable for a number of epochs and keeps the epoch with the lowest validation loss.

    Args:
        module: the trainable (see the module docstring).
        label: ``"pretext 'rotnet'"``-style name used in messages.
        epochs: maximum number of epochs.
        device: where to train.
        seed: the run seed; every step's generator derives from (seed, epoch, step).
        resume_path: a file for resumable state; resumed from when it exists.
        patience: stop after this many epochs without a validation improvement (None: never).
        min_delta: the smallest decrease of the validation loss that counts as improvement.
        amp: autocast on CUDA (bf16 where supported, else fp16 with a grad scaler).
        checkpoint_minutes: also write ``resume_path`` mid-epoch this often (single process).
        channels_last: use the channels-last memory format on CUDA.
        bar: progress display.
        precise_bn: before each validation, recompute every BatchNorm layer's running
            statistics as the plain average over this many training batches run through
            ``training_step`` without gradients (0: off). See :meth:`recalibrate_batchnorm`.
    """

    def __init__(self, module: nn.Module, *, label: str, epochs: int, device: torch.device,
                 seed: int, resume_path: Path | None = None, patience: int | None = None,
                 min_delta: float = 0.0, amp: bool = True, checkpoint_minutes: float = 10.0,
                 bar: Bar | None = None, grad_clip: float | None = None,
                 channels_last: bool = False, precise_bn: int = 0) -> None:
        self.module = module
        self.precise_bn = precise_bn
        self.label = label
        self.epochs = epochs
        self.device = device
        self.seed = seed
        self.resume_path = resume_path
        self.patience = patience
        self.min_delta = min_delta
        self.checkpoint_seconds = checkpoint_minutes * 60
        self.bar = bar or Bar(None)
        self.grad_clip = grad_clip
        self.channels_last = channels_last
        use_amp = amp and device.type == "cuda"
        self.amp_dtype = (torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported()
                          else torch.float16 if use_amp else None)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

    def _autocast(self):
        if self.amp_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def fit(self, train_batches: Callable[[int, int], Iterable], steps_per_epoch: int,
            val_batches: Callable[[], Iterable] | None, batch_to_device: Callable[[Any], Any]
            ) -> FitResult:
        """Train.

        Args:
            train_batches: ``(epoch, start_step) -> batches`` in a fixed order per epoch, starting
                at ``start_step`` (so a resumed epoch skips what it already saw).
            steps_per_epoch: how many batches ``train_batches`` yields from step 0.
            val_batches: ``() -> batches`` of the validation split, or None (then the last epoch
                is kept).
            batch_to_device: moves a batch to the device.
        """
        module, device = self.module, self.device
        module.to(device)
        if self.channels_last and device.type == "cuda":
            module.to(memory_format=torch.channels_last)
        self._signature = None
        optimization = module.configure_optimizers()
        state = {"epoch": 0, "step_in_epoch": 0, "best_val": math.inf, "best_epoch": -1,
                 "best_state": None, "bad_epochs": 0, "history": [], "samples": 0, "wall": 0.0}
        if self.resume_path is not None and self.resume_path.exists():
            state = self._load(optimization)
            log.info("%s: resuming at epoch %d, step %d (%s)", self.label, state["epoch"] + 1,
                     state["step_in_epoch"], self.resume_path)
        started = time.perf_counter() - state["wall"]
        epoch_task = self.bar.add(f"{self.label} epochs", total=self.epochs,
                                  completed=state["epoch"])
        while state["epoch"] < self.epochs and not state.get("stopped"):
            epoch = state["epoch"]
            module.train()
            self._wrap()
            averager = Averager()
            if state.get("partial_logs"):
                averager.sums, averager.counts = state["partial_logs"]
            start_step = state["step_in_epoch"]
            epoch_samples = 0
            step_task = self.bar.add(f"epoch {epoch + 1}", total=steps_per_epoch,
                                     completed=start_step)
            last_save = time.perf_counter()
            for step, batch in enumerate(train_batches(epoch, start_step), start=start_step):
                batch = batch_to_device(batch)
                ctx = StepContext(epoch, epoch * steps_per_epoch + step,
                                  step_generator(device, self.seed, epoch, step,
                                                 distributed.rank()), device, True)
                out = self._train_step(batch, ctx, optimization)
                averager.add(out)
                epoch_samples += out.n
                if optimization.scheduler is not None and optimization.interval == "step":
                    optimization.scheduler.step()
                self.bar.update(step_task, info=f"loss {float(out.loss.detach()):.4f}")
                state["step_in_epoch"] = step + 1
                if (self.resume_path is not None and not distributed.active()
                        and time.perf_counter() - last_save > self.checkpoint_seconds):
                    state["samples"] += epoch_samples
                    epoch_samples = 0
                    state["partial_logs"] = (averager.sums, averager.counts)
                    state["wall"] = time.perf_counter() - started
                    self._save(state, optimization)
                    last_save = time.perf_counter()
            self.bar.remove(step_task)
            state["samples"] += int(distributed.sum_across({"n": epoch_samples}, device)["n"])
            averager = averager.reduce(device)
            logs = {"epoch": epoch, **{f"train_{k}": v for k, v in averager.means().items()}}
            val_loss = math.nan
            if val_batches is not None:
                if self.precise_bn:
                    self.recalibrate_batchnorm(train_batches, batch_to_device, epoch)
                val_logs = self.evaluate(val_batches, batch_to_device, epoch)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
                val_loss = val_logs["loss"]
            logs["lr"] = optimization.optimizer.param_groups[0]["lr"]
            state["history"].append(logs)
            score = val_loss if val_batches is not None else -epoch
            if score < state["best_val"] - self.min_delta or state["best_state"] is None:
                state.update(best_val=score, best_epoch=epoch, bad_epochs=0,
                             best_state=_cpu_state(module))
            else:
                state["bad_epochs"] += 1
            if optimization.scheduler is not None and optimization.interval == "epoch":
                if optimization.monitor:
                    optimization.scheduler.step(val_loss)
                else:
                    optimization.scheduler.step()
            stop = False
            hook = getattr(module, "on_epoch_end", None)
            if hook is not None and hook(epoch, val_loss, optimization):
                stop = True
            if self.patience is not None and state["bad_epochs"] >= self.patience:
                log.info("%s: early stopping after epoch %d (%d epochs without improvement)",
                         self.label, epoch + 1, state["bad_epochs"])
                stop = True
            log.info("%s epoch %d/%d: %s", self.label, epoch + 1, self.epochs, _fmt(logs))
            state.update(epoch=epoch + 1, step_in_epoch=0, partial_logs=None, stopped=stop,
                         wall=time.perf_counter() - started)
            self.bar.update(epoch_task)
            if self.resume_path is not None:
                self._save(state, optimization)
        self.bar.remove(epoch_task)
        module.load_state_dict(state["best_state"])
        return FitResult(best_epoch=state["best_epoch"],
                         best_val_loss=state["best_val"] if val_batches is not None else math.nan,
                         epochs_run=state["epoch"], samples_seen=state["samples"],
                         wall_seconds=time.perf_counter() - started, history=state["history"])

    def _train_step(self, batch: Any, ctx: StepContext, optimization: Optimization) -> StepOutput:
        optimizer = optimization.optimizer
        optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            out = self._forward(batch, ctx)
        if not torch.isfinite(out.loss.detach()):
            raise NonFiniteLossError(
                f"{self.label}: the loss is {float(out.loss.detach())} at epoch {ctx.epoch + 1}, step "
                f"{ctx.step}; lower the learning rate or check the inputs")
        self.scaler.scale(out.loss).backward()
        if self.grad_clip:
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(self.module.parameters(), self.grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()
        return out

    @torch.no_grad()
    def evaluate(self, batches: Callable[[], Iterable], batch_to_device: Callable[[Any], Any],
                 epoch: int = 0) -> dict[str, float]:
        """Mean validation logs; the generator is the same every epoch so losses are comparable."""
        self.module.eval()
        averager = Averager()
        for step, batch in enumerate(batches()):
            ctx = StepContext(epoch, step, step_generator(self.device, self.seed, 10**6, step,
                                                          distributed.rank()), self.device, False)
            with self._autocast():
                averager.add(self.module.validation_step(batch_to_device(batch), ctx))
        self.module.train()
        averager = averager.reduce(self.device)
        if not averager.sums:
            raise NonFiniteLossError(f"{self.label}: the validation split yielded no batches")
        return averager.means()

    def recalibrate_batchnorm(self, train_batches: Callable[[int, int], Iterable],
                              batch_to_device: Callable[[Any], Any], epoch: int) -> int:
        """"Precise BN" (Wu & Johnson, Rethinking "Batch" in BatchNorm, 2021, §3): running
        statistics that are an exponential average over the last steps lag weights that move
        fast, and then evaluation mode normalises with statistics of an older network. Reset
        them and average the batch statistics of the current weights over ``precise_bn``
        training batches (``momentum=None``: a cumulative average), through ``training_step``
        so a task's own input pipeline (variants, rotations) is what BatchNorm sees.

        Returns the number of batches used (0 when the module has no BatchNorm)."""
        norms = [m for m in self.module.modules()
                 if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        if not norms:
            return 0
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        self.module.train()
        used = 0
        with torch.no_grad(), self._autocast():
            for step, batch in enumerate(train_batches(epoch, 0)):
                if step == self.precise_bn:
                    break
                ctx = StepContext(epoch, step, step_generator(self.device, self.seed, 2 * 10**6,
                                                              step, distributed.rank()),
                                  self.device, True)
                self.module.training_step(batch_to_device(batch), ctx)
                used += 1
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        return used

    def _wrap(self) -> None:
        """In a distributed run, (re)wrap the module in DistributedDataParallel whenever the set of
        trainable parameters changed (e.g. a head unfreezing its backbone): DDP only synchronises
        the parameters that required gradients when it was built."""
        if not distributed.active():
            self._forward = self.module
            return
        signature = tuple(p.requires_grad for p in self.module.parameters())
        if signature == self._signature:
            return
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        self._forward = DistributedDataParallel(self.module, device_ids=ids,
                                                find_unused_parameters=True)
        self._signature = signature

    def _save(self, state: dict, optimization: Optimization) -> None:
        if not distributed.is_main():
            return
        save_torch(self.resume_path, {
            "state": state, "module": self.module.state_dict(),
            "optimizer": optimization.optimizer.state_dict(),
            "scheduler": (optimization.scheduler.state_dict()
                          if optimization.scheduler is not None else None),
            "scaler": self.scaler.state_dict(),
            "trainable": (self.module.resume_state()
                          if hasattr(self.module, "resume_state") else None)})

    def _load(self, optimization: Optimization) -> dict:
        saved = torch.load(self.resume_path, map_location="cpu", weights_only=False)
        if hasattr(self.module, "load_resume_state") and saved.get("trainable") is not None:
            self.module.load_resume_state(saved["trainable"], optimization)
        self.module.load_state_dict(saved["module"])
        optimization.optimizer.load_state_dict(saved["optimizer"])
        if optimization.scheduler is not None and saved["scheduler"] is not None:
            optimization.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        return saved["state"]


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _fmt(logs: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in logs.items() if k != "epoch")

