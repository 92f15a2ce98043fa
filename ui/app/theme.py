"""The app's look: a Gradio theme and the CSS for Foley's own HTML (cards, badges, alerts)."""

from __future__ import annotations

import gradio as gr


def theme() -> gr.themes.Base:
    return gr.themes.Soft(
        primary_hue="orange",
        secondary_hue="amber",
        neutral_hue="slate",
        # system fonts only: the app must look right with no internet access
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )


CSS = """
.gradio-container { max-width: 1200px !important; margin: 0 auto; }
.foley-header { display: flex; justify-content: space-between; align-items: center;
  gap: 1rem; padding: 0.9rem 1.2rem; border-radius: 14px;
  background: linear-gradient(120deg, #1f2937 0%, #7c2d12 100%); color: #fff; }
.foley-header h1 { margin: 0; font-size: 1.9rem; letter-spacing: 0.02em; color: #fff; }
.foley-header p { margin: 0.1rem 0 0; opacity: 0.85; color: #fde7d3; }
.foley-api { display: flex; align-items: center; gap: 0.6rem; text-align: right;
  font-size: 0.85rem; }
.foley-api code { background: rgba(255,255,255,0.12); color: #fff; padding: 0.1rem 0.4rem;
  border-radius: 6px; }
.foley-header .foley-health { color: #fde7d3; }
.foley-dot { width: 12px; height: 12px; border-radius: 50%; flex: none; }
.foley-dot-ok { background: #22c55e; box-shadow: 0 0 8px #22c55e; }
.foley-dot-down { background: #ef4444; box-shadow: 0 0 8px #ef4444; }
.foley-dot-unknown { background: #94a3b8; }

.foley-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr));
  gap: 14px; }
.foley-card { border: 1px solid var(--border-color-primary); border-radius: 12px;
  overflow: hidden; background: var(--block-background-fill); }
.foley-card video { width: 100%; aspect-ratio: 4 / 3; background: #000; display: block;
  object-fit: contain; }
.foley-card-body { padding: 0.55rem 0.7rem 0.7rem; }
.foley-card-top { display: flex; align-items: center; gap: 0.45rem; flex-wrap: wrap; }
.foley-card-top code { font-size: 0.85rem; }
.foley-rank { font-weight: 700; color: var(--color-accent); }
.foley-meta { font-size: 0.8rem; color: var(--body-text-color-subdued); margin-top: 0.2rem; }
.foley-narration { margin-top: 0.3rem; font-size: 0.92rem; }
.foley-muted { color: var(--body-text-color-subdued); font-style: italic; }

.foley-list { display: flex; flex-direction: column; gap: 10px; }
.foley-sound { display: flex; gap: 12px; align-items: center; padding: 8px;
  border: 1px solid var(--border-color-primary); border-radius: 12px;
  background: var(--block-background-fill); }
.foley-spectrogram { width: 240px; height: 68px; border-radius: 8px; flex: none;
  background: #000; object-fit: fill; }
.foley-sound-main { flex: 1; min-width: 0; }
.foley-sound-main .foley-card-body { padding: 0 0 0.3rem; }
.foley-sound audio { width: 100%; height: 34px; }

.foley-badge { display: inline-block; padding: 0.05rem 0.5rem; border-radius: 999px;
  font-size: 0.75rem; font-weight: 600; white-space: nowrap; }
.foley-badge-yes { background: #dcfce7; color: #166534; }
.foley-badge-no { background: #e2e8f0; color: #334155; }
.foley-badge-none { background: #f1f5f9; color: #64748b; }

.foley-table { width: 100%; border-collapse: collapse; font-size: 0.9rem; }
.foley-table th, .foley-table td { border-left: none !important; border-right: none !important; }
.foley-table th { text-align: left; font-weight: 600; padding: 0.4rem 0.5rem;
  border-bottom: 2px solid var(--border-color-primary); }
.foley-table td { padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--border-color-primary);
  vertical-align: middle; }
.foley-table audio { height: 30px; width: 220px; }
.foley-time { white-space: nowrap; font-variant-numeric: tabular-nums; }

.foley-alert { border-radius: 10px; padding: 0.7rem 1rem; border-left: 5px solid; }
.foley-alert p { margin: 0.2rem 0 0; }
.foley-alert strong, .foley-alert p { color: inherit !important; }
.foley-alert-error { background: #fef2f2; border-color: #dc2626; color: #7f1d1d; }
.foley-alert-notice { background: #fffbeb; border-color: #d97706; color: #78350f; }
.foley-alert-info { background: #eff6ff; border-color: #2563eb; color: #1e3a8a; }
.foley-inline-button { align-self: flex-end; }
.foley-empty { padding: 1.5rem; text-align: center; color: var(--body-text-color-subdued);
  border: 1px dashed var(--border-color-primary); border-radius: 12px; }

.foley-stats { display: flex; flex-wrap: wrap; gap: 10px; }
.foley-stat { flex: 1 1 100px; padding: 0.7rem 0.9rem; border-radius: 12px;
  border: 1px solid var(--border-color-primary); background: var(--block-background-fill); }
.foley-stat span { display: block; font-size: 0.8rem; color: var(--body-text-color-subdued); }
.foley-stat strong { font-size: 1.5rem; }
"""
