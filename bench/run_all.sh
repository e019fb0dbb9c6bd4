#!/usr/bin/env bash
# The speed benchmarks in one command, for the GPU machine (see bench/RESULTS.md for the bars they are read
# against). Installs carried wheels from .whl/ (made here by bench/fetch_wheels.sh), puts the repo on
# PYTHONPATH, runs the sections named on the command line (default: env sample project train) and tees
# everything to out/bench/run_all-<time>.log, and to $OUT/run_all.log when $OUT is set.
#
#     bash bench/run_all.sh                      # everything (longer than one 10-minute device call)
#     bash bench/run_all.sh env sample           # one section per device call keeps each under 10 minutes
#
# Sections: env; sample (1024 px config-f, batch 1 and 16, eager fp32 / eager bf16 / compiled bf16 /
# compiled bf16 + CUDA graphs); sample-extra (fp16, channels_last, fused modconv, all-bf16 variants);
# project (one projection step, 1024 px batch 1); project256 (256 px batch 8); train (bench/train_speed.py,
# cfg stylegan2, 256 px, batch 32, if that script exists; TRAIN_ARGS replaces its arguments); train-fast
# (the same with --precision bf16 --compile). The GPU parts of the quality issues, one section per call:
# utkface-train (trains the 64 px UTKFace model on all faces but the 500 held out, UTK_KIMG kimg, default 400,
# into out/utkface), utkface-project (projects the 500 held-out faces with both schedules: issue 13),
# utkface-fid (fid50k_full of that model; needs the Inception file in WEIGHTS_DIR: issue 15) and ada
# (issue 14: bench/ada.py's noaug-64 vs ada-64, 1,000 faces at 64 px with the `auto` network, trained side by
# side for ADA_S seconds each, default 300, snapshots every ADA_SNAP kimg, default 20, then scored every
# ADA_SCORE_EVERY kimg, default 40, and at the end: about 8 minutes in all). The UTKFace sections read
# UTK_ZIP (default ../shared/data/utkface-64.zip, else .data/utkface-64.zip: carry it, ../shared does not travel).
# BUDGET_S (default 420) stops a benchmark from starting new rows after that many seconds. SMOKE=1 passes
# --smoke to the benchmarks (a quick CPU check of this script); NO_WHEELS=1 skips the wheel install.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PYTHON:-python3}
BUDGET_S=${BUDGET_S:-420}
SMOKE_ARG=${SMOKE:+--smoke}
SECTIONS=${*:-env sample project train}

mkdir -p out/bench
LOG=out/bench/run_all-$(date +%Y%m%d-%H%M%S).log
TEES=("$LOG")
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT" && TEES+=("$OUT/run_all.log")
fi
exec > >(tee -a "${TEES[@]}") 2>&1

if [ -z "${NO_WHEELS:-}" ] && compgen -G ".whl/*.whl" >/dev/null; then
    if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl; then
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    else
        echo "### carried wheels did not install; going on without them"
    fi
fi
export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1

FAILED=""
step() {  # name command...: run, time and record one benchmark without stopping the others
    local name=$1
    shift
    echo
    echo "### $name: $*"
    local t0=$SECONDS
    "$@"
    local rc=$?
    echo "### $name: exit $rc after $((SECONDS - t0)) s"
    [ "$rc" -eq 0 ] || FAILED="$FAILED $name"
}

env_info() {
    date -u +"%Y-%m-%d %H:%M UTC"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null \
        || echo "nvidia-smi: not available"
    "$PY" - <<'EOF'
import platform, torch
print("python", platform.python_version(), "| torch", torch.__version__, "| cuda", torch.version.cuda)
if torch.cuda.is_available():
    print("gpu:", torch.cuda.get_device_name(), "|", torch.cuda.get_device_properties(0).multi_processor_count, "SMs")
try:
    import lpips  # noqa: F401
    print("lpips: importable")
except ImportError:
    print("lpips: NOT importable (projection rows fall back to synthesis only)")
EOF
}

# ../shared does not travel to the GPU machine: copy utkface-64.zip into .data/ (git-ignored) and carry it.
[ -f ../shared/data/utkface-64.zip ] || export UTK_ZIP=${UTK_ZIP:-$REPO/.data/utkface-64.zip}

ada_pair() {  # issue 14: noaug-64 and ada-64 side by side on the one GPU, each stopped after ADA_S seconds
    # by SIGTERM (the run finishes its step, writes a snapshot and exits 0); bench/ada.py then scores both up
    # to the kimg both reached. Logs in out/ada/*.log (and $OUT).
    local run pids=() rc=0
    for run in noaug-64 ada-64; do
        timeout --preserve-status -k 120 -s TERM "${ADA_S:-300}" "$PY" bench/ada.py --out out/ada \
            --only "$run" --max-kimg 100000 --snap "${ADA_SNAP:-20}" --tick "${ADA_TICK:-4}" >"out/ada/$run.log" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
    for run in noaug-64 ada-64; do
        echo "--- $run (last lines)"
        tail -n 4 "out/ada/$run.log"
        [ -z "${OUT:-}" ] || cp "out/ada/$run.log" "$OUT/"
    done
    return $rc
}

for section in $SECTIONS; do
    # shellcheck disable=SC2086  # SMOKE_ARG is empty or one word
    case $section in
    env) step env env_info ;;
    sample)
        step sample "$PY" bench/sample_speed.py --res 1024 --batches 1,16 --budget-s "$BUDGET_S" $SMOKE_ARG ;;
    sample-extra)
        step sample-extra "$PY" bench/sample_speed.py --res 1024 --batches 1,16 --budget-s "$BUDGET_S" $SMOKE_ARG \
            --settings eager-fp16,compiled-fp16-graphs,compiled-bf16-cl-graphs,compiled-bf16-fused-graphs,compiled-bf16all-graphs ;;
    project)
        step project "$PY" bench/project_speed.py --cases 1024x1 --budget-s "$BUDGET_S" $SMOKE_ARG ;;
    project256)
        step project256 "$PY" bench/project_speed.py --cases 256x8 --budget-s "$BUDGET_S" $SMOKE_ARG ;;
    train)
        if [ -f bench/train_speed.py ]; then
            # shellcheck disable=SC2086  # TRAIN_ARGS is a word list on purpose
            step train "$PY" bench/train_speed.py ${TRAIN_ARGS:---cfg stylegan2 --resolution 256 --batch 32}
        else
            echo "### train: bench/train_speed.py not present, skipped"
        fi ;;
    train-fast)
        if [ -f bench/train_speed.py ]; then
            step train-fast "$PY" bench/train_speed.py --cfg stylegan2 --resolution 256 --batch 32 --precision bf16 --compile
        else
            echo "### train-fast: bench/train_speed.py not present, skipped"
        fi ;;
    utkface-train)
        step utkface-export "$PY" bench/project_real.py --data utkface --export-train out/utkface/train
        step utkface-train "$PY" -m stylegan_cli.main train out/utkface/train --cfg auto --mirror \
            --kimg "${UTK_KIMG:-400}" --snap 50 --outdir out/utkface/runs ;;
    utkface-project)
        step utkface-project "$PY" bench/project_real.py --data utkface --model out/utkface/runs/00000-* \
            --images 500 --batch 100 --steps 100,300,1000 ;;
    utkface-fid)
        step utkface-fid "$PY" bench/metrics_fid.py out/utkface/runs/00000-* --device cuda --weights-dir "${WEIGHTS_DIR:-.weights}" ;;
    ada)
        mkdir -p out/ada
        step ada-train ada_pair
        step ada-score "$PY" bench/ada.py --out out/ada --eval-only --runs noaug-64 ada-64 \
            --score-every "${ADA_SCORE_EVERY:-40}" --grids "${OUT:-out/ada}/grids" ;;
    *) echo "### unknown section '$section' (env sample sample-extra project project256 train train-fast" \
        "utkface-train utkface-project utkface-fid ada)"; FAILED="$FAILED $section" ;;
    esac
done

echo
echo "### log: $LOG${OUT:+ and $OUT/run_all.log}"
if [ -n "$FAILED" ]; then
    echo "### failed:$FAILED"
    exit 1
fi
echo "### all sections passed"
