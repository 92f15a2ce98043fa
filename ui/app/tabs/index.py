"""Tab: the index — what searchd's home holds: counts, models, index manifest, ingest errors."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ui.app import render
from ui.client import ApiError, SearchClient

MODEL_COLUMNS = ["current", "name", "version", "steps", "train s", "created"]
ERROR_COLUMNS = ["file", "error"]


def build(client: SearchClient, tab: gr.Tab) -> None:
    """The tab's views; they load when the tab is opened and on "Refresh"."""
    with gr.Row(equal_height=True):
        gr.Markdown("### What searchd's home holds")
        refresh = gr.Button("Refresh", size="sm", scale=0, min_width=100)
    tiles = gr.HTML(render.placeholder("Loading…"), elem_id="index-stats")
    models = gr.Dataframe(headers=MODEL_COLUMNS, label="Models", interactive=False)
    errors_note = gr.HTML()
    errors = gr.Dataframe(
        headers=ERROR_COLUMNS,
        label="Files that could not be used",
        interactive=False,
        wrap=True,
        visible=False,
    )
    with gr.Accordion("Index manifest", open=False):
        manifest = gr.JSON(label="manifest")

    def load() -> tuple[str, list[list[Any]], str, gr.Dataframe, dict[str, Any]]:
        try:
            status = client.status()
        except ApiError as exc:
            return render.api_alert(exc), [], "", gr.Dataframe(visible=False), {}
        failed = [[e.get("path", ""), e.get("error", "")] for e in status.get("errors", [])]
        note = (
            render.alert(f"{len(failed)} file(s) could not be ingested.", "notice", "Ingest errors")
            if failed
            else render.placeholder("Every file was ingested without error.")
        )
        return (
            render.stat_tiles(_tiles(status)),
            _model_rows(status),
            note,
            gr.Dataframe(value=failed, visible=bool(failed)),
            status.get("index") or {},
        )

    for event in (refresh.click, tab.select):
        event(load, None, [tiles, models, errors_note, errors, manifest])


def _tiles(status: dict[str, Any]) -> list[tuple[str, str]]:
    vectors = status.get("vectors") or {}
    current = next((m for m in status.get("models", []) if m.get("current")), None)
    return [
        ("videos", str(status.get("videos", 0))),
        ("clips", str(status.get("clips", 0))),
        *((f"{modality} vectors", str(n)) for modality, n in vectors.items()),
        ("model", current["version"][:12] if current else "none"),
    ]


def _model_rows(status: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            "●" if m.get("current") else "",
            m.get("name"),
            m.get("version"),
            m.get("steps"),
            m.get("train_seconds"),
            str(m.get("created_at", ""))[:19].replace("T", " "),
        ]
        for m in status.get("models", [])
    ]
