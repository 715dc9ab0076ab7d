"""Pure-PyTorch primitives of the StyleGAN family: bias+activation, FIR resampling, resampling
convolution and modulated convolution. No custom C++/CUDA; all support double backward."""

from ganforge.ops.bias_act import ACTIVATIONS, activation_gain, bias_act
from ganforge.ops.conv2d_resample import conv2d_resample
from ganforge.ops.modulated_conv2d import modulated_conv2d
from ganforge.ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "ACTIVATIONS",
    "activation_gain",
    "bias_act",
    "conv2d_resample",
    "downsample2d",
    "filter2d",
    "modulated_conv2d",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]
