"""ugatit/benchmarks/relative_kid.py: the paired (block-by-block) comparison of two fake sets.

Features here are random vectors: the estimator is numpy only (the network needs the KID tool's
own environment and is not run)."""

import numpy as np
import pytest

from ugatit.benchmarks import relative_kid as rk

DIM = 16


def _sets(seed=0, n=100):
    """Like two translations of the same inputs: real ~ N(0, 1); baseline ~ N(0.5, 1), one
    vector per input; closer: each baseline vector moved 0.25 towards the real mean; control:
    each baseline vector with noise of its own (as far from the real set, not closer)."""
    rng = np.random.default_rng(seed)
    real, baseline = rng.normal(0.0, 1.0, (n, DIM)), rng.normal(0.5, 1.0, (n, DIM))
    return {'real': real, 'baseline': baseline, 'closer': baseline - 0.25,
            'control': baseline + rng.normal(0.0, 0.2, (n, DIM))}


def test_the_paired_difference_is_block_by_block_the_difference_of_the_two_scores():
    s = _sets()
    paired = rk.paired_blocks(s['real'], s['closer'], s['baseline'], block=10, seed=3)
    expected = rk.kid_blocks(s['real'], s['closer'], 10, 3) - rk.kid_blocks(s['real'], s['baseline'], 10, 3)
    np.testing.assert_array_equal(paired, expected)
    assert not np.any(rk.paired_blocks(s['real'], s['baseline'], s['baseline'], 10, 3))  # a set against itself: 0


def test_both_sets_are_shuffled_alike_so_one_changed_image_changes_one_block():
    s = _sets()
    changed = s['baseline'].copy()
    changed[37] += 3.0
    paired = rk.paired_blocks(s['real'], changed, s['baseline'], block=10, seed=5)
    assert np.count_nonzero(paired) == 1 and paired.max() > 0


def test_a_closer_set_is_lower_in_every_shuffle_and_an_equal_one_is_not():
    s = _sets()
    closer = rk.paired_summary(s['real'], s['closer'], s['baseline'], block=10, seed=0, partitions=20)
    control = rk.paired_summary(s['real'], s['control'], s['baseline'], block=10, seed=0, partitions=20)
    assert closer['lower_partitions'] == 20 and closer['lower_blocks'] >= 8 and closer['mean_x100'] < 0
    # The negative control: an equally distant set differs by much less than the closer one.
    assert abs(control['mean_x100']) < 0.25 * abs(closer['mean_x100'])
    assert closer['blocks_x100'] == [v * 100 for v in rk.paired_blocks(s['real'], s['closer'], s['baseline'])]


def test_unpaired_sets_are_refused(tmp_path):
    s = _sets()
    with pytest.raises(ValueError, match='as many fake images as baseline images: 100 and 90'):
        rk.paired_blocks(s['real'], s['closer'], s['baseline'][:90])
    fake, baseline = tmp_path / 'fake', tmp_path / 'baseline'
    for folder, names in ((fake, ('a.png', 'b.png')), (baseline, ('a.png', 'c.png'))):
        folder.mkdir()
        for name in names:
            (folder / name).write_bytes(b'')
    with pytest.raises(ValueError, match=r"the same image names .* e\.g\. \['b.png', 'c.png'\]"):
        rk.relative_kid([], str(fake), baseline_dir=str(baseline))
    with pytest.raises(ValueError, match='needs a seed, not the file order'):
        rk.relative_kid([], str(fake), seed=None, baseline_dir=str(fake))


@pytest.mark.parametrize('argv, message', [
    (['--baseline', 'b', '--file-order'], 'cannot be used with --file-order'),
    (['--baseline', 'b', '--partitions', '0'], '--partitions must be at least 1'),
])
def test_bad_paired_flags_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        rk.main(['--real', 'r', '--fake', 'f'] + argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
