"""The city's e-service catalogue as shipped with the service (the seed of ``services``).

At start the stored catalogue is brought up to this one (:mod:`kommune_egov.catalogue.sync`): a
service that is new is stored and announced (``de.kommune.egov.service.published.v1``); a form
whose ``form_version`` is higher than the stored one becomes the current form, older versions
stay stored because applications name the version they were validated against. A published
version is never changed in place: a changed form is a new version.

LeiKa keys (the federal Leistungskatalog) are given where one was verified; ``None`` otherwise.
Codes are stable: they are the Open311 ``service_code`` of the damage reports too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kommune_egov.catalogue.forms import (
    LICENCE_PLATE,
    JsonSchema,
    address,
    choice,
    choices,
    date,
    email,
    form,
    integer,
    long_text,
    number,
    person,
    phone,
    text,
    yes_no,
)


class ServiceKind(StrEnum):
    APPLICATION = "application"
    """An application a citizen submits (Antrag, Anzeige)."""
    DAMAGE_REPORT = "damage_report"
    """A report of damage in public space (Mängelmelder), also reachable through Open311."""
    WORK_ORDER = "work_order"
    """Internal: a work order opened by a sensor alert; not listed in the public catalogue."""


@dataclass(frozen=True, slots=True)
class Attachment:
    code: str
    name_de: str
    name_en: str
    required: bool = True


@dataclass(frozen=True, slots=True)
class Department:
    code: str
    name: str


BUERGERAMT = Department("buergeramt", "Bürgeramt")
ORDNUNGSAMT = Department("ordnungsamt", "Amt für Ordnung und Sicherheit")
KINDERBETREUUNG = Department("kinderbetreuung", "Amt für Familie, Bildung und Sport")
BAURECHT = Department("baurecht", "Baurechtsamt")
TIEFBAU = Department("tiefbau", "Tiefbauamt")
BAUHOF = Department("bauhof", "Bauhof und Stadtreinigung")

DEPARTMENTS: tuple[Department, ...] = (
    BUERGERAMT,
    ORDNUNGSAMT,
    KINDERBETREUUNG,
    BAURECHT,
    TIEFBAU,
    BAUHOF,
)


def department_code(claim: str | None) -> str | None:
    """The department code a token's ``department`` claim names: the code itself or the
    department's name (identity providers carry either), compared case-insensitively."""
    if not claim:
        return None
    folded = claim.strip().casefold()
    for department in DEPARTMENTS:
        if folded in (department.code, department.name.casefold()):
            return department.code
    return folded


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    code: str
    kind: ServiceKind
    name_de: str
    name_en: str
    description_de: str
    description_en: str
    department: Department
    processing_days: int
    form_version: int
    form: JsonSchema
    fee_cents: int | None = None
    """``None``: free of charge."""
    fee_note: str | None = None
    leika_key: str | None = None
    needs_location: bool = False
    """Damage reports and work orders are about a place (``location`` or ``address``)."""
    listed: bool = True
    keywords: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = field(default=())


def _application(
    code: str, version: int, title: str, props: JsonSchema, req: list[str]
) -> JsonSchema:
    return form(code, version, title, props, req)


_DESCRIPTION = long_text("Beschreibung", max_length=2000)
_DAMAGE_DESCRIPTION = long_text(
    "Beschreibung", max_length=2000, description="Was ist passiert? Je genauer, desto schneller."
)

RESIDENT_PARKING = ServiceDefinition(
    code="resident_parking_permit",
    kind=ServiceKind.APPLICATION,
    name_de="Bewohnerparkausweis",
    name_en="Resident parking permit",
    description_de=(
        "Bewohnerinnen und Bewohner einer Bewohnerparkzone beantragen einen Parkausweis für ihr "
        "Fahrzeug. Voraussetzung: Hauptwohnsitz in der Zone und das Fahrzeug ist auf Sie "
        "zugelassen oder Ihnen dauerhaft überlassen."
    ),
    description_en=(
        "Residents of a resident parking zone apply for a permit for their vehicle. You need "
        "your main residence in the zone and the vehicle registered to you or lent to you "
        "permanently."
    ),
    department=ORDNUNGSAMT,
    processing_days=5,
    fee_cents=3060,
    fee_note="30,60 € für ein Jahr",
    form_version=1,
    form=_application(
        "resident_parking_permit",
        1,
        "Antrag auf einen Bewohnerparkausweis",
        {
            "applicant": person("Antragstellerin oder Antragsteller"),
            "address": address("Anschrift (Hauptwohnsitz)"),
            "zone": choice(
                "Bewohnerparkzone",
                {
                    "zone_a": "Zone A: Innenstadt",
                    "zone_b": "Zone B: Schlossberg",
                    "zone_c": "Zone C: Bahnhof",
                },
            ),
            "licence_plate": LICENCE_PLATE,
            "vehicle_holder": choice(
                "Das Fahrzeug ist",
                {
                    "own": "auf mich zugelassen",
                    "company_car": "ein Firmenwagen, den ich privat nutzen darf",
                    "lent": "mir dauerhaft überlassen",
                },
            ),
            "valid_from": date("Gültig ab"),
            "email": email(),
        },
        ["applicant", "address", "zone", "licence_plate", "vehicle_holder", "valid_from"],
    ),
    attachments=(
        Attachment(
            "vehicle_registration", "Zulassungsbescheinigung Teil I", "Vehicle registration"
        ),
        Attachment(
            "usage_confirmation",
            "Bestätigung des Halters (bei überlassenem Fahrzeug)",
            "Holder's confirmation (for a lent vehicle)",
            required=False,
        ),
    ),
    keywords=("parken", "parkausweis", "anwohnerparken"),
)

DOG_REGISTRATION = ServiceDefinition(
    code="dog_registration",
    kind=ServiceKind.APPLICATION,
    name_de="Hundeanmeldung",
    name_en="Dog registration",
    description_de=(
        "Wer in Heidenheim einen Hund hält, meldet ihn innerhalb eines Monats zur Hundesteuer an "
        "und erhält eine Hundesteuermarke."
    ),
    description_en=(
        "Anyone keeping a dog in Heidenheim registers it for the dog tax within one month and "
        "receives a dog tax tag."
    ),
    department=BUERGERAMT,
    processing_days=10,
    fee_cents=None,
    fee_note="Die Anmeldung ist gebührenfrei; die Hundesteuer beträgt 108 € im Jahr.",
    form_version=1,
    form=_application(
        "dog_registration",
        1,
        "Anmeldung eines Hundes zur Hundesteuer",
        {
            "owner": person("Halterin oder Halter"),
            "address": address("Anschrift"),
            "dog_name": text("Name des Hundes", max_length=60),
            "breed": text("Rasse", max_length=100),
            "date_of_birth": date("Wurfdatum des Hundes"),
            "kept_since": date("Gehalten seit"),
            "chip_number": {
                "type": "string",
                "title": "Transpondernummer (Chip)",
                "description": "15 Ziffern nach ISO 11784.",
                "pattern": r"^[0-9]{15}$",
            },
            "listed_dog": yes_no("Kampfhund im Sinne der Polizeiverordnung"),
            "other_dogs": integer("Weitere Hunde im Haushalt", 0, 20),
            "email": email(),
        },
        ["owner", "address", "dog_name", "breed", "kept_since", "chip_number", "listed_dog"],
    ),
    attachments=(
        Attachment(
            "liability_insurance",
            "Nachweis der Hundehaftpflichtversicherung",
            "Proof of dog liability insurance",
            required=False,
        ),
    ),
    keywords=("hund", "hundesteuer", "steuermarke"),
)

_BUSINESS_FORM_COMMON: JsonSchema = {
    "applicant": person("Gewerbetreibende oder Gewerbetreibender"),
    "legal_form": choice(
        "Rechtsform",
        {
            "sole_proprietor": "Einzelunternehmen",
            "gbr": "Gesellschaft bürgerlichen Rechts (GbR)",
            "gmbh": "GmbH",
            "ug": "UG (haftungsbeschränkt)",
            "kg": "KG",
            "other": "Sonstige",
        },
    ),
    "business_name": text("Name des Betriebs", max_length=200),
    "business_address": address("Betriebsstätte"),
}

BUSINESS_REGISTRATION = ServiceDefinition(
    code="business_registration",
    kind=ServiceKind.APPLICATION,
    name_de="Gewerbeanmeldung",
    name_en="Business registration",
    description_de=(
        "Wer ein stehendes Gewerbe beginnt, zeigt dies nach § 14 Gewerbeordnung an. Die "
        "Gewerbeanzeige wird an Finanzamt, IHK oder Handwerkskammer weitergeleitet."
    ),
    description_en=(
        "Anyone starting a business notifies the city under section 14 of the Trade Regulation "
        "Act. The notice is passed on to the tax office and the chamber of commerce or crafts."
    ),
    department=ORDNUNGSAMT,
    processing_days=3,
    fee_cents=3500,
    fee_note="35 €",
    leika_key="99050012104000",
    form_version=1,
    form=_application(
        "business_registration",
        1,
        "Gewerbeanmeldung (GewA 1)",
        {
            **_BUSINESS_FORM_COMMON,
            "activity": long_text("Angemeldete Tätigkeit", max_length=1000),
            "start_date": date("Beginn der Tätigkeit"),
            "employees_full_time": integer("Vollzeitbeschäftigte", 0, 100000),
            "employees_part_time": integer("Teilzeitbeschäftigte", 0, 100000),
            "kind_of_establishment": choice(
                "Art des Betriebs",
                {"main": "Hauptniederlassung", "branch": "Zweigniederlassung"},
            ),
            "email": email(),
            "phone": phone(),
        },
        ["applicant", "legal_form", "business_name", "business_address", "activity", "start_date"],
    ),
    attachments=(
        Attachment("identity_document", "Personalausweis oder Reisepass", "ID card or passport"),
        Attachment(
            "commercial_register_extract",
            "Handelsregisterauszug (bei eingetragenen Firmen)",
            "Commercial register extract (registered companies)",
            required=False,
        ),
    ),
    keywords=("gewerbe", "gewerbeanzeige", "selbstständig"),
)

BUSINESS_DEREGISTRATION = ServiceDefinition(
    code="business_deregistration",
    kind=ServiceKind.APPLICATION,
    name_de="Gewerbeabmeldung",
    name_en="Business deregistration",
    description_de="Wer ein Gewerbe aufgibt, meldet es innerhalb eines Monats ab (GewA 3).",
    description_en="Anyone giving up a business deregisters it within one month (GewA 3).",
    department=ORDNUNGSAMT,
    processing_days=3,
    fee_cents=1500,
    fee_note="15 €",
    form_version=1,
    form=_application(
        "business_deregistration",
        1,
        "Gewerbeabmeldung (GewA 3)",
        {
            **_BUSINESS_FORM_COMMON,
            "end_date": date("Aufgabe zum"),
            "reason": choice(
                "Grund der Abmeldung",
                {
                    "economic": "wirtschaftliche Gründe",
                    "retirement": "Ruhestand",
                    "relocation": "Verlegung in eine andere Gemeinde",
                    "insolvency": "Insolvenz",
                    "other": "sonstige Gründe",
                },
            ),
            "email": email(),
        },
        ["applicant", "legal_form", "business_name", "business_address", "end_date", "reason"],
    ),
    keywords=("gewerbe", "abmelden"),
)

LANDLORD_CERTIFICATE = ServiceDefinition(
    code="landlord_certificate",
    kind=ServiceKind.APPLICATION,
    name_de="Wohnungsgeberbestätigung",
    name_en="Landlord certificate",
    description_de=(
        "Vermieterinnen und Vermieter bestätigen den Ein- oder Auszug ihrer Mieter nach § 19 "
        "Bundesmeldegesetz; die Bestätigung braucht die Meldebehörde für die An- oder Abmeldung."
    ),
    description_en=(
        "Landlords confirm that tenants moved in or out (section 19 of the Federal Registration "
        "Act); the registration office needs it to register or deregister them."
    ),
    department=BUERGERAMT,
    processing_days=1,
    form_version=1,
    form=_application(
        "landlord_certificate",
        1,
        "Wohnungsgeberbestätigung nach § 19 BMG",
        {
            "landlord_name": text("Name des Wohnungsgebers", max_length=200),
            "landlord_address": address("Anschrift des Wohnungsgebers"),
            "movement": choice("Art", {"move_in": "Einzug", "move_out": "Auszug"}),
            "date": date("Datum des Ein- oder Auszugs"),
            "flat_address": address("Anschrift der Wohnung"),
            "flat_position": text("Lage der Wohnung (z. B. 2. OG links)", max_length=60),
            "tenants": {
                "type": "array",
                "title": "Meldepflichtige Personen",
                "minItems": 1,
                "maxItems": 20,
                "items": person("Person"),
            },
        },
        ["landlord_name", "landlord_address", "movement", "date", "flat_address", "tenants"],
    ),
    keywords=("umzug", "vermieter", "anmeldung"),
)

HEAVY_TRANSPORT = ServiceDefinition(
    code="heavy_transport_permit",
    kind=ServiceKind.APPLICATION,
    name_de="Schwertransport",
    name_en="Heavy transport permit",
    description_de=(
        "Erlaubnis nach § 29 StVO und Ausnahmegenehmigung nach § 46 StVO für Transporte, deren "
        "Maße oder Gewicht die zulässigen Grenzen überschreiten, auf städtischen Straßen."
    ),
    description_en=(
        "Permit for transports exceeding the legal dimensions or weight on city roads (sections "
        "29 and 46 of the road traffic regulations)."
    ),
    department=ORDNUNGSAMT,
    processing_days=14,
    fee_cents=10000,
    fee_note="ab 100 €, nach Aufwand",
    form_version=1,
    form=_application(
        "heavy_transport_permit",
        1,
        "Antrag auf Erlaubnis eines Großraum- oder Schwertransports",
        {
            "company": text("Transportunternehmen", max_length=200),
            "company_address": address("Anschrift des Unternehmens"),
            "licence_plate": LICENCE_PLATE,
            "load": text("Ladung", max_length=200),
            "length_m": number("Gesamtlänge in m", 1, 80),
            "width_m": number("Gesamtbreite in m", 1, 10),
            "height_m": number("Gesamthöhe in m", 1, 8),
            "total_weight_t": number("Gesamtgewicht in t", 1, 500),
            "route": long_text("Fahrtstrecke im Stadtgebiet", max_length=2000),
            "first_day": date("Erster Fahrtag"),
            "last_day": date("Letzter Fahrtag"),
            "escort": yes_no("Begleitfahrzeug vorgesehen"),
            "email": email(),
            "phone": phone(),
        },
        [
            "company",
            "company_address",
            "licence_plate",
            "load",
            "length_m",
            "width_m",
            "height_m",
            "total_weight_t",
            "route",
            "first_day",
            "last_day",
        ],
    ),
    attachments=(
        Attachment("route_map", "Streckenplan", "Route map"),
        Attachment("vehicle_papers", "Fahrzeugpapiere", "Vehicle papers"),
    ),
    keywords=("transport", "schwertransport", "großraum"),
)

KINDERGARTEN = ServiceDefinition(
    code="kindergarten_place",
    kind=ServiceKind.APPLICATION,
    name_de="Kita-Platz",
    name_en="Kindergarten place",
    description_de=(
        "Anmeldung für einen Betreuungsplatz in einer Kindertageseinrichtung der Stadt. Bis zu "
        "drei Wunscheinrichtungen in Reihenfolge."
    ),
    description_en=(
        "Registration for a place in a municipal day-care centre, with up to three preferred "
        "centres in order."
    ),
    department=KINDERBETREUUNG,
    processing_days=60,
    form_version=1,
    form=_application(
        "kindergarten_place",
        1,
        "Anmeldung für einen Kita-Platz",
        {
            "child": person("Kind"),
            "guardian": person("Erziehungsberechtigte Person"),
            "address": address("Anschrift"),
            "start_date": date("Gewünschter Beginn"),
            "care_type": choice(
                "Betreuungsform",
                {
                    "half_day": "Halbtags (bis 6 Stunden)",
                    "extended": "Verlängerte Öffnungszeit (bis 7 Stunden)",
                    "full_day": "Ganztags (bis 10 Stunden)",
                },
            ),
            "preferences": {
                "type": "array",
                "title": "Wunscheinrichtungen",
                "minItems": 1,
                "maxItems": 3,
                "uniqueItems": True,
                "items": choice(
                    "Einrichtung",
                    {
                        "kita_schlossberg": "Kita Schlossberg",
                        "kita_mittelrain": "Kita Mittelrain",
                        "kita_mergelstetten": "Kita Mergelstetten",
                        "kita_reutenen": "Kita Reutenen",
                        "kita_voehringer": "Kinderhaus Vöhringerstraße",
                    },
                ),
            },
            "siblings_in_care": yes_no("Geschwisterkind bereits in einer Einrichtung"),
            "email": email(),
            "phone": phone(),
        },
        ["child", "guardian", "address", "start_date", "care_type", "preferences"],
    ),
    keywords=("kita", "kindergarten", "betreuung"),
)

BUILDING_APPLICATION = ServiceDefinition(
    code="building_application",
    kind=ServiceKind.APPLICATION,
    name_de="Bauantrag",
    name_en="Building application",
    description_de=(
        "Antrag auf Baugenehmigung nach der Landesbauordnung Baden-Württemberg. Die "
        "Bauvorlagen reicht die bauvorlageberechtigte Entwurfsverfasserin oder der "
        "Entwurfsverfasser ein."
    ),
    description_en=(
        "Application for planning permission under the Baden-Württemberg building code; the "
        "plans are submitted by the authorised architect or engineer."
    ),
    department=BAURECHT,
    processing_days=90,
    fee_cents=None,
    fee_note="Gebühr nach Baukosten, mindestens 100 €",
    form_version=1,
    form=_application(
        "building_application",
        1,
        "Bauantrag",
        {
            "builder": person("Bauherrin oder Bauherr"),
            "builder_address": address("Anschrift der Bauherrschaft"),
            "architect": text("Entwurfsverfasserin oder Entwurfsverfasser", max_length=200),
            "site_address": address("Baugrundstück"),
            "parcel": text(
                "Flurstück",
                max_length=40,
                description="Gemarkung und Flurstücksnummer, z. B. Heidenheim 1234/5.",
            ),
            "procedure": choice(
                "Verfahren",
                {
                    "standard": "Baugenehmigungsverfahren",
                    "simplified": "Vereinfachtes Baugenehmigungsverfahren",
                    "notification": "Kenntnisgabeverfahren",
                },
            ),
            "project": long_text("Bezeichnung des Vorhabens", max_length=1000),
            "building_costs_eur": integer("Baukosten in Euro", 0, 1_000_000_000),
            "email": email(),
        },
        [
            "builder",
            "builder_address",
            "architect",
            "site_address",
            "parcel",
            "procedure",
            "project",
        ],
    ),
    attachments=(
        Attachment("site_plan", "Lageplan", "Site plan"),
        Attachment("construction_drawings", "Bauzeichnungen", "Construction drawings"),
        Attachment("building_description", "Baubeschreibung", "Building description"),
    ),
    keywords=("bauen", "baugenehmigung", "bauantrag"),
)


def _damage(
    code: str,
    name_de: str,
    name_en: str,
    description_de: str,
    description_en: str,
    department: Department,
    properties: JsonSchema,
    required: list[str],
    *,
    processing_days: int = 5,
    keywords: tuple[str, ...] = (),
) -> ServiceDefinition:
    """A damage report: a place (``location`` or ``address`` of the application), a form whose
    properties map one to one onto Open311 attributes (string, number, text, single and
    multi value lists), optional photos."""
    return ServiceDefinition(
        code=code,
        kind=ServiceKind.DAMAGE_REPORT,
        name_de=name_de,
        name_en=name_en,
        description_de=description_de,
        description_en=description_en,
        department=department,
        processing_days=processing_days,
        form_version=1,
        form=form(code, 1, f"Schaden melden: {name_de}", properties, required),
        needs_location=True,
        attachments=(Attachment("photo", "Foto", "Photo", required=False),),
        keywords=("schaden", "mängelmelder", *keywords),
    )


POTHOLE = _damage(
    "pothole",
    "Schlagloch",
    "Pothole",
    "Schlaglöcher und Fahrbahnschäden auf Straßen, Geh- und Radwegen der Stadt.",
    "Potholes and damaged surfaces on city roads, pavements and cycle paths.",
    TIEFBAU,
    {
        "surface": choice(
            "Wo ist der Schaden?",
            {"road": "Fahrbahn", "cycle_path": "Radweg", "pavement": "Gehweg"},
        ),
        "size": choice(
            "Größe",
            {
                "small": "kleiner als ein Teller",
                "medium": "etwa so groß wie ein Autoreifen",
                "large": "größer als ein Autoreifen",
            },
        ),
        "depth_cm": integer("Tiefe in cm (geschätzt)", 1, 100),
        "hazard": yes_no("Akute Gefahr für Radfahrende oder Fußgänger"),
        "description": _DAMAGE_DESCRIPTION,
    },
    ["surface", "size"],
    processing_days=7,
    keywords=("straße", "fahrbahn"),
)

STREET_LIGHT = _damage(
    "street_light_out",
    "Straßenbeleuchtung defekt",
    "Street light out",
    "Eine Straßenlaterne ist dunkel, flackert oder brennt tagsüber.",
    "A street light is dark, flickers or is on during the day.",
    TIEFBAU,
    {
        "pole_number": text(
            "Mastnummer",
            max_length=12,
            pattern=r"^[0-9A-Za-z/-]{1,12}$",
            description="Die Nummer auf dem Schild am Mast, falls lesbar.",
        ),
        "problem": choice(
            "Was ist defekt?",
            {
                "dark": "Leuchte ist dunkel",
                "flickering": "Leuchte flackert",
                "on_during_day": "Leuchte brennt am Tag",
                "damaged_pole": "Mast beschädigt",
            },
        ),
        "lights_affected": integer("Anzahl betroffener Leuchten", 1, 50),
        "description": _DAMAGE_DESCRIPTION,
    },
    ["problem"],
    keywords=("laterne", "licht"),
)

ILLEGAL_DUMPING = _damage(
    "illegal_dumping",
    "Illegale Müllablagerung",
    "Illegal dumping",
    "Wilder Müll, Sperrmüll oder Bauschutt, der unerlaubt abgeladen wurde.",
    "Rubbish, bulky waste or rubble dumped without permission.",
    BAUHOF,
    {
        "waste_types": choices(
            "Art des Abfalls",
            {
                "household": "Hausmüll",
                "bulky": "Sperrmüll",
                "construction": "Bauschutt",
                "electronics": "Elektrogeräte",
                "tyres": "Altreifen",
                "green": "Grünschnitt",
                "hazardous": "Gefährliche Stoffe (Öl, Farben, Chemikalien)",
            },
        ),
        "volume": choice(
            "Menge",
            {
                "bag": "ein paar Säcke",
                "car_load": "etwa eine Kofferraumladung",
                "truck_load": "mehr als eine Kofferraumladung",
            },
        ),
        "description": _DAMAGE_DESCRIPTION,
    },
    ["waste_types", "volume"],
    keywords=("müll", "sperrmüll", "abfall"),
)

GRAFFITI = _damage(
    "graffiti",
    "Graffiti",
    "Graffiti",
    "Graffiti und Schmierereien an städtischen Gebäuden, Brücken, Schildern und Haltestellen.",
    "Graffiti on city buildings, bridges, signs and bus stops.",
    BAUHOF,
    {
        "surface": choice(
            "Wo ist das Graffiti?",
            {
                "public_building": "Städtisches Gebäude",
                "bridge": "Brücke oder Unterführung",
                "traffic_sign": "Verkehrsschild",
                "bus_stop": "Bushaltestelle",
                "other": "Sonstiges",
            },
        ),
        "offensive": yes_no("Beleidigender oder verfassungsfeindlicher Inhalt"),
        "area_m2": number("Fläche in m² (geschätzt)", 0.1, 500),
        "description": _DAMAGE_DESCRIPTION,
    },
    ["surface", "offensive"],
    keywords=("schmiererei",),
)

PLAYGROUND = _damage(
    "playground_damage",
    "Spielplatz beschädigt",
    "Playground damage",
    "Beschädigte Spielgeräte, Zäune oder Bänke auf einem städtischen Spielplatz.",
    "Damaged play equipment, fences or benches on a city playground.",
    BAUHOF,
    {
        "playground": text("Spielplatz", max_length=100, description="Name oder Lage."),
        "equipment": choice(
            "Was ist beschädigt?",
            {
                "swing": "Schaukel",
                "slide": "Rutsche",
                "climbing_frame": "Klettergerüst",
                "sandpit": "Sandkasten",
                "bench": "Bank",
                "fence": "Zaun oder Tor",
                "other": "Sonstiges",
            },
        ),
        "injury_risk": yes_no("Verletzungsgefahr"),
        "description": _DAMAGE_DESCRIPTION,
    },
    ["equipment", "injury_risk"],
    processing_days=3,
    keywords=("spielplatz", "spielgerät"),
)

OVERFLOWING_BIN = _damage(
    "overflowing_bin",
    "Mülleimer überfüllt",
    "Overflowing bin",
    "Ein öffentlicher Abfallbehälter oder Container quillt über.",
    "A public litter bin or container is overflowing.",
    BAUHOF,
    {
        "bin_type": choice(
            "Behälter",
            {
                "litter_bin": "Öffentlicher Abfalleimer",
                "dog_waste_bin": "Hundekotbeutel-Spender oder -Eimer",
                "glass_container": "Altglascontainer",
                "paper_container": "Altpapiercontainer",
            },
        ),
        "description": _DAMAGE_DESCRIPTION,
    },
    ["bin_type"],
    processing_days=2,
    keywords=("mülleimer", "container", "abfall"),
)

SCHOOLYARD_CHECK = ServiceDefinition(
    code="schoolyard_check",
    kind=ServiceKind.WORK_ORDER,
    name_de="Kontrolle Schulhof",
    name_en="Schoolyard check",
    description_de="Interner Arbeitsauftrag: nächtliche Aktivität auf einem Schulhof prüfen.",
    description_en="Internal work order: check night-time activity in a schoolyard.",
    department=ORDNUNGSAMT,
    processing_days=1,
    form_version=1,
    form=form("schoolyard_check", 1, "Kontrolle Schulhof", {"description": _DESCRIPTION}, []),
    needs_location=True,
    listed=False,
)

CATALOGUE: tuple[ServiceDefinition, ...] = (
    RESIDENT_PARKING,
    DOG_REGISTRATION,
    BUSINESS_REGISTRATION,
    BUSINESS_DEREGISTRATION,
    LANDLORD_CERTIFICATE,
    HEAVY_TRANSPORT,
    KINDERGARTEN,
    BUILDING_APPLICATION,
    POTHOLE,
    STREET_LIGHT,
    ILLEGAL_DUMPING,
    GRAFFITI,
    PLAYGROUND,
    OVERFLOWING_BIN,
    SCHOOLYARD_CHECK,
)

DAMAGE_REPORT_CODES: tuple[str, ...] = tuple(
    d.code for d in CATALOGUE if d.kind is ServiceKind.DAMAGE_REPORT
)
"""The Open311 services: pothole, street_light_out, illegal_dumping, graffiti,
playground_damage, overflowing_bin."""
