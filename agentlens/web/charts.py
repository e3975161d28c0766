"""Geometry of the server-drawn SVG charts (no script draws them, so the CSP stays strict)."""
import math
from dataclasses import dataclass

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 52, 24, 10, 26
DAY_MS = 86_400_000


@dataclass
class Column:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass
class ColumnChart:
    columns: list
    ticks: list  # (y, value) of the horizontal grid lines
    labels: list  # (x, text) under the axis
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    bottom: int = HEIGHT - BOTTOM


def nice_top(value, whole=True):
    """The top of the axis: four steps of 1, 2, 2.5 or 5 × 10^k, the smallest at or
    above value; for counts (``whole``) k ≥ 0 and 2.5 only from 10 up, so that their
    ticks are whole; for amounts (a cost of cents a day) k may be negative."""
    needed = (max(value, 1) if whole else value) / 4
    if needed <= 0:
        return 4
    scale = 10.0 ** math.floor(math.log10(needed))
    if whole:
        scale = max(int(scale), 1)
    steps = (1, 2, 5, 10) if scale == 1 else (1, 2, 2.5, 5, 10)
    return 4 * next(step * scale for step in steps if step * scale >= needed * (1 - 1e-12))


def column_chart(points, label_every=1, whole=True):
    """``points``: ``[(label, value, title)]`` left to right, one column each; ``whole``:
    the values are counts (else amounts, which may be fractions)."""
    top = nice_top(max((value for _, value, _ in points), default=0), whole)
    plot_height = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT - RIGHT) / max(len(points), 1)
    gap = min(slot * 0.2, 4)
    columns, labels = [], []
    for i, (label, value, title) in enumerate(points):
        height = value / top * plot_height
        x = LEFT + i * slot
        columns.append(Column(round(x + gap / 2, 2), round(HEIGHT - BOTTOM - height, 2),
                              round(slot - gap, 2), round(height, 2), title))
        if i % label_every == 0:
            labels.append((round(x + slot / 2, 2), label))
    ticks = [(round(HEIGHT - BOTTOM - plot_height * i / 4, 2), top * i / 4) for i in range(5)]
    return ColumnChart(columns, ticks, labels)


def day_range(now_ms, days):
    """Day numbers (since the epoch, UTC) of the last ``days`` days up to today."""
    today = now_ms // DAY_MS
    return range(today - days, today + 1)


def share(value, largest):
    """A bar's length in percent of the largest (a sliver for any non-zero value)."""
    if not largest or not value:
        return 0
    return max(round(value / largest * 100, 2), 0.5)
