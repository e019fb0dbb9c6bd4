"""StyleGAN2 training losses (Karras et al. 2020, sec. 2-3 and appendix B).

G minimises the non-saturating logistic loss softplus(-D(G(z))); D minimises softplus(D(G(z))) +
softplus(-D(x)). Regularisers run lazily in their own phases: R1 on reals for D, path length for G.
Style mixing feeds two latents to one image so that the layers' styles stay decorrelated.
`WGANGPLoss` is the Wasserstein alternative with gradient penalty and epsilon drift (ProGAN).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

PHASES = ("Gmain", "Greg", "Dmain", "Dreg")
Stats = dict[str, torch.Tensor]


def style_mixing(
    G: nn.Module, ws: torch.Tensor, z: torch.Tensor, c: torch.Tensor | None, prob: float
) -> torch.Tensor:
    """With probability `prob`, layers from a random cutoff on take their w from a second latent.

    One cutoff for the whole batch, chosen on the device with `torch.where`: no host sync.
    """
    if prob <= 0:
        return ws
    num_ws = ws.shape[1]
    cutoff = torch.randint(1, num_ws, [], device=ws.device)
    cutoff = torch.where(torch.rand([], device=ws.device) < prob, cutoff, torch.full_like(cutoff, num_ws))
    mixed = G.mapping(torch.randn_like(z), c, update_emas=False)
    take_second = torch.arange(num_ws, device=ws.device).ge(cutoff).reshape(1, -1, 1)
    return torch.where(take_second, mixed, ws)


def r1_penalty(real_logits: torch.Tensor, real_img: torch.Tensor) -> torch.Tensor:
    """Per-sample squared norm of dD(x)/dx on reals [N]; `real_img` must require grad."""
    (grads,) = torch.autograd.grad(real_logits.sum(), real_img, create_graph=True, only_inputs=True)
    return grads.square().sum(dim=[1, 2, 3])


def path_length_penalty(
    img: torch.Tensor,
    ws: torch.Tensor,
    pl_mean: torch.Tensor,
    decay: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(|J_w^T y| - a)^2 per sample with y ~ N(0, I)/sqrt(HW); a: the running mean, returned updated."""
    noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grads,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True, only_inputs=True)
    lengths = grads.square().sum(dim=2).mean(dim=1).sqrt()
    mean = pl_mean.lerp(lengths.mean(), decay)
    return (lengths - mean).square(), mean.detach()


def gradient_penalty(
    D: Callable[..., torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    c: torch.Tensor | None,
    **d_kwargs,
) -> torch.Tensor:
    """WGAN-GP: (|dD(x_hat)/dx_hat| - 1)^2 on random interpolates x_hat between reals and fakes [N]."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = real.detach().lerp(fake.detach(), eps).requires_grad_(True)
    logits = D(mixed, c, **d_kwargs)
    (grads,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True, only_inputs=True)
    return (grads.flatten(1).norm(dim=1) - 1).square()


class StyleGAN2Loss:
    """Accumulates the gradients of one training phase (Gmain, Greg, Dmain, Dreg) for one minibatch chunk."""

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        r1_gamma: float = 10.0,
        style_mixing_prob: float = 0.9,
        pl_weight: float = 2.0,
        pl_batch_shrink: int = 2,
        pl_decay: float = 0.01,
        force_fp32: bool = False,
        r1_interval: int = 16,
        pl_interval: int = 4,
    ) -> None:
        self.G, self.D = G, D
        self.r1_interval, self.pl_interval = r1_interval, pl_interval
        self.r1_gamma, self.style_mixing_prob = r1_gamma, style_mixing_prob
        self.pl_weight, self.pl_batch_shrink, self.pl_decay = pl_weight, pl_batch_shrink, pl_decay
        self.force_fp32 = force_fp32
        self.pl_mean = torch.zeros([], device=next(G.parameters()).device)
        # Forward passes of the main phases; `compile_main` may swap in torch.compile'd versions.
        # Regularisers need double backward, which compiled graphs lack, so they always run eagerly.
        self.synthesis_main: Callable[..., torch.Tensor] = G.synthesis
        self.D_main: Callable[..., torch.Tensor] = D
        # ADA: every image D sees (reals, fakes, R1's reals) goes through this first; None: no augmentation.
        self.augment_pipe: nn.Module | None = None

    # Lazy regularisation: a regulariser runs every `interval` minibatches; None: no such phase.
    @property
    def G_reg_interval(self) -> int | None:
        return self.pl_interval if self.pl_weight > 0 else None

    @property
    def D_reg_interval(self) -> int | None:
        return self.r1_interval if self.r1_gamma > 0 else None

    def compile_main(self, **compile_kwargs) -> None:
        """torch.compile the main phases' synthesis and D forward (opt-in: slow to start, a GPU win)."""
        self.synthesis_main = torch.compile(self.G.synthesis, **compile_kwargs)
        self.D_main = torch.compile(self.D, **compile_kwargs)

    def run_G(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None,
        update_emas: bool = False,
        main: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Image and the (style-mixed) ws that made it."""
        ws = self.G.mapping(z, c, update_emas=update_emas)
        ws = style_mixing(self.G, ws, z, c, self.style_mixing_prob)
        synthesis = self.synthesis_main if main else self.G.synthesis
        return synthesis(ws, force_fp32=self.force_fp32), ws

    def run_D(self, img: torch.Tensor, c: torch.Tensor | None, main: bool = True) -> torch.Tensor:
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return (self.D_main if main else self.D)(img, c, force_fp32=self.force_fp32)

    def accumulate_gradients(
        self,
        phase: str,
        real_img: torch.Tensor,
        real_c: torch.Tensor | None,
        gen_z: torch.Tensor,
        gen_c: torch.Tensor | None,
        gain: float,
    ) -> Stats:
        """Backpropagate this phase's loss times `gain`; returns detached per-sample statistics."""
        if phase == "Gmain":
            return self.generator_loss(gen_z, gen_c, gain)
        if phase == "Greg":
            return self.path_length_loss(gen_z, gen_c, gain)
        if phase == "Dmain":
            return self.discriminator_loss(real_img, real_c, gen_z, gen_c, gain)
        if phase == "Dreg":
            return self.r1_loss(real_img, real_c, gain)
        raise ValueError(f"unknown phase {phase!r}; expected one of {PHASES}")

    def generator_loss(self, gen_z: torch.Tensor, gen_c: torch.Tensor | None, gain: float) -> Stats:
        """Non-saturating: maximise log D(G(z)). Tracks w_avg (update_emas) for truncation."""
        img, _ = self.run_G(gen_z, gen_c, update_emas=True)
        logits = self.run_D(img, gen_c)
        loss = F.softplus(-logits)
        loss.mean().mul(gain).backward()
        return {"loss/G": loss.detach(), "scores/fake": logits.detach()}

    def path_length_loss(self, gen_z: torch.Tensor, gen_c: torch.Tensor | None, gain: float) -> Stats:
        """Path length regularisation on a batch shrunk by `pl_batch_shrink`, weighted by `pl_weight`."""
        n = max(gen_z.shape[0] // self.pl_batch_shrink, 1)
        img, ws = self.run_G(gen_z[:n], gen_c[:n] if gen_c is not None else None, main=False)
        penalty, self.pl_mean = path_length_penalty(img, ws, self.pl_mean, self.pl_decay)
        loss = penalty * self.pl_weight
        loss.mean().mul(gain).backward()
        return {"loss/pl": loss.detach(), "pl/mean": self.pl_mean.reshape(1)}

    def discriminator_loss(
        self,
        real_img: torch.Tensor,
        real_c: torch.Tensor | None,
        gen_z: torch.Tensor,
        gen_c: torch.Tensor | None,
        gain: float,
    ) -> Stats:
        """Logistic loss: minimise softplus(D(G(z))) + softplus(-D(x)); fakes and reals in separate passes
        so minibatch-stddev groups never mix them."""
        with torch.no_grad():
            fake_img, _ = self.run_G(gen_z, gen_c)
        fake_logits = self.run_D(fake_img, gen_c)
        loss_fake = F.softplus(fake_logits)
        loss_fake.mean().mul(gain).backward()
        real_logits = self.run_D(real_img, real_c)
        loss_real = F.softplus(-real_logits)
        loss_real.mean().mul(gain).backward()
        return {
            "loss/D": (loss_fake + loss_real).detach(),
            "scores/real": real_logits.detach(),
            "scores/fake": fake_logits.detach(),
            "signs/real": real_logits.detach().sign(),  # ADA's overfitting heuristic
        }

    def r1_loss(self, real_img: torch.Tensor, real_c: torch.Tensor | None, gain: float) -> Stats:
        """R1: gamma/2 * |dD(x)/dx|^2 on reals (lazy: `gain` includes the interval)."""
        real_img = real_img.detach().requires_grad_(True)
        real_logits = self.run_D(real_img, real_c, main=False)
        loss = r1_penalty(real_logits, real_img) * (self.r1_gamma / 2)
        loss.mean().mul(gain).backward()
        return {"loss/r1": loss.detach(), "signs/real": real_logits.detach().sign()}


class WGANGPLoss(StyleGAN2Loss):
    """WGAN-GP: D minimises D(G(z)) - D(x) + lambda * GP + drift * D(x)^2; G minimises -D(G(z)).

    The gradient penalty runs in every D step (it is part of the Wasserstein critic, not a lazy regulariser);
    style mixing and path length regularisation of G are kept.
    """

    def __init__(
        self, G: nn.Module, D: nn.Module, gp_lambda: float = 10.0, drift: float = 0.001, **kwargs
    ) -> None:
        kwargs["r1_gamma"] = 0.0
        super().__init__(G, D, **kwargs)
        self.gp_lambda, self.drift = gp_lambda, drift

    def generator_loss(self, gen_z: torch.Tensor, gen_c: torch.Tensor | None, gain: float) -> Stats:
        img, _ = self.run_G(gen_z, gen_c, update_emas=True)
        logits = self.run_D(img, gen_c)
        loss = -logits
        loss.mean().mul(gain).backward()
        return {"loss/G": loss.detach(), "scores/fake": logits.detach()}

    def discriminator_loss(
        self,
        real_img: torch.Tensor,
        real_c: torch.Tensor | None,
        gen_z: torch.Tensor,
        gen_c: torch.Tensor | None,
        gain: float,
    ) -> Stats:
        with torch.no_grad():
            fake_img, _ = self.run_G(gen_z, gen_c)
        fake_logits = self.run_D(fake_img, gen_c)
        real_logits = self.run_D(real_img, real_c)
        gp = gradient_penalty(lambda x, c: self.run_D(x, c, main=False), real_img, fake_img, real_c)
        loss = (
            fake_logits - real_logits + self.drift * real_logits.square() + self.gp_lambda * gp.unsqueeze(1)
        )
        loss.mean().mul(gain).backward()
        return {
            "loss/D": loss.detach(),
            "loss/gp": gp.detach(),
            "scores/real": real_logits.detach(),
            "scores/fake": fake_logits.detach(),
            "signs/real": real_logits.detach().sign(),
        }


LOSSES = {"ns": StyleGAN2Loss, "wgan-gp": WGANGPLoss}


def build_loss(kind: str, G: nn.Module, D: nn.Module, **kwargs) -> StyleGAN2Loss:
    """`ns` (non-saturating logistic + R1) or `wgan-gp`; kwargs as StyleGAN2Loss takes them."""
    if kind == "wgan-gp":
        kwargs.pop("r1_gamma", None)
    return LOSSES[kind](G, D, **kwargs)
