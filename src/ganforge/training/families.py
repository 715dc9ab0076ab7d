"""Model families for the training loop: what differs between StyleGAN2, StyleGAN (2019), DCGAN and R3GAN.

The loop (`ganforge.training.loop`) owns data, rounds, seeding, G_ema, ADA, ticks and snapshots; a
`ModelFamily` supplies the rest for one run: the networks, the loss object, the phases with their
networks and intervals, the Adam settings, and the per-step schedule (batch size, learning rates,
level of detail and the matching view of the real images). `make_family(config, resolution)`
picks the family named by ``config.model``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from ganforge.errors import DatasetError, OptionError
from ganforge.losses import StyleGAN2Loss
from ganforge.losses.dcgan import DCGANConfig, DCGANLoss
from ganforge.losses.stylegan import StyleGANLoss
from ganforge.models import dcgan, stylegan, stylegan2
from ganforge.ops.scale2d import downscale2d, upscale2d
from ganforge.training.family_base import ModelFamily, PhaseSpec, TrainingLoss
from ganforge.training.options import FAMILY_NAMES, TrainingConfig
from ganforge.training.r3gan import R3GANFamily

ADAM_BETAS = (0.0, 0.99)
ADAM_EPS = 1e-8
"""Adam settings of the StyleGAN (2019) and StyleGAN2-ADA releases for both networks."""
PL_BATCH_SHRINK = 2
PL_DECAY = 0.01
"""StyleGAN2-ADA's path length regulariser: batch shrink and decay of the running mean."""
WGAN_LAMBDA, WGAN_EPSILON, WGAN_TARGET = 10.0, 0.001, 1.0
"""StyleGAN (2019) `wgangp`: gradient penalty weight, drift term weight and target gradient norm."""
DCGAN_BETAS = (0.5, 0.999)
"""Adam betas of the DCGAN reference (learning rate and G updates per step are options)."""

DCGAN_SIZE_STEP = {False: 16, True: 4}
"""What DCGAN image sizes must be multiples of, without and with labels: its networks halve the
size 4 times (2 times when conditional)."""


class StyleGAN2Family(ModelFamily):
    """StyleGAN2-ADA: lazy R1 and path-length regularisation on one Adam optimiser per network."""

    name = "stylegan2"

    @staticmethod
    def trains(resolution: int, conditional: bool) -> bool:
        return _power_of_two(resolution, 8)  # D's first block halves to its 4x4 epilogue, as officially

    @staticmethod
    def sizes(conditional: bool) -> str:
        return "powers of two from 8 (8, 16, 32, ...)"

    def build_networks(self, channels: int, c_dim: int) -> tuple[nn.Module, nn.Module]:
        c = self.config
        num_fp16_res = 0 if c.fp32 else 4
        conv_clamp = None if c.fp32 else 256
        common = dict(channel_base=c.cbase, channel_max=c.cmax, num_fp16_res=num_fp16_res,
                      conv_clamp=conv_clamp)
        G = stylegan2.Generator(
            z_dim=c.z_dim, c_dim=c_dim, w_dim=c.w_dim, img_resolution=self.resolution, img_channels=channels,
            mapping_kwargs={"num_layers": c.map}, synthesis_kwargs=common,
        )
        D = stylegan2.Discriminator(
            c_dim=c_dim, img_resolution=self.resolution, img_channels=channels,
            architecture=c.d_architecture, block_kwargs={"freeze_layers": c.freezed},
            epilogue_kwargs={"mbstd_group_size": c.mbstd_group}, **common,
        )
        return G, D

    def loss_kwargs(self) -> dict[str, Any]:
        """The `ganforge.losses.StyleGAN2Loss` arguments that the options set."""
        c = self.config
        return {"r1_gamma": c.gamma, "style_mixing_prob": c.style_mixing, "pl_weight": c.pl_weight}

    def make_loss(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None) -> TrainingLoss:
        return StyleGAN2Loss(G, D, augment_pipe, **self.loss_kwargs(), pl_batch_shrink=PL_BATCH_SHRINK,
                             pl_decay=PL_DECAY)

    def make_compiled_loss(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None) -> TrainingLoss:
        return StyleGAN2Loss(
            G, torch.compile(D), augment_pipe, **self.loss_kwargs(), pl_batch_shrink=PL_BATCH_SHRINK,
            pl_decay=PL_DECAY, G_mapping=torch.compile(G.mapping), G_synthesis=torch.compile(G.synthesis),
        )

    def phases(self) -> list[PhaseSpec]:
        phases = []
        for network, interval in (("G", self.config.G_reg_interval), ("D", self.config.D_reg_interval)):
            if interval is None:
                phases.append(PhaseSpec(f"{network}both", network))
            else:
                phases += [PhaseSpec(f"{network}main", network),
                           PhaseSpec(f"{network}reg", network, interval)]
        return phases

    def adam_kwargs(self, network: str) -> dict[str, Any]:
        """With lazy regularisation every `interval` steps, the main and the regulariser updates share
        one optimiser; its learning rate and betas are rescaled by interval / (interval + 1) so that
        the combined updates behave like the unregularised schedule."""
        c = self.config
        lr, interval = {"G": (c.glr, c.G_reg_interval), "D": (c.dlr, c.D_reg_interval)}[network]
        ratio = 1.0 if interval is None else interval / (interval + 1)
        return {"lr": lr * ratio, "betas": tuple(beta**ratio for beta in ADAM_BETAS), "eps": ADAM_EPS}


class DCGANFamily(ModelFamily):
    """DCGAN: sigmoid cross-entropy, Adam(2e-4, 0.5), one D update then `g_steps` G updates per step."""

    name = "dcgan"

    @staticmethod
    def trains(resolution: int, conditional: bool) -> bool:
        step = DCGAN_SIZE_STEP[conditional]
        return resolution >= step and resolution % step == 0

    @staticmethod
    def sizes(conditional: bool) -> str:
        step = DCGAN_SIZE_STEP[conditional]
        kind = "with --cond" if conditional else "without --cond"
        return f"multiples of {step} {kind} ({step}, {2 * step}, {3 * step}, ...)"

    def build_networks(self, channels: int, c_dim: int) -> tuple[nn.Module, nn.Module]:
        c = self.config
        try:
            G = dcgan.Generator(c.z_dim, c_dim, self.resolution, channels, c.gf_dim, c.gfc_dim)
            D = dcgan.Discriminator(c_dim, self.resolution, channels, c.df_dim, c.dfc_dim)
        except ValueError as exc:
            raise OptionError(f"--model dcgan cannot train on this dataset: {exc}") from exc
        return G, D

    def make_loss(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None) -> TrainingLoss:
        return DCGANLoss(G, D, augment_pipe)

    def phases(self) -> list[PhaseSpec]:
        return [PhaseSpec(name, name[0]) for name in self._config(self.config.glr).phases()]

    def adam_kwargs(self, network: str) -> dict[str, Any]:
        return self._config(self.config.glr if network == "G" else self.config.dlr).adam_kwargs()

    def _config(self, lr: float) -> DCGANConfig:
        """The loss module's DCGAN settings (which check them) for a network of learning rate `lr`."""
        beta1, beta2 = DCGAN_BETAS
        return DCGANConfig(lr=lr, beta1=beta1, beta2=beta2, g_steps=self.config.g_steps)


def stylegan_lod(
    cur_nimg: int, resolution_log2: int, initial_resolution: int, training_kimg: float, transition_kimg: float
) -> float:
    """The level of detail after `cur_nimg` images of the StyleGAN progressive schedule.

    Training starts at `initial_resolution` (lod = log2(R / initial)); each phase shows
    `training_kimg` at a fixed lod, then fades the next resolution in linearly over
    `transition_kimg`, until lod reaches 0 (the original `TrainingSchedule`).
    """
    kimg = cur_nimg / 1000.0
    phase_dur = training_kimg + transition_kimg
    phase_idx = math.floor(kimg / phase_dur) if phase_dur > 0 else 0
    phase_kimg = kimg - phase_idx * phase_dur
    lod = resolution_log2 - math.floor(math.log2(initial_resolution)) - phase_idx
    if transition_kimg > 0:
        lod -= max(phase_kimg - training_kimg, 0.0) / transition_kimg
    return max(lod, 0.0)


def images_at_lod(images: torch.Tensor, lod: float) -> torch.Tensor:
    """Reals [N, C, R, R] as seen at `lod`, kept at size R (the original's FadeLOD and UpscaleLOD).

    The image is box-downscaled floor(lod) times, blended towards its own 2x2 box average by the
    fractional part of lod, and nearest-upscaled back to R.
    """
    level = math.floor(lod)
    for _ in range(level):
        images = downscale2d(images)
    coarse = upscale2d(downscale2d(images))
    images = images + (coarse - images) * (lod - level)
    return upscale2d(images, 2**level)


class StyleGANFamily(ModelFamily):
    """StyleGAN (2019): progressive growing with per-resolution batch and learning rate, D then G."""

    name = "stylegan"

    @staticmethod
    def trains(resolution: int, conditional: bool) -> bool:
        return _power_of_two(resolution, 4)

    @staticmethod
    def sizes(conditional: bool) -> str:
        return "powers of two from 4 (4, 8, 16, ...)"

    def __init__(self, config: TrainingConfig, resolution: int) -> None:
        super().__init__(config, resolution)
        self.resolution_log2 = int(math.log2(resolution))
        self.lod = self.lod_at(0)
        self.prev_lod: float | None = None  # the lod of the previous step (None before the first)

    def build_networks(self, channels: int, c_dim: int) -> tuple[nn.Module, nn.Module]:
        c = self.config
        # fmap_base = cbase / 2 gives a block at resolution r min(cbase / r, cmax) channels, as StyleGAN2.
        fmaps = {"fmap_base": c.cbase // 2, "fmap_max": c.cmax, "structure": "linear"}
        try:
            G = stylegan.Generator(
                c.z_dim, c_dim, c.w_dim, self.resolution, channels,
                mapping_kwargs={"num_layers": c.map, "layer_features": c.w_dim}, synthesis_kwargs=fmaps,
                style_mixing_prob=c.style_mixing,
            )
            D = stylegan.Discriminator(
                c_dim, self.resolution, channels, mbstd_group_size=c.mbstd_group, **fmaps
            )
        except ValueError as exc:
            raise OptionError(f"--model stylegan cannot train on this dataset: {exc}") from exc
        return G, D

    def make_loss(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None) -> TrainingLoss:
        return StyleGANLoss(G, D, augment_pipe, loss=self.config.loss, r1_gamma=self.config.gamma,
                            wgan_lambda=WGAN_LAMBDA, wgan_epsilon=WGAN_EPSILON, wgan_target=WGAN_TARGET)

    def phases(self) -> list[PhaseSpec]:
        return [PhaseSpec("Dmain", "D"), PhaseSpec("Gmain", "G")]

    def adam_kwargs(self, network: str) -> dict[str, Any]:
        lr = self.config.glr if network == "G" else self.config.dlr
        return {"lr": lr, "betas": ADAM_BETAS, "eps": ADAM_EPS}

    def lod_at(self, cur_nimg: int) -> float:
        """The level of detail of the step at `cur_nimg`."""
        c = self.config
        return stylegan_lod(cur_nimg, self.resolution_log2, c.lod_initial_resolution, c.lod_training_kimg,
                            c.lod_transition_kimg)

    def resolution_at(self, cur_nimg: int) -> int:
        """The resolution being trained at `cur_nimg` (the one faded in last)."""
        return 2 ** (self.resolution_log2 - math.floor(self.lod_at(cur_nimg)))

    def batch_at(self, cur_nimg: int) -> int:
        return self.config.batch_dict.get(self.resolution_at(cur_nimg), self.config.batch)

    def begin_step(self, cur_nimg: int, G: nn.Module, D: nn.Module, opts: dict[str, Optimizer]) -> None:
        """Set lod on G and D and the learning rates; a new level resets Adam's state, as the original."""
        lod = self.lod_at(cur_nimg)
        prev = self.prev_lod
        if prev is None or math.floor(lod) != math.floor(prev) or math.ceil(lod) != math.ceil(prev):
            for opt in opts.values():
                opt.state.clear()
        self.lod = self.prev_lod = lod
        G.synthesis.lod.fill_(lod)
        D.lod.fill_(lod)
        res = self.resolution_at(cur_nimg)
        for network, base in (("G", self.config.glr), ("D", self.config.dlr)):
            for group in opts[network].param_groups:
                group["lr"] = self.config.lr_dict.get(res, base)

    def process_reals(self, images: torch.Tensor) -> torch.Tensor:
        return images_at_lod(images, self.lod)

    def status(self) -> dict[str, float]:
        return {"Progress/lod": self.lod}

    def state_dict(self) -> dict[str, Any]:
        return {"prev_lod": self.prev_lod}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.prev_lod = state.get("prev_lod")


FAMILIES: dict[str, type[ModelFamily]] = {
    family.name: family for family in (StyleGAN2Family, StyleGANFamily, DCGANFamily, R3GANFamily)
}
"""The model families by `--model` name (the options table names them in the same order)."""


def check_resolution(model: str, resolution: int, conditional: bool, data: str) -> None:
    """Refuse, naming the family and the sizes it trains, a dataset of images it cannot train."""
    if FAMILIES[model].trains(resolution, conditional):
        return
    others = [name for name, family in FAMILIES.items() if family.trains(resolution, conditional)]
    instead = f", or train it with --model {' or '.join(others)}" if others else ""
    raise DatasetError(
        f"dataset '{data}' has {resolution}x{resolution} images, which --model {model} cannot train: it "
        f"trains {FAMILIES[model].sizes(conditional)}; make the dataset at one of those sizes "
        f"(`ganforge dataset create --resolution N`){instead}"
    )


def _power_of_two(resolution: int, minimum: int) -> bool:
    return resolution >= minimum and resolution & (resolution - 1) == 0


def make_family(config: TrainingConfig, resolution: int) -> ModelFamily:
    """The family of ``config.model`` for a dataset of `resolution`."""
    if config.model not in FAMILIES:
        choices = ", ".join(FAMILY_NAMES)
        raise OptionError(f"--model: unknown model family {config.model!r}; choose one of {choices}")
    return FAMILIES[config.model](config, resolution)

