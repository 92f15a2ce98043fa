"""The catalog: videos, clips, model versions, index builds and ingest errors (SQLAlchemy).

SQLite file by default; any SQLAlchemy URL works (PostgreSQL included). Each video and its
clips are committed in one transaction, so a build killed at any moment leaves either the
whole video or none of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class NulFreeText(TypeDecorator[str]):
    """Text with NUL characters dropped on the way in: PostgreSQL text cannot hold them (SQLite
    can), so every backend stores the same narration or error text instead of PostgreSQL
    failing the whole video."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return value.replace("\x00", "") if isinstance(value, str) else value


class Video(Base):
    __tablename__ = "videos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Text and BigInteger, not String(n)/Integer: PostgreSQL enforces VARCHAR lengths and
    # 32-bit INTEGER (SQLite does neither), and a parent-stem uid or a >2 GiB video is real
    uid: Mapped[str] = mapped_column(Text, unique=True)  # file stem (Ego4D video_uid)
    path: Mapped[str] = mapped_column(Text, unique=True)  # as ingested
    duration: Mapped[float] = mapped_column(Float)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    fps: Mapped[float] = mapped_column(Float)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[float] = mapped_column(Float)
    cache_key: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(default=_now)
    clips: Mapped[list[Clip]] = relationship(back_populates="video", cascade="all, delete-orphan")


class Clip(Base):
    __tablename__ = "clips"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the clip key in vector tables
    clip_id: Mapped[str] = mapped_column(Text, unique=True)  # "<video uid>@<start>"
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    narration: Mapped[str | None] = mapped_column(NulFreeText, nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # "narration" | "stride"
    split: Mapped[str] = mapped_column(String(8))  # "train" | "val"
    video: Mapped[Video] = relationship(back_populates="clips")


class ModelVersion(Base):
    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))  # config name, e.g. "mc3-small"
    kind: Mapped[str] = mapped_column(String(32), default="mc3", server_default="mc3")
    path: Mapped[str] = mapped_column(Text)
    config: Mapped[str] = mapped_column(Text)  # JSON
    steps: Mapped[int] = mapped_column(Integer)
    train_seconds: Mapped[float] = mapped_column(Float)
    current: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class IndexBuild(Base):
    __tablename__ = "index_builds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[str] = mapped_column(Text)  # JSON
    built_at: Mapped[datetime] = mapped_column(default=_now)


class IngestError(Base):
    __tablename__ = "ingest_errors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(NulFreeText)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=-1)
    mtime: Mapped[float] = mapped_column(Float, default=-1.0)
    at: Mapped[datetime] = mapped_column(default=_now)


@dataclass(frozen=True)
class ClipRow:
    """A clip joined with its video, as search results and datasets need it."""

    key: int
    clip_id: str
    video: str
    video_uid: str
    cache_key: str
    start: float
    end: float
    narration: str | None
    source: str
    split: str


# Columns a user may filter on with --where, mapped to catalog expressions.
FILTER_COLUMNS: dict[str, Any] = {
    "clip_id": Clip.clip_id,
    "video": Video.path,
    "video_uid": Video.uid,
    "start": Clip.start,
    "end": Clip.end,
    "narration": Clip.narration,
    "source": Clip.source,
    "split": Clip.split,
    "duration": Video.duration,
}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Catalog:
    """Typed access to the catalog database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Upgrade a catalog made by an older Foley: model versions gained ``kind``."""
        columns = {c["name"] for c in inspect(self.engine).get_columns("model_versions")}
        if "kind" not in columns:
            with self.engine.begin() as connection:
                connection.execute(
                    text("ALTER TABLE model_versions ADD COLUMN kind VARCHAR(32) DEFAULT 'mc3'")
                )

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # --- videos -----------------------------------------------------------------------
    def video_by_path(self, path: str) -> Video | None:
        with self.session() as s:
            return s.scalar(select(Video).where(Video.path == path))

    def uid_taken(self, uid: str) -> bool:
        with self.session() as s:
            return s.scalar(select(func.count()).where(Video.uid == uid)) > 0

    def add_video(self, video: Video, clips: Sequence[Clip]) -> None:
        """Register a video with all its clips in one transaction (all or nothing)."""
        with self.session() as s, s.begin():
            s.execute(delete(IngestError).where(IngestError.path == video.path))
            s.add(video)
            s.flush()
            for clip in clips:
                clip.video_id = video.id
                s.add(clip)

    def count_videos(self) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(Video)) or 0

    def count_clips(self) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(Clip)) or 0

    # --- clips ------------------------------------------------------------------------
    def clips(self, keys: Iterable[int] | None = None, where: Any = None) -> list[ClipRow]:
        """Clips joined with their videos, ordered by key; optionally only ``keys`` and/or
        those matching a compiled filter expression."""
        stmt = select(Clip, Video).join(Video, Clip.video_id == Video.id).order_by(Clip.id)
        if keys is not None:
            stmt = stmt.where(Clip.id.in_(list(keys)))
        if where is not None:
            stmt = stmt.where(where)
        with self.session() as s:
            return [_clip_row(c, v) for c, v in s.execute(stmt)]

    def clip_keys(self, where: Any = None) -> list[int]:
        stmt = select(Clip.id).join(Video, Clip.video_id == Video.id).order_by(Clip.id)
        if where is not None:
            stmt = stmt.where(where)
        with self.session() as s:
            return list(s.scalars(stmt))

    def clip_by_id(self, clip_id: str) -> ClipRow | None:
        stmt = select(Clip, Video).join(Video, Clip.video_id == Video.id)
        with self.session() as s:
            row = s.execute(stmt.where(Clip.clip_id == clip_id)).first()
        return _clip_row(*row) if row else None

    # --- errors -----------------------------------------------------------------------
    def record_error(self, path: str, error: str, size_bytes: int = -1, mtime: float = -1) -> None:
        """Remember why a file was skipped (replacing any older reason for the same path)."""
        with self.session() as s, s.begin():
            s.execute(delete(IngestError).where(IngestError.path == path))
            s.add(IngestError(path=path, error=error, size_bytes=size_bytes, mtime=mtime))

    def error_for(self, path: str) -> IngestError | None:
        with self.session() as s:
            return s.scalar(select(IngestError).where(IngestError.path == path))

    def errors(self) -> list[dict[str, str]]:
        with self.session() as s:
            rows = s.scalars(select(IngestError).order_by(IngestError.id))
            return [{"path": e.path, "error": e.error} for e in rows]

    # --- models and index builds ------------------------------------------------------
    def add_model_version(self, version: ModelVersion, make_current: bool) -> None:
        """Record a trained model; ``make_current`` makes it the one in use for its kind."""
        version.kind = version.kind or "mc3"
        with self.session() as s, s.begin():
            existing = s.scalar(select(ModelVersion).where(ModelVersion.version == version.version))
            if existing is None:
                s.add(version)
            if make_current:
                same_kind = select(ModelVersion).where(ModelVersion.kind == version.kind)
                for mv in s.scalars(same_kind):
                    mv.current = int(mv.version == version.version)

    def current_model(self, kind: str = "mc3") -> ModelVersion | None:
        """The model of ``kind`` ("mc3", "denseav", ...) that searches use now."""
        with self.session() as s:
            query = select(ModelVersion).where(ModelVersion.current == 1, ModelVersion.kind == kind)
            return s.scalar(query)

    def model_versions(self) -> list[ModelVersion]:
        with self.session() as s:
            return list(s.scalars(select(ModelVersion).order_by(ModelVersion.id)))

    def model_version(self, version_or_name: str) -> ModelVersion | None:
        """A model by version hash, or the newest one trained from a config name."""
        with self.session() as s:
            by_version = select(ModelVersion).where(ModelVersion.version == version_or_name)
            found = s.scalar(by_version)
            if found is None:
                by_name = select(ModelVersion).where(ModelVersion.name == version_or_name)
                found = s.scalar(by_name.order_by(ModelVersion.id.desc()))
            return found

    def record_index_build(self, model_version: str, manifest: dict[str, Any]) -> None:
        with self.session() as s, s.begin():
            s.add(IndexBuild(model_version=model_version, manifest=json.dumps(manifest)))


def _clip_row(clip: Clip, video: Video) -> ClipRow:
    return ClipRow(
        key=clip.id,
        clip_id=clip.clip_id,
        video=video.path,
        video_uid=video.uid,
        cache_key=video.cache_key,
        start=clip.start,
        end=clip.end,
        narration=clip.narration,
        source=clip.source,
        split=clip.split,
    )
