"""The generated starter library: procedural cover templates, no copyrighted art.

Each template is a recipe (background layers, palette, texture, placement region and type
style; the table is package data, starter_templates.toml) rendered deterministically from its
own seed by index/art.py. The library is written in the ordinary index format on first use and
extended when a new embedder becomes available, so the rest of the product never needs to know
it was generated.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from index.art import RENDER_SIZE, Template, render_template
from index.library import MANIFEST, CoverIndex, CoverRecord, IndexWriter

STARTER_VERSION = "2"
"""Bump when any template's pixels change: cached starter libraries are then rebuilt."""
TEMPLATES_FILE = "starter_templates.toml"


def load_templates() -> tuple[Template, ...]:
    """The template table (package data), in library order."""
    table = tomllib.loads(resources.files("index").joinpath(TEMPLATES_FILE).read_text("utf-8"))
    placements = table["placements"]
    return tuple(
        Template(
            template_id=entry.pop("id"),
            layers=tuple(entry.pop("layers")),
            palette=tuple(entry.pop("palette")),
            families=tuple(entry.pop("families", ())),
            placement=tuple(placements[entry.pop("placement")]),
            **entry,
        )
        for entry in table["template"]
    )


TEMPLATES: tuple[Template, ...] = load_templates()


def template_record(template: Template, path: str, size: int = RENDER_SIZE) -> CoverRecord:
    return CoverRecord(
        library_id=f"starter:{template.template_id}",
        path=path,
        width=size,
        height=size,
        genre=template.genre,
        artist="Albumify Starter Library",
        title=template.title,
        face=None,
        placement=list(template.placement),
        style={
            "font": template.font,
            "layout": template.layout,
            "text_colour": template.text_colour,
            "grain": template.grain,
            **({"families": list(template.families)} if template.families else {}),
        },
    )


def build_starter_index(out_dir: Path, embedders: Sequence[Any]) -> Path:
    """Render every template and write the index; built in a temp dir then moved into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".starter-", dir=out_dir.parent))
    try:
        (work / "covers").mkdir()
        records, images = [], []
        for template in TEMPLATES:
            image = render_template(template)
            relative = f"covers/{template.template_id}.jpg"
            Image.fromarray(image).save(work / relative, quality=93)
            records.append(template_record(template, relative))
            images.append(cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA))
        vectors = {e.name: (e(images), e.version) for e in embedders}
        IndexWriter(work, kind="starter").write(
            records, vectors, extra={"starter_version": STARTER_VERSION}
        )
        if out_dir.exists():
            shutil.rmtree(out_dir, ignore_errors=True)
        try:
            os.replace(work, out_dir)
        except OSError:
            # Another process finished first; its index is as good as ours.
            if not (out_dir / MANIFEST).exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out_dir


def ensure_starter_index(out_dir: Path, embedders: Sequence[Any]) -> CoverIndex:
    """Load the starter library, building it or adding a new embedder's vectors if needed."""
    manifest_path = out_dir / MANIFEST
    current: dict[str, Any] = {}
    if manifest_path.exists():
        try:
            current = json.loads(manifest_path.read_text("utf-8"))
        except ValueError:
            current = {}
    if current.get("starter_version") != STARTER_VERSION:
        build_starter_index(out_dir, embedders)
        return CoverIndex.load(out_dir)
    index = CoverIndex.load(out_dir)
    missing = [e for e in embedders if not index.has_embedder(e.name)]
    if missing:
        images = [
            cv2.resize(
                np.asarray(Image.open(index.cover_path(r)).convert("RGB")),
                (256, 256),
                interpolation=cv2.INTER_AREA,
            )
            for r in index.records
        ]
        IndexWriter.rewrite(index, {e.name: (e(images), e.version) for e in missing})
        index = CoverIndex.load(out_dir)
    return index
