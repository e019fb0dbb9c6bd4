"""Recreate the official_*.safetensors goldens here with NVIDIA's own code (not part of the test suite).

Usage: python tests/data/make_official_golden.py NVLABS_REPO OUT_STEM [--cond]
NVLABS_REPO is a checkout of NVlabs/stylegan2-ada-pytorch (uses training/networks.py) or NVlabs/stylegan3
(uses training/networks_stylegan2.py). Networks are built with the official constructors on CPU in
float32 (the custom CUDA ops fall back to their reference code), every learned tensor is perturbed away
from its initial value so that a misplaced tensor shows, the toRGB layers are scaled so images span about
[-1, 1], and the official forward passes give the reference arrays (see README.md).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

SEEDS = [0, 1, 85, 2026]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("repo")
    ap.add_argument("out")
    ap.add_argument("--cond", action="store_true")
    a = ap.parse_args()
    sys.path.insert(0, a.repo)
    sg3 = os.path.exists(f"{a.repo}/training/networks_stylegan3.py")
    networks = __import__("training.networks_stylegan2" if sg3 else "training.networks", fromlist=["x"])
    torch.manual_seed(2026 + a.cond)
    c_dim, z_dim = (5 if a.cond else 0), 64
    syn = dict(channel_base=1024, channel_max=32, num_fp16_res=0, conv_clamp=256)
    G_kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=64, img_resolution=32, img_channels=3)
    G_kwargs["mapping_kwargs"] = dict(num_layers=2)
    if sg3:
        G_kwargs.update(syn)  # stylegan3 passes synthesis kwargs flat
    else:
        G_kwargs["synthesis_kwargs"] = syn
    D_kwargs = dict(c_dim=c_dim, img_resolution=32, img_channels=3, **syn, mapping_kwargs={})
    D_kwargs["epilogue_kwargs"] = dict(mbstd_group_size=4)
    G = networks.Generator(**copy.deepcopy(G_kwargs)).eval().requires_grad_(False)
    D = networks.Discriminator(**copy.deepcopy(D_kwargs)).eval().requires_grad_(False)
    named = [*G.named_parameters(), *G.named_buffers(), *D.named_parameters(), *D.named_buffers()]
    with torch.no_grad():
        for name, t in named:
            if not name.endswith("resample_filter"):  # a fixed filter, not a learned tensor
                spread = float(t.std()) if t.numel() > 1 and float(t.std()) > 0 else 1.0
                t.add_(torch.randn_like(t) * 0.2 * spread)
        c16 = torch.nn.functional.one_hot(torch.arange(16) % max(c_dim, 1), max(c_dim, 1)).float()[:, :c_dim]
        z16 = torch.from_numpy(np.random.RandomState(123).randn(16, z_dim)).float()
        scale = 0.5 / float(G(z16, c16, noise_mode="const").std())
        for name, t in G.named_parameters():
            if ".torgb." in name and ".affine." not in name:
                t.mul_(scale)
    ref: dict[str, np.ndarray] = {"seeds": np.array(SEEDS, dtype=np.int64)}
    z = torch.from_numpy(np.concatenate([np.random.RandomState(s).randn(1, z_dim) for s in SEEDS])).float()
    c = torch.nn.functional.one_hot(torch.tensor([s % max(c_dim, 1) for s in SEEDS]), max(c_dim, 1)).float()
    c = c[:, :c_dim]
    with torch.no_grad():
        for psi in ("1.0", "0.7"):
            ws = G.mapping(z, c, truncation_psi=float(psi))
            for i, s in enumerate(SEEDS):
                ref[f"w_seed{s}_psi{psi}"] = ws[i].numpy()
            img = G.synthesis(ws, noise_mode="const")
            ref[f"img_psi{psi}"] = img.numpy()
            png = (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
            ref[f"png_psi{psi}"] = png.numpy()
        d_in = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(7))
        ref["d_in"], ref["d_c"], ref["d_out"] = d_in.numpy(), c.numpy(), D(d_in, c).numpy()
    tensors = {f"G_ema.{k}": v.contiguous() for k, v in G.state_dict().items()}
    tensors.update({f"D.{k}": v.contiguous() for k, v in D.state_dict().items()})
    src = (
        "NVlabs stylegan3 training/networks_stylegan2.py"
        if sg3
        else "NVlabs stylegan2-ada-pytorch training/networks.py"
    )
    meta = {
        "G_init_kwargs": json.dumps(G_kwargs),
        "D_init_kwargs": json.dumps(D_kwargs),
        "note": f"official StyleGAN2 parameter names ({src}); random weights",
    }
    save_file(tensors, f"{a.out}.safetensors", metadata=meta)
    np.savez_compressed(f"{a.out}_ref.npz", **ref)
    print(a.out, "max |img|", float(np.abs(ref["img_psi1.0"]).max()), "d_out", ref["d_out"].ravel())


if __name__ == "__main__":
    main()
