"""The vector store: LanceDB tables are the durable source of truth, FAISS indexes serve search.

Vectors live in one LanceDB table per (modality, model version), named
``vectors_<modality>__<version slug>``, with columns ``clip_key`` int64, ``model_version``
string and ``vector`` fixed_size_list<float32>[D]; the model version is also stored in the
table's schema metadata. A table per version (rather than one per modality with the version in
the merge key) stays correct when a new model changes the embedding width D, which a
fixed-size-list column cannot hold two of, and lets an old version be dropped in one step.
Every write is a single ``merge_insert`` on ``clip_key`` (one atomic LanceDB commit), so
rewriting a clip replaces its row and an interrupted build resumes without duplicates.

Narration texts live in a ``narrations`` table (clip_key, text) with a LanceDB full-text index.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Literal, get_args

import faiss
import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import FTS
from lancedb.query import MatchQuery
from lancedb.table import Table

from indexer.faiss_index import DEFAULT_SETTINGS, Hit, IndexBuilds, IndexSettings, build_index

Modality = Literal["audio", "video", "text", "narration"]
MODALITIES: tuple[str, ...] = get_args(Modality)
NARRATIONS = "narrations"
_IN_CHUNK = 10000  # keys per SQL ``IN (...)`` list


class VectorStore:
    """Per-clip embeddings by modality and model version, plus narration full-text search."""

    def __init__(self, root: Path):
        self.root = Path(root)
        # Zero consistency interval: every read sees the latest commit, including other
        # processes' writes (a builder and a search service share one home).
        self._db = lancedb.connect(self.root / "lance", read_consistency_interval=timedelta(0))
        self._lock = threading.Lock()  # serialises table creation and writes in this process
        self._builds = IndexBuilds(self.root / "faiss")

    # -- vectors -------------------------------------------------------------------------

    def write(
        self, model_version: str, modality: Modality, clip_keys: Sequence[int], vectors: np.ndarray
    ) -> int:
        """Upsert L2-normalised ``vectors`` (N, D) for ``clip_keys``; returns rows written.

        A key repeated within one call keeps its last vector.
        """
        _check_modality(modality)
        keys = np.asarray(clip_keys, dtype=np.int64).reshape(-1)
        vecs = np.array(vectors, dtype=np.float32, order="C", ndmin=2)  # (N, D), a copy
        if vecs.ndim != 2 or len(vecs) != len(keys):
            raise ValueError(f"need {len(keys)} vectors of shape (N, D), got {vecs.shape}")
        if not np.isfinite(vecs).all():
            raise ValueError("vectors contain NaN or infinity")
        if len(keys) == 0:
            return 0
        keys, vecs = _last_per_key(keys, vecs)
        faiss.normalize_L2(vecs)
        dim = vecs.shape[1]
        schema = pa.schema(
            [
                pa.field("clip_key", pa.int64(), nullable=False),
                pa.field("model_version", pa.string(), nullable=False),
                pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
            ],
            metadata={"model_version": model_version, "modality": modality},
        )
        rows = pa.table(
            {
                "clip_key": keys,
                "model_version": pa.array([model_version] * len(keys), pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1)), dim),
            },
            schema=schema,
        )
        with self._lock:
            name = _table_name(modality, model_version)
            table = self._open(name) or self._db.create_table(name, schema=schema, exist_ok=True)
            have = table.schema.field("vector").type.list_size
            if have != dim:
                raise ValueError(
                    f"{modality} vectors of model {model_version!r} have dimension {have}, "
                    f"got {dim}"
                )
            _upsert(table, rows)
        return len(keys)

    def existing_keys(self, model_version: str, modality: Modality) -> set[int]:
        """Clip keys that already have a vector, so a resumed build embeds only the rest."""
        table = self._open(_table_name(modality, model_version))
        if table is None:
            return set()
        keys = table.search().select(["clip_key"]).limit(None).to_arrow()["clip_key"]
        return set(keys.to_numpy().tolist())

    def counts(self, model_version: str | None = None) -> dict[str, int]:
        """Rows per modality, for one model version or summed over all of them."""
        out = dict.fromkeys(MODALITIES, 0)
        for name in self._table_names():
            modality, _, slug = name.removeprefix("vectors_").partition("__")
            if modality not in out or not slug:
                continue
            if model_version is None or name == _table_name(modality, model_version):
                table = self._open(name)
                out[modality] += table.count_rows() if table is not None else 0
        return out

    def read(
        self, model_version: str, modality: Modality, clip_keys: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(keys (N,) int64, vectors (N, D) float32), sorted by key; all rows or those asked."""
        table = self._open(_table_name(modality, model_version))
        if table is None:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        columns = ["clip_key", "vector"]
        if clip_keys is None:
            parts = [table.search().select(columns).limit(None).to_arrow()]
        else:
            parts = [
                table.search().where(_in_list(chunk)).select(columns).limit(None).to_arrow()
                for chunk in _chunks(clip_keys)
            ]
        data = pa.concat_tables(parts) if parts else table.schema.empty_table()
        dim = table.schema.field("vector").type.list_size
        keys = data["clip_key"].to_numpy()
        flat = data["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        vecs = np.ascontiguousarray(flat, dtype=np.float32).reshape(-1, dim)
        order = np.argsort(keys, kind="stable")
        return keys[order], vecs[order]

    def delete_version(self, model_version: str) -> None:
        """Drop every table of ``model_version`` (its FAISS build stays until replaced)."""
        names = set(self._table_names())
        with self._lock:
            for modality in MODALITIES:
                name = _table_name(modality, model_version)
                if name in names:
                    self._db.drop_table(name)

    def delete_keys(self, clip_keys: Sequence[int]) -> None:
        """Remove these clips' vectors (all versions) and narrations; rebuild to drop them
        from FAISS search too."""
        with self._lock:
            for name in self._table_names():
                if name.startswith("vectors_") or name == NARRATIONS:
                    table = self._db.open_table(name)
                    for chunk in _chunks(clip_keys):
                        table.delete(_in_list(chunk))

    # -- narration full text -------------------------------------------------------------

    def write_narrations(self, clip_keys: Sequence[int], texts: Sequence[str]) -> None:
        """Upsert narration texts by clip key, then rebuild the full-text index."""
        keys = np.asarray(clip_keys, dtype=np.int64).reshape(-1)
        if len(keys) != len(texts):
            raise ValueError(f"{len(keys)} clip keys but {len(texts)} texts")
        if len(keys) == 0:
            return
        keys, order = _last_per_key(keys, np.arange(len(keys)))
        schema = pa.schema(
            [pa.field("clip_key", pa.int64(), nullable=False), pa.field("text", pa.string())]
        )
        rows = pa.table({"clip_key": keys, "text": [str(texts[i]) for i in order]}, schema=schema)
        with self._lock:
            table = self._db.create_table(NARRATIONS, schema=schema, exist_ok=True)
            _upsert(table, rows)
            # Rows added after a crash before this line are still searched, just unindexed.
            table.create_index("text", config=FTS(), replace=True)

    def full_text_search(
        self, query: str, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """BM25 over narrations: [(clip_key, score)] best first, at most ``k``.

        The query is reduced to its words (any operator or quote is dropped), so user input
        can never be a syntax error; a query with no words returns [].
        """
        words = re.findall(r"\w+", query)
        table = self._open(NARRATIONS)
        if not words or k <= 0 or table is None:
            return []
        search = table.search(MatchQuery(" ".join(words), "text"), query_type="fts").limit(k)
        if allowed is not None:
            allowed = np.unique(np.asarray(allowed, dtype=np.int64))
            if len(allowed) == 0:
                return []
            search = search.where(_in_list(allowed), prefilter=True)
        rows = search.select(["clip_key", "_score"]).to_arrow()
        return [
            (int(key), float(score))
            for key, score in zip(
                rows["clip_key"].to_pylist(), rows["_score"].to_pylist(), strict=True
            )
        ]

    # -- FAISS ---------------------------------------------------------------------------

    def build_indexes(self, model_version: str, settings: IndexSettings = DEFAULT_SETTINGS) -> dict:
        """Index every modality of ``model_version`` and publish them as the current build.

        Returns the manifest: {"model_version", "built_at", "modalities": {m: {"count", "dim",
        "kind", "file"}}, ...}.
        """
        indexes = {}
        for modality in MODALITIES:
            keys, vecs = self.read(model_version, modality)
            if len(keys):
                indexes[modality] = build_index(keys, vecs, settings)
        if not indexes:
            raise ValueError(f"no vectors stored for model version {model_version!r}")
        return self._builds.publish(model_version, indexes, settings)

    def manifest(self) -> dict | None:
        """The current FAISS build's manifest, or None before the first build."""
        return self._builds.manifest()

    def search(
        self, modality: Modality, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[list[Hit]]:
        """Cosine top-``k`` per query (Q, D) or (D,): [[(clip_key, score)] best first].

        ``allowed`` restricts results to those clip keys; a filtered query returns
        min(k, allowed keys indexed) results. Raises LookupError before the first build.
        """
        _check_modality(modality)
        q = np.array(queries, dtype=np.float32, order="C", ndmin=2)  # (Q, D), a copy
        index = self._builds.get(modality)
        if index is None or k <= 0:
            return [[] for _ in q]
        if q.ndim != 2 or q.shape[1] != index.dim:
            raise ValueError(f"{modality} queries need dimension {index.dim}, got {q.shape}")
        faiss.normalize_L2(q)
        return index.search(q, k, allowed)

    # -- helpers -------------------------------------------------------------------------

    def _table_names(self) -> list[str]:
        names, token = [], None
        while True:
            page = self._db.list_tables(page_token=token)
            names += page.tables
            token = page.page_token
            if not token:
                return names

    def _open(self, name: str) -> Table | None:
        try:
            return self._db.open_table(name)
        except ValueError:  # LanceDB's "Table '...' was not found"
            return None


def _table_name(modality: str, model_version: str) -> str:
    """A LanceDB-safe table name; the hash keeps distinct versions distinct after cleaning."""
    _check_modality(modality)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", model_version)[:48]
    digest = hashlib.sha1(model_version.encode()).hexdigest()[:10]
    return f"vectors_{modality}__{slug}-{digest}"


def _check_modality(modality: str) -> None:
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")


def _last_per_key(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique keys ascending, each with the value of its last occurrence."""
    unique, first_from_end = np.unique(keys[::-1], return_index=True)
    return unique, values[len(keys) - 1 - first_from_end]


def _upsert(table: Table, rows: pa.Table) -> None:
    table.merge_insert("clip_key").when_matched_update_all().when_not_matched_insert_all().execute(
        rows
    )


def _chunks(keys: Sequence[int] | np.ndarray) -> list[np.ndarray]:
    keys = np.unique(np.asarray(keys, dtype=np.int64))
    return [keys[i : i + _IN_CHUNK] for i in range(0, len(keys), _IN_CHUNK)]


def _in_list(keys: np.ndarray) -> str:
    return f"clip_key IN ({', '.join(str(int(key)) for key in keys)})"
