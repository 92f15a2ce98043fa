"""Typed configuration of the MC3 tri-modal model and its training run.

A model is a small JSON file (``models/configs/*.json``) plus weights; these dataclasses
are that JSON, and the saved checkpoint carries them so the model rebuilds exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class ClipShape:
    """What one clip looks like to the encoders (fixed by the clip cache)."""

    frames: int = 8  # RGB frames per clip, evenly spaced over the clip
    frame_size: int = 64  # frames are frame_size x frame_size (squashed, not cropped)
    sample_rate: int = 16000  # mono audio
    seconds: float = 2.0  # clip length

    @property
    def audio_samples(self) -> int:
        return int(round(self.sample_rate * self.seconds))


@dataclass(frozen=True)
class VideoTowerConfig:
    """``scratch``: a small 3D-conv net trained from scratch; ``open_clip``: a CLIP vision tower."""

    kind: Literal["scratch", "open_clip"] = "scratch"
    width: int = 64
    open_clip_model: str | None = None  # e.g. "ViT-B-32"
    open_clip_pretrained: str | None = None  # a pretrained tag or a local checkpoint path
    trainable: bool = False  # fine-tune the open_clip backbone (else only its head trains)


@dataclass(frozen=True)
class AudioTowerConfig:
    """Log-mel spectrogram followed by a small conv net; optional local checkpoint."""

    n_mels: int = 64
    width: int = 64
    checkpoint: str | None = None
    # add a second input channel: the log-mel minus its per-band noise floor over the clip,
    # so a transient action sound stands out from a steady ambient bed of any loudness.
    # Off by default: on synth seed 0 it changed A->V / V->A mAP by -0.02 / -0.02.
    floor_channel: bool = False
    floor_quantile: float = 0.2


@dataclass(frozen=True)
class TextTowerConfig:
    """``minilm``: pretrained all-MiniLM-L6-v2 (shipped offline); ``scratch``: ablation."""

    kind: Literal["minilm", "scratch"] = "minilm"
    trainable: bool = False  # fine-tune the MiniLM backbone (slow on CPU) or only its head
    width: int = 128  # scratch tower width
    max_tokens: int = 32


@dataclass(frozen=True)
class LossConfig:
    """``mc3``: pairwise InfoNCE + consensus; ``pairwise``: the ablation without consensus."""

    kind: Literal["mc3", "pairwise"] = "mc3"
    temperature: float = 0.07
    consensus_weight: float = 1.0
    consensus_warmup_steps: int = 200  # contrastive only before this step
    consensus_margin: float = 0.2  # low-agreement clips: cos(a, v) pushed below this
    agreement_temperature: float = 0.1  # softmax temperature of the agreement weights
    agreement_same_text_cos: float = 0.9  # narrations this similar count as the same text
    consensus_gate_va: bool = True  # weight the V-A InfoNCE positives by agreement


@dataclass(frozen=True)
class MC3Config:
    embed_dim: int = 128
    clip: ClipShape = field(default_factory=ClipShape)
    video: VideoTowerConfig = field(default_factory=VideoTowerConfig)
    audio: AudioTowerConfig = field(default_factory=AudioTowerConfig)
    text: TextTowerConfig = field(default_factory=TextTowerConfig)
    loss: LossConfig = field(default_factory=LossConfig)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1100  # ~9 minutes on 2 CPU cores at batch 64
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 0  # 0: torch default
    augment: bool = True  # random flips/shifts/jitter of frames, time shift/gain of audio
    grad_clip: float = 1.0  # max global gradient norm; 0: no clipping
    # > 0: each batch draws its clips from this many videos, so in-batch negatives share the
    # video's ambience and background and only the action can tell positives apart.
    # Measured (synth seed 0, 800 steps, mAP A->V / V->A / discovery AP): 0 (uniform)
    # 0.43 / 0.41 / 0.93; 4 videos 0.54 / 0.47 / 0.96; 2 videos 0.57 / 0.53 / 0.96
    # (and 0.59 / 0.58 / 0.94 at 1100 steps).
    videos_per_batch: int = 2
    # the forward pass under bfloat16 autocast (convolutions and matrix products; weights,
    # optimiser and losses stay float32) on CPUs that compute bfloat16 natively
    # (``models.train.native_bf16``); elsewhere a no-op
    bf16: bool = False


def to_dict(config: Any) -> dict[str, Any]:
    return asdict(config)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a (nested) config dataclass from its dict, ignoring unknown keys."""
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        f_type = f.type if isinstance(f.type, type) else _resolve(cls, f.name)
        kwargs[f.name] = from_dict(f_type, value) if is_dataclass(f_type) else value
    return cls(**kwargs)


def _resolve(cls: type, name: str) -> Any:
    import typing

    return typing.get_type_hints(cls)[name]
