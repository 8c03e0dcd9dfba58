"""An SVG chart of a benchmark run: occupancy per 15 minutes and abandon rate per hour, one
line per policy, with the abandon target and twice the target marked. Plain SVG text, so the
benchmark needs no plotting library and the README shows the file as it is."""

from __future__ import annotations

from html import escape

from pbx_engine.lab.pacing.bench import PolicySummary

COLOURS = {
    "progressive": "#8c8c8c",
    "ratio": "#e6a23c",
    "adaptive": "#d9534f",
    "adaptive-hard-limit": "#b03a2e",
    "adaptive-average": "#f08080",
    "predictive": "#2a7ae2",
    "clairvoyant": "#2e8b57",
}
WIDTH, PANEL, MARGIN_LEFT, MARGIN_TOP, GAP = 760, 190, 56, 36, 56


def timeline_svg(
    title: str,
    summaries: list[PolicySummary],
    *,
    duration_seconds: float,
    abandon_target: float,
) -> str:
    plot_width = WIDTH - MARGIN_LEFT - 150
    height = MARGIN_TOP + 2 * PANEL + GAP + 40
    hours = duration_seconds / 3600.0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{MARGIN_LEFT}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]

    def x_at(hour: float) -> float:
        return MARGIN_LEFT + plot_width * hour / hours

    def panel(top: float, label: str, y_max: float, ticks: list[float], fmt) -> None:
        out.append(
            f'<text x="{MARGIN_LEFT}" y="{top - 6}" font-weight="bold">{escape(label)}</text>'
        )
        out.append(
            f'<rect x="{MARGIN_LEFT}" y="{top}" width="{plot_width}" height="{PANEL}" '
            'fill="none" stroke="#999"/>'
        )
        for tick in ticks:
            y = top + PANEL - PANEL * tick / y_max
            out.append(
                f'<line x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_width}" y1="{y:.1f}" '
                f'y2="{y:.1f}" stroke="#eee"/>'
            )
            out.append(
                f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(tick)}</text>'
            )
        for hour in range(int(hours) + 1):
            out.append(
                f'<text x="{x_at(hour):.1f}" y="{top + PANEL + 14}" '
                f'text-anchor="middle">{hour}h</text>'
            )

    def line(top, values, step_hours, y_max, colour, *, steps=False, dash=""):
        points = []
        for i, value in enumerate(values):
            y = top + PANEL - PANEL * min(value, y_max) / y_max
            if steps:
                points += [(x_at(i * step_hours), y), (x_at(min((i + 1) * step_hours, hours)), y)]
            else:
                points.append((x_at((i + 0.5) * step_hours), y))
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.8"{extra}/>'
        )

    top = MARGIN_TOP + 10
    panel(
        top,
        "agent occupancy (talk / logged-in time), per 15 minutes",
        1.0,
        [0.2, 0.4, 0.6, 0.8, 1.0],
        lambda v: f"{v:.0%}",
    )
    for s in summaries:
        line(top, s.occupancy_timeline, 0.25, 1.0, COLOURS.get(s.policy, "#444"))

    top2 = top + PANEL + GAP
    y_max = max(0.01, 3 * abandon_target)
    ticks = [abandon_target, 2 * abandon_target, 3 * abandon_target]
    panel(
        top2, "abandon rate (abandons / live answers), per hour", y_max, ticks, lambda v: f"{v:.0%}"
    )
    for level, dash in ((abandon_target, "6 3"), (2 * abandon_target, "2 3")):
        y = top2 + PANEL - PANEL * level / y_max
        out.append(
            f'<line x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_width}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#333" stroke-dasharray="{dash}"/>'
        )
    for s in summaries:
        if s.policy != "clairvoyant":
            line(top2, s.abandon_timeline, 1.0, y_max, COLOURS.get(s.policy, "#444"), steps=True)

    legend_x = MARGIN_LEFT + plot_width + 16
    for i, s in enumerate(summaries):
        y = top + 10 + 18 * i
        colour = COLOURS.get(s.policy, "#444")
        out.append(
            f'<line x1="{legend_x}" x2="{legend_x + 18}" y1="{y}" y2="{y}" '
            f'stroke="{colour}" stroke-width="3"/>'
        )
        out.append(f'<text x="{legend_x + 24}" y="{y + 4}">{escape(s.policy)}</text>')
    y = top2 + 10
    out.append(f'<text x="{legend_x}" y="{y + 4}">- - target {abandon_target:.0%}</text>')
    out.append(f'<text x="{legend_x}" y="{y + 22}">··· twice the target</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
