"""Tabular datasets as :class:`gil_jax.data.RawTabular` (NaN marks missing values).

* ``digits``: scikit-learn's 8x8 digits (1,797 images, 64 pixels, 10 classes), shipped
  inside scikit-learn, so it needs no download: the stand-in for MNIST in the default
  experiment, with simulated MCAR missingness.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits as _sk_load_digits

from gil_jax.data import RawTabular
from gil_jax.missingness import apply_mask, mcar_mask


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
