"""Per-game views of the demo client: `view_for(game, config)` picks the game's GameView.

A game names its view in ``BUILT_IN`` (the built-in games) or with a ``client_view`` attribute
("package.module:Class"); any other game gets the generic view (entities as dots, inputs by field name).
"""
from __future__ import annotations

import importlib

from .base import Controls, GameView, Me

BUILT_IN = {
    "arena": "client_demo.games.arena:ArenaView",
    "football": "client_demo.games.football:FootballView",
}


def _load(spec: str):
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def view_for(game, config) -> GameView:
    """The GameView of ``game`` with ``config`` (the generic one when the game has none)."""
    spec = getattr(game, "client_view", None) or BUILT_IN.get(getattr(game, "name", ""))
    cls = GameView
    if spec:
        try:
            cls = _load(spec)
        except (ImportError, AttributeError):
            cls = GameView  # a view that does not load: dots still show the game
    return cls(game, config)


def painter_for(view: GameView):
    """The pygame painter of a view (imports pygame)."""
    return _load(view.painter)(view)


__all__ = ["BUILT_IN", "Controls", "GameView", "Me", "painter_for", "view_for"]
