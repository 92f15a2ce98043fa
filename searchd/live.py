"""The home a running service answers from: its catalog, its clip cache, and the Engine of
its current index build, replaced whole when ``foley build`` publishes a new build.

A build publishes its FAISS indexes by switching the ``CURRENT`` file (indexer.faiss_index),
whose manifest names the model version the vectors came from. Every engine call reads
``CURRENT`` before and after it runs: a new name loads an Engine for that manifest's model and
swaps it in with one assignment, and a call that overlapped a switch is answered again by the
new engine. So no answer mixes one build's model with another build's index.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from indexer.cache import CachedVideo, ClipCache
from indexer.catalog import Catalog, ClipRow
from indexer.config import FoleyConfig
from indexer.faiss_index import IndexBuilds
from searchd.engine import Engine, QueryError
from searchd.generate import GenerationUnavailable, Generator
from searchd.locate import LocateError, Locator

T = TypeVar("T")
ATTEMPTS = 3  # answers tried before giving up on an index that keeps switching


class NotBuilt(LookupError):
    """The home has no trained model or index yet: `foley build` first."""


class IndexChanging(RuntimeError):
    """The index switched during every attempt at one request."""


class LiveHome:
    """Thread-safe access to one Foley home for the HTTP service."""

    def __init__(self, config: FoleyConfig) -> None:
        self.config = config
        # the layout VectorStore uses: <vectors>/faiss holds the builds and CURRENT
        self._builds = IndexBuilds(config.vectors_dir / "faiss")
        self._served: tuple[str, Engine] | None = None  # (build name, its engine)
        self._engine_lock = threading.Lock()  # one engine call at a time: Engine is not thread-safe
        self._catalog: Catalog | None = None
        self._catalog_lock = threading.Lock()
        self._locator: Locator | None = None
        self._locator_lock = threading.Lock()  # one DenseAV call at a time, as the engine
        self._generator: Generator | None = None

    # --- catalog and cache ----------------------------------------------------------------
    def catalog(self) -> Catalog:
        """The home's catalog (opened on first use, so a home built after start is seen)."""
        with self._catalog_lock:
            if self._catalog is None:
                if not self.config.home.is_dir():
                    raise NotBuilt(f"no Foley home at {self.config.home}: run `foley build`")
                self._catalog = Catalog(self.config.catalog_url)
            return self._catalog

    def clip_count(self) -> int:
        try:
            return self.catalog().count_clips()
        except NotBuilt:
            return 0

    def clip(self, clip_id: str) -> ClipRow | None:
        """The clip with this id, or None (also when there is no home yet)."""
        try:
            return self.catalog().clip_by_id(clip_id)
        except NotBuilt:
            return None

    def cached(self, clip: ClipRow) -> CachedVideo:
        """The decoded video a clip was cut from; FileNotFoundError if the cache lost it."""
        return ClipCache(self.config.cache_dir).read(clip.cache_key)

    # --- the DenseAV localiser -------------------------------------------------------------
    def locate(self, work: Callable[[Locator], T]) -> T:
        """Run ``work`` with the current DenseAV model (reloaded when a build replaces it)."""
        record = self.catalog().current_model("denseav")
        if record is None:
            raise NotBuilt(f"no DenseAV model in {self.config.home}: run `foley build`")
        with self._locator_lock:
            if self._locator is None or self._locator.version != record.version:
                try:
                    self._locator = Locator(self.config)
                except LocateError as exc:
                    raise NotBuilt(str(exc)) from exc
            return work(self._locator)

    # --- the AV-LDM generator --------------------------------------------------------------
    def generate(self, work: Callable[[Generator], T]) -> T:
        """Run ``work`` with the current AV-LDM generator, which retrieves ambient clips
        through the current engine (so it runs under the engine's lock, as a search)."""
        record = self.catalog().current_model("avldm")
        if record is None:
            raise NotBuilt(f"no AV-LDM model in {self.config.home}: run `foley build`")

        def run(engine: Engine) -> T:
            current = self._generator
            if current is None or current.version != record.version or current.engine is not engine:
                try:
                    self._generator = Generator(engine)
                except GenerationUnavailable as exc:
                    raise NotBuilt(str(exc)) from exc
            return work(self._generator)

        return self.call(run)

    # --- the engine -----------------------------------------------------------------------
    def call(self, work: Callable[[Engine], T]) -> T:
        """Run ``work`` with the engine of the current index build (see module docstring)."""
        with self._engine_lock:
            for _ in range(ATTEMPTS):
                before = self._builds.current()
                try:
                    build, engine = self._current()
                    result = work(engine)
                except Exception:
                    if self._builds.current() == before:
                        raise
                    continue  # failed while the index switched under it: answer again
                if self._builds.current() == build:
                    return result
        raise IndexChanging("the index kept changing during this request: try again")

    def model_version(self) -> str | None:
        """The model version the current index build is served with (None before a build)."""
        served = self._served
        if served is not None and served[0] == self._builds.current():
            return served[1].version  # no need to queue behind searches for the engine
        try:
            return self.call(lambda engine: engine.version)
        except NotBuilt:
            return None

    def _current(self) -> tuple[str, Engine]:
        build = self._builds.current()
        if build is None:
            raise NotBuilt(f"no trained model or index in {self.config.home}: run `foley build`")
        if self._served is None or self._served[0] != build:
            self._served = self._load(build)
        return self._served

    def _load(self, build: str) -> tuple[str, Engine]:
        manifest = self._builds.manifest() or {}
        try:
            engine = Engine(config=self.config, model_version=manifest.get("model_version"))
        except QueryError as exc:
            raise NotBuilt(str(exc)) from exc
        engine.consensus_scores()  # warm up here, not in the first request's time
        _ = engine.sentence_encoder
        return manifest.get("build", build), engine
