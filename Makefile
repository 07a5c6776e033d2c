# Everything a fresh clone needs: `make demo`, `make test`, `make bench`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install browser test demo bench lint clean
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first, from the CPU build this machine carries: any other torch request would pull CUDA.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[test]'
	# The ONNX export of the embedding model, once per machine, so no project's first command loads torch.
	HF_HUB_OFFLINE=1 $(PY) -m newsletter.semantic.warm
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's chromium through playwright; never a downloaded browser build.
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null

browser: $(CHROMIUM)

test: install browser
	$(PY) -m ruff check newsletter tests bench
	$(PY) -m mypy newsletter
	$(PY) -m pytest -q

demo: install browser
	$(PY) scripts/demo.py

bench: install browser
	$(PY) -m bench $(BENCH_ARGS)

lint: install
	$(PY) -m mypy newsletter
	$(PY) -m ruff check newsletter tests bench

clean:
	rm -rf $(VENV) .newsletter site demo-output test-artifacts
