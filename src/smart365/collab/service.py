"""Offers, negotiation, transfers and the usage log: the logic behind the pages, the API and the CLI.

Two parties meet here, the firm that owns the data and its consumer (a data partner, a firm of a group, the
centre), so these functions read in sessions of their own and check both sides themselves: the provider side is
whoever may see the firm (its members, its consultants, the centre; only the firm's members act for it), the
consumer side is whoever the offer's policy names. A data partner reaches nothing of a firm but the offers
that name it and the data its finalized agreements grant.

Negotiation follows the Dataspace Protocol: the consumer requests (REQUESTED), the provider offers its terms
(OFFERED), the consumer accepts them (ACCEPTED); the provider's offer already agreed those exact terms, so the
system then records its agreement (AGREED), checks that the agreement's terms are the ones offered (VERIFIED)
and finalizes it (FINALIZED). Either side may terminate before that; the provider revokes a finalized agreement
(TERMINATED). :data:`TRANSITIONS` is the whole table; any other step is refused.

A pull is allowed only under a FINALIZED agreement and the policy is evaluated again every time (the party,
the purpose, the time window, the uses so far), at the moment of the pull and with nothing cached: a
revocation or an expiry stops the very next pull.

>>> step(State.REQUESTED, State.OFFERED, Side.PROVIDER)
>>> step(State.REQUESTED, State.FINALIZED, Side.PROVIDER)
Traceback (most recent call last):
...
smart365.collab.service.IllegalTransition: An agreement cannot go from REQUESTED to FINALIZED.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smart365.collab import ledger
from smart365.collab.ledger import canonical
from smart365.collab.models import Agreement, Offer, Transfer, UsageRecord
from smart365.collab.policy import (
    Assignee,
    AssigneeKind,
    Decision,
    Policy,
    Purpose,
    Requester,
    UseRequest,
    company_iri,
    describe,
    duties,
    evaluate,
    from_form,
    from_jsonld,
    may_see,
    partner_iri,
    to_jsonld,
)
from smart365.core import audit
from smart365.core.accounts import User
from smart365.core.audit import Actor
from smart365.core.db import Database, as_utc, to_local, utcnow
from smart365.core.errors import Conflict, Forbidden, Invalid, NotFound
from smart365.core.i18n import N_, gettext
from smart365.core.tenancy import SYSTEM, Principal, Role
from smart365.registry.models import Company, Equipment, Tag
from smart365.telemetry.export import ExportTag, csv_chunks
from smart365.telemetry.store import TimeSeriesStore


class State(StrEnum):
    """The Dataspace Protocol's contract negotiation states."""

    REQUESTED = "REQUESTED"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"


STATE_LABELS: dict[str, str] = {
    State.REQUESTED: N_("Requested"),
    State.OFFERED: N_("Offered"),
    State.ACCEPTED: N_("Accepted"),
    State.AGREED: N_("Agreed"),
    State.VERIFIED: N_("Verified"),
    State.FINALIZED: N_("Finalized"),
    State.TERMINATED: N_("Terminated"),
}


class Side(StrEnum):
    PROVIDER = "provider"
    CONSUMER = "consumer"


_OPEN = (State.REQUESTED, State.OFFERED, State.ACCEPTED, State.AGREED, State.VERIFIED)
#: Every step a negotiation may take, and which side takes it (None: the start).
TRANSITIONS: dict[tuple[State | None, State], frozenset[Side]] = {
    (None, State.REQUESTED): frozenset({Side.CONSUMER}),
    (State.REQUESTED, State.OFFERED): frozenset({Side.PROVIDER}),
    (State.OFFERED, State.ACCEPTED): frozenset({Side.CONSUMER}),
    (State.ACCEPTED, State.AGREED): frozenset({Side.PROVIDER}),
    (State.AGREED, State.VERIFIED): frozenset({Side.CONSUMER}),
    (State.VERIFIED, State.FINALIZED): frozenset({Side.PROVIDER}),
    **{(s, State.TERMINATED): frozenset({Side.PROVIDER, Side.CONSUMER}) for s in _OPEN},
    (State.FINALIZED, State.TERMINATED): frozenset({Side.PROVIDER, Side.CONSUMER}),  # revoked, or given up
}


class IllegalTransition(Conflict):
    code = "illegal_transition"
    default_message = N_("An agreement cannot go from {current} to {target}.")


class PullRefused(Forbidden):
    """A pull the agreement does not allow now, with the reason."""

    code = "pull_refused"
    default_message = N_("The pull is refused: {reason}")


def step(current: State | None, target: State, side: Side) -> None:
    """Refuse a step the table does not hold, or one the other side must take."""
    sides = TRANSITIONS.get((current, target))
    if sides is None:
        raise IllegalTransition(current=str(current or "-"), target=str(target))
    if side not in sides:
        raise IllegalTransition(
            N_("Only the {side} may take an agreement from {current} to {target}."),
            side=gettext(SIDE_LABELS[side]), current=str(current or "-"), target=str(target),
        )  # fmt: skip


SIDE_LABELS = {Side.PROVIDER: N_("data provider"), Side.CONSUMER: N_("data user")}


class LogKind(StrEnum):
    OFFER_PUBLISHED = "offer.published"
    OFFER_WITHDRAWN = "offer.withdrawn"
    AGREEMENT = "agreement.state"
    REVOKED = "agreement.revoked"
    PULL = "transfer.pull"
    PULL_DONE = "transfer.done"
    PULL_REFUSED = "transfer.refused"
    BENCH_JOINED = "benchmark.joined"
    BENCH_LEFT = "benchmark.left"
    BENCH_RELEASE = "benchmark.release"


LOG_LABELS: dict[str, str] = {
    LogKind.OFFER_PUBLISHED: N_("Offer published"),
    LogKind.OFFER_WITHDRAWN: N_("Offer withdrawn"),
    LogKind.AGREEMENT: N_("Agreement step"),
    LogKind.REVOKED: N_("Agreement revoked"),
    LogKind.PULL: N_("Data pulled"),
    LogKind.PULL_DONE: N_("Pull completed"),
    LogKind.PULL_REFUSED: N_("Pull refused"),
    LogKind.BENCH_JOINED: N_("Joined the peer-benchmark pool"),
    LogKind.BENCH_LEFT: N_("Left the peer-benchmark pool"),
    LogKind.BENCH_RELEASE: N_("Figures used in a benchmark release"),
}


@dataclass(frozen=True)
class Who:
    """Who acts: the principal (what it may reach) and the actor (what the audit log and usage log name)."""

    principal: Principal
    actor: Actor

    @property
    def requester(self) -> Requester:
        p = self.principal
        return Requester(str(p.role), p.user_id, p.company_id)

    @property
    def label(self) -> str:
        return self.actor.email or (
            "system" if self.principal.role is Role.SYSTEM else f"user:{self.principal.user_id}"
        )


SYSTEM_WHO = Who(SYSTEM, Actor(None, "system"))


# -- who is on which side -------------------------------------------------------------------------------


def _acts_for(who: Who, company_id: int) -> bool:
    """Whether ``who`` acts for the firm: its own members (the system too); the centre sees, the firm decides."""
    p = who.principal
    return p.role is Role.SYSTEM or (p.role is Role.COMPANY_MEMBER and p.company_id == company_id)


def _sees_firm(who: Who, company_id: int) -> bool:
    visible = who.principal.visible_companies()
    return who.principal.role is not Role.DATA_PARTNER and (visible is None or company_id in visible)


def consumer_assignee(who: Who) -> Assignee:
    """The party ``who`` is, as an agreement's assignee.

    >>> consumer_assignee(Who(Principal(user_id=7, role=Role.DATA_PARTNER), Actor(7, "p@x.kr")))
    Assignee(kind=<AssigneeKind.PARTNER: 'partner'>, ids=(7,))
    """
    p = who.principal
    if p.role is Role.DATA_PARTNER and p.user_id is not None:
        return Assignee(AssigneeKind.PARTNER, (p.user_id,))
    if p.role is Role.COMPANY_MEMBER and p.company_id is not None:
        return Assignee(AssigneeKind.GROUP, (p.company_id,))
    if p.role in (Role.CENTRE_ADMIN, Role.CONSULTANT):
        return Assignee(AssigneeKind.CENTRE)
    raise Forbidden()


def _is_consumer(agreement: Agreement, who: Who) -> bool:
    return may_see(from_jsonld(agreement.policy).assignee, who.requester)


def _side(agreement: Agreement, who: Who) -> Side | None:
    if _acts_for(who, agreement.provider_id):
        return Side.PROVIDER
    if _is_consumer(agreement, who):
        return Side.CONSUMER
    return None


# -- offers ---------------------------------------------------------------------------------------------


def publish(db: Database, who: Who, *, company_id: int, title: str, description: str, tag_ids: Sequence[int],
            data_start: datetime, data_end: datetime, form: Any) -> int:  # fmt: skip
    """Publish an offer of ``company_id``'s tags over ``[data_start, data_end)`` under the policy ``form`` states
    (the form's fields or a :class:`Policy`); returns its id."""
    if not _acts_for(who, company_id):
        raise Forbidden(N_("Only the firm's own members publish its offers."))
    title = title.strip()
    if not title or len(title) > 200:
        raise Invalid(N_("An offer needs a title of at most 200 characters."))
    if not tag_ids:
        raise Invalid(N_("Choose at least one of the firm's tags."))
    data_start, data_end = as_utc(data_start), as_utc(data_end)
    if data_start >= data_end:
        raise Invalid(N_("The data's period must end after it starts."))
    with db.session(SYSTEM) as session:
        found = set(session.scalars(select(Tag.id).where(Tag.id.in_(list(tag_ids)), Tag.company_id == company_id)))
        if missing := sorted(set(tag_ids) - found):
            raise Invalid(N_("These tags are not the firm's: {tags}"), tags=", ".join(map(str, missing)))
        policy = form if isinstance(form, Policy) else from_form(form, assigner=company_id)
        _check_parties(session, policy)
        offer = Offer(
            company_id=company_id, title=title, description=description.strip()[:4000], tag_ids=sorted(found),
            data_start=data_start, data_end=data_end, policy={}, state="published", created_by=who.principal.user_id,
        )  # fmt: skip
        session.add(offer)
        session.flush()
        uid, target = f"urn:smart365:offer:{offer.id}:policy", f"urn:smart365:offer:{offer.id}"
        policy = Policy(**{**policy.__dict__, "assigner": company_id, "kind": "Offer", "uid": uid, "target": target})
        offer.policy = to_jsonld(policy)
        details = {"title": title, "tags": sorted(found), "policy_sha256": policy_digest(offer.policy)}
        ledger.append(session, company_id, LogKind.OFFER_PUBLISHED, actor=who.label, offer_id=offer.id, details=details)
        audit.record(session, audit.Action.COLLAB_OFFER, f"offer:{offer.id}", company_id=company_id,
                     details={"state": "published", "title": title}, actor=who.actor)  # fmt: skip
        return offer.id


def _check_parties(session: Session, policy: Policy) -> None:
    if policy.assignee.kind is AssigneeKind.PARTNER:
        partner = session.get(User, policy.assignee.ids[0])
        if partner is None or partner.role != Role.DATA_PARTNER or not partner.active:
            raise Invalid(N_("The named partner is not an active data partner."))
    elif policy.assignee.kind is AssigneeKind.GROUP:
        known = set(session.scalars(select(Company.id).where(Company.id.in_(policy.assignee.ids))))
        if missing := sorted(set(policy.assignee.ids) - known):
            raise Invalid(N_("These firms are not registered: {firms}"), firms=", ".join(map(str, missing)))


def withdraw(db: Database, who: Who, offer_id: int) -> None:
    """Withdraw an offer: no new requests; running agreements stand until revoked."""
    with db.session(SYSTEM) as session:
        offer = session.get(Offer, offer_id)
        if offer is None or not (_sees_firm(who, offer.company_id) or _acts_for(who, offer.company_id)):
            raise NotFound()
        if not _acts_for(who, offer.company_id):
            raise Forbidden(N_("Only the firm's own members publish its offers."))
        if offer.state != "published":
            raise Conflict(N_("The offer is already withdrawn."))
        offer.state, offer.withdrawn_at = "withdrawn", utcnow()
        ledger.append(session, offer.company_id, LogKind.OFFER_WITHDRAWN, actor=who.label, offer_id=offer.id)
        audit.record(session, audit.Action.COLLAB_OFFER, f"offer:{offer.id}", company_id=offer.company_id,
                     details={"state": "withdrawn"}, actor=who.actor)  # fmt: skip


def policy_digest(doc: dict[str, Any]) -> str:
    """SHA-256 of a policy's canonical JSON: the terms both sides saw (key order does not matter).

    >>> policy_digest({"b": 1, "a": 2}) == policy_digest({"a": 2, "b": 1})
    True
    """
    return hashlib.sha256(canonical(doc).encode()).hexdigest()


@dataclass(frozen=True)
class OfferView:
    """An offer as a page shows it: its terms read in words, its tags, and how the viewer stands to it."""

    id: int
    company_id: int
    company: str
    title: str
    description: str
    state: str
    tags: list[str]
    data_start: datetime
    data_end: datetime
    policy: Policy
    jsonld: dict[str, Any]
    reading: list[str]
    created_at: datetime
    owner_side: bool


def _names(session: Session, policies: Sequence[Policy]) -> Callable[[str], str]:
    companies: set[int] = set()
    partners: set[int] = set()
    for p in policies:
        companies.add(p.assigner)
        if p.assignee.kind is AssigneeKind.GROUP:
            companies.update(p.assignee.ids)
        elif p.assignee.kind is AssigneeKind.PARTNER:
            partners.update(p.assignee.ids)
    names = {
        company_iri(i): n for i, n in session.execute(select(Company.id, Company.name).where(Company.id.in_(companies)))
    }
    names |= {partner_iri(i): n for i, n in session.execute(select(User.id, User.name).where(User.id.in_(partners)))}
    return lambda iri: names.get(iri, iri)


def _views(session: Session, offers: Sequence[Offer], who: Who) -> list[OfferView]:
    policies = [from_jsonld(o.policy) for o in offers]
    name = _names(session, policies)
    tag_ids = {t for o in offers for t in o.tag_ids}
    tags = {t.id: t for t in session.scalars(select(Tag).where(Tag.id.in_(tag_ids)).join(Tag.equipment))}
    views = []
    for offer, policy in zip(offers, policies, strict=True):
        labels = [tags[t].machine_label for t in offer.tag_ids if t in tags]
        views.append(
            OfferView(
                offer.id, offer.company_id, name(company_iri(offer.company_id)), offer.title, offer.description,
                offer.state, labels, offer.data_start, offer.data_end, policy, offer.policy, describe(policy, name),
                offer.created_at, _sees_firm(who, offer.company_id),
            )
        )  # fmt: skip
    return views


def catalogue(db: Database, who: Who) -> list[OfferView]:
    """The published offers ``who`` may see as a consumer: those whose policy names it (the centre's
    administrator sees every published offer). Newest first."""
    with db.session(SYSTEM) as session:
        offers = session.scalars(select(Offer).where(Offer.state == "published").order_by(Offer.id.desc())).all()
        everyone = who.principal.role in (Role.CENTRE_ADMIN, Role.SYSTEM)
        mine = [o for o in offers if everyone or may_see(from_jsonld(o.policy).assignee, who.requester)]
        return _views(session, mine, who)


def offers_of(db: Database, who: Who, company_id: int) -> list[OfferView]:
    """A firm's own offers (for whoever may see the firm), newest first."""
    if not _sees_firm(who, company_id):
        raise NotFound()
    with db.session(SYSTEM) as session:
        offers = session.scalars(select(Offer).where(Offer.company_id == company_id).order_by(Offer.id.desc())).all()
        return _views(session, offers, who)


def offer(db: Database, who: Who, offer_id: int) -> OfferView:
    """One offer, for its firm's side, or for a consumer its policy names while it is published."""
    with db.session(SYSTEM) as session:
        row = session.get(Offer, offer_id)
        if row is None:
            raise NotFound()
        owner = _sees_firm(who, row.company_id)
        named = row.state == "published" and may_see(from_jsonld(row.policy).assignee, who.requester)
        if not owner and not named:
            raise NotFound()
        return _views(session, [row], who)[0]


# -- negotiation ------------------------------------------------------------------------------------------


def _log_state(
    session: Session, agreement: Agreement, who: Who, state: State, by: Side, note: str | None = None
) -> None:
    details: dict[str, Any] = {"state": str(state), "by": str(by)}
    if note:
        details["note"] = note
    ledger.append(session, agreement.provider_id, LogKind.AGREEMENT, actor=who.label, offer_id=agreement.offer_id,
                  agreement_id=agreement.id, details=details)  # fmt: skip
    audit.record(session, audit.Action.COLLAB_AGREEMENT, f"agreement:{agreement.id}", company_id=agreement.provider_id,
                 details=details, actor=who.actor)  # fmt: skip


def _move(session: Session, agreement: Agreement, who: Who, target: State, side: Side, note: str | None = None) -> None:
    step(State(agreement.state), target, side)
    agreement.state = target
    if target is State.FINALIZED:
        agreement.finalized_at = utcnow()
    _log_state(session, agreement, who, target, side, note)


def request(db: Database, who: Who, offer_id: int, purpose: str) -> int:
    """The consumer asks for an agreement on a published offer it is named in, for one of its purposes."""
    with db.session(SYSTEM) as session:
        row = session.get(Offer, offer_id)
        policy = from_jsonld(row.policy) if row is not None else None
        if row is None or policy is None or not may_see(policy.assignee, who.requester):
            raise NotFound()
        if row.state != "published":
            raise Conflict(N_("The offer is withdrawn: it takes no new requests."))
        try:
            wanted = Purpose(purpose)
        except ValueError:
            raise Invalid(N_("Choose one of the offer's purposes.")) from None
        if wanted not in policy.purposes:
            raise Invalid(N_("Choose one of the offer's purposes."))
        open_states = [s.value for s in (*_OPEN, State.FINALIZED)]
        mine = select(Agreement).where(Agreement.offer_id == offer_id, Agreement.state.in_(open_states))
        if any(_is_consumer(a, who) for a in session.scalars(mine)):
            raise Conflict(N_("You already have an open request or agreement on this offer."))
        step(None, State.REQUESTED, Side.CONSUMER)
        assignee = consumer_assignee(who)
        agreement = Agreement(
            offer_id=offer_id, provider_id=row.company_id, consumer_kind=assignee.kind.value,
            consumer_user_id=who.principal.user_id, consumer_company_id=who.principal.company_id,
            purpose=wanted.value, state=State.REQUESTED, policy={}, policy_sha256="",
        )  # fmt: skip
        session.add(agreement)
        session.flush()
        terms = policy.agreed_with(assignee, f"urn:smart365:agreement:{agreement.id}")
        agreement.policy = to_jsonld(terms)
        agreement.policy_sha256 = policy_digest(agreement.policy)
        _log_state(session, agreement, who, State.REQUESTED, Side.CONSUMER)
        return agreement.id


def _agreement(session: Session, who: Who, agreement_id: int, *, lock: bool = False) -> tuple[Agreement, Side | None]:
    """The agreement and ``who``'s side of it (None: the centre or a consultant watching); 404 to others."""
    query = select(Agreement).where(Agreement.id == agreement_id)
    row = session.scalars(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound()
    side = _side(row, who)
    if side is None and not _sees_firm(who, row.provider_id):
        raise NotFound()
    return row, side


def _acting(side: Side | None) -> Side:
    if side is None:
        raise Forbidden(N_("Only the two parties act on an agreement."))
    return side


def accept(db: Database, who: Who, agreement_id: int) -> None:
    """The provider accepts a request: it offers the consumer the offer's terms (OFFERED)."""
    with db.session(SYSTEM) as session:
        agreement, side = _agreement(session, who, agreement_id, lock=True)
        if _acting(side) is not Side.PROVIDER:
            raise IllegalTransition(N_("Only the {side} may take an agreement from {current} to {target}."),
                                    side=gettext(SIDE_LABELS[Side.PROVIDER]), current=agreement.state,
                                    target=str(State.OFFERED))  # fmt: skip
        if agreement.offer.state != "published":
            raise Conflict(N_("The offer is withdrawn: it takes no new requests."))
        _move(session, agreement, who, State.OFFERED, Side.PROVIDER)


def agree(db: Database, who: Who, agreement_id: int) -> None:
    """The consumer accepts the offered terms (ACCEPTED); the provider agreed them when it offered them
    (AGREED); the system checks the terms are those offered (VERIFIED) and finalizes the agreement."""
    with db.session(SYSTEM) as session:
        agreement, side = _agreement(session, who, agreement_id, lock=True)
        if _acting(side) is not Side.CONSUMER:
            raise IllegalTransition(N_("Only the {side} may take an agreement from {current} to {target}."),
                                    side=gettext(SIDE_LABELS[Side.CONSUMER]), current=agreement.state,
                                    target=str(State.ACCEPTED))  # fmt: skip
        _move(session, agreement, who, State.ACCEPTED, Side.CONSUMER)
        _move(
            session, agreement, SYSTEM_WHO, State.AGREED, Side.PROVIDER, N_("the provider agreed the terms it offered")
        )
        if policy_digest(agreement.policy) != agreement.policy_sha256:
            raise Conflict(N_("The agreement's terms are not those offered; it cannot be verified."))
        _move(session, agreement, SYSTEM_WHO, State.VERIFIED, Side.CONSUMER, f"sha256 {agreement.policy_sha256}")
        _move(session, agreement, SYSTEM_WHO, State.FINALIZED, Side.PROVIDER)


def terminate(db: Database, who: Who, agreement_id: int, reason: str) -> None:
    """Either party ends a negotiation; the provider ending a finalized agreement revokes it (the next pull is
    refused). The reason is kept and shown to the other side."""
    reason = reason.strip()[:500]
    with db.session(SYSTEM) as session:
        agreement, side = _agreement(session, who, agreement_id, lock=True)
        acting = _acting(side)
        revoking = agreement.state == State.FINALIZED
        if not reason:
            raise Invalid(N_("Say why, so the other side knows."))
        _move(session, agreement, who, State.TERMINATED, acting, reason)
        agreement.terminated_at, agreement.reason = utcnow(), reason
        if revoking and acting is Side.PROVIDER:
            ledger.append(session, agreement.provider_id, LogKind.REVOKED, actor=who.label,
                          offer_id=agreement.offer_id, agreement_id=agreement.id,
                          details={"reason": reason})  # fmt: skip
            audit.record(session, audit.Action.COLLAB_REVOKE, f"agreement:{agreement.id}",
                         company_id=agreement.provider_id, details={"reason": reason}, actor=who.actor)  # fmt: skip


@dataclass(frozen=True)
class AgreementView:
    id: int
    offer_id: int
    offer_title: str
    provider_id: int
    provider: str
    consumer: str
    purpose: str
    state: str
    policy: Policy
    reading: list[str]
    uses: int
    reason: str | None
    created_at: datetime
    finalized_at: datetime | None
    terminated_at: datetime | None
    side: Side | None
    obligations: list[str]


def _agreement_views(session: Session, rows: Sequence[Agreement], who: Who) -> list[AgreementView]:
    policies = [from_jsonld(a.policy) for a in rows]
    name = _names(session, policies)
    users = {u.id: u.name for u in session.scalars(select(User).where(User.id.in_({a.consumer_user_id for a in rows})))}
    companies = {
        c.id: c.name
        for c in session.scalars(select(Company).where(Company.id.in_({a.consumer_company_id for a in rows})))
    }
    uses = dict(session.execute(select(Transfer.agreement_id, func.count()).where(
        Transfer.agreement_id.in_([a.id for a in rows])).group_by(Transfer.agreement_id)).all())  # fmt: skip
    views = []
    for row, policy in zip(rows, policies, strict=True):
        if row.consumer_kind == AssigneeKind.CENTRE:
            consumer = gettext(N_("the Smart365 centre"))
        elif row.consumer_kind == AssigneeKind.GROUP:
            consumer = companies.get(row.consumer_company_id or 0, "?")
        else:
            consumer = users.get(row.consumer_user_id or 0, "?")
        reading = describe(policy, name)
        views.append(AgreementView(
            row.id, row.offer_id, row.offer.title, row.provider_id, name(company_iri(row.provider_id)), consumer,
            row.purpose, row.state, policy, reading, int(uses.get(row.id, 0)), row.reason, row.created_at,
            row.finalized_at, row.terminated_at, _side(row, who), duties(policy, name),
        ))  # fmt: skip
    return views


def agreement(db: Database, who: Who, agreement_id: int) -> AgreementView:
    with db.session(SYSTEM) as session:
        row, _side_of = _agreement(session, who, agreement_id)
        return _agreement_views(session, [row], who)[0]


def agreements(db: Database, who: Who, company_id: int | None = None) -> list[AgreementView]:
    """As provider: the agreements on ``company_id``'s offers (whoever may see the firm). As consumer
    (``company_id`` None): the agreements ``who`` is the consumer of. Newest first."""
    with db.session(SYSTEM) as session:
        if company_id is not None:
            if not _sees_firm(who, company_id):
                raise NotFound()
            rows = session.scalars(select(Agreement).where(Agreement.provider_id == company_id)
                                   .order_by(Agreement.id.desc())).all()  # fmt: skip
        else:
            p = who.principal
            query = select(Agreement).order_by(Agreement.id.desc())
            if p.role is Role.DATA_PARTNER:
                query = query.where(
                    Agreement.consumer_kind == AssigneeKind.PARTNER, Agreement.consumer_user_id == p.user_id
                )
            elif p.role is Role.COMPANY_MEMBER:
                query = query.where(Agreement.consumer_kind == AssigneeKind.GROUP,
                                    Agreement.consumer_company_id == p.company_id)  # fmt: skip
            else:
                query = query.where(Agreement.consumer_kind == AssigneeKind.CENTRE)
            rows = [a for a in session.scalars(query) if _is_consumer(a, who)]
        return _agreement_views(session, rows, who)


# -- transfers ----------------------------------------------------------------------------------------------


def _refusal(agreement: Agreement, policy: Policy, who: Who, uses: int, now: datetime) -> Decision:
    if agreement.state == State.TERMINATED:
        when = to_local(agreement.terminated_at).strftime("%Y-%m-%d %H:%M") if agreement.terminated_at else "-"
        return Decision(False, N_("The agreement was ended on {when} (Korean time): {why}"),
                        {"when": when, "why": agreement.reason or "-"})  # fmt: skip
    if agreement.state != State.FINALIZED:
        return Decision(False, N_("The agreement is {state}: data moves only under a finalized agreement."),
                        {"state": agreement.state})  # fmt: skip
    return evaluate(policy, UseRequest(who.requester, Purpose(agreement.purpose), now, uses))


@dataclass
class Pull:
    """A granted pull: the file's name and its pieces (the transfer is recorded when the last piece is sent)."""

    filename: str
    chunks: Iterator[bytes]
    transfer_id: int


def pull(db: Database, store: TimeSeriesStore, who: Who, agreement_id: int, now: datetime | None = None) -> Pull:
    """The agreement's data as CSV, if the agreement allows it now; else :class:`PullRefused` with the reason
    (the refusal is in the usage log too). Only the consumer pulls."""
    now = now or utcnow()
    with db.session(SYSTEM) as session:
        agreement, side = _agreement(session, who, agreement_id, lock=True)
        if side is not Side.CONSUMER:
            raise Forbidden(N_("Only the data user pulls the data of an agreement."))
        policy = from_jsonld(agreement.policy)
        uses = session.scalar(select(func.count()).select_from(Transfer).where(Transfer.agreement_id == agreement.id))
        decision = _refusal(agreement, policy, who, int(uses or 0), now)
        provider, offer_id, offer_row = agreement.provider_id, agreement.offer_id, agreement.offer
        if decision.allowed:
            transfer = Transfer(agreement_id=agreement.id, user_id=who.principal.user_id, started_at=now)
            session.add(transfer)
            session.flush()
            rows = session.execute(
                select(Tag, Equipment.name).join(Equipment, Tag.equipment_id == Equipment.id)
                .where(Tag.id.in_(offer_row.tag_ids), Tag.company_id == provider).order_by(Tag.id)
            ).all()  # fmt: skip
            tags = [ExportTag(t.id, t.label, machine, t.unit) for t, machine in rows]
            start_us = int(as_utc(offer_row.data_start).timestamp() * 1e6)
            end_us = int(as_utc(offer_row.data_end).timestamp() * 1e6)
            details = {"transfer": transfer.id, "use": int(uses or 0) + 1, "purpose": agreement.purpose,
                       "tags": [t.id for t in tags]}  # fmt: skip
            ledger.append(session, provider, LogKind.PULL, actor=who.label, offer_id=offer_id,
                          agreement_id=agreement.id, details=details)  # fmt: skip
            audit.record(session, audit.Action.COLLAB_PULL, f"agreement:{agreement.id}", company_id=provider,
                         details=details, actor=who.actor)  # fmt: skip
            transfer_id = transfer.id
    if not decision.allowed:
        reason = decision.text()
        with db.session(SYSTEM) as session:
            ledger.append(session, provider, LogKind.PULL_REFUSED, actor=who.label, offer_id=offer_id,
                          agreement_id=agreement_id,
                          details={"reason": decision.reason, **decision.params})  # fmt: skip
            audit.record(session, audit.Action.COLLAB_PULL, f"agreement:{agreement_id}", company_id=provider,
                         details={"reason": reason}, outcome=audit.Outcome.BLOCKED, actor=who.actor)  # fmt: skip
        raise PullRefused(decision.reason, **decision.params)
    return Pull(f"agreement-{agreement_id}-{transfer_id}.csv", _counted(db, store, tags, start_us, end_us,
                transfer_id, provider, offer_id, agreement_id, who), transfer_id)  # fmt: skip


def _counted(db: Database, store: TimeSeriesStore, tags: list[ExportTag], start_us: int, end_us: int,
             transfer_id: int, provider: int, offer_id: int, agreement_id: int,
             who: Who) -> Iterator[bytes]:  # fmt: skip
    """The CSV's pieces, counted; when the last is sent (or the receiver goes away) the transfer says how much."""
    rows = sent = 0
    complete = False
    try:
        for piece in csv_chunks(store, tags, start_us, end_us):
            rows += piece.count(b"\n")
            sent += len(piece)
            yield piece
        complete = True
    finally:
        with db.session(SYSTEM) as session:
            transfer = session.get(Transfer, transfer_id)
            if transfer is not None:
                transfer.finished_at, transfer.rows, transfer.bytes = utcnow(), max(rows - 1, 0), sent
            ledger.append(session, provider, LogKind.PULL_DONE, actor=who.label, offer_id=offer_id,
                          agreement_id=agreement_id,
                          details={"transfer": transfer_id, "rows": max(rows - 1, 0), "bytes": sent,
                                   "complete": complete})  # fmt: skip


# -- the usage log ------------------------------------------------------------------------------------------


#: What each detail of a log record is, in words (the keys stay as stored, and hashed).
DETAIL_LABELS: dict[str, str] = {
    "reason": N_("Reason"),
    "note": N_("Note"),
    "title": N_("Title"),
    "tags": N_("Tags"),
    "transfer": N_("Transfer"),
    "use": N_("Use no."),
    "purpose": N_("Purpose"),
    "rows": N_("Rows"),
    "bytes": N_("Bytes"),
    "complete": N_("Complete"),
    "kpis": N_("KPIs"),
    "release": N_("Release"),
    "group": N_("Group"),
    "firms": N_("Firms"),
}
HIDDEN_DETAILS = {"state", "by", "policy_sha256", "limit", "start", "end", "prov_sha256", "rules", "epsilon_spent"}


@dataclass(frozen=True)
class LogLine:
    seq: int
    at: datetime
    kind: str
    label: str
    actor: str
    offer_id: int | None
    agreement_id: int | None
    details: dict[str, Any]
    hash: str

    def shown(self) -> list[tuple[str, str]]:
        """The details a reader reads: (label, value) in the current language."""
        from smart365.collab.policy import PURPOSE_LABELS

        out = []
        for key, value in self.details.items():
            if key in HIDDEN_DETAILS:
                continue
            if key == "purpose" and value in {p.value for p in PURPOSE_LABELS}:
                value = gettext(PURPOSE_LABELS[Purpose(value)])
            elif isinstance(value, bool):
                value = gettext(N_("yes")) if value else gettext(N_("no"))
            elif isinstance(value, list):
                value = ", ".join(map(str, value))
            out.append((gettext(DETAIL_LABELS.get(key, key)), str(value)))
        return out


def _readable(kind: str, details: dict[str, Any]) -> dict[str, Any]:
    """Details as the reader reads them: a refusal's reason and a step's note in the current language."""
    if kind == LogKind.PULL_REFUSED and isinstance(details.get("reason"), str):
        params = {k: v for k, v in details.items() if k != "reason"}
        try:
            return {"reason": gettext(details["reason"]).format(**params)}
        except (KeyError, IndexError):
            return details
    note = details.get("note")
    if isinstance(note, str):
        return details | {"note": gettext(note)}
    return details


def _lines(rows: Sequence[UsageRecord]) -> list[LogLine]:
    return [
        LogLine(r.seq, datetime.fromtimestamp(r.at_us / 1e6, UTC), r.kind, LOG_LABELS.get(r.kind, r.kind), r.actor,
                r.offer_id, r.agreement_id, _readable(r.kind, json.loads(r.details)), r.hash)
        for r in rows
    ]  # fmt: skip


def usage_log(db: Database, who: Who, company_id: int, limit: int = 500) -> list[LogLine]:
    """The firm's usage log, newest first (whoever may see the firm)."""
    if not _sees_firm(who, company_id):
        raise NotFound()
    with db.session(SYSTEM) as session:
        rows = session.scalars(select(UsageRecord).where(UsageRecord.company_id == company_id)
                               .order_by(UsageRecord.seq.desc()).limit(limit)).all()  # fmt: skip
        return _lines(rows)


def history(db: Database, who: Who, agreement_id: int) -> list[LogLine]:
    """An agreement's steps and pulls as its firm's log holds them, oldest first (for both sides)."""
    with db.session(SYSTEM) as session:
        row, _side_of = _agreement(session, who, agreement_id)
        rows = session.scalars(select(UsageRecord).where(UsageRecord.company_id == row.provider_id,
                               UsageRecord.agreement_id == agreement_id).order_by(UsageRecord.seq)).all()  # fmt: skip
        return _lines(rows)


def verify_firm(db: Database, who: Who, company_id: int) -> ledger.Verified:
    if not _sees_firm(who, company_id):
        raise NotFound()
    return ledger.verify(db, company_id)


def figures(db: Database) -> dict[str, int]:
    """The programme's collaboration figures: offers published, agreements finalized and running, pulls."""
    with db.session(SYSTEM) as session:
        return {
            "offers": session.scalar(select(func.count()).select_from(Offer).where(Offer.state == "published")) or 0,
            "agreements": session.scalar(
                select(func.count()).select_from(Agreement).where(Agreement.state == State.FINALIZED)
            )
            or 0,
            "pulls": session.scalar(select(func.count()).select_from(Transfer)) or 0,
        }
