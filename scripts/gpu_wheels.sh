#!/usr/bin/env bash
# Run where pip reaches PyPI, from the repository root, before scripts/gpu_check.sh goes to a GPU machine
# that has no network: downloads into .whl/ (ignored by git) the optional nearest-triangle accelerator
# fcpw (26 MB) for that machine's Python (default 3.12; PY_VERSION=3.11 ...). gpu_check.sh installs
# whatever .whl/ holds. warp-lang (149 MB) is too big to carry there; nvdiffrast is not on PyPI.
set -eu
exclude="$(git rev-parse --git-common-dir)/info/exclude"
grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
python3 -m pip download --no-deps --only-binary=:all: --python-version "${PY_VERSION:-3.12}" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "fcpw>=1.2"
ls -la .whl
