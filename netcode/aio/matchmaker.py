"""The matchmaker's HTTP JSON API (aiohttp) over netcode.hosting.matchmaking, and a small client for it.

    POST   /tickets              {game, mode, players, region, party | name}  -> 201 {ticket_id, state}
    GET    /tickets/{id}[?wait=S] the ticket; with wait, held up to S seconds (<= 30) until it is assigned
    DELETE /tickets/{id}         cancel a queued ticket
    GET    /matches              the lobby: open matches (a seat left)
    POST   /matches/{code}/join  {name}                 -> an assignment for that match
    POST   /reconnect            {connect_token}        -> a fresh token for the same player and match
    GET    /health

An assignment is ``{match_id, address, name, client_id, connect_token (base64), party: [...]}``: connect to
``address`` with the token (netcode.security; `netcode client --token`). Errors are ``{"error": words}``
with 400, 404, 409 or 503. docs/HOSTING.md.
"""
from __future__ import annotations

import asyncio
import base64
import json
import time

from aiohttp import ClientSession, ClientTimeout, web

from ..hosting.matchmaking import ASSIGNED, QUEUED, Matchmaker, MatchmakingError

MAX_BODY = 16 * 1024


def make_app(mm: Matchmaker, clock=time.time) -> web.Application:
    """The API's routes on ``mm``; ``clock`` gives Unix time (tokens are stamped with it)."""
    app = web.Application(client_max_size=MAX_BODY)
    changed = asyncio.Condition()
    app["matchmaker"] = mm
    app["changed"] = changed

    async def body(request) -> dict:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            raise MatchmakingError("the body must be a JSON object") from None
        if not isinstance(data, dict):
            raise MatchmakingError("the body must be a JSON object")
        return data

    def guarded(handler):
        async def run(request):
            try:
                return await handler(request)
            except MatchmakingError as e:
                return web.json_response({"error": str(e)}, status=e.status)
        return run

    async def submit(request):
        t = mm.submit(await body(request), clock())
        async with changed:
            changed.notify_all()
        return web.json_response(t.as_dict(), status=201)

    async def get_ticket(request):
        t = mm.get(request.match_info["id"])
        try:
            wait = min(30.0, max(0.0, float(request.query.get("wait", 0))))
        except ValueError:
            raise MatchmakingError("wait must be a number of seconds") from None
        end = time.monotonic() + wait
        while t.state == QUEUED and time.monotonic() < end:
            async with changed:
                try:
                    await asyncio.wait_for(changed.wait(), end - time.monotonic())
                except asyncio.TimeoutError:
                    break
        return web.json_response(t.as_dict())

    async def cancel(request):
        return web.json_response(mm.cancel(request.match_info["id"]).as_dict())

    async def lobby(request):
        return web.json_response({"matches": mm.lobby(clock())})

    async def join(request):
        data = await body(request)
        return web.json_response(mm.join_code(request.match_info["code"], str(data.get("name", "player")), clock()))

    async def reconnect(request):
        data = await body(request)
        return web.json_response(mm.reconnect(str(data.get("connect_token", "")), clock()))

    async def health(request):
        return web.json_response({"ok": True, "hosts": len(mm.live_hosts(clock()))})

    app.router.add_post("/tickets", guarded(submit))
    app.router.add_get("/tickets/{id}", guarded(get_ticket))
    app.router.add_delete("/tickets/{id}", guarded(cancel))
    app.router.add_get("/matches", guarded(lobby))
    app.router.add_post("/matches/{code}/join", guarded(join))
    app.router.add_post("/reconnect", guarded(reconnect))
    app.router.add_get("/health", health)
    return app


async def notify_assigned(app: web.Application) -> None:
    """Wake the long polls (after Matchmaker.update assigned tickets)."""
    changed = app["changed"]
    async with changed:
        changed.notify_all()


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app``; returns its runner and the port it got (0: any free one)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


# ------------------------------------------------------------------ client

class MatchmakerClient:
    """Asks a matchmaker for a match: ``await request_match(game=..., name=...)`` -> the assignment dict
    (``connect_token`` decoded to bytes under ``token``)."""

    def __init__(self, url: str, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session: ClientSession | None = None

    async def _http(self) -> ClientSession:
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=self.timeout))
        return self._session

    async def request_match(self, *, game: str | None = None, mode: str = "state", players: int | None = None,
                            name: str = "player", region: str = "any", party: list | None = None) -> dict:
        http = await self._http()
        ticket = {"mode": mode, "region": region, "party": party or [name]}
        if game is not None:
            ticket["game"] = game
        if players is not None:
            ticket["players"] = players
        async with http.post(f"{self.url}/tickets", json=ticket) as r:
            t = await r.json()
            if r.status != 201:
                raise MatchmakingError(t.get("error", f"HTTP {r.status}"), r.status)
        deadline = time.monotonic() + self.timeout
        while t["state"] == QUEUED and time.monotonic() < deadline:
            async with http.get(f"{self.url}/tickets/{t['ticket_id']}", params={"wait": "10"}) as r:
                t = await r.json()
        if t["state"] != ASSIGNED:
            raise MatchmakingError(f"ticket {t['ticket_id']} ended {t['state']}", 408)
        a = dict(t["assignment"])
        a["token"] = base64.b64decode(a["connect_token"])
        return a

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
