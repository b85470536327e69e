"""fusiongym.accelerator.objectives: the one definition of what a schedule is scored by."""

from __future__ import annotations

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.objectives import (ADDITIVE_OBJECTIVES, OBJECTIVE_NAMES, check_objective,
                                    group_value, objective_value)
from fusiongym.accelerator.evaluator import evaluate
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.zoo import get_network


def test_names_and_which_are_additive():
    assert OBJECTIVE_NAMES == ("latency", "energy", "edp")
    assert ADDITIVE_OBJECTIVES == ("latency", "energy")


def test_values_from_plain_numbers():
    assert objective_value("latency", 1200, 5.0, 2e-6) == 1200.0
    assert objective_value("energy", 1200, 5.0, 2e-6) == 5.0
    assert objective_value("edp", 1200, 5.0, 2e-6) == pytest.approx(1e-5)


def test_additive_objectives_are_sums_of_group_values():
    hw, net = load_config(), get_network("tiny_residual")
    result = evaluate(net, Schedule.no_fusion(net, 4), hw)
    for name in ADDITIVE_OBJECTIVES:
        assert result.objective(name) == pytest.approx(
            sum(group_value(g, name) for g in result.groups))
    assert result.objective("edp") == result.energy_pj * result.seconds


def test_checks_are_one_line_errors_naming_the_valid_ones():
    assert check_objective("edp", additive=False) == "edp"
    with pytest.raises(UserInputError, match="^objective 'edp' cannot be searched group by "
                                             "group; use one of latency, energy$"):
        check_objective("edp", additive=True)
    with pytest.raises(UserInputError, match="^objective 'speed' is not one of latency, "
                                             "energy, edp$"):
        check_objective("speed", additive=False)
    with pytest.raises(UserInputError, match="is not one of"):
        objective_value("speed", 1, 1.0, 1.0)
