"""The layering of the whole package, checked from the source with ast.

* Folders are layers and a lower one never imports a higher one (``LAYERS``): the wire format, then the
  Game interface, the transport and the network simulator, then the games, then the sans-IO match logic
  (state sync, lockstep, replays, prediction...), then the asyncio layer, the benchmarks and the front ends.
* No module outside ``netcode/games/`` imports a game: every layer speaks the Game interface
  (``netcode/game``); the registry names the built-in games as strings only.
* A game imports the library and itself, never another game.
* ``netcode/`` never imports pygame; it imports ``client_demo`` only in the front ends that launch it, and
  ``client_demo`` takes from the front ends only their shared flag parsing (no import cycle).
* Only the asyncio layer, the front ends, the benchmarks and the replay writer (files) open sockets or
  read the clock; protocol, sync modes, AOI, rewind, prediction, replay reading and games are sans-IO.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "netcode"

# Each top-level module or folder of netcode/ and its layer: imports go to the same layer or lower ones.
LAYERS = {
    "wire": 0,
    "game": 1, "security": 1, "protocol": 1, "netsim": 1, "rewind": 1, "tick": 1, "aoi": 1,
    "games": 2,
    "statesync": 3, "lockstep": 3, "hosting": 3, "replay": 3, "prediction": 3, "interpolation": 3, "bots": 3,
    "aio": 4,
    "bench": 5,
    "cli": 6,
    "__main__": 7,
}
# what may launch the pygame client
CLIENT_LAUNCHERS = {"cli/__init__.py", "cli/replay.py"}
# what may open sockets or read the clock
IO_LAYER = ("aio/",)
FRONT_ENDS = ("cli/", "__main__.py")
BENCHMARKS = ("bench/",)
REPLAY_FILES = {"replay/writer.py"}  # the recorder's writer thread: files, flushed on a wall-clock interval
CLOCK_CALLS = {"monotonic", "time", "perf_counter", "process_time", "monotonic_ns", "time_ns", "perf_counter_ns"}
IO_MODULES = {"socket", "asyncio", "selectors", "uvloop", "aiohttp", "nats"}


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), filename=str(path))


def imported(rel: str, tree: ast.Module) -> set[str]:
    """Absolute names of every module the file imports (relative imports resolved)."""
    package = ["netcode", *rel.split("/")[:-1]]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def _top(rel: str) -> str:
    return rel.split("/")[0].removesuffix(".py")


def test_every_module_has_a_layer_and_imports_only_its_own_or_lower_ones():
    seen = set()
    for rel, tree in modules():
        top = _top(rel)
        if top == "__init__":
            continue
        assert top in LAYERS, f"netcode/{rel}: {top!r} has no layer in LAYERS (which layer is it?)"
        seen.add(top)
        for name in imported(rel, tree):
            parts = name.split(".")
            if parts[0] != "netcode" or len(parts) < 2 or parts[1] not in LAYERS:
                continue
            assert LAYERS[parts[1]] <= LAYERS[top], (
                f"netcode/{rel} (layer {LAYERS[top]}, {top}) imports {name} (layer {LAYERS[parts[1]]}): "
                "a lower layer never imports a higher one")
    assert seen == set(LAYERS)


def test_front_ends_live_in_cli_and_sockets_in_aio():
    """Every command line is under netcode/cli/ (the benchmarks' own helper processes aside); nothing else
    builds an argparse parser."""
    for rel, tree in modules():
        tops = {n.split(".")[0] for n in imported(rel, tree)}
        if "argparse" in tops:
            assert rel.startswith(FRONT_ENDS + BENCHMARKS), f"netcode/{rel} has a command line"


def test_the_client_takes_only_flag_parsing_from_the_front_ends():
    client = ROOT / "client_demo"
    for path in sorted(client.rglob("*.py")):
        rel = "client_demo/" + path.relative_to(client).as_posix()
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("netcode"):
                mod = node.module
                assert not mod.startswith("netcode.cli") or mod in ("netcode.cli.options", "netcode.cli.security"), (
                    f"{rel} imports {mod}: the front ends import the client, not the other way round")
                assert not mod.startswith(("netcode.games.", "netcode.bench")) or rel.startswith(
                    ("client_demo/games/", "client_demo/bench.py", "client_demo/screenshot.py")), (
                    f"{rel} imports {mod}")


def test_tools_is_a_script_folder_not_an_installed_package():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"tools*"' not in text and not (ROOT / "tools" / "__init__.py").exists()


def test_only_the_games_import_games():
    seen = 0
    for rel, tree in modules():
        names = imported(rel, tree)
        games = {n.split(".")[2] for n in names if n.startswith("netcode.games.") and len(n.split(".")) > 2}
        if rel.startswith("games/"):
            own = rel.split("/")[1].removesuffix(".py")
            assert games <= {own}, f"netcode/{rel} imports another game: {sorted(games - {own})}"
            seen += 1
        else:
            assert not games and "netcode.games" not in names, f"netcode/{rel} imports a game: {sorted(games)}"
    assert seen >= 10  # the arena's and football's modules were checked


def test_no_pygame_and_the_client_only_from_its_launchers():
    for rel, tree in modules():
        tops = {n.split(".")[0] for n in imported(rel, tree)}
        assert "pygame" not in tops, f"netcode/{rel} imports pygame"
        if "client_demo" in tops:
            assert rel in CLIENT_LAUNCHERS, f"netcode/{rel} imports client_demo"


def _clock_reads(tree: ast.Module) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in CLOCK_CALLS and isinstance(node.value, ast.Name) \
                and node.value.id in ("time", "_time"):
            out.append(f"time.{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr in ("now", "utcnow", "today") and (
                isinstance(node.value, ast.Attribute) and node.value.attr in ("datetime", "date")):
            out.append(f"datetime.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "time" and any(
                a.name in CLOCK_CALLS for a in node.names):
            out.append("from time import ...")
    return out


def test_only_the_io_layer_opens_sockets_or_reads_the_clock():
    checked = 0
    for rel, tree in modules():
        allowed = rel.startswith(IO_LAYER) or rel.startswith(FRONT_ENDS) or rel.startswith(BENCHMARKS) or \
            rel in REPLAY_FILES
        if allowed:
            continue
        tops = {n.split(".")[0] for n in imported(rel, tree)}
        assert not tops & IO_MODULES, f"netcode/{rel} imports {sorted(tops & IO_MODULES)}: only netcode/aio/ may"
        assert not _clock_reads(tree), f"netcode/{rel} reads the clock ({_clock_reads(tree)[0]}): take `now` instead"
        checked += 1
    assert checked >= 50


def test_the_checker_itself_catches_violations():
    bad = ast.parse("import time\nfrom ..games.arena import World\nimport pygame\nx = time.monotonic()\n")
    names = imported("statesync/server.py", bad)
    assert "netcode.games.arena" in names and "pygame" in names
    assert _clock_reads(bad) == ["time.monotonic"]
