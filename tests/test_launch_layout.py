"""The launcher's module layout: no import cycles among launch modules, and the
results tools load no data pipeline."""

import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH = os.path.join(ROOT, "launch")


def _module_name(path: str) -> str:
  parts = os.path.relpath(path, ROOT)[:-len(".py")].split(os.sep)
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(parts)


def _launch_modules() -> dict[str, str]:
  """``{module name: file}`` for every module under launch/."""
  out = {}
  for folder, _, files in os.walk(LAUNCH):
    for f in files:
      if f.endswith(".py"):
        path = os.path.join(folder, f)
        out[_module_name(path)] = path
  return out


def _launch_imports(path: str, modules: set[str]) -> set[str]:
  """The launch modules that the file at ``path`` imports, anywhere in it
  (function-local imports included)."""
  found = set()
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      # ``from launch import x`` names module launch.x; ``from launch.x import y``
      # names launch.x (or launch.x.y where that is a module).
      names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    else:
      continue
    found.update(n for n in names if n in modules)
  return found


def _import_graph() -> dict[str, set[str]]:
  modules = _launch_modules()
  return {name: _launch_imports(path, set(modules)) - {name, "launch"}
          for name, path in modules.items()}


def test_no_two_launch_modules_import_each_other():
  graph = _import_graph()
  pairs = sorted({tuple(sorted((a, b))) for a, deps in graph.items() for b in deps
                  if a in graph.get(b, set())})
  assert not pairs, f"launch modules importing each other: {pairs}"


def test_launch_modules_import_no_cycle():
  graph = _import_graph()
  state: dict[str, str] = {}

  def cycle_from(name, stack):
    state[name] = "open"
    for dep in sorted(graph[name]):
      if state.get(dep) == "open":
        return stack[stack.index(dep):] + [dep]
      if dep not in state:
        found = cycle_from(dep, stack + [dep])
        if found:
          return found
    state[name] = "done"
    return None

  for name in sorted(graph):
    if name not in state:
      cycle = cycle_from(name, [name])
      assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def _modules_after_import(module: str) -> set[str]:
  """``sys.modules`` of a fresh interpreter after ``import module``."""
  code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                        capture_output=True, text=True,
                        env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return set(proc.stdout.split())


def test_paired_report_loads_no_dataset_code_and_no_jax():
  # A results page is tables of finished runs: building it must not import the
  # data pipeline (TFDS, the dataset loaders) nor JAX.
  loaded = _modules_after_import("launch.paired_report")
  heavy = sorted(m for m in loaded
                 if m.split(".")[0] in ("tensorflow_datasets", "data_prep", "jax")
                 or m == "launch.datasets")
  assert not heavy, f"launch.paired_report loads {heavy[:20]}"
