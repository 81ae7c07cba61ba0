#!/usr/bin/env bash
# The torch lower bound in pyproject.toml is the true one: the whole suite on the lowest declared release, in a
# fresh virtual environment (a CUDA build from PyPI, about 3 GB; it runs on the CPU). Not part of .ci/run: the
# download does not fit CI's time. Usage: scripts/check_torch_floor.sh [VERSION] (default: the declared floor).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-$(python -c "import re; print(re.search(r'\"torch>=([0-9.]+)\"', open('pyproject.toml').read())[1])")}
venv=$(mktemp -d)/venv
python -m venv "$venv"
"$venv/bin/pip" install -q "torch==$version"
"$venv/bin/pip" install -q -e ".[dev]"
"$venv/bin/python" -c "import torch; print('torch', torch.__version__)"
"$venv/bin/python" -m pytest -q -p no:cacheprovider
