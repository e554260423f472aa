"""The trial report's plots, drawn with matplotlib as SVG text (and the helpers the
campaign report's plots share).

Figures are built with the object API (no pyplot state), so plotting is safe
from any thread and never opens a window. ``svg.hashsalt`` makes the output
the same for the same data.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from lassi_ee.errors import LassiError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lassi_ee.energy.base import Timeline
    from lassi_ee.report.trial import TimelineView, TrialReport, VersionRow

COLORS = ["#1f5fa8", "#d9791b", "#2e8b57", "#8e44ad"]
OUTCOME_STYLE = {
    # outcome -> (legend label, marker, color)
    "improved": ("valid, lower (new best)", "o", "#2e8b57"),
    "not_lower": ("valid, not lower", "o", "#1f5fa8"),
    "invalid": ("invalid (judge or check)", "X", "#c0392b"),
    "compile_failed": ("failed: compile", "v", "#7f7f7f"),
    "run_failed": ("failed: run", "v", "#4d4d4d"),
    "abandoned": ("failed: abandoned", "v", "#b3b3b3"),
}


def new_figure(width_in: float, height_in: float) -> Figure:
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise LassiError(
            "reports draw their plots with matplotlib: pip install 'lassi-ee[report]'"
        ) from None
    matplotlib.rcParams["svg.hashsalt"] = "lassi-ee"
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: small and searchable
    return Figure(figsize=(width_in, height_in), layout="constrained")


def svg_text(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _spans(timeline: Timeline, start: str, end: str) -> list[tuple[float, float]]:
    return list(zip(timeline.marker_times(start), timeline.marker_times(end), strict=False))


def timeline_svg(views: list[TimelineView]) -> str:
    """Power over time of each version, its idle level and its measured windows; where
    no power was sampled, the measured windows alone, said so in the title."""
    figure = new_figure(9.0, 3.8)
    axes = figure.add_subplot()
    shown = [v for v in views if v.timeline is not None]
    with_power = [v for v in shown if v.timeline is not None and v.timeline.samples]
    if with_power:
        _power_lines(axes, with_power)
        axes.set_ylabel("power (W)")
        axes.set_title("Power during the measurement: source and best version")
    else:
        _window_bars(axes, shown)
        axes.set_title("No power samples (no sensor): when each version ran, time only")
    missing = [f"{v.label}: {v.missing}" for v in views if v.timeline is None]
    if missing:
        axes.text(0.01, 0.98, "\n".join(missing), transform=axes.transAxes, va="top", fontsize=8)
    axes.set_xlabel("time since the measurement started (s)")
    axes.grid(alpha=0.3)
    return svg_text(figure)


def _power_lines(axes: Axes, views: list[TimelineView]) -> None:
    for n, view in enumerate(views):
        timeline = view.timeline
        assert timeline is not None
        color = COLORS[n % len(COLORS)]
        times = [t for t, _ in timeline.samples]
        powers = [p for _, p in timeline.samples]
        axes.plot(times, powers, color=color, linewidth=1.0, label=f"{view.label}: power")
        for k, (start, end) in enumerate(_spans(timeline, "window_start", "window_end")):
            label = f"{view.label}: measured windows" if k == 0 else None
            axes.axvspan(start, end, color=color, alpha=0.10, label=label)
        if timeline.idle_power_w is not None:
            axes.axhline(
                timeline.idle_power_w,
                color=color,
                linestyle="--",
                linewidth=1.0,
                label=f"{view.label}: idle {timeline.idle_power_w:.1f} W",
            )
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _window_bars(axes: Axes, views: list[TimelineView]) -> None:
    rows = []
    for n, view in enumerate(views):
        timeline = view.timeline
        assert timeline is not None
        color = COLORS[n % len(COLORS)]
        warmup = [(s, e - s) for s, e in _spans(timeline, "warmup_start", "warmup_end")]
        windows = [(s, e - s) for s, e in _spans(timeline, "window_start", "window_end")]
        axes.broken_barh(warmup, (n - 0.3, 0.6), color=color, alpha=0.35)
        axes.broken_barh(windows, (n - 0.3, 0.6), color=color, edgecolor="white")
        rows.append(view.label)
    axes.set_yticks(range(len(rows)), rows)
    axes.set_ylim(-0.7, max(len(rows), 1) - 0.3)
    axes.text(
        0.99,
        0.02,
        "light: warm-up run; dark: measured windows",
        transform=axes.transAxes,
        ha="right",
        fontsize=8,
    )


def candidates_svg(report: TrialReport) -> str:
    """Every version's objective by iteration, marked valid / invalid / failed; the source
    as a line. Versions never measured sit on the floor of the plot."""
    figure = new_figure(9.0, 4.0)
    axes = figure.add_subplot()
    unit = report.objective_unit
    source = (
        report.result.source.energy_j
        if report.result.objective == "energy"
        else report.result.source.runtime_s
    )
    if source is not None:
        axes.axhline(source, color="#333333", linestyle="--", linewidth=1.0, label="source")
    labelled: set[str] = set()
    for row in report.versions:
        style = OUTCOME_STYLE.get(row.outcome)
        if style is None:
            continue
        label, marker, color = style
        x = _x(row)
        y = row.objective_value if row.objective_value is not None else 0.0
        axes.scatter(
            [x],
            [y],
            marker=marker,
            s=70,
            color=color,
            label=label if label not in labelled else None,
            zorder=3,
            clip_on=False,
        )
        labelled.add(label)
        axes.annotate(
            f"v{row.version}", (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8
        )
        if row.is_best:
            axes.scatter(
                [x], [y], marker="*", s=260, facecolor="none", edgecolor="#2e8b57", zorder=4
            )
    iterations = sorted({row.iteration for row in report.versions})
    axes.set_xticks(iterations, [_tick(i) for i in iterations])
    axes.set_xlabel("iteration (self-corrections to the right, a step's siblings side by side)")
    axes.set_ylabel(f"{report.objective_name} ({unit})")
    axes.set_ylim(bottom=0)
    axes.set_title(f"Every version's {report.objective_name}; failed ones were never measured")
    axes.grid(alpha=0.3)
    if labelled:  # no version with a drawn outcome (none got past its build): no legend
        axes.legend(fontsize=8, loc="best")
    return svg_text(figure)


def _x(row: VersionRow) -> float:
    """Its iteration; self-corrections to the right, a step's siblings spread across it."""
    if row.step_candidates > 1:
        spread = 0.6 * (row.sibling - 1) / (row.step_candidates - 1)
        return row.iteration - 0.3 + spread + 0.05 * row.attempt
    return row.iteration + 0.15 * row.attempt


def _tick(iteration: int) -> str:
    return "vanilla" if iteration == 0 else str(iteration)
