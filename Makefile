# gaitwave: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export WANDB_MODE ?= offline

.DEFAULT_GOAL := help
.PHONY: help install train test test-all lint format synth clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install gaitwave with its dev tools (quick when done)

train: install ## train and evaluate the default experiment (override ARGS="fusion=norm ...")
	$(BIN)/gaitwave-train $(ARGS)

test: install ## run the default test suite (slow tests excluded)
	WANDB_MODE=disabled OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q

test-all: install ## run every test, slow ones included
	WANDB_MODE=disabled OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q -m ""

lint: install ## check style with ruff
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: install ## format the code with ruff
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

synth: install ## generate the SynthGait dev set in data/synthgait (override ARGS="preset=ci ...")
	$(BIN)/gaitwave-synth $(ARGS)

clean: ## remove caches and outputs (keeps .venv and data)
	rm -rf outputs multirun .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
