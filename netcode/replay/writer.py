"""MatchRecorder: records a match as it runs, without stalling the tick.

The tick thread only does cheap work (a few numpy ops on the active slots, a checksum, list
appends) into an in-memory block. Every ``flush_every_s`` (and on joins, leaves, keyframes and
close) the block is handed to a background thread through a queue; that thread compresses it,
frames it as records with their own crc32 and writes and ``flush()``es the file. There is no
``fsync`` during the match: a SIGKILLed server loses at most the block in memory (about
``flush_every_s`` seconds) plus a possibly torn last record, which readers detect and skip.
A power cut may lose what the OS had not written yet. ``close()`` fsyncs once.
"""
from __future__ import annotations

import atexit
import datetime as _dt
import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..game import EventFeed, announce, spec_of
from . import format as fmt
from .format import Kind
from .inputs import InputEncoder

log = logging.getLogger("netcode.replay")

MODES = ("state", "lockstep")


def netcode_version() -> str:
    try:
        from importlib.metadata import version

        return version("netcode")
    except Exception:  # not installed (running from a checkout)
        return "unknown"


class MatchRecorder:
    """Writes one replay file. Attach as ``server.recorder``; call ``close()`` when the match ends.

    The server calls, in the order the world changes:
      ``on_join(tick, slot, name)`` right after ``add_player``; ``on_leave(tick, slot)`` right after
      ``remove_player``; ``on_tick(world, packed, events, actions)`` right after each ``step``
      (``packed``: every player slot's input record; ``actions``: the tick's lag-compensated actions).
    Optional: ``on_event(kind, data, tick=None)`` (chat, ...), ``on_audit(list_of_dicts)``.

    ``checksum_every``: a state checksum every N ticks (1 = every tick, exact first divergence).
    ``checksum_width``: 4 stores the full crc32, 2 its low 16 bits (half the bytes; a divergence
    escapes one tick's check with probability 1/65536, and keyframes are compared in full anyway).
    ``keyframe_every_s``: a full compressed world every K seconds, for seeking (0 = none). A
    keyframe of the 4096 px arena with 200 NPCs is ~2.5 KB, so K sets much of a small match's
    size: 20 s keeps an 8-bot match under 5 KB per player-minute with a seek simulating at most
    1200 ticks (~0.4 s); 5 s seeks in ~0.1 s but costs ~7.5 KB per player-minute.
    ``record_highlights``: store the game's highlights (``EventFeed.highlights``: the arena's player kills,
    ~11 bytes each) in EVENT records. They are re-derivable by re-simulation; they are stored so ``info``
    and viewers can list them without simulating.
    ``record_audit``: store what ``on_audit`` is given (AUDIT records). Off by default: the audit
    costs ~40 bytes per shot (twice the whole size budget in a bot match) and is re-derived
    exactly by re-simulation from the VIEWS records (``netcode.replay.audit(path)``).
    ``lag_compensation``: the server's rewind settings (``enabled``, ``window``, ``max_interp``,
    ``tolerance``, ``snapshot_every``) for the header; ``attach(server)`` fills it in.
    ``exclusive``: raise FileExistsError rather than overwrite ``path``.
    ``writer``: a ReplayWriter thread shared with other recorders (a server hosting many matches);
    by default the recorder starts its own.
    """

    def __init__(self, path, game, game_config, mode: str = "state", tick_rate: int | None = None,
                 keyframe_every_s: float = 20, checksum_every: int = 1, flush_every_s: float = 1.0, *,
                 seed: int = 0, checksum_width: int = 2, server_info: dict | None = None,
                 record_highlights: bool = True, record_audit: bool = False, lag_compensation: dict | None = None,
                 exclusive: bool = False, writer: ReplayWriter | None = None, spec: str | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        tick_rate = game_config.tick_rate if tick_rate is None else int(tick_rate)
        if tick_rate != game_config.tick_rate:
            raise ValueError(f"the game runs at {game_config.tick_rate} Hz, not {tick_rate} Hz")
        if not 1 <= checksum_every <= 65535:
            raise ValueError("checksum_every must be in 1..65535")
        if checksum_width not in (2, 4):
            raise ValueError("checksum_width must be 2 or 4")
        if keyframe_every_s < 0 or not 0 < flush_every_s <= 60:
            raise ValueError("keyframe_every_s must be >= 0 and flush_every_s in (0, 60]")
        self.path = Path(path)
        self.game = game
        self.sim = game_config
        self.mode = mode
        self.tick_rate = tick_rate
        self.checksum_every = int(checksum_every)
        self.checksum_width = checksum_width
        self.keyframe_ticks = max(1, round(keyframe_every_s * tick_rate)) if keyframe_every_s else 0
        self.flush_every_s = float(flush_every_s)
        self._highlights = bool(record_highlights) and isinstance(game, EventFeed)
        self._layout = getattr(game, "world_layout", None)
        self.record_audit = bool(record_audit)
        self.error: BaseException | None = None  # the writer thread's I/O error, if any
        self.bytes_written = 0
        self.closed = False

        header = {
            "netcode": netcode_version(), "mode": mode, "tick_rate": tick_rate,
            **announce(game, game_config, spec or spec_of(game)), "seed": int(seed),
            "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "server": dict(server_info or {}), "keyframe_every": self.keyframe_ticks,
            "checksum_every": self.checksum_every, "checksum_width": checksum_width,
            "flush_every_s": self.flush_every_s,
        }
        if lag_compensation is not None:
            header["lag_compensation"] = dict(lag_compensation)
        self._file = open(self.path, "xb" if exclusive else "wb")
        try:
            head = fmt.encode_header(header)
            self._file.write(head)
            self._file.flush()
        except BaseException:
            self._file.close()
            raise
        self.header = header
        self.bytes_written = len(head)
        self._offset = len(head)
        self._keyframe_index: list[tuple[int, int]] = []

        self._max_players = game_config.max_players
        self._enc = InputEncoder(game.inputs, game_config.max_players)
        self._slots: set[int] = set()
        self._tick = 0  # the newest world tick recorded (a fresh match starts at 0)
        self._started = False  # any record that depends on the world's history written yet
        self._block_first: int | None = None
        self._block_count = 0
        self._block_t0 = 0.0
        self._flush_ticks = max(1, round(self.flush_every_s * tick_rate))
        self._checks: list[int] = []
        self._check_first = 0
        self._events: list = []
        self._audit: list[bytes] = []
        self._views: list[tuple] = []
        self._pending: list = []  # encoded-record jobs not yet handed to the writer thread
        self._warned_gap = False
        self._warned_view = False
        self._history_start = 0  # tick of the newest keyframe: re-simulations may start there

        self._own_writer = writer is None
        self._writer = ReplayWriter(f"replay-writer {self.path.name}") if writer is None else writer
        atexit.register(self._atexit)

    @classmethod
    def for_server(cls, directory, game, game_config, mode: str = "state", tick_rate: int | None = None,
                   label: str | None = None, **kwargs) -> MatchRecorder:
        """A recorder writing ``<directory>/<game>-<mode>-<YYYYmmdd-HHMMSS>-<label or seed>.ncr`` (UTC time;
        created if missing; ``-2``, ``-3`` ... appended rather than overwrite an existing file)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        base = f"{game.name}-{mode}-{stamp}-{kwargs.get('seed', 0) if label is None else label}"
        for n in range(1, 1000):
            path = d / (base + (f"-{n}" if n > 1 else "") + fmt.SUFFIX)
            try:
                return cls(path, game, game_config, mode, tick_rate, exclusive=True, **kwargs)
            except FileExistsError:
                continue
        raise FileExistsError(f"no free replay file name for {d / base}")

    @classmethod
    def attach(cls, server, directory="replays", path=None, **kwargs) -> MatchRecorder:
        """Record ``server`` (a StateSyncServer): a recorder built from its own game, rules, tick rate and
        lag-compensation settings, set as ``server.recorder``. Attached after the first tick or
        join, the replay starts from a keyframe of the current world (see ``begin``).

        ``path`` names the file; by default it goes in ``directory`` as ``for_server`` names it.
        """
        c = server.config
        rewind = getattr(c, "rewind", None)
        lag = None
        if rewind is not None:
            lag = {"enabled": bool(rewind.enabled), "window": float(rewind.window),
                   "max_interp": float(rewind.max_interp), "tolerance": float(rewind.tolerance),
                   "snapshot_every": int(c.snapshot_every), "sight": int(server.lagcomp.sight),
                   "sight_at_present": bool(server.lagcomp.sight_at_present)}
        kwargs.setdefault("lag_compensation", lag)
        kwargs.setdefault("server_info", {"snapshot_every": int(c.snapshot_every),
                                          "max_clients": int(c.max_clients), "view_radius": int(server.view_radius)})
        kwargs.setdefault("seed", server.seed)
        kwargs.setdefault("spec", server.spec)
        mode = kwargs.pop("mode", "state")
        if path is not None:
            rec = cls(path, server.game, server.game_config, mode, c.tick_rate, **kwargs)
        else:
            rec = cls.for_server(directory, server.game, server.game_config, mode, c.tick_rate, **kwargs)
        if server.world.tick != 0 or server.game.player_slots(server.world).any():
            rec.begin(server.world)
        server.recorder = rec
        return rec

    # ------------------------------------------------------------------ the match's calls (tick thread)

    def begin(self, world) -> None:
        """Start recording a match already under way: stores ``world`` as the starting keyframe.

        Not needed for a recorder attached before the first step (the replay then starts from
        ``game.new_world(config, seed)``). Called automatically if the first ``on_tick`` is not tick 1.
        """
        if self.closed:
            return
        self._close_block(handoff=False)
        self._tick = world.tick
        self._slots = set(np.flatnonzero(self.game.player_slots(world)).tolist())
        self._enc.set_slots(self._slots)
        self._keyframe(world)
        self._started = True

    def on_join(self, tick: int, slot: int, name: str = "") -> None:
        if self.closed:
            return
        self._close_block(handoff=False)
        self._started = True
        self._put(Kind.JOIN, fmt.encode_join, int(tick), int(slot), str(name))
        self._handoff()
        self._slots.add(int(slot))
        self._enc.set_slots(self._slots)
        self._enc.reset_slot(int(slot))

    def on_leave(self, tick: int, slot: int) -> None:
        if self.closed:
            return
        self._close_block(handoff=False)
        self._started = True
        self._put(Kind.LEAVE, fmt.encode_leave, int(tick), int(slot))
        self._handoff()
        self._slots.discard(int(slot))
        self._enc.set_slots(self._slots)
        self._enc.reset_slot(int(slot))

    def on_tick(self, world, packed, events=(), actions: Any = None) -> None:
        """After a step: the tick's inputs (``packed`` uint64 [P], changes only), checksum, highlights and the
        views of its lag-compensated ``actions`` ((slot, AppliedView, outcome) each)."""
        if self.closed:
            return
        t = world.tick
        if t != self._tick + 1:
            if not self._started:
                self.begin(world)  # attached mid-match: this tick is the replay's starting point
                return
            self._close_block()
            if not self._warned_gap:
                self._warned_gap = True
                log.warning("replay %s: the recorder missed ticks %d..%d; the replay will not verify",
                            self.path, self._tick + 1, t - 1)
        self._started = True
        if self._block_first is None:
            self._block_first = t
            self._block_t0 = time.monotonic()
        self._enc.add(np.asarray(packed, dtype=np.uint64))
        self._block_count += 1
        if t % self.checksum_every == 0:
            if not self._checks:
                self._check_first = t
            self._checks.append(self.game.checksum(world))
        if events and self._highlights:
            for item in self.game.highlights(world, events):
                self._events.append([int(item[1]), str(item[0]), list(item[2:])])
        if actions:
            for slot, v, hit in actions:
                if v.status != "off" or v.claimed is not None:
                    self._add_view(t, slot, v, hit)
        self._tick = t
        if self.keyframe_ticks and t % self.keyframe_ticks == 0:
            self._close_block(handoff=False)
            self._keyframe(world)
        elif self._block_count >= self._flush_ticks or time.monotonic() - self._block_t0 >= self.flush_every_s:
            self._close_block()

    def _add_view(self, t: int, slot: int, v, hit: int) -> None:
        try:
            vt = int(v.tick)
            # the outcome is only needed by a re-simulation that starts at the newest keyframe
            entry = (t, slot, v.status, vt, int(v.frac), int(v.span),
                     None if v.claimed is None else (int(v.claimed[0]), int(v.claimed[1])),
                     int(hit) if vt < self._history_start else None)
            ok = (entry[2] in fmt.VIEW_STATUSES and 0 <= t - entry[3] <= 0xFFFF and 0 <= entry[4] <= 0xFFFF
                  and 1 <= entry[5] <= 0xFFFF and (entry[6] is None or 0 <= entry[6][1] <= 0xFFFF))
        except (AttributeError, TypeError, ValueError, IndexError):
            ok = False
        if ok:
            self._views.append(entry)
        elif not self._warned_view:
            self._warned_view = True
            log.warning("replay %s: a lag-compensation view the format cannot hold was skipped: %r", self.path, v)

    def on_event(self, kind: str, data: Any = None, tick: int | None = None) -> None:
        """A game event of interest (``"chat"``, ...), stored as ``[tick, kind, data]``; default tick: the newest."""
        if self.closed:
            return
        self._events.append(_pack_safely([self._tick if tick is None else int(tick), str(kind), data]))

    def on_audit(self, entries: list) -> None:
        """Shots' rewind audit (a list of dicts), stored as ``[tick, entries]``."""
        if self.closed or not entries or not self.record_audit:
            return
        self._audit.append(_pack_safely([self._tick, list(entries)]))

    def close(self, clean: bool = True, wait: bool = True) -> None:
        """Hand over what is buffered and the END record; the writer thread writes them, fsyncs and
        closes the file. ``wait=False`` returns at once (a server closing one of many matches
        mid-frame); the file is complete once the writer thread got to it, at the latest at exit."""
        if self.closed:
            return
        self._close_block()
        self.closed = True
        done = threading.Event()
        self._writer.put(self, [(Kind.END, None, (self._tick, clean))], done, finish=True)
        atexit.unregister(self._atexit)
        if self._own_writer:
            self._writer.stop(wait=wait)
        elif wait:
            done.wait()

    def __enter__(self) -> MatchRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close(clean=exc[0] is None)

    def _atexit(self) -> None:
        self.close(clean=False)

    # ------------------------------------------------------------------ internals (tick thread)

    def _put(self, kind: int, encoder, *args) -> None:
        self._pending.append((kind, encoder, args))

    def _handoff(self) -> None:
        """Give the writer thread everything encoded so far, as one queue item (one wake-up)."""
        if self._pending:
            self._writer.put(self, self._pending)
            self._pending = []

    def _keyframe(self, world) -> None:
        active = set(np.flatnonzero(self.game.player_slots(world)).tolist())
        if active != self._slots:
            log.warning("replay %s: joins/leaves reported to the recorder (%s) differ from the world's players (%s)",
                        self.path, sorted(self._slots), sorted(active))
        layout = self._layout(world) if self._layout is not None else None
        self._put(Kind.KEYFRAME, fmt.encode_keyframe, world.tick, self.game.world_to_bytes(world), layout)
        self._history_start = world.tick
        self._enc.reset_all()
        self._handoff()

    def _close_block(self, handoff: bool = True) -> None:
        # VIEWS go before the TICKS they belong to: re-simulation needs them while stepping.
        if self._views:
            self._put(Kind.VIEWS, fmt.encode_views, self._views)
            self._views = []
        if self._block_first is not None:
            self._put(Kind.TICKS, fmt.encode_ticks, self._block_first, self._block_count, len(self._enc.slots),
                      *self._enc.take())
            self._block_first = None
            self._block_count = 0
        if self._checks:
            self._put(Kind.CHECKSUM, fmt.encode_checksums, self._check_first, self.checksum_every,
                      self.checksum_width, self._checks)
            self._checks = []
        if self._events:
            self._put(Kind.EVENT, _encode_items, self._events)
            self._events = []
        if self._audit:
            self._put(Kind.AUDIT, fmt.encode_msgpack_record, self._audit)
            self._audit = []
        if handoff:
            self._handoff()

    # ------------------------------------------------------------------ the writer thread

    def _fail(self, e: BaseException) -> None:
        if self.error is None:
            self.error = e
            log.error("replay %s: writing failed, recording stopped: %s", self.path, e)

    def _write(self, jobs: list) -> None:
        if self.error is not None:
            return
        f = self._file
        try:
            for kind, encoder, args in jobs:
                if kind == Kind.END:
                    payload = fmt.encode_end(args[0], args[1], self._keyframe_index)
                else:
                    payload = encoder(*args)
                if kind == Kind.KEYFRAME:
                    self._keyframe_index.append((args[0], self._offset))
                rec = fmt.frame(kind, payload)
                f.write(rec)
                self._offset += len(rec)
                self.bytes_written += len(rec)
        except Exception as e:  # disk full, an unencodable value: stop recording, never the match
            self._fail(e)

    def _finish(self) -> None:
        try:
            if self.error is None:
                self._file.flush()
                os.fsync(self._file.fileno())
        except OSError as e:
            self._fail(e)
        finally:
            self._file.close()

    def _flush(self) -> None:
        if self.error is None:
            try:
                self._file.flush()
            except Exception as e:
                self._fail(e)


class ReplayWriter:
    """The background thread that compresses, frames and writes recorders' blocks.

    One per recorder by default; a server hosting many matches shares one among their recorders
    (one thread, not one per match). Files are flushed whenever the queue runs empty, so a block
    reaches the OS right after it was handed over unless more work is already waiting.
    """

    def __init__(self, name: str = "replay-writer"):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._stopped = False
        atexit.register(self.stop)  # after the recorders' own exit handlers (atexit runs last-in first)

    def put(self, recorder: MatchRecorder, jobs: list, done: threading.Event | None = None,
            finish: bool = False) -> None:
        """Write ``jobs`` for ``recorder``; with ``finish``, then fsync and close its file; then set ``done``."""
        self._queue.put((recorder, jobs, done, finish))

    def stop(self, wait: bool = True) -> None:
        """Write everything queued, then end the thread (``wait``: return once it has)."""
        if not self._stopped:
            self._stopped = True
            self._queue.put(None)
            atexit.unregister(self.stop)
        if wait:
            self._thread.join()

    def _run(self) -> None:
        q = self._queue
        dirty: set = set()
        while True:
            item = q.get()
            if item is None:
                for rec in dirty:
                    rec._flush()
                return
            rec, jobs, done, finish = item
            rec._write(jobs)
            if finish:
                dirty.discard(rec)
                rec._finish()
            else:
                dirty.add(rec)
            if done is not None:
                done.set()
            if q.empty():
                for rec in dirty:
                    rec._flush()
                dirty.clear()


def _encode_items(items: list) -> bytes:
    return fmt.encode_msgpack_record([x if isinstance(x, bytes) else fmt.pack_items(x) for x in items])


def _pack_safely(item: list) -> bytes:
    """msgpack now (the caller may mutate its objects later); never raises into the match."""
    try:
        return fmt.pack_items(item)
    except Exception as e:
        log.warning("replay: could not record %r: %s", item[:2], e)
        return fmt.pack_items([item[0], "unrecordable", repr(e)])
