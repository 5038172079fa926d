# geosip: `make run` and `make test` are the two set-up commands (README.md).

PYTHON ?= $(if $(wildcard /usr/bin/python3.11),/usr/bin/python3.11,python3)
VENV := .venv
# Rebuilt when the build or the dependencies change; re-running `make venv` is then free.
STAMP := $(VENV)/.geosip-installed
ARGS ?=
PYTEST_ARGS ?=

.PHONY: venv peers test run bench clean

venv: $(STAMP)

$(STAMP): setup.py pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	touch $@

# Debian packages the tests drive as real peers (sipp, ...); needs root or sudo.
peers:
	.ci/install-peers

# peers before venv: python3-venv is one of the peers.
test: peers
	$(MAKE) venv
	$(VENV)/bin/python -m pytest -q tests $(PYTEST_ARGS)

run: venv
	$(VENV)/bin/geosip run $(ARGS)

bench: venv
	$(VENV)/bin/python bench/parse.py

# Leaves geosip-data/ alone: it holds the server's data, not build output.
clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis .mypy_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
