"""Tab: discover sounding actions — clips ranked by the consensus score, filterable by text."""

from __future__ import annotations

import gradio as gr

from ui.app import render
from ui.app.tabs.common import PROGRESS, optional
from ui.client import ApiError, SearchClient


def build(client: SearchClient, tab: gr.Tab) -> None:
    """The tab's controls; the ranking loads when the tab is opened."""
    gr.Markdown(
        "Clips whose sound comes from the visible action rank first: the video, audio and "
        "narration encoders agree. Silent actions and off-screen sounds sink."
    )
    with gr.Row(equal_height=False):
        text = gr.Textbox(
            label="Only clips matching (optional)", placeholder="e.g. cutting", scale=4
        )
        count = gr.Slider(5, 100, value=20, step=5, label="Clips", scale=2)
        button = gr.Button(
            "Rank clips",
            variant="primary",
            scale=1,
            elem_id="discover-run",
            elem_classes="foley-inline-button",
        )
    table = gr.HTML(
        render.placeholder("Press “Rank clips” to list the sounding actions."),
        elem_id="discover-results",
    )

    def rank(filter_text: str, k: float, progress: gr.Progress = PROGRESS) -> str:
        progress(0.3, desc="Ranking clips by consensus")
        try:
            found = client.discover(k=int(k), text=optional(filter_text))
        except ApiError as exc:
            return render.api_alert(exc)
        return render.discovery_table(found)

    for event in (button.click, text.submit, tab.select):
        event(rank, [text, count], table)
