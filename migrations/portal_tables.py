"""The borrower's portal's own tables: its signed links, one-time codes, rate-limit events and
the secret its links are signed with when `PORTAL_SECRET` does not give one.

Like the desk's tables these hold only what the portal alone knows; the case stays the source
of truth, and a borrower's actions go to the case (source `self_service`). Timestamps are
`utc_iso` strings, as in `migrations.tables`; a change here needs a revision too.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel

from domain.fields import MESSAGE_ID_MAX

LINK_ID_MAX = 32
CLIENT_MAX = 64


class PortalLinkRow(SQLModel, table=True):
    """A link a borrower was sent: its id (the token without its tag) scopes it to one case.
    A notice's link is keyed by the notice's attempt id too, so a retried send renders the
    same link."""

    __tablename__ = "portal_links"

    link_id: str = Field(primary_key=True, max_length=LINK_ID_MAX)
    case_id: str = Field(index=True, max_length=MESSAGE_ID_MAX)
    loan_id: str = Field(index=True, max_length=64)
    attempt_id: str | None = Field(default=None, unique=True, max_length=200)
    created_at: str
    expires_at: str


class PortalCodeRow(SQLModel, table=True):
    """A one-time code sent for a link: only its keyed hash is kept (`domain.portal.code_hash`);
    the code itself is in the outbox row of the message that carried it."""

    __tablename__ = "portal_codes"

    id: int | None = Field(default=None, primary_key=True)
    link_id: str = Field(index=True, max_length=LINK_ID_MAX)
    code_hash: str = Field(max_length=64)
    attempt_id: str = Field(max_length=200)
    sent_at: str = Field(index=True)
    expires_at: str
    tries: int = 0
    used_at: str | None = None


class PortalEventRow(SQLModel, table=True):
    """What the portal counts and keeps: codes sent, wrong codes, links requested, links opened,
    sign-ins (`domain.portal`'s kinds), by link, case and client address."""

    __tablename__ = "portal_events"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True, max_length=32)
    link_id: str = Field(default="", index=True, max_length=LINK_ID_MAX)
    case_id: str = Field(default="", index=True, max_length=MESSAGE_ID_MAX)
    client: str = Field(default="", index=True, max_length=CLIENT_MAX)
    at: str = Field(index=True)


class PortalSecretRow(SQLModel, table=True):
    """The secret that signs the links when the environment gives none: made once by whichever
    process needs it first (worker, desk or command), so all of them sign and check alike
    without configuration. Whoever can read this table can read the links' cases anyway;
    `PORTAL_SECRET` overrides it (and lets a deployment rotate it)."""

    __tablename__ = "portal_secrets"

    name: str = Field(primary_key=True, max_length=32)
    secret: str = Field(max_length=128)
    created_at: str
