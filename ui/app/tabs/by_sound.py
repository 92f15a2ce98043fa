"""Tab: find video by sound — upload or record a sound, get videos playing at the match."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ui.app import render
from ui.app.tabs.common import PROGRESS, optional, search_options
from ui.client import ApiError, SearchClient


def build(client: SearchClient) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            sound = gr.Audio(
                sources=["upload", "microphone"],
                type="filepath",
                label="A sound",
                elem_id="sound-query",
            )
            count, where = search_options(k=6)
            button = gr.Button("Find videos", variant="primary", elem_id="sound-search")
        with gr.Column(scale=3):
            results = gr.HTML(
                render.placeholder("Upload or record a sound to find where it happens."),
                elem_id="sound-results",
            )

    def find(
        audio: str | None, k: float, filter_text: str, progress: gr.Progress = PROGRESS
    ) -> str:
        if not audio:
            return render.alert("Upload or record a sound first.", "info", "No sound yet")
        progress(0.3, desc="Searching videos by their sound")
        try:
            found = client.search(
                file=Path(audio), target="video", k=int(k), where=optional(filter_text)
            )
        except ApiError as exc:
            return render.api_alert(exc)
        return render.video_cards(found)

    for event in (button.click, sound.upload, sound.stop_recording):
        event(find, [sound, count, where], results)
