"""``dvc plots show`` that renders without network: the page DVC writes loads Vega from a CDN and is
blank offline, so this module renders DVC's plots (through its API) into an HTML template with Vega,
Vega-Lite and vega-embed inlined from ``pipelines/vega/`` (see SOURCES.md there), limits the page to
the plots of named pipelines, and leaves out the rows whose CSV cell is empty (a validation accuracy
on an epoch without validation) instead of drawing them as 0.

    python -m pipelines plots              # every plot of dvc.yaml -> dvc_plots/index.html
    python -m pipelines plots tabular      # only the tabular pipeline's plots
"""
from __future__ import annotations

import hashlib
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


def drop_missing(datapoints: list[dict], x: str | None, y: str | None) -> list[dict]:
    """The datapoints that have a value for both axes.

    A CSV cell left empty (``val_acc`` on an epoch without validation) reaches Vega as ``""``, which a
    quantitative scale draws as 0: a spike to 0 on every such epoch. Those rows are dropped, so a
    curve joins the epochs that have a value.
    """
    def has(row: dict, key: str | None) -> bool:
        return key is None or key not in row or row[key] not in ("", None)

    return [row for row in datapoints if has(row, x) and has(row, y)]


def show(root: str | Path, targets: list[str] | None = None, out: str = DEFAULT_OUT) -> Path:
    """``dvc plots show --html-template <offline> -o out [targets]`` through DVC's API, with the rows
    that lack a value dropped (:func:`drop_missing`); returns the page's path.

    Raises:
        PlotsError: DVC failed, or there is nothing to plot.
    """
    from dvc.exceptions import DvcException
    from dvc.render.match import match_defs_renderers
    from dvc.repo import Repo
    from dvc_render import render_html

    root = Path(root).resolve()
    output = root / out / "index.html"
    try:
        with Repo(str(root)) as repo, tempfile.TemporaryDirectory() as tmp:
            data = repo.plots.show(targets=targets or None)
            matched = match_defs_renderers(data=data, out=str(root / out / "static"),
                                           templates_dir=repo.plots.templates_dir)
            renderers = [m.renderer for m in matched]
            errors = [f"{source}: {exc}" for m in matched for per_rev in m.source_errors.values()
                      for source, exc in per_rev.items()]
            if not renderers:
                raise PlotsError("no plots were loaded" + (": " + "; ".join(errors) if errors else ""))
            for renderer in renderers:
                if renderer.TYPE == "vega":
                    props = renderer.properties
                    renderer.datapoints = drop_missing(renderer.datapoints, props.get("x"), props.get("y"))
            template = Path(tmp) / "offline.html"
            template.write_text(offline_template(), encoding="utf-8")
            render_html(renderers=renderers, output_file=output, html_template=str(template))
    except DvcException as exc:
        raise PlotsError(f"dvc plots show: {exc}") from None
    return output
