"""The commands and Python code of README.md and docs/*.md, run as written, and the documents' links.

Every fenced ```bash and ```python block in README.md and docs/*.md carries a marker on the line
before it (blank lines between are allowed):

    <!-- runnable -->               this test runs each command of a bash block, in order, in a
                                    scratch folder laid out like a fresh clone (below); each must
                                    exit with status 0 and write the files EXPECTED_FILES names.
                                    A python block is run whole, as one script, by `python` in
                                    that folder, and must exit with status 0
    <!-- runnable: SETUP -->        the same, after SETUPS[SETUP] has prepared the scratch folder
                                    (e.g. "after make demo": a stand-in for the demo's model)
    <!-- not-run: the reason -->    the block is not run: a download, minutes of training, a camera

A block with neither fails test_every_block_is_marked, so no command can be added unchecked
without saying why. Commands run by bash; `python` is this interpreter. Neither a command nor a
python block may print a traceback. The scratch
folder holds links to the project's files (so `python main.py`, `make serve`, `docs/photos/...`
and the shipped model work as on a fresh clone), empty `dataset/` and `checkpoint/` folders
(nothing is written into the project), and the inputs a user would bring (write_inputs:
`clip.mp4`, `selfie.jpg`, `photos/`).

A command that would take minutes runs in a cheaper form, and only through SUBSTITUTIONS below,
where each replacement is written out with its reason. A command that starts a server
(SERVERS) runs until it answers one translation over HTTP, then is stopped.

A stale command fails: test_a_stale_command_fails runs the README's photo command with a
misspelled flag through the same runner and requires it to fail, and
test_a_failing_python_block_fails does the same for a python block; the marker and link checks
have negative controls of their own.
"""

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.support import ROOT
from ugatit.benchmarks.loadtest import free_port, multipart

DOCUMENTS = ['README.md'] + sorted(os.path.join('docs', n) for n in os.listdir(os.path.join(ROOT, 'docs'))
                                   if n.endswith('.md'))

RUNNABLE = re.compile(r'^<!--\s*runnable(?::\s*(?P<setup>[^>]*?))?\s*-->$')
NOT_RUN = re.compile(r'^<!--\s*not-run:\s*\S.*-->$')

# Command as written (without its trailing comment) -> (what runs instead, why). Every key must
# occur in a runnable block (test_substitutions_are_used).
SUBSTITUTIONS = {
    'python main.py --phase train --dataset demo': (
        'python main.py --phase train --dataset demo --epoch 1 --iteration 2 --grappler false',
        '2 training steps instead of the demo\'s 1,500; without Grappler, whose pass over the training '
        'graph costs more than 2 steps (it changes no number: tests/golden/test_golden.py)'),
    'make serve': (
        'make -o .venv/.installed -o node_modules/.installed serve SERVE_FLAGS="--port {port}"',
        '-o: the scratch folder\'s .venv is this environment, never reinstalled, and no npm install there '
        '(the page\'s on-device mode is tested by tests/e2e/test_web_page.py); a free port instead of 8000'),
}
# Commands that serve until stopped: run until the page answers a translation, then stopped.
SERVERS = {'make serve'}
# Files a command must have written (relative to the scratch folder), as its documentation says.
EXPECTED_FILES = {
    'python main.py --phase train --dataset demo': [
        'dataset/demo/trainA', 'checkpoint/UGATIT_light_demo_lsgan_4resblock_4dis_1_1_10_10_1000_sn_smoothing/checkpoint'],
    'python main.py --phase test --input docs/photos/eileen_collins.jpg --align_face --paste_back --result_dir out': [
        'out/eileen_collins.png', 'out/pasted/eileen_collins.png', 'out/figure/eileen_collins.png',
        'out/attention/eileen_collins.png', 'out/chip/eileen_collins.png', 'out/index.html'],
    'python main.py --phase test --input clip.mp4 --align_face --result_dir out': ['out/clip.mp4'],
    'python main.py --phase test --dataset demo': [
        'results/UGATIT_light_demo_lsgan_4resblock_4dis_1_1_10_10_1000_sn_smoothing/index.html'],
}
# Blocks slower than a few seconds a command (pytest -m 'not slow' leaves them out).
SLOW = ('--phase train', '--dataset demo')


def demo_model(folder):
    """Stands in for the model `make demo` trains (minutes): the demo's architecture with random
    weights, saved where `--dataset demo` looks, in the scratch folder's checkpoint/."""
    code = ('from ugatit import cli; from ugatit.infer.translator import save_random_generators; '
            'save_random_generators(cli.parse_config(["--phase", "test", "--dataset", "demo"]), 1500)')
    subprocess.run([sys.executable, '-c', code], cwd=folder, env=environment(folder), check=True, capture_output=True)


# The set-ups a runnable marker may name: <!-- runnable: NAME -->.
SETUPS = {'after make demo': demo_model}


def read(path):
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        return f.read()


# The fenced blocks that need a marker: the language after ``` -> what is run of a block.
LANGUAGES = ('bash', 'python')


def bash_blocks(text):
    """[(line number, marker line or None, [command])] of every ```bash block in markdown text.
    A command is one line, or several joined where a line ends in a backslash; blank lines and
    comment lines are left out."""
    return [(line, marker, commands(body)) for line, marker, body in fenced_blocks(text, 'bash')]


def python_blocks(text):
    """[(line number, marker line or None, [the block's code])] of every ```python block."""
    return [(line, marker, ['\n'.join(body) + '\n']) for line, marker, body in fenced_blocks(text, 'python')]


def fenced_blocks(text, language):
    """[(line number, marker line or None, [line of the body])] of every ```<language> block in
    markdown text; the marker is the last non-blank line before the block when it is a comment."""
    lines = text.split('\n')
    blocks, k = [], 0
    while k < len(lines):
        if lines[k].strip().startswith('```'):
            opening, start = lines[k].strip(), k
            k += 1
            body = []
            while k < len(lines) and not lines[k].strip().startswith('```'):
                body.append(lines[k])
                k += 1
            if opening == '```' + language:
                before = [l.strip() for l in lines[:start] if l.strip()]
                marker = before[-1] if before and before[-1].startswith('<!--') else None
                blocks.append((start + 1, marker, body))
        k += 1
    return blocks


def commands(body):
    out, pending = [], ''
    for line in body:
        if line.rstrip().endswith('\\'):
            pending += line.rstrip()[:-1] + ' '
            continue
        line = pending + line
        pending = ''
        if line.strip() and not line.strip().startswith('#'):
            out.append(line.strip())
    return out


def without_comment(command):
    """The command without a trailing ` # comment`, spaces normalised."""
    return ' '.join(re.sub(r'\s+#.*$', '', command).split())


def unmarked_blocks(text):
    return sorted(line for language in LANGUAGES for line, marker, _ in fenced_blocks(text, language)
                  if marker is None or not (RUNNABLE.match(marker) or NOT_RUN.match(marker)))


def runnable_blocks():
    found = []
    for doc in DOCUMENTS:
        for language, blocks in (('bash', bash_blocks), ('python', python_blocks)):
            for line, marker, cmds in blocks(read(doc)):
                if marker and RUNNABLE.match(marker):
                    slow = [pytest.mark.slow] if any(s in c for c in cmds for s in SLOW) else []
                    found.append(pytest.param(RUNNABLE.match(marker).group('setup'), language, cmds,
                                              id='%s:%d' % (doc, line), marks=slow))
    return found


# --- the scratch folder ----------------------------------------------------------------------------

def make_workspace(folder):
    """A folder laid out like a fresh clone with its environment: links to the project's files,
    empty dataset/ and checkpoint/, .venv, a `python` on PATH, and the users' inputs."""
    folder = str(folder)
    try:
        tracked = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: what is there
        tracked = [n for n in os.listdir(ROOT) if not n.startswith('.') and n not in ('results', 'logs', 'samples')]
    for name in sorted({p.split('/')[0] for p in tracked}):
        if name in ('dataset', 'checkpoint'):
            os.makedirs(os.path.join(folder, name))
        else:
            os.symlink(os.path.join(ROOT, name), os.path.join(folder, name))
    os.symlink(sys.prefix, os.path.join(folder, '.venv'))
    bin_dir = os.path.join(folder, '.bin')
    os.makedirs(bin_dir)
    with open(os.path.join(bin_dir, 'python'), 'w') as f:
        f.write('#!/bin/sh\nexec %s "$@"\n' % shlex.quote(sys.executable))
    os.chmod(os.path.join(bin_dir, 'python'), 0o755)
    write_inputs(folder)
    return folder


def write_inputs(folder):
    """The files the documented commands take as the user's own: clip.mp4 (a portrait moving
    over 8 frames), selfie.jpg and photos/ (public-domain portraits)."""
    import shutil
    from ugatit.benchmarks.video_bench import moving_photo_clip
    from ugatit.apps.video_io import write_test_clip
    from utils import read_image_rgb
    portrait = os.path.join(ROOT, 'docs', 'photos', 'eileen_collins.jpg')
    frames, _ = moving_photo_clip(read_image_rgb(portrait), 192, 144, 8)
    write_test_clip(os.path.join(folder, 'clip.mp4'), frames, fps=10)
    shutil.copy(portrait, os.path.join(folder, 'selfie.jpg'))
    os.makedirs(os.path.join(folder, 'photos'))
    shutil.copy(portrait, os.path.join(folder, 'photos', 'collins.jpg'))
    import cv2
    cv2.imwrite(os.path.join(folder, 'photos', 'collins.png'), cv2.imread(portrait))


def environment(folder):
    env = dict(os.environ)
    env['PATH'] = os.path.join(folder, '.bin') + os.pathsep + env.get('PATH', '')
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    return env


def run_command(command, folder, timeout=600):
    """Run one documented command in `folder` as SUBSTITUTIONS and SERVERS say; returns
    (exit status, output). A server's status is 0 when it answered a translation."""
    key = without_comment(command)
    port = free_port()
    actual = SUBSTITUTIONS[key][0].format(port=port) if key in SUBSTITUTIONS else command
    if key in SERVERS:
        return run_server(actual, folder, port)
    done = subprocess.run(['bash', '-c', actual], cwd=folder, env=environment(folder), capture_output=True,
                          text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def run_python(code, folder, timeout=600):
    """Run a python block as one script (a file in `folder`) by `python`; returns (exit status, output)."""
    path = os.path.join(folder, '.block.py')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(code)
    done = subprocess.run(['python', path], cwd=folder, env=environment(folder), capture_output=True, text=True,
                          timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def run_server(command, folder, port, timeout=180):
    log_path = os.path.join(folder, '.server.log')
    with open(log_path, 'w') as log:
        server = subprocess.Popen(['bash', '-c', command], cwd=folder, env=environment(folder), stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = 'http://127.0.0.1:%d' % port
        deadline = time.time() + timeout
        while time.time() < deadline and server.poll() is None:
            try:
                urllib.request.urlopen(url + '/health', timeout=5).read()
                break
            except OSError:
                time.sleep(1)
        status = 1
        if server.poll() is None:
            status = 0 if translated(url) else 1
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    with open(log_path) as f:
        return status, f.read()


def translated(url):
    """True when POST /api/translate answers a photo with a translation."""
    import json
    with open(os.path.join(ROOT, 'docs', 'photos', 'eileen_collins.jpg'), 'rb') as f:
        body, content_type = multipart(f.read(), {})
    request = urllib.request.Request(url + '/api/translate', data=body, method='POST',
                                     headers={'Content-Type': content_type})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return answer.status == 200 and bool(json.loads(answer.read()).get('images'))


# --- the tests -------------------------------------------------------------------------------------

@pytest.mark.parametrize('setup, language, block', runnable_blocks())
def test_runnable_block_runs(setup, language, block, tmp_path):
    folder = make_workspace(tmp_path)
    if setup:
        assert setup in SETUPS, 'unknown set-up in <!-- runnable: %s -->; known: %s' % (setup, sorted(SETUPS))
        SETUPS[setup](folder)
    if language == 'python':
        status, output = run_python(block[0], folder)
        assert status == 0 and 'Traceback' not in output, 'documented Python code failed (status %d):\n%s\n%s' % (
            status, block[0], output[-4000:])
        return
    for command in block:
        status, output = run_command(command, folder)
        ran = SUBSTITUTIONS.get(without_comment(command), (command,))[0]
        assert status == 0, 'documented command failed (status %d): %s\n(run as: %s)\n%s' % (
            status, command, ran, output[-4000:])
        assert 'Traceback' not in output, output[-4000:]
        for path in EXPECTED_FILES.get(without_comment(command), []):
            assert os.path.exists(os.path.join(folder, path)), '%s did not write %s' % (command, path)


def test_a_stale_command_fails(tmp_path):
    """The negative control of test_runnable_block_runs: a misspelled flag in a runnable command."""
    folder = make_workspace(tmp_path)
    status, output = run_command('python main.py --phase test --input docs/photos/eileen_collins.jpg '
                                 '--align_fac --paste_back --result_dir out', folder)
    assert status != 0 and 'align_fac' in output


def test_a_failing_python_block_fails(tmp_path):
    """The negative control of a python block: it loads a checkpoint that does not exist."""
    folder = make_workspace(tmp_path)
    status, output = run_python("import ugatit\nugatit.load('no/such/checkpoint')\n", folder)
    assert status != 0 and 'no such checkpoint folder or prefix' in output


@pytest.mark.parametrize('doc', DOCUMENTS)
def test_every_block_is_marked(doc):
    assert unmarked_blocks(read(doc)) == [], (
        '%s: the ```bash and ```python blocks at these lines need <!-- runnable --> or <!-- not-run: reason --> '
        '(tests/e2e/test_docs_commands.py)' % doc)


def test_the_marker_check_finds_an_unmarked_block():
    text = ('<!-- runnable: after make demo -->\n```bash\npython main.py\n```\n\n<!-- not-run: network -->\n\n```bash\nx\n```\n'
            'Text.\n\n```bash\npython main.py --phase train\n```\n<!-- not-run -->\n```bash\ny\n```\n'
            '```python\nimport ugatit\n```\n<!-- runnable -->\n```python\nimport ugatit\n```\n```text\nz\n```\n')
    assert unmarked_blocks(text) == [13, 17, 20]  # no marker; a not-run without its reason; a python block


def test_the_readme_runs_the_five_things():
    """README.md's commands for training, photos, video, the web page, and its Python code, are runnable."""
    text = read('README.md')
    runnable = [c for blocks in (bash_blocks, python_blocks) for line, marker, cmds in blocks(text)
                if marker and RUNNABLE.match(marker) for c in cmds]
    for phrase in ('--phase train', '--input docs/photos/', '--input clip.mp4', 'make serve', 'ugatit.load()'):
        assert any(phrase in c for c in runnable), phrase


def test_substitutions_are_used():
    runnable = {without_comment(c) for doc in DOCUMENTS for _, marker, cmds in bash_blocks(read(doc))
                if marker and RUNNABLE.match(marker) for c in cmds}
    assert set(SUBSTITUTIONS) - runnable == set()
    assert set(EXPECTED_FILES) - runnable == set()
    assert SERVERS - runnable == set()


# --- links -----------------------------------------------------------------------------------------

LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')


def anchors(text):
    """GitHub's anchors of a markdown text's headings."""
    out, fence = set(), False
    for line in text.split('\n'):
        if line.strip().startswith('```'):
            fence = not fence
        elif not fence and line.startswith('#'):
            title = line.lstrip('#').strip().lower()
            out.add(re.sub(r'[^\w\- ]', '', title).replace(' ', '-'))
    return out


def broken_links(doc, text):
    """[target] of every relative link or image in `text` (of the file `doc`) whose file, or whose
    heading anchor, does not exist."""
    broken = []
    prose = re.sub(r'```.*?```', '', text, flags=re.S)
    for target in LINK.findall(prose):
        if re.match(r'^[a-z]+:', target):
            continue
        path, _, anchor = target.partition('#')
        full = os.path.normpath(os.path.join(ROOT, os.path.dirname(doc), path)) if path else os.path.join(ROOT, doc)
        if not os.path.exists(full):
            broken.append(target)
        elif anchor and full.endswith('.md') and anchor not in anchors(open(full, encoding='utf-8').read()):
            broken.append(target)
    return broken


@pytest.mark.parametrize('doc', DOCUMENTS)
def test_relative_links_and_images_exist(doc):
    assert broken_links(doc, read(doc)) == []


def test_the_link_check_finds_broken_links():
    text = ('![a](docs/shipped_model.png) [b](docs/nothing.png) [c](docs/install.md#gpu) '
            '[d](docs/install.md#no-such-heading) [e](https://example.org/x)\n```\n[f](in/a/code/block.md)\n```\n')
    assert broken_links('README.md', text) == ['docs/nothing.png', 'docs/install.md#no-such-heading']
