"""Networks: mapping, StyleGAN2 and StyleGAN1 synthesis, discriminator, and builders from configs."""

from core.networks.config import DiscriminatorConfig, GeneratorConfig, check_resolution
from core.networks.discriminator import Discriminator
from core.networks.mapping import MappingNetwork, truncate
from core.networks.stylegan2 import Generator, SynthesisNetwork


def build_generator(cfg: GeneratorConfig) -> Generator:
    """The generator for `cfg.arch`; both archs share the mapping network and the Generator interface."""
    if cfg.arch == "stylegan1":
        from core.networks.stylegan1 import StyleGAN1Synthesis

        return Generator(cfg, synthesis=StyleGAN1Synthesis(cfg))
    return Generator(cfg)


def build_discriminator(cfg: DiscriminatorConfig) -> Discriminator:
    """The discriminator for `cfg.arch`: StyleGAN2's residual D, or StyleGAN1's D_basic."""
    if cfg.arch == "stylegan1":
        from core.networks.discriminator_stylegan1 import StyleGAN1Discriminator

        return StyleGAN1Discriminator(cfg)
    return Discriminator(cfg)


__all__ = [
    "DiscriminatorConfig",
    "GeneratorConfig",
    "check_resolution",
    "Discriminator",
    "MappingNetwork",
    "truncate",
    "Generator",
    "SynthesisNetwork",
    "build_generator",
    "build_discriminator",
]
