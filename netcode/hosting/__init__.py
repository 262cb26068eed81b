"""Hosting many matches ("rooms") of any game, both modes, on one transport: the sans-IO host (``host``),
each room's share of the transport (``rooms``), and the matchmaker's logic (``matchmaking``)."""
