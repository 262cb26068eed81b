"""Finding games: the built-in ones by name, any other by ``package.module:attr``.

This is the one module outside ``netcode/games/`` that names the built-in games (the layering test
holds everything else to the interface). A spec is a built-in name (``arena``), ``module:attr`` (the
attribute is a game, or a class or factory called with no arguments) or ``module`` (its ``GAME``).
Servers announce their game's spec in the handshake and replays record it, so a client, a bot or a
verifier loads the same game — or says in one line that it can't.

A spec that comes from elsewhere (a server's WELCOME, a replay's header) is only imported when this
side trusts it: importing a module runs its code, so a hostile server must not be able to name any
module on our path. Trusted are the built-in games, every spec this process loaded itself (``--game``
on the command line, ``load_game`` in code) and the modules or specs listed, comma-separated, in the
``NETCODE_GAMES`` environment variable.
"""
from __future__ import annotations

import importlib
import json
import os
import zlib
from collections.abc import Mapping
from typing import Any

from .api import capabilities, missing_members

BUILTIN = {
    "arena": "netcode.games.arena:GAME",
    "football": "netcode.games.football:GAME",
}
DEFAULT = "arena"
TRUST_ENV = "NETCODE_GAMES"


class GameNotFound(LookupError):
    """A game spec that does not load, in one sentence for the user (``spec`` and ``why`` apart)."""

    def __init__(self, spec: str, why: str):
        super().__init__(f"game {spec!r} {why}")
        self.spec = spec
        self.why = why


_loaded: dict[str, Any] = {}
_specs: dict[int, str] = {}
_chosen: set[str] = set()  # specs this process serves or records itself: trusted when a peer names them


def load_game(spec: str | None = None) -> Any:
    """The game named by ``spec`` (default: the arena); GameNotFound in words if it can't be loaded."""
    spec = (spec or DEFAULT).strip()
    if spec in _loaded:
        return _loaded[spec]
    target = BUILTIN.get(spec, spec)
    module_name, _, attr = target.partition(":")
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")) or (
            attr and not all(part.isidentifier() for part in attr.split("."))):
        raise GameNotFound(spec, f"is not a built-in game ({', '.join(BUILTIN)}) nor a 'package.module:attr' spec")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise GameNotFound(spec, f"is not installed here (no module {e.name!r}; built in: "
                                     f"{', '.join(BUILTIN)})") from None
        raise GameNotFound(spec, f"failed to import: {e}") from None
    except Exception as e:  # the game's own import failed: say so, don't crash the server or verifier
        raise GameNotFound(spec, f"failed to import: {type(e).__name__}: {e}") from None
    obj: Any = module
    for part in (attr or "GAME").split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise GameNotFound(spec, f"is not there: module {module_name!r} has no {attr or 'GAME'!r} "
                                     "(give 'module:attr')") from None
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "step")):
        try:
            obj = obj()
        except Exception as e:
            raise GameNotFound(spec, f"could not be created: {type(e).__name__}: {e}") from None
    missing = missing_members(obj)
    if missing:
        raise GameNotFound(spec, f"is not a game: it lacks {', '.join(missing)} (see docs/GAME_API.md)")
    _loaded[spec] = obj
    _specs.setdefault(id(obj), spec)
    return obj


def spec_of(game: Any) -> str:
    """The spec that loads ``game`` again: its registry name, the spec it was loaded by, or its class path."""
    spec = _specs.get(id(game))
    if spec is not None:
        return spec
    name = getattr(game, "name", None)
    if name in BUILTIN:
        try:
            if type(load_game(name)) is type(game):
                return name
        except GameNotFound:
            pass
    cls = type(game)
    return f"{cls.__module__}:{cls.__qualname__}"


def builtin_games() -> dict[str, Any]:
    """Every built-in game that loads here, by name."""
    out = {}
    for name in BUILTIN:
        try:
            out[name] = load_game(name)
        except GameNotFound:
            continue
    return out


def describe(game: Any, spec: str | None = None) -> dict[str, Any]:
    """What ``netcode games --json`` prints for one game."""
    return {"name": game.name, "spec": spec or spec_of(game), "version": game.version,
            "description": game.description, "modes": list(game.modes),
            "capabilities": list(capabilities(game)), "options": dict(game.options),
            "input": game.inputs.describe(), "input_bytes": game.inputs.record_size,
            "entity_fields": list(game.entities.fields), "position": list(game.entities.position),
            "units_per_px": game.entities.units_per_px, "view_radius": game.entities.view_radius,
            # a lag-compensated game's INPUT entries carry the player's view when this field is non-zero
            "action_field": getattr(game, "action_field", None) if "lag_compensation" in capabilities(game) else None}


def fingerprint(config: Any) -> int:
    """crc32 of the config's canonical JSON: equal configs give equal fingerprints on any machine."""
    blob = json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    return zlib.crc32(blob)


def announce(game: Any, config: Any, spec: str | None = None) -> dict[str, Any]:
    """The game part of a handshake (WELCOME; ACCEPT carries the spec and version only) or a replay header.
    The process announcing a game chose it, so its spec is trusted here from now on."""
    spec = spec or spec_of(game)
    _chosen.add(spec)
    return {"game": spec, "game_version": int(game.version), "config": config.to_dict(),
            "config_fingerprint": fingerprint(config)}


def trusted(spec: str) -> bool:
    """Whether a spec named by a peer or a file may be imported here (see the module docstring)."""
    spec = spec.strip()
    if spec in BUILTIN or spec in _loaded or spec in _chosen:
        return True
    module = spec.partition(":")[0]
    for entry in os.environ.get(TRUST_ENV, "").split(","):
        entry = entry.strip()
        if entry and (entry == spec or (":" not in entry and (module == entry or module.startswith(entry + ".")))):
            return True
    return False


def trust(spec: str) -> Any:
    """Load ``spec`` here (GameNotFound in words if it doesn't) and trust it when a peer or a file names it,
    in this process and in the processes it starts (through ``NETCODE_GAMES``)."""
    game = load_game(spec)
    listed = [e.strip() for e in os.environ.get(TRUST_ENV, "").split(",") if e.strip()]
    if spec.strip() not in listed:
        os.environ[TRUST_ENV] = ",".join(listed + [spec.strip()])
    return game


def load_announced(spec: str, what: str = "the server", expected: Any = None) -> Any:
    """The game a peer or a file names: ``expected`` when it is that one, else loaded if trusted; NotPlayable
    in one sentence when it is not trusted or does not load."""
    if expected is not None and spec == spec_of(expected):
        return expected
    if not trusted(spec):
        raise NotPlayable(f"{what} runs game {spec!r}, which is not a built-in game; pass --game {spec} (or list "
                          f"it in {TRUST_ENV}) to trust it")
    try:
        return load_game(spec)
    except GameNotFound as e:
        raise NotPlayable(f"{what} runs game {spec!r}, which {e.why}") from None


def resolve(info: Mapping[str, Any], what: str = "the server", expected: Any = None) -> tuple[Any, Any]:
    """(game, config) from an ``announce()`` map. NotPlayable (one sentence) when this side can't play the
    game it names (not trusted, not installed, another version); ValueError when the map itself is malformed.
    ``expected``: a game object this side already has; used as it is when the map names it."""
    spec = info.get("game")
    if not isinstance(spec, str) or not spec.strip() or len(spec) > 200:
        raise ValueError(f"{what} did not say which game it runs")
    game = load_announced(spec, what, expected)
    version = info.get("game_version")
    if version != game.version:
        raise NotPlayable(f"{what} runs {game.name} version {version!r}; this netcode has version {game.version}")
    data = info.get("config")
    if not isinstance(data, Mapping):
        raise ValueError(f"{what} sent no {game.name} rules")
    try:
        config = game.config_from_dict(data)
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"{what}'s {game.name} rules are invalid ({e})") from None
    fp = info.get("config_fingerprint")
    if fp is not None and fp != fingerprint(config):
        raise ValueError(f"{what}'s {game.name} rules do not match their fingerprint")
    return game, config


class NotPlayable(GameNotFound):
    """What a server or replay announced can't be played here (its game, version or rules), in one sentence."""

    def __init__(self, message: str):
        LookupError.__init__(self, message)
        self.spec = "?"
        self.why = message
