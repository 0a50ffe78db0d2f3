"""Tests for the PhysioNet 2012 data path (data_prep/physionet2012.py)."""

import gzip
import os
import pathlib

import numpy as np
import pytest

from data_prep import physionet2012 as phy
from gil_jax.data import DataFileNotFoundError

V = len(phy.VARIABLES)
COL = {name: i for i, name in enumerate(phy.VARIABLES)}


def _descriptors(rid, weight=80.0):
  return [(rid, 0, "Age", 60), (rid, 0, "Gender", 1), (rid, 0, "Height", -1),
          (rid, 0, "ICUType", 2), (rid, 0, "Weight", weight)]


# Three hand-made stays. Rows of 1002 come first: the output is sorted by id.
FAKE_ROWS = tuple(
    _descriptors(1002, weight=-1)
    + [(1002, 0, "Na", 140),            # a time series at t=0 -> hour 0
       (1002, 185, "Na", 130),          # hour 3
       (1002, 200, "GCS", 10),          # two values at the same minute ...
       (1002, 200, "GCS", 12),          # ... -> their mean, 11
       (1002, 3000, "Na", 100)]         # after 48 h -> dropped
    + _descriptors(1001)
    + [(1001, 5, "HR", 80),             # two values in hour 0 ...
       (1001, 30, "HR", 90),            # ... -> 85
       (1001, 10, "MechVent", 1),       # not one of the 35 -> ignored
       (1001, 61, "Temp", 37.5),        # hour 1
       (1001, 120, "Weight", 81),       # not one of the 35 -> ignored
       (1001, 2880, "HR", 70),          # exactly 48:00 -> hour 47
       (1001, 2950, "HR", 999)]         # after 48 h -> dropped
    + _descriptors(1003))               # descriptors only: no measurement
FAKE_LABELS = {1001: 0, 1002: 1, 1003: 0}


def _expected():
  x = np.full((3, 48, V), np.nan, np.float32)
  x[0, 0, COL["HR"]] = 85
  x[0, 1, COL["Temp"]] = 37.5
  x[0, 47, COL["HR"]] = 70
  x[1, 0, COL["Na"]] = 140
  x[1, 3, COL["Na"]] = 130
  x[1, 3, COL["GCS"]] = 11
  return {"x": x, "m": (~np.isnan(x)).astype(np.float32),
          "y": np.array([0, 1, 0], np.int32),
          "length": np.array([48, 4, 1], np.int32),
          "record_id": np.array([1001, 1002, 1003], np.int64)}


def write_set(folder, set_name="set-a", rows=FAKE_ROWS, labels=None,
              outcomes_name="outcomes.csv", label_text=None):
  """Writes a long-format set and its outcomes file the way the README shows."""
  folder = pathlib.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  labels = FAKE_LABELS if labels is None else labels
  with gzip.open(folder / f"{set_name}_long.csv.gz", "wt") as f:
    f.write("record_id,time_minutes,parameter,value\n")
    for r in rows:
      f.write(",".join(str(c) for c in r) + "\n")
  with open(folder / outcomes_name, "w") as f:
    f.write("set,RecordID,SAPS-I,SOFA,Length_of_stay,Survival,"
            "In-hospital_death\n")
    for rid, y in labels.items():
      text = label_text.get(rid, str(y)) if label_text else str(y)
      f.write(f"a,{rid},10,2,5,-1,{text}\n")
  return folder


def assert_arrays_equal(got, want):
  for key, value in want.items():
    assert got[key].dtype == value.dtype, key
    np.testing.assert_array_equal(got[key], value, err_msg=key)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  root = tmp_path_factory.mktemp("phy")
  raw = write_set(root / "raw")
  data = phy.load_physionet2012(data_dir=root / "tfds", manual_dir=raw)
  return root, raw, data


def test_tfds_loader_bins_fake_stays_into_expected_grid(prepared):
  _, _, data = prepared
  assert data["x"].shape == (3, 48, V)
  assert_arrays_equal(data, _expected())
  assert data["variables"] == list(phy.VARIABLES)


def test_numpy_reader_agrees_with_tfds_loader(prepared):
  _, raw, data = prepared
  direct = phy.read_set(raw, "set-a")
  assert_arrays_equal(direct, {k: data[k] for k in direct})


def test_second_load_reads_prepared_dataset_without_raw_files(prepared):
  root, _, data = prepared
  again = phy.load_physionet2012(data_dir=root / "tfds",
                                 manual_dir=root / "nowhere")
  assert_arrays_equal(again, _expected())


def test_set_name_selects_other_files_and_outcomes(prepared, tmp_path):
  root, _, _ = prepared
  flipped = {1001: 1, 1002: 0, 1003: 1}
  raw_b = write_set(tmp_path / "raw", "set-b", labels=flipped,
                    outcomes_name="set-b_outcomes.csv")
  data_b = phy.load_physionet2012(data_dir=root / "tfds", manual_dir=raw_b,
                                  set_name="set-b")
  np.testing.assert_array_equal(data_b["y"], [1, 0, 1])
  np.testing.assert_array_equal(data_b["x"], _expected()["x"])
  assert (root / "tfds" / "physionet2012" / "set-b").is_dir()


def test_weight_descriptor_is_hour0_weight_unless_not_recorded(tmp_path):
  raw = write_set(tmp_path)
  data = phy.read_set(raw, variables=phy.TIME_SERIES_VARIABLES)
  w = phy.TIME_SERIES_VARIABLES.index("Weight")
  assert data["x"][0, 0, w] == 80  # descriptor of 1001
  assert data["x"][0, 2, w] == 81  # a later measurement
  assert data["m"][1, :, w].sum() == 0  # 1002's descriptor is -1


def test_split_indices_single_is_stratified_partition_and_reproducible():
  y = np.array([1] * 100 + [0] * 900)
  (tr, va, te), = phy.split_indices(y, "single", seed=3)
  assert (len(tr), len(va), len(te)) == (800, 100, 100)
  np.testing.assert_array_equal(np.sort(np.concatenate([tr, va, te])),
                                np.arange(1000))
  assert [y[s].sum() for s in (tr, va, te)] == [80, 10, 10]
  (tr2, va2, te2), = phy.split_indices(y, "single", seed=3)
  for a, b in ((tr, tr2), (va, va2), (te, te2)):
    np.testing.assert_array_equal(a, b)
  (_, _, te_other), = phy.split_indices(y, "single", seed=4)
  assert not np.array_equal(te, te_other)


def test_split_indices_five_fold_uses_seeds_0_to_4_and_splits_differ():
  y = np.array([1] * 60 + [0] * 440)
  folds = phy.split_indices(y, "five_fold")
  assert len(folds) == 5
  for k, (tr, va, te) in enumerate(folds):
    assert (len(tr), len(va), len(te)) == (400, 50, 50)
    assert [y[s].sum() for s in (tr, va, te)] == [48, 6, 6]
    (single,) = phy.split_indices(y, "single", seed=k)
    np.testing.assert_array_equal(te, single[2])
  tests = {tuple(te) for _, _, te in folds}
  assert len(tests) == 5
  with pytest.raises(ValueError, match="protocol"):
    phy.split_indices(y, "ten_fold")


def test_normalise_uses_observed_training_values_only():
  train = np.array([[[1.0, np.nan], [3.0, 10.0]],
                    [[np.nan, 10.0], [np.nan, np.nan]]], np.float32)
  other = np.array([[[5.0, np.nan]]], np.float32)
  train_z, other_z = phy.normalise(train, other)
  # Column 0 observed {1, 3}: mean 2, std 1. Column 1 observed {10, 10}:
  # constant, so std falls back to 1. Zero-filling NaN would give other stats.
  np.testing.assert_allclose(train_z[0, :, 0], [-1.0, 1.0])
  np.testing.assert_allclose(train_z[0, 1, 1], 0.0)
  np.testing.assert_allclose(other_z[0, 0, 0], 3.0)
  np.testing.assert_array_equal(np.isnan(train_z), np.isnan(train))
  np.testing.assert_array_equal(np.isnan(other_z), np.isnan(other))
  assert train_z.dtype == np.float32
  with pytest.raises(ValueError, match=r"column\(s\) \[1\]"):
    phy.normalise(np.array([[1.0, np.nan], [2.0, np.nan]]))


def test_missing_time_series_file_is_named(tmp_path):
  with pytest.raises(DataFileNotFoundError, match="set-b_long.csv.gz"):
    phy.read_set(tmp_path, "set-b")
  with pytest.raises(ValueError, match="set-b_long.csv.gz"):
    phy.load_physionet2012(data_dir=tmp_path / "tfds", manual_dir=tmp_path,
                           set_name="set-b")
  assert not (tmp_path / "tfds").exists()


def test_missing_outcomes_file_is_named(tmp_path):
  write_set(tmp_path)
  os.remove(tmp_path / "outcomes.csv")
  with pytest.raises(DataFileNotFoundError, match="outcomes.csv"):
    phy.read_set(tmp_path)


def test_unknown_parameter_names_are_listed(tmp_path):
  rows = FAKE_ROWS + ((1001, 90, "Lactat", 2.0), (1003, 5, "SpO2", 97))
  write_set(tmp_path, rows=rows)
  with pytest.raises(ValueError, match=r"unknown parameter.*'Lactat', 'SpO2'"):
    phy.read_set(tmp_path)


def test_record_without_outcome_is_an_error(tmp_path):
  write_set(tmp_path, labels={1001: 0, 1002: 1})
  with pytest.raises(ValueError, match=r"no outcome.*\[1003\]"):
    phy.read_set(tmp_path)


@pytest.mark.parametrize("text", ["2", "", "-1"])
def test_outcome_outside_0_1_is_an_error(tmp_path, text):
  write_set(tmp_path, label_text={1002: text})
  with pytest.raises(ValueError, match="must be 0 or 1.*1002"):
    phy.read_set(tmp_path)


def test_negative_time_is_an_error(tmp_path):
  write_set(tmp_path, rows=FAKE_ROWS + ((1001, -5, "HR", 70),))
  with pytest.raises(ValueError, match="negative time_minutes"):
    phy.read_set(tmp_path)


REAL_DIR = pathlib.Path(phy.default_manual_dir())


@pytest.mark.skipif(not (REAL_DIR / "set-a_long.csv.gz").is_file(),
                    reason="real PhysioNet 2012 set A not present")
def test_real_set_a_matches_data_readme_counts(tmp_path):
  data = phy.load_physionet2012(data_dir=tmp_path)
  assert data["x"].shape == (4000, 48, 35)
  assert int(data["y"].sum()) == 554
  # The data README's 35-variable missing rate on the same hourly grid.
  assert abs((1 - data["m"].mean()) - 0.8053) < 5e-5
  empty = data["record_id"][data["m"].sum(axis=(1, 2)) == 0]
  np.testing.assert_array_equal(empty, [140501, 140936, 141264])
  np.testing.assert_array_equal(np.isnan(data["x"]), data["m"] == 0)
  assert data["length"].min() == 1 and data["length"].max() == 48
