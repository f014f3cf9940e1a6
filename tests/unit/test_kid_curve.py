"""ugatit/benchmarks/kid_curve.py: the scores file of docs/cpu_model.md and the curve drawn from it."""

import numpy as np
import pytest

from ugatit.benchmarks import kid_curve


def test_the_recorded_scores_parse_with_both_directions_per_run():
    runs = kid_curve.read_scores(kid_curve.SCORES)
    assert kid_curve.UNTRANSLATED in runs and len(runs) >= 3
    for run, directions in runs.items():
        assert set(directions) == {'a2b', 'b2a'}, run
        for points in directions.values():
            steps = [step for step, _, _ in points]
            assert len(set(steps)) == len(steps), run  # one score per step and direction
            assert all(0 < kid < 100 and (std is None or std > 0) for _, kid, std in points), run


def test_the_curve_is_drawn_from_the_file_given(tmp_path):
    import cv2
    scores = tmp_path / 'scores.csv'
    scores.write_text('# a comment\nrun,step,direction,kid,std\nr,5000,a2b,40.0,4.0\nr,10000,a2b,30.0,\n'
                      'r,5000,b2a,20.0,\nuntranslated,0,a2b,41.0,5.0\nuntranslated,0,b2a,41.0,3.0\n')
    runs = kid_curve.read_scores(str(scores))
    assert runs['r']['a2b'] == [(5000, 40.0, 4.0), (10000, 30.0, None)]
    out = tmp_path / 'curve.png'
    kid_curve.draw(runs, str(out))
    image = cv2.imread(str(out))
    assert image is not None and image.shape[1] > image.shape[0] and np.std(image) > 10
    headless = tmp_path / 'headless.csv'
    headless.write_text('r,5000,a2b,40.0,4.0\n')
    with pytest.raises(ValueError, match='headless.csv: its first line'):
        kid_curve.read_scores(str(headless))
