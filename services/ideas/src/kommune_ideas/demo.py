"""Demo data for ``make up``: ``python -m kommune_ideas.demo`` (uses ``IDEAS_DATABASE_URL``).

Loads departments, change agents' ideas in every status (with comments, endorsements and the
decisions that brought them there), a past and a next innovation circle, chronicle news and the
FAQ. Everything goes through the service layer, so the history and the outbox events are what
real use would have produced; the running service relays those events and its chronicle writes
its automatic entries (an idea implemented, a decision taken).

Idempotent: what exists already (matched by code, title or question) is left alone, so running
it twice changes nothing. ``--no-migrate`` skips ``alembic upgrade head``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal, Role
from kommune.db import create_engine, create_sessionmaker, transaction
from kommune.migrations import upgrade
from kommune_ideas.access import Forum
from kommune_ideas.chronicle.models import ChronicleEntry
from kommune_ideas.chronicle.schemas import ChronicleCommentCreate, EntryCreate
from kommune_ideas.chronicle.service import ChronicleService
from kommune_ideas.comments.schemas import CommentCreate
from kommune_ideas.comments.service import CommentService
from kommune_ideas.departments.service import DepartmentService
from kommune_ideas.faq.models import FaqEntry
from kommune_ideas.faq.schemas import FaqCreate
from kommune_ideas.faq.service import FaqService
from kommune_ideas.ideas.models import Idea
from kommune_ideas.ideas.schemas import IdeaCreate, StatusChange
from kommune_ideas.ideas.service import IdeaService
from kommune_ideas.ideas.workflow import IdeaStatus
from kommune_ideas.meetings.models import Meeting
from kommune_ideas.meetings.schemas import (
    AgendaItemCreate,
    MeetingCreate,
    MeetingUpdate,
    OutcomeCreate,
    Participant,
)
from kommune_ideas.meetings.service import MeetingService
from kommune_ideas.participation.service import ParticipationService
from kommune_ideas.settings import IdeasSettings

DEPARTMENTS = {
    "hauptamt": "Hauptamt",
    "kaemmerei": "Kämmerei",
    "buergeramt": "Bürgeramt",
    "bauverwaltung": "Bauverwaltung",
    "digitalisierung": "IuK und Organisation (Digitalisierung)",
}


def person(sub: str, name: str, department: str, *roles: Role) -> Principal:
    return Principal(
        sub=sub, roles=frozenset(str(r) for r in roles), name=name, department=department
    )


SABINE = person("ca-sabine.keller", "Sabine Keller", "Kämmerei", Role.CHANGE_AGENT)
THOMAS = person("ca-thomas.mueller", "Thomas Müller", "Bauverwaltung", Role.CHANGE_AGENT)
LENA = person("ca-lena.hoffmann", "Lena Hoffmann", "Bürgeramt", Role.CHANGE_AGENT)
JONAS = person("ca-jonas.wagner", "Jonas Wagner", "Hauptamt", Role.CHANGE_AGENT)
MARKUS = person("pl-markus.weber", "Markus Weber", "IuK und Organisation", Role.PROJECT_LEAD)
CLAUDIA = person("pl-claudia.fischer", "Claudia Fischer", "Kämmerei", Role.PROJECT_LEAD)
STAFF = [
    person("st-julia.koch", "Julia Koch", "Bürgeramt", Role.STAFF),
    person("st-peter.schulz", "Peter Schulz", "Bauverwaltung", Role.STAFF),
    person("st-anke.richter", "Anke Richter", "Hauptamt", Role.STAFF),
]
CHANGE_AGENTS = [SABINE, THOMAS, LENA, JONAS]


@dataclass(frozen=True)
class DemoIdea:
    key: str
    author: Principal
    department: str
    title: str
    problem: str
    solution: str
    added_value: str
    description: str
    tags: tuple[str, ...]
    steps: tuple[tuple[IdeaStatus, Principal, str, str | None], ...] = ()
    """Status changes after posting: (status, who, note, reason)."""
    endorsers: int = 0


IDEAS = [
    DemoIdea(
        key="rechnung",
        author=SABINE,
        department="kaemmerei",
        title="Eingangsrechnungsworkflow mit enaio",
        problem=(
            "Papierrechnungen laufen per Hauspost durch bis zu vier Stellen, bis sie angewiesen "
            "werden. Skontofristen verstreichen, und niemand weiß, wo eine Rechnung gerade liegt."
        ),
        solution=(
            "Rechnungen kommen als XRechnung oder werden in der Poststelle gescannt und im DMS "
            "enaio digital sachlich und rechnerisch geprüft und freigegeben."
        ),
        added_value=(
            "Kürzere Durchlaufzeiten, genutzte Skonti, jederzeit sichtbarer Bearbeitungsstand "
            "und keine verlorenen Belege mehr."
        ),
        description=(
            "Der Eingangsrechnungsworkflow soll zuerst in der Kämmerei und im Bauamt laufen. "
            "Die E-Rechnungspflicht für Lieferanten macht den Schritt ohnehin nötig."
        ),
        tags=("e-rechnung", "enaio", "kämmerei"),
        steps=(
            (
                IdeaStatus.FOR_DECISION,
                SABINE,
                "Der Zirkel empfiehlt die Umsetzung; die Teilprojektleitung entscheidet.",
                None,
            ),
        ),
        endorsers=3,
    ),
    DemoIdea(
        key="urlaub",
        author=JONAS,
        department="hauptamt",
        title="Urlaubsanträge digital stellen",
        problem="Urlaubsanträge werden ausgedruckt, unterschrieben und per Hauspost verschickt.",
        solution="Ein Formular im Intranet mit Freigabe durch die Vorgesetzten per Klick.",
        added_value="Weniger Papier, schnelle Rückmeldung, aktueller Urlaubsplan für das Team.",
        description="Das Personalamt hat bereits ein Musterformular; es fehlt nur der Workflow.",
        tags=("personal", "formulare"),
        steps=(
            (IdeaStatus.IN_PROGRESS, JONAS, "Das Hauptamt setzt den Workflow im DMS auf.", None),
            (
                IdeaStatus.IMPLEMENTED,
                JONAS,
                "Seit dem 1. März stellen alle Beschäftigten ihren Urlaub digital.",
                None,
            ),
        ),
        endorsers=3,
    ),
    DemoIdea(
        key="termine",
        author=LENA,
        department="buergeramt",
        title="Online-Terminvergabe im Bürgeramt",
        problem="Lange Wartezeiten im Bürgeramt, vor allem montags und vor den Ferien.",
        solution="Bürgerinnen und Bürger buchen Termine online; Laufkundschaft bleibt möglich.",
        added_value="Planbare Arbeit für die Sachbearbeitung, kürzere Wartezeiten für alle.",
        description="Zusammen mit dem E-Government-Angebot der Stadt umsetzen.",
        tags=("bürgeramt", "e-government", "termine"),
        endorsers=2,
    ),
    DemoIdea(
        key="bauakten",
        author=THOMAS,
        department="bauverwaltung",
        title="Bauakten scannen und in die E-Akte übernehmen",
        problem="Das Bauaktenarchiv im Keller ist voll; Akteneinsicht dauert Tage.",
        solution="Laufende Bauakten werden ab sofort digital geführt, der Altbestand nach Bedarf.",
        added_value="Weniger Stauraum, schnellere Auskunft, Platz für die Rathaussanierung.",
        description="Scan-on-Demand: eine Akte wird gescannt, sobald sie angefordert wird.",
        tags=("e-akte", "archiv"),
        endorsers=1,
    ),
    DemoIdea(
        key="fax",
        author=THOMAS,
        department="digitalisierung",
        title="Faxgeräte abschaffen",
        problem="In fast jedem Amt steht noch ein Faxgerät, das gewartet werden muss.",
        solution="Alle Faxnummern auf ein zentrales Fax-to-Mail-Postfach umstellen.",
        added_value="Geringere Kosten, eingehende Faxe landen direkt im DMS.",
        description="Die Geräte werden nach und nach abgebaut.",
        tags=("infrastruktur",),
        steps=(
            (
                IdeaStatus.FOR_DECISION,
                THOMAS,
                "Betrifft alle Ämter; bitte durch die Teilprojektleitung entscheiden.",
                None,
            ),
            (
                IdeaStatus.REJECTED,
                MARKUS,
                "Vorerst nicht: Gerichte und einzelne Behörden schicken noch Faxe.",
                "Rechtsverkehr mit Gerichten noch per Fax; erneute Prüfung 2027.",
            ),
        ),
    ),
    DemoIdea(
        key="gremien",
        author=JONAS,
        department="hauptamt",
        title="Papierlose Sitzungsunterlagen für den Gemeinderat",
        problem="Für jede Gemeinderatssitzung werden hunderte Seiten kopiert und verteilt.",
        solution="Ein Ratsinformationssystem mit Tablets für die Mitglieder des Gemeinderats.",
        added_value="Weniger Papier und Porto, Unterlagen sind immer aktuell.",
        description="Andere Städte in Baden-Württemberg machen gute Erfahrungen damit.",
        tags=("gemeinderat", "papierlos"),
    ),
]

NEWS = [
    (
        "Neues Intranet: Unser Weg zur digitalen Stadtverwaltung Heidenheim",
        "Das neue Intranet begleitet den Digitalisierungsprozess „Digitale Kommune Stadt "
        "Heidenheim“ und das Projekt enaio. Hier erfahren alle Mitarbeiterinnen und Mitarbeiter "
        "von Neuerungen und Erfolgsgeschichten auf dem Weg von analogen zu digitalen "
        "Arbeitsprozessen.",
    ),
    (
        "Gemeinderatsbeschluss: Die Digitale Kommune wird zum Dach der Strategie",
        "In der Klausurtagung des Gemeinderats wurde auf Vorschlag von Oberbürgermeister "
        "Bernhard Ilg die „Digitale Kommune“ zum Dach der strategischen Handlungsfelder.",
    ),
    (
        "Smart City: Die Testphase beginnt",
        "Bis zum Frühjahr werden vier Szenarien erprobt: Verkehrsströme, Sauberkeit, Sicherheit "
        "und Soziales. Die Sensoren erfassen nur Zahlen, keine Personen.",
    ),
]

FAQ = [
    (
        "Was sind die Change Agents?",
        "Change Agents (CAs) sind Mitarbeiterinnen, Mitarbeiter und Führungskräfte aus allen "
        "Fachbereichen, die den Entwicklungsprozess „Digitale Kommune“ an ihrem Arbeitsplatz "
        "aktiv unterstützen. Sie haben keine Machtbefugnisse, sondern nehmen Einfluss, tragen "
        "Ideen ins Change-Agent-Forum ein und treffen sich im Innovationszirkel.",
    ),
    (
        "Was ist die Chronik?",
        "In der Chronik werden alle Beschäftigten laufend über neue Ideen, Prozesse und "
        "Umgesetztes informiert. Unter jedem Beitrag können Kommentare geschrieben und "
        "Diskussionen eröffnet werden.",
    ),
    (
        "Was passiert mit meiner Idee?",
        "Jeder Beitrag hat einen Status: „Idee“, „In Bearbeitung“, „Umgesetzt“, „Verworfen“ "
        "oder „Idee zur Entscheidung“. Eine „Idee zur Entscheidung“ wandert in das "
        "Teilprojektleiter-Forum der Führungskräfte und wird dort besprochen; bis zur "
        "Entscheidung steht sie nicht im Ideenspeicher. Zu jeder Statusänderung gibt es eine "
        "Antwort, die bei der Idee angezeigt wird.",
    ),
    (
        "Was ist der Innovationszirkel?",
        "Die Change Agents treffen sich regelmäßig zu einem moderierten Innovationszirkel. Dort "
        "werden die neuen Forenbeiträge und die Ideen zur Entscheidung besprochen; das Ergebnis "
        "wird im Protokoll festgehalten.",
    ),
    (
        "Netiquette von Kommentaren",
        "Wir kommentieren sachlich, freundlich und zum Thema. Kritik ist willkommen, wenn sie "
        "hilft, eine Idee besser zu machen. Personenbezogene Daten von Bürgerinnen und Bürgern "
        "gehören nicht in Kommentare.",
    ),
]


async def _exists(session: AsyncSession, statement: Select[Any]) -> bool:
    return (await session.execute(statement.limit(1))).first() is not None


async def load(settings: IdeasSettings) -> dict[str, int]:
    engine = create_engine(settings.database_url, pool_size=2, application_name="ideas-demo")
    sessionmaker = create_sessionmaker(engine)
    created = {"departments": 0, "ideas": 0, "meetings": 0, "news": 0, "faq": 0}
    try:
        async with transaction(sessionmaker) as session:
            departments = {}
            service = DepartmentService(session)
            for code, name in DEPARTMENTS.items():
                before = await service.repository.get_by_code(code)
                departments[code] = (await service.ensure(code, name)).id
                created["departments"] += before is None

        idea_ids: dict[str, uuid.UUID] = {}
        for demo in IDEAS:
            async with transaction(sessionmaker) as session:
                existing = (
                    await session.execute(select(Idea.id).where(Idea.title == demo.title))
                ).scalar_one_or_none()
                if existing is not None:
                    idea_ids[demo.key] = existing
                    continue
                ideas = IdeaService(session)
                idea = await ideas.create(
                    demo.author,
                    IdeaCreate(
                        title=demo.title,
                        problem_statement=demo.problem,
                        proposed_solution=demo.solution,
                        added_value=demo.added_value,
                        description=demo.description,
                        department_id=departments[demo.department],
                        tags=list(demo.tags),
                    ),
                )
                idea_ids[demo.key] = idea.id
                comments = CommentService(session)
                other = next(ca for ca in CHANGE_AGENTS if ca.sub != demo.author.sub)
                first = await comments.add(
                    other,
                    idea.id,
                    Forum.CHANGE_AGENTS,
                    CommentCreate(body="Das würde uns im Amt auch helfen. Wer macht mit?"),
                )
                await comments.add(
                    demo.author,
                    idea.id,
                    Forum.CHANGE_AGENTS,
                    CommentCreate(body="Gern, ich melde mich zum Zirkel.", parent_id=first.id),
                )
                participation = ParticipationService(session)
                for endorser in STAFF[: demo.endorsers]:
                    await participation.endorse(endorser, idea.id)
                for status, actor, note, reason in demo.steps:
                    if status == IdeaStatus.REJECTED:
                        await comments.add(
                            actor,
                            idea.id,
                            Forum.LEADERS,
                            CommentCreate(body="Wir sollten das mit dem Rechtsamt abstimmen."),
                        )
                    await ideas.change_status(
                        actor, idea.id, StatusChange(status=status, note=note, reason=reason)
                    )
                if demo.key == "rechnung":
                    await comments.add(
                        MARKUS,
                        idea.id,
                        Forum.LEADERS,
                        CommentCreate(body="Passt zur E-Rechnungspflicht; Budget ist eingeplant."),
                    )
                created["ideas"] += 1

        now = datetime.now(UTC)
        async with transaction(sessionmaker) as session:
            if not await _exists(
                session, select(Meeting.id).where(Meeting.title == "Innovationszirkel Februar")
            ):
                meetings = MeetingService(session)
                past = await meetings.schedule(
                    SABINE,
                    MeetingCreate(
                        title="Innovationszirkel Februar",
                        scheduled_at=now - timedelta(days=30),
                        location="Rathaus, Sitzungssaal",
                        participants=[
                            Participant(user_id=ca.sub, name=ca.name) for ca in CHANGE_AGENTS
                        ],
                        propose_agenda=False,
                    ),
                )
                await meetings.add_item(
                    SABINE, past.id, AgendaItemCreate(title="Schulungsplan enaio")
                )
                await meetings.add_item(
                    SABINE, past.id, AgendaItemCreate(idea_id=idea_ids["termine"])
                )
                past = await meetings.get(SABINE, past.id)
                topic, termine = past.agenda_items
                await meetings.record_outcome(
                    SABINE,
                    past.id,
                    topic.id,
                    OutcomeCreate(note="Schulungen starten im April, je Amt zwei Termine."),
                )
                await meetings.record_outcome(
                    LENA,
                    past.id,
                    termine.id,
                    OutcomeCreate(
                        note="Der Zirkel startet die Umsetzung mit dem E-Government-Team.",
                        status=IdeaStatus.IN_PROGRESS,
                    ),
                )
                await meetings.update(
                    SABINE,
                    past.id,
                    MeetingUpdate(minutes="Moderation: Hannes Sieber. Nächster Zirkel im April."),
                )
                created["meetings"] += 1
        async with transaction(sessionmaker) as session:
            if not await _exists(
                session, select(Meeting.id).where(Meeting.title == "Innovationszirkel April")
            ):
                await MeetingService(session).schedule(
                    SABINE,
                    MeetingCreate(
                        title="Innovationszirkel April",
                        scheduled_at=now + timedelta(days=30),
                        location="Rathaus, Sitzungssaal",
                        participants=[
                            Participant(user_id=ca.sub, name=ca.name) for ca in CHANGE_AGENTS
                        ],
                    ),
                )
                created["meetings"] += 1

        for title, body in NEWS:
            async with transaction(sessionmaker) as session:
                if await _exists(
                    session, select(ChronicleEntry.id).where(ChronicleEntry.title == title)
                ):
                    continue
                chronicle = ChronicleService(session)
                entry = await chronicle.publish(MARKUS, EntryCreate(title=title, body=body))
                await chronicle.comment(
                    STAFF[0], entry.id, ChronicleCommentCreate(body="Danke für die Info!")
                )
                created["news"] += 1

        async with transaction(sessionmaker) as session:
            faq = FaqService(session)
            for position, (question, answer) in enumerate(FAQ, start=1):
                if await _exists(session, select(FaqEntry.id).where(FaqEntry.question == question)):
                    continue
                await faq.create(
                    CLAUDIA, FaqCreate(question=question, answer=answer, position=position * 10)
                )
                created["faq"] += 1
    finally:
        await engine.dispose()
    return created


def alembic_ini() -> Path:
    configured = os.environ.get("IDEAS_ALEMBIC_INI")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "alembic.ini"


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-migrate", action="store_true", help="skip alembic upgrade head")
    args = parser.parse_args(argv)
    settings = IdeasSettings()
    if not args.no_migrate:
        await upgrade(alembic_ini(), settings.database_url)
    created = await load(settings)
    print("ideas demo data:", ", ".join(f"{k} +{v}" for k, v in created.items()))


if __name__ == "__main__":
    asyncio.run(main())
