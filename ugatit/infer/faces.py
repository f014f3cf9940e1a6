"""Face detection, 5-point alignment, aligned chips, paste-back and contrast adjustment.

Used by the photo tool: a selfie is cut down to an aligned, upright face chip (what the
selfie2anime model was trained on), translated, and the result is either saved as is or
pasted back into the photo.

Images are RGB uint8 arrays [H, W, 3]. Points are (x, y) in pixel coordinates whose integer
values are pixel centres (the convention of both dlib and cv2.warpAffine). A "transform" is a
2x3 float64 affine matrix M mapping original-image coordinates to chip coordinates:
    [x_chip, y_chip]^T = M[:, :2] @ [x, y]^T + M[:, 2]
so `cv2.warpAffine(img, M, (size, size))` reproduces the chip and the inverse brings a chip
back into the photo.

dlib is imported lazily inside the functions that need it, so importing this module needs
neither dlib nor TensorFlow; only `FaceAligner` needs dlib.
"""

import dataclasses
import os

import cv2
import numpy as np

# The padding of the original demo's dlib.get_face_chip, used when a chip is asked for with
# neither a padding nor a template.
DLIB_PADDING = 0.65
# Shorter side (in pixels, of the image the detector sees) below which the detector is run on
# an upsampled image: dlib's HOG detector misses faces smaller than about 80 pixels.
UPSAMPLE_TWICE_BELOW = 200
UPSAMPLE_ONCE_BELOW = 400
# When automatic upsampling found nothing, one retry with one more upsampling level is made for
# images up to this many pixels (each level quadruples the detector's work).
RETRY_MAX_PIXELS = 1_500_000


class FaceError(ValueError):
    """A face-tool problem the user can fix (missing landmark model, dlib missing, bad input)."""


@dataclasses.dataclass
class Face:
    """One detected face, in original-image coordinates.

    box: (left, top, right, bottom) ints; right/bottom are inclusive like dlib rectangles. The
        box may reach past the image edges for a face cut off by them.
    landmarks: np.float32 [K, 2] (x, y); K = 5 for the default 5-point model (two corners of
        each eye, then the base of the nose).
    score: the detector's confidence (higher is surer; about 0 at the detection threshold).
    """
    box: tuple
    landmarks: np.ndarray
    score: float

    @property
    def width(self):
        return self.box[2] - self.box[0] + 1

    @property
    def height(self):
        return self.box[3] - self.box[1] + 1

    @property
    def area(self):
        return self.width * self.height


def default_landmarks_path():
    """Path of the 5-point landmark model shipped by the face_recognition_models package."""
    try:
        import face_recognition_models
    except ImportError as e:
        raise FaceError('no landmark model: the face_recognition_models package is not installed '
                        '(%s); install it or pass --landmarks PATH to a dlib 5-point shape '
                        'predictor .dat' % e) from e
    return face_recognition_models.pose_predictor_five_point_model_location()


def _import_dlib():
    try:
        import dlib
    except ImportError as e:
        raise FaceError('face detection needs dlib, which is not installed (%s): '
                        'pip install dlib-bin (or dlib), or use --no_face center' % e) from e
    return dlib


def _check_rgb(img, what='image'):
    """Validate an RGB uint8 [H, W, 3] array and return it C-contiguous (dlib requires that)."""
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise FaceError('%s must be RGB uint8 [H, W, 3], got %s %s'
                        % (what, img.dtype, tuple(img.shape)))
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise FaceError('%s is empty: %s' % (what, tuple(img.shape)))
    return np.ascontiguousarray(img)


def _auto_upsample(short_side):
    if short_side < UPSAMPLE_TWICE_BELOW:
        return 2
    if short_side < UPSAMPLE_ONCE_BELOW:
        return 1
    return 0


def chip_details_to_affine(rect, angle, rows, cols):
    """2x3 affine mapping image coords to chip coords for a dlib chip_details.

    dlib describes a chip as the rectangle `rect` (left, top, right, bottom, inclusive, in
    image coords) rotated about its centre by `angle` radians, stretched to rows x cols: chip
    pixel (0, 0) is the rotated top-left corner, (cols-1, 0) the rotated top-right and
    (0, rows-1) the rotated bottom-left. Three point pairs fix the affine map.
    """
    left, top, right, bottom = (float(v) for v in rect)
    cx, cy = (left + right) / 2.0, (top + bottom) / 2.0
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    corners = np.array([[left, top], [right, top], [left, bottom]]) - (cx, cy)
    img_pts = corners @ rot.T + (cx, cy)
    chip_pts = np.array([[0.0, 0.0], [cols - 1.0, 0.0], [0.0, rows - 1.0]])
    # Solve [x y 1] @ A = chip for A (3x2) exactly from the 3 pairs.
    src = np.hstack([img_pts, np.ones((3, 1))])
    return np.linalg.solve(src, chip_pts).T.astype(np.float64)


def apply_transform(transform, points):
    """Map points [N, 2] (x, y) through a 2x3 affine; returns float64 [N, 2]."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    m = np.asarray(transform, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


class FaceAligner:
    """dlib HOG face detector + shape-predictor landmarks + dlib-style aligned face chips.

    landmarks_path: dlib shape predictor .dat (5- or 68-point); default: face_recognition_models'
        5-point model.
    upsample: detector upsampling level (dlib's upsample_num_times); None picks it from the
        image size (2 if the shorter side < 200, 1 if < 400, else 0, with one retry at one
        level higher for images up to 1.5 megapixels when nothing was found).
    max_detect_side: images whose longer side exceeds this are downscaled for detection only
        (boxes are scaled back; landmarks are always found at full resolution). None or 0: never.
    template: a face_template.FaceTemplate: chips put the 5 landmarks where it has them (the
        framing of the model's training photos); None, or a padding given to chip(): dlib's chip.
    """

    def __init__(self, landmarks_path=None, upsample=None, max_detect_side=1600, template=None):
        path = landmarks_path if landmarks_path is not None else default_landmarks_path()
        hint = 'pass --landmarks PATH to a dlib 5-point shape predictor .dat'
        if not os.path.isfile(path):
            raise FaceError('%s: landmark model not found; %s' % (path, hint))
        dlib = _import_dlib()
        try:
            predictor = dlib.shape_predictor(path)
        except RuntimeError as e:
            raise FaceError('%s: not a valid dlib shape predictor (%s); %s' % (path, e, hint)) from e
        probe = predictor(np.zeros((64, 64, 3), np.uint8), dlib.rectangle(8, 8, 55, 55))
        if probe.num_parts not in (5, 68):
            raise FaceError('%s: the shape predictor gives %d landmarks, but face alignment needs a '
                            '5-point (or 68-point) face model; %s' % (path, probe.num_parts, hint))
        if upsample is not None and (int(upsample) != upsample or upsample < 0):
            raise FaceError('upsample must be a non-negative integer or None, got %r' % (upsample,))
        self.landmarks_path = path
        self.num_landmarks = probe.num_parts
        self.upsample = upsample
        self.max_detect_side = max_detect_side
        self.template = template
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = predictor

    def detect(self, img):
        """Find faces in an RGB uint8 image [H, W, 3]; returns list[Face], largest box first."""
        dlib = self._dlib
        img = _check_rgb(img)
        h, w = img.shape[:2]
        small = img
        sx = sy = 1.0
        if self.max_detect_side and max(h, w) > self.max_detect_side:
            scale = self.max_detect_side / float(max(h, w))
            size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
            small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            sx, sy = size[0] / float(w), size[1] / float(h)  # the ratios actually applied

        if self.upsample is not None:
            levels = [int(self.upsample)]
        else:
            level = _auto_upsample(min(small.shape[:2]))
            levels = [level]
            if small.shape[0] * small.shape[1] <= RETRY_MAX_PIXELS:
                levels.append(level + 1)
        rects, scores = [], []
        for level in levels:
            rects, scores, _ = self._detector.run(small, level, 0.0)
            if len(rects):
                break

        faces = []
        for rect, score in zip(rects, scores):
            if small is not img:
                box = (int(round(rect.left() / sx)), int(round(rect.top() / sy)),
                       int(round((rect.right() + 1) / sx)) - 1,
                       int(round((rect.bottom() + 1) / sy)) - 1)
            else:
                box = (rect.left(), rect.top(), rect.right(), rect.bottom())
            shape = self._predictor(img, dlib.rectangle(*box))
            pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32).reshape(-1, 2)
            faces.append(Face(box=tuple(int(v) for v in box), landmarks=pts, score=float(score)))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def _shape(self, face):
        dlib = self._dlib
        rect = dlib.rectangle(*(int(v) for v in face.box))
        pts = dlib.points()
        for x, y in np.asarray(face.landmarks, dtype=np.float64).reshape(-1, 2):
            pts.append(dlib.point(int(round(x)), int(round(y))))
        return dlib.full_object_detection(rect, pts)

    def chip_transform(self, face, size=256, padding=None):
        """The 2x3 float64 affine (image -> chip coords) of the aligned chip of `face`: the
        template's (padding None, a template and 5 landmarks), else dlib's chip with `padding`
        (0.65, the original demo's, when None)."""
        if padding is None and self.template is not None and len(face.landmarks) == 5:
            return self.template.transform(face.landmarks, size)
        padding = DLIB_PADDING if padding is None else padding
        details = self._dlib.get_face_chip_details(self._shape(face), size, padding)
        r = details.rect
        return chip_details_to_affine((r.left(), r.top(), r.right(), r.bottom()), details.angle,
                                      details.rows, details.cols)

    def chip(self, img, face, size=256, padding=None):
        """Aligned, upright face chip of chip_transform, and its transform.

        img: RGB uint8 [H, W, 3]; face: a Face from detect().
        Returns (chip uint8 [size, size, 3], transform float64 [2, 3] image -> chip coords),
        cut by warp_chip: smoothed before shrinking, the photo reflected where the chip reaches
        past its edges.
        """
        img = _check_rgb(img)
        size = int(size)
        transform = self.chip_transform(face, size, padding)
        return warp_chip(img, transform, size), transform


def warp_chip(img, transform, size):
    """Chip uint8 [size, size, 3] cut from img (RGB uint8 [H, W, 3]) with a 2x3 image -> chip
    affine: bilinear, after an area shrink of the photo where the chip is more than twice
    smaller (against aliasing); where the chip reaches past the photo's edges it shows the photo
    mirrored there, never a constant colour the model was not trained on."""
    m = np.asarray(transform, np.float64).reshape(2, 3)
    scale = np.sqrt(abs(np.linalg.det(m[:, :2])))  # chip pixels per photo pixel
    if scale < 0.5:
        h, w = img.shape[:2]
        small = (max(1, int(round(w * scale * 2))), max(1, int(round(h * scale * 2))))
        img = cv2.resize(img, small, interpolation=cv2.INTER_AREA)
        # photo -> shrunk photo: pixel centres kept, as cv2.resize maps them
        kx, ky = small[0] / float(w), small[1] / float(h)
        to_small = np.array([[kx, 0, 0.5 * kx - 0.5], [0, ky, 0.5 * ky - 0.5], [0, 0, 1]])
        m = m @ np.linalg.inv(to_small)
    return cv2.warpAffine(img, m, (int(size), int(size)), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def _feather_mask(size, feather):
    """Float32 [size, size] blending weights: 0 on the outer pixel ring, rising smoothly to 1
    over `feather * size` pixels inwards."""
    d = np.minimum(np.arange(size), np.arange(size)[::-1]).astype(np.float32)
    ramp_len = float(feather) * size
    if ramp_len <= 1.0:
        ramp = (d >= 1).astype(np.float32)
    else:
        t = np.clip((d - 1.0) / ramp_len, 0.0, 1.0)
        ramp = t * t * (3.0 - 2.0 * t)  # smoothstep
    return np.outer(ramp, ramp)


def scale_transform(transform, k):
    """The 2x3 image -> chip affine for the same chip resized k times (pixel centres kept:
    chip pixel u becomes (u + 0.5) * k - 0.5, as cv2.resize maps them)."""
    m = np.asarray(transform, dtype=np.float64).reshape(2, 3) * k
    m[:, 2] += 0.5 * (k - 1.0)
    return m


def chip_footprint(transform, chip_size):
    """Side in photo pixels of the region a chip_size chip cut with `transform` covers: the
    face size that --upscale auto (ugatit.infer.upscale.auto_factor) enlarges the chip to."""
    m = np.asarray(transform, dtype=np.float64).reshape(2, 3)
    return float(chip_size) / np.sqrt(abs(np.linalg.det(m[:, :2])))


def paste_back(original, translated_chip, transform, feather=0.1, chip_size=None):
    """Blend a (translated) chip back into the photo it was cut from.

    original: RGB uint8 [H, W, 3]; translated_chip: uint8 [S, S, 3]; transform: the 2x3
    image -> chip affine returned with the chip. If the transform was made for a chip of another
    size (an upscaled translation: S = 4 * chip_size), pass that size as chip_size: the transform
    is scaled to the chip and the photo is warped from the chip directly, so an upscaled chip
    keeps its detail. A chip much larger than its footprint in the photo is first shrunk to that
    footprint with INTER_AREA, against aliasing.
    feather: width of the soft edge as a fraction of the chip size (0: hard edge).
    Returns uint8 [H, W, 3]; pixels outside the chip's footprint are exactly the original's.
    """
    original = _check_rgb(original, 'original')
    chip = _check_rgb(translated_chip, 'translated chip')
    if chip.shape[0] != chip.shape[1]:
        raise FaceError('translated chip must be square, got %s' % (tuple(chip.shape),))
    m = np.asarray(transform, dtype=np.float64).reshape(2, 3)
    if chip_size is not None and int(chip_size) != chip.shape[0]:
        m = scale_transform(m, chip.shape[0] / float(chip_size))
    footprint = max(1, int(np.ceil(chip_footprint(m, chip.shape[0]))))
    if chip.shape[0] > 1.25 * footprint:
        m = scale_transform(m, footprint / float(chip.shape[0]))
        chip = cv2.resize(chip, (footprint, footprint), interpolation=cv2.INTER_AREA)
    size = chip.shape[0]
    h, w = original.shape[:2]
    inv = cv2.invertAffineTransform(m)

    # Only the bounding box of the chip's footprint in the photo can change.
    corners = apply_transform(inv, [[-1, -1], [size, -1], [-1, size], [size, size]])
    x0 = max(0, int(np.floor(corners[:, 0].min())))
    y0 = max(0, int(np.floor(corners[:, 1].min())))
    x1 = min(w, int(np.ceil(corners[:, 0].max())) + 1)
    y1 = min(h, int(np.ceil(corners[:, 1].max())) + 1)
    out = original.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    feather_mask = _feather_mask(size, feather)
    # Blended in bands of rows: a large face in a large photo would otherwise need several
    # float copies of its whole bounding box (1 GB for a 5000 px face).
    for top in range(y0, y1, PASTE_BAND_ROWS):
        bottom = min(y1, top + PASTE_BAND_ROWS)
        _blend_band(out, original, chip, feather_mask, inv, (x0, top, x1, bottom))
    return out


# Rows of the photo blended at a time by paste_back (bounds its memory).
PASTE_BAND_ROWS = 256


def _blend_band(out, original, chip, feather_mask, inv, box):
    """Blend the warped chip into out[top:bottom, left:right] (box = (left, top, right, bottom)),
    weighted by the warped feather mask; inv maps chip coords to photo coords."""
    left, top, right, bottom = box
    inv_roi = inv.copy()
    inv_roi[:, 2] -= (left, top)  # chip -> band coords: the inverse map shifted by the band's origin
    dsize = (right - left, bottom - top)
    warped = cv2.warpAffine(chip, inv_roi, dsize, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpAffine(feather_mask, inv_roi, dsize, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)[:, :, None]
    roi = original[top:bottom, left:right].astype(np.float32)
    blended = roi + mask * (warped.astype(np.float32) - roi)
    out[top:bottom, left:right] = np.where(mask > 0, np.clip(np.rint(blended), 0, 255), roi).astype(np.uint8)


def center_crop(img, size=256):
    """The largest centred square of img, resized to size x size, and its transform.

    img: RGB uint8 [H, W, 3]. Returns (chip uint8 [size, size, 3], transform float64 [2, 3]
    image -> chip coords, using pixel-centre alignment as cv2.resize does).
    """
    img = _check_rgb(img)
    size = int(size)
    h, w = img.shape[:2]
    side = min(h, w)
    x0, y0 = (w - side) // 2, (h - side) // 2
    crop = img[y0:y0 + side, x0:x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    chip = cv2.resize(crop, (size, size), interpolation=interp) if side != size else crop.copy()
    s = size / float(side)
    # x_chip = (x - x0 + 0.5) * s - 0.5
    transform = np.array([[s, 0.0, (0.5 - x0) * s - 0.5],
                          [0.0, s, (0.5 - y0) * s - 0.5]], dtype=np.float64)
    return np.ascontiguousarray(chip), transform


def adjust_contrast(img, contrast=0, brightness=0):
    """img * (contrast / 127 + 1) - contrast + brightness, rounded and clipped to uint8 [0, 255].

    img: uint8 array of any shape. contrast = brightness = 0 returns an unchanged copy.
    """
    img = np.asarray(img)
    if contrast == 0 and brightness == 0:
        return img.astype(np.uint8, copy=True)
    out = img.astype(np.float64) * (contrast / 127.0 + 1.0) - contrast + brightness
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def draw_face(ax, face, color='lime', linewidth=2, marker_size=20):
    """Draw a Face's box and landmarks (numbered) on a matplotlib axes showing the image."""
    from matplotlib.patches import Rectangle

    left, top, right, bottom = face.box
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1,
                           fill=False, edgecolor=color, linewidth=linewidth))
    pts = np.asarray(face.landmarks).reshape(-1, 2)
    ax.scatter(pts[:, 0], pts[:, 1], s=marker_size, c='red', edgecolors='white', linewidths=0.5,
               zorder=3)
    if len(pts) <= 5:
        for i, (x, y) in enumerate(pts):
            ax.annotate(str(i), (x, y), xytext=(3, -3), textcoords='offset points', color='yellow',
                        fontsize=7)
