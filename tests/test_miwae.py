"""MIWAE: the importance-weighted bound, its imputations, saving, bad input."""

import jax
import numpy as np
import pytest

from gil_jax.baselines import imputers, miwae
from gil_jax.data import Split, mean_imputed, missingness

D = 8
# Small and fast; the defaults are the authors' UCI settings.
OPTIONS = {"num_steps": 300, "batch_size": 64, "k": 10, "learning_rate": 3e-3,
           "hidden": (32, 32), "latent_dim": 2, "num_samples": 200}


def _low_rank(n, seed):
  w = np.random.default_rng(100).normal(size=(2, D))
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(n, 2)) @ w + 0.1 * rng.normal(size=(n, D))).astype(
      np.float32)


def _split(x, seed, rate=0.3):
  m = missingness.mcar_mask(x.shape, rate, seed).astype(np.float32)
  return Split(x=np.where(m > 0, x, 0.0).astype(np.float32), m=m,
               y=np.zeros(len(x), np.int32))


@pytest.fixture(scope="module")
def fitted():
  truth = _low_rank(600, 0), _low_rank(200, 1)
  train, test = _split(truth[0], 0), _split(truth[1], 1)
  fit = imputers.FITTERS["miwae"](train, seed=0, **OPTIONS)
  return fit.model, train, test, truth


def _prior_encoder(model):
  """``model`` with its encoder's output fixed to ``q(z | x) = N(0, I) = p(z)``."""
  params = jax.tree.map(np.array, model.params)
  last = params["encoder"]["params"][f"Dense_{len(model.hidden)}"]
  last["kernel"][:] = 0.0
  last["bias"][:model.latent_dim] = 0.0
  last["bias"][model.latent_dim:] = np.log(np.expm1(1.0))   # softplus^-1(1)
  return model._replace(params=params)


def test_bound_tightens_with_k_and_is_exact_where_nothing_is_observed(fitted):
  model, train, _, _ = fitted
  assert model.bound[-100:].mean() > model.bound[:100].mean() + 1.0  # it learned
  ks = (1, 5, 50)
  bounds = model.log_bounds(train, jax.random.key(3), ks)
  means = bounds.mean(1)
  se = bounds.std(1) / np.sqrt(bounds.shape[1])
  # E[L_1] <= E[L_5] <= E[L_50] <= log p(x_o) (Burda et al.): well beyond noise.
  assert means[1] - means[0] > 3 * se[0] and means[2] - means[1] > 3 * se[1]
  # With q = p(z), a row with nothing observed has every weight p(x_o | z) = 1:
  # its bound is log 1 = 0 for every K (so missing coordinates do not enter
  # p(x_o | z), and the bound averages the K ratios rather than summing them).
  empty = train._replace(x=np.full_like(train.x, 7.0), m=np.zeros_like(train.m))
  exact = _prior_encoder(model).log_bounds(empty, jax.random.key(4), ks)
  np.testing.assert_allclose(exact, 0.0, atol=1e-4)


def test_imputations_beat_the_mean_and_keep_rows_independent(fitted):
  model, train, test, truth = fitted
  model_fit = imputers.FittedImputer("miwae", model, 0)
  out = imputers.apply_imputer(model_fit, test)
  train_mean = (train.x * train.m).sum(0) / train.m.sum(0)
  mse = imputers.imputation_mse(out.x, truth[1], test.m)
  mean_mse = imputers.imputation_mse(mean_imputed(test, train_mean).x, truth[1],
                                     test.m)
  assert mse < 0.25 * mean_mse, (mse, mean_mse)
  observed = test.m > 0
  np.testing.assert_array_equal(out.x[observed], test.x[observed])
  # Other rows' values (and the placeholder at missing entries) change nothing.
  other = test._replace(x=np.where(observed, test.x, 123.0).astype(np.float32))
  other.x[:100] = other.x[:100] * 30.0 + 5.0
  again = imputers.apply_imputer(model_fit, other)
  np.testing.assert_array_equal(again.x[100:], out.x[100:])


def test_saved_and_reloaded_model_imputes_identically_and_seed_fixes_it(
    fitted, tmp_path):
  model, train, test, _ = fitted
  fit = imputers.FittedImputer("miwae", model, 0)
  imputers.save(fit, str(tmp_path / "miwae.skops"))
  back = imputers.load(str(tmp_path / "miwae.skops"))
  assert isinstance(back.model, miwae.MiwaeModel)
  np.testing.assert_array_equal(imputers.apply_imputer(back, test).x,
                                imputers.apply_imputer(fit, test).x)
  again = imputers.FITTERS["miwae"](train, seed=0, **OPTIONS)
  np.testing.assert_array_equal(again.model.bound, model.bound)


def test_bad_input_is_refused_with_a_clear_error(fitted):
  _, train, _, _ = fitted
  m = train.m.copy()
  m[:, 3] = 0.0
  with pytest.raises(ValueError, match=r"column\(s\) \[3\] have no observed"):
    miwae.fit(train._replace(m=m), **OPTIONS)
  with pytest.raises(ValueError, match="no observed entry"):
    imputers.FITTERS["miwae"](train._replace(m=0 * train.m), **OPTIONS)
  with pytest.raises(ValueError, match="likelihood"):
    miwae.fit(train, likelihood="poisson")
  with pytest.raises(ValueError, match="k must be"):
    miwae.fit(train, k=0)
  fit = imputers.FittedImputer("miwae", fitted[0], 0)
  with pytest.raises(ValueError, match="fitted on 8 columns"):
    imputers.apply_imputer(fit, train._replace(x=train.x[:, :5], m=train.m[:, :5]))
