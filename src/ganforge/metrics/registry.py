"""The metrics by name, with StyleGAN2-ADA's sample counts and constants.

`_full` metrics use every real image, never mirrored (as the official ones, whatever `mirror` says);
the legacy `fid50k`, `kid50k` and `pr50k3` use the first 50k real images, mirrored ones too when the
run used `mirror`. "50k" is the number of generated images. The digits metrics run on the bundled
digits-v1 detector with all real images and DIGITS_NUM_GEN generated ones, so they work offline and
fast on a CPU.
`MetricOptions.num_gen` overrides a metric's generated sample count (quick checks; such figures
are not comparable with published ones).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ganforge.detectors.digits import NUM_CLASSES as DIGITS_CLASSES
from ganforge.detectors.digits import RESOLUTION as DIGITS_RESOLUTION
from ganforge.errors import MetricError
from ganforge.metrics.features import MetricOptions, dataset_features, generator_features
from ganforge.metrics.fid import frechet_distance
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.kid import kernel_distance
from ganforge.metrics.ppl import compute_ppl
from ganforge.metrics.precision_recall import precision_recall

DIGITS_NUM_GEN = 2000
DIGITS_IMAGES = (1, DIGITS_RESOLUTION, DIGITS_RESOLUTION)
KID_MAX_REAL = 1_000_000
PR_MAX_REAL = 200_000
PR_K = 3
LEGACY_MAX_REAL = 50000
IS_SPLITS = 10
PPL_NUM_SAMPLES = 50000
PPL_EPSILON = 1e-4
PPL_BATCH = 2

MetricFn = Callable[[MetricOptions], dict[str, float]]


@dataclass(frozen=True)
class Metric:
    """A metric: its name, the detectors it loads, whether it reads the real data, how to compute it,
    and what it needs of the generator and data (checked by `ganforge.metrics.fit`).
    """

    name: str
    detectors: tuple[str, ...]
    needs_data: bool
    fn: MetricFn
    image_shape: tuple[int, int, int] | None = None  # [C, H, W] of the real and generated images, if fixed
    num_classes: int | None = None  # the generator's c_dim, for a metric of class-conditional samples
    style_based: bool = False  # uses G.mapping and G.synthesis
    min_num_gen: int = 2  # the fewest generated samples it can be computed from
    mirrored_reals: bool = False  # reads the reals mirrored when the run was (legacy metrics only)


def _num_gen(opts: MetricOptions, default: int) -> int:
    return default if opts.num_gen is None else opts.num_gen


def fid(opts: MetricOptions, detector: str, num_gen: int, max_real: int | None = None) -> float:
    """FID between the real images (the first `max_real`, or all) and `num_gen` generated ones."""
    real = dataset_features(opts, detector, capture_mean_cov=True, max_items=max_real)
    fake = generator_features(opts, detector, _num_gen(opts, num_gen))
    return frechet_distance(*fake.mean_cov(), *real.mean_cov())


def kid(opts: MetricOptions, detector: str, num_gen: int, max_real: int = KID_MAX_REAL) -> float:
    """KID (100 subsets of at most 1000) between the real images and `num_gen` generated ones."""
    real = dataset_features(opts, detector, capture_all=True, max_items=max_real)
    fake = generator_features(opts, detector, _num_gen(opts, num_gen))
    return kernel_distance(fake.all(), real.all(), num_subsets=100, max_subset_size=1000, seed=opts.seed)


def pr(opts: MetricOptions, num_gen: int, k: int, max_real: int = PR_MAX_REAL) -> tuple[float, float]:
    """Improved precision and recall on VGG16 features."""
    real = dataset_features(opts, "vgg16", capture_all=True, max_items=max_real)
    fake = generator_features(opts, "vgg16", _num_gen(opts, num_gen))
    return precision_recall(
        torch.from_numpy(real.all()).to(opts.device), torch.from_numpy(fake.all()).to(opts.device), k=k
    )


def inception_score_metric(opts: MetricOptions, num_gen: int) -> tuple[float, float]:
    """Inception score (10 splits) of `num_gen` generated images."""
    logits = generator_features(opts, "inception", _num_gen(opts, num_gen), output="logits")
    return inception_score(logits.all(), num_splits=IS_SPLITS)


def class_accuracy(opts: MetricOptions, num_gen: int) -> float:
    """Share of class-balanced samples of a conditional G that digits-v1 classifies as the class asked for."""
    G = opts.generator()
    num = _num_gen(opts, num_gen)
    classes = torch.arange(num) % G.c_dim
    labels = torch.nn.functional.one_hot(classes, G.c_dim).float()
    logits = generator_features(opts, "digits", num, output="logits", labels=labels).all()
    return float(np.mean(logits.argmax(axis=1) == classes.numpy()))


def _ppl(name: str, space: str, sampling: str, crop: bool) -> Metric:
    """A PPL metric over PPL_NUM_SAMPLES paths in `space` with `sampling` (official epsilon and batch)."""
    settings = dict(epsilon=PPL_EPSILON, space=space, sampling=sampling, crop=crop, batch_size=PPL_BATCH)
    fn: MetricFn = lambda o: {name: compute_ppl(o, _num_gen(o, PPL_NUM_SAMPLES), **settings)}  # noqa: E731
    return Metric(name, ("lpips",), False, fn, style_based=True)


def _register(*metrics: Metric) -> dict[str, Metric]:
    return {m.name: m for m in metrics}


METRICS: dict[str, Metric] = _register(
    Metric("fid50k_full", ("inception",), True, lambda o: {"fid50k_full": fid(o, "inception", 50000)}),
    Metric("fid10k_full", ("inception",), True, lambda o: {"fid10k_full": fid(o, "inception", 10000)}),
    Metric("fid2k_full", ("inception",), True, lambda o: {"fid2k_full": fid(o, "inception", 2000)}),
    Metric("kid50k_full", ("inception",), True, lambda o: {"kid50k_full": kid(o, "inception", 50000)}),
    Metric(
        "pr50k3_full", ("vgg16",), True,
        lambda o: dict(zip(("pr50k3_full_precision", "pr50k3_full_recall"), pr(o, 50000, PR_K), strict=True)),
        min_num_gen=PR_K + 1,
    ),
    Metric(
        "is50k", ("inception",), False,
        lambda o: dict(zip(("is50k_mean", "is50k_std"), inception_score_metric(o, 50000), strict=True)),
        min_num_gen=IS_SPLITS,
    ),
    Metric("fid50k", ("inception",), True,
           lambda o: {"fid50k": fid(o, "inception", 50000, max_real=LEGACY_MAX_REAL)}, mirrored_reals=True),
    Metric("kid50k", ("inception",), True,
           lambda o: {"kid50k": kid(o, "inception", 50000, max_real=LEGACY_MAX_REAL)}, mirrored_reals=True),
    Metric(
        "pr50k3", ("vgg16",), True,
        lambda o: dict(zip(("pr50k3_precision", "pr50k3_recall"),
                           pr(o, 50000, PR_K, max_real=LEGACY_MAX_REAL), strict=True)),
        min_num_gen=PR_K + 1, mirrored_reals=True,
    ),
    _ppl("ppl2_wend", space="w", sampling="end", crop=False),
    _ppl("ppl_zfull", space="z", sampling="full", crop=True),
    _ppl("ppl_wfull", space="w", sampling="full", crop=True),
    _ppl("ppl_zend", space="z", sampling="end", crop=True),
    _ppl("ppl_wend", space="w", sampling="end", crop=True),
    Metric("fid_digits", ("digits",), True, lambda o: {"fid_digits": fid(o, "digits", DIGITS_NUM_GEN)},
           image_shape=DIGITS_IMAGES),
    Metric("kid_digits", ("digits",), True, lambda o: {"kid_digits": kid(o, "digits", DIGITS_NUM_GEN)},
           image_shape=DIGITS_IMAGES),
    Metric("class_acc", ("digits",), False, lambda o: {"class_acc": class_accuracy(o, DIGITS_NUM_GEN)},
           image_shape=DIGITS_IMAGES, num_classes=DIGITS_CLASSES),
)


def get_metric(name: str) -> Metric:
    """The metric called `name`, or a MetricError listing the valid names."""
    if name not in METRICS:
        raise MetricError(f"Unknown metric {name!r}; choose from {', '.join(METRICS)}.")
    return METRICS[name]
