"""--phase serve in a real browser: Debian's headless chromium driven by Playwright, against the
server on 127.0.0.1 with the tiny model: a face photo, a broken file, the camera mode."""

import base64

import pytest

from tests.support import shared_path
from tests.support.browser import chromium_context, require_chromium
from tests.support.serve import UvicornThread, decode, tiny_engine

SIZE = 32  # the tiny model's img_size


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    require_chromium()
    from ugatit.apps.serve import create_app
    engine, translator = tiny_engine(tmp_path_factory.mktemp('ckpt'))
    try:
        with UvicornThread(create_app(engine)) as running:
            yield running
    finally:
        engine.worker.close()
        translator.close()


@pytest.fixture(scope='module')
def browser(server, tmp_path_factory):
    with chromium_context(str(tmp_path_factory.mktemp('chromium'))) as context:
        yield context


def image_from_src(page, element_id):
    src = page.get_attribute('#' + element_id, 'src')
    assert src.startswith('data:image/png;base64,')
    return decode(base64.b64decode(src.split(',', 1)[1]))


@pytest.mark.slow
def test_page_translates_a_face_photo_and_reports_a_broken_file(server, browser, tmp_path):
    photo = shared_path('data', 'faces', 'obama.jpg')
    page = browser.new_page()
    page.goto(server.url + '/')
    page.set_input_files('#file', photo)
    page.wait_for_selector('#results:not([hidden])', timeout=20000)
    for name in ('input', 'translation', 'attention'):
        assert image_from_src(page, 'out-' + name).shape == (SIZE, SIZE, 3)
    assert image_from_src(page, 'out-pasted').shape == decode(open(photo, 'rb').read()).shape
    assert page.get_attribute('#download', 'href').startswith('data:image/png;base64,')
    assert page.is_hidden('#error')
    assert 'not kept' in page.text_content('#privacy')  # the server runs without --keep_uploads

    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'this is not a photo at all' * 20)
    page.set_input_files('#file', str(broken))
    page.wait_for_selector('#error:not([hidden])', timeout=20000)
    assert 'Not translated' in page.text_content('#error')
    assert 'not an image' in page.text_content('#error')
    page.close()


@pytest.mark.slow
def test_camera_mode_shows_filtered_frames(server, browser):
    page = browser.new_page()
    page.goto(server.url + '/')
    page.click('#tab-camera')
    page.click('#camera-start')
    page.wait_for_function("Number(document.getElementById('camera-count').textContent) >= 5", timeout=20000)
    size = page.evaluate("(() => { const i = document.getElementById('camera-out');"
                         " return [i.naturalWidth, i.naturalHeight]; })()")
    assert size == [SIZE, SIZE]
    assert page.is_hidden('#error')
    page.click('#camera-stop')
    page.close()


@pytest.mark.slow
def test_api_docs_page_renders_offline(server, browser):
    page = browser.new_page()
    outside = []
    page.on('request', lambda request: outside.append(request.url) if not request.url.startswith(server.url) else None)
    page.goto(server.url + '/docs')
    page.wait_for_selector('.opblock-summary-path', timeout=20000)
    paths = [text.replace('\u200b', '') for text in page.locator('.opblock-summary-path').all_inner_texts()]
    assert '/api/translate' in paths and '/health' in paths
    assert outside == []
    page.close()
