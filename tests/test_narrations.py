"""Narration parsers: every supported format, and one clear message per bad entry."""

import json
from pathlib import Path

import pytest

from indexer.narrations import (
    Narration,
    NarrationError,
    clean_text,
    find_sidecar,
    load_narrations,
    parse_ego4d,
    parse_epic_csv,
    parse_subtitles,
)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_ego4d_merges_passes_and_sorts(tmp_path: Path) -> None:
    data = {
        "v1": {
            "narration_pass_1": {
                "narrations": [
                    {"timestamp_sec": 5.5, "narration_text": "#C C opens the drawer"},
                    {"timestamp_sec": 1.25, "narration_text": "#C C cuts the carrot"},
                ]
            },
            "narration_pass_2": {
                "narrations": [
                    {"timestamp_sec": 1.25, "narration_text": "#C C cuts the carrot"},  # dup
                    {"timestamp_sec": 3, "narration_text": "#C C washes a pan"},
                ]
            },
        },
        "v2": {"status": "redacted"},
    }
    parsed = load_narrations(write(tmp_path / "narrations.json", json.dumps(data)))
    assert parsed.errors == []
    assert parsed.items == [
        Narration("v1", 1.25, None, "#C C cuts the carrot"),
        Narration("v1", 3.0, None, "#C C washes a pan"),
        Narration("v1", 5.5, None, "#C C opens the drawer"),
    ]


def test_ego4d_bad_entries_are_reported_and_skipped(tmp_path: Path) -> None:
    good = {"timestamp_sec": 2.0, "narration_text": "#C C stirs"}
    entries = [
        good,
        {"narration_text": "no time"},
        {"timestamp_sec": 1.0},
        {"timestamp_sec": "3.2", "narration_text": "string time"},
        {"timestamp_sec": -1.0, "narration_text": "before the start"},
        {"timestamp_sec": 4.0, "narration_text": "   "},
        "not an object",
    ]
    data = {"vid": {"narration_pass_1": {"narrations": entries}}, "bad": [1, 2]}
    parsed = parse_ego4d(write(tmp_path / "n.json", json.dumps(data)))
    assert parsed.items == [Narration("vid", 2.0, None, "#C C stirs")]
    assert parsed.errors == [
        "n.json: video vid narration_pass_1[1]: missing 'timestamp_sec'",
        "n.json: video vid narration_pass_1[2]: missing 'narration_text'",
        "n.json: video vid narration_pass_1[3]: timestamp_sec must be a number, got '3.2'",
        "n.json: video vid narration_pass_1[4]: negative timestamp -1",
        "n.json: video vid narration_pass_1[5]: empty narration text",
        "n.json: video vid narration_pass_1[6]: expected an object, got str",
        "n.json: video bad: expected an object, got list",
    ]


def test_ego4d_nan_timestamp(tmp_path: Path) -> None:
    path = write(
        tmp_path / "n.json",
        '{"v": {"narration_pass_1": {"narrations": '
        '[{"timestamp_sec": NaN, "narration_text": "x"}]}}}',
    )
    parsed = parse_ego4d(path)
    assert parsed.items == [] and "not a finite number" in parsed.errors[0]


def test_ego4d_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "narrations.json", '{\n  "v1": {\n    "narration_pass_1": ,\n}')
    with pytest.raises(NarrationError, match=r"^narrations.json: invalid JSON at line 3 column"):
        parse_ego4d(path)
    with pytest.raises(NarrationError, match="expected an object"):
        parse_ego4d(write(tmp_path / "list.json", "[1, 2]"))


EPIC_CSV = """\
participant_id,video_id,narration_id,start_timestamp,stop_timestamp,narration,verb,noun
P01,P01_01,P01_01_0,00:00:01.089,00:00:02.370,open door,open,door
P01,P01_01,P01_01_1,00:00:02.629,00:00:03.529,turn on light,turn-on,light
P01,P01_01,P01_01_2,1:xx,00:00:05.00,take bag,take,bag
P01,P01_01,P01_01_3,00:00:09.00,00:00:07.00,put bag,put,bag
P01,P01_01,P01_01_4,00:00:10.00,00:00:11.00,,,
P01,P01_02,P01_02_0,01:02:03.50,01:02:04.00,"wash, rinse",wash,plate
"""


def test_epic_csv_good_and_bad_lines(tmp_path: Path) -> None:
    parsed = load_narrations(write(tmp_path / "epic.csv", EPIC_CSV))
    assert parsed.items == [
        Narration("P01_01", 1.089, 2.37, "open door"),
        Narration("P01_01", 2.629, 3.529, "turn on light"),
        Narration("P01_02", 3723.5, 3724.0, "wash, rinse"),
    ]
    assert parsed.errors == [
        "epic.csv line 4: bad start_timestamp '1:xx'",
        "epic.csv line 5: end 7 is before start 9",
        "epic.csv line 6: empty narration text",
    ]


def test_epic_csv_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path / "epic.csv", "video_id,start_timestamp,narration\nP01,00:00:01.00,x\n")
    with pytest.raises(NarrationError, match=r"^epic.csv: missing required column\(s\): stop"):
        parse_epic_csv(path)
    with pytest.raises(NarrationError, match="empty file"):
        parse_epic_csv(write(tmp_path / "empty.csv", ""))


def test_srt_with_bom_crlf_and_multiline_cues(tmp_path: Path) -> None:
    srt = (
        "1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>She opens</i> the tap\r\nand water runs\r\n\r\n"
        "2\r\n00:00:03,000 --> 00:00:04,000\r\nA door &amp; a bell\r\n\r\n\r\n"
        "3\r\n00:00:05,000 -> 00:00:06,000\r\nbroken arrow\r\n\r\n"
        "4\r\n00:00:07,000 --> 00:00:06,000\r\nends early\r\n"
    )
    path = write(tmp_path / "kitchen.srt", "\ufeff" + srt)
    parsed = load_narrations(path)
    assert parsed.items == [
        Narration("kitchen", 1.0, 2.5, "She opens the tap\nand water runs"),
        Narration("kitchen", 3.0, 4.0, "A door & a bell"),
    ]
    assert parsed.errors == [
        "kitchen.srt line 11: cue has no timing line ('start --> end')",
        "kitchen.srt line 16: end 6 is before start 7",
    ]


def test_vtt_header_notes_and_cue_settings(tmp_path: Path) -> None:
    vtt = """WEBVTT - narrations
Kind: captions

NOTE this block is a comment
that spans two lines

STYLE
::cue { color: yellow }

intro
00:01.500 --> 00:03.000 align:start position:10%
<v Narrator>pours the water</v>

00:00:04.000 --> 00:00:05.250 line:0
a dog barks
outside
"""
    parsed = parse_subtitles(write(tmp_path / "walk.vtt", vtt))
    assert parsed.errors == []
    assert parsed.items == [
        Narration("walk", 1.5, 3.0, "pours the water"),
        Narration("walk", 4.0, 5.25, "a dog barks\noutside"),
    ]


def test_load_narrations_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(NarrationError, match=r"unknown narration format '\.txt'"):
        load_narrations(write(tmp_path / "notes.txt", "hello"))
    with pytest.raises(NarrationError, match="file not found"):
        load_narrations(tmp_path / "missing.json")


def test_find_sidecar(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    assert find_sidecar(video) is None
    write(tmp_path / "clip.vtt", "WEBVTT\n")
    assert find_sidecar(video) == tmp_path / "clip.vtt"
    write(tmp_path / "clip.srt", "")
    assert find_sidecar(video) == tmp_path / "clip.srt"
    assert find_sidecar(tmp_path / "other.mp4") is None


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("#C C cuts the carrot", "cuts the carrot"),
        ("#c c picks up the knife", "picks up the knife"),
        ("C  opens\tthe   fridge ", "opens the fridge"),
        ("#O man X hands C the cup #unsure", "man X hands C the cup"),
        ("#Summary C was cooking in the kitchen", "was cooking in the kitchen"),
        ("close the drawer", "close the drawer"),
        ("Cats purr", "Cats purr"),
        ("#C C", "C"),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean
