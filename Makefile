# Two entry points: `make demo` and `make test`. Both create/refresh .venv and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

# The main job on bundled data: build the demo dataset, train StyleGAN2 (`cpu` preset) on it for
# DEMO_KIMG thousand images (fid_digits at every snapshot), then generate a grid of digits from the
# last snapshot and print fid_digits over training.
DEMO_KIMG ?= 20
demo: $(STAMP)
	rm -rf demo-out
	$(VENV)/bin/ganforge dataset create --source demo:digits --dest demo-out/digits32.zip
	$(VENV)/bin/ganforge dataset info demo-out/digits32.zip --grid demo-out/reals.png
	$(VENV)/bin/ganforge train --data demo-out/digits32.zip --outdir demo-out/runs --cfg cpu \
		--kimg $(DEMO_KIMG) --snap 5 --grid 8x8 --metrics fid_digits
	$(VENV)/bin/ganforge generate --network "$$(ls demo-out/runs/*/network-snapshot-*.pt | tail -n 1)" \
		--seeds 0-63 --grid --outdir demo-out/generated
	@echo "fid_digits over training (snapshot, value):"
	@$(PY) -c "import json, sys; [print(' ', r['snapshot_pkl'], round(r['results']['fid_digits'], 2)) \
		for r in map(json.loads, open(sys.argv[1]))]" demo-out/runs/*/metric-fid_digits.jsonl
	@echo "Demo run: $$(ls -d demo-out/runs/*/); generated digits: demo-out/generated/grid.png"

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) demo-out .pytest_cache
