"""A saved GILClassifier is checked on load: a damaged or edited file is one
``ValueError`` naming it, never a BadZipFile, a KeyError or a failure inside flax
at predict time; loading runs no code."""

import io
import json
import zipfile

import numpy as np
import pytest

from gil_jax.estimator import GILClassifier


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(200, 4))
  y = (x[:, 0] > 0).astype(int)
  x[rng.random(x.shape) < 0.2] = np.nan
  clf = GILClassifier(method="zero", hidden=(8,), num_steps=20, eval_every=10,
                      batch_size=32, random_state=0).fit(x, y)
  path = tmp_path_factory.mktemp("saved") / "model.npz"
  clf.save(str(path))
  return path, x, clf.predict_proba(x)


def _members(path):
  with zipfile.ZipFile(path) as z:
    return {name: z.read(name) for name in z.namelist()}


def _write(path, members):
  with zipfile.ZipFile(path, "w") as z:
    for name, data in members.items():
      z.writestr(name, data)


def _npy(array):
  buf = io.BytesIO()
  np.save(buf, array)
  return buf.getvalue()


def test_a_saved_model_loads_and_predicts_the_same(saved):
  path, x, probs = saved
  np.testing.assert_array_equal(GILClassifier.load(str(path)).predict_proba(x), probs)


def _damaged(saved, tmp_path, how):
  path = tmp_path / "bad.npz"
  raw = saved[0].read_bytes()
  members = _members(saved[0])
  if how == "truncated":
    path.write_bytes(raw[: len(raw) // 2])
  elif how == "flipped":
    body = bytearray(raw)
    for i in range(200, len(body) - 200, 97):
      body[i] ^= 0xFF
    path.write_bytes(bytes(body))
  elif how == "not_an_archive":
    path.write_bytes(b"hello, not a model")
  elif how == "no_version":
    header = json.loads(np.load(io.BytesIO(members["header.npy"])).item())
    del header["format_version"]
    members["header.npy"] = _npy(np.array(json.dumps(header)))
    _write(path, members)
  elif how == "no_source":
    header = json.loads(np.load(io.BytesIO(members["header.npy"])).item())
    del header["source"]
    members["header.npy"] = _npy(np.array(json.dumps(header)))
    _write(path, members)
  elif how == "missing_param":
    del members[next(n for n in members if n.startswith("params/"))]
    _write(path, members)
  elif how == "misshaped_param":
    name = next(n for n in members if n.startswith("params/")
                and n.endswith("kernel.npy"))
    members[name] = _npy(np.zeros((3, 3), np.float32))
    _write(path, members)
  elif how == "misshaped_scaler":
    members["scaler_shift.npy"] = _npy(np.zeros(99))
    _write(path, members)
  return path


@pytest.mark.parametrize("how, says", [
    ("truncated", "damaged"), ("flipped", "damaged"),
    ("not_an_archive", "damaged"), ("no_version", "format version None"),
    ("no_source", "no 'source'"), ("missing_param", "is missing"),
    ("misshaped_param", "expected float32"),
    ("misshaped_scaler", "scaler_shift is float64(99,)")])
def test_a_damaged_or_edited_file_is_one_error_naming_it(saved, tmp_path, how, says):
  path = _damaged(saved, tmp_path, how)
  with pytest.raises(ValueError, match="bad.npz") as e:
    GILClassifier.load(str(path))
  assert says in str(e.value)


def test_pickled_content_is_refused_without_running_it(tmp_path):
  path = tmp_path / "bad.npz"
  np.savez(path, header=np.array([{"format": "GILClassifier"}], dtype=object))
  with pytest.raises(ValueError, match="bad.npz"):
    GILClassifier.load(str(path))
