"""Training StyleGAN2-ADA: configs and presets, the loop, snapshots, statistics, multi-GPU helpers."""
