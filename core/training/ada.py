"""Adaptive augmentation strength (ADA, Karras et al. 2020, sec. 3).

The overfitting heuristic r_t = E[sign(D(x_real))] is accumulated over `interval` minibatches; then p moves
by sign(r_t - target) * (batch * interval) / (ada_kimg * 1000), so it can go from 0 to 1 in `ada_kimg` kimg.
Unlike the official trainer, p is clamped to a ceiling (default 1): past ~0.8 augmentations start to leak
into the generated images, and the controller says so, once, when p gets there.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

LEAK_P = 0.8  # the paper's Fig. 3: above about this strength, bgc augmentations start to leak


class AdaController:
    """Owns the sign accumulator; updates `p` (a float32 tensor, the pipe's buffer) in place."""

    def __init__(
        self,
        p: torch.Tensor,
        target: float = 0.6,
        ada_kimg: float = 500.0,
        interval: int = 4,
        p_max: float = 1.0,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        if not 0 < p_max <= 1:
            raise ValueError(f"the p ceiling must be in (0, 1], got {p_max}")
        self.p, self.target, self.ada_kimg = p, float(target), float(ada_kimg)
        self.interval, self.p_max, self.warn = int(interval), float(p_max), warn
        # [sum of signs, count] since the last update, on p's device: no host sync per step.
        self.acc = torch.zeros(2, dtype=torch.float64, device=p.device)
        self.warned_leak = self.warned_ceiling = False

    @torch.no_grad()
    def accumulate(self, real_logits: torch.Tensor) -> None:
        """Add the signs of D's outputs on (augmented) reals: from Dmain and from the R1 phase alike."""
        signs = real_logits.detach().sign().double()
        self.acc += torch.stack([signs.sum(), torch.tensor(float(signs.numel()), device=signs.device)])

    @torch.no_grad()
    def maybe_update(self, batch_idx: int, batch_size: int, reduce: Callable[[torch.Tensor], None]) -> bool:
        """After minibatch `batch_idx` (counted from 1): every `interval` steps, adjust p. `reduce` sums a
        tensor over processes in place (a no-op on one). Returns whether p was updated."""
        if batch_idx % self.interval:
            return False
        acc = self.acc.clone()
        reduce(acc)
        self.acc.zero_()
        if acc[1] <= 0:
            return False
        r_t = float(acc[0] / acc[1])
        step = batch_size * self.interval / (self.ada_kimg * 1000)
        adjust = (1.0 if r_t > self.target else -1.0 if r_t < self.target else 0.0) * step
        new = (self.p + adjust).clamp(0.0, self.p_max)  # float32 arithmetic, as the official buffer
        self.p.copy_(new)
        self._check_limits(float(new))
        return True

    def _check_limits(self, p: float) -> None:
        if self.warn is None:
            return
        if p >= LEAK_P and not self.warned_leak and self.p_max > LEAK_P:
            self.warned_leak = True
            self.warn(
                f"ADA: p reached {p:.3f}; above ~{LEAK_P} augmentations can leak into the generated images "
                "(rotated, flipped or colour-shifted fakes); more data or a lower --p-max avoids it"
            )
        if p >= self.p_max and not self.warned_ceiling:
            self.warned_ceiling = True
            self.warn(
                f"ADA: p hit its ceiling --p-max {self.p_max:g} and is held there although D still overfits; "
                "raising it risks augmentations leaking into the generated images"
            )

    @property
    def r_t(self) -> float | None:
        """The heuristic over the steps since the last update (this process only); None before any."""
        return float(self.acc[0] / self.acc[1]) if float(self.acc[1]) > 0 else None

    # ---- snapshot state: p and the partial accumulator, so a resume continues bit for bit ----

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"augment.p": self.p.detach().clone(), "augment.acc": self.acc.detach().clone()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.p.copy_(tensors["augment.p"].to(self.p.device).reshape([]))
        if "augment.acc" in tensors:
            self.acc.copy_(tensors["augment.acc"].to(self.acc.device))
