"""Building, resuming, appending to and extending a cover index from generated folders.

Covers with a face are the public-domain astronaut pasted onto generated backgrounds at
different scales and colours; face-less covers are gradients and noise. MTCNN runs ~60 ms a
cover, so the folder is small and the main index is built once per module.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from albumify.errors import MissingAsset
from imaging.typography import TypeStyle
from index import library
from index import phash as phash_module
from index.build import BuildOptions, build_index
from index.cli import main as index_cli
from index.embedding import add_embedder
from index.library import CoverIndex
from index.phash import NearDuplicateFilter, colour_signature, hamming, phash
from index.scan import library_id_for
from index.sources import discover, parse_file_name
from index.style import FONTS, font_for_genre, placement_for_face, typography_style
from models import backends as registry
from models.embedder import ClassicEmbedder
from models.faces import FaceDetector

ASTRONAUT = Path(__file__).resolve().parent.parent / "devtools" / "data" / "astronaut.png"
FACE_COVERS = 4
KEPT_PATHS = ("rock/Astro Band - Moon Walk.jpg", "rock/b.png", "jazz/c.jpg", "jazz/d.png")


def face_cover(
    side: int,
    scale: float,
    colours: tuple[tuple[int, ...], ...],
    offset: tuple[int, int],
    seed: int,
) -> Image.Image:
    """The astronaut's head and shoulders on a noisy vertical gradient."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, side)[:, None, None]
    top, bottom = np.array(colours[0]), np.array(colours[1])
    background = (top * (1 - y) + bottom * y) * np.ones((1, side, 1)) + rng.normal(
        0, 8, (side, side, 3)
    )
    canvas = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
    astronaut = Image.open(ASTRONAUT).convert("RGB").crop((96, 0, 416, 400))
    canvas.paste(astronaut.resize((int(320 * scale), int(400 * scale))), offset)
    return canvas


def faceless_pattern(side: int, colour: tuple[int, int, int]) -> Image.Image:
    """Soft blobs from black to `colour`: the grey structure (what pHash sees) is the same
    for every colour."""
    blobs = np.random.default_rng(11).uniform(0, 1, (6, 6)).astype(np.float32)
    shape = cv2.resize(blobs, (side, side), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    return Image.fromarray((shape[:, :, None] * np.array(colour)).astype(np.uint8))


def faceless_noise(side: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def make_library(root: Path) -> Path:
    """4 face covers (2 genres), 2 near-duplicates, 3 face-less, 2 broken files."""
    (root / "rock").mkdir(parents=True)
    (root / "jazz").mkdir()
    covers = [
        face_cover(360, 0.75, ((200, 40, 40), (20, 20, 60)), (60, 40), 1),
        face_cover(400, 0.9, ((30, 120, 200), (250, 230, 200)), (20, 60), 2),
        face_cover(320, 0.7, ((20, 20, 20), (90, 90, 90)), (100, 30), 3),
        face_cover(380, 0.8, ((240, 200, 40), (40, 160, 80)), (150, 70), 4),
    ]
    for cover, name in zip(covers, KEPT_PATHS, strict=True):
        cover.save(root / name, quality=92) if name.endswith(".jpg") else cover.save(root / name)
    with (root / "jazz" / "covers.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "artist", "title", "genre"])
        writer.writerow(["c.jpg", "Ella", "Night Sky", "Vocal Jazz"])
    # Duplicates: byte-identical copy, and a resized re-encoded JPEG of another cover.
    shutil.copy(root / "rock" / "b.png", root / "zz-copy.png")
    covers[2].resize((280, 280)).save(root / "zz-smaller.jpg", quality=70)
    # Same shape, other colours: pHash alike, colour signature not: both are kept.
    faceless_pattern(300, (250, 40, 40)).save(root / "pattern-red.png")
    faceless_pattern(300, (40, 60, 250)).save(root / "pattern-blue.png")
    faceless_noise(300, 7).save(root / "noise.png")
    (root / "broken.jpg").write_bytes(b"this is not a jpeg")
    buffer = io.BytesIO()
    covers[0].save(buffer, "PNG")
    (root / "truncated.png").write_bytes(buffer.getvalue()[:300])
    return root


class CountingEmbedder(ClassicEmbedder):
    """The classic embedder, counting the images it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded = 0

    def __call__(self, images):
        self.embedded += len(images)
        return super().__call__(images)


class FakeNeuralEmbedder:
    """Stands in for ResNet50: an 8-d colour summary, registered through the factory hook."""

    name = "fake-neural-v0"
    version = "0"
    dim = 8

    def __call__(self, images):
        rows = []
        for image in images:
            rgb = np.asarray(image, dtype=np.float32) / 255.0
            stats = np.concatenate([rgb.mean((0, 1)), rgb.std((0, 1)), [rgb.mean(), 1.0]])
            rows.append(stats / np.linalg.norm(stats))
        return np.asarray(rows, dtype=np.float32).reshape(-1, self.dim)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(min_face=1)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("covers") / "images labeled")


@pytest.fixture(scope="module")
def built(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The library built once through the CLI (classic backend, genres from folders)."""
    out = tmp_path_factory.mktemp("index") / "idx"
    code = index_cli(
        ["build", str(source), "-o", str(out), "--backend", "classic",
         "--genre-from-folders", "--quiet"]
    )  # fmt: skip
    assert code == 0
    return out


@pytest.fixture
def index_copy(built: Path, tmp_path: Path) -> Path:
    target = tmp_path / "idx"
    shutil.copytree(built, target)
    return target


def test_build_keeps_one_copy_of_each_face_cover(built: Path, source: Path) -> None:
    index = CoverIndex.load(built)
    assert len(index) == FACE_COVERS
    assert {Path(r.path) for r in index.records} == {source / p for p in KEPT_PATHS}
    assert index.manifest["counts"] == {"covers": FACE_COVERS, "with_face": FACE_COVERS}
    assert list(index.embedders) == ["classic-v2"]
    assert index.vectors("classic-v2").shape == (FACE_COVERS, ClassicEmbedder().dim)
    assert not (built / ".build").exists()


def test_build_reports_what_it_skipped(source: Path, tmp_path: Path, detector) -> None:
    report = build_index(
        [source], tmp_path / "idx", BuildOptions(genre_from_folders=True),
        embedders=[ClassicEmbedder()], detector=detector, progress=False,
    )  # fmt: skip
    assert (report.scanned, report.kept, report.duplicates, report.without_face) == (11, 4, 2, 3)
    assert sorted(Path(p).name for p, _ in report.unreadable) == ["broken.jpg", "truncated.png"]
    assert "2 near-duplicates" in report.summary()


def test_records_carry_face_placement_style_and_metadata(built: Path, source: Path) -> None:
    index = CoverIndex.load(built)
    by_name = {Path(r.path).name: r for r in index.records}
    first = by_name["Astro Band - Moon Walk.jpg"]
    assert (first.artist, first.title, first.genre) == ("Astro Band", "Moon Walk", "rock")
    sidecar = by_name["c.jpg"]
    assert (sidecar.artist, sidecar.title, sidecar.genre) == ("Ella", "Night Sky", "Vocal Jazz")
    assert by_name["d.png"].genre == "jazz"
    for record in index.records:
        assert Path(record.path).is_absolute()
        assert record.library_id == library_id_for(Path(record.path))
        assert len(record.phash) == 16
        with Image.open(record.path) as image:
            assert (record.width, record.height) == image.size
        face = record.face
        assert face is not None and len(face.landmarks) == 5
        x0, y0, x1, y1 = face.box
        assert 40 <= x1 - x0 < record.width
        cx, cy = (x0 + x1) / 2 / record.width, (y0 + y1) / 2 / record.height
        px0, py0, px1, py1 = record.placement
        assert 0 <= px0 < cx < px1 <= 1 and 0 <= py0 < cy < py1 <= 1
        # Faces sit in the upper half of these covers: the title goes at the bottom.
        assert record.style["layout"] == "bottom"
        assert record.style["font"] in FONTS
        assert TypeStyle.from_record(record.style).font == record.style["font"]
        assert 0 < record.style["grain"] <= 0.08


def test_search_finds_a_cover_from_its_own_image(built: Path) -> None:
    index = CoverIndex.load(built)
    embedder = ClassicEmbedder()
    for row, record in enumerate(index.records):
        with Image.open(record.path) as image:
            query = embedder([image.convert("RGB").resize((200, 200))])[0]
        hits = index.search(query, embedder.name, k=2)
        assert hits[0].row == row and hits[0].record.library_id == record.library_id
        assert hits[0].similarity > hits[1].similarity


def test_interrupted_build_resumes_without_reembedding(
    source: Path, tmp_path: Path, detector
) -> None:
    out = tmp_path / "idx"
    options = BuildOptions(batch_size=3, genre_from_folders=True)
    first = CountingEmbedder()

    def stop_after_two_batches(number: int) -> None:
        if number == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index([source], out, options, [first], detector, on_batch=stop_after_two_batches,
                    progress=False)  # fmt: skip
    assert not (out / "manifest.json").exists()
    assert len(list((out / ".build").glob("batch-*.json"))) == 2
    # A kill between writing a batch's vectors and its record leaves an orphan shard.
    (out / ".build" / "batch-000002.classic-v2.npy").write_bytes(b"half-written")

    second = CountingEmbedder()
    report = build_index([source], out, options, [second], detector, progress=False)
    assert report.resumed_files == 6
    assert first.embedded + second.embedded == FACE_COVERS
    assert first.embedded > 0 and second.embedded > 0
    assert (report.kept, report.duplicates, len(report.unreadable)) == (4, 2, 2)
    assert len(CoverIndex.load(out)) == FACE_COVERS
    assert not (out / ".build").exists()


def test_changed_options_discard_a_stale_work_dir(source: Path, tmp_path: Path, detector) -> None:
    out = tmp_path / "idx"

    def stop(number: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index([source], out, BuildOptions(batch_size=4), [ClassicEmbedder()], detector,
                    on_batch=stop, progress=False)  # fmt: skip
    counting = CountingEmbedder()
    report = build_index([source], out, BuildOptions(batch_size=4, keep_faceless=True),
                         [counting], detector, progress=False)  # fmt: skip
    assert report.resumed_files == 0
    assert counting.embedded == report.kept == FACE_COVERS + 3
    index = CoverIndex.load(out)
    assert index.manifest["counts"] == {"covers": 7, "with_face": 4}


def test_crash_while_writing_vectors_leaves_the_old_index(
    index_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {p.name: p.read_bytes() for p in index_copy.iterdir()}
    real_save = np.save
    saved_vectors = []

    def failing_save(file, array, *args, **kwargs):
        """Writes the first vectors file of the new generation, fails on the second."""
        if np.ndim(array) == 2:
            saved_vectors.append(array.shape)
            if len(saved_vectors) == 2:
                raise OSError("disk full")
        return real_save(file, array, *args, **kwargs)

    monkeypatch.setattr(library.np, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        add_embedder(index_copy, FakeNeuralEmbedder(), progress=False)
    monkeypatch.undo()
    assert saved_vectors == [(FACE_COVERS, ClassicEmbedder().dim), (FACE_COVERS, 8)]

    after = {p.name: p.read_bytes() for p in index_copy.iterdir() if p.name in before}
    assert after == before
    # The half-written generation's metadata may remain until the next write; no temp files.
    assert not [p for p in index_copy.iterdir() if p.name.endswith(".tmp")]
    index = CoverIndex.load(index_copy)
    assert len(index) == FACE_COVERS and list(index.embedders) == ["classic-v2"]
    assert index.vectors("classic-v2").shape[0] == FACE_COVERS


def test_add_appends_new_covers_and_skips_known_ones(
    index_copy: Path, source: Path, tmp_path: Path, detector
) -> None:
    extra = tmp_path / "more"
    extra.mkdir()
    face_cover(360, 0.85, ((120, 0, 160), (255, 140, 0)), (30, 20), 9).save(extra / "new.png")
    shutil.copy(source / "rock" / "b.png", extra / "b-again.png")
    old = CoverIndex.load(index_copy)
    old_vectors = np.array(old.vectors("classic-v2"))
    report = build_index([extra, source / "rock"], index_copy, BuildOptions(), [ClassicEmbedder()],
                         detector, append=True, progress=False)  # fmt: skip
    assert (report.kept, report.duplicates, report.already_indexed) == (1, 1, 2)
    index = CoverIndex.load(index_copy)
    assert len(index) == FACE_COVERS + 1
    assert index.manifest["generation"] == old.manifest["generation"] + 1
    assert [r.library_id for r in index.records[:FACE_COVERS]] == [
        r.library_id for r in old.records
    ]
    np.testing.assert_array_equal(index.vectors("classic-v2")[:FACE_COVERS], old_vectors)
    new_row = FACE_COVERS
    hits = index.search(index.vectors("classic-v2")[new_row], "classic-v2", k=1)
    assert hits[0].row == new_row


def test_add_embedder_through_the_factory_hook(
    index_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        registry, "EMBEDDER_FACTORIES", [lambda weights, device: FakeNeuralEmbedder()]
    )
    names = [e.name for e in registry.available_embedders(None)]
    assert names == ["classic-v2", "fake-neural-v0"]

    assert index_cli(["add", str(index_copy), "--embedder", "fake-neural-v0", "--quiet"]) == 0
    assert "Added fake-neural-v0 vectors for 4 covers" in capsys.readouterr().out
    index = CoverIndex.load(index_copy)
    assert sorted(index.embedders) == ["classic-v2", "fake-neural-v0"]
    vectors = index.vectors("fake-neural-v0")
    assert vectors.shape == (FACE_COVERS, 8) and vectors.dtype == np.float16
    assert index.search(vectors[2], "fake-neural-v0", k=1)[0].row == 2
    # Files of the replaced generation are gone.
    assert len(list(index_copy.glob("vectors.classic-v2.*.npy"))) == 1

    assert index_cli(["info", str(index_copy)]) == 0
    info = capsys.readouterr().out
    assert "fake-neural-v0 v0: 8-d" in info and "4 with a face, 0 without" in info
    assert "rock 2" in info
    assert "last build: 4 kept of 11 files (2 near-duplicates" in info


def test_add_embedder_that_is_not_available_exits_4(index_copy: Path) -> None:
    assert index_cli(["add", str(index_copy), "--embedder", "resnet50-v2", "--quiet"]) == 4


def test_search_for_a_missing_embedder_says_how_to_add_it(built: Path) -> None:
    with pytest.raises(MissingAsset, match=r"index add .* --embedder resnet50-v2"):
        CoverIndex.load(built).search(np.ones(2048), "resnet50-v2")


def test_plain_image_folder_is_not_an_index(source: Path) -> None:
    with pytest.raises(MissingAsset, match=r"folder of images.*index build"):
        CoverIndex.load(source / "rock")
    assert index_cli(["info", str(source / "rock")]) == 4


def test_usage_errors_exit_2(index_copy: Path, tmp_path: Path) -> None:
    assert index_cli(["add", str(index_copy), "--quiet"]) == 2
    assert index_cli(["build", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_neural_backend_without_weights_exits_4(source: Path, tmp_path: Path) -> None:
    code = index_cli(["build", str(source), "-o", str(tmp_path / "x"), "--backend", "neural",
                      "--weights", str(tmp_path / "no-weights")])  # fmt: skip
    assert code == 4


def test_phash_is_stable_under_reencoding_and_separates_covers(source: Path) -> None:
    original = Image.open(source / "jazz" / "c.jpg").convert("RGB")
    buffer = io.BytesIO()
    original.resize((150, 150)).save(buffer, "JPEG", quality=50)
    reencoded = Image.open(buffer).convert("RGB")
    assert hamming(phash(original), phash(reencoded)) <= 4
    others = [phash(Image.open(source / p).convert("RGB")) for p in KEPT_PATHS if "c.jpg" not in p]
    assert min(hamming(phash(original), h) for h in others) > 12

    seen = NearDuplicateFilter(max_distance=6)
    seen.add(phash(original), "c", colour_signature(original))
    assert seen.find(phash(reencoded), colour_signature(reencoded)) == "c"
    assert seen.find(others[0]) is None
    # Same picture in other colours: pHash matches, the colour signature does not.
    recoloured = Image.fromarray(np.asarray(original)[:, :, ::-1])
    assert hamming(phash(original), phash(recoloured)) <= 6
    assert seen.find(phash(recoloured), colour_signature(recoloured)) is None
    assert seen.find(phash(recoloured)) == "c"  # no signature (an older index): hash alone


def test_same_shape_in_other_colours_is_not_a_duplicate(source: Path) -> None:
    red, blue = (Image.open(source / f"pattern-{c}.png") for c in ("red", "blue"))
    assert hamming(phash(red), phash(blue)) <= 2
    seen = NearDuplicateFilter()
    seen.add(phash(red), "red", colour_signature(red))
    assert seen.find(phash(blue), colour_signature(blue)) is None


def test_popcount_fallback_matches_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.array([0, 1, 0xFFFFFFFFFFFFFFFF, 0x8000000000000001], dtype=np.uint64)
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert list(phash_module._popcount(values)) == [0, 1, 64, 2]


def test_discover_reads_names_and_sidecars(source: Path) -> None:
    found = {s.path.name: s for s in discover([source], genre_from_folders=False)}
    assert len(found) == 11 and found["d.png"].genre is None
    assert (found["c.jpg"].artist, found["c.jpg"].genre) == ("Ella", "Vocal Jazz")
    assert parse_file_name(Path("Daft Punk - Discovery.jpg")) == ("Daft Punk", "Discovery")
    assert parse_file_name(Path("untitled.jpg")) == (None, None)


def test_style_puts_text_where_the_face_is_not() -> None:
    dark_top_light_bottom = np.zeros((100, 100, 3), dtype=np.uint8)
    dark_top_light_bottom[50:] = 240
    low_face = typography_style(dark_top_light_bottom, (30, 60, 70, 95), "Heavy Metal")
    assert low_face["layout"] == "top" and low_face["text_colour"] == "#f5f5f0"
    assert low_face["font"] == "anton"
    high_face = typography_style(dark_top_light_bottom, (30, 5, 70, 40), "jazz")
    assert high_face["layout"] == "bottom" and high_face["text_colour"] == "#141414"
    assert high_face["font"] == "playfair-display" and font_for_genre(None) == "bebas-neue"
    x0, y0, x1, y1 = placement_for_face((40, 10, 60, 30), 100, 100)
    assert x0 < 0.4 and x1 > 0.6 and y0 < 0.1 and y1 == 1.0


def test_manifest_is_json_a_person_can_read(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["metadata"].startswith("covers.") and manifest["format_version"] == 1


def test_cli_add_reports_duplicates_and_suggests_missing_embedders(
    index_copy: Path,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(
        registry, "EMBEDDER_FACTORIES", [lambda weights, device: FakeNeuralEmbedder()]
    )
    extra = tmp_path / "more"
    extra.mkdir()
    shutil.copy(source / "jazz" / "d.png", extra / "same-cover.png")
    assert index_cli(["add", str(index_copy), str(extra), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "1 near-duplicates" in out
    assert f"albumify index add {index_copy} --embedder fake-neural-v0" in out
    assert len(CoverIndex.load(index_copy)) == FACE_COVERS
