"""``dvc plots show`` that renders without network: the page DVC writes loads Vega from a CDN and is
blank offline, so this module hands DVC an HTML template with Vega, Vega-Lite and vega-embed inlined
from ``pipelines/vega/`` (see SOURCES.md there), and limits the page to the plots of named pipelines.

    python -m pipelines plots              # every plot of dvc.yaml -> dvc_plots/index.html
    python -m pipelines plots tabular      # only the tabular pipeline's plots
"""
from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

VEGA_DIR = Path(__file__).with_name("vega")
# load order matters: vega-lite needs vega, vega-embed needs both
SCRIPTS = (
    ("vega.min.js", "4794d0169cb1f3ebad8117fe98ba5bd652dd725905ec0384e832391dbccb03be"),
    ("vega-lite.min.js", "d73157451b3978015ab31dacd55ff90d986ab8663fc0abed50f97b3cd90002cb"),
    ("vega-embed.min.js", "1ba9826431ddc9805e815ad92acc811c819f2bfd32bda2a128b8c4b5070fab5e"),
)
DEFAULT_OUT = "dvc_plots"

# DVC fills {refresh_tag} and {plot_divs}; without a {scripts} placeholder it adds no CDN <script src>
PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
{inline_scripts}
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>"""


class PlotsError(RuntimeError):
    """A vendored script is missing or altered, a pipeline declares no plots, or DVC failed."""


def offline_template(vega_dir: Path = VEGA_DIR) -> str:
    """The HTML template with the three scripts inlined, each checked against its sha256 first.

    Raises:
        PlotsError: a file is missing or its hash differs (a truncated copy would render blank).
    """
    blocks = []
    for name, sha256 in SCRIPTS:
        path = vega_dir / name
        if not path.is_file():
            raise PlotsError(f"{path}: missing (see {vega_dir / 'SOURCES.md'})")
        code = path.read_text(encoding="utf-8")
        if hashlib.sha256(code.encode("utf-8")).hexdigest() != sha256:
            raise PlotsError(f"{path}: sha256 differs from the pinned one (see {vega_dir / 'SOURCES.md'})")
        if "</script" in code.lower():  # would end the inline <script> element early
            raise PlotsError(f"{path}: contains '</script', cannot be inlined")
        blocks.append(f"    <script>/* {name} */\n{code}\n    </script>")
    return PAGE.replace("{inline_scripts}", "\n".join(blocks))


def own_stages(dag, names: list[str]) -> list[str]:
    """The stages of the named pipelines (or single stages), without their upstream: ``plots anomaly``
    shows the anomaly pipeline's curves, not the GAN's it builds on.

    Raises:
        KeyError: a name is neither a pipeline nor a stage.
    """
    from pipelines.dag import pipelines

    known = pipelines(dag)
    stages = {s.name for s in dag}
    out: list[str] = []
    for name in names:
        if name in known:
            out += known[name]
        elif name in stages:
            out.append(name)
        else:
            raise KeyError(f"unknown pipeline or stage '{name}'; pipelines: {', '.join(known)}")
    return out


def plot_targets(root: str | Path, stages: list[str]) -> list[str]:
    """Plot files (``plots:`` outputs in dvc.yaml) of ``stages``, in DAG order."""
    from dvc.repo import Repo

    wanted = set(stages)
    with Repo(str(root)) as repo:
        return [o.def_path for s in repo.index.stages if s.addressing in wanted for o in s.outs if o.plot]


def show(root: str | Path, targets: list[str] | None = None, out: str = DEFAULT_OUT) -> Path:
    """``dvc plots show --html-template <offline> -o out [targets]``; returns the page's path.

    Raises:
        PlotsError: DVC exited non-zero (its last lines in the message).
    """
    from pipelines.remote import dvc_executable

    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "offline.html"
        template.write_text(offline_template(), encoding="utf-8")
        proc = subprocess.run([dvc_executable(), "plots", "show", "--html-template", str(template), "-o", out,
                               *(targets or [])], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr.strip() or proc.stdout.strip()).splitlines()[-10:])
        raise PlotsError(f"dvc plots show exited {proc.returncode}:\n{tail}")
    return Path(root) / out / "index.html"
