#!/usr/bin/env bash
# Two vit binaries (say, before and after a change) alternating on the same four workloads:
# ViT-B/16 forward at batch 16 in fp32 and bf16, the dim-192 Fashion-MNIST model's training step
# at batch 128 in fp32 and bf16. Prints each run's best images/s.
# usage: bench/ab_vit.sh OLD_VIT NEW_VIT [ROUNDS]
set -euo pipefail
old=$1; new=$2; rounds=${3:-3}
cd "$(dirname "$0")/.."
run() { "$1" bench "${@:2}" --json --no-peak 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); m=[k for k in ('forward','train') if k in d][0]; print(f\"{d[m]['images_per_s_best']:.2f}\")"; }
for w in "fwd32|--preset vit_base_patch16_224 --batch 16 --mode forward --repeats 3" \
         "fwd16|--preset vit_base_patch16_224 --batch 16 --mode forward --repeats 3 --precision bf16" \
         "trn32|--config bench/configs/fashion_mnist_dim192.json --batch 128 --mode train --repeats 5" \
         "trn16|--config bench/configs/fashion_mnist_dim192.json --batch 128 --mode train --repeats 5 --precision bf16"; do
  name=${w%%|*}; args=${w#*|}
  o=""; n=""
  for r in $(seq $rounds); do
    o="$o $(run $old $args)"; n="$n $(run $new $args)"
  done
  echo "$name old:$o new:$n"
done
