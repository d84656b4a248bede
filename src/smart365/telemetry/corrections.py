"""A firm's policy for points re-sent with another value (정정 정책), as a historian keeps revisions.

A gateway that re-sends a point it already sent with the *same* value is a duplicate and changes nothing. With
*another* value it is a correction, or a fault: the firm decides (``companies.correction_policy``) whether
the first value stays (the default, and what Smart365 always did), the new one overwrites it, or both are kept
with the new one flagged. The store settles every conflict in the transaction that brought it
(:attr:`~smart365.telemetry.store.TimeSeriesStore.corrections`, installed by the composition root from
:func:`policies`) and keeps the value it did not keep in ``ts_revisions``; the firm's new-signal page shows
the policy and the latest revisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.core import audit
from smart365.core.db import Database, utcnow
from smart365.core.errors import Invalid
from smart365.core.i18n import N_, gettext
from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Company, Tag
from smart365.telemetry.store import CORRECTIONS, Correction, CorrectionPolicies, TimeSeriesStore

POLICY_LABELS: dict[Correction, str] = {
    "keep_first": N_("Keep the first value (the one sent again is kept as refused)"),
    "overwrite": N_("Overwrite with the new value (the earlier one is kept as replaced)"),
    "keep_both": N_("Keep both (the new value is flagged as a correction)"),
}
OUTCOME_LABELS = {"refused": N_("refused"), "replaced": N_("replaced"), "correction": N_("correction")}


def policies(db: Database) -> CorrectionPolicies:
    """What the store asks when a transaction holds conflicts: each tag's firm's policy (read fresh each time:
    conflicts are rare, and a firm's new choice holds from its next write on). Firms that keep the first
    value are left out.

    >>> lookup = policies(Database("sqlite://"))
    >>> callable(lookup)
    True
    """

    def lookup(tag_ids: list[int]) -> Mapping[int, Correction]:
        with db.session(SYSTEM) as session:
            rows = session.execute(
                select(Tag.id, Company.correction_policy)
                .join(Company, Company.id == Tag.company_id)
                .where(Tag.id.in_(tag_ids), Company.correction_policy != "keep_first")
            )
            return {int(tag_id): policy for tag_id, policy in rows if policy in CORRECTIONS}

    return lookup


def set_policy(session: Session, company: Company, policy: str) -> None:
    """Change the firm's policy (whoever may change the firm's records); audited with the old and new policy.

    An unknown policy is a 422 naming the ones there are.
    """
    if policy not in CORRECTIONS:
        raise Invalid(N_("Unknown correction policy {policy}: choose one of {choices}."), policy=policy,
                      choices=", ".join(CORRECTIONS))  # fmt: skip
    before, company.correction_policy = company.correction_policy, policy
    audit.record(session, audit.Action.CORRECTION_POLICY, f"company:{company.id}", company_id=company.id,
                 details={"before": before, "after": policy})  # fmt: skip
    session.flush()


@dataclass(frozen=True, slots=True)
class Revision:
    """A value a point of the firm's was sent with and that the store did not keep as the point's value
    (or, for ``replaced``, kept before it was overwritten)."""

    received_at: datetime
    tag: Tag
    ts: datetime
    value: float
    outcome: str

    @property
    def outcome_label(self) -> str:
        """The outcome in the reader's language."""
        return gettext(OUTCOME_LABELS.get(self.outcome, self.outcome))


def recent_revisions(session: Session, store: TimeSeriesStore, company_id: int, days: int = 30,
                     limit: int = 50) -> list[Revision]:  # fmt: skip
    """The firm's newest revisions of points of the last ``days`` days, newest first."""
    tags = {tag.id: tag for tag in session.scalars(select(Tag).where(Tag.company_id == company_id))}
    if not tags:
        return []
    now = utcnow()
    table = store.revisions(tags, now - timedelta(days=days), now + timedelta(days=1))
    rows = sorted(table.to_pylist(), key=lambda row: row["received_at"], reverse=True)[:limit]
    return [Revision(row["received_at"], tags[row["tag_id"]], row["ts"], row["value"], row["outcome"]) for row in rows]
