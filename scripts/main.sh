#!/usr/bin/env bash
# Installs what is needed, builds, describes ViT-B/16 and benchmarks a small ViT.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
./build/vit info --preset vit_base_patch16_224
./build/vit bench --preset vit_small_patch16_224 --batch 8 --threads "$(nproc)" --repeats 3
