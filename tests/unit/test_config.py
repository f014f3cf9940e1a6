"""The frozen Config: built once from the flags, presets, the flags file beside a checkpoint."""

import dataclasses
import json

import pytest

from ugatit.config import (FLAGS_FILE, Config, ModelConfig, apply_preset, merge_saved_flags,
                           read_flags_file, write_flags_file)


def test_config_is_split_by_use_and_frozen():
    config = Config.from_flags({'phase': 'test', 'light': True, 'ch': 8, 'lr': 0.5, 'dataset': 'x',
                                'batch_size': 3, 'direction': 'b2a', 'unknown_flag': 1})
    assert (config.phase, config.model.light, config.model.ch) == ('test', True, 8)
    assert (config.train.lr, config.paths.dataset, config.runtime.batch_size, config.photo.direction) == (0.5, 'x', 3, 'b2a')
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model.ch = 16
    assert config.model_dir == 'UGATIT_light_x_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing'
    assert config.model.model_name == 'UGATIT_light' and ModelConfig().model_name == 'UGATIT'


def test_preset_fills_only_what_was_not_given():
    values = {'dataset': 'demo', 'ch': 64, 'light': False, 'epoch': 100}
    assert apply_preset(values, explicit={'ch'}) == dict(values, light=True, img_size=64, n_dis=4, epoch=6,
                                                         iteration=250, decay_epoch=3, print_freq=250, save_freq=250)
    assert apply_preset({'dataset': 'other', 'ch': 64}, explicit=set()) == {'dataset': 'other', 'ch': 64}


def test_flags_file_round_trip_and_merge(tmp_path):
    trained = Config().replace_model(light=True, ch=4, img_size=32)
    path = write_flags_file(str(tmp_path), trained)
    assert path == str(tmp_path / FLAGS_FILE)
    assert json.load(open(path))['model_dir'] == trained.model_dir
    saved, unknown = read_flags_file(str(tmp_path))
    assert saved == dataclasses.asdict(trained.model) and unknown == []

    merged, lines = merge_saved_flags(Config(), saved, explicit=set(), source=path)
    assert merged.model == trained.model
    assert lines == [' [*] Architecture flags from %s: --light True --ch 4 --img_size 32' % path]
    # A flag given with the saved value is no conflict; one given with another value is.
    assert merge_saved_flags(trained, saved, explicit={'ch'}, source=path) == (trained, [])
    with pytest.raises(ValueError, match='--ch 64 was given, but the checkpoint was trained with --ch 4'):
        merge_saved_flags(Config(), saved, explicit={'ch'}, source=path)


def test_no_flags_file_and_a_foreign_one(tmp_path):
    assert read_flags_file(str(tmp_path)) == (None, [])  # official checkpoints: shapes decide
    (tmp_path / FLAGS_FILE).write_text(json.dumps({'model': {'ch': 4}}))
    with pytest.raises(ValueError, match='is not a valid flags file'):
        read_flags_file(str(tmp_path))


def test_keys_of_a_flags_file_this_version_does_not_know_are_named(tmp_path, capsys):
    from ugatit.cli.phases import with_saved_flags
    trained = Config().replace_model(light=True, ch=4, img_size=32)
    folder = tmp_path / trained.model_dir
    folder.mkdir()
    path = write_flags_file(str(folder), trained, extra={'future_key': 1})
    data = json.load(open(path))
    data['model']['new_knob'] = 3
    (folder / FLAGS_FILE).write_text(json.dumps(data))
    assert read_flags_file(str(folder))[1] == ['future_key', 'model.new_knob']
    config = Config.from_flags({'checkpoint_dir': str(tmp_path), 'light': True, 'ch': 4, 'img_size': 32})
    assert with_saved_flags(config).model == trained.model  # the run goes on
    assert capsys.readouterr().out.splitlines() == [
        ' [!] %s has keys this version does not know, ignored: future_key, model.new_knob' % path]


def test_the_dataset_of_a_checkpoint_folder_name():
    from ugatit.config import dataset_of_model_dir
    config = Config.from_flags({'dataset': 'my_photos_2', 'light': True, 'gan_type': 'gan'})
    assert dataset_of_model_dir(config.model_dir) == 'my_photos_2'
    assert dataset_of_model_dir('UGATIT_selfie2anime_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing') == 'selfie2anime'
    assert dataset_of_model_dir('notes') is None and dataset_of_model_dir('UGATIT_x') is None


@pytest.mark.parametrize('changes,named', [
    ({'ch': 'thirty-two'}, ['key model.ch is "thirty-two", not an integer']),
    ({'ch': None, 'img_size': 4}, ['key model.ch is null, not an integer', 'key model.img_size must be at least 8']),
    ({'light': 'yes'}, ['key model.light is "yes", not true or false']),
    ({'n_res': 2.5}, ['key model.n_res is 2.5, not an integer']),
    ({'n_dis': True}, ['key model.n_dis is true, not an integer']),
    ({'img_size': 66}, ['key model.img_size must be a multiple of 4']),
])
def test_a_flags_file_value_of_the_wrong_type_or_range_names_the_file_and_the_key(tmp_path, changes, named):
    """Refused when read, with the checks of the command line: a TensorFlow error later otherwise."""
    from ugatit.cli.phases import with_saved_flags
    from ugatit.errors import UserError
    trained = Config().replace_model(light=True, ch=4, img_size=32)
    folder = tmp_path / trained.model_dir
    folder.mkdir()
    path = write_flags_file(str(folder), trained)
    data = json.load(open(path))
    data['model'].update(changes)
    (folder / FLAGS_FILE).write_text(json.dumps(data))
    with pytest.raises(UserError) as caught:
        with_saved_flags(Config.from_flags({'checkpoint_dir': str(tmp_path), 'light': True}))
    message = str(caught.value)
    assert message.startswith('%s is not a valid flags file' % path)
    assert all(text in message for text in named), message
