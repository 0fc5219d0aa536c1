# Two entry points on a fresh machine with Python >= 3.11 and pip:
#   make demo   installs kozo in .venv and runs the main job (DEMO_ARGS='--duration 60' ...)
#   make test   installs kozo with its test tools in .venv and runs the tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

demo: $(VENV)/.installed-run
	$(BIN)/kozo demo $(DEMO_ARGS)

test: $(VENV)/.installed-all
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/neighbor_list.py
	$(BIN)/python bench/inference_latency.py
	$(BIN)/python bench/inference_latency.py --keep-freed-memory
	$(BIN)/python bench/qm9_vs_schnetpack.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first and pinned: an unpinned install pulls a multi-GB CUDA build.
$(VENV)/.installed-run: pyproject.toml $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[edge,hub,train]'
	touch $@

$(VENV)/.installed-all: pyproject.toml $(VENV)/bin/python /usr/bin/chromium
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $@

# The browser tests drive Debian's chromium package (Playwright's own download cannot run here).
/usr/bin/chromium:
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -qq chromium >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; \
	else \
		echo "make test needs Debian's chromium: sudo apt-get install chromium" >&2; exit 1; \
	fi

$(VENV)/.installed-bench: $(VENV)/.installed-all
	$(BIN)/python -m pip install --quiet -e '.[all,bench]'
	touch $@

clean:
	rm -rf $(VENV)
