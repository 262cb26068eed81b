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
_COST_UNCHANGED = 0.125  # one bit
_COST_CHANGED_BASE = 1.5  # changed bit + field mask
_COST_FIELD = 1.5  # a delta column entry, usually 1–2 bytes
_COST_ADDED = 3.0  # id gap + mask


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


class PriorityAccumulator:
    """One client's accumulated priority per entity id."""

    def __init__(self, n_entities: int):
        self.acc = np.zeros(n_entities, dtype=np.float32)
        self.held_back = 0  # entity-updates deferred so far (a measure of budget pressure)
        self.dirty = False  # some entity holds accumulated priority

    def settle(self) -> None:
        """Everything was sent: no entity is owed anything."""
        self.acc[:] = 0.0
        self.dirty = False

    def choose(self, current: EntityTable, baseline: EntityTable | None, weights: np.ndarray,
               budget: float, always: int = -1) -> np.ndarray | None:
        """Entity ids to update now, or None when everything fits the budget.

        weights: per-entity priority earned per snapshot (same order as current.ids).
        """
        cost, needed = estimate_cost(current, baseline)
        if cost.sum() <= budget:
            self.settle()
            return None
        mask = self.choose_mask(current.ids, cost, needed, weights, budget, always)
        return current.ids[mask]

    def choose_mask(self, ids: np.ndarray, cost: np.ndarray, needed: np.ndarray, weights: np.ndarray,
                    budget: float, always: int = -1) -> np.ndarray:
        """Which of these entities to update now (a bool mask over ids), spending at most budget."""
        prio = self.acc[ids] + weights
        if always >= 0:
            prio[ids == always] = np.inf
        # everything that needs no update costs its bit regardless; spend the rest by priority
        fixed = cost[~needed].sum()
        cand = np.flatnonzero(needed)
        order = cand[np.argsort(-prio[cand], kind="stable")]
        fits = np.cumsum(cost[order]) <= max(0.0, budget - fixed)
        chosen, held = order[fits], order[~fits]
        self.acc[ids[chosen]] = 0.0
        self.acc[ids[held]] += weights[held]
        self.held_back += len(held)
        self.dirty = True
        mask = np.zeros(len(ids), dtype=bool)
        mask[chosen] = True
        mask[~needed] = True  # unchanged entities stay (one bit each)
        return mask
