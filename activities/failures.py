"""The errors the case's activities raise, by the type names the workflow and operators see.

A non-retryable error is final for the activity (Temporal does not try again); the others are
retried by the activity's retry policy, or sooner where the provider said when.
"""

from __future__ import annotations

import functools
from datetime import timedelta

from temporalio.exceptions import ApplicationError

import contracts
from domain.errors import InvalidInput
from domain.policy import Policy
from policies import load_policy

NOTIFICATION_REJECTED = "NotificationRejected"
NOTIFICATION_UNAVAILABLE = "NotificationUnavailable"
INVALID_CONTACT = "InvalidContact"
CASE_NOT_FOUND = "CaseNotFound"
INVALID_POLICY_FILE = "InvalidPolicyFile"


def invalid_case(field: str, problem: str) -> ApplicationError:
    return ApplicationError(f"{field}: {problem}", type=contracts.INVALID_CASE, non_retryable=True)


def case_not_found(case_id: str) -> ApplicationError:
    return ApplicationError(
        f"case_id: no prepared case {case_id!r}", type=CASE_NOT_FOUND, non_retryable=True
    )


def rejected(message: str) -> ApplicationError:
    """A provider's final refusal: a retry would be refused the same way."""
    return ApplicationError(message, type=NOTIFICATION_REJECTED, non_retryable=True)


def unavailable(message: str, *, retry_in: timedelta | None) -> ApplicationError:
    """A provider that failed us for now; `retry_in` is when to try again (None: the retry
    policy's backoff)."""
    return ApplicationError(message, type=NOTIFICATION_UNAVAILABLE, next_retry_delay=retry_in)


@functools.lru_cache(maxsize=64)
def policy_named(name: str) -> Policy:
    """The named policy, read once per process (a broken file is read again on the retry)."""
    try:
        return load_policy(name)
    except InvalidInput as error:
        if error.field == "policy":
            raise invalid_case("policy", error.problem) from None
        # A broken policy file is the operator's to fix; retrying picks up the fixed file.
        raise ApplicationError(str(error), type=INVALID_POLICY_FILE) from None
