# relapse-ml — `make demo` and `make test` work on a fresh machine with only Python >= 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= demo_out
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlruns.db

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "relapse-ml needs Python >= 3.11, found " + sys.version.split()[0]'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(BIN)/relapse-ml simulate --n 346 --seed 0 --scenario mrd_driven --screen-failures --overwrite --out $(DEMO)/trial
	$(BIN)/relapse-ml validate $(DEMO)/trial
	$(BIN)/relapse-ml eligibility $(DEMO)/trial --out $(DEMO)/eligibility.csv
	$(BIN)/relapse-ml train --config configs/default.yaml
	$(BIN)/relapse-ml report --latest train --out $(DEMO)/report.html
	$(BIN)/relapse-ml export --model models:/relapse-risk/latest --out $(DEMO)/bundle --bootstrap 20 --overwrite
	$(BIN)/relapse-ml benefit --config configs/benefit.yaml --data $(DEMO)/trial --out $(DEMO)/benefit --export-benefit $(DEMO)/benefit_model
	$(BIN)/relapse-ml score --patient examples/patient_example.json --model $(DEMO)/bundle --benefit $(DEMO)/benefit_model --html $(DEMO)/patient.html
	$(BIN)/relapse-ml score --fhir examples/patient_example_fhir.json --model $(DEMO)/bundle --benefit $(DEMO)/benefit_model --fhir-out $(DEMO)/risk_assessment.json
	$(BIN)/relapse-ml score --cohort $(DEMO)/trial --model $(DEMO)/bundle --benefit $(DEMO)/benefit_model --out $(DEMO)/scores.csv
	$(BIN)/relapse-ml tune --config configs/tune_xgboost.yaml --data $(DEMO)/trial --trials 5 --storage sqlite:///$(CURDIR)/$(DEMO)/optuna.db
	$(BIN)/relapse-ml subgroups --config configs/benefit.yaml --data $(DEMO)/trial --out $(DEMO)/subgroups
	$(BIN)/relapse-ml report --latest benefit --data $(DEMO)/trial --out $(DEMO)/benefit_report.html
	@echo
	@echo "demo outputs in $(DEMO)/ (report.html, benefit_report.html, patient.html, subgroups/forest_*.png)"
	@echo "runs: $(BIN)/mlflow ui --backend-store-uri $(MLFLOW_TRACKING_URI)"

test: install
	$(BIN)/python -m pytest -q -n 2 --durations=10

lint: install
	$(BIN)/ruff check relapse_ml tests experiments

# speed benchmarks (a few minutes); the long studies are run directly:
#   experiments/benchmark_models.py (~20 min), experiments/benefit_simulation.py --study all
bench: install
	$(BIN)/python experiments/bench_simulate.py
	$(BIN)/python experiments/bench_features.py
	$(BIN)/python experiments/bench_scoring.py
	$(BIN)/python experiments/bench_tuning.py

clean:
	rm -rf $(DEMO) .pytest_cache
