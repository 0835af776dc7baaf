"""The slot status life cycle — the one place that says which transition is allowed.

open → held (a phone call) → booked → seen / no_show / cancelled; open → withdrawn;
open → past (nobody took it). A held slot goes back to open when the hold expires or is
released; a booked slot goes back to open when its booking is cancelled and the time is
offered again (or a floating window regains capacity).
"""

from __future__ import annotations

from flask_babel import gettext as _

from agenda.errors import Conflict
from agenda.slots.models import SlotStatus

OPEN = SlotStatus.OPEN.value
HELD = SlotStatus.HELD.value
BOOKED = SlotStatus.BOOKED.value
SEEN = SlotStatus.SEEN.value
NO_SHOW = SlotStatus.NO_SHOW.value
CANCELLED = SlotStatus.CANCELLED.value
WITHDRAWN = SlotStatus.WITHDRAWN.value
PAST = SlotStatus.PAST.value

ALLOWED: dict[str, set[str]] = {
    OPEN: {HELD, BOOKED, WITHDRAWN, PAST},
    HELD: {OPEN, BOOKED, PAST},
    BOOKED: {SEEN, NO_SHOW, CANCELLED, OPEN},
    SEEN: set(),
    NO_SHOW: set(),
    CANCELLED: set(),
    WITHDRAWN: set(),
    PAST: set(),
}

#: Slots that occupy the doctor's time (checked for overlap).
LIVE: frozenset[str] = frozenset({OPEN, HELD, BOOKED, SEEN, NO_SHOW, PAST})
#: Slots that count towards the weekly charter (a published offer, taken or not).
COUNTED: frozenset[str] = LIVE
#: Final states.
TERMINAL: frozenset[str] = frozenset(s for s, targets in ALLOWED.items() if not targets)

def status_label(status: str) -> str:
    """A slot's status in words (named in :mod:`agenda.labels`)."""
    from agenda.labels import label

    return label(status, "slot_status")


def can_transition(current: str, target: str) -> bool:
    return target in ALLOWED.get(current, set())


def check_transition(slot, target: str) -> None:
    """Raise :class:`Conflict` (French message) unless ``slot`` may move to ``target``."""
    if can_transition(slot.status, target):
        return
    if slot.status == BOOKED and target == WITHDRAWN:
        raise Conflict(_("Ce créneau est réservé : il ne peut pas être retiré. Annulez la "
                         "réservation en indiquant un motif ; la personne qui l'a prise "
                         "sera prévenue."), rule="slot_booked")
    raise Conflict(_("Ce créneau est « %(current)s » : impossible de le passer à « %(target)s ».",
                     current=status_label(slot.status), target=status_label(target)),
                   rule="slot_status")


def transition(slot, target: str) -> None:
    """Check and apply a transition on a loaded slot (for writers that hold its row)."""
    check_transition(slot, target)
    slot.status = target
