"""Media probing and decoding: what the indexer accepts, and the reason it gives when it won't."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from indexer.media import MediaError, decode, mux_audio, probe, read_audio, write_wav


def dominant_hz(audio: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.argmax(spectrum) * sample_rate / len(audio))


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".mov"])
def test_decode_round_trip(tmp_path: Path, make_video, suffix: str) -> None:
    path = make_video(tmp_path / f"v{suffix}", seconds=3.0, fps=15, tone_hz=440.0)
    info = probe(path)
    assert (info.width, info.height) == (96, 72)
    assert info.duration == pytest.approx(3.0, abs=0.05)
    assert info.fps == pytest.approx(15.0)
    assert info.audio_codec is not None and info.sample_rate

    decoded = decode(path, fps=8.0, size=32, sample_rate=16000)
    assert decoded.frames.shape == (24, 32, 32, 3) and decoded.frames.dtype == np.uint8
    assert decoded.audio.dtype == np.float32
    assert len(decoded.audio) == pytest.approx(3.0 * 16000, abs=16)
    assert np.abs(decoded.audio).max() <= 1.0
    assert dominant_hz(decoded.audio, 16000) == pytest.approx(440.0, abs=2.0)


def test_frames_follow_the_moving_square(tmp_path: Path, make_video) -> None:
    path = make_video(tmp_path / "v.mp4", seconds=2.0, fps=15, size=(96, 72))
    frames = decode(path, fps=4.0, size=48).frames  # (8, 48, 48, 3)
    red = (frames[..., 0] > 150) & (frames[..., 1] < 100)
    columns = [np.nonzero(mask.any(axis=0))[0].mean() for mask in red]
    assert np.all(np.diff(columns) > 0), columns  # the red square moves right, frame by frame


def test_frames_resampled_up_repeat_source_frames(tmp_path: Path, make_video) -> None:
    path = make_video(tmp_path / "v.mp4", seconds=1.0, fps=4)  # frames at 0, .25, .5, .75
    frames = decode(path, fps=10.0, size=16).frames
    assert len(frames) == 10
    assert np.array_equal(frames[2], frames[3])  # t=.2 and .3 are both nearest .25
    assert not np.array_equal(frames[3], frames[4])  # t=.4 is nearest .5


def test_variable_frame_rate_uses_timestamps(tmp_path: Path) -> None:
    times = np.array([0.0, 0.1, 0.52, 0.55, 1.2, 1.9])  # seconds, irregular on purpose
    path = tmp_path / "vfr.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 40, np.uint8), "rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    frames = decode(path, fps=10.0, size=8, require_audio=False).frames
    shown = np.rint(frames[..., 0].mean(axis=(1, 2)) / 40).astype(int)  # source frame index
    targets = np.arange(len(frames)) / 10.0
    nearest = np.abs(times[None, :] - targets[:, None]).argmin(axis=1)
    assert shown.tolist() == nearest.tolist()


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(MediaError, match=r"empty file \(0 bytes\)"):
        probe(path)


def test_text_file_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 20)
    with pytest.raises(MediaError, match=r"^not a media file \(could not open: invalid data\)$"):
        probe(path)
    with pytest.raises(MediaError, match="not a media file"):
        decode(path)


def test_truncated_mp4_without_index(tmp_path: Path, make_video) -> None:
    path = make_video(tmp_path / "v.mp4", seconds=4.0)  # PyAV writes the moov index last
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        MediaError, match=r"truncated or corrupt MP4/MOV: .*'moov' index is missing"
    ):
        probe(path)


def test_truncated_mp4_with_index_first(tmp_path: Path) -> None:
    path = tmp_path / "faststart.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        noise = np.random.default_rng(0).integers(0, 255, (100, 48, 64, 3), dtype=np.uint8)
        for img in noise:  # 10 s of noise: bytes spread evenly over time
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=r"truncated or corrupt: data ends at \d\.\d s of 10\.0 s"):
        probe(path)
    with pytest.raises(MediaError, match=r"truncated or corrupt: decoded \d\.\d s of 10\.0 s"):
        decode(path, require_audio=False)


def test_video_without_audio(tmp_path: Path, make_video) -> None:
    path = make_video(tmp_path / "silent.mp4", seconds=2.0, audio=False)
    assert probe(path).audio_codec is None
    with pytest.raises(MediaError, match="^no audio track$"):
        decode(path)
    decoded = decode(path, fps=5.0, require_audio=False)
    assert decoded.frames.shape[0] == 10
    assert len(decoded.audio) == 2 * 16000 and not decoded.audio.any()


def test_audio_only_file(tmp_path: Path, make_video) -> None:
    path = make_video(tmp_path / "sound.mp4", seconds=2.0, video=False)
    with pytest.raises(MediaError, match="^no video stream$"):
        probe(path)
    with pytest.raises(MediaError, match="^no video stream$"):
        decode(path)
    audio = read_audio(path, sample_rate=8000)  # still usable as an audio query
    assert len(audio) == pytest.approx(2 * 8000, abs=8)
    assert dominant_hz(audio, 8000) == pytest.approx(440.0, abs=2.0)


def test_read_audio_from_video_and_wav(tmp_path: Path, make_video) -> None:
    video = make_video(tmp_path / "v.webm", seconds=1.0, tone_hz=1000.0)
    assert dominant_hz(read_audio(video), 16000) == pytest.approx(1000.0, abs=3.0)
    tone = (0.25 * np.sin(2 * np.pi * 300 * np.arange(8000) / 8000)).astype(np.float32)
    wav = write_wav(tmp_path / "tone.wav", tone, 8000)
    back = read_audio(wav, sample_rate=8000)
    assert np.abs(back - tone).max() < 1e-3  # 16-bit PCM round trip
    with pytest.raises(MediaError, match="no audio track"):
        read_audio(make_video(tmp_path / "silent.mp4", seconds=1.0, audio=False))


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_mux_audio_adds_a_soundtrack(tmp_path: Path, make_video, suffix: str) -> None:
    silent = make_video(tmp_path / f"silent{suffix}", seconds=2.0, audio=False)
    tone = (0.3 * np.sin(2 * np.pi * 700 * np.arange(32000) / 16000)).astype(np.float32)
    out = mux_audio(silent, tone, 16000, tmp_path / f"scored{suffix}")
    info = probe(out)
    assert info.audio_codec is not None and info.video_codec == probe(silent).video_codec
    decoded = decode(out, fps=5.0)
    assert decoded.frames.shape[0] == 10
    assert dominant_hz(decoded.audio, 16000) == pytest.approx(700.0, abs=3.0)
    assert not list(tmp_path.glob(".tmp-*"))  # temp file renamed into place
