"""Dataset preparation, loading, sampling, the bundled dataset and the `sg dataset` command."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import (
    ImageDataset,
    InfiniteSampler,
    bundled_dataset_path,
    iterate_batches,
    one_hot,
    open_dataset,
    prepare_dataset,
)
from core.data.bundled import load_bundled_arrays
from core.errors import SGError

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def png_bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def solid(color, size=(8, 8), mode="RGB") -> Image.Image:
    return Image.new(mode, size, color)


def stripes(size=(60, 20)) -> Image.Image:
    """Three vertical bands red | green | blue (or horizontal for a tall image)."""
    w, h = size
    img = Image.new("RGB", size)
    if w >= h:
        for i, c in enumerate((RED, GREEN, BLUE)):
            img.paste(c, (i * w // 3, 0, (i + 1) * w // 3, h))
    else:
        for i, c in enumerate((RED, GREEN, BLUE)):
            img.paste(c, (0, i * h // 3, w, (i + 1) * h // 3))
    return img


def write_folder(root: Path, files: dict[str, bytes], labels=None) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    if labels is not None:
        (root / "dataset.json").write_text(json.dumps({"labels": labels}))
    return root


def write_zip(path: Path, files: dict[str, bytes], labels=None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        if labels is not None:
            z.writestr("dataset.json", json.dumps({"labels": labels}))
    return path


COLORS = [RED, GREEN, BLUE, (255, 255, 0), (10, 20, 30)]


def colour_files() -> dict[str, bytes]:
    # Nested dirs, mixed formats and sizes; sorted names give this order: a/0, a/1, b/2, b/3, c/4.
    return {
        "a/0.png": png_bytes(solid(COLORS[0], (12, 12))),
        "a/1.jpg": png_bytes(solid(COLORS[1], (30, 20)), "JPEG", quality=98),
        "b/2.webp": png_bytes(solid(COLORS[2], (16, 16)), "WEBP", lossless=True),
        "b/3.PNG": png_bytes(solid(COLORS[3], (5, 9))),
        "c/4.jpeg": png_bytes(solid(COLORS[4], (64, 64)), "JPEG", quality=98),
        "notes.txt": b"not an image, ignored",
    }


LABELS = [["a/0.png", 3], ["a/1.jpg", 0], ["b/2.webp", 1], ["b/3.PNG", 3], ["c/4.jpeg", 2]]


def check_colour_dataset(path: Path, labelled: bool = True) -> None:
    ds = ImageDataset(path)
    assert (ds.resolution, ds.channels, len(ds)) == (8, 3, 5)
    for i, colour in enumerate(COLORS):
        img, label = ds[i]
        assert img.dtype == torch.uint8 and img.shape == (3, 8, 8)
        np.testing.assert_allclose(img.float().mean(dim=(1, 2)).numpy(), colour, atol=3)
        assert label == (LABELS[i][1] if labelled else -1)
    assert ds.num_classes == (4 if labelled else 0)
    meta = json.loads((path / "meta.json").read_text())
    assert meta["count"] == 5 and meta["skipped"] == 0 and meta["resolution"] == 8 and meta["version"] == 1


def test_folder_with_labels(tmp_path):
    src = write_folder(tmp_path / "src", colour_files(), LABELS)
    r = prepare_dataset(src, tmp_path / "out", 8, progress=False)
    assert (r.count, r.skipped, r.num_classes) == (5, 0, 4)
    check_colour_dataset(tmp_path / "out")
    arr = np.load(tmp_path / "out" / "images.npy", mmap_mode="r")
    assert arr.shape == (5, 3, 8, 8) and arr.dtype == np.uint8
    assert np.load(tmp_path / "out" / "labels.npy").tolist() == [3, 0, 1, 3, 2]
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp dirs left behind


def test_zip_with_labels_and_null_labels(tmp_path):
    src = write_zip(tmp_path / "src.zip", colour_files(), LABELS)
    prepare_dataset(src, tmp_path / "out", 8, progress=False)
    check_colour_dataset(tmp_path / "out")

    files = colour_files()
    with zipfile.ZipFile(tmp_path / "null.zip", "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("dataset.json", json.dumps({"labels": None}))
    prepare_dataset(tmp_path / "null.zip", tmp_path / "out2", 8, progress=False)
    check_colour_dataset(tmp_path / "out2", labelled=False)
    assert not (tmp_path / "out2" / "labels.npy").exists()


def test_missing_label_is_an_error(tmp_path):
    src = write_folder(tmp_path / "src", colour_files(), LABELS[:-1])
    with pytest.raises(SGError, match="no label for 1 image"):
        prepare_dataset(src, tmp_path / "out", 8, progress=False)
    assert not (tmp_path / "out").exists()


def test_corrupt_and_truncated_files_are_skipped_and_counted(tmp_path, capsys):
    good = png_bytes(solid(RED, (32, 32)))
    jpg = png_bytes(stripes((64, 64)), "JPEG", quality=90)
    files = {
        "0.png": good,
        "1.png": b"\x89PNG garbage that is not an image",
        "2.png": good[: len(good) // 2],  # truncated PNG
        "3.jpg": jpg[: len(jpg) // 2],  # truncated JPEG
        "4.png": good,
    }
    src = write_folder(tmp_path / "src", files)
    r = prepare_dataset(src, tmp_path / "out", 16, progress=False)
    assert (r.count, r.skipped) == (2, 3)
    err_lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err_lines) == 1 and "skipped 3" in err_lines[0]
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["skipped"] == 3 and len(meta["skipped_examples"]) == 3


def test_mode_conversions(tmp_path):
    p = Image.new("P", (8, 8), 1)
    p.putpalette([255, 255, 255, 10, 200, 30] + [0] * 762)
    files = {
        "0_rgba.png": png_bytes(solid((200, 100, 50, 128), mode="RGBA")),  # half transparent over black
        "1_gray.png": png_bytes(solid(77, mode="L")),
        "2_cmyk.jpg": png_bytes(solid((0, 255, 255, 0), mode="CMYK"), "JPEG", quality=98),
        "3_palette.png": png_bytes(p),
        "4_gray16.png": png_bytes(Image.fromarray(np.full((8, 8), 128 * 257, np.uint16))),
    }
    src = write_folder(tmp_path / "src", files)
    prepare_dataset(src, tmp_path / "rgb", 8, progress=False)
    ds = ImageDataset(tmp_path / "rgb")
    got = [ds[i][0].float().mean(dim=(1, 2)).numpy() for i in range(5)]
    expected = [(100, 50, 25), (77, 77, 77), RED, (10, 200, 30), (128, 128, 128)]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=3)

    prepare_dataset(src, tmp_path / "gray", 8, channels=1, progress=False)
    gray = ImageDataset(tmp_path / "gray")
    assert gray.channels == 1 and gray[0][0].shape == (1, 8, 8)
    luma = [0.299 * r + 0.587 * g + 0.114 * b for r, g, b in expected]
    np.testing.assert_allclose([gray[i][0].float().mean().item() for i in range(5)], luma, atol=3)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(tmp_path, fmt):
    img = Image.new("RGB", (40, 20), BLUE)
    img.paste(RED, (0, 0, 20, 20))  # stored: left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": the left edge ends up on top
    src = write_folder(tmp_path / "src", {f"x.{fmt.lower()}": png_bytes(img, fmt, exif=exif)})
    prepare_dataset(src, tmp_path / "out", 16, transform="resize", progress=False)
    a = ImageDataset(tmp_path / "out")[0][0].float()
    np.testing.assert_allclose(a[:, :6].mean(dim=(1, 2)).numpy(), RED, atol=4)
    np.testing.assert_allclose(a[:, 10:].mean(dim=(1, 2)).numpy(), BLUE, atol=4)


def test_non_square_transforms(tmp_path):
    src = write_folder(tmp_path / "src", {"wide.png": png_bytes(stripes((60, 20)))})

    def run(transform: str) -> np.ndarray:
        out = tmp_path / transform
        prepare_dataset(src, out, 16, transform=transform, progress=False)
        return ImageDataset(out)[0][0].numpy().astype(float)

    crop = run("center-crop")  # the middle 20x20 is all green
    np.testing.assert_allclose(crop.mean(axis=(1, 2)), GREEN, atol=2)

    stretch = run("resize")  # all three bands survive, left to right
    np.testing.assert_allclose(stretch[:, :, 1:4].mean(axis=(1, 2)), RED, atol=10)
    np.testing.assert_allclose(stretch[:, :, 7:9].mean(axis=(1, 2)), GREEN, atol=10)
    np.testing.assert_allclose(stretch[:, :, 12:15].mean(axis=(1, 2)), BLUE, atol=10)

    wide = run("center-crop-wide")  # 40x20 middle crop in rows 4..11, black bars above and below
    assert wide[:, :4].max() == 0 and wide[:, 12:].max() == 0
    np.testing.assert_allclose(wide[:, 5:11, 6:10].mean(axis=(1, 2)), GREEN, atol=10)
    np.testing.assert_allclose(wide[:, 5:11, 0:2].mean(axis=(1, 2)), RED, atol=25)
    np.testing.assert_allclose(wide[:, 5:11, 14:].mean(axis=(1, 2)), BLUE, atol=25)

    tall = write_folder(tmp_path / "tall", {"t.png": png_bytes(stripes((20, 60)))})
    prepare_dataset(tall, tmp_path / "tall_out", 16, transform="center-crop-wide", progress=False)
    t = ImageDataset(tmp_path / "tall_out")[0][0].numpy().astype(float)
    assert t[:, :4].max() == 0 and t[:, 12:].max() == 0
    np.testing.assert_allclose(t[:, 5:11].mean(axis=(1, 2)), GREEN, atol=3)


def test_max_images_and_min_images(tmp_path):
    src = write_folder(tmp_path / "src", colour_files())
    r = prepare_dataset(src, tmp_path / "out", 8, max_images=3, progress=False)
    assert r.count == 3 and len(ImageDataset(tmp_path / "out")) == 3
    with pytest.raises(SGError, match="only 5 usable"):
        prepare_dataset(src, tmp_path / "out2", 8, min_images=6, progress=False)
    assert not (tmp_path / "out2").exists()


def test_mirror_doubles_and_flips(tmp_path):
    src = write_folder(tmp_path / "src", {f"{i}.png": png_bytes(stripes((30, 30))) for i in range(3)}, None)
    prepare_dataset(src, tmp_path / "out", 8, progress=False)
    plain, mirrored = ImageDataset(tmp_path / "out"), ImageDataset(tmp_path / "out", mirror=True)
    assert len(plain) == 3 and len(mirrored) == 6
    for i in range(3):
        assert torch.equal(mirrored[i][0], plain[i][0])
        assert torch.equal(mirrored[i + 3][0], plain[i][0].flip(-1))
    assert not torch.equal(plain[0][0], plain[0][0].flip(-1))
    images, labels = mirrored.get_batch([4, 0, 5, 1])
    for row, idx in enumerate([4, 0, 5, 1]):
        assert torch.equal(images[row], mirrored[idx][0])
    assert labels.tolist() == [-1] * 4
    with pytest.raises(IndexError):
        mirrored[6]


def test_errors_on_bad_input(tmp_path):
    with pytest.raises(SGError, match="not found"):
        prepare_dataset(tmp_path / "nope", tmp_path / "out", 8, progress=False)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("hi")
    with pytest.raises(SGError, match="no PNG/JPEG/WebP images"):
        prepare_dataset(empty, tmp_path / "out", 8, progress=False)
    bad = write_folder(tmp_path / "bad", {"x.png": b"junk", "y.jpg": b"junk"})
    with pytest.raises(SGError, match="only 0 usable"):
        prepare_dataset(bad, tmp_path / "out", 8, progress=False)
    src = write_folder(tmp_path / "src", colour_files())
    for res in (6, 48, 0, 2):
        with pytest.raises(SGError, match="power of two"):
            prepare_dataset(src, tmp_path / "out", res, progress=False)
    with pytest.raises(SGError, match="transform"):
        prepare_dataset(src, tmp_path / "out", 8, transform="zoom", progress=False)
    with pytest.raises(SGError, match="channels"):
        prepare_dataset(src, tmp_path / "out", 8, channels=4, progress=False)
    (tmp_path / "exists").mkdir()
    with pytest.raises(SGError, match="already exists"):
        prepare_dataset(src, tmp_path / "exists", 8, progress=False)
    prepare_dataset(src, tmp_path / "exists", 8, overwrite=True, progress=False)
    check_colour_dataset(tmp_path / "exists", labelled=False)
    assert not (tmp_path / "out").exists()


def test_open_dataset_caches_raw_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("SG_CACHE_DIR", str(tmp_path / "cache"))
    src = write_folder(tmp_path / "src", colour_files(), LABELS)
    ds = open_dataset(src, resolution=8, progress=False)
    assert ds.path.parent == tmp_path / "cache" / "datasets"
    check_colour_dataset(ds.path)
    stamp = (ds.path / "images.npy").stat().st_mtime_ns
    again = open_dataset(src, resolution=8, progress=False)
    assert again.path == ds.path and (again.path / "images.npy").stat().st_mtime_ns == stamp
    assert open_dataset(src, resolution=16, progress=False).path != ds.path  # options are in the key
    (src / "a" / "0.png").write_bytes(png_bytes(solid(BLUE, (12, 12))))  # content change -> new entry
    changed = open_dataset(src, resolution=8, progress=False)
    assert changed.path != ds.path
    np.testing.assert_allclose(changed[0][0].float().mean(dim=(1, 2)).numpy(), BLUE, atol=2)
    # A prepared dir opens as is; conflicting options are user errors.
    assert open_dataset(ds.path).path == ds.path
    with pytest.raises(SGError, match="prepared at 8px"):
        open_dataset(ds.path, resolution=16)
    with pytest.raises(SGError, match="channel"):
        open_dataset(ds.path, channels=1)
    explicit = open_dataset(src, resolution=8, cache_dir=tmp_path / "elsewhere", progress=False)
    assert explicit.path.parent == tmp_path / "elsewhere"


def test_open_dataset_infers_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("SG_CACHE_DIR", str(tmp_path / "cache"))
    src = write_folder(tmp_path / "sq", {f"{i}.png": png_bytes(solid(RED, (16, 16))) for i in range(2)})
    assert open_dataset(src, progress=False).resolution == 16
    odd = write_folder(tmp_path / "odd", {"0.png": png_bytes(solid(RED, (30, 20)))})
    with pytest.raises(SGError, match="pass a resolution"):
        open_dataset(odd, progress=False)


def test_infinite_sampler_ddp_and_resume():
    n, world = 10, 3
    streams = [list(_take(InfiniteSampler(n, rank=r, world_size=world, seed=5), 20)) for r in range(world)]
    interleaved = [streams[i % world][i // world] for i in range(60)]
    for e in range(6):  # every epoch of the global stream is a permutation
        assert sorted(interleaved[e * n : (e + 1) * n]) == list(range(n))
    assert interleaved[:n] != list(range(n))  # shuffled
    assert (
        list(_take(InfiniteSampler(n, rank=1, world_size=world, seed=5), 20)) == streams[1]
    )  # deterministic
    assert list(_take(InfiniteSampler(n, rank=1, world_size=world, seed=6), 20)) != streams[1]
    resumed = list(_take(InfiniteSampler(n, rank=1, world_size=world, seed=5, start=7), 13))
    assert resumed == streams[1][7:]
    assert list(_take(InfiniteSampler(4, shuffle=False), 6)) == [0, 1, 2, 3, 0, 1]
    with pytest.raises(ValueError):
        InfiniteSampler(4, rank=2, world_size=2)


def _take(it, k):
    it = iter(it)
    return [next(it) for _ in range(k)]


def test_iterate_batches_and_one_hot(tmp_path):
    files = {f"{i}.png": png_bytes(solid((i * 20, 0, 0))) for i in range(6)}
    labels = [[f"{i}.png", i % 3] for i in range(6)]
    src = write_folder(tmp_path / "src", files, labels)
    prepare_dataset(src, tmp_path / "out", 4, progress=False)
    ds = ImageDataset(tmp_path / "out", mirror=True)
    for workers in (0, 1):
        it = iterate_batches(ds, 4, seed=1, num_workers=workers)
        seen = []
        for _ in range(3):  # 12 = one full epoch of the mirrored dataset
            images, lab = next(it)
            assert images.shape == (4, 3, 4, 4) and images.dtype == torch.uint8 and lab.dtype == torch.int64
            ident = (images[:, 0, 0, 0].int() // 20).tolist()  # which source image each row is
            assert lab.tolist() == [i % 3 for i in ident]
            seen += ident
        assert sorted(seen) == sorted(list(range(6)) * 2)
    oh = ds.one_hot(torch.tensor([2, 0, -1]))
    assert oh.tolist() == [[0, 0, 1], [1, 0, 0], [0, 0, 0]]
    assert one_hot([1], 4).shape == (1, 4)
    with pytest.raises(ValueError):
        one_hot([5], 3)


def test_dataset_pickles_without_image_data(tmp_path):
    import pickle

    src = write_folder(tmp_path / "src", {f"{i}.png": png_bytes(solid(RED, (64, 64))) for i in range(4)})
    prepare_dataset(src, tmp_path / "out", 64, progress=False)
    ds = ImageDataset(tmp_path / "out")
    blob = pickle.dumps(ds)
    assert len(blob) < 4 * 3 * 64 * 64  # the memory map is reopened, not copied
    assert torch.equal(pickle.loads(blob)[3][0], ds[3][0])


def test_bundled_dataset(tmp_path):
    path = bundled_dataset_path(cache_dir=tmp_path)
    ds = open_dataset(path)
    assert (len(ds), ds.resolution, ds.channels, ds.num_classes) == (4000, 32, 1, 10)
    assert np.bincount(ds.labels).tolist() == [400] * 10
    img = ds.images
    assert img[:, :, :2].max() == 0 and img[:, :, -2:].max() == 0  # 2 px black padding
    assert img[:, :, :, :2].max() == 0 and img[:, :, :, -2:].max() == 0
    assert 50 < img.mean() < 100  # real garments, not blank
    raw, raw_labels = load_bundled_arrays()
    assert np.array_equal(raw, np.asarray(img)) and np.array_equal(raw_labels, ds.labels)
    assert bundled_dataset_path(cache_dir=tmp_path) == path  # materialised once
    npz = Path(__file__).resolve().parents[1] / "core" / "data" / "bundled" / "fashion_mnist_4k.npz"
    assert npz.stat().st_size < 3_000_000


def _run_cli(monkeypatch, *args: str) -> int:
    from stylegan_cli.main import main

    monkeypatch.setattr(sys, "argv", ["sg", *args])
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_dataset(tmp_path, monkeypatch, capsys):
    src = write_zip(tmp_path / "src.zip", colour_files(), LABELS)
    out = tmp_path / "out"
    assert _run_cli(monkeypatch, "dataset", str(src), str(out), "--resolution", "8") == 0
    captured = capsys.readouterr()
    printed = captured.out.strip().splitlines()
    assert len(printed) == 1 and "5 images" in printed[0] and "0 skipped" in printed[0]
    assert "hint:" in captured.err and "--aug ada" in captured.err  # 5 images: the small-dataset advice
    assert "8x8x3" in printed[0] and "4 classes" in printed[0]
    check_colour_dataset(out)

    def fails(*args: str, match: str) -> None:
        assert _run_cli(monkeypatch, "dataset", *args) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0], err

    fails(str(src), str(out), "--resolution", "8", match="already exists")
    fails(str(tmp_path / "missing"), str(tmp_path / "o2"), "--resolution", "8", match="not found")
    fails(str(src), str(tmp_path / "o3"), "--resolution", "12", match="power of two")
    (tmp_path / "empty").mkdir()
    fails(str(tmp_path / "empty"), str(tmp_path / "o4"), "--resolution", "8", match="no PNG/JPEG/WebP")

    args = ["dataset", str(src), str(out), "-r", "16", "--channels", "1", "--max-images", "2", "--force"]
    assert _run_cli(monkeypatch, *args) == 0
    ds = ImageDataset(out)
    assert (len(ds), ds.resolution, ds.channels) == (2, 16, 1)


def test_cli_help_has_example():
    from typer.testing import CliRunner

    from stylegan_cli.main import app

    result = CliRunner().invoke(app, ["dataset", "--help"])
    assert result.exit_code == 0 and "Example: sg dataset" in result.output
