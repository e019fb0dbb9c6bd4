"""One explicit switch for the reduced-precision blocks and the memory format of a network.

As in the official networks, the blocks of the top `num_fp16_res` resolutions (`block.use_fp16`) may run
in a reduced dtype; everything else stays fp32. Reduced precision runs on CUDA only unless asked for on
CPU too (CPU half-precision convolutions are slow on most machines). Callers (the training loop, the
inference fast path, the projection step) say what they want through these methods instead of setting
fields inside the network.
"""

from __future__ import annotations

from typing import Self

import torch
from torch import nn

REDUCED_DTYPES = (torch.float16, torch.bfloat16)


class ReducedPrecision:
    """Mixin for networks made of resolution blocks with a `resolution` and a `use_fp16` flag."""

    reduced_dtype: torch.dtype = torch.float16  # the dtype of the `use_fp16` blocks (official: fp16)
    reduced_on_cpu: bool = False  # run those blocks reduced on CPU too (default: CUDA only)
    channels_last: bool = False  # NHWC feature maps, which tensor-core convolutions prefer

    def precision_blocks(self) -> list[nn.Module]:
        """The blocks that may run in reduced precision, lowest resolution first."""
        raise NotImplementedError

    def set_precision(
        self, dtype: torch.dtype = torch.float16, num_res: int | None = None, on_cpu: bool = False
    ) -> Self:
        """Run the `use_fp16` blocks in `dtype`; `num_res` re-picks them as the top `num_res` resolutions
        (None keeps the config's `num_fp16_res`); `on_cpu` allows it on CPU as well as on CUDA."""
        if dtype not in REDUCED_DTYPES:
            raise ValueError(f"reduced precision must be float16 or bfloat16 (got {dtype})")
        self.reduced_dtype, self.reduced_on_cpu = dtype, bool(on_cpu)
        if num_res is not None:
            blocks = self.precision_blocks()
            top = sorted((int(b.resolution) for b in blocks), reverse=True)[:num_res]
            for b in blocks:
                b.use_fp16 = int(b.resolution) in top
        return self

    def ensure_conv_clamp(self, clamp: float) -> Self:
        """Clamp activations at +-`clamp` where the model has no clamp (fp16 overflows without one; the
        official configs use 256). Networks without clamped layers ignore it."""
        return self

    def reduced_resolutions(self) -> list[int]:
        """Resolutions whose blocks run reduced (where the device allows it)."""
        return sorted(int(b.resolution) for b in self.precision_blocks() if b.use_fp16)

    def set_memory_format(self, memory_format: torch.memory_format) -> Self:
        """torch.channels_last: NHWC feature maps inside the blocks; torch.contiguous_format: NCHW."""
        if memory_format not in (torch.channels_last, torch.contiguous_format):
            raise ValueError(
                f"memory format must be channels_last or contiguous_format (got {memory_format})"
            )
        self.channels_last = memory_format == torch.channels_last
        return self
