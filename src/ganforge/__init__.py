"""ganforge: the StyleGAN family of GANs (DCGAN, StyleGAN, StyleGAN2-ADA) in pure PyTorch."""

__version__ = "0.1.0"
