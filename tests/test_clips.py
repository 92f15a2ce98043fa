"""Clip cutting: narration-centred windows, stride windows over the uncovered stretches."""

from dataclasses import dataclass

from indexer.clips import cut_windows
from indexer.config import ClipPolicy


@dataclass(frozen=True)
class Said:
    start: float
    end: float | None
    text: str


POLICY = ClipPolicy(seconds=2.0, stride=2.0, min_gap=1.0)


def test_narrations_get_centred_windows_and_gaps_get_stride_windows():
    windows, errors = cut_windows(20.0, [Said(5.0, None, "a"), Said(6.0, None, "b")], POLICY)
    assert errors == []
    narrated = [w for w in windows if w.source == "narration"]
    assert [(w.start, w.end, w.narration) for w in narrated] == [(4.0, 6.0, "a"), (5.0, 7.0, "b")]
    stride = [w for w in windows if w.source == "stride"]
    # 0-4 s and 7-20 s are uncovered: every second of them lies in some stride window
    covered = [(w.start, w.end) for w in windows]
    for t in [0.1, 1.5, 3.9, 7.5, 12.0, 19.9]:
        assert any(s <= t <= e for s, e in covered), t
    assert all(w.narration is None for w in stride)
    assert all(abs((w.end - w.start) - 2.0) < 1e-9 for w in windows)


def test_windows_stay_inside_the_video():
    windows, _ = cut_windows(10.0, [Said(0.2, None, "start"), Said(9.9, None, "end")], POLICY)
    assert min(w.start for w in windows) >= 0.0
    assert max(w.end for w in windows) <= 10.0


def test_span_narrations_centre_on_their_middle():
    windows, _ = cut_windows(30.0, [Said(10.0, 14.0, "span")], POLICY)
    (narrated,) = [w for w in windows if w.source == "narration"]
    assert (narrated.start, narrated.end) == (11.0, 13.0)


def test_narration_past_the_end_is_an_error_not_a_clip():
    windows, errors = cut_windows(10.0, [Said(12.5, None, "late"), Said(3.0, None, "ok")], POLICY)
    assert [w.narration for w in windows if w.source == "narration"] == ["ok"]
    assert len(errors) == 1 and "past the video's end" in errors[0] and "12.50" in errors[0]


def test_unnarrated_video_gets_fixed_stride_clips():
    windows, errors = cut_windows(9.0, [], POLICY)
    assert errors == []
    assert len(windows) >= 4 and all(w.source == "stride" for w in windows)
    assert windows[0].start == 0.0 and windows[-1].end == 9.0


def test_video_shorter_than_a_clip_gets_one_clip():
    windows, _ = cut_windows(1.5, [], POLICY)
    assert [(w.start, w.end) for w in windows] == [(0.0, 1.5)]
