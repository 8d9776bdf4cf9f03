"""``python -m pipelines plots``: DVC's plots page with Vega inlined (no CDN), one pipeline's curves."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from pipelines import plots
from tests.conftest import BIN, ROOT, run_env

DVC_YAML = """\
stages:
  demo-curve:
    cmd: python -c "open('demo.csv','w').write('step,loss\\\\n0,0.9\\\\n1,0.4\\\\n2,0.123456\\\\n')"
    plots:
      - demo.csv:
          x: step
          y: loss
  gappy-curve:
    cmd: python -c "open('gappy.csv','w').write('epoch,val_acc\\\\n1,\\\\n2,0.654321\\\\n3,\\\\n')"
    plots:
      - gappy.csv:
          x: epoch
          y: val_acc
  other-curve:
    cmd: python -c "open('other.csv','w').write('step,loss\\\\n0,7.654321\\\\n')"
    plots:
      - other.csv:
          x: step
          y: loss
"""


def test_template_inlines_the_pinned_scripts():
    page = plots.offline_template()
    assert "{plot_divs}" in page and "{scripts}" not in page   # no placeholder for DVC's CDN tags
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert page.count("<script>") == 3 and "vegaEmbed" in page


def test_template_refuses_an_altered_script(tmp_path):
    for name, _ in plots.SCRIPTS:
        shutil.copy(plots.VEGA_DIR / name, tmp_path / name)
    with (tmp_path / "vega-lite.min.js").open("a") as fh:
        fh.write("\n")
    with pytest.raises(plots.PlotsError, match=r"vega-lite\.min\.js: sha256 differs"):
        plots.offline_template(tmp_path)
    (tmp_path / "vega.min.js").unlink()
    with pytest.raises(plots.PlotsError, match=r"vega\.min\.js: missing"):
        plots.offline_template(tmp_path)


@pytest.mark.e2e
def test_plots_page_works_offline_and_shows_one_pipeline(tmp_path):
    env = run_env(PYTHONPATH=str(ROOT))
    run = lambda *cmd: subprocess.run(cmd, cwd=tmp_path, env=env, check=True, capture_output=True, text=True)  # noqa: E731
    run("git", "init", "-q")
    run(str(BIN / "dvc"), "init", "-q")
    (tmp_path / "dvc.yaml").write_text(textwrap.dedent(DVC_YAML))
    run(str(BIN / "dvc"), "repro")

    out = run(sys.executable, "-m", "pipelines", "plots", "demo").stdout
    page = (tmp_path / "dvc_plots" / "index.html").read_text()
    assert out.strip().endswith("dvc_plots/index.html")
    assert not re.search(r"<script[^>]*\bsrc=\s*[\"']?https?:", page)    # nothing loaded from a CDN
    assert "cdn.jsdelivr" not in page and "vegaEmbed('#" in page
    assert "0.123456" in page and "7.654321" not in page            # demo's curve only

    run(sys.executable, "-m", "pipelines", "plots", "gappy")        # epochs without a value: no point at 0
    page = (tmp_path / "dvc_plots" / "index.html").read_text()
    assert "0.654321" in page and '"val_acc": ""' not in page

    run(sys.executable, "-m", "pipelines", "plots")                 # no name: every plot
    assert "7.654321" in (tmp_path / "dvc_plots" / "index.html").read_text()

    bad = subprocess.run([sys.executable, "-m", "pipelines", "plots", "nope"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "unknown pipeline or stage 'nope'" in bad.stderr


def test_rows_without_a_value_are_dropped_not_drawn_as_zero():
    rows = [{"epoch": "1", "val_acc": ""}, {"epoch": "2", "val_acc": "0.6"}, {"epoch": "3", "val_acc": None},
            {"epoch": "", "val_acc": "0.7"}, {"epoch": "5", "loss": "0.1"}]
    assert plots.drop_missing(rows, "epoch", "val_acc") == [rows[1], rows[4]]
    assert plots.drop_missing(rows, None, None) == rows


def test_plots_output_folder_is_git_ignored():
    proc = subprocess.run(["git", "check-ignore", "-q", "dvc_plots/index.html"], cwd=ROOT)
    assert proc.returncode == 0
