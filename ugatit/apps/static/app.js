// The page of `python main.py --phase serve`: photo mode (POST /api/translate) and camera mode (WS /ws).
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

async function translatePhoto(file) {
  showError('');
  $('status').textContent = 'Translating ' + file.name + ' ...';
  const form = new FormData();
  form.append('image', file);
  const opts = options();
  for (const name in opts) form.append(name, opts[name]);
  let response, data;
  try {
    response = await fetch('/api/translate', { method: 'POST', body: form });
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
  const side = Math.min(video.videoWidth, video.videoHeight);
  canvas.getContext('2d').drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2,
                                    side, side, 0, 0, FRAME_SIDE, FRAME_SIDE);
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
  const params = new URLSearchParams({ direction: $('direction').value, contrast: $('contrast').value || '0' });
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  camera.socket = new WebSocket(scheme + location.host + '/ws?' + params);
  camera.socket.onopen = () => { camera.started = performance.now(); sendFrame(); };
  camera.socket.onmessage = onFrame;
  camera.socket.onclose = () => { if (camera.stream) $('camera-status').textContent = 'connection closed'; };
  camera.socket.onerror = () => showError('The connection to the server was lost.');
  $('camera-start').disabled = true;
  $('camera-stop').disabled = false;
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

// ---------------------------------------------------------------- tabs

function showMode(mode) {
  $('photo-mode').hidden = mode !== 'photo';
  $('camera-mode').hidden = mode !== 'camera';
  $('tab-photo').classList.toggle('active', mode === 'photo');
  $('tab-camera').classList.toggle('active', mode === 'camera');
  document.querySelectorAll('.photo-only').forEach((el) => { el.hidden = mode !== 'photo'; });
  if (mode !== 'camera') stopCamera();
  showError('');
}
$('tab-photo').addEventListener('click', () => showMode('photo'));
$('tab-camera').addEventListener('click', () => showMode('camera'));

// The server says whether it keeps a copy of uploads (--keep_uploads): the page says so too.
fetch('/health').then((r) => r.json()).then((health) => {
  if (health.keeps_uploads) $('privacy').textContent = 'This server keeps a copy of every photo sent to it.';
}).catch(() => showError('The server does not answer.'));
