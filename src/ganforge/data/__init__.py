"""Datasets: the dataset tool (sources, transforms, writer) and `ImageDataset`, which training reads."""

from ganforge.data.dataset import ImageDataset

__all__ = ["ImageDataset"]
