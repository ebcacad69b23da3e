"""A case's start input: from flags or a JSON file, validated, and started as a workflow."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from caseclient.messages import workflow_id
from cli.arguments import ClientFactory, CommandSet
from cli.console import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK, err, out
from domain.case import DEFAULT_POLICY, CaseInput, parse_case_input
from domain.clock import bucket, calendar_days_past_due
from domain.debt import COMPONENTS, OPENING_COMPONENTS
from domain.errors import InvalidInput
from domain.money import format_money
from domain.policy import Policy
from policies import load_policy
from runtime import settings
from workflows import search_attributes as sa

WORKFLOW_TYPE = "CollectionCase"
# `open`'s flags of the debt's parts and of the loan's terms: (flag's dest, key in the table).
PART_FLAGS = tuple((component, f"{component}_minor") for component in OPENING_COMPONENTS)
TERM_FLAGS = (
    ("penalty_rate_bps", "penalty_rate_bps_per_day"),
    ("fees_authorized", "fees_authorized"),
)
# The start input's fields these flags fill, and the flags an error in each names.
FLAGS_OF_FIELD: dict[str, tuple[str, ...]] = {
    "balance": tuple(dest for dest, _ in PART_FLAGS),
    **{f"balance.{key}": (dest,) for dest, key in PART_FLAGS},
    **{f"terms.{key}": (dest,) for dest, key in TERM_FLAGS},
    "segment": ("segment",),
}


_POLICY_CACHE: dict[str, Policy] = {}


def policy_named(name: str) -> Policy:
    """The policy `name`, loaded once per process (raises `InvalidInput` for an unknown one)."""
    if name not in _POLICY_CACHE:
        _POLICY_CACHE[name] = load_policy(name)
    return _POLICY_CACHE[name]


def validate_case(raw: Any, *, now: datetime) -> tuple[CaseInput, Policy]:
    """The contract's checks plus a known policy; raises `InvalidInput` naming the field."""
    case = parse_case_input(raw, now=now)
    return case, policy_named(case.policy)


def case_payload(case: CaseInput) -> dict[str, Any]:
    """The start argument: the validated case as a plain JSON object, empty fields left out
    (a case without parts, terms or segment starts as it did before debts had parts)."""
    data = {k: v for k, v in asdict(case).items() if v is not None}
    # A case without a policy of its own is routed when the worker prepares it.
    if not data.pop("policy_given"):
        del data["policy"]
    data["borrower"] = {k: v for k, v in data["borrower"].items() if v is not None}
    if case.balance is not None:
        # The opening parts only: penalty is what the case accrues, never a start input.
        data["balance"] = {f"{c}_minor": case.balance.of(c) for c in OPENING_COMPONENTS}
    return data


def masked_id(identifier: str) -> str:
    """An id cut to its last 4 characters (`B-100077` -> `…0077`): enough for an operator to
    tell borrowers apart on a page, without repeating an id that may be more than a number."""
    return identifier if len(identifier) <= 4 else f"…{identifier[-4:]}"


def static_summary(case: CaseInput) -> str:
    """The case's line in the Temporal UI (ids, amount and policy only: no personal data)."""
    amount = format_money(case.overdue_amount_minor, case.currency)
    return (
        f"Loan {case.loan_id} · {amount} overdue · "
        f"borrower {masked_id(case.borrower.borrower_id)} · policy {_policy_shown(case)}"
    )


def _policy_shown(case: CaseInput) -> str:
    return case.policy if case.policy_given else "chosen by routing"


def static_details(case: CaseInput, policy: Policy, *, now: datetime) -> str:
    """The UI's "details" of the case's start, in markdown; what changes later (stage, DPD,
    balance, contacts, next action) is the case's own current details."""
    timezone = case.borrower.timezone or policy.default_timezone
    days_past_due = calendar_days_past_due(case.due, now, timezone)
    lines = [
        f"**Loan** {case.loan_id} · **borrower** {masked_id(case.borrower.borrower_id)}",
        f"**Overdue** {format_money(case.overdue_amount_minor, case.currency)}, due "
        f"{case.due.isoformat()} (DPD {days_past_due} at opening, {bucket(days_past_due)})",
        f"**Policy** {_policy_shown(case)} · **portfolio** {case.portfolio}",
        *_debt_lines(case),
        f"Stage, balance, contacts and next action: `starter.py status {case.loan_id}`",
    ]
    return "\n".join(f"- {line}" for line in lines)


def _debt_lines(case: CaseInput) -> list[str]:
    """The opening parts, where the debt has more than principal, and the loan's terms."""
    lines: list[str] = []
    parts = case.opening_parts
    if parts.total_minor != parts.principal_minor:
        listed = [
            f"{component} {format_money(parts.of(component), case.currency)}"
            for component in COMPONENTS
            if parts.of(component)
        ]
        lines.append(f"**By part** {' · '.join(listed)}")
    terms = case.terms
    if terms is not None:
        bps = terms.penalty_rate_bps_per_day
        rate = "the policy's" if bps is None else f"{bps} bps/day"
        authorised = "yes" if terms.fees_authorized else "no"
        lines.append(f"**Terms** penalty rate {rate}; fees and penalty authorised: {authorised}")
    return lines


def initial_search_attributes(
    case: CaseInput, policy: Policy, *, now: datetime
) -> TypedSearchAttributes:
    """Ids, amounts and classifications only: no personal data.

    No days past due: it would go stale the next day; `DueDate` is what operators query
    (`starter.py list --min-dpd 30`). The bucket is the case's from the start and the
    workflow moves it at each bucket boundary.
    """
    due = case.due
    timezone = case.borrower.timezone or policy.default_timezone
    days_past_due = calendar_days_past_due(due, now, timezone)
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.STAGE, "preparation"),
            SearchAttributePair(sa.STATUS, "active"),
            SearchAttributePair(sa.PORTFOLIO, case.portfolio),
            SearchAttributePair(sa.LOAN_ID, case.loan_id),
            SearchAttributePair(sa.OUTSTANDING_MINOR, case.overdue_amount_minor),
            SearchAttributePair(sa.DUE_DATE, datetime(due.year, due.month, due.day, tzinfo=UTC)),
            SearchAttributePair(sa.BUCKET, bucket(days_past_due)),
            # A routed case's policy is known once the worker prepares it, which sets it then.
            *([SearchAttributePair(sa.POLICY, case.policy)] if case.policy_given else []),
        ]
    )


OpenOutcome = Literal["opened", "already_open", "closed"]


@dataclass(frozen=True)
class OpenResult:
    loan_id: str
    workflow_id: str
    outcome: OpenOutcome
    run_id: str | None = None

    def describe(self) -> str:
        if self.outcome == "opened":
            return f"{self.loan_id}: opened case {self.workflow_id}"
        if self.outcome == "already_open":
            return f"{self.loan_id}: case {self.workflow_id} is already open (existing case kept)"
        return f"{self.loan_id}: case {self.workflow_id} is closed; it is not reopened"


async def open_case(client: Client, raw: Mapping[str, Any], *, now: datetime) -> OpenResult:
    """Validate `raw` and start its case; a second start of an open case returns the open one.

    Raises `InvalidInput` (nothing started) for a bad case. A loan whose case completed
    successfully is not reopened (`outcome == "closed"`); a failed one may be.
    """
    case, policy = validate_case(raw, now=now)
    wf_id = workflow_id(case.loan_id)
    try:
        handle = await client.start_workflow(
            WORKFLOW_TYPE,
            case_payload(case),
            id=wf_id,
            task_queue=settings.task_queue(),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            static_summary=static_summary(case),
            static_details=static_details(case, policy, now=now),
            memo={"currency": case.currency},
            search_attributes=initial_search_attributes(case, policy, now=now),
        )
    except WorkflowAlreadyStartedError as error:
        return OpenResult(case.loan_id, wf_id, "closed", error.run_id)
    # With USE_EXISTING the server answers `started = false` when it kept a running case.
    response = getattr(handle, "_start_workflow_response", None)
    started = bool(getattr(response, "started", True))
    return OpenResult(
        case.loan_id, wf_id, "opened" if started else "already_open", handle.result_run_id
    )


def case_from_flags(
    args: argparse.Namespace, base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The start input from `open`'s flags, over the `--file` object if one was given."""
    raw: dict[str, Any] = dict(base or {})
    borrower: dict[str, Any] = dict(raw.get("borrower") or {})
    _copy_given(
        args,
        borrower,
        (
            ("borrower_id", "borrower_id"),
            ("name", "name"),
            ("phone", "phone"),
            ("email", "email"),
            ("address", "address"),
            ("timezone", "timezone"),
            ("locale", "locale"),
        ),
    )
    if borrower or "borrower" in raw:
        raw["borrower"] = borrower
    _copy_given(
        args,
        raw,
        (
            ("loan_id", "loan_id"),
            ("currency", "currency"),
            ("amount_minor", "overdue_amount_minor"),
            ("due_date", "due_date"),
            ("policy", "policy"),
            ("portfolio", "portfolio"),
            ("segment", "segment"),
        ),
    )
    _copy_table(args, raw, "balance", PART_FLAGS)
    _copy_table(args, raw, "terms", TERM_FLAGS)
    return raw


def _copy_table(
    args: argparse.Namespace,
    raw: dict[str, Any],
    key: str,
    keys_by_flag: tuple[tuple[str, str], ...],
) -> None:
    """The flags given, into the table `raw[key]` over what the file holds there."""
    given: dict[str, Any] = {}
    _copy_given(args, given, keys_by_flag)
    if given:
        base = raw.get(key)
        raw[key] = {**(base if isinstance(base, Mapping) else {}), **given}


def flagged_field(field: str, args: argparse.Namespace) -> str:
    """`field`, with the flags that gave it (`balance (--principal, --interest)`), if any."""
    given = [
        dest for dest in FLAGS_OF_FIELD.get(field, ()) if getattr(args, dest, None) is not None
    ]
    if not given:
        return field
    return f"{field} ({', '.join('--' + dest.replace('_', '-') for dest in given)})"


def _copy_given(
    args: argparse.Namespace, into: dict[str, Any], keys_by_flag: tuple[tuple[str, str], ...]
) -> None:
    """Each flag given on the command line, under its key: flags left out keep the file's."""
    for flag, key in keys_by_flag:
        value = getattr(args, flag, None)
        if value is not None:
            into[key] = value


def load_case_file(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInput("file", f"cannot read {path}: {error.strerror or error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidInput("file", f"{path} is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput("file", f"{path} must hold one JSON object")
    return data


async def cmd_open(args: argparse.Namespace, connect: ClientFactory) -> int:
    now = datetime.now(UTC)
    try:
        raw = case_from_flags(args, load_case_file(args.file) if args.file else None)
        validate_case(raw, now=now)
    except InvalidInput as error:
        err(f"invalid case: {flagged_field(error.field, args)}: {error.problem}")
        return EXIT_BAD_INPUT
    result = await open_case(await connect(), raw, now=now)
    out(result.describe())
    return EXIT_ERROR if result.outcome == "closed" else EXIT_OK


def register(commands: CommandSet) -> None:
    p = commands.add(
        "open", cmd_open, "Open a collection case (returns the open one if it exists)."
    )
    p.add_argument("--file", help="the case as a JSON object (CaseInput); flags override it")
    p.add_argument("--loan-id")
    p.add_argument("--borrower-id")
    p.add_argument("--name")
    p.add_argument("--phone", help="E.164, e.g. +8613800138000")
    p.add_argument("--email")
    p.add_argument("--address")
    p.add_argument("--timezone", help="IANA name; default: the policy's")
    p.add_argument("--locale", help="zh-CN (default) or en")
    p.add_argument("--currency", help="ISO 4217, e.g. CNY")
    p.add_argument("--amount-minor", type=int, help="overdue amount in minor units (fen/cents)")
    p.add_argument("--due-date", help="YYYY-MM-DD, not after today")
    p.add_argument("--policy", help=f"policy name (default: {DEFAULT_POLICY})")
    p.add_argument("--portfolio")
    p.add_argument("--segment", help="the lender's grouping of the borrower (for routing)")
    for component, _ in PART_FLAGS:
        p.add_argument(
            f"--{component}",
            type=int,
            metavar="MINOR",
            help=f"the {component} part of the overdue amount",
        )
    p.add_argument(
        "--penalty-rate-bps",
        type=int,
        metavar="BPS",
        help="the loan's penalty rate, basis points of the principal a day (default: the policy's)",
    )
    p.add_argument(
        "--fees-authorized",
        action=argparse.BooleanOptionalAction,
        help="whether the loan contract authorises fees and penalty",
    )
    p.epilog = (
        "--principal, --interest and --fees: any given must sum, with the others as 0, to "
        "--amount-minor; without them all of it is principal."
    )
