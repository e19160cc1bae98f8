"""Search space → Optuna suggestions, and back from a trial's parameters to a model's."""

from __future__ import annotations

from relapse_ml.tuning.config import Choice, FloatRange, TuneConfig, TunedModel

MODEL_PARAM = "model"  # the trial parameter that picks the model when several are tuned


def param_name(cfg: TuneConfig, model: TunedModel, key: str) -> str:
    """Trial parameter name: the model's own name, prefixed by its label when several models compete."""
    return key if len(cfg.models) == 1 else f"{model.display}.{key}"


def suggest(trial, cfg: TuneConfig) -> tuple[TunedModel, dict]:
    """Draw a model and its searched parameters from ``trial`` (define-by-run)."""
    model = cfg.models[0]
    if len(cfg.models) > 1:
        label = trial.suggest_categorical(MODEL_PARAM, [m.display for m in cfg.models])
        model = next(m for m in cfg.models if m.display == label)
    params = {}
    for key, space in model.search_space.items():
        name = param_name(cfg, model, key)
        if isinstance(space, Choice):
            params[key] = trial.suggest_categorical(name, space.choices)
        elif isinstance(space, FloatRange):
            params[key] = trial.suggest_float(
                name, space.low, space.high, log=space.log, step=space.step
            )
        else:
            params[key] = trial.suggest_int(
                name, space.low, space.high, log=space.log, step=space.step
            )
    return model, params


def from_trial_params(cfg: TuneConfig, trial_params: dict) -> tuple[TunedModel, dict]:
    """The model and searched parameters a finished trial used."""
    model = cfg.models[0]
    if len(cfg.models) > 1:
        model = next(m for m in cfg.models if m.display == trial_params[MODEL_PARAM])
    return model, {
        key: trial_params[param_name(cfg, model, key)]
        for key in model.search_space
        if param_name(cfg, model, key) in trial_params
    }
