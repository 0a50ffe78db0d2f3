"""Imputation baselines: fitted on train only, observed entries untouched, no NaN."""

import numpy as np
import pytest

from gil_jax.data import missingness
from gil_jax.baselines import imputers
from gil_jax.data import Prepared, Split, mean_imputed

D = 8
# Small, fast settings; the defaults are sized for MNIST.
OPTIONS = {
    "knn": {},
    "mice": {},
    "missforest": {},
    "gain": {"num_steps": 1500, "batch_size": 64},
    "em": {},
    # As in tests/test_miwae.py (same shapes: one compiled program per worker).
    "miwae": {"num_steps": 300, "batch_size": 64, "k": 10, "learning_rate": 3e-3,
              "hidden": (32, 32), "latent_dim": 2, "num_samples": 200},
}
# Imputers that refuse a column with no observed training value (no statistic of
# it to model) instead of filling it with a constant.
REFUSE_EMPTY_COLUMNS = {"em", "miwae"}


def _low_rank(rng, n):
  # Rank-2 data plus a little noise: every column is predictable from the others.
  w = np.random.default_rng(100).normal(size=(2, D))
  return (rng.normal(size=(n, 2)) @ w + 0.1 * rng.normal(size=(n, D))).astype(
      np.float32)


def _split(x, seed, rate=0.3):
  m = missingness.mcar_mask(x.shape, rate, seed).astype(np.float32)
  return Split(x=np.where(m > 0, x, 0.0).astype(np.float32), m=m,
               y=np.arange(len(x), dtype=np.int32) % 2)


@pytest.fixture(scope="module")
def problem():
  rng = np.random.default_rng(0)
  truth = [_low_rank(rng, n) for n in (600, 150, 150)]
  splits = tuple(_split(x, seed) for seed, x in enumerate(truth))
  return splits, truth


@pytest.fixture(scope="module")
def imputed(problem):
  splits, _ = problem
  # The table imputers (GP-VAE imputes sequences: tests/test_gpvae.py).
  return {name: imputers.IMPUTERS[name](*splits, seed=0, **OPTIONS[name])
          for name in OPTIONS}


def test_registry_names():
  assert set(imputers.IMPUTERS) == {"knn", "mice", "missforest", "gain", "em",
                                    "miwae", "gpvae"}
  assert set(imputers.FITTERS) == set(imputers.IMPUTERS)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_observed_untouched_and_no_nan(problem, imputed, name):
  splits, _ = problem
  for before, after in zip(splits, imputed[name]):
    assert after.x.dtype == np.float32 and after.x.shape == before.x.shape
    assert np.all(np.isfinite(after.x))
    obs = before.m > 0
    # Bit-for-bit: compare the raw float32 bit patterns.
    np.testing.assert_array_equal(after.x.view(np.uint32)[obs],
                                  before.x.view(np.uint32)[obs])
    np.testing.assert_array_equal(after.m, before.m)
    np.testing.assert_array_equal(after.y, before.y)
    assert not np.array_equal(after.x[~obs], before.x[~obs])  # something imputed


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_beats_mean_imputation_on_correlated_data(problem, imputed, name):
  splits, truth = problem
  train_mean = (splits[0].x * splits[0].m).sum(0) / splits[0].m.sum(0)
  for split, after, x in list(zip(splits, imputed[name], truth))[1:]:
    mse = imputers.imputation_mse(after.x, x, split.m)
    mean_mse = imputers.imputation_mse(mean_imputed(split, train_mean).x, x,
                                       split.m)
    assert mse < 0.5 * mean_mse, (name, mse, mean_mse)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_val_test_use_training_fit_only(problem, imputed, name):
  """An imputer fitted on train maps each evaluation row on its own: changing some
  validation rows must not move the imputation of any other row."""
  splits, _ = problem
  train, val, test = splits
  wild = val.x.copy()
  wild[:75] = wild[:75] * 50.0 + 1000.0 * val.m[:75]
  val2 = val._replace(x=wild)
  out = imputers.IMPUTERS[name](train, val2, test, seed=0, **OPTIONS[name])
  ref = imputed[name]
  np.testing.assert_array_equal(out[0].x, ref[0].x)
  np.testing.assert_array_equal(out[1].x[75:], ref[1].x[75:])
  np.testing.assert_array_equal(out[2].x, ref[2].x)


def test_gain_same_seed_same_result(problem, imputed):
  splits, _ = problem
  again = imputers.gain(*splits, seed=0, **OPTIONS["gain"])
  other = imputers.gain(*splits, seed=1, **OPTIONS["gain"])
  for a, b, c in zip(imputed["gain"], again, other):
    np.testing.assert_array_equal(a.x, b.x)
  assert not np.array_equal(imputed["gain"][1].x, other[1].x)


def test_gain_losses_recorded(problem):
  model = imputers.fit_gain(problem[0][0], seed=0, **OPTIONS["gain"])
  assert model.d_loss.shape == (1500,) and np.all(np.isfinite(model.d_loss))
  # The reconstruction of observed entries improves during training.
  assert model.g_mse[-100:].mean() < 0.5 * model.g_mse[:100].mean()


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_column_missing_throughout_training(problem, name):
  splits, _ = problem
  train = splits[0]
  m = train.m.copy()
  m[:, -1] = 0.0
  train = train._replace(x=np.where(m > 0, train.x, 0.0).astype(np.float32), m=m)
  if name in REFUSE_EMPTY_COLUMNS:
    with pytest.raises(ValueError, match=r"column\(s\) \[7\] have no observed"):
      imputers.IMPUTERS[name](train, *splits[1:], seed=0, **OPTIONS[name])
    return
  out = imputers.IMPUTERS[name](train, *splits[1:], seed=0, **OPTIONS[name])
  assert all(np.all(np.isfinite(s.x)) for s in out)


def test_fit_subsample_is_seeded(problem):
  splits, truth = problem
  a = imputers.knn(*splits, seed=3, max_fit_rows=100)
  b = imputers.knn(*splits, seed=3, max_fit_rows=100)
  c = imputers.knn(*splits, seed=4, max_fit_rows=100)
  np.testing.assert_array_equal(a[1].x, b[1].x)
  assert not np.array_equal(a[1].x, c[1].x)
  with pytest.raises(ValueError, match="max_fit_rows"):
    imputers.knn(*splits, seed=0, max_fit_rows=0)


def test_impute_prepared(problem):
  splits, _ = problem
  prepared = Prepared(train=splits[0], val=splits[1], test=splits[2], num_classes=2,
                      feature_names=tuple(f"f{i}" for i in range(D)),
                      train_mean=np.zeros(D, np.float32), summary={})
  out = imputers.impute(prepared, "mice", seed=0, max_iter=3)
  assert isinstance(out, Prepared)
  assert out.summary["imputer"] == {"method": "mice", "seed": 0, "max_iter": 3}
  assert np.all(np.isfinite(out.test.x))
  with pytest.raises(ValueError, match="unknown imputer"):
    imputers.impute(prepared, "softimpute", seed=0)


def test_bad_splits_rejected(problem):
  train, val, test = problem[0]
  with pytest.raises(ValueError, match="columns"):
    imputers.knn(train, val._replace(x=val.x[:, :3], m=val.m[:, :3]), test)
  with pytest.raises(ValueError, match="only 0"):
    imputers.mice(train, val._replace(m=val.m * 0.5), test)
  with pytest.raises(ValueError, match="observed entries"):
    bad = train.x.copy()
    bad[train.m > 0] = np.nan
    imputers.missforest(train._replace(x=bad), val, test)
  with pytest.raises(ValueError, match="alpha"):
    imputers.gain(train, val, test, alpha=-1.0)
  with pytest.raises(ValueError, match="forest"):
    imputers.missforest(train, val, test, forest="boosting")


def test_imputation_mse():
  true = np.array([[1.0, 2.0, np.nan], [4.0, 5.0, 6.0]])
  imputed = np.array([[1.0, 3.0, 9.0], [4.0, 5.0, 8.0]])
  mask = np.array([[1, 0, 0], [1, 1, 0]])
  # Scored: (0,1) error 1, (1,2) error 2; (0,2) has no known truth.
  assert imputers.imputation_mse(imputed, true, mask) == pytest.approx(2.5)
  with pytest.raises(ValueError, match="no missing entry"):
    imputers.imputation_mse(imputed, true, np.ones_like(mask))
  with pytest.raises(ValueError, match="shapes"):
    imputers.imputation_mse(imputed[:1], true, mask)


def test_mice_clip_keeps_imputations_in_the_observed_training_range():
  # Column 1 = 10 x column 0 in training (x0 in [0, 1]); a test row with x0 = 5
  # makes the regression extrapolate to ~50 unless clipped to column 1's range.
  rng = np.random.default_rng(0)
  x0 = rng.uniform(0, 1, 300)
  train_x = np.stack([x0, 10 * x0, rng.normal(size=300), np.full(300, 2.0)],
                     1).astype(np.float32)      # last: constant (MNIST's borders)
  train_m = np.ones_like(train_x)
  train_m[::3, 1] = 0                      # some missing, so column 1 is imputed
  train_m[::5, 3] = 0
  train = Split(x=train_x * train_m, m=train_m, y=np.arange(300, dtype=np.int32) % 2)
  test_x = np.array([[5.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0]], np.float32)
  test = Split(x=test_x, m=np.array([[1, 0, 1, 0], [1, 0, 1, 0]], np.float32),
               y=np.array([0, 1], np.int32))
  free = imputers.mice(train, test, test, seed=0, max_iter=3)[2].x
  clipped = imputers.mice(train, test, test, seed=0, max_iter=3, clip=True)[2].x
  hi = train_x[train_m[:, 1] > 0, 1].max()
  assert free[0, 1] > 2 * hi                               # extrapolated
  np.testing.assert_allclose(clipped[0, 1], hi, rtol=1e-5)  # clipped at the max
  np.testing.assert_allclose(clipped[1, 1], free[1, 1], rtol=1e-4)  # in range: same
  np.testing.assert_array_equal(clipped[:, [0, 2]], test_x[:, [0, 2]])
  np.testing.assert_allclose(clipped[:, 3], 2.0, rtol=1e-5)   # the constant
