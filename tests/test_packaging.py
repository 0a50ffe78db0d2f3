"""The wheel that `pip install .` installs: only `gil_jax`, with version ranges that
cover what it imports and admit the pins of requirements.txt, importable on its own.

The wheel is built once (without build isolation, so no download) from a copy of the
checkout: setuptools reuses a `build/` folder it finds, and stale files there would end
up in the wheel.
"""

import ast
import email.parser
import importlib.metadata
import os
import pathlib
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parent.parent
_PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PROJECT = _PYPROJECT["name"]
LIBRARY = "gil_jax"
EXTRAS = tuple(_PYPROJECT["optional-dependencies"])
# Build outputs and run folders of a checkout (see .gitignore).
IGNORE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                "*.pyc", ".pytest_cache", ".venv", "venv", "runs",
                                "workdir*", ".whl", ".gl")


def _run(*args, **kwargs):
  proc = subprocess.run(args, capture_output=True, text=True, timeout=120,
                        check=False, **kwargs)
  assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
  return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("packaging")
  src = tmp / "src"
  shutil.copytree(ROOT, src, ignore=IGNORE)
  _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
       "--no-index", "--disable-pip-version-check", "-q", "-w", str(tmp / "dist"), ".",
       cwd=src)
  (path,) = (tmp / "dist").glob("*.whl")
  return path


def _metadata(wheel_path):
  with zipfile.ZipFile(wheel_path) as z:
    (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
    return email.parser.Parser().parsestr(z.read(name).decode())


def _requires(wheel_path) -> list[Requirement]:
  return [Requirement(r) for r in _metadata(wheel_path).get_all("Requires-Dist") or []]


def _extra(req: Requirement) -> str | None:
  """The extra that a requirement belongs to (None: installed by `pip install .`)."""
  if req.marker is None:
    return None
  for extra in EXTRAS:
    if req.marker.evaluate({"extra": extra}):
      assert not req.marker.evaluate({"extra": ""}), req
      return extra
  raise AssertionError(f"marker of {req} names none of {EXTRAS}")


def _pins() -> dict[str, Requirement]:
  pins = {}
  for line in (ROOT / "requirements.txt").read_text().splitlines():
    line = line.split("#")[0].strip()
    if line:
      req = Requirement(line)
      assert [s.operator for s in req.specifier] == ["=="], f"not an exact pin: {line}"
      pins[canonicalize_name(req.name)] = req
  return pins


def _imported_distributions(folder: pathlib.Path) -> dict[str, set[str]]:
  """Third-party top-level modules imported anywhere under folder (local imports
  included) -> the installed distributions that provide them."""
  modules = set()
  for path in folder.rglob("*.py"):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      if isinstance(node, ast.Import):
        modules.update(a.name.split(".")[0] for a in node.names)
      elif isinstance(node, ast.ImportFrom) and node.level == 0:
        modules.add(node.module.split(".")[0])
  # The repository's own packages, and modules beside each other (tests import tests).
  local = ({p.name for p in ROOT.iterdir() if p.is_dir()}
           | {p.stem for p in folder.rglob("*.py")})
  providers = importlib.metadata.packages_distributions()
  return {m: {canonicalize_name(d) for d in providers.get(m, ())}
          for m in sorted(modules - set(sys.stdlib_module_names) - local)}


def _missing(imports: dict[str, set[str]], declared: set[str]) -> dict[str, set[str]]:
  return {m: dists for m, dists in imports.items() if not dists & declared}


def test_wheel_installs_only_the_library_and_all_of_it(wheel):
  with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
  top = {n.split("/")[0] for n in names}
  assert {t for t in top if not t.endswith((".dist-info", ".data"))} == {LIBRARY}
  # Every module of the checkout's library, sub-packages included, is in the wheel.
  modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / LIBRARY).rglob("*.py")
             if "__pycache__" not in p.parts}
  assert modules <= set(names), sorted(modules - set(names))


def test_requirements_are_ranges_and_tools_only_in_extras(wheel):
  requires = _requires(wheel)
  by_extra: dict[str | None, set[str]] = {}
  for req in requires:
    name = canonicalize_name(req.name)
    extra = _extra(req)
    by_extra.setdefault(extra, set()).add(name)
    if name == PROJECT:              # an extra that pulls in another extra
      assert extra is not None and set(req.extras) <= set(EXTRAS) and not req.url, req
      continue
    ops = {s.operator for s in req.specifier}
    assert ops & {">=", ">", "~="} and ops & {"<", "<=", "~="}, (
        f"{req}: needs a lower and an upper bound")
    assert not ops & {"==", "==="}, f"{req}: exact pins belong in requirements.txt"
  assert set(by_extra) == {None, *EXTRAS}

  # `pip install .` brings exactly what gil_jax imports; nothing for tests, data
  # preparation or the launcher.
  core = by_extra[None]
  imports = _imported_distributions(ROOT / LIBRARY)
  assert not _missing(imports, core), "imported by gil_jax but not declared"
  imported = set().union(*imports.values())
  # A declared distribution gil_jax does not import must be one that an imported
  # one needs at a matching version (jax and jaxlib); anything else (a test or
  # launcher tool) does not belong in `pip install .`.
  needed = {canonicalize_name(Requirement(r).name) for d in imported
            for r in importlib.metadata.requires(d) or ()}
  assert not (core - imported) - needed, "declared but not imported by gil_jax"

  # The extras cover what the launcher, data_prep and the tests import.
  launch = core | by_extra["launch"] | by_extra["data"]
  assert not _missing(_imported_distributions(ROOT / "launch"), launch)
  assert not _missing(_imported_distributions(ROOT / "data_prep"), core | by_extra["data"])
  assert not _missing(_imported_distributions(ROOT / "tests"), launch | by_extra["test"])


def test_pins_of_requirements_txt_satisfy_the_ranges(wheel):
  pins = _pins()
  for req in _requires(wheel):
    name = canonicalize_name(req.name)
    if name == PROJECT:
      continue
    # Each range starts at a tested version: the package is pinned, inside the range.
    assert name in pins, f"{req} has no pin in requirements.txt"
    (pin,) = pins[name].specifier
    assert req.specifier.contains(pin.version, prereleases=True), (
        f"requirements.txt pins {pins[name]}, outside {req}")


def test_installed_wheel_imports_outside_the_checkout(wheel, tmp_path):
  site = tmp_path / "site"
  _run(sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
       "--disable-pip-version-check", "-q", "--target", str(site), str(wheel))
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  # Import every module of the installed library (its dependencies come from this
  # environment); each must load from the install, none needs launch or data_prep.
  script = (
      "import importlib, pkgutil, gil_jax\n"
      "names = [m.name for m in pkgutil.walk_packages(gil_jax.__path__, 'gil_jax.')]\n"
      "files = [gil_jax.__file__] + [importlib.import_module(n).__file__ for n in names]\n"
      "print('\\n'.join(files))\n")
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env.update(PYTHONPATH=str(site), JAX_PLATFORMS="cpu")
  files = _run(sys.executable, "-c", script, cwd=elsewhere, env=env).stdout.split()
  assert len(files) > 1
  for f in files:
    assert pathlib.Path(f).resolve().is_relative_to(site.resolve()), f
  assert pathlib.Path(files[0]).resolve() == (site / LIBRARY / "__init__.py").resolve()


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory):
  """The wheel installed (without dependencies: they are this environment's)."""
  target = tmp_path_factory.mktemp("site")
  _run(sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
       "--disable-pip-version-check", "-q", "--target", str(target), str(wheel))
  return target


# Example -> whether it needs the launcher (not installed: it comes from the checkout,
# after the installed library on the path).
EXAMPLES = {"rule_in_nnx.py": False, "credit_on_your_model.py": False,
            "new_source.py": True}
# Shorter than a reader's run, to keep the suite's time.
EXAMPLE_ARGS = {"new_source.py": ["--steps=100"]}


def test_every_example_is_run_here():
  assert set(EXAMPLES) == {p.name for p in (ROOT / "examples").glob("*.py")}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_runs_on_the_installed_library(example, site, tmp_path):
  path = ROOT / "examples" / example
  # Runs the script as __main__, after checking which gil_jax it sees.
  script = (
      "import runpy, sys, gil_jax\n"
      f"assert gil_jax.__file__.startswith({str(site)!r}), gil_jax.__file__\n"
      f"sys.argv = {[str(path)] + EXAMPLE_ARGS.get(example, [])!r}\n"
      f"runpy.run_path({str(path)!r}, run_name='__main__')\n")
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  paths = [str(site)] + ([str(ROOT)] if EXAMPLES[example] else [])
  env.update(PYTHONPATH=os.pathsep.join(paths), JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                        capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, f"{example} failed:\n{proc.stdout}\n{proc.stderr}"
