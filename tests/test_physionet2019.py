"""Tests for the PhysioNet 2019 early-sepsis data path (data_prep/physionet2019.py)
and the "3max" sequence placeholder (gil_jax/data.py)."""

import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_prep import physionet2019 as sep
from gil_jax import data as data_lib
from launch import datasets
from launch import grid
from launch.configs import sepsis2019

HR = sep.VARIABLES.index("HR")
V = len(sep.VARIABLES)


def _patient(pid, rows, onset_row=None, first_hour=1, seed=0):
  """Rows of one patient: HR is the hour (ICULOS) itself, so every input step
  says which hour it came from; EtCO2 is never observed (as in set A)."""
  rng = np.random.default_rng(seed)
  hour = np.arange(first_hour, first_hour + rows)
  x = rng.normal(size=(rows, V))
  x[rng.random((rows, V)) < 0.6] = np.nan
  x[:, HR] = hour
  x[:, sep.VARIABLES.index("EtCO2")] = np.nan
  label = np.zeros(rows, np.int64)
  if onset_row is not None:
    label[onset_row:] = 1
  return {"patient_id": [f"p{pid:06d}"] * rows, "x": x, "hour": hour,
          "label": label}


# Hand-made patients (ids): what each one tests.
SPECIAL = {
    1: dict(rows=10, onset_row=0),                # labelled from the first hour:
                                                  # onset unknown -> excluded
    2: dict(rows=15, onset_row=5, first_hour=3),  # onset 11 h after first record
    3: dict(rows=70, onset_row=60),               # window of 62 h: capped at 48
    4: dict(rows=11, onset_row=1),                # shortest admitted: window 3 h
}
# Generic ones: 8 more septic patients and 30 never septic.
GENERIC = ({100 + i: dict(rows=20 + i, onset_row=3 + i) for i in range(8)}
           | {200 + i: dict(rows=8 + i) for i in range(30)})
PATIENTS = SPECIAL | GENERIC


def write_parquet(path, patients=PATIENTS, drop_column=None, mutate=None):
  """The README's layout: patient_id, 40 feature columns, SepsisLabel."""
  parts = [_patient(pid, seed=pid, **kw) for pid, kw in patients.items()]
  if mutate is not None:
    mutate(parts)
  n = sum(len(p["hour"]) for p in parts)
  cols = {"patient_id": pa.array(sum((p["patient_id"] for p in parts), []))}
  x = np.concatenate([p["x"] for p in parts])
  for j, name in enumerate(sep.VARIABLES):
    cols[name] = pa.array(x[:, j])
  cols["Age"] = pa.array(np.full(n, 60.5))
  cols["Gender"] = pa.array(np.ones(n, np.int64))
  for name in ("Unit1", "Unit2", "HospAdmTime"):
    cols[name] = pa.array(np.full(n, np.nan))
  cols["ICULOS"] = pa.array(np.concatenate([p["hour"] for p in parts]))
  cols["SepsisLabel"] = pa.array(np.concatenate([p["label"] for p in parts]))
  if drop_column:
    del cols[drop_column]
  pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
  pq.write_table(pa.table(cols), path)
  return pathlib.Path(path).parent


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
  return write_parquet(tmp_path_factory.mktemp("sepsis") / "raw" / sep.DATA_FILE)


@pytest.fixture(scope="module")
def varied(raw_dir):
  return sep.read_cohort(raw_dir, "varied")


def _onset_hour(pid):
  """From the raw rows, independently of the module: first labelled ICULOS + 6."""
  kw = PATIENTS[pid]
  return kw.get("first_hour", 1) + kw["onset_row"] + 6


def test_patient_with_onset_too_early_is_excluded_and_the_boundary_kept(varied):
  pos = set(varied["patient"][varied["y"] == 1].tolist())
  assert 1 not in pos                       # labelled at the first record
  assert {2, 3, 4} <= pos                   # 4: onset 7 h after the first record
  assert pos == {2, 3, 4} | set(range(100, 108))
  c = varied["counts"]
  assert (c["septic"], c["excluded_onset_unknown"], c["positives"]) == (12, 1, 11)
  assert c["negatives"] == 11 and (varied["y"] == 0).sum() == 11


def test_a_longer_minimum_window_excludes_the_shortest_positive(raw_dir):
  a = sep.read_cohort(raw_dir, "varied", sep.CohortRule(min_window_hours=4))
  assert 4 not in a["patient"][a["y"] == 1]
  assert a["counts"]["excluded_short_window"] == 1


def test_positive_window_never_reaches_past_onset_minus_the_gap(varied):
  for i in np.flatnonzero(varied["y"] == 1):
    pid, n = int(varied["patient"][i]), int(varied["length"][i])
    hours = varied["x"][i, :n, HR]            # HR holds the row's ICULOS
    onset = _onset_hour(pid)
    # The last input hour is the one just before onset - 4 h, and no earlier.
    assert hours[-1] == onset - 4 - 1, pid
    np.testing.assert_array_equal(np.diff(hours), 1)
  row = list(varied["patient"]).index(2)
  np.testing.assert_array_equal(varied["x"][row, :7, HR], np.arange(3, 10))
  assert varied["length"][row] == 7 and varied["onset"][row] == 11


def test_negatives_are_never_septic_and_leave_the_gap_before_stay_end(raw_dir,
                                                                      varied):
  neg = np.flatnonzero(varied["y"] == 0)
  for i in neg:
    pid = int(varied["patient"][i])
    assert "onset_row" not in PATIENTS[pid], pid       # no positive hour at all
    last_input_hour = varied["x"][i, varied["length"][i] - 1, HR]
    last_stay_hour = PATIENTS[pid].get("first_hour", 1) + PATIENTS[pid]["rows"] - 1
    assert last_input_hour + 4 <= last_stay_hour, pid
    assert varied["onset"][i] == -1
  # The draw is fixed by the seed and changes with it.
  again = sep.read_cohort(raw_dir, "varied")
  other = sep.read_cohort(raw_dir, "varied", sep.CohortRule(seed=1))
  np.testing.assert_array_equal(again["patient"], varied["patient"])
  np.testing.assert_array_equal(again["window_end"], varied["window_end"])
  assert not (np.array_equal(other["patient"], varied["patient"])
              and np.array_equal(other["window_end"], varied["window_end"]))


def test_protocols_shapes_lengths_and_cap(raw_dir, varied):
  fixed = sep.read_cohort(raw_dir, "fixed")
  np.testing.assert_array_equal(fixed["patient"], varied["patient"])
  assert varied["x"].shape == (22, 48, V) and fixed["x"].shape == (22, 8, V)
  np.testing.assert_array_equal(varied["length"],
                                np.minimum(varied["window_end"], 48))
  np.testing.assert_array_equal(fixed["length"],
                                np.minimum(fixed["window_end"], 8))
  row = list(varied["patient"]).index(3)       # window: hours 1..62
  np.testing.assert_array_equal(varied["x"][row, :, HR], np.arange(15, 63))
  np.testing.assert_array_equal(fixed["x"][row, :, HR], np.arange(55, 63))
  assert varied["counts"]["capped_positives"] == 1
  short = list(fixed["patient"]).index(4)      # 3 h: padded after step 3
  assert fixed["length"][short] == 3
  np.testing.assert_array_equal(fixed["x"][short, :3, HR], [1, 2, 3])
  assert np.isnan(fixed["x"][short, 3:]).all() and fixed["m"][short, 3:].sum() == 0
  np.testing.assert_array_equal(fixed["m"], ~np.isnan(fixed["x"]))


def test_matched_negatives_have_the_positives_window_lengths(raw_dir):
  rule = sep.CohortRule(negative_window="matched", match_hours=20)
  a = sep.read_cohort(raw_dir, "varied", rule)
  pos_end = np.sort(np.minimum(a["window_end"][a["y"] == 1], 20))
  np.testing.assert_array_equal(np.sort(a["window_end"][a["y"] == 0]), pos_end)
  with pytest.raises(ValueError, match="lower match_hours"):
    sep.read_cohort(raw_dir, "varied",
                    sep.CohortRule(negative_window="matched", match_hours=48))


def test_tfds_builder_agrees_with_numpy_reader_and_loads_sequences(raw_dir,
                                                                   tmp_path):
  for protocol in ("varied", "fixed"):
    direct = sep.read_cohort(raw_dir, protocol)
    data = sep.load_physionet2019(tmp_path, raw_dir, protocol)
    for key in ("x", "m", "y", "length", "patient", "window_end", "onset",
                "gender"):
      np.testing.assert_array_equal(data[key], direct[key], err_msg=key)
    assert data["counts"] == direct["counts"]
  # Prepared data are read back without the raw file.
  again = sep.load_physionet2019(tmp_path, tmp_path / "nowhere", "fixed")
  assert again["x"].shape == (22, 8, V)
  with pytest.warns(UserWarning, match="EtCO2"):
    raw = sep.load_sequences(tmp_path, raw_dir, "fixed")
  assert "EtCO2" not in raw.feature_names and len(raw.feature_names) == V - 1
  assert raw.x.shape == (22, 8, V - 1)


def test_missing_file_is_named_and_no_folder_is_made(tmp_path):
  with pytest.raises(data_lib.DataFileNotFoundError, match=sep.DATA_FILE):
    sep.read_cohort(tmp_path, "varied")
  with pytest.raises(ValueError, match=sep.DATA_FILE):
    sep.load_physionet2019(tmp_path / "tfds", tmp_path, "varied")
  assert not (tmp_path / "tfds").exists()


def _shift_label(parts):
  parts[1]["label"][8] = 0                    # patient 2: 1 -> 0 -> 1


def _skip_hour(parts):
  parts[1]["hour"][5:] += 1                   # patient 2: ICULOS 7 -> 9


@pytest.mark.parametrize("kind, match", [
    ("not_parquet", "cannot read .* as Parquet"),
    ("no_label", r"lacks the column\(s\) \['SepsisLabel'\]"),
    ("label_falls", "falls from 1 back to 0 for patient p000002"),
    ("hour_gap", "rise by exactly 1 .* p000002"),
])
def test_wrong_file_fails_naming_the_problem(tmp_path, kind, match):
  path = tmp_path / sep.DATA_FILE
  if kind == "not_parquet":
    path.write_text("patient_id,HR\np000001,80\n")
  else:
    write_parquet(path, drop_column="SepsisLabel" if kind == "no_label" else None,
                  mutate={"label_falls": _shift_label,
                          "hour_gap": _skip_hour}.get(kind))
  with pytest.raises(ValueError, match=match):
    sep.read_cohort(tmp_path, "varied")


def test_bad_protocol_and_rule_are_rejected(raw_dir):
  with pytest.raises(ValueError, match="protocol"):
    sep.read_cohort(raw_dir, "hourly")
  with pytest.raises(ValueError, match="negative_window"):
    sep.CohortRule(negative_window="nearest")


def _sequences(n=40, t=5, d=3, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, t, d))
  x[rng.random(x.shape) < 0.4] = np.nan
  x[:, 0, :] = rng.normal(size=(n, d))         # every variable observed
  return data_lib.RawSequences(
      x=x, y=np.arange(n) % 2, length=np.full(n, t), num_classes=2,
      feature_names=("a", "b", "c"), name="toy")


def test_3max_placeholder_is_three_times_the_largest_scaled_training_value():
  raw = _sequences()
  zero = data_lib.prepare_sequences(raw, split_seed=0)
  p = data_lib.prepare_sequences(raw, split_seed=0, placeholder="3max")
  tr = zero.train
  expected = 3 * tr.x[tr.m > 0].max()        # scaled observed training values
  assert p.summary["placeholder"] == pytest.approx(expected, rel=1e-5)
  for a, b in ((p.train, zero.train), (p.test, zero.test)):
    np.testing.assert_allclose(a.x[a.m == 0], expected, rtol=1e-5)
    np.testing.assert_array_equal(a.x[a.m > 0], b.x[b.m > 0])
  # Only the training split sets it: a huge test value changes nothing.
  _, _, test_rows = data_lib.stratified_split(raw.y, 0.1, 0.1, 0)
  x = raw.x.copy()
  x[test_rows[0], 1, 0] = 1e6
  q = data_lib.prepare_sequences(raw._replace(x=x), split_seed=0,
                                 placeholder="3max")
  assert q.summary["placeholder"] == p.summary["placeholder"]
  with pytest.raises(ValueError, match="'3max'"):
    data_lib.prepare_sequences(raw, placeholder="4max")


def test_config_runs_both_placeholders_on_five_splits(raw_dir, tmp_path):
  for protocol, steps in (("varied", 48), ("fixed", 8)):
    c = sepsis2019.get_config(protocol)
    assert c.data.protocol == protocol and tuple(c.split_seeds) == (0, 1, 2, 3, 4)
    settings = grid.grid_settings(c, str(tmp_path))
    assert [s.placeholder for s, _ in settings] == [0.0, "3max"]
  assert sepsis2019.get_config("fixed,gpu").train.hidden == (1024,)
  with pytest.raises(ValueError, match="varied"):
    sepsis2019.get_config("hourly")
  # The launcher's loader and preparation on the miniature file.
  cfg, _ = grid.grid_settings(sepsis2019.get_config("fixed"),
                                    str(tmp_path))[1]
  with cfg.unlocked():
    cfg.data.data_dir, cfg.data.manual_dir = str(tmp_path / "tfds"), str(raw_dir)
  with pytest.warns(UserWarning, match="EtCO2"):
    prepared = datasets.load_data(cfg, split_seed=0)
  assert prepared.train.x.shape[1:] == (8, V - 1)
  assert prepared.summary["placeholder"] > 0
  assert sum(prepared.summary["rows"].values()) == 22


def test_paper_table1_numbers_are_looked_up_by_protocol():
  from launch import paper_numbers
  assert paper_numbers.mimic_table1_metric("gil", "varied", "auroc") == 96.10
  assert paper_numbers.mimic_table1_metric("mean", "fixed", "accuracy") == 86.41
  assert paper_numbers.mimic_table1_metric("brits", "varied", "auroc") is None
  assert paper_numbers.mimic_table1_metric("gil", "hourly", "auroc") is None
