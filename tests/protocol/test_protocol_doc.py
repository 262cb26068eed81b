"""docs/PROTOCOL.md and the code agree on packet types and sizes."""
import pathlib
import re

from netcode.statesync import messages as msg
from netcode.wire import packet as wp

DOC = (pathlib.Path(__file__).parents[2] / "docs" / "PROTOCOL.md").read_text()


def test_packet_type_table_matches_code():
    rows = re.findall(r"^\| (\d) \| ([A-Z_]+) \| [^|]+ \| ([^|]+) \|$", DOC, re.M)
    assert len(rows) == 7
    sizes = {
        "CONNECT_REQUEST": len(wp.encode_request(1)),
        "CHALLENGE": len(wp.encode_challenge(1, 2, bytes(16))),
        "CHALLENGE_RESPONSE": len(wp.encode_response(1, 2, bytes(16), b"")),
        "ACCEPT": len(wp.encode_accept(1, 2, 3, b"")),
        "DENY": len(wp.encode_deny(1, 1)),
        "PAYLOAD": wp.PAYLOAD_HEADER_SIZE,
        "DISCONNECT": len(wp.encode_disconnect(1, 1)),
    }
    for number, name, size in rows:
        assert getattr(wp, name) == int(number)
        assert str(sizes[name]) in size, (name, size, sizes[name])


def test_game_message_table_matches_code():
    rows = re.findall(r"^\| (\d+) \| ([A-Z_]+) \| (reliable|unreliable|sequenced) \|", DOC, re.M)
    assert {name: int(n) for n, name, _ in rows} == {
        "INPUT": msg.INPUT, "CHAT": msg.CHAT, "WELCOME": msg.WELCOME, "SNAPSHOT": msg.SNAPSHOT,
        "EVENTS": msg.EVENTS, "SCOREBOARD": msg.SCOREBOARD,
        "SHOT_RESULT": msg.SHOT_RESULT, "SNAPSHOT_HELD": msg.SNAPSHOT_HELD}


def test_limits_in_the_doc_match_code():
    assert f"**{wp.MAX_DATAGRAM} bytes**" in DOC
    assert f"larger than {wp.MAX_UNFRAGMENTED} bytes" in DOC
    assert f"up to {wp.FRAGMENT_SIZE} bytes" in DOC
