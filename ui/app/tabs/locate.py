"""Tab: where is the sound — DenseAV heat maps for an indexed clip or an uploaded video."""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from ui.app import render
from ui.app.tabs.common import PROGRESS, optional
from ui.client import ApiError, Media, SearchClient

HeatMap = tuple[Image.Image, str]


def build(client: SearchClient) -> None:
    gr.Markdown(
        "Show where in the picture a sound — or a spoken word — comes from, "
        "one heat map per DenseAV head."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            with gr.Tab("Indexed clip"):
                clip = gr.Textbox(
                    label="Clip id", placeholder="e.g. v005@33.65", elem_id="locate-clip"
                )
                clip_moment = gr.Textbox(label=MOMENT_LABEL, placeholder="e.g. 34.1 34.5")
                clip_button = gr.Button("Locate", variant="primary", elem_id="locate-run")
            with gr.Tab("Upload"):
                video = gr.Video(sources=["upload"], label="Video")
                audio = gr.Audio(
                    sources=["upload", "microphone"],
                    type="filepath",
                    label="Sound (optional: the video's own otherwise)",
                )
                with gr.Row():
                    upload_at = gr.Number(
                        label="Window start (s, optional: where sound and picture match best)"
                    )
                    upload_moment = gr.Textbox(label=MOMENT_LABEL, placeholder="e.g. 4.2 4.6")
                upload_button = gr.Button("Locate", variant="primary")
        with gr.Column(scale=2):
            outcome = gr.HTML(
                render.placeholder("Heat maps appear here."), elem_id="locate-outcome"
            )
            maps = gr.Gallery(
                label="Heat maps",
                columns=3,
                visible=False,
                object_fit="contain",
                elem_id="locate-maps",
            )

    def by_clip(
        clip_id: str, moment: str, progress: gr.Progress = PROGRESS
    ) -> tuple[str, gr.Gallery]:
        if not optional(clip_id):
            return render.alert("Enter a clip id, e.g. from a search result.", "info"), _no_maps()
        try:
            span = parse_moment(moment)
        except ValueError as exc:
            return render.alert(str(exc), "info", "Moment"), _no_maps()
        progress(0.2, desc="Locating the sound")
        return _shown(lambda: client.locate(clip=clip_id.strip(), span=span))

    def by_upload(
        video_path: str | None,
        audio_path: str | None,
        at: float | None,
        moment: str,
        progress: gr.Progress = PROGRESS,
    ) -> tuple[str, gr.Gallery]:
        if not video_path:
            return render.alert("Upload a video first.", "info", "No video yet"), _no_maps()
        try:
            span = parse_moment(moment)
        except ValueError as exc:
            return render.alert(str(exc), "info", "Moment"), _no_maps()
        progress(0.2, desc="Locating the sound")
        sound = Path(audio_path) if audio_path else None
        return _shown(lambda: client.locate(video=Path(video_path), audio=sound, at=at, span=span))

    clip_button.click(by_clip, [clip, clip_moment], [outcome, maps])
    clip.submit(by_clip, [clip, clip_moment], [outcome, maps])
    upload_button.click(by_upload, [video, audio, upload_at, upload_moment], [outcome, maps])


MOMENT_LABEL = "Moment (optional): start end, in s of the video, e.g. a spoken word"


def parse_moment(text: str | None) -> tuple[float, float] | None:
    """A "start end" moment typed by the user (None when blank); ValueError if it is not
    two numbers in order."""
    words = (text or "").replace(",", " ").split()
    if not words:
        return None
    try:
        start, end = (float(w) for w in words)
    except ValueError:
        raise ValueError(f"A moment is two times in seconds, e.g. 4.2 4.6, not {text!r}") from None
    if not 0 <= start < end:
        raise ValueError(f"A moment starts before it ends, at 0 s or later: not {text!r}")
    return start, end


def _shown(call: Callable[[], dict[str, Any] | Media]) -> tuple[str, gr.Gallery]:
    """Run a locate call and turn its answer (or refusal) into the outcome and gallery."""
    try:
        answer = call()
    except ApiError as exc:
        return render.api_alert(exc), _no_maps()
    found = heat_maps(answer)
    if not found:
        return render.alert("searchd's answer held no heat-map image."), _no_maps()
    note = render.alert(f"{len(found)} heat map(s).", "info", "Located")
    return note, gr.Gallery(value=found, visible=True)


def _no_maps() -> gr.Gallery:
    return gr.Gallery(value=None, visible=False)


def heat_maps(answer: dict[str, Any] | Media) -> list[HeatMap]:
    """Every image in a locate answer: a PNG body, or base64 PNG strings anywhere in the JSON
    under keys naming an image (``image_png_base64``, ``png``, ...), captioned by the nearest
    ``name``/``label``/``head``."""
    if isinstance(answer, Media):
        if not answer.media_type.startswith("image/"):
            return []
        return [(Image.open(io.BytesIO(answer.content)), "heat map")]
    found: list[HeatMap] = []
    _collect(answer, "heat map", found)
    return found


def _collect(node: Any, caption: str, found: list[HeatMap]) -> None:
    if isinstance(node, list):
        for index, item in enumerate(node):
            _collect(item, f"{caption} {index + 1}", found)
        return
    if not isinstance(node, dict):
        return
    named = next((node[k] for k in ("name", "label", "head") if k in node), None)
    caption = f"head {named}" if isinstance(named, int) else str(named or caption)
    for key, value in node.items():
        if isinstance(value, str) and ("png" in key or "image" in key):
            image = _decoded(value)
            if image is not None:
                found.append((image, caption))
        else:
            _collect(value, caption if isinstance(value, list) else str(key), found)


def _decoded(text: str) -> Image.Image | None:
    try:
        data = base64.b64decode(text.split(",", 1)[-1], validate=True)
        return Image.open(io.BytesIO(data))
    except (binascii.Error, ValueError, OSError):
        return None
