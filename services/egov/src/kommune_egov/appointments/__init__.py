"""Appointment booking: locations, services offered there, opening hours, slots, bookings."""
