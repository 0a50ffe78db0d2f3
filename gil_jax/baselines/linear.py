"""Logistic regression on mean-imputed features plus missingness indicators.

The simplest strong baseline for tables with missing values: each missing entry takes
the observed training mean and the mask is appended as features (the launcher's
``logreg`` method applies the ``mean`` and ``mask_features`` transforms first, so
``fit`` receives splits of width ``2 d``), then an L2-regularised logistic regression.

Model selection on the validation split, like every other method here: a grid of
regularisation strengths ``C``, the best by the validation selection metric; the test
split is only scored.
"""

from __future__ import annotations

import time
import warnings
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from gil_jax import metrics as metrics_lib
from gil_jax.data import Prepared

C_GRID = (0.01, 0.1, 1.0, 10.0)


class LinearResult(NamedTuple):
  """Fields as :class:`gil_jax.training.fit.FitResult` where they apply."""
  model: LogisticRegression
  best_step: int          # solver iterations of the selected model
  val: dict
  test: dict
  seconds: float
  setting: dict           # the selected C


def fit(prepared: Prepared, seed: int, selection_metric: str = "accuracy",
        c_grid: tuple[float, ...] = C_GRID, max_iter: int = 1000) -> LinearResult:
  """Fits one model per ``C`` on the training split, keeps the best on validation."""
  start = time.perf_counter()
  metric = {"neg_loss": "accuracy"}.get(selection_metric, selection_metric)
  for name, split in (("train", prepared.train), ("val", prepared.val)):
    if not np.all(np.isfinite(split.x)):
      raise ValueError(f"logistic regression needs filled inputs; the {name} split "
                       "holds NaN/inf (apply the 'mean' transform first)")
  best = None
  for c in c_grid:
    model = LogisticRegression(C=c, max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
      # A few unconverged iterations at large C change nothing that validation
      # would not see; the grid keeps the better-regularised fits anyway.
      warnings.simplefilter("ignore", ConvergenceWarning)
      model.fit(prepared.train.x, prepared.train.y)
    val = metrics_lib.classification_metrics(prepared.val.y,
                                             model.predict_proba(prepared.val.x))
    if best is None or val[metric] > best[1][metric]:
      best = (model, val, {"C": c})
  model, val, setting = best
  test = metrics_lib.classification_metrics(prepared.test.y,
                                            model.predict_proba(prepared.test.x))
  return LinearResult(model=model, best_step=int(np.max(model.n_iter_)), val=val,
                      test=test, seconds=time.perf_counter() - start,
                      setting=setting)
