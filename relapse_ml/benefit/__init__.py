"""Who benefits from sorafenib: cross-fitted benefit learners (S, T, DR), checks of the
heterogeneity without truth, SHAP on the benefit, and subgroup analyses.

Modules: ``config`` (`BenefitConfig`), ``learners``, ``pseudo`` (IPCW outcomes, DR scores),
``heterogeneity`` (RATE/AUTOC, sequential validation, BLP, c-for-benefit, PATH),
``subgroups``, ``explain`` (SHAP), ``figures``, ``run`` (the pipelines the CLI calls).
Nothing heavy is imported here, so ``relapse-ml --help`` stays fast.
"""
