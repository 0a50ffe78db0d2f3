"""The data of a launcher config: the dataset loaders and one prepared dataset per
mask seed, split seed or cross-validation fold."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Callable

import jax
import ml_collections
import numpy as np

from data_prep import csv_sequences
from data_prep import physionet2012
from data_prep import physionet2019
from data_prep import tabular
from data_prep import uci_tables
from gil_jax import data as data_lib
from gil_jax.data import folds as folds_lib

# Loaders return a RawTabular (split into train/val/test by the config) or a
# (train, test) pair of them (validation carved from train; the given test set kept).
DATASETS: dict[str, Callable[..., Any]] = {
    "digits": tabular.load_digits,
    "mnist": tabular.load_mnist,
    "physionet2012": physionet2012.load_sequences,
    # Early sepsis windows (data.protocol: varied / fixed), PhysioNet 2019 set A.
    "physionet2019": physionet2019.load_sequences,
    "toy_sequences": tabular.load_toy_sequences,
    # Sequences in the GIL authors' CSV layout (data.directory=...): the files'
    # own train/[val]/test splits ({split: RawSequences}), or pooled and split by
    # the config (one split, or data.pool=True).
    "csv_sequences": csv_sequences.load_csv_dataset,
    # Public tables with natural missingness (data_prep/uci_tables.py).
    "thyroid0387": uci_tables.load_thyroid0387,
    "diabetes130": uci_tables.load_diabetes130,    # grouped by patient
    "adult": uci_tables.load_adult,                # official (train, test)
}

# The loader argument naming a folder of raw files in the dataset's own format
# (``launch.evaluate --data_dir`` sets it to score a model on another set).
RAW_DATA_ARG = {"physionet2012": "manual_dir", "mnist": "manual_dir",
                "csv_sequences": "directory"}


def load_data(config: ml_collections.ConfigDict, mask_seed: int | None = None,
              split_seed: int | None = None, fold: int | None = None
              ) -> data_lib.Prepared:
  """The config's dataset, prepared; the seeds override the config's when given.

  With ``fold`` (``config.cv_folds`` cross-validation) all of the loader's rows are
  pooled and fold ``fold`` of ``config.cv_folds`` stratified folds (drawn with the
  split seed) is the test split (:mod:`gil_jax.data.folds`).
  """
  if config.dataset not in DATASETS:
    raise ValueError(f"unknown dataset {config.dataset!r}; known: {sorted(DATASETS)}")
  kwargs = config.data.to_dict()
  if mask_seed is not None:
    kwargs["mask_seed"] = mask_seed
  if split_seed is None:
    split_seed = config.split.split_seed
  raw = DATASETS[config.dataset](**kwargs)
  if fold is not None:
    return _fold_data(config, raw, fold, split_seed)
  if isinstance(raw, dict):     # the files' own splits (csv_sequences)
    pooled, indices = csv_sequences.given_splits(
        raw, val_fraction=config.split.val_fraction, split_seed=split_seed)
    return data_lib.prepare_sequences(pooled, indices=indices,
                                      placeholder=config.placeholder)
  if isinstance(raw, data_lib.RawSequences):
    return data_lib.prepare_sequences(
        raw, val_fraction=config.split.val_fraction,
        test_fraction=config.split.test_fraction, split_seed=split_seed,
        placeholder=config.placeholder)
  raw, test = (raw, None) if isinstance(raw, data_lib.RawTabular) else raw
  prepared = data_lib.prepare_tabular(
      raw, test=test, val_fraction=config.split.val_fraction,
      test_fraction=config.split.test_fraction, split_seed=split_seed,
      scaling=config.scaling, placeholder=config.placeholder,
      drop_all_missing_columns=config.drop_all_missing_columns)
  return training_subset(prepared, config.split.get("train_rows", 0), split_seed)


def load_variants(config: ml_collections.ConfigDict,
                  variants: Sequence[dict]) -> list[data_lib.Prepared]:
  """:func:`load_data` of each variant (``mask_seed`` / ``split_seed`` / ``fold``
  keyword arguments), each distinct warning shown once.

  The loader runs again for every variant, so a warning about the files (e.g. a
  patient id in two files) or about a split would otherwise repeat for every fold
  and seed; Python's own once-per-place rule does not hold it back, as any change
  of the warning filters in between (libraries make them) resets it.
  """
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
      data = [load_data(config, **v) for v in variants]
    finally:
      shown = _first_of_each(caught)
  for w in shown:
    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
  return data


def _first_of_each(caught: Sequence[warnings.WarningMessage]
                   ) -> list[warnings.WarningMessage]:
  """The first warning of each (category, message), in order."""
  seen: set[tuple] = set()
  out = []
  for w in caught:
    key = (w.category, str(w.message))
    if key not in seen:
      seen.add(key)
      out.append(w)
  return out


def training_subset(prepared: data_lib.Prepared, rows: int,
                    seed: int) -> data_lib.Prepared:
  """``prepared`` with ``rows`` of its training rows (drawn with ``seed``, the same
  for every mask seed and method); ``rows = 0`` keeps them all.  Validation, test
  and the statistics learned from the training split are unchanged: a cheaper
  experiment (memory, per-eval passes), not another preparation."""
  if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
    raise ValueError(f"config.split.train_rows must be an integer >= 0 (0 = all "
                     f"training rows), got {rows!r}")
  n = len(prepared.train.y)
  if not rows or rows >= n:
    return prepared
  idx = np.sort(np.random.default_rng(seed).choice(n, rows, replace=False))
  summary = dict(prepared.summary)
  summary["rows"] = {**summary["rows"], "train": int(rows), "train_before_subset": n}
  return prepared._replace(train=jax.tree.map(lambda v: v[idx], prepared.train),
                           summary=summary)


def cv_folds_of(config: ml_collections.ConfigDict) -> int:
  """``config.cv_folds`` (0 = no cross-validation), checked."""
  k = config.get("cv_folds", 0) or 0
  if isinstance(k, bool) or not isinstance(k, int) or k == 1 or k < 0:
    raise ValueError(f"config.cv_folds must be 0 (off) or an integer >= 2, got "
                     f"{k!r}")
  return k


def _fold_data(config: ml_collections.ConfigDict, raw, fold: int,
               split_seed: int) -> data_lib.Prepared:
  """Fold ``fold`` of the pooled rows as test split; validation carved from the
  others (stratified, ``config.split.val_fraction`` of them)."""
  k = cv_folds_of(config)
  if isinstance(raw, dict):                       # the files' splits: pool them
    raw = csv_sequences.pool_splits(raw)[0]
  elif not isinstance(raw, (data_lib.RawSequences, data_lib.RawTabular)):
    train, test = raw                             # (train, test) tables
    groups = [getattr(r, "groups", None) for r in (train, test)]
    extra = ({"groups": np.concatenate(groups)}
             if all(g is not None for g in groups) else {})
    raw = train._replace(x=np.concatenate([train.x, test.x]),
                         y=np.concatenate([train.y, test.y]), **extra)
  if isinstance(raw, data_lib.RawSequences):
    indices = folds_lib.fold_indices(raw.y, k, fold,
                                     val_fraction=config.split.val_fraction,
                                     seed=split_seed)
    return _validated_fold(config, fold, data_lib.prepare_sequences(
        raw, indices=indices, placeholder=config.placeholder))
  groups = getattr(raw, "groups", None)
  test = folds_lib.stratified_folds(raw.y, k, split_seed, groups=groups)[fold]
  rest = np.setdiff1d(np.arange(len(raw.y)), test)

  def rows(idx):
    extra = {} if groups is None else {"groups": groups[idx]}
    return raw._replace(x=raw.x[idx], y=raw.y[idx], **extra)
  return _validated_fold(config, fold, data_lib.prepare_tabular(
      rows(rest), test=rows(test), val_fraction=config.split.val_fraction,
      split_seed=split_seed, scaling=config.scaling,
      placeholder=config.placeholder,
      drop_all_missing_columns=config.drop_all_missing_columns))


def _validated_fold(config, fold: int, prepared: data_lib.Prepared
                    ) -> data_lib.Prepared:
  """With validation AUROC as selection metric, a fold's validation part must
  hold every class (else the metric is undefined at every evaluation)."""
  if config.train.selection_metric == "auroc":
    missing = sorted(set(range(prepared.num_classes))
                     - set(np.unique(prepared.val.y).tolist()))
    if missing:
      raise ValueError(
          f"fold {fold} of {cv_folds_of(config)}: its validation part "
          f"({len(prepared.val.y)} rows) holds no row of class(es) {missing}, so "
          "validation AUROC, the selection metric, is undefined; use fewer folds, "
          "a larger config.split.val_fraction, or select on accuracy")
  return prepared

