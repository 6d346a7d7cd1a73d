"""pSp: strict loading of the official format, encode/generate contract, fast == naive ops."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from models.psp import PSP, CheckpointError, mix_styles
from models.psp.checkpoint import validate_opts
from models.psp.generator import Generator
from models.psp.op import fused_leaky_relu, upfirdn2d_fast, upfirdn2d_naive
from tests.psp_checkpoint import (
    OFFICIAL_OPTS,
    assert_matches_reference,
    reference_shapes,
)

# ---------------------------------------------------------------- fixtures


# psp_ckpt_path: the shared session fixture in tests/support/weights.py


@pytest.fixture(scope="session")
def psp(psp_ckpt_path: Path) -> PSP:
    return PSP.from_checkpoint(psp_ckpt_path, device="cpu")


@pytest.fixture(scope="session")
def faces() -> torch.Tensor:
    gen = torch.Generator().manual_seed(7)
    return torch.rand(2, 3, 256, 256, generator=gen) * 2 - 1


@pytest.fixture(scope="session")
def w_plus(psp: PSP, faces: torch.Tensor) -> torch.Tensor:
    return psp.encode(faces)


def cheap_checkpoint(path: Path, drop: str | None = None, add: str | None = None, **opts) -> Path:
    """Right keys and shapes, but every tensor is a stride-0 view of one zero (tiny file)."""
    state = {k: torch.zeros(()).expand(shape) for k, shape in reference_shapes().items()}
    if drop:
        del state[drop]
    if add:
        state[add] = torch.zeros(3)
    ckpt = {"state_dict": state, "latent_avg": torch.zeros(18, 512), "opts": OFFICIAL_OPTS | opts}
    torch.save(ckpt, path)
    return path


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


# ---------------------------------------------------------------- checkpoint format


def test_model_keys_match_official_list() -> None:
    with torch.device("meta"):
        model = PSP()
    assert_matches_reference(model.state_dict())
    assert len(reference_shapes()) == 792
    assert "latent_avg" not in model.state_dict()


def test_full_checkpoint_loads_weights_only(psp_ckpt_path: Path, psp: PSP) -> None:
    ckpt = torch.load(psp_ckpt_path, map_location="cpu", weights_only=True)
    assert set(ckpt) == {"state_dict", "latent_avg", "opts"}
    loaded = psp.state_dict()
    keys = ["encoder.styles.17.linear.weight", "decoder.noises.noise_16"]
    keys.append("decoder.conv1.noise.weight")
    for key in keys:
        assert torch.equal(loaded[key], ckpt["state_dict"][key])
    assert torch.equal(psp.latent_avg, ckpt["latent_avg"])
    assert psp.device == torch.device("cpu")
    assert not any(p.requires_grad for p in psp.parameters())


ENC_KEY = "encoder.body.5.res_layer.5.fc1.weight"


@pytest.mark.parametrize(
    ("drop", "add", "attr", "key"),
    [
        ("decoder.convs.3.noise.weight", None, "missing", "decoder.convs.3.noise.weight"),
        ("encoder.body.5.res_layer.5.fc1.weight", None, "missing", ENC_KEY),
        (None, "decoder.face_pool.extra", "unexpected", "decoder.face_pool.extra"),
    ],
)
def test_strict_load_names_bad_key(tmp_path: Path, drop, add, attr: str, key: str) -> None:
    path = cheap_checkpoint(tmp_path / "bad.pt", drop=drop, add=add)
    with pytest.raises(CheckpointError, match=key.replace(".", r"\.")) as info:
        PSP.from_checkpoint(path)
    assert getattr(info.value, attr) == [key]
    assert isinstance(info.value, ValueError)


def test_shape_mismatch_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "shape.pt"
    cheap_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["state_dict"]["decoder.to_rgb1.bias"] = torch.zeros(1, 4, 1, 1)
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=r"decoder\.to_rgb1\.bias"):
        PSP.from_checkpoint(path)


@dataclass
class NotPlain:
    value: int = 1


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "pickle.pt"
    torch.save({"state_dict": {}, "latent_avg": torch.zeros(18, 512), "opts": NotPlain()}, path)
    with pytest.raises(CheckpointError, match="weights-only"):
        PSP.from_checkpoint(path)


@pytest.mark.parametrize(
    "opts",
    [
        {"encoder_type": "BackboneEncoderUsingLastLayerIntoW"},
        {"output_size": 256},
        {"learn_in_w": True},
        {"input_nc": 1},
    ],
)
def test_opts_for_other_models_are_refused(opts: dict) -> None:
    with pytest.raises(CheckpointError):
        validate_opts(OFFICIAL_OPTS | opts, has_latent_avg=True)


def test_opts_defaults_follow_official_loader() -> None:
    assert validate_opts({}, has_latent_avg=True) == (True, 1024)
    assert validate_opts({"start_from_latent_avg": False}, has_latent_avg=False) == (False, 1024)
    with pytest.raises(CheckpointError, match="latent_avg"):
        validate_opts({"start_from_latent_avg": True}, has_latent_avg=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_without_cuda_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="CUDA"):
        PSP.from_checkpoint(cheap_checkpoint(tmp_path / "c.pt"), device="cuda")


# ---------------------------------------------------------------- encode


@pytest.fixture(scope="session")
def w_single(psp: PSP, faces: torch.Tensor) -> torch.Tensor:
    return psp.encode(faces[:1])


def test_encode_shape_finite_deterministic(
    psp: PSP, faces: torch.Tensor, w_plus: torch.Tensor, w_single: torch.Tensor
) -> None:
    assert w_plus.shape == (2, 18, 512)
    assert w_plus.dtype == torch.float32
    assert torch.isfinite(w_plus).all()
    assert not torch.equal(w_plus[0], w_plus[1])
    assert torch.equal(psp.encode(faces[:1]), w_single)


def test_encode_batch_equals_single(w_plus: torch.Tensor, w_single: torch.Tensor) -> None:
    assert rel_err(w_single[0], w_plus[0]) < 1e-4


def test_encode_adds_latent_avg(psp: PSP, faces: torch.Tensor) -> None:
    linears = [style.linear for style in psp.encoder.styles]
    saved = [(lin.weight.clone(), lin.bias.clone()) for lin in linears]
    try:
        for lin in linears:
            lin.weight.zero_()
            lin.bias.zero_()
        w = psp.encode(faces[:1])
    finally:
        for lin, (weight, bias) in zip(linears, saved, strict=True):
            lin.weight.copy_(weight)
            lin.bias.copy_(bias)
    assert torch.equal(w, psp.latent_avg.expand(1, 18, 512))


def test_encode_rejects_wrong_size(psp: PSP) -> None:
    with pytest.raises(ValueError, match="256"):
        psp.encode(torch.zeros(1, 3, 128, 128))


# ---------------------------------------------------------------- generate


def test_generate_sizes(psp: PSP, w_plus: torch.Tensor) -> None:
    images = {size: psp.generate(w_plus[:1], size=size) for size in (256, 512, 1024)}
    for size, img in images.items():
        assert img.shape == (1, 3, size, size)
        assert img.dtype == torch.float32
        assert torch.isfinite(img).all()
        assert 0.05 < float(img.std()) < 50 and float(img.abs().max()) < 100
    # Early exit: same shape and value range as the full output resized to that size.
    small = F.interpolate(images[1024], size=256, mode="area")
    assert small.shape == images[256].shape
    ratio = float(images[256].std() / small.std())
    assert 0.1 < ratio < 10


def test_generate_deterministic_fixed_noise(psp: PSP, w_plus: torch.Tensor) -> None:
    a = psp.generate(w_plus[:1], size=256)
    assert torch.equal(a, psp.generate(w_plus[:1], size=256))


def test_generate_batch_equals_single(psp: PSP, w_plus: torch.Tensor) -> None:
    both = psp.generate(w_plus, size=256)
    for i in range(2):
        assert rel_err(both[i], psp.generate(w_plus[i : i + 1], size=256)[0]) < 1e-4


def test_generate_fast_equals_naive_full_model(psp: PSP, w_plus: torch.Tensor) -> None:
    fast = psp.generate(w_plus[:1], size=256)
    try:
        psp.set_fast_ops(False)
        naive = psp.generate(w_plus[:1], size=256)
    finally:
        psp.set_fast_ops(True)
    assert rel_err(fast, naive) < 1e-4


def test_generate_rejects_bad_args(psp: PSP, w_plus: torch.Tensor) -> None:
    with pytest.raises(ValueError):
        psp.generate(w_plus, size=128)
    with pytest.raises(ValueError):
        psp.generate(w_plus[:, :17])


# ---------------------------------------------------------------- small generator: fast == naive


def small_generator() -> Generator:
    torch.manual_seed(3)
    g = Generator(size=64, style_dim=32, n_mlp=2, channels={4: 16, 8: 16, 16: 12, 32: 8, 64: 8})
    with torch.no_grad():
        for name, p in g.named_parameters():  # official init leaves these at 0 (or 1)
            if name.endswith(("bias", "noise.weight")):
                p.normal_(0, 0.5)
    return g.eval().requires_grad_(False)


@pytest.mark.parametrize(
    ("batch", "size", "memory_format"),
    [
        (1, 64, torch.contiguous_format),
        (1, 64, torch.channels_last),
        (3, 64, torch.contiguous_format),
        (3, 32, torch.channels_last),
    ],
)
def test_small_generator_fast_equals_naive(batch: int, size: int, memory_format) -> None:
    g = small_generator()
    w = torch.randn(batch, g.n_latent, 32, generator=torch.Generator().manual_seed(batch))
    with torch.inference_mode():
        fast = g(w, size=size, memory_format=memory_format)
        g.set_fast_ops(False)
        naive = g(w, size=size)
    assert fast.shape == naive.shape == (batch, 3, size, size)
    assert rel_err(fast, naive) < 1e-4


def test_small_generator_early_exit_is_prefix() -> None:
    """Stopping at 32 px gives exactly the skip that the 64 px run upsamples further."""
    g = small_generator()
    w = torch.randn(1, g.n_latent, 32)
    with torch.inference_mode():
        out32 = g(w, size=32)
        captured: dict[str, torch.Tensor] = {}

        def grab(module, args, out):
            captured["skip"] = args[2]

        g.to_rgbs[-1].register_forward_hook(grab)
        g(w, size=64)
    assert torch.equal(captured["skip"], out32)


# ---------------------------------------------------------------- ops


def brute_upfirdn2d(x, kernel, up, down, pad):
    """Loop over output pixels: zero-insert, pad, true convolution, subsample."""
    px0, px1, py0, py1 = pad
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    up_h, up_w = h * up, w * up
    out_h, out_w = up_h + py0 + py1 - kh + 1, up_w + px0 + px1 - kw + 1
    out = torch.zeros(n, c, out_h, out_w, dtype=torch.float64)
    for i, j in itertools.product(range(out_h), range(out_w)):
        for a, b in itertools.product(range(kh), range(kw)):
            si, sj = i + a - py0, j + b - px0  # position in the zero-inserted image
            if 0 <= si < up_h and 0 <= sj < up_w and si % up == 0 and sj % up == 0:
                out[:, :, i, j] += x[:, :, si // up, sj // up] * kernel[kh - 1 - a, kw - 1 - b]
    return out[:, :, ::down, ::down].float()


@pytest.mark.parametrize(
    ("up", "down", "pad"),
    [
        (1, 1, (1, 1, 1, 1)),  # Blur after the upsampling conv
        (2, 1, (2, 1, 2, 1)),  # ToRGB skip upsample
        (2, 1, (1, 1, 1, 1)),
        (1, 2, (1, 2, 1, 2)),
        (2, 2, (0, 3, 0, 3)),
        (1, 1, (-1, 2, 0, 1)),
        (2, 1, (3, -1, 3, -1)),
        (3, 1, (1, 2, 0, 2)),
    ],
)
def test_upfirdn2d_matches_brute_force(up: int, down: int, pad: tuple[int, int, int, int]) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 6, generator=gen)
    kernel = torch.randn(4, 3, generator=gen)  # asymmetric: catches a missing flip
    expected = brute_upfirdn2d(x.double(), kernel.double(), up, down, pad)
    for fn in (upfirdn2d_naive, upfirdn2d_fast):
        got = fn(x, kernel, up=up, down=down, pad=pad)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_fused_leaky_relu() -> None:
    x = torch.randn(2, 4, 3, 3)
    bias = torch.randn(4)
    y = x + bias.view(1, 4, 1, 1)
    expected = torch.where(y >= 0, y, 0.2 * y) * 2**0.5
    torch.testing.assert_close(fused_leaky_relu(x, bias), expected)
    torch.testing.assert_close(fused_leaky_relu(x[:, :, 0, 0], bias), expected[:, :, 0, 0])


# ---------------------------------------------------------------- style mixing


def test_mix_styles_layers() -> None:
    member = torch.randn(2, 18, 512)
    cover = torch.randn(2, 18, 512)
    out = mix_styles(member, cover)  # alpha 1, fine layers 8-17 from the cover
    assert torch.equal(out[:, :8], member[:, :8])
    assert torch.equal(out[:, 8:], cover[:, 8:])
    half = mix_styles(member, cover, alpha=0.5, layers=[0, 17])
    torch.testing.assert_close(half[:, 0], 0.5 * member[:, 0] + 0.5 * cover[:, 0])
    torch.testing.assert_close(half[:, 17], 0.5 * member[:, 17] + 0.5 * cover[:, 17])
    assert torch.equal(half[:, 1:17], member[:, 1:17])
    assert torch.equal(mix_styles(member, cover, alpha=0.0), member)
    one_cover = mix_styles(member, cover[:1], layers=range(4))
    assert torch.equal(one_cover[1, :4], cover[0, :4])
    with pytest.raises(ValueError):
        mix_styles(member, cover, layers=[18])
