"""Ingest: find videos, probe and decode each once into the clip cache, cut clips, catalog them.

Resumable and idempotent: a video already in the catalog is skipped, a file that failed
before and has not changed since is skipped with its recorded reason, and a video is
committed together with all its clips only after its cache entry is safely written.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from indexer.cache import ClipCache, cache_key
from indexer.catalog import Catalog, Clip, Video
from indexer.clips import ClipWindow, clip_id, cut_windows
from indexer.config import VIDEO_SUFFIXES, FoleyConfig
from indexer.media import MediaError, MediaInfo, decode, probe
from indexer.narrations import (
    Narration,
    NarrationError,
    find_sidecar,
    load_narrations,
    parse_subtitles,
)

PR_SET_PDEATHSIG = 1  # prctl option: signal this process when its parent dies


@dataclass
class IngestReport:
    found: int = 0
    added: int = 0
    skipped: int = 0
    failed: int = 0
    clips: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Decoded:
    path: str
    info: MediaInfo | None
    error: str | None


def find_videos(videos: Path) -> list[Path]:
    """Video files under a folder (recursively), or the single file given."""
    if videos.is_file():
        return [videos]
    if not videos.is_dir():
        raise FileNotFoundError(f"no such folder or file: {videos}")
    found = [p for p in videos.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()]
    return sorted(found)


def _split_of(uid: str) -> str:
    """A stable 90/10 train/val split by video, so validation clips never leak into training."""
    import zlib

    return "val" if zlib.crc32(uid.encode()) % 10 == 0 else "train"


def _decode_into_cache(path: str, key: str, config: FoleyConfig) -> _Decoded:
    """Worker: probe + decode one file and write its cache entry; errors come back as text."""
    policy = config.clips
    try:
        info = probe(Path(path))
        decoded = decode(
            Path(path), fps=policy.cache_fps, size=policy.frame_size, sample_rate=policy.sample_rate
        )
        ClipCache(config.cache_dir).write(
            key, decoded.frames, decoded.fps, decoded.audio, decoded.sample_rate
        )
        return _Decoded(path, info, None)
    except MediaError as exc:
        return _Decoded(path, None, str(exc))
    except Exception as exc:  # any decoder failure is this file's problem, not the build's
        return _Decoded(path, None, f"could not decode: {type(exc).__name__}: {exc}")


def ingest(
    videos_dir: Path,
    narrations_file: Path | None,
    config: FoleyConfig,
    catalog: Catalog,
    workers: int = 2,
) -> IngestReport:
    """Register every new video under ``videos_dir`` with its clips (see module docstring)."""
    report = IngestReport()
    narrations = _load_narration_file(narrations_file, catalog, report)
    todo: list[tuple[Path, str, str]] = []  # (file, uid, cache key)
    for path in find_videos(videos_dir):
        report.found += 1
        as_ingested = str(path)
        if catalog.video_by_path(as_ingested) is not None:
            report.skipped += 1
            continue
        stat = path.stat()
        previous = catalog.error_for(as_ingested)
        if previous and previous.size_bytes == stat.st_size and previous.mtime == stat.st_mtime:
            report.skipped += 1  # failed before and unchanged: keep the recorded reason
            continue
        uid = path.stem
        if catalog.uid_taken(uid):
            uid = f"{path.parent.name}-{path.stem}"
        todo.append((path, uid, cache_key(uid, as_ingested)))

    cache = ClipCache(config.cache_dir)
    bar = tqdm(total=len(todo), desc="ingest", unit="video", disable=not config.progress)
    for (path, uid, key), result in zip(todo, _decode_all(todo, config, workers), strict=True):
        bar.update()
        stat = path.stat()
        if result.error is not None or result.info is None:
            report.failed += 1
            message = result.error or "unknown error"
            report.errors.append(f"{path}: {message}")
            catalog.record_error(str(path), message, stat.st_size, stat.st_mtime)
            continue
        video_narrations = _narrations_for(path, uid, narrations, catalog, report)
        windows, problems = cut_windows(result.info.duration, video_narrations, config.clips)
        _register(catalog, path, uid, key, result.info, windows, stat)
        if problems:  # indexed, but some narrations could not be used: say so in status
            report.errors.extend(f"{path}: {problem}" for problem in problems)
            catalog.record_error(str(path), "; ".join(problems), stat.st_size, stat.st_mtime)
        report.added += 1
        report.clips += len(windows)
    bar.close()
    cache.remove_orphans(keep=_cache_keys(catalog))
    return report


def _decode_all(
    todo: Sequence[tuple[Path, str, str]], config: FoleyConfig, workers: int
) -> Iterator[_Decoded]:
    if workers <= 1 or len(todo) <= 1:
        for path, _, key in todo:
            yield _decode_into_cache(str(path), key, config)
        return
    # forked workers only decode and write the cache; the build lock is a POSIX record lock,
    # which a forked child does not hold, so a killed build never leaves the home locked
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_die_with_parent
    ) as pool:
        with warnings.catch_warnings():
            # ingest runs before the vector store is opened: no LanceDB work is in flight
            warnings.filterwarnings("ignore", message="lancedb fork support")
            futures = [pool.submit(_decode_into_cache, str(p), key, config) for p, _, key in todo]
        for future in futures:
            yield future.result()


def _die_with_parent() -> None:
    """Linux: a decode worker is killed when its build process dies, even by kill -9."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: no such call
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _load_narration_file(
    narrations_file: Path | None, catalog: Catalog, report: IngestReport
) -> dict[str, list[Narration]]:
    by_video: dict[str, list[Narration]] = {}
    if narrations_file is None:
        return by_video
    try:
        parsed = load_narrations(narrations_file)
    except (NarrationError, OSError) as exc:
        report.errors.append(str(exc))
        catalog.record_error(str(narrations_file), str(exc))
        return by_video
    for problem in parsed.errors:
        report.errors.append(problem)
    if parsed.errors:
        joined = "; ".join(parsed.errors[:5])
        more = f" (+{len(parsed.errors) - 5} more)" if len(parsed.errors) > 5 else ""
        catalog.record_error(
            str(narrations_file), f"{len(parsed.errors)} bad entries: {joined}{more}"
        )
    for item in parsed.items:
        by_video.setdefault(item.video, []).append(item)
    return by_video


def _narrations_for(
    path: Path,
    uid: str,
    narrations: dict[str, list[Narration]],
    catalog: Catalog,
    report: IngestReport,
) -> list[Narration]:
    items = list(narrations.get(path.stem, []))
    sidecar = find_sidecar(path)
    if sidecar is not None:
        try:
            parsed = parse_subtitles(sidecar)
            items.extend(parsed.items)
            report.errors.extend(parsed.errors)
        except (NarrationError, OSError) as exc:
            report.errors.append(str(exc))
            catalog.record_error(str(sidecar), str(exc))
    return items


def _register(
    catalog: Catalog,
    path: Path,
    uid: str,
    key: str,
    info: MediaInfo,
    windows: Sequence[ClipWindow],
    stat: os.stat_result,
) -> None:
    video = Video(
        uid=uid,
        path=str(path),
        duration=info.duration,
        width=info.width,
        height=info.height,
        fps=info.fps,
        size_bytes=stat.st_size,
        mtime=stat.st_mtime,
        cache_key=key,
    )
    split = _split_of(uid)
    clips = [
        Clip(
            clip_id=clip_id(uid, w.start),
            start=w.start,
            end=w.end,
            narration=w.narration,
            source=w.source,
            split=split,
        )
        for w in windows
    ]
    catalog.add_video(video, clips)


def _cache_keys(catalog: Catalog) -> set[str]:
    from sqlalchemy import select

    with catalog.session() as s:
        return set(s.scalars(select(Video.cache_key)))
