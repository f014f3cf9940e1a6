"""The built-in demo dataset: deterministic, well-formed, disjoint splits, paired truth, a real style gap."""

import json
import os

import cv2
import numpy as np
import pytest

from ugatit.assets import demo_data
from ugatit.assets.demo_data import (ALL_FOLDERS, DEFAULT_COUNTS, SPLITS, TRUTH_SPLITS, draw_scenes,
                              ensure_demo_dataset, generate_demo_dataset, render_scene, sample_scene,
                              scene_hash)

SMALL = dict(trainA=10, trainB=10, testA=4, testB=4)
SIZE = 64


def read_rgb(path):
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def all_files(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for folder, _, files in os.walk(str(root)):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, str(root))] = f.read()
    return out


@pytest.fixture(scope='module')
def small_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo') / 'demo'
    info = generate_demo_dataset(str(root), seed=0, counts=SMALL, size=SIZE, progress=False)
    return root, info


def test_same_seed_gives_identical_bytes_and_another_seed_differs(small_demo, tmp_path):
    root, _ = small_demo
    again = tmp_path / 'again'
    generate_demo_dataset(str(again), seed=0, counts=SMALL, size=SIZE, progress=False)
    first, second = all_files(root), all_files(again)
    assert sorted(first) == sorted(second)
    assert first == second

    other = tmp_path / 'other'
    generate_demo_dataset(str(other), seed=1, counts=SMALL, size=SIZE, progress=False)
    third = all_files(other)
    images = [k for k in first if k.endswith('.png')]
    differing = sum(first[k] != third[k] for k in images)
    assert differing == len(images)


def test_layout_names_and_counts(small_demo):
    root, info = small_demo
    for folder in ALL_FOLDERS:
        split = folder.replace('_truth', '')
        expected = ['%04d.png' % i for i in range(SMALL[split])]
        assert sorted(os.listdir(str(root / folder))) == expected
    assert info['seed'] == 0 and info['size'] == SIZE and info['counts'] == SMALL
    with open(str(root / 'demo_info.json')) as f:
        assert json.load(f)['version'] == demo_data.FORMAT_VERSION


def test_images_are_rgb_uint8_of_the_declared_size_and_not_flat(small_demo):
    root, _ = small_demo
    for folder in ALL_FOLDERS:
        for name in sorted(os.listdir(str(root / folder))):
            img = read_rgb(root / folder / name)
            assert img.shape == (SIZE, SIZE, 3) and img.dtype == np.uint8
            assert int(img.max()) - int(img.min()) > 100, (folder, name)
            assert img.std() > 10, (folder, name)


@pytest.mark.parametrize('size', [32, 128, 256])
def test_other_sizes(size):
    scene = sample_scene(np.random.default_rng(5))
    for style in ('A', 'B'):
        img = render_scene(scene, style, size)
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
        assert img.std() > 10


def test_render_is_deterministic_and_style_a_noise_comes_from_the_scene():
    scene = sample_scene(np.random.default_rng(3))
    for style in ('A', 'B'):
        assert np.array_equal(render_scene(scene, style, SIZE), render_scene(scene, style, SIZE))
    reseeded = dict(scene, noise_seed=scene['noise_seed'] + 1)
    assert not np.array_equal(render_scene(scene, 'A', SIZE), render_scene(reseeded, 'A', SIZE))
    assert np.array_equal(render_scene(scene, 'B', SIZE), render_scene(reseeded, 'B', SIZE))
    with pytest.raises(ValueError):
        render_scene(scene, 'C', SIZE)


def test_scenes_are_json_and_hash_canonically():
    scene = sample_scene(np.random.default_rng(7))
    copy = json.loads(json.dumps(scene))
    assert copy == scene
    assert scene_hash(copy) == scene_hash(scene)
    assert scene_hash(dict(reversed(list(scene.items())))) == scene_hash(scene)


def test_splits_never_share_a_scene():
    scenes = draw_scenes(seed=0, counts=DEFAULT_COUNTS)
    hashes = {split: [scene_hash(s) for s in scenes[split]] for split in SPLITS}
    for split in SPLITS:
        assert len(hashes[split]) == DEFAULT_COUNTS[split]
        assert len(set(hashes[split])) == len(hashes[split])
    train = set(hashes['trainA']) | set(hashes['trainB'])
    test = set(hashes['testA']) | set(hashes['testB'])
    assert not set(hashes['trainA']) & set(hashes['trainB'])
    assert not set(hashes['testA']) & set(hashes['testB'])
    assert not train & test


def test_info_records_disjoint_hashes(small_demo):
    _, info = small_demo
    sets = {split: set(info['scene_hashes'][split]) for split in SPLITS}
    assert sum(len(s) for s in sets.values()) == len(set.union(*sets.values())) == sum(SMALL.values())


def test_a_repeated_scene_is_redrawn(monkeypatch):
    real = demo_data.sample_scene
    rng0 = np.random.default_rng(11)
    first = real(rng0)
    calls = []

    def repeating(rng):
        # the first scene over and over for a few draws, then fresh ones
        calls.append(1)
        return dict(first) if len(calls) <= 4 else real(rng)

    monkeypatch.setattr(demo_data, 'sample_scene', repeating)
    scenes = draw_scenes(seed=0, counts=dict(trainA=2, trainB=2, testA=1, testB=1))
    hashes = [scene_hash(s) for split in SPLITS for s in scenes[split]]
    assert len(hashes) == len(set(hashes)) == 6
    assert len(calls) == 6 + 3


def test_truth_is_the_test_scene_rendered_in_the_other_style(small_demo):
    root, info = small_demo
    for split, (truth_folder, truth_style) in TRUTH_SPLITS.items():
        scenes = info['test_scenes'][split]
        assert len(scenes) == SMALL[split]
        assert sorted(os.listdir(str(root / truth_folder))) == sorted(os.listdir(str(root / split)))
        for i, scene in enumerate(scenes):
            name = '%04d.png' % i
            assert scene_hash(scene) == info['scene_hashes'][split][i]
            style = demo_data.SPLIT_STYLE[split]
            assert np.array_equal(read_rgb(root / split / name), render_scene(scene, style, SIZE))
            assert np.array_equal(read_rgb(root / truth_folder / name), render_scene(scene, truth_style, SIZE))


def mean_l1(a, b):
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64)))) / 255.0


def test_style_gap_is_large():
    rng = np.random.default_rng(123)
    scenes = [sample_scene(rng) for _ in range(40)]
    gap = mean_l1(np.stack([render_scene(s, 'A', SIZE) for s in scenes]),
                  np.stack([render_scene(s, 'B', SIZE) for s in scenes]))
    print('style gap: mean L1 between A and B renderings of the same scenes = %.4f' % gap)
    assert gap > 0.25  # observed about 0.40


def test_style_gap_on_the_written_test_split(small_demo):
    root, _ = small_demo
    names = sorted(os.listdir(str(root / 'testA')))
    gap = mean_l1(np.stack([read_rgb(root / 'testA' / n) for n in names]),
                  np.stack([read_rgb(root / 'testA_truth' / n) for n in names]))
    print('testA vs testA_truth mean L1 = %.4f' % gap)
    assert gap > 0.25


def test_ensure_is_idempotent_and_regenerates_when_incomplete(tmp_path):
    root = tmp_path / 'dataset' / 'demo'
    lines = []
    assert ensure_demo_dataset(str(root), log=lines.append, counts=SMALL, progress=False) is True
    assert len(lines) == 1 and 'seed 0' in lines[0] and str(root) in lines[0] and 'deterministic' in lines[0]
    before = all_files(root)
    stamps = {k: os.stat(str(root / k)).st_mtime_ns for k in before}

    assert ensure_demo_dataset(str(root), log=lines.append, counts=SMALL, progress=False) is False
    assert len(lines) == 1
    assert all_files(root) == before
    assert {k: os.stat(str(root / k)).st_mtime_ns for k in before} == stamps

    os.remove(str(root / 'trainB' / '0003.png'))  # an interrupted or damaged dataset is rebuilt
    assert ensure_demo_dataset(str(root), log=lines.append, counts=SMALL, progress=False) is True
    assert all_files(root) == before

    # another size is another dataset: regenerated in place, no stale files left
    assert ensure_demo_dataset(str(root), size=32, log=lines.append, counts=SMALL, progress=False) is True
    assert read_rgb(root / 'trainA' / '0000.png').shape == (32, 32, 3)
    assert ensure_demo_dataset(str(root), size=32, log=lines.append, counts=SMALL, progress=False) is False


def test_ensure_refuses_a_folder_that_is_not_a_demo_dataset(tmp_path):
    root = tmp_path / 'mine'
    (root / 'trainA').mkdir(parents=True)
    photo = root / 'trainA' / '0000.png'
    photo.write_bytes(b'my own photo')
    with pytest.raises(ValueError, match='mine'):
        ensure_demo_dataset(str(root), log=lambda line: None, counts=SMALL, progress=False)
    assert photo.read_bytes() == b'my own photo'
    assert sorted(os.listdir(str(root))) == ['trainA']

    empty = tmp_path / 'empty'
    (empty / 'trainA').mkdir(parents=True)  # empty folders hold no user data
    assert ensure_demo_dataset(str(empty), log=lambda line: None, counts=SMALL, progress=False) is True
