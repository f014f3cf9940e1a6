"""The built-in `demo` dataset: a small, deterministic two-domain translation problem.

Every image is a rendering of a random *scene* (a JSON-serialisable dict of parameters: a
cartoon-like head and shoulders with hair, eyes, brows, mouth, a background and a few
background props). The same scene can be rendered in two styles:

    A  "photo":   smooth shading from one light, specular sheen, soft cast shadows, a colour
                  gradient background, low-frequency lighting noise, film grain, slight blur;
                  natural skin, hair and clothing colours.
    B  "webtoon": flat cel-shaded regions (a lit and a shadow tone), dark outlines around
                  shapes, a quantised, saturated and hue-shifted palette, a flat light
                  background.

Geometry is identical in both styles, so the gap between A and B is one of colour, tone and
local edges, which a small convolutional generator can learn at 64x64.

Layout written by `generate_demo_dataset(root)`:

    root/trainA/NNNN.png       style A, scenes used nowhere else
    root/trainB/NNNN.png       style B, other scenes (unpaired with trainA)
    root/testA/NNNN.png        style A, unseen scenes
    root/testB/NNNN.png        style B, unseen scenes
    root/testA_truth/NNNN.png  the testA scene of the same name rendered in style B
    root/testB_truth/NNNN.png  the testB scene of the same name rendered in style A
    root/demo_info.json        seed, size, counts, format version, scene hashes, test scenes

Everything is drawn from one `np.random.default_rng(seed)`, so the dataset is reproducible
byte for byte from its seed.
"""

import colorsys
import hashlib
import json
import math
import os
import re

import cv2
import numpy as np
from tqdm import tqdm

from utils import write_atomic

DEMO_SEED = 0
DEMO_SIZE = 64
DEFAULT_COUNTS = dict(trainA=400, trainB=400, testA=24, testB=24)
FORMAT_VERSION = 1
INFO_FILE = 'demo_info.json'

SPLITS = ('trainA', 'trainB', 'testA', 'testB')
SPLIT_STYLE = {'trainA': 'A', 'trainB': 'B', 'testA': 'A', 'testB': 'B'}
# test split -> (truth folder, style the truth is rendered in)
TRUTH_SPLITS = {'testA': ('testA_truth', 'B'), 'testB': ('testB_truth', 'A')}
ALL_FOLDERS = SPLITS + tuple(folder for folder, _ in TRUTH_SPLITS.values())
STYLES = ('A', 'B')

_FILE_NAME = '%04d.png'
_FILE_PATTERN = re.compile(r'^\d{4,}\.png$')

# ----------------------------------------------------------------------------------------------
# Scene sampling
# ----------------------------------------------------------------------------------------------

# Natural ("photographic") base colours, jittered per scene.
_SKIN_TONES = [(255, 223, 196), (240, 195, 160), (224, 172, 132), (198, 140, 100),
               (160, 110, 76), (112, 74, 52)]
_HAIR_COLOURS = [(24, 20, 19), (58, 40, 30), (98, 66, 42), (140, 78, 44), (196, 160, 106),
                 (150, 146, 140)]
_IRIS_COLOURS = [(92, 60, 38), (60, 42, 30), (70, 110, 150), (80, 115, 80), (120, 110, 70),
                 (110, 115, 120)]
_HAIR_STYLES = ('short', 'bob', 'long')


def _num(x):
    """A float rounded so that the JSON form is short and round-trips exactly."""
    return round(float(x), 4)


def _uniform(rng, lo, hi):
    return _num(rng.uniform(lo, hi))


def _jitter(rng, rgb, amount):
    return [int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb]


def _hsv255(h, s, v):
    """[r, g, b] ints in 0..255 from hue in degrees and saturation/value in [0, 1]."""
    rgb = colorsys.hsv_to_rgb((h / 360.0) % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return [int(round(c * 255)) for c in rgb]


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def sample_scene(rng):
    """Draw one random scene from `rng` (a np.random.Generator).

    Returns a JSON-serialisable dict: coordinates are in [0, 1] image units (x right, y down),
    colours are [r, g, b] ints (the natural, style-A colours; style B maps them to its
    palette), and `noise_seed` fixes the style-A texture noise.
    """
    angle = math.radians(rng.uniform(-160.0, -20.0))  # light from somewhere above
    bg_hue = rng.uniform(0.0, 360.0)
    bg_sat = rng.uniform(0.08, 0.35)
    bg_top = rng.uniform(0.35, 0.62)
    background = {'top': _hsv255(bg_hue, bg_sat, bg_top),
                  'bottom': _hsv255(bg_hue + rng.uniform(-25, 25), bg_sat * rng.uniform(0.8, 1.3),
                                    bg_top * rng.uniform(0.55, 0.85))}

    props = _sample_props(rng)

    rx = rng.uniform(0.18, 0.23)
    ry = rx * rng.uniform(1.1, 1.25)
    head = {'center': [_uniform(rng, 0.42, 0.58), _uniform(rng, 0.42, 0.48)], 'radii': [_num(rx), _num(ry)],
            'skin': _jitter(rng, _pick(rng, _SKIN_TONES), 10)}

    hair = _sample_hair(rng)

    eye_rx = rng.uniform(0.2, 0.26)
    eyes = {'spacing': _uniform(rng, 0.36, 0.46), 'height': _uniform(rng, -0.02, 0.12),
            'radii': [_num(eye_rx), _num(eye_rx * rng.uniform(0.62, 0.85))],
            'iris': _jitter(rng, _pick(rng, _IRIS_COLOURS), 12), 'gaze': _uniform(rng, -0.25, 0.25)}
    brows = {'gap': _uniform(rng, 0.09, 0.15), 'tilt': _uniform(rng, -14.0, 14.0),
             'thickness': _uniform(rng, 0.035, 0.055)}
    skin = head['skin']
    lips = [int(np.clip(skin[0] * rng.uniform(0.78, 0.9), 0, 255)), int(skin[1] * rng.uniform(0.45, 0.6)),
            int(skin[2] * rng.uniform(0.45, 0.62))]
    mouth = {'height': _uniform(rng, 0.5, 0.62), 'width': _uniform(rng, 0.24, 0.42),
             'open': _uniform(rng, 0.05, 0.15), 'color': lips}
    shirt = {'center': [_num(head['center'][0] + rng.uniform(-0.03, 0.03)), _uniform(rng, 0.98, 1.04)],
             'radii': [_uniform(rng, 0.32, 0.44), _uniform(rng, 0.21, 0.27)],
             'color': _hsv255(rng.uniform(0, 360), rng.uniform(0.2, 0.6), rng.uniform(0.25, 0.65)),
             'neckline': _uniform(rng, 0.03, 0.07)}
    scene = {'light': [_num(math.cos(angle)), _num(math.sin(angle))], 'background': background,
             'props': props, 'head': head, 'hair': hair, 'eyes': eyes, 'brows': brows,
             'mouth': mouth, 'shirt': shirt, 'neck_width': _uniform(rng, 0.42, 0.55),
             'blush': bool(rng.random() < 0.6),
             'noise_seed': int(rng.integers(0, 2 ** 31 - 1))}
    return scene


def _sample_props(rng):
    """0 to 2 background props (balls, panels) of a scene; see sample_scene."""
    props = []
    for _ in range(int(rng.integers(0, 3))):
        kind = _pick(rng, ('ball', 'panel'))
        side = _pick(rng, (-1, 1))
        centre = [_num(0.5 + side * rng.uniform(0.27, 0.45)), _uniform(rng, 0.08, 0.62)]
        if kind == 'ball':
            r = _uniform(rng, 0.05, 0.12)
            radii = [r, r]
        else:
            radii = [_uniform(rng, 0.06, 0.15), _uniform(rng, 0.06, 0.18)]
        props.append({'kind': kind, 'center': centre, 'radii': radii,
                      'color': _hsv255(rng.uniform(0, 360), rng.uniform(0.2, 0.55), rng.uniform(0.35, 0.75))})
    return props


def _sample_hair(rng):
    """The hair of a scene (style, colour, cap ellipse, fringe, waves); see sample_scene."""
    hair_colour = _jitter(rng, _pick(rng, _HAIR_COLOURS), 12)
    hair = {'style': _pick(rng, _HAIR_STYLES), 'color': hair_colour,
            'scale': [_uniform(rng, 1.08, 1.2), _uniform(rng, 1.03, 1.1)],
            'lift': _uniform(rng, 0.04, 0.1),        # hair ellipse centre above the head's
            'fringe': _uniform(rng, 0.2, 0.5),       # fringe line height, in head radii above centre
            'wave': [_uniform(rng, 0.0, 0.12), _uniform(rng, 1.0, 3.0), _uniform(rng, 0.0, 2 * math.pi)],
            'side': _uniform(rng, -0.05, 0.25),      # how far down the sides reach (short style)
            'width': _uniform(rng, 1.08, 1.25)}
    # how far below the head centre the hair hanging behind reaches (bob: jaw, long: shoulders)
    hair['length'] = _uniform(rng, 0.75, 0.95) if hair['style'] == 'bob' else _uniform(rng, 1.3, 1.7)
    return hair


def scene_hash(scene):
    """SHA-256 hex digest of the scene's canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(scene, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(canonical.encode('utf-8')).hexdigest()


# ----------------------------------------------------------------------------------------------
# Geometry shared by both styles
# ----------------------------------------------------------------------------------------------

class _Canvas:
    """A square supersampled grid; pixel centres in [0, 1] image units."""

    def __init__(self, n):
        self.n = n
        centres = (np.arange(n, dtype=np.float32) + 0.5) / n
        self.x = centres[None, :]   # [1, n]: broadcasts against a column to give [h, w]
        self.y = centres[:, None]   # [n, 1]

    def box(self, x0, y0, x1, y1):
        """Slices of the pixels covering the box, and the x [1, w] / y [h, 1] coordinates there."""
        n = self.n
        i0, i1 = max(0, int(math.floor(y0 * n))), min(n, int(math.ceil(y1 * n)) + 1)
        j0, j1 = max(0, int(math.floor(x0 * n))), min(n, int(math.ceil(x1 * n)) + 1)
        i1, j1 = max(i0, i1), max(j0, j1)
        return (slice(i0, i1), slice(j0, j1)), self.x[:, j0:j1], self.y[i0:i1, :]


def _uv(xs, ys, centre, radii):
    return (xs - centre[0]) / radii[0], (ys - centre[1]) / radii[1]


def _inside(xs, ys, centre, radii):
    u, v = _uv(xs, ys, centre, radii)
    return u * u + v * v <= 1.0


def _sphere_normal(u, v):
    """Normals [3 x (h, w)] of a bulging ellipse seen from the front (u, v: ellipse coordinates)."""
    u, v = np.broadcast_arrays(u, v)
    nz = np.sqrt(np.clip(1.0 - u * u - v * v, 0.0, 1.0))
    return u, v, nz


def _cylinder_normal(u, shape):
    """Normals of a vertical cylinder: they turn only across x."""
    u = np.broadcast_to(np.clip(u, -1.0, 1.0), shape)
    return u, np.zeros(shape, np.float32), np.sqrt(1.0 - u * u)


class _Builder:
    """Collects the drawing operations of one scene, back to front."""

    def __init__(self, canvas):
        self.canvas = canvas
        self.ops = []
        self.groups = {}

    def paint(self, name, role, rgb, region, mask, normal=None, outline_with=None, two_tone=True,
              spec=0.0, soft=0.0, alpha=1.0):
        """One region. `outline_with`: draw no outline between this region and that one (B)."""
        group = self.groups[outline_with] if outline_with else len(self.groups) + 1
        self.groups[name] = group
        self.ops.append(dict(kind='paint', name=name, role=role, rgb=rgb, region=region, mask=mask,
                             normal=normal, group=group, two_tone=two_tone and normal is not None,
                             spec=spec, soft=soft, alpha=alpha))

    def shadow(self, name, parts, offset, strength, blur):
        """A soft shadow cast by the union of `parts` ((region, mask) pairs) onto what is below."""
        full = np.zeros((self.canvas.n, self.canvas.n), np.float32)
        for region, mask in parts:
            full[region] = np.maximum(full[region], mask)
        self.ops.append(dict(kind='shadow', name=name, mask=full, offset=offset, strength=strength, blur=blur))


def _build(scene, canvas):
    """The scene as a list of paint / shadow operations on `canvas` (identical for both styles)."""
    b = _Builder(canvas)
    _paint_props(b, scene, canvas)
    _paint_figure(b, scene, canvas)
    _paint_face(b, scene, canvas)
    _paint_hair_front(b, scene, canvas)
    return b.ops


def _head_geometry(scene):
    """(hx, hy, hrx, hry): the head ellipse; (hair_c, hair_r): the hair cap ellipse."""
    hair = scene['hair']
    (hx, hy), (hrx, hry) = scene['head']['center'], scene['head']['radii']
    hair_c = (hx, hy - hair['lift'] * hry)
    hair_r = (hrx * hair['scale'][0], hry * hair['scale'][1])
    return (hx, hy, hrx, hry), (hair_c, hair_r)


def _paint_props(b, scene, canvas):
    """Balls and panels in the background."""
    for k, prop in enumerate(scene['props']):
        (cx, cy), (rx, ry) = prop['center'], prop['radii']
        region, xs, ys = canvas.box(cx - rx, cy - ry, cx + rx, cy + ry)
        u, v = _uv(xs, ys, (cx, cy), (rx, ry))
        if prop['kind'] == 'ball':
            mask = u * u + v * v <= 1.0
            normal = _sphere_normal(u, v)
        else:  # a flat panel, slightly tilted so it takes a gentle gradient
            mask = (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
            uu, vv = np.broadcast_arrays(u * 0.35, v * 0.35)
            norm = np.sqrt(uu * uu + vv * vv + 1.0)
            normal = (uu / norm, vv / norm, 1.0 / norm)
        b.paint('prop%d' % k, 'prop', prop['color'], region, mask, normal, spec=0.1)


def _paint_figure(b, scene, canvas):
    """Hair behind the head, neck, shirt, ears and head, with their shadows."""
    hair, shirt, skin = scene['hair'], scene['shirt'], scene['head']['skin']
    (hx, hy, hrx, hry), (hair_c, hair_r) = _head_geometry(scene)

    # hair ellipse (cap) and, for bob / long, the hair hanging behind the head
    parts = []
    if hair['style'] != 'short':
        half_w = hrx * hair['width']
        bottom = hy + hry * hair['length']
        region, xs, ys = canvas.box(hx - max(half_w, hair_r[0]), hair_c[1] - hair_r[1], hx + max(half_w, hair_r[0]),
                                    bottom + 0.03)
        amp, freq, phase = hair['wave']
        ends = bottom + 0.25 * amp * hry * np.sin(2 * np.pi * freq * (xs - hx) / hrx + phase)
        mask = _inside(xs, ys, hair_c, hair_r) | ((np.abs(xs - hx) <= half_w) & (ys >= hair_c[1]) & (ys <= ends))
        back = (region, mask, _cylinder_normal((xs - hx) / (half_w * 1.05), mask.shape))
        parts.append(back[:2])

    # neck, shoulders
    shirt_top = shirt['center'][1] - shirt['radii'][1]
    neck_w = hrx * scene['neck_width']
    region, xs, ys = canvas.box(hx - neck_w, hy, hx + neck_w, shirt_top + 0.08)
    neck_mask = np.broadcast_to((np.abs(xs - hx) <= neck_w) & (ys >= hy) & (ys <= shirt_top + 0.08),
                                (region[0].stop - region[0].start, region[1].stop - region[1].start))
    neck = (region, neck_mask, _cylinder_normal((xs - hx) / neck_w, neck_mask.shape))

    (sx, sy), (srx, sry) = shirt['center'], shirt['radii']
    region, xs, ys = canvas.box(sx - srx, sy - sry, sx + srx, sy + sry)
    u, v = _uv(xs, ys, (sx, sy), (srx, sry))
    scoop = _inside(xs, ys, (hx, shirt_top), (neck_w * 1.35, shirt['neckline']))
    shirt_op = (region, (u * u + v * v <= 1.0) & ~scoop, _sphere_normal(u, v))

    region, xs, ys = canvas.box(hx - hrx, hy - hry, hx + hrx, hy + hry)
    u, v = _uv(xs, ys, (hx, hy), (hrx, hry))
    head_op = (region, u * u + v * v <= 1.0, _sphere_normal(u, v))

    # the whole figure casts a soft shadow on the background and props
    parts += [neck[:2], shirt_op[:2], head_op[:2]]
    b.shadow('figure_shadow', parts, offset=0.05, strength=0.35, blur=0.025)
    if hair['style'] != 'short':
        b.paint('hair_back', 'hair', hair['color'], *back, spec=0.06)
    b.paint('neck', 'skin', skin, *neck)
    b.paint('shirt', 'shirt', shirt['color'], *shirt_op, spec=0.04)

    for side in (-1, 1):  # ears: hidden by hair unless it is short
        centre, radii = (hx + side * hrx * 0.97, hy + 0.05 * hry), (hrx * 0.17, hry * 0.25)
        region, xs, ys = canvas.box(centre[0] - radii[0], centre[1] - radii[1], centre[0] + radii[0],
                                    centre[1] + radii[1])
        u, v = _uv(xs, ys, centre, radii)
        b.paint('ear%d' % side, 'skin', skin, region, u * u + v * v <= 1.0, _sphere_normal(u, v))

    b.shadow('chin_shadow', [head_op[:2]], offset=0.035, strength=0.4, blur=0.015)
    b.paint('head', 'skin', skin, *head_op, spec=0.08)


def _paint_face(b, scene, canvas):
    """Blush, eyes (sclera, iris, pupil, glint), brows and mouth."""
    hair = scene['hair']
    (hx, hy, hrx, hry), _ = _head_geometry(scene)
    if scene['blush']:
        for side in (-1, 1):
            centre, radii = (hx + side * hrx * 0.55, hy + hry * 0.33), (hrx * 0.17, hry * 0.08)
            pad = 0.03
            region, xs, ys = canvas.box(centre[0] - radii[0] - pad, centre[1] - radii[1] - pad,
                                        centre[0] + radii[0] + pad, centre[1] + radii[1] + pad)
            b.paint('blush%d' % side, 'blush', [235, 120, 120], region, _inside(xs, ys, centre, radii),
                    outline_with='head', two_tone=False, soft=0.012, alpha=0.35)

    eyes = scene['eyes']
    erx, ery = hrx * eyes['radii'][0], hrx * eyes['radii'][1]  # both relative to the head's width
    for side in (-1, 1):
        centre = (hx + side * hrx * eyes['spacing'], hy + hry * eyes['height'])
        region, xs, ys = canvas.box(centre[0] - erx, centre[1] - ery, centre[0] + erx, centre[1] + ery)
        u, v = _uv(xs, ys, centre, (erx, ery))
        sclera = u * u + v * v <= 1.0
        name = 'eye%d' % side
        b.paint(name, 'sclera', [236, 232, 226], region, sclera, _sphere_normal(u * 0.7, v * 0.7))
        iris_c = (centre[0] + eyes['gaze'] * erx * 0.4, centre[1] + 0.1 * ery)
        iris_r = ery
        b.paint(name + 'iris', 'iris', eyes['iris'], region, sclera & _inside(xs, ys, iris_c, (iris_r, iris_r)),
                _sphere_normal(*_uv(xs, ys, iris_c, (iris_r * 1.6, iris_r * 1.6))), outline_with=name)
        b.paint(name + 'pupil', 'pupil', [22, 18, 20], region,
                sclera & _inside(xs, ys, iris_c, (iris_r * 0.5, iris_r * 0.5)), outline_with=name)
        glint_c = (iris_c[0] - 0.3 * iris_r, iris_c[1] - 0.35 * iris_r)
        b.paint(name + 'glint', 'glint', [255, 255, 255], region,
                sclera & _inside(xs, ys, glint_c, (iris_r * 0.3, iris_r * 0.3)), outline_with=name)

        brows = scene['brows']
        bc = (centre[0], centre[1] - ery - hry * brows['gap'])
        brx, bry = erx * 1.15, hry * brows['thickness']
        region, xs, ys = canvas.box(bc[0] - brx, bc[1] - brx, bc[0] + brx, bc[1] + brx)
        t = math.radians(brows['tilt'] * side)
        dx, dy = xs - bc[0], ys - bc[1]
        bu, bv = (dx * math.cos(t) + dy * math.sin(t)) / brx, (-dx * math.sin(t) + dy * math.cos(t)) / bry
        dark = [int(c * 0.7) for c in hair['color']]
        b.paint('brow%d' % side, 'hair', dark, region, bu * bu + bv * bv <= 1.0)

    mouth = scene['mouth']
    mc, mr = (hx, hy + hry * mouth['height']), (hrx * mouth['width'], hry * mouth['open'])
    region, xs, ys = canvas.box(mc[0] - mr[0], mc[1] - mr[1], mc[0] + mr[0], mc[1] + mr[1])
    u, v = _uv(xs, ys, mc, mr)
    # a smile: the lower half of an ellipse, with a slightly curved top
    b.paint('mouth', 'lips', mouth['color'], region, (u * u + v * v <= 1.0) & (v >= -0.35 + 0.35 * u * u),
            _sphere_normal(u * 0.8, v * 0.8))


def _paint_hair_front(b, scene, canvas):
    """The hair in front: the cap minus the face window under the (wavy) fringe."""
    hair = scene['hair']
    (hx, hy, hrx, hry), (hair_c, hair_r) = _head_geometry(scene)
    # hair in front: the hair ellipse minus the face window under the (wavy) fringe
    region, xs, ys = canvas.box(hair_c[0] - hair_r[0], hair_c[1] - hair_r[1], hair_c[0] + hair_r[0],
                                hair_c[1] + hair_r[1])
    amp, freq, phase = hair['wave']
    fringe = hy - hry * hair['fringe'] + hry * amp * np.sin(2 * np.pi * freq * (xs - hx) / hrx + phase)
    face_window = _inside(xs, ys, (hx, hy), (hrx * 0.98, hry)) & (ys > fringe)
    cap = _inside(xs, ys, hair_c, hair_r) & ~face_window
    if hair['style'] == 'short':
        cap &= ys <= hy + hry * hair['side']
    else:  # the sides come down to meet the hair behind
        cap &= ys <= hy + hry * max(hair['side'], 0.3)
    u, v = _uv(xs, ys, hair_c, hair_r)
    cap_op = (region, cap, _sphere_normal(u, v))
    b.shadow('fringe_shadow', [cap_op[:2]], offset=0.03, strength=0.35, blur=0.012)
    b.paint('hair', 'hair', hair['color'], *cap_op, spec=0.12)


# ----------------------------------------------------------------------------------------------
# The two styles
# ----------------------------------------------------------------------------------------------

def _light_vectors(scene):
    """Unit light direction and Blinn half-vector, as plain floats (keeps the maths float32)."""
    lx, ly = scene['light']
    norm = math.sqrt(lx * lx + ly * ly + 0.64)
    light = (lx / norm, ly / norm, 0.8 / norm)
    half = (light[0], light[1], light[2] + 1.0)
    norm = math.sqrt(sum(c * c for c in half))
    return light, tuple(c / norm for c in half)


def _dot(normal, vec):
    return normal[0] * vec[0] + normal[1] * vec[1] + normal[2] * vec[2]


def _shift_blur(mask, dx, dy, sigma):
    """Translate a [n, n] float mask by (dx, dy) pixels and blur it (sigma in pixels)."""
    n = mask.shape[0]
    moved = cv2.warpAffine(mask, np.float32([[1, 0, dx], [0, 1, dy]]), (n, n), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.GaussianBlur(moved, (0, 0), max(sigma, 0.5)) if sigma > 0 else moved


def _shadow_offset(scene, op, n):
    lx, ly = scene['light']
    # shadows fall away from the light and mostly downwards
    return -lx * op['offset'] * n * 0.6, max(-ly, 0.3) * op['offset'] * n


def _render_photo(scene, ops, canvas, size):
    """Style A on the supersampled canvas, then downsampled: float image in [0, 1], [size, size, 3]."""
    n = canvas.n
    light, half = _light_vectors(scene)
    top = np.array(scene['background']['top'], np.float32) / 255.0
    bottom = np.array(scene['background']['bottom'], np.float32) / 255.0
    t = canvas.y[:, :, None]  # [n, 1, 1]
    img = np.broadcast_to(top * (1.0 - t) + bottom * t, (n, n, 3)).copy()
    # a soft pool of light on the side the light comes from
    glow = np.exp(-(((canvas.x - 0.5 - 0.35 * scene['light'][0]) ** 2) +
                    ((canvas.y - 0.5 - 0.35 * scene['light'][1]) ** 2)) / 0.18)
    img *= (0.85 + 0.25 * glow)[:, :, None]

    for op in ops:
        if op['kind'] == 'shadow':
            dx, dy = _shadow_offset(scene, op, n)
            shade = _shift_blur(op['mask'], dx, dy, op['blur'] * n)
            img *= (1.0 - op['strength'] * shade)[:, :, None]
            continue
        base = np.array(op['rgb'], np.float32) / 255.0
        mask = op['mask']
        if op['normal'] is not None:
            ndl = np.maximum(_dot(op['normal'], light), 0.0)
            factor = 0.45 + 0.7 * ndl
            colour = base * factor[:, :, None]
            if op['spec']:
                ndh = np.maximum(_dot(op['normal'], half), 0.0)
                colour = colour + (op['spec'] * ndh ** 24)[:, :, None]
        else:
            colour = np.broadcast_to(base, mask.shape + (3,))
        patch = img[op['region']]
        if op['soft']:
            alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), op['soft'] * n) * op['alpha']
            patch[:] = patch * (1.0 - alpha[:, :, None]) + colour * alpha[:, :, None]
        else:
            patch[mask] = colour[mask]

    rng = np.random.default_rng(scene['noise_seed'])
    # uneven lighting / skin texture: a smooth random field, then film grain at output resolution
    field = cv2.resize(rng.normal(0.0, 1.0, (5, 5, 3)).astype(np.float32), (n, n), interpolation=cv2.INTER_CUBIC)
    img *= 1.0 + 0.05 * field
    ss = n // size
    img = cv2.GaussianBlur(img, (0, 0), 0.6 * ss)
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    grain = rng.normal(0.0, 0.014, (size, size, 1)) + rng.normal(0.0, 0.006, (size, size, 3))
    return img + grain.astype(np.float32)


# Style-B palette rules per role: (hue shift in degrees, saturation gain, saturation bias,
# value gain, value bias): s' = bias + gain * s, v' = bias + gain * v.
_WEBTOON_RULES = {
    'background': (25, 0.3, 0.1, 0.0, 0.95),
    'prop': (25, 0.5, 0.45, 0.45, 0.55),
    'skin': (-6, 0.45, 0.15, 0.4, 0.62),
    'hair': (180, 0.5, 0.45, 0.6, 0.35),
    'shirt': (40, 0.5, 0.5, 0.5, 0.5),
    'iris': (150, 0.4, 0.6, 0.5, 0.45),
    'lips': (-10, 0.3, 0.55, 0.3, 0.7),
}
_WEBTOON_FIXED = {'sclera': [252, 252, 255], 'pupil': [30, 24, 40], 'glint': [255, 255, 255],
                  'blush': [255, 150, 165]}
_OUTLINE = np.array([34, 24, 46], np.float32) / 255.0


def _quantise_hsv(h, s, v):
    """Snap to the limited webtoon palette: 15 degree hues, 0.1 steps of saturation and value."""
    return round(h / 15.0) * 15.0, min(round(s * 10) / 10.0, 1.0), min(round(v * 10) / 10.0, 1.0)


def webtoon_tones(rgb, role):
    """The flat style-B colours of a region: (lit, shadow) as [r, g, b] ints 0..255."""
    if role in _WEBTOON_FIXED:
        lit = _WEBTOON_FIXED[role]
        return lit, [int(c * 0.8) for c in lit]
    shift, s_gain, s_bias, v_gain, v_bias = _WEBTOON_RULES[role]
    h, s, v = colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))
    h, s, v = h * 360.0 + shift, s_bias + s_gain * s, v_bias + v_gain * v
    lit = _hsv255(*_quantise_hsv(h, s, v))
    # cel shadows: darker, more saturated and nudged towards violet
    shadow = _hsv255(*_quantise_hsv(h + (8 if (h % 360) < 250 else -8), s + 0.12, v * 0.72))
    return lit, shadow


def _render_webtoon(scene, ops, canvas, size):
    """Style B on the supersampled canvas, then downsampled: float image in [0, 1], [size, size, 3]."""
    n = canvas.n
    light, _ = _light_vectors(scene)
    mean_bg = [(a + b) // 2 for a, b in zip(scene['background']['top'], scene['background']['bottom'])]
    paints = [op for op in ops if op['kind'] == 'paint']
    lit = np.zeros((len(paints) + 1, 3), np.float32)
    dark = np.zeros_like(lit)
    lit[0] = dark[0] = np.array(webtoon_tones(mean_bg, 'background')[0]) / 255.0
    two_tone = np.zeros(len(paints) + 1, bool)
    groups = np.zeros(len(paints) + 1, np.uint8)

    index = np.zeros((n, n), np.uint8)    # which region each pixel shows (0: background)
    shadow = np.zeros((n, n), bool)       # whether it is in that region's shadow tone
    k = 0
    for op in ops:
        if op['kind'] == 'shadow':  # cast shadows become hard-edged shadow-tone areas
            dx, dy = _shadow_offset(scene, op, n)
            hard = _shift_blur(op['mask'], dx, dy, op['blur'] * n) > 0.5
            shadow |= hard & two_tone[index]
            continue
        k += 1
        a, d = webtoon_tones(op['rgb'], op['role'])
        lit[k], dark[k] = np.array(a) / 255.0, np.array(d) / 255.0
        two_tone[k], groups[k] = op['two_tone'], op['group']
        mask = op['mask']
        index[op['region']][mask] = k
        if op['two_tone']:
            own = _dot(op['normal'], light) < 0.3
            shadow[op['region']][mask] = np.broadcast_to(own, mask.shape)[mask]
        else:
            shadow[op['region']][mask] = False

    img = np.where(shadow[:, :, None], dark[index], lit[index])
    # outlines wherever the outline group changes, about one output pixel wide at 64x64
    group_map = groups[index]
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    edges = cv2.dilate(group_map, cross) != cv2.erode(group_map, cross)
    width = max(1, int(round((n / size) * max(1.0, size / 90.0))) - 1)
    if width > 1:
        edges = cv2.dilate(edges.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))) > 0
    img[edges] = _OUTLINE
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _supersampling(size, style):
    """Supersampling factor: a grid of at least 256 pixels for the crisp outlines of style B,
    128 for the blurred style A (cheaper); always at least twice the output size."""
    return max(2, int(math.ceil((128.0 if style == 'A' else 256.0) / size)))


def render_scene(scene, style, size=DEMO_SIZE):
    """Render `scene` in style 'A' (photo) or 'B' (webtoon): uint8 RGB array [size, size, 3].

    Deterministic: style-A noise comes from scene['noise_seed'].
    """
    if style not in STYLES:
        raise ValueError("style must be 'A' or 'B', got %r" % (style,))
    size = int(size)
    if size < 8:
        raise ValueError('size must be at least 8 pixels, got %d' % size)
    canvas = _Canvas(size * _supersampling(size, style))
    ops = _build(scene, canvas)
    img = (_render_photo if style == 'A' else _render_webtoon)(scene, ops, canvas, size)
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Dataset on disk
# ----------------------------------------------------------------------------------------------

def _normalise_counts(counts):
    merged = dict(DEFAULT_COUNTS)
    if counts:
        unknown = set(counts) - set(DEFAULT_COUNTS)
        if unknown:
            raise ValueError('unknown split(s) in counts: %s (known: %s)' % (sorted(unknown), ', '.join(SPLITS)))
        merged.update(counts)
    for split, value in merged.items():
        if int(value) != value or value < 0:
            raise ValueError('count for %s must be a non-negative integer, got %r' % (split, value))
        merged[split] = int(value)
    return merged


def _folder_counts(counts):
    """Expected number of images in every folder, truth folders included."""
    expected = dict(counts)
    for split, (folder, _) in TRUTH_SPLITS.items():
        expected[folder] = counts[split]
    return expected


def draw_scenes(seed=DEMO_SEED, counts=None):
    """The scenes of every split, in order: {split: [scene, ...]}, all distinct.

    One np.random.default_rng(seed) is consumed split by split (trainA, trainB, testA, testB),
    and a scene whose hash was already drawn is drawn again, so no two images share a scene.
    """
    counts = _normalise_counts(counts)
    rng = np.random.default_rng(seed)
    used, scenes = set(), {}
    for split in SPLITS:
        scenes[split] = []
        while len(scenes[split]) < counts[split]:
            scene = sample_scene(rng)
            digest = scene_hash(scene)
            if digest in used:
                continue
            used.add(digest)
            scenes[split].append(scene)
    return scenes


def _write_png(path, rgb):
    ok = cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise IOError('could not write %s' % path)


def _user_files(root):
    """Some file under `root` (a path), or None if there are none (empty folders are fine)."""
    for folder, _, files in os.walk(root):
        if files:
            return os.path.join(folder, sorted(files)[0])
    return None


def _check_writable_root(root):
    """Refuse to write into a folder that holds something other than a demo dataset."""
    if os.path.exists(root) and not os.path.isdir(root):
        raise ValueError('demo dataset folder %s exists and is not a folder' % root)
    if os.path.isdir(root) and not os.path.isfile(os.path.join(root, INFO_FILE)):
        found = _user_files(root)
        if found:
            raise ValueError('folder %s is not empty and is not a generated demo dataset (no %s; found %s): '
                             'refusing to write the demo dataset there. Move it away or choose another '
                             '--dataset_dir / --dataset.' % (root, INFO_FILE, found))


def generate_demo_dataset(root, seed=DEMO_SEED, counts=None, size=DEMO_SIZE, progress=True):
    """Write the demo dataset under `root` (see the module docstring for the layout).

    counts: {split: number of images} for trainA, trainB, testA, testB (default DEFAULT_COUNTS;
    the truth folders follow their test split). size: image side in pixels. Images are PNG
    (lossless) uint8 RGB [size, size, 3]. demo_info.json is written last, so an interrupted run
    is recognised as incomplete. Raises ValueError if `root` holds other files than a demo
    dataset. Returns the info dict that was written to demo_info.json.
    """
    counts = _normalise_counts(counts)
    size = int(size)
    _check_writable_root(root)
    scenes = draw_scenes(seed, counts)
    expected = _folder_counts(counts)

    info_path = os.path.join(root, INFO_FILE)
    if os.path.isfile(info_path):
        os.remove(info_path)  # the old dataset is invalid from here until the new one is complete
    for folder in ALL_FOLDERS:
        path = os.path.join(root, folder)
        os.makedirs(path, exist_ok=True)
        keep = {_FILE_NAME % i for i in range(expected[folder])}
        for name in os.listdir(path):  # only stale images of a previous demo dataset
            if _FILE_PATTERN.match(name) and name not in keep:
                os.remove(os.path.join(path, name))

    total = sum(expected.values())
    with tqdm(total=total, desc='generating demo dataset', unit='img', disable=not progress) as bar:
        for split in SPLITS:
            truth = TRUTH_SPLITS.get(split)
            for i, scene in enumerate(scenes[split]):
                name = _FILE_NAME % i
                _write_png(os.path.join(root, split, name), render_scene(scene, SPLIT_STYLE[split], size))
                bar.update(1)
                if truth:
                    _write_png(os.path.join(root, truth[0], name), render_scene(scene, truth[1], size))
                    bar.update(1)

    info = {'dataset': 'ugatit-demo', 'version': FORMAT_VERSION, 'seed': int(seed), 'size': size,
            'counts': counts, 'styles': {'A': 'photo-like shading', 'B': 'flat webtoon'},
            'truth': {folder: '%s scenes rendered in style %s' % (split, style)
                      for split, (folder, style) in TRUTH_SPLITS.items()},
            'scene_hashes': {split: [scene_hash(s) for s in scenes[split]] for split in SPLITS},
            'test_scenes': {split: scenes[split] for split in TRUTH_SPLITS}}
    write_atomic(info_path, json.dumps(info, indent=1, sort_keys=True))
    return info


def _read_info(root):
    try:
        with open(os.path.join(root, INFO_FILE)) as f:
            info = json.load(f)
        return info if isinstance(info, dict) else None
    except (OSError, ValueError):
        return None


def is_complete_demo_dataset(root, seed=DEMO_SEED, size=DEMO_SIZE, counts=None):
    """True if `root` holds a finished demo dataset of this seed, size, counts and format version."""
    counts = _normalise_counts(counts)
    info = _read_info(root)
    if not info or info.get('dataset') != 'ugatit-demo' or info.get('version') != FORMAT_VERSION:
        return False
    if info.get('seed') != seed or info.get('size') != size or info.get('counts') != counts:
        return False
    for folder, count in _folder_counts(counts).items():
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            return False
        names = {name for name in os.listdir(path) if _FILE_PATTERN.match(name)}
        if names != {_FILE_NAME % i for i in range(count)}:
            return False
    return True


def ensure_demo_dataset(root, seed=DEMO_SEED, size=DEMO_SIZE, log=print, counts=None, progress=True):
    """Make sure `root` holds the demo dataset; generate it if missing, stale or incomplete.

    Returns False if it was already there (nothing is touched), True if it was (re)generated.
    Raises ValueError, deleting nothing, if `root` holds files but is not a demo dataset.
    """
    counts = _normalise_counts(counts)
    if is_complete_demo_dataset(root, seed, size, counts):
        return False
    generate_demo_dataset(root, seed=seed, counts=counts, size=size, progress=progress)
    log('Generated the built-in demo dataset deterministically from seed %d at %s (%s images per split, '
        '%dx%d, with paired ground truth for the test splits)'
        % (seed, root, ', '.join('%s %d' % (s, counts[s]) for s in SPLITS), size, size))
    return True


def contact_sheet(n=8, seed=DEMO_SEED, size=DEMO_SIZE):
    """n scenes side by side, style A above style B: uint8 RGB [2 * size, n * size, 3]."""
    rng = np.random.default_rng(seed)
    scenes = [sample_scene(rng) for _ in range(n)]
    rows = [np.concatenate([render_scene(s, style, size) for s in scenes], axis=1) for style in STYLES]
    return np.concatenate(rows, axis=0)


if __name__ == '__main__':
    import argparse

    parser = argparse.ArgumentParser(description='Generate the built-in U-GAT-IT demo dataset.')
    parser.add_argument('root', help='output folder, e.g. dataset/demo')
    parser.add_argument('--seed', type=int, default=DEMO_SEED)
    parser.add_argument('--size', type=int, default=DEMO_SIZE)
    parser.add_argument('--sheet', help='also write a contact sheet (A above B) to this PNG file')
    args = parser.parse_args()
    ensure_demo_dataset(args.root, seed=args.seed, size=args.size)
    if args.sheet:
        _write_png(args.sheet, contact_sheet(seed=args.seed, size=args.size))
