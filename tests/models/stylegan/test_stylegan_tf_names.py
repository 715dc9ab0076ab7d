"""TF variable names of the StyleGAN networks: every parameter and buffer exactly once, with the
names and shapes the original networks_stylegan.py gives its variables."""

from __future__ import annotations

import pytest
import torch

from ganforge.models.stylegan import Discriminator, Generator, tf_variable_names
from ganforge.models.stylegan2 import Generator as StyleGAN2Generator


def torch_shape(tf_name: str, tf_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The PyTorch shape of a TF variable: dense weights [in, out] -> [out, in], conv weights
    [kh, kw, in, out] -> [out, in, kh, kw]; the rest (label embedding, constant, noise) as is."""
    if not tf_name.endswith("/weight") or tf_name.endswith(("LabelConcat/weight", "Noise/weight")):
        return tf_shape
    if len(tf_shape) == 2:
        return tf_shape[1], tf_shape[0]
    return tf_shape[3], tf_shape[2], tf_shape[0], tf_shape[1]


# An 8x8 conditional generator: z_dim 6, c_dim 2, w_dim 5, two mapping layers of 7 features,
# fmap_base 32 / fmap_max 16, so 16 channels at 4x4 and 8 at 8x8.
GENERATOR_8 = {
    "lod": (),
    "dlatent_avg": (5,),
    "G_mapping/Dense0/weight": (12, 7),
    "G_mapping/Dense0/bias": (7,),
    "G_mapping/Dense1/weight": (7, 5),
    "G_mapping/Dense1/bias": (5,),
    "G_synthesis/noise0": (1, 1, 4, 4),
    "G_synthesis/noise1": (1, 1, 4, 4),
    "G_synthesis/noise2": (1, 1, 8, 8),
    "G_synthesis/noise3": (1, 1, 8, 8),
    "G_synthesis/4x4/Const/const": (1, 16, 4, 4),
    "G_synthesis/4x4/Const/Noise/weight": (16,),
    "G_synthesis/4x4/Const/bias": (16,),
    "G_synthesis/4x4/Const/StyleMod/weight": (5, 32),
    "G_synthesis/4x4/Const/StyleMod/bias": (32,),
    "G_synthesis/4x4/Conv/weight": (3, 3, 16, 16),
    "G_synthesis/4x4/Conv/Noise/weight": (16,),
    "G_synthesis/4x4/Conv/bias": (16,),
    "G_synthesis/4x4/Conv/StyleMod/weight": (5, 32),
    "G_synthesis/4x4/Conv/StyleMod/bias": (32,),
    "G_synthesis/8x8/Conv0_up/weight": (3, 3, 16, 8),
    "G_synthesis/8x8/Conv0_up/Noise/weight": (8,),
    "G_synthesis/8x8/Conv0_up/bias": (8,),
    "G_synthesis/8x8/Conv0_up/StyleMod/weight": (5, 16),
    "G_synthesis/8x8/Conv0_up/StyleMod/bias": (16,),
    "G_synthesis/8x8/Conv1/weight": (3, 3, 8, 8),
    "G_synthesis/8x8/Conv1/Noise/weight": (8,),
    "G_synthesis/8x8/Conv1/bias": (8,),
    "G_synthesis/8x8/Conv1/StyleMod/weight": (5, 16),
    "G_synthesis/8x8/Conv1/StyleMod/bias": (16,),
    "G_synthesis/ToRGB_lod0/weight": (1, 1, 8, 3),
    "G_synthesis/ToRGB_lod0/bias": (3,),
    "G_synthesis/ToRGB_lod1/weight": (1, 1, 16, 3),
    "G_synthesis/ToRGB_lod1/bias": (3,),
}

# The matching 8x8 discriminator with 2 labels: 8 channels at 8x8, 16 at 4x4, 16 dense features.
DISCRIMINATOR_8 = {
    "lod": (),
    "FromRGB_lod0/weight": (1, 1, 3, 8),
    "FromRGB_lod0/bias": (8,),
    "FromRGB_lod1/weight": (1, 1, 3, 16),
    "FromRGB_lod1/bias": (16,),
    "8x8/Conv0/weight": (3, 3, 8, 8),
    "8x8/Conv0/bias": (8,),
    "8x8/Conv1_down/weight": (3, 3, 8, 16),
    "8x8/Conv1_down/bias": (16,),
    "4x4/Conv/weight": (3, 3, 17, 16),
    "4x4/Conv/bias": (16,),
    "4x4/Dense0/weight": (256, 16),
    "4x4/Dense0/bias": (16,),
    "4x4/Dense1/weight": (16, 2),
    "4x4/Dense1/bias": (2,),
}


def generator_8() -> Generator:
    return Generator(z_dim=6, c_dim=2, w_dim=5, img_resolution=8, img_channels=3,
                     mapping_kwargs={"num_layers": 2, "layer_features": 7},
                     synthesis_kwargs={"fmap_base": 32, "fmap_max": 16})


def test_generator_names_and_shapes_follow_the_original() -> None:
    G = generator_8()
    names = tf_variable_names(G)
    expected = dict(GENERATOR_8, **{"G_mapping/LabelConcat/weight": (2, 6)})
    assert set(names) == set(expected)
    state = G.state_dict()
    for tf_name, tf_shape in expected.items():
        assert tuple(state[names[tf_name]].shape) == torch_shape(tf_name, tf_shape), tf_name
    assert names["G_synthesis/4x4/Const/const"] == "synthesis.b4.conv0.const"
    assert names["dlatent_avg"] == "mapping.w_avg" and names["lod"] == "synthesis.lod"
    assert names["G_synthesis/ToRGB_lod1/weight"] == "synthesis.torgb.1.weight"


def test_discriminator_names_and_shapes_follow_the_original() -> None:
    D = Discriminator(c_dim=2, img_resolution=8, img_channels=3, fmap_base=32, fmap_max=16)
    names = tf_variable_names(D)
    assert set(names) == set(DISCRIMINATOR_8)
    state = D.state_dict()
    for tf_name, tf_shape in DISCRIMINATOR_8.items():
        assert tuple(state[names[tf_name]].shape) == torch_shape(tf_name, tf_shape), tf_name


@pytest.mark.parametrize("structure", ["linear", "fixed"])
@pytest.mark.parametrize("c_dim", [0, 3])
@pytest.mark.parametrize("use_noise", [True, False])
def test_every_state_entry_is_named_exactly_once(structure: str, c_dim: int, use_noise: bool) -> None:
    fmaps = {"fmap_base": 32, "fmap_max": 8, "structure": structure}
    G = Generator(z_dim=4, c_dim=c_dim, w_dim=4, img_resolution=32, img_channels=3,
                  mapping_kwargs={"num_layers": 3, "layer_features": 4},
                  synthesis_kwargs={**fmaps, "use_noise": use_noise})
    D = Discriminator(c_dim=c_dim, img_resolution=32, img_channels=3, **fmaps)
    for network in (G, G.mapping, G.synthesis, D):
        names = tf_variable_names(network)
        keys = list(names.values())
        assert len(keys) == len(set(keys))
        assert set(keys) == set(network.state_dict()), type(network).__name__
        assert len(set(names)) == len(names)
    assert ("G_synthesis/noise7" in tf_variable_names(G)) == use_noise  # 32x32: layers 0..7
    assert "G_synthesis/noise8" not in tf_variable_names(G)
    assert ("G_synthesis/ToRGB_lod3/weight" in tf_variable_names(G)) == (structure == "linear")
    assert ("FromRGB_lod3/weight" in tf_variable_names(D)) == (structure == "linear")


def test_refuses_other_networks() -> None:
    G2 = StyleGAN2Generator(z_dim=4, c_dim=0, w_dim=4, img_resolution=8, img_channels=3,
                            synthesis_kwargs={"channel_base": 32, "channel_max": 8})
    with pytest.raises(TypeError, match="not a StyleGAN network"):
        tf_variable_names(G2)
    with pytest.raises(TypeError):
        tf_variable_names(torch.nn.Linear(2, 2))
