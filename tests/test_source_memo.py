"""source_memo remembers a parse only when JSON gives it back as it is: the check agrees with a JSON round trip
(the oracle) and is conservative where the round trip cannot answer (an object met twice, a cycle)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from gitops.source_memo import _json_keeps

SHARED: dict[str, Any] = {"k": "v"}
CYCLE: list[Any] = [1]
CYCLE.append(CYCLE)

ROUND_TRIPS = [
    {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}, "n": 3, "f": 1.5, "b": True, "z": None},
    [{"nested": [[1, 2], {"deep": ["x"]}]}],
    "plain",
    {1: "int key"},
    {True: "bool key"},
    {None: "null key"},
    {"when": datetime.date(2001, 12, 14)},
    {"nan": float("nan")},
    {"inf": float("inf")},
    {"bytes": b"x"},
    {"set": {1, 2}},
]


@pytest.mark.parametrize("data", ROUND_TRIPS, ids=range(len(ROUND_TRIPS)))
def test_agrees_with_a_json_round_trip(data: Any) -> None:
    try:
        kept = json.loads(json.dumps(data)) == data
    except (TypeError, ValueError):
        kept = False
    assert _json_keeps(data) is kept


def test_an_object_met_twice_or_a_cycle_is_not_remembered() -> None:
    assert _json_keeps({"a": SHARED, "b": SHARED}) is False
    assert _json_keeps(CYCLE) is False
