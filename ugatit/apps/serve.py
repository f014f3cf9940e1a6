"""`python main.py --phase serve`: a web page and a JSON API that translate photos and camera frames.

    GET  /                 the page (ugatit/apps/static: no CDN, works offline)
    GET  /health           200 {"status": "ok" (or "degraded": --keep_uploads cannot write), ...}
                           while the model is loaded and its worker runs
    POST /api/translate    multipart form: file field `image` + options -> JSON with base64 PNGs,
                           or with ?format=png the translation itself
    WS   /ws               camera mode: JPEG frame in, translated JPEG frame out
    GET  /model/info.json  the page's "on this device" mode: the model's size, directions, files
    GET  /model/<d>.float16.onnx, /model/face_template.json, /ort/<file>: what that mode loads
                           (the ONNX model converted from the restored one on first request;
                           onnxruntime-web from node_modules: ugatit/infer/web_export.py)
    GET  /docs             the OpenAPI page FastAPI makes

FastAPI on uvicorn: an asyncio server whose event loop only parses requests; decoding, face
alignment and PNG encoding run in its thread pool, and the model runs in one worker thread
(BatchWorker) that gathers the requests of a few milliseconds into one session run.
"""

import asyncio
import base64
import concurrent.futures
import contextlib
import dataclasses
import io
import logging
import os
import queue
import threading
import time
import uuid

import cv2
import numpy as np

from ugatit.config import DIRECTIONS, PhotoConfig
from ugatit.errors import UserError
from utils import MIN_IMAGE_SIDE, heatmap_to_rgb, write_atomic

log = logging.getLogger('ugatit.serve')

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
# Magic bytes -> (type name, file extension) of the image types the server accepts.
SIGNATURES = ((b'\xff\xd8\xff', ('JPEG', '.jpg')), (b'\x89PNG\r\n\x1a\n', ('PNG', '.png')),
              (b'BM', ('BMP', '.bmp')))
OPTION_FIELDS = ('direction', 'align_face', 'paste_back', 'contrast', 'no_face')


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one request may ask of the server."""
    max_bytes: int = 10 * 1024 * 1024     # upload size
    max_pixels: int = 25_000_000          # width x height, read from the header before decoding
    min_side: int = MIN_IMAGE_SIDE        # smaller photos carry too little to translate
    timeout_s: float = 30.0               # a whole request, upload included
    batch_wait_s: float = 0.005           # how long the worker gathers requests into one batch
    max_queue: int = 64                   # requests waiting for the model; more: 503
    pixel_budget: int = 100_000_000       # pixels of all the photos in work at once; more: 503

    def __post_init__(self):
        if self.pixel_budget < self.max_pixels:
            raise ValueError('pixel_budget (%d) must hold at least one photo of max_pixels (%d)'
                             % (self.pixel_budget, self.max_pixels))


class ApiError(Exception):
    """A bad request: answered as JSON {"error": message} with `status` (and `headers`)."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


# --------------------------------------------------------------------------------------------
# The page's "on this device" mode: the model as ONNX, for onnxruntime-web in the browser
# --------------------------------------------------------------------------------------------

class DeviceModels:
    """The restored generators as the ONNX files of `--format web` (ugatit/infer/web_export.py),
    converted from the server's own Translator on first request (seconds) and kept in memory."""

    def __init__(self, translator):
        from ugatit.infer.web_export import face_template
        self._translator = translator
        self._lock = threading.Lock()
        self._models = {}
        self.template = face_template(translator.checkpoint)

    def info(self, config, directions, step):
        from ugatit.infer.web_export import page_info, runtime_missing
        info = page_info(config, directions, step, self.template, server=True)
        info['runtime_missing'] = runtime_missing()
        return info

    def model(self, name):
        """The bytes of <direction>.float16.onnx, or None for another name."""
        from ugatit.infer.onnx_export import convert, float16_weights
        from ugatit.infer.web_export import PAGE_VARIANT
        direction = {'%s.%s.onnx' % (d, PAGE_VARIANT): d for d in self._translator.directions}.get(name)
        if direction is None:
            return None
        with self._lock:
            if direction not in self._models:
                t = self._translator
                model = convert(t.session, t.graph, t.signature(direction))
                self._models[direction] = float16_weights(model).SerializeToString()
                log.info('ONNX model of %s for the page: %.1f MB', direction, len(self._models[direction]) / 1e6)
            return self._models[direction]


class CrossOriginIsolation:
    """ASGI middleware: every HTTP answer says Cross-Origin-Opener-Policy same-origin and
    Cross-Origin-Embedder-Policy require-corp, which make the page cross-origin isolated, the
    condition for WebAssembly threads in its "on this device" mode (the page loads nothing from
    another origin)."""

    HEADERS = [(b'cross-origin-opener-policy', b'same-origin'), (b'cross-origin-embedder-policy', b'require-corp')]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope['type'] != 'http':
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message['type'] == 'http.response.start':
                message = dict(message, headers=list(message.get('headers', [])) + self.HEADERS)
            await send(message)
        return await self.app(scope, receive, send_with_headers)


# --------------------------------------------------------------------------------------------
# The model worker
# --------------------------------------------------------------------------------------------

class BatchWorker:
    """One thread that owns the model: requests queue up (at most `max_queue`), and the thread
    takes the first, waits up to `wait_s` for more (up to `batch_size`), and translates them in
    one call per direction.

    translate(direction, chips uint8 [N, S, S, 3]) -> (uint8 [N, S, S, 3], attention [N, s, s])
    is the model (Translator.translate with io='uint8')."""

    def __init__(self, translate, batch_size, wait_s=0.005, max_queue=64):
        self._translate = translate
        self.batch_size = max(1, int(batch_size))
        self.wait_s = wait_s
        self._queue = queue.Queue(maxsize=max_queue)
        self.batches = []  # sizes of the batches run (for tests and the load test)
        self._thread = threading.Thread(target=self._run, name='model-worker', daemon=True)
        self._thread.start()

    @property
    def alive(self):
        return self._thread.is_alive()

    def submit(self, direction, chip):
        """Queue one chip uint8 [S, S, 3]; returns a concurrent.futures.Future of
        (translated uint8 [S, S, 3], attention float32 [s, s]). ApiError 503 when the queue is full."""
        future = concurrent.futures.Future()
        try:
            self._queue.put_nowait((direction, chip, future))
        except queue.Full:
            raise ApiError(503, 'the server is busy (%d requests waiting); try again in a moment'
                           % self._queue.maxsize)
        return future

    def close(self):
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _gather(self, first):
        batch = [first]
        deadline = time.monotonic() + self.wait_s
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:  # close(): finish this batch, then stop
                self._queue.put(None)
                break
            batch.append(item)
        return batch

    def _run(self):
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [item for item in self._gather(first) if item[2].set_running_or_notify_cancel()]
            self.batches.append(len(batch))
            for direction in sorted({d for d, _, _ in batch}):
                group = [(chip, fut) for d, chip, fut in batch if d == direction]
                try:
                    out, att = self._translate(direction, np.stack([chip for chip, _ in group]))
                except Exception as exc:  # reported to each waiting request, the worker goes on
                    log.exception('translation failed')
                    for _, fut in group:
                        fut.set_exception(exc)
                    continue
                for k, (_, fut) in enumerate(group):
                    fut.set_result((out[k], att[k]))


class PixelBudget:
    """The pixels of the photos in work at once, across requests: what bounds the server's
    memory (a 25 MP photo takes about 130 MB in work, docs/serve.md). A request reserves its
    photo's pixel count, read from the header, before decoding, and gives it back once answered,
    error or not; a request past `limit` is answered 503 with Retry-After at once."""

    def __init__(self, limit):
        self.limit = limit
        self.in_flight = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def reserve(self, pixels):
        with self._lock:
            if self.in_flight + pixels > self.limit:
                raise ApiError(503, 'the server is working on too many pixels at once (%.1f of its %.0f megapixels; '
                                    'this photo has %.1f): try again in a moment, or send a smaller photo'
                               % (self.in_flight / 1e6, self.limit / 1e6, pixels / 1e6), {'Retry-After': '1'})
            self.in_flight += pixels
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= pixels


# --------------------------------------------------------------------------------------------
# Upload checks and the photo pipeline
# --------------------------------------------------------------------------------------------

def sniff_type(data):
    """(type name, extension) of image bytes from their first bytes; ApiError 415 otherwise."""
    if data[:4] == b'RIFF' and data[8:12] == b'WEBP':
        return 'WebP', '.webp'
    for magic, kind in SIGNATURES:
        if data.startswith(magic):
            return kind
    raise ApiError(415, 'the file is not an image the server reads (JPEG, PNG, WebP or BMP), '
                        'judged from its content')


def too_many_pixels(size, limits):
    return ApiError(413, 'the image has too many pixels (%s; the limit is %.0f megapixels): downscale it first'
                    % (size, limits.max_pixels / 1e6))


def check_upload(data, limits):
    """Image bytes -> (type name, extension, pixel count), from the first bytes and the header
    (Pillow reads nothing more): ApiError 4xx for an upload that must not be decoded."""
    from PIL import Image
    if not data:
        raise ApiError(400, 'the file is empty (0 bytes)')
    if len(data) > limits.max_bytes:
        raise ApiError(413, 'the file is too large (%.1f MB; the limit is %.1f MB)'
                       % (len(data) / 1e6, limits.max_bytes / 1e6))
    kind, extension = sniff_type(data)
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
    except Image.DecompressionBombError:  # past Pillow's own limit (twice Image.MAX_IMAGE_PIXELS)
        raise too_many_pixels('over %.0f megapixels' % (2 * Image.MAX_IMAGE_PIXELS / 1e6), limits)
    except Exception:
        raise ApiError(400, 'the %s file is broken: its header cannot be read' % kind)
    if width * height > limits.max_pixels:
        raise too_many_pixels('%dx%d' % (width, height), limits)
    if min(width, height) < limits.min_side:
        raise ApiError(400, 'the image is too small (%dx%d; at least %d pixels a side)'
                       % (width, height, limits.min_side))
    return kind, extension, width * height


def decode_image(data, kind):
    """Image bytes of type `kind` checked by check_upload -> RGB uint8 [H, W, 3]."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ApiError(400, 'the %s file is broken or truncated: it cannot be decoded' % kind)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def parse_options(fields, directions):
    """The translation options from form fields (strings) -> dict; ApiError 400 when one is wrong."""
    unknown = sorted(set(fields) - set(OPTION_FIELDS))
    if unknown:
        raise ApiError(400, 'unknown form field(s) %s: the photo goes in the file field "image", the '
                            'options are %s' % (', '.join(unknown), ', '.join(OPTION_FIELDS)))
    options = {'direction': fields.get('direction', PhotoConfig.direction), 'no_face': fields.get('no_face', 'error')}
    if options['direction'] not in directions:
        raise ApiError(400, 'direction must be one of %s (got %r)' % (', '.join(directions), options['direction']))
    if options['no_face'] not in ('error', 'center'):
        raise ApiError(400, 'no_face must be error or center (got %r)' % options['no_face'])
    for name in ('align_face', 'paste_back'):
        value = fields.get(name, 'false').strip().lower()
        if value not in ('true', 'false', '1', '0', 'on', 'off', ''):
            raise ApiError(400, '%s must be true or false (got %r)' % (name, value))
        options[name] = value in ('true', '1', 'on')
    try:
        options['contrast'] = float(fields.get('contrast') or 0)
    except ValueError:
        options['contrast'] = None
    if options['contrast'] is None or not -127 < options['contrast'] < 255:
        raise ApiError(400, 'contrast must be a number in (-127, 255) (got %r)' % fields.get('contrast'))
    return options


def png_bytes(image):
    """RGB uint8 image -> the bytes of its PNG."""
    ok, buf = cv2.imencode('.png', cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return buf.tobytes()


def png_base64(image):
    """RGB uint8 image -> base64 text of its PNG."""
    return base64.b64encode(png_bytes(image)).decode('ascii')


def encode_jpeg(image, quality=85):
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes()


class Engine:
    """The shared inference object of the server: the model worker, the face aligner (made on
    first use) and the photo pipeline of ugatit/infer/photo.py around them."""

    def __init__(self, config, worker, directions, step=0, keep_uploads=None, device=None):
        self.config = config
        self.device = device  # DeviceModels: the page's "on this device" mode; None: server only
        self.worker = worker
        self.directions = tuple(directions)
        self.step = step
        self.keep_uploads = keep_uploads
        self._keep_problem = None  # why the last write under keep_uploads failed; None while writes work
        self._keep_lock = threading.Lock()
        self._aligner = None
        self._aligner_lock = threading.Lock()  # dlib's detector is used by one thread at a time
        self._upscale_lock = threading.Lock()  # so is an upscaler's network

    @property
    def img_size(self):
        return self.config.model.img_size

    def cut(self, image, options):
        """The model input of a photo RGB uint8 [H, W, 3]: photo.Item (chip uint8 [S, S, 3] and
        its transform); ApiError 422 when no face is found and no_face is error."""
        from ugatit.infer.photo import cut_chips
        photo = dataclasses.replace(self.config.photo, align_face=options['align_face'], no_face=options['no_face'],
                                    faces='largest', contrast=options['contrast'], brightness=0)
        config = dataclasses.replace(self.config, photo=photo)
        with self._aligner_lock:
            aligner = self._face_aligner() if options['align_face'] else None
            items, problem = cut_chips('upload', image, lambda name: 'upload', config, aligner, log.info)
        if problem:
            raise ApiError(422, 'no face found in the photo: try another photo, or untick "align face" '
                                '(or send no_face=center) to translate the centre of the photo')
        return items[0]

    def _face_aligner(self):
        if self._aligner is None:
            from ugatit.infer.photo import face_aligner
            try:
                self._aligner = face_aligner(self.config, force=True)
            except UserError as exc:
                raise ApiError(501, 'face alignment is not available on this server: %s' % exc)
        return self._aligner

    def enlarge(self, item, translated):
        """The translation uint8 [S, S, 3] of an Item enlarged as --upscale asks ([S*f, S*f, 3])."""
        from ugatit.infer.photo import enlarge_translation
        from ugatit.infer.upscale import enlarge_factor
        if enlarge_factor(self.config.photo, self.img_size) == 1:
            return translated
        with self._upscale_lock:
            return enlarge_translation(item, translated, self.config)

    def results(self, item, translated, attention, options):
        """The response images (base64 PNG text) of one translated Item; `translated` as enlarge
        returns it."""
        from ugatit.infer.photo import paste_faces
        attention_rgb = heatmap_to_rgb(attention, self.img_size)
        images = {'input': png_base64(item.chip), 'translation': png_base64(translated),
                  'attention': png_base64((0.5 * item.chip + 0.5 * attention_rgb).astype(np.uint8))}
        if options['paste_back']:
            images['pasted'] = png_base64(paste_faces(item.image, [(translated, item.transform)], self.img_size))
        return images

    def keep(self, data, extension):
        """With --keep_uploads: write the upload under a generated name (never the client's),
        atomically. A write that fails (a full disk, a removed folder) never costs the answer:
        it leaves no partial file, and keep_status reports it until a write works again."""
        if not self.keep_uploads:
            return
        path = os.path.join(self.keep_uploads, '%s_%s%s' % (time.strftime('%Y%m%d-%H%M%S'), uuid.uuid4().hex[:12], extension))
        try:
            write_atomic(path, data)
        except OSError as exc:
            self._set_keep_problem(exc.strerror or str(exc))
        else:
            self._set_keep_problem(None)

    def _set_keep_problem(self, problem):
        """Record whether keeping works; log its changes only, not every request of a full disk."""
        with self._keep_lock:
            before, self._keep_problem = self._keep_problem, problem
        if problem and not before:
            log.warning('--keep_uploads %s: cannot keep uploads there (%s); photos are still translated but '
                        'not kept. Free space on that disk (or fix the folder): keeping resumes by itself '
                        'with the next upload that can be written.', self.keep_uploads, problem)
        elif before and not problem:
            log.warning('--keep_uploads %s: uploads are kept again', self.keep_uploads)

    @property
    def keep_status(self):
        """'off' without --keep_uploads, 'ok', or 'failing (why)' since the last write failed."""
        if not self.keep_uploads:
            return 'off'
        problem = self._keep_problem
        return 'failing (%s)' % problem if problem else 'ok'


async def translate_photo(engine, budget, data, options, limits, render):
    """Bytes of a photo -> render(item, translated uint8 [S, S, 3], attention [s, s], options), all of it
    while the photo's pixels are reserved in `budget` (a PixelBudget). The CPU work runs in the
    thread pool and the model in the worker, so the event loop never waits on either."""
    from starlette.concurrency import run_in_threadpool
    kind, extension, pixels = await run_in_threadpool(check_upload, data, limits)
    with budget.reserve(pixels):
        image = await run_in_threadpool(decode_image, data, kind)
        await run_in_threadpool(engine.keep, data, extension)
        item = await run_in_threadpool(engine.cut, image, options)
        translated, attention = await asyncio.wrap_future(engine.worker.submit(options['direction'], item.chip))
        return await run_in_threadpool(render, item, translated, attention, options)


# --------------------------------------------------------------------------------------------
# The application
# --------------------------------------------------------------------------------------------

# The multipart body of POST /api/translate for the OpenAPI page (the handler reads the form
# itself, to check its size before parsing it).
TRANSLATE_BODY = {'requestBody': {'required': True, 'content': {'multipart/form-data': {'schema': {
    'type': 'object', 'required': ['image'], 'properties': {
        'image': {'type': 'string', 'format': 'binary', 'description': 'the photo: JPEG, PNG, WebP or BMP'},
        'direction': {'type': 'string', 'enum': list(DIRECTIONS), 'default': PhotoConfig.direction},
        'align_face': {'type': 'boolean', 'default': False, 'description': 'find the face (dlib) and translate it aligned'},
        'paste_back': {'type': 'boolean', 'default': False, 'description': 'also return the photo with the translation put back'},
        'contrast': {'type': 'number', 'default': 0, 'description': 'contrast boost before translating, in (-127, 255)'},
        'no_face': {'type': 'string', 'enum': ['error', 'center'], 'default': 'error',
                    'description': 'with align_face, a photo without a face: 422, or translate its centre'}}}}}}}


def create_app(engine, limits=Limits()):
    """The FastAPI application around an Engine."""
    from fastapi import FastAPI, Request, WebSocket
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles

    budget = PixelBudget(limits.pixel_budget)
    app = FastAPI(title='U-GAT-IT', description='Photo to anime translation (docs/serve.md).', version='1',
                  docs_url=None, redoc_url=None)
    install_error_handlers(app)
    app.add_middleware(CrossOriginIsolation)
    app.mount('/static', StaticFiles(directory=STATIC_DIR), name='static')
    add_offline_docs(app)

    @app.get('/', include_in_schema=False)
    async def page():
        return FileResponse(os.path.join(STATIC_DIR, 'index.html'))

    @app.get('/favicon.ico', include_in_schema=False)
    async def favicon():  # the page links /static/favicon.svg; browsers and tools ask here without a link
        return FileResponse(os.path.join(STATIC_DIR, 'favicon.svg'), media_type='image/svg+xml')

    @app.get('/model/info.json', include_in_schema=False)
    async def device_info():
        if engine.device is None:
            raise ApiError(404, 'this server offers no on-device mode')
        return engine.device.info(engine.config, engine.directions, engine.step)

    @app.get('/model/{name}', include_in_schema=False)
    async def device_model(name: str):
        if engine.device is not None and name == 'face_template.json' and engine.device.template:
            return engine.device.template
        data = None if engine.device is None else await asyncio.to_thread(engine.device.model, name)
        if data is None:
            raise ApiError(404, 'no model file %r here' % name)
        return Response(data, media_type='application/octet-stream')

    @app.get('/ort/{name}', include_in_schema=False)
    async def device_runtime(name: str):
        from ugatit.infer.web_export import runtime_file, runtime_missing
        path = runtime_file(name)
        if path is None or runtime_missing():
            raise ApiError(404, runtime_missing() or 'no runtime file %r here' % name)
        return FileResponse(path)

    @app.get('/health', summary='200 while the model is loaded and its worker runs')
    async def health():
        """status "ok", or "degraded" while --keep_uploads cannot write (translations go on)."""
        if not engine.worker.alive:
            raise ApiError(503, 'the model worker has stopped')
        keeping = engine.keep_status
        return {'status': 'degraded' if keeping.startswith('failing') else 'ok', 'step': engine.step,
                'img_size': engine.img_size, 'directions': list(engine.directions),
                'batch_size': engine.worker.batch_size, 'keeps_uploads': bool(engine.keep_uploads),
                'keep_uploads': keeping}

    @app.post('/api/translate', summary='Translate one photo', openapi_extra=TRANSLATE_BODY,
              responses={200: {'content': {'image/png': {}}}})
    async def api_translate(request: Request, format: str = 'json'):
        """JSON {"images": {"input", "translation", "attention"[, "pasted"]}: base64 PNG, ...};
        with ?format=png the translation as image/png. Errors: JSON {"error": message}, 4xx/503/504."""
        if format not in ('json', 'png'):
            raise ApiError(400, 'format must be json or png (got %r)' % format)
        def answer(item, translated, attention, options):
            translated = engine.enlarge(item, translated)
            if format == 'png':
                return Response(png_bytes(translated), media_type='image/png')
            images = engine.results(item, translated, attention, options)
            return JSONResponse({'direction': options['direction'], 'size': engine.img_size, 'step': engine.step,
                                 'face': item.face is not None, 'images': images})
        try:
            return await asyncio.wait_for(handle_translate(request, engine, budget, limits, answer), limits.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(504, 'the request took longer than %.0f s; try a smaller photo' % limits.timeout_s)

    @app.websocket('/ws')
    async def camera(websocket: WebSocket):
        await camera_session(websocket, engine, budget, limits)

    return app


def add_offline_docs(app):
    """GET /docs: FastAPI's Swagger UI page, its script and style served from the
    swagger-ui-bundle package instead of a CDN, so that the page works offline."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path
    app.mount('/docs-static', StaticFiles(directory=swagger_ui_path), name='docs-static')

    @app.get('/docs', include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title='U-GAT-IT API',
                                   swagger_js_url='/docs-static/swagger-ui-bundle.js',
                                   swagger_css_url='/docs-static/swagger-ui.css',
                                   swagger_favicon_url='/docs-static/favicon-32x32.png')


@contextlib.asynccontextmanager
async def upload_form(request, limits):
    """The form of POST /api/translate, closed on exit, its file kept in memory (the
    Content-Length was checked against limits.max_bytes first) instead of spooled to a temporary
    file past 1 MB. Starlette's request.form() has no setting for that, so this is its multipart
    branch with the spooling threshold raised on this request's parser only, not on the class
    that every app of the process shares. A body that is not multipart: an empty form."""
    from starlette.datastructures import FormData
    from starlette.formparsers import MultiPartException, MultiPartParser
    from python_multipart.multipart import parse_options_header
    content_type, _ = parse_options_header(request.headers.get('content-type'))
    form = FormData()
    if content_type == b'multipart/form-data':
        async with contextlib.aclosing(request.stream()) as stream:
            parser = MultiPartParser(request.headers, stream, max_files=1, max_fields=len(OPTION_FIELDS))
            parser.spool_max_size = limits.max_bytes + 1
            try:
                form = await parser.parse()
            except MultiPartException as exc:
                raise ApiError(400, exc.message)
    try:
        yield form
    finally:
        await form.close()


async def handle_translate(request, engine, budget, limits, answer):
    """Read and check the form of POST /api/translate, translate its photo: the response
    answer(item, translated, attention, options) makes in the thread pool."""
    from starlette.datastructures import UploadFile
    length = request.headers.get('content-length')
    if length is None or not length.isdigit():
        raise ApiError(411, 'the request needs a Content-Length header')
    if int(length) > limits.max_bytes + 64 * 1024:  # the form's own bytes besides the file
        raise ApiError(413, 'the upload is too large (%.1f MB; the limit is %.1f MB)'
                       % (int(length) / 1e6, limits.max_bytes / 1e6))
    async with upload_form(request, limits) as form:
        files = [(k, v) for k, v in form.multi_items() if isinstance(v, UploadFile)]
        if [k for k, _ in files] != ['image']:
            raise ApiError(400, 'send the photo as a multipart form with one file field named "image"%s'
                           % (' (got %s)' % ', '.join(k for k, _ in files) if files else ''))
        options = parse_options({k: v for k, v in form.multi_items() if not isinstance(v, UploadFile)},
                                engine.directions)
        data = await files[0][1].read()
    return await translate_photo(engine, budget, data, options, limits, answer)


async def camera_session(websocket, engine, budget, limits):
    """The camera mode: each binary message is a JPEG frame, answered by the translated frame
    (JPEG) or a text message {"error": ...}. The page sends a frame only after the answer to the
    previous one, so frames the server cannot take in time are dropped by the page, never queued."""
    from starlette.websockets import WebSocketDisconnect
    await websocket.accept()
    try:
        options = parse_options(dict(websocket.query_params), engine.directions)
    except ApiError as exc:
        await websocket.send_json({'error': exc.message, 'status': exc.status})
        await websocket.close(code=1008)
        return
    options.update(align_face=False, no_face='center', paste_back=False)
    try:
        while True:
            message = await websocket.receive()
            if message['type'] == 'websocket.disconnect':
                return
            try:
                if message.get('bytes') is None:
                    raise ApiError(400, 'send each frame as a binary message (a JPEG image)')
                frame = await asyncio.wait_for(translate_photo(engine, budget, message['bytes'], options, limits,
                                                               lambda item, translated, *_: encode_jpeg(translated)),
                                               limits.timeout_s)
                await websocket.send_bytes(frame)
            except ApiError as exc:
                await websocket.send_json({'error': exc.message, 'status': exc.status})
            except asyncio.TimeoutError:
                await websocket.send_json({'error': 'the frame took too long', 'status': 504})
    except WebSocketDisconnect:
        return


def install_error_handlers(app):
    """Every error as JSON {"error": message}: bad requests 4xx, a busy server 503, and an
    unexpected failure 500 without a traceback (which goes to the server's log)."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(ApiError)
    async def api_error(request, exc):
        return JSONResponse({'error': exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):
        return JSONResponse({'error': str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        fields = '; '.join('%s: %s' % ('.'.join(str(p) for p in e.get('loc', ())), e.get('msg')) for e in exc.errors())
        return JSONResponse({'error': 'bad request (%s)' % fields}, status_code=400)

    @app.exception_handler(Exception)
    async def internal_error(request, exc):
        log.error('internal error', exc_info=exc)
        return JSONResponse({'error': 'internal error: the server could not translate this request'},
                            status_code=500)


# --------------------------------------------------------------------------------------------
# python main.py --phase serve
# --------------------------------------------------------------------------------------------

def load_engine(config):
    """Restore the generators once; returns (Engine, Translator). Close the translator after
    engine.worker.close()."""
    from ugatit.infer.slim import held_directions
    from ugatit.infer.translator import Translator
    directions = held_directions(config)  # both, or the one of a one-direction export
    translator = Translator(config, directions, io='uint8')
    worker = BatchWorker(translator.translate, config.runtime.batch_size)
    return (Engine(config, worker, directions, translator.step, config.serve.keep_uploads, DeviceModels(translator)),
            translator)


def serve(config):
    """Run the server until Ctrl-C; returns the exit status."""
    import socket
    import uvicorn
    folder = config.serve.keep_uploads
    if folder and not os.path.isdir(folder):
        raise UserError('--keep_uploads %s: no such folder (create it first)' % folder)
    with socket.socket() as probe:  # a clear message instead of uvicorn's log line
        try:
            probe.bind((config.serve.host, config.serve.port))
        except OSError as exc:
            raise UserError('--host %s --port %d: cannot listen there (%s); choose another --port'
                            % (config.serve.host, config.serve.port, exc.strerror))
    engine, translator = load_engine(config)
    limits = Limits()
    print(' [*] Restored %s (step %d)' % (translator.checkpoint, translator.step))
    host = '[%s]' % config.serve.host if ':' in config.serve.host else config.serve.host
    print(' [*] Serving on http://%s:%d/  (API docs: /docs; Ctrl-C stops)' % (host, config.serve.port), flush=True)
    try:
        uvicorn.run(create_app(engine, limits), host=config.serve.host, port=config.serve.port,
                    log_level='warning', timeout_keep_alive=5, ws_max_size=limits.max_bytes)
    finally:
        engine.worker.close()
        translator.close()
    return 0
