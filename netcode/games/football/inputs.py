"""Football's input record: an 8-bit heading, a 2-bit throttle, a kick button and a 12-bit aim (23 bits, 3 bytes).

The heading says where the player runs and the throttle how fast (0 stands, 1 walks, 2 runs, 3 sprints
while stamina lasts). Kick is held to charge and released to kick, towards the aim; it is kept through a
missing input (``hold``), so a lost packet neither fires nor wastes a charged kick.
"""
from __future__ import annotations

from ...game.inputs import InputField, InputSchema, analog, angle, direction

INPUTS = InputSchema([
    direction("heading", 8, "where to run: 256 headings, 0 = +x, clockwise on screen"),
    analog("throttle", 2, doc="0 stand, 1 walk, 2 run, 3 sprint"),
    InputField("kick", 1, hold=True, doc="hold to charge, release to kick towards the aim"),
    angle("aim", 12, "where a kick goes: 4096 steps, 0 = +x"),
])
HEADING, THROTTLE, KICK, AIM = range(4)
