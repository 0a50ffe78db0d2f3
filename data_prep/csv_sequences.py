"""Sequences in the GIL authors' CSV layout -> ``RawSequences``, one per split.

The authors' sequence code (Gao et al., 2022, ``sequential_data/``) reads one
CSV per class label and split (their MIMIC-III files are
``df_shock_train.csv``, ``df_non_shock_train.csv``, ``df_shock_test.csv``,
``df_non_shock_test.csv``). Each file has one row per time step. Its first
column, the CSV index, is the patient id (theirs is ``TrainSampleIdx``); the
other columns are the variables; an empty cell (or ``NaN``, ``NA``, ``null``)
is a missing value. A patient's rows are consecutive and in time order::

    id,HR,Temp,Na
    513,80,,140
    513,85,37.5,
    513,,,
    1027,70,36.9,135

Here patient ``513`` has three steps (the last one with nothing observed) and
``1027`` one.

Which files, and what becomes of their splits (:func:`load_csv_dataset`, the
launcher's loader; ``config.data`` of ``launch/configs/csv_sequences.py`` holds
its arguments). Files are found by name in a directory, ``{split}_{label}.csv``
(or ``.csv.gz``) with an integer label, or taken from a ``files`` mapping:

* ``train_*`` and ``test_*`` only: validation is carved from the training files
  (stratified, ``config.split.val_fraction`` of them, ``split_seed``) and the
  test files ARE the test set::

      my_extract/train_0.csv  train_1.csv  test_0.csv  test_1.csv

* ``train_*``, ``val_*`` and ``test_*``: the three splits as given.
* one split only (e.g. ``train_0.csv``, ``train_1.csv``), or ``pool=True``:
  every file pooled and split by the config (``config.split``: 80/10/10
  stratified by default; or ``config.cv_folds``).

The GIL authors' septic-shock files (their ``sequential_data/``: first column
``TrainSampleIdx``, numeric headers ``0, 1, ...``, empty cell = missing; their
code scores ``df_shock_*`` as class 1) work either renamed::

    df_non_shock_train.csv -> train_0.csv    df_shock_train.csv -> train_1.csv
    df_non_shock_test.csv  -> test_0.csv     df_shock_test.csv  -> test_1.csv

or as shipped, with a ``files`` mapping (a dict, or on the command line the
string ``{split}_{label}=FILE`` pairs separated by commas)::

    --config.data.files=train_0=df_non_shock_train.csv,train_1=df_shock_train.csv,test_0=df_non_shock_test.csv,test_1=df_shock_test.csv

    load_csv_sequences("data", files={
        "train": {0: "df_non_shock_train.csv", 1: "df_shock_train.csv"},
        "test": {0: "df_non_shock_test.csv", 1: "df_shock_test.csv"}})

What comes out, per split: ``x`` float32 ``[N, T, V]`` with NaN for missing
and NaN padding after ``length`` (a patient's number of rows, so a step with
nothing observed still counts), ``y`` int32 from the file name,
``num_classes = 1 +`` the largest label of all files. Patients are ordered by
label file (ascending label), then as in the file. All splits share ``T``:
``max_steps`` if given, else the longest patient of all files. Nothing is
normalised here (:func:`gil_jax.data.prepare_sequences` does that on training
statistics).

Degenerate data are caught: a file whose observed cells (two or more) all hold
one value, or that observes nothing (e.g. an export that wrote 0.0 into every
cell), is an error; a variable that is constant (or never observed) over all
the files gets a warning naming it.

An optional time column (``time_column``) is only checked: a patient's times
must increase strictly. It is not a variable unless listed in ``variables``
(the authors' first variable column, ``"0"``, looks like such a time, and
their model sees it). Without a time column the row order is the time
order.

Unlike the authors' loader (pandas ``df.loc[id]``), a patient with a single row
is kept, and a patient whose rows are split apart in the file is an error
rather than silently merged. :func:`load_csv_pooled` concatenates the splits
for the project's own stratified splits; :func:`pool_splits` also returns
each split's row indices, to reuse the files' splits via
``prepare_sequences(raw, indices=...)``.

Every problem raises a ``ValueError`` naming it and the file: a missing file
(:class:`gil_jax.data.DataFileNotFoundError`), an empty file, unknown or
missing columns, a non-numeric cell, a patient whose rows are not contiguous
or not in time order, a patient longer than ``max_steps`` (unless
``truncate``, which keeps the first ``max_steps`` rows). Row numbers in the
messages count data rows from 1, the header excluded.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from gil_jax import data as data_lib

SPLITS: tuple[str, ...] = ("train", "val", "test")


class _Table(NamedTuple):
  """One parsed label file, before padding."""
  path: str
  label: int
  ids: np.ndarray  # object [P] patient ids as written, in file order
  starts: np.ndarray  # int64 [P] first data row of each patient
  counts: np.ndarray  # int64 [P] rows of each patient
  values: np.ndarray  # float64 [rows, V] NaN = missing, columns in output order
  feature_names: tuple[str, ...]  # the V variables, in output order


def discover_files(directory: str | os.PathLike,
                   splits: Sequence[str] = SPLITS) -> dict[str, dict[int, str]]:
  """Finds ``{split}_{label}.csv`` / ``.csv.gz`` files in ``directory``.

  Args:
    directory: folder with the files.
    splits: split names to look for.

  Returns:
    ``{split: {label: file name}}``, names relative to ``directory``, labels
    ascending (the ``files`` argument of :func:`load_csv_sequences`).

  Raises:
    DataFileNotFoundError: the directory is missing, or a split has no file.
    ValueError: a file name such as ``train_pos.csv`` has no integer label, or
      two files give the same split and label.
  """
  directory = os.fspath(directory)
  if not os.path.isdir(directory):
    raise data_lib.DataFileNotFoundError(
        f"CSV sequence directory not found: {directory!r}")
  names = sorted(os.listdir(directory))
  found: dict[str, dict[int, str]] = {}
  for split in splits:
    pattern = re.compile(rf"^{re.escape(split)}_([^_]+)\.csv(\.gz)?$")
    files: dict[int, str] = {}
    for file_name in names:
      match = pattern.match(file_name)
      if match is None:
        continue
      if not match.group(1).isdigit():
        raise ValueError(
            f"cannot read a class label from the file name {file_name!r} in "
            f"{directory!r}: expected {split}_<integer label>.csv")
      label = int(match.group(1))
      if label in files:
        raise ValueError(
            f"two files for split {split!r} and label {label} in "
            f"{directory!r}: {files[label]!r} and "
            f"{file_name!r}")
      files[label] = file_name
    if not files:
      raise data_lib.DataFileNotFoundError(
          f"no CSV file for split {split!r} in {directory!r}: expected "
          f"{split}_<label>.csv or {split}_<label>.csv.gz, e.g. "
          f"{split}_0.csv and {split}_1.csv")
    found[split] = dict(sorted(files.items()))
  return found


_FILE_KEY = re.compile(r"^\s*([A-Za-z][\w-]*?)_(\d+)\s*$")


def parse_files(files: Mapping | str) -> dict[str, dict[int, str]]:
  """A ``files`` argument as ``{split: {label: file name}}``.

  Args:
    files: a mapping ``{split: {label: file}}``, or a string of
      ``{split}_{label}=FILE`` pairs separated by commas (the command-line
      form, e.g. ``train_0=df_non_shock_train.csv,train_1=df_shock_train.csv``).

  Raises:
    ValueError: a pair without ``=``, a key that is not ``{split}_{label}``
      with an integer label, or a (split, label) given twice.
  """
  if isinstance(files, Mapping):
    return {str(split): dict(by_label) for split, by_label in files.items()}
  if not isinstance(files, str):
    raise ValueError(f"files must be a mapping or a string of "
                     f"split_label=FILE pairs, got {type(files).__name__}")
  out: dict[str, dict[int, str]] = {}
  for pair in (p for p in files.split(",") if p.strip()):
    key, eq, name = pair.partition("=")
    match = _FILE_KEY.match(key)
    if not eq or match is None or not name.strip():
      raise ValueError(
          f"files: cannot read {pair.strip()!r}; expected {{split}}_{{label}}"
          f"=FILE pairs separated by commas, e.g. "
          f"train_0=df_non_shock_train.csv,train_1=df_shock_train.csv")
    split, label = match.group(1), int(match.group(2))
    if label in out.get(split, {}):
      raise ValueError(f"files names split {split!r} label {label} twice")
    out.setdefault(split, {})[label] = name.strip()
  if not out:
    raise ValueError("files is empty: give at least one split_label=FILE pair")
  return out


def find_layout(directory: str | os.PathLike, *,
                files: Mapping | str | None = None,
                splits: Sequence[str] | str = ()) -> dict[str, dict[int, str]]:
  """Which files hold which split and label (``{split: {label: file}}``).

  Args:
    directory: the folder.
    files: an explicit mapping (see :func:`parse_files`); wins over ``splits``.
    splits: split names to look for (each must have files); a string is split
      at commas. Empty: whichever of ``train``, ``val``, ``test`` have files
      (at least one must).

  Raises:
    DataFileNotFoundError: no file of the expected names; the message lists the
      CSV files that are there and how to name or map them.
  """
  if files:
    return parse_files(files)
  if isinstance(splits, str):
    splits = [s for s in splits.split(",") if s.strip()]
  splits = [s.strip() for s in splits]
  if splits:
    return discover_files(directory, splits)
  directory = os.fspath(directory)
  if not os.path.isdir(directory):
    raise data_lib.DataFileNotFoundError(
        f"CSV sequence directory not found: {directory!r}")
  present = [s for s in SPLITS
             if any(re.match(rf"^{s}_[^_]+\.csv(\.gz)?$", n)
                    for n in os.listdir(directory))]
  if not present:
    csvs = sorted(n for n in os.listdir(directory)
                  if re.search(r"\.csv(\.gz)?$", n))
    raise data_lib.DataFileNotFoundError(
        f"no train_<label>.csv, val_<label>.csv or test_<label>.csv in "
        f"{directory!r} (CSV files there: {csvs[:12]}); rename them, e.g. "
        f"df_non_shock_train.csv -> train_0.csv, df_shock_train.csv -> "
        f"train_1.csv, or map them with files=, e.g. --config.data.files="
        f"train_0=df_non_shock_train.csv,train_1=df_shock_train.csv,"
        f"test_0=df_non_shock_test.csv,test_1=df_shock_test.csv")
  return discover_files(directory, present)


def _check_variation(table: "_Table") -> None:
  """Raises if a file observes nothing, or several cells that all hold one value
  (a single observed cell is a tiny file, not a degenerate one)."""
  observed = table.values[~np.isnan(table.values)]
  if not observed.size:
    raise ValueError(f"{table.path!r} observes nothing: every variable cell is "
                     f"empty")
  if observed.size > 1 and observed.min() == observed.max():
    raise ValueError(
        f"{table.path!r} has no variation at all: its {observed.size} observed "
        f"cells all hold {observed[0]:g} (a placeholder export? use an empty "
        f"cell for a missing value)")


def _warn_constant_columns(tables: Sequence["_Table"]) -> None:
  """Warns naming the variables constant (or never observed) over all files."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: handled
    lo = np.nanmin(np.stack([np.nanmin(t.values, 0) for t in tables]), 0)
    hi = np.nanmax(np.stack([np.nanmax(t.values, 0) for t in tables]), 0)
  names = tables[0].feature_names
  never = [n for n, a in zip(names, lo) if np.isnan(a)]
  constant = [f"{n} (= {a:g})" for n, a, b in zip(names, lo, hi) if a == b]
  if len(constant) > 20:
    constant = constant[:20] + [f"... {len(constant) - 20} more"]
  if constant or never:
    what = ([f"constant over all observed cells: {constant}"] if constant else []
            ) + ([f"never observed: {never}"] if never else [])
    warnings.warn(
        f"variable(s) carrying no information in "
        f"{[os.path.basename(t.path) for t in tables]}: {'; '.join(what)}")


def _read_header(path: str) -> list[str]:
  """The header row, stripped; raises if the file has none."""
  opener = gzip.open if path.endswith(".gz") else open
  try:
    with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
      header = next(csv.reader(f), None)
  except (OSError, EOFError, UnicodeDecodeError, csv.Error) as e:
    raise ValueError(f"cannot read the header of {path!r}: {e}") from e
  if not header or not any(h.strip() for h in header):
    raise ValueError(f"{path!r} is empty: it has no header row")
  return [h.strip() for h in header]


def _first_bad_cell(path: str, num_columns: int, column: int,
                    column_name: str) -> str:
  """Describes the first cell of ``column`` that is not a number."""
  table = pacsv.read_csv(
      path, read_options=pacsv.ReadOptions(
          column_names=[f"c{i}" for i in range(num_columns)], skip_rows=1),
      convert_options=pacsv.ConvertOptions(
          column_types={f"c{column}": pa.string()},
          include_columns=[f"c{column}"]))
  nulls = set(pacsv.ConvertOptions().null_values)
  for row, cell in enumerate(table.column(0).to_pylist(), start=1):
    if cell is None or cell.strip() in nulls:
      continue
    try:
      float(cell)
    except ValueError:
      pass
    else:
      if "_" not in cell:  # Python reads 1_000, Arrow does not
        continue
    return f"row {row}, column {column_name!r}: {cell!r}"
  return f"column {column_name!r}"


def _read_file(path: str, label: int, *, id_column: str | None,
               time_column: str | None, variables: Sequence[str] | None,
               reference: _Table | None) -> _Table:
  """Parses and checks one label file (see the module docstring)."""
  header = _read_header(path)
  duplicated = sorted({h for h in header if h and header.count(h) > 1})
  if duplicated:
    raise ValueError(f"{path!r}: duplicate column name(s) {duplicated}")
  if id_column is None:
    id_index = 0
  elif id_column in header:
    id_index = header.index(id_column)
  else:
    raise ValueError(f"{path!r} has no id column {id_column!r}; its header is "
                     f"{header}")
  unnamed = [i + 1 for i, h in enumerate(header) if not h and i != id_index]
  if unnamed:
    raise ValueError(f"{path!r}: column(s) {unnamed} (counting from 1) have an "
                     f"empty header name")
  if time_column is not None and time_column not in header:
    raise ValueError(f"{path!r} has no time column {time_column!r}; its header "
                     f"is {header}")
  time_index = None if time_column is None else header.index(time_column)
  columns = [h for i, h in enumerate(header) if i not in (id_index, time_index)]
  if variables is not None:
    feature_names = list(variables)
    allowed = set(variables)
    unknown = [c for c in columns if c not in allowed]
    if unknown:
      raise ValueError(
          f"{path!r}: unknown column(s) {unknown}, not in the variables "
          f"{feature_names}")
    present = set(header) - {header[id_index]}
    absent = [v for v in feature_names if v not in present]
    if absent:
      raise ValueError(f"{path!r} lacks the variable column(s) {absent}")
  elif reference is None:
    feature_names = columns
  else:
    feature_names = list(reference.feature_names)
    if set(columns) != set(feature_names):
      extra = [c for c in columns if c not in feature_names]
      absent = [c for c in feature_names if c not in columns]
      raise ValueError(
          f"{path!r} has different columns from {reference.path!r}: "
          f"unknown column(s) {extra}, missing column(s) {absent}")
  if not feature_names:
    raise ValueError(f"{path!r} has no variable columns, only "
                     f"{header}")

  names = [f"c{i}" for i in range(len(header))]
  types = {n: pa.float64() for n in names}
  types[names[id_index]] = pa.string()
  try:
    table = pacsv.read_csv(
        path, read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
        convert_options=pacsv.ConvertOptions(column_types=types,
                                             strings_can_be_null=False))
  except pa.ArrowInvalid as e:
    match = re.search(r"In CSV column #(\d+).*conversion error", str(e))
    if match:
      col = int(match.group(1))
      where = _first_bad_cell(path, len(header), col, header[col])
      raise ValueError(f"{path!r}: non-numeric cell at {where}; use an empty "
                       f"cell or NaN for a missing value") from e
    raise ValueError(f"cannot parse {path!r} as CSV: {e}") from e
  except OSError as e:
    raise ValueError(f"cannot read {path!r}: {e}") from e
  if table.num_rows == 0:
    raise ValueError(f"{path!r} is empty: it has a header but no data rows")

  ids = np.asarray(table.column(id_index).to_pylist(), dtype=object)
  ids = np.array([s.strip() for s in ids], dtype=object)
  if (ids == "").any():
    row = int(np.flatnonzero(ids == "")[0]) + 1
    raise ValueError(f"{path!r}: empty patient id at row {row}")
  starts = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
  counts = np.diff(np.append(starts, len(ids)))
  seen: dict[str, int] = {}
  for run, pid in enumerate(ids[starts]):
    if pid in seen:
      first = seen[pid]
      raise ValueError(
          f"{path!r}: the rows of patient {pid!r} are not contiguous (rows "
          f"{starts[first] + 1}-{starts[first] + counts[first]}, then again "
          f"from row {starts[run] + 1}); each patient's rows must be "
          f"consecutive")
    seen[pid] = run

  if time_index is not None:
    t = table.column(time_index).to_numpy(zero_copy_only=False)
    t = np.asarray(t, np.float64)
    if np.isnan(t).any():
      row = int(np.flatnonzero(np.isnan(t))[0]) + 1
      raise ValueError(f"{path!r}: empty time cell ({time_column!r}) at row "
                       f"{row}")
    same_patient = ids[1:] == ids[:-1]
    bad = np.flatnonzero(same_patient & ~(t[1:] > t[:-1]))
    if len(bad):
      row = int(bad[0]) + 1  # 0-based index of the later row
      raise ValueError(
          f"{path!r}: the rows of patient {ids[row]!r} are not in strictly "
          f"increasing {time_column!r} order (row {row + 1} has {t[row]:g} "
          f"after {t[row - 1]:g})")

  order = [header.index(v) for v in feature_names]
  values = np.stack(
      [np.asarray(table.column(i).to_numpy(zero_copy_only=False), np.float64)
       for i in order], axis=1)
  inf = np.isinf(values)
  if inf.any():
    row, col = (int(a[0]) for a in np.nonzero(inf))
    raise ValueError(f"{path!r}: infinite value at row {row + 1}, column "
                     f"{feature_names[col]!r}; mark missing values with an "
                     f"empty cell or NaN")
  # The sequences are float32 from here on: a larger magnitude would become inf.
  huge = np.abs(np.nan_to_num(values)) > np.finfo(np.float32).max
  if huge.any():
    row, col = (int(a[0]) for a in np.nonzero(huge))
    raise ValueError(f"{path!r}: value {values[row, col]:.3g} at row {row + 1}, "
                     f"column {feature_names[col]!r} exceeds float32's range "
                     f"(+/-{np.finfo(np.float32).max:.3g}); rescale that column")
  return _Table(path=path, label=label, ids=ids[starts], starts=starts,
                counts=counts, values=values,
                feature_names=tuple(feature_names))


def load_csv_sequences(
    directory: str | os.PathLike, *, splits: Sequence[str] = SPLITS,
    files: Mapping[str, Mapping[int, str | os.PathLike]] | None = None,
    id_column: str | None = None, time_column: str | None = None,
    variables: Sequence[str] | None = None, max_steps: int | None = None,
    truncate: bool = False, name: str = "csv"
) -> dict[str, data_lib.RawSequences]:
  """Loads one :class:`RawSequences` per split from per-label CSV files.

  Args:
    directory: folder with the CSV files.
    splits: splits to load, found as ``{split}_{label}.csv[.gz]`` (see
      :func:`discover_files`); ignored when ``files`` is given.
    files: explicit ``{split: {label: file}}``, file names relative to
      ``directory`` (e.g. the authors' ``df_shock_train.csv``), or its string
      form (:func:`parse_files`).
    id_column: name of the patient id column; default the first column.
    time_column: name of a time column, checked for strictly increasing
      times per patient; not a variable unless listed in ``variables``.
      Default: none, the row order is the time order.
    variables: the variable columns, in output order; every file must have
      exactly these (plus the id and time columns). Default: the columns of
      the first file but the id and time, in its order; every other file
      must have the same set.
    max_steps: the padded length ``T``; a longer patient is an error unless
      ``truncate``. Default: the longest patient of all files.
    truncate: keep the first ``max_steps`` rows of longer patients.
    name: dataset name of the results.

  Returns:
    ``{split: RawSequences}`` in the order of ``splits`` (or ``files``).

  Raises:
    DataFileNotFoundError: a directory or file is missing.
    ValueError: malformed input (see the module docstring).
  """
  if files is None:
    files = discover_files(directory, splits)
  elif not files:
    raise ValueError("files is empty: give at least one split")
  else:
    files = parse_files(files)
  if max_steps is not None and (not isinstance(max_steps, (int, np.integer))
                                or max_steps < 1):
    raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
  if variables is not None:
    variables = list(variables)
    if not variables:
      raise ValueError("variables is empty")
    repeated = sorted({v for v in variables if variables.count(v) > 1})
    if repeated:
      raise ValueError(f"variables lists {repeated} more than once")
    if id_column is not None and id_column in variables:
      raise ValueError(f"the id column {id_column!r} cannot be a variable")

  tables: dict[str, list[_Table]] = {}
  reference = None
  for split, by_label in files.items():
    if not by_label:
      raise ValueError(f"no files given for split {split!r}")
    tables[split] = []
    for label, file_name in by_label.items():
      if not isinstance(label, (int, np.integer)) or label < 0:
        raise ValueError(f"class labels must be integers >= 0, got {label!r} "
                         f"for {file_name!r}")
    for label, file_name in sorted(by_label.items()):
      path = data_lib.require_file(
          os.path.join(os.fspath(directory), os.fspath(file_name)),
          f"CSV sequences for split {split!r}, label {label}")
      table = _read_file(path, int(label), id_column=id_column,
                         time_column=time_column, variables=variables,
                         reference=reference)
      _check_variation(table)
      if reference is None:
        reference = table
      tables[split].append(table)
  feature_names = reference.feature_names

  all_tables = [t for ts in tables.values() for t in ts]
  _warn_shared_ids(all_tables)
  _warn_constant_columns(all_tables)
  longest = max(int(t.counts.max()) for t in all_tables)
  if max_steps is None:
    steps = longest
  else:
    steps = int(max_steps)
    if longest > steps and not truncate:
      table = next(t for t in all_tables if t.counts.max() == longest)
      pid = table.ids[int(np.argmax(table.counts))]
      raise ValueError(
          f"{table.path!r}: patient {pid!r} has {longest} rows, more than "
          f"max_steps={steps}; raise max_steps or set truncate=True to keep "
          f"the first {steps} rows")
  num_classes = 1 + max(t.label for t in all_tables)
  if num_classes < 2:
    paths = [t.path for t in all_tables]
    raise ValueError(f"every file carries label 0 ({paths}); a classifier "
                     f"needs at least two classes")

  out = {}
  for split, split_tables in tables.items():
    xs, ys, lengths = [], [], []
    for t in split_tables:
      xs.append(_pad(t, steps))
      ys.append(np.full(len(t.ids), t.label, np.int32))
      lengths.append(np.minimum(t.counts, steps).astype(np.int32))
    raw = data_lib.RawSequences(
        x=np.concatenate(xs), y=np.concatenate(ys),
        length=np.concatenate(lengths), num_classes=num_classes,
        feature_names=tuple(feature_names), name=name)
    data_lib.validate_sequences(raw)
    out[split] = raw
  return out


def _pad(table: _Table, steps: int) -> np.ndarray:
  """A file's rows as ``[P, steps, V]`` float32, NaN-padded (and truncated)."""
  patient = np.repeat(np.arange(len(table.ids)), table.counts)
  step = np.arange(len(patient)) - np.repeat(table.starts, table.counts)
  keep = step < steps
  x = np.full((len(table.ids), steps, table.values.shape[1]), np.nan,
              np.float32)
  x[patient[keep], step[keep]] = table.values[keep]
  return x


def _warn_shared_ids(tables: Sequence[_Table]) -> None:
  """Warns when a patient id occurs in several files (possible leakage)."""
  owner: dict[str, str] = {}
  shared = []
  for t in tables:
    for pid in t.ids:
      if pid in owner and owner[pid] != t.path:
        shared.append((pid, owner[pid], t.path))
      owner.setdefault(pid, t.path)
  if shared:
    pid, first, second = shared[0]
    warnings.warn(
        f"{len(shared)} patient id(s) occur in more than one file, e.g. "
        f"{pid!r} in {first!r} and {second!r}; they are loaded as different "
        f"patients (fine if each file numbers its own patients)")


def pool_splits(
    parts: Mapping[str, data_lib.RawSequences]
) -> tuple[data_lib.RawSequences, dict[str, np.ndarray]]:
  """Concatenates splits into one :class:`RawSequences`.

  Args:
    parts: ``{split: RawSequences}`` sharing ``T``, variables and classes,
      as from :func:`load_csv_sequences`.

  Returns:
    ``(pooled, indices)``: the rows of the splits in order, and each split's
    int64 row indices in ``pooled``. With splits train/val/test,
    ``prepare_sequences(pooled, indices=(indices["train"], indices["val"],
    indices["test"]))`` keeps the files' own splits.
  """
  if not parts:
    raise ValueError("no splits to pool")
  first = next(iter(parts.values()))
  for split, raw in parts.items():
    if (raw.x.shape[1:] != first.x.shape[1:]
        or raw.feature_names != first.feature_names
        or raw.num_classes != first.num_classes):
      raise ValueError(f"split {split!r} differs from the first split in T, "
                       "variables or num_classes; cannot pool them")
  indices, offset = {}, 0
  for split, raw in parts.items():
    indices[split] = np.arange(offset, offset + len(raw.y), dtype=np.int64)
    offset += len(raw.y)
  parts_list = list(parts.values())
  pooled = data_lib.RawSequences(
      x=np.concatenate([p.x for p in parts_list]),
      y=np.concatenate([p.y for p in parts_list]),
      length=np.concatenate([p.length for p in parts_list]),
      num_classes=first.num_classes, feature_names=first.feature_names,
      name=first.name)
  data_lib.validate_sequences(pooled)
  return pooled, indices


def load_csv_pooled(directory: str | os.PathLike,
                    **kwargs) -> data_lib.RawSequences:
  """All splits of :func:`load_csv_sequences` in one :class:`RawSequences`.

  For the project's own stratified splits
  (:func:`gil_jax.data.prepare_sequences`). Rows follow the split order, then
  the label files, then the file order. Keyword arguments are those of
  :func:`load_csv_sequences`.
  """
  pooled, _ = pool_splits(load_csv_sequences(directory, **kwargs))
  return pooled


def given_splits(parts: Mapping[str, data_lib.RawSequences], *,
                 val_fraction: float = 0.1, split_seed: int = 0
                 ) -> tuple[data_lib.RawSequences,
                            tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """The files' own splits as ``(pooled, (train, val, test) row indices)``.

  ``parts`` holds ``train`` and ``test`` (and optionally ``val``); without
  ``val``, validation is a stratified ``val_fraction`` of the training rows
  (seed ``split_seed``). For ``prepare_sequences(pooled, indices=...)``.
  """
  pooled, idx = pool_splits(parts)
  if "val" in idx:
    return pooled, (idx["train"], idx["val"], idx["test"])
  train, val, _ = data_lib.stratified_split(pooled.y[idx["train"]],
                                            val_fraction, 0.0, split_seed)
  return pooled, (idx["train"][train], idx["train"][val], idx["test"])


def load_csv_dataset(
    directory: str | os.PathLike, *, files: Mapping | str | None = None,
    splits: Sequence[str] | str = (), pool: bool = False,
    id_column: str | None = None, time_column: str | None = None,
    variables: Sequence[str] | None = None, max_steps: int | None = None,
    truncate: bool = False, name: str = "csv"
) -> data_lib.RawSequences | dict[str, data_lib.RawSequences]:
  """The launcher's loader: the files' splits kept, or everything pooled.

  Args:
    directory: folder with the CSV files.
    files: explicit mapping or its string form (:func:`parse_files`).
    splits: split names to read (default: whichever of train/val/test exist;
      see :func:`find_layout`).
    pool: pool every file into one set, split later by the config.
    id_column, time_column, variables, max_steps, truncate, name: as
      :func:`load_csv_sequences`; empty values (``""``, ``()``, as config
      defaults) mean "not given".

  Returns:
    With one split, or ``pool``: one pooled :class:`RawSequences` (the config
    splits it). Otherwise ``{"train", ["val"], "test"}`` -> RawSequences: the
    given test files are the test set (:func:`given_splits`).

  Raises:
    ValueError: several splits that are not train + test (+ val).
  """
  layout = find_layout(directory, files=files, splits=splits)
  parts = load_csv_sequences(
      directory, files=layout, id_column=id_column or None,
      time_column=time_column or None,
      variables=list(variables) if variables else None, max_steps=max_steps,
      truncate=truncate, name=name)
  if pool or len(parts) == 1:
    return pool_splits(parts)[0]
  names = set(parts)
  if not {"train", "test"} <= names or not names <= set(SPLITS):
    raise ValueError(
        f"CSV splits {sorted(names)} in {os.fspath(directory)!r}: expected "
        f"train and test (validation carved from train), train, val and test, "
        f"or a single split; set pool=True (--config.data.pool=True) to pool "
        f"them all and split by the config")
  return {s: parts[s] for s in SPLITS if s in parts}
