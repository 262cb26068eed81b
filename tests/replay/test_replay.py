"""Replays: record a match, verify it by re-simulation, seek, survive crashes and garbage."""
import argparse
import random
import signal
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netcode.bots import make_brain
from netcode.interpolation import Interpolator
from netcode.netsim.link import LinkConfig
from netcode.replay import MatchRecorder, Playback, ReplayError, ReplayReader, info, seek, verify
from netcode.replay import format as fmt
from netcode.cli.replay import add_parser as add_replay_parser
from netcode.replay.inputs import ESCAPE, JUMP, InputDecoder, InputEncoder
from netcode.replay.verify import audit
from netcode.rewind import LagCompensator, RewindConfig
from netcode.games.arena import (BUTTON_FIRE, GAME, INPUTS, InputBatch, SimConfig, World, add_player, checksum,
                                 hitboxes, remove_player, rewound_resolver, step)
from netcode.statesync.client import StateSyncClient
from netcode.statesync.events import SnapshotReceived
from netcode.statesync.server import ServerConfig
from netcode.netsim.virtual import VirtualNetwork

from crash import sigkill_once_recorded
from helpers import arena_server

SERVER = ("server", 1)
ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------- helpers


class Truth:
    """Wraps a recorder and remembers the server's own checksum of every tick (ground truth for seek)."""

    def __init__(self, rec):
        self.rec = rec
        self.sums = {0: None}
        self.events = {}

    def on_join(self, *a):
        self.rec.on_join(*a)

    def on_leave(self, *a):
        self.rec.on_leave(*a)

    def on_tick(self, world, packed, events, *a, **kw):
        self.rec.on_tick(world, packed, events, *a, **kw)
        self.sums[world.tick] = checksum(world)
        self.events[world.tick] = list(events)

    def on_audit(self, entries):
        self.rec.on_audit(entries)

    @property
    def record_audit(self):
        return self.rec.record_audit


def add_bot(net, i, views=True):
    """A fighting bot; with ``views`` it interpolates snapshots like the real client and sends the view it
    draws, so its shots are rewound (VIEWS records)."""
    c = StateSyncClient(SERVER, name=f"bot{i}", nonce=100 + i)
    brain, interp = make_brain(GAME, i), Interpolator(60)
    orig = c.update

    def update(now, c=c, orig=orig):
        ticks = orig(now)
        for e in c.events():
            if isinstance(e, SnapshotReceived):
                interp.on_snapshot(e.tick, e.table, now)
        if c.welcome is not None:
            if views:
                c.view = interp.sample(now).view
            latest = c.latest
            c.next_input = brain.from_snapshot(c.welcome.config, latest.ids if latest else None,
                                               latest.values if latest else None, c.welcome.slot)
        return ticks

    c.update = update
    c.connect(net.now)
    net.add(("client", i), c)
    return c


def record_match(path, seconds=4.0, keyframe_every_s=1.0, **kw):
    """A lossy 4-bot match in virtual time: 3 bots from the start, one joining mid-match, one leaving
    (removed after the rejoin grace). Returns (server, truth)."""
    net = VirtualNetwork(LinkConfig(latency=0.05, jitter=0.01, loss=0.05), seed=7, step=1 / 240)
    server = arena_server(ServerConfig(rejoin_grace=0.5), seed=7, secret=b"r" * 32, npc_count=40, width=2048,
                          height=2048)
    rec = MatchRecorder.attach(server, path=path, keyframe_every_s=keyframe_every_s, **kw)
    truth = server.recorder = Truth(rec)
    net.add(SERVER, server)
    bots = [add_bot(net, i) for i in range(3)]
    net.advance(seconds * 0.35)
    add_bot(net, 3)
    net.advance(seconds * 0.2)
    bots[1].disconnect()
    net.advance(seconds * 0.45)
    rec.close()
    return server, truth


@pytest.fixture(scope="module")
def match(tmp_path_factory):
    path = tmp_path_factory.mktemp("replay") / "match.ncr"
    server, truth = record_match(path, record_audit=True)
    return path, server, truth


def drive(path, ticks=40, players=2, npcs=6, seed=3, rewind=True, **kw):
    """A match driven straight through the simulation, calling the recorder as the server does
    (including lag-compensated shots and their audit). Fast: no network."""
    cfg = SimConfig.arena(npc_count=npcs, width=512, height=512, max_players=4, walls=[], fire_cooldown_ticks=2)
    world = World.new(cfg, seed)
    comp = LagCompensator(RewindConfig(enabled=rewind), 60, 1, cfg.num_entities)
    kw.setdefault("record_audit", True)
    rec = MatchRecorder(path, GAME, cfg, "state", 60, lag_compensation={"window": 1.0, "snapshot_every": 1},
                        seed=seed, **kw)
    rng = np.random.default_rng(seed)
    batch = InputBatch.empty(cfg)
    for i in range(players):
        slot = add_player(world)
        rec.on_join(world.tick, slot, f"p{i}")
    for _ in range(ticks):
        t = world.tick + 1
        batch.move[:] = rng.integers(-1, 2, (4, 2))
        batch.aim[:] = rng.integers(0, 4096, 4)
        batch.buttons[:] = rng.integers(0, 2, 4)
        applied = {s: comp.apply_limits(s, max(0, t - 3), int(rng.integers(0, 65536)), 0.05, t)
                   for s in range(4) if batch.buttons[s] and world.active[s]}
        packed = INPUTS.pack_many(batch.array)
        events = step(world, batch, rewound_resolver(comp.frame(applied)))
        comp.record(world.tick, *hitboxes(world))
        rec.on_tick(world, packed, events, [(a.shooter, a.applied, a.hit) for a in comp.audit if a.tick == t])
        rec.on_audit([a.as_dict() for a in comp.audit if a.tick == t])
        if t == ticks // 2:
            rec.on_event("chat", {"slot": 0, "text": "gg"})
    rec.close()
    return world


def rewrite(path, out, transform):
    """Copy a replay record by record through ``transform(kind, payload) -> [(kind, payload), ...]``."""
    data = Path(path).read_bytes()
    r = ReplayReader(path)
    parts = [data[: r.data_offset]]
    for raw in r.raw_records():
        for kind, payload in transform(raw.kind, raw.payload):
            parts.append(fmt.frame(kind, payload))
    r.close()
    Path(out).write_bytes(b"".join(parts))


def run_cli(argv, capsys):
    p = argparse.ArgumentParser(prog="netcode")
    add_replay_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------- record -> verify


def test_lossy_match_with_join_leave_and_rewinds_verifies(match, capsys):
    path, server, truth = match
    r = verify(path)
    assert r.ok and r.first_divergence is None and r.clean and not r.warnings
    assert r.ticks == server.world.tick and r.checksums_checked == r.ticks
    assert r.keyframes_checked >= 3
    d = info(path)
    assert d["mode"] == "state" and d["clean"] and d["ended"] and d["last_tick"] == server.world.tick
    assert [p["name"] for p in d["players"]] == ["bot0", "bot1", "bot2", "bot3"] or len(d["players"]) == 4
    assert sum(p["left_tick"] is not None for p in d["players"]) == 1  # removed after the grace period
    late = max(d["players"], key=lambda p: p["joined_tick"])
    assert late["joined_tick"] > d["players"][0]["joined_tick"] + 60  # joined mid-match
    for kind in ("TICKS", "CHECKSUM", "JOIN", "LEAVE", "KEYFRAME", "VIEWS", "AUDIT", "END"):
        assert d["records"].get(kind), kind
    assert d["duration_s"] == pytest.approx(server.world.tick / 60)
    # rewound shots happened and were re-simulated: the stored audit equals the re-derived one
    assert server.lagcomp.totals()["rewound"] > 0
    assert len(audit(path)) >= server.lagcomp.totals()["shots"]
    code, out, err = run_cli(["replay", "verify", str(path)], capsys)
    assert code == 0 and out.startswith("ok:")
    code, out, err = run_cli(["replay", "info", str(path), "--json"], capsys)
    assert code == 0 and '"clean": true' in out


def test_shots_at_the_present_held_to_sight_verify_without_any_rewound_shot(tmp_path):
    """Bots that send no view shoot at the present, which the server holds to their sight (lag_compensation
    sight_at_present): the recording has no VIEWS record, and the re-simulation still resolves those shots through
    the compensator, or a shot the server let miss out of sight would hit there (it did: DIVERGED)."""
    path = tmp_path / "present.ncr"
    net = VirtualNetwork(LinkConfig(latency=0.02), seed=5, step=1 / 240)
    server = arena_server(ServerConfig(), seed=5, secret=b"r" * 32, npc_count=120, width=3000, height=3000)
    rec = MatchRecorder.attach(server, path=path, keyframe_every_s=1.0)
    net.add(SERVER, server)
    for i in range(4):
        add_bot(net, i, views=False)
    net.advance(8.0)
    rec.close()
    assert server.lagcomp.out_of_sight > 0  # some shots were held to sight: the case at stake
    with ReplayReader(path) as reader:
        assert not any(isinstance(r, fmt.Views) for _, r in reader.records())
        assert reader.header["lag_compensation"]["sight_at_present"] is True
    result = verify(path)
    assert result.ok, result


def test_parallel_verify_proves_the_same(match, tmp_path):
    path, server, truth = match
    one = verify(path)
    many = verify(path, workers=3)
    assert many.ok and (many.ticks, many.checksums_checked, many.keyframes_checked) == (
        one.ticks, one.checksums_checked, one.keyframes_checked)
    assert many.first_tick == one.first_tick and many.last_tick == one.last_tick
    # A worker starting at a keyframe has no hitbox history from before it: a shot rewound across
    # that keyframe is replayed with its recorded outcome (the checksums still check the result).
    assert all("recorded outcome was used" in w for w in many.warnings)


def test_without_views_rewound_shots_do_not_reproduce(match, tmp_path):
    path, _, _ = match
    out = tmp_path / "noviews.ncr"
    rewrite(path, out, lambda k, p: [] if k == fmt.Kind.VIEWS else [(k, p)])
    r = verify(out)
    assert not r.ok  # at the least the audit says "off" where the server rewound


def _alter_first_aim(path, out, after_tick, alive_slots):
    """Change one aim-only input change (a living player's) at or after ``after_tick``; return its tick."""
    r = ReplayReader(path)
    dec = InputDecoder(r.game.inputs, r.sim.max_players)
    altered = []

    def transform(kind, payload):
        if kind in (fmt.Kind.JOIN, fmt.Kind.LEAVE, fmt.Kind.KEYFRAME):
            rec = fmt.decode_record(kind, payload)
            if kind == fmt.Kind.JOIN:
                dec.join(rec.slot)
            elif kind == fmt.Kind.LEAVE:
                dec.leave(rec.slot)
            else:
                dec.reset_all()
        if kind != fmt.Kind.TICKS:
            return [(kind, payload)]
        block = fmt.decode_record(kind, payload)
        rows = block.changed_rows()
        dec.decode(block)
        if altered or block.last_tick < after_tick:
            return [(kind, payload)]
        aims = bytearray(block.changes)
        i = 0
        for k, row in enumerate(rows):
            tick = block.first_tick + k
            for j in row:
                if (not altered and tick >= after_tick and aims[i] not in (ESCAPE, JUMP)
                        and block.n_slots and dec.slots[j] in alive_slots(tick)):
                    aims[i] = (aims[i] + 40) & 0x7F  # another residual: the aim turns differently
                    altered.append(tick)
                i += 1
        return [(kind, fmt.encode_ticks(block.first_tick, block.count, block.n_slots, block.masks, bytes(aims),
                                        block.ext))]

    rewrite(path, out, transform)
    r.close()
    return altered[0]


def test_altered_input_reports_first_diverging_tick(match, tmp_path, capsys):
    path, server, truth = match

    def alive(tick):
        w = seek(path, tick - 1)
        return set(np.flatnonzero(w.alive[: w.config.max_players] & w.active[: w.config.max_players]).tolist())

    out = tmp_path / "altered.ncr"
    tick = _alter_first_aim(path, out, 100, alive)
    r = verify(out)
    assert not r.ok and r.first_divergence == tick
    assert r.expected != r.got and r.ticks >= tick - 60
    assert verify(out, workers=3).first_divergence == tick
    code, text, err = run_cli(["replay", "verify", str(out)], capsys)
    assert code == 1 and f"DIVERGED at tick {tick}" in text


# ---------------------------------------------------------------------------------------- seek


def test_seek_equals_playing_from_the_start(match):
    path, server, truth = match
    kfs = [t for t in range(1, server.world.tick + 1) if t % 60 == 0]
    last = server.world.tick
    targets = {0, 1, kfs[0] - 1, kfs[0], kfs[0] + 1, kfs[1] + 29, kfs[2], kfs[-1] + 1, last - 1, last}
    for t in sorted(targets):
        w = seek(path, t)
        assert w.tick == t
        if t:
            assert checksum(w) == truth.sums[t], t
    with pytest.raises(ReplayError, match="past the end"):
        seek(path, last + 1)


def test_playback_steps_the_same_events_and_seeks_both_ways(match):
    path, server, truth = match
    pb = Playback(path)
    assert pb.first_tick == 0 and pb.last_tick == server.world.tick and len(pb.players) == 4
    got = {}
    while (events := pb.step()) is not None:
        got[pb.tick] = events
    assert got == truth.events  # every shot, hit, kill and respawn, rewound shots included
    rng = random.Random(5)
    for t in [rng.randrange(1, server.world.tick + 1) for _ in range(8)] + [1, server.world.tick, 60, 59]:
        assert checksum(pb.seek(t)) == truth.sums[t], t


def test_seek_without_rewind_uses_nearest_keyframe(tmp_path):
    path = tmp_path / "plain.ncr"
    world = drive(path, ticks=50, rewind=False, keyframe_every_s=10 / 60, record_audit=False)
    ref = {}
    # reference: play from 0 with keyframes ignored
    w = World.new(world.config, world.seed)
    r = ReplayReader(path)
    dec, batch = InputDecoder(INPUTS, 4), InputBatch.empty(world.config)
    for rec in r:
        if isinstance(rec, fmt.Join):
            add_player(w, rec.slot)
            dec.join(rec.slot)
        elif isinstance(rec, fmt.Keyframe):
            dec.reset_all()
            batch = InputBatch.empty(world.config)
        elif isinstance(rec, fmt.TickBlock):
            for ch in dec.decode(rec):
                for slot, packed in ch:
                    batch.array[slot] = INPUTS.unpack(packed)
                step(w, batch)
                ref[w.tick] = checksum(w)
    for t in (9, 10, 11, 25, 30, 49, 50):
        assert checksum(seek(path, t)) == ref[t]
    assert checksum(world) == ref[50] and verify(path).ok


def test_recorder_attached_mid_match_starts_from_a_keyframe(tmp_path):
    net = VirtualNetwork(LinkConfig(latency=0.02), seed=2, step=1 / 240)
    server = arena_server(seed=2, secret=b"m" * 32, npc_count=20, width=1024, height=1024)
    net.add(SERVER, server)
    for i in range(2):
        add_bot(net, i, views=False)
    net.advance(1.0)
    t0 = server.world.tick
    rec = MatchRecorder.attach(server, path=tmp_path / "late.ncr")
    net.advance(1.0)
    rec.close()
    r = verify(tmp_path / "late.ncr")
    assert r.ok and r.first_tick == t0 and r.last_tick == server.world.tick
    assert checksum(seek(tmp_path / "late.ncr", server.world.tick)) == checksum(server.world)
    with pytest.raises(ReplayError, match="before the start"):
        seek(tmp_path / "late.ncr", t0 - 1)


def test_for_server_names_files_and_never_overwrites(tmp_path):
    cfg = SimConfig.arena(npc_count=0, max_players=4)
    a = MatchRecorder.for_server(tmp_path / "replays", GAME, cfg, "state", 60, seed=42)
    b = MatchRecorder.for_server(tmp_path / "replays", GAME, cfg, "state", 60, seed=42)
    a.close()
    b.close()
    assert a.path != b.path and a.path.parent == tmp_path / "replays"
    assert a.path.name.startswith("arena-state-") and a.path.name.endswith("-42.ncr")
    import re
    assert re.fullmatch(r"arena-state-\d{8}-\d{6}-42(-\d+)?\.ncr", b.path.name)
    assert info(a.path)["clean"] and info(a.path)["ticks"] == 0


# ---------------------------------------------------------------------------------------- crash safety

CRASH_SCRIPT = textwrap.dedent("""
    import sys, time
    from netcode.bots import add_virtual_bots
    from netcode.netsim.link import LinkConfig
    from netcode.replay import MatchRecorder
    from netcode.games.arena import GAME, SimConfig
    from netcode.statesync.server import ServerConfig, StateSyncServer
    from netcode.netsim.virtual import VirtualNetwork

    net = VirtualNetwork(LinkConfig(latency=0.02), seed=5, step=1 / 240)
    server = StateSyncServer(GAME, SimConfig.arena(npc_count=30, width=1024, height=1024), ServerConfig(), seed=5,
                             secret=b"c" * 32)
    server.recorder = MatchRecorder(sys.argv[1], GAME, server.game_config, "state", 60, keyframe_every_s=0.5,
                                    flush_every_s=0.2, seed=5)
    net.add(("s", 0), server)
    add_virtual_bots(net, ("s", 0), 3)
    start = time.monotonic()
    print("recording", flush=True)
    while True:  # real time: never closes the recorder; the test kills it
        net.advance(1 / 60)
        ahead = net.now - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
""")


def test_sigkill_mid_match_leaves_a_readable_verifiable_file(tmp_path):
    path = tmp_path / "killed.ncr"
    script = tmp_path / "crash.py"
    script.write_text(CRASH_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "recording"
    finally:
        sigkill_once_recorded(proc, lambda: path, 90)
    assert proc.returncode == -signal.SIGKILL
    d = info(path)
    assert not d["ended"] and not d["clean"] and d["last_tick"] >= 90
    assert any("no END record" in w for w in d["warnings"]) or any("torn" in w for w in d["warnings"])
    r = verify(path)
    assert r.ok and not r.clean and r.ticks >= 90 and r.checksums_checked >= r.ticks - 12
    # a write torn by the kill: the last record cut short is detected, everything before is kept
    data = path.read_bytes()
    torn = tmp_path / "torn.ncr"
    torn.write_bytes(data[:-3])
    reader = ReplayReader(torn)
    n = sum(1 for _ in reader.records())
    assert any("torn record" in w for w in reader.warnings) and not reader.clean and n > 5
    r2 = verify(torn)
    assert r2.ok and r2.ticks >= r.ticks - 13 and any("torn" in w for w in r2.warnings)


def test_flip_in_a_record_stops_reading_there_with_a_warning(tmp_path):
    path = tmp_path / "a.ncr"
    drive(path, ticks=30)
    r = ReplayReader(path)
    raws = list(r.raw_records())
    victim = raws[len(raws) // 2]
    data = bytearray(path.read_bytes())
    data[victim.offset + fmt.RECORD.size] ^= 0x40
    bad = tmp_path / "b.ncr"
    bad.write_bytes(bytes(data))
    r2 = ReplayReader(bad)
    got = list(r2.raw_records())
    assert [g.offset for g in got] == [x.offset for x in raws[: len(raws) // 2]]
    assert any("crc32" in w for w in r2.warnings) and not r2.clean
    assert verify(bad).ok  # what precedes the damage still verifies


# ---------------------------------------------------------------------------------------- hostile bytes


def test_bad_files_from_the_cli_exit_2_with_one_line(tmp_path, capsys):
    good = tmp_path / "good.ncr"
    drive(good, ticks=5)
    data = good.read_bytes()
    newer = bytearray(data)
    newer[8:10] = struct.pack("<H", 9)
    older = bytearray(data)
    older[8:10] = struct.pack("<H", 1)
    garbage = bytearray(data)
    garbage[8:10] = b"\xfe\xca"
    body = b"\x81\xa4game\xa4dice"  # a header naming a game that is not installed here
    unknown_game = fmt.PREFIX.pack(fmt.MAGIC, fmt.FORMAT_VERSION, len(body)) + body + struct.pack("<I", zlib.crc32(body))
    cases = {
        "missing": None,
        "empty": b"",
        "magic": b"NOTAREPLAY" + data[10:],
        "newer": bytes(newer),
        "older": bytes(older),
        "garbage": bytes(garbage),
        "truncated": data[:12],
        "header": data[:20] + bytes([data[20] ^ 1]) + data[21:],
        "no_game": data[:10] + unknown_game[10:],
    }
    expect = {"missing": "no such file", "empty": "not a netcode replay", "magic": "not a netcode replay",
              "newer": f"replay format version 9 is newer than this netcode ({fmt.FORMAT_VERSION})",
              "older": "an old replay format (version 1", "garbage": "corrupt header",
              "truncated": "truncated header", "header": "corrupt header", "no_game": "corrupt header"}
    for name, content in cases.items():
        p = tmp_path / f"{name}.ncr"
        if content is not None:
            p.write_bytes(content)
        for action in ("info", "verify"):
            code, out, err = run_cli(["replay", action, str(p)], capsys)
            assert code == 2, (name, action)
            assert err.count("\n") == 1 and expect[name] in err and "Traceback" not in err, (name, err)
            assert out == ""
    code, out, err = run_cli(["replay", "info", str(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1


def _frame_raw(kind, payload):
    return fmt.frame(kind, payload)


def _mutations(base: bytes, records: list, header_end: int, rng: random.Random):
    """Mutated, truncated, re-framed and garbage variants of a small replay."""
    kinds = list(fmt.Kind) + [0, 200]
    while True:
        m = rng.randrange(11)
        data = bytearray(base)
        if m == 0:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif m == 1:
            data = data[: rng.randrange(len(data))]
        elif m == 2:
            data = data[: rng.randrange(header_end, len(data))]
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif m == 3:
            at = rng.randrange(len(data))
            data[at:at] = rng.randbytes(rng.randint(1, 40))
        elif m == 4:
            a = rng.randrange(len(data))
            del data[a: a + rng.randint(1, 200)]
        elif m == 5:
            data = bytearray(rng.randbytes(rng.randrange(300)))
            if rng.random() < 0.5:
                data[:10] = fmt.MAGIC + struct.pack("<H", rng.choice((0, 1, 2, 65535)))
        elif m in (6, 7, 8):
            # valid framing, damaged payloads: exercises every record decoder
            out = bytearray(base[:header_end])
            for kind, payload in records:
                p = bytearray(payload)
                if p and rng.random() < 0.3:
                    for _ in range(rng.randint(1, 4)):
                        p[rng.randrange(len(p))] = rng.randrange(256)
                if rng.random() < 0.05:
                    p = p[: rng.randrange(len(p) + 1)]
                if rng.random() < 0.03:
                    kind = rng.choice(kinds)
                out += _frame_raw(kind, bytes(p))
            data = out
        elif m == 9:
            out = bytearray(base[:header_end])
            for _ in range(rng.randint(1, 6)):
                out += _frame_raw(rng.choice(kinds), rng.randbytes(rng.randrange(48)))
            data = out
        else:
            # a header with a valid crc over damaged msgpack
            hlen = struct.unpack_from("<I", base, 10)[0]
            body = bytearray(base[14:14 + hlen])
            for _ in range(rng.randint(1, 3)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            if rng.random() < 0.3:
                body = body[: rng.randrange(len(body))]
            data = (fmt.PREFIX.pack(fmt.MAGIC, fmt.FORMAT_VERSION, len(body)) + bytes(body)
                    + struct.pack("<I", zlib.crc32(body))
                    + base[header_end:])
        yield bytes(data)


def test_fuzz_reader_info_verify_raise_only_replay_error(tmp_path):
    base_path = tmp_path / "base.ncr"
    drive(base_path, ticks=18, npcs=3, keyframe_every_s=6 / 60, flush_every_s=4 / 60)
    base = base_path.read_bytes()
    r = ReplayReader(base_path)
    records = [(raw.kind, raw.payload) for raw in r.raw_records()]
    header_end = r.data_offset
    assert len({k for k, _ in records}) >= 8
    rng = random.Random(1234)
    gen = _mutations(base, records, header_end, rng)
    p = tmp_path / "fuzz.ncr"
    outcomes = {"error": 0, "warned": 0, "clean": 0}
    for i in range(3000):
        p.write_bytes(next(gen))
        try:
            reader = ReplayReader(p)
        except ReplayError as e:
            assert str(e) and "\n" not in str(e)
            outcomes["error"] += 1
            continue
        list(reader.records())
        outcomes["warned" if reader.warnings else "clean"] += 1
        reader.close()
        # Every readable mutation goes through info; verify (a full re-simulation, two thirds
        # of this test's time) through one in four: 3000 mutations keep the reader's coverage.
        for fn in (info, verify) if i % 4 == 0 else (info,):
            try:
                fn(p)
            except ReplayError as e:
                assert str(e) and "\n" not in str(e)
        if i % 10 == 0:
            try:
                seek(p, 10)
            except ReplayError:
                pass
    assert all(outcomes.values()), outcomes


# ---------------------------------------------------------------------------------------- codecs


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_input_codec_round_trips_through_both_encoder_paths(data):
    p = 64
    n_ticks = data.draw(st.integers(1, 40))
    slots = sorted(data.draw(st.sets(st.integers(0, p - 1), min_size=1, max_size=60)))
    encoders = [InputEncoder(INPUTS, p), InputEncoder(INPUTS, p)]
    encoders[1].NUMPY_FROM = 1  # the whole-array path for any slot count
    for e in encoders:
        e.set_slots(slots)
    dec = InputDecoder(INPUTS, p)
    dec.set_slots(slots)
    batch = InputBatch.empty(SimConfig(max_players=p))
    truth = []
    for t in range(n_ticks):
        for s in data.draw(st.lists(st.sampled_from(slots), max_size=6)):
            kind = data.draw(st.integers(0, 3))
            if kind == 0:
                batch.aim[s] = (int(batch.aim[s]) + data.draw(st.integers(-300, 300))) % 4096
            elif kind == 1:
                batch.aim[s] = data.draw(st.integers(-32768, 32767))  # raw, sanitised to & 4095
            elif kind == 2:
                batch.move[s] = data.draw(st.tuples(st.integers(-128, 127), st.integers(-128, 127)))
            else:
                batch.buttons[s] = data.draw(st.integers(0, 255))
        packed = INPUTS.pack_many(batch.array)
        for e in encoders:
            e.add(packed)
        truth.append({s: int(packed[s]) for s in slots})
    parts = [e.take() for e in encoders]
    assert parts[0] == parts[1]
    block = fmt.decode_record(fmt.Kind.TICKS, fmt.encode_ticks(1, n_ticks, len(slots), *parts[0]))
    state = {s: 0 for s in slots}
    for k, changes in enumerate(dec.decode(block)):
        for slot, value in changes:
            assert state[slot] != value  # only real changes are stored
            state[slot] = value
        assert state == truth[k]


def test_views_and_keyframes_round_trip():
    entries = [(10, 3, "ok", 7, 1234, 1, (7, 1234), 5), (10, 5, "clamped", 2, 0, 1, (1, 500), -1),
               (12, 3, "future", 12, 0, 1, (40, 7), 9), (70, 1, "off", 70, 0, 1, (65, 9), 300),
               (71, 2, "ok", 69, 9, 3, None, None)]
    got = fmt.decode_views(fmt.encode_views(entries)).entries
    assert [(v.tick, v.slot, v.status, v.view_tick, v.frac, v.span, v.claimed, v.hit) for v in got] == entries
    cfg = SimConfig.arena(npc_count=50)
    w = World.new(cfg, 1)
    add_player(w)
    for _ in range(5):
        step(w)
    kf = fmt.decode_record(fmt.Kind.KEYFRAME, fmt.encode_keyframe(w.tick, w.to_bytes(), GAME.world_layout(w)))
    assert kf.tick == 5 and kf.world_bytes(len(w.to_bytes())) == w.to_bytes()
    with pytest.raises(fmt.FormatError):
        kf.world_bytes(17)


def test_unknown_record_kinds_are_skipped_and_counted(tmp_path):
    path, out = tmp_path / "a.ncr", tmp_path / "b.ncr"
    drive(path, ticks=20)
    rewrite(path, out, lambda k, p: [(k, p), (77, b"future stuff")] if k == fmt.Kind.TICKS else [(k, p)])
    r = ReplayReader(out)
    list(r.records())
    assert r.unknown_kinds[77] >= 1 and r.clean
    d = info(out)
    assert verify(out).ok and d["unknown_records"] == r.unknown_kinds[77] and d["events"]["chat"] == 1


def test_recorder_keeps_the_match_running_when_the_disk_fails(tmp_path, caplog):
    cfg = SimConfig.arena(npc_count=5, max_players=4)
    rec = MatchRecorder(tmp_path / "x.ncr", GAME, cfg, "state", 60, flush_every_s=1 / 60, seed=1)
    w = World.new(cfg, 1)
    rec._file.close()  # every write now fails in the writer thread
    for _ in range(5):
        ev = step(w)
        rec.on_tick(w, np.zeros(cfg.max_players, np.uint64), ev)
    rec.close()
    assert rec.error is not None


def test_player_left_and_slot_reused_in_one_tick(tmp_path):
    cfg = SimConfig.arena(npc_count=3, max_players=2, width=512, height=512, walls=[])
    path = tmp_path / "reuse.ncr"
    rec = MatchRecorder(path, GAME, cfg, "state", 60, keyframe_every_s=0.1, seed=9)
    w, b = World.new(cfg, 9), InputBatch.empty(cfg)
    for i in range(2):
        rec.on_join(w.tick, add_player(w), f"p{i}")
    for t in range(30):
        b.move[:] = (1, 0) if t % 7 else (0, 1)
        b.aim[:] = [t * 37 % 4096, t * 91 % 4096]
        b.buttons[:] = BUTTON_FIRE
        if t == 11:
            remove_player(w, 0)
            rec.on_leave(w.tick, 0)
            rec.on_join(w.tick, add_player(w), "again")
        rec.on_tick(w, INPUTS.pack_many(b.array), step(w, b))
    rec.close()
    assert verify(path).ok and checksum(seek(path, 30)) == checksum(w)
    assert [p["name"] for p in info(path)["players"]] == ["p0", "p1", "again"]


def test_doc_kind_table_matches_code():
    import re
    doc = (ROOT / "docs" / "REPLAY.md").read_text()
    rows = re.findall(r"^\| (\d+) \| ([A-Z]{3,}) \| ", doc, re.M)
    assert {name: int(n) for n, name in rows} == {k.name: k.value for k in fmt.Kind}
    assert f"magic `{fmt.MAGIC.decode()}`" in doc and f"format version (u16) = {fmt.FORMAT_VERSION}" in doc
    assert "| 0 | 4 | payload length" in doc and fmt.RECORD.size == 9 and fmt.TICKS_HDR.size == 17
