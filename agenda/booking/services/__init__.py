"""Booking operations: the only code of agenda.booking that changes state.

- :mod:`.patients` — the minimal patient record, communes, protocol reasons
- :mod:`.search` — bookable slots, treating doctor first then distance then time
- :mod:`.bookings` — holds, fixed bookings, cancel, outcomes, synthesis, reorientation
- :mod:`.requests` — the floating request cascade and its timers
- :mod:`.purge` — retention
"""

from __future__ import annotations

from agenda.booking.services.bookings import (BookingInput, book, bookings_for, cancel_booking,
                                              get_booking, hold_slot, letter_booking,
                                              record_outcome, record_reorientation,
                                              release_hold, treated_patients, write_synthesis)
from agenda.booking.services.patients import PatientData, resolve_commune
from agenda.booking.services.requests import (accept_request, cancel_request, expire_due,
                                              escalate_due, offers_for, refuse_request,
                                              requests_for)
from agenda.booking.services.search import SearchQuery, SlotResult, prepare_search, \
    run_search, search_scope, search_slots

__all__ = ["BookingInput", "PatientData", "SearchQuery", "SlotResult", "accept_request", "book",
           "bookings_for", "cancel_booking", "cancel_request", "escalate_due", "expire_due",
           "get_booking", "hold_slot", "letter_booking", "offers_for", "prepare_search",
           "record_outcome", "record_reorientation", "refuse_request", "release_hold",
           "requests_for", "resolve_commune", "run_search", "search_scope", "search_slots",
           "treated_patients",
           "write_synthesis"]
