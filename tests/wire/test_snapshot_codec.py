"""Tests for the snapshot delta codec (netcode.wire.snapshot)."""

from __future__ import annotations

import collections
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcode.games.arena import ENTITIES
from netcode.wire.errors import WireError
from netcode.wire.snapshot import (
    MAX_ENTITIES,
    NO_BASELINE,
    EntityTable,
    SnapshotSchema,
    decode_snapshot,
    encode_snapshot,
    naive_snapshot_bytes,
    peek_header,
    select_update,
)

HEADER_BYTES = 13  # version|F, tick, age, flags, 3 counts (no explicit baseline tick)
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
U32_MAX = (1 << 32) - 1

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def roundtrip(tick, current, baseline_tick, baseline):
    data = encode_snapshot(tick, current, baseline_tick, baseline)
    store = {} if baseline is None else {baseline_tick: baseline}
    got = decode_snapshot(data, store.get)
    assert got.table == current
    assert got.tick == tick
    assert got.baseline_tick == (NO_BASELINE if baseline is None else baseline_tick)
    assert tuple(peek_header(data)) == (got.tick, got.baseline_tick)
    # Deterministic: the same content always gives the same bytes.
    again = EntityTable(np.array(current.ids), np.array(current.values))
    assert encode_snapshot(tick, again, baseline_tick, baseline) == data
    return data


def assert_valid_table(table: EntityTable) -> None:
    assert isinstance(table, EntityTable)
    assert table.ids.dtype == np.uint32 and table.ids.ndim == 1
    assert table.values.dtype == np.int32 and table.values.ndim == 2
    assert table.values.shape[0] == table.ids.shape[0]
    assert 1 <= table.values.shape[1] <= 16
    assert (np.diff(table.ids.astype(np.int64)) > 0).all()


def make_pair(rng, F, n_pool, id_space, p_base, p_cur, p_change, delta_scale, value_scale, movers=False):
    """A random (baseline, current) pair with overlap, removals, additions and deltas.

    With ``movers``, changes hit a few of the same fields (like moving, turning
    entities), so the field masks repeat and the palette form gets used.
    """
    n_pool = min(n_pool, id_space)
    if id_space <= 4 * n_pool:
        pool = np.sort(rng.choice(id_space, n_pool, replace=False))
    else:
        pool = np.unique(rng.integers(0, id_space, n_pool, dtype=np.int64))
    in_base = rng.random(pool.shape[0]) < p_base
    in_cur = rng.random(pool.shape[0]) < p_cur
    base_vals = rng.integers(-value_scale, value_scale, (pool.shape[0], F), endpoint=True)
    changed = rng.random(base_vals.shape) < p_change
    if movers:
        pattern = np.array([rng.random(F) < 0.4 for _ in range(3)])
        changed = pattern[rng.integers(0, 3, pool.shape[0])] & (rng.random(pool.shape[0]) < p_change)[:, None]
    deltas = rng.integers(-delta_scale, delta_scale, base_vals.shape, endpoint=True)
    cur_vals = np.where(changed, base_vals + deltas, base_vals)
    # Keep within int32 by wrapping, like a counter that overflows.
    cur_vals = (cur_vals - I32_MIN) % (1 << 32) + I32_MIN
    fresh = rng.integers(-value_scale, value_scale, base_vals.shape, endpoint=True)
    cur_vals[~in_base] = fresh[~in_base]
    baseline = EntityTable(pool[in_base], base_vals[in_base])
    current = EntityTable(pool[in_cur], cur_vals[in_cur])
    return baseline, current


@st.composite
def scenes(draw):
    F = draw(st.integers(1, 16))
    n_pool = draw(st.sampled_from([0, 1, 2, 7, 8, 9, 40, 150, 400]))
    id_space = draw(st.sampled_from([max(n_pool, 1), 1000, 1 << 16, 1 << 32]))
    p_base = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    p_cur = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    p_change = draw(st.sampled_from([0.0, 0.01, 0.2, 0.5, 1.0]))
    delta_scale = draw(st.sampled_from([1, 4, 127, 128, 300, 40000, 1 << 23, I32_MAX]))
    value_scale = draw(st.sampled_from([0, 255, 131072, I32_MAX]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return make_pair(rng, F, n_pool, id_space, p_base, p_cur, p_change, delta_scale, value_scale)


SPECIAL_I32 = st.one_of(
    st.sampled_from([I32_MIN, I32_MIN + 1, -(1 << 23) - 1, -(1 << 23), -129, -128, -1, 0, 1,
                     127, 128, 255, 256, 32767, 32768, (1 << 23) - 1, 1 << 23, I32_MAX]),
    st.integers(I32_MIN, I32_MAX),
)


@st.composite
def exact_pairs(draw):
    """Small pairs drawn value by value: extreme ids and int32 values, shrinkable."""
    F = draw(st.integers(1, 16))
    ids = sorted(draw(st.lists(
        st.one_of(st.integers(0, 40), st.sampled_from([U32_MAX, U32_MAX - 1, 1 << 31])),
        unique=True, max_size=12)))
    n = len(ids)
    base_rows = draw(st.lists(st.lists(SPECIAL_I32, min_size=F, max_size=F), min_size=n, max_size=n))
    cur_rows = [
        [draw(st.one_of(st.just(v), SPECIAL_I32)) for v in row] for row in base_rows
    ]
    in_base = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    in_cur = draw(st.lists(st.booleans(), min_size=n, max_size=n))

    def table(rows, mask):
        sel = [i for i in range(n) if mask[i]]
        return EntityTable(
            np.array([ids[i] for i in sel], dtype=np.uint32),
            np.array([rows[i] for i in sel], dtype=np.int64).reshape(len(sel), F),
        )

    return table(base_rows, in_base), table(cur_rows, in_cur)


def typical_scene(rng, n=150, moving=0.5, step=4, churn=1):
    """150 visible entities, about half moving a few units per tick, a little churn."""
    ids = np.sort(rng.choice(10_000, n + churn, replace=False))
    x = rng.integers(0, 131072, n + churn)
    y = rng.integers(0, 131072, n + churn)
    aim = rng.integers(0, 4096, n + churn)
    hp = rng.integers(1, 256, n + churn)
    flags = rng.integers(0, 256, n + churn)
    full = ENTITIES.snapshot.make_table(ids, {"x": x, "y": y, "aim": aim, "hp": hp, "flags": flags})
    base = full.subset(ids[:n])
    v = full.values.astype(np.int64)
    mv = rng.random(n + churn) < moving
    v[mv, 0] += rng.integers(-step, step + 1, mv.sum())
    v[mv, 1] += rng.integers(-step, step + 1, mv.sum())
    turn = mv & (rng.random(n + churn) < 0.2)
    v[turn, 2] = (v[turn, 2] + rng.integers(1, 40, turn.sum())) % 4096
    hit = rng.random(n + churn) < 0.02
    v[hit, 3] = np.maximum(v[hit, 3] - 10, 0)
    keep = np.ones(n + churn, dtype=bool)
    keep[rng.choice(n, churn, replace=False)] = False  # some leave, the extra ones enter
    current = EntityTable(ids[keep], v[keep])
    return base, current


# ---------------------------------------------------------------------------
# data model
# ---------------------------------------------------------------------------


def test_entity_table_validates_and_compares_by_content():
    t = EntityTable([1, 5, 9], [[1, 2], [3, 4], [5, 6]])
    assert t.ids.dtype == np.uint32 and t.values.dtype == np.int32
    assert len(t) == 3 and t.n_fields == 2
    u = EntityTable(np.array([1, 5, 9], np.uint32), np.array([[1, 2], [3, 4], [5, 6]], np.int32))
    assert t == u and hash(t) == hash(u) and t.content_digest() == u.content_digest()
    assert t != EntityTable([1, 5, 9], [[1, 2], [3, 4], [5, 7]])
    assert t != EntityTable([1, 5, 10], [[1, 2], [3, 4], [5, 6]])
    assert EntityTable.empty(3) != EntityTable.empty(2)
    with pytest.raises(ValueError):
        t.values[0, 0] = 7  # read-only
    for bad_ids, bad_vals in [
        ([1, 1], [[0], [0]]),  # not strictly increasing
        ([2, 1], [[0], [0]]),
        ([1, 2], [[0]]),  # row count
        ([-1], [[0]]),  # not uint32
        ([1 << 32], [[0]]),
        ([1], [[1 << 31]]),  # not int32
        ([1], [list(range(17))]),  # F > 16
        ([1], [[]]),  # F == 0
    ]:
        with pytest.raises((ValueError, TypeError)):
            EntityTable(bad_ids, bad_vals)


def test_schema_and_game_schema():
    assert ENTITIES.snapshot.fields == ("x", "y", "aim", "hp", "flags")
    assert ENTITIES.snapshot.n_fields == 5 and ENTITIES.snapshot.index("hp") == 3
    t = ENTITIES.snapshot.make_table([3, 4], {"x": [10, 20], "hp": [100, 0]})
    assert t.values.tolist() == [[10, 0, 0, 100, 0], [20, 0, 0, 0, 0]]
    assert ENTITIES.snapshot.column(t, "x").tolist() == [10, 20]
    for bad in [(), tuple(f"f{i}" for i in range(17)), ("a", "a"), ("id",)]:
        with pytest.raises(ValueError):
            SnapshotSchema(bad)


# ---------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------


@SETTINGS
@given(scenes())
def test_roundtrip_delta(pair):
    baseline, current = pair
    roundtrip(1000, current, 999, baseline)


@SETTINGS
@given(scenes())
def test_roundtrip_full(pair):
    _baseline, current = pair
    roundtrip(7, current, NO_BASELINE, None)


@SETTINGS
@given(exact_pairs(), st.integers(0, U32_MAX), st.integers(0, U32_MAX - 1))
def test_roundtrip_extremes(pair, tick, baseline_tick):
    baseline, current = pair
    roundtrip(tick, current, baseline_tick, baseline)
    roundtrip(tick, current, None, None)


@pytest.mark.parametrize("F", [1, 5, 8, 9, 16])
def test_empty_tables(F):
    empty = EntityTable.empty(F)
    rng = np.random.default_rng(F)
    some = EntityTable(np.arange(0, 300, 3), rng.integers(-5, 5, (100, F)))
    assert len(roundtrip(1, empty, None, None)) == HEADER_BYTES
    assert len(roundtrip(1, empty, 0, empty)) == HEADER_BYTES
    assert len(roundtrip(1, empty, 0, some)) == HEADER_BYTES  # all removed: count says all
    roundtrip(1, some, 0, empty)


@pytest.mark.parametrize("n", [1, 8, 9, 150, 800, MAX_ENTITIES])
def test_identical_tables_cost_only_the_header(n):
    rng = np.random.default_rng(n)
    t = EntityTable(np.arange(n), rng.integers(0, 131072, (n, 5)))
    data = roundtrip(50, t, 49, t)
    # Fiedler's one bit per unchanged entity would be n/8 bytes; a zero changed-count
    # makes even that bitmask unnecessary.
    assert len(data) == HEADER_BYTES <= HEADER_BYTES + (n + 7) // 8


def test_unchanged_entities_cost_at_most_one_bit_each():
    rng = np.random.default_rng(3)
    n = 800
    base = EntityTable(np.arange(n), rng.integers(0, 131072, (n, 5)))
    for n_changed in [1, 10, 100, 400, 800]:
        v = base.values.copy()
        rows = rng.choice(n, n_changed, replace=False)
        v[rows, 0] += 1
        data = roundtrip(2, EntityTable(base.ids, v), 1, base)
        # header + palette byte + width codes + changed set (<= n bits) + palette + 1 B/delta
        assert len(data) <= HEADER_BYTES + 1 + 1 + (n + 7) // 8 + 1 + n_changed


def test_moving_entities_cost_about_a_byte_per_axis():
    rng = np.random.default_rng(4)
    base, current = typical_scene(rng, n=150, moving=1.0, step=4, churn=0)
    # Only x and y change, by at most 4 units: 1 byte per changed axis + ~1 bit overheads.
    v = base.values.copy()
    v[:, 0] += 3
    v[:, 1] -= 2
    data = roundtrip(2, EntityTable(base.ids, v), 1, base)
    assert len(data) <= HEADER_BYTES + 1 + 2 + 2 * 150 + 8


REMOVED_LIST, CHANGED_LIST, PALETTE = 1, 2, 4


def _flags(data: bytes) -> int:
    return data[6] if data[5] != 255 else data[10]


@pytest.mark.parametrize(
    ("F", "n", "removed", "changed", "same_fields", "want"),
    [
        (5, 150, 2, 3, 1, REMOVED_LIST | CHANGED_LIST | PALETTE),
        (5, 64, 32, 30, 1, PALETTE),  # many removed/changed: bitmasks
        (2, 150, 0, 75, 0, 0),  # random 2-field masks: raw matrix beats a palette
        (12, 150, 1, 150, 1, REMOVED_LIST | PALETTE),  # 16-bit palette entries
        (12, 150, 1, 150, 0, REMOVED_LIST),  # random 12-field masks: raw matrix
        (16, 40, 20, 1, 0, CHANGED_LIST),
    ],
)
def test_every_layout_mode_roundtrips(F, n, removed, changed, same_fields, want):
    rng = np.random.default_rng(F * 1000 + n)
    base = EntityTable(np.arange(0, 3 * n, 3), rng.integers(-(1 << 20), 1 << 20, (n, F)))
    v = base.values.astype(np.int64)
    rows = np.sort(rng.choice(n, changed, replace=False))
    if same_fields:
        v[rows, 0] += 1
    else:
        mask = rng.random((changed, F)) < 0.5
        mask[np.arange(changed), rng.integers(0, F, changed)] = True
        v[rows] += mask * rng.integers(1, 1 << 16, (changed, F))
    keep = np.ones(n, dtype=bool)
    unchanged = np.setdiff1d(np.arange(n), rows)
    pool = unchanged if unchanged.shape[0] >= removed else np.arange(n)
    keep[rng.choice(pool, removed, replace=False)] = False
    new_ids = np.array([1, 3 * n + 7], dtype=np.int64)  # added before and after
    ids = np.concatenate([base.ids[keep], new_ids])
    vals = np.concatenate([v[keep], rng.integers(-131072, 131072, (2, F))])
    order = np.argsort(ids)
    current = EntityTable(ids[order], vals[order])
    data = roundtrip(500, current, 499, base)
    assert _flags(data) == want


def test_baseline_tick_encoding():
    rng = np.random.default_rng(5)
    base, current = typical_scene(rng)
    for tick, bt, size_delta in [
        (100, 99, 0),
        (1000, 746, 0),  # age 254: still one byte
        (1000, 745, 4),  # age 255: explicit tick
        (3, U32_MAX - 1, 0),  # wrap-around: age 4
        (5, 5, 4),  # same tick (age 0 means "full"): explicit
        (5, 6, 4),  # "baseline newer than tick": explicit, still exact
    ]:
        data = roundtrip(tick, current, bt, base)
        ref = encode_snapshot(tick, current, (tick - 1) % (1 << 32), base)
        assert len(data) == len(ref) + size_delta
        assert peek_header(data) == (tick, bt)
    full = roundtrip(9, current, None, None)
    assert peek_header(full) == (9, NO_BASELINE)


def test_encoder_rejects_what_the_format_cannot_carry():
    t = EntityTable([1, 2], [[1, 2], [3, 4]])
    with pytest.raises(ValueError):
        encode_snapshot(1, t, 0, EntityTable([1], [[1, 2, 3]]))  # F mismatch
    with pytest.raises(ValueError):
        encode_snapshot(1, t, NO_BASELINE, t)  # sentinel as a real tick
    with pytest.raises(ValueError):
        encode_snapshot(1, t, None, t)
    with pytest.raises(ValueError):
        encode_snapshot(-1, t, None, None)
    with pytest.raises(ValueError):
        encode_snapshot(1 << 32, t, None, None)
    big = EntityTable(np.arange(MAX_ENTITIES + 1), np.zeros((MAX_ENTITIES + 1, 1), np.int32))
    with pytest.raises(ValueError):
        encode_snapshot(1, big, None, None)


def test_decoder_needs_the_right_baseline():
    rng = np.random.default_rng(6)
    base, current = typical_scene(rng)
    data = encode_snapshot(10, current, 9, base)
    with pytest.raises(WireError):
        decode_snapshot(data, {}.get)
    with pytest.raises(WireError):
        decode_snapshot(data, {9: EntityTable([1], [[1, 2]])}.get)  # F mismatch
    assert decode_snapshot(memoryview(data), {9: base}.get).table == current
    assert decode_snapshot(bytearray(data), {9: base}.get).table == current
    # A full snapshot never asks for a baseline.
    full = encode_snapshot(10, current, None, None)
    assert decode_snapshot(full, lambda t: pytest.fail("asked for a baseline")).table == current


# ---------------------------------------------------------------------------
# partial updates (bandwidth budget)
# ---------------------------------------------------------------------------


def test_select_update_sends_only_chosen_entities_and_keeps_the_rest():
    rng = np.random.default_rng(7)
    base, current = typical_scene(rng, n=150, moving=1.0, churn=5)
    chosen = current.ids[::3]
    sent = select_update(base, current, chosen)
    # Every id the client should hold: kept ones, plus chosen new ones; leavers dropped.
    in_both = np.intersect1d(base.ids, current.ids)
    new = np.setdiff1d(current.ids, base.ids)
    want_ids = np.union1d(in_both, np.intersect1d(new, chosen))
    assert np.array_equal(sent.ids, want_ids)
    for i, row in zip(sent.ids.tolist(), sent.values.tolist()):
        src = current if i in set(chosen.tolist()) else base
        assert row == src.values[np.searchsorted(src.ids, i)].tolist()
    data = roundtrip(11, sent, 10, base)
    assert len(data) < len(encode_snapshot(11, current, 10, base))
    # No baseline: only the chosen entities are sent, in full.
    assert select_update(None, current, chosen) == current.subset(chosen)
    # Choosing nothing sends only removals.
    idle = select_update(base, current, [])
    assert np.array_equal(idle.ids, in_both)
    assert len(roundtrip(11, idle, 10, base)) <= HEADER_BYTES + (len(base) + 7) // 8


# ---------------------------------------------------------------------------
# a lossy, reordering stream (Quake 3 style acks against a ring of 32)
# ---------------------------------------------------------------------------


def test_stream_with_loss_reordering_and_acks():
    rng = np.random.default_rng(2024)
    ticks = 5000
    ring_size = 32
    world_ids = np.arange(400)
    alive = rng.random(400) < 0.5
    pos = rng.integers(0, 4096, (400, 2))
    aim = rng.integers(0, 4096, 400)
    hp = np.full(400, 255)
    flags = rng.integers(0, 256, 400)
    center = np.array([2048, 2048])

    sent: dict[int, EntityTable] = {}  # what the server encoded at each tick
    ring: collections.OrderedDict[int, EntityTable] = collections.OrderedDict()
    acked: set[int] = set()
    to_client: list[tuple[int, int, bytes]] = []  # (deliver_at, seq, data)
    to_server: list[tuple[int, int]] = []  # (deliver_at, acked tick)
    client_store: dict[int, EntityTable] = {}
    delivered = full_sent = partial_sent = 0
    baseline_ages = []

    for tick in range(1, ticks + 1):
        # -- world: random walk, spawns and deaths, a camera that drifts ------------
        moving = alive & (rng.random(400) < 0.6)
        pos[moving] += rng.integers(-6, 7, (moving.sum(), 2))
        teleport = alive & (rng.random(400) < 0.002)
        pos[teleport] = rng.integers(0, 4096, (teleport.sum(), 2))
        turn = alive & (rng.random(400) < 0.1)
        aim[turn] = (aim[turn] + rng.integers(-60, 61, turn.sum())) % 4096
        hurt = alive & (rng.random(400) < 0.01)
        hp[hurt] = np.maximum(hp[hurt] - 25, 0)
        flags[alive & (rng.random(400) < 0.02)] ^= 4
        dying = alive & (hp == 0)
        alive[dying] = False
        spawn = ~alive & (rng.random(400) < 0.005)
        alive[spawn] = True
        hp[spawn] = 255
        center += rng.integers(-8, 9, 2)
        in_view = alive & (np.abs(pos - center).max(axis=1) < 1200)
        view = EntityTable(
            world_ids[in_view],
            np.column_stack([pos[:, 0], pos[:, 1] - 500, aim, hp, flags])[in_view],
        )

        # -- server: newest acked snapshot still in the ring, else full ------------
        base_tick = max((t for t in ring if t in acked), default=None)
        base = ring[base_tick] if base_tick is not None else None
        if base is not None and rng.random() < 0.2:
            # Bandwidth budget: update only some entities this tick.
            table = select_update(base, view, view.ids[rng.random(len(view)) < 0.5])
            partial_sent += 1
        else:
            table = view
        data = encode_snapshot(tick, table, base_tick, base)
        full_sent += base is None
        if base is not None:
            baseline_ages.append(tick - base_tick)
        sent[tick] = table
        ring[tick] = table
        while len(ring) > ring_size:
            ring.popitem(last=False)
        if rng.random() >= 0.2:  # 20 % loss, 0-3 ticks of jitter (reorders)
            to_client.append((tick + int(rng.integers(0, 4)), tick, data))

        # -- client: decode whatever arrives, ack it (acks are lossy too) ----------
        arriving = [p for p in to_client if p[0] <= tick]
        to_client = [p for p in to_client if p[0] > tick]
        rng.shuffle(arriving)
        for _at, seq, payload in arriving:
            hdr = peek_header(payload)
            assert hdr.tick == seq
            got = decode_snapshot(payload, client_store.get)
            assert got.table == sent[seq], f"tick {seq}"
            client_store[seq] = got.table
            delivered += 1
            if rng.random() >= 0.2:
                to_server.append((tick + int(rng.integers(1, 4)), seq))
        newest = max(client_store, default=0)
        for t in [t for t in client_store if t < newest - 64]:
            del client_store[t]
        acked.update(t for at, t in to_server if at <= tick)
        to_server = [p for p in to_server if p[0] > tick]

    assert delivered > 0.75 * ticks
    assert 0 < full_sent < 0.05 * ticks  # only at start or after long loss streaks
    assert partial_sent > 0.1 * ticks
    assert max(baseline_ages) < ring_size


# ---------------------------------------------------------------------------
# malformed input
# ---------------------------------------------------------------------------


def _fuzz_corpus(rng):
    store: dict[int, EntityTable] = {}
    corpus: list[bytes] = []
    for j in range(40):
        F = 5 if j % 3 == 0 else int(rng.integers(1, 17))
        base, cur = make_pair(
            rng, F, int(rng.choice([0, 1, 5, 40, 150, 300])), int(rng.choice([400, 1 << 32])),
            float(rng.choice([0.3, 0.9, 1.0])), float(rng.choice([0.3, 0.9, 1.0])),
            float(rng.choice([0.0, 0.05, 0.5])), int(rng.choice([3, 300, 1 << 20])),
            int(rng.choice([0, 131072])),
        )
        bt = 1000 + j  # consecutive ticks: a corrupted age often hits another baseline
        store[bt] = base
        corpus.append(encode_snapshot(bt + int(rng.integers(1, 4)), cur, bt, base))
        corpus.append(encode_snapshot(bt + 1000, cur, bt, base))
        corpus.append(encode_snapshot(bt + 1, cur, None, None))
    # Also a typical scene (palette, lists, bitmasks).
    base, cur = typical_scene(rng)
    store[2000] = base
    corpus.append(encode_snapshot(2001, cur, 2000, base))
    return corpus, store


def _mutate(rng, data: bytes) -> bytes:
    s = bytearray(data)
    kind = int(rng.integers(8))
    if kind == 0:  # bit flips
        for _ in range(int(rng.integers(1, 9))):
            if s:
                s[int(rng.integers(len(s)))] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # truncation
        s = s[: int(rng.integers(len(s) + 1))]
    elif kind == 2:  # extension
        s += rng.bytes(int(rng.integers(1, 24)))
    elif kind == 3:  # random byte anywhere
        if s:
            s[int(rng.integers(len(s)))] = int(rng.integers(256))
    elif kind == 4:  # pure garbage
        s = bytearray(rng.bytes(int(rng.integers(0, 80))))
    elif kind == 5:  # insert / delete in the middle
        p = int(rng.integers(len(s) + 1))
        if rng.random() < 0.5:
            s[p:p] = rng.bytes(int(rng.integers(1, 4)))
        else:
            del s[p : p + int(rng.integers(1, 4))]
    elif kind == 6:  # header fields (counts, flags, age, F)
        for _ in range(int(rng.integers(1, 3))):
            p = int(rng.integers(min(len(s), 17) or 1))
            if p < len(s):
                s[p] = int(rng.integers(256))
    else:  # valid-looking counts that exceed the data
        if len(s) >= 13:
            struct.pack_into("<HHH", s, len(s) - 6 if rng.random() < 0.2 else 7,
                             *rng.integers(0, 1 << 16, 3).tolist())
    return bytes(s)


def test_fuzz_decode_raises_only_wire_error():
    rng = np.random.default_rng(99)
    corpus, store = _fuzz_corpus(rng)
    for data in corpus:  # the unmutated corpus decodes
        assert_valid_table(decode_snapshot(data, store.get).table)
    ok = 0
    for _ in range(20_000):
        data = _mutate(rng, corpus[int(rng.integers(len(corpus)))])
        try:
            got = decode_snapshot(data, store.get)
        except WireError:
            continue
        assert_valid_table(got.table)
        ok += 1
    assert ok > 0  # some mutations (e.g. of values) still decode, to a valid table


def test_every_truncation_and_extension_is_rejected():
    rng = np.random.default_rng(8)
    base, cur = typical_scene(rng)
    get = {99: base}.get
    for data in (encode_snapshot(100, cur, 99, base), encode_snapshot(100, cur, None, None)):
        for cut in range(len(data)):
            with pytest.raises(WireError):
                decode_snapshot(data[:cut], get)
        for extra in (b"\x00", b"\xff" * 7):
            with pytest.raises(WireError):
                decode_snapshot(data + extra, get)
        with pytest.raises(WireError):
            peek_header(data[:5])


def test_inconsistent_headers_are_rejected():
    rng = np.random.default_rng(9)
    base, cur = typical_scene(rng)
    get = {99: base}.get
    data = bytearray(encode_snapshot(100, cur, 99, base))

    def bad(mutator):
        d = bytearray(data)
        mutator(d)
        with pytest.raises(WireError):
            decode_snapshot(bytes(d), get)

    bad(lambda d: d.__setitem__(0, (2 << 4) | 4))  # unknown version
    bad(lambda d: d.__setitem__(0, (1 << 4) | 3))  # F disagrees with the baseline
    bad(lambda d: d.__setitem__(6, d[6] | 0x80))  # reserved flag bit
    bad(lambda d: struct.pack_into("<H", d, 7, len(base) + 1))  # more removed than held
    bad(lambda d: struct.pack_into("<H", d, 9, len(base)))  # more changed than kept
    bad(lambda d: d.__setitem__(5, 3))  # baseline tick we do not have
    # Removed bitmask with the wrong popcount: a full-size baseline whose removals
    # take the bitmask form (many removals), one bit flipped.
    ids = np.arange(64)
    b2 = EntityTable(ids, np.zeros((64, 1), np.int32))
    c2 = b2.subset(ids[::2])
    d2 = bytearray(encode_snapshot(5, c2, 4, b2))
    assert d2[6] & 1 == 0  # bitmask form
    d2[HEADER_BYTES] ^= 0b100  # the bit block starts right after the header here
    with pytest.raises(WireError):
        decode_snapshot(bytes(d2), {4: b2}.get)
    # An added id equal to a kept one.
    b3 = EntityTable([5, 9], [[1], [2]])
    c3 = EntityTable([5, 7, 9], [[1], [3], [2]])
    d3 = bytearray(encode_snapshot(5, c3, 4, b3))
    assert d3[-2] == 7  # added-id gap column (width 1), then the added value
    d3[-2] = 9
    with pytest.raises(WireError):
        decode_snapshot(bytes(d3), {4: b3}.get)


def test_allocation_is_bounded_by_input_size():
    # 13 bytes claiming 65535 added entities of 16 fields: must not allocate for them.
    data = struct.pack("<BIBBHHH", (1 << 4) | 15, 1, 0, 0, 0, 0, 0xFFFF)
    big_base = EntityTable(np.arange(MAX_ENTITIES), np.zeros((MAX_ENTITIES, 16), np.int32))
    evil = [
        data,
        data + b"\x00" * 10,
        struct.pack("<BIBBHHH", (1 << 4) | 15, 2, 1, 0, 0, 0xFFFF, 0xFFFF),
        struct.pack("<BIBBHHHB", (1 << 4) | 15, 2, 1, 4, 0, 0xFFFF, 0, 255),
    ]
    tracemalloc.start()
    try:
        for d in evil:
            with pytest.raises(WireError):
                decode_snapshot(d, {1: big_base}.get)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


# ---------------------------------------------------------------------------
# size and speed on a typical scene
# ---------------------------------------------------------------------------


def test_size_vs_naive_msgpack_typical_scene():
    rng = np.random.default_rng(10)
    base, current = typical_scene(rng, n=150, moving=0.5, step=4, churn=1)
    ours = roundtrip(1001, current, 1000, base)
    full = roundtrip(1001, current, None, None)
    naive = naive_snapshot_bytes(1001, current, ENTITIES.snapshot)
    ratio = len(naive) / len(ours)
    print(
        f"\ntypical scene, 150 entities: delta {len(ours)} B, full {len(full)} B, "
        f"naive msgpack {len(naive)} B, ratio {ratio:.1f}x (full: {len(naive) / len(full):.1f}x)"
    )
    assert ratio >= 10
    assert len(full) < len(naive) / 2
