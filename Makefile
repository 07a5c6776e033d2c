# Everything a fresh clone needs: `make demo`, `make test`, `make bench`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install test demo bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first, from the CPU build this machine carries: any other torch request would pull CUDA.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(PY) -m ruff check newsletter tests bench
	$(PY) -m pytest -q

demo: install
	$(PY) scripts/demo.py

bench: install
	$(PY) -m bench

lint: install
	$(PY) -m ruff check newsletter tests bench

clean:
	rm -rf $(VENV) .newsletter site demo-output test-artifacts
