"""Tests for the batched snapshot encoder (netcode.wire.snapshot_batch).

The contract: for every client, the batch's bytes equal ``encode_snapshot`` on that
client's (update-filtered) table, and its sent table equals ``select_update``'s.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcode.wire.snapshot import (
    NO_BASELINE,
    EntityTable,
    decode_snapshot,
    encode_snapshot,
    select_update,
)
from netcode.games.arena import ENTITIES
from netcode.bench.snapshot import bench_batch
from netcode.wire.snapshot_batch import SnapshotBatch

from test_snapshot_codec import make_pair

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
U32_MAX = (1 << 32) - 1

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def concat(tables: list[EntityTable], F: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    off = np.zeros(len(tables) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(t) for t in tables])
    if not tables:
        return off, np.zeros(0, np.uint32), np.zeros((0, F), np.int32)
    return off, np.concatenate([t.ids for t in tables]), np.concatenate([t.values for t in tables])


def expected_pairs(current: EntityTable, baseline: EntityTable) -> tuple[list, list, list]:
    """in_base, changed field count and baseline row of each current entity, the slow way."""
    F = current.n_fields
    row = {int(i): r for r, i in enumerate(baseline.ids.tolist())}
    in_base, changed, index = [], [], []
    for i, vals in zip(current.ids.tolist(), current.values.tolist()):
        r = row.get(i)
        in_base.append(r is not None)
        index.append(-1 if r is None else r)
        changed.append(F if r is None else sum(a != b for a, b in zip(vals, baseline.values[r].tolist())))
    return in_base, changed, index


def check_batch(tick, currents, baselines, base_ticks, update=None, F=None):
    """Run the batch and compare everything with the per-client codec."""
    F = F if F is not None else (currents[0].n_fields if currents else 5)
    cur = concat(currents, F)
    base = concat(baselines, F)
    batch = SnapshotBatch(*cur, *base)

    # per-pair budgeting arrays, against each client's baseline segment
    assert batch.in_base.shape == batch.changed_fields.shape == batch.base_index.shape == (len(cur[1]),)
    for i, (c, b) in enumerate(zip(currents, baselines)):
        lo, hi = int(cur[0][i]), int(cur[0][i + 1])
        in_base, changed, index = expected_pairs(c, b)
        assert batch.in_base[lo:hi].tolist() == in_base
        assert batch.changed_fields[lo:hi].tolist() == changed
        got_index = batch.base_index[lo:hi]
        assert [(-1 if x < 0 else int(x) - int(base[0][i])) for x in got_index] == index
        assert (batch.client[lo:hi] == i).all()

    datas, s_off, s_ids, s_vals = batch.encode(tick, base_ticks, update)
    assert len(datas) == len(currents)
    assert s_off.shape == (len(currents) + 1,) and s_off[0] == 0 and s_off[-1] == len(s_ids)
    for i, (c, b, bt) in enumerate(zip(currents, baselines, base_ticks)):
        baseline = None if bt is None else b
        if update is None:
            sent = c
        else:
            mask = update[cur[0][i] : cur[0][i + 1]]
            sent = select_update(baseline, c, c.ids[mask])
        got_sent = EntityTable(s_ids[s_off[i] : s_off[i + 1]], s_vals[s_off[i] : s_off[i + 1]])
        assert got_sent == sent, f"client {i}: sent table"
        want = encode_snapshot(tick, sent, bt, baseline)
        assert datas[i] == want, f"client {i}: {datas[i].hex()} != {want.hex()}"
        store = {} if bt is None else {bt: baseline}
        dec = decode_snapshot(datas[i], store.get)
        assert dec.table == sent
        assert dec.baseline_tick == (NO_BASELINE if bt is None else bt)
    return datas


def random_client(rng, F, n_pool, id_space, p_base, p_cur, p_change, delta_scale, value_scale, movers=False):
    """One client's (current, baseline): test_snapshot_codec.make_pair, in this file's order."""
    baseline, current = make_pair(rng, F, n_pool, id_space, p_base, p_cur, p_change, delta_scale, value_scale, movers)
    return current, baseline


@st.composite
def batches(draw):
    F = draw(st.sampled_from([5, 5, 1, 2, 3, 8, 9, 16]))
    n_clients = draw(st.integers(0, 20))
    tick = draw(st.sampled_from([0, 1, 300, 1 << 31, U32_MAX]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    currents, baselines, base_ticks = [], [], []
    for _ in range(n_clients):
        kind = draw(st.sampled_from(["delta", "delta", "movers", "movers", "full", "empty_base", "same"]))
        cur, base = random_client(
            rng,
            F,
            n_pool=draw(st.sampled_from([0, 1, 2, 9, 40, 150, 300])),
            id_space=draw(st.sampled_from([300, 10_000, 1 << 16, 1 << 32])),
            p_base=draw(st.sampled_from([0.0, 0.5, 0.9, 1.0])),
            p_cur=draw(st.sampled_from([0.0, 0.5, 0.95, 1.0])),
            p_change=draw(st.sampled_from([0.0, 0.02, 0.3, 1.0])),
            delta_scale=draw(st.sampled_from([1, 4, 127, 128, 40000, 1 << 23, I32_MAX])),
            value_scale=draw(st.sampled_from([0, 255, 131072, I32_MAX])),
            movers=kind == "movers",
        )
        if kind == "same":  # everything unchanged
            cur = base
        if kind == "empty_base":
            base = EntityTable.empty(F)
        age = draw(st.sampled_from([1, 2, 3, 254, 255, 0, 1000]))
        bt = None if kind == "full" else (tick - age) % (1 << 32)
        if bt == NO_BASELINE:
            bt = 7
        # a full snapshot may still come with a (ignored) baseline segment
        if kind == "full" and draw(st.booleans()):
            base = EntityTable.empty(F)
        currents.append(cur)
        baselines.append(base)
        base_ticks.append(bt)
    n = sum(len(c) for c in currents)
    p_upd = draw(st.sampled_from([None, 0.0, 0.3, 0.9, 1.0]))
    update = None if p_upd is None else rng.random(n) < p_upd
    return tick, currents, baselines, base_ticks, update, F


def bench_like(n_clients, seed):
    """Per-client tables shaped like the server's busy tick (see bench_batch)."""
    from netcode.bench.snapshot import bench_scene

    return bench_scene(n_clients, 170, seed)


# ---------------------------------------------------------------------------
# equivalence with the per-client codec
# ---------------------------------------------------------------------------


@SETTINGS
@given(batches())
def test_batch_matches_per_client_codec(case):
    tick, currents, baselines, base_ticks, update, F = case
    check_batch(tick, currents, baselines, base_ticks, update, F)


@pytest.mark.parametrize("seed", range(3))
def test_busy_tick_matches_per_client_codec(seed):
    currents, baselines, base_ticks = bench_like(48, seed)
    rng = np.random.default_rng(seed)
    n = sum(len(c) for c in currents)
    check_batch(1000, currents, baselines, base_ticks)
    check_batch(1000, currents, baselines, base_ticks, rng.random(n) < 0.6)
    # some clients lost their baseline: full snapshots mixed with deltas
    mixed = [None if i % 5 == 0 else t for i, t in enumerate(base_ticks)]
    check_batch(1000, currents, baselines, mixed, rng.random(n) < 0.9)


@pytest.mark.parametrize("F", [1, 5, 8, 9, 16])
def test_format_choices_are_all_exercised(F):
    """Clients built to hit each choice of the format, side by side in one batch."""
    rng = np.random.default_rng(F)
    ids = np.arange(0, 4000, 3, dtype=np.int64)[:600]
    base_vals = rng.integers(-1000, 1000, (600, F))
    base = EntityTable(ids, base_vals)
    clients = []

    def client(cur_ids, cur_vals, b=base):
        clients.append((EntityTable(cur_ids, cur_vals), b))

    v = base_vals.copy()
    client(ids, v)  # nothing changed: header only
    v = base_vals.copy()
    v[::2, 0] += 1  # half changed, one field: palette with k == 1 (0-bit indices)
    client(ids, v)
    v = base_vals.copy()
    v[:, :] += rng.integers(1, 3, v.shape)  # every kept entity changed, every field
    client(ids, v)
    v = base_vals.copy()
    v[[5, 300], :1] -= 1  # 2 of 600 changed: changed set as a gap list
    client(ids, v)
    v = base_vals.copy()
    v[:40] += rng.integers(0, 2, (40, F)) * rng.integers(-(1 << 20), 1 << 20, (40, F))  # raw masks
    client(ids, v)
    keep = np.ones(600, bool)
    keep[[0, 599]] = False  # 2 removed of 600: removed list
    client(ids[keep], base_vals[keep])
    keep = rng.random(600) < 0.5  # half removed: removed bitmask
    client(ids[keep], base_vals[keep])
    client(ids[:0], base_vals[:0])  # everything removed
    extra = np.array([1, 2, 4000, U32_MAX - 1, U32_MAX], dtype=np.int64)  # added, far ids
    all_ids = np.concatenate((ids, extra))
    order = np.argsort(all_ids)
    vals = np.concatenate((base_vals, rng.integers(I32_MIN, I32_MAX, (5, F), endpoint=True)))
    client(all_ids[order], vals[order])
    big = base_vals.copy()
    big[:, -1] = I32_MAX  # wide deltas: 4-byte columns
    client(ids, big)
    currents = [c for c, _ in clients]
    baselines = [b for _, b in clients]
    tick = 5000
    base_ticks = [tick - 1 - (i % 3) for i in range(len(clients))]
    base_ticks[1] = tick  # age 0: explicit baseline tick
    base_ticks[2] = tick - 255  # age 255: explicit baseline tick
    check_batch(tick, currents, baselines, base_ticks)
    check_batch(tick, currents, baselines, [None] * len(clients))
    n = sum(len(c) for c in currents)
    check_batch(tick, currents, baselines, base_ticks, np.random.default_rng(0).random(n) < 0.5)


def test_choices_at_their_thresholds():
    """List/bitmask, palette/raw and every width right at the encoder's thresholds."""
    rng = np.random.default_rng(7)
    currents, baselines = [], []

    def add(cur, base):
        currents.append(cur)
        baselines.append(base)

    F = 6  # 8 + k*F + nc*b == nc*F has integer solutions (k=2, b=1, nc=4)
    for count in (1, 2, 3, 16, 33):
        for per in (8, 16):  # list width 1 or 2 bytes
            for size in range(per * count, per * count + 5):
                ids = np.arange(size, dtype=np.int64) * 2
                vals = rng.integers(0, 100, (size, F))
                # spread out, packed at the start (gaps of 0), or packed but for one far
                # away (one gap of 256 or more: 2-byte gaps)
                far = np.append(np.arange(count - 1), size - 1)
                for pos in (np.linspace(0, size - 1, count).astype(int), np.arange(count), far):
                    pos = np.unique(pos)
                    base = EntityTable(ids, vals)
                    changed = vals.copy()
                    changed[pos, 0] += 1
                    add(EntityTable(ids, changed), base)  # changed set near the list threshold
                    keep = np.ones(size, bool)
                    keep[pos] = False
                    add(EntityTable(ids[keep], vals[keep]), base)  # removed set likewise
    for nc in (3, 4, 5):  # 2 distinct masks: palette iff nc > 4
        ids = np.arange(20, dtype=np.int64)
        vals = np.zeros((20, F), np.int64)
        changed = vals.copy()
        changed[:nc, 0] = 1
        changed[1, 1] = 1
        add(EntityTable(ids, changed), EntityTable(ids, vals))
    edges = np.array([127, 128, -128, -129, 32767, 32768, -32768, -32769,
                      (1 << 23) - 1, 1 << 23, -(1 << 23), -(1 << 23) - 1, I32_MAX, I32_MIN])
    ids = np.arange(edges.shape[0], dtype=np.int64)
    for f in range(F):  # each edge alone in a column, as a delta and as an added value
        zero = np.zeros((len(ids), F), np.int64)
        for e in edges:
            one = zero.copy()
            one[:, f] = 0
            one[3, f] = e
            add(EntityTable(ids, one), EntityTable(ids, zero))
            add(EntityTable(ids, one), EntityTable(ids[:0], zero[:0]))
    for gap in (255, 256, 65535, 65536, (1 << 24) - 1, 1 << 24):  # id gaps, unsigned widths
        gids = np.array([0, gap, 2 * gap + 1], dtype=np.int64)
        add(EntityTable(gids, np.ones((3, F), np.int64)), EntityTable.empty(F))
    tick = 10_000
    base_ticks = [tick - 1 - (i % 300) for i in range(len(currents))]  # ages 1..300
    check_batch(tick, currents, baselines, base_ticks, F=F)


def test_no_baseline_differs_from_empty_baseline():
    cur = ENTITIES.snapshot.make_table([3, 9], {"x": [10, 20], "hp": [100, 50]})
    empty = EntityTable.empty(5)
    datas = check_batch(77, [cur, cur], [empty, empty], [None, 76])
    assert datas[0] != datas[1]
    assert datas[0][5] == 0 and datas[1][5] == 1  # the age byte


def test_encode_is_repeatable_on_one_batch():
    """The server may re-encode with fewer updates (oversize retry): the batch must not change."""
    currents, baselines, base_ticks = bench_like(10, 3)
    cur = concat(currents, 5)
    batch = SnapshotBatch(*cur, *concat(baselines, 5))
    first = batch.encode(1000, base_ticks)[0]
    rng = np.random.default_rng(0)
    half = batch.encode(1000, base_ticks, rng.random(len(cur[1])) < 0.5)[0]
    assert batch.encode(1000, base_ticks)[0] == first
    assert first == [encode_snapshot(1000, c, t, b) for c, b, t in zip(currents, baselines, base_ticks)]
    assert half != first


def test_update_semantics_match_select_update():
    base = ENTITIES.snapshot.make_table([1, 2, 3, 4], {"x": [10, 20, 30, 40]})
    cur = ENTITIES.snapshot.make_table([2, 3, 5, 6], {"x": [21, 31, 50, 60]})
    update = np.array([True, False, True, False])
    batch = SnapshotBatch(*concat([cur], 5), *concat([base], 5))
    datas, off, ids, vals = batch.encode(10, [9], update)
    # 2 updated, 3 keeps the baseline's value, 5 enters, 6 is deferred, 1 and 4 leave
    assert ids.tolist() == [2, 3, 5]
    assert vals[:, 0].tolist() == [21, 30, 50]
    assert datas[0] == encode_snapshot(10, select_update(base, cur, [2, 5]), 9, base)


def test_empty_batches():
    batch = SnapshotBatch([0], [], np.zeros((0, 5)), [0], [], np.zeros((0, 5)))
    datas, off, ids, vals = batch.encode(1, [])
    assert datas == [] and off.tolist() == [0] and len(ids) == 0
    check_batch(1, [EntityTable.empty(5)] * 3, [EntityTable.empty(5)] * 3, [None, 0, 5])


def test_input_validation():
    vals = np.zeros((2, 5), np.int32)
    ok = ([0, 2], [1, 2], vals, [0, 0], [], np.zeros((0, 5)))
    SnapshotBatch(*ok)
    bad = [
        ([0, 2], [2, 1], vals, [0, 0], [], np.zeros((0, 5))),  # not increasing
        ([0, 2], [1, 1], vals, [0, 0], [], np.zeros((0, 5))),
        ([0, 1], [1, 2], vals, [0, 0], [], np.zeros((0, 5))),  # offsets do not cover the ids
        ([0, 2], [1, 2], vals, [0], [], np.zeros((0, 5))),  # segment counts differ
        ([0, 2], [1, 2], vals, [0, 0], [], np.zeros((0, 4))),  # F differs
        ([0, 2], [-1, 2], vals, [0, 0], [], np.zeros((0, 5))),  # id below uint32
        ([0, 2], [1, 2], np.full((2, 5), 1 << 31), [0, 0], [], np.zeros((0, 5))),  # value above int32
        ([0, 2], [1, 2], np.zeros((2, 17), np.int32), [0, 0], [], np.zeros((0, 17))),  # F > 16
        ([0, 2], [1, 2], vals, [0, 2], [5, 5], vals),  # baseline ids not increasing
    ]
    for args in bad:
        with pytest.raises((ValueError, TypeError)):
            SnapshotBatch(*args)
    batch = SnapshotBatch(*ok)
    for tick, bts, update in [
        (-1, [None], None),
        (1 << 32, [None], None),
        (5, [], None),
        (5, [NO_BASELINE], None),
        (5, [-3], None),
        (5, [None], np.ones(3, bool)),
        (5, [None], np.ones(2, np.int64)),
    ]:
        with pytest.raises(ValueError):
            batch.encode(tick, bts, update)
    many = SnapshotBatch([0, 65536], np.arange(65536), np.zeros((65536, 1), np.int32), [0, 0], [], np.zeros((0, 1)))
    with pytest.raises(ValueError):
        many.encode(1, [None])
    big_base = SnapshotBatch([0, 1], [0], np.zeros((1, 1), np.int32), [0, 65536], np.arange(65536), np.zeros((65536, 1), np.int32))
    with pytest.raises(ValueError):
        big_base.encode(1, [0])
    big_base.encode(1, [None])  # the baseline segment of a full snapshot is ignored
    # deferring entities brings it back within the format's limit, as with select_update
    datas, *_ = many.encode(1, [0], np.arange(65536) < 10)
    assert len(datas) == 1


def test_bench_batch_runs():
    out = bench_batch(n_clients=3, per_client=20, seed=1)
    assert set(out) >= {"batch_ms", "per_client_ms", "speedup"}
