"""Cutting a video into clips: windows centred on narrations, fixed stride elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from indexer.config import ClipPolicy


class TimedText(Protocol):
    start: float
    end: float | None
    text: str


@dataclass(frozen=True)
class ClipWindow:
    """One clip to index: [start, end) seconds of a video, with its narration if any."""

    start: float
    end: float
    narration: str | None
    source: Literal["narration", "stride"]


def clip_id(video_uid: str, start: float) -> str:
    """A clip's stable, readable identifier: ``<video uid>@<start seconds>``."""
    return f"{video_uid}@{start:.2f}"


def cut_windows(
    duration: float, narrations: Sequence[TimedText], policy: ClipPolicy
) -> tuple[list[ClipWindow], list[str]]:
    """Clip windows for a video of ``duration`` seconds, and one error per unusable narration.

    Every narration gets a ``policy.seconds`` window centred on it (its timestamp, or the
    middle of its span), kept inside the video. Stretches left uncovered that are at least
    ``policy.min_gap`` long get fixed-stride windows, so un-narrated sounds stay findable.
    """
    length = min(policy.seconds, duration)
    windows: list[ClipWindow] = []
    errors: list[str] = []
    seen: set[float] = set()
    for item in sorted(narrations, key=lambda n: n.start):
        centre = item.start if item.end is None else (item.start + item.end) / 2
        if item.start > duration:
            errors.append(
                f"narration at {item.start:.2f} s is past the video's end ({duration:.2f} s): "
                f"{item.text!r}"
            )
            continue
        start = round(min(max(centre - length / 2, 0.0), duration - length), 2)
        if start in seen:  # two narrations on the same instant: one clip, first text
            continue
        seen.add(start)
        windows.append(ClipWindow(start, round(start + length, 2), item.text, "narration"))
    windows.extend(_stride_windows(duration, windows, policy, length))
    windows.sort(key=lambda w: w.start)
    return windows, errors


def _stride_windows(
    duration: float, covered: Sequence[ClipWindow], policy: ClipPolicy, length: float
) -> list[ClipWindow]:
    spans = sorted((w.start, w.end) for w in covered)
    gaps: list[tuple[float, float]] = []
    cursor = 0.0
    for start, end in spans:
        if start > cursor:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if duration > cursor:
        gaps.append((cursor, duration))
    windows = []
    for gap_start, gap_end in gaps:
        span = gap_end - gap_start
        if span < policy.min_gap:
            continue
        count = max(1, int(round((span - length) / policy.stride)) + 1) if span > length else 1
        step = (span - length) / (count - 1) if count > 1 else 0.0
        for i in range(count):
            # a gap shorter than a clip gets one clip centred on it
            start = gap_start + i * step if span > length else gap_start + (span - length) / 2
            start = round(min(max(start, 0.0), duration - length), 2)
            windows.append(ClipWindow(start, round(start + length, 2), None, "stride"))
    return windows
