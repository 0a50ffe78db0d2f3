"""launch.figures: importance maps, Pearson table, and the figures of a tiny grid."""

import copy
import csv
import json
import math
import os
import shutil

import jax
import ml_collections
import numpy as np
import pytest
from scipy import stats

from launch import datasets, experiment, figures, saved_models, translation
from launch.configs import digits_mcar


def test_mean_importance_maps_over_all_and_observed_entries():
  a = np.array([[0.2, 0.9, 0.5],
                [0.4, 0.1, 0.5],
                [0.6, 0.5, 0.5]])
  m = np.array([[1, 0, 0],
                [1, 1, 0],
                [0, 1, 0]], np.float32)
  mean_all, mean_obs, std_obs = figures.mean_importance_maps(a, m)
  np.testing.assert_allclose(mean_all, [0.4, 0.5, 0.5])
  np.testing.assert_allclose(mean_obs[:2], [0.3, 0.3])
  np.testing.assert_allclose(std_obs[:2], [0.1, 0.2])
  assert np.isnan(mean_obs[2]) and np.isnan(std_obs[2])   # never observed


def test_image_shape_and_subsample():
  assert figures.image_shape(784) == (28, 28)
  assert figures.image_shape(64) == (8, 8)
  assert figures.image_shape(6, ["2", "3"]) == (2, 3)
  with pytest.raises(ValueError, match="square"):
    figures.image_shape(10)
  with pytest.raises(ValueError, match="does not hold"):
    figures.image_shape(10, (3, 3))
  idx = figures.subsample(100, 10, seed=1)
  assert len(idx) == 10 and np.all(np.diff(idx) > 0)
  np.testing.assert_array_equal(idx, figures.subsample(100, 10, seed=1))
  np.testing.assert_array_equal(figures.subsample(5, 10), np.arange(5))
  np.testing.assert_array_equal(figures.subsample(5, 0), np.arange(5))


def _metric(values):
  return {"mean": float(np.mean(values)), "std": 0.0, "per_run": list(values)}


def _setting(rate, methods):
  runs = [{"mask_seed": 0, "seed": 0}, {"mask_seed": 1, "seed": 0}]
  res = {"config": {"data": {"missing_rate": rate}}, "runs": runs, "methods": {}}
  for name, (mse, acc) in methods.items():
    res["methods"][name] = {"test": {"accuracy": _metric(acc)}}
    if mse is not None:
      res["methods"][name]["imputation_mse"] = _metric(mse)
  return figures.Setting(f"MR {100 * rate:g}%", rate, "/nowhere", res)


def test_pearson_over_runs_and_methods_per_setting():
  s50 = _setting(0.5, {"zero": ([0.3, 0.32], [0.90, 0.91]),
                       "mean": ([0.2, 0.21], [0.92, 0.925]),
                       "gain": ([0.1, 0.12], [0.95, 0.93]),
                       "gil": (None, [0.96, 0.97])})        # no MSE: not a point
  s90 = _setting(0.9, {"zero": ([0.5, 0.5], [0.7, 0.7])})  # 2 points: r undefined
  rows = figures.mse_accuracy_rows([s50, s90])
  assert [r["method"] for r in rows[:6]] == ["zero"] * 2 + ["mean"] * 2 + ["gain"] * 2
  assert rows[1]["mask_seed"] == 1 and rows[1]["run"] == 1
  table = figures.pearson_by_setting(rows)
  assert [t["setting"] for t in table] == ["MR 50%", "MR 90%"]
  x = [0.3, 0.32, 0.2, 0.21, 0.1, 0.12]
  y = [0.90, 0.91, 0.92, 0.925, 0.95, 0.93]
  expected = stats.pearsonr(x, y)
  assert table[0]["n_points"] == 6 and table[0]["n_methods"] == 3
  assert table[0]["pearson_r"] == pytest.approx(np.corrcoef(x, y)[0, 1])
  assert table[0]["p_value"] == pytest.approx(expected.pvalue)
  assert table[0]["pearson_r"] < 0
  assert math.isnan(table[1]["pearson_r"]) and table[1]["n_points"] == 2


def test_missing_workdir_is_an_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    figures.find_settings(str(tmp_path / "nope"))
  with pytest.raises(FileNotFoundError, match="no results.json"):
    figures.find_settings(str(tmp_path))
  with pytest.raises(ValueError, match="unknown figures"):
    figures.make_figures(str(tmp_path), str(tmp_path / "out"), ["histogram"])


@pytest.fixture(scope="module")
def digits_grid(tmp_path_factory):
  """Two missing rates x two mask seeds of a tiny digits run (about 10-20 s)."""
  root = tmp_path_factory.mktemp("grid")
  base = digits_mcar.get_config()
  with base.unlocked():
    base.scaling = "none"                  # imputation_mse needs unscaled data
    base.methods = ("gil", "zero", "mean")
    base.seeds = (0,)
    base.mask_seeds = (0, 1)
    base.train.hidden = (32,)
    base.train.actor_hidden = (32, 32)
    base.train.critic_hidden = (32, 32)
    base.train.num_steps = 50
    base.train.eval_every = 25
    base.train.replay_capacity = 256
    base.steps_per_call = 50
  for rate in (0.5, 0.7):
    cfg = copy.deepcopy(base)
    with cfg.unlocked():
      cfg.data.missing_rate = rate
    experiment.run(cfg, str(root / f"missing_rate_{rate}"))
  return str(root)


def test_figures_of_a_tiny_digits_grid(digits_grid, tmp_path, capsys):
  out = str(tmp_path / "figs")
  written = figures.make_figures(digits_grid, out, num_images=100, tsne_rate=0.7)
  assert set(written) == {"importance", "tsne", "mse"}
  for name in ("importance_maps.png", "tsne_70.png",
               "imputation_mse_vs_accuracy.png", "imputation_mse_vs_accuracy.csv",
               "imputation_mse_pearson.csv"):
    assert os.path.getsize(os.path.join(out, name)) > 0, name

  # The CSV holds results.json's per-run numbers; Pearson's r recomputed from them.
  with open(os.path.join(out, "imputation_mse_vs_accuracy.csv")) as f:
    rows = list(csv.DictReader(f))
  settings = figures.find_settings(digits_grid)
  assert [s.label for s in settings] == ["MR 50%", "MR 70%"]
  assert len(rows) == 2 * 2 * 2            # rates x {zero, mean} x mask seeds
  with open(os.path.join(out, "imputation_mse_pearson.csv")) as f:
    pearson = {r["setting"]: r for r in csv.DictReader(f)}
  for s in settings:
    mine = [r for r in rows if r["setting"] == s.label]
    assert {r["method"] for r in mine} == {"zero", "mean"}
    for r in mine:
      res = s.results["methods"][r["method"]]
      i = int(r["run"])
      assert float(r["imputation_mse"]) == pytest.approx(
          res["imputation_mse"]["per_run"][i], rel=1e-5)
      assert float(r["test_accuracy"]) == pytest.approx(
          res["test"]["accuracy"]["per_run"][i], rel=1e-5)
      assert int(r["mask_seed"]) == s.results["runs"][i]["mask_seed"]
    x = [float(r["imputation_mse"]) for r in mine]
    y = [float(r["test_accuracy"]) for r in mine]
    assert float(pearson[s.label]["pearson_r"]) == pytest.approx(
        np.corrcoef(x, y)[0, 1], rel=1e-4, abs=1e-6)
    assert int(pearson[s.label]["n_points"]) == 4

  # Importance: the actor's output on the rebuilt policy state, in [0, 1].
  a, m = figures.gil_importance(settings[0], num_images=50)
  assert a.shape == m.shape == (2 * 50, 64)
  assert np.all((a >= 0) & (a <= 1))
  # Rebuilt test inputs (imputed as in training) reproduce results.json's accuracy.
  config = ml_collections.ConfigDict(settings[1].results["config"])
  run = settings[1].results["runs"][1]
  prepared = datasets.load_data(config, mask_seed=run["mask_seed"])
  for method in ("gil", "zero", "mean"):
    test, _ = figures.method_test_split(prepared, method, config)
    saved = saved_models.load_models(settings[1].workdir, method)
    trainer = translation.make_trainer(config, method, 64, 10)
    logits, _ = trainer.predictor.model.module.apply(
        jax.tree.map(lambda v: v[1], saved["params"]), test.x)
    acc = float(np.mean(np.argmax(logits, -1) == test.y))
    assert acc == pytest.approx(
        settings[1].results["methods"][method]["test"]["accuracy"]["per_run"][1])
  # t-SNE "auto" = gil, mean and the first fallback with models (zero here).
  assert figures.resolve_tsne_methods(settings[1], ["auto"]) == ["gil", "mean", "zero"]

  # Missing models: the figure is skipped with a message, the others still drawn.
  written = figures.make_figures(digits_grid, str(tmp_path / "f2"),
                                 ["tsne", "mse"], num_images=60, tsne_rate=0.9)
  assert set(written) == {"mse"}
  assert "no setting with missing rate 0.9" in capsys.readouterr().out


def test_settings_of_separate_workdirs_are_merged(digits_grid, tmp_path):
  # Methods run into two workdirs (as the MNIST imputers are) read as one grid.
  parts = {"a": ("zero",), "b": ("gil", "mean")}
  for name, keep in parts.items():
    shutil.copytree(digits_grid, tmp_path / name)
    for d in (tmp_path / name).iterdir():
      path = d / "results.json"
      res = json.loads(path.read_text())
      res["methods"] = {k: v for k, v in res["methods"].items() if k in keep}
      path.write_text(json.dumps(res))
  a, b = str(tmp_path / "a"), str(tmp_path / "b")
  merged = figures.find_settings([a, b])
  assert [s.label for s in merged] == ["MR 50%", "MR 70%"]
  for s in merged:
    assert set(s.results["methods"]) == {"zero", "gil", "mean"}
    assert s.dir_of("zero").startswith(a) and s.dir_of("gil").startswith(b)
  imp, _ = figures.gil_importance(merged[0], num_images=20)   # models from b
  assert imp.shape == (2 * 20, 64)
  rows = figures.mse_accuracy_rows(merged)
  assert {r["method"] for r in rows} == {"zero", "mean"}
  with pytest.raises(ValueError, match="in both"):
    figures.find_settings([a, a])
  path = tmp_path / "b" / "missing_rate_0.5" / "results.json"
  res = json.loads(path.read_text())
  res["runs"] = res["runs"][:1]
  path.write_text(json.dumps(res))
  with pytest.raises(ValueError, match="different runs"):
    figures.find_settings([a, b])
