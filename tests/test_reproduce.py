"""``launch.reproduce``: the claims' rules, the committed verdict, the manifest's
commands on the pages, the report rebuilt from its verdict, and both scales run
end to end on a tiny manifest (the full one through the sweep's local executor)."""

import functools
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from launch import manifest, reproducibility_report, verdict
from launch.manifest import Claim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "docs", "results")
RUNS = [{"seed": s} for s in range(5)]


def _results(scores: dict[str, list[float]], runs=RUNS) -> dict:
  return {"runs": runs, "methods": {
      m: {"test": {"accuracy": {"per_run": list(v)}}} for m, v in scores.items()}}


def _entry(claim, results, histories=None):
  (e,) = verdict.evaluate([claim], results, histories or {}, {}, {})
  return e


def test_rules_decide_by_the_paired_difference_and_its_standard_error():
  base = np.array([0.80, 0.82, 0.79, 0.85, 0.81])
  d = np.array([0.010, 0.012, 0.008, 0.011, 0.009])      # +1 point, se 0.07
  res = {"t": _results({"a": base + d, "b": base})}
  greater = _entry(Claim("", "t", "a", "b", "greater"), res)
  assert greater["difference"] == pytest.approx(100 * d.mean())
  assert greater["se"] == pytest.approx(100 * d.std(ddof=1) / np.sqrt(5))
  assert greater["runs"] == 5 and greater["holds"] is True
  assert _entry(Claim("", "t", "a", "b", "not_greater"), res)["holds"] is False
  assert _entry(Claim("", "t", "a", "b", "not_greater", margin=1.5), res)["holds"]
  assert not _entry(Claim("", "t", "a", "b", "tie", margin=0.5), res)["holds"]
  assert _entry(Claim("", "t", "b", "a", "tie", margin=1.5), res)["holds"]
  # A noisy difference of the same mean is no longer beyond noise.
  noisy = {"t": _results({"a": base + d + [0.05, -0.05, 0.04, -0.04, 0.0],
                          "b": base})}
  assert _entry(Claim("", "t", "a", "b", "greater"), noisy)["holds"] is False


def test_runs_pair_by_seeds_across_tables_not_by_position():
  a, b = [0.9, 0.8, 0.7, 0.6, 0.5], [0.85, 0.75, 0.65, 0.55, 0.45]
  res = {"t1": _results({"m": a}),
         "t2": _results({"m": b[::-1]}, runs=RUNS[::-1])}
  e = _entry(Claim("", "t1", "t1/m", "t2/m", "greater"), res)
  assert e["difference"] == pytest.approx(5.0) and e["se"] == pytest.approx(0.0)
  assert e["holds"] is True


def test_diagnostic_claims_average_each_run_over_training():
  hist = {"t": {"gil": {"diag": np.array([[0.4, 0.6], [0.5, 0.5], [0.3, 0.5]])}}}
  claim = Claim("", "t", "diag", "gil", "within", bounds=(0.0, 0.5))
  e = _entry(claim, {}, hist)
  assert e["difference"] == pytest.approx(0.4667, abs=1e-4)
  assert e["runs"] == 3 and e["holds"] is True
  assert _entry(claim._replace(bounds=(0.0, 0.45)), {}, hist)["holds"] is False


def test_unchecked_claims_and_undefined_errors_are_written_as_null(tmp_path):
  res = {"t": _results({"a": [0.5], "b": [0.4]}, runs=[{"seed": 0}])}
  claims = [Claim("one run", "t", "a", "b", "greater"),
            Claim("absent", "gone", "a", "b", "greater")]
  entries = verdict.evaluate(claims, res, {}, {}, {"gone": "not run here"})
  assert entries[1]["holds"] is None and entries[1]["note"] == "not run here"
  path, md = verdict.write(entries, str(tmp_path), "t")
  with open(path) as f:
    text = f.read()
  assert "NaN" not in text
  loaded = json.loads(text)["claims"]
  assert loaded[0]["se"] is None and loaded[0]["holds"] is True
  with open(md) as f:
    assert "not run here" in f.read()


def test_the_committed_results_support_every_claim_of_the_readme():
  results, summaries = verdict.committed_evidence(manifest.TABLES, RESULTS)
  entries = verdict.evaluate(manifest.CLAIMS, results, {}, summaries, {})
  failing = [e["claim"] for e in entries if e["holds"] is not True]
  assert not failing, failing


def test_pages_show_the_manifest_commands():
  for page in sorted({t.page for t in manifest.TABLES}):
    with open(os.path.join(ROOT, page)) as f:
      text = f.read()
    assert manifest.commands_block(manifest.TABLES, page) in text, (
        f"{page}: run python -m launch.reproduce --update_pages")


def test_the_committed_report_is_rebuilt_from_its_verdict(tmp_path):
  out = reproducibility_report.write(
      os.path.join(RESULTS, "verdict_small.json"), RESULTS,
      str(tmp_path / "report.md"))
  with open(out) as f, open(os.path.join(ROOT, "docs",
                                         "reproducibility_report.md")) as g:
    assert f.read() == g.read()


TINY = '''
import gil_jax
from gil_jax.sources import ImportanceSource, no_observation
from launch.manifest import Claim, Launch, Table

_L = Launch("launch/configs/digits_mcar.py", "tiny", (
    ("methods", '("zero","mean",)'), ("seeds", "(0,1,2)"),
    ("train.num_steps", "20"), ("train.eval_every", "10"), ("train.hidden", "(8,)"),
    ("batching", "loop")))
TABLES = (Table("tiny_digits", "README.md", (_L,), small=_L._replace(workdir="small")),)
CLAIMS = (Claim("zero and mean differ by less than 100 points", "tiny_digits",
                "mean", "zero", "tie", margin=100.0),)


def register():
  def factory(config, predictor):
    return ImportanceSource(init=lambda key, ctx: None,
                            propose=lambda s, k, ctx: (ctx.batch.m, s, {}),
                            observe=no_observation)
  gil_jax.register_source("mask_again", factory)
  return "mask_again"
'''


def _reproduce(tmp_path, *flags):
  env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
  proc = subprocess.run([sys.executable, "-m", "launch.reproduce",
                         "--manifest=tiny_manifest", *flags], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  return proc.stdout


def test_full_scale_sweeps_joins_and_judges_a_tiny_manifest(tmp_path):
  (tmp_path / "tiny_manifest.py").write_text(textwrap.dedent(TINY))
  work = tmp_path / "w"
  _reproduce(tmp_path, "--scale=full", f"--workdir={work}", "--executor=local")
  with open(work / "runs" / "tiny" / "results.json") as f:
    run = json.load(f)
  with open(work / "pages" / "tiny_digits.json") as f:
    page = json.load(f)
  assert set(page["methods"]) == {"zero", "mean"}
  for m in ("zero", "mean"):
    assert (page["methods"][m]["test"]["accuracy"]["per_run"]
            == run["methods"][m]["test"]["accuracy"]["per_run"])
  with open(work / "verdict.json") as f:
    first = json.load(f)
  (entry,) = first["claims"]
  diffs = 100 * (np.array(run["methods"]["mean"]["test"]["accuracy"]["per_run"])
                 - run["methods"]["zero"]["test"]["accuracy"]["per_run"])
  assert entry["difference"] == pytest.approx(diffs.mean())
  assert entry["runs"] == 3 and entry["source"] == "this run"
  assert (work / "reproducibility_report.md").exists()
  # Resumable: the second call submits nothing and decides the same.
  out = _reproduce(tmp_path, "--scale=full", f"--workdir={work}",
                   "--executor=local")
  assert "0 to submit" in out
  with open(work / "verdict.json") as f:
    assert json.load(f)["claims"] == first["claims"]


def test_small_scale_adds_a_users_source_to_every_comparison(tmp_path):
  (tmp_path / "tiny_manifest.py").write_text(textwrap.dedent(TINY))
  work = tmp_path / "w"
  out = _reproduce(tmp_path, "--scale=small", f"--workdir={work}",
                   "--methods=tiny_manifest:register")
  with open(work / "runs" / "small" / "results.json") as f:
    run = json.load(f)
  assert set(run["methods"]) == {"zero", "mean", "mask_again"}
  with open(work / "verdict.json") as f:
    claims = json.load(f)["claims"]
  mine = {c["comparison"]: c for c in claims if c["claim"].startswith("mask_again")}
  assert set(mine) == {"mask_again - zero (accuracy, points)",
                       "mask_again - mean (accuracy, points)"}
  # With placeholder 0, the mask as importance is plain training on zero-filled
  # inputs (x * m = x): no gain over zero imputation.
  assert mine["mask_again - zero (accuracy, points)"]["holds"] is False
  assert "mask_again beats zero" in out


def test_bad_manifest_tables_and_methods_are_named():
  from launch import reproduce
  with pytest.raises(ValueError, match="no module named 'nope'"):
    reproduce.load_manifest("nope", [])
  with pytest.raises(ValueError, match="defines no TABLES"):
    reproduce.load_manifest("launch.verdict", [])
  with pytest.raises(ValueError, match=r"unknown table\(s\) \['nope'\]"):
    reproduce.load_manifest("launch.manifest", ["nope"])
  with pytest.raises(ValueError, match="give module:factory"):
    reproduce.user_methods(["justamodule"])
  with pytest.raises(ValueError, match="has no function 'nope'"):
    reproduce.user_methods(["launch.manifest:nope"])
  bad = manifest.CLAIMS[:1] + (Claim("x", "missing_table", "a", "b", "greater"),)
  with pytest.raises(ValueError, match="names table 'missing_table'"):
    manifest.check(manifest.TABLES, bad)


# ------------------------------------------------ the manifest against the committed JSON

# Fields of a run's config that decide which runs it makes (the methods are checked
# through the join).
RUN_FIELDS = ("seeds", "mask_seeds", "split_seeds", "train.num_steps")


@functools.cache
def _launch_config(launch, setting):
  """The launch's config for ``setting`` (its grid resolved), or None if the launch
  makes no such setting folder."""
  from launch import grid, reproduce
  config = reproduce.load_config(launch)
  want = launch.results_path("runs", setting)
  for cfg, folder in grid.grid_settings(config, "runs/" + launch.workdir):
    if os.path.join(folder, "results.json") == want:
      return cfg
  return None


def _field(config: dict, dotted: str):
  for key in dotted.split("."):
    config = config[key]
  return list(config) if isinstance(config, (list, tuple)) else config


def _committed(name: str) -> dict:
  with open(os.path.join(RESULTS, f"{name}.json")) as f:
    return json.load(f)


def _sources(name: str) -> list[tuple[str, set, dict | None]]:
  """``(results path, methods taken from it, its config)`` per file joined into the
  committed ``name.json``, in join order; a committed JSON joined in stands for its
  own table's files (with its methods that this join took)."""
  res = _committed(name)
  entries = res.get("joined_from") or res.get("merged_from")
  if not entries:
    return []
  out = []
  for e in entries:
    taken = set(e["methods"])
    if not e["file"].startswith("docs/results/"):
      out.append((e["file"], taken, e["config"]))
      continue
    sub = manifest.table(os.path.basename(e["file"])[:-len(".json")])
    inner = _sources(sub.name)
    if not inner:
      assert len(sub.launches) == 1, f"{sub.name}: no record of its join"
      inner = [(sub.launches[0].results_path("runs", sub.setting),
                set(_committed(sub.name)["methods"]), _committed(sub.name)["config"])]
    out += [(path, methods & taken, config) for path, methods, config in inner]
  return out


@pytest.mark.parametrize("t", [t for t in manifest.TABLES if t.committed],
                         ids=lambda t: t.name)
def test_each_table_joins_the_launches_its_committed_json_was_made_from(t):
  configs = [_launch_config(launch, t.setting) for launch in t.launches]
  missing = [launch.workdir for launch, c in zip(t.launches, configs) if c is None]
  assert not missing, f"{t.name}: no {t.setting or 'results'} folder in {missing}"
  res = _committed(t.name)
  if t.diagnostics:      # a summary of the first launch's histories, per method
    (config,) = configs
    assert config.train.diagnostics and set(t.diagnostics) == set(res)
    assert set(res) <= set(config.methods)
    return
  # The join as launch.reproduce makes it: each method from the first launch.
  taken, seen = [], set()
  for config in configs:
    taken.append(set(config.methods) - seen)
    seen |= set(config.methods)
  assert seen == set(res["methods"]), (
      f"{t.name}: the launches run {sorted(seen)}, the JSON has {sorted(res['methods'])}")
  sources = _sources(t.name)
  if sources:
    assert [s[0] for s in sources] == [
        launch.results_path("runs", t.setting) for launch in t.launches]
    assert [s[1] for s in sources] == taken
  recorded = [s[2] for s in sources] or [res["config"]] * len(configs)
  for launch, config, rec in zip(t.launches, configs, recorded):
    for name in RUN_FIELDS:
      assert _field(config.to_dict(), name) == _field(rec, name), (
          f"{t.name}: {launch.workdir} {name}")
    if t.setting:
      field = config.get("data", {}).get("missing_rate")
      assert field == rec["data"]["missing_rate"], f"{t.name}: {launch.workdir}"


def test_every_results_json_is_in_the_manifest_or_says_why_not():
  covered = {t.name for t in manifest.TABLES} | {n for n, _ in manifest.NOT_IN_MANIFEST}
  made_by_train = {name[:-len(".json")] for name in os.listdir(RESULTS)
                   if name.endswith(".json") and not name.startswith(("bench_", "verdict"))}
  assert made_by_train - covered == set()
  assert not {t.name for t in manifest.TABLES} & {n for n, _ in manifest.NOT_IN_MANIFEST}
