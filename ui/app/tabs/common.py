"""Controls several tabs share: result count and the catalog filter."""

from __future__ import annotations

import gradio as gr

# Gradio swaps this default for a per-call progress tracker (it is never called itself)
PROGRESS = gr.Progress()


def search_options(k: int = 8) -> tuple[gr.Slider, gr.Textbox]:
    """A results slider and a `--where` filter box, folded away under "Options"."""
    with gr.Accordion("Options", open=False):
        count = gr.Slider(1, 30, value=k, step=1, label="Results")
        where = gr.Textbox(
            label="Filter (catalog columns)",
            placeholder="e.g. start > 10 AND video LIKE '%v01%'",
        )
    return count, where


def optional(text: str | None) -> str | None:
    """A text box's value, or None when blank."""
    return (text or "").strip() or None
