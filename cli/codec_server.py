"""`starter.py codec-server`: the codec server (`web.codec`) served by uvicorn until the
process is stopped."""

from __future__ import annotations

import argparse

from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_OK, UsageError, out
from runtime.encryption import (
    ENCRYPTION_KEYS_ENV,
    EncryptionCodec,
    keys_from_env,
    scope_from_env,
)
from runtime.serving import listening_socket, serve_until_stopped, url_of, uvicorn_server
from web.codec import (
    DEFAULT_HOST,
    DEFAULT_ORIGINS,
    DEFAULT_PORT,
    HOST_ENV,
    ORIGINS_ENV,
    PORT_ENV,
    TOKEN_ENV,
    CodecServerConfig,
    application,
)


def codec_from_env() -> EncryptionCodec:
    """The workers' keys; raises `EncryptionConfigError` or `UsageError` naming the variable."""
    keys = keys_from_env()
    if keys is None:
        raise UsageError(
            f"{ENCRYPTION_KEYS_ENV} is not set: the codec server needs the workers' keys"
        )
    return EncryptionCodec(keys, scope_from_env())


async def serve(codec: EncryptionCodec, config: CodecServerConfig) -> None:
    """Serve until SIGTERM or SIGINT (no request log: only uvicorn's warnings, no bodies)."""
    try:
        sock = listening_socket(config.host, config.port)
    except OSError as error:
        raise RuntimeError(
            f"codec server: cannot listen on {config.host}:{config.port} ({error.strerror}); "
            f"set {PORT_ENV} or {HOST_ENV}"
        ) from None
    out(
        f"codec server on {url_of(sock)} (/encode, /decode), key {codec.encrypting_key_id} "
        f"encrypts; CORS for {', '.join(sorted(config.allowed_origins)) or 'no origin'}; "
        + ("bearer token required" if config.token else f"no token ({TOKEN_ENV} unset)")
    )
    await serve_until_stopped(uvicorn_server(application(codec, config)), sock)


async def cmd_codec_server(args: argparse.Namespace, connect: ClientFactory) -> int:
    config = CodecServerConfig.from_env(port=args.port)
    await serve(codec_from_env(), config)
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
