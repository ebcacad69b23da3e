"""The codec server's router: lets the Temporal UI and CLI show encrypted payloads in clear text.

`POST /decode` and `POST /encode` take and answer `{"payloads": [...]}` (Temporal's JSON of
`Payloads`, bytes in base64), as the UI's "codec server" setting and `temporal ...
--codec-endpoint` expect. Browsers get CORS headers only for the allowed origins (the UI);
a request that carries another origin is refused, which also stops a page that rebinds its
DNS name to this machine. With `CODEC_SERVER_TOKEN` set, every request must carry
`Authorization: Bearer <token>`; preflight requests carry no credentials and need none.
CORS is written out here rather than left to a middleware because a foreign origin is
refused (403), not merely left without headers.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

from fastapi import APIRouter, FastAPI
from google.protobuf import json_format
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from temporalio.api.common.v1 import Payload, Payloads

from runtime.encryption import EncryptionCodec, PayloadDecryptionError
from runtime.serving import Served, serve_in_thread
from runtime.settings import UsageError

PORT_ENV = "CODEC_SERVER_PORT"
HOST_ENV = "CODEC_SERVER_HOST"
TOKEN_ENV = "CODEC_SERVER_TOKEN"
ORIGINS_ENV = "CODEC_SERVER_CORS_ORIGINS"
DEFAULT_PORT = 8081
DEFAULT_HOST = "127.0.0.1"
DEFAULT_ORIGINS = "http://localhost:8233"
# A history page's payloads in one request; far above what the UI sends, far below harm.
MAX_BODY_BYTES = 32 * 1024 * 1024
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"
PREFLIGHT_MAX_AGE_SECONDS = 600

Operation = Callable[[Iterable[Payload]], list[Payload]]


@dataclass(frozen=True)
class CodecServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    allowed_origins: frozenset[str] = frozenset({DEFAULT_ORIGINS})

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] = os.environ, *, port: int | None = None
    ) -> CodecServerConfig:
        """Raises `UsageError` naming the variable (or `--port`) that is wrong."""
        if port is None:
            port_text = environ.get(PORT_ENV, "").strip() or str(DEFAULT_PORT)
            try:
                port = int(port_text)
            except ValueError:
                raise UsageError(f"{PORT_ENV}: {port_text!r} is not a port number") from None
            if not 0 <= port <= 65535:
                raise UsageError(f"{PORT_ENV}: must be 0-65535")
        elif not 0 <= port <= 65535:
            raise UsageError("--port: must be 0-65535")
        origins = frozenset(
            origin.strip().rstrip("/")
            for origin in environ.get(ORIGINS_ENV, DEFAULT_ORIGINS).split(",")
            if origin.strip()
        )
        if "*" in origins:
            raise UsageError(f"{ORIGINS_ENV}: list the UI's origins; '*' would let any page decode")
        return cls(
            host=environ.get(HOST_ENV, "").strip() or DEFAULT_HOST,
            port=port,
            token=environ.get(TOKEN_ENV, "").strip() or None,
            allowed_origins=origins,
        )


def router(codec: EncryptionCodec, config: CodecServerConfig) -> APIRouter:
    """POST and OPTIONS (the browser's preflight) on /encode and /decode."""
    routes = APIRouter()
    for path, operation in (("/decode", codec.decrypt), ("/encode", codec.encrypt)):
        handler = _handler(operation, config)
        # The UI's endpoint may be configured with a trailing slash.
        for variant in (path, f"{path}/"):
            routes.add_api_route(
                variant, handler, methods=["POST", "OPTIONS"], include_in_schema=False
            )
    return routes


def application(codec: EncryptionCodec, config: CodecServerConfig) -> FastAPI:
    """The codec server's whole application: the router, and JSON errors elsewhere."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router(codec, config))

    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if error.status_code == HTTPStatus.NOT_FOUND:
            return _error(request, config, HTTPStatus.NOT_FOUND, "only /encode and /decode")
        return _error(request, config, HTTPStatus(error.status_code), str(error.detail))

    app.add_exception_handler(HTTPException, refused)
    return app


def start_in_thread(codec: EncryptionCodec, config: CodecServerConfig) -> Served:
    """Bind and serve on a daemon thread (tests); `stop()` ends it."""
    return serve_in_thread(
        application(codec, config), config.host, config.port, name="codec-server"
    )


def _handler(
    operation: Operation, config: CodecServerConfig
) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        if request.method == "OPTIONS":
            return _preflight(request, config)
        return await _codec_request(request, operation, config)

    return handle


def _preflight(request: Request, config: CodecServerConfig) -> Response:
    if _allowed_origin(request, config) is None:
        return _error(
            request, config, HTTPStatus.FORBIDDEN, f"origin not allowed (see {ORIGINS_ENV})"
        )
    extra = {
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
    }
    if request.headers.get("Access-Control-Request-Private-Network") == "true":
        # Chrome asks before a page elsewhere reaches a server on this machine.
        extra["Access-Control-Allow-Private-Network"] = "true"
    return _send(request, config, HTTPStatus.NO_CONTENT, extra=extra)


async def _codec_request(
    request: Request, operation: Operation, config: CodecServerConfig
) -> Response:
    length = request.headers.get("Content-Length", "")
    if not length.isdigit():
        return _error(
            request, config, HTTPStatus.LENGTH_REQUIRED, "Content-Length is required", _CLOSE
        )
    if int(length) > MAX_BODY_BYTES:
        return _error(
            request,
            config,
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"at most {MAX_BODY_BYTES} bytes",
            _CLOSE,
        )
    body = await request.body()
    if "Origin" in request.headers and _allowed_origin(request, config) is None:
        # A browser page of another origin (browsers send Origin on every POST).
        return _error(
            request, config, HTTPStatus.FORBIDDEN, f"origin not allowed (see {ORIGINS_ENV})"
        )
    if not _authorized(request, config):
        return _error(
            request,
            config,
            HTTPStatus.UNAUTHORIZED,
            "missing or wrong Authorization: Bearer token",
            {"WWW-Authenticate": 'Bearer realm="codec"'},
        )
    content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        # Also keeps browsers from sending it as a "simple" request without preflight.
        return _error(
            request,
            config,
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        )
    try:
        payloads = json_format.Parse(body, Payloads())
    except (json_format.ParseError, UnicodeDecodeError) as error:
        message = f"body: not a Payloads JSON object ({error})"
        return _error(request, config, HTTPStatus.BAD_REQUEST, message)
    try:
        # Decryption is CPU work for a whole history page: off the event loop.
        result = Payloads(payloads=await run_in_threadpool(operation, payloads.payloads))
    except PayloadDecryptionError as error:
        return _error(request, config, HTTPStatus.BAD_REQUEST, str(error))
    return _send(request, config, HTTPStatus.OK, json_format.MessageToJson(result).encode())


_CLOSE = {"Connection": "close"}
_FOREIGN_ORIGIN = f"origin not allowed (see {ORIGINS_ENV})"


def _allowed_origin(request: Request, config: CodecServerConfig) -> str | None:
    origin = request.headers.get("Origin")
    return origin if origin in config.allowed_origins else None


def _authorized(request: Request, config: CodecServerConfig) -> bool:
    if config.token is None:
        return True
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {config.token}".encode())


def _send(
    request: Request,
    config: CodecServerConfig,
    status: HTTPStatus,
    body: bytes = b"",
    extra: Mapping[str, str] | None = None,
) -> Response:
    headers = {"Vary": "Origin", **(extra or {})}
    origin = _allowed_origin(request, config)
    if origin is not None:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Credentials"] = "true"
    if body:
        headers["Content-Type"] = "application/json"
    return Response(body, status_code=status, headers=headers)


def _error(
    request: Request,
    config: CodecServerConfig,
    status: HTTPStatus,
    message: str,
    extra: Mapping[str, str] | None = None,
) -> Response:
    return _send(request, config, status, json.dumps({"error": message}).encode(), extra)
