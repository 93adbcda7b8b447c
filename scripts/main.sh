#!/usr/bin/env bash
# Installs what is needed, builds, trains the default recipe (a small ViT on Fashion-MNIST),
# evaluates it on the test set and prints where the plot is.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)" --target vit-cli   # the command alone; scripts/test.sh builds the tests
./build/vit train --recipe fashion-mnist --out runs/fashion-mnist --overwrite
./build/vit eval --weights runs/fashion-mnist/model.safetensors --json runs/fashion-mnist/eval.json
echo "loss and accuracy curves: runs/fashion-mnist/curves.png"
