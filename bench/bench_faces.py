"""Face detectors on real photos (tests/photos.py): BlazeFace (LiteRT) against MTCNN (torch).

Per detector, in the same run: the faces found in each group photo (and the count a person
sees), whether the main face chosen is the subject of each crop made around one player,
false faces on the photos without one, and the median time per photo.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from bench.report import Table
from models.backends import ALTERNATIVES, REGISTRY, LoadContext
from models.faces import main_face
from tests.photos import PHOTOS, Kind

PEOPLE = {"poker-table": 6, "touchline": 2, "street-bus": 4, "poker-wide-2": 3, "poker-wide-5": 3}
"""Faces a person sees in each group photo (street-bus: four people, two turned away)."""


def detectors() -> dict[str, object]:
    context = LoadContext(None, "cpu")
    chains = [*REGISTRY["faces"], *ALTERNATIVES["faces"]]
    return {backend.name: backend.load(context) for backend in chains}


def run(repeats: int = 3) -> Table:
    found = detectors()
    images = {photo.name: np.asarray(photo.image()) for photo in PHOTOS}
    table = Table(
        "Face detectors on real photos (median of "
        f"{repeats} per photo; main face = the crop's subject)",
        ["measure", *found],
    )
    results: dict[str, dict[str, object]] = {}
    for name, detector in found.items():
        times, faces = [], {}
        for photo in PHOTOS:
            rgb = images[photo.name]
            detector.detect(rgb)  # warm
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                faces[photo.name] = detector.detect(rgb)
                runs.append(time.perf_counter() - start)
            times.append(statistics.median(runs))
        results[name] = {"times": times, "faces": faces}

    for photo_name, people in PEOPLE.items():
        table.add(
            f"faces found in {photo_name} (a person sees {people})",
            *(len(results[n]["faces"][photo_name]) for n in found),
        )
    subjects = [p for p in PHOTOS if p.subject is not None]
    portraits = [p for p in PHOTOS if p.kind in (Kind.PORTRAIT, Kind.SMALL_FACE)]
    no_face = [p for p in PHOTOS if p.kind == Kind.NO_FACE]

    def chose_subject(name: str, photo: object) -> bool:
        rgb = images[photo.name]  # type: ignore[attr-defined]
        face = main_face(results[name]["faces"][photo.name], (rgb.shape[1], rgb.shape[0]))  # type: ignore[attr-defined]
        if face is None:
            return False
        x, y = photo.subject_point()  # type: ignore[attr-defined]
        return face.box[0] <= x <= face.box[2] and face.box[1] <= y <= face.box[3]

    table.add(
        f"main face is the subject (crops around one player, of {len(subjects)})",
        *(sum(chose_subject(n, p) for p in subjects) for n in found),
    )
    table.add(
        f"portraits and small faces with a face found (of {len(portraits)})",
        *(sum(bool(results[n]["faces"][p.name]) for p in portraits) for n in found),
    )
    table.add(
        f"faces found on photos without one ({len(no_face)} photos)",
        *(sum(len(results[n]["faces"][p.name]) for p in no_face) for n in found),
    )
    table.add(
        f"time per photo, median of {len(PHOTOS)} photos",
        *(f"{statistics.median(results[n]['times']) * 1000:.1f} ms" for n in found),
    )
    table.add(
        "time on the largest (group photo, 1280×886)",
        *(f"{results[n]['times'][_index('poker-table')] * 1000:.1f} ms" for n in found),
    )
    return table


def _index(name: str) -> int:
    return next(i for i, p in enumerate(PHOTOS) if p.name == name)


if __name__ == "__main__":
    print(run().markdown())
