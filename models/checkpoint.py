"""Versioned model checkpoints (MC3, DenseAV): a folder with ``model.safetensors`` and
``config.json``.

``model.safetensors`` is self-contained (its metadata carries the config and the version), so
one atomic rename publishes a consistent checkpoint; ``config.json`` is a readable copy.
Frozen backbones whose weights ship elsewhere (MiniLM package, open_clip tag) are left out.
Training state (optimizer, step, RNG) lives in ``train_state.pt`` next to them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save
from torch import nn

from models.config import MC3Config, to_dict
from models.denseav.model import DenseAV
from models.factory import config_from_dict, create_model
from models.mc3 import MC3

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TRAIN_STATE_FILE = "train_state.pt"


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def own_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict without the frozen external backbones (see ``MC3.external_prefixes``)."""
    skip = tuple(model.external_prefixes())
    state = model.state_dict()
    return {k: v.detach().cpu().contiguous() for k, v in state.items() if not k.startswith(skip)}


def save_model(model: MC3 | DenseAV, directory: str | Path) -> str:
    """Save weights + config into ``directory``; returns the version (a short content hash)."""
    directory = Path(directory)
    config_json = json.dumps(to_dict(model.config), sort_keys=True)
    state = own_state_dict(model)
    version = hashlib.sha256(config_json.encode() + save(state)).hexdigest()[:12]
    metadata = {"config": config_json, "version": version, "kind": model.kind}
    data = save(state, metadata=metadata)  # stands alone
    atomic_write(directory / WEIGHTS_FILE, data)
    readable = {"kind": model.kind, **to_dict(model.config), "version": version}
    atomic_write(directory / CONFIG_FILE, json.dumps(readable, indent=2).encode())
    model.version = version
    return version


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> Any:
    """Rebuild the model (MC3 or DenseAV) from its checkpoint folder, in eval mode."""
    path = Path(directory) / WEIGHTS_FILE
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    config = config_from_dict(json.loads(meta["config"]), meta.get("kind", "mc3"))
    model = create_model(_without_saved_external_weights(config))
    model.config = config
    state = load_file(str(path))
    missing, unexpected = model.load_state_dict(state, strict=False)
    external = tuple(model.external_prefixes())
    missing = [k for k in missing if not k.startswith(external)]
    if missing or unexpected:
        raise RuntimeError(f"{path}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
    model.version = meta["version"]
    return model.to(device).eval()


def _without_saved_external_weights(config: Any) -> Any:
    """Skip loading outside weights the checkpoint carries anyway (audio checkpoint, a
    fine-tuned open_clip), so a checkpoint loads even where those files are gone."""
    audio = dataclasses.replace(config.audio, checkpoint=None)
    image_field = "video" if isinstance(config, MC3Config) else "image"
    image = getattr(config, image_field)
    if image.trainable:
        image = dataclasses.replace(image, open_clip_pretrained=None)
    return dataclasses.replace(config, audio=audio, **{image_field: image})


def save_train_state(directory: str | Path, state: dict[str, Any]) -> None:
    """Optimizer, step, RNG and sampler state (plain tensors and numbers only)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(Path(directory) / TRAIN_STATE_FILE, buffer.getvalue())


def load_train_state(directory: str | Path) -> dict[str, Any] | None:
    path = Path(directory) / TRAIN_STATE_FILE
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
