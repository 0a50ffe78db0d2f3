"""Baselines of the paper's tables: imputers and the input-space ablation (App. G).

* :mod:`gil_jax.baselines.imputers` — kNN, MICE, missForest-style (scikit-learn) and
  GAIN (JAX) imputation, fitted on the training split only; ``IMPUTERS`` maps names
  to a uniform ``(train, val, test, *, seed, **options) -> (train, val, test)``.
* :mod:`gil_jax.baselines.em`, :mod:`gil_jax.baselines.miwae` — EM (Gaussian
  conditional mean) and MIWAE imputation, registered in ``IMPUTERS``.
* :mod:`gil_jax.baselines.gpvae` — GP-VAE (JAX) sequence imputation, registered as
  the imputer ``"gpvae"``.
* :mod:`gil_jax.baselines.input_space` — importance applied to the inputs instead of
  the gradients (App. G, eq. 70).
* :mod:`gil_jax.baselines.boosting` — gradient boosting on NaN-marked features.
* :mod:`gil_jax.baselines.persist` — fitted scikit-learn models and imputers saved
  with skops (loading trusts only the listed types) for external evaluation.
"""

from gil_jax.baselines import gpvae  # noqa: F401  (registers the imputer)
from gil_jax.baselines.imputers import IMPUTERS, imputation_mse, impute

__all__ = ["IMPUTERS", "imputation_mse", "impute"]
