"""The one error type the wire layer raises."""


class WireError(ValueError):
    """A datagram or record is malformed."""
