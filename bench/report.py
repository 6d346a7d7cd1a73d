"""A markdown table every benchmark prints; numbers are always measured in the same run."""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parent.parent / "devtools" / "data" / "astronaut.png"
"""The example portrait, by absolute path: `albumify bench` may run from any directory."""


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


def timed_request(pipeline: Any, photo: Any, options: Any) -> tuple[float, dict[str, float]]:
    """One cover as a member gets it (pipeline + JPEG encode): total seconds and per stage."""
    from imaging.photo import encode_cover

    start = time.perf_counter()
    result = pipeline.make_cover(photo, options)
    encode_start = time.perf_counter()
    encode_cover(result.image, "jpeg")
    timings = {**result.timings, "encoding": time.perf_counter() - encode_start}
    return time.perf_counter() - start, timings


def add_stage_rows(
    table: Table, timings: list[dict[str, float]], total: float, of: str, label: str = "stage"
) -> None:
    """One row per pipeline stage: its median time and its share of the median request."""
    for stage in timings[0]:
        median = statistics.median(t[stage] for t in timings if stage in t)
        table.add(f"  {label}: {stage}", f"{median * 1000:.0f} ms", f"{median / total:.0%} {of}")


def machine() -> str:
    import torch  # here, not at import: bench_coldstart must not map torch's libraries

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"{device}, torch {torch.__version__}"
    )
