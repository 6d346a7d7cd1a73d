"""What the content check (NudeNet's 320n under onnxruntime, `worker.safety`) costs per photo,
against the embedded-default cover it runs before, measured in the same run, interleaved.

Photos: the example portrait (512 px), the same portrait in a 12 MP phone frame decoded to the
working size (1280 px long side, what the job checks), and a generated landscape. Each round
times letterbox alone, the whole check with the default threads and with one thread, and one
cover of the same photo at 1024 px.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from PIL import Image

from bench.bench_cover import twelve_megapixel_jpeg
from bench.report import EXAMPLE, Table
from imaging.photo import Photo, decode_photo
from models.litert import default_threads
from models.nudity import NudityDetector, letterbox
from worker.pipeline import CoverOptions, Pipeline


def photos() -> dict[str, np.ndarray]:
    with Image.open(EXAMPLE) as image:
        portrait = np.asarray(image.convert("RGB"))
    ys, xs = np.mgrid[0:720, 0:1280]
    landscape = np.stack([xs % 256, ys % 256, (xs // 3 + ys // 2) % 256], -1).astype(np.uint8)
    return {
        "example portrait 512²": portrait,
        "12 MP JPEG, decoded to 1280×960": decode_photo(twelve_megapixel_jpeg()).array(),
        "generated 1280×720": landscape,
    }


def _ms(seconds: list[float]) -> str:
    return f"{statistics.median(seconds) * 1000:.1f} ms"


def run(quick: bool = False) -> Table:
    rounds = 5 if quick else 15
    threads = default_threads()
    detector = NudityDetector.load()
    single = NudityDetector.load(threads=1)
    pipeline = Pipeline.load()
    pipeline.warm_up()
    for model in (detector, single):
        model.warm_up()
    options = CoverOptions(size=1024)
    table = Table(
        f"Content check per photo (NudeNet 320n, onnxruntime, {threads} threads; median of "
        f"{rounds}, interleaved with a 1024 px cover of the same photo)",
        ["photo", "letterbox", "check", "check, 1 thread", "cover", "check / cover"],
    )
    for name, rgb in photos().items():
        times: dict[str, list[float]] = {"box": [], "check": [], "one": [], "cover": []}
        photo = Photo(Image.fromarray(rgb), (rgb.shape[1], rgb.shape[0]), "PNG")
        for _ in range(rounds):
            start = time.perf_counter()
            letterbox(rgb)
            times["box"].append(time.perf_counter() - start)
            start = time.perf_counter()
            detector.scores(rgb)
            times["check"].append(time.perf_counter() - start)
            start = time.perf_counter()
            single.scores(rgb)
            times["one"].append(time.perf_counter() - start)
            start = time.perf_counter()
            pipeline.make_cover(photo, options)
            times["cover"].append(time.perf_counter() - start)
        share = statistics.median(times["check"]) / statistics.median(times["cover"])
        table.add(
            name,
            _ms(times["box"]),
            _ms(times["check"]),
            _ms(times["one"]),
            _ms(times["cover"]),
            f"{share:.0%}",
        )
    return table


if __name__ == "__main__":
    print(run().markdown())
