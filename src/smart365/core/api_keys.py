"""API keys (수집 키) for machines and gateways: long-lived, one firm each, good only for sending data.

A key reads ``s365_<id>_<secret>``: the id part finds the row without scanning, the secret is checked
against its SHA-256 (the plaintext is shown once, at creation, and stored nowhere). A key acts as a
:class:`~smart365.core.tenancy.Principal` of its firm carrying ``api_key_id``; the web layer admits such a
principal on the ingest route only and answers 403 everywhere else.

A key belongs to the firm, not to the person who made it: it keeps working when its creator leaves (the
list shows who made each key, so the firm or the centre can revoke it).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import DateTime, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from smart365.core import audit
from smart365.core.db import Base, CompanyOwned, as_utc, utcnow
from smart365.core.errors import Forbidden, Invalid, NotFound, Unauthorized
from smart365.core.i18n import N_
from smart365.core.tenancy import Principal, Role, principal_of

PREFIX = "s365_"
NAME_MAX = 100
#: Last use is written at most this often: a gateway posting every second must not write a row each time.
LAST_USED_EVERY = timedelta(minutes=1)
_INVALID = N_("The API key is invalid or has been revoked.")
_SHAPE = re.compile(rf"{PREFIX}[0-9a-f]{{12}}_[A-Za-z0-9_-]+")


class ApiKey(CompanyOwned, Base):
    """A firm's ingest key. ``key_id`` is the public part of the key; only the secret's hash is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_name: Mapped[str] = mapped_column(String(254))  # as it was then: the user may go
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by_name: Mapped[str | None] = mapped_column(String(254))

    @property
    def shown(self) -> str:
        """How lists show the key: its public part, never the secret."""
        return f"{PREFIX}{self.key_id}_…"


def looks_like_key(credential: str | None) -> bool:
    """Whether a credential is meant as an API key (and not a user's bearer token).

    >>> looks_like_key("s365_ab12cd34ef56_xyz"), looks_like_key("s365_bearer-token")
    (True, False)
    """
    return bool(credential) and _SHAPE.fullmatch(str(credential)) is not None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _may_manage(principal: Principal, company_id: int) -> None:
    """The centre for any firm, a company member for its own; anyone else who sees the firm only reads."""
    if not principal.can_change(company_id):
        raise NotFound()
    if principal.role is Role.SYSTEM or principal.role is Role.CENTRE_ADMIN:
        return
    if principal.role is not Role.COMPANY_MEMBER or principal.company_id != company_id:
        raise Forbidden(N_("Only the centre or the firm's own members may manage its API keys."))


def create_key(session: Session, company_id: int, name: str, created_by: str) -> tuple[ApiKey, str]:
    """A new key for the firm; returns the row and the plaintext key, which is never shown again."""
    principal = principal_of(session)
    _may_manage(principal, company_id)
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise Invalid(N_("A key name needs 1 to {limit} characters."), limit=NAME_MAX)
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    row = ApiKey(
        company_id=company_id,
        key_id=key_id,
        secret_sha256=_digest(secret),
        name=name,
        created_by_id=principal.user_id,
        created_by_name=created_by[:254],
    )
    session.add(row)
    session.flush()
    details = {"name": name, "key": row.shown}
    audit.record(session, audit.Action.API_KEY_CREATE, f"api_key:{row.id}", company_id=company_id, details=details)
    return row, f"{PREFIX}{key_id}_{secret}"


def list_keys(session: Session, company_id: int) -> list[ApiKey]:
    """The firm's keys, live ones first, newest first (the session's tenancy hides other firms' keys)."""
    query = select(ApiKey).where(ApiKey.company_id == company_id)
    rows = session.scalars(query.order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc()))
    return list(rows)


def get_key(session: Session, company_id: int, ident: int) -> ApiKey:
    """The firm's key ``ident``, else :class:`NotFound`."""
    row = session.get(ApiKey, ident)
    if row is None or row.company_id != company_id:
        raise NotFound()
    return row


def revoke_key(session: Session, row: ApiKey, revoked_by: str) -> ApiKey:
    """Revoke a key at once: its next request gets 401. Revoking twice changes nothing."""
    _may_manage(principal_of(session), row.company_id)
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by_name = utcnow(), revoked_by[:254]
        details = {"name": row.name, "key": row.shown}
        audit.record(session, audit.Action.API_KEY_REVOKE, f"api_key:{row.id}", company_id=row.company_id,
                     details=details)  # fmt: skip
        session.flush()
    return row


def principal_for_key(session: Session, key: str) -> Principal:
    """The principal a live key acts as, else :class:`Unauthorized`; notes its last use (at most once a minute).

    Call it in a SYSTEM session: no principal exists yet.
    """
    body = key.removeprefix(PREFIX)
    key_id, _sep, secret = body.partition("_")
    row = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id)) if key_id and secret else None
    if row is None or row.revoked_at is not None or not secrets.compare_digest(row.secret_sha256, _digest(secret)):
        raise Unauthorized(_INVALID)
    now = utcnow()
    if row.last_used_at is None or now - as_utc(row.last_used_at) >= LAST_USED_EVERY:
        row.last_used_at = now
    return Principal(user_id=None, role=Role.COMPANY_MEMBER, company_id=row.company_id, api_key_id=row.id)
