"""Who benefits from sorafenib: the named scenarios of the simulator."""

from __future__ import annotations

from dataclasses import dataclass

from relapse_ml.errors import RelapseMLError

SCENARIOS: dict[str, str] = {
    "null": "sorafenib has no effect on relapse or non-relapse death (toxicity still happens)",
    "uniform": "sorafenib slows leukemia growth in everyone (relapse HR about 0.6)",
    "mrd_driven": (
        "sorafenib slows growth only of a clone near or above the MFC detection limit: the "
        "benefit concentrates in patients with detectable or rising residual disease"
    ),
    "harm_subgroup": (
        "uniform relapse benefit, but older (age >= 55) or comorbid (HCT-CI >= 3) patients "
        "have more non-relapse death and toxicity on sorafenib"
    ),
    "cytogenetics_driven": (
        "sorafenib slows leukemia growth only in patients with adverse cytogenetics, a "
        "recorded baseline feature: heterogeneity the data can see (a positive control for "
        "the benefit analyses)"
    ),
}
DEFAULT_SCENARIO = "mrd_driven"


class ScenarioError(RelapseMLError):
    """An unknown scenario name."""


@dataclass(frozen=True)
class Scenario:
    """Drug effect of one scenario.

    ``growth_cut`` is the fraction of intrinsic leukemia growth removed at full dose; with
    ``burden_dependent`` it is scaled by each patient's sensitivity, a logistic function
    (centre ``burden_mid``, log10 %) of the burden projected ``projection_days`` ahead
    from the state at randomization. ``harm_nrm`` and ``harm_tox`` multiply the non-relapse
    death and toxicity hazards of the harm group (age >= 55 or HCT-CI >= 3) while on drug.
    ``responder_cytogenetics`` (a `cytogenetic_risk` level; "" = everyone) restricts the
    drug's effect on growth to the patients with that recorded level.
    """

    name: str
    growth_cut: float = 0.0
    burden_dependent: bool = False
    burden_mid: float = -3.0
    burden_width: float = 0.3
    projection_days: float = 90.0
    harm_nrm: float = 1.0
    harm_tox: float = 1.0
    harm_age: float = 55.0
    harm_hct_ci: int = 3
    responder_cytogenetics: str = ""


_SCENARIO_PARAMS: dict[str, Scenario] = {
    "null": Scenario("null"),
    "uniform": Scenario("uniform", growth_cut=0.42),
    "mrd_driven": Scenario(
        "mrd_driven", growth_cut=0.45, burden_dependent=True, burden_mid=-2.0, projection_days=30.0
    ),
    "harm_subgroup": Scenario("harm_subgroup", growth_cut=0.42, harm_nrm=3.0, harm_tox=1.5),
    "cytogenetics_driven": Scenario(
        "cytogenetics_driven", growth_cut=0.6, responder_cytogenetics="adverse"
    ),
}


def get_scenario(name: str) -> Scenario:
    """The `Scenario` called ``name``; `ScenarioError` naming the allowed ones otherwise."""
    if name not in _SCENARIO_PARAMS:
        raise ScenarioError(f"unknown scenario {name!r}; allowed: " + ", ".join(SCENARIOS))
    return _SCENARIO_PARAMS[name]


def with_effect(scen: Scenario, effect: dict | None) -> Scenario:
    """``scen`` with some drug-effect parameters changed; unknown names are an error."""
    if not effect:
        return scen
    from dataclasses import fields, replace

    allowed = [f.name for f in fields(Scenario) if f.name != "name"]
    bad = [k for k in effect if k not in allowed]
    if bad:
        raise ScenarioError(
            f"unknown effect parameter(s) {', '.join(map(repr, bad))}; allowed: " + ", ".join(allowed)
        )
    from relapse_ml.simulate.population import CYTO_P

    levels = ("", *CYTO_P)
    if effect.get("responder_cytogenetics", "") not in levels:
        raise ScenarioError(
            f"responder_cytogenetics {effect['responder_cytogenetics']!r} is not a "
            "cytogenetic_risk level; allowed: " + ", ".join(repr(v) for v in levels)
        )
    return replace(scen, **effect)
