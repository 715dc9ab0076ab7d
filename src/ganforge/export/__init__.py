"""Models that travel: a network file as a safetensors model folder (Hugging Face layout), an ONNX
graph, or an official StyleGAN2-ADA-PyTorch pickle (`export_network`)."""

from ganforge.export.network import FORMATS, export_network

__all__ = ["FORMATS", "export_network"]
