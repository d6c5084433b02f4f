"""A network as an Ising model: density of states, mean energy and specific heat, without data.

After "Ising models of deep neural networks" (arXiv:2209.08678). Every neuron is a spin
``s_i = +-1``, every weight a coupling between a neuron and one of the next layer, every bias a
field on its neuron (input neurons have none)::

    E(s) = - sum_l sum_{j,c} W^l[j, c] s^{l+1}_j s^l_c  -  sum_l sum_j b^l[j] s^{l+1}_j

with ``W^l`` stored as ``(n_out, n_in)``. The same code holds the validation systems: the 2-D
nearest-neighbour ferromagnet on an ``L x L`` torus (``J = 1``, no field; Onsager's critical
temperature ``2 / ln(1 + sqrt 2) = 2.269``) and any model small enough to enumerate.

**Density of states.** ``g(E)``, the number of the ``2^N`` spin states with energy ``E``, is
estimated by Wang-Landau sampling (Wang & Landau, PRL 86, 2050, 2001): a single-spin-flip walk
accepting a move from bin ``b`` to ``b'`` with ``min(1, g(b) / g(b'))`` while raising
``ln g`` of the current bin by ``ln f``; ``ln f`` halves each time the histogram of the bins
visited so far is flat (every count at least ``flatness`` times the mean), and from the point
where ``ln f`` falls below ``B / t`` (``B`` bins visited, ``t`` trial flips) it follows
``B / t`` (the 1/t schedule of Belardinelli & Pereyra, PRE 75, 046701, 2007) down to
``ln_f_final``. ``ln g`` is normalised so that ``sum_b g(b) = 2^N``.

**Energy bins.** The lattice's energies are ``-2N + 4k`` exactly, and each is its own bin. A
network's couplings are real, so its energies are binned: ``bins`` equal-width bins over
``[E_lo, E_hi]``, where ``E_lo`` and ``E_hi`` are the lowest and highest energies a layer-wise
descent finds from many random starts (exact enumeration gives the true ones); the first and the
last bin are open-ended, so every state lies in a bin whatever the descent missed. Each bin's
energy is the mean energy of the states in it (exactly, when enumerated; the mean over the
walk's visits, which sample a bin's states uniformly, when sampled). Thermodynamics then uses
``Z(T) = sum_b g_b exp(-E_b / T)``: the spread of energies inside a bin is neglected, which
lowers ``C(T)`` by at most ``width^2 / 12 / T^2`` and matters only below the temperatures where a
few bins carry all the weight. :func:`exact_spectrum` gives the unbinned answer for small models
so the effect can be measured.

**Thermodynamics.** ``<E>(T)`` and ``C(T) = (<E^2> - <E>^2) / T^2`` (``k_B = 1``), both per
spin, on a temperature grid, and the temperature of the peak of ``C`` refined between grid points
by a bounded scalar search.

The walk is a sequential loop of ~10^7-10^9 flips, compiled with Numba (``_wl_kernel.py``,
imported only when a walk runs): in plain Python the same loop took about 1.6 us a flip, two
minutes for the 16 x 16 lattice to ln f = 1e-5 alone, against some 55 ns a flip compiled.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from lognet.base.errors import InputError

__all__ = [
    "MAX_EXACT_SPINS",
    "ONSAGER_TC",
    "DensityOfStates",
    "EnergyBins",
    "IsingModel",
    "analyse_models",
    "default_init",
    "energy_bins",
    "exact_dos",
    "exact_spectrum",
    "network_model",
    "parse_lattice",
    "peak_temperature",
    "plot_ising",
    "spec_layers",
    "square_lattice",
    "thermodynamics",
    "wang_landau",
]

#: Onsager's critical temperature of the infinite square lattice, 2 / ln(1 + sqrt 2)
ONSAGER_TC = 2.0 / math.log(1.0 + math.sqrt(2.0))
#: largest model :func:`exact_dos` enumerates (2^20 states, about 10^6 energies)
MAX_EXACT_SPINS = 20
#: largest model a walk takes (spins), and most couplings (each pair once)
MAX_SPINS = 1_000_000
MAX_COUPLINGS = 20_000_000
#: largest number of energy bins
MAX_BINS = 100_000
#: random starts of the layer-wise descent that finds a network's energy range
DESCENT_STARTS = 64


# -- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IsingModel:
    """Spins with symmetric couplings (CSR, each pair stored in both rows) and fields."""

    #: what the model is (for reports)
    name: str
    #: CSR row pointers, column indices and coupling values of the symmetric matrix J
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    #: the field on each spin
    fields: np.ndarray
    #: spins per layer, input layer first (empty for a lattice)
    layers: tuple[int, ...] = ()
    #: the spacing of the exact energy levels when there is one (4 on the lattice), else None
    level_step: float | None = None
    #: the lowest energy when known exactly (the lattice's ground state), else None
    ground_energy: float | None = None

    @property
    def n(self) -> int:
        """Number of spins."""
        return int(self.fields.shape[0])

    @property
    def n_couplings(self) -> int:
        """Non-zero couplings (each pair once)."""
        return int(self.values.shape[0]) // 2

    def matrix(self):
        """The couplings as a ``scipy.sparse.csr_array``."""
        from scipy import sparse  # scipy where it is used: the CLI imports this module

        return sparse.csr_array((self.values, self.indices, self.indptr), shape=(self.n, self.n))

    def energy(self, spins) -> np.ndarray:
        """``E`` of each row of ``spins`` (``(B, N)`` or ``(N,)`` of +-1)."""
        s = np.atleast_2d(np.asarray(spins, dtype=np.float64))
        js = (self.matrix() @ s.T).T
        return -0.5 * np.sum(s * js, axis=1) - s @ self.fields

    def temperature_scale(self) -> float:
        """The RMS local field at infinite temperature, ``sqrt(mean_i(sum_j J_ij^2 + h_i^2))``
        (2 on the square lattice): where a C(T) peak is to be looked for."""
        row_sq = np.add.reduceat(self.values**2, self.indptr[:-1]) if self.values.size else 0
        row_sq = np.where(np.diff(self.indptr) > 0, row_sq, 0.0)
        return float(math.sqrt(np.mean(row_sq + self.fields**2))) or 1.0

    def describe(self) -> dict:
        return {"name": self.name, "spins": self.n, "couplings": self.n_couplings,
                "layers": list(self.layers), "temperature_scale": self.temperature_scale()}


def square_lattice(L: int) -> IsingModel:
    """The ``L x L`` nearest-neighbour ferromagnet (``J = 1``, no field) with periodic edges."""
    if not isinstance(L, int | np.integer) or L < 3:
        raise InputError(f"a square lattice needs L >= 3 (got {L}); on a 2 x 2 torus the "
                         f"neighbours coincide")
    n = L * L
    if n > MAX_SPINS:
        raise InputError(f"square:{L} has {n:,} spins; at most {MAX_SPINS:,}")
    y, x = np.divmod(np.arange(n), L)
    nbr = np.stack([y * L + (x + 1) % L, ((y + 1) % L) * L + x,
                    y * L + (x - 1) % L, ((y - 1) % L) * L + x], axis=1)
    nbr.sort(axis=1)
    return IsingModel(f"square:{L}", np.arange(0, 4 * n + 1, 4, dtype=np.int64),
                      nbr.ravel().astype(np.int64), np.ones(4 * n), np.zeros(n),
                      level_step=4.0, ground_energy=-2.0 * n)


def parse_lattice(text: str) -> IsingModel:
    """``square:L`` -> :func:`square_lattice`."""
    kind, _, size = str(text).partition(":")
    if kind != "square" or not size.strip().isdigit():
        raise InputError(f"lattice {text!r}: use square:L (e.g. square:16)")
    return square_lattice(int(size))


def _check_layers(layers) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    if not layers:
        raise InputError("a network needs at least one layer")
    total = 0
    for i, (W, b) in enumerate(layers):
        W = np.asarray(W, dtype=np.float64)
        if W.ndim != 2 or W.size == 0:
            raise InputError(f"layer {i}: weights of shape {W.shape}; a layer needs a 2-D "
                             f"(n_out, n_in) matrix")
        b = np.zeros(W.shape[0]) if b is None else np.asarray(b, dtype=np.float64)
        if b.shape != (W.shape[0],):
            raise InputError(f"layer {i}: bias of shape {b.shape} for {W.shape[0]} outputs")
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            raise InputError(f"layer {i}: weights or biases contain NaN or inf")
        if out and out[-1][0].shape[0] != W.shape[1]:
            raise InputError(f"layer {i} has {W.shape[1]} inputs but layer {i - 1} has "
                             f"{out[-1][0].shape[0]} outputs; the layers must chain")
        total += W.size
        if total > MAX_COUPLINGS:
            raise InputError(f"the network has more than {MAX_COUPLINGS:,} couplings; choose "
                             f"fewer layers")
        out.append((W, b))
    return out


def network_model(layers, name: str = "network") -> IsingModel:
    """The Ising model of a chain of dense layers, each ``(W, b)`` with ``W`` ``(n_out, n_in)``
    and ``b`` ``(n_out,)`` or None (module docstring)."""
    layers = _check_layers(layers)
    sizes = [layers[0][0].shape[1]] + [W.shape[0] for W, _ in layers]
    n = sum(sizes)
    if n > MAX_SPINS:
        raise InputError(f"the network has {n:,} neurons; at most {MAX_SPINS:,} spins")
    offsets = np.cumsum([0] + sizes)
    rows, cols, vals = [], [], []
    fields = np.zeros(n)
    for li, (W, b) in enumerate(layers):
        j, c = np.nonzero(W)
        r, q = j + offsets[li + 1], c + offsets[li]
        rows += [r, q]
        cols += [q, r]
        vals += [W[j, c], W[j, c]]
        fields[offsets[li + 1]:offsets[li + 2]] = b
    from scipy import sparse

    m = sparse.coo_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, n)).tocsr()
    m.sort_indices()
    return IsingModel(name, m.indptr.astype(np.int64), m.indices.astype(np.int64),
                      m.data.astype(np.float64), fields, layers=tuple(sizes))


def default_init(shapes, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Untrained layers of the given ``(n_out, n_in)`` shapes, initialised as scikit-learn's
    MLPClassifier does (the demo's trainer): weights and biases ``U(-a, a)`` with
    ``a = sqrt(6 / (n_in + n_out))`` (Glorot uniform), seeded."""
    rng = np.random.default_rng(seed)
    out = []
    for n_out, n_in in shapes:
        a = math.sqrt(6.0 / (n_in + n_out))
        out.append((rng.uniform(-a, a, (n_out, n_in)), rng.uniform(-a, a, n_out)))
    return out


def spec_layers(spec) -> list[tuple[np.ndarray, np.ndarray]]:
    """The real-valued weights of a :class:`~lognet.model.spec.LayerSpec` or ``NetworkSpec``:
    ``+-levels[index] * level step`` (0 where unconnected) and the biases in their format."""
    return [(layer.weight_matrix().astype(np.float64) * layer.level_fmt.step,
             layer.bias_fmt.to_real(layer.bias).astype(np.float64)) for layer in spec.layers]


# -- energy bins ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnergyBins:
    """``count`` bins of ``width`` from ``lo``; the first and the last are open-ended."""

    lo: float
    width: float
    count: int
    #: True when each bin holds one exact energy level (the lattice)
    exact_levels: bool = False

    def index(self, energies) -> np.ndarray:
        k = np.floor((np.asarray(energies, dtype=np.float64) - self.lo) / self.width)
        return np.clip(k, 0, self.count - 1).astype(np.int64)

    def centres(self) -> np.ndarray:
        return self.lo + (np.arange(self.count) + 0.5) * self.width

    def to_json(self) -> dict:
        return {"lo": self.lo, "width": self.width, "count": self.count,
                "exact_levels": self.exact_levels}


def _descend(layers, signs: float, rng, starts: int) -> float:
    """Lowest energy of ``signs * E`` a layer-wise descent reaches from ``starts`` random states:
    a layer's spins interact only with the layers beside it, so all of them are set to the sign
    of their local field at once, even layers then odd ones, until nothing changes."""
    Ws = [signs * W for W, _ in layers]
    bs = [signs * b for _, b in layers]
    sizes = [Ws[0].shape[1]] + [W.shape[0] for W in Ws]
    s = [rng.choice([-1.0, 1.0], (starts, k)) for k in sizes]

    def local(k):
        f = np.zeros_like(s[k])
        if k > 0:
            f += s[k - 1] @ Ws[k - 1].T + bs[k - 1]
        if k < len(Ws):
            f += s[k + 1] @ Ws[k]
        return f

    for _ in range(200):
        changed = False
        for parity in (0, 1):
            for k in range(parity, len(sizes), 2):
                new = np.where(local(k) >= 0, 1.0, -1.0)
                changed |= bool(np.any(new != s[k]))
                s[k] = new
        if not changed:
            break
    e = np.zeros(starts)
    for k, (W, b) in enumerate(zip(Ws, bs)):
        e -= np.einsum("bj,jc,bc->b", s[k + 1], W, s[k]) + s[k + 1] @ b
    return float(e.min())


def energy_bins(model: IsingModel, bins: int = 64, layers=None, *, e_range=None,
                seed: int = 0) -> EnergyBins:
    """Bins for ``model`` (module docstring, "Energy bins"): the exact levels of a lattice;
    otherwise ``bins`` equal bins over ``e_range`` or over the range a layer-wise descent on
    ``layers`` (the ``(W, b)`` the model was built from) finds."""
    if model.level_step is not None:
        n_levels = int(round(-2 * model.ground_energy / model.level_step)) + 1
        return EnergyBins(model.ground_energy - model.level_step / 2, model.level_step,
                          n_levels, exact_levels=True)
    if not 2 <= bins <= MAX_BINS:
        raise InputError(f"bins must be 2..{MAX_BINS} (got {bins})")
    if e_range is None:
        if layers is None:
            raise InputError("energy bins of a network need its layers or an energy range")
        layers = _check_layers(layers)
        rng = np.random.default_rng(seed)
        lo = _descend(layers, 1.0, rng, DESCENT_STARTS)
        hi = -_descend(layers, -1.0, rng, DESCENT_STARTS)
    else:
        lo, hi = map(float, e_range)
    if not hi > lo:
        hi = lo + 1.0
    return EnergyBins(lo, (hi - lo) / bins * (1 + 1e-12), bins)


# -- density of states ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DensityOfStates:
    """``ln g`` per bin (normalised to ``2^N`` states; -inf where no state was found) and each
    bin's mean energy."""

    bins: EnergyBins
    ln_g: np.ndarray
    energy: np.ndarray
    n_spins: int
    #: ``exact`` or ``wang-landau``
    method: str
    #: how it was obtained (steps, final ln f, time, ...)
    info: dict = field(default_factory=dict)

    @property
    def occupied(self) -> np.ndarray:
        return np.isfinite(self.ln_g)

    def to_json(self) -> dict:
        occ = self.occupied
        return {"method": self.method, "spins": self.n_spins, "bins": self.bins.to_json(),
                "occupied_bins": int(occ.sum()),
                "ln_g": [float(v) if o else None for v, o in zip(self.ln_g, occ)],
                "energy": [float(v) if o else None for v, o in zip(self.energy, occ)],
                **self.info}


def _all_spins(n: int, start: int, stop: int) -> np.ndarray:
    codes = np.arange(start, stop, dtype=np.int64)
    bits = (codes[:, None] >> np.arange(n, dtype=np.int64)[None, :]) & 1
    return (2 * bits - 1).astype(np.float64)


def exact_spectrum(model: IsingModel) -> np.ndarray:
    """The energies of all ``2^N`` states (state ``k`` has spin ``i`` up when bit ``i`` of
    ``k`` is set)."""
    if model.n > MAX_EXACT_SPINS:
        raise InputError(f"{model.name} has {model.n} spins; exact enumeration is limited to "
                         f"{MAX_EXACT_SPINS} (2^{model.n} states): sample with Wang-Landau "
                         f"instead (drop --exact)")
    total = 1 << model.n
    J = model.matrix().toarray()
    out = np.empty(total)
    chunk = 1 << 15
    for a in range(0, total, chunk):
        s = _all_spins(model.n, a, min(total, a + chunk))
        out[a:a + len(s)] = -0.5 * np.einsum("bi,ij,bj->b", s, J, s) - s @ model.fields
    return out


def _binned(bins: EnergyBins, energies: np.ndarray, n: int, method: str, info) -> DensityOfStates:
    k = bins.index(energies)
    counts = np.bincount(k, minlength=bins.count).astype(np.float64)
    esum = np.bincount(k, weights=energies, minlength=bins.count)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_g = np.where(counts > 0, np.log(counts), -np.inf)
        energy = np.where(counts > 0, esum / counts, np.nan)
    return DensityOfStates(bins, ln_g, energy, n, method, info)


def exact_dos(model: IsingModel, bins: EnergyBins) -> DensityOfStates:
    """The exact binned density of states, by enumerating every state (N <= 20)."""
    t0 = time.perf_counter()
    e = exact_spectrum(model)
    return _binned(bins, e, model.n, "exact",
                   {"e_min": float(e.min()), "e_max": float(e.max()),
                    "seconds": time.perf_counter() - t0})


def wang_landau(model: IsingModel, bins: EnergyBins, *, ln_f_final: float = 1e-6,
                flatness: float = 0.8, seed: int = 0,
                max_steps: int = 4_000_000_000) -> DensityOfStates:
    """The density of states of ``model`` by Wang-Landau sampling (module docstring)."""
    if not 0 < ln_f_final < 1:
        raise InputError(f"ln_f_final must be in (0, 1) (got {ln_f_final})")
    if not 0 < flatness < 1:
        raise InputError(f"flatness must be in (0, 1) (got {flatness})")
    if model.n < 1:
        raise InputError("the model has no spins")
    rng = np.random.default_rng(seed)
    spins = rng.choice([-1.0, 1.0], model.n)
    ln_g = np.zeros(bins.count)
    visits = np.zeros(bins.count, np.int64)
    e_sum = np.zeros(bins.count)
    from ._wl_kernel import wl_walk  # Numba compiles it (or loads it from its cache) here

    check = int(max(1000, 100 * bins.count))
    t0 = time.perf_counter()
    steps, ln_f, halvings, t_from, e_min, e_max = wl_walk(
        model.indptr, model.indices, model.values, model.fields, spins, float(bins.lo),
        1.0 / bins.width, bins.count, ln_g, visits, e_sum, float(ln_f_final), float(flatness),
        check, int(max_steps), int(rng.integers(0, 2**31 - 1)))
    seconds = time.perf_counter() - t0
    occ = visits > 0
    ln_g = np.where(occ, ln_g, -np.inf)
    ln_g[occ] -= ln_g[occ].min()
    from scipy.special import logsumexp

    ln_g[occ] += model.n * math.log(2) - logsumexp(ln_g[occ])
    with np.errstate(invalid="ignore", divide="ignore"):
        energy = np.where(occ, e_sum / np.maximum(visits, 1), np.nan)
    info = {"steps": int(steps), "ln_f_final": float(ln_f), "halvings": int(halvings),
            "one_over_t_from_step": int(t_from), "converged": bool(ln_f <= ln_f_final),
            "flatness": flatness, "e_min_seen": float(e_min), "e_max_seen": float(e_max),
            "seconds": seconds, "flips_per_second": steps / seconds if seconds > 0 else None}
    return DensityOfStates(bins, ln_g, energy, model.n, "wang-landau", info)


# -- thermodynamics ------------------------------------------------------------------------------


def _moments(ln_w: np.ndarray, E: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``<E>`` and ``Var(E)`` at each temperature of ``T`` for levels ``E`` of weight
    ``exp(ln_w)``."""
    T = np.atleast_1d(np.asarray(T, dtype=np.float64))
    mean = np.empty(T.shape)
    var = np.empty(T.shape)
    e0 = E - E.min()
    for a in range(0, len(T), 64):
        t = T[a:a + 64, None]
        lw = ln_w[None, :] - e0[None, :] / t
        lw -= lw.max(axis=1, keepdims=True)
        p = np.exp(lw)
        p /= p.sum(axis=1, keepdims=True)
        m = p @ e0
        mean[a:a + 64] = m + E.min()
        var[a:a + 64] = np.einsum("tb,tb->t", p, (e0[None, :] - m[:, None]) ** 2)
    return mean, var


def _levels(dos: DensityOfStates) -> tuple[np.ndarray, np.ndarray]:
    occ = dos.occupied
    return dos.ln_g[occ], dos.energy[occ]


def default_temperatures(scales, count: int = 400) -> np.ndarray:
    """A log-spaced grid from 1/30 of the smallest to 10 times the largest temperature scale."""
    scales = [float(s) for s in np.atleast_1d(scales)]
    return np.geomspace(min(scales) / 30, max(scales) * 10, count)


def peak_temperature(ln_w: np.ndarray, E: np.ndarray, n: int, T: np.ndarray) -> dict:
    """The peak of ``C(T)`` per spin: the grid maximum, refined between its neighbours."""
    _, var = _moments(ln_w, E, T)
    c = var / T**2 / n
    k = int(np.argmax(c))
    at_edge = k in (0, len(T) - 1)
    if at_edge:
        tp = float(T[k])
    else:
        from scipy import optimize

        res = optimize.minimize_scalar(
            lambda t: -float(_moments(ln_w, E, np.array([t]))[1][0] / t**2 / n),
            bounds=(float(T[k - 1]), float(T[k + 1])), method="bounded",
            options={"xatol": 1e-6 * float(T[k])})
        tp = float(res.x)
    cp = float(_moments(ln_w, E, np.array([tp]))[1][0] / tp**2 / n)
    return {"T": tp, "C": cp, "at_grid_edge": at_edge}


def thermodynamics(dos: DensityOfStates, temperatures) -> dict:
    """Mean energy and specific heat per spin over ``temperatures``, and the peak of C(T)."""
    T = np.asarray(temperatures, dtype=np.float64)
    if T.ndim != 1 or T.size < 3 or np.any(T <= 0) or np.any(np.diff(T) <= 0):
        raise InputError("temperatures must be at least 3 increasing positive values")
    ln_w, E = _levels(dos)
    mean, var = _moments(ln_w, E, T)
    n = dos.n_spins
    return {"T": T.tolist(), "energy_per_spin": (mean / n).tolist(),
            "c_per_spin": (var / T**2 / n).tolist(), "peak": peak_temperature(ln_w, E, n, T)}


def spectrum_thermodynamics(energies: np.ndarray, n: int, temperatures) -> dict:
    """The same from every state's energy (no binning): the exact answer for small models."""
    vals, counts = np.unique(energies, return_counts=True)
    ln_w = np.log(counts.astype(np.float64))
    T = np.asarray(temperatures, dtype=np.float64)
    mean, var = _moments(ln_w, vals, T)
    return {"T": T.tolist(), "energy_per_spin": (mean / n).tolist(),
            "c_per_spin": (var / T**2 / n).tolist(), "peak": peak_temperature(ln_w, vals, n, T)}


def compare_dos(estimate: DensityOfStates, exact: DensityOfStates) -> dict:
    """``ln g`` of an estimate against the exact one on the same bins: the relative error
    ``|ln g_est - ln g_exact| / ln g_exact`` over the bins holding more than one state (where
    ``ln g_exact > 0``; mean and largest), the largest absolute error over all occupied bins,
    and the bins found by one but not the other."""
    occ_x, occ_e = exact.occupied, estimate.occupied
    both = occ_x & occ_e
    d = np.abs(estimate.ln_g[both] - exact.ln_g[both])
    pos = exact.ln_g[both] > 0
    rel = d[pos] / exact.ln_g[both][pos]
    return {"bins_compared": int(both.sum()), "bins_relative": int(pos.sum()),
            "mean_relative_error": float(rel.mean()) if rel.size else float("nan"),
            "max_relative_error": float(rel.max()) if rel.size else float("nan"),
            "max_abs_error": float(d.max()) if d.size else float("nan"),
            "bins_missed": int((occ_x & ~occ_e).sum()),
            "bins_extra": int((occ_e & ~occ_x).sum())}


# -- one call for the CLI and the benchmarks -----------------------------------------------------


def analyse_models(models, *, bins: int = 64, ln_f_final: float = 1e-6, exact: bool = False,
                   seed: int = 0, temperatures=None, progress=None) -> dict:
    """Density of states and thermodynamics of each of ``models``: a list of ``(IsingModel,
    layers or None)``. With ``exact`` every model is enumerated (N <= 20) and sampled as well,
    and the two compared. All share one temperature grid. JSON-serialisable."""
    if exact:
        for m, _ in models:
            if m.n > MAX_EXACT_SPINS:
                raise InputError(f"{m.name} has {m.n} spins; exact enumeration is limited to "
                                 f"{MAX_EXACT_SPINS} (2^{m.n} states): sample with Wang-Landau "
                                 f"instead (drop --exact)")
    T = (default_temperatures([m.temperature_scale() for m, _ in models])
         if temperatures is None else np.asarray(temperatures, dtype=np.float64))
    prepared = []
    for i, (m, layers) in enumerate(models):
        if progress:
            progress(f"{m.name}: {m.n} spins, {m.n_couplings:,} couplings: sampling g(E)")
        spectrum = exact_spectrum(m) if exact else None
        e_range = (spectrum.min(), spectrum.max()) if exact else None
        prepared.append((m, spectrum, energy_bins(m, bins, layers, e_range=e_range,
                                                  seed=seed + i)))

    def walk(i):
        m, _, eb = prepared[i]
        return wang_landau(m, eb, ln_f_final=ln_f_final, seed=seed + i)

    # the compiled walk releases the GIL: the models' walks run side by side, one per core
    workers = max(1, min(len(models), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        walks = list(pool.map(walk, range(len(models))))
    out = []
    for (m, spectrum, eb), dos in zip(prepared, walks):
        row = {"model": m.describe(), "dos": dos.to_json(), "thermo": thermodynamics(dos, T)}
        if exact:
            ex = _binned(eb, spectrum, m.n, "exact", {})
            row["exact"] = {"dos": ex.to_json(), "thermo": thermodynamics(ex, T),
                            "unbinned": spectrum_thermodynamics(spectrum, m.n, T),
                            "comparison": compare_dos(dos, ex)}
        out.append(row)
    return {"temperatures": T.tolist(), "models": out}


def plot_ising(result: dict, path, title: str = "") -> None:
    """PNG: ln g(E)/N against E/N, and C(T)/N against T with each peak marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .fit import save_figure

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for row in result["models"]:
        d, n = row["dos"], row["model"]["spins"]
        e = np.array([np.nan if v is None else v for v in d["energy"]], dtype=float)
        g = np.array([np.nan if v is None else v for v in d["ln_g"]], dtype=float)
        (line,) = ax1.plot(e / n, g / n, ".-", ms=3, label=row["model"]["name"])
        th = row["thermo"]
        ax2.plot(th["T"], th["c_per_spin"], color=line.get_color(),
                 label=f"{row['model']['name']}: peak T={th['peak']['T']:.3g}")
        ax2.axvline(th["peak"]["T"], color=line.get_color(), lw=0.6, ls=":")
        if "exact" in row:
            ex = row["exact"]["unbinned"]
            ax2.plot(ex["T"], ex["c_per_spin"], color=line.get_color(), ls="--", lw=0.8,
                     label="exact (all states)")
    ax1.set_xlabel("E / N")
    ax1.set_ylabel("ln g(E) / N")
    ax1.set_title(f"{title}: density of states" if title else "density of states")
    ax1.legend(fontsize=7)
    ax2.set_xscale("log")
    ax2.set_xlabel("T")
    ax2.set_ylabel("C(T) / N")
    ax2.set_title("specific heat")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
