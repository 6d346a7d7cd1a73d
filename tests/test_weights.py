"""The weights registry against a loopback HTTP server: download, verify, resume, offline."""

from __future__ import annotations

import argparse
import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from albumify.errors import EXIT_MISSING_ASSET, MissingAsset
from models import weights
from models.weights import ChecksumMismatch, WeightsFile

PAYLOAD = bytes(range(256)) * 1000  # 256 kB, several download chunks' worth of distinct bytes
FAKE_NAME = "fake-weights.pth"


@dataclass
class FakeWeightsServer:
    """Serves `files` with HTTP Range support and remembers the Range header of each request."""

    files: dict[str, bytes]
    ranges: list[str | None] = field(default_factory=list)
    base_url: str = ""
    cut_after: int | None = None
    """Drop the connection after sending this many body bytes, once (a flaky network)."""


class _RangeHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        state = self.server.state  # type: ignore[attr-defined]
        range_header = self.headers.get("Range")
        state.ranges.append(range_header)
        body = state.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        start = 0
        if range_header:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if state.cut_after is not None:
            self.wfile.write(body[start : start + state.cut_after])
            state.cut_after = None
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[FakeWeightsServer]:
    state = FakeWeightsServer(files={FAKE_NAME: PAYLOAD})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def fake_entry(sha256: str | None = None, url: str = "http://unused.invalid/x") -> WeightsFile:
    return WeightsFile(
        name=FAKE_NAME,
        url=url,
        sha256=sha256 if sha256 is not None else hashlib.sha256(PAYLOAD).hexdigest(),
        size=len(PAYLOAD),
        licence="test-only",
        enables="nothing: a test file",
        source="the test's loopback server",
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_registry_names_the_official_files() -> None:
    assert set(weights.REGISTRY) == {
        "resnet50-11ad3fa6.pth",
        "yolo11n-seg.pt",
        "psp_ffhq_encode.pt",
    }
    resnet = weights.REGISTRY["resnet50-11ad3fa6.pth"]
    assert resnet.sha256 is not None and resnet.sha256.startswith("11ad3fa6")
    assert "non-commercial" in weights.REGISTRY["psp_ffhq_encode.pt"].licence.lower()
    assert "AGPL" in weights.REGISTRY["yolo11n-seg.pt"].licence


def test_fetch_downloads_and_verifies(server: FakeWeightsServer, tmp_path: Path) -> None:
    entry = fake_entry(url=f"{server.base_url}/{FAKE_NAME}")
    (path,) = weights.fetch(None, tmp_path, registry={FAKE_NAME: entry}, progress=False)
    assert path == tmp_path / FAKE_NAME
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / f"{FAKE_NAME}.part").exists()
    assert server.ranges == [None]


def test_env_url_base_redirects_downloads(
    server: FakeWeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(weights.URL_BASE_ENV, server.base_url + "/")
    entry = fake_entry()  # its own URL is unreachable: only the env base can work
    weights.fetch([FAKE_NAME], tmp_path, registry={FAKE_NAME: entry}, progress=False)
    assert (tmp_path / FAKE_NAME).read_bytes() == PAYLOAD


def test_present_file_is_used_without_download_or_hash(
    server: FakeWeightsServer, tmp_path: Path
) -> None:
    (tmp_path / FAKE_NAME).write_bytes(b"operator's own copy")
    entry = fake_entry(url=f"{server.base_url}/{FAKE_NAME}")
    (path,) = weights.fetch(None, tmp_path, registry={FAKE_NAME: entry}, progress=False)
    assert path.read_bytes() == b"operator's own copy"
    assert server.ranges == []


def test_checksum_mismatch_deletes_download(server: FakeWeightsServer, tmp_path: Path) -> None:
    entry = fake_entry(sha256="0" * 64, url=f"{server.base_url}/{FAKE_NAME}")
    with pytest.raises(ChecksumMismatch) as caught:
        weights.fetch(None, tmp_path, registry={FAKE_NAME: entry}, progress=False)
    message = str(caught.value)
    assert "0" * 64 in message and hashlib.sha256(PAYLOAD).hexdigest() in message
    assert caught.value.exit_code == EXIT_MISSING_ASSET
    assert list(tmp_path.iterdir()) == []


def test_resume_sends_range_and_completes(server: FakeWeightsServer, tmp_path: Path) -> None:
    half = len(PAYLOAD) // 2 + 7
    (tmp_path / f"{FAKE_NAME}.part").write_bytes(PAYLOAD[:half])
    entry = fake_entry(url=f"{server.base_url}/{FAKE_NAME}")
    weights.fetch(None, tmp_path, registry={FAKE_NAME: entry}, progress=False)
    assert server.ranges == [f"bytes={half}-"]
    assert (tmp_path / FAKE_NAME).read_bytes() == PAYLOAD


def test_dropped_connection_keeps_part_and_resumes(
    server: FakeWeightsServer, tmp_path: Path
) -> None:
    server.cut_after = 100_000
    entry = fake_entry(url=f"{server.base_url}/{FAKE_NAME}")
    with pytest.raises(MissingAsset, match="run the same command again to resume"):
        weights.fetch(None, tmp_path, registry={FAKE_NAME: entry}, progress=False)
    kept = (tmp_path / f"{FAKE_NAME}.part").stat().st_size
    assert 0 < kept <= 100_000  # whole chunks that arrived before the drop
    weights.fetch(None, tmp_path, registry={FAKE_NAME: entry}, progress=False)
    assert server.ranges == [None, f"bytes={kept}-"]
    assert (tmp_path / FAKE_NAME).read_bytes() == PAYLOAD


def test_whole_part_file_is_installed_on_416(server: FakeWeightsServer, tmp_path: Path) -> None:
    (tmp_path / f"{FAKE_NAME}.part").write_bytes(PAYLOAD)
    entry = fake_entry(url=f"{server.base_url}/{FAKE_NAME}")
    weights.fetch(None, tmp_path, registry={FAKE_NAME: entry}, progress=False)
    assert (tmp_path / FAKE_NAME).read_bytes() == PAYLOAD


def test_offline_says_how_to_fix(tmp_path: Path) -> None:
    entry = fake_entry(url=f"http://127.0.0.1:{closed_port()}/{FAKE_NAME}")
    with pytest.raises(MissingAsset) as caught:
        weights.fetch(None, tmp_path, registry={FAKE_NAME: entry}, progress=False)
    message = str(caught.value)
    assert "can't reach 127.0.0.1" in message
    assert f"copy {FAKE_NAME} into {tmp_path} by hand" in message
    assert not (tmp_path / FAKE_NAME).exists()


def test_unpinned_entry_needs_explicit_consent(server: FakeWeightsServer, tmp_path: Path) -> None:
    entry = replace(fake_entry(url=f"{server.base_url}/{FAKE_NAME}"), sha256=None)
    with pytest.raises(MissingAsset, match="--allow-unpinned"):
        weights.fetch(None, tmp_path, registry={FAKE_NAME: entry}, progress=False)
    assert server.ranges == []
    weights.fetch(None, tmp_path, registry={FAKE_NAME: entry}, progress=False, allow_unpinned=True)
    assert (tmp_path / FAKE_NAME).read_bytes() == PAYLOAD


def test_resolve(tmp_path: Path) -> None:
    assert weights.resolve("yolo11n-seg.pt", tmp_path) is None
    (tmp_path / "yolo11n-seg.pt").write_bytes(b"")
    assert weights.resolve("yolo11n-seg.pt", tmp_path) is None  # an empty file is a failed copy
    (tmp_path / "yolo11n-seg.pt").write_bytes(b"x")
    assert weights.resolve("yolo11n-seg.pt", tmp_path) == tmp_path / "yolo11n-seg.pt"


def test_status_lists_presence_licence_and_backend(tmp_path: Path) -> None:
    (tmp_path / "resnet50-11ad3fa6.pth").write_bytes(b"x" * 2048)
    rows = {row.entry.name: row for row in weights.status(tmp_path)}
    assert rows["resnet50-11ad3fa6.pth"].present
    assert rows["resnet50-11ad3fa6.pth"].size_on_disk == 2048
    assert not rows["psp_ffhq_encode.pt"].present
    text = weights.format_status(list(rows.values()), tmp_path)
    assert "resnet50-11ad3fa6.pth" in text and "present" in text and "2.0 KiB" in text
    assert "NON-COMMERCIAL" in text and "AGPL-3.0" in text
    assert "psp_ffhq_encode.pt" in text and "missing" in text
    assert "albumify models fetch yolo11n-seg.pt psp_ffhq_encode.pt" in text


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="albumify models")
    weights.add_arguments(parser.add_subparsers(dest="models_command", required=True))
    return parser.parse_args(argv)


def test_cli_status_and_fetch(
    server: FakeWeightsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = _cli(["status", "--weights-dir", str(tmp_path)])
    assert args.func(args) == 0
    assert "yolo11n-seg.pt" in capsys.readouterr().out

    monkeypatch.setitem(weights.REGISTRY, FAKE_NAME, fake_entry())
    args = _cli(["fetch", FAKE_NAME, "--weights-dir", str(tmp_path), "--url-base", server.base_url])
    assert args.func is weights.fetch_main
    assert args.func(args) == 0
    assert (tmp_path / FAKE_NAME).read_bytes() == PAYLOAD

    monkeypatch.setenv("ALBUMIFY_WEIGHTS", str(tmp_path / "elsewhere"))
    offline = f"http://127.0.0.1:{closed_port()}"
    args = _cli(["fetch", FAKE_NAME, "--quiet", "--url-base", offline])
    assert weights.fetch_main(args) == EXIT_MISSING_ASSET
    assert "can't reach 127.0.0.1" in capsys.readouterr().err


def test_every_pin_names_where_its_publisher_published_it() -> None:
    """A pin is a digest the publisher published; a file without one says where we looked."""
    for entry in weights.REGISTRY.values():
        if entry.sha256 is not None:
            assert entry.pin_source.startswith("https://"), entry.name
        else:
            assert not entry.pin_source, entry.name
            assert "https://" in entry.unpinned, entry.name


def test_unpinned_weights_are_refused_by_default_and_status_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unpinned = [e.name for e in weights.REGISTRY.values() if e.sha256 is None]
    assert set(unpinned) == {weights.YOLO_SEG, weights.PSP_FFHQ}
    for name in unpinned:  # refused before anything is downloaded: no network needed
        with pytest.raises(MissingAsset, match="--allow-unpinned"):
            weights.fetch([name], tmp_path, progress=False)
        assert not any(tmp_path.iterdir())

    args = _cli(["status", "--weights-dir", str(tmp_path)])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    for name in unpinned:
        assert f"    why:     {weights.REGISTRY[name].unpinned}\n" in text
    assert "ultralytics/assets" in text and "pixel2style2pixel" in text
