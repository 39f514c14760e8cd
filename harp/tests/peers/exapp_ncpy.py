"""A real ExApp for harp's integration tests, built on nc_py_api (FastAPI).

Every request except ``/heartbeat`` passes through nc_py_api's own
``AppAPIAuthMiddleware`` (both the ``http`` and the ``websocket`` scope), so the
AppAPI headers are checked exactly as deployed ExApps check them:
``EX-APP-ID`` == $APP_ID, ``AUTHORIZATION-APP-API`` = base64("user:secret") with
secret == $APP_SECRET, and a non-empty ``EX-APP-VERSION``. Failures are 401.

Environment: APP_ID, APP_SECRET, APP_VERSION, NEXTCLOUD_URL (required, read by
nc_py_api), APP_HOST (must be 127.0.0.1, the default), APP_PORT (0 = any free
port, the default), AA_VERSION (optional, sent on calls to Nextcloud).
Optional, for this peer only:
  PEER_ENABLED_LOG=0   make /enabled return {"error": ""} without calling
                       Nextcloud (default 1: log "Hello from <id> :)" /
                       "Bye bye from <id> :(" through nc_py_api, like the skeleton)
  PEER_LOG_LEVEL       uvicorn log level (default "warning"); PEER_ACCESS_LOG=1
                       turns the access log on. All logs go to stderr.

Readiness: once the server accepts connections, exactly one line
``LISTENING 127.0.0.1:<port>`` is written to stdout, then stdout is closed (fd 1
is pointed at stderr), so a harness can read stdout up to EOF. SIGTERM/SIGINT
stop the server gracefully and the process exits 0.

Routes (all but /heartbeat need the AppAPI headers):
  GET  /public             text "Public page!"
  GET  /user, /admin, /    JSON {"user", "headers", "method", "path", "query"};
                           ?status=<200..599> sets the response status
  POST|PUT /echo-size      streams the body: JSON {"bytes", "sha256"}
  GET  /stream?chunks=N&interval_ms=M   text/event-stream, one "data: <i>" event
                           every M ms, N events (for streaming-through tests)
  GET  /sleep?ms=N         answers "slept <N> ms" after N ms (for timeout tests)
  WS   /ws                 text m -> "Echo: m"; binary echoed unchanged;
                           ?tick_ms=N also sends "Server time: <iso>" every N ms
  GET  /heartbeat, POST /init, PUT /enabled   from nc_py_api's set_handlers
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import os
import signal
import socket
import sys
from typing import Annotated

import uvicorn
from fastapi import Depends, FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from nc_py_api import AsyncNextcloudApp
from nc_py_api.ex_app import AppAPIAuthMiddleware, LogLvl, anc_app, set_handlers
from starlette.requests import HTTPConnection

LISTEN_HOST = "127.0.0.1"
REQUIRED_ENV = ("APP_ID", "APP_SECRET", "APP_VERSION", "NEXTCLOUD_URL")


async def enabled_handler(enabled: bool, nc: AsyncNextcloudApp) -> str:
    """Called by nc_py_api's PUT /enabled; "" means success."""
    if os.environ.get("PEER_ENABLED_LOG", "1") != "0":
        app_id = os.environ["APP_ID"]
        text = f"Hello from {app_id} :)" if enabled else f"Bye bye from {app_id} :("
        await nc.log(LogLvl.WARNING, text)
    return ""


APP = FastAPI(title="harp test peer (nc_py_api ExApp)", docs_url=None, redoc_url=None, openapi_url=None)
APP.add_middleware(AppAPIAuthMiddleware)
set_handlers(APP, enabled_handler, map_app_static=False)

NcApp = Annotated[AsyncNextcloudApp, Depends(anc_app)]


def _headers_of(conn: HTTPConnection) -> dict[str, str]:
    """All request headers, names lower-cased; repeated headers joined with ", "."""
    out: dict[str, str] = {}
    for raw_name, raw_value in conn.scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


async def _describe(request: Request, nc: AsyncNextcloudApp, status: int | None) -> Response:
    code = 200 if status is None else status
    if code in (204, 304):  # no body allowed
        return Response(status_code=code)
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    body = {
        "user": await nc.user,
        "headers": _headers_of(request),
        "method": request.method,
        "path": raw_path.decode("latin-1"),
        "query": request.scope.get("query_string", b"").decode("latin-1"),
    }
    return JSONResponse(body, status_code=code)


StatusQuery = Annotated[int | None, Query(ge=200, le=599)]


@APP.get("/public")
async def public() -> PlainTextResponse:
    return PlainTextResponse("Public page!")


@APP.get("/user")
async def user(request: Request, nc: NcApp, status: StatusQuery = None) -> Response:
    return await _describe(request, nc, status)


@APP.get("/admin")
async def admin(request: Request, nc: NcApp, status: StatusQuery = None) -> Response:
    return await _describe(request, nc, status)


@APP.get("/")
async def root(request: Request, nc: NcApp, status: StatusQuery = None) -> Response:
    return await _describe(request, nc, status)


@APP.api_route("/echo-size", methods=["POST", "PUT"])
async def echo_size(request: Request) -> JSONResponse:
    digest = hashlib.sha256()
    total = 0
    async for chunk in request.stream():  # never holds more than one chunk
        total += len(chunk)
        digest.update(chunk)
    return JSONResponse({"bytes": total, "sha256": digest.hexdigest()})


@APP.get("/stream")
async def stream(
    chunks: Annotated[int, Query(ge=0, le=100_000)] = 5,
    interval_ms: Annotated[int, Query(ge=0, le=600_000)] = 200,
) -> StreamingResponse:
    async def events():
        for i in range(chunks):
            if i and interval_ms:
                await asyncio.sleep(interval_ms / 1000)
            yield f"data: {i}\n\n".encode()

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@APP.get("/sleep")
async def sleep(ms: Annotated[int, Query(ge=0, le=3_600_000)] = 1000) -> PlainTextResponse:
    await asyncio.sleep(ms / 1000)
    return PlainTextResponse(f"slept {ms} ms")


@APP.websocket("/ws")
async def ws_echo(
    websocket: WebSocket, nc: NcApp, tick_ms: Annotated[int, Query(ge=0, le=3_600_000)] = 0
) -> None:
    del nc  # resolving it is enough: same dependency a real ExApp uses for the user
    await websocket.accept()

    async def ticker() -> None:
        while True:
            await asyncio.sleep(tick_ms / 1000)
            now = datetime.datetime.now(datetime.timezone.utc).isoformat()
            await websocket.send_text(f"Server time: {now}")

    tick_task = asyncio.create_task(ticker()) if tick_ms > 0 else None
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("text") is not None:
                await websocket.send_text(f"Echo: {message['text']}")
            elif message.get("bytes") is not None:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        pass
    finally:
        if tick_task is not None:
            tick_task.cancel()


def _fail(message: str) -> None:
    print(f"exapp_ncpy: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def main() -> None:
    missing = [name for name in REQUIRED_ENV if not os.environ.get(name)]
    if missing:
        _fail(f"missing environment variables: {', '.join(missing)}")
    host = os.environ.get("APP_HOST", LISTEN_HOST)
    if host != LISTEN_HOST:
        _fail(f"APP_HOST must be {LISTEN_HOST} (got {host!r}); this peer only listens on loopback")
    try:
        port = int(os.environ.get("APP_PORT", "0") or "0")
    except ValueError:
        _fail(f"APP_PORT is not a number: {os.environ['APP_PORT']!r}")
    if not 0 <= port <= 65535:
        _fail(f"APP_PORT out of range: {port}")
    if os.environ.get("HP_SHARED_KEY"):
        # nc_py_api's run_app() would serve on a unix socket in this case; this
        # peer always serves TCP on loopback.
        print("exapp_ncpy: HP_SHARED_KEY is set but ignored (TCP mode)", file=sys.stderr, flush=True)

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LISTEN_HOST, port))
    except OSError as exc:
        _fail(f"cannot bind {LISTEN_HOST}:{port}: {exc}")
    sock.listen(1024)
    bound_port = sock.getsockname()[1]

    config = uvicorn.Config(
        APP,
        log_config=None,  # use the stderr logging set up above
        log_level=os.environ.get("PEER_LOG_LEVEL", "warning"),
        access_log=os.environ.get("PEER_ACCESS_LOG", "0") == "1",
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)

    # uvicorn installs its own SIGINT/SIGTERM handlers while serving and, when
    # done, re-raises the signal with the handler that was there before. Make
    # that handler a Python function so the re-raise does not kill the process
    # (exit 0 after a graceful stop); it also covers signals before serving.
    def on_signal(_signum: int, _frame: object) -> None:
        server.should_exit = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    async def serve() -> None:
        serve_task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serve_task.done():
            await asyncio.sleep(0.01)
        if server.started:
            sys.stdout.write(f"LISTENING {LISTEN_HOST}:{bound_port}\n")
            sys.stdout.flush()
            os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stdout: one line, then EOF
        await serve_task

    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(serve())
    if not server.started:
        _fail("server did not start")


if __name__ == "__main__":
    main()
