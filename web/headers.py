"""Security headers on every response.

- The content security policy allows this origin only, and no inline script or style: an
  injected `<script>` does not run. htmx is configured by its `<meta name="htmx-config">`,
  which also stops it from adding its own inline style.
- No page may be framed (clickjacking), no type is sniffed, no referrer leaves (URLs carry no
  personal data anyway, but a case's URL names a loan).
- Pages are never cached (a shared computer's back button must not show a borrower); the
  static files are, briefly.
- A page may widen `form-action` with `content_security_policy(form_targets=...)`, setting
  the header itself (kept as set): the portal's home page does, for the checkout's hosted page
  its Pay form is redirected to (a browser checks `form-action` on a form's redirects too).
- HSTS when cookies are secure, that is when the desk is served over HTTPS.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP_HEADER = "Content-Security-Policy"


def content_security_policy(form_targets: tuple[str, ...] = ()) -> str:
    """The policy; `form_targets` are origins forms may also be sent (or redirected) to."""
    form_action = " ".join(("'self'", *form_targets))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self'; form-action {form_action}; frame-ancestors 'none'; "
        "base-uri 'none'; object-src 'none'"
    )


CONTENT_SECURITY_POLICY = content_security_policy()
COMMON_HEADERS = {
    CSP_HEADER: CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"
STATIC_PREFIX = "/static/"
STATIC_CACHE = "public, max-age=3600"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(STATIC_PREFIX)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS.items():
                    if name != CSP_HEADER or CSP_HEADER not in headers:
                        headers[name] = value
                headers["Cache-Control"] = STATIC_CACHE if static else "no-store"
                if self.hsts:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, with_headers)
