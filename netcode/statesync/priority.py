"""Fitting a snapshot into its byte budget: Fiedler's priority accumulator ("State Synchronization").

Every entity that needs sending (changed since the client's baseline, or new to it) earns
priority each snapshot it is held back; the highest-priority ones that fit go now and their
accumulators reset. Nearer entities earn faster, the client's own player always goes, and
anything held back keeps earning, so nothing starves.
"""
from __future__ import annotations

import numpy as np

from ..wire.snapshot import EntityTable

# Rough encoded sizes (docs/SNAPSHOT.md), only used to choose; the real size is checked after encoding.
# Calibrated on bot matches: a moving entity (2 fields, 1-byte deltas, palette mask) costs ~3 bytes.
_COST_UNCHANGED = 0.125  # one bit
_COST_CHANGED_BASE = 1.0  # changed bit + field-mask index
_COST_FIELD = 1.1  # a delta column entry, nearly always 1 byte
_COST_ADDED = 2.0  # id gap
_PRIO_CAP = 1e4  # accumulated priority saturates here; far above any weight earned in a match


def pair_costs(in_base: np.ndarray, changed_fields: np.ndarray, n_fields: int) -> np.ndarray:
    """Estimated bytes per (client, entity) pair from its alignment against the baseline."""
    return np.where(in_base, np.where(changed_fields > 0, _COST_CHANGED_BASE + changed_fields * _COST_FIELD,
                                      _COST_UNCHANGED), _COST_ADDED + n_fields * 2.0)


def estimate_cost(current: EntityTable, baseline: EntityTable | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-entity byte estimate and a mask of entities that need sending (changed or new)."""
    n, f = current.values.shape
    if baseline is None or len(baseline) == 0 or n == 0:
        return pair_costs(np.zeros(n, bool), np.full(n, f), f), np.ones(n, dtype=bool)
    nb = len(baseline.ids)
    pos = np.minimum(np.searchsorted(baseline.ids, current.ids), nb - 1)
    in_base = baseline.ids[pos] == current.ids
    changed_fields = np.count_nonzero(current.values != baseline.values[pos], axis=1)
    changed_fields[~in_base] = f
    return pair_costs(in_base, changed_fields, f), changed_fields > 0


class PriorityTable:
    """Accumulated priority per (client row, entity), for every client at once: float32 [rows, N]."""

    def __init__(self, rows: int, n_entities: int):
        self.acc = np.zeros((rows, n_entities), dtype=np.float32)
        self.dirty = np.zeros(rows, dtype=bool)  # rows holding any accumulated priority
        self.held_back = np.zeros(rows, dtype=np.int64)  # updates deferred so far, per row

    def resize(self, n_entities: int) -> None:
        if n_entities > self.acc.shape[1]:
            grown = np.zeros((self.acc.shape[0], n_entities), dtype=np.float32)
            grown[:, :self.acc.shape[1]] = self.acc
            self.acc = grown

    def settle(self, rows: np.ndarray) -> None:
        """These rows' clients got everything they needed: nobody is owed anything."""
        rows = rows[self.dirty[rows]]
        if len(rows):
            self.acc[rows] = 0.0
            self.dirty[rows] = False

    def choose(self, pair_row: np.ndarray, ids: np.ndarray, cost: np.ndarray, needed: np.ndarray,
               weights: np.ndarray, budget, always: np.ndarray | None = None) -> np.ndarray:
        """Update mask over pairs (grouped by row, ascending) spending at most `budget` per row (a number, or an
        array indexed by row).

        Pairs that need nothing cost their bit regardless and stay; the rest go highest priority
        first (accumulated + this snapshot's weight; `always` pairs first of all) while they fit.
        """
        n_rows = self.acc.shape[0]
        prio = np.minimum(self.acc[pair_row, ids] + weights, _PRIO_CAP)
        if always is not None:
            prio[always] = _PRIO_CAP * 2
        fixed = np.bincount(pair_row[~needed], weights=cost[~needed], minlength=n_rows)
        cand = np.flatnonzero(needed)
        # grouped by row, highest priority first within a row: one float key instead of a lexsort
        key = pair_row[cand] * (4 * _PRIO_CAP) - prio[cand]
        order = cand[np.argsort(key, kind="stable")]
        rows = pair_row[order]
        spent = np.cumsum(cost[order])
        if len(rows):
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            seg_base = np.r_[0.0, spent[starts[1:] - 1]]
            before = np.repeat(seg_base, np.diff(np.r_[starts, len(rows)]))
        else:
            before = spent
        allowed = budget[rows] if np.ndim(budget) else budget
        fits = spent - before <= np.maximum(0.0, allowed - fixed[rows])
        chosen, held = order[fits], order[~fits]
        self.acc[pair_row[chosen], ids[chosen]] = 0.0
        held_rows = pair_row[held]
        self.acc[held_rows, ids[held]] += weights[held]
        counts = np.bincount(held_rows, minlength=n_rows)
        self.held_back += counts
        self.dirty |= counts > 0
        mask = ~needed
        mask[chosen] = True
        return mask


class PriorityAccumulator:
    """One client's priorities: a one-row PriorityTable with the table-based single-client API."""

    def __init__(self, n_entities: int):
        self.table = PriorityTable(1, n_entities)

    @property
    def acc(self) -> np.ndarray:
        return self.table.acc[0]

    @property
    def held_back(self) -> int:
        return int(self.table.held_back[0])

    def choose(self, current: EntityTable, baseline: EntityTable | None, weights: np.ndarray,
               budget: float, always: int = -1) -> np.ndarray | None:
        """Entity ids to update now, or None when everything fits the budget.

        weights: per-entity priority earned per snapshot (same order as current.ids).
        """
        cost, needed = estimate_cost(current, baseline)
        if cost.sum() <= budget:
            self.table.settle(np.zeros(1, dtype=np.int64))
            return None
        ids = current.ids.astype(np.int64)
        row = np.zeros(len(ids), dtype=np.int64)
        always_mask = ids == always if always >= 0 else None
        mask = self.table.choose(row, ids, cost, needed, np.asarray(weights, np.float32), budget, always_mask)
        return current.ids[mask]
