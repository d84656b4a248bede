"""Usage policies in a small, closed ODRL 2.2 profile: what a firm's offer allows, read in plain Korean.

A :class:`Policy` says who may use the data (a named partner, firms of a group, or the centre), for which
purposes, in which time window, how many times, and under which duties: no onward transfer (a prohibition of
``distribute``), delete after so many days, attribution, telling the firm of every use, and payment terms as
the 제조데이터 공유 규범 names them (정액 fixed per month, 종량 metered per use, 일시금 lump sum, 수익 배분 royalty;
amounts stated here, settled outside the platform).

The profile is closed: :func:`from_jsonld` refuses any term it does not know (an action, a left operand, an
operator, a key), naming it, instead of ignoring it, since an ignored constraint is a permission nobody gave.
:func:`to_jsonld` and :func:`from_jsonld` round-trip without loss, and so do :func:`to_form` and
:func:`from_form` (the offer page's fields).

>>> from datetime import datetime
>>> p = Policy(assigner=3, assignee=Assignee(AssigneeKind.PARTNER, (7,)), purposes=(Purpose.QUALITY,),
...            end=datetime(2027, 3, 31, 23, 59, 59, tzinfo=SEOUL), max_uses=10)
>>> from_jsonld(to_jsonld(p)) == p and from_form(to_form(p), assigner=3) == p
True
>>> to_jsonld(p)["permission"][0]["constraint"][2]
{'leftOperand': 'count', 'operator': 'lteq', 'rightOperand': {'@value': '10', '@type': 'xsd:integer'}}
>>> partner, day = Requester("data_partner", 7, None), datetime(2027, 1, 5, tzinfo=SEOUL)
>>> evaluate(p, UseRequest(partner, Purpose.QUALITY, day, 9))
Decision(allowed=True, reason='Allowed by the agreement.', params={})
>>> evaluate(p, UseRequest(partner, Purpose.QUALITY, day, 10)).reason
'All {limit} uses the policy allows have been made.'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal

from smart365.core.db import SEOUL
from smart365.core.errors import Invalid
from smart365.core.i18n import N_, gettext

ODRL_CONTEXT = "http://www.w3.org/ns/odrl.jsonld"
ODRL_NS = "http://www.w3.org/ns/odrl/2/"
S365_NS = "https://smart365.kr/ns/odrl#"
PROFILE = "https://smart365.kr/ns/odrl/profile/1"
CONTEXT: list[Any] = [ODRL_CONTEXT, {"s365": S365_NS}]
KRW = "https://www.wikidata.org/entity/Q202040"  # South Korean won


class PolicyError(Invalid):
    """A policy this profile cannot hold: the message names the term or the value."""

    code = "policy_invalid"


class AssigneeKind(StrEnum):
    PARTNER = "partner"  # one named data partner (its account)
    GROUP = "group"  # firms of a group (company ids)
    CENTRE = "centre"  # the programme centre (its administrators and consultants)


class Purpose(StrEnum):
    """The purposes an offer may allow (a closed list; each reads in Korean)."""

    QUALITY = "quality"
    MAINTENANCE = "maintenance"
    PROCESS = "process"
    BENCHMARK = "benchmark"
    SUPPLY_CHAIN = "supply_chain"
    RESEARCH = "research"
    AI_TRAINING = "ai_training"


PURPOSE_LABELS: dict[Purpose, str] = {
    Purpose.QUALITY: N_("quality improvement"),
    Purpose.MAINTENANCE: N_("equipment maintenance"),
    Purpose.PROCESS: N_("process optimisation"),
    Purpose.BENCHMARK: N_("benchmarking"),
    Purpose.SUPPLY_CHAIN: N_("supply-chain cooperation"),
    Purpose.RESEARCH: N_("research and development"),
    Purpose.AI_TRAINING: N_("AI model training"),
}


class PaymentModel(StrEnum):
    """Payment terms of the 제조데이터 공유 규범; the platform states them, the parties settle outside."""

    FIXED = "fixed"  # 정액: a fee per month
    METERED = "metered"  # 종량: a fee per use (pull)
    LUMP_SUM = "lump_sum"  # 일시금: one payment
    ROYALTY = "royalty"  # 수익 배분: a share (%) of what the use earns


PAYMENT_LABELS: dict[PaymentModel, str] = {
    PaymentModel.FIXED: N_("fixed fee"),
    PaymentModel.METERED: N_("metered fee"),
    PaymentModel.LUMP_SUM: N_("lump sum"),
    PaymentModel.ROYALTY: N_("royalty"),
}


@dataclass(frozen=True)
class Assignee:
    """Who may use the data: ``ids`` are a partner's user id (one), a group's company ids, or none (centre)."""

    kind: AssigneeKind
    ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind is AssigneeKind.PARTNER and len(self.ids) != 1:
            raise PolicyError(N_("A named partner is exactly one partner."))
        if self.kind is AssigneeKind.GROUP and not self.ids:
            raise PolicyError(N_("A group names at least one firm."))
        if self.kind is AssigneeKind.CENTRE and self.ids:
            raise PolicyError(N_("The centre is named without ids."))
        if self.kind is AssigneeKind.GROUP and tuple(sorted(set(self.ids))) != self.ids:
            object.__setattr__(self, "ids", tuple(sorted(set(self.ids))))


@dataclass(frozen=True)
class Payment:
    """``amount`` in won (per month when fixed, per use when metered, once for a lump sum), or the percentage
    of the use's revenue for a royalty."""

    model: PaymentModel
    amount: Decimal

    def __post_init__(self) -> None:
        amount = Decimal(self.amount)
        if not amount.is_finite() or amount <= 0:
            raise PolicyError(N_("A payment amount must be more than zero."))
        if self.model is PaymentModel.ROYALTY and amount > 100:
            raise PolicyError(N_("A royalty is a percentage of at most 100."))
        object.__setattr__(self, "amount", amount)


PolicyKind = Literal["Offer", "Agreement"]


@dataclass(frozen=True)
class Policy:
    """One usage policy. ``assigner`` is the owning firm's company id; times are aware, to the second."""

    assigner: int
    assignee: Assignee
    purposes: tuple[Purpose, ...]
    start: datetime | None = None
    end: datetime | None = None
    max_uses: int | None = None
    no_onward_transfer: bool = True
    delete_after_days: int | None = None
    attribution: bool = False
    notify_on_use: bool = False
    payment: Payment | None = None
    kind: PolicyKind = "Offer"
    uid: str | None = None
    target: str | None = None

    def __post_init__(self) -> None:
        if not self.purposes:
            raise PolicyError(N_("A policy names at least one purpose."))
        object.__setattr__(self, "purposes", tuple(dict.fromkeys(Purpose(p) for p in self.purposes)))
        for moment in (self.start, self.end):
            if moment is not None and (moment.tzinfo is None or moment.microsecond):
                raise PolicyError(N_("Policy times carry a time zone and are to the second."))
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise PolicyError(N_("The time window must end after it starts."))
        if self.max_uses is not None and self.max_uses < 1:
            raise PolicyError(N_("The number of uses must be at least 1."))
        if self.delete_after_days is not None and self.delete_after_days < 1:
            raise PolicyError(N_("Data must be kept at least 1 day before its deletion."))
        if self.kind not in ("Offer", "Agreement"):
            raise PolicyError(N_("A policy is an Offer or an Agreement."))

    def agreed_with(self, assignee: Assignee, uid: str) -> Policy:
        """The agreement this offer becomes with one consumer: the same terms, narrowed to ``assignee``."""
        return Policy(**{**self.__dict__, "kind": "Agreement", "assignee": assignee, "uid": uid})


# -- parties as IRIs ----------------------------------------------------------------------------------------


def company_iri(company_id: int) -> str:
    return f"urn:smart365:company:{company_id}"


def partner_iri(user_id: int) -> str:
    return f"urn:smart365:partner:{user_id}"


CENTRE_IRI = "urn:smart365:centre"


def _id_of(iri: Any, prefix: str, what: str) -> int:
    if isinstance(iri, str) and iri.startswith(prefix) and iri[len(prefix) :].isdigit():
        return int(iri[len(prefix) :])
    raise PolicyError(N_("The policy's {what} is not a party this profile knows: {value}"), what=what, value=str(iri))


def _assignee_json(assignee: Assignee) -> Any:
    if assignee.kind is AssigneeKind.PARTNER:
        return partner_iri(assignee.ids[0])
    if assignee.kind is AssigneeKind.CENTRE:
        return CENTRE_IRI
    return {"@type": "PartyCollection", "s365:member": [company_iri(i) for i in assignee.ids]}


def _assignee_of(value: Any) -> Assignee:
    if value == CENTRE_IRI:
        return Assignee(AssigneeKind.CENTRE)
    if isinstance(value, str):
        return Assignee(AssigneeKind.PARTNER, (_id_of(value, "urn:smart365:partner:", "assignee"),))
    if isinstance(value, dict):
        _only(value, {"@type", "s365:member"}, "assignee")
        if _term(value.get("@type")) != "PartyCollection" or not isinstance(value.get("s365:member"), list):
            raise PolicyError(N_("A group assignee is a PartyCollection listing its firms."))
        ids = tuple(_id_of(m, "urn:smart365:company:", "assignee") for m in value["s365:member"])
        return Assignee(AssigneeKind.GROUP, ids)
    raise PolicyError(
        N_("The policy's {what} is not a party this profile knows: {value}"), what="assignee", value=str(value)
    )


# -- JSON-LD ------------------------------------------------------------------------------------------------


def _moment(value: datetime) -> dict[str, str]:
    return {"@value": value.astimezone(SEOUL).isoformat(), "@type": "xsd:dateTime"}


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def to_jsonld(policy: Policy) -> dict[str, Any]:
    """The policy as ODRL 2.2 JSON-LD (compact, with the ODRL context), in one canonical form.

    >>> p = Policy(assigner=1, assignee=Assignee(AssigneeKind.CENTRE), purposes=(Purpose.BENCHMARK,))
    >>> doc = to_jsonld(p)
    >>> doc["@type"], doc["permission"][0]["assignee"], doc["prohibition"][0]["action"]
    ('Offer', 'urn:smart365:centre', 'distribute')
    """
    target = policy.target
    constraints: list[dict[str, Any]] = [
        {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": [f"s365:{p.value}" for p in policy.purposes]}
    ]
    if policy.start is not None:
        constraints.append({"leftOperand": "dateTime", "operator": "gteq", "rightOperand": _moment(policy.start)})
    if policy.end is not None:
        constraints.append({"leftOperand": "dateTime", "operator": "lteq", "rightOperand": _moment(policy.end)})
    if policy.max_uses is not None:
        count = {"@value": str(policy.max_uses), "@type": "xsd:integer"}
        constraints.append({"leftOperand": "count", "operator": "lteq", "rightOperand": count})
    duties: list[dict[str, Any]] = []
    if policy.delete_after_days is not None:
        period = {"@value": f"P{policy.delete_after_days}D", "@type": "xsd:duration"}
        duties.append(
            {
                "action": "delete",
                "constraint": [{"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": period}],
            }
        )
    if policy.attribution:
        duties.append({"action": "attribute"})
    if policy.notify_on_use:
        duties.append({"action": "inform", "informedParty": company_iri(policy.assigner)})
    if policy.payment is not None:
        duties.append(_payment_json(policy.payment, policy.assigner))
    permission: dict[str, Any] = {
        "assigner": company_iri(policy.assigner),
        "assignee": _assignee_json(policy.assignee),
        "action": "use",
        "constraint": constraints,
    }
    if target is not None:
        permission = {"target": target, **permission}
    if duties:
        permission["duty"] = duties
    doc: dict[str, Any] = {"@context": CONTEXT, "@type": policy.kind, "profile": PROFILE}
    if policy.uid is not None:
        doc["uid"] = policy.uid
    doc["permission"] = [permission]
    if policy.no_onward_transfer:
        prohibition: dict[str, Any] = {"assigner": company_iri(policy.assigner), "action": "distribute"}
        doc["prohibition"] = [{"target": target, **prohibition} if target is not None else prohibition]
    return doc


def _payment_json(payment: Payment, assigner: int) -> dict[str, Any]:
    amount = {"@value": _decimal_text(payment.amount), "@type": "xsd:decimal"}
    if payment.model is PaymentModel.ROYALTY:
        size: dict[str, Any] = {"leftOperand": "percentage", "operator": "eq", "rightOperand": amount}
    else:
        size = {"leftOperand": "payAmount", "operator": "eq", "rightOperand": amount, "unit": KRW}
    model = {"leftOperand": "s365:paymentModel", "operator": "eq", "rightOperand": f"s365:{payment.model.value}"}
    action = {"rdf:value": {"@id": "odrl:compensate"}, "refinement": [model, size]}
    return {"action": [action], "compensatedParty": company_iri(assigner)}


#: The terms of this profile: actions, left operands, and the operators each left operand takes.
ACTIONS = {"use", "distribute", "delete", "attribute", "inform", "compensate"}
OPERATORS = {"eq", "gt", "gteq", "lt", "lteq", "neq", "isA", "hasPart", "isPartOf", "isAllOf", "isAnyOf", "isNoneOf"}
OPERATORS_OF = {
    "purpose": {"isAnyOf"},
    "dateTime": {"gteq", "lteq"},
    "count": {"lteq"},
    "elapsedTime": {"lteq"},
    "payAmount": {"eq"},
    "percentage": {"eq"},
    "s365:paymentModel": {"eq"},
}
PERMISSION_OPERANDS = {"purpose", "dateTime", "count"}


def _term(value: Any) -> Any:
    """``odrl:use`` and the full IRI read as ``use``; other values pass as they are."""
    if isinstance(value, dict) and set(value) == {"@id"}:
        value = value["@id"]
    if isinstance(value, str):
        for prefix in ("odrl:", ODRL_NS):
            if value.startswith(prefix):
                return value[len(prefix) :]
        if value.startswith(S365_NS):
            return "s365:" + value[len(S365_NS) :]
    return value


def _unknown(what: str, term: Any) -> PolicyError:
    return PolicyError(
        N_("This profile does not know the {what} '{term}'; the policy is refused."), what=what, term=str(term)
    )


def _only(obj: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in obj:
        if key not in allowed:
            raise PolicyError(
                N_("This profile does not know the key '{term}' in {where}; the policy is refused."),
                term=key,
                where=where,
            )


def _list(value: Any, where: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    raise PolicyError(N_("The policy's {where} must be a list."), where=where)


def _typed(value: Any, xsd: str, where: str) -> str:
    if isinstance(value, dict) and set(value) <= {"@value", "@type"} and _xsd(value.get("@type", xsd)) == xsd:
        value = value.get("@value")
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise PolicyError(N_("The value of {where} is not a valid {type}."), where=where, type=f"xsd:{xsd}")


def _xsd(kind: Any) -> Any:
    if isinstance(kind, str) and kind.startswith("http://www.w3.org/2001/XMLSchema#"):
        return kind.rsplit("#", 1)[1]
    return kind[4:] if isinstance(kind, str) and kind.startswith("xsd:") else kind


def _parse_moment(value: Any) -> datetime:
    text = _typed(value, "dateTime", "dateTime")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PolicyError(
            N_("The value of {where} is not a valid {type}."), where="dateTime", type="xsd:dateTime"
        ) from None
    if moment.tzinfo is None:
        raise PolicyError(N_("Policy times carry a time zone and are to the second."))
    return moment


def _parse_int(value: Any, xsd: str, where: str) -> int:
    text = _typed(value, xsd, where)
    if not text.lstrip("-").isdigit():
        raise PolicyError(N_("The value of {where} is not a valid {type}."), where=where, type=f"xsd:{xsd}")
    return int(text)


def _constraint(obj: Any, where: str) -> tuple[str, str, Any, Any]:
    """(left operand, operator, right operand, unit) of one constraint, each term known to the profile."""
    if not isinstance(obj, dict):
        raise PolicyError(N_("The policy's {where} must be a list."), where=where)
    _only(obj, {"leftOperand", "operator", "rightOperand", "unit"}, where)
    left, operator = _term(obj.get("leftOperand")), _term(obj.get("operator"))
    if left not in OPERATORS_OF:
        raise _unknown("leftOperand", left)
    if operator not in OPERATORS:
        raise _unknown("operator", operator)
    if operator not in OPERATORS_OF[left]:
        raise PolicyError(
            N_("This profile does not allow the operator '{operator}' on '{left}'; the policy is refused."),
            operator=str(operator), left=str(left),
        )  # fmt: skip
    if "rightOperand" not in obj:
        raise PolicyError(N_("A constraint on '{left}' needs a rightOperand."), left=str(left))
    return left, operator, obj["rightOperand"], obj.get("unit")


def from_jsonld(doc: Any) -> Policy:
    """A policy from ODRL 2.2 JSON-LD; anything outside the profile is refused with :class:`PolicyError`.

    >>> doc = to_jsonld(Policy(assigner=1, assignee=Assignee(AssigneeKind.CENTRE), purposes=(Purpose.BENCHMARK,)))
    >>> doc["permission"][0]["constraint"].append({"leftOperand": "spatial", "operator": "eq", "rightOperand": "KR"})
    >>> from_jsonld(doc)
    Traceback (most recent call last):
    ...
    smart365.collab.policy.PolicyError: This profile does not know the leftOperand 'spatial'; the policy is refused.
    """
    if not isinstance(doc, dict):
        raise PolicyError(N_("An ODRL policy is a JSON object."))
    _only(doc, {"@context", "@type", "uid", "profile", "permission", "prohibition"}, "policy")
    context = doc.get("@context")
    contexts = context if isinstance(context, list) else [context]
    if ODRL_CONTEXT not in contexts:
        raise PolicyError(N_("The policy's @context must include the ODRL context {context}."), context=ODRL_CONTEXT)
    for extra in contexts:
        if extra != ODRL_CONTEXT and extra != {"s365": S365_NS}:
            raise _unknown("@context", extra)
    kind = _term(doc.get("@type"))
    if kind not in ("Offer", "Agreement"):
        raise _unknown("@type", kind)
    if doc.get("profile", PROFILE) != PROFILE:
        raise _unknown("profile", doc.get("profile"))
    uid = doc.get("uid")
    if uid is not None and not isinstance(uid, str):
        raise PolicyError(N_("The policy's uid must be text."))
    permissions = _list(doc.get("permission"), "permission")
    if len(permissions) != 1:
        raise PolicyError(N_("A policy of this profile has exactly one permission."))
    permission = permissions[0]
    if not isinstance(permission, dict):
        raise PolicyError(N_("The policy's {where} must be a list."), where="permission")
    _only(permission, {"target", "assigner", "assignee", "action", "constraint", "duty"}, "permission")
    if (action := _term(permission.get("action"))) != "use":
        raise (
            _unknown("action", action)
            if action not in ACTIONS
            else PolicyError(
                N_("The permission's action is '{action}'; this profile permits only 'use'."), action=str(action)
            )
        )
    target = permission.get("target")
    if target is not None and not isinstance(target, str):
        raise PolicyError(N_("The policy's target must be an IRI."))
    assigner = _id_of(permission.get("assigner"), "urn:smart365:company:", "assigner")
    assignee = _assignee_of(permission.get("assignee"))
    fields: dict[str, Any] = {}
    for item in _list(permission.get("constraint", []), "constraint"):
        left, operator, right, _unit = _constraint(item, "constraint")
        if left not in PERMISSION_OPERANDS:
            raise PolicyError(N_("'{left}' is not a constraint of a permission in this profile."), left=str(left))
        if left == "purpose":
            values = right if isinstance(right, list) else [right]
            fields["purposes"] = tuple(_purpose(_term(v)) for v in values)
        elif left == "dateTime":
            fields["start" if operator == "gteq" else "end"] = _parse_moment(right)
        else:
            fields["max_uses"] = _parse_int(right, "integer", "count")
    if "purposes" not in fields:
        raise PolicyError(N_("A policy names at least one purpose."))
    for duty in _list(permission.get("duty", []), "duty"):
        _duty(duty, assigner, fields)
    no_onward = False
    for prohibition in _list(doc.get("prohibition", []), "prohibition"):
        if not isinstance(prohibition, dict):
            raise PolicyError(N_("The policy's {where} must be a list."), where="prohibition")
        _only(prohibition, {"target", "assigner", "action"}, "prohibition")
        if (action := _term(prohibition.get("action"))) != "distribute":
            raise _unknown("prohibition", action)
        no_onward = True
    return Policy(
        assigner=assigner, assignee=assignee, no_onward_transfer=no_onward, kind=kind, uid=uid, target=target, **fields
    )


def _purpose(value: Any) -> Purpose:
    name = value[5:] if isinstance(value, str) and value.startswith("s365:") else value
    try:
        return Purpose(name)
    except ValueError:
        raise _unknown("purpose", value) from None


def _duty(duty: Any, assigner: int, fields: dict[str, Any]) -> None:
    if not isinstance(duty, dict):
        raise PolicyError(N_("The policy's {where} must be a list."), where="duty")
    action = duty.get("action")
    if isinstance(action, list):  # an action with a refinement: only compensate takes one here
        if len(action) != 1 or not isinstance(action[0], dict):
            raise PolicyError(N_("A duty has one action."))
        _only(action[0], {"rdf:value", "refinement"}, "duty action")
        name = _term(action[0].get("rdf:value"))
        refinements = _list(action[0].get("refinement", []), "refinement")
    else:
        name, refinements = _term(action), []
    if name not in ACTIONS:
        raise _unknown("action", name)
    if name == "delete":
        _only(duty, {"action", "constraint"}, "duty")
        (constraint,) = _list(duty.get("constraint"), "constraint") or [None]
        left, _op, right, _unit = _constraint(constraint, "delete duty")
        period = _typed(right, "duration", "elapsedTime")
        if left != "elapsedTime" or not (period.startswith("P") and period.endswith("D") and period[1:-1].isdigit()):
            raise PolicyError(N_("The value of {where} is not a valid {type}."), where="elapsedTime", type="P<n>D")
        fields["delete_after_days"] = int(period[1:-1])
    elif name == "attribute":
        _only(duty, {"action"}, "duty")
        fields["attribution"] = True
    elif name == "inform":
        _only(duty, {"action", "informedParty"}, "duty")
        fields["notify_on_use"] = True
    elif name == "compensate":
        _only(duty, {"action", "compensatedParty"}, "duty")
        fields["payment"] = _payment(refinements)
    else:
        raise PolicyError(N_("'{action}' is not a duty in this profile."), action=str(name))


def _payment(refinements: Sequence[Any]) -> Payment:
    model: PaymentModel | None = None
    amount: Decimal | None = None
    is_royalty = False
    for item in refinements:
        left, _op, right, unit = _constraint(item, "compensate refinement")
        if left == "s365:paymentModel":
            name = _term(right)
            try:
                model = PaymentModel(str(name).removeprefix("s365:"))
            except ValueError:
                raise _unknown("payment model", name) from None
        elif left in ("payAmount", "percentage"):
            if left == "payAmount" and unit not in (None, KRW):
                raise _unknown("unit", unit)
            try:
                amount = Decimal(_typed(right, "decimal", left))
            except InvalidOperation:
                raise PolicyError(
                    N_("The value of {where} is not a valid {type}."), where=left, type="xsd:decimal"
                ) from None
            is_royalty = left == "percentage"
        else:
            raise PolicyError(N_("'{left}' is not a payment term in this profile."), left=str(left))
    if model is None or amount is None:
        raise PolicyError(N_("A payment names its model and its amount."))
    if (model is PaymentModel.ROYALTY) != is_royalty:
        raise PolicyError(N_("A royalty is stated as a percentage, the other payments as an amount in won."))
    return Payment(model, amount)


# -- the form -----------------------------------------------------------------------------------------------

Form = Mapping[str, "str | Sequence[str]"]
FORM_TIME = "%Y-%m-%dT%H:%M:%S"


def to_form(policy: Policy) -> dict[str, str | list[str]]:
    """The offer page's policy fields (a checkbox present is ``"on"``; times in Korean time).

    >>> to_form(Policy(assigner=1, assignee=Assignee(AssigneeKind.GROUP, (4, 2)), purposes=(Purpose.BENCHMARK,)))
    {'assignee_kind': 'group', 'group': ['2', '4'], 'purpose': ['benchmark'], 'no_onward': 'on'}
    """
    form: dict[str, str | list[str]] = {"assignee_kind": policy.assignee.kind.value}
    if policy.assignee.kind is AssigneeKind.PARTNER:
        form["partner"] = str(policy.assignee.ids[0])
    elif policy.assignee.kind is AssigneeKind.GROUP:
        form["group"] = [str(i) for i in policy.assignee.ids]
    form["purpose"] = [p.value for p in policy.purposes]
    for key, moment in (("start", policy.start), ("end", policy.end)):
        if moment is not None:
            form[key] = moment.astimezone(SEOUL).strftime(FORM_TIME)
    if policy.max_uses is not None:
        form["max_uses"] = str(policy.max_uses)
    if policy.no_onward_transfer:
        form["no_onward"] = "on"
    if policy.delete_after_days is not None:
        form["delete_after_days"] = str(policy.delete_after_days)
    if policy.attribution:
        form["attribution"] = "on"
    if policy.notify_on_use:
        form["notify"] = "on"
    if policy.payment is not None:
        form["payment_model"] = policy.payment.model.value
        form["payment_amount"] = _decimal_text(policy.payment.amount)
    return form


def _one(form: Form, key: str) -> str:
    value = form.get(key, "")
    if not isinstance(value, str):
        value = value[-1] if value else ""
    return value.strip()


def _many(form: Form, key: str) -> list[str]:
    value = form.get(key, [])
    values = [value] if isinstance(value, str) else list(value)
    return [v.strip() for v in values if v.strip()]


def _whole(form: Form, key: str, label: str) -> int | None:
    text = _one(form, key)
    if not text:
        return None
    if not text.isdigit():
        raise PolicyError(N_("{field} must be a whole number."), field=gettext(label))
    return int(text)


def from_form(form: Form, *, assigner: int, kind: PolicyKind = "Offer", uid: str | None = None,
              target: str | None = None) -> Policy:  # fmt: skip
    """The policy the form's fields state; a bad field is refused with its reason.

    >>> from_form({"assignee_kind": "centre", "purpose": ["quality"], "max_uses": "3"}, assigner=1).max_uses
    3
    >>> from_form({"assignee_kind": "centre", "purpose": ["mining"]}, assigner=1)
    Traceback (most recent call last):
    ...
    smart365.collab.policy.PolicyError: This profile does not know the purpose 'mining'; the policy is refused.
    """
    try:
        kind_of = AssigneeKind(_one(form, "assignee_kind"))
    except ValueError:
        raise _unknown("assignee", _one(form, "assignee_kind")) from None
    ids: tuple[int, ...] = ()
    if kind_of is AssigneeKind.PARTNER:
        partner = _whole(form, "partner", N_("Partner"))
        if partner is None:
            raise PolicyError(N_("Choose the partner who may use the data."))
        ids = (partner,)
    elif kind_of is AssigneeKind.GROUP:
        texts = _many(form, "group")
        if not all(t.isdigit() for t in texts):
            raise PolicyError(N_("{field} must be a whole number."), field=gettext(N_("Firms of the group")))
        ids = tuple(int(t) for t in texts)
    purposes = tuple(_purpose(p) for p in _many(form, "purpose"))
    times: dict[str, datetime | None] = {}
    for key in ("start", "end"):
        text = _one(form, key)
        if not text:
            times[key] = None
            continue
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise PolicyError(N_("{field} is not a date and time."), field=key) from None
        times[key] = (moment if moment.tzinfo else moment.replace(tzinfo=SEOUL)).replace(microsecond=0)
    payment = None
    if model_text := _one(form, "payment_model"):
        try:
            model = PaymentModel(model_text)
        except ValueError:
            raise _unknown("payment model", model_text) from None
        try:
            payment = Payment(model, Decimal(_one(form, "payment_amount").replace(",", "")))
        except InvalidOperation:
            raise PolicyError(N_("A payment amount must be more than zero.")) from None
    return Policy(
        assigner=assigner,
        assignee=Assignee(kind_of, ids),
        purposes=purposes,
        start=times["start"],
        end=times["end"],
        max_uses=_whole(form, "max_uses", N_("Number of uses")),
        no_onward_transfer=_one(form, "no_onward") == "on",
        delete_after_days=_whole(form, "delete_after_days", N_("Delete after (days)")),
        attribution=_one(form, "attribution") == "on",
        notify_on_use=_one(form, "notify") == "on",
        payment=payment,
        kind=kind,
        uid=uid,
        target=target,
    )


# -- reading it in words --------------------------------------------------------------------------------------


def _when(moment: datetime) -> str:
    return moment.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M")


def _won(amount: Decimal) -> str:
    return f"{amount.normalize():,f}"


def describe(policy: Policy, name: Callable[[str], str] = str) -> list[str]:
    """The policy in plain words, a sentence a term, in the current language; ``name`` turns a party IRI into
    the name people know it by.

    >>> p = Policy(assigner=1, assignee=Assignee(AssigneeKind.CENTRE), purposes=(Purpose.BENCHMARK,), max_uses=5,
    ...            payment=Payment(PaymentModel.METERED, Decimal("50000")))
    >>> print("\\n".join(describe(p, {"urn:smart365:company:1": "(주)한빛정밀"}.get)))
    (주)한빛정밀의 데이터를 스마트365 센터만 쓸 수 있습니다.
    목적: 벤치마킹에 한해 씁니다.
    최대 5회 쓸 수 있습니다.
    받은 데이터를 다른 곳에 다시 제공할 수 없습니다.
    대가: 종량제, 한 번 받을 때마다 50,000원 (정산은 플랫폼 밖에서 합니다).
    """
    assigner = name(company_iri(policy.assigner)) or company_iri(policy.assigner)
    if policy.assignee.kind is AssigneeKind.CENTRE:
        who = gettext(N_("the Smart365 centre"))
    elif policy.assignee.kind is AssigneeKind.PARTNER:
        who = name(partner_iri(policy.assignee.ids[0])) or partner_iri(policy.assignee.ids[0])
    else:
        names = [name(company_iri(i)) or company_iri(i) for i in policy.assignee.ids]
        who = gettext(N_("the firms of the group ({firms})")).format(firms=", ".join(names))
    lines = [gettext(N_("Only {who} may use the data of {assigner}.")).format(who=who, assigner=assigner)]
    purposes = ", ".join(gettext(PURPOSE_LABELS[p]) for p in policy.purposes)
    lines.append(gettext(N_("Purpose: for {purposes} only.")).format(purposes=purposes))
    if policy.start is not None and policy.end is not None:
        lines.append(
            gettext(N_("From {start} to {end} (Korean time).")).format(start=_when(policy.start), end=_when(policy.end))
        )
    elif policy.start is not None:
        lines.append(gettext(N_("From {start} (Korean time), with no end.")).format(start=_when(policy.start)))
    elif policy.end is not None:
        lines.append(gettext(N_("Until {end} (Korean time).")).format(end=_when(policy.end)))
    if policy.max_uses is not None:
        lines.append(gettext(N_("At most {n} uses.")).format(n=policy.max_uses))
    return lines + duties(policy, name)


def duties(policy: Policy, name: Callable[[str], str] = str) -> list[str]:
    """What the data user must do or not do, in words: the obligations part of :func:`describe`.

    >>> duties(Policy(assigner=1, assignee=Assignee(AssigneeKind.CENTRE), purposes=(Purpose.QUALITY,)))
    ['받은 데이터를 다른 곳에 다시 제공할 수 없습니다.']
    """
    assigner = name(company_iri(policy.assigner)) or company_iri(policy.assigner)
    lines: list[str] = []
    if policy.no_onward_transfer:
        lines.append(gettext(N_("The data received may not be passed on to anyone else.")))
    if policy.delete_after_days is not None:
        lines.append(
            gettext(N_("The data received must be deleted within {n} days.")).format(n=policy.delete_after_days)
        )
    if policy.attribution:
        lines.append(gettext(N_("Every use must name {assigner} as the source.")).format(assigner=assigner))
    if policy.notify_on_use:
        lines.append(gettext(N_("{assigner} is told of every use.")).format(assigner=assigner))
    if (payment := policy.payment) is not None:
        terms = {
            PaymentModel.FIXED: N_("Payment: fixed fee, {amount} won a month (settled outside the platform)."),
            PaymentModel.METERED: N_("Payment: metered, {amount} won for each pull (settled outside the platform)."),
            PaymentModel.LUMP_SUM: N_("Payment: lump sum of {amount} won (settled outside the platform)."),
            PaymentModel.ROYALTY: N_(
                "Payment: royalty of {amount}% of what the use earns (settled outside the platform)."
            ),
        }
        lines.append(gettext(terms[payment.model]).format(amount=_won(payment.amount)))
    return lines


# -- evaluation ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requester:
    """Who asks to use the data: a role (``data_partner``, ``company_member``, ``centre_admin``, ``consultant``),
    the user and the user's firm."""

    role: str
    user_id: int | None
    company_id: int | None


@dataclass(frozen=True)
class UseRequest:
    who: Requester
    purpose: Purpose
    now: datetime
    uses_so_far: int


@dataclass(frozen=True)
class Decision:
    """Allowed or not, and why (a msgid and its values)."""

    allowed: bool
    reason: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return gettext(self.reason).format(**self.params)


def may_see(assignee: Assignee, who: Requester) -> bool:
    """Whether ``who`` is among the parties ``assignee`` names.

    >>> may_see(Assignee(AssigneeKind.GROUP, (2, 3)), Requester("company_member", 9, 3))
    True
    """
    if assignee.kind is AssigneeKind.PARTNER:
        return who.role == "data_partner" and who.user_id == assignee.ids[0]
    if assignee.kind is AssigneeKind.GROUP:
        return who.role == "company_member" and who.company_id in assignee.ids
    return who.role in ("centre_admin", "consultant")


def evaluate(policy: Policy, request: UseRequest) -> Decision:
    """Whether the policy allows this use now: the party, the purpose, the time window and the count."""
    if not may_see(policy.assignee, request.who):
        return Decision(False, N_("The policy does not name you as a party that may use this data."))
    if request.purpose not in policy.purposes:
        label = gettext(PURPOSE_LABELS.get(request.purpose, request.purpose))
        return Decision(False, N_("The purpose '{purpose}' is not one the policy allows."), {"purpose": label})
    if policy.start is not None and request.now < policy.start:
        return Decision(False, N_("The policy's time window opens at {start}."), {"start": _when(policy.start)})
    if policy.end is not None and request.now > policy.end:
        return Decision(False, N_("The policy's time window closed at {end}."), {"end": _when(policy.end)})
    if policy.max_uses is not None and request.uses_so_far >= policy.max_uses:
        return Decision(False, N_("All {limit} uses the policy allows have been made."), {"limit": policy.max_uses})
    return Decision(True, N_("Allowed by the agreement."))


def delete_by(policy: Policy, received: datetime) -> datetime | None:
    """When data received at ``received`` must be deleted, if the policy says.

    >>> centre = Assignee(AssigneeKind.CENTRE)
    >>> p = Policy(assigner=1, assignee=centre, purposes=(Purpose.QUALITY,), delete_after_days=30)
    >>> delete_by(p, datetime(2026, 1, 1, tzinfo=SEOUL)).date()
    datetime.date(2026, 1, 31)
    """
    return None if policy.delete_after_days is None else received + timedelta(days=policy.delete_after_days)
