"""What a football snapshot says about each entity.

Players (entity = slot) and the ball (entity ``max_players``) share nine columns:

| field   | player                               | ball                                  |
|---------|--------------------------------------|---------------------------------------|
| x, y    | centre, sub-px                       | centre, sub-px                        |
| vx, vy  | last step's displacement, sub-px     | velocity, Q8 sub-px per tick          |
| aim     | facing / kick direction, 0..4095     | kick-off ticks left                   |
| charge  | ticks the kick has been held         | home score                            |
| stamina | 0..stamina                           | away score                            |
| sub     | 0                                    | Q8 remainders: x | y << 8             |
| flags   | PRESENT, TEAM (away), KICKED, cooldown << 4 | PRESENT, BALL                   |

The ball's remainder and velocity make a snapshot hold the ball's exact state, so a client predicts
its own touches of the ball bit for bit.
"""
from __future__ import annotations

import numpy as np

from ...game.entities import EntitySchema, EntityView
from ...game.fixed import SUBPX

ENTITIES = EntitySchema(("x", "y", "vx", "vy", "aim", "charge", "stamina", "sub", "flags"), position=("x", "y"),
                        units_per_px=SUBPX, view_radius=2400)
F_X, F_Y, F_VX, F_VY, F_AIM, F_CHARGE, F_STAMINA, F_SUB, F_FLAGS = range(9)
FLAG_PRESENT = 1
FLAG_AWAY = 2  # team 1
FLAG_BALL = 4
FLAG_KICKED = 8  # kicked the ball this tick
COOLDOWN_SHIFT = 4


def entity_view(world) -> EntityView:
    cfg = world.config
    p = cfg.max_players
    values = np.zeros((p + 1, 9), dtype=np.int32)
    values[:p, F_X:F_Y + 1] = world.pos
    values[:p, F_VX:F_VY + 1] = world.vel
    values[:p, F_AIM] = world.aim
    values[:p, F_CHARGE] = world.charge
    values[:p, F_STAMINA] = world.stamina
    values[:p, F_FLAGS] = (world.active * FLAG_PRESENT | (world.team == 1) * FLAG_AWAY | world.kicked * FLAG_KICKED
                           | (world.cooldown.astype(np.int32) << COOLDOWN_SHIFT))
    b = p
    values[b, F_X:F_Y + 1] = world.ball
    values[b, F_VX:F_VY + 1] = world.ball_vel
    values[b, F_AIM] = world.kickoff
    values[b, F_CHARGE:F_STAMINA + 1] = world.score
    values[b, F_SUB] = int(world.ball_rem[0]) | int(world.ball_rem[1]) << 8
    values[b, F_FLAGS] = FLAG_PRESENT | FLAG_BALL
    pos = values[:, F_X:F_Y + 1]
    present = np.append(world.active, True)
    return EntityView(values, pos, present, (cfg.width * SUBPX, cfg.height * SUBPX))


def load_ball(world, row) -> None:
    """Set the world's ball (and the match score and kick-off) from the ball's snapshot row."""
    world.ball[:] = row[F_X:F_Y + 1]
    world.ball_vel[:] = row[F_VX:F_VY + 1]
    world.kickoff = int(row[F_AIM])
    world.score[:] = row[F_CHARGE:F_STAMINA + 1]
    world.ball_rem[:] = (int(row[F_SUB]) & 255, (int(row[F_SUB]) >> 8) & 255)


def load_player(world, slot: int, row) -> None:
    """Set player ``slot`` from its snapshot row."""
    world.active[slot] = bool(row[F_FLAGS] & FLAG_PRESENT)
    world.pos[slot] = row[F_X:F_Y + 1]
    world.vel[slot] = row[F_VX:F_VY + 1]
    world.aim[slot] = row[F_AIM]
    world.charge[slot] = row[F_CHARGE]
    world.stamina[slot] = row[F_STAMINA]
    world.cooldown[slot] = (int(row[F_FLAGS]) >> COOLDOWN_SHIFT) & 15
