"""Tabular datasets as :class:`gil_jax.data.RawTabular` (NaN marks missing values).

* ``digits``: scikit-learn's 8x8 digits (1,797 images, 64 pixels, 10 classes), shipped
  inside scikit-learn, so it needs no download: the stand-in for MNIST in the default
  experiment, with simulated MCAR missingness.
* ``mnist``: MNIST from the local TFDS builder (``data_prep/mnist.py``), 60k training
  and the official 10k test images as ``(train, test)``, with simulated MCAR missing
  pixels (paper sec. 4.4).  One mask is drawn over all 70k images, so train and test
  masks are fixed by the same mask seed.
* ``toy_sequences``: a synthetic, fixed-length sequence task (no download) for tests
  and quick checks of the sequence code path.
* ``toy_blobs``: two Gaussian blobs with MCAR entries, for tests.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits as _sk_load_digits

from gil_jax.data import RawSequences, RawTabular
from gil_jax.data.missingness import apply_mask, check_rate, mar_mask, mcar_mask


def load_digits(missing_rate: float = 0.5, mask_seed: int = 0) -> RawTabular:
  """scikit-learn digits with MCAR missing pixels (values 0..16, NaN = missing)."""
  bunch = _sk_load_digits()
  x = bunch.data.astype(np.float32)
  observed = mcar_mask(x.shape, missing_rate, mask_seed)
  return RawTabular(x=apply_mask(x, observed), y=bunch.target.astype(np.int32),
                    num_classes=10,
                    feature_names=tuple(f"pixel_{r}_{c}" for r in range(8)
                                        for c in range(8)),
                    name="digits")


def load_mnist(missing_rate: float = 0.5, mask_seed: int = 0,
               mechanism: str = "mcar", data_dir: str | None = None,
               manual_dir: str | None = None, tfds_name: str | None = None,
               mar_observed_fraction: float = 0.5, mar_group_size: int = 28,
               mar_strength: float = 2.0) -> tuple[RawTabular, RawTabular]:
  """MNIST (pixels in [0, 1]) with simulated missing pixels, as ``(train, test)``.

  Args:
    missing_rate: share of pixels removed, in [0, 1).
    mask_seed: seed of the mask; the same seed gives every method the same masks.
    mechanism: ``"mcar"`` (missing completely at random) or ``"mar"`` (missing at
      random, :func:`gil_jax.data.missingness.mar_mask`: the bottom
      ``mar_observed_fraction`` of each image is always observed and the chance that
      each remaining group of ``mar_group_size`` pixels (28 = a pixel row) is missing
      rises with the observed part's mean brightness, slope ``mar_strength``;
      ``missing_rate`` is the overall expected rate).
    data_dir, manual_dir, tfds_name: see :func:`data_prep.mnist.load_mnist`.
    mar_observed_fraction, mar_group_size, mar_strength: the MAR mask's shape.
  """
  from data_prep import mnist  # local: importing TFDS is slow; only MNIST needs it
  check_rate(missing_rate)
  if mechanism not in ("mcar", "mar"):
    raise ValueError(f"unknown missingness mechanism {mechanism!r}; use 'mcar' or "
                     "'mar'")
  arrays = mnist.load_mnist(data_dir=data_dir, manual_dir=manual_dir,
                            tfds_name=tfds_name)
  x = np.concatenate([arrays["x_train"], arrays["x_test"]])
  if mechanism == "mar" and missing_rate > 0:
    observed = mar_mask(x, missing_rate, mask_seed,
                        observed_fraction=mar_observed_fraction,
                        group_size=mar_group_size, strength=mar_strength)
  else:
    observed = mcar_mask(x.shape, missing_rate, mask_seed)
  x = apply_mask(x, observed)
  n = len(arrays["x_train"])
  names = tuple(f"pixel_{r}_{c}" for r in range(28) for c in range(28))
  return (RawTabular(x=x[:n], y=arrays["y_train"].astype(np.int32), num_classes=10,
                     feature_names=names, name="mnist"),
          RawTabular(x=x[n:], y=arrays["y_test"].astype(np.int32), num_classes=10,
                     feature_names=names, name="mnist"))


def load_toy_sequences(num_sequences: int = 400, steps: int = 12,
                       features: int = 5, missing_rate: float = 0.6,
                       mask_seed: int = 0, data_seed: int = 0) -> RawSequences:
  """Synthetic binary sequences of fixed length, MCAR missing.

  Class 1 drifts upwards over time in the first two variables (slope 0.15 per step),
  class 0 does not; every variable also carries unit Gaussian noise.  All sequences
  have ``steps`` valid steps.  Meant for tests and smoke runs of the LSTM path
  (``launch/configs/toy_sequences.py``), not for benchmarking.
  """
  check_rate(missing_rate)
  rng = np.random.default_rng(data_seed)
  y = (np.arange(num_sequences) % 2).astype(np.int32)
  x = rng.normal(size=(num_sequences, steps, features))
  drift = 0.15 * np.arange(steps)[None, :, None] * y[:, None, None]
  x[:, :, :2] += drift
  observed = mcar_mask(x.shape, missing_rate, mask_seed)
  return RawSequences(x=apply_mask(x.astype(np.float32), observed), y=y,
                      length=np.full(num_sequences, steps, np.int32), num_classes=2,
                      feature_names=tuple(f"v{j}" for j in range(features)),
                      name="toy_sequences")


def load_toy_blobs(num_rows: int = 300, features: int = 6, shift: float = 1.5,
                   missing_rate: float = 0.3, seed: int = 0,
                   name: str = "blobs") -> RawTabular:
  """Two Gaussian blobs (class 1 shifted by ``shift`` in every feature), MCAR
  missing; rows alternate between the classes.  For tests and smoke runs."""
  check_rate(missing_rate)
  rng = np.random.default_rng(seed)
  y = (np.arange(num_rows) % 2).astype(np.int32)
  x = rng.normal(0, 1, (num_rows, features)) + shift * y[:, None]
  x = apply_mask(x.astype(np.float32), mcar_mask(x.shape, missing_rate, seed))
  return RawTabular(x=x, y=y, num_classes=2,
                    feature_names=tuple(f"f{i}" for i in range(features)), name=name)
