"""The lifecycle's rules, pure: which status follows which, what each action
does, and who may act on a request (inside their scope)."""

from __future__ import annotations

from typing import get_args

import pytest

from services.dispatch.lifecycle import ACTIONS, TRANSITIONS, check_action, check_move, check_scope
from shared.contracts import RequestStatus
from shared.http import Principal, Problem
from shared.scope import CommunityTree


def test_every_status_has_its_moves_and_the_final_ones_have_none() -> None:
    assert set(TRANSITIONS) == set(get_args(RequestStatus))
    assert all(targets <= set(TRANSITIONS) for targets in TRANSITIONS.values())
    assert TRANSITIONS["closed"] == TRANSITIONS["cancelled"] == frozenset()
    for action in ACTIONS.values():
        for state in action.allowed_from:  # an open assignment's state is its request's status
            assert action.request_status in TRANSITIONS[state]


def test_a_move_or_action_not_allowed_is_a_conflict_naming_where_it_stands() -> None:
    check_move("queued", "offered")
    with pytest.raises(Problem) as refused:
        check_move("done", "cancelled", "cannot cancel")
    assert refused.value.status == 409 and refused.value.detail == "cannot cancel: the request is done"
    assert check_action("complete", "in_progress", "in_progress").assignment_state == "done"
    with pytest.raises(Problem) as refused:
        check_action("start", "offered", "offered")
    assert refused.value.status == 409
    assert refused.value.detail == "cannot start an assignment that is offered (the request is offered)"


def test_coordinators_act_only_in_their_scope_and_outside_it_nothing_exists() -> None:
    admin = Principal("admin", "root")
    coordinator = Principal("coordinator", "zhang", frozenset({"jianghan"}))
    district = Principal("coordinator", "li", frozenset({"jianghan-district"}))
    tree = CommunityTree({"jianghan": "jianghan-district", "jianghan-02": "jianghan-district",
                          "wuchang": "wuchang-district", "jianghan-district": "wuhan", "wuchang-district": "wuhan"})
    check_scope(admin, what="request r", community=None, tree=tree)
    check_scope(coordinator, what="request r", community="jianghan", tree=tree)
    check_scope(district, what="request r", community="jianghan-02", tree=tree)
    for who, community in ((coordinator, "wuchang"), (coordinator, None), (coordinator, "jianghan-02"),
                           (district, "wuchang")):
        with pytest.raises(Problem) as refused:
            check_scope(who, what="request r", community=community, tree=tree)
        assert refused.value.status == 404 and refused.value.detail == "request r does not exist"
