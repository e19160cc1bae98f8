"""The every-visit benchmarks' training pipelines: the default config and its variants.

`run_training` configurations that `benchmark_visits.py`, `benchmark_jm.py` and
`bench_train.py` set beside the shipped default (the same trials, paired by seed).
"""

from __future__ import annotations

# pipelines (run_training): name -> (super_landmark, with the trajectory step's XGBoost added)
PIPELINES = {"day60_default": (False, False), "super_default": (True, False),
             "super_traj_default": (True, True), "shipped_default": (True, None),
             "stack_default": (True, "stack"), "stack_traj_default": (True, "stack_traj"),
             "blend4_default": (True, "blend4"), "bylm_default": (True, "bylm"),
             "cov_default": (True, "cov"), "coxcov_default": (True, "coxcov"),
             "blend3_default": (True, "blend3")}
# ``blend3_default``: the shipped default with a third blend member, its Cox trajectory model
# (covariates as shipped) fitted by landmark (`by_landmark`)
# ``cov_default``: the shipped default with baseline covariates in its trajectory models' prior
# mean (``covariates: default``, in the candidates and in the blend's members alike);
# ``coxcov_default``: the same on ``cox_cs_trajectory`` only (candidate and blend member) — the
# shipped default since benchmark_visits_chim_cov, so now the same as ``shipped_default``
# ``blend4_default``: the shipped candidates plus an equal blend of four trajectory models, the
# two of the default and the same two fitted by landmark (`by_landmark`); ``bylm_default``:
# the shipped candidates with the blend's two members fitted by landmark
# ``stack_default``: the shipped default's candidates plus a stack over all of them (the null
# model is always in a stack); ``stack_traj_default``: plus a stack over its two trajectory
# models only (cheaper). The run's cross-validated choice of final model decides as shipped.
TRAJ_XGB = {"name": "trajectory", "label": "xgb_cs_trajectory",
            "params": {"model": "xgb_cs", "model_params": None}}


def with_covariates(models: list, cox_only: bool = False) -> None:
    """``covariates: default`` on the config's trajectory steps, stack members too (in place);
    ``cox_only``: on the steps around ``cox_cs`` only."""
    for m in models:
        for spec in [m, *((m.get("params") or {}).get("members") or [])]:
            if spec["name"] == "trajectory" and (not cox_only or spec["params"]["model"] == "cox_cs"):
                spec["params"] = {**spec["params"], "covariates": "default"}


def by_landmark(spec: dict) -> dict:
    """A trajectory model spec fitted by landmark (`by_landmark: true`), labelled ``*_lm``."""
    return {**spec, "label": spec["label"] + "_lm", "params": {**spec["params"], "by_landmark": True}}


def pipeline_config(super_landmark: bool, n_boot: int | None = None, traj: bool = False):
    """The default config with the super-landmark switch set; ``n_boot`` bootstrap
    replicates of the CV metrics' intervals (None: the default's; they do not change the
    choice of the final model, which reads the pooled IPA); ``traj`` adds the trajectory
    step around the default XGBoost (same parameters) unless the default has it."""
    from relapse_ml.config import TrainConfig, default

    data = default()
    data.pop("data", None)
    data["landmark"]["super_landmark"] = bool(super_landmark)
    # the four models of the previous default; ``traj`` adds the trajectory step around the
    # XGBoost; ``traj`` None: the models as shipped (``shipped_default``)
    if traj in ("cov", "coxcov"):
        with_covariates(data["models"], cox_only=traj == "coxcov")
        traj = None
    if traj == "blend3":
        blend = next(m for m in data["models"] if m["name"] == "stack")
        cox = next(m for m in blend["params"]["members"] if m["params"]["model"] == "cox_cs")
        blend["params"] = {**blend["params"],
                           "members": [*blend["params"]["members"], by_landmark(cox)]}
        traj = None
    if traj in ("blend4", "bylm"):
        pair = [m for m in data["models"] if m["name"] == "trajectory"]
        lm = [by_landmark(m) for m in pair]
        if traj == "blend4":
            data["models"] = [*data["models"], {"name": "stack", "label": "blend4_trajectory",
                                                "params": {"weights": "equal",
                                                           "members": [*pair, *lm]}}]
        else:
            data["models"] = [m for m in data["models"] if m["name"] != "stack"]
            data["models"] += [*lm, {"name": "stack", "label": "blend_trajectory_lm",
                                     "params": {"weights": "equal", "members": lm}}]
        traj = None
    if traj in ("stack", "stack_traj"):
        members = [{k: v for k, v in m.items() if k in ("name", "params", "label")}
                   for m in data["models"] if m["name"] not in ("aalen_johansen", "stack")
                   and (traj == "stack" or m["name"] == "trajectory")]
        data["models"] = [*data["models"], {"name": "stack", "label": traj,
                                            "params": {"members": members}}]
        traj = None
    if traj is not None:
        data["models"] = [m for m in data["models"] if m["name"] != "trajectory"]
    if traj:
        xgb = next(m for m in data["models"] if m["name"] == "xgb_cs")
        spec = {**TRAJ_XGB, "params": {"model": "xgb_cs", "model_params": xgb.get("params")}}
        data["models"] = [*data["models"], spec]
    data["landmark"]["landmark_day"] = 60
    if n_boot is not None:
        data["evaluation"]["n_boot"] = int(n_boot)
    return TrainConfig.model_validate(data)
