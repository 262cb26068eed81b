"""What a snapshot says about each entity: the field order of the wire table and the flag bits."""
from ..wire.snapshot import GAME_SCHEMA

GAME_FIELDS = GAME_SCHEMA.fields  # x, y (sub-px), aim (0..4095), hp, flags
F_X, F_Y, F_AIM, F_HP, F_FLAGS = range(5)

FLAG_ALIVE = 1
FLAG_NPC = 2
FLAG_FIRED = 4  # fired a shot this tick (clients draw a tracer along aim)
