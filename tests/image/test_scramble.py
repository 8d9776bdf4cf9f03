"""Colour and block scrambling: keyed, and exactly invertible."""
from __future__ import annotations

import numpy as np
import pytest

from stages.core.errors import DataError
from stages.image.params import ScrambleParams
from stages.image.scramble import (
    block_grid,
    block_scramble,
    block_unscramble,
    colour_scramble,
    colour_unscramble,
    from_blocks,
    scramble,
    to_blocks,
    unscramble,
)


@pytest.mark.parametrize("block", [1, 4, 7, 16, 37])
@pytest.mark.parametrize("options", [(True, True), (False, False), (True, False), (False, True)])
def test_inverse_is_bit_exact(rgb, block, options):
    p = ScrambleParams(key=123, block_size=block, negative_positive=options[0], rotate_flip=options[1])
    scrambled = scramble(rgb, p)
    assert scrambled.dtype == np.uint8 and scrambled.shape == rgb.shape
    restored = unscramble(scrambled, p)
    assert restored.dtype == rgb.dtype and np.array_equal(restored, rgb)  # bit for bit
    assert restored.tobytes() == rgb.tobytes()


def test_each_scramble_inverts_alone(rgb):
    before = rgb.copy()
    c = colour_scramble(rgb, 8, 5, True)
    b = block_scramble(rgb, 8, 5, True)
    assert np.array_equal(colour_unscramble(c, 8, 5, True), rgb)
    assert np.array_equal(block_unscramble(b, 8, 5, True), rgb)
    assert np.array_equal(rgb, before)  # inputs not modified


def test_scramble_changes_the_image_and_depends_on_the_key(rgb):
    p1 = ScrambleParams(key=1, block_size=4, negative_positive=True, rotate_flip=True)
    p2 = p1.model_copy(update={"key": 2})
    s1, s2 = scramble(rgb, p1), scramble(rgb, p2)
    assert not np.array_equal(s1, rgb) and not np.array_equal(s1, s2)
    assert np.array_equal(s1, scramble(rgb, p1))  # deterministic for a key
    assert not np.array_equal(unscramble(s1, p2), rgb)  # the wrong key does not restore it


def test_edge_pixels_outside_full_blocks_are_untouched(rgb):
    out = block_scramble(rgb, 16, 9, True)  # 37×53: 2×3 blocks cover 32×48
    assert np.array_equal(out[32:], rgb[32:]) and np.array_equal(out[:, 48:], rgb[:, 48:])


def test_blocks_round_trip(rgb):
    blocks = to_blocks(rgb, 5)
    assert blocks.shape == ((37 // 5) * (53 // 5), 5, 5, 3)
    assert np.array_equal(from_blocks(blocks, rgb), rgb)


def test_block_larger_than_image_is_refused(rgb):
    with pytest.raises(DataError, match="block_size"):
        colour_scramble(rgb, 64, 1, True)


def test_gray_image_is_refused(rgb):
    with pytest.raises(DataError, match=r"\(H, W, 3\) uint8"):
        block_scramble(rgb[:, :, 0], 4, 1, True)


def test_block_larger_than_the_photo_names_the_photo_and_the_param():
    with pytest.raises(DataError, match=r"^photos/one_pixel\.png: image\.scramble\.block_size: 16 does not fit this 1x1 photo"):
        block_grid((1, 1, 3), 16, photo="photos/one_pixel.png")
