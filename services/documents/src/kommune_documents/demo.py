"""Demo data: a municipal file plan after the KGSt pattern (``python -m kommune_documents.demo``).

Every unit has a fixed id from its demo key (``plan-<code>``); units users changed keep their
changes, deleted ones come back, a code a user took first is skipped (see :mod:`kommune.demo`).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.demo import DemoLoader, run_demo
from kommune_documents.fileplan.models import ArchiveDecision, PlanUnit
from kommune_documents.fileplan.schemas import PlanUnitCreate
from kommune_documents.fileplan.service import FilePlanService
from kommune_documents.mailroom.models import RoutingRule
from kommune_documents.settings import DocumentsSettings

A, B, V = ArchiveDecision.KEEP, ArchiveDecision.APPRAISE, ArchiveDecision.DESTROY
VALID_FROM = date(2020, 1, 1)


class Unit(NamedTuple):
    code: str
    title: str
    retention_years: int | None
    decision: ArchiveDecision


FILE_PLAN: tuple[Unit, ...] = (
    Unit("0", "Allgemeine Verwaltung", None, A),
    Unit("0.0", "Gemeindeverfassung, Ortsrecht, Satzungen", None, A),
    Unit("0.1", "Gemeinderat, Ausschüsse, Ortschaftsräte", None, A),
    Unit("0.1.1", "Sitzungen des Gemeinderats", None, A),
    Unit("0.2", "Organisation und Personal", 10, B),
    Unit("0.2.1", "Organisation, Geschäftsverteilung", 10, B),
    Unit("0.2.2", "Personalakten", 5, B),
    Unit("0.2.3", "Informationstechnik, Digitalisierung", 10, B),
    Unit("0.3", "Öffentlichkeitsarbeit, Städtepartnerschaften", 10, A),
    Unit("0.4", "Bürgerservice", 6, V),
    Unit("0.4.1", "Anträge aus dem Bürgerportal", 6, V),
    Unit("1", "Öffentliche Sicherheit und Ordnung", 10, B),
    Unit("1.1", "Ordnungsangelegenheiten, Sondernutzungen", 6, V),
    Unit("1.2", "Einwohnermeldewesen, Pass- und Ausweiswesen", 5, V),
    Unit("1.3", "Gewerbeangelegenheiten", 10, B),
    Unit("1.4", "Brand- und Katastrophenschutz", 10, B),
    Unit("2", "Schulen", 10, B),
    Unit("2.1", "Schulverwaltung, Schulentwicklungsplanung", 10, A),
    Unit("2.2", "Schulgebäude und Schulhöfe", 30, B),
    Unit("3", "Kultur und Soziales", 10, B),
    Unit("3.1", "Kultur, Museen, Bibliothek", 10, B),
    Unit("3.2", "Soziale Angelegenheiten, Wohngeld", 10, V),
    Unit("4", "Jugend und Familie", 10, B),
    Unit("4.1", "Kindertagesstätten", 10, B),
    Unit("6", "Bauwesen", 30, B),
    Unit("6.1", "Bauleitplanung, Bebauungspläne", None, A),
    Unit("6.2", "Baugenehmigungen", 30, B),
    Unit("6.3", "Straßen, Wege, Plätze", 30, B),
    Unit("6.4", "Hochbau, städtische Gebäude", 30, B),
    Unit("7", "Öffentliche Einrichtungen, Umwelt", 10, B),
    Unit("7.1", "Abfallwirtschaft", 10, V),
    Unit("7.2", "Stadtentwässerung", 30, B),
    Unit("7.3", "Umwelt- und Klimaschutz", 10, A),
    Unit("8", "Wirtschaft und Verkehr", 10, B),
    Unit("8.1", "Wirtschaftsförderung", 10, B),
    Unit("9", "Finanzen", 10, B),
    Unit("9.1", "Haushaltsplan, Jahresabschluss", None, A),
    Unit("9.2", "Stadtkasse, Zahlungsverkehr", 10, V),
    Unit("9.2.1", "Eingangsrechnungen", 10, V),
    Unit("9.3", "Steuern, Gebühren, Beiträge", 10, V),
)


MAIL_RULES: tuple[tuple[str, str], ...] = (
    ("Baugenehmigung", "baurecht"),
    ("Bauantrag", "baurecht"),
    ("Rechnung", "kaemmerei"),
    ("Bußgeld", "ordnungsamt"),
    ("Kindertagesstätte", "kinderbetreuung"),
)
"""Mailroom routing: keyword → department (everything else goes to the central inbox)."""


def _parent_code(code: str) -> str | None:
    return code.rpartition(".")[0] or None


async def load(loader: DemoLoader) -> None:
    for unit in FILE_PLAN:
        parent = _parent_code(unit.code)
        body = PlanUnitCreate(
            parent_id=loader.id(PlanUnit, f"plan-{parent}") if parent else None,
            code=unit.code,
            title=unit.title,
            valid_from=VALID_FROM,
            retention_years=unit.retention_years,
            archive_decision=unit.decision,
        )

        async def create(
            session: AsyncSession, record_id: object, body: PlanUnitCreate = body
        ) -> None:
            await FilePlanService(session).create(None, body, unit_id=record_id)  # type: ignore[arg-type]

        await loader.ensure(PlanUnit, f"plan-{unit.code}", create)

    for keyword, department in MAIL_RULES:

        async def add_rule(
            session: AsyncSession,
            record_id: uuid.UUID,
            keyword: str = keyword,
            to: str = department,
        ) -> None:
            session.add(
                RoutingRule(id=record_id, department=to, keyword=keyword, created_by="system:demo")
            )

        await loader.ensure(RoutingRule, f"mail-rule-{keyword}", add_rule)


if __name__ == "__main__":
    run_demo(DocumentsSettings, load, __file__)
