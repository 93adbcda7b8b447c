#!/usr/bin/env bash
# Data-parallel training on one machine: N ranks x 1 thread (mpirun) against 1 process x N
# threads, the same global batch, in one run, alternating, ROUNDS times each. Prints the training
# images/s of each (steps after the first WARM, from metrics.jsonl), their ratio, and rank 0's
# time in the gradient sums per step (with the wait for the slower rank).
# usage: bench/data_parallel.sh VIT MODEL(dim192|vit_s16) PRECISION(fp32|bf16) [ROUNDS] [N] [EXTRA FLAGS...]
set -euo pipefail
vit=$(realpath "$1")
model=$2
precision=$3
rounds=${4:-3}
n=${5:-2}
shift $(($# < 5 ? $# : 5))
extra=("$@")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

"$vit" train --print-recipe > "$tmp/default.json"
/usr/bin/python3 - "$tmp/default.json" "$tmp/recipe.json" "$model" "$precision" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
model, precision = sys.argv[3], sys.argv[4]
r["training"].update(precision=precision, epochs=1)
r["run"].update(log_every=1, workers=1)
if model == "dim192":  # bench/configs/fashion_mnist_dim192.json
    r["model"].update(patch_size=4, embed_dim=192, depth=6, num_heads=3, mlp_dim=384)
    r["training"]["batch_size"] = 128
elif model == "vit_s16":  # ViT-S/16 at 224x224, Fashion-MNIST images resized and repeated on 3 channels
    r["model"].update(image_height=224, image_width=224, patch_size=16, channels=3, embed_dim=384, depth=12,
                      num_heads=6, mlp_dim=1536)
    r["train_transforms"] = [{"op": "resize", "size": [224, 224]}, {"op": "horizontal_flip", "p": 0.5},
                             {"op": "normalize", "mean": [0.286] * 3, "std": [0.353] * 3}]
    r["eval_transforms"] = [{"op": "resize", "size": [224, 224]}, {"op": "normalize", "mean": [0.286] * 3, "std": [0.353] * 3}]
    r["training"]["batch_size"] = 32
else:
    sys.exit(f"unknown model {model}")
json.dump(r, open(sys.argv[2], "w"))
EOF
steps=40
warm=10
if [ "$model" = vit_s16 ]; then steps=8; warm=2; fi

# images/s over steps warm+1..steps: metrics.jsonl logs, per step, the images/s since the epoch
# began, so a step's time since then is step * batch / images_per_s.
rate() {
    /usr/bin/python3 - "$1" "$warm" <<'EOF'
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"event":"step"' in l]
a, b = steps[int(sys.argv[2]) - 1], steps[-1]
# (b - a) * batch images in (b / ips_b - a / ips_a) * batch seconds
print(f"{(b['step'] - a['step']) / (b['step'] / b['images_per_s'] - a['step'] / a['images_per_s']):.3f}")
EOF
}

batch=$(/usr/bin/python3 -c "import json;print(json.load(open('$tmp/recipe.json'))['training']['batch_size'])")
declare -a single multi sums
for r in $(seq "$rounds"); do
    "$vit" train --recipe "$tmp/recipe.json" --threads "$n" --max-steps $steps --out "$tmp/one" --overwrite "${extra[@]}" > "$tmp/one.log" 2>&1
    single+=("$(rate "$tmp/one/metrics.jsonl")")
    mpirun -np "$n" --bind-to core "$vit" train --recipe "$tmp/recipe.json" --threads 1 --max-steps $steps --out "$tmp/multi" \
        --overwrite "${extra[@]}" > "$tmp/multi.log" 2>&1
    multi+=("$(rate "$tmp/multi/metrics.jsonl")")
    sums+=("$(grep -o '[0-9.]* ms a step spent in the sums' "$tmp/multi.log" | cut -d' ' -f1)")
done
/usr/bin/python3 - "$model" "$precision" "$n" "$batch" "${single[*]}" "${multi[*]}" "${sums[*]}" "$(grep -o '[0-9.]* MiB of gradients summed a step' "$tmp/multi.log")" <<'EOF'
import statistics, sys
model, precision, n, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
one = [float(x) for x in sys.argv[5].split()]
many = [float(x) for x in sys.argv[6].split()]
sums = [float(x) for x in sys.argv[7].split()]
print(f"{model} {precision}, global batch {batch}, {len(one)} rounds (images/s: best, median)")
print(f"  1 process x {n} threads : {max(one):8.1f} {statistics.median(one):8.1f}")
print(f"  {n} ranks x 1 thread    : {max(many):8.1f} {statistics.median(many):8.1f}")
print(f"  ratio (ranks / process): best {max(many) / max(one):.3f}, median {statistics.median(many) / statistics.median(one):.3f}")
print(f"  rank 0 in the sums: {min(sums):.1f} ms a step at best, {statistics.median(sums):.1f} median ({sys.argv[8]})")
EOF
