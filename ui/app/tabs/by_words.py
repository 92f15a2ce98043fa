"""Tab: find sounds by words — a text query, audio results with spectrograms and players."""

from __future__ import annotations

import gradio as gr

from ui.app import render
from ui.app.tabs.common import PROGRESS, optional, search_options
from ui.client import ApiError, SearchClient

EXAMPLES = ["slicing vegetables", "a bird singing", "metal clanking", "running water"]


def build(client: SearchClient) -> None:
    with gr.Row(equal_height=False):
        query = gr.Textbox(
            label="Describe a sound",
            placeholder="e.g. slicing vegetables",
            scale=4,
            elem_id="words-query",
        )
        button = gr.Button(
            "Find sounds",
            variant="primary",
            scale=1,
            elem_id="words-search",
            elem_classes="foley-inline-button",
        )
    gr.Examples(EXAMPLES, inputs=query, label="Try")
    count, where = search_options(k=8)
    results = gr.HTML(
        render.placeholder("Words in, sounds out: the text need not match any narration."),
        elem_id="words-results",
    )

    def find(text: str, k: float, filter_text: str, progress: gr.Progress = PROGRESS) -> str:
        if not (text or "").strip():
            return render.alert("Type a few words describing a sound.", "info", "No words yet")
        progress(0.3, desc="Searching sounds")
        try:
            found = client.search(
                text=text.strip(), target="audio", k=int(k), where=optional(filter_text)
            )
        except ApiError as exc:
            return render.api_alert(exc)
        return render.sound_cards(found)

    for event in (button.click, query.submit):
        event(find, [query, count, where], results)
