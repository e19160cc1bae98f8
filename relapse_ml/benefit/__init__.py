"""Who benefits from sorafenib: cross-fitted benefit learners (S, T, DR), checks of the
heterogeneity without truth, SHAP on the benefit, and subgroup analyses.

Modules: ``config`` (`BenefitConfig`), ``learner_specs`` (which learners, the default set),
``learners``, ``tuned`` (the shrunk S-learner), ``refit`` (refits for bootstraps and the
sequential test), ``pseudo`` (IPCW outcomes, DR scores),
``heterogeneity`` (RATE/AUTOC, sequential validation, BLP, c-for-benefit, PATH),
``subgroups``, ``explain`` (SHAP), ``figures``; the pipelines the CLI calls: ``data``,
``estimation``, ``outputs`` (figures, tables, MLflow), ``run`` (`run_benefit`, and every
step re-exported) and ``subgroups_run`` (`run_subgroups`).
Nothing heavy is imported here, so ``relapse-ml --help`` stays fast.
"""
