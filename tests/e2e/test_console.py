"""The console of main.py: --help without TensorFlow, the generated flags reference
docs/flags.md, and TensorFlow's own log lines hidden unless --verbose asks for them."""

import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

import main
from ugatit import cli
from ugatit.cli import phases
from tests.support import ROOT
from ugatit.console import IMPORT_NOISE, VERBOSE_ENV, verbose_from_env
from ugatit.flags_doc import DOC_PATH, REGENERATE, flags_doc_difference, flags_markdown


def run_python(code, env=None, timeout=300):
    """Run `python -c code` in the project folder; returns (exit status, stdout + stderr)."""
    done = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def committed_flags_doc():
    with open(os.path.join(ROOT, DOC_PATH), encoding='utf-8') as f:
        return f.read()


def test_flags_doc_is_the_parser():
    difference = flags_doc_difference(cli.build_parser(), committed_flags_doc())
    assert difference is None, difference


def test_flags_doc_check_fails_when_a_flag_or_a_help_text_changes():
    committed = committed_flags_doc()
    parser = cli.build_parser()
    parser.add_argument('--brand_new', type=int, default=3, help='a flag the file does not list')
    difference = flags_doc_difference(parser, committed)
    assert difference and '--brand_new' in difference and REGENERATE in difference
    edited = committed.replace('weight of the cycle loss', 'weight of the cycle-consistency loss')
    difference = flags_doc_difference(cli.build_parser(), edited)
    assert difference and 'weight of the cycle loss' in difference


def test_flags_doc_lists_every_flag_in_its_group():
    parser = cli.build_parser()
    doc = flags_markdown(parser)
    for action in parser._actions:
        for option in action.option_strings:
            assert '`%s`' % option in doc
    assert '## the web page and API (--phase serve, docs/serve.md)' in doc
    assert '| `--port` | integer | `8000` | port to listen on |' in doc
    assert '`serve`' in doc.split('| `--phase` |')[1].splitlines()[0]


def test_help_and_help_flags_answer_without_tensorflow():
    code = ('import sys, main\nfrom ugatit import cli\n'
            'for argv in ([\'--help\'], [\'--help-flags\', \'md\']):\n'
            '    try:\n'
            '        main.main(argv)\n'
            '    except SystemExit as exc:\n'
            '        assert exc.code == 0, exc.code\n'
            'cli.parse_args([\'--phase\', \'test\', \'--input\', \'x.jpg\', \'--dataset\', \'demo\'])\n'
            'print(\'tensorflow imported:\', \'tensorflow\' in sys.modules)\n')
    rc, out = run_python(code)
    assert rc == 0, out
    assert 'usage: ' in out and '--help-flags {md}' in out and '## General' in out
    assert 'tensorflow imported: False' in out


def test_verbose_flag_and_environment_variable():
    assert cli.verbose_requested(['--phase', 'test', '--verbose', 'true']) is True
    assert cli.verbose_requested(['--phase', 'test', '--unknown_here']) is False
    assert verbose_from_env({VERBOSE_ENV: '1'}) and verbose_from_env({VERBOSE_ENV: 'yes'})
    assert not verbose_from_env({}) and not verbose_from_env({VERBOSE_ENV: '0'})


def test_import_noise_is_only_absl_info_and_warning_lines():
    assert IMPORT_NOISE.match('I0000 00:00:1796339690.234626    5416 port.cc:153] oneDNN custom operations are on.')
    assert IMPORT_NOISE.match('WARNING: All log messages before absl::InitializeLog() is called are written to STDERR')
    assert not IMPORT_NOISE.match('E0000 00:00:1796339692.988847    5416 cuda_platform.cc:52] failed call to cuInit')
    assert not IMPORT_NOISE.match('F0000 00:00:1796339692.988847    5416 x.cc:1] Check failed')
    assert not IMPORT_NOISE.match('ImportError: libcudart.so.12: cannot open shared object file')


def test_tensorflow_lines_are_hidden_unless_verbose_and_errors_still_show(tmp_path):
    """A run that builds the graph, then fails (no checkpoint): quiet, only the project's lines
    and its one-line error; with UGATIT_VERBOSE=1, TensorFlow's own lines as well."""
    for split in ('testA', 'testB'):
        os.makedirs(tmp_path / 'data' / 'tiny' / split)
        cv2.imwrite(str(tmp_path / 'data' / 'tiny' / split / 'x.png'), np.zeros((8, 8, 3), np.uint8))
    argv = ['--phase', 'test', '--dataset', 'tiny', '--dataset_dir', str(tmp_path / 'data'), '--checkpoint_dir',
            str(tmp_path / 'ckpt'), '--result_dir', str(tmp_path / 'res'), '--light', 'true', '--ch', '4',
            '--img_size', '32']
    code = 'import sys, main; sys.exit(main.main(%r))' % argv
    env = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL', VERBOSE_ENV)}
    rc, out = run_python(code, env=env)
    lines = out.splitlines()
    assert rc == 2, out
    assert lines[0].startswith(' [*] Device: ') and lines[1].startswith('error: no checkpoint found'), out
    assert not any(re.match(r'[IWEF]\d{4} |WARNING', line) or 'deprecated' in line for line in lines), out
    rc, out = run_python(code, env=dict(env, **{VERBOSE_ENV: '1'}))
    assert rc == 2 and 'error: no checkpoint found' in out
    assert 'is deprecated' in out  # TensorFlow's Python logger (the C++ lines depend on the machine)


def test_tensorflow_errors_are_one_line_unless_verbose(tmp_path, monkeypatch, capsys):
    import tensorflow as tf

    def out_of_memory(config):
        raise tf.errors.ResourceExhaustedError(None, None, 'OOM when allocating tensor with shape[8,64,256,256]\n'
                                               'Hint: a long report')
    monkeypatch.setattr(phases, 'run_phase', out_of_memory)
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    argv = ['--phase', 'test', '--dataset', 'tiny', '--checkpoint_dir', str(tmp_path)]
    assert main.main(argv) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ['error: TensorFlow stopped (ResourceExhaustedError: OOM when allocating tensor with '
                                'shape[8,64,256,256]). out of memory: use a smaller --batch_size (or --img_size, --ch '
                                'for training). --verbose true shows its whole report.']
    with pytest.raises(tf.errors.ResourceExhaustedError):
        main.main(argv + ['--verbose', 'true'])
    monkeypatch.setattr(phases, 'run_phase', lambda config: 1 / 0)  # not TensorFlow's: the traceback stays
    with pytest.raises(ZeroDivisionError):
        main.main(argv)


def test_the_quiet_import_drops_info_lines_and_keeps_errors(tmp_path):
    """A stand-in tensorflow package that logs as TensorFlow's libraries do, then fails to import."""
    (tmp_path / 'tensorflow').mkdir()
    (tmp_path / 'tensorflow' / '__init__.py').write_text(
        'import os\n'
        "os.write(2, b'I0000 00:00:1796339690.234626    5416 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'E0000 00:00:1796339690.234626    5416 loader.cc:1] libcudart.so.12: not found\\n')\n"
        "raise ImportError('a broken installation')\n")
    code = ('import sys; sys.path.insert(0, %r)\n'
            'from ugatit.console import quiet_console; quiet_console()\n'
            'import tensorflow\n' % str(tmp_path))
    env = {k: v for k, v in os.environ.items() if k != VERBOSE_ENV}
    rc, out = run_python(code, env=env)
    assert rc == 1 and 'libcudart.so.12: not found' in out and 'ImportError: a broken installation' in out, out
    assert 'oneDNN' not in out
    rc, out = run_python(code, env=dict(env, **{VERBOSE_ENV: '1'}))
    assert 'oneDNN' in out  # negative control: nothing is filtered when verbose


def test_a_tensorflow_that_fails_to_import_is_one_line_unless_verbose(tmp_path):
    """A broken installation, simulated by a stand-in tensorflow package first on the path."""
    from tests.support import child_environment
    (tmp_path / 'tensorflow').mkdir()
    (tmp_path / 'tensorflow' / '__init__.py').write_text("raise ImportError('a broken installation')\n")
    env = child_environment({k: v for k, v in os.environ.items() if k != VERBOSE_ENV})
    env['PYTHONPATH'] = os.pathsep.join([str(tmp_path), env['PYTHONPATH']])
    argv = [sys.executable, 'main.py', '--phase', 'test', '--input', 'face.jpg', '--result_dir', str(tmp_path / 'out')]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2 and 'Traceback' not in done.stdout + done.stderr, done.stderr
    assert done.stderr.splitlines() == [
        'error: TensorFlow cannot be imported (ImportError: a broken installation): its installation is broken or '
        'does not fit this machine. Reinstall it in this environment: `make venv`, or pip install -r '
        'requirements.txt (docs/install.md). --verbose true shows the whole report.']
    done = subprocess.run(argv + ['--verbose', 'true'], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1 and 'Traceback' in done.stderr and 'ImportError: a broken installation' in done.stderr
