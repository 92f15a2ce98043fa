"""The one typed configuration of a Foley home, passed down from the CLI to every stage."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from models.avldm.config import AVLDMConfig
from models.config import TrainConfig

DEFAULT_HOME = "foley-home"
# DenseAV trains on one frame per clip: cheaper steps, fewer of them than MC3.
# Measured (synth seed 0, sound mIoU vs the centre prior's 0.25): 2 videos per batch 0.26,
# 1 video per batch (batch 32) 0.15; L2-normalised image cells 0.07 (before centring).
# Steps, measured (synth seed 0, speech threshold 0.3, sound / word mIoU): 500: 0.26 / 0.22;
# 1,500: 0.35 / 0.17 and 0.37 / 0.36 (two trainings; about 8.6 minutes on 2 cores).
# In bfloat16 where the CPU computes it natively (``TrainConfig.bf16``): 0.30 s a step
# instead of 0.40 on 2 cores with AMX, as well trained (synth seed 0, the shipped config,
# sound / word mIoU: float32 0.425 / 0.413 and 0.466 / 0.457, bfloat16 0.500 / 0.459);
# 1,800 steps gained nothing (0.405 / 0.397, 0.493 / 0.484).
LOCALIZER_TRAIN = TrainConfig(steps=1500, batch_size=48, lr=2e-3, videos_per_batch=2, bf16=True)
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v")


@dataclass(frozen=True)
class ClipPolicy:
    """How videos are cut into clips and cached.

    Clips are ``seconds`` long, centred on narration timestamps; stretches that no narration
    covers get fixed-``stride`` clips so an un-narrated sound can still be found. The cache
    keeps every video once at ``cache_fps`` frames of ``frame_size`` squared pixels and
    ``sample_rate`` mono audio.
    """

    seconds: float = 2.0
    stride: float = 2.0
    min_gap: float = 1.0  # an uncovered stretch shorter than this gets no stride clip
    cache_fps: float = 8.0
    frame_size: int = 64
    sample_rate: int = 16000


@dataclass(frozen=True)
class FoleyConfig:
    """Everything a build or a query needs to know, resolved once at the top."""

    home: Path
    catalog_url: str
    clips: ClipPolicy = field(default_factory=ClipPolicy)
    model: str = "mc3-small"  # a config name from models/configs or a JSON path
    train: TrainConfig = field(default_factory=TrainConfig)
    localizer: str = "denseav-small"  # the DenseAV config (name or JSON path)
    localizer_train: TrainConfig = field(default_factory=lambda: LOCALIZER_TRAIN)
    generator: AVLDMConfig = field(default_factory=AVLDMConfig)  # AV-LDM, trained by build
    embed_batch: int = 64
    device: str = "auto"  # where build trains: auto (CUDA when present), cpu, cuda, cuda:N
    progress: bool = field(default_factory=lambda: sys.stderr.isatty())  # bars for people

    def model_config_name(self, kind: str) -> str:
        """The config name used for a model kind ("mc3" or "denseav")."""
        return {"mc3": self.model, "denseav": self.localizer}[kind]

    def train_config(self, kind: str) -> TrainConfig:
        return {"mc3": self.train, "denseav": self.localizer_train}[kind]

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def vectors_dir(self) -> Path:
        return self.home / "vectors"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @classmethod
    def for_home(cls, home: str | Path | None = None, **overrides: object) -> FoleyConfig:
        """Resolve the home folder (argument, ``FOLEY_HOME``, or ``./foley-home``) and catalog URL
        (``FOLEY_CATALOG_URL`` or ``<home>/catalog.db``)."""
        resolved = Path(home or os.environ.get("FOLEY_HOME") or DEFAULT_HOME).resolve()
        url = os.environ.get("FOLEY_CATALOG_URL") or f"sqlite:///{resolved / 'catalog.db'}"
        return cls(home=resolved, catalog_url=url, **overrides)  # type: ignore[arg-type]
