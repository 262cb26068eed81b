"""Lockstep matches are recorded like state-sync ones: record -> verify round trip, joins, leaves,
desyncs and results in the file, one writer thread for many matches (virtual time, no sockets)."""
import threading
from pathlib import Path

import pytest

from netcode.cli import main
from netcode.lockstep.events import Desync, MatchEnded
from netcode.netsim.link import LinkConfig
from netcode.replay import ReplayReader, info, seek, verify
from netcode.replay import format as fmt
from netcode.replay.verify import Playback
from netcode.games.arena import checksum

from test_lockstep import Match

ROOT = Path(__file__).resolve().parents[2]


def replays(tmp_path):
    return sorted(tmp_path.glob("*-lockstep-*.ncr"))


def events(path):
    with ReplayReader(path) as reader:
        return [e for rec in reader if isinstance(rec, fmt.Items) and rec.kind == fmt.Kind.EVENT for e in rec.items]


def test_lockstep_match_record_verify_round_trip_with_join_leave_and_loss(tmp_path):
    link = LinkConfig(latency=0.03, jitter=0.01, loss=0.05)
    mt = Match(3, link=link, seed=5, record_dir=str(tmp_path), match_frames=600, rejoin_grace=3.0)
    net = mt.net
    net.advance(10.0)
    leaver = mt.clients[1]
    leaver.disconnect()
    net.advance(0.2)
    net.remove(("client", 1))
    net.advance(5.0)  # its slot stayed in the world (no input) for the rejoin grace, then left
    mt.add(7, name="late")  # joins the running match in the freed slot
    net.advance(30.0)
    ended = mt.events(MatchEnded)
    assert ended and ended[0].result["frames"] == 600
    mt.server.shutdown()  # an ended match's file is finished by the writer thread; this waits for it
    (first,) = replays(tmp_path)
    i = info(first)
    assert i["mode"] == "lockstep" and i["clean"] and i["tick_rate"] == 15
    assert i["last_tick"] == 600
    r = verify(first)
    assert r.ok and r.clean and r.checksums_checked == 600, r.detail
    # the replay's last world is the server's, and the one every client reported
    assert checksum(seek(first, 600)) == ended[0].result["checksum"]
    assert mt.clients[0].checksums[600] == ended[0].result["checksum"]
    with ReplayReader(first) as reader:
        records = list(reader)
    joins = [rec for rec in records if isinstance(rec, fmt.Join)]
    leaves = [rec for rec in records if isinstance(rec, fmt.Leave)]
    assert sorted(j.name for j in joins[:3]) == ["p0", "p1", "p2"] and joins[3].name == "late"
    assert joins[3].slot == leaves[0].slot == leaver.slot
    assert leaves[0].tick < joins[3].tick and isinstance(records[-1], fmt.End)
    results = [e for e in events(first) if e[1] == "result"]
    assert results and results[0][2]["checksum"] == ended[0].result["checksum"]


def test_lockstep_desync_is_recorded_and_the_replay_still_verifies(tmp_path):
    mt = Match(3, record_dir=str(tmp_path), checksum_every=15, match_frames=300)
    net = mt.net
    net.run_until(lambda: all(c.frame > 40 for c in mt.clients), 10.0)
    bad = mt.clients[2]
    bad.on_frame = lambda c, f: c.world.score.__setitem__(c.slot, c.world.score[c.slot] + 1) if f == 50 else None
    net.advance(25.0)
    d = mt.events(Desync)[0]
    mt.server.shutdown()
    path = replays(tmp_path)[0]
    desyncs = [e for e in events(path) if e[1] == "desync"]
    assert desyncs and desyncs[0][0] == d.frame == 60
    assert desyncs[0][2]["diverged"] == [bad.slot] and desyncs[0][2]["rule"] == "server"
    assert verify(path).ok  # the server's world, not the diverged client's, is what was recorded


def test_many_matches_share_one_writer_thread_and_playback_seeks(tmp_path):
    before = {t.name for t in threading.enumerate()}
    mt = Match(6, players_per_match=2, start_players=2, record_dir=str(tmp_path), match_frames=200)
    mt.net.advance(16.0)
    assert len(mt.events(MatchEnded)) == 3
    writers = [t for t in threading.enumerate() if t.name.startswith("replay-writer") and t.name not in before]
    assert len(writers) <= 1
    mt.server.shutdown()
    files = replays(tmp_path)
    assert len(files) == 3
    for path in files:
        assert verify(path).ok
    pb = Playback(files[0])
    pb.seek(150)
    assert pb.tick == 150 and checksum(pb.world) == checksum(seek(files[0], 150))


def test_shutdown_closes_running_matches_cleanly_and_relay_mode_does_not_record(tmp_path):
    mt = Match(2, record_dir=str(tmp_path / "a"))
    mt.net.advance(5.0)
    mt.server.shutdown()
    (path,) = replays(tmp_path / "a")
    i = info(path)
    assert i["clean"] and i["last_tick"] > 50
    assert verify(path).ok
    ended = [e for e in mt.server.events() if isinstance(e, MatchEnded)]
    assert ended and ended[0].result["reason"] == "shutdown"

    relay = Match(2, simulate=False, record_dir=str(tmp_path / "b"))
    relay.net.advance(3.0)
    relay.server.shutdown()
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("name,mode", [("sample.ncr", "state"), ("sample-lockstep.ncr", "lockstep")])
def test_committed_sample_replays_verify_from_the_cli(name, mode, capsys):
    path = ROOT / "replays" / name
    assert main(["replay", "verify", str(path)]) == 0
    assert capsys.readouterr().out.startswith("ok:")
    assert info(path)["mode"] == mode and info(path)["clean"]
