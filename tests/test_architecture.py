"""The library's layers: each sub-package imports only the ones above it in the data
flow (docs/architecture.md), and nothing in gil_jax imports the launchers.

Read from the code's own imports (``ast``), so a new import that crosses a layer
fails here, not in a reader's head.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Layer -> the gil_jax layers it may import (besides itself).
ALLOWED = {
    "data": set(),
    "metrics": set(),
    "importance": set(),
    "models": {"data", "importance"},
    "predictor": {"data", "importance", "metrics", "models"},
    "authors": {"data", "importance", "metrics", "models", "predictor"},
    "config": {"metrics", "models", "authors", "sources.base"},
    "sources": {"data", "importance", "metrics", "models", "predictor", "authors",
                "config"},
    "training": {"data", "metrics", "models", "predictor", "authors", "config",
                 "sources"},
    "baselines": {"data", "importance", "metrics", "models", "predictor", "config",
                  "sources", "training"},
    "methods": {"data", "baselines", "sources.base"},
    "estimator": {"data", "metrics", "config", "methods", "training", "baselines"},
}


def _layer(module: str) -> str:
  """``gil_jax.sources.base`` -> ``sources`` (``sources.base`` where it matters)."""
  parts = module.split(".")[1:]
  if not parts:
    return ""
  if parts[:2] == ["sources", "base"]:
    return "sources.base"
  return parts[0]


def _imports(path: str) -> set[str]:
  tree = ast.parse(open(path).read())
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      if node.module == "gil_jax":
        out |= {f"gil_jax.{a.name}" for a in node.names}
      else:
        out.add(node.module)
    elif isinstance(node, ast.Import):
      out |= {a.name for a in node.names}
  return out


def _library_files():
  for folder, _, files in os.walk(os.path.join(ROOT, "gil_jax")):
    for name in files:
      if name.endswith(".py"):
        yield os.path.join(folder, name)


def test_every_library_module_belongs_to_a_layer():
  for path in _library_files():
    module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    if module in ("gil_jax.__init__",):
      continue
    assert _layer(module).split(".")[0] in ALLOWED, module


@pytest.mark.parametrize("path", sorted(_library_files()),
                         ids=lambda p: os.path.relpath(p, ROOT))
def test_library_module_imports_only_layers_above_it(path):
  module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
  if module == "gil_jax.__init__":
    return
  own = _layer(module).split(".")[0]
  for imported in _imports(path):
    top = imported.split(".")[0]
    assert top not in ("launch", "data_prep", "tests"), (
        f"{module} imports {imported}: the library never imports launchers")
    if top != "gil_jax":
      continue
    layer = _layer(imported)
    if layer in ("", own) or layer.split(".")[0] == own:
      continue
    assert layer in ALLOWED[own] or layer.split(".")[0] in ALLOWED[own], (
        f"{module} (layer {own!r}) imports {imported} (layer {layer!r}); allowed: "
        f"{sorted(ALLOWED[own])}")
