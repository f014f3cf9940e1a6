"""Live camera: `python main.py --phase test --input camera:0 [--align_face] [--show]`.

A capture thread reads the camera as fast as it delivers and keeps only the newest frame
(LatestFrame); the translation loop takes whatever is newest when it is ready for the next one.
Frames that arrive while the model is busy are dropped rather than queued, so the shown picture
lags by at most one frame's translation, never more and more. Filtered frames are shown in a
window (--show; q or Esc stops) and written to <result_dir>/camera.mp4 with their capture times
as timestamps (a variable frame rate: the rate the model reached).

`camera:N` opens OpenCV's device N; `camera:URL` any capture URL OpenCV opens (RTSP, a file).
run_camera takes any object with read(), close() and .fps in its place (the tests' stand-in camera).
"""

import fractions
import os
import threading
import time

import cv2

from ugatit.errors import UserError
from ugatit.apps.video import FrameProcessor, create_temporary, make_aligner, publish
from ugatit.apps.video_io import VideoInfo, VideoWriter
from utils import ensure_writable_folder

MILLISECONDS = fractions.Fraction(1, 1000)


class OpenCVCapture(object):
    """cv2.VideoCapture of `camera:N` (device N) or `camera:URL`; read() -> RGB uint8 or None."""

    def __init__(self, spec):
        target = spec.split(':', 1)[1]
        self.capture = cv2.VideoCapture(int(target) if target.isdigit() else target)
        if not self.capture.isOpened():
            raise UserError('--input %s: the camera could not be opened (is it connected, and free?)' % spec)
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 30.0

    def read(self):
        ok, frame = self.capture.read()
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok else None

    def close(self):
        self.capture.release()


class LatestFrame(object):
    """Reads `capture` in a thread and keeps only its newest frame.

    get(timeout) -> (frame, index, capture time) of the newest frame not yet taken, or None at
    the end of the source. .dropped counts frames replaced before anyone took them."""

    def __init__(self, capture):
        self.capture, self.dropped, self.captured = capture, 0, 0
        self._cond = threading.Condition()
        self._latest, self._ended, self._stop = None, False, False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            frame = self.capture.read()
            with self._cond:
                if frame is None:
                    self._ended = True
                else:
                    self.dropped += self._latest is not None
                    self._latest = (frame, self.captured, time.monotonic())
                    self.captured += 1
                self._cond.notify_all()
            if frame is None:
                return

    def get(self, timeout=5.0):
        with self._cond:
            if not self._cond.wait_for(lambda: self._latest is not None or self._ended, timeout):
                raise UserError('the camera delivered no frame for %.0f s' % timeout)
            item, self._latest = self._latest, None
            return item

    def close(self):
        self._stop = True
        self._thread.join(timeout=5.0)
        self.capture.close()


def run_camera(config, capture=None, translate=None, stats=None):
    """The camera mode; returns 0. capture: a source with read()/close() and .fps (default:
    OpenCVCapture of --input); translate: chips -> translated chips (default: the generator);
    stats: a dict filled with frames (written), captured, dropped and latencies (seconds from
    capture to written, per frame)."""
    stats = {} if stats is None else stats
    capture = capture if capture is not None else OpenCVCapture(config.photo.input)
    aligner = make_aligner(config)
    if translate is not None:
        return _live(config, capture, FrameProcessor(config, translate, aligner), stats)
    from ugatit.infer.translator import Translator
    with Translator(config, (config.photo.direction,), io='uint8') as translator:
        print(' [*] Restored %s (step %d)' % (translator.checkpoint, translator.step))
        return _live(config, capture, FrameProcessor(
            config, lambda chips: translator.translate(config.photo.direction, chips)[0], aligner), stats)


def _live(config, capture, processor, stats):
    """Translate the newest frame, again and again, into camera.mp4 (and the window)."""
    source = LatestFrame(capture)
    out_dir = ensure_writable_folder(config.paths.result_dir, '--result_dir')
    tmp = create_temporary(out_dir, 'camera')  # the user's usual permissions, unlike mkstemp's
    stats.update(frames=0, latencies=[])
    try:
        first = source.get()
        frame, _, _ = first
        info = VideoInfo('camera', frame.shape[1], frame.shape[0], fractions.Fraction(round(capture.fps * 1000), 1000),
                         MILLISECONDS, 0, 0.0, 0)
        with VideoWriter(tmp, info) as writer:
            _loop(config, source, processor, writer, first, stats)
        final = publish(tmp, out_dir, 'camera')  # camera_2.mp4, ... never over another file
    finally:
        source.close()
        if os.path.exists(tmp):
            os.remove(tmp)
        if config.photo.show:
            cv2.destroyAllWindows()
    stats.update(dropped=source.dropped, captured=source.captured)
    print(' [*] %d frame(s) translated into %s; %d of %d captured frames dropped while the model was busy'
          % (stats['frames'], final, source.dropped, source.captured))
    return 0


def _loop(config, source, processor, writer, item, stats):
    start, last_pts = item[2], -1
    limit = config.video.camera_seconds
    try:
        while item is not None:
            frame, _, captured = item
            out = processor([frame], [captured - start])[0]
            stats['latencies'].append(time.monotonic() - captured)
            pts = max(last_pts + 1, int(round((captured - start) * 1000)))
            writer.write(out, pts)
            stats['frames'], last_pts = stats['frames'] + 1, pts
            if config.photo.show:
                cv2.imshow('UGATIT', cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
                if cv2.waitKey(1) & 0xFF in (ord('q'), 27):
                    break
            if limit and captured - start >= limit:
                break
            item = source.get()
    except KeyboardInterrupt:
        pass  # Ctrl-C ends a live session normally: the file is finished
