"""The figures of the shipped selfie2anime model (models/selfie2anime_cpu) in the docs, redrawn:

    python -m ugatit.benchmarks.shipped_figures              # docs/shipped_model.png, docs/photo_figure.png
    python -m ugatit.benchmarks.shipped_figures --screenshot # and docs/serve_screenshot.png (Chromium, Playwright)

Only public-domain portraits are used (docs/photos/SOURCES.md): Grace Hopper (U.S. Navy photo,
shipped inside matplotlib) and Eileen Collins (NASA photo, docs/photos/). Each goes through the
photo mode as a user runs it: `--align_face true --upscale 4` with no checkpoint, i.e. the
shipped model.
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


def translate(paths, work_dir):
    """Run the photo mode on copies of `paths` with the shipped model; returns its result folder."""
    from ugatit import cli
    inputs, out_dir = os.path.join(work_dir, 'in'), os.path.join(work_dir, 'out')
    os.makedirs(inputs)
    for path in paths:
        shutil.copy(path, inputs)
    status = cli.main(['--phase', 'test', '--input', inputs, '--align_face', 'true', '--upscale', '4',
                        '--result_dir', out_dir])
    if status != 0:
        sys.exit('the photo mode failed (status %d)' % status)
    return out_dir


def aligned_photo(path, size=256):
    """The face of the photo at `path` cut as the photo mode cuts it, RGB uint8 [size, size, 3]."""
    from ugatit.infer.faces import FaceAligner
    from utils import read_image_rgb
    image = read_image_rgb(path)
    aligner = FaceAligner()
    return aligner.chip(image, aligner.detect(image)[0], size=size, padding=0.65)[0]


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
                               '--port', str(port), '--batch_size', '8', '--upscale', '4'], cwd=ROOT)
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
    if args.screenshot:
        screenshot(people[0][1], os.path.join(DOCS, 'serve_screenshot.png'))
    print('wrote the figures in %s' % DOCS)


if __name__ == '__main__':
    main()
