"""Varied matches: how often each library cover wins over varied real photos (issue 15).

Photos: the real set of `tests.photos` (people alone, crops of a group with neighbours, small
faces, groups, no face) and its variants (scale, crop, rotation, mirror, colour cast, other
backgrounds): ≥ 50 photos. Libraries: the generated starter library and a generated library of
240 covers (random palettes and layer stacks), each written in the index format.

Rows, measured in the same run:
- baseline: the classic-v1 descriptor (kept here as it was) with plain cosine top-1;
- classic-v2 with plain cosine top-1 (the descriptor alone);
- ours: classic-v2 chosen by `CoverIndex.match` (library-mean centring, CSLS hubness
  reduction, near-ties within `TIE_MARGIN` broken by the request's seed).
For ours it also reports how far the chosen cover is from the best one: on the score it is
chosen by (≤ TIE_MARGIN by construction) and in plain cosine.

Run: `python -m bench.bench_variety`.
"""

from __future__ import annotations

import colorsys
import tempfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from bench.report import Table
from index.art import LAYERS, Template, render_template
from index.library import CoverIndex, IndexWriter
from index.search import TIE_MARGIN
from index.starter import TEMPLATES, template_record
from models.embedder import ClassicEmbedder
from models.vectors import l2_normalise

GENERATED_COVERS = 240
GENRES = ("rap", "rock", "folk", "electro", "disco", "jazz", "k-pop", "punk", "soul", "indie")


def _palette(rng: np.random.Generator) -> tuple[str, ...]:
    """Four colours around one hue, muted to vivid, dark or light: like real covers, most are
    not neon."""
    hue = rng.random()
    saturation = float(rng.choice([0.12, 0.3, 0.6, 0.9]))
    values = [0.12, 0.45, 0.85, 0.7] if rng.random() < 0.5 else [0.92, 0.6, 0.3, 0.7]
    colours = []
    for i, value in enumerate(values):
        shift = 0.5 if i == 3 and rng.random() < 0.5 else 0.0
        h = (hue + rng.normal(0, 0.06) + shift) % 1
        s = float(np.clip(saturation + rng.normal(0, 0.1), 0, 1))
        r, g, b = colorsys.hsv_to_rgb(h, s, value)
        colours.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return tuple(colours)


def generated_templates(count: int = GENERATED_COVERS, seed: int = 1) -> list[Template]:
    """`count` random templates: a base layer, up to two more, a random palette."""
    rng = np.random.default_rng(seed)
    bases = ("vertical-gradient", "diagonal-gradient", "radial-glow", "smoke", "mesh")
    names = sorted(LAYERS)
    templates = []
    for i in range(count):
        extra = rng.choice(names, size=int(rng.integers(0, 3)), replace=False)
        templates.append(
            Template(
                template_id=f"gen-{i:03d}",
                genre=str(rng.choice(GENRES)),
                title=f"Generated {i}",
                layers=(str(rng.choice(bases)), *(str(e) for e in extra)),
                palette=_palette(rng),
                placement=(0.2, 0.2, 0.8, 0.95),
                font="anton",
                layout="top",
                text_colour="#ffffff",
                grain=float(rng.uniform(0, 0.06)),
                vignette=float(rng.uniform(0, 0.6)),
            )
        )
    return templates


def write_library(root: Path, templates: list[Template], embedders: list) -> CoverIndex:
    """An index of `templates` (covers rendered at 256 px) with each embedder's vectors."""
    (root / "covers").mkdir(parents=True, exist_ok=True)
    records, images = [], []
    for template in templates:
        image = render_template(template, 256)
        relative = f"covers/{template.template_id}.jpg"
        Image.fromarray(image).save(root / relative, quality=90)
        records.append(template_record(template, relative, 256))
        images.append(image)
    IndexWriter(root).write(records, {e.name: (e(images), e.version) for e in embedders})
    return CoverIndex.load(root)


class ClassicV1:
    """The classic descriptor as it was before issue 15 (the baseline): coarse Lab histogram,
    4×4 layout grid, gradient-orientation histograms."""

    name, version = "classic-v1", "1"
    side = 96

    def __call__(self, images: list) -> np.ndarray:
        return np.stack([self._describe(np.asarray(image)) for image in images])

    def _describe(self, image: np.ndarray) -> np.ndarray:
        rgb = cv2.resize(image, (self.side, self.side), interpolation=cv2.INTER_AREA)
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
        bins = [0, 256, 0, 256, 0, 256]
        colour = cv2.calcHist([lab.astype(np.uint8)], [0, 1, 2], None, [4, 6, 6], bins)
        colour = np.sqrt(colour.reshape(-1) / max(colour.sum(), 1.0))
        grid = cv2.resize(lab, (4, 4), interpolation=cv2.INTER_AREA).reshape(-1) / 255.0
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        magnitude = np.hypot(gx, gy)
        bins8 = np.minimum(((np.arctan2(gy, gx) % np.pi) / np.pi * 8).astype(np.int32), 7)
        half = self.side // 2
        cells = [
            np.bincount(
                bins8[y : y + half, x : x + half].reshape(-1),
                magnitude[y : y + half, x : x + half].reshape(-1),
                minlength=8,
            )
            for y in (0, half)
            for x in (0, half)
        ]
        edges = [(magnitude > t).mean() for t in (0.05, 0.15, 0.3, 0.5)]
        texture = np.concatenate([l2_normalise(np.sqrt(np.concatenate(cells))), edges])
        blocks = [
            l2_normalise(colour),
            0.8 * l2_normalise(grid - grid.mean()),
            0.6 * l2_normalise(texture),
        ]
        return l2_normalise(np.concatenate(blocks))


def wins(index: CoverIndex, embedder: str, queries: np.ndarray, chosen: bool) -> dict:
    """Who wins each query: plain cosine top-1, or `match` (seed = the query's number)."""
    counts: Counter[str] = Counter()
    margins, gaps = [], []
    for seed, query in enumerate(queries):
        best = index.search(query, embedder, k=1)[0]
        hit = index.match(query, embedder, seed=seed) if chosen else best
        counts[hit.record.library_id] += 1
        if chosen:
            margins.append(hit.best_score - hit.score)
            gaps.append(best.similarity - hit.similarity)
    return {"counts": counts, "margins": margins, "gaps": gaps}


def variety(counts: Counter[str], photos: int) -> tuple[int, str]:
    top_id, top = counts.most_common(1)[0]
    return len(counts), f"{top} ({top / photos:.0%}, {top_id.split(':')[-1]})"


def measure(photos: list[np.ndarray], label: str, table: Table) -> None:
    new, old = ClassicEmbedder(), ClassicV1()
    libraries = {"starter": list(TEMPLATES), "generated": generated_templates()}
    with tempfile.TemporaryDirectory() as tmp:
        for library, templates in libraries.items():
            index = write_library(Path(tmp) / library, templates, [new, old])
            size = f"{library} ({len(index)} covers)"
            for name, embedder, chosen in (
                ("baseline: classic-v1, cosine top-1", old, False),
                ("classic-v2, cosine top-1", new, False),
                ("ours: classic-v2, match()", new, True),
            ):
                result = wins(index, embedder.name, embedder(photos), chosen)
                distinct, largest = variety(result["counts"], len(photos))
                margin = gap = ""
                if chosen:
                    margin = f"{max(result['margins']):.3f} (≤ {TIE_MARGIN})"
                    gap = f"{np.mean(result['gaps']):.3f} / {max(result['gaps']):.3f}"
                table.add(label, size, name, len(photos), distinct, largest, margin, gap)


def run() -> Table:
    from tests.photos import PHOTOS, variety_set

    table = Table(
        "Varied matches: library covers won over real photos (classic descriptor, CPU)",
        [
            "photos",
            "library",
            "descriptor and scoring",
            "n",
            "distinct covers",
            "largest share",
            "score margin to best (max)",
            "cosine gap to best (mean / max)",
        ],
    )
    real = [np.asarray(p.image().convert("RGB")) for p in PHOTOS]
    varied = [np.asarray(image.convert("RGB")) for _, image in variety_set()]
    measure(real, "real set", table)
    measure(varied, "real set + variants", table)
    return table


if __name__ == "__main__":
    print(run().markdown())
