"""A server-rendered SVG sparkline of a sync's recent runs (no chart library needed)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from mogulsync.runs import RunRecord

WIDTH = 120
HEIGHT = 24
_BAR_GAP = 2
#: colour per status (green ok, amber partial, red failed, grey otherwise)
COLOURS = {"success": "#2f9e44", "partial": "#f08c00", "failed": "#e03131", "running": "#1c7ed6"}
_OTHER = "#adb5bd"


def sparkline(runs: Sequence[RunRecord]) -> Markup:
    """Bars of the runs oldest → newest: height by rows sent, colour by status."""
    if not runs:
        return Markup('<span class="muted">no runs yet</span>')
    ordered = list(reversed(runs))
    sent = [max(r.rows.succeeded + r.rows.failed, 0) for r in ordered]
    top = max(*sent, 1)
    bar = max((WIDTH - _BAR_GAP * (len(ordered) - 1)) / len(ordered), 1.0)
    parts = []
    for index, (record, count) in enumerate(zip(ordered, sent, strict=True)):
        height = max(HEIGHT * count / top, 3.0)
        x = index * (bar + _BAR_GAP)
        colour = COLOURS.get(record.status.value, _OTHER)
        title = escape(f"{record.started_at[:16]} {record.status.value}: {count} rows")
        parts.append(
            f'<rect x="{x:.1f}" y="{HEIGHT - height:.1f}" width="{bar:.1f}" height="{height:.1f}"'
            f' fill="{colour}"><title>{title}</title></rect>'
        )
    label = escape(f"last {len(ordered)} runs")
    # every interpolated text above is escaped; the rest are numbers and constants
    return Markup(  # noqa: S704
        f'<svg class="spark" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' role="img" aria-label="{label}">{"".join(parts)}</svg>'
    )
