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
