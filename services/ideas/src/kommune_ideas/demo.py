"""Demo data for ``make up``: ``python -m kommune_ideas.demo`` (uses ``IDEAS_DATABASE_URL``).

Loads departments, change agents' ideas in every status (with comments, endorsements and the
decisions that brought them there), a past and a next innovation circle, chronicle news and the
FAQ. Everything goes through the service layer, so the history and the outbox events are what
real use would have produced; the running service relays those events and its chronicle writes
its automatic entries (an idea implemented, a decision taken).

Every demo record has a fixed id derived from its demo key (:class:`kommune.demo.DemoLoader`),
never recognised by a title or another field users can edit: loading is idempotent whatever
users posted, edited or deleted meanwhile. A demo record that exists is left as it is (edits
kept); one that was deleted (a FAQ entry) comes back; departments are matched by their unique
code (or name). ``--no-migrate`` skips ``alembic upgrade head``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal, Role
from kommune.db import transaction
from kommune.demo import DemoLoader, run_demo
from kommune_ideas.access import Forum
from kommune_ideas.chronicle.models import ChronicleEntry
from kommune_ideas.chronicle.schemas import ChronicleCommentCreate, EntryCreate
from kommune_ideas.chronicle.service import ChronicleService
from kommune_ideas.comments.schemas import CommentCreate
from kommune_ideas.comments.service import CommentService
from kommune_ideas.departments.models import Department
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

NEWS: list[tuple[str, str, str]] = [
    # (demo key, title, body)
    (
        "intranet",
        "Neues Intranet: Unser Weg zur digitalen Stadtverwaltung Heidenheim",
        "Das neue Intranet begleitet den Digitalisierungsprozess „Digitale Kommune Stadt "
        "Heidenheim“ und das Projekt enaio. Hier erfahren alle Mitarbeiterinnen und Mitarbeiter "
        "von Neuerungen und Erfolgsgeschichten auf dem Weg von analogen zu digitalen "
        "Arbeitsprozessen.",
    ),
    (
        "strategy",
        "Gemeinderatsbeschluss: Die Digitale Kommune wird zum Dach der Strategie",
        "In der Klausurtagung des Gemeinderats wurde auf Vorschlag von Oberbürgermeister "
        "Bernhard Ilg die „Digitale Kommune“ zum Dach der strategischen Handlungsfelder.",
    ),
    (
        "smart-city",
        "Smart City: Die Testphase beginnt",
        "Bis zum Frühjahr werden vier Szenarien erprobt: Verkehrsströme, Sauberkeit, Sicherheit "
        "und Soziales. Die Sensoren erfassen nur Zahlen, keine Personen.",
    ),
]

FAQ: list[tuple[str, int, str, str]] = [
    # (demo key, position, question, answer)
    (
        "change-agents",
        10,
        "Was sind die Change Agents?",
        "Change Agents (CAs) sind Mitarbeiterinnen, Mitarbeiter und Führungskräfte aus allen "
        "Fachbereichen, die den Entwicklungsprozess „Digitale Kommune“ an ihrem Arbeitsplatz "
        "aktiv unterstützen. Sie haben keine Machtbefugnisse, sondern nehmen Einfluss, tragen "
        "Ideen ins Change-Agent-Forum ein und treffen sich im Innovationszirkel.",
    ),
    (
        "chronicle",
        20,
        "Was ist die Chronik?",
        "In der Chronik werden alle Beschäftigten laufend über neue Ideen, Prozesse und "
        "Umgesetztes informiert. Unter jedem Beitrag können Kommentare geschrieben und "
        "Diskussionen eröffnet werden.",
    ),
    (
        "my-idea",
        30,
        "Was passiert mit meiner Idee?",
        "Jeder Beitrag hat einen Status: „Idee“, „In Bearbeitung“, „Umgesetzt“, „Verworfen“ "
        "oder „Idee zur Entscheidung“. Eine „Idee zur Entscheidung“ wandert in das "
        "Teilprojektleiter-Forum der Führungskräfte und wird dort besprochen; bis zur "
        "Entscheidung steht sie nicht im Ideenspeicher. Zu jeder Statusänderung gibt es eine "
        "Antwort, die bei der Idee angezeigt wird.",
    ),
    (
        "circle",
        40,
        "Was ist der Innovationszirkel?",
        "Die Change Agents treffen sich regelmäßig zu einem moderierten Innovationszirkel. Dort "
        "werden die neuen Forenbeiträge und die Ideen zur Entscheidung besprochen; das Ergebnis "
        "wird im Protokoll festgehalten.",
    ),
    (
        "netiquette",
        50,
        "Netiquette von Kommentaren",
        "Wir kommentieren sachlich, freundlich und zum Thema. Kritik ist willkommen, wenn sie "
        "hilft, eine Idee besser zu machen. Personenbezogene Daten von Bürgerinnen und Bürgern "
        "gehören nicht in Kommentare.",
    ),
]


async def _create_idea(
    session: AsyncSession, idea_id: uuid.UUID, demo: DemoIdea, department_id: uuid.UUID
) -> None:
    """The idea as its story went: posted, discussed, endorsed, moved through its statuses."""
    ideas = IdeaService(session)
    idea = await ideas.create(
        demo.author,
        IdeaCreate(
            title=demo.title,
            problem_statement=demo.problem,
            proposed_solution=demo.solution,
            added_value=demo.added_value,
            description=demo.description,
            department_id=department_id,
            tags=list(demo.tags),
        ),
        idea_id=idea_id,
    )
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


async def _create_past_circle(
    session: AsyncSession, meeting_id: uuid.UUID, termine: uuid.UUID | None, now: datetime
) -> None:
    meetings = MeetingService(session)
    await meetings.schedule(
        SABINE,
        MeetingCreate(
            title="Innovationszirkel Februar",
            scheduled_at=now - timedelta(days=30),
            location="Rathaus, Sitzungssaal",
            participants=[Participant(user_id=ca.sub, name=ca.name) for ca in CHANGE_AGENTS],
            propose_agenda=False,
        ),
        meeting_id=meeting_id,
    )
    await meetings.add_item(SABINE, meeting_id, AgendaItemCreate(title="Schulungsplan enaio"))
    topic = (await meetings.get(SABINE, meeting_id)).agenda_items[0]
    await meetings.record_outcome(
        SABINE,
        meeting_id,
        topic.id,
        OutcomeCreate(note="Schulungen starten im April, je Amt zwei Termine."),
    )
    # The circle started the online appointments idea, if it is still waiting for that.
    idea = await IdeaService(session).ideas.find(termine) if termine is not None else None
    if idea is not None and idea.status == IdeaStatus.IDEA:
        await meetings.add_item(SABINE, meeting_id, AgendaItemCreate(idea_id=termine))
        item = (await meetings.get(SABINE, meeting_id)).agenda_items[-1]
        await meetings.record_outcome(
            LENA,
            meeting_id,
            item.id,
            OutcomeCreate(
                note="Der Zirkel startet die Umsetzung mit dem E-Government-Team.",
                status=IdeaStatus.IN_PROGRESS,
            ),
        )
    await meetings.update(
        SABINE,
        meeting_id,
        MeetingUpdate(minutes="Moderation: Hannes Sieber. Nächster Zirkel im April."),
    )


async def _create_next_circle(session: AsyncSession, meeting_id: uuid.UUID, now: datetime) -> None:
    await MeetingService(session).schedule(
        SABINE,
        MeetingCreate(
            title="Innovationszirkel April",
            scheduled_at=now + timedelta(days=30),
            location="Rathaus, Sitzungssaal",
            participants=[Participant(user_id=ca.sub, name=ca.name) for ca in CHANGE_AGENTS],
        ),
        meeting_id=meeting_id,
    )


async def _create_news(session: AsyncSession, entry_id: uuid.UUID, title: str, body: str) -> None:
    chronicle = ChronicleService(session)
    entry = await chronicle.publish(MARKUS, EntryCreate(title=title, body=body), entry_id=entry_id)
    await chronicle.comment(STAFF[0], entry.id, ChronicleCommentCreate(body="Danke für die Info!"))


async def _create_faq(session: AsyncSession, entry_id: uuid.UUID, faq: FaqCreate) -> None:
    await FaqService(session).create(CLAUDIA, faq, entry_id=entry_id)


async def _ensure_department(
    session: AsyncSession, department_id: uuid.UUID, code: str, name: str
) -> None:
    """Departments are matched by their unique code (or name) too: users may have added one."""
    await DepartmentService(session).ensure(code, name, department_id=department_id)


async def load(loader: DemoLoader) -> None:
    """Create every demo record that is missing (by its fixed id); see :mod:`kommune.demo`."""
    for code, name in DEPARTMENTS.items():
        await loader.ensure(Department, code, partial(_ensure_department, code=code, name=name))
    departments: dict[str, uuid.UUID] = {}
    async with transaction(loader.sessionmaker) as session:
        service = DepartmentService(session)
        for code, name in DEPARTMENTS.items():
            departments[code] = (await service.ensure(code, name)).id

    idea_ids: dict[str, uuid.UUID | None] = {}
    for demo in IDEAS:
        department_id = departments[demo.department]
        idea_ids[demo.key] = await loader.ensure(
            Idea,
            demo.key,
            partial(_create_idea, demo=demo, department_id=department_id),
        )

    now = datetime.now(UTC)
    await loader.ensure(
        Meeting,
        "circle-february",
        partial(_create_past_circle, termine=idea_ids["termine"], now=now),
    )
    await loader.ensure(
        Meeting,
        "circle-april",
        partial(_create_next_circle, now=now),
    )
    for key, title, body in NEWS:
        await loader.ensure(
            ChronicleEntry,
            key,
            partial(_create_news, title=title, body=body),
        )
    for key, position, question, answer in FAQ:
        await loader.ensure(
            FaqEntry,
            key,
            partial(
                _create_faq, faq=FaqCreate(question=question, answer=answer, position=position)
            ),
        )


if __name__ == "__main__":
    run_demo(IdeasSettings, load, __file__)
