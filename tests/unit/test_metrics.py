"""KID and FID against an independent NumPy implementation and against their known properties."""

import itertools
import math

import numpy as np
import pytest

from ugatit.errors import UserError
from ugatit.eval.metrics import fid, format_table, html_section, kid, kid_blocks, mean_kid, score_features


def reference_mmd2(r, f):
    """Unbiased MMD^2 with k(x, y) = (x.y/d + 1)^3, pair by pair (no matrix shortcuts)."""
    d = r.shape[1]
    k = lambda x, y: (float(np.dot(x, y)) / d + 1.0) ** 3  # noqa: E731
    same_r = [k(r[i], r[j]) for i, j in itertools.permutations(range(len(r)), 2)]
    same_f = [k(f[i], f[j]) for i, j in itertools.permutations(range(len(f)), 2)]
    cross = [k(x, y) for x in r for y in f]
    return np.mean(same_r) + np.mean(same_f) - 2.0 * np.mean(cross)


def reference_fid(r, f):
    """FID with the trace of sqrt(S_r S_f) from the (real, non-negative) eigenvalues of the product itself."""
    s_r, s_f = np.cov(r.T, ddof=1), np.cov(f.T, ddof=1)
    eig = np.linalg.eigvals(s_r.dot(s_f))
    trace_sqrt = np.sum(np.sqrt(np.clip(eig.real, 0, None)))
    return np.sum((r.mean(0) - f.mean(0)) ** 2) + np.trace(s_r) + np.trace(s_f) - 2 * trace_sqrt


def features(n, d=16, shift=0.0, seed=0):
    return np.random.RandomState(seed).normal(shift, 1.0, (n, d))


def test_kid_equals_the_pairwise_block_estimate_with_tfgan_blocks():
    real, fake = features(25, seed=1), features(37, seed=2) + 0.3
    # TF-GAN's split for max(25, 37) = 37 and blocks of at most 10: 4 blocks; 25 -> 6, 6, 6, 7 and
    # 37 -> 9, 9, 9, 10 (the larger blocks last), written out by hand.
    r_edges, f_edges = [0, 6, 12, 18, 25], [0, 9, 18, 27, 37]
    blocks = [reference_mmd2(real[r_edges[i]:r_edges[i + 1]], fake[f_edges[i]:f_edges[i + 1]]) for i in range(4)]
    expected_mean = sum(blocks) / 4
    expected_std = math.sqrt(sum((b - expected_mean) ** 2 for b in blocks) / 3 / 4)
    mean, std, n_blocks = kid(real, fake)
    # Both sum a few hundred float64 terms of size ~10: rounding is ~1e-13; 1e-6 is the bound.
    assert n_blocks == 4
    assert mean == pytest.approx(expected_mean, abs=1e-6, rel=1e-6)
    assert std == pytest.approx(expected_std, abs=1e-6, rel=1e-6)
    # Negative control: the same estimate with the blocks split the other way (larger first) differs.
    numpy_split = [reference_mmd2(r, f) for r, f in zip(np.array_split(real, 4), np.array_split(fake, 4))]
    assert abs(np.mean(numpy_split) - mean) > 1e-4


def test_kid_blocks_follow_tfgan():
    blocks = kid_blocks(100, 100)
    assert len(blocks) == 10
    assert [b[0] for b in blocks] == [(10 * i, 10 * i + 10) for i in range(10)]
    blocks = kid_blocks(100, 37)      # 10 blocks: the fakes are 3 per block, the last 7 blocks 4
    assert [f1 - f0 for _, (f0, f1) in blocks] == [3, 3, 3] + [4] * 7


@pytest.mark.parametrize('n_real, n_fake', [(9, 100), (100, 9), (100, 15), (0, 0)])
def test_too_few_images_for_the_blocks_is_a_clear_error(n_real, n_fake):
    with pytest.raises(UserError, match='KID'):
        kid(features(n_real), features(n_fake))


def test_one_block_has_no_standard_error():
    mean, std, n_blocks = kid(features(10, seed=1), features(10, seed=2))
    assert n_blocks == 1 and std is None
    assert mean == pytest.approx(reference_mmd2(features(10, seed=1), features(10, seed=2)), abs=1e-6)


def test_two_samples_of_one_distribution_give_kid_near_zero_and_a_shift_gives_more():
    real = features(100, seed=3)
    same_mean, same_std, _ = kid(real, features(100, seed=4))
    shifted_mean, shifted_std, _ = kid(real, features(100, shift=0.5, seed=4))
    assert abs(same_mean) < 3 * same_std
    assert shifted_mean > same_mean + 3 * shifted_std


@pytest.mark.parametrize('n, d', [(50, 8), (30, 8), (20, 64), (12, 40)])
def test_fid_equals_the_eigenvalues_of_the_covariance_product(n, d):
    # More images than features: fid() takes symmetric eigen-decompositions of d x d matrices;
    # fewer: the singular values of an n x m matrix. The reference takes the eigenvalues of the
    # d x d product itself. Rounding: ~1e-13 relative for the full-rank cases; for the singular
    # ones the reference's zero eigenvalues come out as +-1e-15, whose square roots add about
    # 2e-8 relative (measured), still well within the 1e-6.
    real, fake = features(n, d, seed=5), 1.5 * features(n + 7, d, shift=0.2, seed=6)
    assert fid(real, fake) == pytest.approx(reference_fid(real, fake), rel=1e-6)
    # Negative control: another fake set gives another number.
    assert abs(fid(real, fake) - fid(real, fake * 1.01)) > 1e-4


@pytest.mark.parametrize('d', [32, 64])
def test_fid_of_a_pure_mean_shift_is_the_squared_shift(d):
    real = features(40, d=d, seed=7)      # d = 64: fewer images than dimensions, singular covariances
    shift = np.linspace(-1, 1, d)
    assert fid(real, real) == pytest.approx(0.0, abs=1e-6)
    assert fid(real, real + shift) == pytest.approx(np.sum(shift ** 2), abs=1e-6)


def test_fid_needs_two_images():
    with pytest.raises(UserError, match='FID'):
        fid(features(1), features(5))


def test_score_table_and_html_report_the_paper_scale():
    result = score_features(features(20, seed=8), features(20, shift=1.0, seed=9))
    mean, std, _ = kid(features(20, seed=8), features(20, shift=1.0, seed=9))
    assert result['kid_x100'] == pytest.approx(100 * mean) and result['kid_std_x100'] == pytest.approx(100 * std)
    table = format_table({'A -> B': result})
    assert 'A -> B' in table and ('%.2f ± %.2f' % (100 * mean, 100 * std)) in table
    html = html_section({'<A>': result})
    assert '&lt;A&gt;' in html and '<A>' not in html and ('%.2f' % result['fid']) in html


def test_mean_kid_weights_the_source_domain_as_the_authors_code():
    target = {'kid_x100': 2.0, 'kid_std_x100': 0.4}
    source = {'kid_x100': 20.0, 'kid_std_x100': 1.0}
    mean, std = mean_kid(target, source)
    assert mean == pytest.approx((0.02 * 2.0 + 0.98 * 20.0) / 2) and std == pytest.approx((0.02 * 0.4 + 0.98) / 2)
    assert mean_kid(target, dict(source, kid_std_x100=None))[1] is None
