"""Translate a video: `python main.py --phase test --input clip.mp4 [--align_face] --result_dir out`.

A reader thread decodes frames into a bounded queue, the main thread translates them in
batches of --batch_size, and a writer thread encodes them into a second bounded queue, so that
decoding, the model and encoding overlap and memory stays flat on a long video. The output is
<result_dir>/<name>.mp4 (H.264, the input's timestamps and frame rate, its audio copied),
written under a hidden temporary name in the same folder and given the first free name of
<name>.mp4, <name>_2.mp4 ... when complete (claimed atomically: runs never replace each other's
files). Errors, Ctrl-C and SIGTERM remove the temporary file.

With --align_face, faces are detected in every frame, tracked and their chip transforms
smoothed over time (ugatit/apps/smoothing.py), translated, and pasted back with a feathered mask
that fades in and out as faces come and go. A frame without a face stays as it is (with
--no_face center its whole frame is translated instead). Without --align_face every frame is
translated whole: letterboxed to a square (black bars), translated, the bars cut off again and
resized back to the frame's size, so that the output keeps the whole picture and its size.
"""

import contextlib
import errno
import os
import queue
import secrets
import signal
import threading

import cv2
import numpy as np
from tqdm import tqdm

from ugatit.infer import faces as F
from ugatit.errors import Stopped, UserError, is_write_error
from ugatit.apps.smoothing import FaceTracker
from ugatit.apps.video_io import VideoWriter, check_video_fits, probe, read_frames
from utils import ensure_writable_folder, publish_unique, safe_name, unique_names

QUEUE_BATCHES = 2   # batches each queue holds: enough to overlap, little memory
_END = object()


class FrameProcessor(object):
    """Translates frames (RGB uint8 [H, W, 3]) as the video mode's flags say.

    translate: function(chips uint8 [N, S, S, 3]) -> translated uint8 [N, S, S, 3];
    aligner: a faces.FaceAligner (None: whole frames, letterboxed). After each call,
    .faces_per_frame and .transforms (the first face's chip transform per frame, None when no
    face was pasted) have grown by one entry per frame (for reports and tests)."""

    def __init__(self, config, translate, aligner=None, smooth=True):
        self.config, self.translate, self.aligner = config, translate, aligner
        self.size = config.model.img_size
        self.photo = live_photo_flags(config)
        video = config.video
        self.tracker = FaceTracker(self.size, smooth=smooth and video.smooth, fade=video.fade_frames,
                                   min_cutoff=video.smooth_cutoff, beta=video.smooth_beta)
        self.faces_per_frame, self.transforms = [], []

    def __call__(self, frames, times):
        """frames: list of RGB uint8 [H, W, 3]; times: their times in seconds. Returns the list
        of translated frames, same sizes."""
        if self.aligner is None:
            return self._whole(frames)
        photo = self.config.photo
        plans, chips, whole = [], [], []
        for frame, t in zip(frames, times):
            found = self.aligner.detect(frame)
            found = found[:1] if photo.faces == 'largest' else found
            self.faces_per_frame.append(len(found))
            detections = [(face, self.aligner.chip_transform(face, self.size, photo.face_padding)) for face in found]
            tracks = self.tracker.update(detections, t)
            self.transforms.append(tracks[0].transform if tracks else None)
            plans.append([(len(chips) + k, tr.transform, tr.weight) for k, tr in enumerate(tracks)])
            chips += [F.warp_chip(frame, tr.transform, self.size) for tr in tracks]
            whole.append(not tracks and photo.no_face == 'center')
        translated = self._translate(chips) if chips else []
        out = []
        for frame, plan, centre in zip(frames, plans, whole):
            for index, transform, weight in plan:
                frame = _blend(frame, F.paste_back(frame, translated[index], transform, chip_size=self.size), weight)
            out.append(self._whole([frame])[0] if centre else frame)
        return out

    def _translate(self, chips):
        """Translate chips uint8 [S, S, 3]; returns them enlarged as self.photo says ([S*f, S*f, 3])."""
        from ugatit.infer.upscale import enlarge
        photo = self.photo
        chips = np.stack([F.adjust_contrast(c, photo.contrast, photo.brightness) for c in chips])
        return [enlarge(y, photo) for y in self.translate(chips)]

    def _whole(self, frames):
        """Letterbox, translate, cut the bars, resize back."""
        boxes = [letterbox(frame, self.size) for frame in frames]
        translated = self._translate([chip for chip, _ in boxes])
        return [unletterbox(y, [v * y.shape[0] // self.size for v in crop], frame.shape)
                for y, (_, crop), frame in zip(translated, boxes, frames)]


def live_photo_flags(config):
    """The photo flags of videos and the camera: those of config, with Lanczos enlarging unless
    --upscaler was given (waifu2x takes a second or more per face on two CPU cores,
    docs/upscale.md, and the camera must stay live)."""
    import dataclasses
    if 'upscaler' in config.given:
        return config.photo
    return dataclasses.replace(config.photo, upscaler='lanczos')


def _blend(frame, pasted, weight):
    if weight >= 1.0:
        return pasted
    return np.rint(frame + weight * (pasted.astype(np.float32) - frame)).astype(np.uint8)


def letterbox(frame, size):
    """frame [H, W, 3] padded with black bars to a square and resized to [size, size, 3];
    returns (square, (x0, y0, x1, y1): the picture's part of the square)."""
    h, w = frame.shape[:2]
    side = max(h, w)
    square = np.zeros((side, side, 3), np.uint8)
    y0, x0 = (side - h) // 2, (side - w) // 2
    square[y0:y0 + h, x0:x0 + w] = frame
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    scale = size / float(side)
    crop = (int(round(x0 * scale)), int(round(y0 * scale)), int(round((x0 + w) * scale)), int(round((y0 + h) * scale)))
    return cv2.resize(square, (size, size), interpolation=interp), crop


def unletterbox(square, crop, shape):
    """The picture part of a translated letterboxed square, resized to shape [H, W, ...]."""
    x0, y0, x1, y1 = crop
    part = square[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
    return cv2.resize(np.ascontiguousarray(part), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def make_aligner(config):
    """The FaceAligner of the --align_face flags, or None."""
    from ugatit.infer.photo import face_aligner
    return face_aligner(config)


def output_name(source_name):
    """<safe stem>.mp4 of the input's name; unique_names() gives <stem>_2.mp4, ... after it."""
    return safe_name(os.path.splitext(os.path.basename(source_name))[0], default='video') + '.mp4'


def output_path(config, source_name):
    """The first free name for the input's video in --result_dir (checked writable). Another run
    can take it before this one ends: publish() claims a name atomically."""
    out_dir = ensure_writable_folder(config.paths.result_dir, '--result_dir')
    return next(path for path in unique_names(out_dir, output_name(source_name)) if not os.path.exists(path))


def publish(tmp, out_dir, source_name):
    """Give the finished file `tmp` the first free video name in out_dir and return it
    (utils.publish_unique: runs that finish together never replace each other's file)."""
    return publish_unique(tmp, out_dir, output_name(source_name))


def run_video(config, translate=None):
    """The video-file mode; returns 0. translate: the chip translator (default: the restored
    generator of --direction). UserError on a bad input; no partial output is left."""
    info = probe(config.photo.input)
    out_dir = ensure_writable_folder(config.paths.result_dir, '--result_dir')
    check_video_fits(info, out_dir)
    aligner = make_aligner(config)
    if translate is not None:
        return _convert(config, info, out_dir, FrameProcessor(config, translate, aligner))
    from ugatit.infer.translator import Translator
    with Translator(config, (config.photo.direction,), io='uint8') as translator:
        print(' [*] Restored %s (step %d)' % (translator.checkpoint, translator.step))
        processor = FrameProcessor(config, lambda chips: translator.translate(config.photo.direction, chips)[0], aligner)
        return _convert(config, info, out_dir, processor)


def _convert(config, info, out_dir, processor):
    """write_video() and the summary; returns 0."""
    count, final = write_video(info, out_dir, processor, config.runtime.batch_size)
    if info.counted and count < info.frames:
        print(' [!] --input %s: only %d of its %d frames could be decoded (the file is truncated); '
              'the output ends there' % (info.path, count, info.frames))
    faces = processor.faces_per_frame
    detail = ('; %d frame(s) without a face kept as they are' % faces.count(0)) if faces else ''
    print(' [*] %d frame(s) translated into %s%s' % (count, final, detail))
    return 0


def write_video(info, out_dir, processor, batch_size):
    """Translate info's video through processor (translate_stream) into a hidden temporary file
    in out_dir, then publish() it; returns (frames written, the published path). On an error,
    Ctrl-C or SIGTERM (raised as Stopped: exit status 143) the temporary file is removed and
    nothing is published; a full disk is a UserError naming the folder."""
    tmp, complete = None, False
    with _signal_handlers(_stop):
        try:
            tmp = create_temporary(out_dir, info.path)
            count = translate_stream(info, tmp, processor, batch_size)
            complete = True
            # The video is complete: a stop half way through publishing it would leave it
            # published under a message saying that nothing was written.
            with _signal_handlers(signal.SIG_IGN, signal.SIG_IGN):
                return count, publish(tmp, out_dir, info.path)
        except KeyboardInterrupt:
            print(' [!] Interrupted: the video was not finished; nothing was written to %s' % out_dir)
            raise
        except OSError as exc:
            if not is_write_error(exc):
                raise
            raise UserError(write_failed_message(out_dir, exc, tmp, complete, info.path)) from None
        finally:
            remove_partial(tmp)


def remove_partial(tmp):
    """Remove the temporary video file `tmp` (None or gone: nothing to do); returns None when it
    is gone, else the reason it could not be removed (a folder made unwritable meanwhile)."""
    if tmp is None or not os.path.exists(tmp):
        return None
    try:
        os.remove(tmp)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def write_failed_message(out_dir, exc, tmp, complete, source_name):
    """The UserError text when writing into --result_dir failed (utils: a full disk, a folder made
    unwritable or immutable part-way): the folder, the reason, and what became of the temporary
    file, removed or, when the folder no longer lets it go, named with what to do with it."""
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    what = '--result_dir %s: %s (%s)' % (
        out_dir, 'the disk filled up while the video was written' if full else 'the folder cannot be written any more',
        exc.strerror)
    fix = 'free some space' if full else 'make it writable'
    kept = remove_partial(tmp)
    if kept is None:
        return '%s; nothing was written: %s or choose another --result_dir' % (what, fix)
    if complete:
        return ('%s; the translated video is complete in %s, which could not be given its name or removed (%s): '
                '%s and rename it to %s, or choose another --result_dir and run again'
                % (what, tmp, kept, fix, output_name(source_name)))
    return ('%s; the unfinished file %s could not be removed (%s): delete it once you %s, or choose another '
            '--result_dir' % (what, tmp, kept, fix))


def create_temporary(out_dir, source_name):
    """A new empty hidden file in out_dir for the video being written, with the user's usual
    permissions (0666 & ~umask, which the published file keeps; mkstemp would give 0600)."""
    name = output_name(source_name)
    path = os.path.join(out_dir, '.%s.%s.part.mp4' % (name, secrets.token_hex(8)))
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    return path


def _stop(signum, _frame):
    """SIGTERM handler: stop as Ctrl-C does (the clean-up runs), with exit status 128 + signum."""
    signal.signal(signum, signal.SIG_IGN)  # a second one must not cut the clean-up short
    raise Stopped(signum)


@contextlib.contextmanager
def _signal_handlers(term, interrupt=None):
    """`term` handles SIGTERM (and `interrupt` SIGINT, when given) within the block. Only the
    main thread can set handlers; elsewhere the block runs with the process's own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {signal.SIGTERM: signal.signal(signal.SIGTERM, term)}
    if interrupt is not None:
        old[signal.SIGINT] = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)


def translate_stream(info, out_path, processor, batch_size):
    """Reader thread -> batches through processor -> writer thread into out_path (H.264 MP4).
    Returns the number of frames written; re-raises the first error of any thread."""
    frames_q, out_q = queue.Queue(QUEUE_BATCHES * batch_size), queue.Queue(QUEUE_BATCHES)
    stop, errors = threading.Event(), []
    reader = threading.Thread(target=_read, args=(info, frames_q, stop, errors), daemon=True)
    writer = threading.Thread(target=_write, args=(info, out_path, out_q, stop, errors), daemon=True)
    reader.start()
    writer.start()
    count = 0
    bar = tqdm(total=info.frames or None, desc='translating', unit='frame')
    try:
        for batch in _batches(frames_q, batch_size, stop, errors):
            frames = processor([f for f, _ in batch], [_seconds(pts, info, count + k) for k, (_, pts) in enumerate(batch)])
            if not _put(out_q, list(zip(frames, [pts for _, pts in batch])), stop):
                break
            count += len(batch)
            bar.update(len(batch))
        _put(out_q, _END, stop)
    except BaseException:
        stop.set()
        raise
    finally:
        bar.close()
        writer.join()
        stop.set()
        reader.join()
    if errors:
        raise errors[0]
    if count == 0:
        raise UserError('--input %s: the video has no frame' % info.path)
    return count


def _seconds(pts, info, index):
    return float(pts * info.time_base) if pts is not None else index / float(info.rate)


def _batches(frames_q, batch_size, stop, errors):
    batch = []
    while True:
        item = _get(frames_q, stop)
        if item is _END:
            break
        batch.append(item)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch and not errors:
        yield batch


def _put(q, item, stop):
    """Put into a bounded queue unless `stop` is set first; returns whether it was put."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q, stop):
    """The next item of q, or _END once `stop` is set (a thread failed)."""
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return _END


def _read(info, frames_q, stop, errors):
    try:
        for item in read_frames(info):
            if not _put(frames_q, item, stop):
                return
        _put(frames_q, _END, stop)
    except BaseException as exc:  # handed to the main thread
        errors.append(exc)
        stop.set()


def _write(info, out_path, out_q, stop, errors):
    try:
        with VideoWriter(out_path, info) as writer:
            while True:
                item = _get(out_q, stop)
                if item is _END:
                    return
                for frame, pts in item:
                    writer.write(frame, pts)
    except BaseException as exc:
        errors.append(exc)
        stop.set()
