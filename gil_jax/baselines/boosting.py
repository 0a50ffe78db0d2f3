"""Gradient boosting with native missing-value handling (scikit-learn).

The baseline a practitioner reaches for first on tabular clinical data:
``HistGradientBoostingClassifier`` sends NaNs down a learned branch at every split,
so nothing is imputed.  Inputs:

* tables: the features as they are, NaN where the mask says missing;
* sequences: per-variable summary features over the valid steps (:func:`summarise`):
  last observed value, mean, min, max, number of observations and steps since the
  last observation (NaN where a variable is never observed).

Model selection uses the validation split, like every other method here: a small
grid of learning rates and tree sizes, each with early stopping on an internal 10 %
of the training rows, and the best setting by the validation selection metric.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from gil_jax import metrics as metrics_lib
from gil_jax.data import Prepared, Split

GRID = {"learning_rate": (0.05, 0.1), "max_leaf_nodes": (15, 31)}
SUMMARIES = ("last", "mean", "min", "max", "count", "since_last")


class BoostingResult(NamedTuple):
  """Fields as :class:`gil_jax.training.fit.FitResult` where they apply."""
  model: HistGradientBoostingClassifier
  best_step: int          # boosting iterations of the selected model
  val: dict
  test: dict
  seconds: float
  setting: dict           # the selected grid point


def summarise(split: Split) -> np.ndarray:
  """``[N, 6 d]`` summary features of sequences (see :data:`SUMMARIES`)."""
  x, length = np.asarray(split.x, np.float64), np.asarray(split.length)
  steps = np.arange(x.shape[1])[None, :, None]
  observed = (np.asarray(split.m) > 0) & (steps < length[:, None, None])
  count = observed.sum(1)
  ever = count > 0
  values = np.where(observed, x, np.nan)
  last_step = np.where(observed, steps, -1).max(1)
  last = np.take_along_axis(x, np.maximum(last_step, 0)[:, None, :], 1)[:, 0]
  with np.errstate(invalid="ignore"):
    total = np.where(observed, x, 0.0).sum(1)
    mean = np.where(ever, total / np.maximum(count, 1), np.nan)
    lo = np.where(ever, np.nanmin(np.where(ever[:, None], values, 0.0), 1), np.nan)
    hi = np.where(ever, np.nanmax(np.where(ever[:, None], values, 0.0), 1), np.nan)
  since = np.where(ever, (length[:, None] - 1) - last_step, np.nan)
  feats = [np.where(ever, last, np.nan), mean, lo, hi, count.astype(np.float64),
           since]
  return np.concatenate(feats, axis=1)


def feature_names(variables: Sequence[str], sequences: bool) -> list[str]:
  """Names of the columns of :func:`features`: the variables themselves (tables),
  or ``"SUMMARY:VARIABLE"`` in :func:`summarise`'s layout (sequences).

  Saved beside a fitted model, so that another set's inputs can be checked
  against what the model was trained on."""
  if not sequences:
    return list(variables)
  return [f"{s}:{v}" for s in SUMMARIES for v in variables]


def predict_proba(model: HistGradientBoostingClassifier, split: Split,
                  names: Sequence[str] | None = None) -> np.ndarray:
  """Class probabilities of a fitted model on a split's :func:`features`.

  Raises:
    ValueError: the split gives a different number of features than the model
      was fitted on (naming ``names``, the saved feature names, if given).
  """
  x = features(split)
  if x.shape[1] != model.n_features_in_:
    raise ValueError(f"the boosting model was fitted on {model.n_features_in_} "
                     f"features{'' if names is None else ' ' + str(list(names)[:8])}"
                     f"..., the data give {x.shape[1]}")
  return model.predict_proba(x)


def features(split: Split) -> np.ndarray:
  """The boosting inputs of a split: NaN-marked table or sequence summaries."""
  if split.length is not None:
    return summarise(split)
  return np.where(np.asarray(split.m) > 0, np.asarray(split.x, np.float64), np.nan)


def fit(prepared: Prepared, seed: int, selection_metric: str = "accuracy",
        max_iter: int = 300) -> BoostingResult:
  """Fits the grid on the training split and keeps the best on validation."""
  start = time.perf_counter()
  x_train, x_val, x_test = (features(s) for s in
                            (prepared.train, prepared.val, prepared.test))
  metric = {"neg_loss": "accuracy"}.get(selection_metric, selection_metric)
  best = None
  for lr, leaves in itertools.product(GRID["learning_rate"], GRID["max_leaf_nodes"]):
    model = HistGradientBoostingClassifier(
        learning_rate=lr, max_leaf_nodes=leaves, max_iter=max_iter,
        early_stopping=True, validation_fraction=0.1, n_iter_no_change=20,
        random_state=seed)
    model.fit(x_train, prepared.train.y)
    val = metrics_lib.classification_metrics(prepared.val.y,
                                             model.predict_proba(x_val))
    if best is None or val[metric] > best[1][metric]:
      best = (model, val, {"learning_rate": lr, "max_leaf_nodes": leaves})
  model, val, setting = best
  test = metrics_lib.classification_metrics(prepared.test.y,
                                            model.predict_proba(x_test))
  return BoostingResult(model=model, best_step=int(model.n_iter_), val=val,
                        test=test, seconds=time.perf_counter() - start,
                        setting=setting)
