"""Checks of an experiment config and its workdir, before any data is loaded.

A bad value should stop the launcher at once with an error naming the config
field, not after minutes of data loading or training, and never give a silent
wrong result (a negative learning rate trains "successfully" to chance accuracy).
:func:`check_config` checks every field the launcher reads: types and ranges of
the numbers (finite; rates, fractions and widths in range), the method and
dataset names, the seeds, the data loader's keyword arguments, the imputer options,
and finally builds each method's :class:`gil_jax.config.TrainConfig` (its own
checks).  :func:`check_workdir` makes sure the workdir is a writable directory.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
import tempfile
from typing import Any

import ml_collections

from gil_jax.methods import method_spec
from launch import translation

SCALINGS = ("standardize", "center", "max", "none")
_POSITIVE_INTS = ("batch_size", "num_steps", "eval_every", "lr_decay_steps",
                  "replay_capacity", "rl_batch_size", "meta_batch_size")
_POSITIVE_RATES = ("learning_rate", "actor_lr", "critic_lr", "meta_lr", "lr_decay_rate")
# Imputer options that count something (iterations, rows, neighbours, steps).
_IMPUTER_COUNTS = ("max_iter", "max_fit_rows", "n_nearest_features", "num_steps",
                   "n_neighbors", "n_estimators", "batch_size")


class ConfigError(ValueError):
  """A config field holds a value the launcher cannot run with (names the field)."""


def _fail(path: str, problem: str, value: Any) -> None:
  raise ConfigError(f"config.{path} {problem}, got {value!r}")


def _is_int(v) -> bool:
  return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v) -> bool:
  return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _int_at_least(path: str, v, low: int) -> None:
  if not _is_int(v) or v < low:
    _fail(path, f"must be an integer >= {low}", v)


def _number_in(path: str, v, low: float, high: float, low_open: bool = False,
               high_open: bool = False, text: str | None = None) -> None:
  ok = _is_number(v) and math.isfinite(v)
  if ok:
    ok = (low < v if low_open else low <= v) and (v < high if high_open
                                                  else v <= high)
  if not ok:
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"
    _fail(path, text or f"must be a finite number in {lo}{low}, {high}{hi}", v)


def _all_finite(node, path: str) -> None:
  """Every float anywhere under ``node`` is finite (NaN / inf name their field)."""
  if isinstance(node, ml_collections.ConfigDict):
    node = node.to_dict()
  if isinstance(node, dict):
    for k, v in node.items():
      _all_finite(v, f"{path}.{k}" if path else str(k))
  elif isinstance(node, (list, tuple)):
    for i, v in enumerate(node):
      _all_finite(v, f"{path}[{i}]")
  elif _is_number(node) and not math.isfinite(node):
    _fail(path, "must be finite", node)


def _seeds(path: str, values, non_empty: bool) -> None:
  values = tuple(values)
  if non_empty and not values:
    _fail(path, "must name at least one seed", values)
  for v in values:
    if not _is_int(v) or v < 0:
      _fail(path, "must hold integers >= 0", values)
  if len(set(values)) != len(values):
    # Two identical runs would shrink the reported std: a silent wrong result.
    _fail(path, "holds a seed twice", values)


def _check_methods(config) -> None:
  from gil_jax.methods import method_names   # local: imports the baselines
  methods, known = tuple(config.methods), method_names()
  if not methods:
    _fail("methods", "must name at least one method", methods)
  for m in methods:
    if m not in known:
      _fail("methods", f"names an unknown method {m!r} (known: "
            f"{', '.join(sorted(known))})", methods)
  if len(set(methods)) != len(methods):
    _fail("methods", "names a method twice", methods)


def _check_data(config, datasets: dict | None) -> None:
  if datasets is not None:
    if config.dataset not in datasets:
      _fail("dataset", f"is not a known dataset ({', '.join(sorted(datasets))})",
            config.dataset)
    params = inspect.signature(datasets[config.dataset]).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
      unknown = sorted(set(config.data) - set(params))
      if unknown:
        _fail("data", f"has field(s) {unknown} that the {config.dataset!r} loader "
              f"does not take (it takes {sorted(params)})", config.data.to_dict())
  for key, v in config.data.items():
    path = f"data.{key}"
    if key == "missing_rate":
      _number_in(path, v, 0.0, 1.0, high_open=True)
    elif key.endswith("seed") and v is not None:
      _int_at_least(path, v, 0)
    elif (key.startswith("num_") or key in ("steps", "features")) and v is not None:
      _int_at_least(path, v, 1)
    elif key.endswith("fraction") and _is_number(v):
      _number_in(path, v, 0.0, 1.0)


def _check_split(config) -> None:
  s = config.split
  _number_in("split.val_fraction", s.val_fraction, 0.0, 1.0, low_open=True,
             high_open=True)
  _number_in("split.test_fraction", s.test_fraction, 0.0, 1.0, high_open=True)
  if s.val_fraction + s.test_fraction >= 1:
    _fail("split", "needs val_fraction + test_fraction < 1 (rows must remain for "
          "training)", s.to_dict())
  _int_at_least("split.split_seed", s.split_seed, 0)
  if "train_rows" in s:
    _int_at_least("split.train_rows", s.train_rows, 0)


def _check_train(config) -> None:
  t = config.train
  for name in _POSITIVE_INTS:
    _int_at_least(f"train.{name}", t[name], 1)
  for name in _POSITIVE_RATES:
    v = t[name]
    if not (_is_number(v) and math.isfinite(v) and v > 0):
      _fail(f"train.{name}", "must be a finite number > 0", v)
  _number_in("train.gamma", t.gamma, 0.0, 1.0)
  _number_in("train.tau", t.tau, 0.0, 1.0, low_open=True)
  if not (_is_number(t.gil_d_c) and math.isfinite(t.gil_d_c) and t.gil_d_c >= 0):
    _fail("train.gil_d_c", "must be a finite number >= 0", t.gil_d_c)
  for name in translation.WIDTH_FIELDS:
    widths = tuple(t[name])
    if not widths or any(not _is_int(w) or w < 1 for w in widths):
      _fail(f"train.{name}", "must be a non-empty list of layer widths >= 1", widths)
  if len(tuple(t.critic_hidden)) < 2:
    # The critic merges the action after its first layer
    # (gil_jax.sources.policy.networks.Critic).
    _fail("train.critic_hidden", "needs two widths or more (a state layer, then "
          "the layer merging the action)", tuple(t.critic_hidden))
  _number_in("train.meta_shrink", t.meta_shrink, 0.0, 1.0)
  _number_in("train.missing_importance", t.missing_importance, 0.0, 1.0)
  if t.meta_prior not in ("ones", "mask"):
    _fail("train.meta_prior", "must be 'ones' or 'mask'", t.meta_prior)
  if t.num_steps % t.eval_every:
    _fail("train.num_steps", f"must be a multiple of train.eval_every "
          f"({t.eval_every})", t.num_steps)
  e = config.exploration
  for name in ("p2", "p3", "p2_floor", "p3_floor"):
    _number_in(f"exploration.{name}", e[name], 0.0, 1.0)
  if e.p2 + e.p3 > 1:
    _fail("exploration", "needs p2 + p3 <= 1", e.to_dict())
  if e.p2_floor > e.p2 or e.p3_floor > e.p3:
    _fail("exploration", "needs p2_floor <= p2 and p3_floor <= p3", e.to_dict())
  _number_in("exploration.decay", e.decay, 0.0, 1.0, low_open=True)
  if not (_is_number(e.sigma) and math.isfinite(e.sigma) and e.sigma > 0):
    _fail("exploration.sigma", "must be a finite number > 0", e.sigma)
  a = config.authors
  if not (_is_number(a.l2) and math.isfinite(a.l2) and a.l2 >= 0):
    _fail("authors.l2", "must be a finite number >= 0", a.l2)
  _int_at_least("authors.bn_eval_rows", a.bn_eval_rows, 1)


def _check_imputer_options(config) -> None:
  options = config.get("imputer_options", None)
  if options is None:
    return
  for imputer, opts in options.items():
    if not isinstance(opts, (dict, ml_collections.ConfigDict)):
      _fail(f"imputer_options.{imputer}", "must be a dict of options", opts)
    for key, v in opts.items():
      if key in _IMPUTER_COUNTS and v is not None:
        _int_at_least(f"imputer_options.{imputer}.{key}", v, 1)


def check_config(config: ml_collections.ConfigDict,
                 datasets: dict | None = None) -> None:
  """Raises :class:`ConfigError` naming the first field the launcher cannot use.

  Args:
    config: an experiment config (``launch/configs/``), after command-line
      overrides and after expanding ``config.grid`` (check each setting).
    datasets: the launcher's dataset table (name -> loader); when given, the
      dataset name and the loader's keyword arguments (``config.data``) are
      checked too.
  """
  _all_finite(config, "")
  _check_methods(config)
  _seeds("seeds", config.seeds, non_empty=True)
  _seeds("mask_seeds", config.mask_seeds, non_empty=False)
  _seeds("split_seeds", config.split_seeds, non_empty=False)
  if config.scaling not in SCALINGS:
    _fail("scaling", f"must be one of {SCALINGS}", config.scaling)
  p = config.placeholder
  # "3max": the GIL authors' sequence placeholder (gil_jax.data.prepare_sequences).
  if not (p in ("mean", "3max") or (_is_number(p) and math.isfinite(p))):
    _fail("placeholder", "must be a finite number, 'mean' or '3max'", p)
  _int_at_least("steps_per_call", config.steps_per_call, 1)
  if config.batching not in ("vmap", "loop"):
    _fail("batching", "must be 'vmap' or 'loop'", config.batching)
  _check_split(config)
  k = config.get("cv_folds", 0)
  if not (_is_int(k) and (k == 0 or k >= 2)):
    _fail("cv_folds", "must be 0 (off) or an integer >= 2", k)
  _check_data(config, datasets)
  _check_train(config)
  _check_imputer_options(config)
  # Last, each method's TrainConfig: whatever it checks beyond the above.
  for method in config.methods:
    if method_spec(method).custom in (None, "input_space"):
      try:
        translation.train_config(config, method)
      except (TypeError, ValueError) as e:
        raise ConfigError(f"config.train (method {method!r}): {e}") from e


def check_workdir(path: str) -> None:
  """Creates ``path`` if needed; raises ``ValueError`` unless it is a writable
  directory (checked by writing a file, so a run never trains and then fails to
  write its results)."""
  if not path:
    raise ValueError("--workdir must name a directory")
  if os.path.exists(path) and not os.path.isdir(path):
    raise ValueError(f"workdir {path!r} exists and is not a directory")
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise ValueError(f"cannot create workdir {path!r}: {e.strerror or e}") from e
  try:
    with tempfile.NamedTemporaryFile(dir=path, prefix=".write_test_"):
      pass
  except OSError as e:
    raise ValueError(f"workdir {path!r} is not writable: {e.strerror or e}") from e
