"""FAISS search indexes built from the vector store, published as immutable build folders.

Layout under ``root`` (``<home>/vectors/faiss``)::

    build-<utc timestamp>-<rand>/   one folder per build: <modality>.faiss + manifest.json
    CURRENT                         the name of the live build folder (switched by os.replace)
    .lock                           held while a build is written, switched and cleaned up

A build is written into a fresh folder that nothing points to, fsynced, and only then named
in ``CURRENT``; a reader therefore sees either the old build or the new one, never a half of
one. A folder left by a crashed build is never named in ``CURRENT`` and is deleted by the next
build. Every index is an ``IndexIDMap2`` whose ids are clip keys, added in ascending key order,
so the inner index's row ``i`` is the ``i``-th smallest key.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
BUILD_PREFIX = "build-"

Hit = tuple[int, float]


@dataclass(frozen=True)
class IndexSettings:
    """How to index one modality: exact below ``exact_below`` vectors, approximate above."""

    exact_below: int = 20000
    kind: Literal["hnsw", "ivf"] = "hnsw"
    hnsw_m: int = 32
    ivf_lists: int | None = None  # None: about 4 * sqrt(n)
    nprobe: int = 16
    ef_search: int = 64


DEFAULT_SETTINGS = IndexSettings()


def build_index(
    keys: np.ndarray, vectors: np.ndarray, settings: IndexSettings
) -> tuple[faiss.IndexIDMap2, str]:
    """An inner-product index over L2-normalised ``vectors`` (N, D) with ids ``keys`` (N,).

    ``keys`` must be ascending and unique. Returns the index and its kind
    (``"flat"``, ``"hnsw"`` or ``"ivf"``).
    """
    n, dim = vectors.shape
    if n < settings.exact_below:
        kind, inner = "flat", faiss.IndexFlatIP(dim)
    elif settings.kind == "hnsw":
        kind, inner = "hnsw", faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    else:
        # k-means wants ~39 training points per list; clamp so small corpora still train.
        lists = settings.ivf_lists or int(4 * math.sqrt(n))
        lists = max(1, min(lists, n // 39))
        kind = "ivf"
        inner = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        inner.train(vectors)
    index = faiss.IndexIDMap2(inner)
    index.add_with_ids(vectors, keys)
    if kind == "ivf":
        inner.make_direct_map()  # lets the exact fallback reconstruct rows
    return index, kind


class LoadedIndex:
    """One modality's index in memory, answering (optionally filtered) top-k queries."""

    def __init__(self, index: faiss.IndexIDMap2, kind: str, settings: IndexSettings):
        self.index = index
        self.kind = kind
        self.settings = settings
        self.keys = faiss.vector_to_array(index.id_map)  # (N,) ascending clip keys
        self.inner = faiss.downcast_index(index.index)
        self.dim = index.d

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> list[list[Hit]]:
        """Top-``k`` (clip key, cosine) per row of ``queries`` (Q, D), normalised, best first."""
        if allowed is None:
            k = min(k, len(self.keys))
            scores, ids = self.index.search(queries, k, params=self._params(k, None))
            return [_hits(s, i) for s, i in zip(scores, ids, strict=True)]
        rows = self._rows_of(allowed)
        want = min(k, len(rows))
        if want == 0:
            return [[] for _ in queries]
        if self.kind == "flat" or len(rows) < self.settings.exact_below:
            return self._exact(queries, rows, want)
        selector = faiss.IDSelectorBatch(self.keys[rows])
        scores, ids = self.index.search(queries, want, params=self._params(want, selector))
        results = [_hits(s, i) for s, i in zip(scores, ids, strict=True)]
        # Graph/list search under a filter can come back short; never return fewer silently.
        short = [q for q, hits in enumerate(results) if len(hits) < want]
        if short:
            for q, hits in zip(short, self._exact(queries[short], rows, want), strict=True):
                results[q] = hits
        return results

    def _params(self, k: int, selector: faiss.IDSelector | None) -> faiss.SearchParameters:
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(
                efSearch=max(self.settings.ef_search, k), sel=selector
            )
        if self.kind == "ivf":
            return faiss.SearchParametersIVF(nprobe=self.settings.nprobe, sel=selector)
        return faiss.SearchParameters(sel=selector)

    def _rows_of(self, allowed: np.ndarray) -> np.ndarray:
        """Inner-index rows of the allowed keys that this index holds."""
        wanted = np.unique(np.asarray(allowed, dtype=np.int64))
        pos = np.searchsorted(self.keys, wanted)
        inside = pos < len(self.keys)
        pos = pos[inside]
        return pos[self.keys[pos] == wanted[inside]]

    def _exact(self, queries: np.ndarray, rows: np.ndarray, k: int) -> list[list[Hit]]:
        """Brute force over the given rows only: exact, whatever the index kind."""
        subset = self.inner.reconstruct_batch(rows)  # (R, D)
        scores = queries @ subset.T  # (Q, R)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < len(rows) else None
        out = []
        for q in range(len(queries)):
            cand = top[q] if top is not None else np.arange(len(rows))
            cand = cand[np.argsort(-scores[q, cand], kind="stable")]
            out.append([(int(self.keys[rows[c]]), float(scores[q, c])) for c in cand])
        return out


def _hits(scores: np.ndarray, ids: np.ndarray) -> list[Hit]:
    return [(int(i), float(s)) for s, i in zip(scores, ids, strict=True) if i >= 0]


class IndexBuilds:
    """Publishes builds atomically and serves searches from the current one (cached)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()
        self._build: str | None = None  # the build the cache below belongs to
        self._manifest: dict | None = None
        self._loaded: dict[str, LoadedIndex] = {}

    # -- writing -------------------------------------------------------------------------

    def publish(
        self,
        model_version: str,
        indexes: dict[str, tuple[faiss.IndexIDMap2, str]],
        settings: IndexSettings,
    ) -> dict:
        """Write ``indexes`` (modality -> (index, kind)) as a new build and make it current."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._exclusive():
            name = f"{BUILD_PREFIX}{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-"
            name += secrets.token_hex(4)
            folder = self.root / name
            folder.mkdir()
            modalities = {}
            for modality, (index, kind) in indexes.items():
                file = f"{modality}.faiss"
                faiss.write_index(index, str(folder / file))
                _fsync(folder / file)
                modalities[modality] = {
                    "count": int(index.ntotal),
                    "dim": int(index.d),
                    "kind": kind,
                    "file": file,
                }
            manifest = {
                "model_version": model_version,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "build": name,
                "settings": asdict(settings),
                "modalities": modalities,
            }
            _write_atomic(folder / MANIFEST, json.dumps(manifest, indent=2))
            previous = self.current()
            _write_atomic(self.root / CURRENT, name)
            self._collect_garbage(keep={name, previous})
        return manifest

    def _collect_garbage(self, keep: set[str | None]) -> None:
        """Delete builds other than ``keep`` (current and previous) and stray temp files."""
        for path in self.root.iterdir():
            stale_build = path.name.startswith(BUILD_PREFIX) and path.name not in keep
            if stale_build and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.name.startswith(".tmp-"):
                path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One builder at a time across processes, so cleanup never races a build."""
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- reading -------------------------------------------------------------------------

    def current(self) -> str | None:
        """The live build folder's name, or None before the first build."""
        try:
            name = (self.root / CURRENT).read_text().strip()
        except FileNotFoundError:
            return None
        return name or None

    def manifest(self) -> dict | None:
        """The current build's manifest, or None before the first build."""
        name = self.current()
        if name is None:
            return None
        return json.loads((self.root / name / MANIFEST).read_text())

    def get(self, modality: str) -> LoadedIndex | None:
        """The current build's index for ``modality`` (None if the build has none).

        Raises LookupError when nothing has been built yet.
        """
        for _ in range(3):  # a build may be cleaned up between reading CURRENT and loading it
            name = self.current()
            if name is None:
                raise LookupError(f"no FAISS index under {self.root}; build the indexes first")
            with self._lock:
                try:
                    return self._load(name, modality)
                except FileNotFoundError:
                    continue
        raise LookupError(f"the FAISS build under {self.root} kept changing while loading")

    def _load(self, name: str, modality: str) -> LoadedIndex | None:
        if name != self._build:
            self._manifest = json.loads((self.root / name / MANIFEST).read_text())
            self._build, self._loaded = name, {}
        entry = self._manifest["modalities"].get(modality)
        if entry is None:
            return None
        if modality not in self._loaded:
            index = faiss.read_index(str(self.root / name / entry["file"]))
            settings = IndexSettings(**self._manifest["settings"])
            self._loaded[modality] = LoadedIndex(index, entry["kind"], settings)
        return self._loaded[modality]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so a reader sees the old or the new content, whole."""
    tmp = path.parent / f".tmp-{path.name}-{secrets.token_hex(4)}"
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync(path.parent)
