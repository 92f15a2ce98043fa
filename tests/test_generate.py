"""`foley generate` through the real CLI on the tiny home: outputs, lengths, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from sqlalchemy import update

from indexer.catalog import Catalog, ModelVersion
from indexer.config import FoleyConfig
from indexer.media import read_audio
from models.avldm.config import AVLDMConfig, VocoderConfig
from models.avldm.pipeline import AVLDMPipeline
from searchd.engine import Engine
from searchd.evaluate import load_ground_truth
from searchd.generate import Generator, crossfade, window_starts
from searchd.generation_eval import evaluate_generation
from ui.cli import main


def run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(["generate", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in argv else None), err


def generate(capsys, home: Path, video: Path, out: Path, *options: str) -> dict:
    """Run ``foley generate ... --json`` that must succeed; its JSON document."""
    code, doc, err = run(
        capsys, "--home", str(home), "--video", str(video), "--out", str(out), *options, "--json"
    )
    assert code == 0, err
    return doc


def audio_seconds(path: Path) -> float:
    """Seconds of audio a player plays from a media file (the codec's padding dropped)."""
    return len(read_audio(path, 16000)) / 16000


def video_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return float(stream.duration * stream.time_base)


@pytest.fixture(scope="module")
def clip_ids(tiny_home: Path) -> list[str]:
    return [r.clip_id for r in Catalog(FoleyConfig.for_home(tiny_home).catalog_url).clips()]


def test_mp4_out_is_the_video_with_a_soundtrack_as_long_as_it(
    tiny_home, make_video, tmp_path, capsys
):
    silent = make_video(tmp_path / "silent.mp4", seconds=3.4, audio=False)
    out = tmp_path / "scored.mp4"
    doc = generate(capsys, tiny_home, silent, out, "--steps", "2")
    assert doc["mode"] == "joint" and "joint" in doc["ambient"]["reason"]
    assert doc["ambient"]["clip_id"] and doc["windows"] == 2 and doc["out"] == str(out)
    assert doc["candidates"] == 6  # the best of six samples per window, by default
    with av.open(str(out)) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
    assert audio_seconds(out) == pytest.approx(video_seconds(out), abs=0.05)
    assert audio_seconds(out) == pytest.approx(3.4, abs=0.05)


def test_wav_action_mode_and_a_chosen_ambient(tiny_home, clip_ids, make_video, tmp_path, capsys):
    silent = make_video(tmp_path / "silent.mp4", seconds=2.0, audio=False)
    out = tmp_path / "action.wav"
    doc = generate(
        capsys, tiny_home, silent, out, "--mode", "action", "--steps", "2", "--candidates", "1"
    )
    assert doc["mode"] == "action" and "quietest" in doc["ambient"]["reason"]
    assert doc["candidates"] == 1
    assert audio_seconds(out) == pytest.approx(2.0, abs=0.01)
    doc = generate(capsys, tiny_home, silent, out, "--ambient", clip_ids[3], "--steps", "2")
    assert doc["ambient"]["clip_id"] == clip_ids[3] and doc["ambient"]["reason"] == "given"


def test_a_tenth_of_a_second_and_ten_minutes(tiny_home, make_video, tmp_path, capsys):
    short = make_video(tmp_path / "short.mp4", seconds=0.1, fps=30, audio=False)
    generate(capsys, tiny_home, short, tmp_path / "short.wav", "--steps", "1")
    assert audio_seconds(tmp_path / "short.wav") == pytest.approx(0.1, abs=0.04)
    long = make_video(tmp_path / "long.mp4", seconds=600, fps=1, size=(32, 32), audio=False)
    doc = generate(
        capsys, tiny_home, long, tmp_path / "long.mp4", "--steps", "1", "--candidates", "2"
    )
    assert doc["windows"] == 400 and doc["candidates"] == 2  # 2 s windows every 1.5 s
    assert audio_seconds(tmp_path / "long.mp4") == pytest.approx(600, abs=0.1)


def test_bad_input_gets_one_line_errors(tiny_home, make_video, tmp_path, capsys):
    silent = make_video(tmp_path / "silent.mp4", seconds=2.0, audio=False)
    home = ["--home", str(tiny_home)]
    cases = [
        (
            ["--video", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "a.wav")],
            "no such file",
        ),
        (["--video", str(silent), "--out", str(tmp_path / "a.ogg")], ".wav or .mp4"),
        (["--video", str(silent), "--out", str(tmp_path / "no" / "a.wav")], "no folder"),
        (
            ["--video", str(silent), "--out", str(tmp_path / "a.wav"), "--ambient", "v9@9"],
            "no clip",
        ),
        (["--video", str(silent), "--out", str(tmp_path / "a.wav"), "--steps", "0"], "steps"),
        (
            ["--video", str(silent), "--out", str(tmp_path / "a.wav"), "--candidates", "0"],
            "candidates",
        ),
    ]
    sound_only = make_video(tmp_path / "sound.m4a", seconds=1.0, video=False)
    cases.append((["--video", str(sound_only), "--out", str(tmp_path / "a.wav")], "video"))
    taken = tmp_path / "taken.wav"
    taken.mkdir()  # a folder where the output should go (chmod does not stop root)
    cases.append((["--video", str(silent), "--out", str(taken), "--steps", "1"], "cannot write"))
    for argv, words in cases:
        code, _, err = run(capsys, *home, *argv)
        assert code == 1, argv
        assert err.startswith("foley generate: error:") and words in err, err
        assert len(err.strip().splitlines()) == 1
    code, _, err = run(
        capsys,
        "--home",
        str(tmp_path / "nohome"),
        "--video",
        str(silent),
        "--out",
        str(tmp_path / "a.wav"),
    )
    assert code == 1 and "foley build" in err


def test_windows_cover_the_video_and_crossfade_keeps_a_steady_signal():
    assert window_starts(1.0, 2.0, 0.5) == [0.0]
    starts = window_starts(7.0, 2.0, 0.5)
    assert starts[0] == 0.0 and starts[-1] == 5.0
    assert all(0 < b - a <= 1.5 for a, b in zip(starts, starts[1:], strict=False))
    rate = 100
    pieces = np.ones((len(starts), 200))
    joined = crossfade(pieces, starts, rate, 700)
    assert joined.shape == (700,) and np.allclose(joined, 1.0)
    ramps = np.stack([np.full(200, float(i)) for i in range(len(starts))])
    mixed = crossfade(ramps, starts, rate, 700)
    assert np.all(np.diff(mixed) >= -1e-6)  # each window hands over to the next smoothly


def test_each_window_keeps_the_sample_in_time_with_the_predicted_onsets():
    """Three windows, two samples each: the kept one has its click where the onset predictor
    expects one (0.5 s, 1.5 s), or no click where it expects none; ties keep the first."""
    config = AVLDMConfig(vocoder=VocoderConfig(kind="griffin_lim"))
    pipeline = AVLDMPipeline.create(config, video_dim=8)

    class Expecting:  # the onset predictor's answer for the three windows
        def onset_times(self, video: torch.Tensor) -> list[list[float]]:
            return [[0.5], [1.5], []]

    pipeline.onsets = Expecting()  # type: ignore[assignment]
    generator = Generator.__new__(Generator)
    generator.pipeline = pipeline
    mel = config.mel
    silence = (np.log(mel.log_floor) - mel.log_mean) / mel.log_std

    def window(click: float | None) -> torch.Tensor:
        spectrogram = torch.full((mel.n_mels, mel.frames), silence)
        if click is not None:
            at = int(click * mel.sample_rate / mel.hop)
            spectrogram[:, at : at + 4] = torch.tensor([1.5, 1.0, 0.5, 0.0])
        return spectrogram

    late_early = torch.stack([window(1.5), window(0.5), window(1.0)])
    in_time = torch.stack([window(0.5), window(1.5), window(None)])
    video = torch.zeros(3, 16, 8)
    chosen, waves = generator.in_sync(torch.stack([late_early, in_time]), video)
    assert torch.equal(chosen, in_time)
    np.testing.assert_allclose(waves, generator.vocode(in_time), atol=1e-6)  # heard as chosen
    assert torch.equal(generator.in_sync(torch.stack([in_time, late_early]), video)[0], in_time)
    later = late_early.roll(20, dims=-1)  # clicks 0.31 s later: as far from the predictions
    assert torch.equal(generator.in_sync(torch.stack([late_early, later]), video)[0], late_early)


def test_eval_generation_part_scores_each_system_against_its_baselines(
    tiny_home, tiny_corpus, tmp_path
):
    """The held-out list is what eval scores on; here one video of the tiny home."""
    home = tmp_path / "home"
    shutil.copytree(tiny_home, home)
    config = FoleyConfig.for_home(home)
    catalog = Catalog(config.catalog_url)
    record = catalog.current_model("avldm")
    folder = home / "models" / Path(record.path).name
    with catalog.session() as session, session.begin():  # the copy's own pipeline folder
        session.execute(
            update(ModelVersion)
            .where(ModelVersion.version == record.version)
            .values(path=str(folder))
        )
    document = json.loads((folder / "pipeline.json").read_text())
    document["info"]["holdout_videos"] = [catalog.clips()[0].video_uid]
    (folder / "pipeline.json").write_text(json.dumps(document))
    engine = Engine(home)
    rows = engine.catalog.clips()
    truth = load_ground_truth(tiny_corpus / "labels.json", rows)
    report, baselines = evaluate_generation(engine, truth, rows)
    assert report is not None and report["cases"] >= 2
    systems = [report, report["action_mode"], *report["resynthesis"].values()]
    systems += [b["generation"] for b in baselines.values()]
    assert set(baselines) == {"unconditioned", "retrieval_only", "griffin_lim"}
    for figures in systems:
        assert set(figures) >= {"class_accuracy", "frechet", "ambient_match", "onset_sync"}
        assert figures["frechet"] >= 0 and -1 <= figures["ambient_match"] <= 1
    assert report["real_audio"]["frechet"] == pytest.approx(0, abs=1e-6)
