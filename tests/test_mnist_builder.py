"""Tests for the MNIST TFDS builder and loader (data_prep/mnist.py)."""

import hashlib
import io
import pathlib
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_prep import mnist
from gil_jax.data import DataFileNotFoundError

N_TRAIN, N_TEST = 12, 5
# If another test module already imported TensorFlow, the check below is moot.
_TF_IMPORTED_BEFORE = "tensorflow" in sys.modules


def _fake_arrays(seed=0):
  """Small MNIST-like arrays; every image differs, all pixel values occur."""
  rng = np.random.default_rng(seed)
  x_train = rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8)
  x_train[0, 0, :2] = (0, 255)  # the extremes map to exactly 0 and 1
  return {
      "x_train": x_train,
      "y_train": (np.arange(N_TRAIN) % 10).astype(np.uint8),
      "x_test": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
      "y_test": np.array([3, 1, 4, 1, 5], np.uint8),
  }


def write_npz(folder, arrays=None):
  """Writes ``folder/mnist.npz`` as the shared one is; returns its sha256."""
  folder = pathlib.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  arrays = _fake_arrays() if arrays is None else arrays
  np.savez_compressed(folder / mnist.MNIST_FILENAME, **arrays)
  return hashlib.sha256((folder / mnist.MNIST_FILENAME).read_bytes()
                        ).hexdigest()


def _expected(arrays):
  return {
      "x_train": arrays["x_train"].reshape(-1, 784).astype(np.float32) / 255,
      "y_train": arrays["y_train"].astype(np.int32),
      "x_test": arrays["x_test"].reshape(-1, 784).astype(np.float32) / 255,
      "y_test": arrays["y_test"].astype(np.int32),
  }


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  root = tmp_path_factory.mktemp("mnist")
  sha = write_npz(root / "raw")
  data = mnist.load_mnist(data_dir=root / "tfds", manual_dir=root / "raw",
                          expected_sha256=sha)
  return root, sha, data


def test_load_mnist_returns_flat_unit_range_arrays_in_file_order(prepared):
  _, _, data = prepared
  want = _expected(_fake_arrays())
  assert sorted(data) == sorted(want)
  for key, value in want.items():
    assert data[key].shape == value.shape, key
    assert data[key].dtype == value.dtype, key
    np.testing.assert_array_equal(data[key], value, err_msg=key)
  assert data["x_train"].min() == 0.0 and data["x_train"].max() == 1.0


def test_prepared_dataset_is_array_record_read_without_tensorflow(prepared):
  root, _, _ = prepared
  version_dir = root / "tfds" / "gil_mnist" / "1.0.0"
  assert sorted(p.name for p in version_dir.glob("*.array_record*")) == [
      "gil_mnist-test.array_record-00000-of-00001",
      "gil_mnist-train.array_record-00000-of-00001"]
  source = tfds.data_source("gil_mnist", split="test",
                            data_dir=root / "tfds", download=False)
  assert len(source) == N_TEST
  example = source[2]
  assert example["image"].dtype == np.uint8
  assert example["image"].shape == (28, 28, 1)
  np.testing.assert_array_equal(example["image"][..., 0],
                                _fake_arrays()["x_test"][2])
  assert example["label"] == 4
  if not _TF_IMPORTED_BEFORE:
    assert "tensorflow" not in sys.modules


def test_second_load_reads_prepared_dataset_without_raw_file(prepared):
  root, _, data = prepared
  again = mnist.load_mnist(data_dir=root / "tfds",
                           manual_dir=root / "nowhere")
  for key, value in data.items():
    np.testing.assert_array_equal(again[key], value, err_msg=key)


def test_tfds_name_reads_an_already_prepared_dataset(prepared):
  root, _, data = prepared
  again = mnist.load_mnist(data_dir=root / "tfds", tfds_name="gil_mnist")
  np.testing.assert_array_equal(again["x_train"], data["x_train"])


def test_missing_raw_file_names_file_and_checksum(tmp_path):
  with pytest.raises(DataFileNotFoundError) as info:
    mnist.load_mnist(data_dir=tmp_path / "tfds", manual_dir=tmp_path)
  assert isinstance(info.value, ValueError)
  message = str(info.value)
  assert str(tmp_path / "mnist.npz") in message
  assert mnist.MNIST_SHA256 in message
  assert not (tmp_path / "tfds").exists()


def test_corrupt_raw_file_names_file_and_both_checksums(tmp_path):
  sha = write_npz(tmp_path)
  path = tmp_path / "mnist.npz"
  raw = bytearray(path.read_bytes())
  raw[len(raw) // 2] ^= 0xFF
  path.write_bytes(bytes(raw))
  actual = hashlib.sha256(bytes(raw)).hexdigest()
  with pytest.raises(ValueError) as info:
    mnist.load_mnist(data_dir=tmp_path / "tfds", manual_dir=tmp_path,
                     expected_sha256=sha)
  message = str(info.value)
  assert str(path) in message and sha in message and actual in message
  assert not (tmp_path / "tfds").exists()


def test_builder_checks_the_checksum_itself(tmp_path):
  # Preparing without load_mnist (e.g. a direct download_and_prepare) must
  # still refuse a file that is not the expected one.
  write_npz(tmp_path / "raw")
  builder = mnist.make_builder(tmp_path / "tfds")  # the real file's sha256
  with pytest.raises(ValueError, match="has sha256 .* expected " +
                     mnist.MNIST_SHA256):
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=tmp_path / "raw"))


def test_malformed_npz_is_an_error(tmp_path):
  arrays = _fake_arrays()
  del arrays["y_test"]
  write_npz(tmp_path / "a", arrays)
  with pytest.raises(ValueError, match=r"lacks the array\(s\) \['y_test'\]"):
    mnist.read_npz(tmp_path / "a" / "mnist.npz")
  arrays = _fake_arrays()
  arrays["y_train"][3] = 10
  write_npz(tmp_path / "b", arrays)
  with pytest.raises(ValueError, match="y_train holds labels outside"):
    mnist.read_npz(tmp_path / "b" / "mnist.npz")


def test_unprepared_tfds_name_is_an_error_and_nothing_is_fetched(tmp_path):
  with pytest.raises(DataFileNotFoundError, match="'mnist' is not prepared"):
    mnist.load_mnist(data_dir=tmp_path, tfds_name="mnist")
  assert not any(tmp_path.glob("**/*.array_record*"))


def _tfds_mnist_lookalike(arrays):
  """TFDS's own ``mnist`` builder, generating PNGs from ``arrays``.

  Its name, version, features (PNG ``Image``) and shuffled order are the
  real ones; only the source of the examples differs (no download). PNGs are
  encoded with Pillow, since TFDS encodes arrays with TensorFlow.
  """
  pil_image = pytest.importorskip("PIL.Image")

  def png(image):
    buffer = io.BytesIO()
    pil_image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()

  class Lookalike(tfds.builder_cls("mnist"), skip_registration=True):
    name = "mnist"

    def _split_generators(self, dl_manager):
      del dl_manager  # nothing is downloaded
      return {split: self._generate_examples(arrays[x], arrays[y])
              for split, (x, y) in (("train", ("x_train", "y_train")),
                                    ("test", ("x_test", "y_test")))}

    def _generate_examples(self, images, labels):
      for i, (image, label) in enumerate(zip(images, labels)):
        yield i, {"image": png(image), "label": int(label)}

  return Lookalike


def _rows_by_content(x, y):
  order = sorted(range(len(y)), key=lambda i: x[i].tobytes())
  return x[order], y[order]


def test_tfds_name_mnist_reads_tfds_own_png_format(tmp_path):
  arrays = _fake_arrays(seed=1)
  lookalike = _tfds_mnist_lookalike(arrays)
  lookalike(data_dir=tmp_path, file_format="array_record"
            ).download_and_prepare()
  data = mnist.load_mnist(data_dir=tmp_path, tfds_name="mnist",
                          manual_dir=tmp_path / "nowhere")
  want = _expected(arrays)
  for split in ("train", "test"):
    x, y = data[f"x_{split}"], data[f"y_{split}"]
    assert x.dtype == np.float32 and y.dtype == np.int32
    # TFDS's mnist shuffles its examples: compare them as sets of rows.
    got_x, got_y = _rows_by_content(x, y)
    want_x, want_y = _rows_by_content(want[f"x_{split}"], want[f"y_{split}"])
    np.testing.assert_array_equal(got_x, want_x)
    np.testing.assert_array_equal(got_y, want_y)


def test_tfds_name_without_random_access_files_is_an_error(tmp_path):
  # TFDS prepares in TFRecord by default, which needs TensorFlow to write;
  # relabelling a prepared dataset's format stands in for one made that way.
  _tfds_mnist_lookalike(_fake_arrays())(
      data_dir=tmp_path, file_format="array_record").download_and_prepare()
  info = tmp_path / "mnist" / "3.0.1" / "dataset_info.json"
  text = info.read_text()
  assert '"fileFormat": "array_record"' in text
  info.write_text(text.replace('"fileFormat": "array_record"',
                               '"fileFormat": "tfrecord"'))
  with pytest.raises(ValueError, match="no random-access"):
    mnist.load_mnist(data_dir=tmp_path, tfds_name="mnist")


REAL_DIR = pathlib.Path(mnist.default_manual_dir())


@pytest.mark.skipif(not (REAL_DIR / mnist.MNIST_FILENAME).is_file(),
                    reason="shared mnist.npz not present")
def test_real_mnist_matches_data_readme(tmp_path):
  data = mnist.load_mnist(data_dir=tmp_path)
  assert data["x_train"].shape == (60000, 784)
  assert data["x_test"].shape == (10000, 784)
  np.testing.assert_array_equal(
      np.bincount(data["y_train"]),
      [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
  np.testing.assert_array_equal(
      np.bincount(data["y_test"]),
      [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
  assert abs(data["x_train"].mean() - 0.13066) < 5e-6
  with np.load(REAL_DIR / mnist.MNIST_FILENAME) as raw:
    np.testing.assert_array_equal(data["y_test"], raw["y_test"])
    np.testing.assert_array_equal(
        data["x_test"][:100] * 255, raw["x_test"][:100].reshape(100, 784))
