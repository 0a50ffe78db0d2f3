"""K-fold cross-validation: the folds (gil_jax/data/folds.py) and the launcher's
``config.cv_folds`` (each fold a run, results per fold, report)."""

import numpy as np
import pytest

from gil_jax import data as data_lib
from gil_jax.data import folds


def _labels(n0=41, n1=12, n2=7, seed=0):
  y = np.repeat([0, 1, 2], [n0, n1, n2])
  return np.random.default_rng(seed).permutation(y)


def test_folds_are_disjoint_stratified_and_cover_every_row_once():
  y = _labels()
  k = 5
  parts = folds.stratified_folds(y, k, seed=3)
  assert len(parts) == k
  every = np.concatenate(parts)
  np.testing.assert_array_equal(np.sort(every), np.arange(len(y)))  # once each
  for part in parts:
    for c in (0, 1, 2):
      # Each class is dealt evenly: floor or ceil of its share per fold.
      n_c = int((y == c).sum())
      assert n_c // k <= int((y[part] == c).sum()) <= -(-n_c // k)
  # Another seed deals other rows; the same seed the same.
  assert any(not np.array_equal(a, b) for a, b in
             zip(parts, folds.stratified_folds(y, k, seed=4)))
  for a, b in zip(parts, folds.stratified_folds(y, k, seed=3)):
    np.testing.assert_array_equal(a, b)


def test_fold_indices_partition_rows_with_a_stratified_validation_split():
  y = _labels()
  tests = []
  for fold in range(4):
    train, val, test = folds.fold_indices(y, 4, fold, val_fraction=0.2, seed=1)
    both = np.concatenate([train, val, test])
    np.testing.assert_array_equal(np.sort(both), np.arange(len(y)))
    assert len(val) == round(0.2 * (len(y) - len(test)))
    assert set(np.unique(y[val])) == {0, 1, 2}
    tests.append(test)
  np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(len(y)))


def test_grouped_folds_keep_each_group_in_one_fold():
  rng = np.random.default_rng(0)
  groups = rng.integers(0, 30, 120)            # e.g. patients with several visits
  y = (groups % 3 == 0).astype(int)
  parts = folds.stratified_folds(y, 3, seed=0, groups=groups)
  np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(120))
  owners = [set(groups[p]) for p in parts]
  assert all(not (a & b) for i, a in enumerate(owners) for b in owners[i + 1:])


def test_fold_errors_name_the_problem():
  y = _labels()
  with pytest.raises(ValueError, match="integer >= 2"):
    folds.stratified_folds(y, 1)
  with pytest.raises(ValueError, match=r"at least 8 rows of every class.*\{2: 7\}"):
    folds.stratified_folds(y, 8)
  with pytest.raises(ValueError, match="fold must lie in"):
    folds.fold_indices(y, 3, 3)


def test_equal_shape_groups():
  def prepared(n_train):
    split = lambda n: data_lib.Split(x=np.zeros((n, 2)), m=np.zeros((n, 2)),
                                     y=np.zeros(n, np.int32))
    return data_lib.Prepared(train=split(n_train), val=split(3), test=split(4),
                             num_classes=2, feature_names=("a", "b"),
                             train_mean=np.zeros(2), summary={})
  runs = [prepared(n) for n in (10, 11, 10, 11, 10)]
  assert folds.equal_shape_groups(runs) == [[0, 2, 4], [1, 3]]


def _toy_table(n=90, d=4, seed=0):
  rng = np.random.default_rng(seed)
  y = (np.arange(n) % 3 == 0).astype(np.int32)
  x = rng.normal(size=(n, d)) + y[:, None]
  x[rng.random(x.shape) < 0.3] = np.nan
  return data_lib.RawTabular(x=x, y=y, num_classes=2,
                             feature_names=tuple(f"f{j}" for j in range(d)),
                             name="toy_table")


def test_launcher_cross_validates_a_table_and_reports_each_fold(tmp_path,
                                                                monkeypatch):
  from launch import datasets, experiment, report
  from launch.configs import common
  raw = _toy_table()
  monkeypatch.setitem(datasets.DATASETS, "toy_table", lambda **_: raw)
  config = common.base_config()
  config.dataset = "toy_table"
  config.methods = ("mean", "hgb")
  config.seeds = (0,)
  config.cv_folds = 4
  config.train.hidden = (8,)
  config.train.batch_size = 16
  config.train.num_steps = 10
  config.train.eval_every = 10
  config.train.selection_metric = "auroc"
  config.steps_per_call = 10
  results = experiment.run(config, str(tmp_path))
  # 90 rows in 4 folds: 23 + 23 + 22 + 22 test rows, every row a test row once;
  # the folds' two shapes train as two vmapped groups.
  assert results["cv_folds"] == 4
  assert sorted(results["cv_test_rows"]) == [22, 22, 23, 23]
  assert [r["fold"] for r in results["runs"]] == [0, 1, 2, 3]
  for method in ("mean", "hgb"):
    auroc = results["methods"][method]["test"]["auroc"]
    assert len(auroc["per_run"]) == 4 and len(auroc["per_fold"]) == 4
    np.testing.assert_allclose(auroc["per_fold"], auroc["per_run"])
    assert auroc["fold_std"] == pytest.approx(np.std(auroc["per_fold"], ddof=1))
  md = report.build_report([("cv.json", results)]).markdown
  assert "4-fold cross-validation" in md and "fold 3" in md
  assert f"{100 * results['methods']['hgb']['test']['auroc']['per_fold'][1]:.2f}" in md
  # Each fold's test rows are exactly that fold (the launcher and the library agree).
  fold0 = datasets.load_data(config, fold=0)
  rows = folds.stratified_folds(raw.y, 4, config.split.split_seed)[0]
  np.testing.assert_array_equal(fold0.test.y, raw.y[rows])
  np.testing.assert_array_equal(fold0.test.m, ~np.isnan(raw.x[rows]))


def test_sequence_folds_through_the_launcher_data_path():
  from launch import datasets
  from launch.configs import toy_sequences
  config = toy_sequences.get_config()
  config.data.num_sequences = 62
  config.data.steps = 5
  config.cv_folds = 3
  raw = datasets.DATASETS["toy_sequences"](**config.data.to_dict())
  parts = folds.stratified_folds(raw.y, 3, config.split.split_seed)
  for k in range(3):
    p = datasets.load_data(config, fold=k)
    assert len(p.train.y) + len(p.val.y) + len(p.test.y) == 62
    np.testing.assert_array_equal(p.test.length, raw.length[parts[k]])
    np.testing.assert_array_equal(p.test.m, ~np.isnan(raw.x[parts[k]]))
  with pytest.raises(ValueError, match="cv_folds must be 0"):
    config.cv_folds = 1
    datasets.load_data(config, fold=0)
