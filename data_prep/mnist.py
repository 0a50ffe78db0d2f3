"""MNIST from a local ``mnist.npz`` as a TFDS dataset in ArrayRecord format.

Data flow: ``mnist.npz`` in a manual directory (checked against its sha256)
-> :class:`GilMnist` (a TFDS builder that writes the images as ArrayRecord,
with no network and no TensorFlow) -> :func:`load_mnist` (reads them back
through ``tfds.data_source`` as flat float32 arrays in ``[0, 1]``).

The raw file is ``<repo>/../shared/data/mnist/mnist.npz`` (see the README
beside it): ``x_train`` (60000, 28, 28), ``y_train`` (60000,), ``x_test``
(10000, 28, 28), ``y_test`` (10000,), all ``uint8``, in the original IDX
order. The prepared splits keep that order.

The builder is registered as ``gil_mnist``, not ``mnist``: TFDS's own
``mnist`` builder owns that name. The features have TFDS ``mnist``'s names and
shapes (``image`` ``uint8 [28, 28, 1]``, ``label`` ``ClassLabel(10)``), so
:func:`load_mnist` reads either. The images are stored as raw bytes rather
than PNG: encoding PNGs from arrays needs TensorFlow in TFDS 4.9, and raw
bytes also read back much faster.

Prepared data live in TFDS's data directory: ``$TFDS_DATA_DIR`` if set, else
``~/tensorflow_datasets``, under ``gil_mnist/1.0.0/``.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Any, Sequence

import numpy as np
# Preparing needs no TensorFlow, but TFDS 4.9.10 imports importlib_resources
# there without declaring it: requirements.txt and the `data` extra list it.
import tensorflow_datasets as tfds
# TFDS's own tf.train.Example proto (no TensorFlow), as its numpy decoding uses.
from tensorflow_datasets.proto import tf_example_pb2

from gil_jax.data import DataFileNotFoundError

MNIST_FILENAME = "mnist.npz"
# sha256 of the shared mnist.npz, as given in its README.
MNIST_SHA256 = (
    "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64")
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)
NUM_PIXELS = 28 * 28
_SPLIT_KEYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
_DEFAULT_MANUAL_DIR = (pathlib.Path(__file__).resolve().parents[1].parent
                       / "shared" / "data" / "mnist")
# Records per __getitems__ call: large enough to amortise the per-call cost,
# small enough that the undecoded records of one batch stay a few MB.
_READ_BATCH = 8192


def default_manual_dir() -> str:
  """The shared raw data: ``<repo>/../shared/data/mnist``."""
  return os.fspath(_DEFAULT_MANUAL_DIR)


def sha256_of(path: str | os.PathLike) -> str:
  """Hex sha256 of a file's bytes."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def verify_raw_file(manual_dir: str | os.PathLike,
                    expected_sha256: str = MNIST_SHA256) -> str:
  """Checks that ``manual_dir/mnist.npz`` exists and has the expected sha256.

  Args:
    manual_dir: folder that should hold ``mnist.npz``.
    expected_sha256: hex sha256 the file must have.

  Returns:
    The file's path.

  Raises:
    DataFileNotFoundError: the file is missing (also a ``ValueError``).
    ValueError: the file's sha256 differs (a corrupt or different file).
  """
  path = os.fspath(pathlib.Path(manual_dir) / MNIST_FILENAME)
  if not os.path.isfile(path):
    raise DataFileNotFoundError(
        f"MNIST raw file not found: {path!r} (expected sha256 "
        f"{expected_sha256}). {GilMnist.MANUAL_DOWNLOAD_INSTRUCTIONS}")
  actual = sha256_of(path)
  if actual != expected_sha256:
    raise ValueError(
        f"MNIST raw file {path!r} has sha256 {actual}, expected "
        f"{expected_sha256}: the file is corrupt or not the expected one")
  return path


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Reads and checks the four arrays of an MNIST npz (no TFDS involved).

  Args:
    path: an npz with ``x_train``, ``y_train``, ``x_test``, ``y_test``.

  Returns:
    The four arrays: images ``uint8 [N, 28, 28]``, labels ``uint8 [N]``.

  Raises:
    ValueError: a key is missing, or an array has the wrong dtype or shape,
      or a label lies outside ``[0, 10)``.
  """
  path = os.fspath(path)
  with np.load(path, allow_pickle=False) as npz:
    missing = [k for keys in _SPLIT_KEYS.values() for k in keys
               if k not in npz.files]
    if missing:
      raise ValueError(f"{path!r} lacks the array(s) {missing}; "
                       f"it holds {sorted(npz.files)}")
    arrays = {k: npz[k] for keys in _SPLIT_KEYS.values() for k in keys}
  for x_key, y_key in _SPLIT_KEYS.values():
    x, y = arrays[x_key], arrays[y_key]
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE[:2]:
      raise ValueError(f"{path!r}: {x_key} must be uint8 [N, 28, 28], got "
                       f"{x.dtype} {x.shape}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
      raise ValueError(f"{path!r}: {y_key} must have shape ({x.shape[0]},) "
                       f"to match {x_key}, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
      raise ValueError(f"{path!r}: {y_key} must hold integer labels, got "
                       f"{y.dtype}")
    bad = (y < 0) | (y >= NUM_CLASSES)
    if bad.any():
      raise ValueError(f"{path!r}: {y_key} holds labels outside "
                       f"[0, {NUM_CLASSES}): {np.unique(y[bad])[:10]}")
  return arrays


class GilMnist(tfds.core.GeneratorBasedBuilder):
  """MNIST digits from a local ``mnist.npz``; splits ``train`` and ``test``.

  The file format defaults to ArrayRecord (TFDS's default, TFRecord, needs
  TensorFlow to write and is not random access). ``expected_sha256``
  overrides the raw file's checksum, e.g. for a small fake file in tests.
  """

  name = "gil_mnist"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "From mnist.npz; raw uint8 images, IDX order."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f"Put {MNIST_FILENAME} (keys x_train, y_train, x_test, y_test; sha256 "
      f"{MNIST_SHA256}) in the manual directory; the shared copy and its "
      "provenance are in ../shared/data/mnist/ (README.md there).")

  def __init__(self, *, expected_sha256: str = MNIST_SHA256, **kwargs: Any):
    self._expected_sha256 = expected_sha256
    kwargs.setdefault("file_format", "array_record")
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            # Raw bytes: the default encoding would widen each pixel to int64.
            "image": tfds.features.Tensor(
                shape=IMAGE_SHAPE, dtype=np.uint8,
                encoding=tfds.features.Encoding.BYTES),
            "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
        }),
        supervised_keys=("image", "label"),
        metadata=tfds.core.MetadataDict(),
        # Keep the IDX order, so record i is example i of the npz.
        disable_shuffling=True,
        homepage="http://yann.lecun.com/exdb/mnist/",
        citation=(
            "@article{lecun2010mnist, title={MNIST handwritten digit "
            "database}, author={LeCun, Yann and Cortes, Corinna and Burges, "
            "CJ}, journal={ATT Labs [Online]. Available: "
            "http://yann.lecun.com/exdb/mnist}, volume={2}, year={2010}}"),
    )

  def _split_generators(self, dl_manager):
    path = verify_raw_file(dl_manager.manual_dir, self._expected_sha256)
    self.info.metadata[MNIST_FILENAME + ".sha256"] = self._expected_sha256
    arrays = read_npz(path)
    return {split: self._generate_examples(arrays[x_key], arrays[y_key])
            for split, (x_key, y_key) in _SPLIT_KEYS.items()}

  def _generate_examples(self, images: np.ndarray, labels: np.ndarray):
    for i in range(images.shape[0]):
      yield i, {"image": images[i, :, :, None], "label": int(labels[i])}


def make_builder(data_dir: str | os.PathLike | None = None,
                 expected_sha256: str = MNIST_SHA256) -> GilMnist:
  """The :class:`GilMnist` builder (ArrayRecord) for ``data_dir``."""
  if data_dir is not None:
    data_dir = os.fspath(data_dir)
  return GilMnist(data_dir=data_dir, expected_sha256=expected_sha256)


def _is_raw_bytes_image(features: tfds.features.FeaturesDict) -> bool:
  """Whether ``image`` is stored as raw bytes, as :class:`GilMnist` does."""
  image = features["image"]
  # Exactly Tensor: its subclasses (ClassLabel, Text, ...) decode otherwise.
  # pylint: disable-next=unidiomatic-typecheck
  if type(image) is not tfds.features.Tensor:
    return False
  # TFDS has no public accessor for a Tensor's encoding; if this private one
  # goes away, reading falls back to TFDS's (slower) decoding, still correct.
  return getattr(image, "_encoding", None) == tfds.features.Encoding.BYTES


def _read_split(source: Sequence[bytes], features: tfds.features.FeaturesDict
                ) -> tuple[np.ndarray, np.ndarray]:
  """All ``(image, label)`` of a raw-bytes data source, in record order.

  Args:
    source: a data source that returns serialized ``tf.train.Example`` s
      (``DeserializeMethod.RAW_BYTES``).
    features: the dataset's features, to decode the records.

  Returns:
    ``(x, y)``: float32 ``[N, 784]`` in ``[0, 1]`` and int32 ``[N]``.

  Raises:
    ValueError: the images are not uint8 ``[28, 28, 1]``.
  """
  n = len(source)
  pixels = np.empty((n, NUM_PIXELS), np.uint8)
  y = np.empty((n,), np.int32)
  fast = _is_raw_bytes_image(features)
  # One __getitems__ call per batch: array_record reads a batch in one go,
  # while one __getitem__ per record costs several times as much.
  for start in range(0, n, _READ_BATCH):
    stop = min(start + _READ_BATCH, n)
    records = source.__getitems__(range(start, stop))
    if fast:
      # TFDS's generic numpy decoding works through each record in Python; a
      # bare proto parse plus one frombuffer per batch is much faster.
      images, labels = [], []
      for record in records:
        feature = tf_example_pb2.Example.FromString(record).features.feature
        images.append(feature["image"].bytes_list.value[0])
        labels.append(feature["label"].int64_list.value[0])
      batch = np.frombuffer(b"".join(images), np.uint8)
      if batch.size != (stop - start) * NUM_PIXELS:
        raise ValueError(f"expected {NUM_PIXELS} bytes per image, got "
                         f"{batch.size / (stop - start):g} on average")
    else:
      # E.g. TFDS's own mnist: PNG images, decoded by OpenCV or Pillow.
      examples = [features.deserialize_example_np(r) for r in records]
      batch = np.stack([np.asarray(e["image"]) for e in examples])
      if batch.shape[1:] != IMAGE_SHAPE or batch.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of shape {IMAGE_SHAPE}, got "
                         f"{batch.dtype} {batch.shape[1:]}")
      labels = [e["label"] for e in examples]
    pixels[start:stop] = batch.reshape(stop - start, NUM_PIXELS)
    y[start:stop] = labels
  # Division, not multiplication by 1/255, so values equal x / 255 exactly.
  return pixels.astype(np.float32) / np.float32(255), y


def load_mnist(data_dir: str | os.PathLike | None = None,
               manual_dir: str | os.PathLike | None = None,
               tfds_name: str | None = None,
               *,
               expected_sha256: str = MNIST_SHA256) -> dict[str, np.ndarray]:
  """Loads MNIST as flat arrays, preparing the TFDS dataset on first use.

  Args:
    data_dir: TFDS data directory of the prepared ArrayRecord files; default
      TFDS's own (``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``).
    manual_dir: folder with ``mnist.npz``, read only when preparing; default
      :func:`default_manual_dir`.
    tfds_name: read an already prepared TFDS dataset of this name (e.g.
      ``"mnist"`` or ``"mnist:3.0.1"``) from ``data_dir`` instead of
      :class:`GilMnist`. It must have ``image`` (uint8 ``[28, 28, 1]``) and
      ``label`` features and ``train``/``test`` splits in a random-access
      format (ArrayRecord); it is never downloaded or prepared here.
      ``manual_dir`` and ``expected_sha256`` are then unused. PNG images (as
      in TFDS's ``mnist``) are decoded with OpenCV or Pillow, and the
      example order is that dataset's, not the IDX order.
    expected_sha256: sha256 that ``mnist.npz`` must have.

  Returns:
    ``{"x_train": float32 [60000, 784] in [0, 1], "y_train": int32 [60000],
    "x_test": float32 [10000, 784], "y_test": int32 [10000]}``, rows in the
    raw file's order.

  Raises:
    DataFileNotFoundError: preparing is needed and ``mnist.npz`` is missing,
      or ``tfds_name`` is not prepared in ``data_dir``.
    ValueError: ``mnist.npz`` has another sha256 or malformed arrays, or the
      ``tfds_name`` dataset is not in a random-access format.

  A prepared dataset is reused as it is; its ``metadata.json`` records the
  raw file's sha256. Delete ``<data_dir>/gil_mnist`` to prepare again.
  """
  if data_dir is not None:
    data_dir = os.fspath(data_dir)
  if tfds_name is None:
    builder = make_builder(data_dir, expected_sha256)
    if not builder.is_prepared():
      manual_dir = default_manual_dir() if manual_dir is None else manual_dir
      # Fail before TFDS creates any folder, naming the file, not the folder.
      verify_raw_file(manual_dir, expected_sha256)
      builder.download_and_prepare(
          download_config=tfds.download.DownloadConfig(
              manual_dir=os.fspath(manual_dir)))
    name = builder.name
  else:
    builder = tfds.builder(tfds_name, data_dir=data_dir)
    if not builder.is_prepared():
      raise DataFileNotFoundError(
          f"TFDS dataset {tfds_name!r} is not prepared in "
          f"{os.fspath(builder.data_path)!r}; prepare it there with "
          "file_format='array_record', or leave tfds_name unset to build "
          f"{GilMnist.name!r} from {MNIST_FILENAME}")
    name = tfds_name
  # The folder the builder resolved (TFDS may look in several): given no
  # data_dir, tfds.data_source would also force ArrayRecord on the builder,
  # hiding the clearer error below for a TFRecord-only dataset.
  data_dir = os.fspath(builder.data_dir_root)
  try:
    # download=False: preparing is done above, and nothing is ever fetched.
    sources = tfds.data_source(
        name, split=list(_SPLIT_KEYS), data_dir=data_dir, download=False,
        deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
  except NotImplementedError as e:
    raise ValueError(
        f"TFDS dataset {name!r} in {os.fspath(builder.data_path)!r} has no "
        f"random-access (ArrayRecord) files: {e}") from e
  out = {}
  for (x_key, y_key), source in zip(_SPLIT_KEYS.values(), sources):
    out[x_key], out[y_key] = _read_split(source,
                                         source.dataset_info.features)
  return out
