"""Debian's headless chromium driven by Playwright (no browser download), for the page's tests:
the skip (or, under CI=true, failure) without it; the context with a fake camera and the plain
static file server are the ones of the frame-rate benchmark (ugatit/benchmarks/web_fps.py)."""

import os

import pytest

from ugatit.benchmarks.web_fps import CHROMIUM, chromium_context, static_file_server, write_y4m  # noqa: F401


def require_chromium():
    """Skip the calling test without Debian's chromium or Playwright (a failure under CI=true,
    where .ci/run installs chromium)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get('CI') == 'true':
            pytest.fail('%s is missing (CI=true: .ci/run installs Debian\'s chromium)' % CHROMIUM)
        pytest.skip('%s is not installed (apt-get install chromium)' % CHROMIUM)
    pytest.importorskip('playwright')
