"""Fault injection (issue 16): every failure is one `error:` line and a non-zero exit, never a traceback,
and never an existing output lost.

Faults: bad option values, path collisions, a read-only folder and a full file system (small tmpfs mounts,
so these run as root and are skipped with the reason otherwise), crafted files that declare huge sizes or
carry wrong types, two runs into one folder, and a second Ctrl-C during training. The CLI runs in-process
through the real entry point (`stylegan_cli.main.main`), which is where the one-line contract lives.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import struct
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from core.checkpoint import save_checkpoint
from core.data.layout import write_prepared
from core.errors import SGError
from core.fileio import folder_lock
from core.latents import Latents
from core.networks import DiscriminatorConfig, GeneratorConfig, build_discriminator, build_generator
from core.video import Mp4Writer

RES = 16


# ---------------------------------------------------------------------------------------------- helpers


pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


def one_error(result: tuple[int, str, str], match: str, code: int = 2) -> str:
    """The exit code, exactly one `error:` line (matching `match`), and no traceback anywhere."""
    rc, out, err = result
    assert "Traceback" not in out + err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert rc == code, (rc, err)
    import re

    assert re.search(match, errors[0]), errors[0]
    return errors[0]


def contents(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` with its bytes (None for folders), to compare before and after."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def tiny_generator(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    cfg = GeneratorConfig(
        z_dim=32, w_dim=32, img_resolution=RES, channel_base=256, channel_max=32, map_layers=2, num_fp16_res=0
    )
    return build_generator(cfg)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "g.safetensors"
    save_checkpoint(path, tiny_generator())
    return path


@pytest.fixture(scope="module")
def data16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """32 labelled 16x16 RGB images as a prepared dataset (instant to open)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (32, 3, RES, RES), dtype=np.uint8)
    return write_prepared(
        tmp_path_factory.mktemp("data") / "noise16", images, np.arange(32) % 4, {"source": "test"}
    )


@pytest.fixture(scope="module")
def pngs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three 16x16 PNGs: a raw source for `sg dataset`."""
    src = tmp_path_factory.mktemp("pngs")
    for i in range(3):
        Image.new("RGB", (RES, RES), (40 * i, 90, 200)).save(src / f"{i}.png")
    return src


def _mount(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip() or r.returncode}")


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "4m") -> Iterator[Path]:
    """A small file system of its own at `path` (so it can be filled up or made read-only)."""
    _mount(path, size)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def make_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def fill(fs: Path, leave: int = 0) -> None:
    """Fill the file system at `fs` until at most `leave` bytes are free."""
    with open(fs / "filler", "wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 512)
    if leave:
        size = (fs / "filler").stat().st_size
        os.truncate(fs / "filler", max(0, size - leave))


def good_video(path: Path, frames: int = 5) -> bytes:
    rng = np.random.default_rng(1)
    with Mp4Writer(path, 10, 32, 32) as w:
        for _ in range(frames):
            w.write(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    return path.read_bytes()


def no_temp_files(folder: Path) -> None:
    left = [p.name for p in folder.rglob("*") if ".tmp" in p.name]
    assert not left, left


# ---------------------------------------------------------------------------------------- option values


OPTION_CASES = [
    (["sample", "{model}", "--seeds", "0", "--trunc", "nan"], r"--trunc must be a finite number"),
    (["sample", "{model}", "--seeds", "0", "--trunc", "inf"], r"--trunc must be a finite number"),
    (["sample", "{model}", "--num", "2", "--seed", "-1"], r"seed range 0\.\.4294967295"),
    (["sample", "{model}", "--num", "2", "--seed", "4294967295"], r"seed range 0\.\.4294967295"),
    (["sample", "{model}", "--seeds", "0", "--batch", "0"], r"--batch must be >= 1"),
    (["sample", "{model}", "--seeds", "0", "--device", "bogus"], r"unknown device 'bogus'"),
    (["mix", "{model}", "1", "2", "--layers", "0-1", "--trunc", "nan"], r"--trunc must be a finite"),
    (["interpolate", "{model}", "--seeds", "1,2", "--fps", "inf"], r"--fps must be a finite number"),
    (["interpolate", "{model}", "--seeds", "1,2", "--fps", "nan"], r"--fps must be a finite number"),
    (["interpolate", "{model}", "--seeds", "1,2", "--fps", "0"], r"--fps must be > 0"),
    (["interpolate", "{model}", "--seeds", "1,2", "--trunc", "-inf"], r"--trunc must be a finite"),
    (["project", "{model}", "x.png", "--seed", "-1"], r"--seed must be"),
    (["project", "{model}", "x.png", "--seed", "4294967296"], r"--seed must be within 0\.\.4294967295"),
    (["project", "{model}", "x.png", "--noise-reg", "nan"], r"--noise-reg must be"),
    (["project", "{model}", "x.png", "--lr", "inf"], r"--lr must be"),
    (["metrics", "{model}", "--data", "{data}", "--batch", "0"], r"--batch must be at least 1"),
    (["metrics", "{model}", "--data", "{data}", "--psi", "nan"], r"--psi must be a finite number"),
    (["metrics", "{model}", "--data", "{data}", "--seed", "-3"], r"--seed must be within"),
    (["metrics", "{model}", "--data", "{data}", "--device", "tpu"], r"--device: unknown device 'tpu'"),
    (["train", "{data}", "--kimg", "inf"], r"--kimg must be a finite number"),
    (["train", "{data}", "--kimg", "-1"], r"--kimg must be > 0"),
    (["train", "{data}", "--snap", "nan"], r"--snap must be a finite number"),
    (["train", "{data}", "--gamma", "inf"], r"--gamma must be a finite number"),
    (["train", "{data}", "--cbase", "0"], r"--cbase must be >= 1"),
    (["train", "{data}", "--cbase", "8"], r"--cbase 8 leaves no channels at 16 px"),
    (["train", "{data}", "--mbstd-group", "3"], r"--mbstd-group 3 must divide the per-GPU batch 8"),
    (["train", "{data}", "--seed", "-1"], r"--seed must be within 0\.\.4294967295"),
    (["train", "{data}", "--device", "bogus"], r"--device: unknown device 'bogus'"),
]


def test_bad_option_values_are_one_line_and_touch_nothing(sg, model, data16, tmp_path):
    """Each bad value stops at the edge: one line, exit 2, the output folder exactly as it was (no run
    folder for a training that cannot start)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "seed0000.png").write_bytes(b"an earlier output")
    before = contents(out)
    for args, match in OPTION_CASES:
        args = [a.format(model=model, data=data16) for a in args]
        where = ["--outdir", str(out)] if args[0] in ("sample", "train", "project") else []
        if args[0] in ("mix", "interpolate"):
            where = ["--out", str(out / ("mix.png" if args[0] == "mix" else "v.mp4"))]
        if args[0] == "train":
            where += ["--cfg", "tiny", "--batch", "8"]
        one_error(sg(*args, *where), match)
        assert contents(out) == before, args


# ------------------------------------------------------------------------------------------ collisions


def test_output_paths_that_collide(sg, model, data16, pngs, tmp_path):
    """A file where a folder must go, a folder where a file must go: one line each, nothing changed."""
    a_file = tmp_path / "a_file"
    a_file.write_bytes(b"keep me")
    (tmp_path / "dir.png").mkdir()
    (tmp_path / "dir.mp4").mkdir()
    (tmp_path / "o" / "seed0000.png").mkdir(parents=True)
    before = contents(tmp_path)
    one_error(
        sg("sample", model, "--seeds", "0", "--outdir", a_file), r"a_file as the output folder: it exists"
    )
    one_error(sg("sample", model, "--seeds", "0", "--outdir", a_file / "sub"), r"a_file exists as a file")
    one_error(
        sg("sample", model, "--seeds", "0", "--outdir", tmp_path / "o"), r"seed0000\.png: it is a folder"
    )
    one_error(sg("mix", model, "1", "2", "--layers", "0-1", "--out", tmp_path / "dir.png"), r"is a folder")
    one_error(sg("interpolate", model, "--seeds", "1,2", "--out", tmp_path / "dir.mp4"), r"dir\.mp4: it is a")
    one_error(sg("train", data16, "--cfg", "tiny", "--outdir", a_file), r"a_file as the output folder")
    one_error(
        sg("dataset", pngs, a_file / "x", "--resolution", "8"),
        r"a_file as the output folder: it exists as a file",
    )
    assert contents(tmp_path) == before


# ------------------------------------------------------------------------------- read-only and full disks


def test_read_only_folder(sg, model, data16, pngs, tmp_path):
    fs = tmp_path / "ro"
    with tmpfs(fs):
        (fs / "seed0000.png").write_bytes(b"old image")
        (fs / "v.mp4").write_bytes(b"old video")
        make_read_only(fs)
        before = contents(fs)
        one_error(sg("sample", model, "--seeds", "0", "--outdir", fs), r"seed0000\.png: .*read-only")
        one_error(sg("interpolate", model, "--seeds", "1,2", "--out", fs / "v.mp4"), r"v\.mp4: .*read-only")
        one_error(sg("convert", model, fs / "m.safetensors"), r"m\.safetensors: .*read-only")
        one_error(sg("dataset", pngs, fs / "ds", "--resolution", "8"), r"ds: .*read-only")
        one_error(sg("train", data16, "--cfg", "tiny", "--kimg", "0.008", "--outdir", fs), r"read-only")
        with pytest.raises(SGError, match=r"keep\.npz: the file system is read-only"):
            Latents(w=np.zeros((1, 6, 32), np.float32)).save(fs / "keep.npz")
        assert contents(fs) == before


def test_full_disk_keeps_the_good_video(sg, model, tmp_path):
    """The data-loss case: an mp4 that could not be written completely never replaces a good one."""
    fs = tmp_path / "full"
    with tmpfs(fs, "1m"):
        good = good_video(fs / "v.mp4")
        fill(fs, leave=4096)
        one_error(
            sg("interpolate", model, "--seeds", "1,2,3", "--steps", "30", "--out", fs / "v.mp4"),
            r"cannot write .*v\.mp4: no space left on the device",
        )
        assert (fs / "v.mp4").read_bytes() == good
        no_temp_files(fs)


def test_full_disk_for_every_other_writer(sg, model, pngs, tmp_path):
    fs = tmp_path / "full"
    with tmpfs(fs, "1m"):
        (fs / "out").mkdir()
        (fs / "out" / "seed0000.png").write_bytes(b"old image")
        (fs / "m.safetensors").write_bytes(b"old model")
        fill(fs)
        before = contents(fs)
        one_error(
            sg("sample", model, "--seeds", "0-3", "--save-latents", "--outdir", fs / "out"), r"no space"
        )
        one_error(sg("mix", model, "1", "2", "--layers", "0-1", "--out", fs / "out" / "m.png"), r"no space")
        one_error(sg("convert", model, fs / "m.safetensors", "--force"), r"m\.safetensors: no space left")
        one_error(sg("dataset", pngs, fs / "ds", "--resolution", "16"), r"ds: no space left")
        assert contents(fs) == before  # the filler, the old image and the old model, byte for byte
        no_temp_files(fs)


def test_full_disk_during_training_names_the_last_good_snapshot(sg, data16, tmp_path, monkeypatch):
    """The disk fills up after the first snapshot: the second fails with one line that names the first
    (intact) and the command that resumes from it."""
    import core.training.loop as loop

    real_save = loop.save_checkpoint
    calls = []

    def save_then_fill(path, *args, **kwargs):
        if calls:
            fill(fs)
        calls.append(path)
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(loop, "save_checkpoint", save_then_fill)
    fs = tmp_path / "full"
    with tmpfs(fs, "8m"):
        args = ["--cfg", "tiny", "--batch", "8", "--kimg", "0.016", "--snap", "0.008", "--outdir", fs]
        line = one_error(sg("train", data16, *args), r"no space left on the device; last good snapshot: ")
        first = Path(str(calls[0]))
        assert f"resume with: sg train --resume {first}" in line
        assert first.is_file() and len(calls) == 2 and not Path(str(calls[1])).exists()
        no_temp_files(fs)
        from core.checkpoint import load_checkpoint

        assert load_checkpoint(first).kimg == pytest.approx(0.008)  # the named snapshot is whole


# ----------------------------------------------------------------------------------------- crafted files


def _npy_header_only(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * 16


def test_npz_declaring_a_huge_array(sg, model, tmp_path):
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w") as z:
        z.writestr("w.npy", _npy_header_only((100_000_000, 6, 64)))
    assert bomb.stat().st_size < 400
    one_error(
        sg("sample", model, "--latents", bomb, "--outdir", tmp_path / "o"), r"declares shape \[100000000"
    )
    assert not (tmp_path / "o").exists()


def _retag(src: Path, dst: Path, edit) -> Path:
    """Copy an sg checkpoint with its metadata changed by `edit(meta)`."""
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    edit(meta)
    save_file(tensors, str(dst), metadata=meta)
    return dst


def _set_config(key: str, **fields):
    def edit(meta: dict[str, str]) -> None:
        cfg = json.loads(meta[key])
        cfg.update(fields)
        meta[key] = json.dumps(cfg)

    return edit


def test_crafted_checkpoint_metadata(sg, model, tmp_path):
    cases = [
        (_set_config("G_config", channel_max=10**6, channel_base=10**6), r"describes about .* weights"),
        (_set_config("G_config", channel_max=10**12), r"'G_config\.channel_max' is out of range"),
        (_set_config("G_config", z_dim="abc"), r"'G_config\.z_dim' has the wrong type"),
        (_set_config("G_config", img_resolution=10**30), r"'G_config\.img_resolution' is out of range"),
        (lambda m: m.pop("G_config"), r"metadata lacks 'G_config'"),
        (lambda m: m.update(G_config="[1, 2]"), r"'G_config' must be a JSON object"),
        (lambda m: m.update(kimg="abc"), r"'kimg' is not a number"),
        (lambda m: m.update(format_version="x"), r"'format_version' is not a number"),
        (lambda m: m.update(training_state="{"), r"'training_state' is not valid JSON"),
    ]
    for i, (edit, match) in enumerate(cases):
        bad = _retag(model, tmp_path / f"bad{i}.safetensors", edit)
        one_error(sg("info", bad), match)


def _training_snapshot(path: Path, **state) -> Path:
    G = tiny_generator()
    D = build_discriminator(
        DiscriminatorConfig(img_resolution=RES, channel_base=256, channel_max=32, num_fp16_res=0)
    )
    good = {
        "cur_nimg": 16,
        "batch_idx": 2,
        "world_size": 1,
        "options": {"cfg": "tiny", "kimg": 0.1},
        "optim": {"G": {"param_groups": []}, "D": {"param_groups": []}},
    }
    good.update(state)
    save_checkpoint(
        path, G, G=G, D=D, state_tensors={"loss.pl_mean": torch.zeros([])}, training_state=good, kimg=0.016
    )
    return path


def test_edited_training_state(sg, data16, tmp_path):
    cases = [
        ({"cur_nimg": "abc"}, r"'cur_nimg' must be an integer"),
        ({"batch_idx": -4}, r"'batch_idx' must be an integer"),
        ({"cur_nimg": 10**20}, r"'cur_nimg' must be an integer within"),
        ({"optim": {"G": {}}}, r"'optim\.G\.param_groups' is missing"),
        ({"options": {"kimg": "many"}}, r"'options\.kimg' has the wrong type"),
        ({"world_size": 0}, r"'world_size' must be an integer >= 1"),
    ]
    out = tmp_path / "runs"
    for i, (state, match) in enumerate(cases):
        snap = _training_snapshot(tmp_path / f"snap{i}.safetensors", **state)
        one_error(sg("train", data16, "--resume", snap, "--outdir", out), match)
    assert not out.exists()  # no run folder for a run that cannot start


def _zip_with_declared_size(path: Path, images: dict[str, bytes], huge: str, size: int) -> Path:
    """A zip whose member `huge` declares `size` uncompressed bytes (headers edited, data tiny)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in images.items():
            z.writestr(name, data)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(huge)
    # local header: uncompressed size at offset 22; central directory entry: at offset 24
    struct.pack_into("<I", raw, info.header_offset + 22, size)
    cd = raw.find(b"PK\x01\x02")
    while cd >= 0:
        name_len = struct.unpack_from("<H", raw, cd + 28)[0]
        if raw[cd + 46 : cd + 46 + name_len].decode() == huge:
            struct.pack_into("<I", raw, cd + 24, size)
            break
        cd = raw.find(b"PK\x01\x02", cd + 4)
    path.write_bytes(bytes(raw))
    return path


def _png(color: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (color, 0, 0)).save(buf, format="PNG")
    return buf.getvalue()


def test_zip_member_declaring_gigabytes_is_skipped_unread(sg, tmp_path):
    images = {"a.png": _png(10), "b.png": _png(20), "huge.png": _png(30)}
    src = _zip_with_declared_size(tmp_path / "src.zip", images, "huge.png", 2**31 - 1)
    code, out, err = sg("dataset", src, tmp_path / "ds", "--resolution", "8")
    assert code == 0 and "Traceback" not in err, err
    assert "prepared 2 images (1 skipped)" in out
    assert "over the 256 MiB limit" in err  # the one warning line names why


@pytest.mark.parametrize(
    ("label", "match"),
    [
        ("1e999", r"must be an integer class, got inf"),
        ("1000000000000", r"is 1000000000000, outside the class range"),
        ("2.5", r"must be an integer class, got 2.5"),
        ('"3"', r"must be an integer class"),
    ],
)
def test_labels_out_of_range_or_type(sg, tmp_path, label, match):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        (src / f"{i}.png").write_bytes(_png(i * 50))
    (src / "dataset.json").write_text('{"labels": [["0.png", 0], ["1.png", ' + label + "]]}")
    one_error(sg("dataset", src, tmp_path / "ds", "--resolution", "8"), match)
    assert not (tmp_path / "ds").exists()


def _copy_dataset(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_damaged_prepared_datasets(sg, data16, tmp_path):
    def truncate(d: Path) -> None:
        p = d / "images.npy"
        os.truncate(p, p.stat().st_size // 2)

    def meta(**fields):
        def edit(d: Path) -> None:
            m = json.loads((d / "meta.json").read_text())
            m.update(fields)
            (d / "meta.json").write_text(json.dumps(m))

        return edit

    def labels(values) -> callable:
        return lambda d: np.save(d / "labels.npy", np.asarray(values, dtype=np.int64))

    cases = [
        (truncate, r"images\.npy: truncated"),
        (meta(resolution="abc"), r"'resolution' must be an integer"),
        (meta(count=10**12), r"holds uint8 \[32, 3, 16, 16\], meta\.json says uint8 \[1000000000000"),
        (meta(num_classes=10**12), r"'num_classes' must be an integer within 0\.\.100000"),
        (labels(np.arange(32) * 10**9), r"labels run 0\.\..* outside the 4 classes"),
        (labels([0] * 31), r"labels\.npy: holds int64 \[31\]"),
    ]
    out = tmp_path / "runs"
    for i, (damage, match) in enumerate(cases):
        d = _copy_dataset(data16, tmp_path / f"ds{i}")
        damage(d)
        one_error(sg("train", d, "--cfg", "tiny", "--cond", "--outdir", out), match)
    assert not out.exists()


# ------------------------------------------------------------------------------------------ concurrency


def test_two_runs_into_one_folder(sg, model, tmp_path):
    """While one sg writes a folder, a second one stops with one line instead of mixing its files in."""
    out = tmp_path / "out"
    with folder_lock(out):  # what a first `sg sample --num` holds while it runs
        one_error(
            sg("sample", model, "--num", "2", "--outdir", out), r"another sg process \(pid \d+\) is writ"
        )
    assert not out.exists() or not list(out.iterdir())
    code, _, err = sg("sample", model, "--num", "2", "--outdir", out)  # free again afterwards
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["img000000.png", "img000001.png"]


def test_second_sigint_stops_at_once_with_one_line(sg, data16, tmp_path, monkeypatch):
    """Ctrl-C asks for a last snapshot; a second Ctrl-C while it is written stops at once, says that it
    was not saved, and leaves no temp file."""
    import core.training.loop as loop

    real_step, real_save = loop.Trainer.step, loop.save_checkpoint

    def step_then_sigint(self, *a, **k):
        real_step(self, *a, **k)
        os.kill(os.getpid(), signal.SIGINT)

    def sigint_while_saving(path, *a, **k):
        def write(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the write
            return real_write(*args, **kwargs)

        real_write = loop_sgformat.save_file
        monkeypatch.setattr(loop_sgformat, "save_file", write)
        return real_save(path, *a, **k)

    import core.checkpoint.sgformat as loop_sgformat

    monkeypatch.setattr(loop.Trainer, "step", step_then_sigint)
    monkeypatch.setattr(loop, "save_checkpoint", sigint_while_saving)
    out = tmp_path / "runs"
    line = one_error(
        sg("train", data16, "--cfg", "tiny", "--batch", "8", "--kimg", "1", "--outdir", out),
        r"stopped at once by a second SIGINT: kimg 0\.008 was not saved; no snapshot had been written yet",
        code=130,
    )
    assert "Traceback" not in line
    run = next(out.iterdir())
    assert not list(run.glob("network-snapshot-*")) and not [p for p in run.iterdir() if ".tmp" in p.name]


def test_os_errors_become_one_line_naming_path_and_cause():
    from core.errors import os_error

    cases = {
        errno.ENOSPC: "no space left on the device",
        errno.EROFS: "the file system is read-only",
        errno.EISDIR: "is a folder, not a file",
        errno.ENOTDIR: "exists as a file, not a folder",
        errno.EACCES: "permission denied",
    }
    for code, words in cases.items():
        msg = str(os_error(OSError(code, os.strerror(code), "/x/out.png")))
        assert msg == f"cannot write /x/out.png: {words}" or words in msg, msg


def _official_safetensors(path: Path, g_kwargs: object) -> Path:
    meta = {"G_init_kwargs": json.dumps(g_kwargs)}
    save_file({"G_ema.mapping.fc0.weight": torch.zeros(2, 2)}, str(path), metadata=meta)
    return path


def test_official_kwargs_missing_or_of_the_wrong_type(sg, tmp_path):
    ok = {"z_dim": 32, "w_dim": 32, "c_dim": 0, "img_resolution": 16, "img_channels": 3}
    cases = [
        ({k: v for k, v in ok.items() if k != "z_dim"}, r"official G_init_kwargs lack 'z_dim'"),
        ({**ok, "z_dim": "abc"}, r"G_init_kwargs\['z_dim'\] must be int, got 'abc'"),
        ({**ok, "w_dim": 2.5}, r"G_init_kwargs\['w_dim'\] must be int"),
        ({**ok, "mapping_kwargs": [1, 2]}, r"G_init_kwargs\['mapping_kwargs'\] is a list, not a dict"),
        ({**ok, "synthesis_kwargs": {"channel_max": 10**9, "channel_base": 10**9}}, r"describes about"),
        ([1, 2, 3], r"official G_init_kwargs is a list, not a dict"),
    ]
    for i, (kwargs, match) in enumerate(cases):
        one_error(sg("info", _official_safetensors(tmp_path / f"o{i}.safetensors", kwargs)), match)


@pytest.mark.parametrize(
    "blob",
    [
        b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"ab",  # BINBYTES8 declaring a terabyte
        b"\x80\x04\x95" + struct.pack("<Q", 1 << 40) + b"N.",  # a FRAME declaring a terabyte
        b"\x80\x05\x96" + struct.pack("<Q", 1 << 62) + b"ab",  # BYTEARRAY8
        b"\x80\x02\x8b" + struct.pack("<i", 2**31 - 1) + b"ab",  # LONG4 declaring 2 GiB of digits
    ],
)
def test_tiny_pickles_declaring_huge_sizes(sg, tmp_path, blob):
    path = tmp_path / "bomb.pkl"
    path.write_bytes(blob)
    assert len(blob) <= 14
    one_error(sg("info", path), r"bomb\.pkl: not a readable official StyleGAN network pickle")


def test_threads_are_shared_between_running_sg_processes(tmp_path, monkeypatch):
    """Each sg process takes cores // (sg processes running); ended ones and reused pids do not count."""
    import core.cpu as cpu

    monkeypatch.setattr(cpu, "_registry", lambda: tmp_path)
    monkeypatch.setattr(cpu, "_cores", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("SG_THREADS", raising=False)
    (tmp_path / str(os.getpid())).write_text(cpu._start_time(os.getpid()))
    assert cpu.fair_threads() == 8
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / str(other.pid)).write_text(cpu._start_time(other.pid))
        (tmp_path / "1").write_text("123456789123")  # pid 1 is alive, but not the process that registered
        assert cpu.fair_threads() == 4
        assert not (tmp_path / "1").exists()
    finally:
        other.kill()
        other.wait()
    assert cpu.fair_threads() == 8 and not (tmp_path / str(other.pid)).exists()
    monkeypatch.setenv("SG_THREADS", "3")
    assert cpu.fair_threads() == 3
    monkeypatch.delenv("SG_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu.fair_threads() is None  # the user chose: torch already follows OMP_NUM_THREADS
    monkeypatch.setattr(cpu, "_applied_threads", None)
    torch.set_num_threads(1)  # chosen by the program (as this module's fixture does): left alone
    cpu._apply(4)
    assert torch.get_num_threads() == 1


def test_edited_random_state_in_a_snapshot():
    from core.training.snapshot import restore_rng

    with pytest.raises(SGError, match=r"cannot restore the random state from the snapshot"):
        restore_rng({"rng.numpy_keys": torch.zeros(3, dtype=torch.int64)}, {"numpy": ["MT19937", 0, 0, 0.0]})
    with pytest.raises(SGError, match=r"cannot restore the random state"):
        restore_rng({}, {"python": [3, "abc", None]})
    with pytest.raises(SGError, match=r"cannot restore the random state"):
        restore_rng({"rng.torch": torch.zeros(3)}, {})


def test_second_sigint_after_the_snapshot_is_written(sg, data16, tmp_path, monkeypatch):
    """A second Ctrl-C that lands after the snapshot is on disk (while the preview grid is drawn) says the
    snapshot was saved and how to resume from it."""
    import core.training.loop as loop

    real_step, real_fakes = loop.Trainer.step, loop.save_fakes

    def step_then_sigint(self, *a, **k):
        real_step(self, *a, **k)
        os.kill(os.getpid(), signal.SIGINT)

    def sigint_in_preview(G, grid, path, *a, **k):
        if "fakes-init" not in str(path):
            os.kill(os.getpid(), signal.SIGINT)
        return real_fakes(G, grid, path, *a, **k)

    monkeypatch.setattr(loop.Trainer, "step", step_then_sigint)
    monkeypatch.setattr(loop, "save_fakes", sigint_in_preview)
    out = tmp_path / "runs"
    line = one_error(
        sg("train", data16, "--cfg", "tiny", "--batch", "8", "--kimg", "1", "--outdir", out),
        r"second SIGINT: kimg 0\.008 was saved; last good snapshot: "
        r".*network-snapshot-000000\.008\.safetensors \(intact\); resume with: sg train --resume ",
        code=130,
    )
    snap = Path(line.split("resume with: sg train --resume ")[1])
    from core.checkpoint import load_checkpoint

    assert load_checkpoint(snap).kimg == pytest.approx(0.008)


def test_an_os_error_no_writer_expected_is_still_one_line(sg, model, tmp_path):
    """The entry point's last resort: an OSError from anywhere (here a dangling symlink in a training
    folder, met while fingerprinting it for the cache) is one line naming the path, not a traceback."""
    src = tmp_path / "photos"
    src.mkdir()
    Image.new("RGB", (RES, RES)).save(src / "a.png")
    (src / "b.png").symlink_to(tmp_path / "gone.png")
    one_error(
        sg("train", src, "--cfg", "tiny", "--outdir", tmp_path / "runs"),
        r"cannot read .*b\.png: no such file",
    )
    assert not (tmp_path / "runs").exists()
