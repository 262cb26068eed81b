"""Batched snapshot encoding: every client's delta snapshot for one tick at once.

:func:`netcode.wire.snapshot.encode_snapshot` costs a fixed ~45 µs of numpy call
overhead per snapshot, whatever its size, so 128 clients spend most of a 60 Hz tick
on overhead.  :class:`SnapshotBatch` takes every client's current view and baseline
as concatenated segments, matches them once with ``client * M + id`` keys, and builds
all the snapshots with whole-array operations over all clients together.  The
format's per-snapshot choices (column widths, gap list or bitmask, palette or raw
field masks) become per-segment reductions over small ``[clients, columns]`` grids.
Only the final slicing of one output buffer loops over clients in Python.

The bytes produced for each client are exactly those of ``encode_snapshot`` on the
same inputs (docs/SNAPSHOT.md), so the decoder is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from netcode.wire.snapshot import (
    FORMAT_VERSION,
    MAX_ENTITIES,
    MAX_FIELDS,
    NO_BASELINE,
)

__all__ = ["SnapshotBatch"]

_U32_MAX = 0xFFFFFFFF
_F_REMOVED_LIST = 0x01
_F_CHANGED_LIST = 0x02
_F_PALETTE = 0x04
_POW2 = 1 << np.arange(18, dtype=np.int64)
# Largest clients << F for which distinct field masks are found with a presence table
# (a cumsum over it ranks them); above it np.unique sorts the masks instead.
_PRESENCE_LIMIT = 1 << 16


def _match(bkey: np.ndarray, ckey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys -> (row of each ``ckey`` in ``bkey``, clipped; whether found)."""
    nb = bkey.shape[0]
    if nb == 0 or ckey.shape[0] == 0:
        return np.zeros(ckey.shape[0], dtype=np.int64), np.zeros(ckey.shape[0], dtype=bool)
    pos = bkey.searchsorted(ckey)
    np.minimum(pos, nb - 1, out=pos)
    return pos, bkey.take(pos) == ckey


def _nz(mask: np.ndarray) -> np.ndarray:
    """Indices of the True entries of a bool array, flattened (np.flatnonzero, minus its wrapper)."""
    return mask.ravel().nonzero()[0]


def _seg_len(off: np.ndarray) -> np.ndarray:
    """Offsets -> segment lengths (np.diff, minus its wrapper)."""
    return off[1:] - off[:-1]


def _offsets(counts: np.ndarray) -> np.ndarray:
    """Segment sizes -> int64 offsets with a leading 0 (length len(counts) + 1)."""
    off = np.empty(counts.shape[0] + 1, dtype=np.int64)
    off[0] = 0
    np.add.accumulate(counts, out=off[1:])
    return off


def _seg_reduce(ufunc: np.ufunc, x: np.ndarray, off: np.ndarray, dtype: type | None = None) -> np.ndarray:
    """``ufunc`` over each segment ``x[off[i]:off[i+1]]`` (axis 0); empty segments give 0."""
    out = np.zeros((off.shape[0] - 1,) + x.shape[1:], dtype=dtype or x.dtype)
    if x.shape[0]:
        # reduceat gives x[i] for an empty segment [i, i): pass only the non-empty
        # starts.  They rise strictly, and the segments after the last one are empty,
        # so each reduces exactly its own segment.
        nz = off[1:] > off[:-1]
        out[nz] = ufunc.reduceat(x, off[:-1][nz], axis=0, dtype=dtype)
    return out


def _runs(starts: np.ndarray, lengths: np.ndarray, step: int = 1) -> np.ndarray:
    """``starts[i] + step * j`` for ``j < lengths[i]``, concatenated over ``i`` (int32)."""
    off = _offsets(lengths)
    idx = (starts - off[:-1] * step).astype(np.int32).repeat(lengths)
    ar = np.arange(idx.shape[0], dtype=np.int32)
    if step != 1:
        ar *= step
    idx += ar
    return idx


def _write_groups(
    out: np.ndarray, spill: int, vals: np.ndarray, cnt: np.ndarray, dst: np.ndarray, width: np.ndarray
) -> None:
    """Write uint32 ``vals``, cut into consecutive groups of ``cnt`` elements, into ``out``.

    Group ``g``'s elements go one after another from ``out[dst[g]]``, each as its low
    ``width[g]`` bytes, little-endian; a width of 0 skips the group.  ``out[spill:]``
    is scratch of at least ``max(cnt)`` bytes for groups not 1 byte wide.
    """
    if not vals.shape[0]:
        return
    # Nearly every element is 1 byte wide: write all of them in one scatter, sending
    # the others to the scratch tail, then write the wider groups a byte lane at a time.
    out[_runs(np.where(width == 1, dst, spill), cnt)] = vals
    off = _offsets(cnt)
    for w in (2, 3, 4):
        sel = _nz((width == w) & (cnt > 0))
        if not sel.shape[0]:
            continue
        n = cnt.take(sel)
        v = vals.take(_runs(off.take(sel), n))
        d = _runs(dst.take(sel), n, w)
        out[d] = v
        for lane in range(1, w):
            d += 1
            out[d] = v >> (8 * lane)


def _grouped_gaps(pos: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Positions rising within each group ``off[i]:off[i+1]`` -> uint32 gaps.

    A group's gaps are its first position, then each difference minus one.
    """
    g = pos.astype(np.uint32)
    g[1:] -= g[:-1] + np.uint32(1)
    first = off[:-1][off[1:] > off[:-1]]
    g[first] = pos.take(first)
    return g


def _uwidth(m: np.ndarray) -> np.ndarray:
    """Unsigned maxima < 2**32 -> the bytes (1..4) that hold them."""
    return 1 + (m >= 1 << 8).astype(np.int64) + (m >= 1 << 16) + (m >= 1 << 24)


def _swidth(o: np.ndarray) -> np.ndarray:
    """Column ORs of ``x ^ (x >> 31)`` -> the bytes (1..4) of the signed column."""
    return 1 + (o >= 1 << 7).astype(np.int64) + (o >= 1 << 15) + (o >= 1 << 23)


def _as_offsets(offsets: object, n: int, what: str) -> np.ndarray:
    """Validated int64 segment offsets: 1-D, from 0 up to ``n``, never decreasing."""
    off = np.asarray(offsets, dtype=np.int64)
    if off.ndim != 1 or off.shape[0] < 1:
        raise ValueError(f"{what} offsets must be 1-D with at least one entry")
    if off[0] != 0 or off[-1] != n or (off[1:] < off[:-1]).any():
        raise ValueError(f"{what} offsets must rise from 0 to {n}")
    return off


def _as_ids(ids: object, what: str) -> np.ndarray:
    """Validated 1-D ids as uint32 (no copy if they already are)."""
    a = np.asarray(ids)
    if a.ndim != 1:
        raise ValueError(f"{what} ids must be 1-D")
    if a.size and a.dtype != np.uint32:
        if a.dtype.kind not in "iu":
            raise TypeError(f"{what} ids must be integers, got {a.dtype}")
        if int(a.min()) < 0 or int(a.max()) > _U32_MAX:
            raise ValueError(f"{what} ids must fit in uint32")
    return a.astype(np.uint32, copy=False)


def _as_values(values: object, n: int, what: str) -> np.ndarray:
    """Validated ``[n, F]`` values as C-contiguous int32 (no copy if they already are)."""
    a = np.asarray(values)
    if a.ndim != 2 or a.shape[0] != n:
        raise ValueError(f"{what} values must have shape [{n}, F], got {a.shape}")
    if a.size and a.dtype != np.int32:
        if a.dtype.kind not in "iu":
            raise TypeError(f"{what} values must be integers, got {a.dtype}")
        if int(a.min()) < -(1 << 31) or int(a.max()) >= 1 << 31:
            raise ValueError(f"{what} values must fit in int32")
    return np.ascontiguousarray(a, dtype=np.int32)


class SnapshotBatch:
    """All clients' current views and baselines for one tick, aligned once with whole-array ops.

    Client ``i``'s current table is ``cur_ids[cur_offsets[i]:cur_offsets[i+1]]`` with
    the same rows of ``cur_values`` (int32 ``[n, F]``); its baseline, the table it
    acknowledged, is the same slice of ``base_offsets``/``base_ids``/``base_values``
    (empty if it has none).  Ids must fit in uint32 and rise strictly within each
    segment.  The arrays are not copied when they already have those dtypes; do not
    modify them while the batch is in use.

    After construction these arrays, one entry per current pair (``len(cur_ids)``),
    hold what bandwidth budgeting needs, computed once for all clients:

    * ``client``: the client (segment) of each pair;
    * ``in_base``: whether the entity is in that client's baseline segment;
    * ``base_index``: its row in ``base_ids``/``base_values``, or -1;
    * ``changed_fields``: how many of its fields differ from the baseline's (F when
      it is not in the baseline).

    They do not know ``base_ticks``: give a client that will get a full snapshot an
    empty baseline segment.  :meth:`encode` then builds the snapshots.
    """

    def __init__(
        self,
        cur_offsets: object,
        cur_ids: object,
        cur_values: object,
        base_offsets: object,
        base_ids: object,
        base_values: object,
    ) -> None:
        cid = _as_ids(cur_ids, "current")
        bid = _as_ids(base_ids, "baseline")
        cval = _as_values(cur_values, cid.shape[0], "current")
        bval = _as_values(base_values, bid.shape[0], "baseline")
        F = cval.shape[1]
        if not 1 <= F <= MAX_FIELDS:
            raise ValueError(f"number of fields must be 1..{MAX_FIELDS}, got {F}")
        if bval.shape[1] != F:
            raise ValueError(f"baseline has {bval.shape[1]} fields, current {F}")
        co = _as_offsets(cur_offsets, cid.shape[0], "current")
        bo = _as_offsets(base_offsets, bid.shape[0], "baseline")
        if bo.shape[0] != co.shape[0]:
            raise ValueError(f"{co.shape[0] - 1} current segments but {bo.shape[0] - 1} baseline segments")
        C = co.shape[0] - 1
        n = cid.shape[0]
        nb_tot = bid.shape[0]
        clients = np.arange(C, dtype=np.int64)
        ccl = clients.repeat(_seg_len(co))
        bcl = clients.repeat(_seg_len(bo))
        # client * M + id rises strictly over the whole array iff the ids rise strictly
        # within every segment, so one comparison checks them all.
        M = 1 + max(int(cid.max()) if n else 0, int(bid.max()) if nb_tot else 0)
        # int32 keys when they fit: half the memory traffic in the binary search
        kt = np.int32 if C * M < 1 << 31 else np.int64
        ckey = ccl.astype(kt) * kt(M) + cid.astype(kt)
        bkey = bcl.astype(kt) * kt(M) + bid.astype(kt)
        if n > 1 and not (ckey[1:] > ckey[:-1]).all():
            raise ValueError("current ids must rise strictly within each client")
        if nb_tot > 1 and not (bkey[1:] > bkey[:-1]).all():
            raise ValueError("baseline ids must rise strictly within each client")

        pos, in_base = _match(bkey, ckey)
        if nb_tot:
            diff = bval.take(pos, axis=0)
            np.subtract(cval, diff, out=diff)  # int32 wrap-around, as encode_snapshot
        else:
            diff = cval
        # Field-major: the number stream is field-major within each client, and every
        # per-field operation becomes one contiguous 1-D pass.
        diffT = np.ascontiguousarray(diff.T)
        del diff
        neT = diffT != 0
        if F > 8:
            codes = neT[0].astype(np.uint16)
            for f in range(1, F):
                codes |= neT[f].astype(np.uint16) << f
        else:
            codes = neT[0].view(np.uint8).copy()
            for f in range(1, F):
                codes |= neT[f].view(np.uint8) << f
        changed = np.where(in_base, np.bitwise_count(codes), np.uint8(F)).astype(np.int64)

        self.n_clients = C
        self.n_fields = F
        self.cur_offsets, self.cur_ids, self.cur_values = co, cid, cval
        self.base_offsets, self.base_ids, self.base_values = bo, bid, bval
        self.client = ccl
        self.in_base = in_base
        self.base_index = np.where(in_base, pos, -1).astype(np.int64, copy=False)
        self.changed_fields = changed
        self._base_client = bcl
        self._pos = pos
        self._diffT = diffT
        self._neT = neT
        self._codes = codes

    def encode(
        self,
        tick: int,
        base_ticks: Sequence[int | None],
        update: np.ndarray | None = None,
    ) -> tuple[list[bytes], np.ndarray, np.ndarray, np.ndarray]:
        """Encode every client's snapshot for ``tick``.

        ``base_ticks[i]`` is the tick of client ``i``'s baseline segment, or None for a
        full snapshot (its baseline segment is then ignored).  ``update`` is a bool mask
        over the current pairs (None: all True) with :func:`select_update`'s meaning: a
        pair in the baseline but not updated keeps the baseline's values, a pair not in
        the baseline and not updated is deferred (left out), and baseline entities
        missing from the current view are removed.

        Returns ``(datas, sent_offsets, sent_ids, sent_values)``.  ``datas[i]`` equals
        ``encode_snapshot(tick, sent_i, base_ticks[i], baseline_i)`` byte for byte,
        where ``sent_i`` is segment ``i`` of the sent arrays: the table client ``i``
        holds after decoding, to be stored as a future baseline.  With
        ``update=None`` the sent arrays are the current ones (not copies).  Raises
        ValueError for what ``encode_snapshot`` rejects (bad ticks, more than 65535
        entities).
        """
        tick = int(tick)
        if not 0 <= tick <= _U32_MAX:
            raise ValueError(f"tick {tick} does not fit in uint32")
        C, F = self.n_clients, self.n_fields
        if len(base_ticks) != C:
            raise ValueError(f"{len(base_ticks)} base ticks for {C} clients")
        co, cid, cval = self.cur_offsets, self.cur_ids, self.cur_values
        bo = self.base_offsets
        ccl = self.client
        n = cid.shape[0]
        if C == 0:
            return [], co, cid, cval
        clients = np.arange(C, dtype=np.int64)

        # -- header fields ------------------------------------------------------------
        has = np.array([t is not None for t in base_ticks], dtype=bool)
        bt = np.array([NO_BASELINE if t is None else t for t in base_ticks], dtype=np.int64).reshape(C)
        if ((bt < 0) | (bt > NO_BASELINE) | (has & (bt == NO_BASELINE))).any():
            raise ValueError("base ticks must be uint32 ticks other than NO_BASELINE")
        age = (tick - bt) & _U32_MAX
        explicit = has & ((age < 1) | (age > 254))
        age[explicit] = 255
        age[~has] = 0
        all_base = bool(has.all())
        nb = _seg_len(bo)
        if not all_base:
            nb[~has] = 0
        if C and int(nb.max()) > MAX_ENTITIES:
            raise ValueError(f"a baseline has more than {MAX_ENTITIES} entities")
        ib = self.in_base if all_base else self.in_base & has.take(ccl)
        if update is not None:
            upd = np.asarray(update)
            if upd.shape != (n,) or upd.dtype != bool:
                raise ValueError(f"update must be a bool mask of shape ({n},)")

        # -- the sent tables ------------------------------------------------------------
        if update is None:
            s_off, s_ids, s_vals = co, cid, cval
            A = _nz(~ib)
        else:
            keep = _nz(ib | upd)
            s_ids = cid.take(keep)
            s_vals = cval.take(keep, axis=0)
            s_off = keep.searchsorted(co)
            stale = _nz(ib & ~upd)
            if stale.shape[0]:
                # kept rows not updated: the client keeps its baseline values
                s_vals[keep.searchsorted(stale)] = self.base_values.take(self._pos.take(stale), axis=0)
            A = _nz(~ib & upd)
        if C and int(_seg_len(s_off).max()) > MAX_ENTITIES:
            raise ValueError(f"a snapshot has more than {MAX_ENTITIES} entities")

        # -- kept rows (in the baseline), and the changed ones among them ----------------
        K = _nz(ib)
        k_off = K.searchsorted(co)
        nk = _seg_len(k_off)
        kcodes = self._codes.take(K)
        kch = kcodes != 0  # the changed bit of each kept row
        if update is not None:
            kch &= upd.take(K)
        CHk = _nz(kch)  # changed rows, as positions in the kept list
        CH = K.take(CHk)  # ... and as current rows
        c_off = CHk.searchsorted(k_off)
        nc = _seg_len(c_off)
        nch = CH.shape[0]
        ccodes = kcodes.take(CHk)

        # -- removed baseline rows: gap list or bitmask ----------------------------------
        n_rem = nb - nk
        rem_partial = (n_rem > 0) & (n_rem < nb)
        w_rem = np.ones(C, dtype=np.int64)
        if rem_partial.any():
            matched = np.zeros(self.base_ids.shape[0], dtype=bool)
            matched[self._pos.take(K)] = True
            R = _nz(~matched)
            R = R.take(_nz(rem_partial.take(self._base_client.take(R))))
            rcl = self._base_client.take(R)
            r_off = R.searchsorted(bo)
            rp = R - bo.take(rcl)  # row in the client's baseline
            rg = _grouped_gaps(rp, r_off)
            w_rem = _uwidth(_seg_reduce(np.maximum, rg, r_off))
            rem_list = rem_partial & (8 * w_rem * n_rem + 2 < nb)
        else:
            rg = np.zeros(0, dtype=np.uint32)
            r_off = np.zeros(C + 1, dtype=np.int64)
            rem_list = rem_partial
        rem_bm = rem_partial & ~rem_list

        # -- changed set: gap list or bitmask --------------------------------------------
        chg_partial = (nc > 0) & (nc < nk)
        w_chg = np.ones(C, dtype=np.int64)
        # A list needs 8 * w * nc + 2 < nk with w >= 1: most clients cannot use one.
        maybe = chg_partial & (8 * nc + 2 < nk)
        if maybe.any():
            lsel = _nz(maybe.repeat(nc))
            l_off = lsel.searchsorted(c_off)
            cg = _grouped_gaps(CHk.take(lsel) - k_off[:-1].repeat(nc).take(lsel), l_off)
            w_chg = _uwidth(_seg_reduce(np.maximum, cg, l_off))
            chg_list = maybe & (8 * w_chg * nc + 2 < nk)
        else:
            cg = np.zeros(0, dtype=np.uint32)
            l_off = np.zeros(C + 1, dtype=np.int64)
            chg_list = maybe
        chg_bm = chg_partial & ~chg_list

        # -- field-change masks: palette of the distinct masks, or raw --------------------
        mkey = (clients << F).repeat(nc)
        mkey |= ccodes
        if C << F <= _PRESENCE_LIMIT:
            present = np.zeros((C, 1 << F), dtype=bool)
            present.ravel()[mkey] = True
            # rank[c, m]: how many distinct masks of client c are below m (its index)
            rank = present.cumsum(axis=1, dtype=np.int64)
            k = rank[:, -1].copy()
            rank -= 1
            idx = rank.ravel().take(mkey)
            u_off = _offsets(k)
            uniq = _nz(present)
        else:
            uniq, idx = np.unique(mkey, return_inverse=True)
            u_off = uniq.searchsorted(np.arange(C + 1, dtype=np.int64) << F)
            k = _seg_len(u_off)
            idx -= u_off[:-1].repeat(nc)
        b = _POW2.searchsorted(k)  # bit_length(k - 1)
        pal = (nc > 0) & (k <= 256) & (8 + k * F + nc * b < nc * F)

        # -- added rows: id gaps, then full values --------------------------------------
        a_off = A.searchsorted(co)
        na = _seg_len(a_off)
        ag = _grouped_gaps(cid.take(A), a_off)
        w_aid = _uwidth(_seg_reduce(np.maximum, ag, a_off))
        av = cval if A.shape[0] == n else cval.take(A, axis=0)
        x = av >> 31
        np.bitwise_xor(x, av, out=x)
        w_aval = _swidth(_seg_reduce(np.bitwise_or, x, a_off)).T

        # -- changed values, field-major: (field, client) groups in the order they go ---
        # Straight from the field-major diffs of all current rows: the changed fields of
        # the kept, updated rows, grouped by (field, client) in stream order.
        fr = _nz(self._neT & (ib if update is None else ib & upd))
        cv = self._diffT.ravel().take(fr)
        bounds = np.empty(F * C + 1, dtype=np.int64)
        bounds[:-1] = (np.arange(F, dtype=np.int64)[:, None] * n + co[:-1]).ravel()
        bounds[-1] = F * n
        g_off = fr.searchsorted(bounds)
        g_cnt = _seg_len(g_off)
        x = cv >> 31
        np.bitwise_xor(x, cv, out=x)
        w_cval = _swidth(_seg_reduce(np.bitwise_or, x, g_off)).reshape(F, C)

        # -- number stream: a grid of 2F + 3 column slots per client -----------------------
        # Slots in stream order: removed gaps, changed gaps, F changed-value columns,
        # added id gaps, F added-value columns.  Width 0 marks a column not sent.
        S = 2 * F + 3
        cnt = np.empty((S, C), dtype=np.int64)  # slot-major: rows are (field, client) groups
        cnt[0] = np.where(rem_list, n_rem, 0)
        cnt[1] = np.where(chg_list, nc, 0)
        cnt[2 : 2 + F] = g_cnt.reshape(F, C)
        cnt[2 + F :] = na
        wid = np.empty((S, C), dtype=np.int64)
        wid[0] = np.where(rem_list, w_rem, 0)
        wid[1] = np.where(chg_list, w_chg, 0)
        wid[2 : 2 + F] = np.where(nc > 0, w_cval, 0)
        wid[2 + F] = np.where(na > 0, w_aid, 0)
        wid[3 + F :] = np.where(na > 0, w_aval, 0)
        nbytes = cnt * wid

        # -- bit block layout: width codes, removed/changed bitmasks, field masks ----------
        ncols = rem_list.astype(np.int64) + chg_list + F * (nc > 0) + (F + 1) * (na > 0)
        s_chg = 2 * ncols + np.where(rem_bm, nb, 0)
        s_fm = s_chg + np.where(chg_bm, nk, 0)
        s_idx = s_fm + k * F
        t_bits = np.where(pal, s_idx + nc * b, s_fm + nc * F)  # nc == 0: just s_fm
        b_len = (t_bits + 7) >> 3
        b_off = _offsets(b_len)
        bit0 = b_off[:-1] * 8

        # -- where everything goes in the output buffer ----------------------------------
        h_len = 13 + 4 * explicit + pal
        total = h_len + b_len + nbytes.sum(axis=0)
        o_off = _offsets(total)
        slot_b = nbytes.cumsum(axis=0) - nbytes  # [S, C] like cnt
        slot_b += o_off[:-1] + h_len + b_len

        # Bit fields: (bit position, value < 2**16); zero-valued fields may be left out.
        f_pos: list[np.ndarray] = []
        f_val: list[np.ndarray] = []
        col = wid > 0
        sj, ci = col.nonzero()
        f_pos.append(bit0.take(ci) + 2 * (col.cumsum(axis=0) - col)[sj, ci])
        f_val.append(wid[sj, ci] - 1)
        if rem_bm.any():
            sel = _nz(rem_bm.take(rcl))
            f_pos.append((bit0 + 2 * ncols).take(rcl.take(sel)) + rp.take(sel))
            f_val.append(np.ones(sel.shape[0], dtype=np.int64))
        if chg_bm.any():
            # The changed bitmask is each client's run of kept-row flags: cut it into
            # 16-bit fields read from the flags of all kept rows packed once.
            n16 = np.where(chg_bm, (nk + 15) >> 4, 0)
            tcl = clients.repeat(n16)
            t16 = (np.arange(tcl.shape[0], dtype=np.int64) - _offsets(n16)[:-1].repeat(n16)) << 4
            start = k_off.take(tcl) + t16
            packed = np.zeros((kch.shape[0] + 7) // 8 + 3, dtype=np.int64)
            packed[:-3] = np.packbits(kch, bitorder="little")
            q = start >> 3
            word = packed.take(q) | packed.take(q + 1) << 8 | packed.take(q + 2) << 16
            n_bits = np.minimum(nk.take(tcl) - t16, 16)
            f_pos.append((bit0 + s_chg).take(tcl) + t16)
            f_val.append((word >> (start & 7)) & ((1 << n_bits) - 1))
        if nch:
            # one field per changed entity: its palette index or its raw F-bit mask
            fm_w = np.where(pal, b, F)
            fm_at = bit0 + np.where(pal, s_idx, s_fm) - c_off[:-1] * fm_w
            f_pos.append(fm_at.repeat(nc) + np.arange(nch, dtype=np.int64) * fm_w.repeat(nc))
            if not pal.any():
                f_val.append(ccodes)
            elif pal[nc > 0].all():
                f_val.append(idx)
            else:
                f_val.append(np.where(pal.repeat(nc), idx, ccodes))
            if pal.any():
                usel = _nz(pal.take(uniq >> F))
                u = uniq.take(usel)
                ucl = u >> F
                f_pos.append((bit0 + s_fm).take(ucl) + (usel - u_off.take(ucl)) * F)
                f_val.append(u & ((1 << F) - 1))
        p = np.concatenate(f_pos)
        # Fields never overlap, so summing each one's value, shifted into place, over
        # the byte it starts in gives every byte's bits; a field spans at most 3 bytes.
        n_blk = int(b_off[-1])
        acc = np.bincount(p >> 3, weights=np.concatenate(f_val) << (p & 7), minlength=n_blk)
        # a zero-width palette index (k == 1) may sit just past the last byte
        acc = acc[:n_blk].astype(np.int64)
        blk = acc & 0xFF
        blk[1:] |= (acc[:-1] >> 8) & 0xFF
        blk[2:] |= acc[:-2] >> 16

        # -- headers --------------------------------------------------------------------
        flags = rem_list * _F_REMOVED_LIST | chg_list * _F_CHANGED_LIST | pal * _F_PALETTE
        H = np.zeros((C, 18), dtype=np.uint8)
        H[:, 0] = (FORMAT_VERSION << 4) | (F - 1)
        H[:, 1:5] = np.array([tick], dtype="<u4").view(np.uint8)
        H[:, 5] = age
        H[:, 6:10] = bt.astype("<u4").view(np.uint8).reshape(C, 4)
        H[:, 10] = flags
        H[:, 11:17] = np.stack((n_rem, nc, na), axis=1).astype("<u2").view(np.uint8).reshape(C, 6)
        H[:, 17] = (k - 1) & 0xFF
        hmask = np.ones((C, 18), dtype=bool)
        hmask[:, 6:10] = explicit[:, None]
        hmask[:, 17] = pal
        heads = H[hmask]

        # -- one output buffer, sliced per client ----------------------------------------
        # Everything is written as groups of 1- to 4-byte elements, in this order: each
        # client's header, its bit block, then the number stream's [S, C] groups (the
        # removed and changed gaps of all partial clients are in rg and cg; those of
        # clients that send a bitmask instead are skipped with width 0).
        parts = (heads, blk, rg, cg, cv.view(np.uint32), ag)
        g_vals = np.empty(sum(x.shape[0] for x in parts) + av.size, dtype=np.uint32)
        at = 0
        for x in parts:
            g_vals[at : at + x.shape[0]] = x
            at += x.shape[0]
        g_vals[at:].reshape(F, -1).view(np.int32)[...] = av.T
        cnt[0] = _seg_len(r_off)
        cnt[1] = _seg_len(l_off)
        g_cnt = np.concatenate((h_len, b_len, cnt.ravel()))
        starts = o_off[:-1]
        g_dst = np.concatenate((starts, starts + h_len, slot_b.ravel()))
        g_w = np.concatenate((np.ones(2 * C, dtype=np.int64), wid.ravel()))
        n_out = int(o_off[-1])
        spill = cnt.ravel()[wid.ravel() != 1]
        out = np.empty(n_out + (int(spill.max()) if spill.shape[0] else 0), dtype=np.uint8)
        _write_groups(out, n_out, g_vals, g_cnt, g_dst, g_w)
        data = out[:n_out].tobytes()
        ends = o_off.tolist()
        datas = [data[ends[i] : ends[i + 1]] for i in range(C)]
        return datas, s_off, s_ids, s_vals
