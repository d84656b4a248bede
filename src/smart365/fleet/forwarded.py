"""What the centre reads back from the fleet tables for its other pages: the evidence plants measured."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.assessment.evidence import Evidence, ForwardedEvidence
from smart365.core.db import as_utc
from smart365.fleet.models import FleetEvidence
from smart365.registry.models import Company


def forwarded_evidence(session: Session, company_id: int) -> dict[str, Evidence]:
    """Item id → the evidence the firm's plants forwarded; with several plants, the highest stage shown.

    The company is read through the caller's scoped session, so a principal who may not see the firm gets
    nothing; the fleet rows are found by its business registration number.
    """
    brn = session.scalar(select(Company.brn).where(Company.id == company_id))
    if brn is None:
        return {}
    best: dict[str, FleetEvidence] = {}
    for row in session.scalars(select(FleetEvidence).where(FleetEvidence.brn == brn)):
        held = best.get(row.item_id)
        if held is None or (row.stage if row.stage is not None else -1, row.as_of) > (
            held.stage if held.stage is not None else -1,
            held.as_of,
        ):
            best[row.item_id] = row
    return {
        item: ForwardedEvidence(row.stage, row.detail, row.params, plant=row.plant, as_of=as_utc(row.as_of))
        for item, row in best.items()
    }
