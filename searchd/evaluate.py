"""``foley eval``: the evaluation protocol of DESIGN.md on an indexed, labelled corpus.

Results are matched to ground truth by video and time overlap. Every figure comes with its
baselines measured in the same run: random ranking, the pairwise-only model, narration
full-text alone, the learned embedding alone, the from-scratch text tower, the centre prior
and mean-pooled DenseAV, and unconditioned, retrieval-only and Griffin-Lim generation. Parts that
cannot be computed (no DenseAV or AV-LDM model) are ``None``. With a DenseAV model,
``audio->video reranked`` is audio->video with each ranking's top re-ranked by DenseAV, as
``foley search --rerank`` does (its baseline: ``audio->video`` itself).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from indexer.cache import ClipCache
from indexer.catalog import ClipRow
from indexer.embedding import embed_rows
from indexer.narrations import clean_text
from indexer.training import train_model
from models.checkpoint import load_model
from models.mc3 import MC3
from searchd.engine import Engine
from searchd.fusion import fuse_text_rankings, rerank_fusion
from searchd.generation_eval import KEYS as GENERATION_KEYS
from searchd.generation_eval import evaluate_generation
from searchd.localization_eval import evaluate_localization
from searchd.metrics import (
    average_precision,
    random_rankings,
    rank_by_similarity,
    retrieval_summary,
)
from searchd.rerank import DEFAULT_DEPTH, SoundReranker

# A clip takes the label it overlaps most, if that overlap covers this share of the clip.
MIN_LABEL_OVERLAP = 0.5
ABLATIONS = {"pairwise": "pairwise-small", "scratch_text": "scratch-text-small"}
RANDOM_REPEATS = 5


@dataclass(frozen=True)
class GroundTruth:
    """Per gallery clip: its action class (None: unlabelled) and whether it sounds."""

    actions: list[str | None]
    sounding: np.ndarray  # (G,) bool
    visible_sound: np.ndarray  # (G,) bool: sounding and its source on screen
    text_queries: list[tuple[str, str]]  # (query text, action) from labelled narrations
    unseen_queries: list[tuple[str, list[str]]]  # (query text, actions) from queries.json
    labels: list[dict[str, Any] | None]  # per gallery clip: the label it matched, if any


@dataclass(frozen=True)
class ModelView:
    """One model's embeddings of the gallery, and its text encoder."""

    audio: np.ndarray  # (G, D)
    video: np.ndarray  # (G, D)
    consensus: np.ndarray  # (G,)
    encode_text: Callable[[list[str]], np.ndarray]


def load_ground_truth(labels_path: Path, rows: Sequence[ClipRow]) -> GroundTruth:
    """Match every gallery clip to the label it overlaps most (by video file and time)."""
    document = json.loads(Path(labels_path).read_text())
    by_video: dict[str, list[dict[str, Any]]] = {}
    for label in document.get("clips", []):
        by_video.setdefault(_video_key(label["video"]), []).append(label)
    actions: list[str | None] = []
    matched: list[dict[str, Any] | None] = []
    sounding, visible = [], []
    text_queries: set[tuple[str, str]] = set()
    for row in rows:
        best, best_overlap = None, 0.0
        for label in by_video.get(_video_key(row.video), []):
            overlap = min(row.end, label["end"]) - max(row.start, label["start"])
            if overlap > best_overlap:
                best, best_overlap = label, overlap
        if best is None or best_overlap < MIN_LABEL_OVERLAP * (row.end - row.start):
            best = None
        matched.append(best)
        actions.append(best["action"] if best else None)
        sounding.append(bool(best and best.get("sounding")))
        visible.append(bool(best and best.get("sounding") and not best.get("offscreen")))
    for labels in by_video.values():
        for label in labels:
            if label.get("sounding") and not label.get("offscreen") and label.get("narration"):
                text_queries.add((clean_text(label["narration"]), label["action"]))
    unseen = _unseen_queries(Path(labels_path).parent / "queries.json")
    return GroundTruth(
        actions, np.array(sounding), np.array(visible), sorted(text_queries), unseen, matched
    )


def _video_key(path: str) -> str:
    return Path(path).stem


def _unseen_queries(path: Path) -> list[tuple[str, list[str]]]:
    if not path.exists():
        return []
    return [(q["text"], list(q["actions"])) for q in json.loads(path.read_text())["queries"]]


def model_view(model: MC3, rows: Sequence[ClipRow], cache: ClipCache) -> ModelView:
    vectors = embed_rows(model, rows, cache)
    audio, video = vectors["audio"][1], vectors["video"][1]

    @torch.no_grad()
    def encode_text(texts: list[str]) -> np.ndarray:
        return model.encode_text(model.prepare_text(texts)).numpy()

    consensus = model.consensus_score(torch.from_numpy(audio), torch.from_numpy(video)).numpy()
    return ModelView(audio, video, consensus, encode_text)


class Evaluator:
    """Runs the protocol for one home and labels file."""

    def __init__(self, engine: Engine, labels_path: Path) -> None:
        self.engine = engine
        self.rows = engine.catalog.clips()
        self.truth = load_ground_truth(labels_path, self.rows)
        self.cache = ClipCache(engine.config.cache_dir)
        self.index_of = {row.key: i for i, row in enumerate(self.rows)}
        self._narration_lists: dict[str, dict[str, list[int]]] = {}

    # --- text-side rankings shared by every model ----------------------------------------
    def narration_lists(self, text: str) -> dict[str, list[int]]:
        """Full-text and semantic narration rankings (gallery indices) for a query."""
        if text not in self._narration_lists:
            store, size = self.engine.store, len(self.rows)
            full_text = store.full_text_search(text, size)
            vector = self.engine.sentence_encoder.embed([text]).numpy()
            semantic = store.search("narration", vector, size)[0]
            self._narration_lists[text] = {
                "full_text": [self.index_of[k] for k, _ in full_text if k in self.index_of],
                "semantic": [self.index_of[k] for k, _ in semantic if k in self.index_of],
            }
        return self._narration_lists[text]

    def text_rankings(
        self, texts: list[str], view: ModelView | None, parts: tuple[str, ...]
    ) -> list[np.ndarray]:
        learned = rank_by_similarity(view.encode_text(texts), view.audio) if view else None
        rankings = []
        for i, text in enumerate(texts):
            lists = {
                name: ranking
                for name, ranking in self.narration_lists(text).items()
                if name in parts
            }
            if "learned" in parts and learned is not None:
                lists["learned"] = learned[i].tolist()
            fused = [item for item, _ in fuse_text_rankings(lists)]
            rankings.append(_complete(fused, len(self.rows)))
        return rankings

    # --- tasks ---------------------------------------------------------------------------
    def text_to_audio(
        self, view: ModelView | None, parts: tuple[str, ...], unseen: bool
    ) -> dict[str, Any]:
        actions = np.array([a or "" for a in self.truth.actions])
        if unseen:
            texts = [t for t, _ in self.truth.unseen_queries]
            relevant = [np.isin(actions, wanted) for _, wanted in self.truth.unseen_queries]
        else:
            texts = [t for t, _ in self.truth.text_queries]
            relevant = [actions == action for _, action in self.truth.text_queries]
        if not texts:
            return _empty()
        return retrieval_summary(self.text_rankings(texts, view, parts), relevant)

    def cross_modal(self, view: ModelView, query: str) -> dict[str, Any]:
        """audio->video or video->audio over visible sounding clips, own clip excluded."""
        queries = np.flatnonzero(self.truth.visible_sound)
        if len(queries) == 0:
            return _empty()
        source, gallery = (view.audio, view.video) if query == "audio" else (view.video, view.audio)
        order = rank_by_similarity(source[queries], gallery)
        return retrieval_summary(*self._class_hits(queries, order))

    def reranked_audio_to_video(
        self, view: ModelView, reranker: SoundReranker, depth: int = DEFAULT_DEPTH
    ) -> dict[str, Any]:
        """audio->video as ``cross_modal`` (same queries, own clip excluded), with the top
        ``depth`` of each ranking re-ranked by DenseAV on the query clip's sound."""
        queries = np.flatnonzero(self.truth.visible_sound)
        if len(queries) == 0:
            return {**_empty(), "depth": depth}
        frames = reranker.encode_frames(self.rows)  # (G, K, C, h, w), once
        orders = rank_by_similarity(view.audio[queries], view.video)
        rankings = []
        for q, order in zip(queries, orders, strict=True):
            order = order[order != q]
            sound = reranker.encode_sound(reranker.clip_sound(self.rows[q]))
            scores = reranker.scores(sound, frames[order[:depth]])
            fused = rerank_fusion(order.tolist(), scores.tolist())
            rankings.append(np.array([i for i, _ in fused]))
        return {**retrieval_summary(*self._class_hits(queries, rankings)), "depth": depth}

    def _class_hits(
        self, queries: np.ndarray, orders: Sequence[np.ndarray]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        actions = np.array([a or "" for a in self.truth.actions])
        rankings, relevant = [], []
        for q, order in zip(queries, orders, strict=True):
            rankings.append(order[order != q])
            mask = actions == actions[q]
            mask[q] = False
            relevant.append(mask)
        return rankings, relevant

    def discovery(self, scores: np.ndarray) -> dict[str, Any]:
        labelled = np.array([a is not None for a in self.truth.actions])
        if not labelled.any():
            return {"AP": None}
        truth = self.truth.sounding[labelled]
        order = np.argsort(-scores[labelled], kind="stable")
        return {"AP": round(average_precision(truth[order]), 4), "clips": int(labelled.sum())}

    # --- the whole protocol ----------------------------------------------------------------
    def full(self, view: ModelView, text_parts: tuple[str, ...]) -> dict[str, Any]:
        return {
            "retrieval": {
                "text->audio": self.text_to_audio(view, text_parts, unseen=False),
                "text->audio unseen": self.text_to_audio(view, text_parts, unseen=True),
                "audio->video": self.cross_modal(view, "audio"),
                "video->audio": self.cross_modal(view, "video"),
            },
            "discovery": self.discovery(view.consensus),
        }

    def random_baseline(self) -> dict[str, Any]:
        size = len(self.rows)
        actions = np.array([a or "" for a in self.truth.actions])
        out: dict[str, Any] = {}
        for name, pairs in (
            ("text->audio", [(t, [a]) for t, a in self.truth.text_queries]),
            ("text->audio unseen", self.truth.unseen_queries),
        ):
            relevant = [np.isin(actions, wanted) for _, wanted in pairs]
            out[name] = _mean_summaries(
                [
                    retrieval_summary(random_rankings(len(pairs), size, s), relevant)
                    for s in range(RANDOM_REPEATS)
                ]
            )
        queries = np.flatnonzero(self.truth.visible_sound)
        cross = _mean_summaries(
            [
                retrieval_summary(
                    *self._class_hits(queries, random_rankings(len(queries), size, s))
                )
                for s in range(RANDOM_REPEATS)
            ]
        )
        rng = np.random.default_rng(0)
        discovery = [self.discovery(rng.random(size))["AP"] for _ in range(RANDOM_REPEATS)]
        return {
            "retrieval": {**out, "audio->video": cross, "video->audio": cross},
            "discovery": {"AP": _round_mean(discovery)},
        }


def evaluate(
    home: str | Path | None, labels_path: Path, ablations: bool = False, steps: int | None = None
) -> dict[str, Any]:
    """Run the protocol; with ``ablations`` train the ablation models that are missing."""
    started = time.perf_counter()
    engine = Engine(home)
    evaluator = Evaluator(engine, labels_path)
    view = model_view(engine.model, evaluator.rows, evaluator.cache)
    report = evaluator.full(view, ("learned", "full_text", "semantic"))
    if engine.catalog.current_model("denseav") is None:
        report["retrieval"]["audio->video reranked"] = {**_empty(), "depth": DEFAULT_DEPTH}
    else:
        reranked = evaluator.reranked_audio_to_video(view, engine.reranker)
        report["retrieval"]["audio->video reranked"] = reranked
    baselines: dict[str, Any] = {"random": evaluator.random_baseline()}
    current = engine.catalog.current_model()
    for baseline, config_name in ABLATIONS.items():
        record = engine.catalog.model_version(config_name)
        if record is None and ablations:
            train_steps = steps or (current.steps if current else None)
            _, record, _ = train_model(
                engine.config, engine.catalog, config_name, train_steps, make_current=False
            )
        if record is None:
            baselines[baseline] = None
            continue
        ablation = model_view(load_model(Path(record.path)), evaluator.rows, evaluator.cache)
        if baseline == "pairwise":
            baselines[baseline] = evaluator.full(ablation, ("learned", "full_text", "semantic"))
        else:  # no pretrained text anywhere: full text + the scratch tower's embedding
            baselines[baseline] = {
                "retrieval": {
                    "text->audio": evaluator.text_to_audio(
                        ablation, ("learned", "full_text"), False
                    ),
                    "text->audio unseen": evaluator.text_to_audio(
                        ablation, ("learned", "full_text"), True
                    ),
                }
            }
    for baseline, parts in (("text_only", ("full_text",)), ("embedding_only", ("learned",))):
        baselines[baseline] = {
            "retrieval": {
                "text->audio": evaluator.text_to_audio(view, parts, False),
                "text->audio unseen": evaluator.text_to_audio(view, parts, True),
            }
        }
    localization, localization_baselines = evaluate_localization(
        engine.config, engine.catalog, labels_path, ablations, steps
    )
    baselines.update(localization_baselines)
    generation, generation_baselines = evaluate_generation(
        engine, evaluator.truth, evaluator.rows, engine.config.progress
    )
    baselines.update(generation_baselines)
    report["localization"] = localization or {
        "sound": {"mIoU": None, "AP": None},
        "speech": {"mIoU": None, "AP": None},
        "speech_head_agreement": None,
    }
    report["generation"] = generation or dict.fromkeys(GENERATION_KEYS)
    report["baselines"] = baselines
    report["meta"] = {
        "model_version": engine.version,
        "gallery_clips": len(evaluator.rows),
        "labelled_clips": int(sum(a is not None for a in evaluator.truth.actions)),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return report


def _complete(ranking: list[int], size: int) -> np.ndarray:
    """A full ranking: the given order, then every gallery item it missed (in index order)."""
    seen = np.zeros(size, dtype=bool)
    seen[ranking] = True
    return np.concatenate([np.array(ranking, dtype=np.int64), np.flatnonzero(~seen)])


def _empty() -> dict[str, Any]:
    return {"mAP": None, "R@1": None, "R@5": None, "R@10": None, "queries": 0}


def _round_mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(float(np.mean(present)), 4) if present else None


def _mean_summaries(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {key: _round_mean([s[key] for s in summaries]) for key in summaries[0]}
