"""Translate any photo: `python main.py --phase test --input PATH [--align_face]`.

PATH is an image, a folder or a glob. With --align_face each photo's faces are found with dlib
(HOG detector, 5-point landmarks) and cut into aligned chips as the original selfie demo did
(`get_face_chip(img, shape, size, padding=0.65)`); without it the largest centred square is
used. Chips are translated in batches by one restored generator (ugatit/infer/translator.py), photo
after photo, so that only the photos of one batch are in memory at a time. For each input (and
face) the tool writes, into --result_dir:

    <name>[_face<k>].png                the translation
    chip/<name>[_face<k>].png           the model's input (aligned / cropped, contrast-adjusted)
    attention/<name>[_face<k>].png      the generator's CAM attention map, resized and normalised
    figure/<name>[_face<k>].png         original with box and landmarks | chip | translation | attention
    pasted/<name>.png                   with --paste_back: the translated faces put back in the photo
    index.html                          all of the above, plus what was skipped and why

Names come from the input files, sanitised so they cannot leave --result_dir. Every output file
is claimed before it is written (utils.claim_unique_path: created with O_EXCL, a _2, _3 suffix
when the name is taken, by this run, an earlier one, a concurrent one or the user), so nothing
that was in --result_dir is ever written over: a second run into one folder writes
index_2.html next to the first run's index.html. A translation's stem is free in the folder and
in chip/, attention/ and figure/ alike, so one input's files share it.
"""

import dataclasses
import io
import os

import cv2
import numpy as np
from tqdm import tqdm

from ugatit.errors import UserError
from ugatit.infer.report import Section, shareable_checkpoint_name, write_index
from ugatit.infer.translator import Translator
from utils import (MIN_IMAGE_SIDE, ImageError, check_folder, claim_unique_path, ensure_writable_folder, expand_inputs,
                   heatmap_to_rgb, imwrite_rgb, printable, read_image_rgb, refuse_result_dir_holding_inputs,
                   release_unwritten, safe_name, to_uint8, write_atomic)

# Smaller inputs carry too little detail to translate: refused with a message.
MIN_INPUT_SIDE = MIN_IMAGE_SIDE
# Figures are drawn from a copy of the photo no larger than this (memory, time).
FIGURE_MAX_SIDE = 1024
# Sub-folders of --result_dir with one file per translation, named like the translation.
CHIP_KINDS = ('chip', 'attention', 'figure')


@dataclasses.dataclass
class Item:
    """One chip to translate: where it came from and how to put it back."""
    source: str              # input file path
    stem: str                # output name stem (claimed in --result_dir: OutputFiles.stem)
    image: np.ndarray        # original RGB uint8 [H, W, 3]
    chip: np.ndarray         # model input RGB uint8 [S, S, 3]
    transform: np.ndarray    # 2x3 affine: original coords -> chip coords
    face: object = None      # faces.Face or None (centre crop)


def cut_chips(path, image, stem_of, config, aligner, log):
    """The Items of one photo (image: RGB uint8 [H, W, 3]); stem_of(name) makes a name unique.

    Returns (items, problem): problem is None or (reason, fatal) when the photo gave nothing."""
    from ugatit.infer import faces as F
    photo, size = config.photo, config.model.img_size
    found = aligner.detect(image) if aligner is not None else None
    if aligner is None or (not found and photo.no_face == 'center'):
        if aligner is not None:
            log(' [!] %s: no face found; using the centre crop (--no_face center)' % printable(path))
        chip, transform = F.center_crop(image, size)
        cuts = [(os.path.basename(path), chip, transform, None)]
    elif not found:
        fatal = photo.no_face == 'error'
        hint = ' (use --no_face skip or --no_face center to go on without a face)' if fatal else ''
        return [], ('%s: no face found%s' % (printable(path), hint), fatal)
    else:
        found = found[:1] if photo.faces == 'largest' else found
        cuts = []
        for k, face in enumerate(found):
            chip, transform = aligner.chip(image, face, size=size, padding=photo.face_padding)  # None: the template
            base, ext = os.path.splitext(os.path.basename(path))
            cuts.append((base + ext if len(found) == 1 else '%s_face%d%s' % (base, k, ext), chip, transform, face))
    items = [Item(path, stem_of(name), image, F.adjust_contrast(chip, photo.contrast, photo.brightness), transform, face)
             for name, chip, transform, face in cuts]
    return items, None


class OutputFiles:
    """The output files of one run in --result_dir. Each is claimed (utils.claim_unique_path)
    before it is written, so nothing that was there is written over; release_unwritten removes
    the claims a stopped run never wrote."""

    def __init__(self, folder, paste_back):
        self.folder, self.claimed = folder, []
        for kind in CHIP_KINDS + (('pasted',) if paste_back else ()):
            check_folder(os.path.join(folder, kind))

    def claim(self, name, kinds):
        """Claim `name` (or <stem>_2<ext>, ...) in each sub-folder of `kinds` ('' is the folder
        itself) at once; returns the name claimed."""
        folders = [os.path.join(self.folder, kind) for kind in kinds]
        name = os.path.basename(claim_unique_path(folders[0], name, folders[1:]))
        self.claimed += [os.path.join(folder, name) for folder in folders]
        return name

    def stem(self, input_name):
        """The output stem of an input file (or face) name: <stem>.png claimed in the folder
        and in every CHIP_KINDS sub-folder."""
        name = safe_name(os.path.splitext(input_name)[0]) + '.png'
        return os.path.splitext(self.claim(name, ('',) + CHIP_KINDS))[0]

    def release_unwritten(self):
        release_unwritten(self.claimed)


def run_photos(config):
    """The --input mode of the test phase. Returns the process exit status: 0, or 2 when a file
    could not be used (unreadable, or no face with --no_face error)."""
    photo = config.photo
    files = expand_inputs(photo.input)
    if not files:
        raise UserError('--input %s matched no file (give an image, a folder or a quoted glob '
                        'such as "photos/*.jpg")' % printable(photo.input))
    out_dir = config.paths.result_dir
    refuse_result_dir_holding_inputs(out_dir, files)
    ensure_writable_folder(out_dir, '--result_dir')
    aligner = face_aligner(config)
    rows, problems = [], []
    with Translator(config, (photo.direction,)) as translator:
        print(' [*] Restored %s (step %d)' % (printable(translator.checkpoint), translator.step))
        outputs = OutputFiles(out_dir, photo.paste_back)
        index = os.path.join(out_dir, outputs.claim('index.html', ('',)))
        try:
            _translate_files(files, config, aligner, translator, outputs, rows, problems)
        finally:
            try:
                write_photo_index(index, rows, problems, translator.checkpoint, config)
            finally:
                outputs.release_unwritten()
    return _summarise(files, rows, problems, out_dir, index)


def face_aligner(config, force=False):
    """The dlib FaceAligner of the photo flags (None without --align_face, unless `force`), with
    the face template of the model config restores; UserError when the landmark model, dlib or
    the template is missing or broken."""
    if not (config.photo.align_face or force):
        return None
    from ugatit.infer.face_template import template_for_checkpoint
    from ugatit.infer.faces import FaceAligner, FaceError
    from ugatit.model.checkpoint import find_checkpoint
    try:
        template = template_for_checkpoint(find_checkpoint(config)[0])
        return FaceAligner(landmarks_path=config.photo.landmarks, template=template)
    except (FaceError, ValueError) as exc:
        raise UserError(printable(exc))  # it may name the --landmarks or template file


def _translate_files(files, config, aligner, translator, outputs, rows, problems):
    """Read, cut, translate and write photo after photo, a batch of chips at a time, into the
    OutputFiles `outputs`; appends to rows (one per chip written) and problems ((file, reason,
    fatal) per file that gave nothing)."""
    pending = []
    bar = tqdm(total=len(files), desc='translating', unit='photo', disable=len(files) < 2)
    for path in files:
        try:
            image = read_image_rgb(path, min_size=MIN_INPUT_SIDE)
        except ImageError as exc:
            problems.append((path, str(exc), True))
        else:
            items, problem = cut_chips(path, image, outputs.stem, config, aligner, tqdm.write)
            if problem:
                problems.append((path,) + problem)
            pending += items
        if len(pending) >= config.runtime.batch_size:
            rows += _translate_items(pending, translator, config, outputs)
            pending = []
        bar.update(1)
    if pending:
        rows += _translate_items(pending, translator, config, outputs)
    bar.close()


def _translate_items(items, translator, config, outputs):
    """Translate Items (the faces of whole photos) and write their outputs; returns index rows."""
    rows = []
    for item, (translated, attention_rgb) in zip(items, translate_items(items, translator, config)):
        translated = enlarge_translation(item, translated, config)
        rows.append(write_outputs(outputs.folder, item, translated, attention_rgb, config.photo.show))
    if config.photo.paste_back:
        write_pasted(outputs, items, rows, config.model.img_size)
    for row in rows:
        del row['translated']  # release the image: rows live until the index is written
    return rows


def translate_items(items, translator, config):
    """The model's outputs for Items, in one translator call of config.photo.direction:
    [(translation RGB uint8 [S, S, 3], attention RGB uint8 [S, S, 3])], S = config.model.img_size.
    (What --input writes, and ugatit.api returns.)"""
    size = config.model.img_size
    chips = np.stack([it.chip for it in items]).astype(np.float32) / 127.5 - 1.0
    fake, heat = translator.translate(config.photo.direction, chips)
    return [(to_uint8(y), heatmap_to_rgb(h, size)) for y, h in zip(fake, heat)]


def enlarge_translation(item, translated, config):
    """An Item's translation RGB uint8 [S, S, 3] enlarged as --upscale asks: [S*f, S*f, 3]."""
    from ugatit.infer import faces as F
    from ugatit.infer.upscale import enlarge
    return enlarge(translated, config.photo, F.chip_footprint(item.transform, config.model.img_size))


def paste_faces(photo, faces, chip_size):
    """photo RGB uint8 [H, W, 3] with each (translation uint8 [S', S', 3], Item.transform) of
    `faces` warped back into it in turn (faces.paste_back); returns uint8 [H, W, 3]."""
    from ugatit.infer import faces as F
    for translated, transform in faces:
        photo = F.paste_back(photo, translated, transform, chip_size=chip_size)
    return photo


def _summarise(files, rows, problems, out_dir, index):
    fatal = [p for p in problems if p[2]]
    if not rows and fatal:
        raise UserError('nothing to translate: %d input file(s), none usable (%s); index: %s'
                        % (len(files), '; '.join(reason for _, reason, _ in problems), printable(index)))
    print(' [*] %d translation(s) from %d file(s) in %s; index: %s'
          % (len(rows), len(files), printable(out_dir), printable(index)))
    if problems:
        print(' [*] %d file(s) not translated:' % len(problems))
        for _, reason, _ in problems:
            print('     %s' % reason)
    return 2 if fatal else 0


def write_outputs(out_dir, item, translated, attention_rgb, show=False):
    """Write one item's PNGs (their names claimed: OutputFiles.stem); return the row for
    index.html (paths relative to out_dir)."""
    row = {'source': item.source, 'name': os.path.basename(item.source), 'stem': item.stem,
           'output': item.stem + '.png'}
    imwrite_rgb(os.path.join(out_dir, row['output']), translated)
    for kind, img in (('chip', item.chip), ('attention', attention_rgb)):
        row[kind] = '%s/%s.png' % (kind, item.stem)
        imwrite_rgb(os.path.join(out_dir, row[kind]), img)
    row['figure'] = 'figure/%s.png' % item.stem
    write_figure(os.path.join(out_dir, row['figure']), item, translated, attention_rgb, show=show)
    row['translated'] = translated
    return row


def write_pasted(outputs, items, rows, chip_size):
    """Put every translated face back into its photo (pasted/<first face's stem>.png per file,
    claimed in the OutputFiles `outputs`). The translations may be enlarged (--upscale): they are
    warped into the photo directly."""
    by_source = {}
    for item, row in zip(items, rows):
        by_source.setdefault(item.source, []).append((item, row))
    for pairs in by_source.values():
        photo = paste_faces(pairs[0][0].image, [(row['translated'], item.transform) for item, row in pairs], chip_size)
        first_row = pairs[0][1]
        first_row['pasted'] = 'pasted/' + outputs.claim(first_row['stem'] + '.png', ('pasted',))
        imwrite_rgb(os.path.join(outputs.folder, first_row['pasted']), photo)


def write_figure(path, item, translated, attention_rgb, show=False):
    """Side-by-side PNG: original (box, landmarks) | chip | translation | attention overlay,
    drawn from a copy of the original at most FIGURE_MAX_SIDE pixels wide or high."""
    import matplotlib
    if not show:
        matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from ugatit.infer import faces as F
    image, face = _figure_copy(item.image, item.face)
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.4))
    axes[0].imshow(image)
    # printable: a control character in a file name would reach the terminal raw through
    # matplotlib's "Glyph missing" warning
    axes[0].set_title(printable(os.path.basename(item.source)) if face is None else 'detected face')
    if face is not None:
        F.draw_face(axes[0], face)
    axes[1].imshow(item.chip)
    axes[1].set_title('input (aligned)' if face is not None else 'input (centre crop)')
    axes[2].imshow(translated)
    axes[2].set_title('translation')
    axes[3].imshow((0.5 * item.chip + 0.5 * attention_rgb).astype(np.uint8))  # both the model's size
    axes[3].set_title('CAM attention')
    for ax in axes:
        ax.axis('off')
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format='png', dpi=80)
    write_atomic(path, png.getvalue())
    if show:
        plt.show()
    plt.close(fig)


def _figure_copy(image, face):
    """(image, face) scaled down to FIGURE_MAX_SIDE when larger; the face's box and landmarks
    scaled with it."""
    scale = FIGURE_MAX_SIDE / float(max(image.shape[:2]))
    if scale >= 1:
        return image, face
    small = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    if face is not None:
        face = dataclasses.replace(face, box=tuple(int(round(v * scale)) for v in face.box),
                                   landmarks=np.asarray(face.landmarks) * scale)
    return small, face


def write_photo_index(path, rows, problems, checkpoint, config):
    """The index page of the --input mode, at `path` (index.html, or index_2.html, ... when a
    page is there already: OutputFiles.claim); returns its path."""
    columns = [('chip', 'model input'), ('output', 'translation'), ('attention', 'attention'), ('figure', 'figure')]
    if config.photo.paste_back:
        columns.append(('pasted', 'pasted back'))
    section = Section(columns=columns, rows=rows, skipped=[reason for _, reason, _ in problems],
                      skipped_title='Not translated')
    return write_index(os.path.dirname(path), 'U-GAT-IT %s translations' % config.photo.direction,
                       ['checkpoint: %s' % shareable_checkpoint_name(checkpoint)], [section],
                       image_height=200, pixelated=False, page=os.path.basename(path))
