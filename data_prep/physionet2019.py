"""PhysioNet/CinC 2019 early sepsis prediction as a local TFDS dataset.

A public analog of the paper's septic-shock task (Table 1, sec. 4.2, App. D.1):
predict, from the hours before a window end, whether sepsis begins a fixed gap
after it.

Data flow: ``training_setA.parquet`` in a manual directory (one row per patient
hour, see ``../shared/data/physionet2019/README.md``) -> :func:`read_table`
(pyarrow -> numpy, checked) -> :func:`select_cohort` (who is in, and where each
window ends) -> :func:`window_arrays` (the last hours of each window on a grid)
-> :class:`Physionet2019` (a TFDS builder writing ArrayRecord, no network, no
TensorFlow; one builder config per protocol) -> :func:`load_physionet2019` /
:func:`load_sequences` (numpy arrays / :class:`gil_jax.data.RawSequences`).

Hours are counted from a patient's first record (row 0); rows are hourly
(``ICULOS`` rises by exactly 1 per row, which is checked).

Cohort rule (:class:`CohortRule`; defaults in brackets):

* The challenge's ``SepsisLabel`` is 1 from ``t_sepsis - 6 h`` on
  (``label_shift_hours`` [6]). A septic patient's onset is therefore
  ``r0 + 6``, ``r0`` the first row with label 1, *if* ``r0 >= 1``. A patient
  whose first record is already labelled 1 has an onset at most 6 h after it,
  at an unknown hour: excluded (203 patients in set A).
* **Positives**: septic patients with a known onset whose window keeps at least
  ``min_window_hours`` [3] hours. The window is the hours ``t < onset - gap``
  (``gap_hours`` [4], the paper's 4-hour early-prediction window), so its last
  hour starts 5 h before onset and ends 4 h before it. With the defaults the
  binding condition is ``r0 >= 1``, i.e. onset at least 7 h after the first
  record (the paper removed onsets under 6 h: 2 h observation + 4 h gap).
  Set A: 1,587 of the 1,790 septic patients; all are kept.
* **Negatives**: patients never labelled septic. As many as there are positives
  are drawn without replacement (``seed`` [0]); each gets a window end ``e``
  drawn uniformly from ``[min_window_hours, n - gap_hours]`` (``n`` rows), so
  its window is followed by at least ``gap`` observed sepsis-free hours. The
  classes are balanced 1:1, as in the paper.
* ``negative_window="matched"`` (not the default) draws instead, for each
  positive with window end ``e``, a never-septic partner whose stay lasts at
  least ``gap`` hours beyond ``min(e, match_hours)`` [48] and whose window
  ends there. With the default, window length alone partly separates the
  classes, because positives' onsets come later in the stay than a uniform
  end; matching removes that shortcut for any cap up to ``match_hours``.
  Set A's never-septic stays rarely last beyond 60 h (6 patients), so longer
  positive windows cannot be matched exactly.

Protocols (builder configs; both use the same cohort and window ends):

* ``varied``: the hours from the first record to the window's end, capped at
  the last 48 (``max_hours``); lengths differ. Set A: the cap shortens 681
  of the 3,174 sequences (670 positives, 11 negatives; the builder's metadata
  holds the counts).
* ``fixed``: the last 8 hours of the window (``max_hours=8``, the paper's "the
  maximum time step for each sequence is set to be 8"). A window shorter than
  8 h is padded at the end (steps past ``length``). The paper kept the *first*
  8 steps; for a prediction made at the window's end the last ones are the
  informative ones.

Variables: the 34 vitals and labs (:data:`VARIABLES`), raw values, NaN for
missing. ``EtCO2`` is never observed in set A, so :func:`load_sequences` leaves
out variables never observed in the cohort (33 remain). Demographics (Age,
Gender) are stored with each example but are **not** model inputs: the
sequence models here have no static-input path.

Nothing is normalised; :func:`gil_jax.data.prepare_sequences` scales with
observed training values. Each patient gives one sequence, so the launcher's
stratified splits are splits by patient.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import warnings
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
# Preparing needs no TensorFlow, but TFDS 4.9.10 imports importlib_resources
# there without declaring it: requirements.txt and the `data` extra list it.
import tensorflow_datasets as tfds

from gil_jax.data import RawSequences, require_file, validate_sequences

DATA_FILE = "training_setA.parquet"
VITALS: tuple[str, ...] = ("HR", "O2Sat", "Temp", "SBP", "MAP", "DBP", "Resp",
                           "EtCO2")
LABS: tuple[str, ...] = (
    "BaseExcess", "HCO3", "FiO2", "pH", "PaCO2", "SaO2", "AST", "BUN",
    "Alkalinephos", "Calcium", "Chloride", "Creatinine", "Bilirubin_direct",
    "Glucose", "Lactate", "Magnesium", "Phosphate", "Potassium",
    "Bilirubin_total", "TroponinI", "Hct", "Hgb", "PTT", "WBC", "Fibrinogen",
    "Platelets")
VARIABLES: tuple[str, ...] = VITALS + LABS          # the 34 model inputs
DEMOGRAPHICS: tuple[str, ...] = ("Age", "Gender")   # stored, not model inputs
ID, HOUR, LABEL = "patient_id", "ICULOS", "SepsisLabel"
REQUIRED_COLUMNS: tuple[str, ...] = (ID, *VARIABLES, *DEMOGRAPHICS, HOUR, LABEL)
PROTOCOL_HOURS = {"varied": 48, "fixed": 8}
NEGATIVE_WINDOWS = ("uniform", "matched")
_DEFAULT_MANUAL_DIR = (pathlib.Path(__file__).resolve().parents[1].parent
                       / "shared" / "data" / "physionet2019")


def default_manual_dir() -> str:
  """The shared raw data: ``<repo>/../shared/data/physionet2019``."""
  return os.fspath(_DEFAULT_MANUAL_DIR)


@dataclasses.dataclass(frozen=True)
class CohortRule:
  """Who enters the cohort and where each window ends (module docstring)."""
  gap_hours: int = 4
  min_window_hours: int = 3
  label_shift_hours: int = 6
  seed: int = 0
  negative_window: str = "uniform"    # or "matched" (module docstring)
  match_hours: int = 48

  def __post_init__(self):
    if self.gap_hours < 0 or self.min_window_hours < 1:
      raise ValueError(f"need gap_hours >= 0 and min_window_hours >= 1, got "
                       f"{self.gap_hours} and {self.min_window_hours}")
    if self.negative_window not in NEGATIVE_WINDOWS:
      raise ValueError(f"negative_window must be one of {NEGATIVE_WINDOWS}, got "
                       f"{self.negative_window!r}")
    if self.match_hours < self.min_window_hours:
      raise ValueError(f"match_hours ({self.match_hours}) must be >= "
                       f"min_window_hours ({self.min_window_hours})")
    if self.label_shift_hours < 0:
      raise ValueError(f"label_shift_hours must be >= 0, got "
                       f"{self.label_shift_hours}")


def read_table(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """The Parquet file as checked numpy columns, rows grouped by patient.

  Args:
    path: the Parquet file (README layout: ``patient_id``, the 40 feature
      columns, ``SepsisLabel``; one row per patient hour).

  Returns:
    ``{"patient": int64 [R] (the number of ``pNNNNNN``), "start": int64 [P],
    "rows": int64 [P], "x": float64 [R, 34] (NaN = missing), "age": float64
    [R], "gender": float64 [R], "hour": int64 [R], "label": int64 [R]}``; rows
    sorted by patient then ``ICULOS``; patient ``p`` owns rows
    ``start[p] : start[p] + rows[p]``.

  Raises:
    DataFileNotFoundError: the file is missing.
    ValueError: not Parquet, required columns missing or not numeric, empty
      ids, hours or labels, labels other than 0/1, a label that falls back from
      1 to 0, or hours that do not rise by exactly 1 within a patient.
  """
  path = require_file(path, "PhysioNet 2019 Parquet file")
  try:
    schema = pq.read_schema(path)
  except (pa.ArrowInvalid, OSError) as e:
    raise ValueError(f"cannot read {path!r} as Parquet: {e}") from e
  missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
  if missing:
    raise ValueError(f"{path!r} lacks the column(s) {missing}; see "
                     f"../shared/data/physionet2019/README.md for the layout")
  table = pq.read_table(path, columns=list(REQUIRED_COLUMNS))
  if table.num_rows == 0:
    raise ValueError(f"{path!r} holds no rows")
  for name in (ID, HOUR, LABEL):
    if table[name].null_count:
      raise ValueError(f"{path!r}: column {name!r} has "
                       f"{table[name].null_count} empty cells")

  def numeric(name, dtype):
    column = table[name]
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
      raise ValueError(f"{path!r}: column {name!r} must be numeric, its type is "
                       f"{column.type}")
    # Nulls (if a writer used them instead of NaN) become NaN: also missing.
    return column.cast(dtype).to_numpy(zero_copy_only=False)

  ids = table[ID].cast(pa.string()).to_numpy(zero_copy_only=False).astype(str)
  bad_ids = [i for i in np.unique(ids)
             if not (i.startswith("p") and i[1:].isdigit())]
  if bad_ids:
    raise ValueError(f"{path!r}: patient ids must look like 'p000123'; found "
                     f"{bad_ids[:5]}")
  patient_of_row = np.char.lstrip(ids, "p").astype(np.int64)
  hour = numeric(HOUR, pa.int64())
  label = numeric(LABEL, pa.int64())
  if not np.isin(label, (0, 1)).all():
    raise ValueError(f"{path!r}: {LABEL} must be 0 or 1; found "
                     f"{np.unique(label[~np.isin(label, (0, 1))])[:5]}")
  x = np.stack([numeric(v, pa.float64()) for v in VARIABLES], axis=1)
  if np.isinf(x).any():
    col = VARIABLES[int(np.nonzero(np.isinf(x))[1][0])]
    raise ValueError(f"{path!r}: +/-inf values (first in {col!r}); NaN marks "
                     f"missing")

  order = np.lexsort((hour, patient_of_row))
  patient_of_row, hour, label, x = (a[order] for a in
                                    (patient_of_row, hour, label, x))
  patients, start, rows = np.unique(patient_of_row, return_index=True,
                                    return_counts=True)
  first = np.zeros(len(hour), bool)
  first[start] = True
  steps = np.diff(hour, prepend=hour[0] - 1)
  bad = ~first & (steps != 1)
  if bad.any():
    i = int(np.flatnonzero(bad)[0])
    raise ValueError(
        f"{path!r}: {HOUR} must rise by exactly 1 hour per row within a "
        f"patient; patient p{patient_of_row[i]:06d} goes from {hour[i - 1]} to "
        f"{hour[i]} ({int(bad.sum())} such row(s))")
  drop = ~first & (np.diff(label, prepend=0) < 0)
  if drop.any():
    i = int(np.flatnonzero(drop)[0])
    raise ValueError(
        f"{path!r}: {LABEL} falls from 1 back to 0 for patient "
        f"p{patient_of_row[i]:06d} at {HOUR} {hour[i]}; the challenge labels "
        f"stay 1 from onset - 6 h on")
  return {"patient": patients, "start": start, "rows": rows, "x": x,
          "age": numeric("Age", pa.float64())[order],
          "gender": numeric("Gender", pa.float64())[order],
          "hour": hour, "label": label}


def select_cohort(table: dict[str, np.ndarray],
                  rule: CohortRule = CohortRule()) -> dict:
  """Positives, sampled negatives and each one's window end (module docstring).

  Args:
    table: output of :func:`read_table`.
    rule: the cohort rule.

  Returns:
    ``{"index": int64 [N] (patient positions in ``table``), "y": int32 [N],
    "window_end": int64 [N] (exclusive, hours since the first record),
    "onset": int64 [N] (hours since the first record; -1 for negatives),
    "counts": dict}``, sorted by patient. ``counts`` holds the septic
    patients, those excluded (onset unknown / window too short), positives,
    eligible and drawn negatives.

  Raises:
    ValueError: no positive, or fewer eligible negatives than positives.
  """
  start, rows, label = table["start"], table["rows"], table["label"]
  septic = np.maximum.reduceat(label, start) == 1
  # First labelled row of each patient (0 where never labelled; unused there).
  r0 = np.array([np.argmax(label[s:s + n]) for s, n in zip(start, rows)],
                dtype=np.int64)
  onset = r0 + rule.label_shift_hours
  end_pos = onset - rule.gap_hours
  known = septic & (r0 >= 1)
  positive = known & (end_pos >= rule.min_window_hours) & (end_pos <= rows)
  eligible = np.flatnonzero(
      ~septic & (rows - rule.gap_hours >= rule.min_window_hours))
  n_pos = int(positive.sum())
  if n_pos == 0:
    raise ValueError("no septic patient satisfies the cohort rule "
                     f"{rule}; nothing to predict")
  if len(eligible) < n_pos:
    raise ValueError(f"{n_pos} positives but only {len(eligible)} eligible "
                     f"never-septic patients: cannot balance the classes 1:1")
  rng = np.random.default_rng(rule.seed)
  pos = np.flatnonzero(positive)
  if rule.negative_window == "uniform":
    neg = np.sort(rng.choice(eligible, size=n_pos, replace=False))
    # Uniform integer in [min_window, rows - gap] for each drawn negative.
    neg_end = rng.integers(rule.min_window_hours,
                           rows[neg] - rule.gap_hours + 1)
  else:
    neg, neg_end = _matched_negatives(end_pos[pos], rows, eligible, rule, rng)
  index = np.concatenate([pos, neg])
  order = np.argsort(index, kind="stable")
  counts = {
      "patients": int(len(start)),
      "septic": int(septic.sum()),
      "excluded_onset_unknown": int((septic & (r0 < 1)).sum()),
      "excluded_short_window": int((known & ~positive).sum()),
      "positives": n_pos,
      "eligible_negatives": int(len(eligible)),
      "negatives": n_pos,
  }
  return {
      "index": index[order],
      "y": np.concatenate([np.ones(n_pos, np.int32),
                           np.zeros(n_pos, np.int32)])[order],
      "window_end": np.concatenate([end_pos[pos], neg_end])[order].astype(np.int64),
      "onset": np.concatenate([onset[pos], -np.ones(n_pos, np.int64)])[order],
      "counts": counts,
  }


def _matched_negatives(pos_end: np.ndarray, rows: np.ndarray,
                       eligible: np.ndarray, rule: CohortRule,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """One never-septic partner per positive, with its window end.

  A positive whose window ends at ``e`` gets a partner still in the ICU and
  sepsis-free ``gap`` hours after ``t = min(e, match_hours)``, whose window
  ends at ``t``: the visible lengths of both classes then have the same
  distribution under any cap ``<= match_hours`` (set A's never-septic stays
  rarely last beyond 60 h, so longer windows cannot be matched exactly).
  Partners are drawn uniformly, hardest targets first so that none runs out.
  """
  target = np.minimum(pos_end, rule.match_hours)
  room = rows[eligible] - rule.gap_hours
  free = np.ones(len(eligible), bool)
  partner = np.empty(len(target), np.int64)
  for i in np.argsort(-target, kind="stable"):
    candidates = np.flatnonzero(free & (room >= target[i]))
    if len(candidates) == 0:
      raise ValueError(
          f"no never-septic patient is left with a stay of at least "
          f"{target[i] + rule.gap_hours} hours to match a positive window of "
          f"{target[i]} hours; lower match_hours")
    j = rng.choice(candidates)
    free[j] = False
    partner[i] = j
  neg = eligible[partner]
  order = np.argsort(neg)
  return neg[order], target[order]


def window_arrays(table: dict[str, np.ndarray], cohort: dict,
                  max_hours: int) -> dict[str, np.ndarray]:
  """The last ``max_hours`` hours of each window, left-aligned and padded.

  Returns:
    ``{"x": float32 [N, max_hours, 34] (NaN = missing or padding), "m":
    float32 (1 = observed), "y": int32 [N], "length": int32 [N] (= min(window,
    max_hours)), "patient": int64 [N], "window_end", "onset": int32 [N] (hours
    since the first record), "age": float32 [N], "gender": int32 [N]}``.
  """
  if max_hours < 1:
    raise ValueError(f"max_hours must be >= 1, got {max_hours}")
  index, end = cohort["index"], cohort["window_end"]
  n, v = len(index), len(VARIABLES)
  length = np.minimum(end, max_hours)
  x = np.full((n, max_hours, v), np.nan, np.float32)
  for i, (p, e, k) in enumerate(zip(index, end, length)):
    row0 = table["start"][p]
    x[i, :k] = table["x"][row0 + e - k:row0 + e]
  first_row = table["start"][index]
  gender = table["gender"][first_row]
  return {"x": x, "m": (~np.isnan(x)).astype(np.float32),
          "y": cohort["y"].astype(np.int32), "length": length.astype(np.int32),
          "patient": table["patient"][index].astype(np.int64),
          "window_end": end.astype(np.int32),
          "onset": cohort["onset"].astype(np.int32),
          "age": table["age"][first_row].astype(np.float32),
          "gender": np.where(np.isnan(gender), -1, gender).astype(np.int32)}


def read_cohort(manual_dir: str | os.PathLike | None = None,
                protocol: str = "varied", rule: CohortRule = CohortRule(),
                max_hours: int | None = None) -> dict:
  """Reads the Parquet file and builds one protocol's arrays (no TFDS).

  Args:
    manual_dir: folder holding :data:`DATA_FILE`; default
      :func:`default_manual_dir`.
    protocol: ``"varied"`` or ``"fixed"`` (:data:`PROTOCOL_HOURS`).
    rule: the cohort rule.
    max_hours: overrides the protocol's number of hours.

  Returns:
    :func:`window_arrays`'s dict plus ``"counts"`` (:func:`select_cohort`'s,
    and ``capped_positives`` / ``capped_negatives``: windows longer than
    ``max_hours``, i.e. shortened).
  """
  if protocol not in PROTOCOL_HOURS:
    raise ValueError(f"protocol must be one of {sorted(PROTOCOL_HOURS)}, got "
                     f"{protocol!r}")
  hours = PROTOCOL_HOURS[protocol] if max_hours is None else max_hours
  manual_dir = default_manual_dir() if manual_dir is None else manual_dir
  table = read_table(os.path.join(manual_dir, DATA_FILE))
  cohort = select_cohort(table, rule)
  arrays = window_arrays(table, cohort, hours)
  capped = cohort["window_end"] > hours
  counts = dict(cohort["counts"],
                capped_positives=int((capped & (cohort["y"] == 1)).sum()),
                capped_negatives=int((capped & (cohort["y"] == 0)).sum()))
  return dict(arrays, counts=counts)


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


@dataclasses.dataclass(eq=False)
class SepsisConfig(tfds.core.BuilderConfig):
  """A protocol and cohort rule; the config name must be unique per setting."""
  protocol: str = "varied"
  max_hours: int = 48
  gap_hours: int = 4
  min_window_hours: int = 3
  label_shift_hours: int = 6
  seed: int = 0
  negative_window: str = "uniform"
  match_hours: int = 48

  @property
  def rule(self) -> CohortRule:
    return CohortRule(self.gap_hours, self.min_window_hours,
                      self.label_shift_hours, self.seed, self.negative_window,
                      self.match_hours)


class Physionet2019(tfds.core.GeneratorBasedBuilder):
  """Balanced early-sepsis windows from PhysioNet 2019 set A, one config per
  protocol (``"varied"``: up to 48 h, ``"fixed"``: up to 8 h; module docstring).

  One split, ``"train"``, holds every sequence; the launcher splits it.
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Onset - 4 h windows, 1:1 negatives, 34 variables."}
  BUILDER_CONFIGS = [
      SepsisConfig(name="varied", protocol="varied", max_hours=48,
                   description="From the first record to the window end, "
                               "last 48 h at most."),
      SepsisConfig(name="fixed", protocol="fixed", max_hours=8,
                   description="The last 8 h of the window."),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f"Put {DATA_FILE} in the manual directory; see "
      "../shared/data/physionet2019/README.md.")

  def _info(self) -> tfds.core.DatasetInfo:
    hours = self.builder_config.max_hours
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "x": tfds.features.Tensor(shape=(hours, len(VARIABLES)),
                                      dtype=np.float32),
            "m": tfds.features.Tensor(shape=(hours, len(VARIABLES)),
                                      dtype=np.bool_),
            "y": tfds.features.ClassLabel(names=["no_sepsis", "sepsis"]),
            "length": np.int32,
            "patient": np.int64,
            "window_end": np.int32,
            "onset": np.int32,
            "age": np.float32,
            "gender": np.int32,
        }),
        metadata=tfds.core.MetadataDict(variables=list(VARIABLES)),
        homepage="https://physionet.org/content/challenge-2019/1.0.0/",
        citation=(
            "Reyna MA, Josef CS, Jeter R, Shashikumar SP, Westover MB, Nemati "
            "S, Clifford GD, Sharma A. Early Prediction of Sepsis From Clinical "
            "Data: The PhysioNet/Computing in Cardiology Challenge 2019. Crit "
            "Care Med. 2020;48(2):210-217."),
    )

  def _split_generators(self, dl_manager):
    manual_dir = os.fspath(dl_manager.manual_dir)
    cfg = self.builder_config
    arrays = read_cohort(manual_dir, cfg.protocol, cfg.rule, cfg.max_hours)
    # Provenance and the cohort's counts travel with the prepared data.
    self.info.metadata[DATA_FILE + ".sha256"] = _sha256(
        os.path.join(manual_dir, DATA_FILE))
    self.info.metadata["counts"] = arrays["counts"]
    self.info.metadata["rule"] = dataclasses.asdict(cfg.rule)
    return {"train": self._generate_examples(arrays)}

  def _generate_examples(self, arrays):
    for i, patient in enumerate(arrays["patient"]):
      yield int(patient), {
          "x": arrays["x"][i], "m": arrays["m"][i] > 0,
          "y": int(arrays["y"][i]), "length": int(arrays["length"][i]),
          "patient": int(patient), "window_end": int(arrays["window_end"][i]),
          "onset": int(arrays["onset"][i]), "age": float(arrays["age"][i]),
          "gender": int(arrays["gender"][i])}


def config_name(protocol: str, rule: CohortRule, max_hours: int) -> str:
  """The predefined config's name for the default rule, else a unique name."""
  if rule == CohortRule() and max_hours == PROTOCOL_HOURS.get(protocol):
    return protocol
  name = (f"{protocol}_h{max_hours}_gap{rule.gap_hours}_min"
          f"{rule.min_window_hours}_shift{rule.label_shift_hours}_seed{rule.seed}")
  if rule.negative_window == "matched":
    name += f"_matched{rule.match_hours}"
  return name


def make_builder(data_dir: str | os.PathLike | None = None,
                 protocol: str = "varied", rule: CohortRule = CohortRule(),
                 max_hours: int | None = None) -> Physionet2019:
  """The builder of a protocol and rule (a predefined config where it is one)."""
  if protocol not in PROTOCOL_HOURS:
    raise ValueError(f"protocol must be one of {sorted(PROTOCOL_HOURS)}, got "
                     f"{protocol!r}")
  hours = PROTOCOL_HOURS[protocol] if max_hours is None else int(max_hours)
  name = config_name(protocol, rule, hours)
  if name in Physionet2019.builder_configs:
    config = name
  else:
    config = SepsisConfig(name=name, protocol=protocol, max_hours=hours,
                          **dataclasses.asdict(rule))
  return Physionet2019(data_dir=None if data_dir is None else os.fspath(data_dir),
                       config=config, file_format="array_record")


def load_physionet2019(data_dir: str | os.PathLike | None = None,
                       manual_dir: str | os.PathLike | None = None,
                       protocol: str = "varied", rule: CohortRule = CohortRule(),
                       max_hours: int | None = None) -> dict:
  """One protocol as numpy arrays, preparing the TFDS dataset on first use.

  Args:
    data_dir: TFDS data directory; default TFDS's own (``~/tensorflow_datasets``).
    manual_dir: folder holding :data:`DATA_FILE`, read only when preparing.
    protocol, rule, max_hours: see :func:`read_cohort`.

  Returns:
    :func:`window_arrays`'s arrays sorted by patient, plus ``"variables"`` and
    ``"counts"`` (from the prepared dataset's metadata).

  A prepared config is reused as it is; its metadata records the file's
  sha256. Delete ``<data_dir>/physionet2019/<config>`` to prepare again.
  """
  builder = make_builder(data_dir, protocol, rule, max_hours)
  if not builder.is_prepared():
    manual_dir = default_manual_dir() if manual_dir is None else manual_dir
    # Fail before TFDS creates any folder, naming the file rather than the dir.
    require_file(os.path.join(manual_dir, DATA_FILE),
                 "PhysioNet 2019 Parquet file")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=os.fspath(manual_dir)))
  source = builder.as_data_source(split="train")
  examples = source.__getitems__(range(len(source)))
  keys = ("x", "m", "y", "length", "patient", "window_end", "onset", "age",
          "gender")
  out = {k: np.stack([e[k] for e in examples]) for k in keys}
  # TFDS stores examples in hashed-key order; sort by patient as read_cohort.
  order = np.argsort(out["patient"], kind="stable")
  dtypes = {"x": np.float32, "m": np.float32, "y": np.int32,
            "length": np.int32, "patient": np.int64, "window_end": np.int32,
            "onset": np.int32, "age": np.float32, "gender": np.int32}
  out = {k: out[k][order].astype(dtypes[k]) for k in keys}
  out["variables"] = list(builder.info.metadata.get("variables", VARIABLES))
  out["counts"] = dict(builder.info.metadata.get("counts", {}))
  return out


def load_sequences(data_dir: str | os.PathLike | None = None,
                   manual_dir: str | os.PathLike | None = None,
                   protocol: str = "varied", gap_hours: int = 4,
                   min_window_hours: int = 3, seed: int = 0,
                   negative_window: str = "uniform", match_hours: int = 48,
                   variables: Sequence[str] | None = None) -> RawSequences:
  """A protocol as :class:`gil_jax.data.RawSequences` for the launcher.

  Args:
    data_dir, manual_dir, protocol: see :func:`load_physionet2019`.
    gap_hours, min_window_hours, seed, negative_window, match_hours: the
      :class:`CohortRule`.
    variables: input variables; default: those of :data:`VARIABLES` observed
      at least once in the cohort (set A: all but EtCO2, with a warning).

  Returns:
    Sequences ``[N, max_hours, V]`` (NaN = missing), label 1 = sepsis onset
    ``gap_hours`` after the window's end.
  """
  rule = CohortRule(gap_hours=gap_hours, min_window_hours=min_window_hours,
                    seed=seed, negative_window=negative_window,
                    match_hours=match_hours)
  arrays = load_physionet2019(data_dir, manual_dir, protocol, rule)
  names = list(arrays["variables"])
  if variables is None:
    seen = arrays["m"].any(axis=(0, 1))
    if not seen.all():
      warnings.warn(f"leaving out variable(s) never observed in the cohort: "
                    f"{[n for n, s in zip(names, seen) if not s]}")
    keep = [n for n, s in zip(names, seen) if s]
  else:
    unknown = [v for v in variables if v not in names]
    if unknown or not variables:
      raise ValueError(f"variables must be a non-empty subset of {names}; "
                       f"unknown: {unknown}")
    keep = list(variables)
  cols = [names.index(v) for v in keep]
  raw = RawSequences(x=arrays["x"][:, :, cols], y=arrays["y"],
                     length=arrays["length"], num_classes=2,
                     feature_names=tuple(keep),
                     name=f"physionet2019/{protocol}")
  validate_sequences(raw, m=arrays["m"][:, :, cols])
  return raw
