"""The page running the model on the device (onnxruntime-web, WebAssembly) in Debian's headless
chromium: the static folder of --phase export --format web served by Python's plain http.server
(no project server running), and the "on this device" mode of --phase serve, where no request
may carry image data. Translations are compared with the TensorFlow graph's. One browser for
the file; the tiny model (32 px, random weights)."""

import base64
import json
import os
import urllib.parse

import numpy as np
import pytest

from tests.support import TINY_MODEL, tiny_config
from tests.support.browser import chromium_context, require_chromium, static_file_server
from tests.support.serve import UvicornThread, decode, encode

SIZE = 32  # the tiny model's img_size
# The page loads the float16-weights model: its bound against the graph (tests/e2e/test_onnx_export.py).
MAX_DIFF = 2
WAIT_MS = 60000
TEMPLATE = {'landmarks': [[0.62, 0.42], [0.55, 0.42], [0.38, 0.42], [0.45, 0.42], [0.5, 0.58]]}


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    """(Config, Translator io uint8) of a tiny model with random weights saved in a folder."""
    require_chromium()
    from ugatit.infer.web_export import runtime_missing
    problem = runtime_missing()
    if problem:
        if os.environ.get('CI') == 'true':
            pytest.fail(problem + ' (CI=true: make test runs npm ci)')
        pytest.skip(problem)
    from ugatit.infer.translator import Translator, save_random_generators
    config = tiny_config('--checkpoint_dir', str(tmp_path_factory.mktemp('ckpt')))
    save_random_generators(config, 5)
    with open(os.path.join(config.run_folder('checkpoint'), 'face_template.json'), 'w') as f:
        json.dump(TEMPLATE, f)  # the camera guide's template, read from beside the checkpoint
    with Translator(config, io='uint8') as translator:
        yield config, translator


@pytest.fixture(scope='module')
def browser(model, tmp_path_factory):
    with chromium_context(str(tmp_path_factory.mktemp('chromium'))) as context:
        yield context


@pytest.fixture(scope='module')
def photo(model, tmp_path_factory):
    """(path of a 32 x 32 PNG, its pixels, the graph's a2b translation of it): at the model's
    size the page's centre crop is the photo itself, so the page must give the graph's output."""
    _, translator = model
    ramp = np.linspace(0, 255, SIZE)
    image = np.stack([np.add.outer(ramp, ramp) / 2, np.add.outer(ramp, 255 - ramp) / 2,
                      np.full((SIZE, SIZE), 90.0)], axis=-1)
    image = np.clip(image + np.random.RandomState(0).normal(0, 20, image.shape), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp('photo') / 'photo.png'
    path.write_bytes(encode(image))
    expected, _ = translator.translate('a2b', image[None])
    return str(path), image, expected[0]


def image_from_src(page, element_id):
    src = page.get_attribute('#' + element_id, 'src')
    assert src.startswith('data:image/png;base64,')
    return decode(base64.b64decode(src.split(',', 1)[1]))


def translate_photo_and_camera(page, photo):
    """Upload the photo, check the page's translation against the graph's, then run the camera
    until five frames are filtered; returns the camera's status line."""
    path, image, expected = photo
    page.set_input_files('#file', path)
    page.wait_for_selector('#results:not([hidden])', timeout=WAIT_MS)
    assert page.is_hidden('#error'), page.text_content('#error')
    assert 'on this device (WebAssembly' in page.text_content('#status')
    assert np.array_equal(image_from_src(page, 'out-input'), image)
    translated = image_from_src(page, 'out-translation')
    diff = np.abs(translated.astype(int) - expected.astype(int))
    assert translated.shape == (SIZE, SIZE, 3) and diff.max() <= MAX_DIFF, (diff.max(), diff.mean())
    assert image_from_src(page, 'out-attention').shape == (SIZE, SIZE, 3)

    page.click('#tab-camera')
    page.click('#camera-start')
    page.wait_for_function("Number(document.getElementById('camera-count').textContent) >= 5", timeout=WAIT_MS)
    assert page.is_hidden('#error'), page.text_content('#error')
    assert 'eyes on the marks' in page.text_content('#guide-hint')  # the template reached the page
    status = page.text_content('#camera-status')
    page.click('#camera-stop')
    return status


@pytest.mark.slow
def test_the_static_folder_translates_from_a_plain_file_server(model, browser, photo, tmp_path):
    """--format web, served by http.server alone: the page finds no server and runs on the device."""
    from ugatit import cli
    from ugatit.infer.web_export import export_web
    config, _ = model
    folder = export_web(cli.parse_config(['--phase', 'export', '--format', 'web'] + TINY_MODEL + [
        '--checkpoint_dir', config.paths.checkpoint_dir, '--export_dir', str(tmp_path / 'exported'), '--direction', 'a2b']))
    assert sorted(os.listdir(folder)) == ['LICENSES.md', 'index.html', 'isolation.js', 'model', 'ort', 'static']
    with open(os.path.join(folder, 'model', 'face_template.json')) as f:
        assert json.load(f)['landmarks'] == TEMPLATE['landmarks']
    page = browser.new_page()
    with static_file_server(folder) as url:
        page.goto(url)
        page.wait_for_function("document.getElementById('device-status').textContent.startsWith('Runs on this device')",
                               timeout=WAIT_MS)
        assert page.is_hidden('#where-server') and page.is_checked('#where-device')
        assert page.evaluate('self.crossOriginIsolated')  # isolation.js: WebAssembly may use threads
        assert 'never leave this device' in page.text_content('#privacy')
        assert page.is_hidden('#align_face') and page.is_hidden('#contrast')  # the server's options
        status = translate_photo_and_camera(page, photo)
        assert 'frames/s on this device (WebAssembly' in status
    page.close()


@pytest.mark.slow
def test_on_this_device_the_server_gets_no_image(model, browser, photo):
    """--phase serve's page with "on this device" chosen: a photo and the camera are translated in
    the page; every request is a GET of the page, the model or the runtime, and no WebSocket opens."""
    from ugatit.apps.serve import create_app, load_engine
    config, _ = model
    engine, translator = load_engine(config)
    try:
        with UvicornThread(create_app(engine)) as server:
            page = browser.new_page()
            requests, sockets = [], []
            page.on('request', lambda request: requests.append(request))
            page.on('websocket', lambda socket: sockets.append(socket))
            page.goto(server.url + '/')
            page.wait_for_function("document.getElementById('privacy').textContent.includes('not kept')",
                                   timeout=WAIT_MS)
            assert page.evaluate('self.crossOriginIsolated')  # the server's headers
            page.check('#where-device')
            page.wait_for_function(
                "document.getElementById('device-status').textContent.startsWith('Runs on this device')", timeout=WAIT_MS)
            status = translate_photo_and_camera(page, photo)
            assert 'frames/s on this device (WebAssembly' in status
            page.close()
    finally:
        engine.worker.close()
        translator.close()
    assert sockets == []
    assert requests and all(r.method == 'GET' and not r.post_data_buffer for r in requests)
    paths = {urllib.parse.urlparse(r.url).path for r in requests}
    assert '/model/a2b.float16.onnx' in paths and '/ort/ort-wasm-simd-threaded.wasm' in paths
    allowed = {'/', '/health', '/favicon.ico', '/model/info.json', '/model/a2b.float16.onnx', '/model/face_template.json'}
    assert all(p in allowed or p.startswith('/static/') or p.startswith('/ort/') for p in paths), paths
