r"""Re-checks the README's verdict with one command.

  python -m launch.reproduce --scale=small --workdir=runs/reproduce
  python -m launch.reproduce --scale=full --workdir=runs/reproduce_full --executor=local
  python -m launch.reproduce --scale=small --workdir=runs/mine --methods=my_sources:register

``--scale=small`` runs each table's reduced launch (:mod:`launch.manifest`), one
after the other in this process, then decides every claim of the verdict on those
runs (:mod:`launch.verdict`) and writes ``WORKDIR/verdict.json``,
``WORKDIR/verdict.md`` and ``WORKDIR/reproducibility_report.md``.  A table with no
reduced launch is judged on its committed JSON and says so.  Finished launches
(their ``results.json`` exists) are not run again, so a killed run resumes.

``--scale=full`` runs every launch behind every table through ``launch.sweep``
(``--executor=local`` or ``slurm``; one task per setting x method, finished tasks
skipped), joins each table's launches into ``PAGES_DIR/NAME.json`` as the committed
files were joined (``docs/results`` by default is NOT touched: give
``--pages_dir=docs/results`` to regenerate the committed files), writes a
markdown table per table, and decides the verdict on them.

``--methods=module:factory`` imports ``module`` and calls ``factory()``, which
registers an importance source (``gil_jax.register_source``) and returns its name
(or a list of names); each is added to every reduced launch that trains networks,
and the verdict gains a row per baseline of that launch saying whether the new
method beats it beyond noise.

``--print_commands`` prints the launches of the chosen scale and exits;
``--update_pages`` rewrites each results page's block of commands from the manifest
(a test checks the blocks are current).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import time

from absl import app, flags, logging
from ml_collections import config_flags

from launch import diagnostics_figure
from launch import grid
from launch import paired_report
from launch import quiet_logs
from launch import reproducibility_report
from launch import results as results_lib
from launch import user_errors
from launch import verdict as verdict_lib
from launch.manifest import Claim, Launch, Table

FLAGS = flags.FLAGS
SCALES = ("small", "full")
# Baselines a user's method is compared with, where a reduced launch runs them.
BASELINES = ("gil", "zero", "mean", "mean_mask", "hgb")


def define_flags() -> None:
  flags.DEFINE_enum("scale", None, SCALES, "small: the reduced launches (about "
                    "half an hour on 2 cores); full: every launch behind the "
                    "committed tables, through launch.sweep.")
  flags.DEFINE_string("workdir", None, "Runs, verdict and report go here.")
  flags.DEFINE_string("manifest", "launch.manifest", "Module defining TABLES and "
                      "CLAIMS (launch/manifest.py).")
  flags.DEFINE_list("methods", [], "module:factory, factory() registers an "
                    "importance source and returns its name(s); --scale=small.")
  flags.DEFINE_list("tables", [], "Only these tables (and the claims on them).")
  flags.DEFINE_enum("executor", "local", ("local", "slurm"), "--scale=full: where "
                    "launch.sweep runs its tasks.")
  flags.DEFINE_string("pages_dir", None, "--scale=full: where the joined JSON and "
                      "tables go (default WORKDIR/pages).")
  flags.DEFINE_string("results_dir", "docs/results", "The committed JSON (tables "
                      "not re-run are judged on them).")
  flags.DEFINE_bool("print_commands", False, "Print the launches and exit.")
  flags.DEFINE_bool("update_pages", False, "Write each results page's block of "
                    "commands from the manifest and exit.")


def load_manifest(module: str, only: list[str]) -> tuple[tuple[Table, ...],
                                                        tuple[Claim, ...]]:
  """The manifest's tables and claims, restricted to ``only`` tables if given."""
  from launch import manifest as manifest_lib
  try:
    mod = importlib.import_module(module)
  except ModuleNotFoundError as e:
    raise ValueError(f"--manifest={module}: no module named {e.name!r}") from None
  if not hasattr(mod, "TABLES") or not hasattr(mod, "CLAIMS"):
    raise ValueError(f"--manifest={module} defines no TABLES and CLAIMS "
                     "(see launch/manifest.py)")
  tables, claims = tuple(mod.TABLES), tuple(mod.CLAIMS)
  manifest_lib.check(tables, claims)
  if only:
    unknown = sorted(set(only) - {t.name for t in tables})
    if unknown:
      raise ValueError(f"--tables: unknown table(s) {unknown}; the manifest has "
                       f"{[t.name for t in tables]}")
    tables = tuple(t for t in tables if t.name in only)
    claims = tuple(c for c in claims if c.table in only)
  return tables, claims


def load_config(launch: Launch):
  """The launch's config with its overrides, parsed as ``launch.train`` parses
  its flags."""
  argv = (["reproduce", f"--config={launch.config}"]
          + [f"--config.{k}={v}" for k, v in launch.overrides])
  values = flags.FlagValues()
  # The override flags are found in sys_argv, which defaults to this process's.
  config_flags.DEFINE_config_file("config", None, "", flag_values=values,
                                  sys_argv=argv)
  values(argv)
  return values.config


def user_methods(specs: list[str]) -> list[str]:
  """Calls each ``module:factory``; returns the method names they registered."""
  names = []
  for spec in specs:
    module, sep, factory = spec.partition(":")
    if not sep or not module or not factory:
      raise ValueError(f"--methods={spec}: give module:factory")
    try:
      fn = getattr(importlib.import_module(module), factory, None)
    except ModuleNotFoundError as e:
      raise ValueError(f"--methods={spec}: no module named {e.name!r}") from None
    if fn is None:
      raise ValueError(f"--methods={spec}: {module} has no function {factory!r}")
    out = fn()
    names += [out] if isinstance(out, str) else list(out)
  return names


def with_methods(launch: Launch, extra: list[str]) -> Launch:
  """``launch`` with ``extra`` methods appended to its ``methods`` override."""
  config = load_config(launch)
  methods = tuple(config.methods) + tuple(m for m in extra
                                          if m not in config.methods)
  value = "(" + ",".join(f'"{m}"' for m in methods) + ",)"
  overrides = tuple(o for o in launch.overrides if o[0] != "methods")
  return launch._replace(overrides=(("methods", value),) + overrides)


def user_claims(tables: tuple[Table, ...], names: list[str]) -> list[Claim]:
  """Per user method and reduced launch: does it beat each baseline there?"""
  claims = []
  for t in tables:
    if t.small is None or t.diagnostics:
      continue
    config = load_config(t.small)
    metric = config.train.selection_metric
    for name in names:
      for base in BASELINES:
        if base in config.methods:
          claims.append(Claim(f"{name} beats {base} beyond noise ({t.name})",
                              t.name, name, base, "greater", metric=metric))
  return claims


def _finished(workdir: str, methods) -> dict | None:
  """``workdir/results.json`` if it holds every method (it is rewritten after each
  method, so a killed launch leaves one with fewer), else None."""
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    res = json.load(f)
  return res if set(methods) <= set(res["methods"]) else None


def run_launch(launch: Launch, root: str) -> float:
  """Trains one launch in this process unless its results exist; its seconds.

  For a launch finished earlier: its methods' own wall seconds as recorded then.
  """
  import jax  # local: the manifest's checks and reports need no JAX or data
  from launch import experiment
  config = load_config(launch)
  workdir = os.path.join(root, launch.workdir)
  seconds = 0.0
  for cfg, setting_dir in grid.grid_settings(config, workdir):
    done = _finished(setting_dir, cfg.methods)
    if done is not None:
      seconds += sum(done["methods"][m]["wall_seconds"] for m in cfg.methods)
      print(f"  {setting_dir}: finished earlier, kept", flush=True)
      continue
    if os.path.isdir(setting_dir):        # killed half-way: start it again
      shutil.rmtree(setting_dir)
    start = time.time()
    experiment.run(cfg, setting_dir)
    seconds += time.time() - start
    jax.clear_caches()                     # bounded memory over many launches
  return seconds


def run_small(tables, root: str) -> dict[str, float]:
  """Every reduced launch, in order; ``{table: wall seconds}``."""
  walls = {}
  todo = [t for t in tables if t.small is not None]
  for i, t in enumerate(todo, 1):
    print(f"[{i}/{len(todo)}] {t.name}: {t.small.command(root)}", flush=True)
    walls[t.name] = run_launch(t.small, root)
    print(f"[{i}/{len(todo)}] {t.name}: {walls[t.name]:.0f} s", flush=True)
  return walls


def run_full(tables, root: str, executor: str) -> dict[str, float]:
  """Every launch through ``launch.sweep`` (finished tasks skipped)."""
  from launch import sweep  # local: submitit only for this scale
  walls, seen = {}, set()
  for t in tables:
    start = time.time()
    for launch in t.launches:
      if launch in seen:              # a launch several tables join
        continue
      seen.add(launch)
      print(f"{t.name}: {launch.command(root, module='launch.sweep')}", flush=True)
      status = sweep.run_sweep(load_config(launch),
                               os.path.join(root, launch.workdir), executor=executor)
      if status:
        raise RuntimeError(f"launch.sweep failed for {launch.workdir} (status "
                           f"{status}); run the same command again to resume")
    walls[t.name] = time.time() - start
  return walls


def evidence(tables, root: str, scale: str) -> tuple[dict, dict]:
  """``(results, histories)`` per table from the runs under ``root``: the reduced
  launch at small scale, the join of the table's launches at full scale."""
  results, histories = {}, {}
  for t in tables:
    launches = ([t.small] if scale == "small" and t.small is not None else
                list(t.launches) if scale == "full" else [])
    if not launches:
      continue
    paths = [launch.results_path(root, t.setting) for launch in launches]
    res = paired_report.joined(paths)
    if t.diagnostics:
      folder = os.path.dirname(paths[0])
      ran = [m for m in t.diagnostics if m in res["methods"]]
      histories[t.name] = diagnostics_figure.read_histories(folder, ran)
    results[t.name] = res
  return results, histories


def write_pages(tables, results: dict, histories: dict, pages_dir: str) -> list[str]:
  """``pages_dir/NAME.json`` (the joined results, or the diagnostics summary) and
  ``pages_dir/NAME.md`` (its method table) per table."""
  os.makedirs(pages_dir, exist_ok=True)
  written = []
  for t in tables:
    if t.name not in results:
      continue
    path = os.path.join(pages_dir, f"{t.name}.json")
    if t.diagnostics:
      results_lib.write_json(diagnostics_figure.summary(histories[t.name]), path)
    else:
      results_lib.write_json(results[t.name], path)
      with open(os.path.join(pages_dir, f"{t.name}.md"), "w") as f:
        f.write(results_lib.format_table(results[t.name]) + "\n")
    written.append(path)
  return written


def update_page(tables, page: str) -> None:
  """Rewrites ``page``'s block of manifest commands."""
  from launch import manifest as manifest_lib
  with open(page) as f:
    text = f.read()
  text = manifest_lib.with_commands_block(
      text, manifest_lib.commands_block(tables, page))
  with open(page, "w") as f:
    f.write(text)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  logging.set_verbosity(logging.INFO)      # the launches' progress lines
  quiet_logs.quiet_libraries()
  tables, claims = load_manifest(FLAGS.manifest, FLAGS.tables)
  if FLAGS.update_pages:
    for page in dict.fromkeys(t.page for t in tables):
      update_page(tables, page)
      print(f"wrote {page}")
    return 0
  scale = FLAGS.scale
  if scale is None or (FLAGS.workdir is None and not FLAGS.print_commands):
    raise app.UsageError("give --scale (small or full) and --workdir")
  if FLAGS.methods and scale != "small":
    raise ValueError("--methods runs with --scale=small (the full scale's sweep "
                     "tasks run in other processes, which do not load it)")
  names = user_methods(FLAGS.methods)
  if names:
    tables = tuple(t._replace(small=with_methods(t.small, names))
                   if t.small is not None and not t.diagnostics else t
                   for t in tables)
    claims = claims + tuple(user_claims(tables, names))
  root = os.path.join(FLAGS.workdir or "runs/reproduce", "runs")
  if FLAGS.print_commands:
    for t in tables:
      launches = [t.small] if scale == "small" else list(t.launches)
      for launch in launches:
        if launch is not None:
          print(launch.command(root))
    return 0
  for t in tables:                         # every config parses before any runs
    for launch in ([t.small] if scale == "small" else list(t.launches)):
      if launch is not None:
        load_config(launch)
  walls = (run_small(tables, root) if scale == "small"
           else run_full(tables, root, FLAGS.executor))
  results, histories = evidence(tables, root, scale)
  if scale == "full":
    pages = FLAGS.pages_dir or os.path.join(FLAGS.workdir, "pages")
    for path in write_pages(tables, results, histories, pages):
      print(f"wrote {path}")
  rerun = set(results)
  committed, summaries = verdict_lib.committed_evidence(tables, FLAGS.results_dir)
  notes = {t.name: t.small_note for t in tables}
  for name, res in committed.items():    # tables this scale did not re-run
    results.setdefault(name, res)
  for name in summaries:
    if name in rerun:                    # a re-run's histories replace the summary
      summaries = {k: v for k, v in summaries.items() if k != name}
  entries = verdict_lib.evaluate(claims, results, histories, summaries, notes)
  for e in entries:
    e["source"] = "this run" if e["table"] in rerun else "committed runs"
  # Launches finished by an earlier call count with the seconds they took then.
  extra = {"scale": scale, "wall_seconds": round(sum(walls.values()), 1),
           "launch_wall_seconds": {k: round(v, 1) for k, v in walls.items()},
           # Wall times depend on what else ran: the cores and the load now.
           "cpus": os.cpu_count(), "load_average": [round(x, 1) for x in
                                                    os.getloadavg()]}
  path_json, path_md = verdict_lib.write(
      entries, FLAGS.workdir, f"Verdict, {scale} scale", extra)
  with open(path_md) as f:
    print(f.read())
  report = reproducibility_report.write(
      path_json, FLAGS.results_dir, os.path.join(FLAGS.workdir,
                                                 "reproducibility_report.md"))
  print(f"wrote {path_json}, {path_md} and {report} "
        f"({extra['wall_seconds']:.0f} s)")
  return 0


if __name__ == "__main__":
  define_flags()
  user_errors.run(main)
