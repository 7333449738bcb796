"""The order slot: one transition table, compare-and-set moves, no stale commit."""

from __future__ import annotations

import pytest

from live.broker import Action, OrderRequest, PriceType
from live.execution.slots import (
    TRANSITIONS,
    OrderSlot,
    Role,
    SlotState,
    SlotTransitionError,
)
from tests.core.helpers import T0, D

REQ = OrderRequest("SBIN", "NSE", Action.SELL, 10, PriceType.SL_M, trigger_price=D("99.65"))


def test_every_state_is_in_the_table_and_every_transitional_state_has_a_way_out():
    assert set(TRANSITIONS) == set(SlotState)
    for state in SlotState:
        if state.transitional:
            assert SlotState.EMPTY in TRANSITIONS[state] or SlotState.WORKING in TRANSITIONS[state]
    # EMPTY is reachable from every state but EMPTY itself: nothing is a trap.
    assert all(SlotState.EMPTY in TRANSITIONS[s] for s in SlotState if s is not SlotState.EMPTY)


def test_a_move_the_table_does_not_allow_raises():
    slot = OrderSlot(Role.STOP)
    with pytest.raises(SlotTransitionError, match="empty -> working"):
        slot._to(SlotState.WORKING, T0)


def test_a_reply_for_a_placement_the_slot_gave_up_cannot_commit():
    slot = OrderSlot(Role.STOP)
    token = slot.claim(REQ, T0)
    assert slot.abandon(T0)  # the position closed meanwhile
    assert not slot.placed(token, "OID1", T0)  # the caller cancels its orphan
    assert slot.state is SlotState.EMPTY and slot.order_id is None
    token2 = slot.claim(REQ, T0)
    assert not slot.placed(token, "OID2", T0)  # an older token never commits
    assert slot.placed(token2, "OID3", T0) and slot.order_id == "OID3"


def test_the_book_may_adopt_before_the_reply_and_the_reply_still_agrees():
    slot = OrderSlot(Role.ENTRY, "buy")
    token = slot.claim(REQ, T0)
    assert slot.adopt("OID1", T0)
    assert slot.placed(token, "OID1", T0)  # same order: fine
    assert not slot.placed(token, "OID9", T0)  # another order: an orphan


def test_compare_and_clear_only_clears_the_order_it_names():
    slot = OrderSlot(Role.STOP)
    slot.placed(slot.claim(REQ, T0), "OID1", T0)
    assert not slot.finished("OID0", T0)
    assert slot.finished("OID1", T0) and not slot.busy


def test_modify_and_cancel_roll_back_with_their_token_only():
    slot = OrderSlot(Role.STOP)
    slot.placed(slot.claim(REQ, T0), "OID1", T0)
    token = slot.begin(SlotState.MODIFYING, "OID1", T0)
    assert slot.begin(SlotState.CANCELLING, "OID1", T0) is None  # one call at a time
    assert slot.end(token, T0) and slot.idle
    assert not slot.end(token, T0)  # already ended
    cancel = slot.begin(SlotState.CANCELLING, "OID1", T0)
    assert slot.state is SlotState.CANCELLING
    assert slot.finished("OID1", T0)  # the broker confirmed it
    assert not slot.end(cancel, T0)


def test_unconfirmed_is_given_up_after_two_reads_without_it():
    slot = OrderSlot(Role.STOP)
    token = slot.claim(REQ, T0)
    assert slot.unconfirmed(token, T0)
    assert not slot.absent(T0)
    assert slot.absent(T0) and slot.state is SlotState.EMPTY


def test_retry_is_claimed_again_or_abandoned():
    slot = OrderSlot(Role.ENTRY, "buy")
    token = slot.claim(REQ, T0, attempt=3)
    assert slot.retry_later(token, T0) and slot.state is SlotState.RETRY
    slot.claim(slot.request, T0)
    assert slot.state is SlotState.PENDING and slot.attempt == 3
