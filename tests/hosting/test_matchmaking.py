"""The matchmaker's logic, sans-IO: queues and their rules, placement by load, codes, reconnects, host loss."""
from __future__ import annotations

import base64

import pytest

from netcode.hosting.matchmaking import ASSIGNED, CANCELLED, Matchmaker, MatchmakingError, QueueRules
from netcode.security.tokens import ConnectToken, open_private, read_user_data

KEY = bytes(range(50, 82))
PID = 77
NOW = 1_800_000_000.0


def mm(**rules):
    m = Matchmaker(KEY, PID, QueueRules(**{"min_players": 2, "max_players": 4, "wait": 5.0, **rules}))
    m.host_seen("a", ("10.0.0.1", 7000), {"free_rooms": 10, "players": 0}, NOW)
    return m


def opened(assignment) -> tuple[dict, int]:
    tok = ConnectToken.from_bytes(base64.b64decode(assignment["connect_token"]))
    private = open_private(tok.private_data, tok.protocol_id, tok.expire_timestamp, tok.nonce, KEY)
    return read_user_data(private.user_data), private.client_id


def test_a_full_queue_forms_a_match_at_once_and_every_member_gets_a_token_for_the_same_room():
    m = mm()
    tickets = [m.submit({"game": "arena", "mode": "state", "party": [f"p{i}"]}, NOW) for i in range(3)]
    party = m.submit({"game": "arena", "mode": "state", "party": ["q1", "q2"]}, NOW)
    assert not m.update(NOW + 0.1) or True
    assigned = [t for t in tickets + [party] if t.state == ASSIGNED]
    assert len(assigned) == 3  # p0 p1 p2 and ... a party of 2 does not fit the 1 seat left
    codes = {opened(t.assignment)[0]["match"] for t in assigned}
    assert len(codes) == 1
    fields, _ = opened(assigned[0].assignment)
    assert fields == {"name": "p0", "match": codes.pop(), "game": "arena", "mode": "state", "players": 4}
    assert assigned[0].assignment["address"] == "10.0.0.1:7000"


def test_after_the_wait_a_match_starts_with_fewer_and_asks_for_bots():
    m = mm()
    a = m.submit({"party": ["a"]}, NOW)
    b = m.submit({"party": ["b"]}, NOW + 1)
    m.update(NOW + 2)
    assert a.state == b.state == "queued"
    m.host_seen("a", ("10.0.0.1", 7000), {"free_rooms": 10, "players": 0}, NOW + 5)  # its heartbeat
    m.update(NOW + 5.5)
    assert a.state == b.state == ASSIGNED and len(m.bot_requests) == 1 and m.bot_requests[0][1] == 2
    lonely = mm(min_players=2)
    c = lonely.submit({"party": ["c"]}, NOW)
    lonely.host_seen("a", ("10.0.0.1", 7000), {"free_rooms": 10}, NOW + 60)
    lonely.update(NOW + 60)
    assert c.state == "queued"  # below min_players a ticket keeps waiting


def test_cancel_lobby_join_by_code_and_reconnect():
    m = mm(wait=0.0, min_players=1)
    t = m.submit({"party": ["solo"], "players": 4}, NOW)
    gone = m.submit({"party": ["quitter"], "game": "football"}, NOW)
    m.cancel(gone.id)
    m.update(NOW + 0.1)
    assert gone.state == CANCELLED and t.state == ASSIGNED
    code = t.assignment["match_id"]
    assert m.lobby(NOW) == [] and m.matches[code].seats == 4  # solo and the 3 bots it started with
    with pytest.raises(MatchmakingError) as full:
        m.join_code(code, "late", NOW)
    assert full.value.status == 409
    # a reconnect: the old token proves who it is; same client id, same match
    again = m.reconnect(t.assignment["connect_token"], NOW + 100)
    assert opened(again)[1] == opened(t.assignment)[1] and again["match_id"] == code
    with pytest.raises(MatchmakingError):
        m.reconnect(base64.b64encode(b"x" * 2048).decode(), NOW)


def test_join_by_code_while_seats_are_left():
    m = mm(wait=0.0, min_players=1, bots=False)
    t = m.submit({"party": ["host"]}, NOW)
    m.update(NOW + 0.1)
    code = t.assignment["match_id"]
    friend = m.join_code(code.lower(), "friend", NOW)
    assert friend["match_id"] == code and opened(friend)[0]["name"] == "friend"


def test_matches_go_to_the_host_with_most_room_and_a_lost_host_gets_no_more():
    m = mm(wait=0.0, min_players=1, bots=False)
    m.host_seen("b", ("10.0.0.2", 7000), {"free_rooms": 50, "players": 0}, NOW)
    t = m.submit({"party": ["x"]}, NOW)
    m.update(NOW)
    assert t.assignment["address"] == "10.0.0.2:7000"
    m.host_seen("a", ("10.0.0.1", 7000), {"free_rooms": 10}, NOW + 5)  # b falls silent
    u = m.submit({"party": ["y"]}, NOW + 5)
    m.update(NOW + 5)
    assert u.assignment["address"] == "10.0.0.1:7000" and "b" not in m.hosts
    assert all(x.host.id == "a" for x in m.matches.values())


def test_bad_tickets_are_refused_in_words():
    m = mm()
    for bad in ({"mode": "turns"}, {"party": "solo"}, {"players": 0}, {"players": "many"}, {"party": ["a"] * 9}):
        with pytest.raises(MatchmakingError):
            m.submit(bad, NOW)
    with pytest.raises(MatchmakingError) as e:
        m.get("t0-nope")
    assert e.value.status == 404
