"""One projection step's forward and backward, as `sg project` runs it: eager fp32, or the fast path.

The step synthesises ``w + jitter`` with the current noise maps, scores the images against the targets
(``Distance``), adds the noise penalty and puts the gradients of the summed objective into ``.grad`` of the
optimised tensors; the optimiser update stays with the caller. On CUDA the fast path runs the generator's
top resolutions and the LPIPS backbone in bf16, compiles the forward (and so its backward) with
torch.compile, and replays it through CUDA graphs. Its agreement with fp32 is tested on CPU
(tests/test_projector.py: final PSNR within 0.5 dB of the fp32 projection); bench/project_speed.py times
this class through ``project``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from core.fastpath import PRECISIONS, FastGenerator, FastPathOptions, compile_fn
from projector.noise_reg import noise_regularization

if TYPE_CHECKING:
    from projector.optimize import Distance, ProjectConfig

# torch.compile costs tens of seconds once (per model and batch shape); below this many steps a projection
# does not win it back, so shorter runs take the eager bf16 path.
COMPILE_MIN_STEPS = 200


def default_fast_path(device: torch.device, steps: int) -> FastPathOptions:
    """What `sg project` runs: on CUDA bf16, plus torch.compile and CUDA graphs for runs long enough to
    repay the compile; on CPU eager fp32 (compile measured no faster on a 2-core CPU, bench/RESULTS.md)."""
    if device.type != "cuda":
        return FastPathOptions()
    long_run = steps >= COMPILE_MIN_STEPS
    return FastPathOptions(precision="bf16", compile=long_run, cuda_graphs=long_run)


class ProjectionStep:
    """``step(w_opt, jitter, noise, params) -> (images, per-sample loss)``, both detached; gradients of the
    loss's sum land in ``p.grad`` for ``p`` in ``params`` (never in G's own parameters)."""

    def __init__(
        self, G: torch.nn.Module, distance: Distance, cfg: ProjectConfig, options: FastPathOptions
    ) -> None:
        self.distance, self.num_ws, self.options = distance, G.num_ws, options
        self.noise_weight = cfg.noise_reg_weight if cfg.optimize_noise else 0.0
        device = next(G.parameters()).device
        reduced = options.precision != "fp32" and (device.type == "cuda" or options.allow_cpu_reduced)
        self.reduced = PRECISIONS[options.precision] if reduced else None
        if options == FastPathOptions():  # the plain path renders with G itself: no copy, official numerics
            self.synthesize = _plain_synthesis(G)
            self.effective: dict[str, Any] = {"precision": "fp32", "compile": "off", "cuda_graphs": "off"}
        else:  # a copy of G with the precision switches; compile and graphs apply to the whole step below
            fast = FastGenerator.from_options(
                G, dataclasses.replace(options, compile=False, cuda_graphs=False)
            )
            self.synthesize = lambda ws, noise: fast.forward(ws, "const", noise)
            self.effective = dict(fast.effective, compile="off", cuda_graphs="off")
        self._objective: Callable[..., tuple[torch.Tensor, torch.Tensor]] = self.objective
        self.graphs = False
        graphs = options.cuda_graphs and device.type == "cuda"
        if options.compile:
            self._objective, self.effective["compile"], self.graphs = compile_fn(
                self.objective, options, graphs
            )
        if self.graphs:
            self.effective["cuda_graphs"] = "compile"
        elif options.cuda_graphs:  # graphs of the whole step come from compile's graph trees only
            self.effective["cuda_graphs"] = "off (needs CUDA)" if not graphs else "off (needs compile)"

    def objective(
        self, w_opt: torch.Tensor, jitter: torch.Tensor, noise: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and per-sample objective [N]: distance to the targets + weighted noise penalty."""
        ws = (w_opt + jitter).expand(-1, self.num_ws, -1)
        img = self.synthesize(ws, noise)
        loss = self.distance(img, self.reduced)
        if self.noise_weight:
            loss = loss + self.noise_weight * noise_regularization(noise)
        return img, loss

    def __call__(
        self,
        w_opt: torch.Tensor,
        jitter: torch.Tensor,
        noise: list[torch.Tensor],
        params: Sequence[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.graphs:
            torch.compiler.cudagraph_mark_step_begin()
        img, loss = self._objective(w_opt, jitter, noise)
        # autograd.grad, not backward(): G's own parameters never receive .grad, even if they require it.
        for p, g in zip(params, torch.autograd.grad(loss.sum(), params), strict=True):
            p.grad = g
        if self.graphs:  # outputs live in the graph's memory, which the next replay overwrites
            return img.detach().clone(), loss.detach().clone()
        return img.detach(), loss.detach()


def _plain_synthesis(G: torch.nn.Module) -> Callable[[torch.Tensor, list[torch.Tensor]], torch.Tensor]:
    def synthesize(ws: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        return G.synthesis(ws, noise_mode="const", noise=noise)

    return synthesize
