"""Projector inputs: image conversion/IO, photo preprocessing, input collection, LPIPS weights, PSNR."""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from core.errors import SGError
from core.images import load_image, make_grid, save_png, to_uint8
from projector.lpips_loss import PerceptualLoss, backbone_weights_path, make_lpips
from projector.metrics import mse_loss, psnr
from projector.preprocess import (
    collect_inputs,
    load_target,
    load_target_uint8,
    target_stem,
    uint8_to_tensor,
)

RED, BLUE, WHITE = (1.0, -1.0, -1.0), (-1.0, -1.0, 1.0), (1.0, 1.0, 1.0)


def _halves(w: int, h: int, left: tuple[int, ...], right: tuple[int, ...], mode: str = "RGB") -> Image.Image:
    """Image whose left half is one colour and right half another: orientation is then easy to read."""
    im = Image.new(mode, (w, h), right)
    im.paste(Image.new(mode, (w // 2, h), left), (0, 0))
    return im


def _pixel(t: torch.Tensor, y: int, x: int) -> tuple[float, ...]:
    return tuple(float(v) for v in t[:, y, x])


# ----------------------------------------------------------------------------- core.images


def test_to_uint8_matches_official_formula() -> None:
    x = torch.linspace(-1.2, 1.2, 2 * 3 * 5 * 7).reshape(2, 3, 5, 7)
    out = to_uint8(x)
    ref = (x * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    assert out.shape == (2, 5, 7, 3) and out.dtype == torch.uint8
    assert torch.equal(out, ref)
    # Truncation, not rounding: -1 -> 0 (0.5 truncated), 0 -> 128, 1 -> 255, 0.999 -> 255 (255.37).
    vals = to_uint8(torch.tensor([-1.0, 0.0, 1.0, 0.999, -0.996]).reshape(1, 1, 1, 5))
    assert vals.flatten().tolist() == [0, 128, 255, 255, 1]
    with pytest.raises(ValueError):
        to_uint8(torch.zeros(3, 4, 4))


def test_uint8_tensor_round_trip_is_exact() -> None:
    arr = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    t = uint8_to_tensor(arr)
    assert t.shape == (3, 16, 16) and float(t.min()) == -1.0 and float(t.max()) == 1.0
    assert np.array_equal(to_uint8(t[None])[0].numpy(), arr)


def test_save_png_rgb_and_gray(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    gray = np.random.default_rng(1).integers(0, 256, (9, 7, 1), dtype=np.uint8)
    save_png(torch.from_numpy(rgb), tmp_path / "rgb.png")
    save_png(gray, tmp_path / "out" / "gray.png")
    with Image.open(tmp_path / "rgb.png") as im:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), rgb)
    with Image.open(tmp_path / "out" / "gray.png") as im:
        assert im.mode == "L" and np.array_equal(np.asarray(im), gray[:, :, 0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "rgb.png"]  # no temp files left
    with pytest.raises(ValueError, match="uint8"):
        save_png(rgb.astype(np.float32), tmp_path / "f.png")


def test_make_grid_layout() -> None:
    imgs = torch.stack([torch.full((2, 3, 3), i + 1, dtype=torch.uint8) for i in range(5)])
    g = make_grid(imgs, cols=3)
    assert isinstance(g, torch.Tensor) and g.shape == (4, 9, 3)
    assert g[0, 0, 0] == 1 and g[0, 3, 0] == 2 and g[0, 6, 0] == 3
    assert g[2, 0, 0] == 4 and g[2, 3, 0] == 5
    assert int(g[2:, 6:].sum()) == 0  # empty cell is black
    assert make_grid(imgs.numpy(), cols=8).shape == (2, 15, 3)  # cols clamped to N, numpy in/out
    with pytest.raises(ValueError):
        make_grid(imgs, cols=0)


def test_load_image_errors(tmp_path: Path) -> None:
    with pytest.raises(SGError, match="not found.*nope.png"):
        load_image(tmp_path / "nope.png")
    (tmp_path / "junk.png").write_bytes(b"this is not an image")
    with pytest.raises(SGError, match="junk.png"):
        load_image(tmp_path / "junk.png")
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 50).convert("RGB").save(buf, format="PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(SGError, match="cut.png"):
        load_image(tmp_path / "cut.png")


# ----------------------------------------------------------------------------- preprocess


def test_non_square_is_centre_cropped(tmp_path: Path) -> None:
    # 90x30: red | green | blue thirds; the centre crop keeps only green.
    im = Image.new("RGB", (90, 30), (0, 0, 255))
    im.paste(Image.new("RGB", (30, 30), (255, 0, 0)), (0, 0))
    im.paste(Image.new("RGB", (30, 30), (0, 255, 0)), (30, 0))
    im.save(tmp_path / "wide.png")
    t = load_target(tmp_path / "wide.png", resolution=32, channels=3)
    assert t.shape == (3, 32, 32) and t.dtype == torch.float32
    np.testing.assert_allclose(t.mean(dim=(1, 2)).numpy(), [-1, 1, -1], atol=1e-6)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored 60x40 red|blue; orientation 6 = "rotate 90 deg clockwise to display" -> red on top.
    im = _halves(60, 40, (255, 0, 0), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(tmp_path / "rot.png", exif=exif.tobytes())
    assert load_image(tmp_path / "rot.png").size == (40, 60)
    t = load_target(tmp_path / "rot.png", resolution=32, channels=3)
    assert t.shape == (3, 32, 32)
    np.testing.assert_allclose(_pixel(t, 2, 16), RED, atol=1e-6)
    np.testing.assert_allclose(_pixel(t, 29, 16), BLUE, atol=1e-6)
    # Without the tag the same pixels give left/right halves instead.
    im.save(tmp_path / "plain.png")
    t2 = load_target(tmp_path / "plain.png", resolution=32, channels=3)
    np.testing.assert_allclose(_pixel(t2, 16, 2), RED, atol=1e-6)
    np.testing.assert_allclose(_pixel(t2, 16, 29), BLUE, atol=1e-6)


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    im = _halves(32, 32, (255, 0, 0, 255), (0, 0, 0, 0), mode="RGBA")  # right half fully transparent black
    im.paste(Image.new("RGBA", (8, 8), (0, 0, 255, 128)), (0, 0))  # half-transparent blue corner
    im.save(tmp_path / "alpha.png")
    u = load_target_uint8(tmp_path / "alpha.png", resolution=32, channels=3)
    assert u.shape == (32, 32, 3) and u.dtype == np.uint8
    assert u[16, 24].tolist() == [255, 255, 255]  # transparent -> white, not black
    assert u[16, 8].tolist() == [255, 0, 0]
    assert u[2, 2].tolist() == pytest.approx([127, 127, 255], abs=1)
    g = load_target_uint8(tmp_path / "alpha.png", resolution=32, channels=1)
    assert g.shape == (32, 32, 1) and g[16, 24, 0] == 255


def test_palette_with_transparency(tmp_path: Path) -> None:
    im = _halves(32, 32, (255, 0, 0), (0, 255, 0)).convert("P")
    green_index = im.getpixel((20, 5))
    im.save(tmp_path / "pal.png", transparency=green_index)
    u = load_target_uint8(tmp_path / "pal.png", resolution=32, channels=3)
    assert u[5, 5].tolist() == [255, 0, 0] and u[5, 25].tolist() == [255, 255, 255]


def test_grayscale_and_colour_conversions(tmp_path: Path) -> None:
    Image.new("L", (40, 40), 200).save(tmp_path / "g.png")
    t = load_target(tmp_path / "g.png", resolution=32, channels=3)
    assert t.shape == (3, 32, 32)
    np.testing.assert_allclose(t.numpy(), 200 / 127.5 - 1, atol=1e-6)  # replicated to RGB

    Image.new("RGB", (40, 40), (255, 0, 0)).save(tmp_path / "red.png")
    t1 = load_target(tmp_path / "red.png", resolution=32, channels=1)
    assert t1.shape == (1, 32, 32)
    np.testing.assert_allclose(t1.numpy(), 76 / 127.5 - 1, atol=1e-6)  # ITU-R 601 luma of red

    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=100)
    tc = load_target(tmp_path / "cmyk.jpg", resolution=32, channels=3)
    np.testing.assert_allclose(tc.mean(dim=(1, 2)).numpy(), RED, atol=0.05)

    Image.fromarray(np.full((40, 40), 65535, np.uint16)).save(tmp_path / "g16.png")
    t16 = load_target(tmp_path / "g16.png", resolution=32, channels=1)
    np.testing.assert_allclose(t16.numpy(), 1.0, atol=1e-6)  # scaled, not clipped to 255 of 65535

    with pytest.raises(SGError, match="channels"):
        load_target(tmp_path / "g.png", resolution=32, channels=4)


def test_downscale_is_smooth_lanczos(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "n.png")
    u = load_target_uint8(tmp_path / "n.png", resolution=32)
    ref = np.asarray(Image.fromarray(arr).resize((32, 32), Image.Resampling.LANCZOS))
    assert np.array_equal(u, ref)
    assert u.std() < arr.std() * 0.5  # a 4x antialiased reduction averages the noise out


def test_too_small_and_corrupt_raise_with_name(tmp_path: Path) -> None:
    Image.new("RGB", (31, 100)).save(tmp_path / "tiny.png")
    with pytest.raises(SGError, match=r"too small: .*tiny\.png is 31x100.*at least 32"):
        load_target(tmp_path / "tiny.png", resolution=64)
    Image.new("RGB", (32, 100)).save(tmp_path / "ok.png")
    assert load_target(tmp_path / "ok.png", resolution=64).shape == (3, 64, 64)  # exactly 2x is allowed
    assert load_target(tmp_path / "tiny.png", resolution=64, min_size=0).shape == (3, 64, 64)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(SGError, match=r"bad\.jpg"):
        load_target(tmp_path / "bad.jpg", resolution=64)


def test_collect_inputs(tmp_path: Path) -> None:
    d = tmp_path / "photos"
    (d / "b" / "deep").mkdir(parents=True)
    for name in ["z.png", "a.JPG", "b/c.webp", "b/deep/d.bmp", "b/e.jpeg", ".hidden.png", "notes.txt"]:
        (d / name).write_bytes(b"x")
    found = collect_inputs([str(d)])
    assert [p.relative_to(d).as_posix() for p in found] == [
        "a.JPG",
        "b/c.webp",
        "b/deep/d.bmp",
        "b/e.jpeg",
        "z.png",
    ]
    # explicit files are kept whatever their suffix, duplicates dropped, order preserved
    both = collect_inputs([d / "notes.txt", d, d / "z.png"])
    assert both[0] == d / "notes.txt" and len(both) == 6
    with pytest.raises(SGError, match=r"input not found: .*missing"):
        collect_inputs([d, tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SGError, match="no images"):
        collect_inputs([tmp_path / "empty"])
    with pytest.raises(SGError):
        collect_inputs([])


def test_target_stem_disambiguates() -> None:
    inputs = [Path("a/x.png"), Path("b/x.jpg"), Path("c/y.png")]
    assert [target_stem(p, inputs) for p in inputs] == ["x_1", "x_2", "y"]


# ----------------------------------------------------------------------------- LPIPS


def test_missing_backbone_weights_fail_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    start = time.perf_counter()
    with pytest.raises(SGError) as info:
        make_lpips("vgg")
    assert time.perf_counter() - start < 1.0  # before building any network
    msg = str(info.value)
    expected_path = tmp_path / "torch_home" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert str(expected_path) in msg and "--vgg-weights" in msg and "\n" not in msg
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in msg
    with pytest.raises(SGError, match=r"--vgg-weights file not found: .*nope\.pth"):
        make_lpips("vgg", weights=tmp_path / "nope.pth")
    with pytest.raises(SGError, match="unknown LPIPS network"):
        make_lpips("resnet", random_backbone=True)


def test_missing_weights_are_downloaded_into_the_hub_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Online, a missing backbone is fetched the torchvision way; a failed fetch is the one-line error."""
    import projector.lpips_loss as ll

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SG_OFFLINE")
    fetched: list[tuple[str, Path]] = []

    def fake_download(url: str, dest: Path) -> None:
        fetched.append((url, dest))
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(b"weights")

    monkeypatch.setattr(ll, "download_backbone", fake_download)
    hub = tmp_path / "home" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert backbone_weights_path("vgg") == hub and hub.read_bytes() == b"weights"
    assert fetched == [("https://download.pytorch.org/models/vgg16-397923af.pth", hub)]
    assert backbone_weights_path("vgg") == hub and len(fetched) == 1  # cached: no second fetch

    def no_network(url: str, dest: Path) -> None:
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(ll, "download_backbone", no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "other"))
    with pytest.raises(SGError) as info:
        backbone_weights_path("vgg")
    msg = str(info.value)
    assert "download failed: [Errno -2] Name or service not known" in msg and "--vgg-weights" in msg
    assert "\n" not in msg
    with pytest.raises(SGError, match="not found: put"):  # scores only (--loss mse): never downloads
        backbone_weights_path("vgg", download=False)


def test_bad_weight_files(tmp_path: Path) -> None:
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(SGError, match=r"cannot read LPIPS backbone weights .*junk\.pth"):
        make_lpips("vgg", weights=tmp_path / "junk.pth")
    torch.save({"features.0.weight": torch.zeros(3)}, tmp_path / "wrong.pth")
    with pytest.raises(SGError, match=r"'features\.0\.weight' has shape \[3\]"):
        make_lpips("vgg", weights=tmp_path / "wrong.pth")


def test_weights_file_is_loaded_into_backbone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torchvision = pytest.importorskip("torchvision")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))  # any download attempt would fail
    torch.manual_seed(0)
    full = torchvision.models.vgg16().state_dict()
    # The conv trunk is what LPIPS uses; the 470 MB classifier is replaced by a small stand-in to keep the
    # test file small (the loader must simply ignore extra keys).
    sd = {k: v for k, v in full.items() if k.startswith("features.")}
    sd["classifier.6.bias"] = torch.zeros(1000)
    torch.save(sd, tmp_path / "vgg16-397923af.pth")

    model = make_lpips("vgg", weights=tmp_path / "vgg16-397923af.pth")
    loaded = model.net.state_dict()
    assert len(loaded) == 26  # 13 conv layers x (weight, bias)
    for name, t in loaded.items():
        assert torch.equal(t, sd["features." + name.split(".", 1)[1]]), name
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    # the calibrated linear heads shipped in the lpips wheel are loaded too
    import lpips

    heads = torch.load(Path(lpips.__file__).parent / "weights/v0.1/vgg.pth", map_location="cpu")
    assert torch.equal(model.lin0.model[1].weight, heads["lin0.model.1.weight"])
    assert not (tmp_path / "empty_home").exists()  # nothing was fetched into the hub cache

    # The same file in the hub cache is found without --vgg-weights.
    hub = tmp_path / "home2" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "vgg16-397923af.pth").write_bytes((tmp_path / "vgg16-397923af.pth").read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home2"))
    assert backbone_weights_path("vgg") == hub / "vgg16-397923af.pth"


@pytest.fixture(scope="module")
def rand_lpips() -> torch.nn.Module:
    torch.manual_seed(0)
    return make_lpips("vgg", random_backbone=True)


def test_random_backbone_lpips_values(
    rand_lpips: torch.nn.Module, capsys: pytest.CaptureFixture[str]
) -> None:
    loss = PerceptualLoss(rand_lpips)
    torch.manual_seed(1)
    a = torch.rand(2, 3, 32, 32) * 2 - 1
    b = torch.rand(2, 3, 32, 32) * 2 - 1
    same = loss(a, a)
    assert same.shape == (2,) and torch.allclose(same, torch.zeros(2), atol=1e-6)
    diff = loss(a, b)
    assert diff.shape == (2,) and bool((diff > 1e-3).all())
    # identical to the lpips package's own forward
    ref = rand_lpips(a, b).flatten()
    torch.testing.assert_close(diff, ref, rtol=1e-5, atol=1e-6)
    # target batch 1 broadcasts, and precomputed target features give the same numbers
    tgt = b[:1]
    d1 = loss(a, tgt)
    torch.testing.assert_close(d1, rand_lpips(a, tgt.expand(2, -1, -1, -1)).flatten(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss.distance(loss.features(a), loss.features(tgt)), d1)
    # grayscale images are compared as RGB
    g = a[:, :1]
    torch.testing.assert_close(loss(g, b), loss(g.expand(-1, 3, -1, -1), b))
    assert capsys.readouterr().out == ""


def test_lpips_area_downsampling_and_gradients(rand_lpips: torch.nn.Module) -> None:
    loss = PerceptualLoss(rand_lpips, size=32)
    torch.manual_seed(2)
    a = (torch.rand(1, 3, 64, 64) * 2 - 1).requires_grad_(True)
    b = torch.rand(1, 3, 64, 64) * 2 - 1
    assert loss.prepare(b).shape == (1, 3, 32, 32)
    d = loss(a, b)
    torch.testing.assert_close(d, rand_lpips(F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)).flatten())
    d.sum().backward()
    assert a.grad is not None and float(a.grad.abs().sum()) > 0
    assert all(p.grad is None for p in rand_lpips.parameters())
    loss.train()
    assert not loss.model.training  # dropout in the heads stays off


def test_make_lpips_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    make_lpips("alex", random_backbone=True)
    assert capsys.readouterr().out == ""


# ----------------------------------------------------------------------------- metrics


def test_psnr_and_mse_known_values() -> None:
    a = torch.zeros(3, 3, 4, 4)
    b = torch.zeros(3, 3, 4, 4)
    b[1] = 0.2  # 25.5 levels on the 8-bit scale -> 20*log10(255/25.5) = 20 dB
    b[2, :, :2] = 1.0  # half the pixels off by 1.0 -> mse 0.5 -> 10*log10(4/0.5)
    p = psnr(a, b)
    assert math.isinf(float(p[0])) and float(p[0]) > 0
    assert float(p[1]) == pytest.approx(20.0, abs=1e-4)
    assert float(p[2]) == pytest.approx(10 * math.log10(8), abs=1e-4)
    torch.testing.assert_close(mse_loss(a, b), torch.tensor([0.0, 0.04, 0.5]))
    # same number as the uint8 definition on [0,255]
    u8a, u8b = to_uint8(a).double(), to_uint8(b).double()
    mse255 = (u8a - u8b).square().flatten(1).mean(1)
    assert float(10 * torch.log10(255**2 / mse255[1])) == pytest.approx(float(p[1]), abs=0.2)  # quantisation
    with pytest.raises(ValueError):
        psnr(a, b[:, :1])
