"""Stage `transfer-explain`: where the fine-tuned model looks (Grad-CAM), and the backbone's own guess.

Grad-CAM (Selvaraju et al. 2017, course 004) with captum's ``LayerGradCam`` on the last convolution
of the fine-tuned model: the gradients of the predicted class's score, averaged per channel, weight
that layer's maps; the positive part, upsampled to the image, is the heatmap. The figure shows
``transfer.explain.per_kind`` correct and as many wrong validation predictions (spread over the
validation set), each with its true and predicted class and the predicted probability.

As the course does with ImageNet's VGG16, the *pretrained* backbone (its original head) also
predicts the first validation image, named with its own classes: ImageNet's categories from
torchvision's weights metadata for published weights, the source digits for the offline backbone.
Both go to ``predictions.json``.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from stages.core.classify import predict
from stages.core.figures import new_figure
from stages.core.io import read_json
from stages.core.params import load_common
from stages.core.runtime import resolve_device, run_stage
from stages.core.stage import Declared
from stages.core.weights import load_pretrained
from stages.transfer import params
from stages.transfer.images import load_split, make_transforms, stack
from stages.transfer.nets import build, feature_layer
from stages.transfer.training import load_classifier

log = logging.getLogger(__name__)

TOP_K = 5


def gradcam(net: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Grad-CAM heatmaps of ``targets`` for images ``x`` (N, 3, H, W): (N, H, W) in [0, 1] (each image's max is 1)."""
    from captum.attr import LayerAttribution, LayerGradCam

    for m in net.modules():  # an in-place ReLU would overwrite the hooked layer's output before its gradient is taken
        if isinstance(m, nn.ReLU):
            m.inplace = False
    cam = LayerGradCam(net, feature_layer(net))
    attr = cam.attribute(x.clone().requires_grad_(True), target=targets, relu_attributions=True)  # (N, 1, h, w)
    up = LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), interpolate_mode="bilinear")[:, 0].detach()  # (N, H, W)
    peak = up.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    return (up / peak).clamp(0, 1)


def pick(mask: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` indices where ``mask`` holds, evenly spread over them (every class, not just the first)."""
    where = np.flatnonzero(mask)
    if len(where) <= n:
        return where
    return where[np.linspace(0, len(where) - 1, n).round().astype(int)]


def unnormalise(x: torch.Tensor, mean, std) -> np.ndarray:
    """(3, H, W) normalised → (H, W, 3) in [0, 1] for display."""
    img = x * torch.tensor(std)[:, None, None] + torch.tensor(mean)[:, None, None]
    return img.clamp(0, 1).permute(1, 2, 0).numpy()


def gradcam_figure(rows: list[tuple[str, list[dict]]], per_kind: int):
    fig, axes = new_figure(len(rows), per_kind, figsize=(1.9 * per_kind, 2.2 * len(rows)), squeeze=False)
    for r, (title, items) in enumerate(rows):
        for c in range(per_kind):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(items):
                it = items[c]
                ax.imshow(it["image"])
                ax.imshow(it["cam"], cmap="jet", alpha=0.45, vmin=0, vmax=1)
                label = f"{it['actual']} → {it['predicted']} ({it['prob']:.2f})"
                ax.set_title(f"{title}: {label}" if c == 0 else label, fontsize=7,
                             color="green" if it["actual"] == it["predicted"] else "red")
        if not items:
            axes[r][0].set_title(f"{title}: none", fontsize=7)
    fig.tight_layout()
    return fig


def backbone_guess(transfer_params: params.TransferParams, x: torch.Tensor, weights, meta, device) -> list[list]:
    """The pretrained backbone's top classes for one image (N=1), named by its own head's classes."""
    info = read_json(meta)
    net = build({**transfer_params.model.model_dump(), "num_classes": info["num_classes"]})
    load_pretrained(net, weights, sha256=info["sha256"])  # checksum, then keys and shapes
    net.to(device).eval()
    prob = predict(net, x, device, probabilities=True)[0]
    top = prob.topk(min(TOP_K, len(prob)))
    return [[info["classes"][i], float(v)] for v, i in zip(top.values.tolist(), top.indices.tolist())]


def main(stage: Declared) -> None:
    transfer_params, common = params.load(), load_common()
    device = torch.device(resolve_device(common.device))
    images, labels, names, classes = load_split(stage.dep("target"), "val")
    x, y = stack(images, make_transforms(transfer_params.transform)[1]), np.array(labels)
    net, _ = load_classifier(stage.dep("finetune/model.pt"), device)
    prob = predict(net, x, device, probabilities=True)  # (N, classes)
    predicted = prob.argmax(1).numpy()
    rows, chosen = [], []
    for title, mask in (("correct", predicted == y), ("wrong", predicted != y)):
        idx = pick(mask, transfer_params.explain.per_kind)
        cams = gradcam(net, x[idx].to(device), torch.as_tensor(predicted[idx]).to(device)).cpu() if len(idx) else []
        items = []
        for j, i in enumerate(idx):
            entry = {"image": names[i], "actual": classes[y[i]], "predicted": classes[predicted[i]], "prob": float(prob[i, predicted[i]])}
            chosen.append(entry)
            items.append({**entry, "image": unnormalise(x[i], transfer_params.transform.mean, transfer_params.transform.std),
                          "cam": cams[j].numpy()})
        rows.append((title, items))
    guess = backbone_guess(transfer_params, x[:1], stage.dep("backbone.pth"), stage.dep("backbone.json"), device)
    with stage.outputs() as out:
        out.figure(stage.out("gradcam.png"), gradcam_figure(rows, transfer_params.explain.per_kind))
        out.json(stage.out("predictions.json"), {
            "gradcam": chosen, "wrong_total": int((predicted != y).sum()), "n_val": len(y),
            "backbone": {"image": names[0], "actual": classes[y[0]], "top": guess}})
    log.info("Grad-CAM over %d correct and %d wrong predictions; the backbone calls %s: %s", len(rows[0][1]),
             len(rows[1][1]), names[0], ", ".join(f"{c} {v:.2f}" for c, v in guess))


if __name__ == "__main__":
    run_stage(main)
