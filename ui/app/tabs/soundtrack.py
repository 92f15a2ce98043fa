"""Tab: soundtrack a silent video — audition retrieved sounds, or generate one (AV-LDM)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from ui.app import render
from ui.app.tabs.common import PROGRESS, optional, search_options
from ui.client import ApiError, Media, SearchClient

AUTOMATIC = "automatic"


def build(client: SearchClient) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            video = gr.Video(sources=["upload"], label="A silent video", elem_id="soundtrack-video")
            count, where = search_options(k=6)
            find_button = gr.Button("Find candidate sounds", variant="primary")
        with gr.Column(scale=2):
            gr.Markdown("### Candidate sounds\nReal clips whose sound fits the picture.")
            candidates = gr.HTML(render.placeholder("Upload a video to audition sounds for it."))
    gr.Markdown("### Generate a soundtrack")
    with gr.Row(equal_height=False):
        mode = gr.Radio(
            ["joint", "action"],
            value="joint",
            label="Mode",
            info="joint: the action over a similar scene's ambience; action: the action alone",
        )
        ambient = gr.Dropdown(
            [AUTOMATIC],
            value=AUTOMATIC,
            label="Ambient from clip",
            info="a candidate's ambience, or let the model choose",
        )
        steps = gr.Slider(5, 100, value=25, step=1, label="Diffusion steps")
        guidance = gr.Slider(
            1.0, 10.0, value=3.0, step=0.5, label="Guidance", info="how closely to follow the video"
        )
        seed = gr.Number(0, precision=0, label="Seed", min_width=100)
    generate_button = gr.Button("Generate soundtrack", variant="primary", elem_id="generate")
    outcome = gr.HTML(elem_id="generate-outcome")
    with gr.Row():
        generated_audio = gr.Audio(label="Generated sound", visible=False, interactive=False)
        generated_video = gr.Video(
            label="Video with generated sound",
            visible=False,
            interactive=False,
            elem_id="generated-video",
        )

    def find(
        path: str | None, k: float, filter_text: str, progress: gr.Progress = PROGRESS
    ) -> tuple[str, gr.Dropdown]:
        keep = gr.Dropdown(choices=[AUTOMATIC], value=AUTOMATIC)
        if not path:
            return render.alert("Upload a video first.", "info", "No video yet"), keep
        progress(0.3, desc="Searching sounds that fit the picture")
        try:
            found = client.search(
                file=Path(path), target="audio", k=int(k), where=optional(filter_text)
            )
        except ApiError as exc:
            return render.api_alert(exc), keep
        choices = [AUTOMATIC, *(r.clip_id for r in found)]
        return render.sound_cards(found), gr.Dropdown(choices=choices, value=AUTOMATIC)

    def generate(
        path: str | None,
        mode_name: str,
        ambient_clip: str,
        n_steps: float,
        scale: float,
        seed_value: float,
        progress: gr.Progress = PROGRESS,
    ) -> tuple[str, gr.Audio, gr.Video]:
        hidden = gr.Audio(value=None, visible=False), gr.Video(value=None, visible=False)
        if not path:
            return render.alert("Upload a silent video first.", "info", "No video yet"), *hidden
        progress(0.1, desc="Generating a soundtrack")
        try:
            answer = client.generate(
                Path(path),
                mode=mode_name,
                ambient=None if ambient_clip == AUTOMATIC else ambient_clip,
                steps=int(n_steps),
                guidance=float(scale),
                seed=int(seed_value or 0),
            )
        except ApiError as exc:
            return render.api_alert(exc), *hidden
        if isinstance(answer, Media) and answer.media_type.startswith("audio/"):
            return _done(answer), gr.Audio(value=_saved(answer, ".wav"), visible=True), hidden[1]
        if isinstance(answer, Media) and answer.media_type.startswith("video/"):
            return _done(answer), hidden[0], gr.Video(value=_saved(answer, ".mp4"), visible=True)
        return render.alert("searchd's answer held neither audio nor video."), *hidden

    find_button.click(find, [video, count, where], [candidates, ambient])
    generate_button.click(
        generate,
        [video, mode, ambient, steps, guidance, seed],
        [outcome, generated_audio, generated_video],
    )


def _done(answer: Media) -> str:
    """What was made, and from which ambient clip."""
    info = answer.info or {}
    ambient = info.get("ambient")
    source = f"ambience from {ambient['clip_id']} ({ambient['reason']})" if ambient else ""
    made = f"{info['duration']:.1f} s, {info['steps']} steps, {source}" if info else ""
    return render.alert(f"Listen below. {made}".strip(), "info", "Soundtrack generated")


def _saved(media: Media, suffix: str) -> str:
    """Write generated media to a temp file Gradio can serve."""
    with tempfile.NamedTemporaryFile(
        prefix="foley-generated-", suffix=suffix, delete=False
    ) as handle:
        handle.write(media.content)
    return handle.name
