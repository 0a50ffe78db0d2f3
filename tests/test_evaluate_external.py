"""External evaluation (launch.evaluate): every baseline saved and scored on
another set, variables matched by name, the external set described; the saved
scikit-learn files load safely; the PhysioNet outcome file names."""

import csv
import fractions
import gzip
import os

import ml_collections
import numpy as np
import pytest

from data_prep import physionet2012
from gil_jax import data as data_lib
from gil_jax.baselines import imputers
from gil_jax.baselines import persist
from launch import datasets
from launch import evaluate
from launch import experiment
from launch.configs import common

NAMES = ("a", "b", "c", "d")


def _table(n=200, seed=0):
  """Columns of very different scales, so that a column mix-up changes the
  predictions (a mix-up would not go unnoticed in the metrics)."""
  rng = np.random.default_rng(seed)
  y = (np.arange(n) % 3 == 0).astype(np.int32)
  x = np.stack([rng.normal(size=n) + 1.5 * y, rng.normal(10, 3, n),
                rng.normal(100, 20, n) - 30 * y, rng.exponential(5, n)], 1)
  x[rng.random(x.shape) < 0.3] = np.nan
  return x, y


def _write(directory, x, y, names=NAMES, set_name="all"):
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, f"{set_name}.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(list(names) + ["label"])
    for row, label in zip(x, y):
      w.writerow(["" if np.isnan(v) else repr(float(v)) for v in row] + [label])
  return str(directory)


def _load(directory, set_name="all"):
  """A minimal table loader in a dataset's own raw format: header, label last."""
  with open(os.path.join(directory, f"{set_name}.csv")) as f:
    rows = list(csv.reader(f))
  x = np.array([[float(v) if v else np.nan for v in r[:-1]] for r in rows[1:]])
  return data_lib.RawTabular(x=x, y=np.array([int(r[-1]) for r in rows[1:]]),
                             num_classes=2, feature_names=tuple(rows[0][:-1]),
                             name="table")


@pytest.fixture
def table_dataset(monkeypatch):
  monkeypatch.setitem(datasets.DATASETS, "csv_table", _load)
  monkeypatch.setitem(datasets.RAW_DATA_ARG, "csv_table", "directory")


def test_every_baseline_is_saved_and_scored_on_an_external_table(
    tmp_path, table_dataset):
  x, y = _table()
  config = common.base_config()
  config.dataset = "csv_table"
  config.data = ml_collections.ConfigDict({"directory": _write(tmp_path / "a", x, y)})
  config.methods = ("mean", "knn", "gain", "em", "hgb")
  config.seeds = (0, 1)
  config.imputer_options.gain.num_steps = 30
  config.train.hidden = (8,)
  config.train.batch_size = 32
  config.train.num_steps = 10
  config.train.eval_every = 10
  config.steps_per_call = 10
  workdir = str(tmp_path / "run")
  results = experiment.run(config, workdir)
  assert results["feature_names"] == list(NAMES)
  # What scikit-learn fitted is on disk: one imputer file shared by the two seeds
  # of the one dataset, one boosting model per run.
  for method, files in (("knn", 1), ("gain", 1), ("em", 1), ("hgb", 2)):
    saved = sorted(os.listdir(os.path.join(workdir, "fitted", method)))
    assert saved == [f"fitted_{i}.skops" for i in range(files)] + ["manifest.json"]

  # The other set holds exactly the internal test rows: every method, scaled and
  # imputed with what its runs fitted on their training split, and the boosting
  # models themselves, give the internal test metrics.
  _, _, test = data_lib.stratified_split(y, 0.1, 0.1, 0)
  other = _write(tmp_path / "b", x[test], y[test])
  out = evaluate.evaluate(workdir, other)
  assert out["skipped"] == {} and list(out["methods"]) == list(config.methods)
  for method, res in out["methods"].items():
    for metric, value in res["test"].items():
      np.testing.assert_allclose(
          value["per_run"], results["methods"][method]["test"][metric]["per_run"],
          atol=1e-6, err_msg=f"{method} {metric}")
  summary = out["data_summary"]
  assert summary["rows"] == {"external": len(test)}
  assert summary["positive_rate"]["external"] == pytest.approx(np.mean(y[test]))
  assert summary["missing_rate"]["external"] == pytest.approx(
      np.isnan(x[test]).mean())
  assert "EXTERNAL SET" in evaluate.describe(out)

  # Columns in another order, names moving with the data: matched by name, the
  # same numbers (matching by position would score scrambled inputs).
  order = [2, 0, 3, 1]
  other = _write(tmp_path / "c", x[test][:, order], y[test],
                 names=[NAMES[i] for i in order])
  again = evaluate.evaluate(workdir, other, methods=["knn", "hgb"])
  for method in ("knn", "hgb"):
    assert again["methods"][method]["test"] == out["methods"][method]["test"]

  # A renamed, an extra and a missing variable are errors naming them.
  other = _write(tmp_path / "d", x[test], y[test], names=("a", "B", "c", "d"))
  with pytest.raises(ValueError, match=r"missing \['b'\], not in the training "
                     r"data \['B'\] \(renamed\?\)"):
    evaluate.evaluate(workdir, other)
  extra = np.concatenate([x[test], x[test][:, :1]], 1)
  other = _write(tmp_path / "e", extra, y[test], names=NAMES + ("e",))
  with pytest.raises(ValueError, match=r"missing \[\], not in the training data "
                     r"\['e'\]"):
    evaluate.evaluate(workdir, other)
  other = _write(tmp_path / "f", x[test][:, :3], y[test], names=NAMES[:3])
  with pytest.raises(ValueError, match=r"missing \['d'\]"):
    evaluate.evaluate(workdir, other)


def test_saved_imputer_round_trips_and_untrusted_files_are_refused(tmp_path):
  rng = np.random.default_rng(1)
  x = rng.normal(size=(60, 5))
  m = (rng.random(x.shape) > 0.3).astype(np.float32)
  split = data_lib.Split(x=np.where(m > 0, x, 0).astype(np.float32), m=m,
                         y=np.zeros(60, np.int32))
  # (kNN and GAIN round-trip through launch.evaluate above.)
  for name, options in (("mice", {"max_iter": 2}),
                        ("missforest", {"max_iter": 1, "n_estimators": 3})):
    fitted = imputers.FITTERS[name](split, seed=0, **options)
    path = str(tmp_path / f"{name}.skops")
    imputers.save(fitted, path)
    back = imputers.load(path)
    np.testing.assert_array_equal(imputers.apply_imputer(back, split).x,
                                  imputers.apply_imputer(fitted, split).x)
  # A file holding a type the project does not trust is not loaded (skops
  # builds nothing from it); pickle would have run whatever it holds.
  persist.dump({"a": fractions.Fraction(1, 3)}, tmp_path / "bad.skops")
  with pytest.raises(ValueError, match=r"does not trust.*fractions\.Fraction"):
    persist.load(tmp_path / "bad.skops")


def test_outcome_error_names_every_file_tried_and_the_challenge_name_is_found(
    tmp_path):
  with gzip.open(tmp_path / "set-b_long.csv.gz", "wt") as f:
    f.write("record_id,time_minutes,parameter,value\n"
            "1,0,HR,80\n1,60,HR,90\n2,0,HR,70\n")
  outcomes = "RecordID,SAPS-I,In-hospital_death\n1,10,0\n2,12,1\n"
  (tmp_path / "outcomes_b.csv").write_text(outcomes)   # a name not looked for
  with pytest.raises(data_lib.DataFileNotFoundError,
                     match=r"set-b outcomes not found .*tried set-b_outcomes\.csv, "
                     r"Outcomes-b\.txt, outcomes-b\.csv, outcomes\.csv"):
    physionet2012.read_set(tmp_path, "set-b")
  (tmp_path / "Outcomes-b.txt").write_text(outcomes)   # the challenge's own name
  np.testing.assert_array_equal(physionet2012.read_set(tmp_path, "set-b")["y"],
                                [0, 1])
