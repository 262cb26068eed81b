"""Which of a server's connections a flush must visit: those touched since they were last scheduled, and those
whose timer is due. Sans-IO.

A server answering each datagram as it arrives (DatagramDriver's flush on receive) used to visit every
connection per datagram: its timeouts in ``update``, its output in ``datagrams_to_send`` and its next timer in
``get_timer``, about a microsecond per idle connection on each datagram. This keeps that work proportional to
the connections that have something to do, the way an event loop keeps its timers: a list of the connections
touched (a message queued, a datagram received, acks settled, a close) and a heap of the others' deadlines, each
entry stamped so that a connection rescheduled leaves its old entry stale (lazy deletion).

A connection waits in the list until ``schedule`` (a server's ``get_timer``) works out its next timer. An
endpoint that never asks for its timer (a tick-driven server wakes on its ticks) keeps every connection in the
list, and its flushes visit them all, in the order they were listed, as they always did.
"""
from __future__ import annotations

import heapq

from .connection import Connection

_heappush = heapq.heappush
_heappop = heapq.heappop


class DueConnections:
    """The touched list and the timer heap of one server's connections."""

    __slots__ = ("touched", "timers", "_stamp")

    def __init__(self):
        self.touched: list[Connection] = []  # shared with each listed connection (Connection.due_queue)
        # (deadline, stamp, connection), a heap; an entry whose stamp is not its connection's is stale
        self.timers: list = []
        self._stamp = 0

    def add(self, conn: Connection) -> None:
        """List a connection the server now flushes: it is touched (its first timer is worked out at once)."""
        conn.due_queue = self.touched
        conn._queued = True
        self.touched.append(conn)

    def remove(self, conn: Connection) -> None:
        """Unlist a connection for good (it was removed): it is never touched again, its heap entry is stale."""
        if conn.due_queue is self.touched:
            if conn._queued:
                self.touched.remove(conn)  # O(connections), once per connection's life
            conn.due_queue = None
            conn._queued = True  # (blocks Connection.touch)
            conn.timer_stamp = -1

    def collect(self, now: float) -> None:
        """Move every connection whose timer is due by ``now`` into the touched list."""
        timers, touched = self.timers, self.touched
        while timers and timers[0][0] <= now:
            _, stamp, conn = _heappop(timers)
            if stamp == conn.timer_stamp and not conn._queued:
                conn._queued = True
                touched.append(conn)

    def schedule(self, live: int) -> float | None:
        """Work out the touched connections' next timers, empty the list; the earliest timer of all, if any.
        ``live``: how many connections are listed (the heap is rebuilt when stale entries outnumber them)."""
        touched, timers = self.touched, self.timers
        if touched:
            stamp = self._stamp
            for conn in touched:
                conn._queued = False
                stamp += 1
                conn.timer_stamp = stamp
                _heappush(timers, (conn.next_timer(), stamp, conn))
            self._stamp = stamp
            touched.clear()
            if len(timers) > 2 * live + 16:  # a connection rescheduled earlier leaves its old entry deep inside
                timers[:] = [e for e in timers if e[1] == e[2].timer_stamp]
                heapq.heapify(timers)
        while timers:
            entry = timers[0]
            if entry[1] == entry[2].timer_stamp:
                return entry[0]
            _heappop(timers)
        return None
