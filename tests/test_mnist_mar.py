"""MNIST loader with MAR masks (the MAR column of the paper's Table 3)."""

import numpy as np
import pytest

from data_prep import mnist
from data_prep import tabular


@pytest.fixture
def fake_mnist(monkeypatch):
  rng = np.random.default_rng(0)
  arrays = {"x_train": rng.random((300, 784)).astype(np.float32),
            "y_train": (np.arange(300) % 10).astype(np.int32),
            "x_test": rng.random((100, 784)).astype(np.float32),
            "y_test": (np.arange(100) % 10).astype(np.int32)}
  monkeypatch.setattr(mnist, "load_mnist", lambda **kw: arrays)
  return arrays


def test_mar_keeps_the_bottom_half_and_drops_whole_rows_of_the_top(fake_mnist):
  train, test = tabular.load_mnist(0.35, mask_seed=3, mechanism="mar")
  x = np.concatenate([train.x, test.x]).reshape(-1, 28, 28)
  missing = np.isnan(x)
  assert not missing[:, 14:].any()                       # always observed
  rows = missing[:, :14]
  assert (rows.all(-1) == rows.any(-1)).all()            # whole pixel rows
  assert abs(missing.mean() - 0.35) < 0.03
  # Missingness depends on the observed half: brighter bottoms lose more rows.
  bright = x[:, 14:].mean((1, 2))
  lost = rows.all(-1).mean(-1)
  assert np.corrcoef(bright, lost)[0, 1] > 0.3
  # Fixed per mask seed; observed values untouched.
  again, _ = tabular.load_mnist(0.35, mask_seed=3, mechanism="mar")
  np.testing.assert_array_equal(np.isnan(again.x), np.isnan(train.x))
  keep = ~np.isnan(train.x)
  np.testing.assert_array_equal(train.x[keep], fake_mnist["x_train"][keep])


def test_bad_mechanism_rate_and_region_are_errors(fake_mnist):
  with pytest.raises(ValueError, match="mechanism"):
    tabular.load_mnist(0.3, mechanism="mnar")
  with pytest.raises(ValueError, match=r"\[0, 1\)"):
    tabular.load_mnist(1.0, mechanism="mar")
  with pytest.raises(ValueError, match="observed"):
    tabular.load_mnist(0.3, mechanism="mar", mar_observed_fraction=0.0)
  with pytest.raises(ValueError):       # 60 % cannot be reached outside half
    tabular.load_mnist(0.6, mechanism="mar")
