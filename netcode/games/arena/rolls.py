"""The arena's random streams: one purpose number per kind of roll (see netcode.game.rng)."""

SPAWN = 1
NPC_INIT = 2
NPC_WANDER = 3
JOIN = 4
