"""The Game interface itself: input schemas (one encoding for every layer), the registry, the built-in games."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netcode.game import (BUILTIN, GameNotFound, InputField, InputSchema, StateCodec, analog, angle, axis,
                          builtin_games, button, buttons, capabilities, describe, direction, fingerprint, load_game,
                          missing_members, resolve)
from netcode.game.registry import NotPlayable

SCHEMA = InputSchema([axis("mx"), axis("my"), buttons("b", 3), direction("heading", 8), angle("aim", 12),
                      analog("trigger", 5), analog("stick", 6, signed=True, lo=-30, hi=30)])


def _values(schema):
    return st.tuples(*(st.integers(f.lo, f.hi) for f in schema.fields))


@settings(max_examples=200, deadline=None)
@given(st.lists(_values(SCHEMA), min_size=1, max_size=40))
def test_pack_unpack_bytes_and_arrays_agree(rows):
    packed = [SCHEMA.pack(r) for r in rows]
    assert [SCHEMA.unpack(p) for p in packed] == rows
    assert all(SCHEMA.valid(p) for p in packed)
    data = SCHEMA.encode_many(packed)
    assert len(data) == len(rows) * SCHEMA.record_size == len(rows) * 5  # 2+2+3+8+12+5+6 = 38 bits
    assert SCHEMA.decode_many(data, len(rows)).tolist() == packed
    assert [SCHEMA.from_bytes(SCHEMA.to_bytes(p)) for p in packed] == packed
    arr = SCHEMA.unpack_many(np.array(packed, dtype=np.uint64))
    assert arr.dtype == np.int32 and arr.tolist() == [list(r) for r in rows]
    assert SCHEMA.pack_many(arr).tolist() == packed


def test_no_input_is_all_zero_bits_and_the_missing_input_rules():
    assert SCHEMA.pack((0,) * 7) == 0 and SCHEMA.unpack(0) == (0,) * 7
    held = SCHEMA.pack((1, -1, 5, 200, 3000, 7, -3))
    # "no input", but the aim and the heading stay where they were (hold)
    assert SCHEMA.unpack(SCHEMA.fill(held)) == (0, 0, 0, 200, 3000, 0, 0)
    # repeated for a missing tick: the buttons are released (release), the rest repeats
    assert SCHEMA.unpack(SCHEMA.repeat(held)) == (1, -1, 0, 200, 3000, 7, -3)
    assert SCHEMA.smooth == SCHEMA.index("aim")


def test_out_of_range_records_are_invalid_and_sanitize_clamps():
    assert not SCHEMA.valid(SCHEMA.pack(mx=0) | 0b10)  # an axis of -2
    assert not SCHEMA.valid(1 << SCHEMA.bits)  # a bit beyond the record
    stick = SCHEMA.index("stick")
    assert not SCHEMA.valid(32 << SCHEMA.offsets[stick])  # -32 < lo
    with pytest.raises(ValueError, match="stick must be in -30..30"):
        SCHEMA.pack(stick=31)
    assert SCHEMA.unpack(SCHEMA.sanitize((5, -9, 255, 300, -1, 99, -99))) == (1, -1, 7, 44, 4095, 31, -30)
    assert SCHEMA.field(SCHEMA.pack(aim=4096 + 5), "aim") == 5  # wrapping fields wrap
    with pytest.raises(ValueError, match="unknown input fields"):
        SCHEMA.pack(fire=1)


def test_schema_declaration_errors():
    with pytest.raises(ValueError, match="at most 64 bits"):
        InputSchema([analog(f"a{i}", 31) for i in range(3)])
    with pytest.raises(ValueError, match="bits must be 1..31"):  # the game gets int32 values
        analog("big", 32)
    assert analog("big", 32, signed=True).bits == 32
    with pytest.raises(ValueError, match="duplicate"):
        InputSchema([button("a"), button("a")])
    with pytest.raises(ValueError, match="must hold 0"):
        InputField("x", 4, lo=1, hi=5)
    assert len(SCHEMA.describe()) == 7 and SCHEMA.describe()[4]["smooth"]


def test_the_built_in_games_and_their_capabilities():
    games = builtin_games()
    assert set(games) == set(BUILTIN) == {"arena", "football"}
    assert capabilities(games["arena"]) == ("lag_compensation", "bots", "prediction", "event_feed", "scoreboard")
    assert capabilities(games["football"]) == ("bots", "prediction", "event_feed", "scoreboard")
    for name, g in games.items():
        assert not missing_members(g) and load_game(name) is g
        d = describe(g)
        assert d["name"] == name and d["spec"] == name and d["input_bytes"] == 3 and set(d["modes"]) == {"state",
                                                                                                         "lockstep"}
        config = g.make_config(mode="state", max_players=8, tick_rate=60)
        assert g.config_from_dict(json.loads(json.dumps(config.to_dict()))) == config
        assert fingerprint(config) == fingerprint(g.config_from_dict(config.to_dict()))


def test_resolve_says_why_a_game_cannot_be_played(monkeypatch):
    arena = load_game("arena")
    config = arena.make_config(mode="state", max_players=8, tick_rate=60)
    info = {"game": "arena", "game_version": arena.version, "config": config.to_dict(),
            "config_fingerprint": fingerprint(config)}
    assert resolve(info)[1] == config
    with pytest.raises(NotPlayable, match="version 99"):
        resolve({**info, "game_version": 99})
    with pytest.raises(NotPlayable, match="runs game 'chess', which is not a built-in game; pass --game chess"):
        resolve({**info, "game": "chess"})
    monkeypatch.setenv("NETCODE_GAMES", "chess")
    with pytest.raises(NotPlayable, match="runs game 'chess', which is not installed here"):
        resolve({**info, "game": "chess"})
    with pytest.raises(ValueError, match="fingerprint"):
        resolve({**info, "config_fingerprint": 1})
    with pytest.raises(ValueError, match="did not say"):
        resolve({})
    with pytest.raises(GameNotFound, match="lacks"):
        load_game("json:decoder")  # a module, not a game


def test_games_command_lists_both_games():
    out = subprocess.run([sys.executable, "-m", "netcode", "games", "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert set(rows) >= {"arena", "football"} and rows["arena"]["capabilities"][0] == "lag_compensation"
    out = subprocess.run([sys.executable, "-m", "netcode", "games"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "football" in out.stdout and "modes: state, lockstep" in out.stdout


def test_state_codec_round_trips_a_structure_of_arrays_and_refuses_anything_else():
    grid = StateCodec(b"GRID", 1, [("cells", "|b1", (3,))])  # bool arrays with a shape per row, bit-packed
    cells = np.array([[1, 0, 1], [0, 0, 1]], bool)
    data = grid.encode({"cells": cells}, fingerprint=1, seed=2, tick=3, rows=2)
    assert (grid.decode(data, fingerprint=1, rows=2)[2]["cells"] == cells).all()
    codec = StateCodec(b"TEST", 3, [("pos", "<i4", (2,)), ("hp", "<i2", ()), ("on", "|b1", ())], tail=4)
    rows = 5
    arrays = {"pos": np.arange(10, dtype=np.int32).reshape(5, 2), "hp": np.array([1, -2, 3, 4, 5], np.int16),
              "on": np.array([1, 0, 1, 1, 0], bool)}
    data = codec.encode(arrays, fingerprint=77, seed=9, tick=12, rows=rows, tail=b"abcd")
    assert len(data) == codec.size(rows) == sum(size for size, _ in codec.layout(rows))
    seed, tick, back, tail = codec.decode(data, fingerprint=77, rows=rows)
    assert (seed, tick, tail) == (9, 12, b"abcd")
    assert all((back[k] == v).all() for k, v in arrays.items())
    flipped = bytearray(data)
    flipped[40] ^= 1
    for bad, words in ((data[:-1], "bytes, expected"), (bytes(flipped), "crc mismatch"), ("text", "must be bytes")):
        with pytest.raises(ValueError, match=words):
            codec.decode(bad, fingerprint=77, rows=rows)
    with pytest.raises(ValueError, match="other rules"):
        codec.decode(data, fingerprint=78, rows=rows)
    with pytest.raises(ValueError, match="this format"):
        StateCodec(b"TEST", 4, codec.fields, tail=4).decode(data, fingerprint=77, rows=rows)
    arrays["on"] = np.ones(5, bool)
    padded = bytearray(codec.encode(arrays, fingerprint=77, seed=9, tick=12, rows=rows, tail=b"abcd"))
    at = 30 + 40 + 10  # header, pos, hp: the bit-packed byte
    padded[at] |= 1  # a padding bit (row 7 of 8)
    padded[-4:] = struct.pack("<I", zlib.crc32(bytes(padded[:-4])))
    with pytest.raises(ValueError, match="padding bits"):
        codec.decode(bytes(padded), fingerprint=77, rows=rows)
