"""16-bit wrap-aware sequence arithmetic (RFC 1982 serial numbers, as in Fiedler's "Reliable Ordered Messages")."""

SEQ_MOD = 1 << 16
HALF = 1 << 15


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b in (-32768, 32768], treating both as 16-bit serials."""
    d = (a - b) & 0xFFFF
    return d - SEQ_MOD if d > HALF else d

