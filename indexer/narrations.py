"""Parse narrations (Ego4D JSON, EPIC-KITCHENS CSV, SRT/VTT sidecars) into one shape.

A bad entry never sinks a whole file: it becomes a one-line error naming where it is, and the
rest is kept. Only a file that cannot be read at all raises NarrationError.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

EGO4D_PASSES = ("narration_pass_1", "narration_pass_2")
EPIC_COLUMNS = ("video_id", "start_timestamp", "stop_timestamp", "narration")
SUBTITLE_SUFFIXES = (".srt", ".vtt")

_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)$")  # [H:]MM:SS[.fff]
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")  # <i>, <v Speaker>, <00:01.000>, {\an8}
_EGO4D_MARKER = re.compile(r"#(?:c|o|unsure|summary)\b", re.IGNORECASE)


class NarrationError(Exception):
    """A narration file that cannot be read at all (one line, user-facing)."""


@dataclass(frozen=True)
class Narration:
    """One narrated moment (Ego4D: a point, `end` None) or span of a video."""

    video: str  # video uid = file stem the narration belongs to
    start: float  # seconds
    end: float | None
    text: str  # as written


@dataclass
class ParsedNarrations:
    """What a file yielded: the good entries and one message per entry that was skipped."""

    items: list[Narration] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def load_narrations(path: Path) -> ParsedNarrations:
    """Parse a narration file, choosing the format from its suffix."""
    path = Path(path)
    parsers = {
        ".json": parse_ego4d,
        ".csv": parse_epic_csv,
        ".srt": parse_subtitles,
        ".vtt": parse_subtitles,
    }
    parser = parsers.get(path.suffix.lower())
    if parser is None:
        known = ", ".join(sorted(parsers))
        raise NarrationError(f"{path.name}: unknown narration format {path.suffix!r} ({known})")
    return parser(path)


def find_sidecar(video_path: Path) -> Path | None:
    """The `<video>.srt` or `<video>.vtt` subtitle file next to a video, if there is one."""
    video_path = Path(video_path)
    for suffix in SUBTITLE_SUFFIXES:
        for candidate in (video_path.with_suffix(suffix), video_path.with_suffix(suffix.upper())):
            if candidate.is_file():
                return candidate
    return None


def clean_text(text: str) -> str:
    """Narration text for models and search: Ego4D markers ("#C", "#O", "#unsure",
    "#Summary") and the leading camera-wearer subject "C" removed, whitespace collapsed.

    "#C C cuts the carrot" -> "cuts the carrot".
    """
    stripped = _EGO4D_MARKER.sub(" ", text)
    words = stripped.split()
    # "C" starting a narration is the camera wearer; Ego4D sometimes lowercases it after "#c"
    if len(words) > 1 and (words[0] == "C" or (words[0] == "c" and stripped != text)):
        words = words[1:]
    return " ".join(words)


def parse_ego4d(path: Path) -> ParsedNarrations:
    """Ego4D narration JSON: `{video_uid: {"narration_pass_1": {"narrations": [...]}}}`;
    both passes are merged, identical entries kept once, each video's entries sorted by time."""
    path = Path(path)
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise NarrationError(
            f"{path.name}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from e
    if not isinstance(data, dict):
        raise NarrationError(f"{path.name}: expected an object mapping video uid to narrations")
    parsed = ParsedNarrations()
    for uid, entry in data.items():
        where = f"{path.name}: video {uid}"
        if not isinstance(entry, dict):
            parsed.errors.append(f"{where}: expected an object, got {type(entry).__name__}")
            continue
        seen: set[Narration] = set()
        video_items: list[Narration] = []
        for pass_name in EGO4D_PASSES:
            if pass_name not in entry:
                continue
            narrations = entry[pass_name]
            narrations = narrations.get("narrations") if isinstance(narrations, dict) else None
            if not isinstance(narrations, list):
                parsed.errors.append(f"{where}: {pass_name} has no 'narrations' list")
                continue
            for i, item in enumerate(narrations):
                try:
                    narration = _ego4d_item(uid, item)
                except ValueError as e:
                    parsed.errors.append(f"{where} {pass_name}[{i}]: {e}")
                    continue
                if narration not in seen:
                    seen.add(narration)
                    video_items.append(narration)
        parsed.items += sorted(video_items, key=lambda n: n.start)
    return parsed


def parse_epic_csv(path: Path) -> ParsedNarrations:
    """EPIC-KITCHENS CSV: `video_id, start_timestamp, stop_timestamp, narration` with
    `HH:MM:SS.ff` times; other columns (verb, noun, ...) are ignored."""
    path = Path(path)
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    if reader.fieldnames is None:
        raise NarrationError(f"{path.name}: empty file (no header row)")
    columns = {name.strip().lower(): name for name in reader.fieldnames if name}
    missing = [c for c in EPIC_COLUMNS if c not in columns]
    if missing:
        raise NarrationError(f"{path.name}: missing required column(s): {', '.join(missing)}")
    parsed = ParsedNarrations()
    for row in reader:
        where = f"{path.name} line {reader.line_num}"
        values = {c: (row.get(columns[c]) or "").strip() for c in EPIC_COLUMNS}
        try:
            if not values["video_id"]:
                raise ValueError("empty video_id")
            start = _clock(values["start_timestamp"], "start_timestamp")
            end = _clock(values["stop_timestamp"], "stop_timestamp")
            parsed.items.append(_checked(values["video_id"], start, end, values["narration"]))
        except ValueError as e:
            parsed.errors.append(f"{where}: {e}")
    return parsed


def parse_subtitles(path: Path) -> ParsedNarrations:
    """An SRT or WebVTT sidecar; every cue is a narration of the video named by the file stem.
    Formatting tags are dropped, multi-line cue text is kept line by line."""
    path = Path(path)
    lines = _read_text(path).splitlines()  # handles CRLF and lone CR
    parsed = ParsedNarrations()
    for index, (line_no, block) in enumerate(_blocks(lines)):
        where = f"{path.name} line {line_no}"
        first = block[0].strip()
        if index == 0 and first.startswith("WEBVTT"):
            continue  # header block
        if first.split(maxsplit=1)[0] in ("NOTE", "STYLE", "REGION"):
            continue
        timing = next((i for i, line in enumerate(block) if "-->" in line), None)
        if timing is None:
            parsed.errors.append(f"{where}: cue has no timing line ('start --> end')")
            continue
        try:
            start_text, end_text = (part.strip() for part in block[timing].split("-->", 1))
            start = _clock(start_text, "cue start")
            end = _clock(end_text.split()[0] if end_text else "", "cue end")  # drop settings
            text = "\n".join(
                html.unescape(_TAG.sub("", line)).strip() for line in block[timing + 1 :]
            )
            parsed.items.append(_checked(path.stem, start, end, text.strip()))
        except ValueError as e:
            parsed.errors.append(f"{path.name} line {line_no + timing}: {e}")
    return parsed


def _ego4d_item(uid: str, item: object) -> Narration:
    """One Ego4D narration dict -> Narration; ValueError says what is wrong with it."""
    if not isinstance(item, dict):
        raise ValueError(f"expected an object, got {type(item).__name__}")
    for key in ("timestamp_sec", "narration_text"):
        if key not in item:
            raise ValueError(f"missing '{key}'")
    timestamp, text = item["timestamp_sec"], item["narration_text"]
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise ValueError(f"timestamp_sec must be a number, got {timestamp!r}")
    if not isinstance(text, str):
        raise ValueError(f"narration_text must be a string, got {text!r}")
    return _checked(uid, float(timestamp), None, text.strip())


def _checked(video: str, start: float, end: float | None, text: str) -> Narration:
    """Build a Narration after the checks every format shares."""
    if not math.isfinite(start) or (end is not None and not math.isfinite(end)):
        raise ValueError("timestamp is not a finite number")
    if start < 0:
        raise ValueError(f"negative timestamp {start:g}")
    if end is not None and end < start:
        raise ValueError(f"end {end:g} is before start {start:g}")
    if not text:
        raise ValueError("empty narration text")
    return Narration(video=video, start=start, end=end, text=text)


def _clock(value: str, name: str) -> float:
    """Seconds from `[HH:]MM:SS[.fff]` (`,` also accepted as the decimal mark, as SRT writes)."""
    match = _CLOCK.match(value)
    if match is None:
        raise ValueError(f"bad {name} {value!r}")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds.replace(",", "."))


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks with the 1-based line number each starts on."""
    blocks: list[tuple[int, list[str]]] = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if i > 1 and lines[i - 2].strip() and blocks:
            blocks[-1][1].append(line)
        else:
            blocks.append((i, [line]))
    return blocks


def _read_text(path: Path) -> str:
    """File text without a BOM; NarrationError when it cannot be read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise NarrationError(f"{path.name}: file not found") from e
    except OSError as e:
        raise NarrationError(f"{path.name}: cannot read ({e.strerror})") from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # older subtitle files
