"""ReplayReader: the header, then the records in file order, stopping cleanly at damage.

A file that cannot be a replay (missing, unreadable, wrong magic, newer format, damaged header)
raises ``ReplayError`` with one sentence. Damage after the header (a torn last record after a
crash, a crc mismatch, a record whose bytes don't decode) ends iteration there with a message
in ``warnings``; everything before it is returned. No other exception escapes for any bytes.
"""
from __future__ import annotations

import os
import zlib
from collections import Counter
from pathlib import Path
from typing import Iterator

import attrs
import msgpack

from ..game import GameNotFound, resolve
from . import format as fmt
from .format import FormatError, Kind, ReplayError


@attrs.frozen
class RawRecord:
    offset: int  # of the record header in the file
    kind: int
    payload: bytes

    @property
    def size(self) -> int:
        return fmt.RECORD.size + len(self.payload)


class ReplayReader:
    """Opens ``path`` and parses its header (``ReplayError`` if it is not a usable replay).

    Attributes: ``header`` (the msgpack map), ``version``, ``mode``, ``tick_rate``, ``game`` (the recorded
    game, loaded), ``sim`` (its config), ``seed``, ``data_offset`` (first record), ``size``. After a full
    pass over ``records()``:
    ``warnings`` (list of str), ``clean`` (an END record saying clean, no damage), ``ended``
    (END present), ``unknown_kinds`` (Counter of skipped record kinds).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.warnings: list[str] = []
        self.unknown_kinds: Counter[int] = Counter()
        self.ended = False
        self._end_clean = False
        try:
            self._f = open(self.path, "rb")
        except FileNotFoundError:
            raise ReplayError(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise ReplayError(f"{self.path} is a directory, not a replay file") from None
        except OSError as e:
            raise ReplayError(f"cannot read {self.path}: {e.strerror or e}") from None
        try:
            self._read_header()
        except ReplayError:
            self._f.close()
            raise
        except OSError as e:
            self._f.close()
            raise ReplayError(f"cannot read {self.path}: {e.strerror or e}") from None

    # ------------------------------------------------------------------ header

    def _bad(self, what: str) -> ReplayError:
        return ReplayError(f"{self.path.name}: {what}")

    def _read_header(self) -> None:
        f = self._f
        self.size = os.fstat(f.fileno()).st_size
        if self.size == 0:
            raise self._bad("empty file, not a netcode replay")
        prefix = f.read(fmt.PREFIX.size)
        magic = prefix[: len(fmt.MAGIC)]
        if magic != fmt.MAGIC[: len(magic)]:
            raise self._bad("not a netcode replay")
        if len(magic) < len(fmt.MAGIC):
            raise self._bad("truncated header (the file ends inside the magic bytes)")
        if len(prefix) < fmt.PREFIX.size:
            raise self._bad("truncated header")
        # Every format version keeps this prefix (magic, u16 version, u32 length, map, crc32), so the crc is
        # checked before the version is believed: garbage after the magic is corrupt, not "a newer version".
        _, version, hlen = fmt.PREFIX.unpack(prefix)
        if hlen > fmt.MAX_HEADER:
            raise self._bad("corrupt header (implausible length)")
        body = f.read(hlen)
        crc = f.read(fmt.HEADER_CRC.size)
        if len(body) < hlen or len(crc) < fmt.HEADER_CRC.size:
            raise self._bad("truncated header")
        if fmt.HEADER_CRC.unpack(crc)[0] != zlib.crc32(body):
            raise self._bad("corrupt header (checksum mismatch)")
        if version == 1:
            raise self._bad("an old replay format (version 1, recorded before games were pluggable); this netcode "
                            f"reads version {fmt.FORMAT_VERSION}: record the match again")
        if fmt.FORMAT_VERSION < version < 0x100:  # plausible: a later netcode wrote it
            raise self._bad(f"replay format version {version} is newer than this netcode ({fmt.FORMAT_VERSION})")
        if version != fmt.FORMAT_VERSION:
            raise self._bad(f"corrupt header (format version field {version})")
        self.version = version
        try:
            h = msgpack.unpackb(body, raw=False)
        except Exception:  # msgpack raises many exception types for bad bytes
            raise self._bad("corrupt header (not msgpack)") from None
        if not isinstance(h, dict):
            raise self._bad("corrupt header (not a map)")
        self.header = h
        mode, rate, config = h.get("mode"), h.get("tick_rate"), h.get("config")
        if not isinstance(mode, str) or type(rate) is not int or not 1 <= rate <= 1000 or not isinstance(config, dict):
            raise self._bad("corrupt header (mode, tick_rate or the game's config missing)")
        if not isinstance(h.get("game"), str):
            raise self._bad("corrupt header (no game named)")
        try:
            self.game, self.sim = resolve(h, what="the replay")
        except GameNotFound as e:
            raise self._bad(str(e)) from None
        except Exception as e:  # a game's config_from_dict validates; any failure means the header is unusable
            raise self._bad(f"corrupt header ({e})") from None
        seed, every = h.get("seed"), h.get("checksum_every", 1)
        if type(seed) is not int or not 0 <= seed < 1 << 64:
            raise self._bad("corrupt header (the seed is missing or out of range)")
        if type(every) is not int or not 1 <= every <= 65535:
            raise self._bad("corrupt header (checksum_every out of range)")
        self.seed, self.checksum_every = seed, every
        self.mode, self.tick_rate = mode, rate
        self.data_offset = fmt.PREFIX.size + hlen + fmt.HEADER_CRC.size

    # ------------------------------------------------------------------ records

    def raw_records(self, offset: int | None = None) -> Iterator[RawRecord]:
        """CRC-checked records from ``offset`` (default: the first). Damage stops the iteration with a warning.

        A pass from the first record resets ``warnings``, ``ended``, ``clean`` and ``unknown_kinds``.
        """
        full = offset is None or offset == self.data_offset
        pos = self.data_offset if offset is None else offset
        if full:
            self.warnings, self.ended, self._end_clean = [], False, False
            self.unknown_kinds = Counter()
        warnings: list[str] = self.warnings if full else []
        try:
            size = os.fstat(self._f.fileno()).st_size
            while pos < size:
                self._f.seek(pos)
                head = self._f.read(fmt.RECORD.size)
                if len(head) < fmt.RECORD.size:
                    warnings.append(f"torn record at offset {pos}: the file ends {size - pos} bytes into a "
                                    f"{fmt.RECORD.size}-byte record header (recording was cut off)")
                    return
                length, kind, crc = fmt.RECORD.unpack(head)
                if length > fmt.MAX_RECORD:
                    warnings.append(f"corrupt record header at offset {pos} (length {length}); stopped reading there")
                    return
                if length > size - pos - fmt.RECORD.size:
                    warnings.append(f"torn record at offset {pos}: {kind_label(kind)} record of {length} bytes, "
                                    f"only {size - pos - fmt.RECORD.size} present (recording was cut off)")
                    return
                payload = self._f.read(length)
                if len(payload) != length:  # pragma: no cover - a file truncated under us
                    warnings.append(f"torn record at offset {pos}: the file shrank while reading")
                    return
                if fmt.record_crc(length, kind, payload) != crc:
                    warnings.append(f"record at offset {pos} fails its crc32 check (corrupt or torn); "
                                    "stopped reading there")
                    return
                yield RawRecord(pos, kind, payload)
                pos += fmt.RECORD.size + length
                if kind == Kind.END:
                    if full:
                        self.ended = True
                        self._end_clean = len(payload) >= fmt.END_HDR.size and bool(payload[8] & fmt.END_CLEAN)
                    if pos < size:
                        warnings.append(f"{size - pos} bytes after the END record ignored")
                    return
            if full and not self.ended:
                warnings.append("no END record: the recording was not closed (server crashed or was killed)")
        except OSError as e:
            warnings.append(f"read error at offset {pos}: {e.strerror or e}; stopped reading there")

    def decoded(self, offset: int | None = None) -> Iterator[tuple[RawRecord, fmt.Record | None]]:
        """(raw record, decoded record) in file order; the decoded record is None for an unknown kind
        (counted in ``unknown_kinds``). A record that does not decode ends the iteration with a warning."""
        full = offset is None or offset == self.data_offset
        for raw in self.raw_records(offset):
            if raw.kind not in fmt.KIND_NAMES:
                if full:
                    self.unknown_kinds[raw.kind] += 1
                yield raw, None
                continue
            try:
                rec = fmt.decode_record(raw.kind, raw.payload)
            except FormatError as e:
                if full:
                    self.warnings.append(f"{kind_label(raw.kind)} record at offset {raw.offset} is malformed ({e}); "
                                         "stopped reading there")
                return
            yield raw, rec

    def records(self, offset: int | None = None) -> Iterator[tuple[int, fmt.Record]]:
        """(offset, decoded record) in file order; unknown kinds are skipped and counted in ``unknown_kinds``."""
        for raw, rec in self.decoded(offset):
            if rec is not None:
                yield raw.offset, rec

    @property
    def clean(self) -> bool:
        """The last full pass found an END record marked clean and no damage."""
        return self.ended and self._end_clean and not self.warnings

    def __iter__(self) -> Iterator[fmt.Record]:
        for _, rec in self.records():
            yield rec

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ReplayReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def kind_label(kind: int) -> str:
    return fmt.kind_name(kind)
