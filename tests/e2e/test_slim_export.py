"""--phase export --format checkpoint: the generators-only checkpoint restores like the full one.

One tiny full training checkpoint (generators, discriminators, Adam slots; random values) is
written once for the module and exported; the float16 tolerance is measured on the reference
checkpoints of the official code (trained weights, known outputs).
"""

import glob
import json
import os
import re

import cv2
import numpy as np
import pytest
import tensorflow as tf

import main
from ugatit import cli
from ugatit.cli import phases
from tests.support import TINY_MODEL, shared_path, tiny_config
from ugatit.model.average import average_name
from ugatit.model.checkpoint import Checkpoint, restore_cast
from ugatit.errors import UserError
from ugatit.model.model import UGATIT
from ugatit.infer.slim import (checkpoint_bytes, export_slim, save_random_training_checkpoint, training_variables,
                               write_checkpoint)
from ugatit.infer.translator import Translator, build_generators

tf1 = tf.compat.v1
DATASET = ['--dataset', 'slim']
# float16 weights against the official float32 outputs (in [-1, 1]), measured on reference
# checkpoints a and b: max 0.0055 / median 0.0006. The limits leave about 3x room; the golden
# --bfloat16 test allows max 0.25 / mean 0.03, so float16 weights are far closer than bfloat16
# arithmetic. A wrong cast or a weight left random would be off by far more.
FLOAT16_MAX, FLOAT16_MEDIAN = 0.02, 0.002


def export_flags(checkpoint_dir, export_dir, *extra):
    return (['--phase', 'export', '--format', 'checkpoint', '--checkpoint_dir', str(checkpoint_dir),
             '--export_dir', str(export_dir)] + TINY_MODEL + DATASET + list(extra))


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """{'full', 'slim', 'half_a2b'}: the checkpoint_dir of the full tiny training checkpoint, of
    its float32 slim export (both directions) and of its float16 a2b-only export."""
    root = tmp_path_factory.mktemp('slim')
    dirs = {'full': root / 'full', 'slim': root / 'slim', 'half_a2b': root / 'half'}
    save_random_training_checkpoint(tiny_config('--checkpoint_dir', str(dirs['full']), *DATASET, phase='train'), 5)
    export_slim(cli.parse_config(export_flags(dirs['full'], dirs['slim'])))
    export_slim(cli.parse_config(export_flags(dirs['full'], dirs['half_a2b'], '--float16', '--direction', 'a2b')))
    return {k: str(v) for k, v in dirs.items()}


def prefix_in(checkpoint_dir):
    return glob.glob(os.path.join(checkpoint_dir, '*', '*.index'))[0][:-len('.index')]


def test_the_random_training_checkpoint_has_the_official_training_variables():
    """The benchmark's and these tests' stand-in for a training checkpoint holds exactly the
    variables of the official selfie2anime training graph (names and shapes, Adam included)."""
    cfg_dir = shared_path('reference', 'e_train_graph')
    with open(os.path.join(cfg_dir, 'graph_variables.json')) as f:
        official = sorted((v['name'], v['shape']) for v in json.load(f)['variables'])
    with tf.Graph().as_default():
        ours = sorted((v.op.name, v.shape.as_list()) for v in training_variables(cli.parse_config(['--phase', 'train'])))
    assert len(official) == 776 and ours == official


def test_slim_holds_only_the_generators_and_is_smaller(exported):
    full = dict(tf.train.list_variables(prefix_in(exported['full'])))
    slim_prefix = prefix_in(exported['slim'])
    slim = tf.train.load_checkpoint(slim_prefix).get_variable_to_dtype_map()
    assert any(n.startswith('discriminator_A/') for n in full) and any(n.endswith('/Adam_1') for n in full)
    assert set(slim) == {n for n in full if n.startswith('generator_') and '/Adam' not in n}
    assert set(slim.values()) == {tf.float32}
    half = tf.train.load_checkpoint(prefix_in(exported['half_a2b'])).get_variable_to_dtype_map()
    assert set(half) == {n for n in slim if n.startswith('generator_B/')} and set(half.values()) == {tf.float16}
    sizes = [checkpoint_bytes(prefix_in(exported[k])) for k in ('full', 'slim', 'half_a2b')]
    assert sizes[0] > 2 * sizes[1] > 4 * sizes[2], sizes  # Adam doubles, a2b halves, float16 halves
    with open(os.path.join(os.path.dirname(slim_prefix), 'ugatit_flags.json')) as f:
        assert json.load(f)['slim'] == {'directions': ['a2b', 'b2a'], 'dtype': 'float32', 'source': 'UGATIT_light.model-5',
                                        'weights': 'raw'}
    assert os.path.basename(slim_prefix) == 'UGATIT_light.model-5'  # the step is kept


def translate(checkpoint_dir, direction, images):
    config = tiny_config('--checkpoint_dir', checkpoint_dir, *DATASET)
    with Translator(config, (direction,)) as translator:
        return translator.translate(direction, images)


def test_float32_slim_translates_bit_identically_and_float16_closely(exported):
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    for direction in ('a2b', 'b2a'):
        full, full_heat = translate(exported['full'], direction, images)
        slim, slim_heat = translate(exported['slim'], direction, images)
        assert np.array_equal(full, slim) and np.array_equal(full_heat, slim_heat)
    half, _ = translate(exported['half_a2b'], 'a2b', images)
    full, _ = translate(exported['full'], 'a2b', images)
    assert 0 < np.abs(half - full).max() <= FLOAT16_MAX  # control: float16 weights do change the numbers


@pytest.mark.slow
@pytest.mark.parametrize('cfg', ['a', 'b'])
def test_float16_export_of_a_reference_checkpoint_is_within_tolerance(tmp_path, cfg):
    cfg_dir = shared_path('reference', cfg)
    with open(os.path.join(cfg_dir, 'info.json')) as f:
        flags = json.load(f)['flags']
    model = ['--dataset', flags['dataset'], '--light', str(flags['light']), '--ch', str(flags['ch']),
             '--img_size', str(flags['img_size'])]
    phases.run_phase(cli.parse_config(['--phase', 'export', '--format', 'checkpoint', '--float16',
                                      '--checkpoint_dir', os.path.join(cfg_dir, 'checkpoint'),
                                      '--export_dir', str(tmp_path)] + model))
    inputs = np.load(os.path.join(cfg_dir, 'inputs.npy'))
    with Translator(cli.parse_config(['--phase', 'test', '--checkpoint', str(tmp_path)] + model)) as translator:
        for direction, official in (('a2b', 'test_fake_B.npy'), ('b2a', 'test_fake_A.npy')):
            diff = np.abs(translator.translate(direction, inputs)[0] - np.load(os.path.join(cfg_dir, official)))
            assert 0 < diff.max() <= FLOAT16_MAX and np.median(diff) <= FLOAT16_MEDIAN, (diff.max(), np.median(diff))


def run(capsys, *argv):
    rc = main.main(list(argv))
    out, err = capsys.readouterr()
    assert 'Traceback' not in out + err
    return rc, out, err


@pytest.mark.slow
def test_test_phase_and_photo_mode_write_the_same_images_from_the_slim_copy(exported, tmp_path, capsys):
    for split in ('testA', 'testB'):
        os.makedirs(tmp_path / 'data' / 'slim' / split)
        cv2.imwrite(str(tmp_path / 'data' / 'slim' / split / 'x.png'),
                    np.random.default_rng(len(split)).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    photo = str(tmp_path / 'data' / 'slim' / 'testA' / 'x.png')
    written = {}
    for kind in ('full', 'slim'):
        base = ['--checkpoint_dir', exported[kind]] + TINY_MODEL + DATASET
        out = tmp_path / kind
        assert run(capsys, '--phase', 'test', '--dataset_dir', str(tmp_path / 'data'),
                   '--result_dir', str(out / 'test'), *base)[0] == 0
        assert run(capsys, '--phase', 'test', '--input', photo, '--result_dir', str(out / 'photo'), *base)[0] == 0
        written[kind] = {os.path.relpath(p, out): cv2.imread(p) for p in glob.glob(str(out / '**' / '*.png'), recursive=True)}
    assert len(written['full']) >= 5 and written['full'].keys() == written['slim'].keys()
    for name, image in written['full'].items():
        assert np.array_equal(image, written['slim'][name]), name


@pytest.mark.slow
def test_serve_restores_the_directions_the_export_holds(exported):
    from ugatit.apps.serve import load_engine
    for kind, directions in (('slim', ('a2b', 'b2a')), ('half_a2b', ('a2b',))):
        engine, translator = load_engine(tiny_config('--checkpoint_dir', exported[kind], *DATASET))
        try:
            assert engine.directions == directions and translator.step == 5
            images = np.zeros((1, 32, 32, 3), np.uint8)
            assert translator.translate('a2b', images)[0].shape == (1, 32, 32, 3)
        finally:
            engine.worker.close()
            translator.close()


def test_the_missing_direction_of_a_one_direction_export_is_named(exported, tmp_path, capsys):
    photo = str(tmp_path / 'x.png')
    cv2.imwrite(photo, np.zeros((40, 40, 3), np.uint8))
    rc, _, err = run(capsys, '--phase', 'test', '--input', photo, '--direction', 'b2a', '--result_dir',
                     str(tmp_path / 'out'), '--checkpoint_dir', exported['half_a2b'], *TINY_MODEL, *DATASET)
    assert rc == 2 and 'no generator for b2a' in err and '--direction a2b' in err
    assert not os.path.exists(tmp_path / 'out' / 'x.png')


def test_training_from_the_slim_copy_is_refused(exported):
    """What the training phase restores: every variable, the discriminators' included."""
    config = tiny_config('--checkpoint_dir', exported['slim'], *DATASET, phase='train')
    with tf.Graph().as_default(), tf1.Session() as sess:
        build_generators(config.model)
        UGATIT(config.model).discriminator(tf1.placeholder(tf.float32, [1, 32, 32, 3]), scope='discriminator_A')
        with pytest.raises(UserError, match='generators-only export.*train from the full checkpoint'):
            Checkpoint(config, tf1.global_variables()).restore(sess)
        # Control: the full checkpoint restores into the same graph.
        full = tiny_config('--checkpoint_dir', exported['full'], *DATASET, phase='train')
        assert Checkpoint(full, tf1.global_variables()).restore(sess)[1] == 5


def test_a_stored_shape_that_differs_is_named(exported):
    with tf.Graph().as_default(), tf1.Session() as sess:
        wrong = tf1.get_variable('generator_B/conv/conv2d/kernel', [7, 7, 3, 5])
        with pytest.raises(UserError, match=r'generator_B/conv/conv2d/kernel is a float16 of shape \[7, 7, 3, 4\]'):
            restore_cast(sess, prefix_in(exported['half_a2b']), [wrong])
        right = tf1.get_variable('generator_B/conv/conv2d/bias', [4])
        assert restore_cast(sess, prefix_in(exported['half_a2b']), [right])
        assert sess.run(right).dtype == np.float32 and np.any(sess.run(right) != 0)
        assert not restore_cast(sess, prefix_in(exported['slim']), [right])  # same type: left to the Saver


def test_an_existing_export_is_not_overwritten(exported, capsys):
    prefix = prefix_in(exported['slim'])
    before = {p: os.path.getmtime(p) for p in glob.glob(os.path.join(os.path.dirname(prefix), '*'))}
    rc, _, err = run(capsys, *export_flags(exported['full'], exported['slim']))
    assert rc == 2 and 'already holds a checkpoint: nothing was overwritten' in err
    assert {p: os.path.getmtime(p) for p in glob.glob(os.path.join(os.path.dirname(prefix), '*'))} == before


def test_nothing_to_export_is_named_and_leaves_no_folder(tmp_path, capsys):
    rc, _, err = run(capsys, *export_flags(tmp_path / 'none', tmp_path / 'out'))
    assert rc == 2 and 'no checkpoint to export' in err and str(tmp_path / 'none') in err
    assert not os.path.exists(tmp_path / 'out')


def test_a_failed_write_leaves_nothing_behind(exported, tmp_path, monkeypatch):
    import ugatit.infer.slim

    def full_disk(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, 'No space left on device')
    monkeypatch.setattr(ugatit.infer.slim, 'write_checkpoint', full_disk)
    with pytest.raises(UserError, match='could not write the checkpoint.*No space left'):
        export_slim(cli.parse_config(export_flags(exported['full'], tmp_path / 'out')))
    assert not os.path.exists(tmp_path / 'out' / 'UGATIT_light_slim_lsgan_4resblock_3dis_1_1_10_10_1000_sn_smoothing')


@pytest.mark.parametrize('argv', [['--phase', 'test', '--format', 'checkpoint'], ['--phase', 'export', '--float16']])
def test_format_flags_need_the_export_phase(argv, capsys):
    with pytest.raises(SystemExit):
        cli.parse_config(argv)
    assert '--float16 (a float16 generators-only checkpoint) need --phase export' in capsys.readouterr().err


def checkpoint_with_averages(prefix, like):
    """A checkpoint at `prefix` with the variables of the checkpoint `like` plus an average
    (--ema_decay's name) of each generator weight, all random; returns the prefix."""
    specs = [(name, shape, tf.float32) for name, shape in tf.train.list_variables(like)]
    specs += [(average_name(name), shape, dtype) for name, shape, dtype in specs
              if name.startswith('generator_') and '/Adam' not in name]
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    return write_checkpoint(prefix, specs, lambda chunk: [tf.random.uniform(s, -0.1, 0.1, d) for _, s, d in chunk])


@pytest.fixture(scope='module')
def soup_sources(exported, tmp_path_factory):
    """{'raw', 'avg1', 'avg2'}: the module's training checkpoint (no averages) and two random
    ones that hold averaged generator weights."""
    root = tmp_path_factory.mktemp('soup')
    raw = prefix_in(exported['full'])
    return {'raw': raw, 'avg1': checkpoint_with_averages(str(root / 'a' / 'UGATIT_light.model-10'), raw),
            'avg2': checkpoint_with_averages(str(root / 'b' / 'UGATIT_light.model-20'), raw)}


def soup_flags(out, main_prefix, *extra):
    return export_flags('unused', out, '--checkpoint', main_prefix, *extra)


def test_average_with_writes_the_mean_of_the_averaged_weights(soup_sources, tmp_path):
    export_slim(cli.parse_config(soup_flags(tmp_path / 'soup', soup_sources['avg2'], '--average_with',
                                            soup_sources['avg1'])))
    soup = prefix_in(str(tmp_path / 'soup'))
    readers = [tf.train.load_checkpoint(p) for p in (soup_sources['avg1'], soup_sources['avg2'], soup)]
    names = readers[2].get_variable_to_shape_map()
    assert names and all(n.startswith('generator_') for n in names)
    for name in names:  # per tensor: the float32 mean of the two averages
        a, b = (r.get_tensor(average_name(name)) for r in readers[:2])
        assert np.array_equal(readers[2].get_tensor(name), (a + b) / np.float32(2)), name
        # Controls: neither the mean of the raw weights nor the exported checkpoint's alone.
        assert not np.array_equal(readers[2].get_tensor(name), (readers[0].get_tensor(name) + readers[1].get_tensor(name)) / 2)
        assert not np.array_equal(readers[2].get_tensor(name), b)
    assert os.path.basename(soup) == 'UGATIT_light.model-20'  # the exported checkpoint's step
    with open(os.path.join(os.path.dirname(soup), 'ugatit_flags.json')) as f:
        marker = json.load(f)['slim']
    assert marker['weights'] == 'averaged' and marker['averaged_with'] == ['UGATIT_light.model-10']


def test_average_with_raw_weights_when_some_have_no_average(soup_sources, tmp_path, capsys):
    rc, _, err = run(capsys, *soup_flags(tmp_path / 'mixed', soup_sources['avg1'], '--average_with', soup_sources['raw']))
    assert rc == 2 and 'model-5 holds no averaged generator weights' in err and '--raw_weights true' in err
    assert not os.path.exists(tmp_path / 'mixed')
    export_slim(cli.parse_config(soup_flags(tmp_path / 'raw', soup_sources['avg1'], '--average_with', soup_sources['raw'],
                                            '--raw_weights', 'true')))
    readers = [tf.train.load_checkpoint(p) for p in (soup_sources['avg1'], soup_sources['raw'], prefix_in(str(tmp_path / 'raw')))]
    name = 'generator_B/conv/conv2d/kernel'
    assert np.array_equal(readers[2].get_tensor(name), (readers[0].get_tensor(name) + readers[1].get_tensor(name)) / np.float32(2))


@pytest.mark.parametrize('bad, message', [('missing', '--average_with: no checkpoint .*missing.index not found'),
                                          ('itself', '--average_with: .*model-10 is already averaged in')])
def test_average_with_names_a_bad_checkpoint(soup_sources, tmp_path, capsys, bad, message):
    given = str(tmp_path / 'missing') if bad == 'missing' else soup_sources['avg1']
    rc, _, err = run(capsys, *soup_flags(tmp_path / 'out', soup_sources['avg1'], '--average_with', given))
    assert rc == 2 and re.search(message, err), err
    assert not os.path.exists(tmp_path / 'out')


def test_average_with_needs_the_checkpoint_export(capsys):
    with pytest.raises(SystemExit):
        cli.parse_config(['--phase', 'export', '--average_with', 'x'])
    assert '--average_with (the mean of several checkpoints\' generators) needs --phase export --format checkpoint' \
        in capsys.readouterr().err
