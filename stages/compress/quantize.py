"""Stage `compress-quantize`: the teacher in int8, after training (PTQ) and trained for it (QAT).

- ``ptq``: post-training static quantisation: (conv, BN, ReLU) runs fused, activation ranges observed
  on the first ``calibration_images`` training images, weights int8 per channel, activations uint8;
- ``qat_seed<s>``: quantisation-aware training: the fused teacher with fake quantisation inserted,
  fine-tuned (``compress.quantize.qat``, ``seeds`` times side by side), then converted the same way.

``backend`` is the quantised engine the int8 kernels run on; one this torch build cannot run on this
CPU is one error line naming it and those it can. The int8 models are written as state dicts in one
checkpoint (kind ``compress-int8``) that :func:`stages.compress.quantization.int8_model` reads back.
"""
from __future__ import annotations

import logging

from stages.compress import params
from stages.compress.images import load_split, read_summary
from stages.compress.nets import load_checkpoint_args, load_net
from stages.compress.quantization import INT8_KIND, check_backend, convert_qat, prepare_qat, quantize_static
from stages.core.side_by_side import Run, cross_entropy, seed_names, side_by_side_parts
from stages.core.checkpoint import save_checkpoint
from stages.core.errors import ParamsError
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import TrainingRun, output_checkpoint

log = logging.getLogger(__name__)


def main(stage: Declared) -> None:
    import copy

    p = params.load().quantize
    try:
        backend = check_backend(p.backend)
    except ValueError as exc:
        raise ParamsError(f"params.yaml: compress.quantize.backend: {exc}") from None
    run = TrainingRun(stage, p.qat, kind=INT8_KIND)
    summary = read_summary(stage.dep("summary.json"))
    x, y = load_split(stage.dep("train.npz"), summary)
    teacher_path = stage.dep("teacher/model.pt")
    teacher, args = load_net(teacher_path), load_checkpoint_args(teacher_path)
    ptq = quantize_static(teacher, x[:p.calibration_images], backend)
    prepared = prepare_qat(teacher.requires_grad_(True), backend)
    runs = {name: Run(net=lambda: copy.deepcopy(prepared), loss=cross_entropy, seed=seed, data=(x, y), args=args)
            for name, seed in seed_names("qat", run.seed, p.qat.seeds).items()}
    trainer = run.fit(**side_by_side_parts(runs, p.qat.batch_size),
                      inputs={"train": stage.dep("train.npz"), "teacher": teacher_path},
                      key={"backend": backend, "calibration_images": p.calibration_images})
    int8 = {"ptq": ptq, **{name: convert_qat(net) for name, net in trainer.models.items()}}

    def write(out) -> None:
        save_checkpoint(out.path(stage.out("int8.pt")), output_checkpoint(
            trainer, model_args={"net": args, "backend": backend}, models={n: m.state_dict() for n, m in int8.items()}))

    run.finish(model=None, write=write, run_outputs=("int8.pt",),
               extra={"backend": backend, "calibration_images": min(p.calibration_images, len(y)), "runs": list(int8)})


if __name__ == "__main__":
    run_stage(main)
