"""Reading network files safely: official StyleGAN2-ADA pickles, ganforge checkpoints and model folders.

`load_network` is the one entry point for any network file (`generator_of` picks the generator to
sample from in what it returns); `save_network` writes a checkpoint.
A ganforge checkpoint that is truncated or corrupt raises `DamagedCheckpointError`.
"""

from ganforge.compat.checkpoint import DamagedCheckpointError, save_network, save_network_checkpoint
from ganforge.compat.loader import generator_of, load_network
from ganforge.compat.official import load_network_pkl
from ganforge.compat.safe_unpickle import OfficialObject

__all__ = [
    "DamagedCheckpointError", "OfficialObject", "generator_of", "load_network", "load_network_pkl",
    "save_network", "save_network_checkpoint",
]
