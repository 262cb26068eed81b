"""Headless bot players: the game's bot brain (``HasBots``, netcode.game) choosing each tick's input.

In state sync a bot decides from its client's decoded snapshots only, as a human would, so it exercises
the whole path: AOI, deltas, clock sync, redundant inputs. In lockstep it reads its client's world.
Behaviour names and mixes are the game's (the arena: idle, wander, fight).
"""
from __future__ import annotations

import random

from .game import HasBots

# ``--behaviour mixed``: mostly the most active behaviour, some of the middle ones, a few of the first.
MIXED_WEIGHTS = (1, 2, 5)


class NoBots(ValueError):
    """The game has no bot brain (or not that behaviour): one sentence for the user."""


class IdleBrain:
    """A bot that gives no input at all (for games without a brain: load tests still load the server)."""

    def from_snapshot(self, config, ids, values, slot: int) -> int:
        return 0

    def from_world(self, world, slot: int) -> int:
        return 0

    def blind(self) -> int:
        return 0


def behaviours(game) -> tuple[str, ...]:
    """The game's bot behaviours (empty: it has no bots)."""
    return tuple(game.bot_behaviours) if isinstance(game, HasBots) else ()


def default_mix(game) -> dict[str, int]:
    """``--behaviour mixed`` for this game: the last behaviour weighted most, the first least."""
    names = behaviours(game)
    if not names:
        raise NoBots(f"{game.name} has no bot brain")
    weights = MIXED_WEIGHTS[-len(names):] if len(names) <= len(MIXED_WEIGHTS) else (1,) * len(names)
    return dict(zip(names, weights))


def make_brain(game, seed: int, behaviour: str | None = None):
    """The game's brain for one bot (``behaviour`` None: its most active one); NoBots in words if it has none."""
    names = behaviours(game)
    if not names:
        raise NoBots(f"{game.name} has no bot brain (it does not implement HasBots)")
    behaviour = behaviour or names[-1]
    if behaviour not in names:
        raise NoBots(f"{game.name} bots know {', '.join(names)}, not {behaviour!r}")
    return game.make_bot(seed, behaviour)


def parse_mix(text: str, known: tuple[str, ...] | None = None) -> dict[str, int]:
    """Parse ``idle=1,wander=2,fight=5`` into weights; ValueError (one line) when malformed. ``known``: the
    game's behaviours (None: checked later, once the server named its game)."""
    mix: dict[str, int] = {}
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        name, sep, weight = part.partition("=")
        if known is not None and name not in known:
            raise ValueError(f"unknown behaviour {name!r} in mix (known: {', '.join(known)})")
        if not name.isidentifier():
            raise ValueError(f"expected BEHAVIOUR=WEIGHT in mix, got {part!r}")
        if not sep:
            raise ValueError(f"expected BEHAVIOUR=WEIGHT in mix, got {part!r}")
        try:
            w = int(weight)
        except ValueError:
            raise ValueError(f"weight of {name} must be a whole number, got {weight!r}") from None
        if w < 0:
            raise ValueError(f"weight of {name} must be >= 0, got {w}")
        mix[name] = mix.get(name, 0) + w
    if not mix or sum(mix.values()) <= 0:
        raise ValueError(f"mix needs at least one weight > 0, e.g. idle=1,wander=2,fight=5 (got {text!r})")
    return mix


def assign_behaviours(count: int, mix: dict[str, int], seed: int = 1) -> list[str]:
    """``count`` behaviours in proportion to ``mix`` (largest remainder, so exact counts), seeded shuffle."""
    total = sum(mix.values())
    order = list(mix)
    names = [n for n in order if mix.get(n, 0) > 0]
    exact = {n: count * mix[n] / total for n in names}
    counts = {n: int(exact[n]) for n in names}
    by_remainder = sorted(names, key=lambda n: (-(exact[n] - counts[n]), order.index(n)))
    for n in by_remainder[:count - sum(counts.values())]:
        counts[n] += 1
    out = [n for n in names for _ in range(counts[n])]
    random.Random(seed).shuffle(out)
    return out


def brain_or_idle(game, seed: int, behaviour: str | None = None):
    """(brain, None), or (an IdleBrain, why) when the game has no bots or not that behaviour; a game without
    bots asked for no particular behaviour is not an error (its bots just stand)."""
    try:
        return make_brain(game, seed, behaviour), None
    except NoBots as e:
        return IdleBrain(), (str(e) if behaviour is not None else None)


class LockstepBrain:
    """A lockstep client's input hook (``LockstepClient(brain=...)``): the game's brain, created once the
    server named its game, reading the client's world (or blind, for a client that keeps none)."""

    def __init__(self, seed: int, behaviour: str | None = None):
        self.seed = seed
        self.behaviour = behaviour
        self.brain = None
        self.error: str | None = None  # the behaviour asked for is not one of the game's (the bot stands idle)

    def __call__(self, client) -> int:
        if self.brain is None:
            self.brain, self.error = brain_or_idle(client.game, self.seed, self.behaviour)
        if client.world is None:
            return self.brain.blind()
        return self.brain.from_world(client.world, client.slot)


def add_virtual_bots(net, server_addr, count: int, seed: int = 0, prefix: str = "bot", behaviour=None) -> list:
    """`count` bot players (StateSyncClient + the server's game's brain) joined to a server in a
    netcode.netsim.virtual.VirtualNetwork; each decides once per network step. Returns the clients."""
    from .statesync.client import StateSyncClient

    bots = []
    for i in range(count):
        c = StateSyncClient(server_addr, name=f"{prefix}{i}", nonce=i + 1)
        c.connect(net.now)
        net.add((prefix, i), c)
        bots.append([c, None, seed + i])

    def play(now):
        for entry in bots:
            c, brain, s = entry
            if c.welcome is None:
                continue
            if brain is None:
                brain = entry[1] = make_brain(c.game, s, behaviour)
            latest = c.latest
            ids, values = (latest.ids, latest.values) if latest is not None else (None, None)
            c.next_input = brain.from_snapshot(c.welcome.config, ids, values, c.welcome.slot)

    net.on_step.append(play)
    return [c for c, _, _ in bots]
