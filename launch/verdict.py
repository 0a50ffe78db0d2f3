"""Decides the manifest's claims from results: the numbers and the rule, per claim.

A claim's comparison (:class:`launch.manifest.Claim`) is a paired difference of a
test metric (percentage points, runs matched by their seeds, as
``launch.paired_report`` does) or a training diagnostic averaged over training;
:func:`decide` applies the claim's rule.  The same code judges the committed JSON
(``docs/results``) and the runs ``launch.reproduce`` makes.
"""

from __future__ import annotations

import json
import math
import os

from launch import paired_report
from launch.manifest import Claim

RULES = {
    "greater": "A - B > 2 se",
    "not_greater": "A - B <= max(2 se, margin)",
    "tie": "|A - B| <= max(2 se, margin)",
    "within": "mean in bounds",
}


def _cross_table(results: dict[str, dict], claim: Claim) -> dict:
  """One results dict holding ``a`` and ``b`` (each possibly ``TABLE/METHOD``)."""
  methods = {}
  for name in (claim.a, claim.b):
    table, _, method = name.rpartition("/")
    res = results.get(table or claim.table)
    if res is None:
      raise KeyError(table or claim.table)
    if method not in res["methods"]:
      raise ValueError(f"{table or claim.table} has no method {method!r} (it has "
                       f"{sorted(res['methods'])})")
    entry = dict(res["methods"][method])
    entry.setdefault("runs", res["runs"])
    methods[name] = entry
  return {"methods": methods, "runs": []}


def difference(results: dict[str, dict], claim: Claim) -> dict:
  """``{"difference", "se", "runs", "wins"}`` of ``a - b`` in percentage points."""
  p = paired_report.paired(_cross_table(results, claim), claim.a, claim.b,
                           claim.metric)
  return {"difference": 100 * p["mean"], "se": 100 * p["se"], "runs": p["n"],
          "wins": p["wins"]}


def diagnostic(histories: dict[str, dict], summaries: dict[str, dict],
               claim: Claim) -> dict:
  """Diagnostic ``a`` of method ``b``: per run, its mean over training.

  From a history (``{method: {column: [runs, evals]}}``, runs known) or, for the
  committed summaries, the mean over runs and evaluations (no per-run values).
  """
  if claim.table in histories:
    h = histories[claim.table][claim.b]
    if claim.a not in h:
      raise ValueError(f"{claim.table}: {claim.b}'s history has no column "
                       f"{claim.a!r} (train with --config.train.diagnostics=True)")
    per_run = h[claim.a].mean(axis=1)
    se = (float(per_run.std(ddof=1) / math.sqrt(len(per_run)))
          if len(per_run) > 1 else float("nan"))
    return {"difference": float(per_run.mean()), "se": se, "runs": len(per_run)}
  value = summaries[claim.table][claim.b][claim.a]["mean_over_training"]
  return {"difference": float(value), "se": None, "runs": None}


def decide(claim: Claim, stats: dict) -> bool:
  """Whether the numbers support the claim, by its rule (:data:`RULES`)."""
  d, se = stats["difference"], stats["se"]
  noise = 2 * se if se is not None and not math.isnan(se) else 0.0
  if claim.kind == "greater":
    return d > noise
  if claim.kind == "not_greater":
    return d <= max(noise, claim.margin)
  if claim.kind == "tie":
    return abs(d) <= max(noise, claim.margin)
  lo, hi = claim.bounds
  return lo <= d <= hi


def comparison(claim: Claim) -> str:
  """The comparison in words, e.g. ``gil - gil_random (accuracy, points)``."""
  if claim.kind == "within":
    return f"{claim.a} of {claim.b}, mean over training"
  return f"{claim.a} - {claim.b} ({claim.metric}, points)"


def rule(claim: Claim) -> str:
  text = RULES[claim.kind]
  if claim.kind in ("not_greater", "tie"):
    text = text.replace("margin", f"{claim.margin:g}")
  if claim.kind == "within":
    text = f"{claim.bounds[0]:g} <= mean <= {claim.bounds[1]:g}"
  return text


def evaluate(claims, results: dict[str, dict], histories: dict[str, dict],
             summaries: dict[str, dict], notes: dict[str, str]) -> list[dict]:
  """One verdict entry per claim.

  ``results``: ``{table: results dict}``; ``histories``: ``{table: {method:
  history}}`` (diagnostic claims of re-runs); ``summaries``: ``{table: committed
  diagnostics summary}``; ``notes``: ``{table: why it was not run}``.  A claim whose
  table is absent gets ``holds: None`` and that note.
  """
  entries = []
  for claim in claims:
    entry = {"claim": claim.claim, "table": claim.table,
             "comparison": comparison(claim), "rule": rule(claim),
             "difference": None, "se": None, "runs": None, "holds": None}
    try:
      stats = (diagnostic(histories, summaries, claim) if claim.kind == "within"
               else difference(results, claim))
    except KeyError:
      entry["note"] = notes.get(claim.table, "no results for this table")
    else:
      entry.update(stats, holds=bool(decide(claim, stats)))
    entries.append(entry)
  return entries


def _number(entry: dict) -> str:
  d, se, n = entry["difference"], entry["se"], entry["runs"]
  if d is None:
    return "not checked"
  scale = 3 if entry["rule"].endswith("bounds") or "<= mean" in entry["rule"] else 2
  text = f"{d:+.{scale}f}"
  if se is not None and not math.isnan(se):
    text += f" +/- {se:.{scale}f}"
  if n is not None:
    text += f" ({n} runs)"
  return text


def markdown(entries: list[dict], title: str) -> str:
  """The verdict as a markdown table."""
  holds = {True: "holds", False: "**does not hold**", None: "not checked"}
  lines = [f"# {title}", "",
           "| claim | comparison | difference +/- se (runs) | rule | verdict |",
           "| --- | --- | --- | --- | --- |"]
  for e in entries:
    verdict = holds[e["holds"]]
    if e["holds"] is None and e.get("note"):
      verdict += f": {e['note']}"
    elif e.get("source") == "committed runs":  # a table this scale did not re-run
      verdict += " (committed runs)"
    lines.append(f"| {e['claim']} | {e['comparison']} | {_number(e)} | {e['rule']} "
                 f"| {verdict} |")
  return "\n".join(lines) + "\n"


def write(entries: list[dict], workdir: str, title: str, extra: dict | None = None
          ) -> tuple[str, str]:
  """``WORKDIR/verdict.json`` (``{"claims": [...], ...extra}``) and ``verdict.md``."""
  os.makedirs(workdir, exist_ok=True)
  path_json = os.path.join(workdir, "verdict.json")
  with open(path_json, "w") as f:
    json.dump(_finite({"claims": entries, **(extra or {})}), f, indent=2)
    f.write("\n")
  path_md = os.path.join(workdir, "verdict.md")
  with open(path_md, "w") as f:
    f.write(markdown(entries, title))
  return path_json, path_md


def _finite(obj):
  """NaN (an undefined standard error) as null: JSON has no NaN."""
  if isinstance(obj, float) and math.isnan(obj):
    return None
  if isinstance(obj, dict):
    return {k: _finite(v) for k, v in obj.items()}
  if isinstance(obj, list):
    return [_finite(v) for v in obj]
  return obj


def committed_evidence(tables, results_dir: str) -> tuple[dict, dict]:
  """``(results, summaries)`` of the committed JSON of every table that has one."""
  results, summaries = {}, {}
  for t in tables:
    path = os.path.join(results_dir, f"{t.name}.json")
    if not os.path.exists(path):
      continue
    with open(path) as f:
      obj = json.load(f)
    (summaries if t.diagnostics else results)[t.name] = obj
  return results, summaries
