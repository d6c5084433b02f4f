"""Connection topologies: for each output, the sorted input indices it connects to.

``make_topology(W, text)`` with ``W`` of shape (n_out, n_in) and ``text`` one of:

- ``dense``: every output reads every input;
- ``fanin:F``: each output keeps its F strongest inputs (largest |w|); ``fanin:F:random:SEED``
  picks F inputs at random instead;
- ``prune:D``: global magnitude pruning keeping a fraction D in (0, 1] of all connections, every
  output keeping at least its strongest one;
- ``band:W``: output j reads a window of W consecutive inputs centred at
  ``round(j * (n_in - 1) / (n_out - 1))``, moved inside the edges (exactly W wide).
"""

from __future__ import annotations

import numpy as np

from lognet.base.errors import InputError

__all__ = ["describe_topology", "make_topology"]


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"topology {what} {text!r} is not an integer") from None


def make_topology(W, text: str, seed: int = 0) -> list[np.ndarray]:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise InputError(f"a topology needs a 2-D weight matrix (got shape {W.shape})")
    n_out, n_in = W.shape
    parts = str(text).split(":")
    kind = parts[0]
    a = np.abs(W)
    if kind == "dense" and len(parts) == 1:
        return [np.arange(n_in, dtype=np.int64) for _ in range(n_out)]
    if kind == "fanin" and len(parts) in (2, 4):
        F = _int(parts[1], "fan-in")
        if F < 1:
            raise InputError(f"fan-in must be >= 1 (got {F})")
        if F > n_in:
            raise InputError(f"fan-in {F} is larger than the {n_in} inputs; use at most {n_in}")
        if len(parts) == 4:
            if parts[2] != "random":
                raise InputError(f"topology {text!r}: expected fanin:F:random:SEED")
            rng = np.random.default_rng(_int(parts[3], "seed"))
            return [np.sort(rng.choice(n_in, F, replace=False)).astype(np.int64)
                    for _ in range(n_out)]
        # strongest F per output; ties broken by the lower input index
        order = np.argsort(-a, axis=1, kind="stable")[:, :F]
        return [np.sort(r).astype(np.int64) for r in order]
    if kind == "prune" and len(parts) == 2:
        try:
            d = float(parts[1])
        except ValueError:
            raise InputError(f"prune density {parts[1]!r} is not a number") from None
        if not 0 < d <= 1:
            raise InputError(f"prune density must be in (0, 1] (got {d})")
        keep_n = max(1, int(round(d * a.size)))
        flat = np.argsort(-a.ravel(), kind="stable")[:keep_n]
        mask = np.zeros(a.size, bool)
        mask[flat] = True
        mask = mask.reshape(a.shape)
        mask[np.arange(n_out), np.argmax(a, axis=1)] = True
        return [np.flatnonzero(row).astype(np.int64) for row in mask]
    if kind == "band" and len(parts) == 2:
        w = _int(parts[1], "band width")
        if w < 1:
            raise InputError(f"band width must be >= 1 (got {w})")
        if w > n_in:
            raise InputError(f"band width {w} is larger than the {n_in} inputs; use at most "
                             f"{n_in}")
        out = []
        for j in range(n_out):
            c = round(j * (n_in - 1) / max(n_out - 1, 1))
            lo = min(max(c - (w - 1) // 2, 0), n_in - w)
            out.append(np.arange(lo, lo + w, dtype=np.int64))
        return out
    raise InputError(f"unknown topology {text!r}; use dense, fanin:F[:random:SEED], "
                     f"prune:DENSITY or band:W")


def describe_topology(sources) -> dict:
    f = np.array([len(s) for s in sources])
    return {"connections": int(f.sum()), "fanin_min": int(f.min()), "fanin_max": int(f.max()),
            "fanin_mean": float(f.mean())}
