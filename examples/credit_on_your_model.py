"""The exact credit of the importance on your own model and batch.

The importance ``a`` of eq. (4) acts on training only through one optimizer update.
:mod:`gil_jax.sources.credit` differentiates a loss *after* that update with respect
to every entry ``a_bj``, exactly and with one extra matmul (no Hessian):

* ``own_loss_sensitivity``: the effect on each sample's own loss (GIL's reward);
* ``heldout_credit``: the effect on the loss of training rows the update did not see.

Your model only needs an ``encoder`` layer and an encoder probe (a zero tensor added
to the encoder's pre-activation, whose gradient is eq. (4)'s ``delta``).  Here: a
Linen MLP with GELU and layer norm, registered as a model, checked against autodiff
through the real Adam update.

  python examples/credit_on_your_model.py
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import gil_jax
from gil_jax.sources import credit


class GeluMLP(nn.Module):
  """Not one of gil_jax's models: GELU, a layer norm after the encoder."""
  width: int
  num_classes: int

  @nn.compact
  def __call__(self, x, probe=None):
    u = nn.Dense(self.width, name="encoder")(x)      # the importance-weighted layer
    if probe is not None:
      u = u + probe
    h = nn.gelu(nn.LayerNorm()(u))
    return nn.Dense(self.num_classes, name="logits")(h), h


def gelu_mlp(hidden, num_classes):
  module = GeluMLP(width=hidden[0], num_classes=num_classes)
  return gil_jax.Model(
      module=module,
      init=lambda key, batch: module.init(key, batch.x),
      apply=lambda params, batch, probe=None: module.apply(params, batch.x, probe),
      observe=None,                                # no RL policy drives it here
      summary_features=lambda h: h, valid_steps=lambda h: None,
      encoder_inputs=lambda batch, h: batch.x,
      probe_shape=lambda batch: batch.x.shape[:-1] + (hidden[0],),
      is_sequence=False)


def main():
  gil_jax.register_model("gelu_mlp", gelu_mlp)
  rng = np.random.default_rng(0)
  n, d = 512, 12
  x = rng.normal(size=(n, d)).astype(np.float32)
  m = (rng.random((n, d)) > 0.3).astype(np.float32)
  y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
  train = gil_jax.Split(x=x * m, m=m, y=y)

  config = gil_jax.TrainConfig(source="mask", model="gelu_mlp", hidden=(32,),
                               batch_size=16)
  predictor = gil_jax.make_predictor(config, num_features=d, num_classes=2)
  params = predictor.init(jax.random.key(0), train)
  batch_idx = jnp.arange(16)
  ctx = predictor.context(jnp.int32(0), gil_jax.default_hparams(config), train,
                          batch_idx, params, predictor.init_optimizer(params))
  a = ctx.batch.m                                   # GIL-H's importance

  own = credit.own_loss_sensitivity(predictor, ctx, a)
  reference = credit.own_loss_sensitivity_autodiff(predictor, ctx, a)
  # float32: agreement to rounding, relative to the largest effect.
  np.testing.assert_allclose(own, reference, rtol=1e-2,
                             atol=1e-3 * float(jnp.abs(reference).max()))

  rows = credit.draw_heldout_rows(jax.random.key(1), train, batch_idx, 128)
  held = credit.heldout_credit(predictor, ctx, a, rows)

  def heldout_loss_after(a):                        # autodiff through the update
    params_after, _ = predictor.lookahead(ctx, a)
    return credit.heldout_loss(predictor, params_after, train, rows)
  reference = -jax.grad(heldout_loss_after)(a)
  np.testing.assert_allclose(held, reference, rtol=1e-2,
                             atol=1e-3 * float(jnp.abs(reference).max()))

  observed = np.asarray(m[:16] > 0)
  print(f"exact credit matches autodiff through Adam; on observed entries the own-"
        f"loss effect is positive for {np.mean(np.asarray(own)[observed] > 0):.0%} "
        f"and the held-out credit for {np.mean(np.asarray(held)[observed] > 0):.0%}")


if __name__ == "__main__":
  main()
