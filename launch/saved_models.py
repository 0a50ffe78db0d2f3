"""A run's trained models on disk, for ``launch.evaluate`` and ``launch.figures``.

The networks (best-on-validation predictor parameters, GIL's final actor, the
training scaling) go to ``WORKDIR/models/METHOD`` with orbax, one stacked array per
leaf, runs on the first axis.  What scikit-learn fitted (gradient boosting and
logistic regression with their inputs' description and scaling, the imputers fitted
on each training split) goes to ``WORKDIR/fitted/METHOD`` with skops
(:mod:`gil_jax.baselines.persist`).
"""

from __future__ import annotations

import os

import jax
import numpy as np

from gil_jax import data as data_lib
from gil_jax.baselines import boosting
from gil_jax.baselines import imputers
from gil_jax.baselines import persist
from gil_jax.methods import MethodSpec


def save_models(workdir: str, method: str, fits, scalers=None,
                train_means=None) -> None:
  """Saves the runs' best parameters, the source's importance network (GIL's actor,
  gil_meta's h_psi) and the data scalers with orbax."""
  import orbax.checkpoint as ocp  # local: only saving and loading need it
  tree = {"params": jax.tree.map(lambda *v: np.stack(v), *[f.params for f in fits])}
  if fits[0].source_params is not None:
    tree["importance_network"] = jax.tree.map(lambda *v: np.stack(v),
                                              *[f.source_params for f in fits])
  if scalers is not None and scalers[0] is not None:
    tree["scaler"] = {"shift": np.stack([s[0] for s in scalers]),
                      "scale": np.stack([s[1] for s in scalers])}
  if train_means is not None:
    tree["train_mean"] = np.stack(train_means)
  path = os.path.join(os.path.abspath(workdir), "models", method)
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(path, tree, force=True)


def load_models(workdir: str, method: str) -> dict:
  """``{"params": ..., ["importance_network": ...], ["scaler": ...], ["train_mean":
  ...]}``, runs on the first axis."""
  import orbax.checkpoint as ocp
  path = os.path.join(os.path.abspath(workdir), "models", method)
  if not os.path.isdir(path):
    raise data_lib.DataFileNotFoundError(
        f"no saved models for method {method!r} in {workdir!r} (expected {path}); "
        "was the run finished with this version of launch.train?")
  with ocp.StandardCheckpointer() as ckptr:
    return jax.tree.map(np.asarray, ckptr.restore(path))


def custom_state(spec: MethodSpec, fit, prepared: data_lib.Prepared) -> dict:
  """What ``launch.evaluate`` needs to score a scikit-learn fitted method on
  another set: the model, how its inputs are made, the training scaling."""
  sequences = prepared.train.length is not None
  names = list(prepared.feature_names)
  if spec.custom == "hgb":
    inputs, feature_names = "boosting", boosting.feature_names(names, sequences)
  else:
    inputs, feature_names = "x", None
  state = {"model": fit.model, "inputs": inputs, "feature_names": feature_names,
           "setting": dict(fit.setting), "train_mean": prepared.train_mean}
  if prepared.scaler is not None:
    state["scaler"] = {"shift": prepared.scaler[0], "scale": prepared.scaler[1]}
  return state


def imputers_state(fitted: dict) -> dict:
  """``{"imputers": ...}``: the imputers fitted on one dataset, as saved."""
  return {"imputers": {k: imputers.to_state(v) for k, v in fitted.items()}}


def save_fitted(workdir: str, method: str, per_run: list) -> None:
  """Saves what scikit-learn fitted for each run (gradient boosting, imputers)
  under ``WORKDIR/fitted/METHOD`` (skops; see :mod:`gil_jax.baselines.persist`)."""
  persist.save_runs(os.path.join(os.path.abspath(workdir), "fitted", method),
                    per_run, method=method)


def load_fitted(workdir: str, method: str) -> list:
  """Per run, what :func:`save_fitted` saved."""
  path = os.path.join(os.path.abspath(workdir), "fitted", method)
  if not os.path.isdir(path):
    raise data_lib.DataFileNotFoundError(
        f"no saved fitted models for method {method!r} in {workdir!r} (expected "
        f"{path}); was the run made before scikit-learn models were saved?")
  return persist.load_runs(path)[0]
