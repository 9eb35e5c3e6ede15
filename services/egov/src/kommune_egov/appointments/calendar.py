"""An appointment as an iCalendar file (RFC 5545), written by the ``icalendar`` library."""

from __future__ import annotations

from datetime import datetime

from icalendar import Calendar, Event

PRODUCT_ID = "-//Stadt Heidenheim an der Brenz//Kommune egov Terminvereinbarung//DE"
ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"


def appointment_ics(
    *,
    uid: str,
    starts_at: datetime,
    ends_at: datetime,
    service_name: str,
    location_name: str,
    location_address: str,
    created_at: datetime,
    cancelled: bool,
) -> bytes:
    """One VEVENT; a cancelled appointment is sent as ``STATUS:CANCELLED`` so calendars drop it."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", created_at)
    event.add("dtstart", starts_at)
    event.add("dtend", ends_at)
    event.add("summary", f"Termin: {service_name}")
    event.add("location", f"{location_name}, {location_address}")
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical
