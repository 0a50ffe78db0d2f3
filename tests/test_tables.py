"""Tables with natural missingness: frame encoding, the UCI loaders, grouped splits,
the logistic-regression baseline and the launcher wiring (small subsets only)."""

import json

import numpy as np
import pandas as pd
import pytest

from data_prep import uci_tables
from gil_jax import data as data_lib
from gil_jax.data import frame_encoding as fe
from gil_jax.baselines import linear
from gil_jax.methods import METHODS, method_spec, transform
from launch import datasets
from launch import experiment


# ------------------------------------------------------------- frame encoding

def _frame():
  return pd.DataFrame({
      "age": [30.0, np.nan, 50.0, 41.0],
      "sex": ["F", "M", None, "F"],
      "smoker": pd.array([True, False, None, True], dtype="boolean"),
      "grade": pd.Categorical(["a", "b", "a", None], categories=["a", "b", "c"]),
  })


def test_missing_category_makes_its_whole_one_hot_group_missing():
  x, enc = fe.encode_frame(_frame())
  assert enc.feature_names == ("age", "sex=F", "sex=M", "smoker", "grade=a",
                               "grade=b", "grade=c")
  np.testing.assert_array_equal(x[0], [30, 1, 0, 1, 1, 0, 0])
  assert np.isnan(x[1, 0]) and not np.isnan(x[1, 1:]).any()
  assert x[1, 3] == 0.0                                   # smoker False
  assert np.isnan(x[2, 1:4]).all()                       # sex and smoker missing
  assert not np.isnan(x[2, 4:7]).any()
  assert np.isnan(x[3, 4:7]).all()                       # grade missing: 3 NaN
  assert enc.groups == ((0,), (1, 2), (3,), (4, 5, 6))


def test_unseen_category_is_missing_or_an_error_on_request():
  enc = fe.fit_encoding(_frame())
  new = _frame().assign(sex=["X", "F", "M", "F"])
  x = fe.encode(new, enc)
  assert np.isnan(x[0, 1:3]).all() and x[1, 1] == 1.0
  with pytest.raises(ValueError, match=r"column 'sex' holds categories not seen.*X"):
    fe.encode(new, enc, handle_unknown="error")


def test_encoding_round_trips_through_json():
  enc = fe.fit_encoding(_frame())
  back = fe.FrameEncoding.from_json_dict(json.loads(json.dumps(enc.to_json_dict())))
  np.testing.assert_array_equal(fe.encode(_frame(), back), fe.encode(_frame(), enc))


@pytest.mark.parametrize("column, message", [
    (["a", 1, "b", 2.0], r"column 'bad' is an object column holding \['float', "
                         r"'int', 'str'\]"),
    (pd.to_datetime(["2020-01-01"] * 4), r"column 'bad' has dtype datetime64"),
    ([[1], [2], [3], [4]], r"column 'bad' is an object column holding \['list'\]"),
])
def test_columns_that_are_neither_numeric_nor_categorical_are_named(column, message):
  with pytest.raises(ValueError, match=message):
    fe.fit_encoding(_frame().assign(bad=column))


def test_free_text_column_beyond_max_categories_is_an_error():
  frame = pd.DataFrame({"note": [f"text {i}" for i in range(5)]})
  with pytest.raises(ValueError, match=r"'note' holds 5 distinct strings.*max_cat"):
    fe.fit_encoding(frame, max_categories=4)


def test_inf_and_reordered_columns_are_named():
  enc = fe.fit_encoding(_frame())
  with pytest.raises(ValueError, match=r"column 'age' holds 1 \+/-inf"):
    fe.encode(_frame().assign(age=[1.0, np.inf, 2.0, 3.0]), enc)
  with pytest.raises(ValueError, match=r"reordered columns: \['sex', 'age'\]"):
    fe.encode(_frame()[["sex", "age", "smoker", "grade"]], enc)
  with pytest.raises(ValueError, match=r"missing columns: \['grade'\]"):
    fe.encode(_frame().drop(columns="grade"), enc)


# ---------------------------------------------------------------- the loaders

def test_thyroid_measured_flags_are_the_mask_not_features():
  x, y = uci_tables.thyroid0387_frame()
  assert len(x) == 9172 and not any(c.endswith("_measured") for c in x.columns)
  assert abs(y.mean() - 0.2618) < 1e-3             # README: 26.2 % any condition
  assert x["age"].max() <= 120 and x["age"].isna().sum() == 4   # 65,526 etc.
  assert x["on_thyroxine"].dtype == "boolean"
  raw = uci_tables.load_thyroid0387()
  assert raw.x.shape == (9172, 29) and raw.num_classes == 2
  assert np.isnan(raw.x[:, raw.feature_names.index("TBG")]).mean() > 0.5


def test_diabetes_none_lab_is_missing_and_icd9_codes_are_chapters():
  x, y, groups = uci_tables.diabetes130_frame(max_rows=2000)
  assert set(x["A1Cresult"].dropna()) <= {"Norm", ">7", ">8"}
  assert x["A1Cresult"].isna().any()                   # "None" = not measured
  assert set(x["diag_1"].dropna()) <= ({c for *_, c in uci_tables.ICD9_CHAPTERS}
                                       | {"supplementary_V", "external_E"})
  assert "encounter_id" not in x and "patient_nbr" not in x and "readmitted" not in x
  assert len(groups) == len(y) == 2000 and set(np.unique(y)) <= {0, 1}
  assert uci_tables.icd9_chapter("250.83") == "endocrine"
  assert uci_tables.icd9_chapter("V57") == "supplementary_V"
  assert uci_tables.icd9_chapter("E909") == "external_E"
  assert uci_tables.icd9_chapter("428") == "circulatory"
  assert uci_tables.icd9_chapter(None) is None


def test_diabetes_split_keeps_each_patient_in_one_split():
  raw = uci_tables.load_diabetes130(max_rows=3000)
  assert len(np.unique(raw.groups)) < len(raw.groups)   # some patients repeat
  prepared = data_lib.prepare_tabular(raw, split_seed=1)
  tr, va, te = data_lib.grouped_split(raw.groups, 0.1, 0.1, 1)
  assert len(tr) == len(prepared.train.y) and len(te) == len(prepared.test.y)
  sets = [set(raw.groups[i]) for i in (tr, va, te)]
  assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
  assert len(tr) + len(va) + len(te) == 3000


def test_adult_keeps_the_official_split_and_train_categories():
  train, test = uci_tables.load_adult(max_rows=500)
  assert train.x.shape == (500, len(train.feature_names)) == (500, test.x.shape[1])
  assert train.feature_names == test.feature_names
  assert "workclass=Private" in train.feature_names
  x_test, _ = uci_tables.adult_frame(split="test", max_rows=500)
  assert x_test["workclass"].isna().sum() > 0
  prepared = data_lib.prepare_tabular(train, test=test)
  assert len(prepared.test.y) == 500                       # the official test rows


def test_missing_data_file_is_a_clear_error(tmp_path):
  with pytest.raises(data_lib.DataFileNotFoundError, match="thyroid0387 table"):
    uci_tables.load_thyroid0387(data_dir=str(tmp_path))


# -------------------------------------------------- baseline and launcher wiring

def test_logreg_selects_regularisation_on_validation():
  rng = np.random.RandomState(0)
  x = rng.normal(size=(400, 6))
  x[rng.rand(*x.shape) < 0.3] = np.nan
  y = (np.nan_to_num(x[:, 0]) + 0.5 * rng.normal(size=400) > 0).astype(np.int32)
  raw = data_lib.RawTabular(x=x, y=y, num_classes=2,
                            feature_names=tuple("abcdef"), name="toy")
  prepared = transform(data_lib.prepare_tabular(raw),
                                  METHODS["logreg"].transforms)
  assert prepared.train.x.shape[1] == 12                 # mean-filled + mask
  res = linear.fit(prepared, seed=0, selection_metric="auroc")
  assert res.setting["C"] in linear.C_GRID and res.test["auroc"] > 0.7
  with pytest.raises(ValueError, match="needs filled inputs"):
    linear.fit(prepared._replace(train=prepared.train._replace(
        x=np.full_like(prepared.train.x, np.nan))), seed=0)


@pytest.mark.parametrize("name", ["thyroid0387", "diabetes130", "adult"])
def test_table_configs_name_known_datasets_and_methods(name):
  import importlib
  config = importlib.import_module(f"launch.configs.{name}").get_config()
  assert config.dataset == name and name in datasets.DATASETS
  for method in config.methods:
    method_spec(method)


def test_launcher_runs_a_table_with_the_sklearn_baselines(tmp_path):
  from launch.configs import thyroid0387
  config = thyroid0387.get_config()
  with config.unlocked():
    config.data.max_rows = 600
    config.methods = ("mean", "hgb", "logreg")
    config.split_seeds = (0, 1)
    config.train.hidden = (8,)
    config.train.num_steps = 20
    config.train.eval_every = 10
  results = experiment.run(config, str(tmp_path))
  for method in ("mean", "hgb", "logreg"):
    auroc = results["methods"][method]["test"]["auroc"]["per_run"]
    assert len(auroc) == 2 and all(0.5 < a <= 1 for a in auroc)
