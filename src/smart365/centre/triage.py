"""Triage of a new ticket: its category with a confidence, and similar past cases.

The classifier is trained on the shipped seed tickets plus every ticket whose category centre staff set
or confirmed, and saved under ``<data dir>/models/ticket-classifier`` so a restart does not retrain. The
case index holds the seed knowledge base (synthetic, marked as such) and the firms' resolved tickets.

A firm never sees another firm's ticket among its similar cases: callers pass the companies the viewer
may see (``visible``), and cases of other firms are left out of the search.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.centre.categories import load_categories, load_seed_tickets
from smart365.centre.classify import LabelledTicket, TicketClassifier, category_texts
from smart365.centre.models import Ticket, TicketStatus
from smart365.centre.similar import Case, SimilarCases, seed_cases, snippet
from smart365.core.accounts import User
from smart365.core.db import Database
from smart365.core.tenancy import SYSTEM, Role

KB_PREFIX = "kb:"
TICKET_PREFIX = "ticket:"


@dataclass(frozen=True)
class Triage:
    """What filing a ticket learns from its text."""

    category: str
    confidence: float
    top3: list[list[Any]]
    similar: list[dict[str, Any]]


@dataclass(frozen=True)
class LabelledCase:
    """A ticket of the records database as training example and searchable case."""

    ticket_id: int
    company_id: int
    text: str
    category: str
    resolution: str

    @property
    def case_id(self) -> str:
        return f"{TICKET_PREFIX}{self.ticket_id}"


def labelled_cases(session: Session) -> list[LabelledCase]:
    """Tickets whose category staff set by hand (confidence cleared) or which were resolved.

    Read with the centre's own (SYSTEM) session: the model learns from every firm, the search filters.
    """
    query = select(Ticket).where(
        (Ticket.category_confidence.is_(None)) | (Ticket.status.in_([TicketStatus.RESOLVED, TicketStatus.CLOSED]))
    )
    return [
        LabelledCase(t.id, t.company_id, f"{t.title}\n{t.body}", t.category, t.resolution or "")
        for t in session.scalars(query.order_by(Ticket.id))
    ]


class TriageModel:
    """The classifier and the case index, rebuilt when the labelled tickets change.

    >>> model = TriageModel(None)
    >>> result = model.triage("CNC 설비 데이터가 MES로 안 넘어옵니다", [], visible=None)
    >>> result.category in {c.id for c in load_categories()}, 0 < result.confidence <= 1
    (True, True)
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._fingerprint: str | None = None
        self._classifier: TicketClassifier | None = None
        self._cases: SimilarCases | None = None
        self._indexed: str | None = None
        self._training = False
        self._owner: dict[str, int] = {}

    def triage(self, text: str, labelled: list[LabelledCase], visible: frozenset[int] | None, k: int = 5) -> Triage:
        """Category, confidence, top three and up to ``k`` similar cases the viewer may see."""
        classifier, cases = self._models(labelled)
        prediction = classifier.predict(text)
        hidden = [cid for cid, company in self._owner.items() if visible is not None and company not in visible]
        matches = cases.search(text, k, exclude=hidden)
        by_id = {c.id: c for c in cases.cases}
        similar = [
            {
                "id": m.id,
                "kind": "knowledge_base" if m.id.startswith(KB_PREFIX) else "ticket",
                "score": round(m.score, 3),
                "category": m.category,
                "text": snippet(by_id[m.id].text),
                "resolution": m.snippet,
            }
            for m in matches
        ]
        top3 = [[c, round(p, 4)] for c, p in prediction.top3]
        return Triage(prediction.category, prediction.confidence, top3, similar)

    def _models(self, labelled: list[LabelledCase]) -> tuple[TicketClassifier, SimilarCases]:
        """The current models. The case index follows the labelled tickets at once (it is cheap); the
        classifier retrains in the background (seconds) and the previous one answers meanwhile."""
        fingerprint = _fingerprint(labelled)
        with self._lock:
            if self._classifier is None:
                self._classifier = self._classifier_for(labelled, fingerprint)
                self._fingerprint = fingerprint
            elif fingerprint != self._fingerprint and not self._training:
                self._training = True
                threading.Thread(target=self._retrain, args=(labelled, fingerprint), daemon=True).start()
            if self._cases is None or self._indexed != fingerprint:
                known = {c.text for c in labelled}  # a past ticket that repeats a seed case replaces it
                kb = [
                    Case(f"{KB_PREFIX}{c.id}", c.text, c.category, c.resolution, c.topic)
                    for c in seed_cases()
                    if c.text not in known
                ]
                mine = [Case(c.case_id, c.text, c.category, c.resolution) for c in labelled if c.resolution]
                self._cases = SimilarCases(kb + mine)
                self._owner = {c.case_id: c.company_id for c in labelled}
                self._indexed = fingerprint
            return self._classifier, self._cases

    def _retrain(self, labelled: list[LabelledCase], fingerprint: str) -> None:
        try:
            classifier = self._classifier_for(labelled, fingerprint)
            with self._lock:
                self._classifier, self._fingerprint = classifier, fingerprint
        finally:
            self._training = False

    def _classifier_for(self, labelled: list[LabelledCase], fingerprint: str) -> TicketClassifier:
        """From memory (same training data seen in this process), from disk, or trained and saved."""
        saved = self.directory / fingerprint if self.directory else None
        classifier = _trained.get(fingerprint)
        if classifier is None and saved and saved.exists():
            classifier = TicketClassifier.load(saved)
        if classifier is None:
            # one example per text (the centre's label wins): repeated texts would inflate the confidence
            everything: list[LabelledTicket] = [*load_seed_tickets().tickets, *labelled]
            by_text = {t.text: t for t in everything}
            examples = list(by_text.values())
            classifier = TicketClassifier().fit_tickets(examples, extra=category_texts(load_categories()))
        if saved and not saved.exists():
            saved.mkdir(parents=True, exist_ok=True)
            classifier.save(saved)
        _trained[fingerprint] = classifier
        return classifier


def _fingerprint(labelled: list[LabelledCase]) -> str:
    """Identifies the training data: seed file plus the labelled tickets' ids, texts and categories."""
    digest = hashlib.sha256(json.dumps(load_seed_tickets().provenance).encode())
    for case in labelled:
        digest.update(json.dumps([case.ticket_id, case.text, case.category, case.resolution]).encode())
    digest.update(str(len(load_seed_tickets().tickets)).encode())
    return digest.hexdigest()[:16]


_trained: dict[str, TicketClassifier] = {}  # by training-data fingerprint, shared by every model
_models: dict[Path | None, TriageModel] = {}
_models_lock = threading.Lock()


def warm_up(db: Database, directory: Path) -> bool:
    """Train (or load) the classifier and index the cases now, so the first ticket filed does not wait; only
    where the centre works (a centre administrator or consultant can sign in). A plant's own installation
    skips it and stays small (about 600 MB less): its first ticket trains the classifier. True when it trained."""
    with db.session(SYSTEM) as centre:
        if not runs_the_centre(centre):
            return False
        labelled = labelled_cases(centre)
    triage_model(directory).triage("warm-up", labelled, visible=frozenset())
    return True


def runs_the_centre(session: Session) -> bool:
    """Whether anyone of the centre (an administrator or a consultant) can sign in to this installation."""
    staff = select(User.id).where(User.role.in_((Role.CENTRE_ADMIN, Role.CONSULTANT)), User.active.is_(True))
    return session.scalar(staff.limit(1)) is not None


def triage_model(directory: Path | None) -> TriageModel:
    """One model per directory for the whole process (tests and the app share the trained seed model)."""
    with _models_lock:
        return _models.setdefault(directory, TriageModel(directory))
