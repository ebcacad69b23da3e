"""The one web application `starter.py web` serves: the desk, and on it the inbound webhooks and
the codec server's routers when their settings are given.

- The webhooks (`web.inbound`) at the paths `starter.py webhooks` serves (`/twilio/status`,
  `/twilio/inbound`, `/sendgrid/events`), so a provider's URL changes only its host and port,
  when a setting that only the webhooks read is given: `WEBHOOKS_PUBLIC_URL`,
  `SENDGRID_WEBHOOK_TOKEN` or `WEBHOOKS_INSECURE_DEV=1`. `TWILIO_AUTH_TOKEN` alone does not
  count: the worker's Twilio sender reads it too, and a desk sharing the worker's environment
  must not start to need the webhooks' other settings. Once mounted, the webhooks' own check
  applies (a missing secret stops the desk, naming the variable). The desk's `/healthz` stays
  the desk's.
- The hosted checkout's webhook (`web.portal.checkout`) on `/checkout/webhook` when
  `CHECKOUT_WEBHOOK_SECRET` is set: the provider's signed events record borrowers' payments.
- The codec server (`web.codec`) under `/codec` (`/codec/encode`, `/codec/decode`) when
  `COLLECTIONS_ENCRYPTION_KEYS` is set, with `starter.py codec-server`'s CORS origins and token.

All are exempt from the desk's CSRF check: they verify their callers themselves (signatures
and tokens; the codec's origin check and token). Neither touches the session, so no answer of
theirs sets a cookie. Connection limits cannot be a router's: when the webhooks are mounted the
whole server runs under their protocol (`web.inbound.connection_protocol`), desk included.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from fastapi import FastAPI
from temporalio.client import Client
from uvicorn.protocols.http.h11_impl import H11Protocol

from activities.store import Store
from runtime.encryption import EncryptionCodec, keys_from_env, scope_from_env
from web import codec as codec_server
from web import inbound as webhooks
from web.app import create_app, utc_now
from web.inbound_requests import (
    INSECURE_DEV_ENV,
    PUBLIC_URL_ENV,
    SENDGRID_EVENTS_PATH,
    SENDGRID_TOKEN_ENV,
    TWILIO_INBOUND_PATH,
    TWILIO_STATUS_PATH,
    TWILIO_TOKEN_ENV,
    Inbound,
    InboundSettings,
)
from web.portal import checkout as hosted_checkout
from web.settings import WebSettings

CODEC_PREFIX = "/codec"
CHECKOUT_PREFIX = "/checkout/"
WEBHOOK_PATHS = (TWILIO_STATUS_PATH, TWILIO_INBOUND_PATH, SENDGRID_EVENTS_PATH)
# What only the webhooks read; any one of them says the webhooks are wanted here.
WEBHOOK_ONLY_SETTINGS = (PUBLIC_URL_ENV, SENDGRID_TOKEN_ENV, INSECURE_DEV_ENV)


@dataclass(frozen=True)
class CodecMount:
    codec: EncryptionCodec
    config: codec_server.CodecServerConfig


@dataclass(frozen=True)
class DeskApp:
    """The application and how to serve it: `http` is uvicorn's protocol, the webhooks'
    bounded one when they are mounted ("auto", uvicorn's choice, otherwise)."""

    app: FastAPI
    http: type[H11Protocol] | str
    webhooks: InboundSettings | None
    codec: CodecMount | None
    checkout: hosted_checkout.CheckoutSettings | None = None

    @property
    def quiet_paths(self) -> tuple[str, ...]:
        """Paths kept out of the access log: SendGrid's token rides in the query, the codec
        server keeps no request log, and a borrower's link is a key to their case's page."""
        return (
            PORTAL_PREFIX,
            *(WEBHOOK_PATHS if self.webhooks else ()),
            *((CODEC_PREFIX + "/",) if self.codec else ()),
        )

    def mounted(self) -> list[str]:
        """One line for each of the routers, mounted or not, and why."""
        if self.webhooks is None:
            hooks = (
                "webhooks not mounted: none of WEBHOOKS_PUBLIC_URL, SENDGRID_WEBHOOK_TOKEN, "
                "WEBHOOKS_INSECURE_DEV=1 is set"
            )
        else:
            hooks = f"webhooks on {', '.join(WEBHOOK_PATHS)}"
            unset = [
                name
                for name, value in (
                    (TWILIO_TOKEN_ENV, self.webhooks.twilio_auth_token),
                    (SENDGRID_TOKEN_ENV, self.webhooks.sendgrid_token),
                )
                if value is None
            ]
            if unset:
                # As `starter.py webhooks` warns: only WEBHOOKS_INSECURE_DEV=1 gets this far.
                hooks += f"; INSECURE: {', '.join(unset)} unset, accepted UNVERIFIED"
        if self.codec is None:
            codec = "codec server not mounted: COLLECTIONS_ENCRYPTION_KEYS is not set"
        else:
            origins = ", ".join(sorted(self.codec.config.allowed_origins)) or "no origin"
            token = "bearer token required" if self.codec.config.token else "no token"
            paths = f"{CODEC_PREFIX}/encode, {CODEC_PREFIX}/decode"
            codec = f"codec server on {paths} (CORS for {origins}; {token})"
        if self.checkout is None:
            paid = f"checkout webhook not mounted: {hosted_checkout.WEBHOOK_SECRET_ENV} is not set"
        else:
            provider = self.checkout.base_url
            paid = f"checkout webhook on {hosted_checkout.WEBHOOK_PATH} (provider {provider})"
        return [hooks, codec, paid]


def webhook_settings(environ: Mapping[str, str] = os.environ) -> InboundSettings | None:
    """The webhooks' settings when any setting only they read is given, else None; raises
    `UsageError` (naming the variable) for settings `starter.py webhooks` would refuse."""
    if not any(environ.get(name, "").strip() not in ("", "0") for name in WEBHOOK_ONLY_SETTINGS):
        return None
    settings = InboundSettings.from_env(environ)
    settings.check()
    return settings


def codec_mount(environ: Mapping[str, str] = os.environ) -> CodecMount | None:
    """The codec and its server's settings when encryption keys are set, else None."""
    keys = keys_from_env(environ)
    if keys is None:
        return None
    return CodecMount(
        EncryptionCodec(keys, scope_from_env(environ)),
        codec_server.CodecServerConfig.from_env(environ),
    )


def desk_app(
    settings: WebSettings,
    store: Store,
    *,
    temporal_client: Callable[[], Awaitable[Client]] | None,
    environ: Mapping[str, str] = os.environ,
    clock: Callable[[], datetime] | None = None,
) -> DeskApp:
    """The desk as `starter.py web` serves it, with what `environ` configures mounted on it."""
    hooks = webhook_settings(environ)
    codec = codec_mount(environ)
    paid = hosted_checkout.CheckoutSettings.from_env(environ)
    payments = paid if paid.webhook_secret is not None else None
    exempt = (
        *(WEBHOOK_PATHS if hooks else ()),
        *((CODEC_PREFIX + "/",) if codec else ()),
        *((CHECKOUT_PREFIX,) if payments else ()),
    )
    app = create_app(
        settings, store=store, temporal_client=temporal_client, clock=clock, csrf_exempt=exempt
    )
    http: type[H11Protocol] | str = "auto"
    if hooks is not None:
        # The desk answers its own health check; the webhooks' is only for their own server.
        app.include_router(webhooks.router(Inbound(store, hooks), health=False))
        http = webhooks.connection_protocol(hooks)
    if codec is not None:
        app.include_router(codec_server.router(codec.codec, codec.config), prefix=CODEC_PREFIX)
    if payments is not None:
        webhook = hosted_checkout.router(
            payments, temporal_client=temporal_client, clock=clock or utc_now
        )
        app.include_router(webhook)
    return DeskApp(app, http, hooks, codec, payments)


PORTAL_PREFIX = "/p/"


class QuietPaths(logging.Filter):
    """Drops uvicorn's access-log records for the given path prefixes (its records carry the
    path and query as their third argument)."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            return not args[2].startswith(self.prefixes)
        return True
