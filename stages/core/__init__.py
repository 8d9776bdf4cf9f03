"""Shared machinery for every stage; knows nothing about any one pipeline.

- :mod:`stages.core.params`   typed, validated params (pydantic, unknown keys forbidden)
- :mod:`stages.core.io`       atomic output writes, checksummed pickles, JSON, figures
- :mod:`stages.core.sources`  checksummed downloads (pooch) with a cache, retries and clear errors
- :mod:`stages.core.runtime`  logging, seeding, device selection
- :mod:`stages.core.errors`   the exceptions a stage raises for bad input
- :mod:`stages.core.training` PyTorch set-up (device, seeds, AMP) and the Trainer (DataLoader batches,
  validation, schedulers, clipping, accumulation, EMA, resume, 1..N processes)
- :mod:`stages.core.distributed` torchrun / DistributedDataParallel: launcher, process group, rank 0
- :mod:`stages.core.runs`     run records: wall-clock figures kept out of DVC outputs
- :mod:`stages.core.checkpoint` self-describing checkpoints, loaded with ``weights_only=True``
"""
