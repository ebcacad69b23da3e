"""Sending: a notice (SMS, email, letter) through the outbox, at most once to the borrower.

The outbox row is written (under the borrower's caps) before anything leaves; each send is
counted on the row before its HTTP call, and a try that finds one counted asks the provider
whether the message arrived before it sends again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

import contracts
from activities import metrics
from activities.borrower_channels import blocking_rule, mark
from activities.contacting import Contacting, deferral, log_attempt
from activities.failures import INVALID_CONTACT, policy_named, rejected, unavailable
from activities.notify import Delivery, DeliveryRejected, DeliveryUnavailable, OutboundMessage
from activities.outbox import SENDABLE, attempt_row, contact_detail, notice_body, result_of
from activities.portal_links import LinkKeys, make_link, new_link, stored_link_of_attempt
from activities.providers.base import PROVIDER_REJECTION
from contracts import ContactRequest, ContactResult
from domain.channels import NOTICE_CHANNELS
from migrations.portal_tables import PortalLinkRow
from migrations.tables import BorrowerRow, CaseRow, ContactAttemptRow, utc_iso

# What is left of a Retry-After that the activity waits out by its own retry, not by deferring.
PROVIDER_WAIT_RETRIED = timedelta(seconds=2)

log = activity.logger


@dataclass(frozen=True)
class NoticeLink:
    """The link a notice carries, and its row when it is new: written in the transaction that
    writes the notice's outbox row, not in one of its own."""

    url: str
    unwritten: tuple[PortalLinkRow, ...] = ()


class NoticeSending(Contacting):
    @activity.defn(name=contracts.SEND_NOTICE)
    def send_notice(self, request: ContactRequest) -> ContactResult:
        if request.channel not in NOTICE_CHANNELS:
            raise ApplicationError(
                f"channel: send_notice cannot use {request.channel!r}",
                type=INVALID_CONTACT,
                non_retryable=True,
            )
        row, case, borrower = self._contact_facts(request)
        if row is not None and row.status not in SENDABLE:
            return result_of(row)
        link = self._portal_link(request, case, borrower, new_attempt=row is None)
        body = notice_body(request, borrower, case, link.url)
        if row is None:
            return self._send_new(request, case, borrower, link, body)
        if row.status in SENDABLE:
            assert borrower is not None  # without the borrower's row the attempt is skipped
            return self._send(row, borrower, body)
        return result_of(row)

    def _send_new(
        self,
        request: ContactRequest,
        case: CaseRow | None,
        borrower: BorrowerRow | None,
        link: NoticeLink,
        body: str,
    ) -> ContactResult:
        """The first try of an attempt: its outbox row written under the caps (with its link
        and the case's records), then sent. A notice no rule blocks is written with this
        try's send already counted: the same transaction, and a try after a crash from there
        on asks the provider before it sends."""
        recipient = contact_detail(request.channel, borrower)
        rule = (
            None
            if recipient is None or borrower is None
            else blocking_rule(self.store, borrower.borrower_id, request.channel, recipient)
        )
        attempt = attempt_row(
            request, recipient=recipient, status="pending" if recipient else "skipped", body=body
        )
        counted = recipient is not None and rule is None
        if counted:
            attempt.send_tries = 1
            attempt.send_started_at = utc_iso()
        reserved = self._reserve(request, case, attempt, *link.unwritten)
        if isinstance(reserved, ContactResult):
            return reserved
        row = reserved.row
        if row.body != body:
            # A concurrent try of this attempt wrote it first, with the link it made: the
            # notice carries that one.
            keys = LinkKeys.from_env(self.store)
            body = notice_body(request, borrower, case, self._stored_link(request, keys) or "")
        if row.status not in SENDABLE:
            return result_of(row)
        assert borrower is not None  # without the borrower's row the attempt is skipped
        if reserved.new and counted:
            return result_of(self._deliver(row, borrower.borrower_id, counted=True))
        return self._send(row, borrower, body)

    def _portal_link(
        self,
        request: ContactRequest,
        case: CaseRow | None,
        borrower: BorrowerRow | None,
        *,
        new_attempt: bool,
    ) -> NoticeLink:
        """The borrower's signed link for this notice: made once per attempt (a retry renders
        the same link), valid for the policy's `[portal] link_days` from the case's moment of
        the contact. None is made for a notice that cannot be sent. A new attempt's link is
        written with its outbox row."""
        if case is None or contact_detail(request.channel, borrower) is None:
            return NoticeLink("")
        keys = LinkKeys.from_env(self.store)
        # Looked for even when the attempt is new: a try of an earlier version wrote the link
        # of an attempt it then deferred, and an attempt has one link.
        stored = self._stored_link(request, keys)
        if stored is not None:
            return NoticeLink(stored)
        at = datetime.fromisoformat(request.scheduled_at)
        days = policy_named(case.policy).portal_link_days
        if not new_attempt:
            # An attempt written before its notices carried links gets one now.
            url = make_link(self.store, keys, case, at=at, days=days, attempt_id=request.attempt_id)
            return NoticeLink(url)
        row = new_link(case, at=at, days=days, attempt_id=request.attempt_id)
        return NoticeLink(keys.url(row.link_id), (row,))

    def _stored_link(self, request: ContactRequest, keys: LinkKeys) -> str | None:
        """The link written for this attempt, if there is one."""
        found = stored_link_of_attempt(self.store, request.attempt_id)
        return None if found is None else keys.url(found.link_id)

    def _send(self, row: ContactAttemptRow, borrower: BorrowerRow, body: str) -> ContactResult:
        """Send the pending row unless a rule blocks it or the provider's Retry-After runs."""
        # Checked before every try, so a STOP that arrives between retries is honoured.
        rule = blocking_rule(self.store, borrower.borrower_id, row.channel, row.recipient)
        if rule is not None:
            updated = self._update_attempt(row, status="blocked", result="blocked", note=rule)
            log_attempt(updated, "blocked (%s)", rule)
            return result_of(updated)
        held = _held_by_provider(row)
        if held is not None:
            return held
        if row.body != body:
            # The step was decided again (a payment changed the amount): the message
            # states the amount when it is sent, under the same idempotency key.
            row = self.store.update(ContactAttemptRow, row.attempt_id, body=body) or row
        return result_of(self._deliver(row, borrower.borrower_id))

    def _deliver(
        self, row: ContactAttemptRow, borrower_id: str, *, counted: bool = False
    ) -> ContactAttemptRow:
        """Send a pending outbox row, at most once to the borrower.

        Every send is counted on the row before its HTTP call. A try that finds one counted
        cannot know whether it reached the provider (the worker died, the answer was lost), so
        it asks the provider first (`Notifier.find_sent`: by the idempotency key, or by a
        marker the message carries where the provider takes no key), marks the attempt sent
        if the provider has it, and sends only if it has not. A lookup that fails is retried
        later: nothing is sent blind. `counted`: this try wrote the row with its send counted
        (see `_send_new`), so there is nothing to ask and nothing more to count."""
        assert row.recipient is not None and row.body is not None
        message = OutboundMessage(
            idempotency_key=row.attempt_id, channel=row.channel, to=row.recipient, body=row.body
        )
        if not counted:
            if row.send_tries > 0:
                since = datetime.fromisoformat(row.send_started_at or row.created_at)
                try:
                    earlier = self.notifier.find_sent(message, since=since)
                except DeliveryUnavailable as error:
                    raise self._unavailable(row, error) from error
                if earlier is not None:
                    return self._sent(row, earlier, found_earlier=True)
            self.store.update(
                ContactAttemptRow,
                row.attempt_id,
                send_tries=row.send_tries + 1,
                send_started_at=row.send_started_at or utc_iso(),
            )
        try:
            delivery = self.notifier.deliver(message)
        except DeliveryRejected as error:
            raise self._refused(row, error, borrower_id) from None
        except DeliveryUnavailable as error:
            raise self._unavailable(row, error) from error
        return self._sent(row, delivery, found_earlier=False)

    def _refused(
        self, row: ContactAttemptRow, error: DeliveryRejected, borrower_id: str
    ) -> ApplicationError:
        """Record the provider's final refusal (and the recipient's state it reported); the
        error that ends the activity."""
        if error.recipient_state is not None:
            # Before the attempt is marked failed: a retry after a crash here finds the
            # attempt still pending and marks the channel again (idempotently).
            mark(
                self.store,
                borrower_id,
                row.channel,
                error.recipient_state,
                row.recipient,
                source=PROVIDER_REJECTION,
                reason=f"{row.attempt_id}: {error}",
            )
        self.store.update(
            ContactAttemptRow, row.attempt_id, status="failed", result="failed", note=str(error)
        )
        metrics.observe_contact(row.channel, "failed")
        log.warning(
            "notice rejected by provider (HTTP %s, channel %s): loan_id=%s case_id=%s "
            "attempt_id=%s",
            error.status_code,
            error.recipient_state or "left open",
            row.loan_id,
            row.case_id,
            row.attempt_id,
        )
        return rejected(f"{row.channel} provider rejected the message (HTTP {error.status_code})")

    def _unavailable(self, row: ContactAttemptRow, error: DeliveryUnavailable) -> ApplicationError:
        """The retryable error for a provider that failed us for now. Its Retry-After is kept
        on the row as well, so that no start of this attempt calls it sooner."""
        if error.retry_after is not None:
            not_before = datetime.now(UTC) + error.retry_after
            self.store.update(
                ContactAttemptRow, row.attempt_id, provider_not_before=utc_iso(not_before)
            )
        # The provider's Retry-After, if it gave one; otherwise the retry policy's backoff.
        return unavailable(
            f"{row.channel} provider unavailable: {error}", retry_in=error.retry_after
        )

    def _sent(
        self, row: ContactAttemptRow, delivery: Delivery, *, found_earlier: bool
    ) -> ContactAttemptRow:
        updated = self._update_attempt(
            row, status="sent", result="sent", provider_ref=delivery.provider_ref, sent_at=utc_iso()
        )
        log_attempt(
            row,
            "%s via %s",
            "found sent by an earlier try, not sent again," if found_earlier else "sent",
            delivery.via,
        )
        return updated


def _held_by_provider(row: ContactAttemptRow) -> ContactResult | None:
    """The deferred answer while the provider's Retry-After runs: a step decided again
    (a payment arrived during the wait) starts the activity anew at once, and must not
    call the provider before the moment it asked for. The last moments of the wait are the
    activity's own retry instead."""
    if row.provider_not_before is None:
        return None
    not_before = datetime.fromisoformat(row.provider_not_before)
    remaining = not_before - datetime.now(UTC)
    if remaining <= timedelta(0):
        return None
    if remaining <= PROVIDER_WAIT_RETRIED:
        # So short it is clocks differing (the server's timer against this worker's): a
        # deferral would be due at once for the case and start the activity again at once.
        raise unavailable(
            f"{row.channel} provider asked us to wait until {row.provider_not_before}",
            retry_in=remaining,
        )
    return deferral(row, contracts.RETRY_AFTER_RULE, not_before, by="the provider's Retry-After")
