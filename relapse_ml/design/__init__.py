"""Design the next trial: operating characteristics by simulation, on a Dask cluster.

``relapse-ml design --config configs/design.yaml``: per scenario, sample size and
simulated trial one task (``analyses.run_trial``) that simulates the trial and runs its
analyses (Gray's test, hazard ratios and incidence differences for relapse and RFS, the
pre-specified heterogeneity test, subgroup interactions with Holm/BH, the accuracy of the
reported individual benefit). Modules: ``config`` (`DesignConfig`), ``gray`` (Gray's
test), ``analyses``, ``store`` (the study directory), ``runner`` (Dask), ``summary``
(rejection rates, figures, MLflow). Registry-scale cohorts: ``relapse_ml.simulate.chunked``.
Nothing heavy is imported here, so ``relapse-ml --help`` stays fast.
"""
