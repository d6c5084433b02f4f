"""The reference model and the scoreboard.

:class:`RefModel` wraps :func:`lognet.model.reference.reference`: the expected output of vector
``v`` under weight set ``s``, packed like the ``o_stream`` payload. It can be deliberately
corrupted (one level of the first layer off by one LSB) to prove the bench is able to fail.

:class:`Scoreboard` matches output transfers, in order, with the input transfers that caused
them and compares them exactly. Every mismatch is counted; the first one is kept with
everything needed to find it in a waveform (vector, output index, expected and actual integers,
top and layer name, scenario, weight set, clock cycle).
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np

from lognet.model.reference import check_inputs, reference, reference_layer
from lognet.model.spec import LayerSpec

from .results import Mismatch
from .stream import Transfer, pack, unpack

__all__ = ["Mismatch", "RefModel", "Scoreboard", "corrupt_levels"]


def corrupt_levels(layer: LayerSpec) -> tuple[int, ...]:
    """The layer's level table with one level off by one LSB: the largest level that some
    connection uses, moved down by one (up when it is 0)."""
    used = sorted(set(np.asarray(layer.flat["index"]).tolist()))
    k = used[-1]
    lv = list(layer.levels)
    lv[k] = lv[k] - 1 if lv[k] > 0 else lv[k] + 1
    return tuple(lv)


class RefModel:
    """Expected outputs of ``X`` under each weight set in ``sets`` (computed once per set,
    when first asked for)."""

    def __init__(self, sets, X, *, corrupt: bool = False):
        self.sets = list(sets)
        first = self.sets[0]
        self.X = check_inputs(first, X)
        self.corrupt = corrupt
        last = first.layers[-1]
        self.n_out = first.n_out
        self.width, self.signed = last.out_fmt.width, last.out_fmt.signed
        self._rows: dict[int, list[list[int]]] = {}

    def outputs(self, s: int) -> np.ndarray:
        """Integer outputs of every vector under weight set ``s``, shape (N, n_out)."""
        spec = self.sets[s]
        if not self.corrupt:
            return reference(spec, self.X)
        layers = spec.layers
        y = reference_layer(layers[0], self.X, levels=corrupt_levels(layers[0]))
        for layer in layers[1:]:
            y = reference_layer(layer, y)
        return y

    def word(self, s: int, v: int) -> int:
        """Expected payload of vector ``v`` under weight set ``s``."""
        rows = self._rows.get(s)
        if rows is None:
            rows = self._rows[s] = self.outputs(s).tolist()
        return pack(rows[v], self.width)

    def values(self, word: int) -> tuple[int, ...]:
        return unpack(word, self.n_out, self.width, self.signed)


class Scoreboard:
    """In-order checker. :meth:`expect` records an accepted input vector with the weight set it
    met; :meth:`check` compares the next output transfer with it."""

    def __init__(self, model: RefModel, *, top: str, layer: str, scenario: str, now=None):
        self.model = model
        self.now = now  # callable giving the simulation time (ns) of the current transfer
        self.top, self.layer, self.scenario = top, layer, scenario
        #: accepted vectors still inside the core: (vector, row of X, weight set, cycle in)
        self.pending: deque[tuple[int, int, int, int]] = deque()
        self.checked = 0
        self.mismatches = 0
        self.dropped = 0
        self.first: Mismatch | None = None
        #: (vector, row, output word) of every checked transfer, for callers that want the
        #: hardware's outputs themselves (e.g. accuracy on a test set)
        self.seen: list[tuple[int, int, int]] = []

    def expect(self, vector: int, row: int, weight_set: int, cycle: int) -> None:
        """Vector number ``vector`` (row ``row`` of the model's inputs) entered at ``cycle``
        and meets weight set ``weight_set``."""
        self.pending.append((vector, row, weight_set, cycle))

    def flush(self) -> int:
        """A reset discards the vectors inside the core; returns how many."""
        n = len(self.pending)
        self.dropped += n
        self.pending.clear()
        return n

    def check(self, t: Transfer) -> bool:
        """Compare one output transfer; True when it is right."""
        if not self.pending:
            self._record(Mismatch(self.top, self.layer, self.scenario, -1, -1, None,
                                  t.word, t.cycle, -1))
            return False
        vector, row, s, _ = self.pending.popleft()
        self.checked += 1
        self.seen.append((vector, row, t.word))
        exp = self.model.word(s, row)
        if exp == t.word:
            return True
        e, a = self.model.values(exp), self.model.values(t.word)
        j = next(k for k in range(len(e)) if e[k] != a[k])
        self._record(Mismatch(self.top, self.layer, self.scenario, vector, j, e[j], a[j],
                              t.cycle, s))
        return False

    def _record(self, m: Mismatch) -> None:
        self.mismatches += 1
        if self.first is None:
            self.first = m if self.now is None else dataclasses.replace(m, time_ns=self.now())
