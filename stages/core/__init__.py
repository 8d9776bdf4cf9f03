"""Shared machinery for every stage; knows nothing about any one pipeline.

- :mod:`stages.core.stage`    a stage's dvc.yaml entry: its declared inputs, outputs and params
- :mod:`stages.core.params`   typed, validated params (pydantic, unknown keys forbidden)
- :mod:`stages.core.io`       atomic output writes (stale temporaries of killed runs removed), checksummed pickles, JSON
- :mod:`stages.core.figures`  matplotlib on Agg, ``new_figure`` and ``save`` (byte-stable PNGs), used by ``Outputs.figure``
- :mod:`stages.core.numerics` numpy on its baseline kernels, for float data stages that must match on every x86-64 CPU
- :mod:`stages.core.sources`  checksummed downloads (pooch) with a cache, retries, an overall deadline and clear errors
- :mod:`stages.core.imagefiles` the user's image files opened with Pillow: size-checked, every failure naming the file
- :mod:`stages.core.runtime`  run_stage (declaration, --help, error boundary), logging, seeding, device
- :mod:`stages.core.errors`   the exceptions a stage raises for bad input
- :mod:`stages.core.training` the one training stage: ``TrainingRun`` (a pipeline declares networks,
  objective, data and recipe; core does the rest) and its outputs
- :mod:`stages.core.recipe`   the training recipe every training section composes (optimizer, lr, schedule, precision…)
- :mod:`stages.core.trainer`  the loop: batches, validation, schedulers, clipping, accumulation, EMA,
  resume, 1..N processes; ``ManualObjective`` for loops that are not one update per batch
- :mod:`stages.core.batches`  loaders, ``TensorData``, ``Iterations``
- :mod:`stages.core.device`   PyTorch set-up: device, seeds, deterministic CPU kernels, precision
- :mod:`stages.core.distributed` torchrun / DistributedDataParallel: launcher, process group, rank 0
- :mod:`stages.core.runs`     run records: wall-clock figures kept out of DVC outputs
- :mod:`stages.core.checkpoint` self-describing checkpoints, loaded with ``weights_only=True``
"""
