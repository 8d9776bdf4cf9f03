"""Stage `vit-explain`: what the trained ViT looks at, and what its position embeddings learned.

- Attention Rollout (Abnar & Zuidema, 2020) over test images, one per class first: each block's
  attention (heads averaged, plus the identity for the skip connection, rows renormalised)
  multiplied through the blocks; the class token's row, over the patches, is the map drawn on
  the image. The attention comes from the model's explicit attention path (the same weights as
  the fused one used in training). When `vit-finetune` fine-tuned a pretrained ViT (the course's
  experiment), its rollout over the same images is a third row of the figure.
- The position-embedding similarity map of the book (and the ViT paper): for each patch position,
  the cosine similarity of its learned embedding to every other position's, laid out on the grid.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from stages.core.checkpoint import load_models
from stages.core.figures import new_figure
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.device import setup_torch
from stages.vit import params
from stages.vit.data import load_split, load_summary, prepare_batch
from stages.vit.model import Vit, attention_rollout, build_vit, cls_rollout_map, position_similarity

log = logging.getLogger(__name__)


def pick_images(labels: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` test indices: the first image of each class in turn, then the next of each…"""
    by_class = [np.flatnonzero(labels == c).tolist() for c in np.unique(labels)]
    picked: list[int] = []
    while len(picked) < min(n, len(labels)):
        for idx in by_class:
            if idx and len(picked) < n:
                picked.append(idx.pop(0))
    return np.asarray(picked)


@torch.no_grad()
def rollout_maps(net: Vit, images, pre: dict, residual: float, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes (B,) and the class token's rollout over the patches (B, rows, rows), max 1."""
    net.eval()
    logits, maps = net.forward_with_attention(prepare_batch(torch.as_tensor(images).to(device), pre))
    return logits.argmax(1).cpu(), cls_rollout_map(attention_rollout(maps, residual), net.cfg.num_patch_row).cpu()


def show(img: np.ndarray) -> np.ndarray:
    """(C, S, S) uint8 → what imshow takes: (S, S) or (S, S, 3)."""
    return img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)


def rollout_figure(images: np.ndarray, labels, rows: dict[str, tuple[np.ndarray, torch.Tensor]], classes: list[str]):
    """The images, then one row per network: its rollout over each image, titled with its prediction.

    Args:
        rows: row label → (predicted classes (B,), rollout maps (B, r, r)).
    """
    n, side = len(images), images.shape[-1]
    fig, axes = new_figure(1 + len(rows), n, figsize=(1.3 * n, 0.6 + 1.35 * (1 + len(rows))), squeeze=False)
    for i in range(n):
        axes[0][i].imshow(show(images[i]), cmap="gray")
        axes[0][i].set_title(classes[labels[i]], fontsize=7)
        axes[0][i].axis("off")
    axes[0][0].text(-0.1, 0.5, "true", transform=axes[0][0].transAxes, rotation=90, va="center", ha="right", fontsize=7)
    for r, (name, (predicted, maps)) in enumerate(rows.items(), start=1):
        heat = F.interpolate(maps[:, None], size=(side, side), mode="bilinear", align_corners=False)[:, 0].numpy()
        for i in range(n):
            ax = axes[r][i]
            ax.imshow(show(images[i]), cmap="gray")
            ax.imshow(heat[i], cmap="jet", alpha=0.5, vmin=0, vmax=1)
            ax.set_title(f"→{classes[predicted[i]]}", fontsize=7, color="black" if labels[i] == predicted[i] else "red")
            ax.axis("off")
        axes[r][0].text(-0.1, 0.5, f"{name} rollout", transform=axes[r][0].transAxes, rotation=90, va="center", ha="right",
                        fontsize=7)
    fig.tight_layout()
    return fig


def similarity_figure(sim: torch.Tensor, rows: int):
    """A rows x rows grid; cell (r, c) shows position (r, c)'s similarity to every position."""
    grid = sim.reshape(rows, rows, rows, rows).numpy()
    fig, axes = new_figure(rows, rows, figsize=(min(8, 0.6 * rows + 1.5), min(8, 0.6 * rows + 1.2)), squeeze=False)
    for r in range(rows):
        for c in range(rows):
            im = axes[r][c].imshow(grid[r, c], cmap="viridis", vmin=-1, vmax=1)
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
    fig.suptitle("position embedding: cosine similarity", fontsize=9)
    fig.colorbar(im, ax=axes, fraction=0.03)
    return fig


def main(stage: Declared) -> None:
    explain_params, common = params.load().explain, load_common()
    device = setup_torch(common.seed, common.device)
    summary = load_summary(stage.dep("summary.json"))
    images, labels = load_split(stage.dep("test.npz"))
    (net,), ckpt = load_models(stage.dep("model.pt"), "vit", build_vit, ("net",), device)
    pick = pick_images(labels, explain_params.images)
    predicted, maps = rollout_maps(net, images[pick], ckpt["model_args"]["preprocess"], explain_params.residual, device)
    rows = {"ViT": (predicted.numpy(), maps)}
    arrays = {"index": pick, "labels": labels[pick], "predicted": predicted.numpy(), "rollout": maps.numpy()}
    finetuned = stage.dep("finetune") / "model.pt"
    if finetuned.exists():
        (tuned,), tuned_ckpt = load_models(finetuned, "vit", build_vit, ("net",), device)
        tuned_pred, tuned_maps = rollout_maps(tuned, images[pick], tuned_ckpt["model_args"]["preprocess"],
                                              explain_params.residual, device)
        rows["fine-tuned"] = (tuned_pred.numpy(), tuned_maps)
        arrays.update(finetune_predicted=tuned_pred.numpy(), finetune_rollout=tuned_maps.numpy())
    sim = position_similarity(net.input_layer.pos_emb).cpu()
    with stage.outputs() as out:
        out.npz(stage.out("rollout.npz"), **arrays, position_similarity=sim.numpy())
        out.figure(stage.out("rollout.png"), rollout_figure(images[pick], labels[pick], rows, summary["classes"]))
        out.figure(stage.out("position_similarity.png"), similarity_figure(sim, net.cfg.num_patch_row))
    log.info("attention rollout of %d test images by %s; position similarity of %d positions", len(pick),
             " and ".join(rows), sim.shape[0])


if __name__ == "__main__":
    run_stage(main)
