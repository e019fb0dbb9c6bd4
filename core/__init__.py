"""sg core: StyleGAN ops, networks, checkpoints, data, training and metrics in pure PyTorch."""
