"""Train a model on the clip cache and register it as a version in the catalog."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

from indexer.cache import ClipCache
from indexer.catalog import Catalog, ClipRow, ModelVersion
from indexer.config import FoleyConfig
from indexer.dataset import ClipDataset, clip_texts
from models.checkpoint import save_model
from models.config import to_dict
from models.factory import create_model, get_config
from models.mc3 import MC3
from models.train import TrainResult, train_mc3

# Each training clip's window moves by up to this much: cheap augmentation.
TRAIN_JITTER_SECONDS = 0.25


def train_model(
    config: FoleyConfig,
    catalog: Catalog,
    model_name: str,
    steps: int | None = None,
    make_current: bool = True,
    device: str = "cpu",
) -> tuple[MC3, ModelVersion, TrainResult]:
    """Train ``model_name`` (a config name or JSON path) on the catalog's training clips.

    Training checkpoints go to ``<home>/models/training-<name>`` so a killed run resumes;
    the finished model is saved to ``<home>/models/<version>``.
    """
    mc3_config = get_config(model_name)
    train_config = config.train if steps is None else replace(config.train, steps=steps)
    rows = [r for r in catalog.clips() if r.split == "train"]
    if not rows:
        raise RuntimeError("no clips to train on: ingest some videos first")
    model = create_model(mc3_config, device)
    texts, has_text = clip_texts(rows)
    dataset = ClipDataset(
        rows,
        ClipCache(config.cache_dir),
        mc3_config.clip,
        model.prepare_text(texts),
        has_text,
        jitter=TRAIN_JITTER_SECONDS,
        seed=train_config.seed,
    )
    label = model_name.replace("/", "_").removesuffix(".json")
    work_dir = config.models_dir / f"training-{label}"
    result = train_mc3(
        model,
        dataset,
        train_config,
        device=device,
        checkpoint_dir=work_dir,
        progress=config.progress,
        groups=_video_groups(rows),
    )
    version = save_model(model, config.models_dir / "incoming")
    final = config.models_dir / version
    if final.exists():
        shutil.rmtree(final)
    (config.models_dir / "incoming").rename(final)
    shutil.rmtree(work_dir, ignore_errors=True)
    record = ModelVersion(
        version=version,
        name=label,
        path=str(final),
        config=json.dumps(to_dict(mc3_config)),
        steps=result.steps,
        train_seconds=result.seconds,
    )
    catalog.add_model_version(record, make_current=make_current)
    return model, record, result


def _video_groups(rows: list[ClipRow]) -> list[int]:
    """One integer per clip naming its video (for same-video batches)."""
    ids: dict[str, int] = {}
    return [ids.setdefault(row.video_uid, len(ids)) for row in rows]
