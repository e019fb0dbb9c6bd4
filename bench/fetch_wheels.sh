#!/usr/bin/env bash
# Download, here (where the package registries are reachable), the wheels the GPU machine lacks, into .whl/
# (git-ignored), for its Python 3.12 on manylinux x86-64. Carry them with the run (carry: [".whl"]);
# bench/run_all.sh installs them there with pip --no-index --no-deps --target /tmp/site.
#
# What is missing there: lpips (the GPU image has torch, torchvision, scipy, tqdm, numpy, which it needs), and
# this project's CLI stack at the versions tested here: typer (which vendors click, and needs pydantic,
# shellingham, rich, annotated-doc), pydantic with its compiled core, and rich's markdown-it-py/pygments.
# Versions are read from the project venv so both machines run the same ones; a fallback pin is used without
# it. Override the list with WHEELS="name==ver ...".
#
#     bash bench/fetch_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV_PY=.venv/bin/python
DEST=.whl
mkdir -p "$DEST"

# name=fallback-version (the versions tested in this repo's venv on 2026-11-23)
DEFAULTS="lpips=0.1.4 typer=0.29.2 rich=15.0.0 shellingham=1.5.4 annotated-doc=0.0.7 pydantic=2.14.3
pydantic-core=2.50.4 annotated-types=0.8.0 typing-inspection=0.4.5 typing-extensions=4.16.0
markdown-it-py=4.3.0 mdurl=0.1.2 pygments=2.21.0"

pin() {  # name fallback -> name==version, preferring the venv's installed version
    local name=$1 fallback=$2 v=""
    if [ -x "$VENV_PY" ]; then
        v=$("$VENV_PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name" 2>/dev/null || true)
    fi
    echo "$name==${v:-$fallback}"
}

if [ -z "${WHEELS:-}" ]; then
    WHEELS=""
    for entry in $DEFAULTS; do
        WHEELS="$WHEELS $(pin "${entry%%=*}" "${entry#*=}")"
    done
fi

PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
for spec in $WHEELS; do
    name=${spec%%==*}
    norm=$(echo "$name" | tr 'A-Z-' 'a-z_')
    # One version of each: two would stop the whole install on the GPU machine.
    find "$DEST" -maxdepth 1 -iname "${norm}-*.whl" ! -iname "${norm}-${spec#*==}-*" -print -delete
    if ls "$DEST"/"${norm}"-"${spec#*==}"-*.whl >/dev/null 2>&1; then
        echo "have $spec"
        continue
    fi
    echo "fetch $spec"
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${PLATFORMS[@]}" -d "$DEST" "$spec"
done

echo "wheels in $DEST:"
ls -l "$DEST"/*.whl
du -sh "$DEST"
