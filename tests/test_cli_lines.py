"""The four command lines users type, run verbatim in one folder (issue 9), and the one rule that picks
the model for every command (stylegan_cli.common.resolve_model)."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoint import save_checkpoint
from core.errors import SGError
from core.latents import Latents, load_latents, model_content_hash, model_record
from core.networks import GeneratorConfig, build_generator
from stylegan_cli.common import resolve_model
from tests.conftest import REPO

LINES = [
    "sg train data/ffhq",
    "sg project photo.jpg",
    "sg mix a.npz b.npz --layers 0-3",
    "sg interpolate --space w",
]
RES = 16  # the size of the images in data/ffhq, hence of the trained model


def _argv(line: str) -> list[str]:
    """The line exactly as typed; only `sg` itself becomes this interpreter's entry point."""
    parts = shlex.split(line)
    assert parts[0] == "sg"
    return [sys.executable, "-m", "stylegan_cli.main", *parts[1:]]


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SG_MODEL"}
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONPATH=str(REPO),
        SG_CACHE_DIR=str(root / "cache"),  # the prepared copy of data/ffhq stays in the test folder
        TORCH_HOME=str(root / "torch_home"),  # the hub cache where LPIPS looks for VGG16
        SG_OFFLINE="1",
    )
    return env


def _run(line: str, root: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(_argv(line), cwd=root, env=_env(root), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0 and "Traceback" not in r.stderr, f"{line}\n{r.stdout}\n{r.stderr}"
    return r


def _blob(h: int, w: int, cy: float, cx: float, sigma: float, tint: tuple[float, float, float]) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    b = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    return (np.stack([b * t + (1 - b) * (1 - t) for t in tint], -1) * 255).astype(np.uint8)


def _random_vgg16(path: Path) -> None:
    """VGG16's conv trunk with random weights, in torchvision's file layout, where torchvision caches it.
    Real ImageNet weights cannot be downloaded here (see /work/shared/data/README.md), so `sg project`
    runs its real loading path on a random backbone: the LPIPS values mean nothing, the plumbing is real."""
    import torchvision

    torch.manual_seed(0)
    sd = {k: v for k, v in torchvision.models.vgg16().state_dict().items() if k.startswith("features.")}
    path.parent.mkdir(parents=True)
    torch.save(sd, path)


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's folder: data/ffhq (16 small PNG/JPG images), photo.jpg, and a torch hub cache."""
    root = tmp_path_factory.mktemp("user")
    rng = np.random.default_rng(0)
    (root / "data" / "ffhq").mkdir(parents=True)
    for i in range(16):  # the CPU default preset trains batches of 16 images
        cy, cx = rng.uniform(4, 12, size=2)
        img = _blob(RES, RES, cy, cx, 2.0 + i % 4, (1.0, 0.3 * (i % 3), 0.2))
        Image.fromarray(img).save(root / "data" / "ffhq" / f"{i:05d}.{'png' if i % 2 else 'jpg'}")
    Image.fromarray(_blob(30, 24, 14, 11, 5.0, (1.0, 0.3, 0.2))).save(root / "photo.jpg", quality=95)
    _random_vgg16(root / "torch_home" / "hub" / "checkpoints" / "vgg16-397923af.pth")
    return root


@pytest.mark.slow
def test_the_four_lines_verbatim(user_dir: Path) -> None:
    root = user_dir
    # 1. `sg train data/ffhq` exactly as typed: the CPU default (`small` preset, 10 kimg, minutes here).
    # It is stopped with SIGTERM (what Ctrl-C / a scheduler sends) after its first progress tick, which is
    # the documented way to end a run early: it writes a snapshot and exits 0. That snapshot is the model
    # the other three lines find on their own.
    proc = subprocess.Popen(
        _argv(LINES[0]), cwd=root, env=_env(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.time() + 400
        while not any(p.stat().st_size for p in (root / "runs").glob("*/metrics.jsonl")):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.time() < deadline, "training made no progress tick in time"
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        train_out, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "stopped by SIGTERM" in train_out, train_out
    (run,) = (root / "runs").iterdir()
    assert run.name.startswith("00000-ffhq-small")
    snaps = sorted(run.glob("network-snapshot-*.safetensors"))
    assert snaps, train_out
    snap = snaps[-1]
    rel = snap.relative_to(root)
    assert str(rel) in train_out  # train says what it wrote

    # 2. `sg project photo.jpg`: default 1000 steps of LPIPS (+ noise) against the newest snapshot.
    r = _run(LINES[1], root)
    assert r.stdout.split() == ["projected/photo.npz"]
    assert f"model: {rel} (newest snapshot under ./runs)" in r.stderr
    lat = load_latents(root / "projected" / "photo.npz")
    assert lat.w.shape == (1, 6, 128) and lat.meta["steps"] == 1000
    assert lat.meta["model"] == str(snap) and lat.meta["model_hash"] == model_content_hash(snap)
    for name in ("photo_proj.png", "photo_target.png"):
        assert np.asarray(Image.open(root / "projected" / name)).shape == (RES, RES, 3)

    # 3. `sg mix a.npz b.npz --layers 0-3`: a projection and a sampled seed, the model found in their meta.
    shutil.copy(root / "projected" / "photo.npz", root / "a.npz")
    _run("sg sample --seeds 5 --save-latents", root)
    shutil.copy(root / "out" / "seed0005.npz", root / "b.npz")
    r = _run(LINES[2], root)
    assert f"model: {snap} (recorded in a.npz)" in r.stderr
    assert r.stdout.strip() == "wrote mixed.png (a.npz with layers 0-3 from b.npz)"
    mixed = np.asarray(Image.open(root / "mixed.png"))
    assert mixed.shape == (RES, RES, 3)
    # The same mix with the model named explicitly is the same image, bit for bit.
    _run(f"sg mix --model {rel} a.npz b.npz --layers 0-3 --out explicit.png", root)
    assert np.array_equal(mixed, np.asarray(Image.open(root / "explicit.png")))

    # 4. `sg interpolate --space w`: no keyframes, so seeds 0-3 (60 steps each) to interp.mp4.
    r = _run(LINES[3], root)
    assert f"model: {rel} (newest snapshot under ./runs)" in r.stderr
    assert r.stdout.startswith("wrote interp.mp4 (181 frames")
    cap = cv2.VideoCapture(str(root / "interp.mp4"))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 181 and frames[0].shape == (RES, RES, 3)
    assert np.std(np.stack(frames).astype(np.float32)) > 1  # a walk, not a blank video


# ----------------------------------------------------------------------------- the resolution rule


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder and no $SG_MODEL: the state a user starts from."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SG_MODEL", raising=False)
    return tmp_path


def _file(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _latents_of(path: Path, model: Path | None, extra: dict | None = None) -> Path:
    meta = {"space": "w", **(model_record(model) if model is not None else {}), **(extra or {})}
    return Latents(w=np.zeros((1, 6, 8), np.float32), meta=meta).save(path)


def _one_line(exc: pytest.ExceptionInfo[SGError]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_order_explicit_then_env_then_latents_then_runs(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = _file(here / "runs" / "00000-x" / "network-snapshot-000001.safetensors", b"run model")
    recorded = _file(here / "rec.safetensors", b"recorded model")
    env = _file(here / "env.safetensors", b"env model")
    explicit = _file(here / "explicit.pkl", b"explicit model")
    a = _latents_of(here / "a.npz", recorded)

    assert resolve_model(None) == snap.relative_to(here)
    assert resolve_model(None, [a]) == recorded
    monkeypatch.setenv("SG_MODEL", str(env))
    assert resolve_model(None, [a]) == env
    assert resolve_model(explicit, [a]) == explicit


def test_each_way_says_which_model(here: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    snap = _file(here / "runs" / "00003-x" / "network-snapshot-000001.safetensors", b"run model")
    recorded = _file(here / "rec.safetensors", b"recorded model")
    a = _latents_of(here / "a.npz", recorded)
    resolve_model(None)
    assert f"model: {Path('runs/00003-x/network-snapshot-000001.safetensors')} (newest snapshot" in (
        capsys.readouterr().err
    )
    resolve_model(None, [Path("a.npz")])
    assert f"model: {recorded} (recorded in a.npz)" in capsys.readouterr().err
    monkeypatch.setenv("SG_MODEL", str(snap.parent))  # a run folder: its newest snapshot
    assert resolve_model(None) == snap
    assert "(from $SG_MODEL)" in capsys.readouterr().err
    # an explicit model that is not the one the latents record: used, with a note
    other = _file(here / "tuned.safetensors", b"a tuned model")
    assert resolve_model(other, [a]) == other
    err = capsys.readouterr().err
    assert f"note: {a} was made with {recorded}, not with {other}" in err


def test_newest_run_then_newest_snapshot(here: Path) -> None:
    _file(here / "runs" / "00000-old" / "network-snapshot-000009.safetensors", b"old run")
    _file(here / "runs" / "00001-new" / "network-snapshot-000001.safetensors", b"a")
    newest = _file(here / "runs" / "00001-new" / "network-snapshot-000001.500.safetensors", b"b")
    _file(here / "runs" / "00002-started" / "metrics.jsonl", b"")  # no snapshot yet: passed over
    _file(here / "runs" / "renamed" / "network-snapshot-000050.safetensors", b"not a numbered run")
    assert resolve_model(None) == Path("runs/00001-new/network-snapshot-000001.500.safetensors")
    assert resolve_model(None).resolve() == newest.resolve()
    # a run folder given as the model means its newest snapshot too
    assert resolve_model(here / "runs" / "00000-old").name == "network-snapshot-000009.safetensors"


def test_nothing_found_is_one_line_naming_the_four_ways(here: Path) -> None:
    (here / "runs" / "00000-empty").mkdir(parents=True)
    old = _latents_of(here / "old.npz", None, {"model": "name-only.safetensors"})  # older sg file: no hash
    with pytest.raises(SGError) as exc:
        resolve_model(None, [old])
    msg = _one_line(exc)
    for way in ("--model/-m PATH", "$SG_MODEL", "latents (.npz) that record their model", "./runs"):
        assert way in msg
    with pytest.raises(SGError, match=r"^model file not found: nope\.pkl$"):
        resolve_model(Path("nope.pkl"))
    with pytest.raises(SGError, match=r"nope\.safetensors \(\$SG_MODEL\)"):
        os.environ["SG_MODEL"] = "nope.safetensors"
        try:
            resolve_model(None)
        finally:
            del os.environ["SG_MODEL"]


def test_old_latents_without_a_record_fall_through_to_runs(here: Path) -> None:
    snap = _file(here / "runs" / "00000-x" / "network-snapshot-000001.safetensors", b"run model")
    old = _latents_of(here / "old.npz", None, {"model": "name-only.safetensors"})
    assert load_latents(old).meta["model"] == "name-only.safetensors"  # still readable
    assert resolve_model(None, [old]) == snap.relative_to(here)


def test_changed_model_is_one_line_naming_it_and_both_hashes(here: Path) -> None:
    model = _file(here / "m.safetensors", b"the model as it was")
    before = model_content_hash(model)
    a = _latents_of(here / "a.npz", model)
    model.write_bytes(b"the model retrained")
    with pytest.raises(SGError) as exc:
        resolve_model(None, [a])
    msg = _one_line(exc)
    after = model_content_hash(model)
    assert str(model) in msg and before[4:16] in msg and after[4:16] in msg and "changed" in msg


def test_moved_model_is_one_line_naming_recorded_and_found(here: Path) -> None:
    model = _file(here / "m.safetensors", b"the model")
    a = _latents_of(here / "a.npz", model)
    moved = here / "runs" / "00000-x" / "network-snapshot-000001.safetensors"
    moved.parent.mkdir(parents=True)
    model.rename(moved)
    with pytest.raises(SGError) as exc:
        resolve_model(None, [a])
    msg = _one_line(exc)
    found = Path("runs/00000-x/network-snapshot-000001.safetensors")
    assert str(model) in msg and f"found {found}, the same model (same hash)" in msg
    assert f"--model {found}" in msg
    moved.write_bytes(b"another model")
    with pytest.raises(SGError, match="a different model"):
        resolve_model(None, [a])
    moved.unlink()
    with pytest.raises(SGError, match=r"which is gone \(moved or deleted\); pass --model PATH$"):
        resolve_model(None, [a])


def test_latents_recording_different_models_need_a_choice(here: Path) -> None:
    a = _latents_of(here / "a.npz", _file(here / "one.pkl", b"one"))
    b = _latents_of(here / "b.npz", _file(here / "two.pkl", b"two"))
    with pytest.raises(SGError, match="record different models .*choose one with --model"):
        resolve_model(None, [a, b])
    assert resolve_model(here / "two.pkl", [a, b]) == here / "two.pkl"


def test_content_hash_samples_start_middle_and_end_of_big_files(tmp_path: Path) -> None:
    """Small files are hashed whole; big ones by size + 1 MiB at the start, middle and end."""
    mib = 1 << 20
    small = _file(tmp_path / "s.bin", b"x" * 1000)
    assert model_content_hash(small) == model_content_hash(_file(tmp_path / "copy.bin", b"x" * 1000))
    assert model_content_hash(small) != model_content_hash(_file(tmp_path / "s2.bin", b"x" * 999 + b"y"))
    data = bytearray(np.random.default_rng(0).integers(0, 256, 5 * mib, dtype=np.uint8).tobytes())
    big = _file(tmp_path / "big.bin", bytes(data))
    h = model_content_hash(big)
    assert h.startswith("sg1:") and len(h) == 4 + 64
    for offset in (0, 2 * mib + 10, 5 * mib - 1):  # in the start, middle and end samples
        changed = bytearray(data)
        changed[offset] ^= 1
        assert model_content_hash(_file(tmp_path / "c.bin", bytes(changed))) != h, offset
    assert model_content_hash(_file(tmp_path / "longer.bin", bytes(data) + b"\0")) != h
    unsampled = bytearray(data)
    unsampled[int(1.5 * mib)] ^= 1  # between the samples: the documented blind spot of the cheap hash
    assert model_content_hash(_file(tmp_path / "u.bin", bytes(unsampled))) == h


# ----------------------------------------------------------------------------- positional MODEL


def _tiny_model(path: Path) -> Path:
    torch.manual_seed(0)
    cfg = GeneratorConfig(
        z_dim=16, w_dim=16, img_resolution=8, channel_base=64, channel_max=16, map_layers=1, num_fp16_res=0
    )
    save_checkpoint(path, build_generator(cfg))
    return path


@pytest.fixture
def sg(here: Path, sg):
    """The shared in-process `sg` runner (tests/conftest.py), run in ``here``."""
    return sg


def test_positional_model_keeps_working_and_mistakes_are_one_line(
    here: Path, sg, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = _tiny_model(here / "tiny.safetensors")
    code, _, err = sg("sample", "tiny.safetensors", "--seeds", "0-1", "--save-latents", "--device", "cpu")
    assert code == 0 and "model: tiny.safetensors" in err, err
    assert load_latents(here / "out" / "seed0000.npz").meta["model"] == str(m)
    code, _, err = sg("mix", "tiny.safetensors", "out/seed0000.npz", "out/seed0001.npz", "--layers", "0-1")
    assert code == 0 and (here / "mixed.png").is_file(), err
    Image.fromarray(np.full((12, 12, 3), 128, np.uint8)).save(here / "photo.png")
    code, out, err = sg("project", "tiny.safetensors", "photo.png", "--loss", "mse", "--steps", "2")
    assert code == 0 and out.split() == ["projected/photo.npz"], err
    assert load_latents(here / "projected" / "photo.npz").meta["model_hash"] == model_content_hash(m)
    monkeypatch.setenv("SG_MODEL", "tiny.safetensors")
    code, out, err = sg("info")
    assert code == 0 and "8x8x3" in out and "(from $SG_MODEL)" in err, err
    monkeypatch.delenv("SG_MODEL")

    bad = [
        (("sample", "tiny.safetensors", "-m", "tiny.safetensors", "--seeds", "0"), "give the model once"),
        (("mix", "a.npz", "b.npz", "c.npz", "--layers", "0"), "expected A and B, got 3"),
        (("project", "tiny.safetensors", "--loss", "mse"), "give the photos to project"),
        (("interpolate", "--latents"), "--latents needs keyframe files"),
        (("sample", "--seeds", "0"), "no model: give one with --model/-m PATH"),
    ]
    for args, needle in bad:
        code, _, err = sg(*args)
        lines = err.strip().splitlines()
        assert code != 0 and len(lines) == 1 and needle in lines[0], (args, err)
        assert lines[0].startswith("error:")
