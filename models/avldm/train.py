"""The training loop AV-LDM's networks share: AdamW, warm-up + cosine LR, gradient clipping,
optionally bfloat16 autocast (where the processor computes in bfloat16 natively).

Each network brings ``loss_fn(batch) -> (loss, parts)`` and the caller a ``next_batch()`` that
draws one training batch; the loop knows nothing of clips or files. The optimiser step
(``Stepper``), the loss record and progress bar (``LossTracker``) and the result
(``TrainResult``) are the shared loop's (``models.train``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from models.config import TrainConfig
from models.train import LossTracker, Stepper, TrainResult


def fit(
    model: nn.Module,
    loss_fn: Callable[[Any], tuple[torch.Tensor, dict[str, float]]],
    next_batch: Callable[[], Any],
    steps: int,
    lr: float,
    desc: str,
    progress: bool = True,
    grad_clip: float = 1.0,
    weight_decay: float = 1e-4,
    bf16: bool = False,
) -> TrainResult:
    """Train ``model`` in place for ``steps`` steps; leaves it in eval mode. With ``bf16`` the
    forward pass runs under bfloat16 autocast when ``native_bf16`` says it pays (weights and
    optimiser stay float32)."""
    started = time.perf_counter()
    schedule = TrainConfig(
        steps=steps, lr=lr, weight_decay=weight_decay, grad_clip=grad_clip, bf16=bf16
    )
    model.train()
    stepper = Stepper(model, schedule, next(model.parameters()).device)
    tracker = LossTracker(steps, desc, progress)
    for step in range(steps):
        loss, _, _ = stepper.step(step, lambda: loss_fn(next_batch()))
        tracker.record(step + 1, float(loss.detach()))
    final = tracker.close()
    model.eval()
    return TrainResult(steps, time.perf_counter() - started, final, tracker.history)
