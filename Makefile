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

# The main job on bundled data: build the demo dataset, describe it, render its real samples and
# generate images from an official-layout StyleGAN2-ADA snapshot pickle.
demo: $(STAMP)
	rm -rf demo-out
	$(VENV)/bin/ganforge dataset create --source demo:digits --dest demo-out/digits32.zip
	$(VENV)/bin/ganforge dataset info demo-out/digits32.zip --grid demo-out/reals.png
	$(VENV)/bin/ganforge generate --network tests/data/parity/g32_skip_rgb-snapshot.pkl --seeds 0-7 --grid \
		--outdir demo-out/generated
	@echo "Demo outputs are in demo-out/"

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) demo-out .pytest_cache
