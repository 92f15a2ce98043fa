"""The localisation part of ``foley eval``: heat maps against ground-truth boxes.

Cases come from ``labels.json``: a *sound* case is a sounding, visible action without speech
(query: the clip's audio); a *speech* case is a spoken word (query: the clip's audio over the
word's time). Each is scored on a frame of the clip where the object's box is known: IoU of
the heat map's region (``searchd.localize.heat_region``) with the box, and the average
precision of the heat map's pixels against the box.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.cache import ClipCache
from indexer.catalog import Catalog, ClipRow, ModelVersion
from indexer.config import FoleyConfig
from indexer.training import train_model
from models.checkpoint import load_model
from searchd.localize import Localizer, heat_region
from searchd.locate import head_names
from searchd.metrics import average_precision

SOUND, SPEECH = "sound", "speech"
MEAN_POOL_FILE = "baseline-mean-pool.json"  # in the models folder: the baseline's config


@dataclass(frozen=True)
class Case:
    kind: str  # SOUND or SPEECH
    cache_key: str
    start: float  # the query window's start in the video (seconds)
    frame_time: float  # when the frame is taken (a time with a labelled box)
    box: tuple[float, float, float, float]  # (x0, y0, x1, y1) in label-frame pixels
    span: tuple[float, float] | None  # the word's time within the window (speech)


@dataclass(frozen=True)
class Scores:
    iou: float
    ap: float
    strongest: str  # the name of the head that fired most


def localization_cases(labels_path: Path, rows: Sequence[ClipRow], seconds: float) -> list[Case]:
    """Every sound and speech case of the labels whose video is in the catalog."""
    document = json.loads(Path(labels_path).read_text())
    cache_keys = {Path(row.video).stem: row.cache_key for row in rows}
    cases = []
    for label in document.get("clips", []):
        key = cache_keys.get(Path(label["video"]).stem)
        boxes = {float(t): b for t, b in label.get("boxes", {}).items()}
        if key is None or not boxes:
            continue
        if label.get("sounding") and not label.get("offscreen") and not label.get("speech"):
            centre = (label["start"] + label["end"]) / 2
            cases.append(_case(SOUND, key, centre, seconds, boxes, None))
        for word in label.get("speech", []):
            centre = (word["start"] + word["end"]) / 2
            cases.append(_case(SPEECH, key, centre, seconds, boxes, (word["start"], word["end"])))
    return cases


def _case(
    kind: str,
    key: str,
    centre: float,
    seconds: float,
    boxes: dict[float, list[float]],
    word: tuple[float, float] | None,
) -> Case:
    start = max(0.0, centre - seconds / 2)
    frame_time = min(boxes, key=lambda t: abs(t - centre))
    span = None if word is None else (word[0] - start, word[1] - start)
    return Case(kind, key, start, frame_time, tuple(boxes[frame_time]), span)


HeatFn = Callable[[np.ndarray, np.ndarray, tuple[float, float] | None], tuple[np.ndarray, str]]


def score_cases(
    cases: Sequence[Case],
    cache: ClipCache,
    frame_size: tuple[int, int],
    seconds: float,
    heat: HeatFn,
) -> list[Scores]:
    """Score ``heat(wave, frame, span) -> (map at frame size, strongest head name)`` on
    ``seconds`` of audio per case and the case's frame at the labels' ``frame_size``."""
    width, height = frame_size
    scores, videos = [], {}
    for case in cases:
        if case.cache_key not in videos:
            videos[case.cache_key] = cache.read(case.cache_key)
        video = videos[case.cache_key]
        wave = video.clip_audio(case.start, case.start + seconds)
        frame = video.clip_frames(case.frame_time, case.frame_time + 1e-3, 1)[0]
        frame = _resize(frame, width, height)
        heat_map, strongest = heat(wave, frame, case.span)
        truth = np.zeros((height, width), bool)
        x0, y0, x1, y1 = (int(round(v)) for v in case.box)
        truth[max(0, y0) : y1, max(0, x0) : x1] = True
        region = heat_region(heat_map)
        iou = float((region & truth).sum() / max(1, (region | truth).sum()))
        scores.append(Scores(iou, pixel_average_precision(heat_map, truth), strongest))
    return scores


def pixel_average_precision(heat: np.ndarray, truth: np.ndarray) -> float:
    """AP of ranking the pixels by ``heat`` against the boolean ``truth`` mask (0: no box)."""
    if not truth.any():
        return 0.0
    return average_precision(truth.ravel()[np.argsort(-heat.ravel(), kind="stable")])


def summarise(cases: Sequence[Case], scores: Sequence[Scores], named: bool) -> dict[str, Any]:
    """The DESIGN.md ``localization`` document (+ case counts)."""
    out: dict[str, Any] = {}
    agreement = []
    for kind in (SOUND, SPEECH):
        mine = [s for c, s in zip(cases, scores, strict=True) if c.kind == kind]
        out[kind] = {
            "mIoU": _mean([s.iou for s in mine]),
            "AP": _mean([s.ap for s in mine]),
            "cases": len(mine),
        }
        if named and mine:
            agreement.append(float(np.mean([s.strongest == kind for s in mine])))
    out["speech_head_agreement"] = _mean(agreement) if len(agreement) == 2 else None
    return out


def localizer_heat(localizer: Localizer) -> HeatFn:
    """The heat function of a trained model: the moment's map (``Localization.heat``) and
    the strongest head."""

    def heat(wave: np.ndarray, frame: np.ndarray, span: tuple[float, float] | None):
        located = localizer.locate(wave, frame, span)
        return located.heat, located.strongest.name

    return heat


def center_heat(wave: np.ndarray, frame: np.ndarray, span: tuple[float, float] | None):
    """The centre prior: a Gaussian bump in the middle of the frame, whatever the audio."""
    height, width = frame.shape[:2]
    y, x = np.mgrid[0:height, 0:width]
    sigma_x, sigma_y = width / 4, height / 4
    bump = np.exp(-(((x - width / 2) / sigma_x) ** 2 + ((y - height / 2) / sigma_y) ** 2) / 2)
    return bump, "center"


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if len(values) else None


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if frame.shape[:2] == (height, width):
        return frame
    rows = np.clip((np.arange(height) + 0.5) * frame.shape[0] / height, 0, frame.shape[0] - 1)
    cols = np.clip((np.arange(width) + 0.5) * frame.shape[1] / width, 0, frame.shape[1] - 1)
    return frame[rows.astype(int)][:, cols.astype(int)]


def evaluate_localization(
    config: FoleyConfig,
    catalog: Catalog,
    labels_path: Path,
    ablations: bool = False,
    steps: int | None = None,
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The ``localization`` part and its baselines (``center``, ``mean_pool``).

    The mean-pooled baseline is the current model's config with mean-pooling over space,
    trained alike; with ``ablations`` it is trained if the home has none yet.
    """
    record = catalog.current_model("denseav")
    baselines: dict[str, Any] = {"center": None, "mean_pool": None}
    if record is None:
        return None, baselines
    document = json.loads(Path(labels_path).read_text())
    frame_size = tuple(document.get("frame_size", (160, 120)))
    model = load_model(Path(record.path))
    seconds = model.config.clip.seconds
    cases = localization_cases(labels_path, catalog.clips(), seconds)
    cache = ClipCache(config.cache_dir)

    def measure(heat: HeatFn, named: bool) -> dict[str, Any]:
        return summarise(cases, score_cases(cases, cache, frame_size, seconds, heat), named)

    names = head_names(Path(record.path), model)
    report = measure(localizer_heat(Localizer(model, names)), {SOUND, SPEECH} <= set(names))
    baselines["center"] = {"localization": measure(center_heat, False)}
    mean_config = {**json.loads(record.config), "aggregation": "mean"}
    mean_record = _trained_like(catalog, mean_config)
    if mean_record is None and ablations:
        path = config.models_dir / MEAN_POOL_FILE
        path.write_text(json.dumps({"kind": record.kind, **mean_config}, indent=2))
        _, mean_record, _ = train_model(
            config, catalog, str(path), steps or record.steps, make_current=False
        )
    if mean_record is not None:
        mean_model = load_model(Path(mean_record.path))
        mean_names = head_names(Path(mean_record.path), mean_model)
        localizer = Localizer(mean_model, mean_names)
        named = {SOUND, SPEECH} <= set(mean_names)
        baselines["mean_pool"] = {"localization": measure(localizer_heat(localizer), named)}
    return report, baselines


def _trained_like(catalog: Catalog, model_config: dict[str, Any]) -> ModelVersion | None:
    """The newest model in the catalog trained from exactly this config, if any."""
    for record in reversed(catalog.model_versions()):
        if json.loads(record.config) == model_config:
            return record
    return None
