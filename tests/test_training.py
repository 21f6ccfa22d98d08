"""The trainer: best-epoch selection, early stopping, exact resume, the non-finite fail-fast."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from harness.errors import NonFiniteLossError
from harness.training import Optimization, StepContext, Trainer
from harness.types import StepOutput

X = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.1


class Regression(nn.Module):
    """A tiny trainable: linear regression with noise drawn from the step generator."""

    def __init__(self, lr: float = 0.05, poison_step: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(5, 1)
        self.lr = lr
        self.poison_step = poison_step

    def forward(self, batch, ctx: StepContext) -> StepOutput:
        return self.training_step(batch, ctx)

    def training_step(self, batch, ctx: StepContext) -> StepOutput:
        x, y = batch
        noise = torch.randn(x.shape, generator=ctx.generator) * 0.01
        loss = ((self.linear(x + noise).squeeze(1) - y) ** 2).mean()
        if self.poison_step is not None and ctx.step == self.poison_step:
            loss = loss * math.nan
        return StepOutput(loss, {"mse": loss.detach()}, n=len(y))

    def validation_step(self, batch, ctx):
        return self.training_step(batch, ctx)

    def configure_optimizers(self) -> Optimization:
        optimizer = torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)
        return Optimization(optimizer, torch.optim.lr_scheduler.StepLR(optimizer, 1, 0.5))


def batches(epoch: int, start: int, interrupt_at: tuple[int, int] | None = None):
    order = torch.randperm(64, generator=torch.Generator().manual_seed(epoch))
    for step in range(start, 8):
        if interrupt_at == (epoch, step):
            raise KeyboardInterrupt
        index = order[step * 8:(step + 1) * 8]
        yield X[index], Y[index]


def val_batches():
    yield X[:16], Y[:16]


def fit(module, tmp_path, epochs=4, interrupt_at=None, **kwargs):
    trainer = Trainer(module, label="test 'regression'", epochs=epochs, device=torch.device("cpu"),
                      seed=0, resume_path=tmp_path / "resume.pt", checkpoint_minutes=0, **kwargs)
    return trainer.fit(lambda e, s: batches(e, s, interrupt_at), 8, val_batches, lambda b: b)


def test_training_reduces_the_loss_and_keeps_the_best_epoch(tmp_path):
    module = Regression()
    result = fit(module, tmp_path)
    losses = [h["val_loss"] for h in result.history]
    assert losses[-1] < losses[0] / 10
    assert result.best_epoch == losses.index(min(losses))
    assert result.samples_seen == 4 * 64


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tmp_path):
    reference = Regression()
    fit(reference, tmp_path / "a")
    interrupted = Regression()
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, tmp_path / "b", interrupt_at=(2, 5))
    assert (tmp_path / "b" / "resume.pt").exists()
    resumed = Regression()  # a fresh process: new module, state only from the file
    result = fit(resumed, tmp_path / "b")
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert result.epochs_run == 4


def test_finished_resume_file_does_not_train_again(tmp_path):
    module = Regression()
    fit(module, tmp_path)
    again = Regression()
    result = fit(again, tmp_path)
    assert result.epochs_run == 4
    torch.testing.assert_close(module.linear.weight, again.linear.weight)


def test_early_stopping(tmp_path):
    module = Regression(lr=0.0)  # nothing improves after the first epoch
    result = fit(module, tmp_path, epochs=10, patience=2)
    assert result.epochs_run == 3


def test_non_finite_loss_names_plugin_and_step(tmp_path):
    with pytest.raises(NonFiniteLossError) as error:
        fit(Regression(poison_step=11), tmp_path)
    message = str(error.value)
    assert "test 'regression'" in message and "step 11" in message and "epoch 2" in message


class Normalised(Regression):
    """Regression behind a BatchNorm whose running statistics start far from the data."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(5)
        self.seen = 0

    def training_step(self, batch, ctx: StepContext) -> StepOutput:
        x, y = batch
        self.seen += 1
        return super().training_step((self.norm(x * 3 + 7), y), ctx)


def test_precise_bn_averages_the_statistics_of_the_current_weights(tmp_path):
    """Wu & Johnson's precise BN: reset, then a plain average over K training batches
    (checked by hand for equal batch sizes), momentum restored, no further batch used."""
    module = Normalised()
    trainer = Trainer(module, label="test", epochs=1, device=torch.device("cpu"), seed=0,
                      precise_bn=3)
    with torch.no_grad():
        module.norm.running_mean.fill_(-50.0)
    used = trainer.recalibrate_batchnorm(lambda e, s: batches(e, s), lambda b: b, epoch=0)
    assert used == 3 and module.seen == 3 and module.norm.momentum == 0.1
    parts = [x * 3 + 7 for x, _ in list(batches(0, 0))[:3]]
    torch.testing.assert_close(module.norm.running_mean,
                               torch.stack([p.mean(0) for p in parts]).mean(0))
    torch.testing.assert_close(module.norm.running_var,
                               torch.stack([p.var(0, unbiased=True) for p in parts]).mean(0))


def test_precise_bn_runs_before_every_validation(tmp_path):
    plain, precise = Normalised(), Normalised()
    fit(plain, tmp_path / "a", epochs=2)
    fit(precise, tmp_path / "b", epochs=2, precise_bn=2)
    assert precise.seen == plain.seen + 2 * 2  # 2 epochs x (8 train + 1 val) + 2 per epoch
    assert Trainer(Regression(), label="t", epochs=1, device=torch.device("cpu"), seed=0,
                   precise_bn=2).recalibrate_batchnorm(batches, lambda b: b, 0) == 0
