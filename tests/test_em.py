"""EM imputation: the Gaussian it recovers, its imputations, saving, bad input."""

import numpy as np
import pytest

from gil_jax.baselines import em, imputers
from gil_jax.data import Split, mean_imputed, missingness

D = 5


def _gaussian(n, seed):
  rng = np.random.default_rng(seed)
  a = np.random.default_rng(7).normal(size=(D, 2))
  cov = a @ a.T + 0.1 * np.eye(D)              # strongly correlated columns
  mu = np.array([3.0, -1.0, 0.5, 10.0, 0.0])
  return rng.multivariate_normal(mu, cov, size=n)


def _split(x, m):
  m = np.asarray(m, np.float32)
  return Split(x=np.where(m > 0, x, 0.0).astype(np.float32), m=m,
               y=np.zeros(len(x), np.int32))


def test_recovers_mean_and_covariance_from_mcar_and_mar_samples():
  x = _gaussian(4000, 0)
  full_mu, full_cov = x.mean(0), np.cov(x.T, bias=True)
  mcar = missingness.mcar_mask(x.shape, 0.4, 1)
  # MAR: column 1 is missing where column 0 (always observed) is high, so the
  # observed mean of column 1 is biased; EM uses column 0 to correct it.
  mar = np.ones(x.shape)
  mar[x[:, 0] > np.median(x[:, 0]), 1] = 0
  for m in (mcar, mar):
    model = em.fit(_split(x, m), ridge=1e-6)
    # Every iteration increases the penalised observed-data log-likelihood.
    assert np.all(np.diff(model.objective) > -1e-9)
    obs_mu = (x * m).sum(0) / m.sum(0)
    mean_filled = np.where(m > 0, x, obs_mu)
    err_mu = np.abs(model.mean - full_mu).max()
    err_cov = np.abs(model.cov - full_cov).max()
    # Close to the full-data estimate, far closer than the mean-imputed data's.
    assert err_mu < 0.05, err_mu
    assert err_cov < 0.05 * np.abs(full_cov).max()
    assert err_cov < 0.1 * np.abs(np.cov(mean_filled.T, bias=True) - full_cov).max()
  assert np.abs(obs_mu - full_mu).max() > 0.3     # MAR: the observed mean is off


def test_imputation_beats_mean_imputation_on_held_out_correlated_rows():
  train_x, test_x = _gaussian(2000, 1), _gaussian(500, 2)
  train = _split(train_x, missingness.mcar_mask(train_x.shape, 0.3, 3))
  test = _split(test_x, missingness.mcar_mask(test_x.shape, 0.3, 4))
  fitted = imputers.FITTERS["em"](train, seed=0)
  out = imputers.apply_imputer(fitted, test)
  train_mean = (train.x * train.m).sum(0) / train.m.sum(0)
  mse = imputers.imputation_mse(out.x, test_x, test.m)
  mean_mse = imputers.imputation_mse(mean_imputed(test, train_mean).x, test_x,
                                     test.m)
  assert mse < 0.6 * mean_mse, (mse, mean_mse)
  # The imputation is the Gaussian conditional mean: a row with one missing
  # column gets mu_u + Sigma_uo Sigma_oo^-1 (x_o - mu_o).
  row = np.flatnonzero(test.m.sum(1) == D - 1)[0]
  u = np.flatnonzero(test.m[row] == 0)[0]
  o = np.flatnonzero(test.m[row] > 0)
  mu, cov = fitted.model.mean, fitted.model.cov
  expected = mu[u] + cov[u, o] @ np.linalg.solve(cov[np.ix_(o, o)],
                                                 test.x[row, o] - mu[o])
  np.testing.assert_allclose(out.x[row, u], expected, rtol=1e-4)


def test_saved_and_reloaded_imputer_imputes_identically(tmp_path):
  x = _gaussian(300, 5)
  split = _split(x, missingness.mcar_mask(x.shape, 0.3, 6))
  fitted = imputers.FITTERS["em"](split, seed=0)
  imputers.save(fitted, str(tmp_path / "em.skops"))
  back = imputers.load(str(tmp_path / "em.skops"))
  assert isinstance(back.model, em.EMModel)
  np.testing.assert_array_equal(imputers.apply_imputer(back, split).x,
                                imputers.apply_imputer(fitted, split).x)


def test_bad_input_is_refused_with_a_clear_error():
  x = _gaussian(100, 8)
  m = np.ones(x.shape)
  m[:, 2] = 0
  with pytest.raises(ValueError, match=r"column\(s\) \[2\] have no observed"):
    imputers.FITTERS["em"](_split(x, m))
  with pytest.raises(ValueError, match="no observed entry"):
    imputers.FITTERS["em"](_split(x, 0 * m))
  with pytest.raises(ValueError, match="ridge"):
    em.fit(_split(x, np.ones(x.shape)), ridge=0.0)
