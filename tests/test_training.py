"""Training: losses and regularisers, EMA, snapshots, exact resume, DDP (gloo), signals, NaN stop, CLI.

Everything runs tiny networks on CPU for a few steps; `-m slow` adds the learning test (SWD falls)
and the torchrun launch of `sg train --gpus 2`.
"""

from __future__ import annotations

import importlib.util
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core.checkpoint import load_checkpoint
from core.checkpoint.snapshots import list_snapshots, snapshot_name, snapshot_nimg
from core.data.layout import write_prepared
from core.errors import SGError
from core.networks import DiscriminatorConfig, GeneratorConfig, build_discriminator, build_generator
from core.training import TrainingDiverged, TrainOptions, ema_beta, train, update_ema
from core.training.loss import (
    StyleGAN2Loss,
    WGANGPLoss,
    gradient_penalty,
    path_length_penalty,
    r1_penalty,
    style_mixing,
)
from core.training.progress import read_metrics as metrics
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def data16(tmp_path_factory) -> Path:
    """64 labelled 16x16 RGB images (4 classes of smooth blobs): a prepared dataset, instant to open."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16]
    images, labels = [], []
    for i in range(64):
        k = i % 4
        cy, cx = rng.uniform(4, 12, size=2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (2 + k) ** 2))
        rgb = np.stack([blob * (k == c % 3 or k == 3) for c in range(3)]) * 255
        images.append(rgb.astype(np.uint8))
        labels.append(k)
    return write_prepared(
        tmp_path_factory.mktemp("data") / "blobs16",
        np.stack(images),
        np.array(labels),
        {"source": "test blobs"},
    )


def tiny(data: Path, out: Path, **kw) -> TrainOptions:
    """Tiny-preset options, snapshot only at the end, lazy regularisers every 2 steps so they all run."""
    base = dict(
        data=str(data),
        outdir=str(out),
        cfg="tiny",
        kimg=0.032,
        batch=8,
        snap=1.0,
        tick=1.0,
        r1_interval=2,
        pl_interval=2,
        progress=False,
        seed=0,
    )
    base.update(kw)
    return TrainOptions(**base)


def tiny_nets(c_dim: int = 0, res: int = 16, arch: str = "stylegan2"):
    torch.manual_seed(0)
    g = GeneratorConfig(
        arch=arch,
        z_dim=16,
        w_dim=16,
        c_dim=c_dim,
        img_resolution=res,
        channel_base=128,
        channel_max=16,
        map_layers=2,
    )
    d = DiscriminatorConfig(c_dim=c_dim, img_resolution=res, channel_base=128, channel_max=16)
    return build_generator(g).train().requires_grad_(False), build_discriminator(d).train().requires_grad_(
        False
    )


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=0, msg=lambda m, k=k: f"{k}: {m}")


# ---- losses, regularisers, EMA -----------------------------------------------------------------------


def test_r1_penalty_is_squared_input_gradient():
    x = torch.randn(3, 2, 4, 4, requires_grad=True)
    logits = (x**2).sum(dim=[1, 2, 3]) * 0.5  # dD/dx = x
    torch.testing.assert_close(r1_penalty(logits, x), (x.detach() ** 2).sum(dim=[1, 2, 3]))


def test_path_length_penalty_of_a_linear_map():
    """For img = (sum of the layers' w) A, |J^T y| = |A y| exactly; the mean moves by `decay` towards it."""
    torch.manual_seed(0)
    ws = torch.randn(4, 3, 5, requires_grad=True)
    A = torch.randn(5, 2 * 8 * 8)
    img = (ws.sum(dim=1) @ A).reshape(4, 2, 8, 8)
    torch.manual_seed(1)
    penalty, new_mean = path_length_penalty(img, ws, torch.tensor(1.0), decay=0.01)
    torch.manual_seed(1)
    y = torch.randn(4, 2 * 8 * 8) / 8  # the same noise, scaled by 1/sqrt(H*W)
    lengths = (y @ A.t()).norm(dim=1)
    expected_mean = 0.99 * 1.0 + 0.01 * lengths.mean()
    torch.testing.assert_close(new_mean, expected_mean)
    torch.testing.assert_close(penalty, (lengths - expected_mean).square())
    assert not new_mean.requires_grad
    quadratic = ((ws.sum(dim=1) ** 2) @ A).reshape(4, 2, 8, 8)  # here the penalty depends on w
    penalty, _ = path_length_penalty(quadratic, ws, torch.tensor(1.0))
    penalty.mean().backward()
    assert torch.isfinite(ws.grad).all() and ws.grad.abs().sum() > 0


def test_style_mixing_swaps_the_tail_of_the_layers():
    G, _ = tiny_nets()
    z = torch.randn(4, G.z_dim)
    ws = G.mapping(z, None)
    assert style_mixing(G, ws, z, None, prob=0) is ws
    torch.manual_seed(1)
    mixed = style_mixing(G, ws, z, None, prob=1.0)
    same = (mixed == ws).all(dim=2).all(dim=0)  # [num_ws]
    cutoff = int(same.logical_not().nonzero()[0])
    assert 1 <= cutoff < G.num_ws and same[:cutoff].all() and not same[cutoff:].any()


def test_gradient_penalty_of_a_linear_critic():
    w = torch.randn(1, 3, 4, 4)
    critic = lambda x, c, **kw: (x * w).sum(dim=[1, 2, 3]).unsqueeze(1)  # noqa: E731  gradient = w
    real, fake = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    gp = gradient_penalty(critic, real, fake, None)
    torch.testing.assert_close(gp, (w.norm() - 1).square().expand(2))


@pytest.mark.parametrize("loss_cls", [StyleGAN2Loss, WGANGPLoss])
def test_every_phase_gives_finite_gradients(loss_cls):
    G, D = tiny_nets(c_dim=3)
    loss = loss_cls(G, D, r1_gamma=1.0) if loss_cls is StyleGAN2Loss else loss_cls(G, D)
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    c = torch.eye(3)[[0, 1, 2, 0]]
    z = torch.randn(4, G.z_dim)
    phases = {"Gmain": G, "Greg": G, "Dmain": D} | ({"Dreg": D} if loss.D_reg_interval else {})
    w_avg = G.mapping.w_avg.clone()
    for phase, net in phases.items():
        net.requires_grad_(True)
        stats = loss.accumulate_gradients(phase, real, c, z, c, gain=1.0)
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), phase
        assert any(g.abs().sum() > 0 for g in grads), phase
        assert all(torch.isfinite(v).all() for v in stats.values()), phase
        net.requires_grad_(False)
        net.zero_grad(set_to_none=True)
    assert not torch.equal(G.mapping.w_avg, w_avg)  # Gmain tracks w_avg
    assert float(loss.pl_mean) > 0  # Greg updates the running path length
    if loss_cls is WGANGPLoss:
        assert loss.D_reg_interval is None and "loss/gp" in stats


def test_lazy_regularisation_scales_adam_and_ema_beta():
    from core.training.loop import make_phases

    G, D = tiny_nets()
    phases = make_phases(G, D, StyleGAN2Loss(G, D, r1_gamma=1.0), lr=0.002)
    assert [(p.name, p.interval) for p in phases] == [("Gmain", 1), ("Greg", 4), ("Dmain", 1), ("Dreg", 16)]
    g, d = phases[0].opt.param_groups[0], phases[2].opt.param_groups[0]
    assert g["lr"] == pytest.approx(0.002 * 4 / 5) and g["betas"][1] == pytest.approx(0.99 ** (4 / 5))
    assert d["lr"] == pytest.approx(0.002 * 16 / 17) and d["betas"][1] == pytest.approx(0.99 ** (16 / 17))
    assert g["betas"][0] == 0 and g["eps"] == 1e-8
    no_reg = make_phases(G, D, StyleGAN2Loss(G, D, r1_gamma=0.0, pl_weight=0.0), lr=0.002)
    assert [p.name for p in no_reg] == ["Gmain", "Dmain"] and no_reg[0].opt.param_groups[0]["lr"] == 0.002

    assert ema_beta(32, 10, cur_nimg=10**6) == pytest.approx(0.5 ** (32 / 10000))
    assert ema_beta(32, 10, cur_nimg=1000, ema_rampup=0.05) == pytest.approx(0.5 ** (32 / 50))
    G_ema, _ = tiny_nets()
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
        G.mapping.w_avg.fill_(3.0)
    before = [p.clone() for p in G_ema.parameters()]
    update_ema(G_ema, G, beta=0.75)
    for b, e, p in zip(before, G_ema.parameters(), G.parameters(), strict=True):
        torch.testing.assert_close(e, 0.75 * b + 0.25 * p)
    assert torch.equal(G_ema.mapping.w_avg, G.mapping.w_avg)


def test_snapshot_names_sort_by_images():
    assert snapshot_name(12000) == "network-snapshot-000012.safetensors"
    assert snapshot_name(1024) == "network-snapshot-000001.024.safetensors"
    assert [snapshot_nimg(snapshot_name(n)) for n in (0, 56, 1000, 1024)] == [0, 56, 1000, 1024]
    assert snapshot_nimg("fakes-000001.png") is None


# ---- the loop ----------------------------------------------------------------------------------------


def test_train_writes_run_dir_and_snapshot_round_trips(data16, tmp_path):
    res = train(tiny(data16, tmp_path, cond=True, kimg=0.032, snap=0.016, tick=0.008))
    run = res.run_dir
    assert run.name == "00000-blobs16-tiny-cond-gpus1-batch8-gamma0.1" and res.stopped_by is None
    assert [p.name for p in list_snapshots(run)] == [
        "network-snapshot-000000.016.safetensors",
        "network-snapshot-000000.032.safetensors",
    ]
    assert res.snapshot == list_snapshots(run)[-1] and res.kimg == pytest.approx(0.032)
    assert load_checkpoint(run).kimg == pytest.approx(0.032)  # a run folder means its newest snapshot
    with pytest.raises(SGError, match="without network-snapshot"):
        load_checkpoint(tmp_path)  # the outdir itself holds no snapshots
    for png in ("reals.png", "fakes-init.png", "fakes-000000.016.png", "fakes-000000.032.png"):
        assert (run / png).stat().st_size > 0
    rows = metrics(run)
    assert [r["nimg"] for r in rows] == [8, 16, 24, 32]
    for key in ("loss/G", "loss/D", "loss/r1", "loss/pl", "pl/mean", "s_per_kimg", "img_per_s"):
        assert any(key in r for r in rows) and all(math.isfinite(r[key]) for r in rows if key in r), key
    has_events = any(p.name.startswith("events.out.tfevents") for p in run.iterdir())
    assert has_events == (importlib.util.find_spec("tensorboard") is not None)  # logs exactly when installed

    ck = load_checkpoint(res.snapshot)
    assert (
        ck.kimg == pytest.approx(0.032) and ck.g_config.c_dim == 4 and ck.G is not None and ck.D is not None
    )
    ts = ck.training_state
    assert (ts["cur_nimg"], ts["batch_idx"], ts["options"]["cond"], ts["options"]["cfg"]) == (
        32,
        4,
        True,
        "tiny",
    )
    names = set(ck.state_tensors)
    assert {"loss.pl_mean", "rng.torch", "rng.numpy_keys"} <= names
    assert any(n.startswith("optim.G.") and n.endswith("exp_avg_sq") for n in names)
    assert any(n.startswith("optim.D.") and n.endswith(".step") for n in names)
    assert ts["optim"]["G"]["param_groups"][0]["lr"] == pytest.approx(0.0025 * 2 / 3)
    assert set(ts["rng"]) == {"numpy", "python"}


def test_resume_continues_bit_for_bit(data16, tmp_path):
    """8 steps straight == 4 steps, stop, resume for 4 more: weights, optimiser and counters alike."""
    straight = train(tiny(data16, tmp_path / "a", kimg=0.064))
    half = train(tiny(data16, tmp_path / "b", kimg=0.032))
    resumed = train(TrainOptions(resume=str(half.run_dir), kimg=0.064, progress=False))
    assert resumed.run_dir.parent == tmp_path / "b" and resumed.run_dir.name.endswith("-resume")
    a, b = load_checkpoint(straight.snapshot), load_checkpoint(resumed.snapshot)
    assert a.kimg == b.kimg == pytest.approx(0.064)
    for net in ("G", "D", "G_ema"):
        assert_same(state(getattr(a, net)), state(getattr(b, net)), atol=1e-6)
    assert a.state_tensors.keys() == b.state_tensors.keys()
    for k in a.state_tensors:
        if not k.startswith("rng."):
            torch.testing.assert_close(a.state_tensors[k], b.state_tensors[k], atol=1e-6, rtol=0)
    assert a.training_state["batch_idx"] == b.training_state["batch_idx"] == 8


def test_resume_from_a_model_file_starts_at_kimg_zero(data16, tmp_path):
    """A bare model (e.g. an official pickle) gives its weights; counters and optimisers start fresh."""
    from core.training.distributed import DistContext
    from core.training.loop import Trainer
    from core.training.setup import plan_run
    from tests.official_pickle import write_official_pickle

    src = train(tiny(data16, tmp_path / "src", kimg=0.016)).snapshot
    ck = load_checkpoint(src)
    g = ck.g_config
    pkl = tmp_path / "official.pkl"
    G_kwargs = {
        "z_dim": g.z_dim,
        "w_dim": g.w_dim,
        "c_dim": 0,
        "img_resolution": 16,
        "img_channels": 3,
        "mapping_kwargs": {"num_layers": g.map_layers},
        "channel_base": g.channel_base,
        "channel_max": g.channel_max,
        "num_fp16_res": g.num_fp16_res,
        "conv_clamp": g.conv_clamp,
    }
    write_official_pickle(pkl, state(ck.G_ema), G_kwargs)
    plan = plan_run(
        TrainOptions(
            data=str(data16),
            resume=str(pkl),
            outdir=str(tmp_path),
            cfg="tiny",
            batch=8,
            kimg=0.016,
            progress=False,
        )
    )
    assert not plan.continues
    trainer = Trainer(plan, DistContext())
    assert trainer.cur_nimg == 0 and not trainer.opt_G.state
    assert_same(state(trainer.G), state(ck.G_ema))  # the pickle has no D: a fresh one is made
    result = trainer.run()
    assert load_checkpoint(result.snapshot).kimg == pytest.approx(0.016)


def test_user_errors_are_one_line(data16, tmp_path):
    with pytest.raises(SGError, match="dataset not found"):
        train(tiny(tmp_path / "nowhere", tmp_path))
    few = write_prepared(tmp_path / "few", np.zeros((4, 3, 16, 16), np.uint8), None, {"source": "test"})
    with pytest.raises(SGError, match="too few for a batch of 8"):
        train(tiny(few, tmp_path))
    with pytest.raises(SGError, match="needs class labels"):
        train(tiny(few, tmp_path, batch=4, cond=True))
    snap = train(tiny(data16, tmp_path / "r", kimg=0.008)).snapshot
    big = write_prepared(tmp_path / "big", np.zeros((8, 3, 32, 32), np.uint8), None, {"source": "test"})
    with pytest.raises(SGError, match="is a 16 px model but the dataset is 32 px"):
        train(TrainOptions(data=str(big), resume=str(snap), kimg=1, progress=False))
    with pytest.raises(SGError, match="already at kimg"):
        train(TrainOptions(resume=str(snap), progress=False))
    with pytest.raises(SGError, match="--batch-gpu 3 must divide"):
        train(tiny(data16, tmp_path, batch_gpu=3))


def test_gradient_accumulation_averages_like_one_pass(data16, tmp_path):
    """A batch of 8 in two passes of 4 gives the gradients of one pass of 8 (deterministic setup: no style
    mixing, noise strengths still 0, minibatch-stddev groups of 1 so passes group samples alike). Only the
    noise strengths' own gradients depend on the random noise maps, which passes draw differently."""
    from core.training.distributed import DistContext
    from core.training.loop import Trainer
    from core.training.setup import plan_run

    grads = []
    for batch_gpu in (8, 4):
        plan = plan_run(tiny(data16, tmp_path, batch_gpu=batch_gpu, mbstd_group=1), progress=False)
        trainer = Trainer(plan, DistContext())
        trainer.loss.style_mixing_prob = 0.0
        phases = {p.name: p for p in trainer.phases}
        trainer.phases = [phases["Dmain"], phases["Gmain"]]  # G's noise strengths are 0 while both run
        real, labels = plan.dataset.get_batch(range(8))
        torch.manual_seed(0)
        trainer.step(real, labels)
        grads.append(
            {
                f"{n}.{k}": p.grad.clone()
                for n, net in (("G", trainer.G), ("D", trainer.D))
                for k, p in net.named_parameters()
                if p.grad is not None and "noise_strength" not in k
            }
        )
    assert len(grads[0]) > 20
    assert_same(grads[0], grads[1], atol=1e-5)


def test_keep_prunes_old_snapshots_but_never_the_newest(data16, tmp_path):
    res = train(tiny(data16, tmp_path, kimg=0.04, snap=0.008, keep=2))
    assert [snapshot_nimg(p) for p in list_snapshots(res.run_dir)] == [32, 40]
    assert len(list(res.run_dir.glob("fakes-0*.png"))) == 5  # grids are kept


def test_nan_loss_stops_and_keeps_the_last_good_snapshot(data16, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = StyleGAN2Loss.discriminator_loss

    def poisoned(self, *args, **kwargs):
        calls["n"] += 1
        out = original(self, *args, **kwargs)
        if calls["n"] == 5:  # D's weights blow up during step 5
            with torch.no_grad():
                self.D.b4.out.weight.fill_(float("nan"))
        return out

    monkeypatch.setattr(StyleGAN2Loss, "discriminator_loss", poisoned)
    with pytest.raises(TrainingDiverged) as err:
        train(tiny(data16, tmp_path, kimg=0.08, snap=0.016, tick=0.008))
    message = str(err.value)
    run = next(tmp_path.iterdir())
    snaps = list_snapshots(run)
    assert [snapshot_nimg(p) for p in snaps] == [16, 32]  # nothing written after the NaN
    assert "\n" not in message and "NaN/Inf" in message and str(snaps[-1]) in message
    ck = load_checkpoint(snaps[-1])
    assert all(torch.isfinite(p).all() for p in ck.D.parameters())


@pytest.mark.parametrize("kw", [dict(arch="stylegan1"), dict(loss="wgan-gp")], ids=["stylegan1", "wgan-gp"])
def test_other_arch_and_loss_train(data16, tmp_path, kw):
    if kw.get("arch") == "stylegan1":
        pytest.importorskip("core.networks.stylegan1", reason="StyleGAN1 generator not written yet")
    res = train(tiny(data16, tmp_path, kimg=0.024, tick=0.008, **kw))
    rows = metrics(res.run_dir)
    assert len(rows) == 3 and all(math.isfinite(r["loss/G"]) and math.isfinite(r["loss/D"]) for r in rows)
    ck = load_checkpoint(res.snapshot)
    assert ck.g_config.arch == kw.get("arch", "stylegan2")
    if "loss" in kw:
        assert all(math.isfinite(r["loss/gp"]) for r in rows) and not any("loss/r1" in r for r in rows)


# ---- processes: DDP, signals, CLI -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_rank(rank: int, world: int, port: int, opts: dict, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    torch.set_num_threads(1)
    from core.training.distributed import init_distributed, shutdown_distributed
    from core.training.loop import Trainer
    from core.training.setup import plan_run

    ctx = init_distributed("cpu")
    trainer = Trainer(plan_run(TrainOptions(**opts), ctx.world_size, "cpu", progress=False), ctx)
    result = trainer.run()
    torch.save(
        {
            "G": state(trainer.G),
            "D": state(trainer.D),
            "G_ema": state(trainer.G_ema),
            "pl_mean": trainer.loss.pl_mean,
            "snapshot": str(result.snapshot),
        },
        f"{out}/rank{rank}.pt",
    )
    shutdown_distributed(ctx)


def test_ddp_gloo_two_processes_stay_identical(data16, tmp_path):
    opts = tiny(data16, tmp_path, kimg=0.024).to_dict()
    torch.multiprocessing.spawn(_ddp_rank, args=(2, _free_port(), opts, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for net in ("G", "D", "G_ema"):
        assert_same(r0[net], r1[net])  # bitwise: same averaged gradients, same steps, synced w_avg
    torch.testing.assert_close(r0["pl_mean"], r1["pl_mean"], rtol=0, atol=0)
    assert r1["snapshot"] == "None"  # only rank 0 writes
    ck = load_checkpoint(r0["snapshot"])
    assert ck.training_state["world_size"] == 2 and ck.kimg == pytest.approx(0.024)
    assert_same(state(ck.G), r0["G"])


def _sg(*args: str) -> list[str]:
    return [sys.executable, "-m", "stylegan_cli.main", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def test_sigterm_writes_a_snapshot_and_exits_zero(data16, tmp_path):
    proc = subprocess.Popen(
        _sg(
            "train",
            str(data16),
            "--cfg",
            "tiny",
            "--kimg",
            "1000",
            "--snap",
            "1000",
            "--tick",
            "0.008",
            "--outdir",
            str(tmp_path),
        ),
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while not list(tmp_path.glob("*/metrics.jsonl")) or not metrics(next(tmp_path.iterdir())):
            assert proc.poll() is None and time.time() < deadline, "training did not start"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "stopped by SIGTERM" in out
    snaps = list_snapshots(next(tmp_path.iterdir()))
    assert len(snaps) == 1 and 0 < load_checkpoint(snaps[0]).kimg < 1


def test_cli_train_end_to_end_then_info(data16, tmp_path):
    r = subprocess.run(
        _sg("train", str(data16), "--cfg", "tiny", "--kimg", "0.1", "--outdir", str(tmp_path)),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    run = next(tmp_path.iterdir())
    snaps = list_snapshots(run)
    assert snaps and snapshot_nimg(snaps[-1]) == 104  # 13 steps of 8 images reach 0.1 kimg
    info = subprocess.run(
        _sg("info", str(run)), cwd=REPO, env=_env(), capture_output=True, text=True
    )  # the run folder: its newest snapshot
    assert info.returncode == 0 and "kimg 0.1" in info.stdout
    bad = subprocess.run(
        _sg("train", str(tmp_path / "missing"), "--kimg", "0.1"),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "dataset not found" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_help_has_an_example():
    from typer.testing import CliRunner

    from stylegan_cli.main import app

    out = CliRunner().invoke(app, ["train", "--help"])
    assert out.exit_code == 0 and "Example" in out.output and "--resume" in out.output


@pytest.mark.slow
def test_cli_gpus_2_launches_torchrun_on_cpu(data16, tmp_path):
    r = subprocess.run(
        _sg(
            "train",
            str(data16),
            "--cfg",
            "tiny",
            "--kimg",
            "0.024",
            "--gpus",
            "2",
            "--device",
            "cpu",
            "--outdir",
            str(tmp_path),
        ),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    ck = load_checkpoint(list_snapshots(next(tmp_path.iterdir()))[-1])
    assert ck.training_state["world_size"] == 2 and ck.kimg == pytest.approx(0.024)


# ---- learning ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_swd_falls_on_the_bundled_data(tmp_path):
    """The quick-start run, shortened: 3 kimg of `--cond` on Fashion-MNIST (about a minute on one core)
    brings G_ema's samples clearly towards the data. Measured: SWD x1e3 about 185 at init, 78 at 3.5 kimg."""
    from core.data import bundled_dataset_path, open_dataset
    from core.metrics.swd import generate_images, swd

    res = train(TrainOptions(outdir=str(tmp_path), cfg="small", cond=True, kimg=3.0, progress=False))
    ds = open_dataset(bundled_dataset_path())
    real, _ = ds.get_batch(np.random.default_rng(0).choice(len(ds), 1024, replace=False))
    ck = load_checkpoint(res.snapshot)
    torch.manual_seed(0)
    G0 = build_generator(ck.g_config).eval()  # the run's initial weights (same seed)
    before = swd(real, generate_images(G0, 1024, seed=1))[-1]
    after = swd(real, generate_images(ck.G_ema, 1024, seed=1))[-1]
    assert after < 0.6 * before, (before, after)
