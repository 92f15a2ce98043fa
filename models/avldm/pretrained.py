"""``save_pretrained`` / ``from_pretrained`` for AV-LDM's torch networks (diffusers' layout).

A component folder holds ``config.json`` (the dataclass configs that rebuild the network) and
``model.safetensors``; both are written under temporary names and renamed into place.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from models.checkpoint import atomic_write
from models.config import from_dict

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class PretrainedMixin:
    """For an ``nn.Module`` built as ``cls(**configs)`` from dataclass configs.

    Subclasses list their constructor's dataclass arguments in ``config_classes``
    (name -> dataclass) and keep each one as an attribute of the same name.
    """

    config_classes: dict[str, type] = {}

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        configs = {name: asdict(getattr(self, name)) for name in self.config_classes}
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        atomic_write(directory / WEIGHTS_FILE, save(state))
        text = json.dumps({"class": type(self).__name__, **configs}, indent=1, sort_keys=True)
        atomic_write(directory / CONFIG_FILE, text.encode())

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> Any:
        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{directory} holds no {cls.__name__} ({CONFIG_FILE} missing)")
        data = json.loads((directory / CONFIG_FILE).read_text())
        configs = {
            name: from_dict(config_cls, data.get(name, {}))
            for name, config_cls in cls.config_classes.items()
        }
        model = cls(**configs)
        model.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        return model.to(device).eval()
