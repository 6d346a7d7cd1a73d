"""A markdown table every benchmark prints; numbers are always measured in the same run."""

from __future__ import annotations

import platform
import statistics
from dataclasses import dataclass, field

import torch


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        lines = [
            f"### {self.title}",
            "",
            "| " + " | ".join(self.columns) + " |",
            "|" + "|".join("---" for _ in self.columns) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"


def add_stage_rows(table: Table, timings: list[dict[str, float]], total: float, of: str) -> None:
    """One row per pipeline stage: its median time and its share of the median request."""
    for stage in timings[0]:
        median = statistics.median(t[stage] for t in timings if stage in t)
        table.add(f"  stage: {stage}", f"{median * 1000:.0f} ms", f"{median / total:.0%} {of}")


def machine() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"{device}, torch {torch.__version__}"
    )
