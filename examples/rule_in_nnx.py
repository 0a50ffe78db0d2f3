"""GIL's gradient rule (eq. 4) in your own Flax NNX model and optax loop.

The rule needs nothing of gil_jax's models or trainer: any encoder ``z = x @ W`` whose
matmul is :func:`gil_jax.importance_matmul` gets the kernel gradient

    dW = sum_b (x_b * a_b)^T delta_b                                     # eq. (4)

instead of ``sum_b x_b^T delta_b``; the forward pass is unchanged.  Here the
importance is GIL-H's ``a = m`` (filled-in entries get no encoder gradient), on a
toy table with 40 % of the entries missing.  The script checks the rule against the
per-example definition ``mean_b a_b * grad_b`` and trains a few hundred steps.

  python examples/rule_in_nnx.py
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import gil_jax


class Encoder(nnx.Module):
  """``x @ W + b`` whose kernel gradient is importance-weighted (eq. 4)."""

  def __init__(self, d: int, width: int, rngs: nnx.Rngs):
    self.kernel = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), (d, width)))
    self.bias = nnx.Param(jnp.zeros((width,)))

  def __call__(self, x, importance):
    return gil_jax.importance_matmul(x, self.kernel[...], importance) + self.bias[...]


class Classifier(nnx.Module):
  def __init__(self, d: int, width: int, classes: int, rngs: nnx.Rngs):
    self.encoder = Encoder(d, width, rngs)
    self.head = nnx.Linear(width, classes, rngs=rngs)

  def __call__(self, x, importance):
    return self.head(jax.nn.relu(self.encoder(x, importance)))


def loss_fn(model, x, y, importance):
  logits = model(x, importance)
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def toy_table(rng, n=2048, d=20, missing=0.4):
  x = rng.normal(size=(n, d)).astype(np.float32)
  y = (x[:, :5].sum(1) > 0).astype(np.int32)
  m = (rng.random((n, d)) > missing).astype(np.float32)
  return x * m, m, y            # placeholder 0 where missing


def main():
  x, m, y = toy_table(np.random.default_rng(0))
  model = Classifier(d=x.shape[1], width=64, classes=2, rngs=nnx.Rngs(0))

  # The rule against its definition on one batch: per-example gradients, each
  # encoder-kernel row j scaled by a_bj, averaged over the batch.
  xb, mb, yb = x[:32], m[:32], y[:32]
  grads = nnx.grad(loss_fn)(model, xb, yb, mb)
  graphdef, params = nnx.split(model)

  def example_loss(params, xi, yi):         # one example's loss, plain gradient
    return loss_fn(nnx.merge(graphdef, params), xi[None], yi[None],
                   jnp.ones_like(xi[None]))

  per_example = jax.vmap(jax.grad(example_loss), in_axes=(None, 0, 0))(params, xb, yb)
  reference = jnp.mean(per_example["encoder"]["kernel"][...] * mb[:, :, None], axis=0)
  np.testing.assert_allclose(grads["encoder"]["kernel"][...], reference, atol=1e-6)

  optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

  @nnx.jit
  def train_step(model, optimizer, x, y, importance):
    loss, grads = nnx.value_and_grad(loss_fn)(model, x, y, importance)
    optimizer.update(model, grads)
    return loss

  rng = np.random.default_rng(1)
  first = None
  for step in range(300):
    idx = rng.integers(0, len(y), 128)
    loss = float(train_step(model, optimizer, x[idx], y[idx], m[idx]))
    first = loss if first is None else first
  accuracy = float((model(x, m).argmax(1) == y).mean())
  print(f"rule matches the per-example definition; loss {first:.3f} -> {loss:.3f}, "
        f"training accuracy {accuracy:.3f}")
  assert loss < first and accuracy > 0.7


if __name__ == "__main__":
  main()
