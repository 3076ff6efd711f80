import numpy as np
import pytest

from pose_core.layouts import AIC14, COCO17, CROWDPOSE14, LAYOUTS, MPII16, OPENPOSE18, get_layout


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_flip_permutation_is_an_involution_pairing_left_with_right(layout):
    perm = layout.flip_permutation
    assert (perm[perm] == np.arange(layout.num_keypoints)).all()
    for i, j in layout.flip_pairs:
        a, b = layout.keypoints[i], layout.keypoints[j]
        assert {a.split("_", 1)[0], b.split("_", 1)[0]} == {"left", "right"}
        assert a.split("_", 1)[1] == b.split("_", 1)[1]
    # Every left_/right_ keypoint has its mirror in all five layouts.
    sided = [k for k in layout.keypoints if k.startswith(("left_", "right_"))]
    assert len(layout.flip_pairs) * 2 == len(sided)


def test_layout_sizes_match_their_datasets():
    assert [l.num_keypoints for l in (COCO17, OPENPOSE18, AIC14, MPII16, CROWDPOSE14)] == [17, 18, 14, 16, 14]


def test_openpose_paf_table_uses_every_paf_channel_once():
    channels = sorted(c for _, pair in OPENPOSE18.paf_limbs for c in pair)
    assert channels == list(range(38))
    assert len(OPENPOSE18.paf_limbs) == 19


def test_conversion_to_coco17_keeps_named_points_and_zeroes_missing():
    kp = np.arange(18 * 3, dtype=np.float32).reshape(18, 3) + 1
    coco = OPENPOSE18.convert(kp, COCO17)
    assert coco.shape == (17, 3)
    assert (coco[COCO17.index("left_wrist")] == kp[OPENPOSE18.index("left_wrist")]).all()
    aic = AIC14.convert(np.ones((14, 3), np.float32), COCO17)
    assert (aic[COCO17.index("nose")] == 0).all()          # AIC has no nose
    assert (AIC14.to_coco17() >= 0).sum() == 12


def test_unknown_layout_names_the_known_ones():
    with pytest.raises(KeyError, match="coco17"):
        get_layout("body25")
