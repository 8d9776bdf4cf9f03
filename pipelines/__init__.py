"""Orchestration over the DVC DAG: Prefect flows derived from dvc.yaml, and the CLI
(``python -m pipelines --help``).

``pipelines/`` wires; ``stages/`` works. Nothing here lists stages by hand: the DAG is read from
dvc.yaml through DVC itself, and every stage runs through ``dvc repro`` so DVC alone decides what is
unchanged.
"""
import os

# Defaults that make the ephemeral Prefect server usable on small machines and keep it offline.
# An explicit environment value always wins.
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
