"""The figures of the shipped selfie2anime model (models/selfie2anime_cpu) in the docs, redrawn:

    python -m ugatit.benchmarks.shipped_figures              # docs/shipped_model.png, docs/photo_figure.png,
                                                             # docs/crop_before_after.png
    python -m ugatit.benchmarks.shipped_figures --screenshot # and docs/serve_screenshot.png (Chromium, Playwright)

Only public-domain portraits are used (docs/photos/SOURCES.md): Grace Hopper (U.S. Navy photo,
shipped inside matplotlib) and Eileen Collins (NASA photo, docs/photos/), and close-up crops of
them, framed as selfies are. Each goes through the photo mode as a user runs it:
`--align_face true` with no checkpoint, i.e. the shipped model, its face template and the
default enlargement; the before/after figure translates also what it did before the template:
dlib's chip (padding 0.65, black past the photo's edges), enlarged without denoising (the
earlier default) by the default factor of the model's size (4x at 64 px, 2x at 128).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from ugatit.benchmarks.loadtest import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, 'docs')


def portraits():
    """[(label, path)] of the public-domain portraits."""
    import matplotlib.cbook
    return [('Grace Hopper', matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False)),
            ('Eileen Collins', os.path.join(DOCS, 'photos', 'eileen_collins.jpg'))]


def shipped_size():
    """The image side of the shipped selfie2anime model, from its flags file."""
    from ugatit.config import SHIPPED_MODELS, read_flags_file
    return read_flags_file(SHIPPED_MODELS['selfie2anime'])[0]['img_size']


def before_enlargement(size):
    """The flags of the enlargement before the default one: waifu2x without denoising, by the
    default factor of a `size` px model."""
    from ugatit.infer.upscale import default_factor
    return ['--upscale', str(default_factor(size)), '--upscale_noise', '-1']


def translate(paths, work_dir, extra=()):
    """Run the photo mode on copies of `paths` with the shipped model; returns its result folder."""
    from ugatit import cli
    inputs, out_dir = os.path.join(work_dir, 'in'), os.path.join(work_dir, 'out')
    os.makedirs(inputs)
    for path in paths:
        shutil.copy(path, inputs)
    status = cli.main(['--phase', 'test', '--input', inputs, '--align_face', 'true',
                       '--result_dir', out_dir] + list(extra))
    if status != 0:
        sys.exit('the photo mode failed (status %d)' % status)
    return out_dir


def aligned_photo(path, size=256, padding=None):
    """The face of the photo at `path` cut as the photo mode cuts it (the shipped template; dlib's
    chip with `padding`), RGB uint8 [size, size, 3]."""
    from ugatit.infer.face_template import DEFAULT_TEMPLATE, load_template
    from ugatit.infer.faces import FaceAligner
    from utils import read_image_rgb
    image = read_image_rgb(path)
    aligner = FaceAligner(template=load_template(DEFAULT_TEMPLATE))
    return aligner.chip(image, aligner.detect(image)[0], size=size, padding=padding)[0]


def close_ups(people, work_dir):
    """[(label, path)] of close-up crops of the portraits: the square around the face that a
    selfie shows (1.6 times the detector's box, as the training selfies frame it)."""
    from ugatit.infer.faces import FaceAligner
    from utils import imwrite_rgb, read_image_rgb
    aligner, out = FaceAligner(), []
    for label, path in people:
        image = read_image_rgb(path)
        left, top, right, bottom = aligner.detect(image)[0].box
        side = int(1.6 * max(right - left, bottom - top))
        cx, cy = (left + right) // 2, (top + bottom) // 2
        x0, y0 = max(0, cx - side // 2), max(0, cy - side // 2)
        crop = os.path.join(work_dir, os.path.splitext(os.path.basename(path))[0] + '_close.png')
        imwrite_rgb(crop, image[y0:y0 + side, x0:x0 + side])
        out.append((label + ', close-up', crop))
    return out


def draw_before_after(rows, path):
    """rows: [(label, [4 images: chip before, translation before, chip now, translation now])]."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    titles = ('chip before (dlib, padding 0.65)', 'translation before', 'chip now (template)',
              'translation now')
    fig, axes = plt.subplots(len(rows), 4, figsize=(10.4, 2.75 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c, image in enumerate(images):
            axes[r, c].imshow(image)
            axes[r, c].set_title(titles[c] if r == 0 else '', fontsize=9)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def dlib_chips(people, folder, size):
    """The chips the photo mode cut before the template: dlib.get_face_chip, padding 0.65, black
    past the photo's edges; written as PNG files into `folder`; returns their paths."""
    from ugatit.infer.faces import FaceAligner
    from utils import imwrite_rgb, read_image_rgb
    aligner, paths = FaceAligner(), []
    os.makedirs(folder)
    for _, path in people:
        image = read_image_rgb(path)
        chip = aligner._dlib.get_face_chip(image, aligner._shape(aligner.detect(image)[0]), size=size, padding=0.65)
        paths.append(os.path.join(folder, os.path.splitext(os.path.basename(path))[0] + '.png'))
        imwrite_rgb(paths[-1], chip)
    return paths


def before_after(people, work_dir):
    """docs/crop_before_after.png: the portraits and their close-ups, before and now."""
    from utils import read_image_rgb
    people = people + close_ups(people, work_dir)
    # Before: dlib's chips at the model's size, translated whole (such a chip is its own centre crop).
    size = shipped_size()
    before = translate(dlib_chips(people, os.path.join(work_dir, 'dlib'), size), os.path.join(work_dir, 'before'),
                       ['--align_face', 'false'] + before_enlargement(size))
    now = translate([p for _, p in people], os.path.join(work_dir, 'now'))
    rows = []
    for label, path in people:
        stem = os.path.splitext(os.path.basename(path))[0] + '.png'
        rows.append((label, [read_image_rgb(os.path.join(before, 'chip', stem)), read_image_rgb(os.path.join(before, stem)),
                             read_image_rgb(os.path.join(now, 'chip', stem)), read_image_rgb(os.path.join(now, stem))]))
    draw_before_after(rows, os.path.join(DOCS, 'crop_before_after.png'))


def draw_pairs(rows, path):
    """rows: [(label, photo [256, 256, 3], translation [256, 256, 3])] -> one PNG at `path`."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2 * len(rows), figsize=(2.6 * 2 * len(rows), 2.9))
    for k, (label, photo, translated) in enumerate(rows):
        for ax, image, title in ((axes[2 * k], photo, label), (axes[2 * k + 1], translated, 'shipped model')):
            ax.imshow(image)
            ax.set_title(title, fontsize=10)
            ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def screenshot(photo, path):
    """Start `--phase serve` on the shipped model, translate `photo` in Chromium, save the page."""
    from playwright.sync_api import sync_playwright
    port = free_port()
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, 'main.py'), '--phase', 'serve',
                               '--port', str(port), '--batch_size', '8'], cwd=ROOT)
    try:
        url = 'http://127.0.0.1:%d' % port
        for _ in range(120):
            try:
                urllib.request.urlopen(url + '/health', timeout=2)
                break
            except OSError:
                time.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path='/usr/bin/chromium', args=['--no-sandbox'])
            page = browser.new_page(viewport={'width': 1100, 'height': 900})
            page.goto(url + '/')
            page.set_input_files('#file', photo)
            page.wait_for_selector('#results:not([hidden])', timeout=60000)
            page.screenshot(path=path, full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--screenshot', action='store_true', help='also docs/serve_screenshot.png')
    args = parser.parse_args(argv)
    people = portraits()
    with tempfile.TemporaryDirectory() as tmp:
        out = translate([p for _, p in people], tmp)
        from utils import read_image_rgb
        rows = [(label, aligned_photo(p), read_image_rgb(os.path.join(out, os.path.splitext(os.path.basename(p))[0] + '.png')))
                for label, p in people]
        draw_pairs(rows, os.path.join(DOCS, 'shipped_model.png'))
        shutil.copyfile(os.path.join(out, 'figure', 'grace_hopper.png'), os.path.join(DOCS, 'photo_figure.png'))
        before_after(people, tmp)
    if args.screenshot:
        screenshot(people[0][1], os.path.join(DOCS, 'serve_screenshot.png'))
    print('wrote the figures in %s' % DOCS)


if __name__ == '__main__':
    main()
