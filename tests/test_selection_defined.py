"""Model selection never picks silently: with validation AUROC as the selection
metric, a validation split (or a cross-validation fold's validation part) without
rows of a class is an error naming the run or the fold and the missing class."""

import numpy as np
import pytest

import gil_jax
from gil_jax.config import from_options


def _one_class_validation():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(60, 3)).astype(np.float32)
  y = np.r_[np.zeros(50), np.ones(10)].astype(np.int32)
  prepared = gil_jax.prepare_tabular(gil_jax.RawTabular(x, y, 2, ("a", "b", "c"),
                                                        "toy"))
  val = prepared.val
  keep = val.y == 0                                   # validation: class 0 only
  return prepared._replace(val=gil_jax.Split(val.x[keep], val.m[keep], val.y[keep]))


def test_fit_refuses_auroc_selection_on_a_validation_split_without_a_class():
  config = from_options("plain", dict(hidden=(8,), batch_size=16, num_steps=20,
                                      eval_every=10, selection_metric="auroc"))
  with pytest.raises(ValueError, match=r"run 0 \(seed 3\).*class\(es\) \[1\]"):
    gil_jax.fit(config, _one_class_validation(), 3)
  # Accuracy is defined on one class: that selection still runs.
  accuracy = config.__class__(**{**config.__dict__, "selection_metric": "accuracy"})
  assert gil_jax.fit(accuracy, _one_class_validation(), 3).best_step > 0


def test_a_fold_whose_validation_part_lacks_a_class_is_named():
  # Stratified folds give every validation part every class; grouped folds (a
  # patient's rows together) or the files' own splits need not.
  from launch import datasets
  from launch.configs import common
  config = common.base_config()
  config.cv_folds = 3
  config.train.selection_metric = "auroc"
  with pytest.raises(ValueError, match=r"fold 2 of 3: its validation part \(5 rows\) "
                     r"holds no row of class\(es\) \[1\]"):
    datasets._validated_fold(config, 2, _one_class_validation())
