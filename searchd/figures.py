"""Pictures of results: DenseAV heat maps drawn over the frame, as PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from searchd.localize import Localization, heat_box  # noqa: E402

HEAD_COLOURS = ("tab:orange", "tab:blue", "tab:green", "tab:purple")


def localization_png(located: Localization, title: str = "") -> bytes:
    """Frame (with the box and peak of the moment's map, ``Localization.heat``), one heat-map
    overlay per head (its box, peak), and each head's activation over time.

    The strongest head is marked; the legend names the sound head and the speech head; with
    a speech gate, a grey band shows its speech probability over time.
    """
    heads = located.heads
    frame = located.frame
    aspect = frame.shape[1] / frame.shape[0]
    columns = 1 + len(heads)
    fig = plt.figure(figsize=(2.6 * aspect * columns, 4.4), dpi=120)
    grid = fig.add_gridspec(2, columns, height_ratios=(3.2, 1.2), hspace=0.45, wspace=0.08)
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(frame)
    peak, (x0, y0, x1, y1) = heat_box(located.heat)
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.5, ec="white"))
    ax.plot(*peak, marker="+", color="white", markersize=10, mew=2)
    ax.set_title("frame\nwhere: box, peak", fontsize=9)
    ax.axis("off")
    low = min(float(h.heat.min()) for h in heads)
    high = max(float(h.heat.max()) for h in heads)
    strongest = located.strongest.head
    for i, head in enumerate(heads):
        ax = fig.add_subplot(grid[0, i + 1])
        ax.imshow(frame)
        ax.imshow(head.heat, cmap="inferno", alpha=0.6, vmin=low, vmax=high)
        x0, y0, x1, y1 = head.box
        colour = HEAD_COLOURS[i % len(HEAD_COLOURS)]
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.5, ec=colour))
        ax.plot(*head.peak, marker="+", color="white", markersize=10, mew=2)
        mark = "  (strongest)" if head.head == strongest else ""
        weight = "bold" if head.head == strongest else "normal"
        ax.set_title(
            f"{_label(head.name)}{mark}\nactivation {head.activation:.3f}",
            fontsize=9,
            color=colour,
            fontweight=weight,
        )
        ax.axis("off")
    strip = fig.add_subplot(grid[1, :])
    steps = len(heads[0].strip)
    times = (np.arange(steps) + 0.5) * located.seconds / steps
    for i, head in enumerate(heads):
        strip.plot(
            times,
            head.strip,
            color=HEAD_COLOURS[i % len(HEAD_COLOURS)],
            label=_label(head.name),
            lw=2,
        )
    if located.span is not None:
        strip.axvspan(*located.span, color="grey", alpha=0.2, label="query span")
    strip.set_xlim(0, located.seconds)
    strip.set_xlabel("audio time (s)", fontsize=8)
    strip.set_ylabel("peak similarity", fontsize=8)
    strip.tick_params(labelsize=7)
    strip.legend(fontsize=7, loc="upper right", ncols=3)
    if located.speech is not None:  # the speech gate: when the sound is a word
        gate = strip.twinx()
        gate.fill_between(times, located.speech, color="black", alpha=0.12, step="mid")
        gate.set_ylim(0, 1)
        gate.set_ylabel("speech", fontsize=8)
        gate.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _label(name: str) -> str:
    """A head's legend label: "sound head"; unnamed heads are already "head N"."""
    return name if name.startswith("head") else f"{name} head"
