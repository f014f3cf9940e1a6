"""--phase serve: the JSON API, its checks of every bad request, the batching worker, the flags."""

import base64
import os
import threading
import time

import numpy as np
import pytest

from tests.support import shared_path
from tests.support.serve import decode, encode, fill_disk, png_claiming, tiny_engine

SIZE = 32  # the tiny model's img_size


@pytest.fixture(scope='module')
def engine(tmp_path_factory):
    engine, translator = tiny_engine(tmp_path_factory.mktemp('ckpt'))
    yield engine
    engine.worker.close()
    translator.close()


@pytest.fixture(scope='module')
def client(engine):
    from fastapi.testclient import TestClient
    from ugatit.apps.serve import Limits, create_app
    limits = Limits(max_bytes=400_000, max_pixels=2_000_000, timeout_s=20)
    with TestClient(create_app(engine, limits), raise_server_exceptions=False) as c:
        yield c


def post(client, data, name='image', filename='photo.jpg', params=None, **fields):
    return client.post('/api/translate', files={name: (filename, data, 'application/octet-stream')},
                       data=fields, params=params or {})


def b64image(text):
    return decode(base64.b64decode(text))


def face_photo():
    with open(shared_path('data', 'faces', 'obama.jpg'), 'rb') as f:
        return f.read()


def test_health(client):
    r = client.get('/health')
    assert r.status_code == 200
    assert r.json()['status'] == 'ok' and r.json()['step'] == 7 and r.json()['img_size'] == SIZE
    assert r.json()['keeps_uploads'] is False and r.json()['keep_uploads'] == 'off'


def test_translate_face_with_paste_back(client):
    data = face_photo()
    r = post(client, data, align_face='true', paste_back='true')
    assert r.status_code == 200, r.text
    body = r.json()
    assert body['face'] is True and body['direction'] == 'a2b'
    for name in ('input', 'translation', 'attention'):
        assert b64image(body['images'][name]).shape == (SIZE, SIZE, 3)
    photo = decode(data)
    pasted = b64image(body['images']['pasted'])
    assert pasted.shape == photo.shape
    # Only the face changed: most of the photo is the original (JPEG decoders agree within 2).
    unchanged = np.abs(pasted.astype(int) - photo.astype(int)).max(axis=2) <= 2
    assert 0.5 < unchanged.mean() < 0.999


def test_upscale_enlarges_the_translation_and_the_pasted_face_keeps_the_photo_size(engine):
    """serve --upscale 2 (Lanczos here): the translation comes back at twice the model's size, in
    JSON and as PNG, and paste-back still returns the photo's size; without it (the module's
    engine) the model's size (test_translate_face_with_paste_back)."""
    import dataclasses
    from fastapi.testclient import TestClient
    from ugatit.apps.serve import Engine, create_app
    photo = dataclasses.replace(engine.config.photo, upscale=2, upscaler='lanczos')
    bigger = Engine(dataclasses.replace(engine.config, photo=photo), engine.worker, engine.directions, engine.step)
    data = face_photo()
    with TestClient(create_app(bigger), raise_server_exceptions=False) as c:
        body = post(c, data, align_face='true', paste_back='true').json()
        as_png = post(c, data, align_face='true', params={'format': 'png'})
    assert b64image(body['images']['translation']).shape == (2 * SIZE, 2 * SIZE, 3)
    assert decode(as_png.content).shape == (2 * SIZE, 2 * SIZE, 3)
    assert b64image(body['images']['input']).shape == (SIZE, SIZE, 3)
    assert b64image(body['images']['pasted']).shape == decode(data).shape


def test_png_format_is_the_json_translation(client):
    data = encode(np.random.RandomState(0).randint(0, 256, (48, 64, 3), np.uint8))
    as_png = post(client, data, params={'format': 'png'})
    assert as_png.status_code == 200 and as_png.headers['content-type'] == 'image/png'
    as_json = post(client, data)
    assert np.array_equal(decode(as_png.content), b64image(as_json.json()['images']['translation']))
    other = post(client, data, direction='b2a')  # negative control: the other generator
    assert not np.array_equal(decode(as_png.content), b64image(other.json()['images']['translation']))
    assert as_json.json()['face'] is False and 'pasted' not in as_json.json()['images']


def big_blank_png():
    return encode(np.zeros((1500, 1500, 3), np.uint8))  # 2.25 megapixels in a few KB


BAD_REQUESTS = [
    # (what, form arguments, status, words the error must contain)
    ('non-image', dict(data=b'hello, this is text' * 10), 415, 'not an image'),
    ('zero bytes', dict(data=b''), 400, 'empty'),
    ('too many bytes', dict(data=b'\xff\xd8\xff' + bytes(450_000)), 413, 'too large'),
    ('too many pixels', dict(data=big_blank_png()), 413, 'too many pixels'),
    ('far too many pixels', dict(data=png_claiming(20000, 20000)), 413, 'too many pixels'),  # over Pillow's own limit
    ('truncated JPEG', dict(data=None), 400, 'broken'),
    ('wrong field', dict(data=encode(np.zeros((40, 40, 3), np.uint8)), name='file'), 400, 'named "image"'),
    ('tiny image', dict(data=encode(np.zeros((8, 8, 3), np.uint8))), 400, 'too small'),
    ('bad direction', dict(data=encode(np.zeros((40, 40, 3), np.uint8)), direction='x2y'), 400, 'direction'),
    ('bad contrast', dict(data=encode(np.zeros((40, 40, 3), np.uint8)), contrast='lots'), 400, 'contrast'),
    ('unknown field', dict(data=encode(np.zeros((40, 40, 3), np.uint8)), colour='red'), 400, 'colour'),
    ('no face', dict(data=encode(np.full((80, 80, 3), 128, np.uint8)), align_face='true'), 422, 'no face'),
]


@pytest.mark.parametrize('what,kwargs,status,words', BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_request_is_a_json_4xx(client, what, kwargs, status, words):
    kwargs = dict(kwargs)
    if kwargs['data'] is None:
        photo = face_photo()
        kwargs['data'] = photo[:len(photo) // 3]
    r = post(client, **kwargs)
    assert r.status_code == status, r.text
    assert words in r.json()['error']
    assert 'Traceback' not in r.text


def test_no_face_center_translates_the_centre(client):
    r = post(client, encode(np.full((80, 80, 3), 128, np.uint8)), align_face='true', no_face='center')
    assert r.status_code == 200 and r.json()['face'] is False


def test_not_a_form_and_unknown_paths_are_json_errors(client):
    r = client.post('/api/translate', content=b'{"image": 1}', headers={'content-type': 'application/json'})
    assert r.status_code == 400 and 'named "image"' in r.json()['error']
    r = client.post('/api/translate', params={'format': 'gif'}, files={'image': ('a.png', b'x')})
    assert r.status_code == 400 and 'format' in r.json()['error']
    assert client.get('/nowhere').json() == {'error': 'Not Found'}


def test_keep_uploads_writes_under_a_generated_name(engine, tmp_path):
    from fastapi.testclient import TestClient
    from ugatit.apps.serve import Engine, create_app
    keeping = Engine(engine.config, engine.worker, engine.directions, engine.step, keep_uploads=str(tmp_path))
    data = encode(np.zeros((40, 40, 3), np.uint8))
    with TestClient(create_app(keeping)) as c:
        r = post(c, data, filename='../../evil.jpg')
        assert c.get('/health').json()['keeps_uploads'] is True
    assert r.status_code == 200
    kept = os.listdir(tmp_path)
    assert len(kept) == 1 and kept[0].endswith('.png') and 'evil' not in kept[0]
    assert (tmp_path / kept[0]).read_bytes() == data


def test_keep_uploads_on_a_full_disk_still_answers(engine, tmp_path, monkeypatch, caplog):
    from fastapi.testclient import TestClient
    from ugatit.apps.serve import Engine, create_app
    keeping = Engine(engine.config, engine.worker, engine.directions, engine.step, keep_uploads=str(tmp_path))
    data = encode(np.zeros((40, 40, 3), np.uint8))
    with TestClient(create_app(keeping), raise_server_exceptions=False) as c:
        fill_disk(monkeypatch, tmp_path)
        answers = [post(c, data), post(c, data)]
        health = c.get('/health').json()
        monkeypatch.undo()  # space freed: keeping resumes on its own
        kept = post(c, data)
        recovered = c.get('/health').json()
    assert [r.status_code for r in answers] == [200, 200], answers[0].text
    assert all(b64image(r.json()['images']['translation']).shape == (SIZE, SIZE, 3) for r in answers)
    logged = [r.getMessage() for r in caplog.records if r.name == 'ugatit.serve' and r.levelname == 'WARNING']
    assert len(logged) == 2, logged  # the failure once (not once a request), then the recovery
    assert str(tmp_path) in logged[0] and 'No space left' in logged[0] and 'Free space' in logged[0]
    assert 'kept again' in logged[1]
    assert health['status'] == 'degraded' and health['keep_uploads'] == 'failing (No space left on device)'
    assert kept.status_code == 200
    assert recovered['status'] == 'ok' and recovered['keep_uploads'] == 'ok'
    files = os.listdir(tmp_path)  # no partial file of the failed writes, the one kept afterwards
    assert len(files) == 1 and files[0].endswith('.png') and (tmp_path / files[0]).read_bytes() == data


def test_large_upload_is_never_written_to_a_temporary_file(engine, monkeypatch):
    import tempfile
    from fastapi.testclient import TestClient
    from ugatit.apps.serve import create_app
    data = encode(np.random.RandomState(2).randint(0, 256, (900, 900, 3), np.uint8))
    assert len(data) > 2_000_000  # over the form parser's own 1 MB spooling threshold

    def no_disk(*args, **kwargs):
        raise AssertionError('an upload went to a temporary file')
    monkeypatch.setattr(tempfile, 'TemporaryFile', no_disk)
    monkeypatch.setattr(tempfile, 'NamedTemporaryFile', no_disk)
    with TestClient(create_app(engine), raise_server_exceptions=False) as c:
        r = post(c, data)
    assert r.status_code == 200, r.text


def test_form_parser_settings_stay_per_request(engine):
    from starlette.formparsers import MultiPartParser
    from ugatit.apps.serve import Limits, create_app
    before = MultiPartParser.spool_max_size
    create_app(engine, Limits(max_bytes=50_000_000))
    assert MultiPartParser.spool_max_size == before  # Starlette's class, shared by every app of the process


def held_engine(engine, pixels):
    """An Engine whose cut() of a photo over `pixels` pixels signals `entered` and waits until
    `gate` is set."""
    from ugatit.apps.serve import Engine

    class HeldEngine(Engine):
        def cut(self, image, options):
            if image.shape[0] * image.shape[1] > pixels:
                self.entered.set()
                self.gate.wait(20)
            return super().cut(image, options)
    held = HeldEngine(engine.config, engine.worker, engine.directions, engine.step)
    held.gate, held.entered = threading.Event(), threading.Event()
    return held


def test_pixel_budget_answers_503_past_it_and_is_released_after_errors(engine):
    from fastapi.testclient import TestClient
    from ugatit.apps.serve import Limits, create_app
    held = held_engine(engine, pixels=500_000)
    big, other_big, small = (encode(np.zeros(shape, np.uint8)) for shape in
                             ((1000, 1000, 3), (700, 1000, 3), (40, 40, 3)))
    truncated = encode(np.random.RandomState(3).randint(0, 256, (1000, 1000, 3), np.uint8))
    truncated = truncated[:len(truncated) // 2]  # a good header, then no pixels
    try:
        with TestClient(create_app(held, Limits(max_pixels=1_000_000, pixel_budget=1_500_000, timeout_s=20)),
                        raise_server_exceptions=False) as c:
            answers = []
            waiting = threading.Thread(target=lambda: answers.append(post(c, big)))
            waiting.start()
            assert held.entered.wait(20)  # 1 MP of the 1.5 MP budget now in flight
            busy = post(c, other_big)
            assert busy.status_code == 503 and 'too many pixels at once' in busy.json()['error']
            assert busy.headers['retry-after'] == '1'
            assert post(c, small).status_code == 200  # small photos still fit
            held.gate.set()
            waiting.join(20)
            assert answers[0].status_code == 200
            # Errors after the pixels were reserved: a decoding error, no face found.
            assert post(c, truncated).status_code == 400
            assert post(c, big, align_face='true').status_code == 422
            # Had an error kept its 1 MP, these would not fit.
            assert post(c, big).status_code == 200
            assert post(c, other_big).status_code == 200
    finally:
        held.gate.set()
    with pytest.raises(ValueError, match='pixel_budget'):
        Limits(max_pixels=1_000_000, pixel_budget=999_999)  # no photo of the largest size would ever fit


def test_page_and_openapi(client):
    page = client.get('/')
    assert page.status_code == 200 and 'id="file"' in page.text
    assert 'http' not in page.text.replace('http-equiv', '')  # no CDN, no external font or script
    assert client.get('/static/app.js').status_code == 200
    # Relative addresses: the same page works from the static folder of --format web (docs/web.md).
    assert '<link rel="icon" type="image/svg+xml" href="static/favicon.svg">' in page.text
    # Cross-origin isolated (WebAssembly threads for the page's "on this device" mode).
    assert page.headers['cross-origin-opener-policy'] == 'same-origin'
    assert page.headers['cross-origin-embedder-policy'] == 'require-corp'
    info = client.get('/model/info.json').json()
    assert info['server'] is True and info['img_size'] == 32 and info['models']['a2b'] == 'model/a2b.float16.onnx'
    assert client.get('/model/c2d.float16.onnx').status_code == 404
    for path in ('/static/favicon.svg', '/favicon.ico'):  # browsers ask /favicon.ico without a link
        icon = client.get(path)
        assert icon.status_code == 200 and icon.headers['content-type'].startswith('image/svg+xml')
        assert icon.text.startswith('<svg ') and icon.text.rstrip().endswith('</svg>')
    docs = client.get('/docs')
    assert docs.status_code == 200 and '/docs-static/swagger-ui-bundle.js' in docs.text
    assert 'cdn' not in docs.text.lower()  # offline: FastAPI's default page loads Swagger UI from a CDN
    assert client.get('/docs-static/swagger-ui-bundle.js').status_code == 200
    spec = client.get('/openapi.json').json()
    form = spec['paths']['/api/translate']['post']['requestBody']['content']['multipart/form-data']
    assert 'image' in form['schema']['properties']


def test_websocket_frame_in_frame_out(client):
    frame = encode(np.random.RandomState(1).randint(0, 256, (120, 160, 3), np.uint8), 'JPEG')
    with client.websocket_connect('/ws?direction=a2b') as ws:
        ws.send_bytes(frame)
        assert decode(ws.receive_bytes()).shape == (SIZE, SIZE, 3)
        ws.send_bytes(b'not a frame')
        assert 'not an image' in ws.receive_json()['error']
        ws.send_text('hello')
        assert 'binary' in ws.receive_json()['error']
        ws.send_bytes(frame)  # the session goes on after an error
        assert decode(ws.receive_bytes()).shape == (SIZE, SIZE, 3)


# --------------------------------------------------------------------------------------------
# The worker, with a stand-in model
# --------------------------------------------------------------------------------------------

class FakeModel:
    """translate(direction, chips) that records batch sizes and can be held until release."""

    def __init__(self, hold=False):
        self.calls = []
        self.gate = threading.Event()
        if not hold:
            self.gate.set()

    def __call__(self, direction, chips):
        self.gate.wait(20)
        self.calls.append((direction, len(chips)))
        offset = 1 if direction == 'a2b' else 2
        return chips + offset, np.zeros((len(chips), 2, 2), np.float32)


def test_worker_batches_and_returns_each_result_to_its_request():
    from ugatit.apps.serve import BatchWorker
    model = FakeModel()
    worker = BatchWorker(model, batch_size=4, wait_s=0.5)
    try:
        chips = [np.full((2, 2, 3), k * 10, np.uint8) for k in range(8)]
        futures = [worker.submit('a2b' if k % 4 else 'b2a', chip) for k, chip in enumerate(chips)]
        results = [f.result(timeout=10)[0] for f in futures]
    finally:
        worker.close()
    for k, result in enumerate(results):
        assert np.array_equal(result, chips[k] + (1 if k % 4 else 2))
    assert worker.batches == [4, 4]
    assert sorted(model.calls) == sorted([('a2b', 3), ('b2a', 1)] * 2)


def test_worker_skips_requests_cancelled_while_queued():
    from ugatit.apps.serve import BatchWorker
    model = FakeModel(hold=True)
    worker = BatchWorker(model, batch_size=1, wait_s=0)
    try:
        first = worker.submit('a2b', np.zeros((2, 2, 3), np.uint8))
        deadline = time.monotonic() + 10
        while not worker.batches and time.monotonic() < deadline:
            time.sleep(0.01)
        gone = worker.submit('a2b', np.zeros((2, 2, 3), np.uint8))
        assert gone.cancel()  # what a timed-out request does (asyncio.wrap_future passes it on)
        kept = worker.submit('b2a', np.zeros((2, 2, 3), np.uint8))
        model.gate.set()
        first.result(10), kept.result(10)
    finally:
        model.gate.set()
        worker.close()
    assert model.calls == [('a2b', 1), ('b2a', 1)]


def test_full_queue_answers_503_and_the_loop_stays_free(engine):
    from fastapi.testclient import TestClient
    from ugatit.apps.serve import BatchWorker, Engine, Limits, create_app
    model = FakeModel(hold=True)
    worker = BatchWorker(model, batch_size=1, wait_s=0, max_queue=1)
    held = Engine(engine.config, worker, engine.directions, engine.step)
    data = encode(np.zeros((40, 40, 3), np.uint8))
    try:
        with TestClient(create_app(held, Limits(timeout_s=20))) as c:
            answers = []
            waiting = threading.Thread(target=lambda: answers.append(post(c, data)))
            waiting.start()                       # taken by the worker, held there
            deadline = time.monotonic() + 10
            while not worker.batches and time.monotonic() < deadline:
                time.sleep(0.01)
            worker.submit('a2b', np.zeros((SIZE, SIZE, 3), np.uint8))  # fills the queue
            busy = post(c, data)
            assert busy.status_code == 503 and 'busy' in busy.json()['error']
            t0 = time.monotonic()
            assert c.get('/health').status_code == 200  # the event loop is not waiting on the model
            assert time.monotonic() - t0 < 2
            model.gate.set()
            waiting.join(20)
            assert answers[0].status_code == 200
    finally:
        model.gate.set()
        worker.close()


def test_timeout_is_a_504(engine):
    from fastapi.testclient import TestClient
    from ugatit.apps.serve import BatchWorker, Engine, Limits, create_app
    model = FakeModel(hold=True)
    worker = BatchWorker(model, batch_size=1, wait_s=0)
    held = Engine(engine.config, worker, engine.directions, engine.step)
    try:
        with TestClient(create_app(held, Limits(timeout_s=0.5))) as c:
            r = post(c, encode(np.zeros((40, 40, 3), np.uint8)))
        assert r.status_code == 504 and 'longer than' in r.json()['error']
    finally:
        model.gate.set()
        worker.close()


# --------------------------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------------------------

def test_serve_flags():
    from ugatit import cli
    config = cli.parse_config(['--phase', 'serve'])
    assert (config.serve.host, config.serve.port, config.serve.keep_uploads) == ('127.0.0.1', 8000, None)
    config = cli.parse_config(['--phase', 'serve', '--host', '0.0.0.0', '--port', '9000', '--keep_uploads', 'up'])
    assert (config.serve.host, config.serve.port, config.serve.keep_uploads) == ('0.0.0.0', 9000, 'up')
    with pytest.raises(SystemExit):
        cli.parse_args(['--phase', 'serve', '--port', '70000'])


def test_serve_refuses_a_missing_keep_folder_and_a_busy_port(tmp_path):
    import dataclasses
    import socket
    from ugatit import cli
    from ugatit.errors import UserError
    from ugatit.apps.serve import serve
    config = cli.parse_config(['--phase', 'serve', '--keep_uploads', str(tmp_path / 'absent')])
    with pytest.raises(UserError, match='keep_uploads'):
        serve(config)
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen(1)
        config = dataclasses.replace(config, serve=dataclasses.replace(config.serve, keep_uploads=None,
                                                                        port=taken.getsockname()[1]))
        with pytest.raises(UserError, match='--port'):
            serve(config)
