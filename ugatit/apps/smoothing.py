"""Temporal smoothing of face chips in a video: a One-Euro filter per tracked face.

Per-frame 5-point landmarks jitter by a pixel or two, so the aligned chip (and the translated
face) shimmers. Each face is tracked from frame to frame by box overlap; the similarity
transform of its chip is smoothed with a One-Euro filter (Casiez, Roussel, Vogel, CHI 2012:
a low-pass filter whose cut-off rises with the speed, so slow motion is smoothed hard and fast
motion follows with little lag). The transform is filtered as the image positions of two chip
points (pixels, so the filter's parameters are in pixels), and rebuilt from them. A face that
appears fades in and one that disappears fades out over `fade` frames (the weight of its
paste-back mask), instead of popping.
"""

import math

import numpy as np

# Two chip points (fractions of the chip size) whose image positions define the similarity.
CHIP_POINTS = np.array([[0.25, 0.5], [0.75, 0.5]])


class OneEuroFilter(object):
    """One-Euro filter of an array signal sampled at times t (seconds).

    min_cutoff: cut-off frequency (Hz) at rest: lower is smoother and lags more;
    beta: how fast the cut-off rises with the speed (per unit of the signal per second);
    d_cutoff: cut-off (Hz) of the speed estimate."""

    def __init__(self, min_cutoff=1.0, beta=0.05, d_cutoff=1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x = self.dx = self.t = None

    @staticmethod
    def _alpha(cutoff, dt):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x, t):
        """The filtered value of x (float array of any shape) at time t."""
        x = np.asarray(x, dtype=np.float64)
        if self.x is None or t <= self.t:
            self.x, self.dx, self.t = x, np.zeros_like(x), t
            return x
        dt = t - self.t
        dx = (x - self.x) / dt
        self.dx = self.dx + self._alpha(self.d_cutoff, dt) * (dx - self.dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        self.x = self.x + self._alpha(cutoff, dt) * (x - self.x)
        self.t = t
        return self.x


def transform_to_points(transform, size):
    """Image positions float64 [2, 2] of CHIP_POINTS of a 2x3 image -> chip similarity."""
    m = np.asarray(transform, np.float64)
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    chip = CHIP_POINTS * (size - 1)
    return chip @ inv[:, :2].T + inv[:, 2]


def points_to_transform(points, size):
    """The 2x3 image -> chip similarity mapping image points [2, 2] to CHIP_POINTS."""
    p = points[:, 0] + 1j * points[:, 1]
    q = CHIP_POINTS[:, 0] * (size - 1) + 1j * CHIP_POINTS[:, 1] * (size - 1)
    z = (q[1] - q[0]) / (p[1] - p[0])
    c = q[0] - z * p[0]
    return np.array([[z.real, -z.imag, c.real], [z.imag, z.real, c.imag]])


def box_iou(a, b):
    """Intersection over union of two (left, top, right, bottom) inclusive boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if w <= 0 or h <= 0:
        return 0.0
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    inter = w * h
    return inter / float(area(a) + area(b) - inter)


class Track(object):
    """One face followed over frames: its box, filter, smoothed transform and mask weight."""

    def __init__(self, ident, box, filt):
        self.id, self.box, self.filter = ident, box, filt
        self.transform, self.face = None, None
        self.weight, self.seen = 0.0, False


class FaceTracker(object):
    """Matches each frame's faces to tracks by box overlap and smooths their chip transforms.

    size: chip size; smooth: False passes the raw transforms through (the comparison);
    fade: frames over which a face fades in or out (1: no fade); min_iou: overlap to match.
    update() returns the tracks to paste in this frame, each with .transform (2x3), .weight
    in (0, 1] and .face (the last detection)."""

    def __init__(self, size, smooth=True, fade=5, min_iou=0.3, min_cutoff=0.5, beta=0.05):
        self.size, self.smooth, self.fade, self.min_iou = size, smooth, max(1, fade), min_iou
        self.filter_args = dict(min_cutoff=min_cutoff, beta=beta)
        self.tracks, self.next_id, self.frames = [], 0, 0

    def update(self, detections, t):
        """detections: list of (faces.Face, raw 2x3 transform); t: the frame's time in seconds."""
        first = self.frames == 0  # faces of the first frame are there at once, not faded in
        self.frames += 1
        for track in self.tracks:
            track.seen = False
        for face, transform in sorted(detections, key=lambda d: -d[0].area):
            track = self._match(face.box)
            if track is None:
                track = Track(self.next_id, face.box, OneEuroFilter(**self.filter_args))
                track.weight = 1.0 if first else 0.0
                self.next_id += 1
                self.tracks.append(track)
            points = transform_to_points(transform, self.size)
            if self.smooth:
                points = track.filter(points, t)
            track.transform, track.box, track.face, track.seen = points_to_transform(points, self.size), face.box, face, True
        step = 1.0 / self.fade
        for track in self.tracks:
            track.weight = min(1.0, track.weight + step) if track.seen else track.weight - step
        self.tracks = [tr for tr in self.tracks if tr.weight > 1e-6]
        return list(self.tracks)

    def _match(self, box):
        free = [tr for tr in self.tracks if not tr.seen]
        best = max(free, key=lambda tr: box_iou(tr.box, box), default=None)
        return best if best is not None and box_iou(best.box, box) >= self.min_iou else None


def transform_motion(transforms, size):
    """Frame-to-frame motion of a chip: for consecutive 2x3 transforms, the mean distance (image
    pixels) the chip's four corners move. Returns float64 [N-1]."""
    corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], np.float64)

    def image_corners(m):
        inv = np.linalg.inv(np.vstack([np.asarray(m, np.float64), [0, 0, 1]]))[:2]
        return corners @ inv[:, :2].T + inv[:, 2]

    pts = np.array([image_corners(m) for m in transforms])
    return np.linalg.norm(np.diff(pts, axis=0), axis=2).mean(axis=1)
