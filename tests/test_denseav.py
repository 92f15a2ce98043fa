"""DenseAV: shapes, the aggregation, the loss, checkpoints, pretrained backbones, and a tiny
model that learns to find the sounding square among two."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import save_tiny_vit
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from toy_world import TINY, add_voice, toy_pair, train_toy_model

from models.checkpoint import WEIGHTS_FILE, load_model, save_model
from models.denseav import DenseAV, DenseAVConfig, ImageBackboneConfig, denseav_loss
from models.denseav.losses import same_video_pairs
from models.factory import create_model, get_config, list_configs
from searchd.localize import (
    Localizer,
    frame_heat,
    guided_filter,
    heat_box,
    heat_region,
    smooth,
)

DENSEAV_CONFIGS = [n for n in list_configs() if isinstance(get_config(n), DenseAVConfig)]


@pytest.mark.parametrize("name", DENSEAV_CONFIGS)
def test_every_denseav_config_builds(name):
    config = get_config(name)
    model = create_model(config).eval()
    size = config.clip.frame_size
    with torch.no_grad():
        a = model.encode_audio(0.1 * torch.randn(2, config.clip.audio_samples))
        v = model.encode_image(torch.randint(0, 256, (2, size, size, 3), dtype=torch.uint8))
    K, C = config.heads, config.dim // config.heads
    assert a.shape[:3] == (2, K, C) and v.shape[:3] == (2, K, C)
    assert torch.allclose(a.norm(dim=2), torch.ones(()), atol=1e-5)  # per head and step
    assert model.pairwise_scores(a, v).shape == (2, 2)


def test_max_aggregation_lets_one_cell_carry_the_match():
    """max over space, max over heads, mean over time; mean-pooling dilutes a small object."""
    volume = torch.zeros(2, 3, 4, 4)  # (K, T, h, w)
    volume[1, :, 2, 3] = 0.9  # head 1 fires on one cell at every step
    volume[0, 0] = 0.1
    max_model = DenseAV(dataclasses.replace(TINY, aggregation="max"))
    mean_model = DenseAV(dataclasses.replace(TINY, aggregation="mean"))
    assert max_model.aggregate(volume).item() == pytest.approx(0.9)
    expected_mean = (max(0.9 / 16, 0.1) + 0.9 / 16 + 0.9 / 16) / 3  # best head per step
    assert mean_model.aggregate(volume).item() == pytest.approx(expected_mean)


def test_loss_prefers_matching_pairs():
    model = create_model(TINY)
    a = torch.nn.functional.normalize(torch.randn(6, 2, 8, 1), dim=2).expand(6, 2, 8, 5)
    v = a[..., :1, None].expand(6, 2, 8, 3, 3).contiguous()  # every cell of v_i is a_i
    matched, parts = denseav_loss(model, a, v)
    shuffled, _ = denseav_loss(model, a, v[torch.tensor([1, 2, 3, 4, 5, 0])])
    assert matched < shuffled
    assert parts["accuracy"] == 1.0


def test_same_video_negatives_score_each_video_on_its_own():
    """With negatives from the clip's own video, a batch of two videos scores as the mean of
    each video's batch alone: the other video's clips (an easy scene cue) play no part."""
    model = create_model(dataclasses.replace(TINY, negatives="video"))
    a = torch.nn.functional.normalize(torch.randn(6, 2, 8, 5), dim=2)
    v = torch.randn(6, 2, 8, 3, 3)
    videos = torch.tensor([0, 0, 0, 1, 1, 1])
    together, _ = denseav_loss(model, a, v, videos)
    first, _ = denseav_loss(model, a[:3], v[:3])
    second, _ = denseav_loss(model, a[3:], v[3:])
    assert together.item() == pytest.approx((first.item() + second.item()) / 2, rel=1e-5)
    every, _ = denseav_loss(
        create_model(dataclasses.replace(TINY, negatives="batch")), a, v, videos
    )
    assert every.item() != pytest.approx(together.item(), rel=1e-3)


def test_a_clip_alone_from_its_video_keeps_the_whole_batch_as_negatives():
    allowed = same_video_pairs(torch.tensor([0, 0, 1]))
    assert allowed.tolist() == [[True, True, True], [True, True, True], [True, True, True]]
    allowed = same_video_pairs(torch.tensor([0, 0, 1, 1, 2]))
    assert allowed[0].tolist() == [True, True, False, False, True]
    assert allowed[4].all() and torch.equal(allowed, allowed.T)


def test_max_pool_over_space_equals_amax():
    volume = torch.randn(3, 2, 4, 5, 6)
    model = DenseAV(dataclasses.replace(TINY, aggregation="max"))
    assert torch.equal(model.pool_space(volume), volume.amax(dim=(-2, -1)))


def test_top_cells_pooling_is_the_mean_of_the_best_cells():
    volume = torch.randn(3, 2, 4, 5, 6)
    model = DenseAV(dataclasses.replace(TINY, space_top=4))
    best = volume.flatten(-2).sort(dim=-1, descending=True).values[..., :4].mean(-1)
    assert torch.allclose(model.pool_space(volume), best)
    wide = DenseAV(dataclasses.replace(TINY, space_top=1000))  # more cells than the grid
    assert torch.allclose(wide.pool_space(volume), volume.mean(dim=(-2, -1)))
    with pytest.raises(ValueError, match="space_top"):
        DenseAV(dataclasses.replace(TINY, space_top=0))


def test_checkpoint_round_trip_keeps_kind_and_outputs(tmp_path):
    model = create_model(TINY).eval()
    version = save_model(model, tmp_path / "ckpt")
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["kind"] == "denseav"
    loaded = load_model(tmp_path / "ckpt")
    assert isinstance(loaded, DenseAV) and loaded.version == version
    wave = 0.1 * torch.randn(1, TINY.clip.audio_samples)
    with torch.no_grad():
        assert torch.allclose(loaded.encode_audio(wave), model.encode_audio(wave), atol=1e-6)


def test_open_clip_backbone_gives_a_grid_from_a_local_checkpoint(tmp_path):
    pytest.importorskip("open_clip")
    _, checkpoint = save_tiny_vit(tmp_path, "foley-dense-vit")
    config = dataclasses.replace(
        TINY,
        image=ImageBackboneConfig(
            kind="open_clip",
            open_clip_model="foley-dense-vit",
            open_clip_pretrained=str(checkpoint),
        ),
    )
    model = create_model(config).eval()
    frames = torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8)
    with torch.no_grad():
        v = model.encode_image(frames)
    assert v.shape == (2, 2, 8, 4, 4)  # 64 / 16 patches a side
    save_model(model, tmp_path / "ckpt")
    assert not any(
        k.startswith("image.visual.") for k in load_file(tmp_path / "ckpt" / WEIGHTS_FILE)
    )
    with torch.no_grad():
        assert torch.allclose(load_model(tmp_path / "ckpt").encode_image(frames), v, atol=1e-5)


def test_heat_region_is_the_connected_blob_at_the_peak():
    heat = np.zeros((10, 10))
    heat[1:3, 1:3] = 1.0  # the peak's blob
    heat[6:9, 6:9] = 0.8  # a second blob above threshold, not connected
    peak, box = heat_box(heat)
    assert peak == (1, 1) and box == (1, 1, 3, 3)
    assert heat_region(heat).sum() == 4
    plateau = np.ones((4, 4))
    plateau[0, 0] = -1.0  # the mean + 1.25 std cut-off lies above the peak: the peak still counts
    assert heat_region(plateau).sum() == 15


def test_smoothing_lets_a_broad_bump_outweigh_a_lone_spike():
    """A one-cell spike tops the raw grid; blurred by a cell, the bump a few cells wide wins
    and the region of the map drawn from it is the bump's, about the bump's size."""
    y, x = np.mgrid[0:16, 0:16]
    bump = np.exp(-(((x - 4) / 1.5) ** 2 + ((y - 10) / 1.5) ** 2) / 2)
    grid = bump.copy()
    grid[3, 13] = 1.5
    cells = torch.from_numpy(grid)[None, None].float()  # (N, K, h, w)
    assert torch.equal(smooth(cells, 0), cells)
    assert heat_box(frame_heat(cells, (120, 160), 64, 0.0)[0, 0].numpy())[0][1] < 40  # spike
    blurred = smooth(cells, 1.0)
    assert torch.isclose(blurred.sum(), cells.sum(), rtol=0.02)  # a blur, not a rescale
    peak, (x0, y0, x1, y1) = heat_box(frame_heat(blurred, (120, 160), 64, 0.0)[0, 0].numpy())
    assert abs(peak[0] - 45) <= 5 and abs(peak[1] - 79) <= 5  # cell (4, 10)'s centre
    assert 10 <= x1 - x0 <= 60 and 8 <= y1 - y0 <= 45


def square_hit_rate(model: DenseAV, pairs: int = 40) -> float:
    """The fraction of fresh toy pairs whose strongest head peaks on the sounding square."""
    rng = np.random.default_rng(123)
    localizer = Localizer(model)
    hits = []
    for _ in range(pairs):
        frame, wave, (x0, y0, x1, y1) = toy_pair(rng)
        x, y = localizer.locate(wave, frame).strongest.peak
        hits.append(x0 - 1 <= x <= x1 and y0 - 1 <= y <= y1)
    return float(np.mean(hits))


def test_a_trained_model_finds_the_sounding_square(toy_model):
    assert square_hit_rate(toy_model) >= 0.8


def test_bfloat16_training_finds_the_sounding_square_too():
    """Trained under bfloat16 autocast (``TrainConfig.bf16``, on a CPU that computes it
    natively, as CI's do), the weights stay float32 and the model localises as well."""
    model = train_toy_model(bf16=True)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert square_hit_rate(model) >= 0.8


def test_mirrored_maps_are_the_mirror_of_the_frames_maps():
    """With ``mirror`` the map of a mirrored frame is the mirrored map, exactly; without it
    the (untrained, asymmetric) image net gives another map."""
    torch.manual_seed(0)
    model = create_model(TINY)
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    wave = 0.1 * rng.standard_normal(TINY.clip.audio_samples).astype(np.float32)
    mirrored = np.ascontiguousarray(frame[:, ::-1])
    for mirror in (True, False):
        localizer = Localizer(model, mirror=mirror)  # TINY trains mirrored: on by default
        heat = localizer.locate(wave, frame).heads[0].heat
        heat_of_mirrored = localizer.locate(wave, mirrored).heads[0].heat
        assert np.allclose(heat_of_mirrored, heat[:, ::-1], atol=1e-5) == mirror


def test_training_mirrors_about_half_the_frames(monkeypatch):
    from models.denseav.train import denseav_step

    size = TINY.clip.frame_size
    frames = torch.randint(0, 256, (64, 1, size, size, 3), dtype=torch.uint8)
    monkeypatch.setattr("models.denseav.train.denseav_loss", lambda *args: (None, {}))

    def shown_frames(mirror_frames: bool) -> torch.Tensor:
        model = create_model(dataclasses.replace(TINY, mirror_frames=mirror_frames))
        seen = []
        monkeypatch.setattr(model, "encode_image", lambda f: seen.append(f) or torch.zeros(0))
        monkeypatch.setattr(model, "encode_audio_and_speech", lambda a: (None, None))
        denseav_step(model, {"frames": frames, "audio": torch.zeros(64, 1)}, 0)
        return seen[0]

    shown = shown_frames(True)
    same = (shown == frames[:, 0]).flatten(1).all(1)
    flipped = (shown == frames[:, 0].flip(2)).flatten(1).all(1)
    assert bool((same | flipped).all()) and 16 <= int(flipped.sum()) <= 48
    assert torch.equal(shown_frames(False), frames[:, 0])


def test_the_speech_gate_names_the_head_that_fires_for_a_voice():
    """Trained where a detector marks voices, the gate makes the speech head the strongest
    while a voice speaks and a sound head the strongest elsewhere, without hurting where."""
    model = train_toy_model(voices=True)
    localizer = Localizer(model, model.head_names())
    rng = np.random.default_rng(7)
    named, hits = [], []
    for i in range(40):
        frame, wave, (x0, y0, x1, y1) = toy_pair(rng)
        if i % 2:
            located = localizer.locate(add_voice(wave, len(wave) // 2), frame, (0.5, 1.0))
            named.append(located.strongest.name == "speech")
        else:
            located = localizer.locate(wave, frame)
            named.append(located.strongest.name == "sound")
            x, y = located.strongest.peak
            hits.append(x0 - 1 <= x <= x1 and y0 - 1 <= y <= y1)
    assert np.mean(named) >= 0.9, np.mean(named)
    assert np.mean(hits) >= 0.8, np.mean(hits)
    speech = located.to_json()["speech"]  # the last clip's (voiced) gate, per audio step
    assert len(speech) == len(located.heads[0].strip) and speech[0] < 0.5 < speech[-1]


def test_the_gate_learns_only_from_given_targets():
    """The gate's cross-entropy is in the loss only when the batch has detector tracks."""
    model = create_model(dataclasses.replace(TINY, speech_gate=True))
    wave = 0.1 * torch.randn(4, TINY.clip.audio_samples)
    a, logits = model.encode_audio_and_speech(wave)
    v = torch.randn(4, 2, 8, 3, 3)
    assert logits.shape == (4, a.shape[-1])
    _, without = denseav_loss(model, a, v)
    _, parts = denseav_loss(model, a, v, None, logits, torch.ones(4, 31))
    assert "speech_gate" not in without and parts["speech_gate"] > 0
    assert create_model(TINY).encode_audio_and_speech(wave)[1] is None


def test_the_strongest_head_owns_the_moment_then_is_the_most_active():
    """With a speech gate the head the gate gives the moment to is the strongest, however
    active the other; without one (all shares 1) the most active head is."""
    from searchd.localize import HeadMap, Localization

    def head(k: int, name: str, activation: float, share: float) -> HeadMap:
        blank = np.zeros((4, 4))
        return HeadMap(k, name, activation, share, (0, 0), (0, 0, 1, 1), blank, np.zeros(3))

    frame = np.zeros((4, 4, 3), np.uint8)
    gated = [head(0, "sound", 3.0, 0.3), head(1, "speech", 0.5, 0.7)]
    assert Localization(frame, gated, 2.0, None).strongest.name == "speech"
    plain = [head(0, "head 0", 3.0, 1.0), head(1, "head 1", 0.5, 1.0)]
    assert Localization(frame, plain, 2.0, None).strongest.name == "head 0"


def test_a_moments_map_is_the_sound_heads_whichever_head_owns_it():
    """A word said over its action: the speech head owns the moment (the JSON names it) but
    points at a stray spot; the sound head points at the thing. The moment's map is the
    sound head's, its peak and box the JSON's. A sound without words (the sound head owns
    the moment) is the sound head's map too."""
    from searchd.localize import HeadMap, Localization

    sound, speech = np.zeros((8, 8)), np.zeros((8, 8))
    sound[2:4, 5:7] = 1.0
    sound[6, 0] = 0.9
    speech[2:4, 5:7] = 0.8
    speech[0, 0] = 1.0  # the speech head's own peak is elsewhere
    frame = np.zeros((8, 8, 3), np.uint8)

    def moment(speech_share: float) -> Localization:
        heads = [
            HeadMap(0, "sound", 1.0, 1 - speech_share, (0, 0), (0, 0, 1, 1), sound, np.zeros(3)),
            HeadMap(1, "speech", 1.0, speech_share, (0, 0), (0, 0, 1, 1), speech, np.zeros(3)),
        ]
        return Localization(frame, heads, 2.0, None)

    word = moment(0.8)
    assert np.array_equal(word.heat, sound)
    document = word.to_json()
    assert document["strongest_head"] == "speech"
    assert document["peak"] == [5, 2]
    assert document["box"] == [5, 2, 7, 4]
    assert np.array_equal(moment(0.1).heat, sound)


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_the_image_grid_knows_where_its_cells_are_centred(depth):
    """Cell j of the scratch net sees 7 + 8 x depth pixels centred on pixel 4j, which is
    what ``cell_offset`` says (an even split of the frame would put it at 4j + 1.5)."""
    torch.manual_seed(0)
    image = ImageBackboneConfig(width=16, depth=depth)
    model = create_model(dataclasses.replace(TINY, image=image)).eval()
    pixels = torch.randn(1, 3, 64, 64, requires_grad=True)
    j = 8
    model.image.net(pixels)[0, :, j, j].sum().backward()
    rows, cols = torch.nonzero(pixels.grad.abs().sum(dim=(0, 1)), as_tuple=True)
    centre = (rows.min() + rows.max()).item() / 2, (cols.min() + cols.max()).item() / 2
    assert centre == (4 * j, 4 * j)
    assert rows.max() - rows.min() + 1 == cols.max() - cols.min() + 1 == 7 + 8 * depth
    stride = TINY.clip.frame_size / model.encode_image(torch.zeros(1, 64, 64, 3)).shape[-1]
    assert 4 * j + 0.5 == stride * (j + 0.5) + model.cell_offset()  # continuous pixel centres


def test_a_model_saved_before_the_depth_option_loads_its_two_stride_1_convs(tmp_path):
    """A checkpoint whose config has no ``image.depth`` (trained before it) keeps its
    23-pixel image net."""
    old = create_model(TINY).eval()
    save_model(old, tmp_path)
    weights = tmp_path / WEIGHTS_FILE
    with safe_open(str(weights), "pt") as f:
        metadata = f.metadata()
    config = json.loads(metadata["config"])
    del config["image"]["depth"]
    save_file(load_file(str(weights)), str(weights), {**metadata, "config": json.dumps(config)})
    loaded = load_model(tmp_path)
    assert loaded.config.image.depth == 2
    frames = torch.randint(0, 255, (1, 64, 64, 3), dtype=torch.uint8)
    assert torch.equal(loaded.encode_image(frames), old.encode_image(frames))


def test_heat_maps_are_drawn_from_the_cells_true_centres():
    """One hot cell's map peaks where that cell is centred, at any frame size."""
    cells = torch.zeros(1, 1, 16, 16)
    cells[0, 0, 5, 7] = 1.0  # centred on model pixel (x, y) = (28.5, 20.5) of 64
    for offset, expected in ((-1.5, (71, 38)), (0.0, (75, 41))):
        heat = frame_heat(cells, (120, 160), 64, offset)[0, 0].numpy()
        y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
        assert abs(x - expected[0]) <= 1 and abs(y - expected[1]) <= 1, (offset, x, y)


def test_edges_pull_a_blurry_map_onto_the_object():
    """A blob wider than the object, off its centre, spills onto the background; guided by
    the frame, its region snaps to the object's edges. The filter keeps a map's level and
    scale (it is linear), and the fast path for big frames agrees with the exact one."""
    frame = np.full((120, 160, 3), 90, np.uint8)
    frame[40:80, 60:110] = (200, 60, 40)  # the object: x 60-110, y 40-80
    y, x = np.mgrid[0:120, 0:160]
    blob = np.exp(-(((x - 80) / 30) ** 2 + ((y - 68) / 26) ** 2) / 2)[None]  # low and left
    truth = np.zeros((120, 160), bool)
    truth[40:80, 60:110] = True

    def iou(heat: np.ndarray) -> float:
        region = heat_region(heat)
        return float((region & truth).sum() / (region | truth).sum())

    edged = guided_filter(frame, blob, radius=16, eps=2e-4)
    assert iou(blob[0]) < 0.62 and iou(edged[0]) > 0.75  # 0.59 -> 0.80
    np.testing.assert_allclose(
        guided_filter(frame, 3 * blob - 1, 16, 2e-4), 3 * edged - 1, atol=1e-4
    )
    big = np.repeat(np.repeat(frame, 4, 0), 4, 1)
    big_blob = np.repeat(np.repeat(blob, 4, 1), 4, 2)
    fast = guided_filter(big, big_blob, radius=64, eps=2e-4, work_side=160)[0, ::4, ::4]
    assert np.abs(fast - edged[0]).max() < 0.05
