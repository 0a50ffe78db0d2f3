"""Tests for the CSV sequence loader (data_prep/csv_sequences.py)."""

import gzip
import warnings

import numpy as np
import pytest

from data_prep import csv_sequences as cs
from gil_jax.data import DataFileNotFoundError, prepare_sequences

NAN = np.nan

# A hand-made extract: two variables, three splits, two labels. The first
# column has no header name, as pandas writes an unnamed index.
FILES = {
    "train_0.csv": (",HR,Temp\n"
                    "7,80,37.0\n"
                    "7,,37.5\n"
                    "7,90,\n"
                    "3,NaN,36.5\n"),
    "train_1.csv": (",HR,Temp\n"
                    "12,100,\n"
                    "12,,\n"),
    "val_0.csv": ",HR,Temp\n21,60,36.0\n",
    "val_1.csv": ",HR,Temp\n25,,38.0\n25,110,NA\n",
    "test_0.csv": ",HR,Temp\n31,70,36.8\n",
    "test_1.csv": ",HR,Temp\n35,120,39.0\n",
}


def _write(directory, files):
  for file_name, text in files.items():
    path = directory / file_name
    if file_name.endswith(".gz"):
      with gzip.open(path, "wt") as f:
        f.write(text)
    else:
      path.write_text(text)
  return directory


def _with(tmp_path, **changes):
  files = dict(FILES)
  for key, text in changes.items():
    file_name = key.replace("__", ".")
    if text is None:
      del files[file_name]
    else:
      files[file_name] = text
  return _write(tmp_path, files)


def test_hand_example(tmp_path):
  out = cs.load_csv_sequences(_write(tmp_path, FILES), name="toy")
  assert list(out) == ["train", "val", "test"]
  train = out["train"]
  expected = np.array([
      [[80, 37.0], [NAN, 37.5], [90, NAN]],        # patient 7, label 0
      [[NAN, 36.5], [NAN, NAN], [NAN, NAN]],      # patient 3, label 0
      [[100, NAN], [NAN, NAN], [NAN, NAN]],       # patient 12, label 1
  ], np.float32)
  assert train.x.dtype == np.float32 and train.x.shape == (3, 3, 2)
  np.testing.assert_array_equal(train.x, expected)  # NaN == NaN here
  np.testing.assert_array_equal(train.length, [3, 1, 2])
  np.testing.assert_array_equal(train.y, [0, 0, 1])
  assert train.y.dtype == np.int32 and train.length.dtype == np.int32
  assert train.feature_names == ("HR", "Temp")
  assert train.num_classes == 2 and train.name == "toy"
  # All splits share T, the longest patient of all files.
  val = out["val"]
  assert val.x.shape == (2, 3, 2)
  np.testing.assert_array_equal(val.length, [1, 2])
  np.testing.assert_array_equal(val.y, [0, 1])
  np.testing.assert_array_equal(
      val.x[1], [[NAN, 38.0], [110, NAN], [NAN, NAN]])
  np.testing.assert_array_equal(out["test"].y, [0, 1])


def test_relative_directory_and_discovery(tmp_path, monkeypatch):
  _write(tmp_path, FILES)
  (tmp_path / "notes.txt").write_text("ignored")
  monkeypatch.chdir(tmp_path.parent)
  assert cs.discover_files(tmp_path.name, ("val",)) == {
      "val": {0: "val_0.csv", 1: "val_1.csv"}}
  out = cs.load_csv_sequences(tmp_path.name, splits=("val", "test"))
  assert list(out) == ["val", "test"]


def test_pooled_and_split_indices(tmp_path):
  directory = _write(tmp_path, FILES)
  pooled = cs.load_csv_pooled(directory)
  assert pooled.x.shape == (7, 3, 2)
  np.testing.assert_array_equal(pooled.y, [0, 0, 1, 0, 1, 0, 1])
  np.testing.assert_array_equal(pooled.length, [3, 1, 2, 1, 2, 1, 1])
  pooled2, idx = cs.pool_splits(cs.load_csv_sequences(directory))
  np.testing.assert_array_equal(pooled2.x, pooled.x)
  np.testing.assert_array_equal(idx["val"], [3, 4])
  prepared = prepare_sequences(
      pooled, indices=(idx["train"], idx["val"], idx["test"]))
  np.testing.assert_array_equal(prepared.train.length, [3, 1, 2])


def test_gzip_time_column_and_variables_order(tmp_path):
  files = {
      "train_0.csv.gz": "pid,t,HR,Temp\na,0,1,2\na,1.5,3,\nb,2,,4\n",
      "train_1.csv": "pid,Temp,t,HR\nc,5,-1,6\n",
  }
  out = cs.load_csv_sequences(_write(tmp_path, files), splits=("train",),
                              time_column="t", variables=("Temp", "HR"))
  train = out["train"]
  assert train.feature_names == ("Temp", "HR")
  np.testing.assert_array_equal(
      train.x, [[[2, 1], [NAN, 3]], [[4, NAN], [NAN, NAN]],
                [[5, 6], [NAN, NAN]]])
  # The time column becomes a variable only when listed.
  out = cs.load_csv_sequences(tmp_path, splits=("train",), time_column="t",
                              variables=("t", "HR", "Temp"))
  np.testing.assert_array_equal(out["train"].x[0, :, 0], [0, 1.5])


def test_explicit_files_mapping(tmp_path):
  _write(tmp_path, {"df_shock_test.csv": "TrainSampleIdx,0,1\n4,1,\n4,2,3\n",
                    "df_non_shock_test.csv": "TrainSampleIdx,0,1\n9,5,6\n"})
  out = cs.load_csv_sequences(
      tmp_path, files={"test": {0: "df_non_shock_test.csv",
                                1: "df_shock_test.csv"}})
  np.testing.assert_array_equal(out["test"].y, [0, 1])
  np.testing.assert_array_equal(out["test"].length, [1, 2])
  assert out["test"].feature_names == ("0", "1")


def test_max_steps_and_truncate(tmp_path):
  directory = _write(tmp_path, FILES)
  with pytest.raises(ValueError, match=r"train_0\.csv.*patient '7' has 3 rows, "
                     r"more than max_steps=2"):
    cs.load_csv_sequences(directory, max_steps=2)
  out = cs.load_csv_sequences(directory, max_steps=2, truncate=True)
  assert out["train"].x.shape == (3, 2, 2)
  np.testing.assert_array_equal(out["train"].x[0], [[80, 37.0], [NAN, 37.5]])
  np.testing.assert_array_equal(out["train"].length, [2, 1, 2])
  # A larger max_steps pads every split to it.
  out = cs.load_csv_sequences(directory, max_steps=5)
  assert out["test"].x.shape == (2, 5, 2)
  assert np.isnan(out["test"].x[:, 1:]).all()


def test_not_contiguous(tmp_path):
  _with(tmp_path, train_0__csv=",HR,Temp\n7,1,2\n3,1,2\n7,1,2\n")
  with pytest.raises(ValueError, match=r"train_0\.csv.*patient '7' are not "
                     r"contiguous \(rows 1-1, then again from row 3\)"):
    cs.load_csv_sequences(tmp_path)


def test_not_time_ordered(tmp_path):
  _write(tmp_path, {"train_0.csv": "id,t,HR\na,0,1\na,2,1\na,1,1\n",
                    "train_1.csv": "id,t,HR\nb,0,1\n"})
  with pytest.raises(ValueError, match=r"train_0\.csv.*patient 'a' are not in "
                     r"strictly increasing 't' order \(row 3 has 1 after 2\)"):
    cs.load_csv_sequences(tmp_path, splits=("train",), time_column="t")
  # Without a time column the row order is the time order: no check.
  cs.load_csv_sequences(tmp_path, splits=("train",))
  _write(tmp_path, {"train_0.csv": "id,t,HR\na,0,1\na,0,1\n"})
  with pytest.raises(ValueError, match="strictly increasing"):
    cs.load_csv_sequences(tmp_path, splits=("train",), time_column="t")
  _write(tmp_path, {"train_0.csv": "id,t,HR\na,,1\n"})
  with pytest.raises(ValueError, match=r"empty time cell \('t'\) at row 1"):
    cs.load_csv_sequences(tmp_path, splits=("train",), time_column="t")
  with pytest.raises(ValueError, match="has no time column 'time'"):
    cs.load_csv_sequences(tmp_path, splits=("train",), time_column="time")


def test_unknown_columns(tmp_path):
  directory = _write(tmp_path, FILES)
  with pytest.raises(ValueError, match=r"train_0\.csv.*unknown column\(s\) "
                     r"\['Temp'\], not in the variables \['HR'\]"):
    cs.load_csv_sequences(directory, variables=["HR"])
  with pytest.raises(ValueError, match=r"lacks the variable column\(s\) "
                     r"\['Na'\]"):
    cs.load_csv_sequences(directory, variables=["HR", "Temp", "Na"])
  _with(tmp_path, val_1__csv=",HR,Na\n25,1,2\n")
  with pytest.raises(ValueError, match=r"val_1\.csv.*different columns from "
                     r".*train_0\.csv.*unknown column\(s\) \['Na'\], missing "
                     r"column\(s\) \['Temp'\]"):
    cs.load_csv_sequences(tmp_path)


def test_missing_file_and_split(tmp_path):
  directory = _with(tmp_path, val_0__csv=None, val_1__csv=None)
  with pytest.raises(DataFileNotFoundError, match=r"no CSV file for split "
                     r"'val' in .*val_<label>\.csv"):
    cs.load_csv_sequences(directory)
  with pytest.raises(ValueError, match="not found"):  # also a ValueError
    cs.load_csv_sequences(directory, files={"train": {0: "nope.csv"}})
  with pytest.raises(DataFileNotFoundError, match="directory not found"):
    cs.load_csv_sequences(tmp_path / "absent")


def test_bad_file_names(tmp_path):
  _with(tmp_path, train_pos__csv=",HR,Temp\n1,2,3\n")
  with pytest.raises(ValueError, match="cannot read a class label from the "
                     "file name 'train_pos.csv'"):
    cs.load_csv_sequences(tmp_path)


def test_duplicate_label_files(tmp_path):
  _with(tmp_path, test_0__csv__gz=FILES["test_0.csv"])
  with pytest.raises(ValueError,
                     match="two files for split 'test' and label 0"):
    cs.load_csv_sequences(tmp_path)


def test_non_numeric_cell(tmp_path):
  _with(tmp_path, val_1__csv=",HR,Temp\n25,1,2\n25,3,high\n")
  with pytest.raises(ValueError, match=r"val_1\.csv.*non-numeric cell at row "
                     r"2, column 'Temp': 'high'"):
    cs.load_csv_sequences(tmp_path)


def test_underscore_number_is_non_numeric(tmp_path):
  _with(tmp_path, val_1__csv=",HR,Temp\n25, 1 ,1_0\n")
  with pytest.raises(ValueError, match=r"non-numeric cell at row 1, column "
                     r"'Temp': '1_0'"):
    cs.load_csv_sequences(tmp_path)


def test_infinite_value(tmp_path):
  _with(tmp_path, val_1__csv=",HR,Temp\n25,1,inf\n")
  with pytest.raises(ValueError, match=r"val_1\.csv.*infinite value at row 1, "
                     r"column 'Temp'"):
    cs.load_csv_sequences(tmp_path)


def test_value_beyond_float32_is_named_by_file_row_and_column(tmp_path):
  _with(tmp_path, val_1__csv=",HR,Temp\n25,1,3e39\n")
  with pytest.raises(ValueError, match=r"val_1\.csv.*3e\+39 at row 1, column "
                     r"'Temp' exceeds float32's range"):
    cs.load_csv_sequences(tmp_path)


@pytest.mark.parametrize("text,problem", [
    ("", "is empty: it has no header row"),
    (",HR,Temp\n", "is empty: it has a header but no data rows"),
])
def test_empty_file(tmp_path, text, problem):
  _with(tmp_path, test_1__csv=text)
  with pytest.raises(ValueError, match=r"test_1\.csv.* " + problem):
    cs.load_csv_sequences(tmp_path)


def test_ragged_row_and_header_problems(tmp_path):
  _with(tmp_path, test_1__csv=",HR,Temp\n35,1\n")
  with pytest.raises(ValueError, match=r"cannot parse .*test_1\.csv.* as CSV"):
    cs.load_csv_sequences(tmp_path)
  _with(tmp_path, test_1__csv=",HR,HR\n35,1,2\n")
  with pytest.raises(ValueError, match=r"duplicate column name\(s\) \['HR'\]"):
    cs.load_csv_sequences(tmp_path)
  _with(tmp_path, test_1__csv=",HR,\n35,1,2\n")
  with pytest.raises(ValueError, match="empty header name"):
    cs.load_csv_sequences(tmp_path)
  _with(tmp_path, test_1__csv=",HR,Temp\n,1,2\n")
  with pytest.raises(ValueError, match="empty patient id at row 1"):
    cs.load_csv_sequences(tmp_path)


def test_single_class_and_bad_arguments(tmp_path):
  _write(tmp_path, {"train_0.csv": FILES["train_0.csv"]})
  with pytest.raises(ValueError, match="at least two classes"):
    cs.load_csv_sequences(tmp_path, splits=("train",))
  with pytest.raises(ValueError, match="max_steps must be a positive integer"):
    cs.load_csv_sequences(tmp_path, splits=("train",), max_steps=0)


def test_shared_ids_warn(tmp_path):
  _with(tmp_path, test_1__csv=",HR,Temp\n7,1,2\n")
  with pytest.warns(UserWarning, match="'7' in .*train_0.csv.* and .*test_1"):
    cs.load_csv_sequences(tmp_path)
  _write(tmp_path, FILES)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    cs.load_csv_sequences(tmp_path)


# ------------------------------------------------------------------ layouts

AUTHORS_FILES = {0: "df_non_shock", 1: "df_shock"}


def _authors_folder(directory, n_train=24, n_test=10, seed=0, rename=False):
  """A miniature of the GIL authors' septic-shock files as shipped: train and
  test only, first column ``TrainSampleIdx``, numeric headers, the first variable
  column ``0`` an increasing time, empty cell = missing; class 1 runs higher."""
  rng = np.random.default_rng(seed)
  directory.mkdir(exist_ok=True)
  pid = 100
  for split, n in (("train", n_train), ("test", n_test)):
    for label, stem in AUTHORS_FILES.items():
      lines = ["TrainSampleIdx,0,1,2,3"]
      for _ in range(n // 2):
        pid += 1
        for t in range(int(rng.integers(2, 6))):
          values = rng.normal(size=3) + 1.5 * label
          cells = ["" if rng.random() < 0.3 else f"{v:.4f}" for v in values]
          lines.append(f"{pid},{t}," + ",".join(cells))
      name = f"{split}_{label}.csv" if rename else f"{stem}_{split}.csv"
      (directory / name).write_text("\n".join(lines) + "\n")
  return directory


AUTHORS_MAPPING = ("train_0=df_non_shock_train.csv,train_1=df_shock_train.csv,"
                   "test_0=df_non_shock_test.csv,test_1=df_shock_test.csv")


def test_train_and_test_files_keep_the_test_set_and_carve_validation(tmp_path):
  _authors_folder(tmp_path, rename=True)
  parts = cs.load_csv_dataset(tmp_path)
  assert list(parts) == ["train", "test"]          # no val_* files needed
  assert len(parts["train"].y) == 24 and len(parts["test"].y) == 10
  pooled, (tr, va, te) = cs.given_splits(parts, val_fraction=0.25, split_seed=0)
  np.testing.assert_array_equal(te, np.arange(24, 34))   # the given test files
  assert len(va) == 6 and set(pooled.y[va]) == {0, 1}
  np.testing.assert_array_equal(np.sort(np.concatenate([tr, va])), np.arange(24))
  # Pooled instead (pool=True, or a single split): one set for the config's split.
  assert len(cs.load_csv_dataset(tmp_path, pool=True).y) == 34
  assert len(cs.load_csv_dataset(tmp_path, splits="train").y) == 24
  # The shipped names work through the files mapping, command-line form.
  shipped = _authors_folder(tmp_path / "shipped")
  parts = cs.load_csv_dataset(shipped, files=AUTHORS_MAPPING, time_column="0")
  assert parts["train"].feature_names == ("1", "2", "3")
  np.testing.assert_array_equal(parts["test"].y, [0] * 5 + [1] * 5)
  # Unrenamed files without a mapping: the error says how to name or map them.
  with pytest.raises(DataFileNotFoundError, match=r"df_non_shock_train\.csv -> "
                     r"train_0\.csv.*--config\.data\.files=train_0="):
    cs.load_csv_dataset(shipped)
  # A val split without test, or an unknown split, is not guessed at.
  with pytest.raises(ValueError, match=r"expected train and test"):
    cs.load_csv_dataset(shipped, files="train_0=df_non_shock_train.csv,"
                        "train_1=df_shock_train.csv,val_0=df_non_shock_test.csv,"
                        "val_1=df_shock_test.csv")


def test_files_string_form_errors():
  assert cs.parse_files("train_0=a.csv, my_split_1 = b.csv.gz") == {
      "train": {0: "a.csv"}, "my_split": {1: "b.csv.gz"}}
  for bad in ("train_0", "train=a.csv", "train_x=a.csv", "train_0="):
    with pytest.raises(ValueError, match="split}_{label}=FILE"):
      cs.parse_files(bad)
  with pytest.raises(ValueError, match="label 0 twice"):
    cs.parse_files("train_0=a.csv,train_0=b.csv")


def test_degenerate_files_error_and_constant_columns_warn(tmp_path):
  _write(tmp_path, FILES)
  # The authors' train files as shipped hold 0.0 in every cell.
  _with(tmp_path, train_1__csv=",HR,Temp\n12,0.0,0.0\n12,0.0,0\n13,0,0.0\n")
  with pytest.raises(ValueError, match=r"train_1\.csv.*no variation at all: its 6 "
                     r"observed cells all hold 0"):
    cs.load_csv_sequences(tmp_path)
  _with(tmp_path, train_1__csv=",HR,Temp\n12,,\n")
  with pytest.raises(ValueError, match=r"train_1\.csv.*observes nothing"):
    cs.load_csv_sequences(tmp_path)
  # A variable with one value over every observed cell of every file is named.
  constant = {k: v.replace("HR,Temp", "HR,Temp,Site").replace("\n", ",5\n")
              .replace("HR,Temp,Site,5", "HR,Temp,Site") for k, v in FILES.items()}
  _write(tmp_path, constant)
  with pytest.warns(UserWarning, match=r"constant over all observed cells: "
                    r"\['Site \(= 5\)'\]"):
    out = cs.load_csv_sequences(tmp_path)
  assert out["train"].feature_names == ("HR", "Temp", "Site")


def test_authors_layout_runs_end_to_end_from_the_command_line(tmp_path):
  """The shipped names, train and test only, loader options on the command line."""
  import json
  import os
  import subprocess
  import sys
  data = _authors_folder(tmp_path / "authors")
  workdir = tmp_path / "run"
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run(
      [sys.executable, "-m", "launch.train",
       f"--config=launch/configs/csv_sequences.py:{data}", f"--workdir={workdir}",
       f"--config.data.files={AUTHORS_MAPPING}", "--config.data.time_column=0",
       "--config.data.max_steps=6", "--config.methods=('mean','hgb')",
       "--config.seeds=(0,)", "--config.train.hidden=(8,)",
       "--config.train.batch_size=8", "--config.train.num_steps=10",
       "--config.train.eval_every=10", "--config.steps_per_call=10",
       "--config.split.val_fraction=0.25"],
      cwd=root, env=dict(os.environ, JAX_PLATFORMS="cpu"), capture_output=True,
      text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "| hgb |" in proc.stdout
  results = json.loads((workdir / "results.json").read_text())
  # The shipped test files are the test set; validation came from train.
  assert results["data_summary"]["rows"] == {"train": 18, "val": 6, "test": 10}
  assert results["data_summary"]["steps"] == 6           # max_steps
  assert results["feature_names"] == ["1", "2", "3"]     # "0" is the time column
  assert results["config"]["data"]["files"] == AUTHORS_MAPPING
