"""Self-supervised training on a clip dataset: AdamW, cosine LR, resumable checkpoints.

``run_training`` is the loop every model shares (MC3, DenseAV); a model brings its own
``step_fn(model, batch, step) -> (loss, parts)``. For MC3 a dataset item is
``{"frames": uint8 (F, H, W, 3), "audio": float32 (N,), "text": a row of
model.prepare_text(...), "has_text": bool}``. With ``checkpoint_dir`` the run saves every
``save_every`` steps and at the end, and a later call with more steps continues from there.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.data import Dataset, default_collate
from tqdm import tqdm

from models.augment import augment_batch
from models.checkpoint import load_train_state, own_state_dict, save_model, save_train_state
from models.config import TrainConfig, to_dict
from models.losses import mc3_loss
from models.mc3 import MC3

LOG_EVERY = 50


@dataclass
class TrainResult:
    steps: int  # the model's total step count (including steps of earlier, resumed runs)
    seconds: float  # wall time of this call
    final_loss: float  # mean loss over the last (up to) 50 steps of this call
    loss_history: list[tuple[int, float]] = field(default_factory=list)  # (step, mean loss)
    resumed_from: int = 0


class LossTracker:
    """A training run's progress bar and loss record: the mean loss of every ``LOG_EVERY``
    steps (``history``) and of the last such window (``final``)."""

    def __init__(
        self,
        total: int,
        desc: str,
        progress: bool,
        start: int = 0,
        history: list[tuple[int, float]] | None = None,
    ):
        self.total = total
        self.history = history if history is not None else []
        self.window: list[float] = []
        self.last_window: list[float] = []
        self.bar = tqdm(
            total=total,
            initial=start,
            disable=not progress,
            file=sys.stderr,
            desc=desc,
            dynamic_ncols=True,
        )

    def record(self, step: int, loss: float) -> bool:
        """The loss of the step that brought the run to ``step`` steps; True when that
        closed a window (every ``LOG_EVERY`` steps and at the last)."""
        self.window.append(loss)
        self.bar.set_postfix(loss=f"{loss:.4f}")
        self.bar.update()
        if step % LOG_EVERY and step != self.total:
            return False
        self.history.append((step, sum(self.window) / len(self.window)))
        self.last_window, self.window = self.window, []
        return True

    def close(self) -> float:
        """Close the bar; the mean loss of the last window (NaN when none closed)."""
        self.bar.close()
        last = self.last_window
        return sum(last) / len(last) if last else float("nan")


class EpochSampler:
    """Shuffled batches, each epoch a fresh permutation; its state resumes exactly."""

    def __init__(self, size: int, batch_size: int, seed: int):
        if size < 2:
            raise ValueError("training needs at least 2 clips")
        self.size, self.batch_size = size, min(batch_size, size)
        self.generator = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(size, generator=self.generator)
        self.pos = 0

    def next_batch(self) -> list[int]:
        if self.pos + self.batch_size > self.size:  # drop the ragged end of an epoch
            self.perm = torch.randperm(self.size, generator=self.generator)
            self.pos = 0
        batch = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return batch.tolist()

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.perm, self.pos = state["perm"], state["pos"]


class GroupedSampler:
    """Batches drawn from a few groups (videos) at a time: hard negatives that share a scene.

    Each batch picks ``groups_per_batch`` groups at random and takes an equal share of
    random clips from each, topping up from other groups when one runs short.
    """

    def __init__(self, groups: Sequence[int], batch_size: int, groups_per_batch: int, seed: int):
        if len(groups) < 2:
            raise ValueError("training needs at least 2 clips")
        self.batch_size = min(batch_size, len(groups))
        self.groups_per_batch = groups_per_batch
        members: dict[int, list[int]] = {}
        for index, group in enumerate(groups):
            members.setdefault(group, []).append(index)
        self.members = [torch.tensor(m) for m in members.values()]
        self.generator = torch.Generator().manual_seed(seed)

    def next_batch(self) -> list[int]:
        order = torch.randperm(len(self.members), generator=self.generator).tolist()
        share = -(-self.batch_size // min(self.groups_per_batch, len(order)))  # ceil
        batch: list[int] = []
        for group in order:
            pool = self.members[group]
            take = min(share, len(pool), self.batch_size - len(batch))
            picked = pool[torch.randperm(len(pool), generator=self.generator)[:take]]
            batch.extend(picked.tolist())
            if len(batch) == self.batch_size:
                break
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def make_sampler(
    size: int, train: TrainConfig, groups: Sequence[int] | None
) -> EpochSampler | GroupedSampler:
    if train.videos_per_batch > 0 and groups is not None:
        return GroupedSampler(groups, train.batch_size, train.videos_per_batch, train.seed)
    return EpochSampler(size, train.batch_size, train.seed)


def resolve_device(name: str) -> torch.device:
    """``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``;
    a clear error when the GPU asked for is not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r} (auto, cpu, cuda or cuda:N)") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} asked for, but this machine has no CUDA GPU")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} asked for: only {torch.cuda.device_count()} GPU(s)")
    elif device.type != "cpu":
        raise ValueError(f"unsupported device {name!r} (auto, cpu, cuda or cuda:N)")
    return device


def native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 autocast speeds up training on ``device``: a CPU with AVX512-BF16 or
    AMX (elsewhere it is emulated, and slower). GPUs answer False: not measured there."""
    if device.type != "cpu":
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def learning_rate(step: int, train: TrainConfig) -> float:
    """Linear warm-up (5% of the steps, at most 100), then cosine decay to lr / 10."""
    warmup = max(1, min(100, train.steps // 20))
    if step < warmup:
        return train.lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, train.steps - warmup))
    return train.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def make_optimizer(model: nn.Module, train: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices and conv kernels only (not biases, norms, the scale)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": train.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=train.lr)


class Stepper:
    """The optimiser step every training loop takes: AdamW (``make_optimizer``) at the
    schedule's learning rate, the loss under bfloat16 autocast where ``train.bf16`` asks and
    ``native_bf16`` says it pays, gradients clipped to ``train.grad_clip``.

    Under that autocast attention runs PyTorch's plain (math) kernel: the CPU flash kernel's
    bfloat16 backward is slow. Measured (AV-LDM's denoiser, batch 32, 2 cores with AMX,
    seconds a step): bfloat16 flash 0.205, bfloat16 math 0.130, float32 flash 0.174."""

    def __init__(self, model: nn.Module, train: TrainConfig, device: torch.device):
        self.train = train
        self.optimizer = make_optimizer(model, train)
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.device_type = device.type
        self.autocast = train.bf16 and native_bf16(device)

    def step(
        self, step: int, compute_loss: Callable[[], tuple[torch.Tensor, dict[str, float]]]
    ) -> tuple[torch.Tensor, dict[str, float], float]:
        """Step number ``step`` on ``compute_loss()``'s loss: (loss, its parts, the lr)."""
        lr = learning_rate(step, self.train)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with (
            torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.autocast),
            sdpa_kernel(SDPBackend.MATH) if self.autocast else nullcontext(),
        ):
            loss, parts = compute_loss()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.train.grad_clip)
        self.optimizer.step()
        return loss, parts, lr


def train_step(model: MC3, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict]:
    """Encode one batch and compute the MC3 (or pairwise) loss."""
    v = model.encode_video(batch["frames"])  # (B, D)
    a = model.encode_audio(batch["audio"])  # (B, D)
    t = model.encode_text(batch["text"])  # (B, D)
    has_text = batch["has_text"].to(model.device).bool()  # (B,)
    return mc3_loss(v, a, t, has_text, model.scale(), model.config.loss, step)


StepFn = Callable[[Any, dict[str, torch.Tensor], int], tuple[torch.Tensor, dict[str, float]]]


def train_mc3(model: MC3, dataset: Dataset, train: TrainConfig, **options: Any) -> TrainResult:
    """Train MC3 in place (see ``run_training`` for the options).

    ``log`` gets ``{"step", "lr", "loss", "va", "vl", "al", ...}`` every 50 steps.
    """
    return run_training(model, dataset, train, train_step, "train mc3", **options)


def run_training(
    model: nn.Module,
    dataset: Dataset,
    train: TrainConfig,
    step_fn: StepFn,
    desc: str,
    device: str | torch.device = "cpu",
    checkpoint_dir: Path | None = None,
    save_every: int = 200,
    progress: bool = True,
    log: Callable[[dict[str, float]], None] | None = None,
    groups: Sequence[int] | None = None,
) -> TrainResult:
    """Train ``model`` in place for ``train.steps`` steps in all (resuming if it can).

    ``groups`` (one id per dataset item, e.g. its video) enables same-video batches when
    ``train.videos_per_batch`` > 0. ``log`` gets the step's parts every 50 steps. With
    ``train.bf16`` the step runs under bfloat16 autocast where ``native_bf16`` says it pays.
    """
    started = time.perf_counter()
    if train.threads > 0:
        torch.set_num_threads(train.threads)
    torch.manual_seed(train.seed)
    device = torch.device(device)
    model.to(device).train()
    stepper = Stepper(model, train, device)
    optimizer = stepper.optimizer
    sampler = make_sampler(len(dataset), train, groups)
    augment_rng = torch.Generator().manual_seed(train.seed + 1)
    step, history = 0, []

    state = load_train_state(checkpoint_dir) if checkpoint_dir else None
    if state is not None:
        if state["config"] != to_dict(model.config):
            raise ValueError(f"{checkpoint_dir} holds a run of a different model config")
        model.load_state_dict(state["model"], strict=False)
        step, history = state["step"], [tuple(h) for h in state["history"]]
        if step >= train.steps:  # already done: the model now holds the trained weights
            model.eval()
            final = history[-1][1] if history else float("nan")
            return TrainResult(step, time.perf_counter() - started, final, history, step)
        optimizer.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        torch.set_rng_state(state["rng"])
        augment_rng.set_state(state["augment_rng"])
    resumed_from = step

    def checkpoint() -> None:
        save_model(model, checkpoint_dir)
        save_train_state(
            checkpoint_dir,
            {
                "step": step,
                "history": tracker.history,
                "config": to_dict(model.config),
                "model": own_state_dict(model),
                "optimizer": optimizer.state_dict(),
                "sampler": sampler.state_dict(),
                "rng": torch.get_rng_state(),
                "augment_rng": augment_rng.get_state(),
            },
        )

    tracker = LossTracker(train.steps, desc, progress, step, history)
    while step < train.steps:
        batch = default_collate([dataset[i] for i in sampler.next_batch()])
        if train.augment:
            batch = augment_batch(batch, augment_rng)
        _, parts, lr = stepper.step(step, partial(step_fn, model, batch, step))
        step += 1
        if tracker.record(step, parts["loss"]) and log is not None:
            log({"step": step, "lr": lr, **parts})
        if checkpoint_dir and (step % save_every == 0 or step == train.steps):
            checkpoint()
    final = tracker.close()
    model.eval()
    return TrainResult(step, time.perf_counter() - started, final, tracker.history, resumed_from)
