"""The query engine: encode a query, search vectors (+ narration text), fuse, join, filter.

``Engine(home)`` loads the home's current model and index once and answers many queries::

    engine = Engine("foley-home")
    engine.search(Query(text="slicing vegetables"), target="audio", k=10)

A sound query (an audio file or a clip's sound) for video can ask for its top results to be
re-ranked by DenseAV (``rerank=N``, see searchd.rerank).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from indexer.cache import ClipCache
from indexer.catalog import Catalog, ClipRow
from indexer.config import FoleyConfig
from indexer.vectors import VectorStore
from models.checkpoint import load_model
from models.mc3 import MC3
from models.text import SentenceEncoder
from searchd.fusion import fuse_text_rankings, rerank_fusion
from searchd.locate import load_denseav
from searchd.queries import encode_audio_file, encode_text_query, encode_video_file
from searchd.rerank import DEFAULT_DEPTH, SoundReranker
from searchd.where import compile_where

Target = Literal["audio", "video", "text"]
TARGETS: tuple[str, ...] = ("audio", "video", "text")
TextMode = Literal["fused", "learned", "full_text", "semantic"]
# how many candidates each ranked list contributes to fusion, relative to k
CANDIDATES_PER_RESULT = 10
MIN_CANDIDATES = 100


class QueryError(ValueError):
    """A query the engine cannot answer, with a one-line reason for the user."""


@dataclass(frozen=True)
class Query:
    """Exactly one of text, audio (file), video (file) or clip (clip id)."""

    text: str | None = None
    audio: Path | None = None
    video: Path | None = None
    clip: str | None = None

    def kind(self) -> str:
        given = [name for name in ("text", "audio", "video", "clip") if getattr(self, name)]
        if len(given) != 1:
            raise QueryError("give exactly one of text, audio, video or clip")
        return given[0]


@dataclass(frozen=True)
class SearchResult:
    clip_id: str
    video: str
    start: float
    end: float
    score: float
    narration: str | None
    sounding: float | None  # the clip's consensus (sounding-action) score

    def to_json(self) -> dict[str, Any]:
        return {
            "clip_id": self.clip_id,
            "video": self.video,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 6),
            "narration": self.narration,
            "sounding": None if self.sounding is None else round(self.sounding, 6),
        }


class Engine:
    """Search one Foley home (see module docstring)."""

    def __init__(
        self,
        home: str | Path | None = None,
        config: FoleyConfig | None = None,
        model_version: str | None = None,
    ) -> None:
        """Load the home's current model, or ``model_version`` (e.g. the one an index names)."""
        self.config = config or FoleyConfig.for_home(home)
        if not (self.config.home.exists()):
            raise QueryError(f"no Foley home at {self.config.home}: run `foley build` first")
        self.catalog = Catalog(self.config.catalog_url)
        self.store = VectorStore(self.config.vectors_dir)
        if model_version is None:
            current = self.catalog.current_model()
        else:
            current = self.catalog.model_version(model_version)
        if current is None:
            raise QueryError(f"no trained model in {self.config.home}: run `foley build` first")
        self.version = current.version
        self.model: MC3 = load_model(Path(current.path))
        self.model.eval()
        self._sentence_encoder: SentenceEncoder | None = None
        self._consensus: dict[int, float] | None = None
        self._reranker: SoundReranker | None = None

    # --- public API ---------------------------------------------------------------------
    def search(
        self,
        query: Query,
        target: Target = "audio",
        k: int = 10,
        where: str | None = None,
        text_mode: TextMode = "fused",
        rerank: bool | int | None = None,
    ) -> list[SearchResult]:
        """Clips whose ``target`` modality best matches the query, best first.

        ``rerank`` (sound queries for video only): True re-ranks the top DEFAULT_DEPTH
        results by DenseAV, a number N the top N; their score becomes the fused one
        (``rerank_fusion``) and results past them keep their order.
        """
        if target not in TARGETS:
            raise QueryError(f"unknown target {target!r} (choose from {', '.join(TARGETS)})")
        if k < 1:
            raise QueryError("k must be at least 1")
        kind = query.kind()
        rerank_depth = self._rerank_depth(rerank, kind, target)
        allowed = self._allowed(where)
        depth = max(k, rerank_depth or 0)
        if kind == "text":
            ranked = self._text_ranking(query.text or "", target, depth, allowed, text_mode)
        elif kind == "clip":
            ranked = self._clip_ranking(query.clip or "", target, depth, allowed)
        else:
            if kind == "audio":
                vector = encode_audio_file(self.model, _existing(query.audio))
            else:
                vector = encode_video_file(self.model, _existing(query.video), self.config.clips)
            ranked = self.store.search(target, vector[None], depth, allowed)[0]
        if rerank_depth is not None:
            ranked = self._reranked(query, ranked, rerank_depth)
        return self._results(ranked[:k])

    def discover(
        self, k: int = 20, text: str | None = None, where: str | None = None
    ) -> list[SearchResult]:
        """Clips ranked by sounding-action (consensus) score, optionally among text matches."""
        if k < 1:
            raise QueryError("k must be at least 1")
        consensus = self.consensus_scores()
        allowed = self._allowed(where)
        candidates = np.array(list(consensus), dtype=np.int64)
        if allowed is not None:
            candidates = np.intersect1d(candidates, allowed)
        if text:
            pool = max(k * CANDIDATES_PER_RESULT, MIN_CANDIDATES)
            matched = [key for key, _ in self._text_ranking(text, "audio", pool, allowed, "fused")]
            candidates = np.intersect1d(candidates, np.array(matched, dtype=np.int64))
        ranked = sorted(((int(c), consensus[int(c)]) for c in candidates), key=lambda kv: -kv[1])
        return self._results(ranked[:k])

    def consensus_scores(self) -> dict[int, float]:
        """Every indexed clip's consensus score (computed once from the stored vectors)."""
        if self._consensus is None:
            audio_keys, audio = self.store.read(self.version, "audio")
            video_keys, video = self.store.read(self.version, "video")
            common, ia, iv = np.intersect1d(audio_keys, video_keys, return_indices=True)
            scores = self.model.consensus_score(
                torch.from_numpy(audio[ia]), torch.from_numpy(video[iv])
            ).numpy()
            self._consensus = dict(zip(common.tolist(), scores.tolist(), strict=True))
        return self._consensus

    # --- rankings -----------------------------------------------------------------------
    def _text_ranking(
        self, text: str, target: str, k: int, allowed: np.ndarray | None, mode: TextMode
    ) -> list[tuple[int, float]]:
        if not text.strip():
            raise QueryError("empty text query")
        pool = max(k * CANDIDATES_PER_RESULT, MIN_CANDIDATES)
        lists: dict[str, list[int]] = {}
        if mode in ("fused", "learned"):
            vector = encode_text_query(self.model, text)
            lists["learned"] = _keys(self.store.search(target, vector[None], pool, allowed)[0])
        if mode in ("fused", "full_text"):
            lists["full_text"] = _keys(self.store.full_text_search(text, pool, allowed))
        if mode in ("fused", "semantic"):
            vector = self.sentence_encoder.embed([text]).numpy()
            lists["semantic"] = _keys(self.store.search("narration", vector, pool, allowed)[0])
        return fuse_text_rankings(lists)

    def _clip_ranking(
        self, clip_id: str, target: str, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        row = self.catalog.clip_by_id(clip_id)
        if row is None:
            raise QueryError(f"no clip {clip_id!r} in this home")
        modality = target if target != "text" else "audio"
        keys, vectors = self.store.read(self.version, modality, [row.key])
        if len(keys) == 0:
            raise QueryError(f"clip {clip_id!r} has no {modality} vector yet: run `foley build`")
        ranked = self.store.search(target, vectors[:1], k + 1, allowed)[0]
        return [(key, score) for key, score in ranked if key != row.key]

    def _rerank_depth(self, rerank: bool | int | None, kind: str, target: str) -> int | None:
        """How many top results to re-rank (None: none); QueryError if it cannot be done."""
        if rerank is None or rerank is False:
            return None
        if not isinstance(rerank, int):
            raise QueryError("rerank is true or how many top results to re-rank")
        depth = DEFAULT_DEPTH if rerank is True else rerank
        if depth < 1:
            raise QueryError("rerank must be at least 1 (how many top results to re-rank)")
        if kind not in ("audio", "clip") or target != "video":
            raise QueryError(
                "rerank needs a sound query (an audio file or a clip) with target video"
            )
        _ = self.reranker  # no DenseAV model: say so before searching
        return depth

    def _reranked(
        self, query: Query, ranked: list[tuple[int, float]], depth: int
    ) -> list[tuple[int, float]]:
        """``ranked`` with its first ``depth`` re-ranked by DenseAV (see rerank_fusion)."""
        keys = _keys(ranked)
        head = self.catalog.clips(keys[:depth])  # ordered by key: reorder as ranked
        position = {key: i for i, key in enumerate(keys)}
        head.sort(key=lambda row: position[row.key])
        if not head:
            return ranked
        query_clip = self.catalog.clip_by_id(query.clip) if query.clip else None
        if query_clip is not None:
            sound = self.reranker.clip_sound(query_clip)
        else:
            sound = self.reranker.file_sound(_existing(query.audio))
        frames = self.reranker.encode_frames(head)
        scores = self.reranker.scores(self.reranker.encode_sound(sound), frames)
        return rerank_fusion([row.key for row in head] + keys[depth:], scores.tolist())

    # --- helpers ------------------------------------------------------------------------
    @property
    def reranker(self) -> SoundReranker:
        """The home's current DenseAV model, loaded on first use (QueryError if none)."""
        if self._reranker is None:
            loaded = load_denseav(self.catalog)
            if loaded is None:
                raise QueryError(
                    f"no DenseAV model in {self.config.home} to re-rank with: run "
                    "`foley build` (or --models denseav)"
                )
            self._reranker = SoundReranker(loaded[0], ClipCache(self.config.cache_dir))
        return self._reranker

    @property
    def sentence_encoder(self) -> SentenceEncoder:
        if self._sentence_encoder is None:
            self._sentence_encoder = SentenceEncoder.load()
        return self._sentence_encoder

    def _allowed(self, where: str | None) -> np.ndarray | None:
        clause = compile_where(where)
        if clause is None:
            return None
        return np.array(self.catalog.clip_keys(clause), dtype=np.int64)

    def _results(self, ranked: list[tuple[int, float]]) -> list[SearchResult]:
        rows: dict[int, ClipRow] = {r.key: r for r in self.catalog.clips([k for k, _ in ranked])}
        consensus = self.consensus_scores()
        return [
            SearchResult(
                clip_id=rows[key].clip_id,
                video=rows[key].video,
                start=rows[key].start,
                end=rows[key].end,
                score=float(score),
                narration=rows[key].narration,
                sounding=consensus.get(key),
            )
            for key, score in ranked
            if key in rows
        ]


def _keys(ranked: list[tuple[int, float]]) -> list[int]:
    return [key for key, _ in ranked]


def _existing(path: Path | None) -> Path:
    if path is None or not Path(path).is_file():
        raise QueryError(f"no such file: {path}")
    return Path(path)
