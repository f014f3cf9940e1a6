"""`main.py --phase test --input clip.mp4` and `--input camera:N`: frames, timing, audio, faces
per frame, the camera's frame dropping, every bad input, and the output's name, permissions,
a full disk and interruptions."""

import os
import time

import av
import numpy as np
import pytest

import main
from ugatit import cli
from tests.support import TINY_MODEL, child_environment, shared_path
from ugatit.infer.translator import save_random_generators
from ugatit.errors import UserError
from ugatit.apps import video_io as V
from utils import size_text

TINY = TINY_MODEL + ['--dataset', 'video']


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('ckpt'))
    save_random_generators(cli.parse_config(['--phase', 'test', '--checkpoint_dir', folder] + TINY), 3)
    return folder


def config_for(checkpoint, out, *argv):
    return cli.parse_config(['--phase', 'test', '--checkpoint_dir', checkpoint, '--result_dir', str(out)] + TINY + list(argv))


class ClipCapture(object):
    """A stand-in camera: delivers `frames` (RGB uint8 [H, W, 3]) at `fps` in real time, then
    None (the end). .delivered counts the frames handed out."""

    def __init__(self, frames, fps=30.0):
        self.frames, self.fps, self.delivered = list(frames), float(fps), 0
        self.start = None

    def read(self):
        if self.start is None:
            self.start = time.monotonic()
        if self.delivered >= len(self.frames):
            return None
        wait = self.start + self.delivered / self.fps - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.delivered += 1
        return self.frames[self.delivered - 1]

    def close(self):
        pass


def gradient_frames(n, width=64, height=48):
    """n frames of a moving colour gradient (no face)."""
    y, x = np.mgrid[0:height, 0:width]
    return [np.stack([(x * 4 + 9 * k) % 256, (y * 5) % 256, np.full_like(x, 20 * k % 256)], axis=2).astype(np.uint8)
            for k in range(n)]


def audio_packets(path):
    with av.open(path) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def decoded(path):
    return [f for f, _ in V.read_frames(V.probe(path))]


def leftovers(folder):
    return [n for n in os.listdir(folder) if n.endswith('.part.mp4')]


def small_clip(tmp_path, frames=6, name='face.mp4', tone_hz=None):
    """A short gradient clip (with a tone as AAC audio when tone_hz is given); returns its path."""
    path = str(tmp_path / name)
    V.write_test_clip(path, gradient_frames(frames), fps=10, tone_hz=tone_hz)
    return path


def test_whole_frame_video_keeps_frames_rate_duration_and_audio(tmp_path, capsys, tiny_checkpoint):
    clip = str(tmp_path / 'clip.mp4')
    V.write_test_clip(clip, gradient_frames(15), fps=10, tone_hz=440)
    out = tmp_path / 'out'
    rc = main.main(['--phase', 'test', '--checkpoint_dir', tiny_checkpoint, '--result_dir', str(out),
                    '--input', clip, '--batch_size', '4'] + TINY)
    assert rc == 0, capsys.readouterr()
    result = V.probe(str(out / 'clip.mp4'))
    source = V.probe(clip)
    assert (result.width, result.height, result.frames, result.rate) == (64, 48, 15, 10)
    assert abs(result.duration - 1.5) < 0.05  # 15 frames at 10 fps; one frame is 0.1 s
    assert result.audio_codec == 'aac' and audio_packets(str(out / 'clip.mp4')) == audio_packets(clip)
    with av.open(str(out / 'clip.mp4')) as c:
        assert c.streams.video[0].codec_context.name == 'h264'
    # Translated: the random generator's output is far from the input (encoding moves pixels
    # by a few levels at most: the input decoded against its source frames is the control).
    before, after = decoded(clip), decoded(str(out / 'clip.mp4'))
    source_error = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(before, gradient_frames(15))])
    assert source_error < 4 and np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(before, after)]) > 20
    assert leftovers(out) == [] and source.frames == 15
    # A second run does not replace the first output.
    assert main.main(['--phase', 'test', '--checkpoint_dir', tiny_checkpoint, '--result_dir', str(out),
                      '--input', clip] + TINY) == 0
    assert sorted(os.listdir(out)) == ['clip.mp4', 'clip_2.mp4']


def test_no_audio_and_variable_frame_rate_timestamps_are_kept(tmp_path, tiny_checkpoint):
    import fractions
    clip = str(tmp_path / 'vfr.mp4')
    times_ms = [0, 100, 150, 400, 500, 520, 900]
    with av.open(clip, 'w', format='mp4') as c:
        s = c.add_stream('libx264', rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, 'yuv420p'
        s.codec_context.time_base = fractions.Fraction(1, 1000)
        for frame, ms in zip(gradient_frames(len(times_ms)), times_ms):
            f = av.VideoFrame.from_ndarray(frame, format='rgb24')
            f.pts, f.time_base = ms, fractions.Fraction(1, 1000)
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    from ugatit.apps.video import run_video
    assert run_video(config_for(tiny_checkpoint, tmp_path / 'out', '--input', clip)) == 0
    info = V.probe(str(tmp_path / 'out' / 'vfr.mp4'))
    assert info.audio_codec is None
    seconds = [float(p * info.time_base) for _, p in V.read_frames(info)]
    np.testing.assert_allclose(seconds, np.array(times_ms) / 1000.0, atol=1e-3)


def face_clip(tmp_path):
    """16 frames 192x144 at 10 fps of obama.jpg drifting; frames 6-9 replaced by a smooth
    faceless ramp (the face leaves and comes back)."""
    from ugatit.benchmarks.video_bench import moving_photo_clip
    from utils import read_image_rgb
    frames, _ = moving_photo_clip(read_image_rgb(shared_path('data', 'faces', 'obama.jpg')), 192, 144, 16)
    ramp = np.linspace(60, 200, 192).astype(np.uint8)
    frames[6:10] = [np.broadcast_to(ramp[None, :, None], (144, 192, 3)).copy() for _ in range(4)]
    path = str(tmp_path / 'face.mp4')
    V.write_test_clip(path, frames, fps=10)
    return path, frames


@pytest.mark.slow
def test_faces_per_frame_paste_back_and_fades(tmp_path, tiny_checkpoint):
    from ugatit.apps.video import FrameProcessor, make_aligner, run_video
    from ugatit.benchmarks.video_bench import pattern_translator
    path, frames = face_clip(tmp_path)
    config = config_for(tiny_checkpoint, tmp_path / 'out', '--input', path, '--align_face', '--fade_frames', '2',
                        '--no_face', 'skip')
    processor = FrameProcessor(config, pattern_translator(32), make_aligner(config))
    out = processor(frames, [k / 10.0 for k in range(16)])
    assert processor.faces_per_frame == [1] * 6 + [0] * 4 + [1] * 6
    changed = [np.abs(o.astype(int) - f).mean() for o, f in zip(out, frames)]
    assert changed[0] > 0.8 * changed[1]  # a face there from the first frame does not fade in
    full, fading_out, gone, fading_in = changed[5], changed[6], changed[7:10], changed[10]
    # Faceless frames are kept exactly, once the face has faded out over --fade_frames 2.
    assert gone == [0, 0, 0] and full > 1
    assert 0.2 * full < fading_out < 0.8 * full and 0.2 * changed[11] < fading_in < 0.8 * changed[11]
    # The same through the file pipeline: every frame comes out, faceless ones as they went in.
    assert run_video(config, translate=pattern_translator(32)) == 0
    result = decoded(str(tmp_path / 'out' / 'face.mp4'))
    source = decoded(path)
    assert len(result) == 16
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in zip(result, source)]
    assert max(diffs[7:10]) < 2 < 3 < min(diffs[:6])


def test_camera_drops_frames_rather_than_lagging(tmp_path, tiny_checkpoint):
    from ugatit.apps.camera import run_camera
    config = config_for(tiny_checkpoint, tmp_path / 'out', '--input', 'camera:0')

    def slow(chips):
        time.sleep(0.1)  # a model that manages 10 frames/s
        return chips

    stats = {}
    assert run_camera(config, ClipCapture(gradient_frames(40), fps=50), slow, stats) == 0
    # 0.8 s of camera at 50 fps through a 10 fps model: most frames dropped, none queued up.
    assert stats['captured'] == 40 and 5 <= stats['frames'] <= 12
    assert stats['dropped'] >= 40 - stats['frames'] - 1
    # Latency stays about one translation (0.1 s + one camera frame + overheads) from first to
    # last frame. Translating every frame in turn would lag by 40 x 0.1 - 0.8 = 3.2 s at the end;
    # 0.5 s leaves room for a busy machine and still tells the two apart.
    assert max(stats['latencies']) < 0.5
    assert stats['latencies'][-1] < stats['latencies'][0] + 0.3  # not growing
    assert decoded(str(tmp_path / 'out' / 'camera.mp4')).__len__() == stats['frames']
    # Control: a model faster than the camera drops (almost) nothing.
    fast = {}
    run_camera(config, ClipCapture(gradient_frames(20), fps=20), lambda chips: chips, fast)
    assert fast['dropped'] <= 1 and fast['frames'] >= 19


def test_camera_recording_never_replaces_a_file_and_gets_the_usual_permissions(tmp_path, tiny_checkpoint):
    from ugatit.apps.camera import run_camera
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'camera.mp4').write_bytes(b'mine')
    config = config_for(tiny_checkpoint, out, '--input', 'camera:0')
    old = os.umask(0o022)
    try:
        run_camera(config, ClipCapture(gradient_frames(5), fps=20), lambda chips: chips, {})
    finally:
        os.umask(old)
    assert (out / 'camera.mp4').read_bytes() == b'mine'
    assert os.stat(str(out / 'camera_2.mp4')).st_mode & 0o777 == 0o644
    assert sorted(os.listdir(str(out))) == ['camera.mp4', 'camera_2.mp4']  # no temporary file left


def test_input_kind_is_told_by_the_name():
    assert V.is_video_path('a/b/Clip.MOV') and V.is_video_path('x.mkv')
    assert not V.is_video_path('photo.jpg') and not V.is_video_path('photos/')
    frame = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    up = V.upright(frame, 90)
    assert up.shape == (4, 2, 3) and (up[0, 0] == frame[0, 3]).all()  # turned counter-clockwise
    assert V.upright(frame, 0) is frame


def test_bad_videos_give_clear_errors_and_leave_nothing(tmp_path, capsys, tiny_checkpoint, monkeypatch):
    from ugatit.apps.video import run_video
    out = tmp_path / 'out'
    good = str(tmp_path / 'good.mp4')
    V.write_test_clip(good, gradient_frames(30), fps=10)
    cases = {'missing.mp4': None, 'text.mp4': b'not a video at all', 'empty.mp4': b'',
             'cut.mp4': open(good, 'rb').read()[:len(open(good, 'rb').read()) // 2]}
    for name, data in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
        rc = main.main(['--phase', 'test', '--checkpoint_dir', tiny_checkpoint, '--result_dir', str(out),
                        '--input', str(tmp_path / name)] + TINY)
        err = capsys.readouterr().err
        assert rc == 2 and 'error: --input %s' % (tmp_path / name) in err and 'Traceback' not in err, (name, err)
    # Cut short with its index in front: decodes up to the cut, and says so.
    noise = [np.random.default_rng(k).integers(0, 255, (48, 64, 3), dtype=np.uint8) for k in range(30)]
    with av.open(str(tmp_path / 'front.mp4'), 'w', format='mp4', options={'movflags': 'faststart'}) as c:
        s = c.add_stream('libx264', rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, 'yuv420p'
        for frame in noise:
            c.mux(s.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')))
        c.mux(s.encode(None))
    data = (tmp_path / 'front.mp4').read_bytes()
    (tmp_path / 'short.mp4').write_bytes(data[:int(len(data) * 0.7)])
    assert run_video(config_for(tiny_checkpoint, out, '--input', str(tmp_path / 'short.mp4')), translate=lambda c: c) == 0
    assert 'of its 30 frames could be decoded (the file is truncated)' in capsys.readouterr().out
    assert 10 < len(decoded(str(out / 'short.mp4'))) < 30
    os.remove(str(out / 'short.mp4'))
    # Audio only: no video stream.
    audio_only = str(tmp_path / 'audio.mp4')
    with av.open(audio_only, 'w', format='mp4') as c:
        s = c.add_stream('aac', rate=16000, layout='mono')
        f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format='fltp', layout='mono')
        f.sample_rate, f.pts = 16000, 0
        c.mux(s.encode(f))
        c.mux(s.encode(None))
    with pytest.raises(UserError, match='no video stream'):
        run_video(config_for(tiny_checkpoint, out, '--input', audio_only))
    # Not enough disk for the estimated output: refused before anything is written.
    import shutil
    monkeypatch.setattr(shutil, 'disk_usage', lambda p: shutil._ntuple_diskusage(10 ** 9, 10 ** 9 - 1000, 1000))
    with pytest.raises(UserError, match='kB free; free some space'):
        run_video(config_for(tiny_checkpoint, out, '--input', good))
    monkeypatch.undo()
    # A failure part way (the writer dies): no file under the final name, no temporary left.
    calls = []

    def failing(chips):
        calls.append(1)
        if len(calls) == 3:
            raise UserError('model failed')
        return chips
    with pytest.raises(UserError, match='model failed'):
        run_video(config_for(tiny_checkpoint, out, '--input', good, '--batch_size', '2'), translate=failing)
    assert os.listdir(out) == []


def test_bad_video_flags_and_a_camera_that_does_not_open(tmp_path, capsys, tiny_checkpoint):
    with pytest.raises(SystemExit):
        cli.parse_config(['--phase', 'test', '--input', 'clip.mp4', '--fade_frames', '0'])
    assert '--fade_frames must be >= 1' in capsys.readouterr().err
    missing = 'camera:%s' % (tmp_path / 'nothing.mp4')
    rc = main.main(['--phase', 'test', '--checkpoint_dir', tiny_checkpoint, '--result_dir', str(tmp_path / 'out'),
                    '--input', missing] + TINY)
    err = capsys.readouterr().err
    assert rc == 2 and 'error: --input %s: the camera could not be opened' % missing in err


def test_audio_that_mp4_cannot_hold_is_reencoded_to_aac(tmp_path):
    source, output = str(tmp_path / 'pcm.mov'), str(tmp_path / 'out.mp4')
    with av.open(source, 'w', format='mov') as c:
        video = c.add_stream('libx264', rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, 'yuv420p'
        audio = c.add_stream('pcm_s16le', rate=16000, layout='mono')
        for frame in gradient_frames(10):
            c.mux(video.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')))
        c.mux(video.encode(None))
        tone = (3000 * np.sin(np.arange(16000) / 5.0)).astype(np.int16)
        for start in range(0, 16000, 1000):
            f = av.AudioFrame.from_ndarray(tone[None, start:start + 1000], format='s16', layout='mono')
            f.sample_rate, f.pts = 16000, start
            c.mux(audio.encode(f))
        c.mux(audio.encode(None))
    info = V.probe(source)
    assert info.audio_codec == 'pcm_s16le'
    with V.VideoWriter(output, info) as writer:
        for frame, pts in V.read_frames(info):
            writer.write(frame, pts)
    with av.open(output) as c:
        sound = c.streams.audio[0]
        # 1 s of tone; AAC adds its encoder delay (1024 samples: 0.064 s at 16 kHz).
        assert sound.codec_context.name == 'aac' and 0.95 < float(sound.duration * sound.time_base) < 1.1
        assert c.streams.video[0].frames == 10


def test_a_name_taken_during_the_run_is_not_replaced(tmp_path, capsys, tiny_checkpoint, monkeypatch):
    """Two runs into one --result_dir: the one that finishes second takes the next free name,
    also when the first took the name after the second had started (the a2b + b2a race)."""
    from ugatit.apps.video import run_video
    clip, out = small_clip(tmp_path), tmp_path / 'out'
    other = out / 'face.mp4'

    def other_run_finishes_first(chips):
        if not other.exists():
            other.write_bytes(b'the other run\'s video')
        return chips
    assert run_video(config_for(tiny_checkpoint, out, '--input', clip), translate=other_run_finishes_first) == 0
    assert other.read_bytes() == b'the other run\'s video'
    assert len(decoded(str(out / 'face_2.mp4'))) == 6 and leftovers(out) == []
    assert 'translated into %s' % (out / 'face_2.mp4') in capsys.readouterr().out
    # Where the folder cannot hold hard links (FAT, some network shares) the name is claimed
    # with O_EXCL instead, with the same result.
    def no_hard_links(source, target):
        raise PermissionError(1, 'Operation not permitted', target)
    monkeypatch.setattr(os, 'link', no_hard_links)
    (out / 'face_3.mp4').write_bytes(b'a third run')
    assert run_video(config_for(tiny_checkpoint, out, '--input', clip), translate=lambda c: c) == 0
    assert (out / 'face_3.mp4').read_bytes() == b'a third run' and len(decoded(str(out / 'face_4.mp4'))) == 6
    assert 'translated into %s' % (out / 'face_4.mp4') in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ['face.mp4', 'face_2.mp4', 'face_3.mp4', 'face_4.mp4']


def test_video_output_gets_the_usual_file_permissions(tmp_path, tiny_checkpoint):
    from ugatit.apps.video import run_video
    clip, out = small_clip(tmp_path), tmp_path / 'out'
    old = os.umask(0o022)
    try:
        run_video(config_for(tiny_checkpoint, out, '--input', clip), translate=lambda c: c)
    finally:
        os.umask(old)
    assert oct(os.stat(str(out / 'face.mp4')).st_mode & 0o777) == oct(0o644)  # not mkstemp's 0600


def test_sigterm_and_ctrl_c_mid_video_leave_nothing(tmp_path, capsys, tiny_checkpoint):
    import signal
    from ugatit.apps.video import run_video
    clip, out = small_clip(tmp_path, frames=12), tmp_path / 'out'
    calls = []

    def terminated_part_way(chips):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return chips

    def unhandled(signum, frame):  # the default would end pytest itself
        raise AssertionError('SIGTERM not handled by the video mode')
    old = signal.signal(signal.SIGTERM, unhandled)
    try:
        config = config_for(tiny_checkpoint, out, '--input', clip, '--batch_size', '2')
        with pytest.raises(KeyboardInterrupt) as stopped:
            run_video(config, translate=terminated_part_way)
        assert signal.getsignal(signal.SIGTERM) is unhandled  # put back
    finally:
        signal.signal(signal.SIGTERM, old)
    assert stopped.value.exit_status == 143 and os.listdir(out) == []
    assert 'nothing was written' in capsys.readouterr().out

    def ctrl_c(chips):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt) as interrupted:
        run_video(config_for(tiny_checkpoint, out, '--input', clip), translate=ctrl_c)
    assert getattr(interrupted.value, 'exit_status', 130) == 130 and os.listdir(out) == []
    assert 'nothing was written' in capsys.readouterr().out


def test_disk_full_part_way_is_a_clear_error_and_leaves_nothing(tmp_path, tiny_checkpoint, monkeypatch):
    import errno
    import ugatit.apps.video
    clip, out = small_clip(tmp_path, frames=12, tone_hz=440), tmp_path / 'out'

    class FillsUp(V.VideoWriter):
        written = 0

        def write(self, frame, pts=None):
            FillsUp.written += 1
            if FillsUp.written > 3:
                raise OSError(errno.ENOSPC, 'No space left on device')
            super().write(frame, pts)
    monkeypatch.setattr(ugatit.apps.video, 'VideoWriter', FillsUp)
    with pytest.raises(UserError, match='--result_dir %s: the disk filled up' % out) as full:
        ugatit.apps.video.run_video(config_for(tiny_checkpoint, out, '--input', clip, '--batch_size', '2'),
                               translate=lambda c: c)
    assert 'free some space or choose another --result_dir' in str(full.value)
    assert os.listdir(out) == []


def made_immutable(monkeypatch, folder):
    """From now on `folder` behaves as after `chattr +i`: no name in it can be made, renamed or
    removed (EPERM); files already open there are still written."""
    import errno
    real = {name: getattr(os, name) for name in ('link', 'open', 'remove', 'replace', 'rename')}

    def refused(name):
        def call(path, *args, **kwargs):
            touched = [path] + ([args[0]] if name in ('link', 'replace', 'rename') else [])
            creates = name != 'open' or args[0] & os.O_CREAT
            if creates and any(os.path.dirname(os.path.abspath(p)) == str(folder) for p in touched):
                raise PermissionError(errno.EPERM, 'Operation not permitted', path)
            return real[name](path, *args, **kwargs)
        return call
    for name in real:
        monkeypatch.setattr(os, name, refused(name))


def test_a_result_dir_made_immutable_part_way_is_one_message_naming_the_complete_video(tmp_path, capsys,
                                                                                        tiny_checkpoint, monkeypatch):
    """`chattr +i` on --result_dir mid-video: three chained PermissionError tracebacks before."""
    import ugatit.apps.video
    clip, out = small_clip(tmp_path, frames=6), tmp_path / 'out'

    def translate_then_lock(chips):
        made_immutable(monkeypatch, out)
        return chips
    real_run_video = ugatit.apps.video.run_video
    monkeypatch.setattr(ugatit.apps.video, 'run_video', lambda config: real_run_video(config, translate_then_lock))
    rc = main.main(['--phase', 'test', '--checkpoint_dir', tiny_checkpoint, '--result_dir', str(out), '--input', clip]
                   + TINY)
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert rc == 2 and 'Traceback' not in err, err
    part, = leftovers(out)
    assert err.splitlines()[-1] == (
        'error: --result_dir %s: the folder cannot be written any more (Operation not permitted); the translated video '
        'is complete in %s, which could not be given its name or removed (Operation not permitted): make it writable '
        'and rename it to face.mp4, or choose another --result_dir and run again' % (out, out / part))
    assert len(decoded(str(out / part))) == 6


@pytest.fixture
def full_tmpfs(tmp_path):
    """A 1 MB tmpfs, filled up; skipped where mounting is not allowed (not root, no tmpfs)."""
    import subprocess
    folder = tmp_path / 'full'
    folder.mkdir()
    try:
        mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', str(folder)],
                                 capture_output=True).returncode == 0
    except OSError:
        mounted = False
    if not mounted:
        pytest.skip('cannot mount a tmpfs here (needs root)')
    try:
        with open(str(folder / 'filler'), 'wb') as f:
            try:
                while True:
                    f.write(b'\0' * 65536)
                    f.flush()
            except OSError:
                pass
        yield folder
    finally:
        subprocess.run(['umount', '-l', str(folder)])


def test_a_writer_on_a_full_disk_fails_cleanly_instead_of_crashing(tmp_path, full_tmpfs):
    """The real failure: FFmpeg's MP4 header cannot be written, and PyAV writes the header again
    on the next packet (the audio's, or the encoder's flush at close), which crashes FFmpeg
    (SIGSEGV). Run in a child process, so that a crash fails this test only."""
    import subprocess
    import sys
    clip = small_clip(tmp_path, tone_hz=440)
    script = '\n'.join([
        'import errno, sys',
        'from ugatit.apps import video_io as V',
        'info = V.probe(%r)' % clip,
        'try:',
        '    with V.VideoWriter(%r, info) as writer:' % str(full_tmpfs / 'out.mp4'),
        '        for frame, pts in V.read_frames(info):',
        '            writer.write(frame, pts)',
        'except OSError as exc:',
        '    print("failed", exc.errno == errno.ENOSPC)'])
    child = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120,
                           env=child_environment())
    assert (child.returncode, child.stdout) == (0, 'failed True\n'), child.stderr[-2000:]


def test_after_a_failed_write_the_writer_muxes_nothing_more(tmp_path):
    """The same everywhere (no mount needed): a failed packet write is the container's last mux;
    close() then only closes it."""
    import errno
    info = V.probe(small_clip(tmp_path, tone_hz=440))
    writer = V.VideoWriter(str(tmp_path / 'out.mp4'), info)
    real, calls = writer.container, []

    class FullDisk(object):
        name = real.name

        def mux(self, packets):
            calls.append('mux')
            raise OSError(errno.ENOSPC, 'No space left on device')

        def close(self):
            calls.append('close')
            real.close()
    writer.container = FullDisk()
    frames = iter(V.read_frames(info))
    with pytest.raises(OSError):
        for frame, pts in frames:  # libx264 holds the first frames back: the failure comes a few frames in
            writer.write(frame, pts)
    with pytest.raises(RuntimeError, match='cannot be continued'):
        writer.write(*next(frames))
    writer.close()
    assert calls == ['mux', 'close']


def test_sizes_in_the_disk_check_have_sensible_units(tmp_path, monkeypatch):
    import shutil
    info = V.probe(small_clip(tmp_path, frames=30))
    monkeypatch.setattr(shutil, 'disk_usage', lambda p: shutil._ntuple_diskusage(10 ** 9, 10 ** 9 - 5000, 5000))
    with pytest.raises(UserError) as small:
        V.check_video_fits(info, str(tmp_path))
    # 30 frames of 64x48 at 0.5 bit per pixel plus 3 s of audio at 40 kB/s
    assert 'would need about 126 kB' in str(small.value) and 'has 5 kB free' in str(small.value)
    assert [size_text(n) for n in (2.5e9, 3.25e6, 999.4e3)] == ['2.5 GB', '3.2 MB', '999 kB']


def test_a_result_dir_that_is_a_file_is_a_clear_error(tmp_path, capsys, tiny_checkpoint):
    clip = small_clip(tmp_path)
    (tmp_path / 'taken').write_text('a file, not a folder')
    rc = main.main(['--phase', 'test', '--checkpoint_dir', tiny_checkpoint, '--result_dir', str(tmp_path / 'taken'),
                    '--input', clip] + TINY)
    err = capsys.readouterr().err
    assert rc == 2 and 'error: --result_dir %s' % (tmp_path / 'taken') in err and 'Traceback' not in err, err
    assert (tmp_path / 'taken').read_text() == 'a file, not a folder'


def test_video_bench_speed_times_the_video_mode_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import tempfile
    from ugatit.benchmarks import video_bench
    photo = shared_path('data', 'faces', 'obama.jpg')
    temp = tmp_path / 'temp'
    temp.mkdir()
    monkeypatch.setattr(tempfile, 'tempdir', str(temp))     # where the clip, weights and output go
    assert video_bench.main(['speed', photo, '--size', '96x64', '--frames', '4', '--img_size', '32',
                             '--align_face', '0', '--batch_size', '2']) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith('4 frames 96x64, img_size 32, align_face False, batch 2, model True') and 'frames/s' in line
    assert float(line.split(', ')[-1].split()[0]) > 0
    assert os.listdir(temp) == []                             # the temporary folder is removed


@pytest.mark.parametrize('argv, status, message', [
    (['--size', '640by360'], 2, "'640by360' is not WIDTHxHEIGHT"),
    (['--size', '16x360'], 2, 'at least 32 pixels'),
    (['--frames', '1'], 2, '--frames must be at least 2'),
    (['--flags', '--img_ch 2'], 1, 'video_bench: error:'),
])
def test_video_bench_bad_flags_are_named(capsys, argv, status, message):
    from ugatit.benchmarks import video_bench
    with pytest.raises(SystemExit) as stop:
        video_bench.main(['speed', shared_path('data', 'faces', 'obama.jpg'), '--frames', '2', '--size', '96x64',
                          '--img_size', '32'] + argv)
    err = capsys.readouterr().err
    assert stop.value.code == status and message in err and 'Traceback' not in err


def test_video_bench_an_unreadable_photo_is_named(tmp_path, capsys):
    from ugatit.benchmarks import video_bench
    (tmp_path / 'photo.jpg').write_bytes(b'not an image')
    with pytest.raises(SystemExit) as stop:
        video_bench.main(['speed', str(tmp_path / 'photo.jpg')])
    assert stop.value.code == 1 and 'photo.jpg' in capsys.readouterr().err


def test_video_bench_jitter_on_a_photo_without_a_face_is_named(tmp_path, capsys):
    import cv2
    from ugatit.benchmarks import video_bench
    cv2.imwrite(str(tmp_path / 'wall.png'), np.full((240, 320, 3), 128, np.uint8))
    with pytest.raises(SystemExit) as stop:
        video_bench.main(['jitter', str(tmp_path / 'wall.png')])
    err = capsys.readouterr().err
    assert stop.value.code == 1 and 'wall.png: no face found' in err and 'Traceback' not in err
