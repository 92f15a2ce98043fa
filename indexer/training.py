"""Train a model (MC3 or DenseAV) on the clip cache and register it in the catalog."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from indexer.cache import CachedVideo, ClipCache
from indexer.catalog import Catalog, ModelVersion
from indexer.config import FoleyConfig
from indexer.dataset import ClipDataset, clip_texts
from indexer.speech_activity import SAMPLE_RATE, SpeechActivity
from models.checkpoint import WEIGHTS_FILE, save_model
from models.config import to_dict
from models.denseav import DenseAVConfig
from models.denseav.train import train_denseav
from models.factory import create_model, get_config, model_kind
from models.train import TrainResult, train_mc3

# Each training clip's window moves by up to this much: cheap augmentation.
TRAIN_JITTER_SECONDS = 0.25
TRAINERS = {"mc3": train_mc3, "denseav": train_denseav}


def train_model(
    config: FoleyConfig,
    catalog: Catalog,
    model_name: str,
    steps: int | None = None,
    make_current: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, ModelVersion, TrainResult]:
    """Train ``model_name`` (a config name or JSON path) on the catalog's training clips.

    Training checkpoints go to ``<home>/models/training-<name>`` so a killed run resumes;
    the finished model is saved to ``<home>/models/<version>``.
    """
    model_config = get_config(model_name)
    kind = model_kind(model_config)
    if kind == "denseav":
        model_config = _with_mc3_audio(model_config, catalog)
    train_config = config.train_config(kind)
    if steps is not None:
        train_config = replace(train_config, steps=steps)
    rows = [r for r in catalog.clips() if r.split == "train"]
    if not rows:
        raise RuntimeError("no clips to train on: ingest some videos first")
    model = create_model(model_config, device)
    text: tuple = ()
    if kind == "mc3":
        texts, has_text = clip_texts(rows)
        text = (model.prepare_text(texts), has_text)
    cache = ClipCache(config.cache_dir)
    tracks = None
    if kind == "denseav" and model_config.speech_gate:
        tracks = speech_tracks(cache, sorted({r.cache_key for r in rows}), config.progress)
    dataset = ClipDataset(
        rows,
        cache,
        model_config.clip,
        *text,
        jitter=TRAIN_JITTER_SECONDS,
        seed=train_config.seed,
        speech_tracks=tracks,
        one_frame=kind == "denseav",
    )
    label = model_name.replace("/", "_").removesuffix(".json")
    work_dir = config.models_dir / f"training-{label}"
    result = TRAINERS[kind](
        model,
        dataset,
        train_config,
        device=device,
        checkpoint_dir=work_dir,
        progress=config.progress,
        groups=dataset.video_numbers,
    )
    incoming = config.models_dir / f"incoming-{kind}"
    version = save_model(model, incoming)
    final = config.models_dir / version
    if final.exists():
        shutil.rmtree(final)
    incoming.rename(final)
    shutil.rmtree(work_dir, ignore_errors=True)
    record = ModelVersion(
        version=version,
        name=label,
        kind=kind,
        path=str(final),
        config=json.dumps(to_dict(model_config)),
        steps=result.steps,
        train_seconds=result.seconds,
    )
    catalog.add_model_version(record, make_current=make_current)
    return model, record, result


def speech_tracks(cache: ClipCache, keys: list[str], progress: bool) -> dict[str, np.ndarray]:
    """Each cached video's speech-activity track (cache key -> probabilities per hop): the
    targets of DenseAV's speech gate. Worked out once per video and kept in the cache."""
    detector: SpeechActivity | None = None

    def track(video: CachedVideo) -> np.ndarray:
        nonlocal detector
        if video.sample_rate != SAMPLE_RATE:
            raise ValueError(f"the speech gate needs {SAMPLE_RATE} Hz audio in the clip cache")
        detector = detector or SpeechActivity()
        return detector.track(video.clip_audio(0.0, len(video.audio) / video.sample_rate))

    tracks = {}
    for key in tqdm(keys, desc="speech activity", disable=not progress):
        try:
            tracks[key] = cache.derived(key, SpeechActivity.cache_name(), track)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    return tracks


def _with_mc3_audio(config: DenseAVConfig, catalog: Catalog) -> DenseAVConfig:
    """DenseAV's audio backbone starts from the current MC3's audio tower when it can."""
    mc3 = catalog.current_model("mc3")
    if not config.audio_from_mc3 or config.audio.checkpoint or mc3 is None:
        return config
    mc3_audio = json.loads(mc3.config).get("audio", {})
    same_shape = all(
        mc3_audio.get(key) == getattr(config.audio, key) for key in ("n_mels", "width")
    )
    if not same_shape or mc3_audio.get("floor_channel"):
        return config
    weights = str(Path(mc3.path) / WEIGHTS_FILE)
    return replace(config, audio=replace(config.audio, checkpoint=weights))
