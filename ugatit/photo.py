"""Translate any photo: `python main.py --phase test --input PATH [--align_face]`.

PATH is an image, a folder or a glob. With --align_face each photo's faces are found with dlib
(HOG detector, 5-point landmarks) and cut into aligned chips as the original selfie demo did
(`get_face_chip(img, shape, size, padding=0.65)`); without it the largest centred square is
used. Chips are translated in batches by one restored generator (the graph is built and the
checkpoint restored once), and for each input (and face) the tool writes, into --result_dir:

    <name>[_face<k>].png             the translation
    <name>[_face<k>]_chip.png        the model's input (aligned / cropped, contrast-adjusted)
    <name>[_face<k>]_attention.png   the generator's CAM attention map, resized and normalised
    <name>[_face<k>]_figure.png      original with box and landmarks | chip | translation | attention
    <name>_pasted.png                with --paste_back: the translated faces put back in the photo
    index.html                       all of the above, plus what was skipped and why

Names come from the input files, sanitised so they cannot leave --result_dir.
"""

import os

import numpy as np
from tqdm import tqdm

from ugatit.errors import UserError
from utils import (ImageError, check_folder, escape, expand_inputs, heatmap_to_rgb, imwrite_rgb,
                   read_image_rgb, to_uint8, unique_stem)

# Smaller inputs carry too little detail to translate: refused with a message.
MIN_INPUT_SIDE = 32


class Item(object):
    """One chip to translate: where it came from and how to put it back."""

    def __init__(self, source, stem, image, chip, transform, face=None):
        self.source = source        # input file path
        self.stem = stem            # output name stem
        self.image = image          # original RGB uint8 [H, W, 3]
        self.chip = chip            # model input RGB uint8 [S, S, 3]
        self.transform = transform  # 2x3 affine: original coords -> chip coords
        self.face = face            # faces.Face or None (centre crop)


def prepare_items(files, args, aligner, log):
    """Read every file and cut its chips. Returns (items, problems) where problems is a list of
    (file, reason, fatal) for files that produced nothing."""
    from ugatit import faces as F
    items, problems, used = [], [], set()
    for path in tqdm(files, desc='reading', unit='img', disable=len(files) < 2):
        try:
            image = read_image_rgb(path, min_size=MIN_INPUT_SIDE)
        except ImageError as exc:
            problems.append((path, str(exc), True))
            continue
        stem = unique_stem(path, used)
        if aligner is None:
            chip, transform = F.center_crop(image, args.img_size)
            chips = [(stem, chip, transform, None)]
        else:
            found = aligner.detect(image)
            if not found:
                if args.no_face == 'center':
                    log(' [!] %s: no face found; using the centre crop (--no_face center)' % path)
                    chip, transform = F.center_crop(image, args.img_size)
                    chips = [(stem, chip, transform, None)]
                else:
                    fatal = args.no_face == 'error'
                    hint = ' (use --no_face skip or --no_face center to go on without a face)' if fatal else ''
                    problems.append((path, '%s: no face found%s' % (path, hint), fatal))
                    continue
            else:
                if args.faces == 'largest':
                    found = found[:1]
                chips = []
                for k, face in enumerate(found):
                    chip, transform = aligner.chip(image, face, size=args.img_size, padding=args.face_padding)
                    name = stem if len(found) == 1 else '%s_face%d' % (stem, k)
                    chips.append((name, chip, transform, face))
        for name, chip, transform, face in chips:
            chip = F.adjust_contrast(chip, args.contrast, args.brightness)
            items.append(Item(path, name, image, chip, transform, face))
    return items, problems


def write_figure(path, item, translated, attention_rgb, show=False):
    """Side-by-side PNG: original (box, landmarks) | chip | translation | attention overlay."""
    import matplotlib
    if not show:
        matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from ugatit import faces as F
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.4))
    axes[0].imshow(item.image)
    axes[0].set_title(os.path.basename(item.source) if item.face is None else 'detected face')
    if item.face is not None:
        F.draw_face(axes[0], item.face)
    axes[1].imshow(item.chip)
    axes[1].set_title('input (aligned)' if item.face is not None else 'input (centre crop)')
    axes[2].imshow(translated)
    axes[2].set_title('translation')
    axes[3].imshow((0.5 * item.chip + 0.5 * attention_rgb).astype(np.uint8))
    axes[3].set_title('CAM attention')
    for ax in axes:
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    if show:
        plt.show()
    plt.close(fig)


def run_photos(gan):
    """The --input mode of the test phase. Returns the process exit status (0 or 2)."""
    args = gan.args
    files = expand_inputs(args.input)
    if not files:
        raise UserError('--input %s matched no file (give an image, a folder or a quoted glob '
                        'such as "photos/*.jpg")' % args.input)
    aligner = None
    if args.align_face:
        from ugatit.faces import FaceAligner, FaceError
        try:
            aligner = FaceAligner(landmarks_path=args.landmarks)
        except FaceError as exc:
            raise UserError(str(exc))
    items, problems = prepare_items(files, args, aligner, tqdm.write)
    for path, reason, fatal in problems:
        tqdm.write(' [!] %s %s' % ('error:' if fatal else 'skipped:', reason))
    if not items:
        raise UserError('nothing to translate: %d input file(s), none usable (see the messages above)'
                        % len(files))

    gan.build_model(directions=(args.direction,))
    loaded, step = gan.restore_generators()
    print(' [*] Restored %s (step %d)' % (gan.loaded_checkpoint, step))

    out_dir = check_folder(args.result_dir)
    chips = np.stack([it.chip for it in items]).astype(np.float32) / 127.5 - 1.0
    rows = []
    bar = tqdm(total=len(items), desc='translating', unit='img')
    for start in range(0, len(items), args.batch_size):
        fake, heat = gan.translate(args.direction, chips[start:start + args.batch_size])
        for item, y, h in zip(items[start:start + args.batch_size], fake, heat):
            rows.append(write_outputs(out_dir, item, to_uint8(y), heatmap_to_rgb(h, args.img_size), args))
            bar.update(1)
    bar.close()
    if args.paste_back:
        write_pasted(out_dir, items, rows)
    index = write_photo_index(out_dir, rows, problems, gan.loaded_checkpoint, args)
    fatal = [p for p in problems if p[2]]
    print(' [*] %d translation(s) from %d file(s) in %s; index: %s'
          % (len(rows), len(files), out_dir, index))
    if problems:
        print(' [*] %d file(s) not translated:' % len(problems))
        for path, reason, _ in problems:
            print('     %s' % reason)
    return 2 if fatal else 0


def write_outputs(out_dir, item, translated, attention_rgb, args):
    """Write one item's PNGs; return the row for index.html (paths relative to out_dir)."""
    row = {'source': item.source, 'stem': item.stem, 'item': item, 'translated': translated}
    for key, img in (('output', translated), ('chip', item.chip), ('attention', attention_rgb)):
        row[key] = item.stem + ('' if key == 'output' else '_' + key) + '.png'
        imwrite_rgb(os.path.join(out_dir, row[key]), img)
    row['figure'] = item.stem + '_figure.png'
    write_figure(os.path.join(out_dir, row['figure']), item, translated, attention_rgb, show=args.show)
    return row


def write_pasted(out_dir, items, rows):
    """Put every translated face back into its photo (one _pasted.png per input file)."""
    from ugatit import faces as F
    by_source = {}
    for item, row in zip(items, rows):
        by_source.setdefault(item.source, []).append(row)
    for source, source_rows in by_source.items():
        photo = source_rows[0]['item'].image
        for row in source_rows:
            photo = F.paste_back(photo, row['translated'], row['item'].transform)
        stem = source_rows[0]['stem'].rsplit('_face', 1)[0] if len(source_rows) > 1 else source_rows[0]['stem']
        name = stem + '_pasted.png'
        imwrite_rgb(os.path.join(out_dir, name), photo)
        source_rows[0]['pasted'] = name


def write_photo_index(out_dir, rows, problems, checkpoint, args):
    """index.html for the --input mode (names HTML-escaped); returns its path."""
    parts = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>U-GAT-IT translations</title>'
             '<style>body{font-family:sans-serif} td{text-align:center;padding:4px} img{height:200px}</style>'
             '</head><body><h1>U-GAT-IT %s translations</h1><p>checkpoint: %s</p>'
             % (escape(args.direction), escape(checkpoint)),
             '<table><tr><th>input file</th><th>model input</th><th>translation</th><th>attention</th>'
             '<th>figure</th>%s</tr>' % ('<th>pasted back</th>' if args.paste_back else '')]
    for r in rows:
        cells = ['<td>%s</td>' % escape(os.path.basename(r['source']))]
        for key in ('chip', 'output', 'attention', 'figure') + (('pasted',) if args.paste_back else ()):
            cells.append('<td><img src="%s" alt="%s"></td>' % (escape(r[key]), key) if key in r else '<td></td>')
        parts.append('<tr>%s</tr>' % ''.join(cells))
    parts.append('</table>')
    if problems:
        parts.append('<h2>Not translated</h2><ul>%s</ul>' % ''.join('<li>%s</li>' % escape(reason) for _, reason, _ in problems))
    parts.append('</body></html>')
    path = os.path.join(out_dir, 'index.html')
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(parts))
    return path
