"""The batched snapshot encoder against one ``encode_snapshot`` call per client, on a busy tick's tables."""
from __future__ import annotations

import time

import numpy as np

from ..wire.snapshot import EntityTable, encode_snapshot
from ..wire.snapshot_batch import SnapshotBatch


def bench_scene(
    n_clients: int, per_client: int, seed: int, n_entities: int = 10_000
) -> tuple[list[EntityTable], list[EntityTable], list[int]]:
    """Per-client (current, baseline) tables of a busy tick, and each baseline's tick.

    ``n_entities`` entities; about half move up to 4 sub-pixels per axis per tick (a
    fifth of those also turn, a few take damage); each client sees about
    ``per_client`` of them, with a baseline 1-3 ticks old and about 2 entities
    entering and 2 leaving its view per tick of age.
    """
    rng = np.random.default_rng(seed)
    tick = 1000
    F = 5
    world = np.empty((n_entities, F), dtype=np.int64)
    world[:, 0] = rng.integers(0, 131072, n_entities)
    world[:, 1] = rng.integers(0, 131072, n_entities)
    world[:, 2] = rng.integers(0, 4096, n_entities)
    world[:, 3] = rng.integers(1, 256, n_entities)
    world[:, 4] = rng.integers(0, 256, n_entities)
    history = {tick - 3: world.copy()}
    for t in range(tick - 2, tick + 1):
        mv = rng.random(n_entities) < 0.5
        world[mv, 0:2] += rng.integers(-4, 5, (int(mv.sum()), 2))
        turn = mv & (rng.random(n_entities) < 0.2)
        world[turn, 2] = (world[turn, 2] + rng.integers(1, 40, int(turn.sum()))) % 4096
        hit = rng.random(n_entities) < 0.02
        world[hit, 3] = np.maximum(world[hit, 3] - 10, 0)
        history[t] = world.copy()
    currents, baselines, base_ticks = [], [], []
    for _ in range(n_clients):
        age = int(rng.integers(1, 4))
        churn = 2 * age
        n = per_client + int(rng.integers(-per_client // 8, per_client // 8 + 1))
        pool = np.sort(rng.choice(n_entities, n + churn, replace=False))
        order = rng.permutation(n + churn)
        cur_ids = np.sort(pool[order[churn:]])  # the first `churn` are leaving
        base_ids = np.sort(pool[np.concatenate((order[:churn], order[2 * churn :]))])
        currents.append(EntityTable(cur_ids, history[tick][cur_ids]))
        baselines.append(EntityTable(base_ids, history[tick - age][base_ids]))
        base_ticks.append(tick - age)
    return currents, baselines, base_ticks


def bench_batch(n_clients: int = 128, per_client: int = 170, seed: int = 0) -> dict:
    """Time one tick's snapshots for ``n_clients`` clients, batched and one by one.

    ``batch_ms`` covers building the :class:`SnapshotBatch` from concatenated arrays
    and encoding (all entities updated); ``per_client_ms`` covers one
    ``encode_snapshot`` call per client on prebuilt tables.  Both are the median of
    15 runs; ``speedup`` is their ratio.  The two outputs are checked to be equal.
    """
    currents, baselines, base_ticks = bench_scene(n_clients, per_client, seed)
    tick = 1000
    F = currents[0].n_fields if currents else 5

    def concat(tables: list[EntityTable]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        off = np.concatenate([[0], np.cumsum([len(t) for t in tables])]).astype(np.int64)
        if not tables:
            return off, np.zeros(0, np.uint32), np.zeros((0, F), np.int32)
        return off, np.concatenate([t.ids for t in tables]), np.concatenate([t.values for t in tables])

    cur = concat(currents)
    base = concat(baselines)

    def batched() -> list[bytes]:
        return SnapshotBatch(*cur, *base).encode(tick, base_ticks)[0]

    def one_by_one() -> list[bytes]:
        return [encode_snapshot(tick, c, bt, b) for c, b, bt in zip(currents, baselines, base_ticks)]

    if batched() != one_by_one():
        raise AssertionError("batched and per-client snapshots differ")
    times: dict[str, list[float]] = {"batch": [], "per_client": []}
    # Interleaved, so that neither runs with caches and the allocator warmed by its own
    # previous run: in a server tick other work runs in between too.
    for _ in range(15):
        for name, fn in (("batch", batched), ("per_client", one_by_one)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    batch_ms = float(np.median(times["batch"])) * 1e3
    per_client_ms = float(np.median(times["per_client"])) * 1e3
    return {
        "n_clients": n_clients,
        "batch_ms": batch_ms,
        "per_client_ms": per_client_ms,
        "speedup": per_client_ms / batch_ms if batch_ms else float("inf"),
    }
