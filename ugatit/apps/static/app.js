// The page of `python main.py --phase serve` and of `--phase export --format web`: photo mode and camera
// mode, the model running on the server (POST api/translate, WS ws) or on this device (the ONNX model in
// onnxruntime-web, WebGPU where the browser has it, else WebAssembly: nothing is sent anywhere).
// model/info.json says which: {"server": false} is the static folder of --format web, device only.
'use strict';

const $ = (id) => document.getElementById(id);

function showError(message) {
  const box = $('error');
  box.textContent = message || '';
  box.hidden = !message;
}

function options() {
  return {
    direction: $('direction').value,
    align_face: $('align_face').checked ? 'true' : 'false',
    paste_back: $('paste_back').checked ? 'true' : 'false',
    contrast: $('contrast').value || '0',
  };
}

// ---------------------------------------------------------------- photo mode

function translatePhoto(file) {
  return page.where === 'device' ? translatePhotoOnDevice(file) : translatePhotoOnServer(file);
}

async function translatePhotoOnServer(file) {
  showError('');
  $('status').textContent = 'Translating ' + file.name + ' ...';
  const form = new FormData();
  form.append('image', file);
  const opts = options();
  for (const name in opts) form.append(name, opts[name]);
  let response, data;
  try {
    response = await fetch('api/translate', { method: 'POST', body: form });
    data = await response.json();
  } catch (err) {
    $('status').textContent = '';
    showError('Could not reach the server, or it gave no answer: ' + err.message);
    return;
  }
  $('status').textContent = '';
  if (!response.ok) {
    showError('Not translated: ' + (data.error || ('status ' + response.status)));
    return;
  }
  showResults(data);
}

function showResults(data) {
  const url = (name) => 'data:image/png;base64,' + data.images[name];
  for (const name of ['input', 'translation', 'attention']) $('out-' + name).src = url(name);
  const pasted = 'pasted' in data.images;
  $('pasted-figure').hidden = !pasted;
  $('download-pasted').hidden = !pasted;
  if (pasted) {
    $('out-pasted').src = url('pasted');
    $('download-pasted').href = url('pasted');
  }
  $('download').href = url('translation');
  $('status').textContent = data.face ? 'Face found and aligned.' : 'Centre of the photo translated.';
  $('results').hidden = false;
  $('downloads').hidden = false;
}

$('file').addEventListener('change', () => {
  if ($('file').files.length) translatePhoto($('file').files[0]);
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer.files.length) translatePhoto(e.dataTransfer.files[0]);
});

// ---------------------------------------------------------------- camera mode
// One frame in flight at a time: the next frame is grabbed only when the answer to the last one
// has arrived, so the stream runs at the rate the server sustains and nothing queues up.

const camera = { stream: null, socket: null, count: 0, lastUrl: null, started: 0 };
const FRAME_SIDE = 256;

function sendFrame() {
  const video = $('camera-video');
  if (!camera.socket || camera.socket.readyState !== WebSocket.OPEN) return;
  if (!video.videoWidth) { setTimeout(sendFrame, 50); return; }
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = FRAME_SIDE;
  drawCentre(video, video.videoWidth, video.videoHeight, canvas);
  canvas.toBlob((blob) => { if (camera.socket) camera.socket.send(blob); }, 'image/jpeg', 0.85);
}

function onFrame(event) {
  if (typeof event.data === 'string') {
    const message = JSON.parse(event.data);
    showError('Camera frame not translated: ' + message.error);
    setTimeout(sendFrame, 500);
    return;
  }
  showError('');
  if (camera.lastUrl) URL.revokeObjectURL(camera.lastUrl);
  camera.lastUrl = URL.createObjectURL(event.data);
  if (!camera.stream) return;
  $('camera-out').src = camera.lastUrl;
  camera.count += 1;
  $('camera-count').textContent = camera.count;
  const seconds = (performance.now() - camera.started) / 1000;
  $('camera-status').textContent = (camera.count / seconds).toFixed(1) + ' frames/s';
  requestAnimationFrame(sendFrame);
}

async function startCamera() {
  showError('');
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError('This browser gives the page no camera (it needs https or localhost).');
    return;
  }
  try {
    camera.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (err) {
    showError('The camera could not be opened: ' + err.message);
    return;
  }
  $('camera-video').srcObject = camera.stream;
  $('camera-start').disabled = true;
  $('camera-stop').disabled = false;
  camera.count = 0;
  $('camera-count').textContent = '0';
  requestAnimationFrame(drawPreview);
  $('camera-out').hidden = page.where === 'device';
  $('camera-device-out').hidden = page.where !== 'device';
  if (page.where === 'device') { cameraOnDevice(camera.stream); return; }
  const params = new URLSearchParams({ direction: $('direction').value, contrast: $('contrast').value || '0' });
  const socketUrl = new URL('ws?' + params, location.href);
  socketUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  camera.socket = new WebSocket(socketUrl.href);
  camera.socket.onopen = () => { camera.started = performance.now(); sendFrame(); };
  camera.socket.onmessage = onFrame;
  camera.socket.onclose = () => { if (camera.stream) $('camera-status').textContent = 'connection closed'; };
  camera.socket.onerror = () => showError('The connection to the server was lost.');
}

function stopCamera() {
  if (camera.socket) camera.socket.close();
  camera.socket = null;
  if (camera.stream) camera.stream.getTracks().forEach((t) => t.stop());
  camera.stream = null;
  $('camera-start').disabled = false;
  $('camera-stop').disabled = true;
  $('camera-status').textContent = 'stopped';
}

$('camera-start').addEventListener('click', startCamera);
$('camera-stop').addEventListener('click', stopCamera);

// ---------------------------------------------------------------- on this device
// The ONNX model of --phase export --format onnx in onnxruntime-web. The model input is the centred
// square of the photo or camera frame, scaled to the model's size; the camera view shows that square
// and a guide for the face (model/face_template.json: where the model's training chips have the eyes).

const page = { info: null, where: 'server', keepsUploads: false, device: null };

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error('could not load ' + src));
    document.head.appendChild(script);
  });
}

// onnxruntime-web, once: its WebGPU build where the browser gives an adapter, else the WebAssembly one.
function deviceRuntime() {
  if (!page.device) page.device = (async () => {
    if (!page.info) throw new Error('no model description (model/info.json)');
    let backend = 'wasm';
    if (navigator.gpu) {
      try {
      const adapter = await navigator.gpu.requestAdapter();
      // A software adapter (SwiftShader: WebGPU emulated on the CPU) is far slower than WebAssembly.
      const info = adapter ? adapter.info || {} : {};
      const software = info.isFallbackAdapter || /swiftshader/i.test([info.vendor, info.architecture, info.description].join(' '));
      if (adapter && !software) backend = 'webgpu';
    } catch (err) { /* no adapter */ }
    }
    $('device-status').textContent = 'Loading the runtime ...';
    await loadScript(page.info.runtime[backend]);
    ort.env.wasm.wasmPaths = new URL(page.info.runtime.files, location.href).href;
    // Threads need a cross-origin isolated page (COOP/COEP headers), which a plain file server does not give.
    // Half the cores, at most 4 (onnxruntime-web's own choice), but both cores of a 2-core device:
    // on an idle 2-core machine 2 threads filtered 15.8 frames/s against 8.1 for one (docs/web.md).
    // ?threads=N in the address chooses (the benchmark compares 1 and 2).
    const asked = Number(new URLSearchParams(location.search).get('threads')) || 0;
    const cores = navigator.hardwareConcurrency || 1;
    const chosen = Math.min(cores, 4, Math.max(2, Math.ceil(cores / 2)));
    const threads = self.crossOriginIsolated ? asked || chosen : 1;
    ort.env.wasm.numThreads = threads;
    const template = page.info.template ? await (await fetch(page.info.template)).json() : null;
    const device = { backend, threads, sessions: {}, template, label: '' };
    device.label = backend === 'webgpu' ? 'WebGPU' : 'WebAssembly, ' + threads + (threads > 1 ? ' threads' : ' thread');
    $('device-status').textContent = 'Runs on this device: ' + device.label + '.';
    return device;
  })();
  return page.device;
}

async function deviceSession(direction) {
  const device = await deviceRuntime();
  if (!device.sessions[direction]) {
    const url = new URL(page.info.models[direction], location.href).href;
    device.sessions[direction] = (async () => {
      try {
        return await ort.InferenceSession.create(url, { executionProviders: [device.backend] });
      } catch (err) {
        if (device.backend === 'wasm') throw err;
        device.backend = 'wasm';  // the WebGPU build also holds the WebAssembly kernels
        device.label = 'WebAssembly (WebGPU failed: ' + err.message + ')';
        return ort.InferenceSession.create(url, { executionProviders: ['wasm'] });
      }
    })();
    device.sessions[direction].catch(() => { delete device.sessions[direction]; });
  }
  return device.sessions[direction];
}

function makeCanvas(width, height) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height || width;
  return canvas;
}

// The centred square of a picture (video, image, bitmap) of width x height, scaled onto `canvas`
// (quality 'high' for a photo; the camera's frames take the cheaper default).
function drawCentre(picture, width, height, canvas, quality) {
  const side = Math.min(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.imageSmoothingQuality = quality || 'low';
  context.drawImage(picture, (width - side) / 2, (height - side) / 2, side, side, 0, 0, canvas.width, canvas.height);
}

// Run the model on the S x S canvas `input`: {translated: RGB bytes [S, S, 3], attention: [S/4, S/4]}.
async function runOnDevice(direction, input) {
  const session = await deviceSession(direction);
  const size = input.width;
  const rgba = input.getContext('2d', { willReadFrequently: true }).getImageData(0, 0, size, size).data;
  const rgb = new Uint8Array(size * size * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2];
  }
  const outputs = await session.run({ image: new ort.Tensor('uint8', rgb, [1, size, size, 3]) });
  return { translated: outputs.translated.data, attention: outputs.attention.data };
}

function putRgb(rgb, canvas) {
  const size = canvas.width;
  const context = canvas.getContext('2d');
  const image = context.createImageData(size, size);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    image.data[i] = rgb[j]; image.data[i + 1] = rgb[j + 1]; image.data[i + 2] = rgb[j + 2]; image.data[i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

// The attention map [n, n] in [0, 1], coloured (jet) and scaled to size x size, as the server draws it.
function attentionCanvas(attention, size) {
  const n = Math.round(Math.sqrt(attention.length));
  const small = makeCanvas(n);
  const image = small.getContext('2d').createImageData(n, n);
  const clip = (v) => Math.round(255 * Math.max(0, Math.min(1, v)));
  for (let k = 0; k < attention.length; k++) {
    const v = attention[k];
    image.data[4 * k] = clip(1.5 - Math.abs(4 * v - 3));
    image.data[4 * k + 1] = clip(1.5 - Math.abs(4 * v - 2));
    image.data[4 * k + 2] = clip(1.5 - Math.abs(4 * v - 1));
    image.data[4 * k + 3] = 255;
  }
  small.getContext('2d').putImageData(image, 0, 0);
  const canvas = makeCanvas(size);
  canvas.getContext('2d').drawImage(small, 0, 0, size, size);
  return canvas;
}

async function translatePhotoOnDevice(file) {
  showError('');
  $('status').textContent = 'Translating ' + file.name + ' on this device ...';
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (err) {
    $('status').textContent = '';
    showError('Not translated: the file is not an image this browser can read (JPEG, PNG, WebP or BMP).');
    return;
  }
  const size = page.info.img_size;
  const input = makeCanvas(size);
  drawCentre(bitmap, bitmap.width, bitmap.height, input, 'high');
  bitmap.close();
  let result;
  const started = performance.now();
  try {
    result = await runOnDevice($('direction').value, input);
  } catch (err) {
    $('status').textContent = '';
    showError('Not translated on this device: ' + (err.message || err));
    return;
  }
  const milliseconds = performance.now() - started;
  const translation = putRgb(result.translated, makeCanvas(size)).toDataURL('image/png');
  $('out-input').src = input.toDataURL('image/png');
  $('out-translation').src = translation;
  $('out-attention').src = attentionCanvas(result.attention, size).toDataURL('image/png');
  $('pasted-figure').hidden = true;
  $('download-pasted').hidden = true;
  $('download').href = translation;
  const device = await deviceRuntime();
  $('status').textContent = 'Centre of the photo translated on this device (' + device.label + ', '
    + Math.round(milliseconds) + ' ms).';
  $('results').hidden = false;
  $('downloads').hidden = false;
}

// The camera view: the centred square the model is given, and the face guide over it; drawn once
// per camera frame.
function drawPreview() {
  const video = $('camera-video');
  if (!camera.stream) return;
  const preview = $('camera-preview');
  if (video.videoWidth && video.currentTime !== camera.previewTime) {
    camera.previewTime = video.currentTime;
    drawCentre(video, video.videoWidth, video.videoHeight, preview);
    drawGuide(preview.getContext('2d'), preview.width, page.device && page.where === 'device' ? page.deviceTemplate : null);
  }
  requestAnimationFrame(drawPreview);
}

// An oval for the face and, with a template, a mark where each eye belongs; else a centred oval.
function drawGuide(context, side, template) {
  context.save();
  context.strokeStyle = 'rgba(255, 255, 255, 0.85)';
  context.lineWidth = 2;
  context.setLineDash([6, 4]);
  let cx = 0.5, cy = 0.5, rx = 0.3, ry = 0.4;
  const marks = [];
  if (template) {
    const p = template.landmarks;
    const eyes = [[(p[0][0] + p[1][0]) / 2, (p[0][1] + p[1][1]) / 2], [(p[2][0] + p[3][0]) / 2, (p[2][1] + p[3][1]) / 2]];
    const d = Math.hypot(eyes[1][0] - eyes[0][0], eyes[1][1] - eyes[0][1]);
    cx = (eyes[0][0] + eyes[1][0]) / 2;
    cy = (eyes[0][1] + eyes[1][1]) / 2 * 0.4 + p[4][1] * 0.6;
    rx = 1.05 * d;
    ry = 1.4 * d;
    marks.push(...eyes);
  }
  context.beginPath();
  context.ellipse(cx * side, cy * side, rx * side, ry * side, 0, 0, 2 * Math.PI);
  context.stroke();
  context.setLineDash([]);
  for (const [x, y] of marks) {
    context.beginPath();
    context.arc(x * side, y * side, 0.025 * side, 0, 2 * Math.PI);
    context.stroke();
  }
  context.restore();
}

// Translate the latest camera frame, as fast as the device allows (one frame in flight).
async function cameraOnDevice(stream) {
  const direction = $('direction').value;
  const size = page.info.img_size;
  const input = makeCanvas(size);
  const output = $('camera-device-out');
  output.width = output.height = size;
  const video = $('camera-video');
  let device;
  try {
    device = await deviceRuntime();
    page.deviceTemplate = device.template;
    $('guide-hint').textContent = device.template ? ' (eyes on the marks)' : ' (face in the oval)';
    await deviceSession(direction);
  } catch (err) {
    showError('The model cannot run on this device: ' + (err.message || err));
    return;
  }
  const times = [], modelTimes = [];
  while (camera.stream === stream) {
    if (!video.videoWidth) { await new Promise((r) => setTimeout(r, 50)); continue; }
    drawCentre(video, video.videoWidth, video.videoHeight, input);
    let result;
    const started = performance.now();
    try {
      result = await runOnDevice(direction, input);
    } catch (err) {
      showError('Camera frame not translated: ' + (err.message || err));
      return;
    }
    const modelMs = performance.now() - started;
    if (camera.stream !== stream) return;
    putRgb(result.translated, output);
    camera.count += 1;
    $('camera-count').textContent = camera.count;
    times.push(performance.now());
    modelTimes.push(modelMs);
    if (times.length > 30) { times.shift(); modelTimes.shift(); }
    if (times.length > 1) {
      const fps = (times.length - 1) * 1000 / (times[times.length - 1] - times[0]);
      const model = modelTimes.reduce((a, b) => a + b, 0) / modelTimes.length;
      $('camera-status').textContent = fps.toFixed(1) + ' frames/s on this device (' + device.label + '; the model '
        + Math.round(model) + ' ms a frame)';
      $('camera-status').dataset.fps = fps.toFixed(2);
    }
    await new Promise((r) => setTimeout(r, 0));  // let the page draw
  }
}

// ---------------------------------------------------------------- tabs

function showMode(mode) {
  $('photo-mode').hidden = mode !== 'photo';
  $('camera-mode').hidden = mode !== 'camera';
  $('tab-photo').classList.toggle('active', mode === 'photo');
  $('tab-camera').classList.toggle('active', mode === 'camera');
  document.querySelectorAll('.photo-only').forEach((el) => {
    el.hidden = mode !== 'photo' || (el.classList.contains('server-mode') && page.where !== 'server');
  });
  if (mode !== 'camera') stopCamera();
  showError('');
}
$('tab-photo').addEventListener('click', () => showMode('photo'));
$('tab-camera').addEventListener('click', () => showMode('camera'));

// ---------------------------------------------------------------- where the model runs

function setWhere(where) {
  stopCamera();
  page.where = where;
  $('where-' + where).checked = true;
  document.querySelectorAll('.server-mode').forEach((el) => { el.hidden = where !== 'server'; });
  if (where === 'device') {
    $('privacy').textContent = 'The model runs in this page: photos and camera frames never leave this device.';
    deviceRuntime().catch((err) => showError('The model cannot run on this device: ' + err.message));
  } else {
    $('privacy').textContent = page.keepsUploads ? 'This server keeps a copy of every photo sent to it.'
      : 'Photos are translated on this server and not kept.';
  }
  $('results').hidden = true;
  $('downloads').hidden = true;
  showMode($('camera-mode').hidden ? 'photo' : 'camera');
}

$('where-device').addEventListener('change', () => setWhere('device'));
$('where-server').addEventListener('change', () => setWhere('server'));

// WebAssembly threads need a cross-origin isolated page. A plain file server does not send the
// headers for it: the service worker isolation.js adds them, from the next load of the page on.
// True when the page is about to reload for that (once a session: no loop where it cannot work).
async function isolate() {
  if (self.crossOriginIsolated || !('serviceWorker' in navigator) || !window.isSecureContext) return false;
  try {
    const registration = await navigator.serviceWorker.register('isolation.js');
    if (sessionStorage.getItem('isolation-reload')) return false;
    sessionStorage.setItem('isolation-reload', '1');
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) => {
        if (registration.active) { resolve(); return; }
        navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true });
        setTimeout(resolve, 3000);
      });
    }
    location.reload();
    return true;
  } catch (err) {
    return false;  // no service worker here: one thread
  }
}

async function start() {
  try {
    const answer = await fetch('model/info.json');
    if (answer.ok) page.info = await answer.json();
  } catch (err) { /* no such file: a server without the on-device mode */ }
  if (page.info && !page.info.server) {  // the static folder of --format web: no server behind it
    if (await isolate()) return;  // the page reloads once, isolated
    document.querySelectorAll('.server-only').forEach((el) => { el.hidden = true; });
    setWhere('device');
    return;
  }
  if (!page.info || page.info.runtime_missing) {
    $('where-device').disabled = true;
    $('device-status').textContent = page.info ? page.info.runtime_missing : 'this server offers no on-device mode';
  }
  // The server says whether it keeps a copy of uploads (--keep_uploads): the page says so too.
  fetch('health').then((r) => r.json()).then((health) => {
    page.keepsUploads = Boolean(health.keeps_uploads);
    if (page.keepsUploads && page.where === 'server') {
      $('privacy').textContent = 'This server keeps a copy of every photo sent to it.';
    }
  }).catch(() => showError('The server does not answer.'));
}
start();
