"""Tabular data path: splits, scaling on observed entries, masks, and every bad input."""

import os

import numpy as np
import pytest

from data_prep.tabular import load_digits
from gil_jax.data import (DataFileNotFoundError, RawTabular, mean_imputed,
                          prepare_tabular, require_file, validate_tabular)
from gil_jax.data.missingness import apply_mask, mcar_mask


def _raw(n=200, d=4, classes=2, seed=0, missing=0.3):
  rng = np.random.default_rng(seed)
  x = rng.normal(3.0, 2.0, (n, d)).astype(np.float32)
  y = (np.arange(n) % classes).astype(np.int32)
  x[rng.random((n, d)) < missing] = np.nan
  return RawTabular(x=x, y=y, num_classes=classes,
                    feature_names=tuple(f"f{i}" for i in range(d)), name="toy")


def test_splits_are_stratified_disjoint_and_seeded():
  raw = _raw(n=300, classes=3)
  a = prepare_tabular(raw, val_fraction=0.2, test_fraction=0.2, split_seed=1)
  b = prepare_tabular(raw, val_fraction=0.2, test_fraction=0.2, split_seed=1)
  c = prepare_tabular(raw, val_fraction=0.2, test_fraction=0.2, split_seed=2)
  assert a.summary["rows"] == {"train": 180, "val": 60, "test": 60}
  for split in (a.train, a.val, a.test):
    np.testing.assert_array_equal(np.bincount(split.y), [len(split.y) // 3] * 3)
  np.testing.assert_array_equal(a.test.x, b.test.x)
  assert not np.array_equal(a.test.x, c.test.x)


def test_standardisation_uses_observed_training_entries_only():
  raw = _raw(n=400)
  p = prepare_tabular(raw, placeholder=-9.0)
  obs = p.train.m > 0
  for j in range(4):
    col = p.train.x[obs[:, j], j]
    np.testing.assert_allclose(col.mean(), 0.0, atol=1e-5)
    np.testing.assert_allclose(col.std(), 1.0, atol=1e-5)
  np.testing.assert_array_equal(p.train.x[~obs], -9.0)
  np.testing.assert_array_equal(p.train.m, ~np.isnan(p.train.x) & obs)
  assert p.train.x.dtype == np.float32 and p.train.y.dtype == np.int32


def test_centering_subtracts_the_observed_training_mean_and_keeps_units():
  raw = _raw(n=400)
  p = prepare_tabular(raw, scaling="center", placeholder=0.0)
  plain = prepare_tabular(raw, scaling="none")
  obs = p.train.m > 0
  mean = np.array([plain.train.x[obs[:, j], j].mean() for j in range(4)])
  for j in range(4):
    col = p.train.x[obs[:, j], j]
    np.testing.assert_allclose(col.mean(), 0.0, atol=1e-5)
    np.testing.assert_allclose(col.std(), plain.train.x[obs[:, j], j].std(),
                               rtol=1e-5)                 # units kept, not / std
  np.testing.assert_allclose(p.test.x, np.where(p.test.m > 0,
                                                plain.test.x - mean, 0.0), atol=1e-5)
  np.testing.assert_allclose(p.scaler[0], mean, rtol=1e-5)
  np.testing.assert_array_equal(p.scaler[1], 1.0)


def test_mean_placeholder_fills_each_column_with_its_observed_training_mean():
  raw = _raw(n=400)
  p = prepare_tabular(raw, scaling="none", placeholder="mean")
  zero = prepare_tabular(raw, scaling="none")
  for split, ref in zip((p.train, p.val, p.test), (zero.train, zero.val, zero.test)):
    np.testing.assert_array_equal(split.m, ref.m)
    np.testing.assert_allclose(split.x, mean_imputed(ref, zero.train_mean).x,
                               rtol=1e-6)
  np.testing.assert_allclose(p.train_mean, zero.train_mean, rtol=1e-6)
  with pytest.raises(ValueError, match="placeholder must be a number or 'mean'"):
    prepare_tabular(raw, placeholder="median")


def test_mean_imputation_fills_only_missing_entries():
  p = prepare_tabular(_raw(n=200), scaling="none")
  imp = mean_imputed(p.test, p.train_mean)
  obs = p.test.m > 0
  np.testing.assert_array_equal(imp.x[obs], p.test.x[obs])
  rows, cols = np.nonzero(~obs)
  np.testing.assert_allclose(imp.x[rows, cols], p.train_mean[cols])
  assert not np.isnan(imp.x).any()


def test_constant_column_does_not_divide_by_zero():
  raw = _raw()
  raw.x[:, 1] = np.where(np.isnan(raw.x[:, 1]), np.nan, 5.0)
  p = prepare_tabular(raw)
  assert np.isfinite(p.train.x).all()


def test_all_missing_rows_are_legal_and_counted():
  raw = _raw(n=200, missing=0.0)
  raw.x[:10] = np.nan
  p = prepare_tabular(raw, split_seed=0)
  assert sum(p.summary["all_missing_rows"].values()) == 10


def test_mcar_mask_has_requested_rate_and_is_seeded():
  m = mcar_mask((500, 100), 0.7, seed=3)
  assert abs((~m).mean() - 0.7) < 0.01
  np.testing.assert_array_equal(m, mcar_mask((500, 100), 0.7, seed=3))
  assert not np.array_equal(m, mcar_mask((500, 100), 0.7, seed=4))


def test_digits_loader_simulates_mcar():
  raw = load_digits(missing_rate=0.5, mask_seed=0)
  assert raw.x.shape == (1797, 64) and raw.num_classes == 10
  assert abs(np.isnan(raw.x).mean() - 0.5) < 0.02
  np.testing.assert_array_equal(np.isnan(raw.x),
                                np.isnan(load_digits(0.5, 0).x))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("x,y,match", [
    (np.zeros((5, 2, 2), np.float32), np.zeros(5, np.int32), "rank 2"),
    (np.zeros((5, 2), np.int64), np.zeros(5, np.int32), "float"),
    (np.zeros((0, 2), np.float32), np.zeros(0, np.int32), "empty"),
    (np.zeros((5, 2), np.float32), np.zeros(4, np.int32), "5 rows but y has 4"),
    (np.zeros((5, 2), np.float32), np.zeros((5, 1), np.int32), "rank 1"),
    (np.zeros((5, 2), np.float32), np.zeros(5, np.float32), "integer"),
    (np.zeros((5, 2), np.float32), np.array([0, 1, 2, 1, 0]), r"\[0, 2\)"),
    (np.zeros((5, 2), np.float32), np.array([0, 1, -1, 1, 0]), r"\[0, 2\)"),
])
def test_bad_arrays_are_rejected_with_a_named_problem(x, y, match):
  with pytest.raises(ValueError, match=match):
    validate_tabular(x, y, num_classes=2)


def test_infinite_values_are_rejected_naming_the_column():
  raw = _raw()
  raw.x[7, 2] = -np.inf
  with pytest.raises(ValueError, match="inf.*'f2'"):
    prepare_tabular(raw)


def test_single_class_training_split_is_rejected():
  raw = _raw()
  raw = raw._replace(y=np.zeros_like(raw.y))
  with pytest.raises(ValueError, match="single class"):
    prepare_tabular(raw)


def test_empty_split_is_rejected():
  raw = _raw()
  test = RawTabular(x=np.zeros((0, 4), np.float32), y=np.zeros(0, np.int32),
                    num_classes=2, feature_names=raw.feature_names, name="t")
  with pytest.raises(ValueError, match="empty"):
    prepare_tabular(raw, test=test)


def test_column_missing_in_all_training_rows_is_named_or_dropped():
  raw = _raw()
  raw.x[:, 3] = np.nan
  with pytest.raises(ValueError, match="entirely missing.*'f3'"):
    prepare_tabular(raw)
  with pytest.warns(UserWarning, match="'f3'"):
    p = prepare_tabular(raw, drop_all_missing_columns=True)
  assert p.feature_names == ("f0", "f1", "f2") and p.train.x.shape[1] == 3
  assert p.summary["dropped_columns"] == ["f3"]


def test_unknown_scaling_and_bad_fractions_are_rejected():
  with pytest.raises(ValueError, match="scaling"):
    prepare_tabular(_raw(), scaling="minmax")
  with pytest.raises(ValueError, match="fractions"):
    prepare_tabular(_raw(), val_fraction=0.6, test_fraction=0.5)


def test_missing_rate_outside_unit_interval_is_rejected():
  with pytest.raises(ValueError, match=r"\[0, 1\)"):
    mcar_mask((3, 3), 1.0, 0)
  with pytest.raises(ValueError, match="does not match"):
    apply_mask(np.zeros((3, 3)), np.ones((3, 2), bool))


def test_missing_data_file_is_a_named_value_error(tmp_path):
  path = os.path.join(tmp_path, "nope.csv")
  with pytest.raises(ValueError, match="nope.csv"):
    require_file(path)
  with pytest.raises(FileNotFoundError):
    require_file(path)
  with pytest.raises(DataFileNotFoundError):
    require_file(path)


def test_separate_test_set_is_kept_and_validation_carved_from_train():
  raw, test = _raw(n=300, seed=0), _raw(n=50, seed=1)
  p = prepare_tabular(raw, test=test, val_fraction=0.2)
  assert p.summary["rows"] == {"train": 240, "val": 60, "test": 50}
  np.testing.assert_array_equal(p.test.m, ~np.isnan(test.x))


MNIST_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "..", "shared", "data", "mnist")


@pytest.mark.skipif(not os.path.isdir(MNIST_DIR), reason="../shared/data/mnist absent")
def test_mnist_loader_applies_one_seeded_mcar_mask_to_train_and_test(tmp_path):
  from data_prep.tabular import load_mnist
  train, test = load_mnist(0.7, mask_seed=2, data_dir=str(tmp_path))
  assert train.x.shape == (60000, 784) and test.x.shape == (10000, 784)
  assert abs(np.isnan(train.x).mean() - 0.7) < 0.005
  assert abs(np.isnan(test.x).mean() - 0.7) < 0.005
  assert np.nanmax(train.x) <= 1.0
  again, _ = load_mnist(0.7, mask_seed=2, data_dir=str(tmp_path))
  np.testing.assert_array_equal(np.isnan(train.x), np.isnan(again.x))
  with pytest.raises(ValueError, match="mechanism"):
    load_mnist(0.5, mechanism="mnar", data_dir=str(tmp_path))
