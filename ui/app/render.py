"""HTML for the app's result views: video cards, sound cards, the discovery table, alerts.

Media URLs point at the UI server's own proxy (``media/clips/...``, see ``ui.app.media``), so
the browser never needs searchd's API key. A video plays its matched window through a media
fragment (``#t=start,end``): Chromium seeks to ``start`` and pauses at ``end``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import quote

from ui.client import ApiError, ClipResult

# consensus score at or above which the badge calls the action sounding
SOUNDING_AT = 0.5


def media_url(clip_id: str, kind: str) -> str:
    """The UI server's proxy URL for a clip's audio, video, thumbnail or spectrogram."""
    return f"media/clips/{quote(clip_id, safe='')}/{kind}"


def alert(message: str, kind: str = "error", title: str | None = None) -> str:
    """A message box shown in the page (kinds: error, notice, info)."""
    heading = title or {"error": "Something went wrong", "notice": "Not available yet"}.get(
        kind, "Note"
    )
    return (
        f'<div class="foley-alert foley-alert-{kind}" role="alert">'
        f"<strong>{html.escape(heading)}</strong><p>{html.escape(message)}</p></div>"
    )


def api_alert(error: ApiError) -> str:
    """An ApiError as an alert; 409 (model not built yet) is a notice, not a failure."""
    if error.not_built:
        return alert(error.message, "notice")
    if error.status == 0:
        return alert(error.message, "error", "searchd is unreachable")
    return alert(error.message, "error", f"searchd refused the request ({error.status})")


def placeholder(message: str) -> str:
    return f'<div class="foley-empty">{html.escape(message)}</div>'


def video_cards(results: Sequence[ClipResult]) -> str:
    """Result cards whose players start at the matched window."""
    return _listing(results, "No clips matched.", "foley-grid", _video_card)


def sound_cards(results: Sequence[ClipResult]) -> str:
    """Result rows with a spectrogram and an audio player for the clip's sound."""
    return _listing(results, "No sounds matched.", "foley-list", _sound_card)


def _listing(
    results: Sequence[ClipResult], empty: str, css: str, item: Callable[[int, ClipResult], str]
) -> str:
    if not results:
        return placeholder(empty)
    items = "".join(item(rank, r) for rank, r in enumerate(results, 1))
    return f'<div class="{css}">{items}</div>'


def _video_card(rank: int, r: ClipResult) -> str:
    return (
        f'<article class="foley-card" data-clip-id="{html.escape(r.clip_id)}">'
        f'<video controls preload="metadata" playsinline '
        f'poster="{media_url(r.clip_id, "thumbnail")}" '
        f'src="{media_url(r.clip_id, "video")}#t={r.start:.2f},{r.end:.2f}"></video>'
        f"{_card_body(rank, r)}</article>"
    )


def _sound_card(rank: int, r: ClipResult) -> str:
    return (
        f'<article class="foley-sound" data-clip-id="{html.escape(r.clip_id)}">'
        f'<img class="foley-spectrogram" loading="lazy" alt="spectrogram of {r.clip_id}" '
        f'src="{media_url(r.clip_id, "spectrogram.png")}">'
        f'<div class="foley-sound-main">{_card_body(rank, r)}'
        f'<audio controls preload="none" src="{media_url(r.clip_id, "audio")}"></audio>'
        f"</div></article>"
    )


def discovery_table(results: Sequence[ClipResult]) -> str:
    """The consensus ranking as a table with a player per row."""
    if not results:
        return placeholder("No clips to rank.")
    rows = "".join(
        f'<tr data-clip-id="{html.escape(r.clip_id)}"><td class="foley-rank">{rank}</td>'
        f"<td>{sounding_badge(r.sounding)}</td>"
        f'<td><code>{html.escape(r.clip_id)}</code></td><td class="foley-time">{_span(r)}</td>'
        f"<td>{_narration(r)}</td>"
        f'<td><audio controls preload="none" src="{media_url(r.clip_id, "audio")}"></audio></td>'
        "</tr>"
        for rank, r in enumerate(results, 1)
    )
    columns = ("#", "sounding", "clip", "time", "narration", "listen")
    head = "<tr>" + "".join(f"<th>{name}</th>" for name in columns) + "</tr>"
    return f'<table class="foley-table"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def sounding_badge(sounding: float | None) -> str:
    """A pill with the consensus score, coloured by whether the action makes sound."""
    if sounding is None:
        return '<span class="foley-badge foley-badge-none">sounding n/a</span>'
    kind = "yes" if sounding >= SOUNDING_AT else "no"
    label = "sounding" if kind == "yes" else "quiet"
    return (
        f'<span class="foley-badge foley-badge-{kind}" title="consensus score">'
        f"{label} {sounding:.2f}</span>"
    )


def stat_tiles(tiles: Sequence[tuple[str, str]]) -> str:
    """Big-number tiles: (label, value)."""
    cells = "".join(
        f'<div class="foley-stat"><span>{html.escape(label)}</span>'
        f"<strong>{html.escape(value)}</strong></div>"
        for label, value in tiles
    )
    return f'<div class="foley-stats">{cells}</div>'


def header(api_url: str, health: str, healthy: bool | None) -> str:
    """The page header: name, tagline, searchd URL and its health (None: not known yet)."""
    state = {True: "ok", False: "down", None: "unknown"}[healthy]
    return (
        '<header class="foley-header"><div><h1>Foley</h1>'
        "<p>Search narrated video by sound, sight and words.</p></div>"
        f'<div class="foley-api"><span class="foley-dot foley-dot-{state}"></span>'
        f'<span><code>{html.escape(api_url)}</code><br><small class="foley-health">'
        f"{html.escape(health)}</small></span></div></header>"
    )


def _card_body(rank: int, r: ClipResult) -> str:
    return (
        '<div class="foley-card-body"><div class="foley-card-top">'
        f'<span class="foley-rank">#{rank}</span><code>{html.escape(r.clip_id)}</code>'
        f"{sounding_badge(r.sounding)}</div>"
        f'<div class="foley-meta">{_span(r)} · {html.escape(Path(r.video).name)} · '
        f"score {r.score:.4f}</div>"
        f'<div class="foley-narration">{_narration(r)}</div></div>'
    )


def _span(r: ClipResult) -> str:
    return f"{r.start:.2f}–{r.end:.2f} s"


def _narration(r: ClipResult) -> str:
    if not r.narration:
        return '<span class="foley-muted">no narration</span>'
    return html.escape(r.narration)
