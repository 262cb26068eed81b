"""asyncio front: the only layer that opens sockets or reads a real clock."""
from .driver import DatagramDriver, run

__all__ = ["DatagramDriver", "run"]
