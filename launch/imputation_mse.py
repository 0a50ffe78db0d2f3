"""How well a method's filled-in inputs match the complete data (paper Table 4)."""

from __future__ import annotations

import copy

from gil_jax import data as data_lib
from gil_jax.baselines import imputers
from gil_jax.methods import MethodSpec
from launch import datasets
from launch import results as results_lib


def measure(config, spec: MethodSpec, variants: list[dict],
            per_run: list) -> dict | None:
  """Test-split imputation MSE against the complete data, summarised over runs.

  Only where the truth is known: a loader with a ``missing_rate`` (simulated
  masks).  The error is in the loader's raw units: scaled imputations are mapped
  back with the run's training scaler and compared with the complete, unscaled
  data.  Methods that fill the inputs: imputers, ``mean`` and ``zero`` (the
  placeholder is its imputation).

  Args:
    config: the launcher config of the runs.
    spec: the method's :class:`gil_jax.methods.MethodSpec`.
    variants: each run's dataset (mask seed, split seed, fold;
      :func:`launch.results.variants_of`).
    per_run: each run's prepared data, as the method trained on them.

  Returns:
    ``{"mean", "std", "per_run"}`` over the runs, or ``None`` where the method
    fills nothing or the complete data are unknown.
  """
  fills = spec.transforms or (("zero",) if spec.source in ("plain", "mask")
                              and spec.custom is None and spec.model is None else ())
  if (not fills or "missing_rate" not in config.data
      or any(f in ("carry_forward", "mask_features") for f in fills)):
    return None
  mses = []
  complete: dict[tuple, data_lib.Prepared] = {}
  for v, p in zip(variants, per_run):
    key = tuple(sorted(v.items()))
    if key not in complete:
      cfg = copy.deepcopy(config)
      with cfg.unlocked():
        cfg.data.missing_rate = 0.0
        cfg.scaling = "none"
      complete[key] = datasets.load_data(cfg, **v)
    test = p.test
    x = (data_lib.mean_imputed(test, p.train_mean).x if fills == ("mean",)
         else test.x)
    if p.scaler is not None:
      shift, scale = p.scaler
      x = x * scale + shift
    full = complete[key]
    # Columns dropped as all-missing in training (drop_all_missing_columns) are
    # absent from the run's data: compare on the columns it kept.
    cols = [full.feature_names.index(n) for n in p.feature_names]
    mses.append(imputers.imputation_mse(x, full.test.x[..., cols], test.m))
  return results_lib.summarise([{"mse": m} for m in mses])["mse"]
