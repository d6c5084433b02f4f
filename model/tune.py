"""Level tuning: train each layer's K levels and biases of a codebook network, with every
connection's sign and level index frozen, so the result is a register write to a running core.

The network is run through a differentiable twin of the integer network (JAX, float64): the
forward pass computes exactly :func:`lognet.model.reference.reference`'s integers (levels and
biases rounded to their formats, the exact accumulator, ReLU, the requantising shift with the
output format's rounding, saturation or wrap), while the backward pass treats every rounding
and wrap as the identity (straight-through gradients). Every value is an integer far below
2**53, so float64 holds it exactly and the order of additions does not matter; tuning refuses
layers whose accumulator could leave that range.

Two ways to parametrise a layer's levels (``family``):

- ``free``: the K levels themselves.
- ``lognormal`` / ``lognormal-quantile``: the levels are the K Lloyd-Max points (or the
  ``(k + 1/2) / K`` quantiles) of LN(mu, sigma), the same points as the ``lognormal-lloyd``
  and ``lognormal-quantile`` pickers of :mod:`lognet.model.levels` give for a fitted law. Two
  numbers per layer: a third, an amplitude, would only multiply every level and is already
  ``exp(mu)``. A level 0 (``--zero-level``) stays at 0 and the family spans the others.

Levels are kept on what the core can hold: integers of the level format, strictly increasing
(rounding that merges two levels pushes the upper one up, and at the top of the format the
lower ones down), and for ``arith=shift`` cores only sums of as many powers of two as the
build's shift terms (:func:`level_candidates`). Biases stay in the bias format.

Free levels first pass through a differentiable ordering (:meth:`_Grid.order`: a level that
its lower neighbour or the format's range holds back moves with the level that holds it, so
the group takes the gradient of all its connections), and after every step each parameter is
put back inside what the core holds (:func:`_feasible`). With the rounding alone straight-
through, a held-back level would take only its own connections' gradient while the forward
pass moves it with its neighbour, and the training loss climbs back after a few epochs.

The epoch kept is the one with the best integer accuracy on the training split (ties: the lower
loss), the starting point included, so tuning never lowers the training accuracy. The tuned
spec is then checked against the bit-exact reference: the accuracy reported is the integer
network's.

``reassign=True`` (cores with ``tunable=all`` only: it rewrites connection words) also trains
a latent weight per connection and, after every epoch, moves each connection to the level
nearest its latent weight, with the latent weight's sign.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lognet.base.errors import InputError

from .arch import Activation, Arith, Tunable
from .levels import assign
from .qformat import Rounding
from .reference import check_inputs, reference
from .spec import LayerSpec, NetworkSpec
from .validate import level_terms

__all__ = ["DATA_KEYS", "FAMILIES", "LayerTune", "TuneData", "TuneResult", "family_points",
           "fit_family", "level_candidates", "load_tune_data", "network_forward", "noisy_images",
           "shift_images", "tune_network"]

#: level parametrisations (``--family``)
FAMILIES = ("free", "lognormal", "lognormal-quantile")
#: the largest integer float64 holds exactly: every accumulator must stay below it
EXACT_LIMIT = 2**53
#: most weights of one layer's dense matrix (the twin builds it every step): 16 M (128 MB)
MAX_DENSE = 1 << 24
#: bound of the loss's log temperature (a factor of e**4 ~ 55 either way): once every
#: training vector is right, a free temperature would grow without end
TEMP_LOG_MAX = 4.0
#: plain Lloyd-Max steps, then Newton steps, to the family's points (from its quantiles)
LLOYD_PLAIN = 3
LLOYD_NEWTON = 40
#: range of a family's sigma (log units): narrower than any useful level table, wider than
#: an 8-bit one can span
SIGMA_MIN, SIGMA_MAX = 0.02, 2.0
#: sigma of a one-level family (any value gives the same single level, exp(mu))
SIGMA_START = 0.5


def _jax():
    """JAX with float64 enabled (the twin's integers need 53 bits)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


# -- what a core can hold ------------------------------------------------------------------------


def level_candidates(layer: LayerSpec) -> np.ndarray | None:
    """Every level value a core built from ``layer`` (its arith resolved) can hold, ascending,
    or None when that is every integer of the level format. ``arith=shift`` holds only values
    with at most as many set bits as the build's shift terms (one for pow2 levels, two for
    APoT)."""
    if layer.arch.arith is not Arith.SHIFT:
        return None
    terms = max(1, max(len(level_terms(v)) for v in layer.levels))
    w = layer.level_fmt.width
    vals = {0} | {1 << a for a in range(w)}
    if terms >= 2:
        vals |= {(1 << a) | (1 << b) for a in range(w) for b in range(a)}
    return np.array(sorted(v for v in vals if v <= layer.level_fmt.max_int), dtype=np.float64)


class _Grid:
    """The values a layer's levels may take, as indices ``0..M-1`` (the values themselves for a
    plain format, positions in a candidate list for a shift build), with the projection that
    puts a real-valued table on it strictly increasing."""

    def __init__(self, layer: LayerSpec, candidates):
        self.cands = None if candidates is None else np.asarray(candidates, dtype=np.float64)
        self.M = layer.level_fmt.max_int + 1 if self.cands is None else len(self.cands)
        if self.M < layer.K:
            raise InputError(f"layer {layer.name!r}: {layer.K} levels do not fit the "
                             f"{self.M} values the core can hold")

    def _nearest_index(self, jnp, L):
        if self.cands is None:
            return jnp.clip(jnp.floor(L + 0.5), 0, self.M - 1)
        c = jnp.asarray(self.cands)
        pos = jnp.clip(jnp.searchsorted(c, L), 1, self.M - 1)
        lo, hi = c[pos - 1], c[pos]
        return jnp.where(hi - L <= L - lo, pos, pos - 1).astype(jnp.float64)

    def _value(self, jnp, i):
        return i if self.cands is None else jnp.asarray(self.cands)[i.astype(jnp.int64)]

    def order(self, jnp, L):
        """``L`` (real) inside the range the core holds and at least 1 apart, increasing: a
        differentiable map (each level that the order or the range holds back moves with the
        one that holds it), the identity on tables that already are so."""
        import jax

        K = L.shape[0]
        lo = 0.0 if self.cands is None else float(self.cands[0])
        hi = float(self.M - 1) if self.cands is None else float(self.cands[-1])
        k = jnp.arange(K, dtype=jnp.float64)
        L = jax.lax.cummax(jnp.maximum(L, lo + k) - k, axis=0) + k
        return jnp.minimum(L, hi - (K - 1) + k)  # keeps the gaps: the bound rises by 1 a level

    def project(self, jnp, L, lo_index=0):
        """``L`` (real, in level-format integers) to the nearest values the core holds,
        strictly increasing, as float64; ``lo_index`` is the lowest index the first may take."""
        import jax

        K = L.shape[0]
        i = self._nearest_index(jnp, L)
        k = jnp.arange(K, dtype=jnp.float64)
        i = jnp.maximum(i, lo_index + k)
        i = jax.lax.cummax(i - k, axis=0) + k
        i = jnp.minimum(i, self.M - K + k)
        return self._value(jnp, i)


# -- the lognormal family ------------------------------------------------------------------------


def _lloyd_step(jnp, lv, sigma):
    """One Lloyd-Max step on LN(0, sigma): each point to the mean of its cell, with the closed
    form partial moments (as :mod:`lognet.model.levels`' ``lognormal-lloyd`` picker)."""
    from jax.scipy.special import ndtr

    zero, one = jnp.zeros(1), jnp.ones(1)
    lb = jnp.log((lv[1:] + lv[:-1]) / 2)  # interior cell boundaries, in log
    F = jnp.concatenate((zero, ndtr(lb / sigma), one))
    G = jnp.concatenate((zero, ndtr((lb - sigma**2) / sigma), one))
    return jnp.exp(sigma**2 / 2) * jnp.diff(G) / jnp.maximum(jnp.diff(F), 1e-300)


def family_points(jnp, sigma, K: int, kind: str = "lognormal"):
    """The K points of LN(0, sigma): Lloyd-Max (``lognormal``) or quantiles (``lognormal-
    quantile``); LN(mu, sigma)'s points are ``exp(mu)`` times these. Differentiable in
    ``sigma``.

    The Lloyd-Max fixed point ``u = h(u)`` (``h``: one Lloyd step in log coordinates) is found
    from the quantiles by plain steps, then Newton steps (a K x K solve each; a Newton step that
    would unorder the points or not lower the residual is replaced by a plain one). Its
    derivative is the implicit one, ``(I - dh/du)^-1 dh/dsigma``, not one through the
    iterations (which stop once the residual is below 1e-14). Within 1e-9 of the fixed point
    for K <= 16 and sigma <= 2 (the tests compare with the picker's own iteration)."""
    import jax

    z = jax.scipy.special.ndtri((jnp.arange(K, dtype=jnp.float64) + 0.5) / K)
    if kind == "lognormal-quantile":
        return jnp.exp(sigma * z)
    if K == 1:
        return jnp.exp(sigma**2 / 2) * jnp.ones(1)
    s0 = jax.lax.stop_gradient(sigma)

    def h(u, s):
        return jnp.log(_lloyd_step(jnp, jnp.exp(u), s))

    def g(u):
        return h(u, s0) - u

    def plain(_, u):
        return h(u, s0)

    def newton(state):
        i, u, r = state
        nu = u - jnp.linalg.solve(jax.jacfwd(g)(u), r)
        ok = jnp.all(jnp.diff(nu) > 0) & jnp.all(jnp.isfinite(nu))
        nr = g(jnp.where(ok, nu, u))
        better = ok & (jnp.sum(nr**2) < jnp.sum(r**2))
        u = jnp.where(better, nu, u + r)
        return i + 1, u, g(u)

    def going(state):
        i, _, r = state
        return (i < LLOYD_NEWTON) & (jnp.max(jnp.abs(r)) > 1e-14)

    u = jax.lax.fori_loop(0, LLOYD_PLAIN, plain, s0 * z)
    _, u, _ = jax.lax.while_loop(going, newton, (0, u, g(u)))
    u = jax.lax.stop_gradient(u)
    H = jax.lax.stop_gradient(jax.jacfwd(lambda v: h(v, s0))(u))
    # the value is u (its residual is at rounding level); the derivative the implicit one
    return jnp.exp(u + jnp.linalg.solve(jnp.eye(K) - H, h(u, sigma) - u))


@functools.lru_cache(maxsize=None)
def _family_fn(K: int, kind: str):
    """``sigma -> (points, d points / d sigma)`` of :func:`family_points`, compiled once per
    ``(K, kind)``."""
    jax = _jax()
    import jax.numpy as jnp

    def f(sigma):
        return jax.jvp(lambda s: family_points(jnp, s, K, kind), (sigma,), (jnp.ones(()),))

    return jax.jit(f)


def _points(K: int, kind: str, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    p, d = _family_fn(K, kind)(np.float64(sigma))
    return np.asarray(p), np.asarray(d)


def fit_family(levels, kind: str = "lognormal") -> tuple[float, float]:
    """``(mu, sigma)`` of the family whose K points are nearest ``levels`` (> 0) in log: sigma
    by a grid search narrowed on finer grids, mu in closed form. In the units of ``levels``."""
    lg = np.log(np.asarray(levels, dtype=np.float64))
    K = len(lg)
    if K == 1:
        return float(lg[0]), SIGMA_START

    def cost(sig):
        lp = np.log(_points(K, kind, sig)[0])
        mu = float((lg - lp).mean())
        return float(((lg - lp - mu) ** 2).sum()), mu

    grid = np.geomspace(SIGMA_MIN, SIGMA_MAX, 120)
    for _ in range(4):  # narrow the bracket on finer grids
        c = [cost(g)[0] for g in grid]
        i = int(np.argmin(c))
        grid = np.linspace(grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)], 21)
    s = float(grid[10])
    return cost(s)[1], s


# -- the differentiable twin of the integer network ----------------------------------------------


@dataclass
class _Layer:
    """What the twin needs of one layer (static: shapes, formats, the level grid)."""

    spec: LayerSpec
    grid: _Grid
    out: np.ndarray
    src: np.ndarray
    #: scale of the level parameters (the largest starting level, >= 1)
    s_level: float
    #: scale of the bias parameters (one full-scale product in bias units, >= 1)
    s_bias: float
    #: the fixed zero level of a family (levels[0] == 0)
    zero: bool = False


def _ste(x, q):
    """``q`` forward (exactly: ``x - x`` is 0), the identity backward."""
    import jax

    return q + (x - jax.lax.stop_gradient(x))


def _stop(x):
    import jax

    return jax.lax.stop_gradient(x)


def _requantise(jnp, acc, s: LayerSpec):
    """``clamp_or_wrap(shift_round(acc, shift, rounding), out_fmt)`` on exact float64
    integers, straight-through for the rounding and the wrap."""
    f = s.out_fmt
    v = acc / float(2**s.shift)  # exact: a power of two
    if s.shift:
        if f.rounding is Rounding.FLOOR:
            q = jnp.floor(v)
        elif f.rounding is Rounding.HALF_UP:
            q = jnp.floor(v + 0.5)
        else:
            q = jnp.round(v)  # ties to even, as shift_round's half_even
        v = _ste(v, q)
    if f.saturate:
        return jnp.clip(v, f.min_int, f.max_int)
    mod = float(2**f.width)
    return _ste(v, v - mod * jnp.floor((v - f.min_int) / mod))


def _levels(jnp, lay: _Layer, p, aux, family: str):
    """The layer's level table (float64 integers, straight-through) from its parameters.

    A family's points come in ``aux`` (``pts`` and ``dpts``, their derivative, at
    ``sig0``, the current sigma, computed outside the compiled step): the value is ``pts``
    exactly and the derivative the family's."""
    if family == "free":
        L = lay.grid.order(jnp, p["u"] * lay.s_level)
        return _ste(L, lay.grid.project(jnp, L))
    sig = _ste(p["sigma"], jnp.clip(p["sigma"], SIGMA_MIN, SIGMA_MAX))
    L = jnp.exp(p["mu"]) * (aux["pts"] + aux["dpts"] * (sig - aux["sig0"]))
    if lay.zero:
        q = lay.grid.project(jnp, L, lo_index=1)
        return jnp.concatenate((jnp.zeros(1), _ste(L, q)))
    return _ste(L, lay.grid.project(jnp, L))


def _layer_forward(jnp, lay: _Layer, p, aux, x, family: str):
    s = lay.spec
    L = _levels(jnp, lay, p, aux, family)
    sign, idx = aux["sign"], aux["index"]
    w = jnp.where(sign == 1, -L[idx], L[idx])
    if "z" in p:  # reassign: the latent weight takes the same gradient
        z = p["z"] * lay.s_level
        w = w + (z - _stop(z))
    W = jnp.zeros((s.n_out, s.n_in)).at[lay.out, lay.src].add(w)
    B = p["v"] * lay.s_bias
    B = _ste(B, jnp.clip(jnp.floor(B + 0.5), s.bias_fmt.min_int, s.bias_fmt.max_int))
    acc = x @ W.T + B[None, :] * float(2**s.bias_shift)
    if s.activation is Activation.RELU:
        acc = jnp.maximum(acc, 0.0)
    return _requantise(jnp, acc, s)


def _forward(jnp, layers, params, aux, x, family):
    y = x
    for lay, p, a in zip(layers, params, aux):
        y = _layer_forward(jnp, lay, p, a, y, family)
    return y


def _prepare(net: NetworkSpec, candidates, family: str) -> list[_Layer]:
    out = []
    for i, s in enumerate(net.layers):
        if s.n_in * s.n_out > MAX_DENSE:
            raise InputError(f"layer {s.name!r}: {s.n_in} x {s.n_out} is more than the "
                             f"{MAX_DENSE} weights tuning builds densely; tune a smaller network")
        lo, hi = s.acc_range
        if max(-lo, hi) >= EXACT_LIMIT:
            raise InputError(f"layer {s.name!r}: its accumulator reaches {s.acc_width} bits, "
                             f"beyond the 53 that tuning computes exactly; narrow the formats")
        f = s.flat
        top = max(1.0, float(max(s.levels)))
        prod = top * s.level_fmt.step * s.in_fmt.max_abs_int * s.in_fmt.step
        s_bias = max(1.0, prod / s.bias_fmt.step)
        zero = family != "free" and s.levels[0] == 0
        if family != "free" and s.K - int(zero) < 1:
            raise InputError(f"layer {s.name!r}: a level family needs a non-zero level")
        out.append(_Layer(s, _Grid(s, candidates[i] if candidates else None), f["out"],
                          f["src"], top, s_bias, zero))
    return out


def _init_params(jnp, layers: list[_Layer], family: str, reassign: bool) -> list[dict]:
    params = []
    for lay in layers:
        s = lay.spec
        p = {"v": jnp.asarray(np.asarray(s.bias, dtype=np.float64) / lay.s_bias)}
        lv = np.asarray(s.levels, dtype=np.float64)
        if family == "free":
            p["u"] = jnp.asarray(lv / lay.s_level)
        else:
            mu, sigma = fit_family(lv[int(lay.zero):], family)
            p["mu"] = jnp.asarray(mu)
            p["sigma"] = jnp.asarray(sigma)
        if reassign:
            f = s.flat
            p["z"] = jnp.asarray(np.where(f["sign"] == 1, -lv[f["index"]], lv[f["index"]])
                                 / lay.s_level)
        params.append(p)
    return params


def _feasible(jnp, layers: list[_Layer], params: list[dict]) -> list[dict]:
    """The parameters put back inside what the core can hold, after every step: free levels
    through :meth:`_Grid.order` (in range, increasing, at least 1 apart; not rounded), biases
    to their format's range, sigma to its range. Otherwise a parameter past a bound (a level
    under its neighbour, a bias past saturation) takes gradients the forward pass does not
    follow, and drifts on: a level would have to come all the way back before it moved
    again."""
    out = []
    for lay, p in zip(layers, params):
        q, f = dict(p), lay.spec.bias_fmt
        if "u" in p:
            q["u"] = lay.grid.order(jnp, p["u"] * lay.s_level) / lay.s_level
        if "sigma" in p:
            q["sigma"] = jnp.clip(p["sigma"], SIGMA_MIN, SIGMA_MAX)
        q["v"] = jnp.clip(p["v"] * lay.s_bias, f.min_int - 0.5, f.max_int + 0.5) / lay.s_bias
        out.append(q)
    return out


def _aux(jnp, net: NetworkSpec, layers, params, family: str, conns=None) -> list[dict]:
    """Per layer, what the compiled step takes besides the parameters: the signs and indices
    (``conns``: other ones, after a reassignment) and a family's points at the current
    sigma."""
    out = []
    for i, (s, lay, p) in enumerate(zip(net.layers, layers, params)):
        a = ({"sign": jnp.asarray(s.flat["sign"]), "index": jnp.asarray(s.flat["index"])}
             if conns is None else {"sign": conns[i]["sign"], "index": conns[i]["index"]})
        if family != "free":
            sig0 = float(np.clip(float(p["sigma"]), SIGMA_MIN, SIGMA_MAX))
            pts, dpts = _points(s.K - int(lay.zero), family, sig0)
            a.update(pts=jnp.asarray(pts), dpts=jnp.asarray(dpts), sig0=jnp.asarray(sig0))
        out.append(a)
    return out


def network_forward(net: NetworkSpec, x, *, family: str = "free", candidates=None):
    """The twin's forward pass at the spec's own levels and biases: integer outputs (int64),
    which equal :func:`~lognet.model.reference.reference` exactly (the tests check it)."""
    _jax()
    import jax.numpy as jnp

    net = _as_network(net)
    layers = _prepare(net, candidates, "free")
    params = _init_params(jnp, layers, "free", False)
    x = check_inputs(net, x).astype(np.float64)
    jax = _jax()
    fwd = jax.jit(lambda p, a, x: _forward(jnp, layers, p, a, x, "free"))
    y = fwd(params, _aux(jnp, net, layers, params, "free"), jnp.asarray(x))
    return np.asarray(y).astype(np.int64)


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerTune:
    """One layer's tables before and after tuning."""

    name: str
    levels_before: tuple[int, ...]
    levels_after: tuple[int, ...]
    #: the level format's LSB in real units (levels in real units are ``levels * step``)
    level_step: float
    bias_changed: int
    n_bias: int
    #: (mu, sigma) of the family in real units, before and after (None: free levels)
    family_before: tuple[float, float] | None = None
    family_after: tuple[float, float] | None = None
    #: connections whose sign or index changed (``reassign`` only)
    conn_changed: int = 0

    def to_json(self) -> dict:
        d = {"name": self.name, "levels_before": list(self.levels_before),
             "levels_after": list(self.levels_after),
             "levels_before_real": [v * self.level_step for v in self.levels_before],
             "levels_after_real": [v * self.level_step for v in self.levels_after],
             "biases_changed": self.bias_changed, "biases": self.n_bias}
        if self.family_before is not None:
            d["family_before"] = {"mu": self.family_before[0], "sigma": self.family_before[1]}
            d["family_after"] = {"mu": self.family_after[0], "sigma": self.family_after[1]}
        if self.conn_changed:
            d["connections_changed"] = self.conn_changed
        return d


@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune_network` returns: the tuned spec and how it got there."""

    #: the tuned network (a lone layer comes back as a LayerSpec)
    spec: LayerSpec | NetworkSpec
    family: str
    epochs: int
    seed: int
    #: integer-reference accuracy on the training split, before and after
    train_before: float
    train_after: float
    #: the epoch kept (0: the starting point)
    best_epoch: int
    layers: tuple[LayerTune, ...]
    #: per epoch (0 = start): mean training loss of the integer twin and training accuracy
    loss: tuple[float, ...] = field(default=())
    train_accuracy: tuple[float, ...] = field(default=())
    seconds: float = 0.0
    biases: bool = True
    reassign: bool = False

    def to_json(self) -> dict:
        return {"family": self.family, "epochs": self.epochs, "seed": self.seed,
                "biases_tuned": self.biases, "reassign": self.reassign,
                "train_accuracy_before": self.train_before,
                "train_accuracy_after": self.train_after, "best_epoch": self.best_epoch,
                "seconds": self.seconds, "layers": [la.to_json() for la in self.layers],
                "loss_curve": list(self.loss), "train_accuracy_curve": list(self.train_accuracy)}


# -- tuning --------------------------------------------------------------------------------------


def _as_network(spec) -> NetworkSpec:
    return spec if isinstance(spec, NetworkSpec) else NetworkSpec(spec.name, (spec,))


def _labels(y, n: int, n_out: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        got = f"{len(y)} labels" if y.ndim == 1 else f"labels of shape {y.shape}"
        raise InputError(f"{what}: {got} for {n} inputs; give one label per input")
    if (y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.all(np.isfinite(y)))
            or np.any(y != np.round(y)) or (y.size and (y.min() < 0 or y.max() >= n_out))):
        raise InputError(f"{what}: labels must be whole numbers in 0..{n_out - 1} (the "
                         f"network's {n_out} outputs)")
    return y.astype(np.int64)


def shift_images(x, pixels: int = 1, side: int = 8) -> np.ndarray:
    """Square ``side x side`` images (rows of ``x``) moved right by ``pixels`` (the columns
    that come in are 0): the shifted input distribution of the field-adaptation demo."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != side * side:
        raise InputError(f"images have shape {x.shape[1:]}, expected {side * side} pixels")
    img = x.reshape(len(x), side, side)
    out = np.zeros_like(img)
    if pixels < side:
        out[:, :, pixels:] = img[:, :, :side - pixels]
    return out.reshape(len(x), side * side)


def noisy_images(x, sigma: float, seed: int = 0) -> np.ndarray:
    """``x`` (real inputs in ``[0, 1)``) plus Gaussian noise of standard deviation ``sigma``
    drawn with ``seed``, clipped back to ``[0, 1)`` as the input format saturates: the noisy
    input distribution of the field-adaptation benchmark."""
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(sigma) or sigma < 0:
        raise InputError(f"noise sigma {sigma} must be a finite number >= 0")
    y = x + np.random.default_rng(seed).normal(0.0, sigma, x.shape)
    return np.clip(y, 0.0, np.nextafter(1.0, 0.0))


#: the arrays of a tuning data file (``.npz``); the test pair is optional
DATA_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class TuneData:
    """Labelled inputs for tuning, as integer codes in the network's input format."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


def _codes(spec, a, what: str) -> np.ndarray:
    """Real inputs quantised to the input format, or integer codes checked against it."""
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[1] != spec.n_in or len(a) == 0:
        raise InputError(f"{what}: shape {a.shape}, expected (N, {spec.n_in}) with N >= 1 "
                         f"for a network of {spec.n_in} inputs")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise InputError(f"{what}: holds NaN or inf; clean the inputs first")
        return spec.in_fmt.quantise(a)
    if a.dtype.kind not in "iu":
        raise InputError(f"{what}: {a.dtype} values; give real (float) inputs or integer codes")
    try:
        return check_inputs(spec, a)
    except ValueError as e:
        raise InputError(f"{what}: integer codes {e}; give real values to have them "
                         f"quantised") from None


def load_tune_data(path, spec) -> TuneData:
    """A tuning data file: an ``.npz`` of ``x_train`` (N x n_in), ``y_train`` (N labels in
    ``0..n_out-1``) and optionally ``x_test``, ``y_test``. Real (float) inputs are quantised to
    the spec's input format as the flow does (round to nearest, saturate); integer arrays are
    taken as codes already in that format. Never unpickles."""
    from .weights import _load_npz

    d = _load_npz(Path(path))
    extra = sorted(set(d) - set(DATA_KEYS))
    if extra:
        raise InputError(f"{path}: unknown array {extra[0]!r}; a tuning data file holds "
                         f"{', '.join(DATA_KEYS)}")
    for k in DATA_KEYS[:2]:
        if k not in d:
            raise InputError(f"{path}: no array {k!r}; a tuning data file holds x_train, "
                             f"y_train (and optionally x_test, y_test)")
    if ("x_test" in d) != ("y_test" in d):
        raise InputError(f"{path}: give x_test and y_test together, or neither")
    out = {}
    for split in ("train", "test"):
        if f"x_{split}" not in d:
            continue
        x = _codes(spec, d[f"x_{split}"], f"{path}: x_{split}")
        out[f"x_{split}"] = x
        out[f"y_{split}"] = _labels(d[f"y_{split}"], len(x), spec.n_out, f"{path}: y_{split}")
    return TuneData(**out)


def _real_family(lay: _Layer, p) -> tuple[float, float] | None:
    if "mu" not in p:
        return None
    step = lay.spec.level_fmt.step
    return (float(p["mu"]) + float(np.log(step)),
            float(np.clip(float(p["sigma"]), SIGMA_MIN, SIGMA_MAX)))


#: the most connection updates (epochs x training vectors x connections) one tuning run may
#: take: the demo network tunes 1-2e7 a second on two cores, so this is two hours or more, far
#: past any useful run; more is a mistyped --epochs
MAX_TUNE_WORK = 1 << 37


def tune_network(spec: LayerSpec | NetworkSpec, x_train, y_train, *, family: str = "free",
                 epochs: int = 60, seed: int = 0, lr: float | None = None, batch: int = 128,
                 biases: bool = True, reassign: bool = False, candidates=None) -> TuneResult:
    """Tune the levels (and biases) of ``spec`` on integer inputs ``x_train`` (in the spec's
    input format) with labels ``y_train``.

    ``candidates``: per layer, the values the built core can hold (:func:`level_candidates` of
    the spec with its arith resolved), or None for every integer of the level format.
    ``lr``: Adam's step, in units of the largest starting level (default 0.01 for free
    levels, 0.02 for a family), decayed to 2 % of it over the run by a cosine schedule."""
    if family not in FAMILIES:
        raise InputError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    if epochs < 0 or batch < 1:
        raise InputError("epochs must be >= 0 and batch >= 1")
    net = _as_network(spec)
    for s in net.layers:
        if s.arch.tunable is Tunable.NONE:
            raise InputError(f"layer {s.name!r} is built with tunable=none: no register can "
                             f"change; rebuild the core with --tunable levels or all")
        if reassign and s.arch.tunable is not Tunable.ALL:
            raise InputError(f"--reassign rewrites connection words, but layer {s.name!r} is "
                             f"built with tunable={s.arch.tunable.value}; rebuild with "
                             f"--tunable all or drop --reassign")
    if candidates is not None and len(candidates) != len(net.layers):
        raise ValueError("candidates needs one entry per layer")
    try:
        x = check_inputs(net, x_train)
    except ValueError as e:
        raise InputError(f"training inputs: {e}") from None
    if len(x) == 0:
        raise InputError("no training inputs")
    y = _labels(y_train, len(x), net.n_out, "training labels")
    work = epochs * len(x) * sum(s.n_conn for s in net.layers)
    if work > MAX_TUNE_WORK:
        raise InputError(f"{epochs:,} epochs over {len(x):,} training vectors through "
                         f"{sum(s.n_conn for s in net.layers):,} connections is {work:.2g} "
                         f"connection updates, more than the {MAX_TUNE_WORK:.2g} a run may "
                         f"take (hours on a laptop); give fewer epochs or a smaller training "
                         f"split")
    t0 = time.perf_counter()
    layers = _prepare(net, candidates, family)
    jax = _jax()
    import jax.numpy as jnp
    import optax

    lparams = _init_params(jnp, layers, family, reassign)
    fam0 = [_real_family(la, p) for la, p in zip(layers, lparams)]
    conns = [{"sign": jnp.asarray(s.flat["sign"]), "index": jnp.asarray(s.flat["index"])}
             for s in net.layers]
    out_step = float(net.out_fmt.step)
    xj, yj = jnp.asarray(x.astype(np.float64)), jnp.asarray(y)
    # the loss sees the logits times a trained temperature (not part of the network: top-1 is
    # the same at any temperature), so sharper logits need not come from larger levels
    params = {"layers": lparams, "log_temp": jnp.zeros(())}

    def loss_fn(params, aux, xb, yb):
        out = _forward(jnp, layers, params["layers"], aux, xb, family)
        logits = out * (out_step * jnp.exp(jnp.clip(params["log_temp"], -TEMP_LOG_MAX,
                                                    TEMP_LOG_MAX)))
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    trained = {"layers": [{k: (k != "v" or biases) for k in p} for p in lparams],
               "log_temp": True}
    n = len(x)
    batch = min(batch, n)
    steps_per_epoch = n // batch  # full batches only: one compiled shape
    total = max(1, epochs * steps_per_epoch)
    base = lr if lr is not None else (0.01 if family == "free" else 0.02)
    sched = optax.cosine_decay_schedule(base, total, alpha=0.02)
    # frozen parameters get a zero update (optax.masked alone would pass their raw gradient)
    opt = optax.multi_transform({True: optax.adam(sched), False: optax.set_to_zero()},
                                trained)
    state = opt.init(params)

    @jax.jit
    def train_step(params, state, aux, xb, yb):
        val, g = jax.value_and_grad(loss_fn)(params, aux, xb, yb)
        upd, state = opt.update(g, state, params)
        params = optax.apply_updates(params, upd)
        return {**params, "layers": _feasible(jnp, layers, params["layers"])}, state, val

    @jax.jit
    def evaluate(params, aux):
        out = _forward(jnp, layers, params["layers"], aux, xj, family)
        return loss_fn(params, aux, xj, yj), jnp.sum(jnp.argmax(out, 1) == yj)

    @jax.jit
    def tables(params, aux):
        return [_levels(jnp, la, p, a, family)
                for la, p, a in zip(layers, params["layers"], aux)]

    def aux_of(params, conns):
        return _aux(jnp, net, layers, params["layers"], family, conns)

    def score(params, aux):
        ce, hits = evaluate(params, aux)
        return float(ce), int(hits) / n

    rng = np.random.default_rng(seed)
    aux = aux_of(params, conns)
    ce, acc = score(params, aux)
    losses, accs = [ce], [acc]
    best = (acc, -ce, 0, params, conns)
    for ep in range(1, epochs + 1):
        order = rng.permutation(n)
        for b in range(steps_per_epoch):
            sel = order[b * batch:(b + 1) * batch]
            params, state, _ = train_step(params, state, aux, xj[sel], yj[sel])
            if family != "free":
                aux = aux_of(params, conns)
        if reassign:
            conns = _reassigned(jnp, layers, params["layers"], tables(params, aux))
            aux = aux_of(params, conns)
        ce, acc = score(params, aux)
        if not np.isfinite(ce):  # diverged (too large a step): keep the best epoch so far
            break
        losses.append(ce)
        accs.append(acc)
        if (acc, -ce) > best[:2]:
            best = (acc, -ce, ep, params, conns)
    _, _, best_ep, params, conns = best
    aux = aux_of(params, conns)
    tuned, per = _tuned_spec(spec, net, layers, params["layers"], conns, tables(params, aux),
                             fam0, family)
    # the twin and the bit-exact reference must agree on every output of the tuned network
    twin = np.asarray(_forward(jnp, layers, params["layers"], aux, xj, family)).astype(np.int64)
    ref = reference(tuned, x)
    if not np.array_equal(twin, ref):
        i, j = map(int, np.argwhere(twin != ref)[0])
        raise RuntimeError(f"the tuning twin differs from the integer reference at input {i}, "
                           f"output {j}: {twin[i, j]} against {ref[i, j]}")
    after = float(np.mean(ref.argmax(1) == y))
    return TuneResult(tuned, family, epochs, seed, accs[0], after, best_ep, tuple(per),
                      tuple(losses), tuple(accs), time.perf_counter() - t0, biases, reassign)


def _reassigned(jnp, layers, params, tabs) -> list[dict]:
    """Each connection on the level nearest its latent weight, with that weight's sign."""
    out = []
    for lay, p, L in zip(layers, params, tabs):
        z = np.asarray(p["z"]) * lay.s_level
        sign, idx = assign(z, np.asarray(L))
        out.append({"sign": jnp.asarray(sign), "index": jnp.asarray(idx)})
    return out


def _tuned_spec(spec, net, layers, params, conns, tabs, fam0, family):
    new, per = [], []
    for lay, p, c, L, f0 in zip(layers, params, conns, tabs, fam0):
        s = lay.spec
        levels = tuple(int(v) for v in np.asarray(L))
        B = np.asarray(p["v"]) * lay.s_bias
        bias = tuple(int(v) for v in np.clip(np.floor(B + 0.5), s.bias_fmt.min_int,
                                             s.bias_fmt.max_int))
        ch = {"levels": levels, "bias": bias}
        moved = 0
        if "z" in p:
            sign, idx = np.asarray(c["sign"]), np.asarray(c["index"])
            f = s.flat
            moved = int(np.count_nonzero((sign != f["sign"]) | (idx != f["index"])))
            cuts = np.cumsum(s.fanins)[:-1]
            ch["signs"] = [r.tolist() for r in np.split(sign, cuts)]
            ch["indices"] = [r.tolist() for r in np.split(idx, cuts)]
        meta = dict(s.meta)
        meta["tuned"] = "free levels" if "u" in p else f"{family} family"
        ch["meta"] = tuple(meta.items())
        t = dataclasses.replace(s, **ch)
        new.append(t)
        per.append(LayerTune(s.name, s.levels, levels, s.level_fmt.step,
                             int(np.count_nonzero(np.asarray(bias) != np.asarray(s.bias))),
                             s.n_out, f0, _real_family(lay, p), moved))
    if isinstance(spec, LayerSpec):
        return new[0], per
    return NetworkSpec(net.name, tuple(new)), per
