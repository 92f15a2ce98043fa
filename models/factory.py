"""Config registry: a model is a JSON file in ``models/configs/`` (or any path) plus weights.

A config's ``"kind"`` says which model it builds (``mc3`` when absent, or ``denseav``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from models.config import MC3Config, from_dict
from models.denseav.config import DenseAVConfig
from models.denseav.model import DenseAV
from models.mc3 import MC3

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_CONFIG = "mc3-small"
# a model's kind -> (its config dataclass, its model class)
MODEL_KINDS: dict[str, tuple[type, type]] = {
    "mc3": (MC3Config, MC3),
    "denseav": (DenseAVConfig, DenseAV),
}
ModelConfig = MC3Config | DenseAVConfig


def list_configs() -> list[str]:
    """Names of the built-in configs (``models/configs/<name>.json``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def config_from_dict(data: dict[str, Any], kind: str | None = None) -> ModelConfig:
    """The config dataclass of ``kind`` (else ``data["kind"]``, else mc3) from its dict."""
    kind = kind or data.get("kind", "mc3")
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(MODEL_KINDS)}")
    return from_dict(MODEL_KINDS[kind][0], data)


def get_config(name_or_path: str | Path = DEFAULT_CONFIG) -> ModelConfig:
    """A built-in config by name, or a JSON file by path."""
    path = CONFIG_DIR / f"{name_or_path}.json"
    if not path.exists():
        path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"unknown model config {name_or_path!r}; built-in: {list_configs()}")
    return config_from_dict(json.loads(path.read_text()))


def model_kind(config: ModelConfig) -> str:
    return next(kind for kind, (cls, _) in MODEL_KINDS.items() if isinstance(config, cls))


def create_model(
    config: ModelConfig | str | Path = DEFAULT_CONFIG, device: str | torch.device = "cpu"
) -> MC3 | DenseAV:
    """Build a model (fresh heads, pretrained backbones where configured) on ``device``."""
    if not isinstance(config, MC3Config | DenseAVConfig):
        config = get_config(config)
    return MODEL_KINDS[model_kind(config)][1](config).to(device)
