"""Every number of the results tables and of the README's results comes from the
committed JSON it cites, recomputed here with the reports' own functions.

A results table declares its sources in an HTML comment above it (invisible on the
rendered page), one entry per column after the row label::

  <!-- numbers: tables_thyroid0387.json auroc | tables_thyroid0387.json auprc | - -->

An entry is ``SOURCE METRIC`` or ``-`` (a column not checked: paper values, runs).
``SOURCE`` is a file under docs/results/ in ``launch.paired_report``'s syntax (``A+B``
joins, ``X|Y`` concatenates, ``FILE@SUFFIX:METHOD``), optionally ``FILE#a/b`` for a
results dict nested inside a JSON; ``METRIC`` is a test metric or ``seconds`` (wall
seconds of all runs).  A row names a method (``gil``, ``GIL-H (= mean)``: the first
name the source ran) or a paired difference ``A − B`` (``best network (X, by
validation)`` for the network best on validation; a bold cell must be that
network's).  A cell ``m ± s`` is the mean ± std
over runs of a method, or the mean ± standard error of the paired differences, rounded
as the page rounds it; ``k/n`` is the number of runs where ``A`` is higher.

Numbers in prose (the README's verdict, the results index's headlines) are listed in
``CLAIMS`` with what they are computed from; the README's verdict section must hold no
other result number.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import pathlib
import re

import pytest

from launch import paired_report, paper_numbers
from launch import report as report_lib

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
PAGES = ("mnist.md", "physionet2012.md", "sepsis2019.md", "tables.md", "importance.md",
         "policy.md")
# Methods that are not networks (for "best network").
NOT_NETWORKS = ("hgb", "logreg")

SPEC = re.compile(r"<!-- numbers: (.*?) -->")
PM = re.compile(r"([+\-]?\d+(?:\.\d+)?) ± (\d+(?:\.\d+)?)")
WINS = re.compile(r"(?<![\d.])(\d+)/(\d+)(?![\d.])")
PAIR = re.compile(r"^(.+?) [−-] (.+)$")


def _plain(text: str) -> str:
  """Unicode minus and ``+/-`` as ASCII; emphasis and code marks dropped."""
  return (text.replace("−", "-").replace("+/-", "±").replace("**", "")
          .replace("`", "").strip())


def _fmt(value: float, like: str, signed: bool) -> str:
  """``value`` with as many decimals as ``like`` shows (and a sign if ``signed``)."""
  decimals = len(like.split(".")[1]) if "." in like else 0
  return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def _same(page: str, value: float, signed: bool) -> bool:
  """Whether ``page`` is ``value`` rounded as the page rounds it (``-0.00`` and
  ``+0.00`` both say zero)."""
  return float(page) == float(_fmt(value, page, signed))


# ---------------------------------------------------------------------------- sources

_CACHE: dict[str, dict] = {}


def load_source(spec: str) -> dict:
  """A results dict from ``SOURCE`` (see the module docstring)."""
  if spec not in _CACHE:
    spec_files, _, inner = spec.partition("#")
    if inner:
      with open(RESULTS / spec_files) as f:
        res = json.load(f)
      for key in inner.split("/"):
        res = res[key]
    else:
      prefixed = "|".join("+".join(str(RESULTS / p) for p in part.split("+"))
                          for part in spec_files.split("|"))
      res = paired_report.load(prefixed)
    _CACHE[spec] = res
  return _CACHE[spec]


def method_of(label: str, results: dict) -> str | None:
  """The method a row label names: its first word, else a name after ``=``."""
  words = [label.split()[0].split("(")[0]] + re.findall(r"= ?([\w\-]+)", label)
  for word in words:
    name = word.lower().replace("-", "_")
    if name in results["methods"]:
      return name
  return None


def best_network(results: dict) -> str:
  """The network of ``results`` best on validation (``launch.paired_report``)."""
  results = dict(results)
  results.setdefault("config", {"train": {"selection_metric": "auroc"}})
  networks = [m for m in results["methods"] if m not in NOT_NETWORKS]
  return paired_report.best_network(results, networks)


def side_of(text: str, results: dict, named: str | None) -> str:
  """One side of a paired row; ``best network`` is checked to be the network best
  on validation (and the one the page names, if it names one)."""
  if text.startswith("best network"):
    best = best_network(results)
    inside = re.search(r"\((\w+)", text)
    for name in filter(None, (inside and inside.group(1), named)):
      if name != "by":
        assert name == best, (f"the page names {name} the best network; by "
                              f"validation it is {best}")
    return best
  method = method_of(text, results)
  assert method is not None, f"no method {text!r} in this source"
  return method


@dataclasses.dataclass
class Row:
  label: str
  cells: list[str]
  line: int
  bold: list[bool]


def tables(path: pathlib.Path) -> list[tuple[list[str], list[Row], int]]:
  """``(column specs, rows, line)`` of every table below a ``numbers`` comment."""
  lines = path.read_text().splitlines()
  out = []
  for i, line in enumerate(lines):
    m = SPEC.search(line)
    if not m:
      continue
    specs = [s.strip() for s in m.group(1).split("|")]
    j = i + 1
    while not lines[j].startswith("|"):
      j += 1
    rows = []
    j += 2                                    # header and separator
    while j < len(lines) and lines[j].startswith("|"):
      cells = [c.strip() for c in lines[j].strip().strip("|").split("|")]
      rows.append(Row(_plain(cells[0]), [_plain(c) for c in cells[1:]], j + 1,
                      ["**" in c for c in cells[1:]]))
      j += 1
    assert all(len(r.cells) == len(specs) for r in rows), (
        f"{path.name}:{i + 1}: {len(specs)} column sources for a table of "
        f"{len(rows[0].cells)} data columns")
    out.append((specs, rows, i + 1))
  return out


def check_cell(cell: str, row: Row, spec: str, where: str) -> None:
  """One cell against its source; raises AssertionError naming it."""
  source, metric = spec.rsplit(" ", 1)
  results = load_source(source)
  pair = PAIR.match(row.label)
  named = re.search(r"\((\w+)\)$", cell)
  if pair:
    a = side_of(pair.group(1), results, named and named.group(1))
    b = side_of(pair.group(2), results, named and named.group(1))
    p = paired_report.paired(results, a, b, metric)
    expect, signed = (100 * p["mean"], 100 * p["se"]), True
  else:
    method = method_of(row.label, results)
    assert method is not None, f"{where}: no method {row.label!r} in {source}"
    res = results["methods"][method]
    if metric == "seconds":
      assert cell == f"{res['wall_seconds']:.0f}", (
          f"{where}: {cell} s, {source} says {res['wall_seconds']:.0f}")
      return
    summary = res["test"][metric]
    expect, signed = (100 * summary["mean"], 100 * summary["std"]), False
    paper_in_cell = PM.findall(cell)[1:]
    if paper_in_cell and results["dataset"] == "mnist":
      _, mechanism, rate = report_lib.setting_of(results)
      word = row.label.split()[0].lower().replace("-", "_")
      paper = paper_numbers.mnist_accuracy(word, mechanism, rate)
      assert paper is not None and paper_in_cell[0] == tuple(
          f"{v:.2f}" for v in paper), f"{where}: paper value {paper_in_cell[0]}"
  found = PM.search(cell)
  assert found, f"{where}: no 'mean ± spread' in {cell!r}"
  mean, spread = found.groups()
  assert _same(mean, expect[0], signed) and _same(spread, expect[1], False), (
      f"{where}: {mean} ± {spread}, {source} gives "
      f"{_fmt(expect[0], mean, signed)} ± {_fmt(expect[1], spread, False)}")
  wins = WINS.search(cell[found.end():])
  if wins:
    assert pair, f"{where}: a win count in a method row"
    assert (int(wins.group(1)), int(wins.group(2))) == (p["wins"], p["n"]), (
        f"{where}: {wins.group(0)} wins, {source} gives {p['wins']}/{p['n']}")


def check_wins_cell(cell: str, row: Row, spec: str, where: str) -> None:
  source, metric = spec.rsplit(" ", 1)
  results = load_source(source)
  pair = PAIR.match(row.label)
  assert pair, f"{where}: a win count in a method row"
  p = paired_report.paired(results, side_of(pair.group(1), results, None),
                           side_of(pair.group(2), results, None), metric)
  assert cell == f"{p['wins']}/{p['n']}", (
      f"{where}: {cell} wins, {source} gives {p['wins']}/{p['n']}")


def check_table(path: pathlib.Path) -> int:
  """Checks every annotated table of ``path``; returns the number of cells read."""
  checked = 0
  for specs, rows, _ in tables(path):
    for row in rows:
      for spec, cell, bold in zip(specs, row.cells, row.bold):
        where = f"{path.name}:{row.line} ({row.label!r})"
        if spec == "-" or cell in ("", "—"):
          continue
        if bold:                              # bold marks the best network
          results = load_source(spec.rsplit(" ", 1)[0])
          assert method_of(row.label, results) == best_network(results), (
              f"{where}: bold, but the best network by validation is "
              f"{best_network(results)}")
        if WINS.fullmatch(cell):
          check_wins_cell(cell, row, spec, where)
        else:
          check_cell(cell, row, spec, where)
        checked += 1
  return checked


# ---------------------------------------------------------------------------- tests


@pytest.mark.parametrize("page", ("README.md",) + tuple(
    f"docs/results/{p}" for p in PAGES))
def test_tables_match_their_json(page):
  assert check_table(ROOT / page) > 0, f"{page} declares no table's sources"


def _policy_authors_script():
  """``docs/results/policy_authors_table.py``, imported from its file."""
  spec = importlib.util.spec_from_file_location(
      "policy_authors_table", RESULTS / "policy_authors_table.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_policy_authors_tables_are_the_scripts():
  """Every switch row on policy_authors.md is a row the page's script prints from
  the committed ``policy_authors_*.json``; the summary table's rows are its
  'none' rows under both selections."""
  script = _policy_authors_script()
  printed = script.table(str(RESULTS))
  sections = printed.split("### ")[1:]
  rows = {line for line in printed.splitlines() if line.startswith("| ")}
  page = (RESULTS / "policy_authors.md").read_text().splitlines()
  labels = tuple(f"| {label} |" for label in script.LABELS.values()) + (
      "| paper (test selection",)
  switch_rows = [line for line in page if line.startswith(labels)]
  assert len(switch_rows) >= 18
  for line in switch_rows:
    assert line in rows, f"policy_authors.md row not printed by the script: {line}"
  none = {title.split("\n")[0]: next(
      line for line in title.splitlines() if line.startswith("| none"))
      for title in sections}
  for label, title in (("| validation (ours)", "MCAR 90 %, selection on validation"),
                       ("| best test score", "MCAR 90 %, authors' protocol")):
    (line,) = [x for x in page if x.startswith(label)]
    (want,) = [v for k, v in none.items() if k.startswith(title)]
    cells = [_plain(c) for c in line.strip("|").split("|")[1:6]]
    assert cells == [_plain(c) for c in want.strip("|").split("|")[1:6]], line


# ---------------------------------------------------------------------------- prose

# What a number in prose is, by its code: m / s the test mean / std of METHOD, d / e
# the mean / standard error of the paired differences A - B, w their win count, in
# percentage points; g a policy diagnostic's mean over training in %, G the same as
# a fraction; b a bench file's field; p the paper's PhysioNet 2012 Table 6.
def _value(code: str) -> float | str:
  kind, source, *args = code.split()
  if kind in ("m", "s"):
    method, metric = args
    res = load_source(source)
    summary = res["methods"][method]["test"][metric]
    return 100 * summary["mean" if kind == "m" else "std"]
  if kind in ("d", "e", "w"):
    a, b, metric = args
    p = paired_report.paired(load_source(source), a, b, metric)
    return (100 * p["mean"] if kind == "d" else 100 * p["se"] if kind == "e"
            else f"{p['wins']}/{p['n']}")
  if kind in ("g", "G"):
    method, key = args
    with open(RESULTS / source) as f:
      v = json.load(f)[method][key]["mean_over_training"]
    return 100 * v if kind == "g" else v
  if kind == "b":
    with open(RESULTS / source) as f:
      return json.load(f)[args[0]]
  if kind == "p":
    return paper_numbers.physionet2012_metric(*args)
  raise ValueError(f"unknown claim code {code!r}")


@dataclasses.dataclass(frozen=True)
class Claim:
  """Words of ``doc`` whose ``{numbers}`` are, in order, the ``codes``' values
  rounded as written."""
  doc: str
  text: str
  codes: tuple[str, ...]


def _c(doc, text, *codes):
  return Claim(doc, text, codes)


R, H = "README.md", "docs/results/README.md"
DM20 = "policy_digits_mean_seeds20.json"
M90F = "importance_mnist_mcar90_full.json"
SEP = "sepsis2019.json#{}/results/{}"
CLAIMS = (
    # The README's verdict.
    _c(R, "positive for {100} % of observed entries on digits and on full-scale "
       "MNIST 90 %, {83} % on PhysioNet 2012",
       "g policy_diagnostics_digits_zero.json gil diag_own_effect_positive",
       "g policy_diagnostics_physionet2012.json gil diag_own_effect_positive"),
    _c(R, "({46} % digits, {21} % PhysioNet, {45} % MNIST 90 %)",
       "g policy_diagnostics_digits_zero.json gil diag_critic_sign_agreement",
       "g policy_diagnostics_physionet2012.json gil diag_critic_sign_agreement",
       "g policy_diagnostics_mnist90.json gil diag_critic_sign_agreement"),
    _c(R, "(`corr(a, m)` about {0} on digits and MNIST, {-0.06} on PhysioNet)",
       "G policy_diagnostics_mnist90.json gil diag_action_corr_with_mask",
       "G policy_diagnostics_physionet2012.json gil diag_action_corr_with_mask"),
    _c(R, "at 90 %: GIL − `gil_random` {-0.08} ± {0.18} accuracy points",
       f"d {M90F} gil gil_random accuracy", f"e {M90F} gil gil_random accuracy"),
    _c(R, "{+0.5} ± {0.4} points over mean imputation with 20 seeds",
       f"d {DM20} gil mean accuracy", f"e {DM20} gil mean accuracy"),
    _c(R, "matches the paper on its single split ({82.15} vs {82.20} AUROC)",
       "m physionet2012_single_split.json gil auroc", "p _ gil auroc"),
    _c(R, "gated by the importance ({+1.8} points)",
       "d policy_authors_bn_mcar90.json gil_h zero accuracy"),
    # The results index's headlines.
    _c(H, "protocol (a): GIL {82.15} AUROC (paper {82.20}); protocol (b): GIL "
       "{78.8} ± {3.2}, best LSTM baseline {80.7}, gradient boosting {84.1}",
       "m physionet2012_single_split.json gil auroc", "p _ gil auroc",
       "m physionet2012_five_splits.json gil auroc",
       "s physionet2012_five_splits.json gil auroc",
       "m physionet2012_five_splits.json mean_mask auroc",
       "m physionet2012_five_splits.json hgb auroc"),
    _c(H, "GIL at the placeholder validation prefers (0, in both protocols) {75.5} ± "
       "{2.6} / {67.3} ± {2.6} AUROC (varied / fixed) ties mean imputation ({75.8} / "
       "{67.8}; paired {-0.3} ± {0.3} / {-0.5} ± {0.4}) and drops from varied to "
       "fixed as much as it",
       "m " + SEP.format("varied", "0.0") + " gil auroc",
       "s " + SEP.format("varied", "0.0") + " gil auroc",
       "m " + SEP.format("fixed", "0.0") + " gil auroc",
       "s " + SEP.format("fixed", "0.0") + " gil auroc",
       "m " + SEP.format("varied", "0.0") + " mean auroc",
       "m " + SEP.format("fixed", "0.0") + " mean auroc",
       "d " + SEP.format("varied", "0.0") + " gil mean auroc",
       "e " + SEP.format("varied", "0.0") + " gil mean auroc",
       "d " + SEP.format("fixed", "0.0") + " gil mean auroc",
       "e " + SEP.format("fixed", "0.0") + " gil mean auroc"),
    _c(H, "at the 3max placeholder {71.3} / {68.2} (fixed: the better on test, not "
       "chosen)", "m " + SEP.format("varied", "3max") + " gil auroc",
       "m " + SEP.format("fixed", "3max") + " gil auroc"),
    _c(H, "mean + mask ({80.6} / {74.3}) and gradient boosting ({85.7} / {76.4}) lead",
       "m " + SEP.format("varied", "0.0") + " mean_mask auroc",
       "m " + SEP.format("fixed", "0.0") + " mean_mask auroc",
       "m " + SEP.format("varied", "0.0") + " hgb auroc",
       "m " + SEP.format("fixed", "0.0") + " hgb auroc"),
    _c(H, "GIL − gil_random {-0.37} ± {0.59} (placeholder 0) and {-0.15} ± {0.30} (mean "
       "placeholder) accuracy points on digits; GIL − mean imputation (mean "
       "placeholder, 20 seeds) {+0.50} ± {0.40}, fixed-weight control `gil_const` − "
       "mean {+0.19} ± {0.36}; critic sign agreement with the exact effect {0.46} "
       "(digits) / {0.21} (PhysioNet) / {0.45} (MNIST 90 %, full scale); MNIST 90 % at "
       "full scale (784-500-500, 54k images): GIL − gil_random {-0.08} ± {0.18}, − "
       "gil_frozen {-0.29} ± {0.13}, − GIL-H (= zero = mean) {-0.12} ± {0.09}",
       "d policy_digits_zero.json gil gil_random accuracy",
       "e policy_digits_zero.json gil gil_random accuracy",
       "d policy_digits_mean.json gil gil_random accuracy",
       "e policy_digits_mean.json gil gil_random accuracy",
       f"d {DM20} gil mean accuracy", f"e {DM20} gil mean accuracy",
       f"d {DM20} gil_const mean accuracy", f"e {DM20} gil_const mean accuracy",
       "G policy_diagnostics_digits_zero.json gil diag_critic_sign_agreement",
       "G policy_diagnostics_physionet2012.json gil diag_critic_sign_agreement",
       "G policy_diagnostics_mnist90.json gil diag_critic_sign_agreement",
       f"d {M90F} gil gil_random accuracy", f"e {M90F} gil gil_random accuracy",
       f"d {M90F} gil gil_frozen accuracy", f"e {M90F} gil gil_frozen accuracy",
       f"d {M90F} gil mean accuracy", f"e {M90F} gil mean accuracy"),
    _c(H, "`gil_l2rw` {2.1}x and `gil_meta` {2.9}-{3.2}x a plain step",
       "b bench_credit_cpu.json l2rw_over_plain",
       "b bench_credit_cpu.json meta_over_plain",
       "b bench_credit_cpu_first.json meta_over_plain"),
    _c(H, "{4.3}-{4.7}x at the earlier 400-300",
       "b bench_credit_cpu.json meta_wide_over_plain",
       "b bench_credit_cpu_first.json meta_wide_over_plain"),
    _c(H, "GIL {70.37} ± {0.00}, zero = GIL-H {71.11} ± {1.70}, mean {81.60} ± {1.75}",
       "m quickstart_digits.json gil accuracy", "s quickstart_digits.json gil accuracy",
       "m quickstart_digits.json zero accuracy", "s quickstart_digits.json zero accuracy",
       "m quickstart_digits.json mean accuracy",
       "s quickstart_digits.json mean accuracy"),
)

# Numbers in the README's verdict that describe a setting, not a result (missing
# rates, sizes, seeds, data set years, the reward's optimum `a = 1`, "~0").
SETTINGS = {"90", "784-500-500", "54,000", "5", "2012", "2019", "20", "50-70", "0",
            "1"}
_NUMBER = re.compile(r"[+\-]?\d[\d,.\-]*\d|[+\-]?\d")


def _normal(text: str) -> str:
  return " ".join(_plain(text).split())


def check_claim(claim: Claim) -> None:
  page = _normal((ROOT / claim.doc).read_text())
  text = _normal(claim.text)
  literal = re.sub(r"\{([^}]*)\}", r"\1", text)
  assert literal in page, f"{claim.doc} no longer says: {literal}"
  written = re.findall(r"\{([^}]*)\}", text)
  assert len(written) == len(claim.codes), claim
  for number, code in zip(written, claim.codes):
    value = _value(code)
    if isinstance(value, str):
      assert number == value, f"{claim.doc}: {number} ({literal}); {code} gives {value}"
    else:
      assert _same(number, value, number[0] in "+-"), (
          f"{claim.doc}: {number} ({literal}); {code} gives {value:.4f}")


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.doc}:{c.text[:30]}")
def test_prose_numbers_match_their_json(claim):
  check_claim(claim)


def test_readme_verdict_has_no_unchecked_number():
  text = (ROOT / "README.md").read_text()
  verdict = text[text.index("## Verdict"):text.index("## Use it in your code")]
  verdict = "\n".join(line for line in verdict.splitlines()
                      if not line.startswith("!["))
  verdict = _normal(re.sub(r"\]\([^)]*\)", "]", verdict))
  for claim in CLAIMS:
    if claim.doc == "README.md":
      verdict = verdict.replace(_normal(re.sub(r"\{([^}]*)\}", r"\1", claim.text)), " ")
  left = set(_NUMBER.findall(verdict)) - SETTINGS
  assert not left, f"README verdict numbers with no JSON source: {sorted(left)}"
