"""Frames of a synthetic video: scene background, the acting object and the hand, camera.

A scene's look (tiles, road stripes, planks, grass, carpet) is painted once per video on a
canvas a little larger than the frame; each frame crops it at the camera-shake offset,
draws the action's sprites at their ``Motion`` pose, adds lighting drift and sensor noise.
The box of the acting object comes from the pixels actually drawn.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .catalogue import ACTIONS, Sprite
from .timeline import VideoPlan, Visible

WIDTH, HEIGHT, FPS = 160, 120, 15
MARGIN = 8  # canvas border that camera shake can reveal
SKIN = ((224, 172, 140), (198, 140, 100), (150, 100, 70), (110, 75, 55))
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (pixels, x1/y1 exclusive)


def render_frames(plan: VideoPlan) -> Iterator[tuple[np.ndarray, int | None, Box | None]]:
    """Yield (H, W, 3) uint8 frames at FPS, each with the index of the visible event in
    ``plan.events`` (or None) and that event's object box (or None)."""
    rng = np.random.default_rng([plan.seed, plan.index, 1])
    canvas = scene_canvas(plan.scene, rng)
    _scatter_distractors(canvas, rng)
    n_frames = int(round(plan.seconds * FPS))
    times = np.arange(n_frames) / FPS
    shake = np.rint(_smooth_curve(rng, times, 2) * rng.uniform(1.5, 3.0)).astype(int)
    shake = np.clip(shake, -MARGIN, MARGIN)
    light = rng.uniform(0.85, 1.1) * (1 + 0.03 * _smooth_curve(rng, times, 1)[:, 0])
    noise = rng.normal(0, rng.uniform(2, 6), size=(6, HEIGHT, WIDTH, 3)).astype(np.float32)
    skin = np.array(SKIN[int(rng.integers(len(SKIN)))]) * rng.uniform(0.95, 1.05)
    sleeve = rng.uniform(30, 200, 3)

    spans = [(i, e.start, e.end, e.visible) for i, e in enumerate(plan.events) if e.visible]
    for k, t in enumerate(times):
        ox, oy = shake[k]
        img = canvas[MARGIN + oy : MARGIN + oy + HEIGHT, MARGIN + ox : MARGIN + ox + WIDTH].copy()
        index, box = None, None
        for i, start, end, visible in spans:
            if start <= t < end:
                index, box = i, _draw_action(img, visible, t - start, -ox, -oy, skin, sleeve)
                break
        img = img * light[k] + noise[int(rng.integers(len(noise)))]
        yield np.clip(img, 0, 255).astype(np.uint8), index, box


def _draw_action(img, visible: Visible, t: float, ox: int, oy: int, skin, sleeve) -> Box | None:
    action, size = visible.action, visible.size
    pose = visible.motion.pose(np.array([t]))
    x, y = visible.x + ox, visible.y + oy
    box = draw_sprite(img, action.base, x, y, 0.0, size, visible.tint)
    gx = x + size * action.tool_at[0] + float(pose.dx[0])
    gy = y + size * action.tool_at[1] + float(pose.dy[0])
    if action.hand:  # the arm passes behind the tool, the hand grips it in front
        _draw_arm(img, gx, gy, skin, sleeve)
    tool_box = draw_sprite(
        img, action.tool, gx, gy, float(pose.angle[0]), size * float(pose.scale[0]), visible.tint
    )
    if action.hand:
        _capsule(img, (gx - 2, gy), (gx + 3, gy + 1), 6, skin * 1.05)
    return _union(box, tool_box)


def draw_sprite(
    img: np.ndarray,
    parts: Sprite,
    x: float,
    y: float,
    angle: float,
    scale: float,
    tint=(1.0, 1.0, 1.0),
) -> Box | None:
    """Paint ``parts`` onto ``img`` (float (H, W, 3)) in place; return the painted box."""
    h, w = img.shape[:2]
    box = None
    rot = np.radians(angle)
    for part in parts:
        px = x + scale * (np.cos(rot) * part.cx - np.sin(rot) * part.cy)
        py = y + scale * (np.sin(rot) * part.cx + np.cos(rot) * part.cy)
        reach = scale * np.hypot(part.w, part.h) / 2 + 1
        x0, x1 = max(int(px - reach), 0), min(int(px + reach) + 2, w)
        y0, y1 = max(int(py - reach), 0), min(int(py + reach) + 2, h)
        if x0 >= x1 or y0 >= y1:
            continue
        a = rot + np.radians(part.angle)
        dx, dy = np.arange(x0, x1) - px, (np.arange(y0, y1) - py)[:, None]
        u = (dx * np.cos(a) + dy * np.sin(a)) / scale  # (rows, cols), sprite pixels
        v = (-dx * np.sin(a) + dy * np.cos(a)) / scale
        hw, hh = part.w / 2, part.h / 2
        if part.shape == "ellipse":
            mask = (u / hw) ** 2 + (v / hh) ** 2 <= 1
        elif part.shape == "rect":
            mask = (np.abs(u) <= hw) & (np.abs(v) <= hh)
        else:  # triangle, apex up
            mask = (np.abs(v) <= hh) & (np.abs(u) <= hw * (v + hh) / (2 * hh))
        if not mask.any():
            continue
        shade = 1.08 - 0.16 * np.clip((v[mask] + hh) / (2 * hh), 0, 1)  # lit from above
        img[y0:y1, x0:x1][mask] = np.asarray(part.colour) * np.asarray(tint) * shade[:, None]
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = _union(box, (x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1))
    return box


def _draw_arm(img: np.ndarray, hx: float, hy: float, skin, sleeve) -> None:
    """An arm reaching in from the lower right to (hx, hy): sleeve, then forearm."""
    h, w = img.shape[:2]
    shoulder = (min(hx + 40, w + 10), h + 20)
    elbow = ((shoulder[0] + hx) / 2 + 6, (shoulder[1] + hy) / 2 + 4)
    _capsule(img, shoulder, elbow, 9, sleeve)
    _capsule(img, elbow, (hx, hy), 5, skin)


def _capsule(img: np.ndarray, a, b, radius: float, colour) -> None:
    h, w = img.shape[:2]
    x0, x1 = max(int(min(a[0], b[0]) - radius), 0), min(int(max(a[0], b[0]) + radius) + 2, w)
    y0, y1 = max(int(min(a[1], b[1]) - radius), 0), min(int(max(a[1], b[1]) + radius) + 2, h)
    if x0 >= x1 or y0 >= y1:
        return
    px, py = np.arange(x0, x1)[None, :] - a[0], np.arange(y0, y1)[:, None] - a[1]
    sx, sy = b[0] - a[0], b[1] - a[1]
    along = np.clip((px * sx + py * sy) / max(sx * sx + sy * sy, 1e-9), 0, 1)
    dist2 = (px - along * sx) ** 2 + (py - along * sy) ** 2
    mask = dist2 <= radius * radius
    shade = 1.05 - 0.12 * np.sqrt(dist2[mask]) / radius
    img[y0:y1, x0:x1][mask] = np.asarray(colour, dtype=np.float32) * shade[:, None]


def _union(a: Box | None, b: Box | None) -> Box | None:
    if a is None or b is None:
        return a if b is None else b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _smooth_curve(rng: np.random.Generator, times: np.ndarray, dims: int) -> np.ndarray:
    """(len(times), dims) smooth wobble in about [-1, 1]: three random slow sinusoids each."""
    freqs = rng.uniform(0.2, 1.5, size=(3, dims))
    phases = rng.uniform(0, 2 * np.pi, size=(3, dims))
    return np.sin(2 * np.pi * freqs[None] * times[:, None, None] + phases[None]).sum(1) / 2


# -- scene looks ------------------------------------------------------------------------


def scene_canvas(scene: str, rng: np.random.Generator) -> np.ndarray:
    """The scene's background, (HEIGHT + 2 MARGIN, WIDTH + 2 MARGIN, 3) float32, tinted."""
    h, w = HEIGHT + 2 * MARGIN, WIDTH + 2 * MARGIN
    yy, xx = np.mgrid[0:h, 0:w]
    grain = rng.normal(0, 1, size=(h, w))
    img = _LOOKS[scene](rng, yy, xx, grain)
    return (img * rng.uniform(0.9, 1.1, 3)).astype(np.float32)


def _fill(shape, colour) -> np.ndarray:
    return np.broadcast_to(np.asarray(colour, dtype=np.float64), (*shape, 3)).copy()


def _kitchen(rng, yy, xx, grain):
    tile = int(rng.integers(11, 16))
    cell = (yy // tile) * 97 + (xx // tile)
    img = _fill(yy.shape, (232, 226, 212)) * (1 + 0.04 * np.sin(cell * 1.7))[..., None]
    img[(yy % tile == 0) | (xx % tile == 0)] = (168, 162, 150)
    counter = yy > int(yy.shape[0] * rng.uniform(0.45, 0.6))
    img[counter] = np.array((118, 112, 108)) + 14 * grain[counter][:, None]
    return img


def _street(rng, yy, xx, grain):
    img = _fill(yy.shape, (86, 86, 92)) + 9 * grain[..., None]
    lane = np.abs(xx - (rng.uniform(40, 120) + rng.uniform(-0.5, 0.5) * yy)) < 2.5
    img[lane & ((yy // 12) % 2 == 0)] = (225, 225, 220)
    img[np.abs(xx - rng.uniform(10, 40) - 0.3 * yy) < 1.5] = (215, 185, 50)
    kerb = int(rng.uniform(16, 26))
    img[yy < kerb] = np.array((172, 168, 160)) + 5 * grain[yy < kerb][:, None]
    img[(yy < kerb) & ((xx % 22 == 0) | (yy % 22 == 0))] = (130, 128, 124)
    img[(yy >= kerb) & (yy < kerb + 2)] = (205, 205, 205)
    return img


def _workshop(rng, yy, xx, grain):
    plank = int(rng.integers(13, 18))
    row = yy // plank
    hue = rng.uniform(0.8, 1.15, size=row.max() + 1)[row]
    streak = np.sin(xx * 0.25 + 4 * np.sin(yy * 0.6 + row * 2.1))
    img = _fill(yy.shape, (152, 106, 62)) * (hue + 0.07 * streak + 0.03 * grain)[..., None]
    img[yy % plank == 0] = (70, 48, 30)
    return img


def _garden(rng, yy, xx, grain):
    blades = np.cumsum(grain, axis=0)
    blades = (blades - np.roll(blades, 6, axis=0)) / 6  # vertical streaks
    img = _fill(yy.shape, (72, 142, 52)) + np.array((0.4, 1.0, 0.3)) * 40 * blades[..., None]
    for colour in ((235, 220, 60), (245, 245, 245), (220, 120, 170)):
        for _ in range(6):
            fy, fx = rng.integers(0, yy.shape[0] - 2), rng.integers(0, xx.shape[1] - 2)
            img[fy : fy + 2, fx : fx + 2] = colour
    return img


def _office(rng, yy, xx, grain):
    desk = yy < int(yy.shape[0] * rng.uniform(0.5, 0.65))
    img = _fill(yy.shape, (84, 92, 112)) + 8 * grain[..., None]
    img[((yy // 4 + xx // 4) % 2 == 0) & ~desk] *= 0.93  # carpet weave
    img[desk] = np.array((204, 202, 196)) + 3 * grain[desk][:, None]
    img[desk & (np.roll(desk, -2, axis=0) != desk)] = (60, 60, 64)  # desk edge
    return img


_LOOKS = {
    "kitchen": _kitchen,
    "street": _street,
    "workshop": _workshop,
    "garden": _garden,
    "office": _office,
}


def _scatter_distractors(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """1-3 still objects of random classes: an object in view is not an action happening."""
    sprites = [s for a in ACTIONS for s in (a.base, a.tool) if s]
    h, w = canvas.shape[:2]
    for _ in range(int(rng.integers(1, 4))):
        sprite = sprites[int(rng.integers(len(sprites)))]
        draw_sprite(
            canvas,
            sprite,
            rng.uniform(15, w - 15),
            rng.uniform(15, h - 15),
            rng.uniform(-40, 40),
            rng.uniform(0.55, 0.85),
            rng.uniform(0.7, 1.0, 3),
        )
