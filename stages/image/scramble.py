"""Stage `image-scramble`: colour scrambling and block scrambling, keyed by a secret seed, with their
exact inverses (course Q.7 and Q.13; the block-wise scrambles of encryption-then-compression schemes).

The photo is cut into ``block_size`` × ``block_size`` blocks (rows and columns left over at the
right and bottom edges, narrower than a block, are left as they are: logged). Every random choice comes
from ``numpy.random.default_rng([key, n])`` with a fixed ``n`` per scramble, so the same key and
photo size give the same scramble, and the key is all the inverse needs.

- colour scrambling: each block's three channels are permuted (one of the 6 orders, chosen per
  block) and, with ``negative_positive``, a keyed half of the blocks are inverted (v → 255 − v);
- block scrambling: the blocks change places (a keyed permutation) and, with ``rotate_flip``, each
  block is rotated by a multiple of 90° and possibly mirrored.

The stage checks that ``unscramble(scramble(photo)) == photo`` bit for bit and records it.
"""
from __future__ import annotations

import itertools
import logging

import numpy as np
from tqdm import tqdm

from stages.core.errors import DataError
from stages.core.figures import new_figure, save
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.image import params
from stages.image.images import decoded_images, imwrite, photo_files

log = logging.getLogger(__name__)

CHANNEL_ORDERS = np.array(list(itertools.permutations(range(3))))  # (6, 3)
INVERSE_ORDERS = np.argsort(CHANNEL_ORDERS, axis=1)  # order[inverse] == identity
COLOUR_STREAM, BLOCK_STREAM = 1, 2  # independent random streams of one key


def block_grid(shape: tuple[int, ...], block: int, photo: str = "") -> tuple[int, int]:
    """Blocks per column and per row of an image of ``shape`` (H, W, ...).

    Args:
        shape: the image's shape.
        block: block side in pixels (``image.scramble.block_size``).
        photo: the file the image came from, named in the message.

    Raises:
        DataError: ``block`` is not positive or larger than the image.
    """
    h, w = shape[:2]
    if block < 1 or block > min(h, w):
        where = f"{photo}: " if photo else ""
        raise DataError(f"{where}image.scramble.block_size: {block} does not fit this {w}x{h} photo "
                        f"(1 ≤ block ≤ {min(h, w)}); lower block_size or leave the photo out")
    return h // block, w // block


def to_blocks(img: np.ndarray, block: int) -> np.ndarray:
    """``(H, W, C)`` → ``(nb, block, block, C)``, row-major block order, covered area only (a copy)."""
    gh, gw = block_grid(img.shape, block)
    c = img.shape[2]
    area = img[: gh * block, : gw * block]
    blocks = area.reshape(gh, block, gw, block, c).transpose(0, 2, 1, 3, 4).reshape(gh * gw, block, block, c)
    return blocks.copy() if np.may_share_memory(blocks, img) else blocks  # a view when there is one block


def from_blocks(blocks: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_blocks`: ``like`` with its covered area replaced by ``blocks`` (a copy)."""
    block = blocks.shape[1]
    gh, gw = block_grid(like.shape, block)
    c = like.shape[2]
    out = like.copy()
    out[: gh * block, : gw * block] = blocks.reshape(gh, gw, block, block, c).transpose(0, 2, 1, 3, 4).reshape(gh * block, gw * block, c)
    return out


def _check(img: np.ndarray) -> None:
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise DataError(f"scramble: expected an (H, W, 3) uint8 image, got {img.dtype} {img.shape}")


def colour_keys(n: int, key: int, negative_positive: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per block: index into :data:`CHANNEL_ORDERS` and whether to invert."""
    rng = np.random.default_rng([key, COLOUR_STREAM])
    orders = rng.integers(0, len(CHANNEL_ORDERS), n)
    invert = rng.integers(0, 2, n).astype(bool) if negative_positive else np.zeros(n, bool)
    return orders, invert


def colour_scramble(img: np.ndarray, block: int, key: int, negative_positive: bool) -> np.ndarray:
    """Permute the channels of each block (and invert a keyed half of the blocks). Returns a copy."""
    _check(img)
    blocks = to_blocks(img, block)  # (nb, B, B, 3)
    orders, invert = colour_keys(len(blocks), key, negative_positive)
    out = np.empty_like(blocks)
    for j, order in enumerate(CHANNEL_ORDERS):
        sel = orders == j
        out[sel] = blocks[sel][..., order]
    out[invert] = 255 - out[invert]
    return from_blocks(out, img)


def colour_unscramble(img: np.ndarray, block: int, key: int, negative_positive: bool) -> np.ndarray:
    """Exact inverse of :func:`colour_scramble` with the same block size, key and option."""
    _check(img)
    blocks = to_blocks(img, block)
    orders, invert = colour_keys(len(blocks), key, negative_positive)
    blocks[invert] = 255 - blocks[invert]
    out = np.empty_like(blocks)
    for j, inverse in enumerate(INVERSE_ORDERS):
        sel = orders == j
        out[sel] = blocks[sel][..., inverse]
    return from_blocks(out, img)


def block_keys(n: int, key: int, rotate_flip: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block permutation, quarter turns (0–3) and mirror flags, per output position."""
    rng = np.random.default_rng([key, BLOCK_STREAM])
    perm = rng.permutation(n)
    if rotate_flip:
        return perm, rng.integers(0, 4, n), rng.integers(0, 2, n).astype(bool)
    return perm, np.zeros(n, np.int64), np.zeros(n, bool)


def block_scramble(img: np.ndarray, block: int, key: int, rotate_flip: bool) -> np.ndarray:
    """Move the blocks to keyed positions (and rotate / mirror each). Returns a copy."""
    _check(img)
    blocks = to_blocks(img, block)
    perm, turns, mirror = block_keys(len(blocks), key, rotate_flip)
    out = blocks[perm]  # output position i holds input block perm[i]
    for t in range(1, 4):
        sel = turns == t
        out[sel] = np.rot90(out[sel], t, axes=(1, 2))
    out[mirror] = out[mirror][:, :, ::-1]
    return from_blocks(out, img)


def block_unscramble(img: np.ndarray, block: int, key: int, rotate_flip: bool) -> np.ndarray:
    """Exact inverse of :func:`block_scramble` with the same block size, key and option."""
    _check(img)
    blocks = to_blocks(img, block)
    perm, turns, mirror = block_keys(len(blocks), key, rotate_flip)
    blocks[mirror] = blocks[mirror][:, :, ::-1]
    for t in range(1, 4):
        sel = turns == t
        blocks[sel] = np.rot90(blocks[sel], -t, axes=(1, 2))
    out = np.empty_like(blocks)
    out[perm] = blocks
    return from_blocks(out, img)


def scramble(img: np.ndarray, scramble_params: params.ScrambleParams) -> np.ndarray:
    """Colour scrambling, then block scrambling."""
    return block_scramble(
        colour_scramble(img, scramble_params.block_size, scramble_params.key, scramble_params.negative_positive),
        scramble_params.block_size, scramble_params.key, scramble_params.rotate_flip)


def unscramble(img: np.ndarray, scramble_params: params.ScrambleParams) -> np.ndarray:
    """Exact inverse of :func:`scramble`."""
    return colour_unscramble(block_unscramble(img, scramble_params.block_size, scramble_params.key, scramble_params.rotate_flip),
                             scramble_params.block_size, scramble_params.key, scramble_params.negative_positive)


def scramble_figure(name: str, panels: dict[str, np.ndarray]):
    fig, axes = new_figure(1, len(panels), figsize=(3.2 * len(panels), 2.6))
    for ax, (title, img) in zip(axes, panels.items()):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(name, fontsize=9)
    return fig


def main(stage: Declared) -> None:
    scramble_params = params.load().scramble
    metrics = {}
    with stage.outputs() as out:
        root = out.dir(stage.out("images"))
        files = photo_files(stage.dep("decoded"))
        for name, rgb in tqdm(decoded_images(stage.dep("decoded")), desc="scramble", unit="photo"):
            gh, gw = block_grid(rgb.shape, scramble_params.block_size, photo=files[name])
            left = (rgb.shape[1] - gw * scramble_params.block_size, rgb.shape[0] - gh * scramble_params.block_size)
            if any(left):
                log.warning("%s: %d column(s) and %d row(s) at the right/bottom edge are narrower than a block and stay as they are", name, *left)
            colour = colour_scramble(rgb, scramble_params.block_size, scramble_params.key, scramble_params.negative_positive)
            block = block_scramble(rgb, scramble_params.block_size, scramble_params.key, scramble_params.rotate_flip)
            both = scramble(rgb, scramble_params)
            restored = unscramble(both, scramble_params)
            exact = bool(np.array_equal(restored, rgb))
            if not exact:  # a bug, not bad input: keep the traceback
                raise AssertionError(f"{name}: unscramble(scramble(x)) != x")
            folder = root / name
            folder.mkdir()
            for key, img in {"colour": colour, "block": block, "both": both}.items():
                imwrite(folder / f"{key}.png", img)
            panels = {
                "original": rgb,
                f"colour scrambled ({scramble_params.block_size} px blocks)": colour,
                "block scrambled": block,
                "colour + block": both,
                "unscrambled (bit-exact)": restored,
            }
            save(scramble_figure(name, panels), folder / "scramble.png")
            metrics[name] = {
                "blocks": gh * gw,
                "restored_exact": exact,
                "changed_fraction": round(float((both != rgb).any(axis=2).mean()), 6),
                "mean_abs_change": round(float(np.abs(both.astype(np.int16) - rgb).mean()), 4),
            }
            log.info("%s: %d blocks, restored exactly: %s", name, gh * gw, exact)
        out.json(stage.out("metrics.json"), metrics)


if __name__ == "__main__":
    run_stage(main)
