"""Pure-PyTorch primitives of the StyleGAN family: bias+activation, FIR resampling, resampling
convolution, modulated convolution, nearest/box rescaling, 2nd-moment normalisation and minibatch
standard deviation, and the half-precision policy of the float16 blocks (`precision`). No custom
C++/CUDA; all support double backward."""

from ganforge.ops.bias_act import ACTIVATIONS, activation_gain, bias_act
from ganforge.ops.conv2d_resample import conv2d_resample
from ganforge.ops.minibatch_std import MinibatchStdLayer
from ganforge.ops.modulated_conv2d import modulated_conv2d
from ganforge.ops.normalize import normalize_2nd_moment
from ganforge.ops.scale2d import downscale2d, upscale2d
from ganforge.ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "ACTIVATIONS",
    "MinibatchStdLayer",
    "activation_gain",
    "bias_act",
    "conv2d_resample",
    "downsample2d",
    "downscale2d",
    "filter2d",
    "modulated_conv2d",
    "normalize_2nd_moment",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
    "upscale2d",
]
