"""Versioned MC3 checkpoints: a folder with ``model.safetensors`` and ``config.json``.

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

from models.config import MC3Config, from_dict, to_dict
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


def own_state_dict(model: MC3) -> dict[str, torch.Tensor]:
    """The state dict without the frozen external backbones (see ``MC3.external_prefixes``)."""
    skip = tuple(model.external_prefixes())
    state = model.state_dict()
    return {k: v.detach().cpu().contiguous() for k, v in state.items() if not k.startswith(skip)}


def save_model(model: MC3, directory: str | Path) -> str:
    """Save weights + config into ``directory``; returns the version (a short content hash)."""
    directory = Path(directory)
    config_json = json.dumps(to_dict(model.config), sort_keys=True)
    state = own_state_dict(model)
    version = hashlib.sha256(config_json.encode() + save(state)).hexdigest()[:12]
    data = save(state, metadata={"config": config_json, "version": version})  # stands alone
    atomic_write(directory / WEIGHTS_FILE, data)
    readable = {**to_dict(model.config), "version": version}
    atomic_write(directory / CONFIG_FILE, json.dumps(readable, indent=2).encode())
    model.version = version
    return version


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> MC3:
    """Rebuild the model from its checkpoint folder, in eval mode, on ``device``."""
    path = Path(directory) / WEIGHTS_FILE
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    config = from_dict(MC3Config, json.loads(meta["config"]))
    model = MC3(_without_saved_external_weights(config))
    model.config = config
    state = load_file(str(path))
    missing, unexpected = model.load_state_dict(state, strict=False)
    external = tuple(model.external_prefixes())
    missing = [k for k in missing if not k.startswith(external)]
    if missing or unexpected:
        raise RuntimeError(f"{path}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
    model.version = meta["version"]
    return model.to(device).eval()


def _without_saved_external_weights(config: MC3Config) -> MC3Config:
    """Skip loading outside weights the checkpoint carries anyway (audio checkpoint, a
    fine-tuned open_clip), so a checkpoint loads even where those files are gone."""
    audio = dataclasses.replace(config.audio, checkpoint=None)
    video = config.video
    if video.trainable:
        video = dataclasses.replace(video, open_clip_pretrained=None)
    return dataclasses.replace(config, audio=audio, video=video)


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
