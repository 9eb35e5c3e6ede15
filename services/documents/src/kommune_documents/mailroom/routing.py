"""Routing: the first rule (lowest priority number) whose sender and keyword both match puts a
mail item into its department's inbox; none → the central inbox (department null).

Matching is a case-insensitive substring test on the sender and on the subject plus the
(OCR'd) text. The rules are few (kept by records management), so they are read whole.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.clock import utc_now
from kommune.events.outbox import Outbox
from kommune_documents import events
from kommune_documents.mailroom.models import MailItem, MailStatus, RoutingRule


def matches(rule: RoutingRule, sender: str, text: str) -> bool:
    if rule.sender is not None and rule.sender.casefold() not in sender:
        return False
    return rule.keyword is None or rule.keyword.casefold() in text


async def route(session: AsyncSession, item: MailItem) -> None:
    """Put ``item`` into an inbox and announce it (``mail.routed``)."""
    rules = (
        await session.execute(
            select(RoutingRule).order_by(
                RoutingRule.priority, RoutingRule.created_at, RoutingRule.id
            )
        )
    ).scalars()
    sender = (item.sender or "").casefold()
    text = f"{item.subject}\n{item.content_text}".casefold()
    rule = next((r for r in rules if matches(r, sender, text)), None)
    await put_into(session, item, rule.department if rule is not None else None, rule)


async def put_into(
    session: AsyncSession, item: MailItem, department: str | None, rule: RoutingRule | None
) -> None:
    """Put ``item`` into ``department``'s inbox (``None``: the central one) and announce it."""
    now = utc_now()
    item.department = department
    item.rule_id = rule.id if rule is not None else None
    item.status = MailStatus.IN_INBOX
    item.routed_at = now
    await session.flush()
    await Outbox(session, events.SOURCE).add(
        events.mail_event(
            events.MAIL_ROUTED,
            item.id,
            events.MailRoutedV1(
                item_id=item.id, department=item.department, rule_id=item.rule_id, routed_at=now
            ),
        )
    )
