"""`python main.py --phase export --format web`: the web page with the model running in the
browser (onnxruntime-web), as a folder any static file host serves: no Python, no TensorFlow.

Written to `<export_dir>/<model_dir>/web/`:
    index.html, static/          the page of --phase serve (ugatit/apps/static), which finds no
                                 server behind it and runs "on this device" only
    isolation.js                 a service worker adding the headers that give WebAssembly threads
    model/info.json              what the page reads first: {"server": false, "img_size",
                                 "directions", "models", "template", "runtime", "step"}
    model/<direction>.float16.onnx  the generators, float16 weights (ugatit/infer/onnx_export.py)
    model/face_template.json     the camera guide's face template (the model's: ugatit/infer/face_template.py)
    ort/                         onnxruntime-web's script and WebAssembly files (from npm,
                                 node_modules/onnxruntime-web: `npm ci`, done by make venv)
    LICENSES.md                  onnxruntime-web's licence (MIT) and version

--phase serve serves the same info.json (with "server": true), models and runtime files, so
the page offers both modes there ("on this device" / "on the server").
"""

import json
import os
import shutil

from ugatit.errors import UserError
from ugatit.infer.export import staged_folder
from utils import write_atomic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATIC_DIR = os.path.join(ROOT, 'ugatit', 'apps', 'static')
PAGE_FILES = ('app.js', 'style.css', 'favicon.svg')
# At the folder's root: the page, and the service worker that makes it cross-origin isolated (its
# scope is its folder) so that WebAssembly gets threads from a plain file server.
ROOT_FILES = ('index.html', 'isolation.js')
RUNTIME_PACKAGE = os.path.join(ROOT, 'node_modules', 'onnxruntime-web')
# What the page loads: ort.wasm.min.js and its WebAssembly (every browser), or, where the browser
# offers WebGPU, ort.webgpu.min.js and its own build (WebGPU, with the WebAssembly CPU kernels).
RUNTIME_FILES = ('ort.wasm.min.js', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm',
                 'ort.webgpu.min.js', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm')
RUNTIME = {'wasm': 'ort/ort.wasm.min.js', 'webgpu': 'ort/ort.webgpu.min.js', 'files': 'ort/'}
TEMPLATE_FILE = 'face_template.json'
PAGE_VARIANT = 'float16'  # half the download; measured within 1 grey level of float32 (docs/web.md)


def runtime_missing():
    """None when onnxruntime-web is installed, else the message that says how to install it."""
    dist = os.path.join(RUNTIME_PACKAGE, 'dist')
    missing = [name for name in RUNTIME_FILES if not os.path.isfile(os.path.join(dist, name))]
    if not missing:
        return None
    return ('onnxruntime-web is not installed (%s is missing): run `npm ci` in the project folder (make venv '
            'runs it when npm is present; Debian: apt-get install npm). The model runs in the browser only with '
            'it; everything else works without it.' % os.path.relpath(os.path.join(dist, missing[0]), ROOT))


def runtime_file(name):
    """Path of one of RUNTIME_FILES in node_modules (None for any other name)."""
    return os.path.join(RUNTIME_PACKAGE, 'dist', name) if name in RUNTIME_FILES else None


def runtime_version():
    with open(os.path.join(RUNTIME_PACKAGE, 'package.json')) as f:
        return json.load(f)['version']


def face_template(checkpoint):
    """The face template of the model whose checkpoint prefix is `checkpoint`, as the page reads
    it: {"landmarks": [[x, y] x 5], "keep_roll"}, dlib's 5 points (two corners of each eye, the
    base of the nose) as fractions of the square chip's side, the framing the model was trained
    on. The one the Python side aligns faces with (ugatit/infer/face_template.py): the
    face_template.json beside the checkpoint, else the shipped selfie2anime one; None when the
    file beside the checkpoint is not a template (the page then shows a centred oval)."""
    from ugatit.infer.face_template import template_for_checkpoint
    try:
        template = template_for_checkpoint(checkpoint)
    except ValueError:
        return None
    return {'landmarks': [[float(x), float(y)] for x, y in template.landmarks], 'keep_roll': float(template.keep_roll)}


def page_info(config, directions, step, template, server):
    """The page's model/info.json."""
    return {'server': server, 'img_size': config.model.img_size, 'directions': list(directions), 'step': int(step),
            'models': {d: 'model/%s.%s.onnx' % (d, PAGE_VARIANT) for d in directions},
            'template': 'model/' + TEMPLATE_FILE if template else None, 'runtime': RUNTIME}


def license_text(version):
    return ('# Third-party files of this folder\n\n'
            '`ort/` holds files of onnxruntime-web %s (https://github.com/microsoft/onnxruntime, npm package\n'
            '`onnxruntime-web`), licensed under the MIT License:\n\n'
            '    MIT License\n\n    Copyright (c) Microsoft Corporation\n\n'
            '    Permission is hereby granted, free of charge, to any person obtaining a copy of this software and\n'
            '    associated documentation files (the "Software"), to deal in the Software without restriction,\n'
            '    including without limitation the rights to use, copy, modify, merge, publish, distribute,\n'
            '    sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is\n'
            '    furnished to do so, subject to the following conditions:\n\n'
            '    The above copyright notice and this permission notice shall be included in all copies or\n'
            '    substantial portions of the Software.\n\n'
            '    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT\n'
            '    NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND\n'
            '    NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,\n'
            '    DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT\n'
            '    OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.\n' % version)


def export_web(config):
    """Write <export_dir>/<model_dir>/web/ (module docstring); returns its path. UserError, with
    nothing written, when onnxruntime-web is not installed or the folder already holds files."""
    from ugatit.infer.onnx_export import onnx_models, refuse_existing
    directions = config.export_directions
    out = os.path.join(config.run_folder('export'), 'web')
    refuse_existing(out)
    problem = runtime_missing()
    if problem:
        raise UserError('--format web: ' + problem + ' Nothing was written.')
    with staged_folder(out) as staging:
        def write(direction, variant, data):
            write_atomic(os.path.join(staging, 'model', '%s.%s.onnx' % (direction, variant)), data)
        os.makedirs(os.path.join(staging, 'static'))
        os.makedirs(os.path.join(staging, 'model'))
        os.makedirs(os.path.join(staging, 'ort'))
        for name in ROOT_FILES:
            shutil.copyfile(os.path.join(STATIC_DIR, name), os.path.join(staging, name))
        for name in PAGE_FILES:
            shutil.copyfile(os.path.join(STATIC_DIR, name), os.path.join(staging, 'static', name))
        for name in RUNTIME_FILES:
            shutil.copyfile(runtime_file(name), os.path.join(staging, 'ort', name))
        checkpoint, step = onnx_models(config, directions, write, variants=(PAGE_VARIANT,))
        template = face_template(checkpoint)
        if template:
            write_atomic(os.path.join(staging, 'model', TEMPLATE_FILE), json.dumps(template).encode())
        info = page_info(config, directions, step, template, server=False)
        write_atomic(os.path.join(staging, 'model', 'info.json'), json.dumps(info, indent=1).encode())
        write_atomic(os.path.join(staging, 'LICENSES.md'), license_text(runtime_version()).encode())
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(out) for f in files)
    print(' [*] Web page of %s (step %d, %s) in %s (%.1f MB): serve that folder with any static file server, '
          'e.g. python -m http.server -d %s' % (' and '.join(directions), step, checkpoint, out, size / 1e6, out))
    return out
