"""The training loop AV-LDM's networks share: AdamW, warm-up + cosine LR, gradient clipping,
optionally bfloat16 autocast (where the processor computes in bfloat16 natively).

Each network brings ``loss_fn(batch) -> (loss, parts)`` and the caller a ``next_batch()`` that
draws one training batch; the loop knows nothing of clips or files.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from models.config import TrainConfig
from models.train import LOG_EVERY, Stepper


@dataclass
class FitResult:
    steps: int
    seconds: float
    final_loss: float  # mean over the last (up to) 50 steps
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, mean loss)


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
) -> FitResult:
    """Train ``model`` in place for ``steps`` steps; leaves it in eval mode. With ``bf16`` the
    forward pass runs under bfloat16 autocast when ``native_bf16`` says it pays (weights and
    optimiser stay float32)."""
    started = time.perf_counter()
    schedule = TrainConfig(
        steps=steps, lr=lr, weight_decay=weight_decay, grad_clip=grad_clip, bf16=bf16
    )
    model.train()
    stepper = Stepper(model, schedule, next(model.parameters()).device)
    history: list[tuple[int, float]] = []
    window: list[float] = []
    last: list[float] = []
    bar = tqdm(total=steps, disable=not progress, file=sys.stderr, desc=desc, dynamic_ncols=True)
    for step in range(steps):
        loss, _, _ = stepper.step(step, lambda: loss_fn(next_batch()))
        window.append(float(loss.detach()))
        bar.set_postfix(loss=f"{window[-1]:.4f}")
        bar.update()
        if (step + 1) % LOG_EVERY == 0 or step + 1 == steps:
            history.append((step + 1, sum(window) / len(window)))
            last, window = window, []
    bar.close()
    model.eval()
    final = sum(last) / len(last) if last else float("nan")
    return FitResult(steps, time.perf_counter() - started, final, history)
