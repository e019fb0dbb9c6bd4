"""Inference fast path for the generator, switchable piece by piece.

Each switch is independent and off by default, so an all-off `FastGenerator` renders exactly what the
fp32 eager generator renders, and a benchmark can attribute speed to one switch at a time:

- ``precision``: bf16/fp16 in the generator's reduced-precision (high-resolution) blocks, with conv clamping;
- ``fused_modconv``: the grouped-conv (per-sample weight) modulated conv, or per-sample activation scaling;
- ``channels_last``: NHWC feature maps, which cuDNN's tensor-core conv kernels prefer;
- ``compile``: ``torch.compile`` with fixed shapes (``dynamic=False``), fusing the elementwise epilogues;
- ``cuda_graphs``: replay captured kernels (``mode='reduce-overhead'`` when compiling, a manual
  ``torch.cuda.CUDAGraph`` otherwise), removing per-kernel launch overhead at small batches.

Switches that cannot work on the current device (reduced precision and CUDA graphs on CPU) fall back to
the plain path; ``FastGenerator.effective`` says what actually runs. ``torch.compile`` works on CPU too.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from core.errors import SGError

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
COMPILE_MODES = ("default", "max-autotune", "max-autotune-no-cudagraphs", "reduce-overhead")

DEFAULT_CONV_CLAMP = 256.0  # the official value

Noise = Sequence[torch.Tensor | None] | None


@dataclass(frozen=True)
class FastPathOptions:
    """The switches; every default is 'off' (fp32 eager, the generator's own modconv choice)."""

    precision: str = "fp32"
    compile: bool = False
    compile_mode: str | None = None  # None: 'default', or 'reduce-overhead' when cuda_graphs is on
    compile_backend: str = "inductor"  # 'eager'/'aot_eager' trace without code generation (quick smoke runs)
    channels_last: bool = False
    cuda_graphs: bool = False
    fused_modconv: bool | None = None  # None: official rule (fused in fp32 or at batch 1)
    reduced_res: int | None = None  # number of top resolutions in reduced precision; None keeps the model's
    allow_cpu_reduced: bool = False  # run bf16/fp16 on CPU too (slow on most CPUs; tests check agreement)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise SGError(f"precision must be one of {', '.join(PRECISIONS)} (got {self.precision!r})")
        if self.compile_mode is not None and self.compile_mode not in COMPILE_MODES:
            raise SGError(
                f"compile_mode must be one of {', '.join(COMPILE_MODES)} (got {self.compile_mode!r})"
            )
        if self.compile_mode == "reduce-overhead" and not self.cuda_graphs:
            raise SGError("compile_mode='reduce-overhead' means CUDA graphs: set cuda_graphs=True instead")
        if self.reduced_res is not None and self.reduced_res < 0:
            raise SGError(f"reduced_res must be >= 0 (got {self.reduced_res})")


def resolve_compile_mode(opts: FastPathOptions, graphs: bool) -> str:
    """The torch.compile mode; with CUDA graphs it is one of inductor's graph modes."""
    mode = opts.compile_mode or ("reduce-overhead" if graphs else "default")
    if not graphs and mode == "max-autotune":
        return "max-autotune-no-cudagraphs"
    if graphs and mode in ("default", "max-autotune-no-cudagraphs"):
        return "reduce-overhead" if mode == "default" else "max-autotune"
    return mode


def _model_device(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def configure_synthesis(synthesis: nn.Module, opts: FastPathOptions) -> dict[str, Any]:
    """Set precision and memory format on a synthesis network (its `set_precision` / `set_memory_format`);
    returns what is in effect on its device."""
    device = _model_device(synthesis)
    reduced = opts.precision != "fp32"
    if reduced:
        synthesis.set_precision(PRECISIONS[opts.precision], opts.reduced_res, on_cpu=opts.allow_cpu_reduced)
        synthesis.ensure_conv_clamp(DEFAULT_CONV_CLAMP)  # keeps fp16 finite; the model's own clamp stays
    synthesis.set_memory_format(torch.channels_last if opts.channels_last else torch.contiguous_format)
    top = synthesis.reduced_resolutions()
    reduced_active = reduced and bool(top) and (device.type == "cuda" or opts.allow_cpu_reduced)
    if reduced and not reduced_active:
        on_cpu = device.type != "cuda"
        eff_precision = "fp32 (reduced precision needs CUDA)" if on_cpu else "fp32 (no reduced blocks)"
    else:
        eff_precision = opts.precision
    return {
        "device": device.type,
        "precision": eff_precision,
        "reduced_blocks": top if reduced_active else [],
        "channels_last": bool(opts.channels_last),
        "fused_modconv": "auto" if opts.fused_modconv is None else bool(opts.fused_modconv),
    }


def compile_fn(
    fn: Callable[..., Any], opts: FastPathOptions, graphs: bool
) -> tuple[Callable[..., Any], str, bool]:
    """torch.compile `fn` for fixed shapes -> (compiled fn, description, whether it replays CUDA graphs)."""
    if opts.compile_backend != "inductor":  # modes are inductor's; other backends only trace
        return torch.compile(fn, dynamic=False, backend=opts.compile_backend), opts.compile_backend, False
    mode = resolve_compile_mode(opts, graphs)
    compiled = torch.compile(fn, mode=mode, dynamic=False)
    return compiled, f"inductor:{mode}", graphs and mode in ("reduce-overhead", "max-autotune")


class CudaGraphRunner:
    """Capture a function of tensors into one CUDA graph per input signature, then copy inputs in and replay.

    Outputs are cloned out of the graph's static buffer, so callers may keep them across calls.
    """

    def __init__(self, warmup: int = 3) -> None:
        self.warmup = warmup
        self.graphs: dict[Any, tuple[torch.cuda.CUDAGraph, list[torch.Tensor], torch.Tensor]] = {}

    def __call__(
        self, fn: Callable[..., torch.Tensor], tensors: Sequence[torch.Tensor], key: Any = None
    ) -> torch.Tensor:
        """`fn(*tensors)` by replay; `fn` runs (and is captured) only for a new `key` or new shapes."""
        sig = (key, tuple((tuple(t.shape), t.dtype, t.device) for t in tensors))
        entry = self.graphs.get(sig)
        if entry is None:
            entry = self.graphs[sig] = self._capture(fn, tensors)
        graph, static_in, static_out = entry
        for dst, src in zip(static_in, tensors, strict=True):
            dst.copy_(src)
        graph.replay()
        return static_out.clone()

    def _capture(
        self, fn: Callable[..., torch.Tensor], tensors: Sequence[torch.Tensor]
    ) -> tuple[torch.cuda.CUDAGraph, list[torch.Tensor], torch.Tensor]:
        static_in = [t.detach().clone() for t in tensors]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up off the capture: cuDNN autotuning, allocator growth
            for _ in range(self.warmup):
                fn(*static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = fn(*static_in)
        return graph, static_in, static_out


class FastGenerator:
    """A generator wrapped for fast fixed-shape inference: `render(ws)` and `__call__(z, c, psi, cutoff)`.

    By default it works on a deep copy, so the caller's `G` keeps its settings (and the official numerics);
    `copy_model=False` saves the memory of a copy and sets the switches on `G` itself.
    """

    def __init__(
        self,
        G: nn.Module,
        precision: str = "fp32",
        compile: bool = False,
        channels_last: bool = False,
        cuda_graphs: bool = False,
        *,
        compile_mode: str | None = None,
        compile_backend: str = "inductor",
        fused_modconv: bool | None = None,
        reduced_res: int | None = None,
        allow_cpu_reduced: bool = False,
        copy_model: bool = True,
    ) -> None:
        self.options = FastPathOptions(
            precision=precision,
            compile=compile,
            compile_mode=compile_mode,
            compile_backend=compile_backend,
            channels_last=channels_last,
            cuda_graphs=cuda_graphs,
            fused_modconv=fused_modconv,
            reduced_res=reduced_res,
            allow_cpu_reduced=allow_cpu_reduced,
        )
        self.G = copy.deepcopy(G) if copy_model else G
        self.G.eval().requires_grad_(False)
        self.synthesis = self.G.synthesis
        self.device = _model_device(self.G)
        self.effective = configure_synthesis(self.synthesis, self.options)
        self._force_fp32 = self.options.precision == "fp32"
        graphs = self.options.cuda_graphs and self.device.type == "cuda"
        self._compiled_graphs = False
        self._render_impl: Callable[..., torch.Tensor] = self.forward
        self.effective["compile"] = "off"
        if self.options.compile:
            self._render_impl, self.effective["compile"], self._compiled_graphs = compile_fn(
                self.forward, self.options, graphs
            )
        self._graph_runner = CudaGraphRunner() if graphs and not self._compiled_graphs else None
        if self._compiled_graphs:
            self.effective["cuda_graphs"] = "compile"
        elif self._graph_runner is not None:
            self.effective["cuda_graphs"] = "manual"
        else:
            self.effective["cuda_graphs"] = "off (needs CUDA)" if self.options.cuda_graphs else "off"

    @classmethod
    def from_options(cls, G: nn.Module, opts: FastPathOptions, copy_model: bool = True) -> FastGenerator:
        return cls(G, copy_model=copy_model, **vars(opts))

    @property
    def num_ws(self) -> int:
        return int(self.G.num_ws)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", noise: Noise = None) -> torch.Tensor:
        """The uncompiled synthesis call with this path's precision and modconv choice (differentiable)."""
        return self.synthesis(
            ws,
            noise_mode=noise_mode,
            noise=None if noise is None else list(noise),
            force_fp32=self._force_fp32,
            fused_modconv=self.options.fused_modconv,
        )

    def _forward_tensors(
        self, noise_mode: str, layout: tuple[bool, ...] | None, ws: torch.Tensor, *noise: torch.Tensor
    ) -> torch.Tensor:
        """Graph-capture form, tensors only: `layout` says which noise entries are given (the rest None)."""
        it = iter(noise)
        full = None if layout is None else [next(it) if given else None for given in layout]
        return self.forward(ws, noise_mode, full)

    @torch.no_grad()
    def render(self, ws: torch.Tensor, noise_mode: str = "const", noise: Noise = None) -> torch.Tensor:
        """ws [N, num_ws, w_dim] -> images [N, C, H, W] in fp32 (about [-1, 1])."""
        ws = ws.to(self.device, torch.float32)
        if self._graph_runner is not None:
            layout = None if noise is None else tuple(n is not None for n in noise)
            tensors = [ws] + [n.to(self.device) for n in (noise or []) if n is not None]
            fn = functools.partial(self._forward_tensors, noise_mode, layout)
            return self._graph_runner(fn, tensors, key=(noise_mode, layout))
        if self._compiled_graphs:
            torch.compiler.cudagraph_mark_step_begin()
            return self._render_impl(ws, noise_mode, noise).clone()
        return self._render_impl(ws, noise_mode, noise)

    @torch.no_grad()
    def map(
        self, z: torch.Tensor, c: torch.Tensor | None = None, psi: float = 1.0, cutoff: int | None = None
    ) -> torch.Tensor:
        """z -> ws through the (eager, fp32) mapping network, with truncation."""
        z = z.to(self.device, torch.float32)
        c = c.to(self.device) if c is not None else None
        return self.G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)

    def __call__(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        psi: float = 1.0,
        cutoff: int | None = None,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        return self.render(self.map(z, c, psi, cutoff), noise_mode=noise_mode)


def attach_fast_path(G: nn.Module, compile: bool = True) -> dict[str, Any]:
    """Route `core.generate.render` for this G through a FastGenerator (bf16, compile, CUDA graphs on CUDA).

    The switches are set on G itself (no copy): this is for a command that owns the model. On CPU only
    torch.compile applies (fp32; measured no faster for big models on 2 cores, see bench/RESULTS.md).
    Returns what runs, for the command to print.
    """
    on_cuda = _model_device(G).type == "cuda"
    if not on_cuda:  # inductor's CPU codegen logs a harmless "No CUDA runtime is found" warning
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    fast = FastGenerator(
        G,
        precision="bf16" if on_cuda else "fp32",
        compile=compile,
        channels_last=on_cuda,
        cuda_graphs=on_cuda,
        copy_model=False,
    )
    G.fast_path = fast  # read by core.generate.render
    return fast.effective


def describe_fast_path(effective: dict[str, Any]) -> str:
    keys = ("precision", "compile", "cuda_graphs", "channels_last")
    return "fast path: " + ", ".join(f"{k} {effective[k]}" for k in keys)
