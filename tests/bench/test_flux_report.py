"""The Flux bench's ratio lines follow the issue's format: `<name>: <ours> s vs <baseline> s = <ratio>× (goal ≤ X)`."""

from __future__ import annotations

from gitops.bench.flux import ratio_line


def test_goal_met_and_not_met() -> None:
    assert ratio_line("render", 1.0, 4.0, 0.6) == "render: 1.00 s vs 4.00 s = 0.25× (goal ≤ 0.6×, met)"
    assert ratio_line("diff", 3.0, 1.0, 2.0) == "diff: 3.00 s vs 1.00 s = 3.00× (goal ≤ 2×, NOT met)"


def test_reference_baseline_has_no_goal() -> None:
    assert ratio_line("xargs", 1.0, 2.0, None) == "xargs: 1.00 s vs 2.00 s = 0.50× (reference, no goal)"


def test_less_work_than_the_baseline_is_not_a_met_goal() -> None:
    line = ratio_line("render", 0.1, 10.0, 0.6, "3 of 303 targets")
    assert line == "render: 0.10 s vs 10.00 s = 0.01× (goal ≤ 0.6×, not comparable: 3 of 303 targets)"
