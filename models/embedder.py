"""Image embedders for cover similarity, each producing L2-normalised vectors.

The classic descriptor needs no weights and is always available; neural embedders live beside
it behind the same interface (`name`, `version`, `dim`, batched `__call__`). torch is imported
only by the neural embedder, so indexing with the classic one stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

import cv2
import numpy as np
from PIL import Image

from albumify.errors import MissingAsset
from models.vectors import l2_normalise
from models.weights import RESNET50, missing_hint, resolve

if TYPE_CHECKING:
    import torch


class Embedder(Protocol):
    name: str
    version: str
    dim: int

    def __call__(self, images: Sequence[np.ndarray | Image.Image]) -> np.ndarray:
        """RGB images → float32 [B, dim], rows L2-normalised."""
        ...


def _rgb_array(image: np.ndarray | Image.Image, side: int) -> np.ndarray:
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)


class ClassicEmbedder:
    """Colour, palette, layout and edges in one vector: what makes two covers look alike at a
    glance, resolved where photos differ from each other.

    - colour: a joint histogram of lightness (4 soft bins) × hue/chroma (neutral, then 8 hue
      sectors soft-assigned, in two chroma rings), square-rooted (Hellinger). Version 1 cut
      Lab's a/b axes into 6 equal bins, so every natural colour fell into the two middle ones
      and every muted photo looked alike: one template won most of them (a hub; see
      `bench.bench_variety`);
    - palette: mean and spread of lightness, mean a/b, mean chroma and the vivid share;
    - layout: mean Lab of a 4×4 grid, centred, so "dark top, bright bottom" matches;
    - edges: the share of pixels above four gradient strengths (flat poster vs busy photo).
    Version 1's gradient-orientation histograms are gone: photos and generated art differ in
    them whatever they show, which pulled every photo toward the one halftone template.
    Blocks are normalised separately and weighted before the final normalisation; layout
    weighs more than in version 1 (1.2 against colour's 1.0), so crops of one photo, which
    share its colours, still find covers composed like them (measured in the benchmark).
    """

    name = "classic-v2"
    version = "2"
    side = 96
    hues = 8
    neutral_chroma = 6.0
    vivid_chroma = 22.0
    _weights: ClassVar[dict[str, float]] = {
        "colour": 1.0,
        "palette": 0.5,
        "layout": 1.2,
        "edges": 0.35,
    }

    def __init__(self) -> None:
        self.dim = 4 * (1 + 2 * self.hues) + 6 + 4 * 4 * 3 + 4

    @classmethod
    def load(cls, weights_dir: object = None, device: object = None) -> ClassicEmbedder:
        return cls()

    def __call__(self, images: Sequence[np.ndarray | Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._describe(_rgb_array(image, self.side)) for image in images])

    def _colour(self, lightness: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Soft lightness × hue/chroma histogram, Hellinger-mapped."""
        bins = 1 + 2 * self.hues
        chroma = np.hypot(a, b)
        hue = (np.arctan2(b, a) % (2 * np.pi)) / (2 * np.pi) * self.hues - 0.5
        hue_low = np.floor(hue)
        hue_share = hue - hue_low
        hue_low = hue_low.astype(np.int64) % self.hues
        ring = (chroma >= self.vivid_chroma).astype(np.int64)
        neutral = chroma < self.neutral_chroma
        level = np.clip(lightness / 100 * 4 - 0.5, 0, 3)
        level_low = np.floor(level).astype(np.int64)
        level_share = level - level_low
        hist = np.zeros(4 * bins, np.float64)
        for lb, lw in ((level_low, 1 - level_share), (np.minimum(level_low + 1, 3), level_share)):
            for hb, hw in ((hue_low, 1 - hue_share), ((hue_low + 1) % self.hues, hue_share)):
                cell = np.where(neutral, 0, 1 + ring * self.hues + hb)
                weight = lw * np.where(neutral, 0.5, hw)  # neutral: both hue passes add ½
                hist += np.bincount(lb * bins + cell, weights=weight, minlength=4 * bins)
        return np.sqrt(hist / max(hist.sum(), 1e-9)).astype(np.float32)

    def _describe(self, rgb: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
        lightness, a, b = (lab[..., c].reshape(-1) for c in range(3))
        colour = self._colour(lightness, a, b)
        chroma = np.hypot(a, b)
        palette = np.array(
            [
                lightness.mean() / 100,
                lightness.std() / 50,
                a.mean() / 40,
                b.mean() / 40,
                chroma.mean() / 40,
                (chroma >= self.vivid_chroma).mean(),
            ],
            dtype=np.float32,
        )
        scale = np.array([100, 60, 60], np.float32)
        grid = cv2.resize(lab, (4, 4), interpolation=cv2.INTER_AREA) / scale
        layout = (grid - grid.reshape(-1, 3).mean(0)).reshape(-1)

        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        magnitude = np.hypot(gx, gy)
        edges = np.array([(magnitude > t).mean() for t in (0.05, 0.15, 0.3, 0.5)], dtype=np.float32)
        blocks = [
            self._weights["colour"] * l2_normalise(colour),
            self._weights["palette"] * l2_normalise(palette),
            self._weights["layout"] * l2_normalise(layout),
            self._weights["edges"] * l2_normalise(edges),
        ]
        return l2_normalise(np.concatenate(blocks).astype(np.float32))


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
RESIZE_SHORTER = 256
CROP_SIDE = 224


def imagenet_input(image: np.ndarray | Image.Image) -> np.ndarray:
    """One RGB image → float32 [3, 224, 224], exactly as ResNet50 saw ImageNet.

    Resize the shorter side to 256 (bilinear, antialiased), centre-crop 224, ImageNet
    mean/std. Library covers and members' photos both pass through here: a vector compared
    against vectors made with different preprocessing is quietly wrong, not visibly broken.
    """
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    pil = pil.convert("RGB")
    scale = RESIZE_SHORTER / min(pil.size)
    size = (max(CROP_SIDE, round(pil.width * scale)), max(CROP_SIDE, round(pil.height * scale)))
    pil = pil.resize(size, Image.Resampling.BILINEAR, reducing_gap=None)
    left = round((pil.width - CROP_SIDE) / 2)
    top = round((pil.height - CROP_SIDE) / 2)
    pil = pil.crop((left, top, left + CROP_SIDE, top + CROP_SIDE))
    pixels = np.asarray(pil, dtype=np.float32) / 255.0
    return ((pixels - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1).copy()


class ResNetEmbedder:
    """torchvision ResNet50 (ImageNet IMAGENET1K_V2) without its classifier: the 2048-d
    global-average-pooled features, L2-normalised, so cosine similarity is a dot product."""

    name = "resnet50-v2"
    version = "torchvision-IMAGENET1K_V2"
    dim = 2048
    weights_file = RESNET50

    def __init__(self, model: torch.nn.Module, device: torch.device, batch_size: int = 32):
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.preprocess = imagenet_input

    @classmethod
    def load(
        cls, weights_dir: Path | str, device: torch.device | str | None = None
    ) -> ResNetEmbedder:
        """Build the network without weights, then load the official state dict strictly:
        a file that isn't torchvision's ResNet50 fails here, not as odd matches later."""
        import torch
        from torchvision.models import resnet50

        from models.device import load_weights_only, pick_device

        path = resolve(cls.weights_file, weights_dir)
        if path is None:
            raise MissingAsset(
                f"the {cls.name} embedder needs {cls.weights_file} in {weights_dir}: "
                + missing_hint([cls.weights_file], weights_dir)
            )
        device = pick_device(str(device) if device is not None else None)
        with torch.device("meta"):  # no random init just to overwrite it
            model = resnet50(weights=None)
        try:
            state_dict = load_weights_only(path, map_location="cpu")
            model.load_state_dict(state_dict, strict=True, assign=True)
        except Exception as exc:  # unpickling and key/shape errors alike mean a bad file
            raise MissingAsset(
                f"{path} is not a torchvision ResNet50 state dict ({exc}); delete it and "
                + missing_hint([cls.weights_file], Path(path).parent)
            ) from exc
        model.fc = torch.nn.Identity()
        model.eval().requires_grad_(False)
        if device.type == "cuda":
            model = model.to(device, memory_format=torch.channels_last)
        return cls(model, device)

    def compile(self, mode: str) -> None:
        """Compile the network for a worker's shape (one 224 px crop); eager if that fails."""
        from models.compile import compile_module

        crop = [np.zeros((CROP_SIDE, CROP_SIDE, 3), np.uint8)]
        compile_module(self.model, mode, self.device, lambda: self._embed(crop), "ResNet50")

    def __call__(self, images: Sequence[np.ndarray | Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunks = [
            self._embed(images[start : start + self.batch_size])
            for start in range(0, len(images), self.batch_size)
        ]
        return np.concatenate(chunks)

    def _embed(self, images: Sequence[np.ndarray | Image.Image]) -> np.ndarray:
        import torch

        from models.device import autocast_for

        batch = torch.from_numpy(np.stack([self.preprocess(image) for image in images]))
        if self.device.type == "cuda":
            batch = batch.to(self.device, memory_format=torch.channels_last, non_blocking=True)
        with torch.inference_mode(), autocast_for(self.device):
            features = self.model(batch)
        features = torch.nn.functional.normalize(features.float(), dim=1)
        return features.cpu().numpy().astype(np.float32, copy=False)
