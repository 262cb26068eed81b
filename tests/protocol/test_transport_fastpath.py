"""The receive fast path (decode_in_order) must agree with the general decoder, or step aside."""
import random

from netcode.wire import packet as wp
from netcode.wire.errors import WireError

HDR = bytes(wp.PAYLOAD_HEADER_SIZE)


def _general(data):
    try:
        return wp.decode_messages(data)
    except WireError:
        return None


def test_in_order_run_matches_general_decoder():
    rng = random.Random(1)
    for _ in range(500):
        first = rng.randrange(65536)
        bodies = [rng.randbytes(rng.randrange(0, 60)) for _ in range(rng.randrange(0, 20))]
        data = HDR + b"".join(wp.encode_reliable((first + i) & 0xFFFF, b) for i, b in enumerate(bodies))
        fast = wp.decode_in_order(data, first)
        assert fast == bodies == [m[2] for m in wp.decode_messages(data)]
        assert all(type(b) is bytes for b in fast)


def test_anything_else_falls_back():
    body = wp.encode_reliable(5, b"a") + wp.encode_reliable(6, b"b")
    assert wp.decode_in_order(HDR + body, 4) is None  # not the expected id
    assert wp.decode_in_order(HDR + wp.encode_reliable(5, b"a") + wp.encode_reliable(7, b"b"), 5) is None  # gap
    assert wp.decode_in_order(HDR + body + wp.encode_unreliable(b"u"), 5) is None  # other kinds
    assert wp.decode_in_order(HDR + wp.encode_sequenced(5, b"s"), 5) is None
    assert wp.decode_in_order(bytearray(HDR + body), 5) is None  # only bytes are sliced
    assert wp.decode_in_order(HDR, 5) == []  # ack-only


def test_malformed_is_never_taken_by_the_fast_path():
    rng = random.Random(2)
    good = HDR + b"".join(wp.encode_reliable(i, rng.randbytes(20)) for i in range(8))
    for _ in range(2000):
        data = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(wp.PAYLOAD_HEADER_SIZE, len(data))] = rng.randrange(256)
        data = bytes(data[:rng.randrange(wp.PAYLOAD_HEADER_SIZE, len(data) + 1)])
        fast = wp.decode_in_order(data, 0)
        if fast is not None:  # whatever it accepts, the general decoder reads the same way
            general = _general(data)
            assert general is not None and fast == [m[2] for m in general]
            assert all(m[0] == wp.MSG_RELIABLE for m in general)
