"""Behaviour of the MC3 models package: towers, losses, training, checkpoints."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import save_tiny_vit
from safetensors.torch import load_file, save_file

from models.audio import AudioEncoder
from models.augment import augment_batch
from models.checkpoint import WEIGHTS_FILE, load_model, load_train_state, save_model
from models.config import (
    AudioTowerConfig,
    ClipShape,
    LossConfig,
    MC3Config,
    TextTowerConfig,
    TrainConfig,
    VideoTowerConfig,
    from_dict,
    to_dict,
)
from models.factory import create_model, get_config, list_configs
from models.losses import agreement_weights, consensus_loss, info_nce, mc3_loss, pairwise_terms
from models.text import SentenceEncoder, minilm_dir
from models.tokenizer import WordPieceTokenizer
from models.train import LOG_EVERY, GroupedSampler, LossTracker, resolve_device, train_mc3
from models.video import OpenClipVideoEncoder

torch.set_num_threads(2)

TINY = MC3Config(
    embed_dim=32,
    clip=ClipShape(frames=4, frame_size=32, seconds=0.5),
    video=VideoTowerConfig(width=16),
    audio=AudioTowerConfig(n_mels=32, width=16),
    text=TextTowerConfig(max_tokens=16),
    loss=LossConfig(consensus_warmup_steps=40),
)
ACTIONS = [
    ("hammers", "nail"),
    ("pours", "water"),
    ("rings", "bell"),
    ("saws", "plank"),
    ("reads", "book"),
    ("looks at", "phone"),
    ("holds", "cup"),
    ("watches", "bird"),
]
SOUNDING = np.array([True] * 4 + [False] * 4)  # the last four actions make no sound
SCENE_RGB = np.array([[90, 40, 40], [40, 90, 40], [40, 40, 90], [90, 90, 40]])
ACTION_RGB = np.array(
    [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [255, 255, 0],
        [255, 0, 255],
        [0, 255, 255],
        [255, 255, 255],
        [255, 128, 0],
    ]
)


class ToyClips(torch.utils.data.Dataset):
    """Action c: a square of its colour moving over a scene-tinted picture; the audio is the
    scene's ambient noise, plus the action's tone if it sounds, plus (``off_screen``, 25% of
    clips) a tone with no visible source. Half the clips are narrated, in two wordings."""

    def __init__(self, model, n=64, actions=4, off_screen=False, seed=0):
        rng = np.random.default_rng(seed)
        clip, s = model.config.clip, model.config.clip.frame_size
        self.labels = np.arange(n) % actions
        scenes = rng.integers(0, 4, n)
        self.has_text = rng.random(n) < 0.5
        texts = [
            (f"C {v} the {o}" if rng.random() < 0.5 else f"the person {v} a {o}") if h else ""
            for (v, o), h in zip([ACTIONS[c] for c in self.labels], self.has_text, strict=True)
        ]
        self.text = model.prepare_text(texts)
        t = np.arange(clip.audio_samples) / clip.sample_rate
        self.frames, self.audio = [], []
        for c, scene in zip(self.labels, scenes, strict=True):
            frames = SCENE_RGB[scene] + rng.integers(-20, 20, (clip.frames, s, s, 3))
            x0 = rng.integers(0, s - 8)
            for f in range(clip.frames):
                x, y = (x0 + 3 * f + 2 * c) % (s - 8), 4 * (c % 4)
                frames[f, y : y + 8, x : x + 8] = ACTION_RGB[c]
            self.frames.append(np.clip(frames, 0, 255).astype(np.uint8))
            width = 2 + 6 * scene  # each scene's ambience: differently low-passed noise
            ambience = np.convolve(rng.standard_normal(t.size), np.ones(width) / width, "same")
            wave = 0.2 * ambience / ambience.std()
            if SOUNDING[c]:
                wave += 0.3 * np.sin(2 * np.pi * (400 + 250 * c) * t + rng.uniform(0, 6))
            if off_screen and rng.random() < 0.25:
                wave += 0.3 * np.sin(2 * np.pi * rng.uniform(300, 2500) * t)
            self.audio.append(wave.astype(np.float32))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {
            "frames": self.frames[i],
            "audio": self.audio[i],
            "text": self.text[i],
            "has_text": bool(self.has_text[i]),
        }


def embed_all(model, data: ToyClips) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        v = model.encode_video(torch.from_numpy(np.stack(data.frames)))
        a = model.encode_audio(torch.from_numpy(np.stack(data.audio)))
        t = model.encode_text(data.text)
    return v, a, t


# ---- text ---------------------------------------------------------------------------------


def test_minilm_matches_sentence_transformers():
    st = pytest.importorskip("sentence_transformers")
    sentences = [
        "C cuts the carrot with a knife.",
        "A dog barks somewhere outside!",
        "Café déjà-vu: naïve résumé",
        "",
        "hammering; sawing, drilling (loudly)",
    ]
    reference = torch.from_numpy(
        st.SentenceTransformer(str(minilm_dir()), device="cpu").encode(sentences)
    )
    ours = SentenceEncoder.load("cpu").embed(sentences, batch_size=2)  # mixed-length batches
    cos = F.cosine_similarity(ours, reference, dim=-1)
    assert cos.min() >= 0.999, cos


def test_tokenizer_tricky_strings():
    tok = WordPieceTokenizer(minilm_dir() / "vocab.txt", max_tokens=8)
    assert tok.tokenize("Café Déjà-vu!") == ["cafe", "de", "##ja", "-", "vu", "!"]
    assert tok.tokenize("HELLO,world") == ["hello", ",", "world"]
    assert tok.tokenize("snowboarding") == ["snow", "##boarding"]  # word pieces
    assert tok.tokenize("\u2603 \U0001f600") == ["[UNK]", "[UNK]"]  # not in the vocabulary
    assert tok.tokenize("a\x00b\u200bc\tdé") == ["abc", "de"]  # control chars dropped
    assert tok.tokenize("x" * 101) == ["[UNK]"]  # over-long word
    ids = tok(["one two three four five six seven eight nine", ""])
    assert ids.shape == (2, 8)  # truncated to max_tokens; padded to the longest row
    assert ids[0, 0] == tok.cls_id and ids[0, -1] == tok.sep_id
    assert ids[1].tolist()[:3] == [tok.cls_id, tok.sep_id, tok.pad_id]


def test_tokenizer_matches_huggingface():
    tokenizers = pytest.importorskip("tokenizers")
    reference = tokenizers.Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    reference.no_truncation()
    reference.no_padding()
    tok = WordPieceTokenizer(minilm_dir() / "vocab.txt", max_tokens=512)
    for text in [
        "Ünïcödé ÅNGSTRÖM ﬁne",
        "日本語 and 中文",
        "don't $5.00 #C",
        "İstanbul ß",
        "tab\there\nnew\u2028line",
        "C opens the drawer — slowly…",
        "a\ue000b",
    ]:
        assert tok.encode(text) == reference.encode(text).ids, text


# ---- towers and configs -------------------------------------------------------------------


MC3_CONFIGS = [name for name in list_configs() if isinstance(get_config(name), MC3Config)]


@pytest.mark.parametrize("name", MC3_CONFIGS)
def test_every_config_builds_and_encodes(name):
    config = get_config(name)
    assert from_dict(MC3Config, json.loads(json.dumps(to_dict(config)))) == config
    model = create_model(config, "cpu").eval()
    clip, B = config.clip, 2
    frames = torch.randint(
        0, 256, (B, clip.frames, clip.frame_size, clip.frame_size, 3), dtype=torch.uint8
    )
    wave = 0.1 * torch.randn(B, clip.audio_samples)
    prepared = model.prepare_text(["C opens the fridge", ""])  # empty text still gets a row
    with torch.no_grad():
        embs = [model.encode_video(frames), model.encode_audio(wave), model.encode_text(prepared)]
    for e in embs:
        assert e.shape == (B, config.embed_dim)
        assert torch.allclose(e.norm(dim=-1), torch.ones(B), atol=1e-5)
    assert model.consensus_score(embs[1], embs[0]).shape == (B,)


def test_audio_checkpoint_loads(tmp_path):
    config = AudioTowerConfig(n_mels=32, width=16)
    source = AudioEncoder(config, ClipShape(), 24).eval()
    torch.save(source.state_dict(), tmp_path / "audio.pt")
    save_file(source.state_dict(), str(tmp_path / "audio.safetensors"))
    wave = 0.1 * torch.randn(2, 8000)
    for name in ("audio.pt", "audio.safetensors"):
        loaded = AudioEncoder(
            dataclasses.replace(config, checkpoint=str(tmp_path / name)), ClipShape(), 24
        ).eval()
        with torch.no_grad():
            assert torch.equal(loaded(wave), source(wave))


def test_open_clip_video_tower_loads_local_checkpoint(tmp_path):
    pytest.importorskip("open_clip")
    source, checkpoint = save_tiny_vit(tmp_path)

    tower = OpenClipVideoEncoder("foley-tiny-vit", str(checkpoint), embed_dim=16)
    saved = source.visual.state_dict()
    for key, value in tower.visual.state_dict().items():
        assert torch.equal(value, saved[key]), key
    frames = torch.randint(0, 256, (2, 3, 40, 40, 3), dtype=torch.uint8)
    assert tower(frames).shape == (2, 16)
    assert not any(p.requires_grad for p in tower.visual.parameters())  # frozen by default

    # inside MC3, the frozen CLIP weights stay out of the checkpoint and come back from the path
    config = dataclasses.replace(
        TINY,
        video=VideoTowerConfig(
            kind="open_clip",
            open_clip_model="foley-tiny-vit",
            open_clip_pretrained=str(checkpoint),
        ),
    )
    model = create_model(config).eval()
    save_model(model, tmp_path / "ckpt")
    saved_keys = load_file(tmp_path / "ckpt" / WEIGHTS_FILE).keys()
    assert not any(k.startswith("video.visual.") for k in saved_keys)
    with torch.no_grad():
        assert torch.allclose(
            load_model(tmp_path / "ckpt").encode_video(frames),
            model.encode_video(frames),
            atol=1e-6,
        )


# ---- losses -------------------------------------------------------------------------------


def test_info_nce_chance_and_perfect():
    B = 32
    x, y = F.normalize(torch.randn(B, 256), dim=-1), F.normalize(torch.randn(B, 256), dim=-1)
    assert info_nce(x, y, 1.0).item() == pytest.approx(math.log(B), abs=0.1)
    eye = torch.eye(B, 64)
    assert info_nce(eye, eye, 100.0).item() < 1e-6


def test_info_nce_mask_and_weights():
    B = 8
    x, y = F.normalize(torch.randn(B, 16), dim=-1), F.normalize(torch.randn(B, 16), dim=-1)
    mask = torch.tensor([True, False] * 4)
    # masked-out clips are neither anchors nor negatives
    assert torch.allclose(info_nce(x, y, 5.0, mask=mask), info_nce(x[mask], y[mask], 5.0))
    y2 = y.clone()
    y2[~mask] = F.normalize(torch.randn(4, 16), dim=-1)
    assert torch.allclose(info_nce(x, y, 5.0, mask=mask), info_nce(x, y2, 5.0, mask=mask))
    # equal weights = unweighted; a one-hot weight isolates that pair's loss
    assert torch.allclose(info_nce(x, y, 5.0, weights=torch.full((B,), 0.3)), info_nce(x, y, 5.0))
    logits = 5.0 * x @ y.T
    pair3 = 0.5 * (-logits.log_softmax(1)[3, 3] - logits.log_softmax(0)[3, 3])
    assert torch.allclose(info_nce(x, y, 5.0, weights=F.one_hot(torch.tensor(3), B).float()), pair3)
    # no clip with narration: zero, and still differentiable
    x.requires_grad_(True)
    empty = info_nce(x, y, 5.0, mask=torch.zeros(B, dtype=torch.bool))
    empty.backward()
    assert empty.item() == 0.0


def scene_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clips 1..7 sound (audio = video = narration); clip 0 is a silent action: its video
    matches its narration, its audio is only the shared scene ambience, and cos(a0, v0) is high."""
    D = 16
    t = torch.eye(8, D)
    v, a = t.clone(), t.clone()
    ambience = torch.zeros(D)
    ambience[D - 1] = 1.0
    v[0] = F.normalize(t[0] + ambience, dim=0)
    a[0] = F.normalize(ambience + 0.3 * t[1], dim=0)
    a[1:], v[1:] = F.normalize(a[1:] + 0.2 * ambience, dim=-1), F.normalize(v[1:] + 0.1, dim=-1)
    return a, v, t


def test_agreement_is_low_for_silent_action():
    a, v, t = scene_batch()
    has_text = torch.ones(8, dtype=torch.bool)
    w = agreement_weights(a, v, t, has_text, temperature=0.1)
    assert w[0] < 0.1 and (w[1:] > 0.5).all()
    # duplicated narrations are not competitors; clips without narration get the mean
    t_dup = t.clone()
    t_dup[2] = t[1]
    w_dup = agreement_weights(a, v, t_dup, has_text, temperature=0.1)
    assert w_dup[1] > 0.5
    has_text[5] = False
    w_masked = agreement_weights(a, v, t, has_text, temperature=0.1)
    assert w_masked[5] == pytest.approx(w_masked[has_text].mean().item())


def test_consensus_gradient_separates_silent_action():
    a, v, t = scene_batch()
    has_text = torch.ones(8, dtype=torch.bool)
    cos_before = (a * v).sum(-1)
    a, v = a.clone().requires_grad_(True), v.clone().requires_grad_(True)
    w = agreement_weights(a, v, t, has_text, temperature=0.1)
    consensus_loss(a, v, w, has_text, margin=0.2).backward()
    with torch.no_grad():
        a2, v2 = F.normalize(a - 0.5 * a.grad, dim=-1), F.normalize(v - 0.5 * v.grad, dim=-1)
    cos_after = (a2 * v2).sum(-1)
    assert cos_after[0] < cos_before[0] - 0.01  # silent action: audio and video pushed apart
    assert (cos_after[1:] > cos_before[1:]).all()  # sounding actions: pulled together


def test_mc3_loss_schedule():
    a, v, t = scene_batch()
    has_text = torch.tensor([True] * 6 + [False] * 2)
    config = LossConfig(consensus_warmup_steps=10)
    warm, parts = mc3_loss(v, a, t, has_text, 10.0, config, step=5)
    assert torch.allclose(warm, sum(pairwise_terms(v, a, t, has_text, 10.0).values()))
    assert "consensus" not in parts
    full, parts = mc3_loss(v, a, t, has_text, 10.0, config, step=10)
    assert parts["consensus"] > 0 and 0 < parts["agreement"] < 1
    pairwise = dataclasses.replace(config, kind="pairwise")
    ablation, parts = mc3_loss(v, a, t, has_text, 10.0, pairwise, step=10)
    assert torch.allclose(ablation, warm) and "consensus" not in parts


# ---- training and checkpoints --------------------------------------------------------------


def test_loss_tracker_logs_window_means_and_the_last_step():
    """A window closes every LOG_EVERY steps and at the run's last step; the final loss is
    the last closed window's mean, and a resumed run's history is extended, not replaced."""
    total = 2 * LOG_EVERY + 10
    earlier = [(0, 9.0)]
    tracker = LossTracker(total, "toy", progress=False, start=0, history=earlier)
    closed = [tracker.record(step, float(step)) for step in range(1, total + 1)]
    assert [i + 1 for i, c in enumerate(closed) if c] == [LOG_EVERY, 2 * LOG_EVERY, total]
    assert tracker.history is earlier and earlier[1] == (LOG_EVERY, (1 + LOG_EVERY) / 2)
    assert tracker.close() == (2 * LOG_EVERY + 1 + total) / 2
    assert math.isnan(LossTracker(5, "toy", progress=False).close())  # no window closed


def test_training_learns_audio_video_correspondence():
    torch.manual_seed(0)
    model = create_model(TINY)
    data = ToyClips(model)
    result = train_mc3(model, data, TrainConfig(steps=100, batch_size=32, lr=3e-3), progress=False)
    assert result.steps == 100 and len(result.loss_history) == 2
    assert result.loss_history[-1][1] < result.loss_history[0][1]
    v, a, _ = embed_all(model, ToyClips(model, seed=1))  # unseen clips
    nearest = (v @ a.T).argmax(dim=1).numpy()  # video -> audio retrieval
    accuracy = (data.labels[nearest] == data.labels).mean()
    assert accuracy >= 0.75  # chance is 0.25


def test_consensus_training_separates_silent_actions():
    """Scene ambience lets pairwise InfoNCE match the audio and video of silent actions too;
    MC3's consensus term must open a wider sounding-vs-silent gap in cos(a, v)."""
    gaps = {}
    for kind in ("pairwise", "mc3"):
        torch.manual_seed(0)
        config = dataclasses.replace(TINY, loss=LossConfig(kind=kind, consensus_warmup_steps=50))
        model = create_model(config)
        data = ToyClips(model, n=512, actions=8, off_screen=True)
        train_mc3(model, data, TrainConfig(steps=150, batch_size=32, lr=3e-3), progress=False)
        test = ToyClips(model, n=256, actions=8, off_screen=True, seed=1)
        v, a, _ = embed_all(model, test)
        score = model.consensus_score(a, v)
        sounding = torch.from_numpy(SOUNDING[test.labels])
        gaps[kind] = (score[sounding].mean() - score[~sounding].mean()).item()
    assert gaps["pairwise"] > 0  # both rank sounding actions first on average ...
    assert gaps["mc3"] > gaps["pairwise"] + 0.08, gaps  # ... consensus by a clear margin


def test_augmentation_keeps_shapes_and_is_seeded():
    batch = {
        "frames": torch.randint(0, 256, (4, 3, 16, 16, 3), dtype=torch.uint8),
        "audio": 0.1 * torch.randn(4, 800),
        "text": torch.randn(4, 384),
    }
    one = augment_batch(batch, torch.Generator().manual_seed(0))
    two = augment_batch(batch, torch.Generator().manual_seed(0))
    assert one["frames"].dtype == torch.uint8 and one["frames"].shape == batch["frames"].shape
    assert one["audio"].shape == batch["audio"].shape and one["text"] is batch["text"]
    assert torch.equal(one["frames"], two["frames"]) and torch.equal(one["audio"], two["audio"])
    assert not torch.equal(one["frames"], batch["frames"])
    rms = one["audio"].pow(2).mean(1).sqrt() / batch["audio"].pow(2).mean(1).sqrt()
    assert ((rms > 0.65) & (rms < 1.5)).all()  # loudness is kept within a few dB


def test_augmentation_shifts_a_speech_track_with_its_audio():
    steps, hop = 50, 64  # a track with one value per 64 samples
    audio = torch.zeros(6, steps * hop)
    track = torch.zeros(6, steps)
    for i, first in enumerate([0, 7, 19, 30, 41, 45]):  # a loud burst over 3 steps per clip
        audio[i, first * hop : (first + 3) * hop] = 1.0
        track[i, first : first + 3] = 1.0
    frames = torch.zeros(6, 1, 4, 4, 3, dtype=torch.uint8)
    batch = {"frames": frames, "audio": audio, "speech": track}
    out = augment_batch(batch, torch.Generator().manual_seed(5))
    loud = out["audio"].abs().unflatten(1, (steps, hop)).mean(2) > 0.5  # (6, steps)
    moved = out["speech"] > 0.5
    assert not torch.equal(moved, track > 0.5)  # the tracks did move ...
    # ... with their audio: every burst step is marked, give or take the rounding to a step
    assert ((loud & moved).sum(1) >= 2).all() and (moved.sum(1) == 3).all()


def test_checkpoint_round_trip(tmp_path):
    model = create_model(TINY)
    data = ToyClips(model, n=8)
    train_mc3(model, data, TrainConfig(steps=3, batch_size=8), progress=False)  # BN stats move
    version = save_model(model, tmp_path)
    assert len(version) == 12
    assert json.loads((tmp_path / "config.json").read_text())["version"] == version
    weights = load_file(tmp_path / WEIGHTS_FILE)
    assert not any(k.startswith("text.encoder.") for k in weights)  # MiniLM comes from its package
    assert (tmp_path / WEIGHTS_FILE).stat().st_size < 2_000_000
    loaded = load_model(tmp_path, "cpu")
    assert loaded.version == version and loaded.config == model.config
    for before, after in zip(embed_all(model, data), embed_all(loaded, data), strict=True):
        assert torch.equal(before, after)
    assert save_model(loaded, tmp_path / "again") == version  # same content, same version


def test_training_resumes_from_checkpoint(tmp_path):
    model = create_model(TINY)
    data = ToyClips(model, n=16)
    first = train_mc3(
        model,
        data,
        TrainConfig(steps=10, batch_size=8),
        checkpoint_dir=tmp_path,
        save_every=5,
        progress=False,
    )
    assert first.steps == 10 and load_train_state(tmp_path)["step"] == 10

    fresh = create_model(TINY)  # a new process: same config, fresh weights
    second = train_mc3(
        fresh,
        data,
        TrainConfig(steps=20, batch_size=8),
        checkpoint_dir=tmp_path,
        save_every=5,
        progress=False,
    )
    assert second.resumed_from == 10 and second.steps == 20
    assert load_train_state(tmp_path)["step"] == 20
    assert load_model(tmp_path).version == fresh.version

    done = train_mc3(
        create_model(TINY),
        data,
        TrainConfig(steps=20, batch_size=8),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    assert done.steps == 20 and done.resumed_from == 20  # nothing left to do


def test_grouped_sampler_draws_each_batch_from_few_videos():
    groups = [i // 20 for i in range(200)]  # 10 videos of 20 clips
    sampler = GroupedSampler(groups, batch_size=32, groups_per_batch=2, seed=3)
    for _ in range(20):
        batch = sampler.next_batch()
        assert len(batch) == 32 and len(set(batch)) == 32
        assert len({groups[i] for i in batch}) == 2
    state = sampler.state_dict()
    following = sampler.next_batch()
    sampler.load_state_dict(state)
    assert sampler.next_batch() == following


def test_grouped_sampler_tops_up_from_other_videos_when_one_is_short():
    groups = [0] * 3 + [1] * 40 + [2] * 40
    sampler = GroupedSampler(groups, batch_size=32, groups_per_batch=2, seed=0)
    for _ in range(10):
        assert len(set(sampler.next_batch())) == 32


def test_floor_channel_removes_a_steady_background():
    config = get_config("mc3-small")
    audio_config = dataclasses.replace(config.audio, floor_channel=True)
    encoder = AudioEncoder(audio_config, config.clip, config.embed_dim)
    t = torch.arange(32000) / 16000
    hum = 0.3 * torch.sin(2 * torch.pi * 300 * t)
    clicks = hum.clone()
    clicks[::4000] += 1.0  # transients on top of the same hum
    channels = encoder.log_mel(torch.stack([hum, clicks]))  # (2, 2, mels, frames)
    assert channels.shape[1] == 2
    # the steady hum is near its own floor; the clicks stand out of it
    assert channels[0, 1].abs().mean() < 0.2 * channels[1, 1].abs().max()
    assert channels[1, 1].amax() > 1.0
    assert encoder(torch.randn(2, 32000)).shape == (2, config.embed_dim)


def test_resolve_device_picks_the_gpu_only_when_there_and_names_what_is_wrong(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    with pytest.raises(ValueError, match="unsupported device 'mps'"):
        resolve_device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match="only 1 GPU"):
        resolve_device("cuda:1")
