"""One figure of `make bench`: its value beside its target, its anchors and its previous result.

Every section of the benchmark (bench/__main__.py SECTIONS) turns what it measured into Figures.
`make bench` prints them in one table and writes them to bench/results.json under "figures", by
key, so the next run can say which got worse. An anchor is what the figure is read against: the
old Celery way, Dramatiq's own polling, the no-queue floor; in the figure's own unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: A figure is worse than its previous result past this fraction of it (machines and runs vary).
WORSE_BEYOND = 0.10


@dataclass(frozen=True)
class Figure:
    key: str  # stable across runs: section.name, e.g. "mime.folder_100mb_rate"
    label: str  # what was measured, as the table prints it
    value: float
    unit: str  # "MB/s", "MB", "ms", "rows/s", "mails/s", "x", "queries"
    target: float | None = None  # None: reported, not judged
    better: Literal["higher", "lower"] = "higher"
    anchors: dict[str, float] = field(default_factory=dict)  # name -> value in `unit`

    def met(self) -> bool | None:
        """Whether the target is met (a lower-is-better target is met at or below it); None without one."""
        if self.target is None:
            return None
        return self.value >= self.target if self.better == "higher" else self.value <= self.target

    def worse_than(self, previous: float | None) -> bool:
        if previous is None or previous == 0:
            return False
        change = (self.value - previous) / abs(previous)
        return change < -WORSE_BEYOND if self.better == "higher" else change > WORSE_BEYOND

    def as_json(self) -> dict:
        return {
            "label": self.label,
            "value": round(self.value, 3),
            "unit": self.unit,
            "target": self.target,
            "better": self.better,
            "anchors": {name: round(value, 3) for name, value in self.anchors.items()},
            "met": self.met(),
        }


def previous_values(results: dict | None) -> dict[str, float]:
    """Each figure's value in an earlier results.json (empty for one written before figures existed)."""
    if not results:
        return {}
    return {key: row["value"] for key, row in (results.get("figures") or {}).items()}


def _number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"


def _target(figure: Figure) -> str:
    if figure.target is None:
        return ""
    return f"{'>=' if figure.better == 'higher' else '<='} {_number(figure.target)}"


def table(figures: list[Figure], previous: dict[str, float]) -> str:
    """Every figure on one line: value, target, anchors, previous value; then what missed and what got worse."""
    lines = [f"   {'figure':<58} {'now':>10} {'unit':<8} {'target':>10} {'previous':>10}  status   anchors"]
    missed, worse = [], []
    for figure in figures:
        before = previous.get(figure.key)
        status = {True: "ok", False: "MISS", None: ""}[figure.met()]
        if figure.worse_than(before):
            status = f"{status} worse".strip()
            worse.append(figure)
        if figure.met() is False:
            missed.append(figure)
        anchors = "; ".join(f"{name} {_number(value)}" for name, value in figure.anchors.items())
        lines.append(
            f"   {figure.label:<58} {_number(figure.value):>10} {figure.unit:<8} {_target(figure):>10} "
            f"{_number(before) if before is not None else '-':>10}  {status:<8} {anchors}"
        )
    lines.append("")
    lines.append(f"   targets: {sum(f.met() is True for f in figures)} met, {len(missed)} missed")
    for figure in missed:
        lines.append(f"   [MISS] {figure.label}: {_number(figure.value)} {figure.unit}, target {_target(figure)}")
    for figure in worse:
        lines.append(
            f"   [worse] {figure.label}: {_number(figure.value)} {figure.unit}, was {_number(previous[figure.key])}"
        )
    return "\n".join(lines)
