"""The routing file's rules: order, first match, the named policy's precedence, the arm's
determinism and share, and every mistake refused naming its rule."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from domain.errors import InvalidInput
from domain.routing import (
    CHALLENGER,
    CHAMPION,
    Strategy,
    arm_of,
    parse_routing,
    route,
)
from policies.routing import DEFAULT_ROUTING, load_routing
from tests.helpers.activity_requests import case_input

RULES = """
[[route]]
when = { portfolio = "consumer", segment = "salaried", max_amount_minor = 100000 }
policy = "demo"

[[route]]
when = { portfolio = "consumer", min_amount_minor = 100001 }
experiment = "firm-early"
champion = "default"
challenger = "cn-online-lending"
challenger_share = 0.2

[[route]]
when = { portfolio = "card" }
policy = "us-reg-f"
"""


def routed(**changes: object) -> Strategy:
    case = case_input(policy_given=False, **changes)
    return route(parse_routing(tomllib.loads(RULES)), case, policy_given=False)


def test_the_first_matching_rule_wins_in_order() -> None:
    small_salaried = routed(segment="salaried", overdue_amount_minor=100000)
    assert small_salaried == Strategy("demo")
    # The same amount without the segment matches no rule: `default`.
    assert routed(overdue_amount_minor=100000) == Strategy("default")
    assert routed(portfolio="card", segment="salaried") == Strategy("us-reg-f")
    large = routed(overdue_amount_minor=100001, loan_id="L-1")
    assert large.experiment == "firm-early"
    assert large.policy == ("cn-online-lending" if large.arm == CHALLENGER else "default")


def test_a_policy_named_in_the_start_input_wins() -> None:
    routes = parse_routing(tomllib.loads(RULES))
    case = case_input(policy="demo-desk", portfolio="card")
    assert route(routes, case, policy_given=True) == Strategy("demo-desk")


def test_without_rules_every_case_is_default() -> None:
    assert route([], case_input(policy_given=False), policy_given=False) == Strategy("default")


def test_the_arm_is_a_function_of_the_experiment_and_the_loan_alone() -> None:
    loans = [f"L-{index:05d}" for index in range(10_000)]
    arms = [arm_of("firm-early", loan, 0.2) for loan in loans]
    assert arms == [arm_of("firm-early", loan, 0.2) for loan in loans]
    challengers = arms.count(CHALLENGER)
    # 10,000 draws of a 20 % share: the standard deviation is 40; 5 of them either side.
    assert 1800 <= challengers <= 2200
    # Another experiment draws its arms independently of this one's.
    other = [arm_of("another", loan, 0.2) for loan in loans]
    both = sum(1 for a, b in zip(arms, other, strict=True) if a == b == CHALLENGER)
    assert 300 <= both <= 500  # 4 % of 10,000 expected
    # A larger share keeps every challenger a challenger (the same draw, a higher bar).
    wider = [arm_of("firm-early", loan, 0.5) for loan in loans]
    assert all(w == CHALLENGER for a, w in zip(arms, wider, strict=True) if a == CHALLENGER)
    assert set(arms) == {CHAMPION, CHALLENGER}


def test_the_arm_label_names_experiment_and_arm() -> None:
    assert Strategy("default", "firm-early", CHAMPION).arm_label == "firm-early:champion"
    assert Strategy("default").arm_label is None
    assert Strategy("default").as_json() == {"policy": "default", "experiment": None, "arm": None}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[[route]]\nwhen = { portfolio = "x" }\n', "route[0]"),
        ('[[route]]\npolicy = "default"\ncolour = "red"\n', "route[0].colour"),
        ('[[route]]\npolicy = "Bad Name"\n', "route[0].policy"),
        ('[[route]]\npolicy = "default"\nwhen = { amount = 1 }\n', "route[0].when.amount"),
        (
            '[[route]]\npolicy = "default"\nwhen = { min_amount_minor = "1" }\n',
            "route[0].when.min_amount_minor",
        ),
        (
            '[[route]]\npolicy = "default"\n'
            "when = { min_amount_minor = 5, max_amount_minor = 1 }\n",
            "route[0].when.min_amount_minor",
        ),
        ('[[route]]\npolicy = "default"\nwhen = { segment = "" }\n', "route[0].when.segment"),
        (
            '[[route]]\nexperiment = "e"\nchampion = "default"\nchallenger = "demo"\n'
            "challenger_share = 1.5\n",
            "route[0].challenger_share",
        ),
        (
            '[[route]]\nexperiment = "e"\nchampion = "default"\nchallenger = "default"\n'
            "challenger_share = 0.5\n",
            "route[0].challenger",
        ),
        (
            '[[route]]\nexperiment = "e"\npolicy = "default"\nchampion = "default"\n'
            'challenger = "demo"\nchallenger_share = 0.5\n',
            "route[0].policy",
        ),
        (
            '[[route]]\npolicy = "default"\n[[route]]\nexperiment = "e"\nchampion = "default"\n'
            'challenger = "demo"\nchallenger_share = 0.5\n[[route]]\nexperiment = "e"\n'
            'champion = "default"\nchallenger = "demo"\nchallenger_share = 0.4\n',
            "route[2].experiment",
        ),
        ("rules = []\n", "rules"),
    ],
)
def test_a_bad_file_is_refused_naming_the_rule(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_routing(tomllib.loads(text))
    assert raised.value.field == field


def test_the_loader_refuses_an_unknown_policy_naming_file_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "routing.toml"
    path.write_text(
        '[[route]]\npolicy = "default"\n[[route]]\nexperiment = "e"\nchampion = "default"\n'
        'challenger = "firmer"\nchallenger_share = 0.5\n'
    )
    with pytest.raises(InvalidInput) as raised:
        load_routing(path)
    assert raised.value.field == f"{path}: route[1].challenger"
    assert "unknown policy 'firmer'" in raised.value.problem
    path.write_text("[[route]\n")
    with pytest.raises(InvalidInput, match="cannot be read"):
        load_routing(path)
    with pytest.raises(InvalidInput, match="no such file"):
        load_routing(tmp_path / "missing.toml")


def test_the_shipped_routing_file_is_valid_and_routes_everything_to_default() -> None:
    assert DEFAULT_ROUTING.exists()
    routes = load_routing(DEFAULT_ROUTING)
    case = replace(case_input(), policy_given=False)
    assert route(routes, case, policy_given=False) == Strategy("default")
