"""Probe, validate and decode media files with PyAV; write WAVs and mux soundtracks.

Every failure a user can cause (wrong file, cut-short download, silent video) surfaces as a
MediaError whose message is one line naming the problem, so ingest can record it and move on.
"""

from __future__ import annotations

import os
import wave
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

# Leading bytes of containers we can name when they fail to open (then the file is damaged,
# not the wrong kind of file).
_MAGIC = {b"\x1a\x45\xdf\xa3": "Matroska/WebM", b"RIFF": "RIFF (WAV/AVI)", b"OggS": "Ogg"}


class MediaError(Exception):
    """One-line, user-facing reason a file cannot be used."""


@dataclass(frozen=True)
class MediaInfo:
    """What probe() learned about a usable video file."""

    path: Path
    duration: float  # seconds of video
    width: int
    height: int
    fps: float  # average source frame rate
    video_codec: str
    audio_codec: str | None  # None: no audio track
    sample_rate: int | None


@dataclass(frozen=True)
class DecodedVideo:
    """A whole video at model resolution: frames and audio on one clock starting at 0."""

    frames: np.ndarray  # (T, S, S, 3) uint8, T = round(duration * fps)
    fps: float
    audio: np.ndarray  # (N,) float32 mono in [-1, 1], N = round(duration * sample_rate)
    sample_rate: int
    duration: float


def probe(path: Path) -> MediaInfo:
    """Open `path`, check it is a complete video, and describe it; raises MediaError."""
    path = Path(path)
    with _open(path) as container:
        video = _video_stream(container)
        audio = container.streams.audio[0] if container.streams.audio else None
        expected, by_stream = _expected_duration(container, video)
        ends = _data_ends(path, container, video, expected)
        reached = ends.get(video.index, 0.0) if by_stream else max(ends.values(), default=0.0)
        if expected is not None and reached < expected - _tolerance(expected, video):
            raise MediaError(
                f"truncated or corrupt: data ends at {reached:.1f} s of {expected:.1f} s"
            )
        duration = expected if by_stream else ends.get(video.index, 0.0)
        if duration <= 0:
            raise MediaError("no video frames")
        return MediaInfo(
            path=path,
            duration=float(duration),
            width=video.codec_context.width,
            height=video.codec_context.height,
            fps=_source_fps(video),
            video_codec=video.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            sample_rate=audio.codec_context.sample_rate if audio is not None else None,
        )


def decode(
    path: Path,
    fps: float = 8.0,
    size: int = 64,
    sample_rate: int = 16000,
    require_audio: bool = True,
) -> DecodedVideo:
    """Decode a whole video in one pass: frames resampled to `fps` (nearest timestamp) and
    squashed to size x size RGB, audio as mono float32 at `sample_rate` padded/trimmed to the
    video's duration (silence when there is no audio track and `require_audio` is False)."""
    path = Path(path)
    with _open(path) as container:
        video = _video_stream(container)
        audio = container.streams.audio[0] if container.streams.audio else None
        if audio is None and require_audio:
            raise MediaError("no audio track")
        expected, by_stream = _expected_duration(container, video)
        video.thread_type = "AUTO"
        origin = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
        sampler = _FrameSampler(fps, size, origin, 1.0 / _source_fps(video))
        chunks: list[np.ndarray] = []
        audio_start: float | None = None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        audio_end = 0.0
        for frame in _decoded_frames(container, [s for s in (video, audio) if s is not None]):
            if isinstance(frame, av.VideoFrame):
                sampler.add(frame)
                continue
            if frame.time is not None:
                audio_start = frame.time if audio_start is None else audio_start
                audio_end = max(audio_end, frame.time - origin + frame.samples / frame.rate)
            chunks += [f.to_ndarray()[0] for f in resampler.resample(frame)]
        if audio is not None:
            chunks += [f.to_ndarray()[0] for f in resampler.resample(None)]

        reached = sampler.end if by_stream else max(sampler.end, audio_end)
        if expected is not None and reached < expected - _tolerance(expected, video):
            raise MediaError(f"truncated or corrupt: decoded {reached:.1f} s of {expected:.1f} s")
        if sampler.end <= 0:
            raise MediaError("no video frames could be decoded")
        duration = expected if by_stream else sampler.end
        if require_audio and not chunks:
            raise MediaError("no audio could be decoded from the audio track")

    n_frames = max(1, round(duration * fps))
    n_samples = round(duration * sample_rate)
    offset = round((audio_start - origin) * sample_rate) if audio_start is not None else 0
    return DecodedVideo(
        frames=sampler.frames(n_frames),
        fps=float(fps),
        audio=_fit(_concat(chunks), offset, n_samples),
        sample_rate=sample_rate,
        duration=float(duration),
    )


def read_frame(path: Path, at: float, max_side: int = 480) -> np.ndarray:
    """The frame shown at ``at`` seconds of a video, or a still image, as (H, W, 3) uint8 RGB
    at its own aspect ratio, scaled down to at most ``max_side`` pixels."""
    path = Path(path)
    try:
        container = _open(path)
    except MediaError as e:
        if str(e) != "an image, not a video":
            raise
        container = av.open(str(path))
    with container:
        stream = _video_stream(container)
        origin = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        if at > 0 and stream.time_base is not None:
            container.seek(int((origin + at) / stream.time_base), stream=stream, backward=True)
        chosen = None
        for frame in _decoded_frames(container, [stream]):
            if chosen is not None and frame.time is not None and frame.time - origin > at:
                break
            chosen = frame
        if chosen is None:
            raise MediaError("no video frames could be decoded")
        scale = min(1.0, max_side / max(chosen.width, chosen.height))
        width, height = max(2, round(chosen.width * scale)), max(2, round(chosen.height * scale))
        return chosen.to_ndarray(format="rgb24", width=width, height=height)


def read_audio(path: Path, sample_rate: int = 16000) -> np.ndarray:
    """The first audio track of any audio or video file as (N,) mono float32 in [-1, 1]."""
    path = Path(path)
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError("no audio track")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks = [
            f.to_ndarray()[0]
            for frame in _decoded_frames(container, [stream])
            for f in resampler.resample(frame)
        ]
        chunks += [f.to_ndarray()[0] for f in resampler.resample(None)]
        stated = stream.duration * stream.time_base if stream.duration else None
        if stated is None and container.duration:
            stated = container.duration / av.time_base
    if not chunks:
        raise MediaError("truncated or corrupt: no audio could be decoded")
    audio = _concat(chunks)
    if stated is not None:  # drop the encoder's padding past the stated end
        audio = audio[: round(stated * sample_rate)]
    return np.clip(audio, -1.0, 1.0)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write (N,) or (C, N) float audio in [-1, 1] as 16-bit PCM WAV (atomically)."""
    path = Path(path)
    samples = np.atleast_2d(np.asarray(audio, dtype=np.float32))  # (C, N)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).round().astype("<i2")
    with _atomic(path) as tmp, wave.open(str(tmp), "wb") as out:
        out.setnchannels(pcm.shape[0])
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.T.tobytes())  # interleaved (N, C)
    return path


def mux_audio(video_in: Path, audio: np.ndarray, sample_rate: int, video_out: Path) -> Path:
    """Copy `video_in`'s video stream (no re-encode) and add `audio` (N,) mono float as the only
    audio track (AAC; Opus for .webm), writing `video_out` atomically."""
    video_out = Path(video_out)
    samples = np.clip(np.asarray(audio, dtype=np.float32).reshape(1, -1), -1.0, 1.0)
    # Opus only runs at 48 kHz and a few divisors; PyAV resamples the frame to the codec rate
    codec, rate = (
        ("libopus", 48000) if video_out.suffix.lower() == ".webm" else ("aac", sample_rate)
    )
    with _open(Path(video_in)) as src, _atomic(video_out) as tmp, av.open(str(tmp), "w") as dst:
        in_video = _video_stream(src)
        out_video = dst.add_stream_from_template(in_video)
        out_audio = dst.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.rate, frame.pts, frame.time_base = sample_rate, 0, Fraction(1, sample_rate)
        pending = deque([*out_audio.encode(frame), *out_audio.encode(None)])
        for packet in src.demux(in_video):
            ts = packet.dts if packet.dts is not None else packet.pts
            if ts is None:  # demuxer's end-of-stream marker
                continue
            due = ts * packet.time_base  # audio due before this video packet goes first
            while pending and pending[0].pts * pending[0].time_base <= due:
                dst.mux(pending.popleft())
            packet.stream = out_video
            dst.mux(packet)
        dst.mux(list(pending))
    return video_out


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """A temporary name next to `path` (same suffix) that replaces it only on success."""
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


class _FrameSampler:
    """Picks, from frames arriving in presentation order, the one nearest each target time
    k / fps, converting only the frames that are picked."""

    def __init__(self, fps: float, size: int, origin: float, frame_step: float) -> None:
        self.fps, self.size, self.origin, self.frame_step = fps, size, origin, frame_step
        self.picked: list[np.ndarray] = []
        self.prev: tuple[float, av.VideoFrame] | None = None
        self.prev_rgb: np.ndarray | None = None
        self.end = 0.0  # seconds of video seen: last frame time + one frame
        self.reformatter = VideoReformatter()  # reused: keeps its swscale context (10x faster)

    def add(self, frame: av.VideoFrame) -> None:
        if frame.time is not None:
            t = frame.time - self.origin
        elif self.prev is not None:
            t = self.prev[0] + self.frame_step
        else:
            t = 0.0
        if self.prev is not None:
            if t <= self.prev[0]:
                return  # duplicate or out-of-order timestamp
            midpoint = (self.prev[0] + t) / 2
            while len(self.picked) / self.fps <= midpoint:
                self.picked.append(self._prev_rgb())
        self.prev, self.prev_rgb = (t, frame), None
        self.end = max(self.end, t + self.frame_step)

    def frames(self, count: int) -> np.ndarray:
        """(count, S, S, 3): the picked frames, the last one held to fill the tail."""
        while len(self.picked) < count:
            self.picked.append(self._prev_rgb())
        return np.stack(self.picked[:count])

    def _prev_rgb(self) -> np.ndarray:
        if self.prev_rgb is None:
            assert self.prev is not None
            rgb = self.reformatter.reformat(
                self.prev[1],
                width=self.size,
                height=self.size,
                format="rgb24",
                interpolation="AREA",
            )
            self.prev_rgb = rgb.to_ndarray()
        return self.prev_rgb


def _open(path: Path) -> av.container.InputContainer:
    """av.open with every failure turned into a one-line MediaError."""
    if not path.exists():
        raise MediaError("file not found")
    if not path.is_file():
        raise MediaError("not a file")
    if path.stat().st_size == 0:
        raise MediaError("empty file (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except PermissionError as e:
        raise MediaError("cannot read file: permission denied") from e
    except av.FFmpegError as e:
        reason = "invalid data" if isinstance(e, av.InvalidDataError) else str(e.strerror).lower()
        raise MediaError(_open_failure(path, reason)) from e
    if container.format.name == "image2" or container.format.name.endswith("_pipe"):
        container.close()
        raise MediaError("an image, not a video")
    return container


def _open_failure(path: Path, reason: str) -> str:
    """Tell a damaged container (recognised header) from a file that is not media at all."""
    with path.open("rb") as f:
        head = f.read(12)
    if head[4:8] == b"ftyp":
        if b"moov" not in _mp4_top_level_boxes(path):
            return "truncated or corrupt MP4/MOV: its 'moov' index is missing (file cut short?)"
        return f"truncated or corrupt MP4/MOV (could not open: {reason})"
    kind = next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)
    if kind is not None:
        return f"truncated or corrupt {kind} file (could not open: {reason})"
    return f"not a media file (could not open: {reason})"


def _mp4_top_level_boxes(path: Path) -> list[bytes]:
    """Types of the complete top-level ISO-BMFF boxes ('ftyp', 'moov', 'mdat', ...)."""
    boxes, pos, total = [], 0, path.stat().st_size
    with path.open("rb") as f:
        while total - pos >= 8:
            f.seek(pos)
            header = f.read(8)
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if size == 1:  # 64-bit size follows
                size = int.from_bytes(f.read(8), "big")
            elif size == 0:  # box runs to the end of the file
                size = total - pos
            if size < 8 or pos + size > total:
                break  # cut off inside this box
            boxes.append(kind)
            pos += size
    return boxes


def _video_stream(container: av.container.InputContainer) -> av.VideoStream:
    if not container.streams.video:
        raise MediaError("no video stream")
    return container.streams.video[0]


def _source_fps(video: av.VideoStream) -> float:
    rate = video.average_rate or video.guessed_rate or video.base_rate
    return float(rate) if rate else 25.0


def _expected_duration(
    container: av.container.InputContainer, video: av.VideoStream
) -> tuple[float | None, bool]:
    """Stated duration and whether it is the video stream's own (else the container's, which
    may include a longer audio track); None when the file does not say."""
    if video.duration:
        return float(video.duration * video.time_base), True
    if container.duration:
        return container.duration / av.time_base, False
    return None, False


def _tolerance(expected: float, video: av.VideoStream) -> float:
    """How much shorter than stated the data may end before we call the file truncated."""
    return max(0.25, 2.0 / _source_fps(video), 0.02 * expected)


def _data_ends(
    path: Path,
    container: av.container.InputContainer,
    video: av.VideoStream,
    expected: float | None,
) -> dict[int, float]:
    """Where each stream's packets end (seconds from the video's start), reading only the last
    couple of seconds when the file can seek there, else the whole file (cheap: no decoding)."""
    origin = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
    if expected is not None and expected > 2.0:
        try:
            target = int((origin + expected - 2.0) / video.time_base)
            container.seek(target, stream=video, any_frame=True)
            ends = _packet_ends(container, origin)
            if video.index in ends:
                return ends
        except av.FFmpegError:
            pass
    with av.open(str(path), metadata_errors="ignore") as fresh:  # a failed seek can wedge it
        return _packet_ends(fresh, origin)


def _packet_ends(container: av.container.InputContainer, origin: float) -> dict[int, float]:
    ends: dict[int, float] = {}
    streams = [*container.streams.video[:1], *container.streams.audio[:1]]
    try:
        for packet in container.demux(streams):
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None or packet.size == 0:
                continue
            end = float((ts + (packet.duration or 0)) * packet.time_base) - origin
            ends[packet.stream.index] = max(ends.get(packet.stream.index, 0.0), end)
    except av.FFmpegError:
        pass  # unreadable past here: what we have is where the data ends
    return ends


def _decoded_frames(
    container: av.container.InputContainer, streams: list[av.stream.Stream]
) -> Iterator[av.VideoFrame | av.AudioFrame]:
    """Decoded frames of `streams` in file order; a packet that fails to decode is skipped and
    a read error ends the stream (the caller checks how far decoding got)."""
    packets = container.demux(streams)
    while True:
        try:
            packet = next(packets)
        except (StopIteration, av.FFmpegError):
            return
        try:
            yield from packet.decode()
        except av.FFmpegError:
            continue


def _concat(chunks: list[np.ndarray]) -> np.ndarray:
    if not chunks:
        return np.zeros(0, np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def _fit(audio: np.ndarray, offset: int, length: int) -> np.ndarray:
    """Shift audio by `offset` samples (positive: starts late) and pad/trim to `length`."""
    audio = audio[-offset:] if offset < 0 else np.concatenate([np.zeros(offset, np.float32), audio])
    out = np.zeros(length, np.float32)
    n = min(length, len(audio))
    out[:n] = np.clip(audio[:n], -1.0, 1.0)
    return out
