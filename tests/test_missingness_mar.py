"""MAR masks (paper sec. 4.4): calibration, reproducibility, the MAR dependence."""

import numpy as np
import pytest
from scipy import stats

from gil_jax.data import missingness


@pytest.fixture(scope="module")
def data():
  # Rows differ in level, so the observed part's mean varies from row to row.
  rng = np.random.default_rng(0)
  level = rng.normal(size=(3000, 1))
  return (level + 0.5 * rng.normal(size=(3000, 40))).astype(np.float32)


def _row_missing_rate(mask, rest):
  return 1.0 - mask[:, rest].mean(axis=1)


def test_overall_rate_matches_and_observed_region_is_kept(data):
  for rate in (0.1, 0.3, 0.55):
    mask = missingness.mar_mask(data, rate, seed=1, observed_fraction=0.4)
    assert mask.dtype == bool and mask.shape == data.shape
    assert abs((1.0 - mask.mean()) - rate) < 0.01
    # region="last": the last 16 of 40 columns are always observed.
    assert mask[:, -16:].all()


def test_calibration_is_exact_in_expectation(data):
  cols, p = missingness.mar_row_probabilities(data, 0.3, seed=0,
                                              observed_fraction=0.25)
  d = data.shape[1]
  np.testing.assert_array_equal(cols, np.arange(30, 40))
  assert p.mean() * (d - cols.size) / d == pytest.approx(0.3, abs=1e-9)


def test_same_seed_same_mask_other_seed_other_mask(data):
  a = missingness.mar_mask(data, 0.3, seed=5)
  b = missingness.mar_mask(data, 0.3, seed=5)
  c = missingness.mar_mask(data, 0.3, seed=6)
  np.testing.assert_array_equal(a, b)
  assert (a != c).any()
  r1 = missingness.mar_mask(data, 0.3, seed=5, region="random")
  r2 = missingness.mar_mask(data, 0.3, seed=5, region="random")
  np.testing.assert_array_equal(r1, r2)
  always = r1.all(axis=0)
  assert always.sum() == 20 and not always[-20:].all()  # not the "last" region


def test_missingness_depends_on_observed_part_only(data):
  cols = np.arange(30, 40)
  rest = np.arange(30)
  feature = data[:, cols].mean(axis=1)
  pos = missingness.mar_mask(data, 0.4, seed=2, observed_columns=cols, strength=2.0)
  neg = missingness.mar_mask(data, 0.4, seed=2, observed_columns=cols, strength=-2.0)
  mcar = missingness.mcar_mask(data.shape, 0.4, seed=2)
  r_pos, p_pos = stats.pearsonr(feature, _row_missing_rate(pos, rest))
  r_neg, p_neg = stats.pearsonr(feature, _row_missing_rate(neg, rest))
  r_mcar, _ = stats.pearsonr(feature, _row_missing_rate(mcar, rest))
  assert r_pos > 0.5 and p_pos < 1e-10
  assert r_neg < -0.5 and p_neg < 1e-10
  assert abs(r_mcar) < 0.08  # ~4 standard errors for 3000 rows
  # MAR, not MNAR: the values outside the observed region do not move the mask.
  scrambled = data.copy()
  scrambled[:, rest] = np.random.default_rng(9).normal(size=(len(data), 30)) * 10
  np.testing.assert_array_equal(
      pos, missingness.mar_mask(scrambled, 0.4, seed=2, observed_columns=cols,
                                strength=2.0))


def test_images_bottom_half_observed_whole_pixel_rows_missing():
  rng = np.random.default_rng(3)
  images = rng.random((500, 28, 28)).astype(np.float32)
  images *= rng.random((500, 1, 1))  # brightness varies per image
  mask = missingness.mar_mask(images, 0.3, seed=0, observed_fraction=0.5,
                              group_size=28)
  assert mask.shape == images.shape
  assert mask[:, 14:, :].all()
  # Each pixel row of the top half is either entirely observed or entirely missing.
  rows = mask[:, :14, :]
  assert np.all(rows.all(axis=2) | ~rows.any(axis=2))
  assert abs((1.0 - mask.mean()) - 0.3) < 0.02
  brightness = images[:, 14:, :].mean(axis=(1, 2))
  r, _ = stats.pearsonr(brightness, 1.0 - rows.mean(axis=(1, 2)))
  assert r > 0.3


def test_rate_zero_and_strength_zero(data):
  assert missingness.mar_mask(data, 0.0, seed=0).all()
  flat = missingness.mar_mask(data, 0.3, seed=0, observed_fraction=0.5, strength=0.0)
  _, p = missingness.mar_row_probabilities(data, 0.3, 0, 0.5, strength=0.0)
  np.testing.assert_allclose(p, 0.6)
  assert abs((1.0 - flat.mean()) - 0.3) < 0.01


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_bad_rate_rejected(data, rate):
  with pytest.raises(ValueError, match="missing rate"):
    missingness.mar_mask(data, rate, seed=0)


def test_empty_observed_region_rejected(data):
  with pytest.raises(ValueError, match="always-observed region is empty"):
    missingness.mar_mask(data, 0.3, seed=0, observed_fraction=0.01)
  with pytest.raises(ValueError, match="always-observed region is empty"):
    missingness.mar_mask(data, 0.3, seed=0,
                         observed_columns=np.zeros(40, bool))
  with pytest.raises(ValueError, match="observed_fraction"):
    missingness.mar_mask(data, 0.3, seed=0, observed_fraction=0.0)


def test_other_bad_arguments_rejected(data):
  with pytest.raises(ValueError, match="unreachable"):
    missingness.mar_mask(data, 0.5, seed=0, observed_fraction=0.5)
  with pytest.raises(ValueError, match="unreachable"):
    missingness.mar_mask(data, 0.1, seed=0, observed_fraction=1.0)
  with pytest.raises(ValueError, match="region"):
    missingness.mar_mask(data, 0.3, seed=0, region="middle")
  with pytest.raises(ValueError, match="group_size"):
    missingness.mar_mask(data, 0.3, seed=0, group_size=0)
  with pytest.raises(ValueError, match=r"lie in \[0, 40\)"):
    missingness.mar_mask(data, 0.3, seed=0, observed_columns=[3, 40])
  with pytest.raises(ValueError, match="shape"):
    missingness.mar_mask(data[0], 0.3, seed=0)
