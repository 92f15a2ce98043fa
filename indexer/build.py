"""``foley build``: ingest -> train (when needed) -> embed -> index -> train the DenseAV
localiser and the AV-LDM generator (when needed), each stage timed.

Every stage is resumable: ingest skips what the catalog holds, training resumes from its
checkpoint, embedding writes only missing vectors, and the index is swapped in atomically.
One build at a time per home (a lock file).
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from indexer.cache import ClipCache
from indexer.catalog import Catalog
from indexer.config import FoleyConfig
from indexer.embedding import embed_missing
from indexer.generator_training import train_generator
from indexer.ingest import IngestReport, ingest
from indexer.training import train_model
from indexer.vectors import VectorStore
from models.checkpoint import load_model
from models.text import SentenceEncoder
from models.train import resolve_device


@dataclass
class StageTiming:
    stage: str
    seconds: float
    items: int
    unit: str

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


@dataclass
class BuildReport:
    ingest: IngestReport
    trained: bool = False
    model_version: str | None = None
    trained_localizer: str | None = None  # the DenseAV version trained by this build
    trained_generator: str | None = None  # the AV-LDM version trained by this build
    device: str = "cpu"  # where this build trains
    embedded: dict[str, int] = field(default_factory=dict)
    index: dict[str, Any] = field(default_factory=dict)
    timings: list[StageTiming] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ingest": asdict(self.ingest),
            "trained": self.trained,
            "model_version": self.model_version,
            "trained_localizer": self.trained_localizer,
            "trained_generator": self.trained_generator,
            "device": self.device,
            "embedded": self.embedded,
            "index": self.index,
            "timings": [{**asdict(t), "per_second": round(t.rate, 2)} for t in self.timings],
        }

    def summary_lines(self) -> list[str]:
        i = self.ingest
        lines = [
            f"ingest: {i.found} found, {i.added} added ({i.clips} clips), "
            f"{i.skipped} already known, {i.failed} failed"
        ]
        lines += [f"  error: {e}" for e in i.errors]
        if self.trained:
            lines.append(f"trained model {self.model_version} on {self.device}")
        if self.trained_localizer:
            lines.append(f"trained DenseAV localiser {self.trained_localizer}")
        if self.trained_generator:
            lines.append(f"trained AV-LDM generator {self.trained_generator}")
        lines.append(f"embedded: {self.embedded}")
        lines += [
            f"  {t.stage:<7} {t.seconds:7.1f} s  {t.items:6d} {t.unit}  ({t.rate:.1f} {t.unit}/s)"
            for t in self.timings
        ]
        return lines


@contextmanager
def home_lock(home: Path) -> Iterator[None]:
    """Hold ``<home>/build.lock`` for the duration.

    A POSIX record lock (``lockf``): owned by this process alone (forked workers do not
    inherit it) and released by the OS when the process dies, even on kill -9.
    """
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "build.lock", "a") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise RuntimeError(f"another build is running in {home}") from exc
        yield


@contextmanager
def _timed(report: BuildReport, stage: str, unit: str) -> Iterator[StageTiming]:
    timing = StageTiming(stage, 0.0, 0, unit)
    started = time.perf_counter()
    yield timing
    timing.seconds = time.perf_counter() - started
    report.timings.append(timing)


MODEL_KINDS = ("mc3", "denseav", "avldm")


def build(
    videos: Path,
    narrations: Path | None,
    config: FoleyConfig,
    train: bool | None = None,
    steps: int | None = None,
    workers: int = 2,
    models: tuple[str, ...] = MODEL_KINDS,
) -> BuildReport:
    """Run the whole build (see module docstring).

    ``models`` are the kinds to train: with ``train=None`` only those with no model yet,
    with ``train=True`` all of them again. The search index always needs an MC3 model.
    """
    unknown = set(models) - set(MODEL_KINDS)
    if unknown:
        raise ValueError(f"unknown model kind(s) {sorted(unknown)}; choose from {MODEL_KINDS}")
    device = resolve_device(config.device)  # before any work: a missing GPU fails fast
    with home_lock(config.home):
        catalog = Catalog(config.catalog_url)
        report = BuildReport(IngestReport(), device=str(device))
        with _timed(report, "ingest", "clips") as timing:
            report.ingest = ingest(videos, narrations, config, catalog, workers=workers)
            timing.items = report.ingest.clips

        current = catalog.current_model()
        if "mc3" in models and (train or (train is None and current is None)):
            with _timed(report, "train", "steps") as timing:
                model, current, result = train_model(
                    config, catalog, config.model, steps, device=device
                )
                timing.items = result.steps
            report.trained = True
        elif current is None:
            raise RuntimeError("no MC3 model in this home: build with --models mc3 (the default)")
        else:
            model = load_model(Path(current.path))
        report.model_version = current.version

        store = VectorStore(config.vectors_dir)
        rows = catalog.clips()
        with _timed(report, "embed", "clips") as timing:
            report.embedded = embed_missing(
                model,
                current.version,
                rows,
                ClipCache(config.cache_dir),
                store,
                SentenceEncoder.load(),
                batch_size=config.embed_batch,
                progress=config.progress,
            )
            timing.items = report.embedded.get("audio", 0)

        with _timed(report, "index", "vectors") as timing:
            manifest = store.build_indexes(current.version)
            catalog.record_index_build(current.version, manifest)
            report.index = manifest
            timing.items = sum(m["count"] for m in manifest["modalities"].values())

        localizer = catalog.current_model("denseav")
        if "denseav" in models and (train or (train is None and localizer is None)):
            with _timed(report, "denseav", "steps") as timing:
                _, localizer, result = train_model(
                    config, catalog, config.localizer, steps, device=device
                )
                timing.items = result.steps
            report.trained_localizer = localizer.version

        generator = catalog.current_model("avldm")
        if "avldm" in models and (train or (train is None and generator is None)):
            with _timed(report, "avldm", "steps") as timing:
                _, generator, _ = train_generator(
                    config, catalog, model, current.version, steps, device=device
                )
                timing.items = generator.steps
            report.trained_generator = generator.version
        return report


def home_status(config: FoleyConfig) -> dict[str, Any]:
    """The ``foley status --json`` document."""
    catalog = Catalog(config.catalog_url)
    current = catalog.current_model()
    store = VectorStore(config.vectors_dir)
    return {
        "home": str(config.home),
        "videos": catalog.count_videos(),
        "clips": catalog.count_clips(),
        "vectors": store.counts(current.version) if current else {},
        "models": [
            {
                "name": m.name,
                "kind": m.kind,
                "version": m.version,
                "current": bool(m.current),
                "steps": m.steps,
                "train_seconds": round(m.train_seconds, 1),
                "created_at": m.created_at.isoformat(),
                "config": json.loads(m.config),
            }
            for m in catalog.model_versions()
        ],
        "index": store.manifest() or {},
        "errors": catalog.errors(),
    }
