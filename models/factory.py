"""Config registry: a model is a JSON file in ``models/configs/`` (or any path) plus weights."""

from __future__ import annotations

from pathlib import Path

import torch

from models.config import MC3Config, load_config
from models.mc3 import MC3

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_CONFIG = "mc3-small"


def list_configs() -> list[str]:
    """Names of the built-in configs (``models/configs/<name>.json``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def get_config(name_or_path: str | Path = DEFAULT_CONFIG) -> MC3Config:
    """A built-in config by name, or a JSON file by path."""
    path = CONFIG_DIR / f"{name_or_path}.json"
    if not path.exists():
        path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"unknown model config {name_or_path!r}; built-in: {list_configs()}")
    return load_config(path)


def create_model(
    config: MC3Config | str | Path = DEFAULT_CONFIG, device: str | torch.device = "cpu"
) -> MC3:
    """Build an MC3 (fresh heads, pretrained backbones where configured) on ``device``."""
    if not isinstance(config, MC3Config):
        config = get_config(config)
    return MC3(config).to(device)
