"""The package as a user installs it: a wheel built from the sources, installed into a fresh virtual environment,
brings the recipes and presets and the `nmt` command, away from any checkout."""

import shutil
import site
import subprocess
import sys
import venv

from tests.conftest import ROOT


def test_wheel_installs_the_command_recipes_and_presets(tmp_path):
    src = tmp_path / "src"  # build from a copy: the build writes build/ and *.egg-info beside the sources
    for folder in ("nmt", "configs"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist")], check=True)
    wheel = next((tmp_path / "dist").glob("nmt-*.whl"))
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    # the dependencies (torch, ...) come from the environment pytest runs in, a virtual one or not: its site
    # directories are added after the new environment's own, where the wheel goes
    own = next((env / "lib").glob("python3*/site-packages"))
    outer = "; ".join(f"site.addsitedir({d!r})" for d in site.getsitepackages())
    (own / "outer.pth").write_text(f"import site; {outer}\n")
    python, nmt = env / "bin" / "python", env / "bin" / "nmt"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True)
    away = tmp_path / "elsewhere"  # no configs/ folder here
    away.mkdir()

    def run(*args):
        return subprocess.run(args, cwd=away, capture_output=True, text=True, timeout=300)

    where = run(str(python), "-c", "import nmt; print(nmt.__file__)")
    assert where.stdout.startswith(str(env)), where.stdout + where.stderr  # the wheel's nmt, not the checkout's
    help_text = run(str(nmt), "train", "--help")
    assert help_text.returncode == 0 and "YAML config" in help_text.stdout, help_text.stderr
    (away / "mine.yaml").write_text("preset: base\n")  # a preset named by a user's own config
    lookup = run(str(python), "-c", "from nmt.config import load_config as c; print(c().data.corpus, "
                 "c('configs/multi30k-en-de.yaml').model.d_model, c('mine.yaml').model.d_model)")
    assert lookup.returncode == 0, lookup.stderr
    assert lookup.stdout.split() == ["tatoeba", "128", "512"]  # default recipe, a shipped recipe, the base preset
