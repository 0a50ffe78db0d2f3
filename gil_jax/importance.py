"""Importance-weighted encoder gradients (GIL, Gao et al. 2022, sec. 2.2, eq. 2-4).

For an encoder ``z = x @ W`` and a batch with per-sample importance ``a_b in [0,1]^d``,
GIL replaces the kernel gradient ``sum_b x_b^T delta_b`` by

    dW = sum_b (x_b * a_b)^T delta_b                                     # eq. (4)

where ``delta_b = dL/dz_b``.  This is the *factored* form of Prop. 1-2: it costs one
matmul, the same as the plain gradient, while the per-example form (``vmap(grad)``
then ``mean_b grad_b * a_b[:, None]``) costs O(B x params) memory.  The forward pass
is unchanged; biases and all later layers keep their ordinary gradients.

Two ways in:

* :func:`importance_matmul` / :class:`ImportanceDense` — a layer whose VJP applies the
  rule, so ``jax.grad`` of any loss built on it gives GIL's encoder gradient.
* :func:`importance_weighted_encoder` — an optax ``GradientTransformationExtraArgs``
  that rewrites the encoder kernel's entry of an ordinary gradient, given the encoder
  inputs, the cotangents at the encoder output and the importance; chain it in front of
  any optax optimizer.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


def _weighted_kernel_grad(x: jax.Array, a: jax.Array, g: jax.Array) -> jax.Array:
  """``sum over leading axes of (x * a)^T g``: eq. (4) for any batch/time layout."""
  xa = (x * a).reshape(-1, x.shape[-1])
  return xa.T @ g.reshape(-1, g.shape[-1])


@jax.custom_vjp
def importance_matmul(x: jax.Array, kernel: jax.Array,
                      importance: jax.Array) -> jax.Array:
  """``x @ kernel`` whose kernel cotangent is ``sum (x * importance)^T g`` (eq. 4).

  Args:
    x: inputs ``[..., d]`` (any leading batch/time axes).
    kernel: ``[d, h]``.
    importance: ``[..., d]`` broadcastable to ``x``; values in ``[0, 1]``.

  Returns:
    ``x @ kernel`` (``[..., h]``), exactly the plain forward pass.
  """
  return x @ kernel


def _importance_matmul_fwd(x, kernel, importance):
  return x @ kernel, (x, kernel, importance)


def _importance_matmul_bwd(res, g):
  x, kernel, importance = res
  a = jnp.broadcast_to(importance, x.shape).astype(x.dtype)
  dkernel = _weighted_kernel_grad(x, a, g).astype(kernel.dtype)
  dx = g @ kernel.T
  # The importance is an action chosen outside the predictor: no gradient flows to it.
  return dx, dkernel, jnp.zeros_like(importance)


importance_matmul.defvjp(_importance_matmul_fwd, _importance_matmul_bwd)


class ImportanceDense(nn.Module):
  """Dense layer (the GIL encoder) whose kernel gradient is importance-weighted.

  ``__call__(x, importance)`` returns ``x @ kernel + bias``.  With ``importance=None``
  the layer is an ordinary ``nn.Dense`` (same parameter names and initialisers).
  """
  features: int
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
  bias_init: Callable[..., Any] = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x: jax.Array, importance: jax.Array | None = None) -> jax.Array:
    kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features),
                        jnp.float32)
    bias = self.param("bias", self.bias_init, (self.features,), jnp.float32)
    if importance is None:
      y = x @ kernel
    else:
      y = importance_matmul(x, kernel, importance)
    return y + bias


# ------------------------------------------------------------------ optax interface


class ImportanceWeightedEncoderState(NamedTuple):
  """Stateless; kept as a NamedTuple so the transformation is a standard optax one."""


def importance_weighted_encoder(
    kernel_path: Sequence[str],
) -> optax.GradientTransformationExtraArgs:
  """Optax transformation that applies GIL's rule (eq. 4) to one encoder kernel.

  The update function takes, besides the gradient pytree, three extra arguments:

  * ``encoder_inputs``: ``[..., d]`` the inputs the encoder saw (placeholder-filled);
  * ``encoder_cotangents``: ``[..., h]`` the gradient of the (mean) loss w.r.t. the
    encoder's pre-activation output, e.g. from :func:`encoder_cotangents`;
  * ``importance``: ``[..., d]`` in ``[0, 1]``.

  It replaces the gradient leaf at ``kernel_path`` by ``sum (x * a)^T delta`` and leaves
  every other leaf untouched, so it can be chained in front of any optimizer::

      tx = optax.chain(importance_weighted_encoder(("params", "encoder", "kernel")),
                       optax.adam(1e-3))
      updates, opt_state = tx.update(grads, opt_state, params, encoder_inputs=x,
                                     encoder_cotangents=delta, importance=a)

  Args:
    kernel_path: keys leading to the encoder kernel in the gradient pytree.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.
  """
  kernel_path = tuple(kernel_path)

  def init_fn(params):
    del params
    return ImportanceWeightedEncoderState()

  def update_fn(updates, state, params=None, *, encoder_inputs, encoder_cotangents,
                importance, **extra_args):
    del params, extra_args
    old = _get_path(updates, kernel_path)
    x = encoder_inputs
    a = jnp.broadcast_to(importance, x.shape).astype(x.dtype)
    new = _weighted_kernel_grad(x, a, encoder_cotangents)
    chex.assert_equal_shape([old, new])
    return _set_path(updates, kernel_path, new.astype(old.dtype)), state

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def encoder_cotangents(loss_with_probe: Callable[[jax.Array], jax.Array],
                       probe_shape: Sequence[int]) -> jax.Array:
  """``dL/dz`` at the encoder output, via a zero probe added to the pre-activation.

  ``loss_with_probe(probe)`` must compute the loss with ``probe`` added to the
  encoder's pre-activation output.  Differentiating w.r.t. the zero probe yields the
  per-sample cotangents ``delta`` that :func:`importance_weighted_encoder` needs.
  """
  return jax.grad(loss_with_probe)(jnp.zeros(probe_shape, jnp.float32))


def _get_path(tree, path):
  for key in path:
    tree = tree[key]
  return tree


def _set_path(tree, path, value):
  if not path:
    return value
  key, rest = path[0], path[1:]
  new = dict(tree)
  new[key] = _set_path(tree[key], rest, value)
  return type(tree)(new) if not isinstance(tree, dict) else new
