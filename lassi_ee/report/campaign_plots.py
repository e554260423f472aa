"""The campaign report's plots: grouped bars in panels, drawn with matplotlib as SVG text.

Every bar carries an SVG id, ``NAME-pP-sS-bB`` (panel, series, bar), and its value
as text over it, so a reader sees the number and a test can find each bar.
"""

from __future__ import annotations

import math

from lassi_ee.report.campaign import BarPlot
from lassi_ee.report.plots import new_figure, svg_text

SERIES_COLORS = ["#d9791b", "#1f5fa8", "#2e8b57", "#8e44ad"]  # vanilla orange, LASSI-EE blue
SINGLE_COLOR = "#2e8b57"
WIDE_PANEL = 6  # panels with more groups than this get a row of their own


def bar_id(plot: str, panel: int, series: int, bar: int) -> str:
    return f"{plot}-p{panel}-s{series}-b{bar}"


def bars_svg(plot: BarPlot) -> str:
    """The plot's panels side by side (three to a row), or one to a row when they are wide;
    one y scale for all panels, so their bars compare."""
    groups = max(len(panel.x_labels) for panel in plot.panels)
    columns = 1 if groups > WIDE_PANEL else min(3, len(plot.panels))
    rows = math.ceil(len(plot.panels) / columns)
    width_in = max(9.0, 0.6 * groups) if columns == 1 else 3.4 * columns
    figure = new_figure(width_in, 0.8 + 3.0 * rows)
    figure.suptitle(plot.title, fontsize=11)
    highest = max((v for p in plot.panels for s in p.series for v in s.values), default=0.0)
    top = 1.15 * (plot.y_max if plot.y_max is not None else max(highest, 0.05))
    many_bars = groups * max(len(p.series) for p in plot.panels) > 8

    from matplotlib.ticker import PercentFormatter

    for p, panel in enumerate(plot.panels):
        axes = figure.add_subplot(rows, columns, p + 1)
        count = len(panel.series)
        width = 0.8 / count
        for s, series in enumerate(panel.series):
            offset = (s - (count - 1) / 2) * width
            positions = [i + offset for i in range(len(series.values))]
            bars = axes.bar(
                positions,
                series.values,
                width=width * 0.95,
                color=SERIES_COLORS[s % len(SERIES_COLORS)] if count > 1 else SINGLE_COLOR,
                label=series.name if p == 0 else None,
            )
            for b, (bar, text) in enumerate(zip(bars, series.texts, strict=True)):
                bar.set_gid(bar_id(plot.name, p, s, b))
                axes.text(
                    bar.get_x() + bar.get_width() / 2,
                    bar.get_height() + 0.01 * top,
                    text,
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    rotation=90 if many_bars else 0,
                )
        axes.set_xticks(range(len(panel.x_labels)), panel.x_labels)
        if columns == 1 and groups > WIDE_PANEL:
            axes.tick_params(axis="x", labelrotation=30)
        axes.set_ylim(0, top)
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        axes.set_ylabel(panel.y_label)
        axes.set_title(panel.title, fontsize=10)
        axes.grid(axis="y", alpha=0.3)
    if len(plot.panels[0].series) > 1:
        figure.legend(loc="outside lower center", ncols=len(plot.panels[0].series), fontsize=9)
    return svg_text(figure)
