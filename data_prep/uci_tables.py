"""Three public UCI tables with natural (not simulated) missing values.

Each dataset has two entry points:

* ``*_frame(...) -> (X, y[, groups])``: the features as a pandas DataFrame (numeric,
  boolean and string columns, missing = NA) and binary labels, ready for
  :class:`gil_jax.estimator.GILClassifier` or any scikit-learn estimator;
* ``load_*(...) -> RawTabular``: the same table one-hot encoded by
  :mod:`gil_jax.data.frame_encoding` (a missing category = an all-missing group of columns),
  for the launcher (``launch/datasets.py:DATASETS``).

The files are read from ``<repo>/../shared/data/<name>/`` (or ``data_dir``); their
READMEs give the layout, licences (all CC BY 4.0) and the pitfalls handled here:

* ``thyroid0387`` (Garvan Institute, 9,172 records): "no condition (``-``)" vs any
  condition (26.2 % positive).  The ``*_measured`` flags equal "the lab value is
  present", i.e. they are the mask of the labs, so they are dropped (a model given
  the mask already has them).  ``record_id`` is dropped.  The four ages above 120
  (up to 65,526) are data-entry errors and become missing; the README leaves them in
  the raw file.
* ``diabetes130`` (130 US hospitals, 101,766 encounters of 71,518 patients): readmitted
  within 30 days (``<30``) vs rest (11.2 % positive).  ``patient_nbr`` is returned as
  the row's group so splits keep a patient's encounters together (no leakage);
  ``encounter_id`` is dropped.  ``?`` is missing; ``None`` in ``max_glu_serum`` /
  ``A1Cresult`` means "not measured", so missing too; gender ``Unknown/Invalid`` and
  the admission / discharge / source codes that mean NULL, Not Available, Not Mapped
  or Unknown (``IDs_mapping.csv``) are missing.  ICD-9 codes (``diag_1..3``) are
  grouped into their chapters (17 numeric chapters, ``V`` supplementary, ``E``
  external causes), the ID codes are categories, the age band becomes its midpoint.
* ``adult`` (census, 32,561 train + 16,281 test rows): income ``>50K``; the official
  train/test split is kept (the loader returns ``(train, test)``; validation is carved
  from train).  Missing values are in workclass, occupation and native_country.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pandas as pd

from gil_jax.data import frame_encoding
from gil_jax.data import RawTabular, require_file

_SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


def default_dir(name: str) -> str:
  """``<repo>/../shared/data/<name>``."""
  return os.fspath(_SHARED / name)


def _raw(frame: pd.DataFrame, y: np.ndarray, name: str,
         groups: np.ndarray | None = None,
         encoding: frame_encoding.FrameEncoding | None = None) -> RawTabular:
  if encoding is None:
    encoding = frame_encoding.fit_encoding(frame)
  x = frame_encoding.encode(frame, encoding)
  return RawTabular(x=x.astype(np.float32), y=np.asarray(y, np.int32),
                    num_classes=2, feature_names=encoding.feature_names, name=name,
                    groups=groups)


def _first(frame: pd.DataFrame, max_rows: int | None) -> pd.DataFrame:
  if max_rows is not None and max_rows < 1:
    raise ValueError(f"max_rows must be >= 1, got {max_rows}")
  return frame if max_rows is None else frame.iloc[:max_rows]


# ---------------------------------------------------------------- thyroid0387

THYROID_LABS = ("TSH", "T3", "TT4", "T4U", "FTI", "TBG")


def thyroid0387_frame(data_dir: str | None = None, max_rows: int | None = None
                      ) -> tuple[pd.DataFrame, np.ndarray]:
  """Thyroid features (DataFrame) and labels (1 = any condition)."""
  path = require_file(os.path.join(data_dir or default_dir("thyroid0387"),
                                   "thyroid0387.csv.gz"), "thyroid0387 table")
  df = _first(pd.read_csv(path), max_rows)
  y = (df["diagnosis"].astype(str) != "-").to_numpy(np.int32)
  flags = [c for c in df.columns if set(df[c].dropna().unique()) <= {"f", "t"}
           and not c.endswith("_measured")]
  x = df.drop(columns=["record_id", "diagnosis"]
              + [f"{lab}_measured" for lab in THYROID_LABS])
  for c in flags:
    x[c] = df[c].map({"t": True, "f": False}).astype("boolean")
  x["age"] = x["age"].where(x["age"] <= 120)           # 65,526 etc.: entry errors
  return x, y


def load_thyroid0387(data_dir: str | None = None,
                     max_rows: int | None = None) -> RawTabular:
  """thyroid0387 as a :class:`RawTabular` (see the module docstring)."""
  x, y = thyroid0387_frame(data_dir, max_rows)
  return _raw(x, y, "thyroid0387")


# ---------------------------------------------------------------- diabetes130

# Codes of IDs_mapping.csv that say "unknown": NULL, Not Available, Not Mapped,
# Unknown/Invalid.
DIABETES_UNKNOWN_IDS = {
    "admission_type_id": {5, 6, 8},
    "discharge_disposition_id": {18, 25, 26},
    "admission_source_id": {9, 15, 17, 20, 21},
}
# ICD-9-CM chapters by the numeric range of the code's first three digits.
ICD9_CHAPTERS = (
    (1, 139, "infectious"), (140, 239, "neoplasms"), (240, 279, "endocrine"),
    (280, 289, "blood"), (290, 319, "mental"), (320, 389, "nervous"),
    (390, 459, "circulatory"), (460, 519, "respiratory"), (520, 579, "digestive"),
    (580, 629, "genitourinary"), (630, 679, "pregnancy"), (680, 709, "skin"),
    (710, 739, "musculoskeletal"), (740, 759, "congenital"),
    (760, 779, "perinatal"), (780, 799, "ill_defined"), (800, 999, "injury"),
)


def icd9_chapter(code) -> str | None:
  """The ICD-9 chapter of a code string (``"250.83"`` -> ``"endocrine"``).

  ``V...`` codes are ``"supplementary_V"``, ``E...`` codes ``"external_E"``; a missing
  or unreadable code gives ``None`` (missing).
  """
  if code is None or (isinstance(code, float) and np.isnan(code)):
    return None
  code = str(code).strip().upper()
  if code.startswith("V"):
    return "supplementary_V"
  if code.startswith("E"):
    return "external_E"
  try:
    number = int(float(code))
  except ValueError:
    return None
  for lo, hi, name in ICD9_CHAPTERS:
    if lo <= number <= hi:
      return name
  return None


def diabetes130_frame(data_dir: str | None = None, max_rows: int | None = None
                      ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
  """Diabetes features (DataFrame), labels (1 = readmitted <30 days), patient ids."""
  path = require_file(os.path.join(data_dir or default_dir("diabetes130"),
                                   "diabetic_data.csv.gz"), "diabetes130 table")
  df = pd.read_csv(path, na_values="?", keep_default_na=False, nrows=max_rows,
                   low_memory=False, dtype={"payer_code": str, "diag_1": str,
                                            "diag_2": str, "diag_3": str})
  y = (df["readmitted"] == "<30").to_numpy(np.int32)
  groups = df["patient_nbr"].to_numpy(np.int64)
  x = df.drop(columns=["encounter_id", "patient_nbr", "readmitted"])
  for col in ("max_glu_serum", "A1Cresult"):
    x[col] = x[col].where(x[col] != "None")               # test not done = missing
  x["gender"] = x["gender"].where(x["gender"] != "Unknown/Invalid")
  for col, unknown in DIABETES_UNKNOWN_IDS.items():
    codes = x[col]
    x[col] = codes.astype(str).where(~codes.isin(unknown))
  for col in ("diag_1", "diag_2", "diag_3"):
    x[col] = x[col].map(icd9_chapter)
  # "[70-80)" -> 75: an ordered band is better read as a number by an MLP.
  band = x["age"].str.extract(r"\[(\d+)-(\d+)\)").astype(float)
  x["age"] = band.mean(axis=1)
  return x, y, groups


def load_diabetes130(data_dir: str | None = None,
                     max_rows: int | None = None) -> RawTabular:
  """diabetes130 as a :class:`RawTabular` with ``groups`` = patient."""
  x, y, groups = diabetes130_frame(data_dir, max_rows)
  return _raw(x, y, "diabetes130", groups=groups)


# ---------------------------------------------------------------- adult


def adult_frame(data_dir: str | None = None, split: str = "train",
                max_rows: int | None = None) -> tuple[pd.DataFrame, np.ndarray]:
  """Adult features (DataFrame) and labels (1 = income >50K) of one official split."""
  if split not in ("train", "test"):
    raise ValueError(f"split must be 'train' or 'test', got {split!r}")
  path = require_file(os.path.join(data_dir or default_dir("adult"),
                                   "adult.csv.gz"), "adult table")
  df = pd.read_csv(path)
  df = _first(df[df["split"] == split], max_rows)
  y = (df["income"] == ">50K").to_numpy(np.int32)
  x = df.drop(columns=["split", "income"]).reset_index(drop=True)
  return x, y


def load_adult(data_dir: str | None = None, max_rows: int | None = None
               ) -> tuple[RawTabular, RawTabular]:
  """Adult as ``(train, test)`` (official split; categories learned on train, a
  test category never seen in train is missing)."""
  x_train, y_train = adult_frame(data_dir, "train", max_rows)
  x_test, y_test = adult_frame(data_dir, "test", max_rows)
  encoding = frame_encoding.fit_encoding(x_train)
  return (_raw(x_train, y_train, "adult", encoding=encoding),
          _raw(x_test, y_test, "adult", encoding=encoding))
