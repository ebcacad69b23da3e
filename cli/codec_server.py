"""The codec server: lets the Temporal UI and CLI show encrypted payloads in clear text.

`POST /decode` and `POST /encode` take and answer `{"payloads": [...]}` (Temporal's JSON of
`Payloads`, bytes in base64), as the UI's "codec server" setting and `temporal ...
--codec-endpoint` expect. Browsers get CORS headers only for the allowed origins (the UI);
a request that carries another origin is refused, which also stops a page that rebinds its
DNS name to this machine. With `CODEC_SERVER_TOKEN` set, every request must carry
`Authorization: Bearer <token>`; preflight requests carry no credentials and need none.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_OK, UsageError, out
from runtime.encryption import (
    ENCRYPTION_KEYS_ENV,
    EncryptionCodec,
    PayloadDecryptionError,
    keys_from_env,
    scope_from_env,
)

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


class CodecHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, codec: EncryptionCodec, config: CodecServerConfig) -> None:
        self.codec = codec
        self.config = config
        super().__init__((config.host, config.port), CodecRequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class CodecRequestHandler(BaseHTTPRequestHandler):
    server: CodecHTTPServer
    protocol_version = "HTTP/1.1"

    def _operation(self) -> Callable[[Iterable[Payload]], list[Payload]] | None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/decode":
            return self.server.codec.decrypt
        if path == "/encode":
            return self.server.codec.encrypt
        return None

    def _allowed_origin(self) -> str | None:
        origin = self.headers.get("Origin")
        return origin if origin in self.server.config.allowed_origins else None

    def _foreign_origin(self) -> bool:
        """A browser page of another origin (browsers send Origin on every POST)."""
        return "Origin" in self.headers and self._allowed_origin() is None

    def _authorized(self) -> bool:
        token = self.server.config.token
        if token is None:
            return True
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    def _send(
        self, status: HTTPStatus, body: bytes = b"", extra: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        origin = self._allowed_origin()
        if origin is not None:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Vary", "Origin")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(
        self, status: HTTPStatus, message: str, extra: Mapping[str, str] | None = None
    ) -> None:
        self._send(status, json.dumps({"error": message}).encode(), extra)

    def do_OPTIONS(self) -> None:
        if self._operation() is None:
            self._error(HTTPStatus.NOT_FOUND, "only /encode and /decode")
            return
        if self._allowed_origin() is None:
            self._error(HTTPStatus.FORBIDDEN, f"origin not allowed (see {ORIGINS_ENV})")
            return
        extra = {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        }
        if self.headers.get("Access-Control-Request-Private-Network") == "true":
            # Chrome asks before a page elsewhere reaches a server on this machine.
            extra["Access-Control-Allow-Private-Network"] = "true"
        self._send(HTTPStatus.NO_CONTENT, extra=extra)

    def do_POST(self) -> None:
        # The body is read first, whatever the answer: left unread, it would be taken for
        # the next request on this connection.
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
            return
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_BODY_BYTES} bytes")
            return
        body = self.rfile.read(length)
        operation = self._operation()
        if operation is None:
            self._error(HTTPStatus.NOT_FOUND, "only /encode and /decode")
            return
        if self._foreign_origin():
            self._error(HTTPStatus.FORBIDDEN, f"origin not allowed (see {ORIGINS_ENV})")
            return
        if not self._authorized():
            self._error(
                HTTPStatus.UNAUTHORIZED,
                "missing or wrong Authorization: Bearer token",
                {"WWW-Authenticate": 'Bearer realm="codec"'},
            )
            return
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            # Also keeps browsers from sending it as a "simple" request without preflight.
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json")
            return
        try:
            payloads = json_format.Parse(body, Payloads())
        except (json_format.ParseError, UnicodeDecodeError) as error:
            self._error(HTTPStatus.BAD_REQUEST, f"body: not a Payloads JSON object ({error})")
            return
        try:
            result = Payloads(payloads=operation(payloads.payloads))
        except PayloadDecryptionError as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))
            return
        self._send(HTTPStatus.OK, json_format.MessageToJson(result).encode())


def codec_from_env() -> EncryptionCodec:
    """The workers' keys; raises `EncryptionConfigError` or `UsageError` naming the variable."""
    keys = keys_from_env()
    if keys is None:
        raise UsageError(
            f"{ENCRYPTION_KEYS_ENV} is not set: the codec server needs the workers' keys"
        )
    return EncryptionCodec(keys, scope_from_env())


def serve(
    codec: EncryptionCodec, config: CodecServerConfig, announce: Callable[[str], None]
) -> None:
    """Serve until the process ends (the request log, on stderr, holds no bodies)."""
    try:
        server = CodecHTTPServer(codec, config)
    except OSError as error:
        raise RuntimeError(
            f"codec server: cannot listen on {config.host}:{config.port} ({error.strerror}); "
            f"set {PORT_ENV} or {HOST_ENV}"
        ) from None
    with server:
        announce(
            f"codec server on {server.url} (/encode, /decode), key {codec.encrypting_key_id} "
            f"encrypts; CORS for {', '.join(sorted(config.allowed_origins)) or 'no origin'}; "
            + ("bearer token required" if config.token else f"no token ({TOKEN_ENV} unset)")
        )
        server.serve_forever()


def start_in_thread(codec: EncryptionCodec, config: CodecServerConfig) -> CodecHTTPServer:
    """Bind and serve on a daemon thread; `shutdown()` and `server_close()` stop it."""
    server = CodecHTTPServer(codec, config)
    threading.Thread(target=server.serve_forever, name="codec-server", daemon=True).start()
    return server


async def cmd_codec_server(args: argparse.Namespace, connect: ClientFactory) -> int:
    config = CodecServerConfig.from_env(port=args.port)
    await asyncio.to_thread(serve, codec_from_env(), config, out)
    return EXIT_OK


def register(commands: CommandSet) -> None:
    p = commands.add(
        "codec-server",
        cmd_codec_server,
        "Serve /encode and /decode so the Temporal UI and CLI show encrypted payloads.",
    )
    p.epilog = (
        f"Keys from {ENCRYPTION_KEYS_ENV}; listens on {HOST_ENV} (default {DEFAULT_HOST}):"
        f"{PORT_ENV} (default {DEFAULT_PORT}); CORS for {ORIGINS_ENV} (default "
        f"{DEFAULT_ORIGINS}); with {TOKEN_ENV} set, requests need "
        "Authorization: Bearer <token>."
    )
    p.add_argument("--port", type=int, help=f"overrides {PORT_ENV}")
