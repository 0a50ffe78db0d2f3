"""Launcher methods beyond GIL: transforms, baselines, saved models, external
validation, imputation MSE and config grids."""

import json
import os

import ml_collections
import numpy as np
import pytest

from data_prep import csv_sequences
from gil_jax import data as data_lib
from gil_jax.baselines import boosting
from gil_jax.methods import METHODS, method_spec
from launch import datasets
from launch import evaluate
from launch import experiment
from launch import grid
from launch import imputation_mse
from launch import saved_models
from launch.configs import common
from launch.configs import digits_mcar


def _split(x, m, length):
  x, m = np.asarray(x, np.float32), np.asarray(m, np.float32)
  return data_lib.Split(x=x, m=m, y=np.zeros(len(x), np.int32),
                        length=np.asarray(length, np.int32))


def test_carry_forward_fills_from_the_last_observation_within_the_length():
  # One sequence, 4 steps (3 valid), 2 variables.
  x = [[[1.0, 0.0], [0.0, 5.0], [0.0, 0.0], [9.0, 9.0]]]
  m = [[[1, 0], [0, 1], [0, 0], [1, 1]]]
  out = data_lib.carry_forward(_split(x, m, [3]), placeholder=-1.0)
  np.testing.assert_array_equal(
      out.x[0], [[1.0, -1.0], [1.0, 5.0], [1.0, 5.0], [-1.0, -1.0]])
  np.testing.assert_array_equal(out.m, np.asarray(m, np.float32))
  with pytest.raises(ValueError, match="sequences"):
    data_lib.carry_forward(data_lib.Split(x=np.zeros((2, 3)), m=np.ones((2, 3)),
                                          y=np.zeros(2, np.int32)))


def test_mask_features_append_the_mask_as_always_observed_inputs():
  s = _split([[[2.0, 0.0]]], [[[1, 0]]], [1])
  out = data_lib.with_mask_features(s)
  np.testing.assert_array_equal(out.x, [[[2.0, 0.0, 1.0, 0.0]]])
  np.testing.assert_array_equal(out.m, [[[1.0, 0.0, 1.0, 1.0]]])


def test_boosting_summary_features_on_a_hand_example():
  # Variable 0 observed at steps 0 and 2 (values 1, 3); variable 1 never; length 4.
  x = [[[1.0, 0.0], [0.0, 0.0], [3.0, 0.0], [0.0, 0.0], [7.0, 7.0]]]
  m = [[[1, 0], [0, 0], [1, 0], [0, 0], [1, 1]]]   # step 4 is padding
  f = boosting.summarise(_split(x, m, [4]))
  # Layout: last, mean, min, max, count, since_last, each over the 2 variables.
  np.testing.assert_allclose(f[0, 0::2], [3.0, 2.0, 1.0, 3.0, 2.0, 1.0])
  assert np.isnan(f[0, [1, 3, 5, 7, 11]]).all() and f[0, 9] == 0.0


def _evaluate_on_internal_test_rows(tmp_path, train_dir, config, workdir) -> dict:
  """``launch.evaluate`` of ``workdir`` on a CSV set of exactly the run's internal
  test rows (so every run's external metrics must equal its internal ones)."""
  raw = csv_sequences.load_csv_pooled(train_dir)
  _, _, test_idx = data_lib.stratified_split(
      raw.y, config.split.val_fraction, config.split.test_fraction,
      config.split.split_seed)
  other = str(tmp_path / "other_csv")
  _write_csv_set(other, raw.x[test_idx], raw.y[test_idx], raw.length[test_idx],
                 ["test"] * len(test_idx))
  return evaluate.evaluate(workdir, other)


def _write_csv_set(directory, x, y, length, split_of_row):
  """Writes rows as the authors' layout: {split}_{label}.csv, one row per step."""
  os.makedirs(directory, exist_ok=True)
  names = [f"v{j}" for j in range(x.shape[2])]
  for split in sorted(set(split_of_row)):
    for label in (0, 1):
      with open(os.path.join(directory, f"{split}_{label}.csv"), "w") as f:
        f.write("id," + ",".join(names) + "\n")
        for i in range(len(y)):
          if split_of_row[i] != split or y[i] != label:
            continue
          for t in range(length[i]):
            cells = ["" if np.isnan(v) else f"{v:.6g}" for v in x[i, t]]
            f.write(f"{i}," + ",".join(cells) + "\n")


def _toy_sequences(n=80, steps=6, d=3, seed=0):
  rng = np.random.default_rng(seed)
  y = np.arange(n) % 2
  length = rng.integers(2, steps + 1, n)
  x = rng.normal(size=(n, steps, d)) + 1.5 * y[:, None, None]
  x[rng.random(x.shape) < 0.4] = np.nan
  x[np.arange(steps)[None, :] >= length[:, None]] = np.nan
  return x, y, length


def _sequence_config(directory):
  c = common.base_config()
  c.dataset = "csv_sequences"
  # pool: the files' train/val/test pooled and split by the config.
  c.data = ml_collections.ConfigDict({"directory": directory, "pool": True})
  c.methods = ("gil", "carry_forward_mask", "grud", "hgb")
  c.seeds = (0, 1)
  c.steps_per_call = 20
  c.train.model = "lstm"
  c.train.hidden = (8,)
  c.train.batch_size = 16
  c.train.num_steps = 20
  c.train.eval_every = 10
  c.train.selection_metric = "auroc"
  c.train.replay_capacity = 256
  c.train.rl_batch_size = 16
  c.train.actor_hidden = (16, 16)
  c.train.critic_hidden = (16, 16)
  return c


def test_sequence_baselines_run_save_models_and_score_externally(tmp_path):
  x, y, length = _toy_sequences()
  rows = ["train"] * 60 + ["val"] * 10 + ["test"] * 10
  train_dir = str(tmp_path / "train_csv")
  _write_csv_set(train_dir, x, y, length, rows)
  config = _sequence_config(train_dir)
  workdir = str(tmp_path / "run")
  results = experiment.run(config, workdir)
  assert list(results["methods"]) == list(config.methods)
  assert results["num_classes"] == 2
  for method in ("gil", "carry_forward_mask", "grud"):
    saved = saved_models.load_models(workdir, method)
    assert "scaler" in saved and saved["scaler"]["shift"].shape == (2, 3)
  assert "importance_network" in saved_models.load_models(workdir, "gil")
  assert not os.path.exists(os.path.join(workdir, "models", "hgb"))
  with pytest.raises(FileNotFoundError, match="no saved models"):
    saved_models.load_models(workdir, "hgb")

  # External validation on a set holding exactly the internal test rows: every
  # run's model, scaled with its own training statistics, gives the same metrics.
  out = _evaluate_on_internal_test_rows(tmp_path, train_dir, config, workdir)
  assert set(out["methods"]) == {"gil", "carry_forward_mask", "grud", "hgb"}
  assert not out["skipped"]
  for method, res in out["methods"].items():
    for metric, value in res["test"].items():
      np.testing.assert_allclose(
          value["per_run"],
          results["methods"][method]["test"][metric]["per_run"], atol=1e-6,
          err_msg=f"{method} {metric}")
  with pytest.raises(FileNotFoundError, match="--data_dir"):
    evaluate.evaluate(workdir, str(tmp_path / "nowhere"))


def _tiny_digits(methods, scaling, num_steps):
  """Digits, 2 mask seeds x 1 seed, a 16-unit MLP: seconds per method."""
  config = digits_mcar.get_config()
  config.methods = methods
  config.seeds = (0,)
  config.mask_seeds = (0, 1)
  config.scaling = scaling
  config.train.hidden = (16,)
  config.train.num_steps = num_steps
  config.train.eval_every = 10
  return config


def test_tabular_baselines_record_imputation_mse_against_complete_data(tmp_path):
  config = _tiny_digits(("zero", "mean", "knn", "input_space"), "none", 20)
  results = experiment.run(config, str(tmp_path))
  methods = results["methods"]
  assert "imputation_mse" not in methods["input_space"]
  # Zero filling: the MSE is the mean square of the hidden true pixels.
  expected = []
  for mask_seed in (0, 1):
    masked = datasets.load_data(config, mask_seed=mask_seed)
    full = datasets.load_data(
        _with(config, "data.missing_rate", 0.0), mask_seed=mask_seed)
    missing = masked.test.m == 0
    expected.append(float(np.mean(full.test.x[missing] ** 2)))
  np.testing.assert_allclose(methods["zero"]["imputation_mse"]["per_run"],
                             expected, rtol=1e-6)
  assert (methods["knn"]["imputation_mse"]["mean"]
          < methods["mean"]["imputation_mse"]["mean"]
          < methods["zero"]["imputation_mse"]["mean"])


def test_imputation_mse_compares_only_the_columns_a_run_kept():
  # With drop_all_missing_columns a run's data lacks the dropped columns; the
  # complete data still has them, so the MSE must line the columns up by name.
  config = _tiny_digits(("zero",), "none", 10)
  p = datasets.load_data(config, mask_seed=0)
  keep = np.arange(1, len(p.feature_names))         # as if column 0 were dropped
  cut = lambda s: s._replace(x=s.x[:, keep], m=s.m[:, keep])
  dropped = p._replace(train=cut(p.train), val=cut(p.val), test=cut(p.test),
                       feature_names=tuple(p.feature_names[i] for i in keep),
                       train_mean=p.train_mean[keep],
                       scaler=tuple(v[keep] for v in p.scaler))
  full = datasets.load_data(_with(config, "data.missing_rate", 0.0), mask_seed=0)
  missing = dropped.test.m == 0
  expected = float(np.mean(full.test.x[:, keep][missing] ** 2))
  mse = imputation_mse.measure(config, method_spec("zero"),
                                   [{"mask_seed": 0}], [dropped])
  np.testing.assert_allclose(mse["per_run"], [expected], rtol=1e-6)


def test_standardised_inputs_zero_gil_h_and_mean_are_one_computation(tmp_path):
  # The MNIST configs run only `mean` on standardised pixels and report it for zero
  # imputation and GIL-H too; this is what makes that honest.
  config = _tiny_digits(("zero", "gil_h", "mean"), "standardize", 40)
  methods = experiment.run(config, str(tmp_path))["methods"]
  for split in ("val", "test"):
    acc = [methods[m][split]["accuracy"]["per_run"] for m in config.methods]
    np.testing.assert_allclose(acc[1], acc[0])
    np.testing.assert_allclose(acc[2], acc[0], atol=1e-3)
  # Imputation MSE is in raw units: filling the placeholder 0 of standardised data
  # is filling the observed training mean of each pixel.
  expected = []
  for mask_seed in (0, 1):
    masked = datasets.load_data(config, mask_seed=mask_seed)
    full = datasets.load_data(
        _with(_with(config, "data.missing_rate", 0.0), "scaling", "none"),
        mask_seed=mask_seed)
    shift, _ = masked.scaler
    missing = masked.test.m == 0
    expected.append(float(np.mean(((full.test.x - shift)[missing]) ** 2)))
  for m in config.methods:
    np.testing.assert_allclose(methods[m]["imputation_mse"]["per_run"], expected,
                               rtol=1e-5)


def test_mean_placeholder_makes_zero_mean_imputation_and_gil_h_differ(tmp_path):
  # launch/configs/mnist_mcar_meanfill.py: raw pixels, missing = training mean.
  config = _tiny_digits(("zero", "mean", "gil_h"), "none", 40)
  with config.ignore_type():
    config.placeholder = "mean"
  methods = experiment.run(config, str(tmp_path))["methods"]
  acc = {m: methods[m]["val"]["accuracy"]["per_run"] for m in config.methods}
  np.testing.assert_allclose(acc["zero"], acc["mean"], atol=1e-3)  # same inputs
  assert acc["gil_h"] != acc["zero"]        # x * m drops the filled means' gradient
  np.testing.assert_allclose(methods["zero"]["imputation_mse"]["per_run"],
                             methods["mean"]["imputation_mse"]["per_run"], rtol=1e-6)


def _with(config, field, value):
  import copy
  cfg = copy.deepcopy(config)
  *parents, leaf = field.split(".")
  node = cfg
  for p in parents:
    node = node[p]
  with cfg.unlocked():
    node[leaf] = value
  return cfg


def test_grid_settings_one_workdir_per_value_and_clear_errors(tmp_path):
  config = digits_mcar.get_config()
  assert grid.grid_settings(config, "w") == [(config, "w")]
  config.grid.field = "data.missing_rate"
  config.grid.settings = (0.5, 0.9)
  settings = grid.grid_settings(config, "w")
  assert [w for _, w in settings] == ["w/missing_rate_0.5", "w/missing_rate_0.9"]
  assert [c.data.missing_rate for c, _ in settings] == [0.5, 0.9]
  assert all(not c.grid.settings for c, _ in settings)
  config.grid.field = "data.no_such_field"
  with pytest.raises(ValueError, match="names no config field"):
    grid.grid_settings(config, "w")
  config.grid.field = ""
  with pytest.raises(ValueError, match="field is empty"):
    grid.grid_settings(config, "w")


def test_unknown_method_fails_before_training(tmp_path):
  config = digits_mcar.get_config()
  config.methods = ("zero", "no_such_method")
  with pytest.raises(ValueError, match="unknown method 'no_such_method'"):
    experiment.run(config, str(tmp_path))
  assert not os.path.exists(os.path.join(str(tmp_path), "results.json"))
  json.dumps(METHODS["grud"]._asdict())   # specs are plain data


def test_csv_sequences_config_needs_a_folder_and_loads_it(tmp_path):
  from launch.configs import csv_sequences as csv_config
  with pytest.raises(ValueError, match="CSV folder"):
    csv_config.get_config()
  x, y, length = _toy_sequences(n=40)
  _write_csv_set(str(tmp_path), x, y, length, ["train"] * 30 + ["val"] * 5
                 + ["test"] * 5)
  config = csv_config.get_config(str(tmp_path))
  prepared = datasets.load_data(config)
  assert prepared.train.x.shape[1:] == (6, 3)
  assert sum(len(s.y) for s in (prepared.train, prepared.val, prepared.test)) == 40


def test_toy_sequences_config_learns_the_drift(tmp_path):
  from launch.configs import toy_sequences
  config = toy_sequences.get_config()
  config.methods = ("gil", "carry_forward")
  config.seeds = (0,)
  config.train.num_steps = 100
  results = experiment.run(config, str(tmp_path))
  assert results["data_summary"]["steps"] == 12
  for method in ("gil", "carry_forward"):
    assert results["methods"][method]["test"]["auroc"]["mean"] > 0.75, method


def test_external_tabular_set_is_scaled_with_the_saved_training_statistics():
  rng = np.random.default_rng(0)
  x = rng.normal(3.0, 2.0, size=(200, 4))
  x[rng.random(x.shape) < 0.3] = np.nan
  raw = data_lib.RawTabular(x=x, y=rng.integers(0, 2, 200), num_classes=2,
                            feature_names=tuple("abcd"), name="toy")
  prepared = data_lib.prepare_tabular(raw, scaling="standardize")
  shift, scale = prepared.scaler
  saved = {"scaler": {"shift": shift[None], "scale": scale[None]}}
  config = ml_collections.ConfigDict({"scaling": "standardize", "placeholder": 0.0})
  split = evaluate.external_split(config, raw, saved, 0)
  m = ~np.isnan(x)
  np.testing.assert_array_equal(split.m, m)
  np.testing.assert_allclose(split.x[m], ((x - shift) / scale)[m], rtol=1e-5)
  assert np.all(split.x[~m] == 0.0)
  with pytest.raises(ValueError, match="no scaler"):
    evaluate.external_split(config, raw, {}, 0)
  with pytest.raises(ValueError, match="features"):
    evaluate.external_split(config, raw._replace(x=x[:, :3]), saved, 0)
