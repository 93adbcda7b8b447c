#!/usr/bin/env bash
# Installs what is needed, builds warning-free, and runs every test: in Release (GCC), then in
# Release again under another blocking and instruction set, then built by clang under
# AddressSanitizer and UndefinedBehaviorSanitizer, where the fuzz targets also run (fuzz/).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
jobs=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DVIT_WERROR=ON
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"
# Another CPU sums in another order: the suite again with oneDNN held to AVX-512 without its bf16
# instructions (it emulates them, with other kernels and blocking) on 3 threads, and on 1 thread.
ONEDNN_MAX_CPU_ISA=AVX512_CORE OMP_NUM_THREADS=3 ctest --test-dir build --output-on-failure -j "$jobs"
OMP_NUM_THREADS=1 ctest --test-dir build --output-on-failure -j "$jobs"

CXX=clang++-14 cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIT_SANITIZE=ON -DVIT_FUZZ=ON \
  -DVIT_WERROR=ON
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp" ctest --test-dir build-asan --output-on-failure -j "$jobs"
