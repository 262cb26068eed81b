"""Byte-for-byte conformance with netcode.io 1.02's reference implementation (mas-bandwidth/netcode).

tests/security/vectors/netcode_1_02.json was written once by tools/netcode_vectors/gen_vectors.c built
against the reference (its README says how); every input is fixed, so the reference's output is the only
right answer. Ours must produce the same bytes (so the reference opens ours) and open theirs.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from netcode.security import packets as sp
from netcode.security.replay import ReplayProtection
from netcode.security.tokens import (ConnectToken, PrivateToken, open_private, private_ad, seal_private)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "netcode_1_02.json").read_text())
TOKEN = VECTORS["connect_token"]
INPUTS = TOKEN["inputs"]
OUTPUTS = TOKEN["outputs"]
h = bytes.fromhex


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def addresses(key="server_addresses"):
    from netcode.security.tokens import normalize_address
    return tuple(normalize_address(address(a)) for a in INPUTS[key])


def private_token() -> PrivateToken:
    return PrivateToken(INPUTS["client_id"], INPUTS["timeout_seconds"], addresses("internal_server_addresses"),
                        h(INPUTS["client_to_server_key"]), h(INPUTS["server_to_client_key"]), h(INPUTS["user_data"]))


def test_the_private_token_plaintext_and_its_seal_match_the_reference():
    plain = private_token().to_bytes()
    assert plain + bytes(16) == h(OUTPUTS["private_plaintext"]).ljust(1024, b"\0")[:1008] + bytes(16)
    assert private_ad(INPUTS["protocol_id"], INPUTS["expire_timestamp"]) == h(OUTPUTS["associated_data"])
    ours = seal_private(private_token(), INPUTS["protocol_id"], INPUTS["expire_timestamp"], h(INPUTS["nonce"]),
                        h(INPUTS["private_key"]))
    assert ours == h(OUTPUTS["private_encrypted"])


def test_we_open_the_reference_private_token():
    opened = open_private(h(OUTPUTS["private_encrypted"]), INPUTS["protocol_id"], INPUTS["expire_timestamp"],
                          h(INPUTS["nonce"]), h(INPUTS["private_key"]))
    assert opened == private_token()


def test_the_public_connect_token_matches_the_reference_both_ways():
    theirs = ConnectToken.from_bytes(h(OUTPUTS["public_token"]))
    assert (theirs.protocol_id, theirs.create_timestamp, theirs.expire_timestamp, theirs.nonce) == (
        INPUTS["protocol_id"], INPUTS["create_timestamp"], INPUTS["expire_timestamp"], h(INPUTS["nonce"]))
    assert theirs.server_addresses == addresses() and theirs.timeout_seconds == INPUTS["timeout_seconds"]
    assert theirs.client_to_server_key == h(INPUTS["client_to_server_key"])
    assert theirs.server_to_client_key == h(INPUTS["server_to_client_key"])
    assert theirs.private_data == h(OUTPUTS["private_encrypted"])
    assert theirs.to_bytes() == h(OUTPUTS["public_token"])


def test_the_challenge_token_matches_the_reference_both_ways():
    ct = VECTORS["challenge_token"]
    sealer = sp.ChallengeSealer(h(ct["inputs"]["challenge_key"]))
    seq = ct["inputs"]["challenge_sequence"]
    assert sp.nonce_of(seq) == h(ct["outputs"]["nonce"])
    assert sealer.seal(seq, ct["inputs"]["client_id"], h(ct["inputs"]["user_data"])) == h(ct["outputs"]["encrypted"])
    assert sealer.open(seq, h(ct["outputs"]["encrypted"])) == (ct["inputs"]["client_id"], h(ct["inputs"]["user_data"]))


def _data(p) -> bytes:
    f = p["fields"]
    if p["type_number"] == sp.KEEP_ALIVE:
        return sp.encode_keep_alive(f["client_index"], f["max_clients"])
    if p["type_number"] == sp.PAYLOAD:
        return h(f["payload"])
    if p["type_number"] in (sp.CHALLENGE, sp.RESPONSE):
        return sp.encode_challenge_data(f["challenge_token_sequence"], h(f["challenge_token_data"]))
    return b""


ENCRYPTED = [p for p in VECTORS["packets"] if p["type_number"] != sp.REQUEST]


@pytest.mark.parametrize("p", ENCRYPTED, ids=[p["name"] for p in ENCRYPTED])
def test_each_encrypted_packet_matches_the_reference_both_ways(p):
    key = sp.PacketKey(h(p["key"]), p["protocol_id"])
    packet = h(p["packet"])
    assert len(packet) == p["packet_bytes"]
    assert key.seal(p["type_number"], p["sequence"], _data(p)) == packet  # the reference opens ours: same bytes
    ptype, seq, plain = key.open(packet, ReplayProtection(), frozenset(range(1, 7)))
    assert (ptype, seq, plain) == (p["type_number"], p["sequence"], _data(p))


def test_the_connection_request_matches_the_reference_both_ways():
    p = next(p for p in VECTORS["packets"] if p["type_number"] == sp.REQUEST)
    token = ConnectToken.from_bytes(h(OUTPUTS["public_token"]))
    assert sp.encode_request(token) == h(p["packet"])
    ctx = p["read_context"]
    expires, nonce, sealed = sp.decode_request(h(p["packet"]), p["protocol_id"], ctx["current_timestamp"])
    assert open_private(sealed, p["protocol_id"], expires, nonce, h(ctx["private_key"])) == private_token()


def test_the_vectors_cover_every_packet_type_and_sequence_length():
    kinds = {p["type_number"] for p in VECTORS["packets"]}
    lengths = {sp.sequence_bytes(p["sequence"]) for p in ENCRYPTED}
    assert kinds == set(range(7)) and lengths == set(range(1, 9))
