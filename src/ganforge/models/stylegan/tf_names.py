"""The TensorFlow variable name of every parameter and buffer of the StyleGAN networks.

Names are those of the original release (networks_stylegan.py), relative to the network's own
scope, as a pickled network lists them: for the generator 'lod', 'dlatent_avg',
'G_mapping/Dense0/weight', 'G_synthesis/4x4/Const/const', 'G_synthesis/noise0',
'G_synthesis/ToRGB_lod0/weight' ...; for the discriminator 'FromRGB_lod0/weight',
'1024x1024/Conv1_down/bias', '4x4/Dense1/weight' ... The TF generator holds a second 'lod' in
G_synthesis, assigned from its own 'lod' on every call; both map to ``synthesis.lod``, which is
listed under the generator's 'lod'. The generator's 'dlatent_avg' lives in the mapping network
(``mapping.w_avg``), so the mapping network alone lists it too.

Values are the same up to layout: TF dense weights are [in, out] (PyTorch [out, in]) and conv
weights [kh, kw, in, out] (PyTorch [out, in, kh, kw]); the label embedding is [c_dim, z_dim] in both.
"""

from __future__ import annotations

import math

from torch import nn

from ganforge.models.stylegan.discriminator import Discriminator
from ganforge.models.stylegan.generator import Generator, MappingNetwork, SynthesisLayer, SynthesisNetwork

_LAYER_NAMES = {
    "const": "const",
    "conv.weight": "weight",
    "noise_weight": "Noise/weight",
    "bias": "bias",
    "style.weight": "StyleMod/weight",
    "style.bias": "StyleMod/bias",
}
"""PyTorch name inside a SynthesisLayer -> TF name inside the layer's scope (the noise buffer is
a variable of the synthesis network, 'noise{layer index}')."""


def tf_variable_names(network: nn.Module) -> dict[str, str]:
    """Map each TF variable name to the state_dict key of `network` holding its value.

    `network` is a StyleGAN Generator, MappingNetwork, SynthesisNetwork or Discriminator; every
    state_dict entry appears exactly once among the values.
    """
    if isinstance(network, Generator):
        names = {"lod": "synthesis.lod", "dlatent_avg": "mapping.w_avg"}
        for tf_name, key in _mapping_names(network.mapping).items():
            names[f"G_mapping/{tf_name}"] = f"mapping.{key}"
        for tf_name, key in _synthesis_names(network.synthesis).items():
            if tf_name != "lod":
                names[f"G_synthesis/{tf_name}"] = f"synthesis.{key}"
        return names
    if isinstance(network, MappingNetwork):
        return {"dlatent_avg": "w_avg", **_mapping_names(network)}  # w_avg: the generator's variable
    if isinstance(network, SynthesisNetwork):
        return _synthesis_names(network)
    if isinstance(network, Discriminator):
        return _discriminator_names(network)
    raise TypeError(f"tf_variable_names: {type(network).__name__} is not a StyleGAN network")


def _mapping_names(mapping: MappingNetwork) -> dict[str, str]:
    """Names inside G_mapping ('dlatent_avg' belongs to the generator, not to G_mapping)."""
    names = {"LabelConcat/weight": "embed"} if mapping.c_dim > 0 else {}
    for idx in range(mapping.num_layers):
        names[f"Dense{idx}/weight"] = f"dense{idx}.weight"
        names[f"Dense{idx}/bias"] = f"dense{idx}.bias"
    return names


def _synthesis_names(synthesis: SynthesisNetwork) -> dict[str, str]:
    names = {"lod": "lod"}
    for res in synthesis.block_resolutions:
        layers = ("Const", "Conv") if res == 4 else ("Conv0_up", "Conv1")
        for conv_idx, scope in enumerate(layers):
            prefix = f"b{res}.conv{conv_idx}"
            layer: SynthesisLayer = getattr(synthesis, f"b{res}").get_submodule(f"conv{conv_idx}")
            for key in layer.state_dict():
                if key == "noise_const":
                    layer_idx = 2 * (int(math.log2(res)) - 2) + conv_idx
                    names[f"noise{layer_idx}"] = f"{prefix}.noise_const"
                else:
                    names[f"{res}x{res}/{scope}/{_LAYER_NAMES[key]}"] = f"{prefix}.{key}"
    for lod in range(len(synthesis.torgb)):
        for param in ("weight", "bias"):
            names[f"ToRGB_lod{lod}/{param}"] = f"torgb.{lod}.{param}"
    return names


def _discriminator_names(D: Discriminator) -> dict[str, str]:
    names = {"lod": "lod"}
    for lod in range(len(D.fromrgb)):
        for param in ("weight", "bias"):
            names[f"FromRGB_lod{lod}/{param}"] = f"fromrgb.{lod}.{param}"
    layers = [(f"b{res}.conv0", f"{res}x{res}/Conv0") for res in D.block_resolutions]
    layers += [(f"b{res}.conv1", f"{res}x{res}/Conv1_down") for res in D.block_resolutions]
    layers += [("b4.conv", "4x4/Conv"), ("b4.dense0", "4x4/Dense0"), ("b4.dense1", "4x4/Dense1")]
    for prefix, scope in layers:
        for param in ("weight", "bias"):
            names[f"{scope}/{param}"] = f"{prefix}.{param}"
    return names
