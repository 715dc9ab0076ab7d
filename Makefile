# Two entry points: `make demo` and `make test`. Both create/refresh .venv and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-browser lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

# The main job on bundled data: build the demo dataset, train a class-conditional StyleGAN2 (`cpu`
# preset) on it for DEMO_KIMG thousand images (fid_digits and class_acc at every snapshot), then
# draw ten samples of each digit from the last snapshot (one row per class) and print the metrics.
DEMO_KIMG ?= 20
demo: $(STAMP)
	rm -rf demo-out
	$(VENV)/bin/ganforge dataset create --source demo:digits --dest demo-out/digits32.zip
	$(VENV)/bin/ganforge dataset info demo-out/digits32.zip --grid demo-out/reals.png
	$(VENV)/bin/ganforge train --data demo-out/digits32.zip --outdir demo-out/runs --cfg cpu --cond \
		--kimg $(DEMO_KIMG) --snap 4 --grid 10x10 --metrics fid_digits,class_acc
	$(VENV)/bin/ganforge generate --network "$$(ls demo-out/runs/*/network-snapshot-*.pt | tail -n 1)" \
		--class 0-9 --seeds 0-9 --grid --outdir demo-out/generated
	@echo "fid_digits and class_acc over training (snapshot: values):"
	@$(PY) -c "import glob, json; rows = {}; \
		[rows.setdefault(r['snapshot_pkl'], {}).update(r['results']) for f in sorted(glob.glob( \
		'demo-out/runs/*/metric-*.jsonl')) for r in map(json.loads, open(f))]; \
		[print(' ', k, ', '.join(f'{m} {v:.3g}' for m, v in sorted(d.items()))) for k, d in sorted(rows.items())]"
	@echo "Demo run: $$(ls -d demo-out/runs/*/); generated digits (row k = class k): demo-out/generated/grid.png"

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# The browser tests of `ganforge serve` alone (they also run in `make test`); they drive Debian's
# chromium (/usr/bin/chromium, `apt-get install chromium`) with Playwright, no browser download.
test-browser: $(STAMP)
	$(PY) -m pytest -q -m browser

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) demo-out .pytest_cache
