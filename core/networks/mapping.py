"""The mapping network f: Z (x class embedding) -> W, with the running mean of w used for truncation."""

from __future__ import annotations

import torch
from torch import nn

from core.ops import FullyConnectedLayer, normalize_2nd_moment


class MappingNetwork(nn.Module):
    """z (pixel-normed) [+ normed class embedding] -> MLP -> w, broadcast to `num_ws` layers.

    Also serves as the discriminator's label embedding (z_dim=0, num_ws=None, no w_avg).
    """

    def __init__(
        self,
        z_dim: int,  # input latent (Z) size, 0 = no latent (the D label embedding)
        c_dim: int,  # conditioning label (C) size, 0 = no label
        w_dim: int,  # intermediate latent (W) size
        num_ws: int | None,  # ws to broadcast to, None = return one w [N, w_dim]
        num_layers: int = 8,  # depth of the MLP
        activation: str = "lrelu",  # bias_act activation of the hidden layers
        lr_multiplier: float = 0.01,  # learning rate multiplier of the MLP
        w_avg_beta: float | None = 0.995,  # decay of the tracked mean of W, None = do not track
        trunc_cutoff: int | None = None,  # truncation applies to ws 0..cutoff-1, None = all
        label_concat: bool = False,  # NVIDIA TF label handling: c @ W concatenated with z
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        self.trunc_cutoff, self.label_concat = trunc_cutoff, label_concat and c_dim > 0
        embed_features = (z_dim if self.label_concat else w_dim) if c_dim > 0 else 0
        features = [z_dim + embed_features] + [w_dim] * num_layers
        if self.label_concat:  # NVIDIA's TF LabelConcat: a raw [z_dim, c_dim] matrix, no scaling, no bias
            self.label_embed = nn.Parameter(torch.randn(z_dim, c_dim))
        elif c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            layer = FullyConnectedLayer(
                features[i], features[i + 1], activation=activation, lr_multiplier=lr_multiplier
            )
            setattr(self, f"fc{i}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        x = None
        if self.label_concat:  # TF: normalise [z, c @ W] as one vector
            y = c.to(torch.float32) @ self.label_embed.t()
            x = normalize_2nd_moment(torch.cat([z.to(torch.float32), y], dim=1))
        elif self.z_dim > 0:
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0 and not self.label_concat:
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)

        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

        if self.num_ws is None:
            return x
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = truncation_cutoff if truncation_cutoff is not None else self.trunc_cutoff
            x = truncate(x, self.w_avg, truncation_psi, cutoff)
        return x


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
    """The truncation trick: pull w towards the average by psi, in the first `cutoff` layers only if given."""
    if cutoff is None:
        return w_avg.lerp(ws, psi)
    ws = ws.clone()
    ws[:, :cutoff] = w_avg.lerp(ws[:, :cutoff], psi)
    return ws
