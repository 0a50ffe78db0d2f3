"""GP-VAE: the prior KL against the Gaussian KL in closed form, imputations that
track a smooth latent signal, varied lengths; BRITS and GP-VAE from the launcher,
saved and scored on an external set."""

import jax.numpy as jnp
import numpy as np
import pytest
from test_launch_methods import (_evaluate_on_internal_test_rows, _sequence_config,
                                 _toy_sequences, _write_csv_set)

from gil_jax import data as data_lib
from gil_jax.baselines import gpvae, imputers
from launch import experiment, saved_models


def _gaussian_kl(mean, cov_q, cov_p):
  """KL(N(mean, cov_q) || N(0, cov_p)) by the textbook formula."""
  inv_p = np.linalg.inv(cov_p)
  return 0.5 * (np.trace(inv_p @ cov_q) + mean @ inv_p @ mean - len(mean)
                + np.linalg.slogdet(cov_p)[1] - np.linalg.slogdet(cov_q)[1])


def test_prior_kl_is_the_gaussian_kl_and_ignores_padding():
  rng = np.random.default_rng(0)
  sigma, length_scale, steps = 1.005, 2.0, 3
  t = np.arange(steps, dtype=np.float64)
  cov_p = (sigma / (1 + (t[:, None] - t[None, :]) ** 2 / length_scale ** 2)
           + 1e-3 * np.eye(steps))
  # One sequence, two latent channels; B upper bidiagonal with positive diagonal.
  diag = rng.uniform(0.5, 2.0, (1, 2, steps))
  upper = rng.normal(size=(1, 2, steps))
  mean = rng.normal(size=(1, 2, steps))
  valid = np.ones((1, steps), bool)
  b = gpvae.bidiagonal(jnp.asarray(diag), jnp.asarray(upper), valid[:, None, :])
  expected = 0.0
  for j in range(2):
    bj = np.diag(diag[0, j]) + np.diag(upper[0, j, :-1], k=1)
    expected += _gaussian_kl(mean[0, j], np.linalg.inv(bj.T @ bj), cov_p)
  kl = gpvae.prior_kl(jnp.asarray(mean, jnp.float32),
                      tuple(v.astype(jnp.float32) for v in b),
                      gpvae.cauchy_kernel(steps, sigma, length_scale), valid)
  np.testing.assert_allclose(kl, [expected], rtol=1e-4)

  # The same sequence padded to 5 steps with garbage there: the same KL.
  pad = lambda v: np.concatenate([v, rng.normal(size=v.shape[:-1] + (2,)) + 3], -1)
  valid5 = np.arange(5)[None, :] < steps
  b5 = gpvae.bidiagonal(jnp.asarray(np.abs(pad(diag))), jnp.asarray(pad(upper)),
                        valid5[:, None, :])
  mean5 = np.where(valid5[:, None, :], pad(mean), 0.0)
  kl5 = gpvae.prior_kl(jnp.asarray(mean5, jnp.float32),
                       tuple(v.astype(jnp.float32) for v in b5),
                       gpvae.cauchy_kernel(5, sigma, length_scale), valid5)
  np.testing.assert_allclose(kl5, [expected], rtol=1e-4)


def _latent_sequences(n, steps, seed, d=6, missing=0.5):
  """A 2-d smooth latent circle read through a fixed linear map; varied lengths."""
  rng = np.random.default_rng(seed)
  t = np.arange(steps)[None, :, None]
  phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
  z = np.concatenate([np.sin(0.3 * t + phase), np.cos(0.3 * t + phase)], -1)
  full = (z @ np.random.default_rng(99).normal(size=(2, d))).astype(np.float32)
  length = rng.integers(steps // 2, steps + 1, n).astype(np.int32)
  valid = (np.arange(steps)[None, :] < length[:, None])[..., None]
  m = ((rng.random(full.shape) > missing) & valid).astype(np.float32)
  x = np.where(m > 0, full, 0.0).astype(np.float32)
  return data_lib.Split(x=x, m=m, y=np.zeros(n, np.int32), length=length), full, valid


def test_gpvae_imputations_track_a_smooth_latent_signal_at_any_padding():
  train, _, _ = _latent_sequences(256, 16, seed=0)
  test, full, valid = _latent_sequences(64, 16, seed=1)
  model = gpvae.fit_gpvae(train, latent_dim=2, encoder_sizes=(32,),
                          decoder_sizes=(32,), length_scale=4.0, batch_size=32,
                          num_steps=300, learning_rate=3e-3)
  out = gpvae.gpvae_impute(model, test)
  hidden = (test.m == 0) & valid
  mse = np.mean((out.x - full)[hidden] ** 2)
  mse_mean = np.mean(full[hidden] ** 2)            # mean imputation (data mean 0)
  mse_cf = np.mean((data_lib.carry_forward(test).x - full)[hidden] ** 2)
  assert mse < 0.5 * min(mse_mean, mse_cf), (mse, mse_mean, mse_cf)
  np.testing.assert_array_equal(out.x[test.m > 0], test.x[test.m > 0])
  np.testing.assert_array_equal(out.x[~valid[..., 0]], test.x[~valid[..., 0]])

  # Six more padded steps holding garbage: the same imputations.
  extra = lambda v, fill: np.concatenate(
      [v, np.full(v.shape[:1] + (6,) + v.shape[2:], fill, v.dtype)], 1)
  padded = test._replace(x=extra(test.x, 7.0), m=extra(test.m, 1.0))
  out_p = gpvae.gpvae_impute(model, padded)
  np.testing.assert_allclose(out_p.x[:, :16], out.x, rtol=1e-5, atol=1e-5)

  with pytest.raises(ValueError, match="sequences"):
    gpvae.fit_gpvae(data_lib.Split(x=np.zeros((4, 3)), m=np.ones((4, 3)),
                                   y=np.zeros(4, np.int32)))
  with pytest.raises(ValueError, match="beta"):
    gpvae.fit_gpvae(train, beta=-1.0)
  with pytest.raises(ValueError, match="fitted on 6"):
    gpvae.gpvae_impute(model, test._replace(x=test.x[..., :3], m=test.m[..., :3]))


def test_brits_and_gpvae_run_from_the_launcher_and_score_externally(tmp_path):
  x, y, length = _toy_sequences()
  train_dir = str(tmp_path / "train_csv")
  _write_csv_set(train_dir, x, y, length, ["train"] * 60 + ["val"] * 10 + ["test"] * 10)
  config = _sequence_config(train_dir)
  config.methods = ("brits", "gpvae")
  config.imputer_options = {"gpvae": {"latent_dim": 2, "encoder_sizes": (8,),
                                      "decoder_sizes": (8,), "num_steps": 20,
                                      "batch_size": 8}}
  workdir = str(tmp_path / "run")
  results = experiment.run(config, workdir)
  fitted = saved_models.load_fitted(workdir, "gpvae")
  assert fitted[0]["imputers"]["gpvae"]["model"]["options"]["latent_dim"] == 2
  with pytest.raises(FileNotFoundError):
    saved_models.load_fitted(workdir, "brits")       # nothing fitted outside JAX

  out = _evaluate_on_internal_test_rows(tmp_path, train_dir, config, workdir)
  assert set(out["methods"]) == {"brits", "gpvae"} and not out["skipped"]
  for method, res in out["methods"].items():
    for metric, value in res["test"].items():
      np.testing.assert_allclose(
          value["per_run"], results["methods"][method]["test"][metric]["per_run"],
          atol=1e-6, err_msg=f"{method} {metric}")
  assert "gpvae" in imputers.FITTERS
