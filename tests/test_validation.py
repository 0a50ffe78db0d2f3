"""Bad configs, workdirs and data give a clear error naming the problem, at once;
never a silent wrong result."""

import copy
import importlib
import os

import numpy as np
import pytest

from gil_jax import data as data_lib
from gil_jax.config import from_options
from launch import datasets
from launch import experiment
from launch import grid
from launch import validation
from launch.configs import common, digits_mcar


def _with(config, field, value):
  cfg = copy.deepcopy(config)
  *parents, leaf = field.split(".")
  node = cfg
  for p in parents:
    node = node[p]
  with cfg.unlocked(), cfg.ignore_type():
    node[leaf] = value
  return cfg


CONFIGS = sorted(f[:-3] for f in os.listdir(os.path.dirname(common.__file__))
                 if f.endswith(".py") and f not in ("__init__.py", "common.py"))


@pytest.mark.parametrize("name", CONFIGS)
def test_every_shipped_config_passes(name):
  module = importlib.import_module(f"launch.configs.{name}")
  # csv_sequences needs its folder (config.py:PATH); the others have defaults.
  config = (module.get_config("/some/folder") if name == "csv_sequences"
            else module.get_config())
  for cfg, _ in grid.grid_settings(config, "/tmp/unused"):
    validation.check_config(cfg, datasets.DATASETS)


@pytest.mark.parametrize("field, value, named", [
    # The silent cases: each trained "successfully" to a wrong result.
    ("train.learning_rate", -0.001, "train.learning_rate"),
    ("train.learning_rate", float("nan"), "train.learning_rate"),
    ("train.actor_lr", 0.0, "train.actor_lr"),
    ("train.critic_lr", float("inf"), "train.critic_lr"),
    ("train.hidden", (-5,), "train.hidden"),
    ("train.gamma", 2.0, "train.gamma"),
    ("train.tau", 5.0, "train.tau"),
    ("train.tau", 0.0, "train.tau"),
    # Late or bare failures before.
    ("train.hidden", (0,), "train.hidden"),
    ("train.actor_hidden", (400, 0), "train.actor_hidden"),
    ("train.meta_hidden", (0,), "train.meta_hidden"),
    ("methods", (), "methods"),
    ("methods", ("gil", "gil"), "methods"),
    ("seeds", (), "seeds"),
    ("seeds", (0, 0), "seeds"),
    ("mask_seeds", (-1,), "mask_seeds"),
    ("placeholder", float("nan"), "placeholder"),
    ("placeholder", "median", "placeholder"),
    ("scaling", "minmax", "scaling"),
    ("steps_per_call", 0, "steps_per_call"),
    ("split.val_fraction", 0.0, "split.val_fraction"),
    ("split.test_fraction", 0.95, "split"),
    ("data.missing_rate", 1.0, "data.missing_rate"),
    ("data.mask_seed", -3, "data.mask_seed"),
    ("data.missing_rat", 0.5, "data"),                  # the loader has no such arg
    ("dataset", "digitz", "dataset"),
    ("train.num_steps", 1010, "train.num_steps"),       # not a multiple of eval_every
    ("exploration.p2", 0.9, "exploration"),             # p2 + p3 > 1
    ("exploration.sigma", -0.2, "exploration.sigma"),
    ("imputer_options.knn.max_fit_rows", 0, "imputer_options.knn.max_fit_rows"),
    ("train.gil_d_c", float("nan"), "train.gil_d_c"),
    # Fields of the held-out-credit methods and the authors' switches: checked
    # by name even for a config whose methods build no TrainConfig (below).
    ("train.meta_batch_size", 0, "train.meta_batch_size"),
    ("train.meta_shrink", 1.5, "train.meta_shrink"),
    ("train.meta_shrink", float("nan"), "train.meta_shrink"),
    ("train.missing_importance", -0.1, "train.missing_importance"),
    ("train.missing_importance", float("nan"), "train.missing_importance"),
    ("train.meta_prior", "zeros", "train.meta_prior"),
    ("train.critic_hidden", (8,), "train.critic_hidden"),
    ("cv_folds", 1, "cv_folds"),
    ("authors.l2", -0.02, "authors.l2"),
    ("authors.bn_eval_rows", 0, "authors.bn_eval_rows"),
])
def test_bad_value_is_rejected_naming_the_field(field, value, named):
  config = _with(digits_mcar.get_config(), field, value)
  with pytest.raises(validation.ConfigError, match=rf"config\.{named}\b"):
    validation.check_config(config, datasets.DATASETS)


@pytest.mark.parametrize("field, value", [
    ("train.meta_shrink", 2.0), ("train.critic_hidden", (8,)),
    ("train.learning_rate", -1.0), ("authors.l2", float("inf"))])
def test_train_fields_are_checked_when_no_method_trains_a_network(field, value):
  # hgb builds no TrainConfig (whose own checks would catch these); a bad value
  # is still an error, and a later run adding a network method would not differ.
  config = _with(digits_mcar.get_config(), "methods", ("hgb",))
  with pytest.raises(validation.ConfigError, match=rf"config\.{field}\b"):
    validation.check_config(_with(config, field, value), datasets.DATASETS)


def test_trainer_config_refuses_rates_and_widths_out_of_range():
  # The library's own net under the launcher's checks.
  for bad in (dict(learning_rate=-1e-3), dict(learning_rate=float("nan")),
              dict(actor_lr=0.0), dict(gamma=2.0), dict(tau=5.0), dict(tau=0.0),
              dict(hidden=(-5,)), dict(critic_hidden=(0, 3))):
    with pytest.raises(ValueError, match=next(iter(bad))):
      from_options("gil", bad)


def test_run_checks_the_config_before_loading_any_data(tmp_path, monkeypatch):
  def no_loading(*args, **kwargs):
    raise AssertionError("data were loaded before the config was checked")
  monkeypatch.setattr(datasets, "load_data", no_loading)
  config = _with(digits_mcar.get_config(), "train.learning_rate", -0.001)
  with pytest.raises(validation.ConfigError, match="learning_rate"):
    experiment.run(config, str(tmp_path / "run"))


def test_workdir_that_is_a_file_or_under_a_file_is_rejected(tmp_path):
  path = tmp_path / "results"
  path.write_text("not a directory")
  with pytest.raises(ValueError, match="not a directory"):
    validation.check_workdir(str(path))
  with pytest.raises(ValueError, match="cannot create workdir"):
    validation.check_workdir(str(path / "sub"))
  validation.check_workdir(str(tmp_path / "new" / "dir"))
  assert os.path.isdir(tmp_path / "new" / "dir")


def test_unwritable_workdir_is_rejected(tmp_path, monkeypatch):
  if os.geteuid() == 0:      # root writes to read-only folders: the OS's refusal
    def refuse(*args, **kwargs):
      raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(validation.tempfile, "NamedTemporaryFile", refuse)
  os.chmod(tmp_path, 0o500)
  try:
    with pytest.raises(ValueError, match="not writable: Permission denied"):
      validation.check_workdir(str(tmp_path))
  finally:
    os.chmod(tmp_path, 0o700)


# Data: tiny sets, gaps in the labels, overflowing values.

def _raw(x, y, num_classes=2):
  x = np.asarray(x, np.float64)
  return data_lib.RawTabular(x=x, y=np.asarray(y, np.int32), num_classes=num_classes,
                             feature_names=tuple(f"f{i}" for i in range(x.shape[1])),
                             name="t")


@pytest.mark.parametrize("rows", [3, 10])
def test_too_few_rows_to_split_is_our_own_error(rows):
  rng = np.random.default_rng(0)
  raw = _raw(rng.normal(size=(rows, 2)), np.arange(rows) % 2)
  with pytest.raises(ValueError, match=rf"too few rows to split: {rows} rows"):
    data_lib.prepare_tabular(raw)


def test_labels_with_gaps_are_rejected():
  # CSV files train_0.csv and train_5.csv: num_classes = 6, four never seen.
  rng = np.random.default_rng(0)
  raw = _raw(rng.normal(size=(60, 2)), np.where(np.arange(60) % 2, 5, 0), 6)
  with pytest.raises(ValueError, match=r"contiguous.*\[1, 2, 3, 4\]"):
    data_lib.prepare_tabular(raw)
  seq = data_lib.RawSequences(
      x=rng.normal(size=(60, 3, 2)), y=np.where(np.arange(60) % 2, 5, 0),
      length=np.full(60, 3, np.int32), num_classes=6, feature_names=("a", "b"),
      name="s")
  with pytest.raises(ValueError, match="contiguous"):
    data_lib.prepare_sequences(seq)


def test_non_finite_placeholder_is_rejected():
  raw = _raw(np.random.default_rng(0).normal(size=(60, 2)), np.arange(60) % 2)
  with pytest.raises(ValueError, match="placeholder must be finite"):
    data_lib.prepare_tabular(raw, placeholder=float("nan"))


def test_values_near_1e300_standardise_correctly_or_fail_clearly():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(200, 3))
  x[rng.random(x.shape) < 0.3] = np.nan
  y = np.arange(200) % 2
  small = data_lib.prepare_tabular(_raw(x, y))
  huge = data_lib.prepare_tabular(_raw(x * 1e300, y))
  # Standardised values do not depend on the units: before, the variance
  # overflowed and every feature became 0.
  np.testing.assert_allclose(huge.train.x, small.train.x, rtol=1e-5, atol=1e-6)
  assert np.all(np.isfinite(huge.scaler[1])) and huge.scaler[1].min() > 1e299
  np.testing.assert_allclose(
      data_lib.prepare_tabular(_raw(x * 1e300, y), scaling="max").train.x,
      data_lib.prepare_tabular(_raw(x, y), scaling="max").train.x, rtol=1e-5)
  # Unscaled, 1e300 cannot be a float32 input: an error naming the column.
  with pytest.raises(ValueError, match="float32 range.*'f0'"):
    data_lib.prepare_tabular(_raw(x * 1e300, y), scaling="none")
  # Sequences go through the same statistics.
  seq = data_lib.RawSequences(
      x=np.stack([x, x], 1) * 1e300, y=y, length=np.full(200, 2, np.int32),
      num_classes=2, feature_names=("a", "b", "c"), name="s")
  z = data_lib.prepare_sequences(seq).train.x
  assert np.all(np.isfinite(z)) and 0.5 < np.std(z[z != 0]) < 2
