"""PhysioNet/CinC Challenge 2012 in-hospital mortality as a local TFDS dataset.

Data flow: ``{set}_long.csv.gz`` (one row per measurement) and an outcomes file
in a manual directory -> :func:`read_set` (numpy: parse, check, bin) ->
:class:`Physionet2012` (a TFDS builder that writes the binned stays as
ArrayRecord, with no network and no TensorFlow) -> :func:`load_physionet2012`
(reads them back through the TFDS data source as numpy arrays).

Each stay becomes a ``[48, V]`` grid of hourly bins over the first 48 hours in
the ICU:

* hour of a measurement: ``min(time_minutes // 60, 47)``. The records end at
  48:00 exactly, and those values (455 rows in set A) go into hour 47 (the data
  README's convention). Rows after 48:00 are dropped. A negative time is an
  error.
* value: the mean of all the measurements of a variable within the bin
  (several can share one bin, or even one minute). NaN where there is none.
* mask: 1 where the bin holds at least one measurement, else 0.
* length: ``1 +`` the index of the last bin with any of the ``V`` variables
  observed, so ``x[:length]`` holds every observation and ends on one. A stay
  with no measurement at all (set A has three: 140501, 140936, 141264) keeps
  length 1 and an all-missing grid. The grid itself is always 48 long; length
  is there for models that stop at the last observation.
* label: ``In-hospital_death`` from the outcomes file (0 survived, 1 died).

Variables (``V = 35``, :data:`VARIABLES`): the 37 time-series variables of the
challenge without ``Weight`` and ``MechVent``. The paper (App. D.4) uses "35
different attributes" from the GP-VAE data (Fortuin et al., 2020), whose
preprocessing code is not public. The 35-variable list in public use is BRITS's
(Cao et al., 2018, ``input_process.py``: "35 attributes which contains enough
non-values"), and it is exactly the 37 minus these two. That GP-VAE used the
same list is our assumption. Measured on set A: ``MechVent`` is only ever
recorded as 1, and 65% of the later ``Weight`` rows repeat the admission
weight. The descriptors Age, Gender, Height and ICUType are never in the grid.
Nor is Weight by default. If it is asked for
(``variables=TIME_SERIES_VARIABLES``), its descriptor row at t=0 counts as the
hour-0 Weight unless it is -1. This is the data README's convention: 79.74%
missing with 37 variables, 80.53% with 35. The paper reports 78.5% over its
~12,000 stays (sets A-C); only set A is here.

Nothing is normalised or cleaned here. The raw data keep implausible values
(Temp -17.8, zero blood pressures, Urine 0), as in BRITS. Scale with
:func:`normalise` on training-split statistics. :func:`split_indices` gives
the paper's single stratified 80/10/10 split, or five such splits (seeds
0..4) as in the Raindrop line of work.

Further sets (e.g. set B) go in the same manual directory as
``{set_name}_long.csv.gz`` with an outcomes file, the first that exists of
(:func:`outcome_candidates`, for ``set-b``): ``set-b_outcomes.csv``, the
challenge's own ``Outcomes-b.txt``, ``outcomes-b.csv``, ``outcomes.csv``. A
stay's outcome is found by its record id, so one outcomes file may hold several
sets. A missing outcomes file is an error listing every name tried.
"""

from __future__ import annotations

import csv
import hashlib
import os
import pathlib
import re
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pac
import pyarrow.csv as pacsv
# Preparing needs no TensorFlow, but TFDS 4.9.10 imports importlib_resources
# there without declaring it: requirements.txt and the `data` extra list it.
import tensorflow_datasets as tfds

from gil_jax.data import DataFileNotFoundError, require_file, stratified_split

NUM_HOURS = 48
# Minutes since ICU admission. A row at exactly 48:00 still belongs to the stay.
_LAST_MINUTE = NUM_HOURS * 60

# The 37 time-series variables of the challenge, in the data README's order.
TIME_SERIES_VARIABLES: tuple[str, ...] = (
    "ALP", "ALT", "AST", "Albumin", "BUN", "Bilirubin", "Cholesterol",
    "Creatinine", "DiasABP", "FiO2", "GCS", "Glucose", "HCO3", "HCT", "HR", "K",
    "Lactate", "MAP", "MechVent", "Mg", "NIDiasABP", "NIMAP", "NISysABP", "Na",
    "PaCO2", "PaO2", "Platelets", "RespRate", "SaO2", "SysABP", "Temp",
    "TroponinI", "TroponinT", "Urine", "WBC", "Weight", "pH")
# General descriptors, one row each per record at t=0 (-1 = not recorded).
# Weight is also one: its first row at t=0 is the descriptor.
DESCRIPTORS: tuple[str, ...] = ("Age", "Gender", "Height", "ICUType", "Weight")
# The paper's 35 (GP-VAE / BRITS): all time series but Weight and MechVent.
VARIABLES: tuple[str, ...] = tuple(
    v for v in TIME_SERIES_VARIABLES if v not in ("Weight", "MechVent"))

_KNOWN_PARAMETERS = frozenset(TIME_SERIES_VARIABLES) | frozenset(DESCRIPTORS)
_LONG_COLUMNS = ("record_id", "time_minutes", "parameter", "value")
_OUTCOME_ID, _OUTCOME_LABEL = "RecordID", "In-hospital_death"
_DEFAULT_MANUAL_DIR = (pathlib.Path(__file__).resolve().parents[1].parent
                       / "shared" / "data" / "physionet2012")


def default_manual_dir() -> str:
  """The shared raw data: ``<repo>/../shared/data/physionet2012``."""
  return os.fspath(_DEFAULT_MANUAL_DIR)


def outcome_candidates(manual_dir: str | os.PathLike, set_name: str) -> list[str]:
  """The outcome file names tried for a set, in order of preference.

  ``{set_name}_outcomes.csv``; for a set named ``set-X``, the challenge's own
  ``Outcomes-X.txt`` (a CSV with the same columns) and ``outcomes-X.csv``; last,
  ``outcomes.csv`` (may hold several sets: outcomes are found by record id).
  """
  manual_dir = pathlib.Path(manual_dir)
  names = [f"{set_name}_outcomes.csv"]
  match = re.fullmatch(r"set-(\w+)", set_name)
  if match:
    names += [f"Outcomes-{match.group(1)}.txt", f"outcomes-{match.group(1)}.csv"]
  names.append("outcomes.csv")
  return [os.fspath(manual_dir / n) for n in names]


def set_files(manual_dir: str | os.PathLike, set_name: str) -> tuple[str, str]:
  """Paths of a set's time-series and outcomes files (these need not exist).

  Args:
    manual_dir: folder with the raw files.
    set_name: e.g. ``"set-a"``; the time series are ``{set_name}_long.csv.gz``.

  Returns:
    ``(long_path, outcomes_path)``. The outcomes path is the first of
    :func:`outcome_candidates` that exists, else the first candidate.
  """
  long_path = pathlib.Path(manual_dir) / f"{set_name}_long.csv.gz"
  candidates = outcome_candidates(manual_dir, set_name)
  outcomes_path = next((c for c in candidates if os.path.isfile(c)), candidates[0])
  return os.fspath(long_path), outcomes_path


def require_outcomes(manual_dir: str | os.PathLike, set_name: str) -> str:
  """The set's outcomes file, or an error naming every file name tried."""
  path = set_files(manual_dir, set_name)[1]
  if not os.path.isfile(path):
    tried = [os.path.basename(c) for c in outcome_candidates(manual_dir, set_name)]
    raise DataFileNotFoundError(
        f"PhysioNet 2012 {set_name} outcomes not found in "
        f"{os.fspath(manual_dir)!r}: tried {', '.join(tried)}")
  return path


def _read_long(path: str) -> dict[str, np.ndarray]:
  """Columns of a long-format file: ids, minutes, parameter codes, values."""
  types = {"record_id": pa.int64(), "time_minutes": pa.int64(),
           "parameter": pa.string(), "value": pa.float64()}
  try:
    table = pacsv.read_csv(
        path, convert_options=pacsv.ConvertOptions(
            column_types=types, include_columns=list(_LONG_COLUMNS)))
  except pa.ArrowInvalid as e:
    # Missing columns and unparsable cells both land here; keep Arrow's detail.
    raise ValueError(
        f"cannot read {path!r} as a CSV with the columns "
        f"{list(_LONG_COLUMNS)}: {e}") from e
  if table.num_rows == 0:
    raise ValueError(f"{path!r} holds no measurement rows")
  for name in _LONG_COLUMNS:
    nulls = table[name].null_count
    if nulls:
      raise ValueError(f"{path!r}: column {name!r} has {nulls} empty cells")
  # Dictionary encoding turns 1.7M strings into small integer codes cheaply.
  params = pac.dictionary_encode(table["parameter"]).combine_chunks()
  return {
      "record_id": table["record_id"].to_numpy(),
      "time_minutes": table["time_minutes"].to_numpy(),
      "code": params.indices.to_numpy(zero_copy_only=False).astype(np.int64),
      "names": np.asarray(params.dictionary.to_pylist(), dtype=object),
      "value": table["value"].to_numpy(),
  }


def _read_outcomes(path: str) -> dict[int, int]:
  """Maps record id -> in-hospital death (0/1) from an outcomes CSV."""
  with open(path, newline="") as f:
    reader = csv.DictReader(f)
    header = reader.fieldnames or []
    missing = [c for c in (_OUTCOME_ID, _OUTCOME_LABEL) if c not in header]
    if missing:
      raise ValueError(
          f"outcomes file {path!r} lacks the column(s) {missing}; "
          f"its header is {header}")
    labels: dict[int, int] = {}
    bad: list[str] = []
    for line, row in enumerate(reader, start=2):
      try:
        rid = int(row[_OUTCOME_ID])
      except (TypeError, ValueError):
        raise ValueError(f"outcomes file {path!r}, line {line}: RecordID "
                         f"{row[_OUTCOME_ID]!r} is not an integer") from None
      raw = (row[_OUTCOME_LABEL] or "").strip()
      if raw not in ("0", "1"):
        bad.append(f"{rid}: {raw!r}")
        continue
      if rid in labels and labels[rid] != int(raw):
        raise ValueError(f"outcomes file {path!r}: record {rid} has both "
                         f"outcomes 0 and 1")
      labels[rid] = int(raw)
  if bad:
    raise ValueError(
        f"outcomes file {path!r}: {_OUTCOME_LABEL} must be 0 or 1; "
        f"{len(bad)} record(s) have other values, e.g. {', '.join(bad[:10])}")
  return labels


def read_set(manual_dir: str | os.PathLike | None = None,
             set_name: str = "set-a",
             variables: Sequence[str] = VARIABLES) -> dict[str, np.ndarray]:
  """Reads one set from the raw files and bins it hourly (no TFDS involved).

  Args:
    manual_dir: folder with the raw files; default :func:`default_manual_dir`.
    set_name: which set, e.g. ``"set-a"`` (see :func:`set_files`).
    variables: time-series variables to grid, in column order.

  Returns:
    ``{"x": float32 [N, 48, V] (NaN = missing), "m": float32 [N, 48, V],
    "y": int32 [N], "length": int32 [N], "record_id": int64 [N]}``, stays
    sorted by record id. Every record in the time-series file is a stay,
    including those with descriptor rows only.

  Raises:
    DataFileNotFoundError: a file is missing.
    ValueError: unknown parameter names or variables, a negative time, empty
      cells, a stay with no outcome, or an outcome other than 0/1.
  """
  manual_dir = default_manual_dir() if manual_dir is None else manual_dir
  unknown_vars = [v for v in variables if v not in TIME_SERIES_VARIABLES]
  if unknown_vars or not variables:
    raise ValueError(f"variables must be a non-empty subset of "
                     f"{list(TIME_SERIES_VARIABLES)}; unknown: {unknown_vars}")
  long_path, _ = set_files(manual_dir, set_name)
  require_file(long_path, f"PhysioNet 2012 {set_name} time series")
  outcomes_path = require_outcomes(manual_dir, set_name)
  rows = _read_long(long_path)

  names = [str(n) for n in rows["names"]]
  unknown = sorted(set(names) - _KNOWN_PARAMETERS)
  if unknown:
    raise ValueError(
        f"{long_path!r} holds unknown parameter name(s) {unknown}; expected "
        f"the time series {list(TIME_SERIES_VARIABLES)} or the descriptors "
        f"{list(DESCRIPTORS)}")
  minutes = rows["time_minutes"]
  if (minutes < 0).any():
    first = int(np.flatnonzero(minutes < 0)[0])
    raise ValueError(
        f"{long_path!r}: {int((minutes < 0).sum())} row(s) have a negative "
        f"time_minutes, e.g. record {rows['record_id'][first]} at "
        f"{minutes[first]}")
  if not np.isfinite(rows["value"]).all():
    raise ValueError(f"{long_path!r}: the value column holds NaN or inf")

  record_ids, stay = np.unique(rows["record_id"], return_inverse=True)
  labels = _read_outcomes(outcomes_path)
  no_outcome = [int(r) for r in record_ids if int(r) not in labels]
  if no_outcome:
    raise ValueError(
        f"{len(no_outcome)} record(s) of {long_path!r} have no outcome in "
        f"{outcomes_path!r}, e.g. {no_outcome[:10]}")
  y = np.array([labels[int(r)] for r in record_ids], dtype=np.int32)

  # Parameter code -> grid column, -1 for parameters not gridded.
  column_of_code = np.array(
      [list(variables).index(n) if n in variables else -1 for n in names],
      dtype=np.int64)
  column = column_of_code[rows["code"]]
  keep = (column >= 0) & (minutes <= _LAST_MINUTE)
  if "Weight" in variables and "Weight" in names:
    # The descriptor Weight (a record's first Weight row at t=0) is the
    # admission weight, a real hour-0 measurement, except -1 = not recorded.
    # This matches the 37-variable missing rate in the data README.
    is_weight = rows["code"] == names.index("Weight")
    w0 = np.flatnonzero(is_weight & (minutes == 0))
    _, first = np.unique(stay[w0], return_index=True)
    descriptor = w0[first]
    keep[descriptor[rows["value"][descriptor] == -1]] = False

  n, v = len(record_ids), len(variables)
  hour = np.minimum(minutes[keep] // 60, NUM_HOURS - 1)
  cell = (stay[keep] * NUM_HOURS + hour) * v + column[keep]
  size = n * NUM_HOURS * v
  counts = np.bincount(cell, minlength=size).reshape(n, NUM_HOURS, v)
  sums = np.bincount(cell, weights=rows["value"][keep],
                     minlength=size).reshape(n, NUM_HOURS, v)
  observed = counts > 0
  with np.errstate(invalid="ignore", divide="ignore"):
    x = np.where(observed, sums / counts, np.nan)
  any_hour = observed.any(axis=2)
  last = NUM_HOURS - 1 - np.argmax(any_hour[:, ::-1], axis=1)
  length = np.where(any_hour.any(axis=1), last + 1, 1)
  return {"x": x.astype(np.float32), "m": observed.astype(np.float32),
          "y": y, "length": length.astype(np.int32),
          "record_id": record_ids.astype(np.int64)}


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


class Physionet2012(tfds.core.GeneratorBasedBuilder):
  """PhysioNet 2012 stays on a 48 h x 35 variable grid, one config per set.

  The config name is the set name (``"set-a"`` is predefined; pass
  ``config=tfds.core.BuilderConfig(name="set-b")`` for another). The one split,
  ``"train"``, holds every stay of the set; make splits with
  :func:`split_indices`. See the module docstring for the binning.
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Hourly means, 35 variables, length to last bin."}
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(name="set-a",
                              description="Set A (the public training set)."),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Put {set_name}_long.csv.gz and {set_name}_outcomes.csv (or Outcomes-X.txt, "
      "outcomes-X.csv for set-X, or outcomes.csv) in the manual directory; see "
      "../shared/data/physionet2012/README.md.")

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "x": tfds.features.Tensor(shape=(NUM_HOURS, len(VARIABLES)),
                                      dtype=np.float32),
            # The mask is x's non-NaN pattern; bool keeps the files small.
            "m": tfds.features.Tensor(shape=(NUM_HOURS, len(VARIABLES)),
                                      dtype=np.bool_),
            "y": tfds.features.ClassLabel(names=["survived", "died"]),
            "length": np.int32,
            "record_id": np.int64,
        }),
        metadata=tfds.core.MetadataDict(variables=list(VARIABLES)),
        homepage="https://physionet.org/content/challenge-2012/1.0.0/",
        citation=(
            "Silva I, Moody G, Scott DJ, Celi LA, Mark RG. Predicting "
            "In-Hospital Mortality of ICU Patients: The PhysioNet/Computing in "
            "Cardiology Challenge 2012. Comput Cardiol. 2012;39:245-248."),
    )

  def _split_generators(self, dl_manager):
    manual_dir = os.fspath(dl_manager.manual_dir)
    set_name = self.builder_config.name
    arrays = read_set(manual_dir, set_name)
    # Provenance: which raw files this preparation came from.
    for path in set_files(manual_dir, set_name):
      self.info.metadata[os.path.basename(path) + ".sha256"] = _sha256(path)
    return {"train": self._generate_examples(arrays)}

  def _generate_examples(self, arrays):
    for i, rid in enumerate(arrays["record_id"]):
      yield int(rid), {"x": arrays["x"][i], "m": arrays["m"][i] > 0,
                       "y": int(arrays["y"][i]),
                       "length": int(arrays["length"][i]),
                       "record_id": int(rid)}


def make_builder(data_dir: str | os.PathLike | None = None,
                 set_name: str = "set-a") -> Physionet2012:
  """The builder for ``set_name``, predefined config or a custom one."""
  if set_name in Physionet2012.builder_configs:
    config = set_name
  else:
    config = tfds.core.BuilderConfig(name=set_name,
                                     description=f"PhysioNet 2012 {set_name}.")
  if data_dir is not None:
    data_dir = os.fspath(data_dir)
  return Physionet2012(data_dir=data_dir, config=config,
                       file_format="array_record")


def load_physionet2012(data_dir: str | os.PathLike | None = None,
                       manual_dir: str | os.PathLike | None = None,
                       set_name: str = "set-a") -> dict:
  """Loads a set as numpy arrays, preparing the TFDS dataset on first use.

  Args:
    data_dir: TFDS data directory for the prepared ArrayRecord files; default
      TFDS's own (``~/tensorflow_datasets``).
    manual_dir: folder with the raw files, read only when preparing; default
      :func:`default_manual_dir`.
    set_name: which set (the builder config), e.g. ``"set-a"``.

  Returns:
    ``{"x": float32 [N, 48, V] with NaN, "m": float32 [N, 48, V],
    "y": int32 [N], "length": int32 [N], "record_id": int64 [N],
    "variables": list of V names}``, stays sorted by record id.

  Raises:
    DataFileNotFoundError: preparing is needed and a raw file is missing.
    ValueError: the raw files are malformed (see :func:`read_set`).

  A prepared set is reused as it is, even if the raw files change later. Its
  ``metadata.json`` records their sha256; delete
  ``<data_dir>/physionet2012/<set_name>`` to prepare again.
  """
  builder = make_builder(data_dir, set_name)
  if not builder.is_prepared():
    manual_dir = default_manual_dir() if manual_dir is None else manual_dir
    # Fail before TFDS creates any folder, naming the file rather than the dir.
    require_file(set_files(manual_dir, set_name)[0],
                 f"PhysioNet 2012 {set_name} time series")
    require_outcomes(manual_dir, set_name)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=os.fspath(manual_dir)))
  source = builder.as_data_source(split="train")
  examples = source.__getitems__(range(len(source)))
  out = {k: np.stack([e[k] for e in examples])
         for k in ("x", "m", "y", "length", "record_id")}
  # TFDS stores examples in hashed-key order; sort to match read_set.
  order = np.argsort(out["record_id"], kind="stable")
  return {
      "x": out["x"][order].astype(np.float32),
      "m": out["m"][order].astype(np.float32),
      "y": out["y"][order].astype(np.int32),
      "length": out["length"][order].astype(np.int32),
      "record_id": out["record_id"][order].astype(np.int64),
      "variables": list(builder.info.metadata.get("variables", VARIABLES)),
  }


def observed_mean_std(train_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Per-variable mean and std over the observed (non-NaN) entries.

  Args:
    train_x: float array ``[..., V]``; NaN marks missing.

  Returns:
    ``(mean, std)``, float64 ``[V]``; a constant variable gets std 1.

  Raises:
    ValueError: a variable has no observed value.
  """
  flat = np.asarray(train_x, np.float64).reshape(-1, np.shape(train_x)[-1])
  observed = ~np.isnan(flat)
  count = observed.sum(axis=0)
  if (count == 0).any():
    empty = np.flatnonzero(count == 0).tolist()
    raise ValueError(f"variable column(s) {empty} have no observed training "
                     f"value; cannot normalise them")
  filled = np.where(observed, flat, 0.0)
  mean = filled.sum(axis=0) / count
  var = (np.where(observed, flat - mean, 0.0) ** 2).sum(axis=0) / count
  std = np.sqrt(var)
  # A constant observed variable carries no information; avoid dividing by 0.
  return mean, np.where(std > 0, std, 1.0)


def normalise(train_x: np.ndarray,
              *others: np.ndarray) -> tuple[np.ndarray, ...]:
  """Standardises arrays with the observed training values' mean and std.

  Args:
    train_x: float array ``[..., V]`` (NaN = missing) the statistics come from.
    *others: more ``[..., V]`` arrays (validation, test) scaled the same way.

  Returns:
    ``(train_z, *others_z)``, float32, NaN kept where the input is NaN.
  """
  mean, std = observed_mean_std(train_x)
  return tuple(((np.asarray(a, np.float64) - mean) / std).astype(np.float32)
               for a in (train_x, *others))


def split_indices(
    labels: np.ndarray, protocol: str = "single", seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """Stratified 80/10/10 train/validation/test index splits.

  Args:
    labels: int labels ``[N]``, the stratification target.
    protocol: ``"single"``, one split from ``seed`` (the paper's protocol);
      or ``"five_fold"``, five splits from the seeds ``seed .. seed + 4``
      (with the default ``seed=0`` the fixed seeds 0..4 of the Raindrop line of
      work). These are five random 80/10/10 splits: their test sets can
      overlap.
    seed: seed of the (first) split.

  Returns:
    A list of ``(train, val, test)`` sorted int index arrays: one entry for
    ``"single"``, five for ``"five_fold"``.
  """
  labels = np.asarray(labels)
  if protocol == "single":
    seeds = [seed]
  elif protocol == "five_fold":
    seeds = [seed + k for k in range(5)]
  else:
    raise ValueError(
        f"protocol must be 'single' or 'five_fold', got {protocol!r}")
  return [stratified_split(labels, 0.1, 0.1, s) for s in seeds]


def load_sequences(data_dir: str | os.PathLike | None = None,
                   manual_dir: str | os.PathLike | None = None,
                   set_name: str = "set-a"):
  """The set as :class:`gil_jax.data.RawSequences` (48 hourly bins, NaN = missing).

  Label: in-hospital death.  Split and normalisation are the training code's
  (:func:`gil_jax.data.prepare_sequences`, observed training values only).
  """
  from gil_jax.data import RawSequences, validate_sequences
  arrays = load_physionet2012(data_dir=data_dir, manual_dir=manual_dir,
                              set_name=set_name)
  raw = RawSequences(x=arrays["x"], y=arrays["y"].astype(np.int32),
                     length=arrays["length"].astype(np.int32), num_classes=2,
                     feature_names=tuple(arrays["variables"]),
                     name=f"physionet2012/{set_name}")
  validate_sequences(raw, m=arrays["m"])
  return raw
