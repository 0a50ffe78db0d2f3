"""``GILClassifier``: GIL (and its baselines) as a scikit-learn classifier.

For a practitioner with a table full of NaN::

    from gil_jax.estimator import GILClassifier
    from sklearn.model_selection import cross_val_score
    cross_val_score(GILClassifier(), X, y, scoring="roc_auc")   # X: array or DataFrame

What ``fit`` does, in terms of the library:

1. ``X`` becomes a float matrix with NaN for missing values: a float array as it is,
   a pandas DataFrame through :mod:`gil_jax.data.frame_encoding` (numeric columns as
   they are, boolean columns as 0/1, categorical / string columns one-hot; a missing
   category makes its whole group of columns missing, and so does a category never
   seen in ``fit``, at predict time, unless ``handle_unknown="error"``).
2. :func:`gil_jax.data.prepare_tabular` carves a stratified validation part
   (``validation_fraction``, at least one row per class) off the training rows and
   scales with statistics of the observed training entries; missing entries get the
   ``placeholder``.
3. The ``method`` comes from the launcher's table :data:`gil_jax.methods.METHODS`
   (data transforms, then a trainer), so every table method that needs no fitted
   preprocessing works here, including methods added to that table later.
4. :func:`gil_jax.training.fit.fit_many` trains and keeps the parameters with the best
   validation score (early stopping on the validation part, never on data passed
   to ``score``).

Only ``verbose`` makes it print (one line per host call of the training loop).
``save(path)`` / ``GILClassifier.load(path)`` use one ``.npz`` file holding plain
arrays and a JSON header (no pickled code); pickling works too.
"""

from __future__ import annotations

import json
import sys
import warnings
import zipfile
import zlib
from typing import Any

import jax
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (_check_feature_names, _check_n_features,
                                      assert_all_finite, check_consistent_length,
                                      check_is_fitted, column_or_1d, validate_data)

from gil_jax import data as data_lib
from gil_jax import config as config_lib
from gil_jax import methods as methods_lib
from gil_jax.data import frame_encoding
from gil_jax.training import fit as fit_lib
from gil_jax.training.callbacks import Progress
from gil_jax.training.step import make_trainer

FORMAT_VERSION = 2
# Transforms that fit nothing on the training split, so they can be applied to new
# rows from what the estimator keeps (the observed training means).
_STATELESS_TRANSFORMS = ("mean", "mask_features")


def estimator_methods() -> tuple[str, ...]:
  """The methods of :data:`gil_jax.methods.METHODS` that ``GILClassifier`` accepts."""
  return tuple(m for m in methods_lib.method_names() if _unsupported(m) is None)


def _unsupported(method: str) -> str | None:
  """Why ``method`` cannot run in the estimator, or None."""
  spec = methods_lib.method_spec(method)
  if spec.model not in (None, "mlp"):
    return f"it trains a sequence model ({spec.model!r})"
  if spec.custom not in (None, "input_space"):
    return (f"it is not a GIL network but a scikit-learn model ({spec.custom!r}); "
            "use that estimator directly")
  fitted = [t for t in spec.transforms if t not in _STATELESS_TRANSFORMS]
  if fitted:
    return (f"its preprocessing {fitted} is fitted on the training rows and would "
            "have to be applied to new rows; put the imputer in a Pipeline instead, "
            "e.g. make_pipeline(IterativeImputer(), GILClassifier(method='zero'))")
  return None


def _bucket(n: int) -> int:
  """Rows padded to a power of two, so predicting on new sizes rarely recompiles."""
  return max(8, 1 << (max(n, 1) - 1).bit_length())


class GILClassifier(ClassifierMixin, BaseEstimator):
  """Gradient Importance Learning (Gao et al., ICLR 2022) as a classifier.

  Trains an MLP directly on inputs with missing values (NaN), the encoder's
  gradient re-weighted per sample and feature by a DDPG policy (``method="gil"``),
  or one of the baselines of the same table.

  Args:
    method: a method of :data:`gil_jax.methods.METHODS` that fits a table without
      fitted preprocessing (:func:`estimator_methods`): ``gil``, ``gil_d``,
      ``gil_h``, ``gil_mask``, ``gil_d_mask``, ``zero``, ``mean``, ``mean_mask``,
      ``input_space`` and methods added to the table later.
    hidden: widths of the predictor's layers (the first is the encoder).
    num_steps: training steps (batches); a multiple of ``eval_every``.
    batch_size: rows per step; fewer training rows than this is an error.
    eval_every: steps between validation passes (early stopping granularity).
    learning_rate: the predictor's Adam learning rate.
    validation_fraction: share of the rows carved off (stratified) for early
      stopping; at least one row per class.
    selection_metric: validation score that keeps the best parameters:
      ``"auroc"``, ``"accuracy"``, ``"neg_loss"`` or ``"auto"`` (AUROC for two
      classes, accuracy otherwise).
    placeholder: value of missing entries after scaling (a number or ``"mean"``).
    scaling: ``"standardize"``, ``"center"``, ``"max"`` or ``"none"``
      (:func:`gil_jax.data.prepare_tabular`).
    max_categories: most distinct strings a categorical column may hold.
    handle_unknown: a category not seen in ``fit``: ``"missing"`` (its one-hot group
      is missing, as for a missing value) or ``"error"``.
    train_options: other training options by name
      (:func:`gil_jax.config.from_options`): :class:`gil_jax.config.TrainConfig`
      fields and the method's source options, e.g. ``{"actor_lr": 1e-4,
      "lr_decay_rate": 0.9}``; ``exploration`` as a dict.
    random_state: seed of the validation carve-out, initialisation, batches and
      policy (an int; None draws one).
    verbose: print one progress line per host call of the training loop.

  Attributes:
    classes_: the class labels, sorted.
    n_features_in_: number of input columns.
    feature_names_in_: the DataFrame's column names (only when fitted on a frame
      with string column names).
    best_step_: step of the kept (best-on-validation) parameters.
    validation_score_: the validation metrics of the kept parameters.
    history_: per-evaluation training history (``step``, ``val_score``, ``loss``).
  """

  def __init__(self, method: str = "gil", hidden: tuple[int, ...] = (256, 256),
               num_steps: int = 2000, batch_size: int = 128, eval_every: int = 100,
               learning_rate: float = 1e-3, validation_fraction: float = 0.1,
               selection_metric: str = "auto", placeholder: float | str = 0.0,
               scaling: str = "standardize", max_categories: int = 100,
               handle_unknown: str = "missing", train_options: dict | None = None,
               random_state: int | None = 0, verbose: int = 0):
    self.method = method
    self.hidden = hidden
    self.num_steps = num_steps
    self.batch_size = batch_size
    self.eval_every = eval_every
    self.learning_rate = learning_rate
    self.validation_fraction = validation_fraction
    self.selection_metric = selection_metric
    self.placeholder = placeholder
    self.scaling = scaling
    self.max_categories = max_categories
    self.handle_unknown = handle_unknown
    self.train_options = train_options
    self.random_state = random_state
    self.verbose = verbose

  def __sklearn_tags__(self):
    tags = super().__sklearn_tags__()
    tags.input_tags.allow_nan = True
    tags.non_deterministic = self.random_state is None
    return tags

  # ------------------------------------------------------------------ fitting

  def _check_params(self) -> None:
    if self.method not in methods_lib.method_names():
      raise ValueError(f"unknown method {self.method!r}; choose from "
                       f"{list(estimator_methods())}")
    why = _unsupported(self.method)
    if why is not None:
      raise ValueError(f"method {self.method!r} cannot run in GILClassifier: {why}")
    if not 0 < self.validation_fraction < 1:
      raise ValueError("validation_fraction must lie in (0, 1), got "
                       f"{self.validation_fraction}")
    if self.handle_unknown not in frame_encoding.HANDLE_UNKNOWN:
      raise ValueError(f"handle_unknown must be one of "
                       f"{frame_encoding.HANDLE_UNKNOWN}, got {self.handle_unknown!r}")
    hidden = tuple(self.hidden) if np.iterable(self.hidden) else ()
    if not hidden or not all(isinstance(h, (int, np.integer)) and h > 0
                             for h in hidden):
      raise ValueError(f"hidden must be a non-empty tuple of positive ints, got "
                       f"{self.hidden!r}")

  def _train_config(self, num_classes: int) -> config_lib.TrainConfig:
    spec = methods_lib.method_spec(self.method)
    metric = self.selection_metric
    if metric == "auto":
      metric = "auroc" if num_classes == 2 else "accuracy"
    options = dict(self.train_options or {})
    clash = {"source", "model", "hidden", "num_steps", "batch_size", "eval_every",
             "learning_rate", "selection_metric"} & set(options)
    if clash:
      raise ValueError(f"train_options {sorted(clash)} are estimator parameters; "
                       "set them directly")
    try:
      return config_lib.from_options(spec.source, dict(
          options, model="mlp", hidden=tuple(int(h) for h in self.hidden),
          num_steps=self.num_steps, batch_size=self.batch_size,
          eval_every=self.eval_every, learning_rate=self.learning_rate,
          selection_metric=metric))
    except TypeError as e:                 # e.g. a bad exploration dict
      raise ValueError(f"bad train_options: {e}") from None

  def fit(self, X, y) -> "GILClassifier":
    """Trains on ``X`` (array with NaN, or DataFrame) and labels ``y``."""
    self._check_params()
    x, y = self._fit_inputs(X, y)
    check_classification_targets(y)
    target = type_of_target(y)
    if target not in ("binary", "multiclass"):
      raise ValueError(f"y must hold one class label per row, got {target!r} "
                       "targets")
    self.classes_, y_idx = np.unique(y, return_inverse=True)
    num_classes = len(self.classes_)
    if num_classes < 2:
      raise ValueError(f"y holds one class only ({_scalar(self.classes_[0])!r}); "
                       "a classifier needs at least two classes")
    counts = np.bincount(y_idx, minlength=num_classes)
    if counts.min() < 2:
      raise ValueError(
          f"class {_scalar(self.classes_[int(np.argmin(counts))])!r} has only one "
          "row; the "
          "stratified validation carve-out needs at least 2 rows of every class")
    self._check_observed_columns(x)
    tcfg = self._train_config(num_classes)

    seed = self._seed()
    n = len(y_idx)
    # At least one validation row per class (stratification needs it).
    val_fraction = max(self.validation_fraction, num_classes / n)
    if val_fraction >= 1 - num_classes / n:
      raise ValueError(f"{n} rows cannot be split into a training and a "
                       f"validation part holding all {num_classes} classes")
    names = self._encoded_names(x.shape[1])
    raw = data_lib.RawTabular(x=x, y=y_idx.astype(np.int32),
                              num_classes=num_classes, feature_names=names,
                              name="GILClassifier")
    # fit_many scores a test split after training; the estimator has none, so it
    # gets one row per class (never used to choose anything).
    first = np.array([np.flatnonzero(y_idx == c)[0] for c in range(num_classes)])
    probe = raw._replace(x=x[first], y=raw.y[first])
    with warnings.catch_warnings():
      # Columns observed only in the validation part are dropped (kept below).
      warnings.filterwarnings("ignore", message="dropping .* entirely missing")
      prepared = data_lib.prepare_tabular(
          raw, test=probe, val_fraction=val_fraction, split_seed=seed,
          scaling=self.scaling, placeholder=self.placeholder,
          drop_all_missing_columns=True)
    n_train = len(prepared.train.y)
    if n_train < self.batch_size:
      raise ValueError(
          f"{n} rows leave {n_train} training rows after the validation carve-out "
          f"({len(prepared.val.y)} rows), fewer than batch_size={self.batch_size}; "
          "lower batch_size (or validation_fraction)")
    index = {name: j for j, name in enumerate(names)}
    self.columns_kept_ = np.array([index[c] for c in prepared.feature_names],
                                  np.int64)
    spec = methods_lib.method_spec(self.method)
    prepared = methods_lib.transform(prepared, spec.transforms, seed=seed)
    trainer = self._make_trainer(tcfg, prepared.train.x.shape[-1], num_classes)
    callbacks = [Progress(self._progress)] if self.verbose else []
    result = fit_lib.fit_many(tcfg, prepared, [seed], callbacks=callbacks,
                              trainer=trainer)[0]

    self.train_config_ = tcfg
    self.transforms_ = tuple(spec.transforms)
    self.custom_ = spec.custom
    # float32 where it holds them, float64 where the data's statistics exceed it
    # (prepare_tabular's choice): a float32 cast would make them inf, and every
    # prediction NaN.
    self.scaler_shift_, self.scaler_scale_ = (np.asarray(a) for a in prepared.scaler)
    self.train_mean_ = np.asarray(prepared.train_mean, np.float32)
    self.placeholder_ = (self.train_mean_ if isinstance(self.placeholder, str)
                         else np.full_like(self.train_mean_,
                                           float(self.placeholder)))
    self.num_model_features_ = int(prepared.train.x.shape[-1])
    self.params_ = result.params
    self.best_step_ = result.best_step
    self.validation_score_ = result.val
    self.history_ = {k: np.asarray(v) for k, v in result.history.items()}
    return self

  def _seed(self) -> int:
    if isinstance(self.random_state, (int, np.integer)):
      return int(self.random_state)
    return int(check_random_state(self.random_state).randint(2**31 - 1))

  def _make_trainer(self, tcfg: config_lib.TrainConfig, num_features: int,
                    num_classes: int):
    spec_custom = getattr(self, "custom_", methods_lib.method_spec(self.method).custom)
    if spec_custom == "input_space":
      from gil_jax.baselines import input_space  # local: only this method
      return input_space.make_input_space_trainer(tcfg, num_features, num_classes)
    return make_trainer(tcfg, num_features, num_classes)

  def _progress(self, p: dict) -> None:
    print(f"[GILClassifier {self.method}] step {p['step']}/{p['num_steps']}  "
          f"loss {np.mean(p['loss']):.4f}  val {np.mean(p['val_score']):.4f}  "
          f"best {np.mean(p['best_score']):.4f}  {p['seconds']:.0f} s",
          file=sys.stdout, flush=True)

  def _fit_inputs(self, X, y) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: float64 ``x`` with NaN for missing, 1-d ``y``; sets the
    ``n_features_in_`` / ``feature_names_in_`` / ``encoding_`` attributes."""
    if y is not None:
      _check_labels(np.asarray(y))
    if isinstance(X, pd.DataFrame):
      if y is None:
        raise ValueError(f"{type(self).__name__} requires y to be passed, but the "
                         "target y is None")
      _check_feature_names(self, X, reset=True)
      _check_n_features(self, X, reset=True)
      if X.shape[0] == 0:
        raise ValueError("Found array with 0 sample(s) (shape=(0, "
                         f"{X.shape[1]})) while a minimum of 1 is required.")
      self.encoding_ = frame_encoding.fit_encoding(X, self.max_categories)
      x = frame_encoding.encode(X, self.encoding_, "missing")
      y = column_or_1d(y, warn=True)
      check_consistent_length(x, y)
    else:
      self.encoding_ = None
      x, y = validate_data(self, X, y, ensure_all_finite=False, dtype=np.float64)
      _check_no_inf(x, self._input_names(x.shape[1]))
    if y.dtype.kind in "fc":
      assert_all_finite(y, input_name="y")
    return x, y

  def _input_names(self, d: int) -> list[str]:
    names = getattr(self, "feature_names_in_", None)
    return list(names) if names is not None else [f"column {j}" for j in range(d)]

  def _encoded_names(self, d: int) -> tuple[str, ...]:
    names = (self.encoding_.feature_names if self.encoding_ is not None
             else tuple(self._input_names(d)))
    seen: dict[str, int] = {}
    out = []
    for name in names:            # unique, as prepare_tabular's bookkeeping needs
      k = seen.get(name, 0)
      seen[name] = k + 1
      out.append(name if k == 0 else f"{name}#{k}")
    return tuple(out)

  def _check_observed_columns(self, x: np.ndarray) -> None:
    empty = np.isnan(x).all(axis=0)
    if not empty.any():
      return
    if self.encoding_ is not None:
      groups = self.encoding_.groups
      names = [c.name for c, g in zip(self.encoding_.columns, groups)
               if empty[list(g)].all()]
    else:
      names = [n for n, e in zip(self._input_names(x.shape[1]), empty) if e]
    raise ValueError(f"{len(names)} column(s) entirely missing (NaN) in the training "
                     f"data: {names[:10]}; a model cannot learn from them, drop them")

  # --------------------------------------------------------------- predicting

  def _encoded_inputs(self, X) -> np.ndarray:
    """New rows as float64 with NaN for missing, columns as in ``fit``."""
    encoding = self.encoding_
    if isinstance(X, pd.DataFrame) and encoding is not None:
      _check_feature_names(self, X, reset=False)
      _check_n_features(self, X, reset=False)
      return frame_encoding.encode(X, encoding, self.handle_unknown)
    if encoding is not None and any(c.kind == "categorical"
                                    for c in encoding.columns):
      raise ValueError(
          f"{type(self).__name__} was fitted on a DataFrame with categorical "
          f"columns; pass a DataFrame with the columns {list(encoding.input_names)}")
    x = validate_data(self, X, reset=False, ensure_all_finite=False,
                      dtype=np.float64)
    _check_no_inf(x, self._input_names(x.shape[1]))
    return x

  def _model_split(self, X) -> data_lib.Split:
    x = self._encoded_inputs(X)[:, self.columns_kept_]
    observed = ~np.isnan(x)
    with np.errstate(over="ignore"):
      z = np.where(observed,
                   (np.where(observed, x, 0.0) - self.scaler_shift_)
                   / self.scaler_scale_, self.placeholder_)
    self._check_scaled_range(z)
    split = data_lib.Split(x=z.astype(np.float32), m=observed.astype(np.float32),
                           y=np.zeros(len(z), np.int32))
    empty = _head(split, 0)
    prepared = data_lib.Prepared(train=split, val=empty, test=empty,
                                 num_classes=len(self.classes_),
                                 feature_names=(), train_mean=self.train_mean_,
                                 summary={})
    return methods_lib.transform(prepared, self.transforms_).train

  def _check_scaled_range(self, z: np.ndarray) -> None:
    """Scaled values must fit the model's float32, or they would become inf and
    every prediction of their rows NaN: refuse them, naming the column."""
    too_big = ~(np.abs(z) <= np.finfo(np.float32).max)
    if too_big.any():
      rows, cols = np.nonzero(too_big)
      name = self._encoded_names(self.n_features_in_)[
          int(self.columns_kept_[cols[0]])]
      raise ValueError(
          f"X holds {int(too_big.sum())} value(s) too far from the training data to "
          f"scale into float32 (first at row {rows[0]}, column {name!r}, scaled "
          f"to {z[rows[0], cols[0]]:.3g}); rescale that column or mark the value "
          "missing (NaN)")

  def predict_proba(self, X) -> np.ndarray:
    """Class probabilities ``[n, n_classes]`` (columns in the order of ``classes_``)."""
    check_is_fitted(self, "params_")
    split = self._model_split(X)
    n = len(split.y)
    pad = _bucket(n) - n
    if pad:
      split = data_lib.Split(*(np.concatenate([v, np.zeros((pad,) + v.shape[1:],
                                                           v.dtype)])
                               for v in split[:3]))
    trainer = self._make_trainer(self.train_config_, self.num_model_features_,
                                 len(self.classes_))
    probs = fit_lib.predict_in_batches(trainer, self.params_, split)[:n]
    probs = np.asarray(probs, np.float64)
    return probs / probs.sum(axis=1, keepdims=True)

  def predict(self, X) -> np.ndarray:
    """The most probable class of each row."""
    probs = self.predict_proba(X)
    return self.classes_[np.argmax(probs, axis=1)]

  def decision_function(self, X) -> np.ndarray:
    """Log-odds of ``classes_[1]`` (two classes, shape ``[n]``) or log-probabilities
    ``[n, n_classes]``; monotone in ``predict_proba``."""
    probs = np.clip(self.predict_proba(X), 1e-15, 1.0)
    if probs.shape[1] == 2:
      p1 = np.clip(probs[:, 1], 1e-15, 1 - 1e-15)
      return np.log(p1) - np.log1p(-p1)
    return np.log(probs)

  # ------------------------------------------------------------ persistence

  def save(self, path: str) -> None:
    """Writes the fitted estimator to ``path`` (an ``.npz``: arrays + a JSON header).

    Nothing in the file is executable: :meth:`load` reads it with
    ``allow_pickle=False``.
    """
    check_is_fitted(self, "params_")
    params = self.get_params()
    header = {
        "format": "GILClassifier", "format_version": FORMAT_VERSION,
        "params": {k: (list(v) if isinstance(v, tuple) else v)
                   for k, v in params.items()},
        "classes": [frame_encoding._json_scalar(c) for c in self.classes_],
        "classes_dtype": self.classes_.dtype.str if self.classes_.dtype.kind != "O"
                         else "object",
        "n_features_in": int(self.n_features_in_),
        "feature_names_in": (None if not hasattr(self, "feature_names_in_")
                             else [str(n) for n in self.feature_names_in_]),
        "encoding": (None if self.encoding_ is None
                     else self.encoding_.to_json_dict()),
        "source": self.train_config_.source,
        "train_config": config_lib.to_options(self.train_config_),
        "transforms": list(self.transforms_), "custom": self.custom_,
        "num_model_features": self.num_model_features_,
        "best_step": int(self.best_step_),
        "validation_score": {k: float(v) for k, v in self.validation_score_.items()},
    }
    try:
      header_text = json.dumps(header)
    except TypeError as e:
      raise ValueError(f"cannot save: a parameter is not JSON data ({e})") from None
    arrays = {"columns_kept": self.columns_kept_, "scaler_shift": self.scaler_shift_,
              "scaler_scale": self.scaler_scale_, "train_mean": self.train_mean_,
              "placeholder": self.placeholder_}
    arrays.update({f"params/{k}": np.asarray(v)
                   for k, v in _flatten(self.params_).items()})
    arrays.update({f"history/{k}": np.asarray(v) for k, v in self.history_.items()})
    with open(path, "wb") as f:
      np.savez(f, header=np.array(header_text), **arrays)

  @classmethod
  def load(cls, path: str) -> "GILClassifier":
    """A fitted estimator from a file written by :meth:`save`.

    Loading runs no code (no pickle) and checks everything it reads: the format
    and version, every header field, every array's presence, shape and dtype
    against the model the header describes.  A damaged or foreign file is a
    ``ValueError`` naming it.
    """
    data_lib.require_file(path, "saved GILClassifier")
    header, arrays = _read_saved(path)
    try:
      est = cls._from_saved(header, arrays)
    except (KeyError, TypeError, ValueError) as e:
      what = f"no {e.args[0]!r}" if isinstance(e, KeyError) else str(e)
      raise ValueError(f"{path!r} is not a valid saved GILClassifier: {what}"
                       ) from None
    problems = est._saved_arrays_problems(arrays)
    if problems:
      raise ValueError(f"{path!r} is not a valid saved GILClassifier: "
                       + "; ".join(problems[:5]))
    return est

  @classmethod
  def _from_saved(cls, header: dict, arrays: dict) -> "GILClassifier":
    params = {k: (tuple(v) if isinstance(v, list) else v)
              for k, v in header["params"].items()}
    est = cls(**params)
    dtype = header["classes_dtype"]
    est.classes_ = np.array(header["classes"],
                            dtype=object if dtype == "object" else np.dtype(dtype))
    est.n_features_in_ = int(header["n_features_in"])
    if header["feature_names_in"] is not None:
      est.feature_names_in_ = np.array(header["feature_names_in"], dtype=object)
    est.encoding_ = (None if header["encoding"] is None else
                     frame_encoding.FrameEncoding.from_json_dict(header["encoding"]))
    est.train_config_ = config_lib.from_options(header["source"],
                                                header["train_config"])
    est.transforms_ = tuple(header["transforms"])
    est.custom_ = header["custom"]
    est.num_model_features_ = int(header["num_model_features"])
    est.best_step_ = header["best_step"]
    est.validation_score_ = header["validation_score"]
    for name in ("columns_kept", "scaler_shift", "scaler_scale", "train_mean",
                 "placeholder"):
      setattr(est, f"{name}_", arrays[name])
    est.params_ = _unflatten({k[len("params/"):]: v for k, v in arrays.items()
                              if k.startswith("params/")})
    est.history_ = {k[len("history/"):]: v for k, v in arrays.items()
                    if k.startswith("history/")}
    return est

  def _saved_arrays_problems(self, arrays: dict) -> list[str]:
    """What is missing or mis-shaped among the loaded arrays, as messages."""
    d, kept = self.num_model_features_, len(self.columns_kept_)
    problems = []
    for name, shape in (("scaler_shift", (kept,)), ("scaler_scale", (kept,)),
                        ("train_mean", (kept,)), ("placeholder", (kept,))):
      if arrays[name].shape != shape or arrays[name].dtype.kind != "f":
        problems.append(f"{name} is {arrays[name].dtype}{arrays[name].shape}, "
                        f"expected float{shape}")
    if arrays["columns_kept"].dtype.kind not in "iu" or (
        kept and not 0 <= arrays["columns_kept"].min() <= arrays["columns_kept"].max()
        < len(self._encoded_names(self.n_features_in_))):
      problems.append("columns_kept holds no valid column indices")
    trainer = self._make_trainer(self.train_config_, d, len(self.classes_))
    probe = data_lib.Split(x=jax.numpy.zeros((2, d), np.float32),
                           m=jax.numpy.ones((2, d), np.float32),
                           y=jax.numpy.zeros(2, np.int32))
    expected = _flatten(jax.eval_shape(
        lambda: trainer.init_fn(jax.random.key(0), probe).params))
    found = _flatten(self.params_)
    for name in sorted(set(expected) - set(found)):
      problems.append(f"parameter {name} is missing")
    for name in sorted(set(found) - set(expected)):
      problems.append(f"parameter {name} is not one of the model's")
    for name in sorted(set(expected) & set(found)):
      want, got = expected[name], found[name]
      if got.shape != want.shape or got.dtype != want.dtype:
        problems.append(f"parameter {name} is {got.dtype}{got.shape}, expected "
                        f"{want.dtype}{tuple(want.shape)}")
    return problems


def _read_saved(path: str) -> tuple[dict, dict]:
  """The header and the arrays of a saved estimator; a damaged file (truncated,
  flipped bytes, not an archive, pickled objects) is a ``ValueError`` naming it."""
  try:
    loaded = np.load(path, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
      raise ValueError("a single array, not an archive")
    with loaded as f:
      if "header" not in f.files:
        raise ValueError("no header")
      header = json.loads(str(f["header"]))
      arrays = {k: f[k] for k in f.files if k != "header"}
  except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
    raise ValueError(f"{path!r} is not a saved GILClassifier or is damaged "
                     f"({type(e).__name__}: {e})") from None
  if not isinstance(header, dict) or header.get("format") != "GILClassifier":
    raise ValueError(f"{path!r} is not a saved GILClassifier")
  if header.get("format_version") != FORMAT_VERSION:
    raise ValueError(f"{path!r} has format version {header.get('format_version')}; "
                     f"this library reads version {FORMAT_VERSION} only (refit and "
                     "save the model with this version)")
  return header, arrays


def _head(split: data_lib.Split, n: int) -> data_lib.Split:
  """The first ``n`` rows of a split (numpy only)."""
  return data_lib.Split(x=split.x[:n], m=split.m[:n], y=split.y[:n])


def _scalar(v):
  """A numpy scalar as the Python value, for readable messages."""
  return v.item() if isinstance(v, np.generic) else v


def _check_labels(y: np.ndarray) -> None:
  """Refuses missing labels (None, NaN, pandas NA) and labels of kinds that
  cannot be sorted together (e.g. 1 and "a"): ``classes_`` is sorted."""
  missing = np.asarray(pd.isna(y), bool)
  if missing.any():
    raise ValueError(f"y holds {int(missing.sum())} missing label(s) (None or NaN; "
                     f"first at row {int(np.argwhere(missing)[0][0])}); drop those "
                     "rows or give them a class")
  if y.dtype.kind == "O" and y.ndim == 1:
    kinds = sorted({type(v).__name__ for v in y})
    try:
      np.unique(y)
    except TypeError:
      raise ValueError(f"y mixes labels of kinds {kinds} that cannot be ordered; "
                       "give every label one type (e.g. all str)") from None


def _check_no_inf(x: np.ndarray, names: list[str]) -> None:
  inf = np.isinf(x)
  if inf.any():
    rows, cols = np.nonzero(inf)
    raise ValueError(f"X holds {int(inf.sum())} +/-inf values (first at row "
                     f"{rows[0]}, {names[cols[0]]!r}); mark missing entries with "
                     "NaN instead")


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
  out = {}
  for k, v in tree.items():
    if "/" in str(k):
      raise ValueError(f"parameter name {k!r} contains '/'")
    key = f"{prefix}{k}"
    if isinstance(v, dict) or hasattr(v, "items"):
      out.update(_flatten(v, key + "/"))
    else:
      out[key] = v
  return out


def _unflatten(flat: dict[str, Any]) -> dict:
  tree: dict = {}
  for key, v in flat.items():
    node = tree
    *parents, leaf = key.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = v
  return tree



