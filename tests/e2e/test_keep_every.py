"""--keep_every: every N-th step's checkpoint kept in <run folder>/kept/, out of the keep-5 rotation."""

import os

import numpy as np
import pytest
import tensorflow as tf

import main
from tests.support.runs import MODEL_DIR, TINY, make_dataset, steps_saved
from ugatit import cli
from ugatit.cli import phases
from ugatit.config import FLAGS_FILE
from ugatit.infer.translator import Translator
from ugatit.model import checkpoint

KERNEL = 'generator_B/G_logit/conv2d/kernel'


def _train(*flags):
    # 8 steps, a save each step: the rotation keeps 4..8.
    return main.main(['--phase', 'train', '--epoch', '1'] + TINY + ['--iteration', '8', '--save_freq', '1'] + list(flags))


def test_kept_steps_outlive_the_rotation_and_restore(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_dataset('dataset')
    assert _train('--keep_every', '3') == 0
    folder = tmp_path / 'checkpoint' / MODEL_DIR
    kept = folder / checkpoint.KEPT_FOLDER
    assert steps_saved(folder) == [4, 5, 6, 7, 8]
    assert steps_saved(kept) == [3, 6] and (kept / FLAGS_FILE).is_file()
    assert 'Kept UGATIT_light.model-6 in' in capsys.readouterr().out
    # Hard links of the saved files: step 6 is one file in both places, step 3 survives its removal.
    assert os.path.samefile(folder / 'UGATIT_light.model-6.index', kept / 'UGATIT_light.model-6.index')
    step3 = tf.train.load_checkpoint(str(kept / 'UGATIT_light.model-3')).get_tensor(KERNEL)
    step6 = tf.train.load_checkpoint(str(kept / 'UGATIT_light.model-6')).get_tensor(KERNEL)
    assert not np.array_equal(step3, step6)
    # The kept folder restores like a run folder: its newest step, the architecture from its flags file.
    config = phases.with_saved_flags(cli.parse_config(['--phase', 'test', '--dataset', 'tiny', '--checkpoint', str(kept)]))
    with Translator(config, ('a2b',)) as translator:
        assert translator.step == 6


def test_keep_copies_where_links_fail_and_replaces_an_earlier_keep(tmp_path, monkeypatch):
    source = tmp_path / 'run'
    source.mkdir()
    for name, text in (('m-5.index', 'index'), ('m-5.data-00000-of-00001', 'data'), ('m-50.index', 'other'),
                       (FLAGS_FILE, '{"new": 1}')):
        (source / name).write_text(text)
    kept = tmp_path / 'run' / 'kept'
    kept.mkdir()
    (kept / FLAGS_FILE).write_text('{"old": 1}')

    def no_links(src, dst):
        raise OSError('hard links not supported')
    monkeypatch.setattr(os, 'link', no_links)
    assert checkpoint.keep(str(source / 'm-5'), str(kept)) == str(kept / 'm-5')
    assert sorted(os.listdir(kept)) == sorted(['m-5.index', 'm-5.data-00000-of-00001', FLAGS_FILE])
    assert (kept / 'm-5.data-00000-of-00001').read_text() == 'data'
    assert (kept / FLAGS_FILE).read_text() == '{"new": 1}'


def test_keep_every_must_be_a_multiple_of_save_freq(capsys):
    for value in ('3', '-2'):
        with pytest.raises(SystemExit) as exc:
            cli.parse_args(['--phase', 'train', '--dataset', 'tiny', '--save_freq', '2', '--keep_every', value])
        assert exc.value.code == 2
        assert '--keep_every must be 0 (off) or a multiple of --save_freq (got %s with --save_freq 2)' % value \
            in capsys.readouterr().err
    assert cli.parse_config(['--save_freq', '2', '--keep_every', '4']).train.keep_every == 4
