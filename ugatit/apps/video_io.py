"""Video decoding and encoding with PyAV (FFmpeg's libraries, bundled in the `av` wheel).

    info = probe('clip.mp4')                      # size, frame rate, frames, rotation, audio
    for frame, pts in read_frames(info): ...      # RGB uint8 [H, W, 3], upright
    with VideoWriter(tmp, info) as out:           # H.264 (libx264, yuv420p) MP4, audio copied
        out.write(frame, pts)

Frames are RGB uint8 arrays [H, W, 3] already rotated upright by the stream's display matrix
(phone videos), so the output needs no rotation flag. Timestamps are copied from the input
(in the input stream's time base), so a variable-frame-rate video keeps its timing. The audio
stream, when there is one, is copied packet by packet (no re-encoding) when MP4 can hold its
codec, and re-encoded to AAC otherwise.
"""

import dataclasses
import fractions
import os

import numpy as np

from ugatit.errors import UserError
from utils import check_disk_space

VIDEO_EXTENSIONS = ('.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi', '.mpg', '.mpeg', '.ts', '.flv', '.wmv', '.3gp')
# Audio codecs the MP4 muxer accepts as they are; others are re-encoded to AAC.
MP4_AUDIO_CODECS = ('aac', 'mp3', 'alac', 'ac3', 'eac3', 'opus', 'flac')
# Upper estimate of the H.264 output's size for the disk check: 0.5 bit per pixel per frame is
# several times what libx264 at CRF 20 writes for camera footage.
BITS_PER_PIXEL_ESTIMATE = 0.5
CRF = '20'


def is_video_path(path):
    """True when `path` names a video file by its extension (photo mode takes the rest)."""
    return os.path.splitext(str(path))[1].lower() in VIDEO_EXTENSIONS


@dataclasses.dataclass
class VideoInfo:
    """What probe() learnt of a video file; sizes are of the upright frames."""
    path: str
    width: int
    height: int
    rate: fractions.Fraction   # average frame rate (frames per second)
    time_base: fractions.Fraction
    frames: int                # the container's count, or estimated from the duration; 0: unknown
    duration: float            # seconds (0 when unknown)
    rotation: int              # degrees counter-clockwise the frames are turned to be upright
    audio_codec: str = None    # None: no audio stream
    counted: bool = False      # frames is the container's own count (not an estimate)


def _open(path):
    import av
    if not os.path.isfile(path):
        raise UserError('--input %s: no such file' % path)
    try:
        return av.open(path)
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise UserError('--input %s: not a video FFmpeg can read (%s); is the file complete?' % (path, exc))


def probe(path):
    """Open `path` and return its VideoInfo; UserError when it is unreadable or has no video
    frame. Decodes the first frame (its rotation, and a check that the stream decodes)."""
    import av
    with _open(path) as container:
        if not container.streams.video:
            raise UserError('--input %s: the file has no video stream' % path)
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or fractions.Fraction(25)
        duration = float(stream.duration * stream.time_base) if stream.duration else (
            container.duration / 1e6 if container.duration else 0.0)
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as exc:
            raise UserError('--input %s: the video stream does not decode (%s)' % (path, exc))
        if first is None:
            raise UserError('--input %s: the video has no frame' % path)
        rotation = int(round(getattr(first, 'rotation', 0) or 0)) % 360
        width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
        frames = stream.frames or int(round(duration * float(rate)))
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        return VideoInfo(path, width, height, fractions.Fraction(rate), stream.time_base, frames,
                         duration, rotation, audio, counted=bool(stream.frames))


def upright(frame_rgb, rotation):
    """Turn a decoded frame [H, W, 3] by `rotation` degrees counter-clockwise (a multiple of 90)."""
    return np.ascontiguousarray(np.rot90(frame_rgb, k=(rotation // 90) % 4)) if rotation else frame_rgb


def read_frames(info):
    """Yield (frame RGB uint8 [H, W, 3] upright, pts in info.time_base or None) for every frame.
    UserError when decoding fails part way (a truncated or damaged file)."""
    import av
    count = 0
    with _open(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = 'AUTO'
        try:
            for frame in container.decode(stream):
                count += 1
                yield upright(frame.to_ndarray(format='rgb24'), info.rotation), frame.pts
        except av.FFmpegError as exc:
            raise UserError('--input %s: decoding failed after %d frame(s) (%s); the file is damaged '
                            'or truncated' % (info.path, count, exc))


def check_video_fits(info, out_dir):
    """UserError when the output's estimated size does not fit on the disk of out_dir."""
    frames = info.frames or 1
    estimate = frames * info.width * info.height * BITS_PER_PIXEL_ESTIMATE / 8 + info.duration * 40000
    check_disk_space(out_dir, estimate, lambda _, needed, free: (
        '--input %s: the output would need about %s (%d frames of %dx%d) but %s has %s free; free some space or '
        'choose another --result_dir' % (info.path, needed, frames, info.width, info.height, out_dir, free)))


class VideoWriter(object):
    """An H.264 MP4 writer at `path` for frames of info's size and timing, audio copied from
    info.path. Odd widths/heights lose their last column/row (yuv420p needs even sizes).

    write(frame RGB uint8 [H, W, 3], pts in info.time_base or None: the next frame's slot).

    After a failed write (a full disk) nothing more is muxed, and close() only closes the
    container: when the MP4 header was what failed, PyAV writes the header again on the next
    packet (the audio's, or the encoder's flush), and FFmpeg crashes there (SIGSEGV)."""

    def __init__(self, path, info, copy_audio=True):
        import av
        self.info = info
        self.container = av.open(path, mode='w', format='mp4')
        self.stream = self.container.add_stream('libx264', rate=info.rate, options={'crf': CRF, 'preset': 'veryfast'})
        self.stream.width, self.stream.height = info.width - info.width % 2, info.height - info.height % 2
        self.stream.pix_fmt = 'yuv420p'
        self.stream.codec_context.time_base = info.time_base
        self.next_pts = 0
        self.frame_step = max(1, int(round(1 / (info.rate * info.time_base))))
        self.failed = False
        self.audio = _AudioCopy(info.path, self.container, self._mux) if copy_audio and info.audio_codec else None

    def _mux(self, packets):
        """Mux packets (a list or one); a failure marks the writer failed (see the class)."""
        if self.failed:
            raise RuntimeError('%s: a write failed before; the file cannot be continued' % self.container.name)
        try:
            self.container.mux(packets)
        except BaseException:
            self.failed = True
            raise

    def write(self, frame_rgb, pts=None):
        import av
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb[:self.stream.height, :self.stream.width]),
                                           format='rgb24')
        frame.pts = self.next_pts if pts is None else pts
        frame.time_base = self.info.time_base
        self.next_pts = frame.pts + self.frame_step
        if self.audio:
            self.audio.mux_until(float(frame.pts * self.info.time_base))
        self._mux(self.stream.encode(frame))

    def close(self):
        """Flush the encoder and the rest of the audio, and finish the file (after a failed
        write: only close it, the file is incomplete anyway)."""
        if self.container is None:
            return
        try:
            if not self.failed:
                self._mux(self.stream.encode(None))
                if self.audio:
                    self.audio.mux_until(float('inf'))
        finally:
            if self.audio:
                self.audio.close()
            container, self.container = self.container, None
            container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _AudioCopy(object):
    """The input's first audio stream, muxed into `output` through `mux` (VideoWriter._mux) in
    step with the video: copied as packets when MP4 takes its codec, else re-encoded to AAC."""

    def __init__(self, path, output, mux):
        import av
        self.mux = mux
        self.input = av.open(path)
        source = self.input.streams.audio[0]
        self.copy = source.codec_context.name in MP4_AUDIO_CODECS
        if self.copy:
            self.stream = output.add_stream_from_template(source)
        else:
            self.stream = output.add_stream('aac', rate=source.rate or 48000)
        self.packets = self.input.demux(source)
        self.pending = None

    def mux_until(self, seconds):
        """Mux the audio up to `seconds` of presentation time."""
        for packet in self._packets_until(seconds):
            if self.copy:
                packet.stream = self.stream
                self.mux(packet)
            else:
                for frame in packet.decode():
                    frame.pts = None
                    self.mux(self.stream.encode(frame))
        if seconds == float('inf') and not self.copy:
            self.mux(self.stream.encode(None))

    def _packets_until(self, seconds):
        while True:
            if self.pending is None:
                self.pending = next(self.packets, None)
                if self.pending is None:
                    return
            packet = self.pending
            if packet.dts is None and packet.size == 0:  # the demuxer's final empty packet
                self.pending = None
                continue
            if packet.pts is not None and float(packet.pts * packet.time_base) > seconds:
                return
            self.pending = None
            yield packet

    def close(self):
        self.input.close()


def write_test_clip(path, frames, fps=10, tone_hz=None, sample_rate=16000):
    """Write frames (RGB uint8 [H, W, 3], even sizes) as an H.264 MP4 at `fps`, with a sine tone
    of tone_hz as AAC audio when given (for tests and measurements)."""
    import av
    frames = list(frames)
    with av.open(path, mode='w', format='mp4') as out:
        video = out.add_stream('libx264', rate=fps, options={'crf': '18', 'preset': 'veryfast'})
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = 'yuv420p'
        audio = out.add_stream('aac', rate=sample_rate, layout='mono') if tone_hz else None
        for frame in frames:
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')))
        out.mux(video.encode(None))
        if audio is not None:
            n = int(sample_rate * len(frames) / float(fps))
            tone = (0.3 * np.sin(2 * np.pi * tone_hz * np.arange(n) / sample_rate)).astype(np.float32)
            for start in range(0, n, 1024):
                chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format='fltp', layout='mono')
                chunk.sample_rate = sample_rate
                chunk.pts = start
                out.mux(audio.encode(chunk))
            out.mux(audio.encode(None))
