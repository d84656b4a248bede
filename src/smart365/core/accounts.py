"""Accounts: users with argon2 password hashes, browser sessions and API bearer tokens kept on the server,
consultants' firm assignments, and the centre's changes to users (role, firm, disable/enable).

The only place that turns a login into a :class:`~smart365.core.tenancy.Principal`. A browser session and a
bearer token are each a row here: logging out deletes the row, and disabling a user deletes all of its rows,
so a copied cookie or token stops working at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, DateTime, ForeignKey, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from smart365.core import audit
from smart365.core.db import Base, CompanyOwned, Timestamped, utcnow
from smart365.core.errors import Invalid, NotFound, Unauthorized
from smart365.core.i18n import N_
from smart365.core.tenancy import Principal, Role, principal_of

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("smart365-timing-guard")


class User(Timestamped, Base):
    """A person who logs in. Company members belong to exactly one firm."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(String(20))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"))
    locale: Mapped[str] = mapped_column(String(5), default="ko")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ApiToken(Base):
    """An opaque bearer token; only its SHA-256 is stored, so a database leak reveals no token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UserSession(Base):
    """A browser login. The signed cookie holds only a random id; its SHA-256 is the row's key."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sid_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsultantAssignment(CompanyOwned, Timestamped, Base):
    """A consultant (dedicated expert, 전담 전문가) assigned to a firm: the firms a consultant sees."""

    __tablename__ = "consultant_assignments"
    __table_args__ = (UniqueConstraint("consultant_id", "company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    if len(password) < 8:
        raise Invalid(N_("A password needs at least 8 characters."))
    return _hasher.hash(password)


def authenticate(session: Session, email: str, password: str) -> User:
    """The active user with this email and password, else :class:`Unauthorized` (same time either way)."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None or not user.active:
        raise Unauthorized(N_("Wrong email or password."))
    return user


def create_user(
    session: Session, email: str, name: str, password: str, role: Role, company_id: int | None = None
) -> User:
    """Add a user; a company member must name the firm, other roles must not."""
    if (role is Role.COMPANY_MEMBER) != (company_id is not None):
        raise Invalid(N_("A company member needs a company; other roles have none."))
    if role is Role.SYSTEM:
        raise Invalid(N_("The system role cannot log in."))
    user = User(
        email=email.strip().lower(),
        name=name,
        password_hash=hash_password(password),
        role=role,
        company_id=company_id,
    )
    session.add(user)
    session.flush()
    details = {"role": role, "company_id": company_id}
    audit.record(session, audit.Action.USER_CREATE, f"user:{user.id}", company_id=company_id, details=details)
    return user


def principal_for(session: Session, user: User) -> Principal:
    """The principal a logged-in user acts as, with the firms assigned to a consultant.

    Call it in a SYSTEM session: it reads assignments before any principal exists.
    """
    role = Role(user.role)
    assigned: frozenset[int] = frozenset()
    if role is Role.CONSULTANT:
        assigned = frozenset(
            session.scalars(
                select(ConsultantAssignment.company_id).where(ConsultantAssignment.consultant_id == user.id)
            )
        )
    return Principal(user_id=user.id, role=role, company_id=user.company_id, assigned=assigned)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, ttl_s: int) -> str:
    """A new bearer token for ``user``, valid ``ttl_s`` seconds."""
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_sha256=_digest(token), expires_at=utcnow() + timedelta(seconds=ttl_s)))
    return token


def user_for_token(session: Session, token: str) -> User:
    """The active user holding an unexpired ``token``, else :class:`Unauthorized`."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _digest(token)))
    if row is None or _aware(row.expires_at) < utcnow():
        raise Unauthorized(N_("The token is invalid or has expired."))
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise Unauthorized(N_("The token is invalid or has expired."))
    return user


def revoke_token(session: Session, token: str) -> None:
    """Forget ``token``: the next request with it gets 401."""
    session.execute(delete(ApiToken).where(ApiToken.token_sha256 == _digest(token)))


def open_session(session: Session, user: User, ttl_s: int) -> str:
    """A new browser session for ``user``, valid ``ttl_s`` seconds; returns the id the cookie carries.

    The user's expired sessions are cleared on the way, so the table holds only live ones.
    """
    now = utcnow()
    session.execute(delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at < now))
    sid = secrets.token_urlsafe(32)
    session.add(UserSession(user_id=user.id, sid_sha256=_digest(sid), expires_at=now + timedelta(seconds=ttl_s)))
    return sid


def user_for_session(session: Session, sid: str | None) -> User:
    """The active user of a live browser session ``sid``, else :class:`Unauthorized`."""
    row = session.scalar(select(UserSession).where(UserSession.sid_sha256 == _digest(sid))) if sid else None
    user = session.get(User, row.user_id) if row is not None and _aware(row.expires_at) >= utcnow() else None
    if user is None or not user.active:
        raise Unauthorized()
    return user


def end_session(session: Session, sid: str) -> int | None:
    """Log a browser session out on the server; returns its user's id (``None``: it was not live)."""
    row = session.scalar(select(UserSession).where(UserSession.sid_sha256 == _digest(sid)))
    if row is None:
        return None
    session.delete(row)
    return row.user_id


def end_all_logins(session: Session, user_id: int) -> None:
    """Delete every browser session and bearer token of a user (on disabling it)."""
    session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))


# -- the centre's changes to users (every one audited) ---------------------------------------------------


def list_users(session: Session, q: str | None = None) -> list[User]:
    """Every user (centre only), by email; ``q`` matches part of the email or name."""
    principal_of(session).require(Role.CENTRE_ADMIN)
    query = select(User).order_by(User.email)
    if q and q.strip():
        term = f"%{q.strip()}%"
        query = query.where(User.email.ilike(term) | User.name.ilike(term))
    return list(session.scalars(query))


def get_user(session: Session, user_id: int) -> User:
    """A user by id (centre only), else :class:`NotFound`."""
    principal_of(session).require(Role.CENTRE_ADMIN)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


def _not_oneself(session: Session, user: User) -> None:
    """An administrator never demotes or disables themself: the centre always keeps one who can undo it."""
    if principal_of(session).user_id == user.id:
        raise Invalid(N_("You cannot change your own role or disable your own account."))


def set_role(session: Session, user: User, role: Role, company_id: int | None = None) -> User:
    """Give ``user`` another role (and firm, for a company member); takes effect on their next request."""
    principal_of(session).require(Role.CENTRE_ADMIN)
    role = Role(role)
    if (role is Role.COMPANY_MEMBER) != (company_id is not None):
        raise Invalid(N_("A company member needs a company; other roles have none."))
    if role is Role.SYSTEM:
        raise Invalid(N_("The system role cannot log in."))
    if role == user.role and company_id == user.company_id:
        return user
    _not_oneself(session, user)
    before = {"role": user.role, "company_id": user.company_id}
    user.role, user.company_id = role, company_id
    details = {"before": before, "after": {"role": role, "company_id": company_id}}
    audit.record(session, audit.Action.USER_ROLE, f"user:{user.id}", company_id=company_id, details=details)
    session.flush()
    return user


def set_active(session: Session, user: User, active: bool) -> User:
    """Disable or enable ``user``. Disabling ends every session and token of theirs at once."""
    principal_of(session).require(Role.CENTRE_ADMIN)
    if user.active == active:
        return user
    _not_oneself(session, user)
    user.active = active
    if not active:
        end_all_logins(session, user.id)
    action = audit.Action.USER_ENABLE if active else audit.Action.USER_DISABLE
    audit.record(session, action, f"user:{user.id}", company_id=user.company_id, details={"email": user.email})
    session.flush()
    return user


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)
