"""Mechanistic simulator of the NCT04674345 trial with known truth.

``simulate_trial`` screens transplanted candidates, randomizes ``n`` of them 1:1 on day
45-60 and follows them; the result holds the three contract tables, a ``truth`` table
(each patient's true landmark risk of relapse under both arms) and ``meta``.
"""

from relapse_ml.simulate.result import SimulatedTrial
from relapse_ml.simulate.scenarios import SCENARIOS, ScenarioError, get_scenario
from relapse_ml.simulate.trial import simulate_trial

__all__ = ["SCENARIOS", "ScenarioError", "SimulatedTrial", "get_scenario", "simulate_trial"]
