#!/usr/bin/env bash
# The vit command line: results, error messages and exit codes. usage: cli_test.sh PATH_TO_VIT
set -u
vit="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

root=$(cd "$(dirname "$0")/../.." && pwd)
fx="${VIT_FIXTURE_DIR:-fixtures}"  # written by tests/reference/make_fixtures.py

# expect NAME EXIT_CODE SUBSTRING -- COMMAND...: runs the command, checks its exit code and
# that stdout+stderr contain SUBSTRING.
expect() {
    local name="$1" code="$2" text="$3"
    shift 4
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" -eq "$code" ] && [[ "$out" == *"$text"* ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name: exit $rc (expected $code), output:"
        echo "$out" | head -5
        echo "expected to contain: $text"
    fi
}

expect info_base 0 "86567656 (86.57 M)" -- "$vit" info --preset vit_base_patch16_224
expect info_flops 0 "35.13 GFLOP per image" -- "$vit" info --preset vit_base_patch16_224
expect info_json 0 '"parameters":5717416' -- "$vit" info --preset vit_tiny_patch16_224 --json
expect info_override 0 "3x384x384 (patch 16, grid 24x24, 577 tokens)" -- "$vit" info --preset vit_base_patch16_224 --image-size 384
expect bench_tiny 0 "images/s best" -- "$vit" bench --preset vit_tiny_patch16_224 --image-size 32 --batch 2 --repeats 1 --warmup 0 --threads 1 --no-peak
expect bench_json 0 '"train":{"images_per_s_best"' -- "$vit" bench --preset vit_tiny_patch16_224 --image-size 32 --batch 2 --repeats 1 --warmup 0 --no-peak --json
expect unknown_preset 1 "error: unknown preset 'vit_giant_patch16_224'; expected vit_<tiny|small|base|large|huge>" -- "$vit" info --preset vit_giant_patch16_224
expect info_hybrid 0 "98950952 (98.95 M)" -- "$vit" info --preset vit_base_r50_s16_384
expect info_hybrid_map 0 "ResNet-v2 stem 64 channels, stages [3, 4, 9] -> 24x24x1024 feature map" -- "$vit" info --preset vit_base_r50_s16_384
expect info_hybrid_inferred 0 "ResNet-v2 stem 32 channels, stages [1, 1] -> 4x4x256 feature map" -- "$vit" info --weights "$fx/weights/hybrid_timm.pth"
echo '{"hybrid": true, "hybrid_width": 48, "patch_size": 1}' > "$tmp/badhybrid.json"
expect hybrid_width_bad 1 "hybrid_width must be a multiple of 32 in [32, 4096] (GroupNorm's groups), got 48" -- "$vit" bench --config "$tmp/badhybrid.json" --no-peak
expect indivisible 1 "error: image size 200x200 must be divisible by patch_size 16" -- "$vit" info --preset vit_base_patch16_224 --image-size 200
expect threads_zero 2 "--threads: Value 0 not in range 1 to 1024" -- "$vit" bench --threads 0
expect threads_text 2 "--threads: Value 2x not in range 1 to 1024" -- "$vit" bench --threads 2x
expect bench_bf16 0 '"precision":"bf16"' -- "$vit" bench --preset vit_tiny_patch16_224 --image-size 32 --batch 2 --repeats 1 --warmup 0 --no-peak --precision bf16 --json
expect bench_bf16_peak 0 '"peak_bf16_gflops":' -- "$vit" bench --preset vit_tiny_patch16_224 --image-size 32 --batch 2 --repeats 1 --warmup 0 --mode forward --precision bf16 --json
echo '{"image_height": 28, "image_width": 28, "channels": 1, "patch_size": 7, "embed_dim": 32, "depth": 1, "num_heads": 2, "mlp_dim": 64, "num_classes": 10}' > "$tmp/model.json"
expect bench_config 0 "model 28x28 patch 7 dim 32 depth 1 heads 2" -- "$vit" bench --config "$tmp/model.json" --batch 4 --repeats 1 --warmup 0 --no-peak
echo '{"image_height": 28, "image_width": 28, "channels": 1, "patch_size": 7, "embed_dim": 32, "depth": 2, "num_heads": 2, "mlp_dim": 64, "num_classes": 10, "post_norm": true, "mlp_relu": true}' > "$tmp/post.json"
expect bench_post_norm 0 "train " -- "$vit" bench --config "$tmp/post.json" --batch 4 --repeats 1 --warmup 0 --no-peak --precision bf16
echo '{"image_height": 28, "image_width": 28, "channels": 1, "patch_size": 7, "embed_dim": 32, "depth": 1, "num_heads": 2, "mlp_dim": 64, "num_classes": 10, "pos_embed": "sincos_2d"}' > "$tmp/sincos.json"
expect bench_sincos 0 "train " -- "$vit" bench --config "$tmp/sincos.json" --batch 4 --repeats 1 --warmup 0 --no-peak
expect info_sincos 0 "pos_embed          sincos_2d" -- "$vit" info --config "$tmp/sincos.json"
echo '{"embed_dim": 30, "num_heads": 2, "pos_embed": "sincos_2d"}' > "$tmp/sincos_bad.json"
expect sincos_dim 1 "embed_dim must be a multiple of 4, got 30" -- "$vit" info --config "$tmp/sincos_bad.json"
# 587 GiB of activations: the allocation fails at once (ASan is told to return null, as malloc does)
expect oom_batch 1 "error: out of memory: a training pass over a batch of 1 needs 586.58 GiB of activations; try a smaller batch" -- env ASAN_OPTIONS="${ASAN_OPTIONS:-}:allocator_may_return_null=1" "$vit" bench --preset vit_tiny_patch16_224 --image-size 4096 --batch 1 --mode train --no-peak --repeats 1 --warmup 0
echo '{"embed_dims": 32}' > "$tmp/badmodel.json"
expect bench_config_typo 1 "error: $tmp/badmodel.json: model config: unknown key 'embed_dims'" -- "$vit" bench --config "$tmp/badmodel.json" --no-peak
expect bf16_unsupported 1 "error: precision bf16 needs bf16 matrix products, which oneDNN does not provide on this CPU; use fp32" -- env ONEDNN_MAX_CPU_ISA=AVX2 "$vit" bench --preset vit_tiny_patch16_224 --image-size 32 --batch 2 --repeats 1 --warmup 0 --no-peak --precision bf16
expect precision_bad 2 "--precision: fp16 not in {fp32,bf16}" -- "$vit" bench --precision fp16
expect mode_bad 2 "--mode: fast not in {forward,train,both}" -- "$vit" bench --mode fast
expect no_command 2 "error: a command is required: one of info, bench, train, eval, predict, inspect, serve (vit --help describes them)" -- "$vit"
expect typo_command 2 "error: unknown command 'trian'; did you mean 'train'? (commands: info, bench, train, eval, predict, inspect, serve)" -- "$vit" trian
expect far_command 2 "error: unknown command 'quantize' (commands: " -- "$vit" quantize
expect version 0 "vit 0.1.0" -- "$vit" --version
expect typo_option 2 "error: vit train: unknown option '--epoch'; did you mean '--epochs'? (vit train --help lists the options)" -- "$vit" train --epoch 1
expect typo_weights 2 "error: vit predict: unknown option '--weight'; did you mean '--weights'?" -- "$vit" predict --weight x a.png
expect typo_value_form 2 "error: vit eval: unknown option '--bach'; did you mean '--batch'?" -- "$vit" eval --bach=4
expect both_sources 2 "--preset excludes --weights" -- "$vit" info --preset vit_base_patch16_224 --weights x.safetensors
expect missing_file 1 "error: cannot open 'missing.safetensors': No such file or directory" -- "$vit" info --weights missing.safetensors
printf 'not a safetensors file at all' > "$tmp/bad.safetensors"
expect bad_file 1 "is not a weight file vit reads (expected safetensors, a PyTorch .pth/.pt/.bin zip archive, or a NumPy .npz)" -- "$vit" info --weights "$tmp/bad.safetensors"

# Pretrained weights in every format, vit predict and fine-tuning.
expect info_pth 0 "(pytorch, torchvision names, 34 tensors)" -- "$vit" info --weights "$fx/weights/torchvision.pth"
expect info_npz 0 "heads x head_dim   2 x 64" -- "$vit" info --weights "$fx/weights/jax.npz"
expect info_evil 1 "the pickle names the global 'posix.system', which is not allowed" -- "$vit" info --weights "$fx/weights/evil_global.pth"
expect info_legacy 1 "is a PyTorch file in the legacy (pre-1.6) format" -- "$vit" info --weights "$fx/weights/legacy.pth"
expect predict_text 0 "1 image(s): preprocessing" -- "$vit" predict --weights "$fx/weights/torchvision.pth" "$fx/preprocess/photo.jpg"
expect predict_folder 0 "4 image(s)" -- "$vit" predict --weights "$fx/weights/hf.safetensors" "$fx/preprocess" --top-k 2 --batch 3
expect predict_json 0 '"predictions":[{"path":"'"$fx"'/preprocess/photo.jpg","top":[{"class":' -- "$vit" predict --weights "$fx/weights/jax.npz" "$fx/preprocess/photo.jpg" --json
expect predict_imagenet 0 '"label":"tench"' -- "$vit" predict --weights "$fx/weights/imagenet_classes.pth" "$fx/preprocess/photo.jpg" --json --top-k 1000
expect predict_bf16 0 "bf16)" -- "$vit" predict --weights "$fx/weights/timm.pth" "$fx/preprocess/photo.jpg" --precision bf16
expect predict_resized 0 "1 image(s)" -- "$vit" predict --weights "$fx/weights/timm.pth" "$fx/preprocess/photo.jpg" --image-size 48 --preprocess torchvision
printf 'a\nb\n' > "$tmp/labels.txt"
expect predict_labels 1 "error: '$tmp/labels.txt' holds 2 class names, the model has 10 classes" -- "$vit" predict --weights "$fx/weights/timm.pth" "$fx/preprocess/photo.jpg" --labels "$tmp/labels.txt"
printf 'not an image' > "$tmp/fake.jpg"
expect predict_bad_image 1 "$tmp/fake.jpg" -- "$vit" predict --weights "$fx/weights/timm.pth" "$tmp/fake.jpg"
/usr/bin/python3 -c "
import sys, torch
sd = torch.load(sys.argv[1])
del sd['norm.weight'], sd['norm.bias']
torch.save(sd, sys.argv[2])" "$fx/weights/timm.pth" "$tmp/no_norm.pth"
expect strict_hint 1 "missing tensors: norm.weight, norm.bias. hint: load non-strictly (vit: --non-strict) to skip them; missing tensors then keep their initial values" -- "$vit" predict --weights "$tmp/no_norm.pth" "$fx/preprocess/photo.jpg"
expect non_strict 0 "warning: '$tmp/no_norm.pth' lacks 'norm.weight' (left at its initial value)" -- "$vit" predict --weights "$tmp/no_norm.pth" "$fx/preprocess/photo.jpg" --non-strict
# One bad file among good ones: reported by name, the others classified, exit 1 at the end.
mkdir -p "$tmp/mixed" && cp "$fx/preprocess/photo.jpg" "$fx/preprocess/grey.png" "$tmp/fake.jpg" "$tmp/mixed/"
expect predict_mixed_good 1 "$tmp/mixed/photo.jpg" -- "$vit" predict --weights "$fx/weights/timm.pth" "$tmp/mixed"
expect predict_mixed_bad 1 "error: '$tmp/mixed/fake.jpg' is not a JPEG or PNG image" -- "$vit" predict --weights "$fx/weights/timm.pth" "$tmp/mixed"
expect predict_mixed_count 1 "error: 1 of 3 images could not be read; the others were classified" -- "$vit" predict --weights "$fx/weights/timm.pth" "$tmp/mixed"
expect predict_mixed_json 1 '{"path":"'"$tmp"'/mixed/fake.jpg","error":"' -- "$vit" predict --weights "$fx/weights/timm.pth" "$tmp/mixed" --json
/usr/bin/python3 -c "
import struct, zlib, sys
ihdr = struct.pack('>IIBBBBB', 200000, 200000, 8, 2, 0, 0, 0)
chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IEND', b''))" "$tmp/bomb.png"
expect predict_bomb 1 "200000x200000" -- "$vit" predict --weights "$fx/weights/timm.pth" "$tmp/bomb.png"
expect predict_missing 1 "error: image '$tmp/nothing.jpg' does not exist" -- "$vit" predict --weights "$fx/weights/timm.pth" "$tmp/nothing.jpg"
expect predict_preset_bad 2 "--preprocess: imagenet not in {timm,torchvision,hf}" -- "$vit" predict --weights x --preprocess imagenet y.jpg
ft=(--recipe "$root/examples/finetune_fashion_mnist.json" --train-limit 200 --test-limit 100 --epochs 1 --threads 2)
expect finetune 0 "fine-tuning from $fx/weights/timm.pth (timm names): patch projection summed over 3 channels" -- "$vit" train "${ft[@]}" --init "$fx/weights/timm.pth" --out "$tmp/ft"
expect finetune_predict 0 "1 image(s)" -- "$vit" predict --weights "$tmp/ft/model.safetensors" "$fx/preprocess/grey.png"
# The head count of files that do not record it: a guess only for widths none of timm's models
# has, said as a warning; --heads for every command that loads weights, fine-tuning included.
expect heads_guess 0 "warning: '$fx/weights/timm.pth' does not record its number of attention heads, and its width 128 is none of timm's standard ones; guessing 2 heads (embed_dim / 64): give --heads" -- "$vit" info --weights "$fx/weights/timm.pth"
expect heads_given 0 "heads x head_dim   4 x 32" -- "$vit" info --weights "$fx/weights/timm.pth" --heads 4
check_no_warning() { ! "$vit" info --weights "$1" --heads 2 2>&1 | grep -q warning; }
if check_no_warning "$fx/weights/timm.pth"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL heads_given_no_warning"; fi
# timm's ViT-H/14 width: 16 heads (not 1280 / 64 = 20), without a warning. One block, zeros.
/usr/bin/python3 -c "
import json, struct, sys
shapes = {'patch_embed.proj.weight': [1280, 3, 14, 14], 'patch_embed.proj.bias': [1280], 'cls_token': [1, 1, 1280],
          'pos_embed': [1, 5, 1280], 'blocks.0.norm1.weight': [1280], 'blocks.0.norm1.bias': [1280],
          'blocks.0.attn.qkv.weight': [3840, 1280], 'blocks.0.attn.qkv.bias': [3840], 'blocks.0.attn.proj.weight': [1280, 1280],
          'blocks.0.attn.proj.bias': [1280], 'blocks.0.norm2.weight': [1280], 'blocks.0.norm2.bias': [1280],
          'blocks.0.mlp.fc1.weight': [16, 1280], 'blocks.0.mlp.fc1.bias': [16], 'blocks.0.mlp.fc2.weight': [1280, 16],
          'blocks.0.mlp.fc2.bias': [1280], 'norm.weight': [1280], 'norm.bias': [1280], 'head.weight': [2, 1280], 'head.bias': [2]}
header, at = {}, 0
for name, shape in shapes.items():
    n = 4
    for d in shape: n *= d
    header[name] = {'dtype': 'F32', 'shape': shape, 'data_offsets': [at, at + n]}
    at += n
h = json.dumps(header).encode()
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h + bytes(at))" "$tmp/huge_width.safetensors"
expect heads_timm_width 0 "heads x head_dim   16 x 80" -- "$vit" info --weights "$tmp/huge_width.safetensors"
if "$vit" info --weights "$tmp/huge_width.safetensors" 2>&1 | grep -q warning; then failed=$((failed + 1)); echo "FAIL heads_timm_width_silent"; else passed=$((passed + 1)); fi
expect heads_finetune 0 '"num_heads": 4,' -- "$vit" train "${ft[@]}" --init "$fx/weights/timm.pth" --heads 4 --print-recipe
expect heads_finetune_warns 0 "warning: '$fx/weights/timm.pth' does not record its number of attention heads" -- "$vit" train "${ft[@]}" --init "$fx/weights/timm.pth" --out "$tmp/ft_guess" --max-steps 1
expect heads_without_init 1 "error: finetune.num_heads (--heads) = 4 is the head count of pretrained weights, but there are none (finetune.init); a new model's heads are model.num_heads" -- "$vit" train --heads 4
expect freeze_without_init 1 "error: freezing (freeze_embeddings, freeze_blocks) needs pretrained weights to start from (finetune.init)" -- "$vit" train --freeze-blocks 1

# vit train and vit eval on a small subset of Fashion-MNIST (Debian's dataset-fashion-mnist).
small=(--train-limit 500 --test-limit 200 --batch-size 50 --epochs 1 --threads 2)
expect train_small 0 "plot: $tmp/run/curves.png" -- "$vit" train "${small[@]}" --out "$tmp/run"
expect train_same_out 1 "error: the output folder '$tmp/run' already holds a run (checkpoint.safetensors); continue it with --resume $tmp/run/checkpoint.safetensors, choose another --out, or pass --overwrite to replace it" -- "$vit" train "${small[@]}" --out "$tmp/run"
expect train_epoch_line 0 "epoch 1/1: train loss" -- "$vit" train "${small[@]}" --out "$tmp/run" --overwrite
expect train_samples 0 "samples: $tmp/run/samples.png" -- "$vit" train "${small[@]}" --out "$tmp/run" --overwrite
expect train_splits 0 "data: " -- "$vit" train "${small[@]}" --out "$tmp/run" --overwrite
expect seed_range 2 "--seed: must be an integer in [0, 9007199254740992], got '18446744073709551615'" -- "$vit" train --seed 18446744073709551615 --print-recipe
expect val_fraction_empty 1 "error: no training images: train_limit = 500 (taken from each of the 10 classes in proportion) and val_fraction = 0.9999 leave none of the training split's 60000" -- "$vit" train "${small[@]}" --val-fraction 0.9999 --out "$tmp/empty_train"
expect train_limit_one 1 "error: the training set has 1 sample, fewer than one step of batch_size x accumulate = 128" -- "$vit" train --train-limit 1 --epochs 1 --out "$tmp/one_train"
expect test_limit_exact 0 "data: 500 training, 64 test images in 10 classes" -- "$vit" train --train-limit 500 --test-limit 64 --batch 50 --epochs 1 --threads 2 --max-steps 1 --out "$tmp/limit64"
mkfifo "$tmp/fifo.pth"
expect weights_fifo 1 "error: '$tmp/fifo.pth' is a FIFO, not a regular file" -- timeout 20 "$vit" info --weights "$tmp/fifo.pth"
expect labels_dir 1 "is a directory, not a regular file" -- "$vit" predict --weights "$fx/weights/timm.pth" --labels "$tmp" "$fx/preprocess/grey.png"
expect train_bf16 0 "adamw, bf16 -> $tmp/run_bf16" -- "$vit" train "${small[@]}" --precision bf16 --out "$tmp/run_bf16"
expect train_mix 0 "plot: $tmp/mix/curves.png" -- "$vit" train "${small[@]}" --mixup 0.8 --cutmix 1.0 --out "$tmp/mix"
expect train_mix_recipe 0 '"cutmix_alpha": 1.0' -- "$vit" train --cutmix 1 --print-recipe
expect bad_mixup 2 "--mixup: must be a number in [0, 100], got -0.5" -- "$vit" train --mixup -0.5
expect train_rand_augment 0 "plot: $tmp/ra/curves.png" -- "$vit" train "${small[@]}" --rand-augment 2,9 --out "$tmp/ra"
expect rand_augment_recipe 0 '"op": "rand_augment",' -- "$vit" train --rand-augment 3,12 --print-recipe
expect bad_rand_augment 2 "--rand-augment: Value 31 not in range 0 to 30" -- "$vit" train --rand-augment 2,31
expect bad_rand_augment_count 2 "--rand-augment: At least 2 required but received 1" -- "$vit" train --rand-augment 2
printf '{"training": {"mix_prob": 1.5}}' > "$tmp/mixprob.json"
expect bad_mix_prob 1 "error: recipe $tmp/mixprob.json: 'training.mix_prob' must be a number in [0, 1], got 1.5" -- "$vit" train --recipe "$tmp/mixprob.json"
expect eval_top1 0 "top-1" -- "$vit" eval --weights "$tmp/run/model.safetensors" --test-limit 200 --json "$tmp/eval.json"
expect eval_confusion 0 "confusion matrix (rows: true class, columns: predicted)" -- "$vit" eval --weights "$tmp/run/checkpoint.safetensors" --test-limit 200
expect eval_json 0 '"confusion"' -- cat "$tmp/eval.json"
expect eval_json_dir 1 "error: cannot write '$tmp': it is a directory" -- "$vit" eval --weights "$tmp/run/model.safetensors" --test-limit 50 --json "$tmp"
mkdir -p "$tmp/names/train"
for i in 1 2 3 4 5 6 7 8 9 10 11; do cp "$fx/preprocess/grey.png" "$tmp/names/train/cat_$i.png"; done
expect filenames_hint 1 "the dataset has 11 classes but the model has num_classes = 10 (a file's label is its name up to the first '.': 'cat.12.jpg' is labelled 'cat', while 'cat_12.jpg' is a label of its own)" -- "$vit" train --data-kind filenames --data "$tmp/names" --out "$tmp/names_run"
# vit eval takes weights of any format with a recipe: the run's weights as a PyTorch .pth (no
# config, no recipe, width 96: --heads 4) give the same evaluation as the run's own file.
/usr/bin/python3 -c "
import json, struct, sys, numpy as np, torch
data = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
header = json.loads(data[8:8 + n])
tensors = {k: torch.from_numpy(np.frombuffer(data[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]], dtype=np.float32).reshape(v['shape']).copy())
           for k, v in header.items() if k != '__metadata__'}
torch.save(tensors, sys.argv[2])" "$tmp/run/model.safetensors" "$tmp/run.pth"
"$vit" train --print-recipe > "$tmp/default_recipe.json"
expect eval_pth_no_recipe 1 "error: '$tmp/run.pth' (timm names) does not say which data it was trained on; give a recipe (--recipe, e.g. from vit train --print-recipe) for the dataset and its evaluation transforms" -- "$vit" eval --weights "$tmp/run.pth"
"$vit" eval --weights "$tmp/run/model.safetensors" --test-limit 200 > "$tmp/eval_own.txt" 2>&1
"$vit" eval --weights "$tmp/run.pth" --recipe "$tmp/default_recipe.json" --heads 4 --test-limit 200 > "$tmp/eval_pth.txt" 2>&1
expect eval_pth_equal 0 "" -- diff <(tail -n +2 "$tmp/eval_own.txt") <(tail -n +2 "$tmp/eval_pth.txt")
expect eval_flip 0 "top-1" -- "$vit" eval --weights "$tmp/run/model.safetensors" --test-limit 100 --eval-flip
expect eval_class_names 0 "Ankle boot" -- "$vit" eval --weights "$tmp/run/model.safetensors" --test-limit 100
# the hybrid recipe (ResNet-v2 stem and stage before the encoder): train, evaluate, inspect
expect train_hybrid 0 "plot: $tmp/hyb/curves.png" -- "$vit" train --recipe "$root/examples/fashion_mnist_hybrid.json" "${small[@]}" --warmup-epochs 0.5 --out "$tmp/hyb"
expect eval_hybrid 0 "top-1" -- "$vit" eval --weights "$tmp/hyb/model.safetensors" --test-limit 100
expect inspect_hybrid 0 "test_0_Ankle_boot: " -- "$vit" inspect --weights "$tmp/hyb/model.safetensors" --test-images 1 --out "$tmp/insp_hyb"
# vit inspect: the model fine-tuned on Fashion-MNIST above (its recipe resizes), pretrained RGB weights.
expect inspect_text 0 "rollout: $tmp/insp/grey_rollout.png" -- "$vit" inspect --weights "$tmp/ft/model.safetensors" "$fx/preprocess/grey.png" --out "$tmp/insp"
expect inspect_class 0 "grey.png: " -- "$vit" inspect --weights "$tmp/ft/model.safetensors" "$fx/preprocess/grey.png" --out "$tmp/insp"
expect inspect_png 0 "PNG" -- head -c 4 "$tmp/insp/grey_attention.png"
expect inspect_distance_png 0 "PNG" -- head -c 4 "$tmp/insp/attention_distance.png"
expect inspect_json 0 '"mean_attention_distance_px":[[' -- "$vit" inspect --weights "$fx/weights/timm.pth" "$fx/preprocess" --layer 0 --out "$tmp/insp2" --json
expect inspect_json_attention 0 '"attention":[[' -- "$vit" inspect --weights "$fx/weights/timm.pth" "$fx/preprocess" --layer 0 --out "$tmp/insp2" --json
expect inspect_layer 1 "error: layer 7 is out of range: the model has 3 layers (0 to 2, or -1 to -3 counting from the end)" -- "$vit" inspect --weights "$tmp/run/model.safetensors" "$fx/preprocess/grey.png" --layer 7 --out "$tmp/insp"
# The default recipe's 28x28 grey model takes a photo of any size and colour (resized first).
expect predict_any_size 0 "1 image(s)" -- "$vit" predict --weights "$tmp/run/model.safetensors" "$fx/preprocess/photo.jpg"
expect predict_preset_grey 0 "1 image(s)" -- "$vit" predict --weights "$tmp/run/model.safetensors" "$fx/preprocess/photo.jpg" --preprocess timm
expect inspect_any_size 0 "photo.jpg: " -- "$vit" inspect --weights "$tmp/run/model.safetensors" "$fx/preprocess/photo.jpg" --out "$tmp/insp_photo"
expect inspect_bad_image 1 "$tmp/fake.jpg" -- "$vit" inspect --weights "$tmp/run/model.safetensors" "$tmp/fake.jpg" --out "$tmp/insp"
expect inspect_test_images 0 "test_0_Ankle_boot: " -- "$vit" inspect --weights "$tmp/run/model.safetensors" --test-images 2 --out "$tmp/insp3"
expect inspect_test_png 0 "PNG" -- head -c 4 "$tmp/insp3/test_1_Pullover_rollout.png"
expect inspect_no_images 1 "error: no images: give image files or folders, or --test-images N" -- "$vit" inspect --weights "$tmp/run/model.safetensors"
expect inspect_no_recipe 1 "error: --test-images needs weights written by vit train (they name their dataset); '$fx/weights/timm.pth' carries no recipe" -- "$vit" inspect --weights "$fx/weights/timm.pth" --test-images 2
expect inspect_no_weights 2 "--weights is required" -- "$vit" inspect "$fx/preprocess/grey.png"
expect resume_done 0 "done in" -- "$vit" train --resume "$tmp/run/checkpoint.safetensors" --epochs 2 --out "$tmp/run"
expect stop_early 0 "resume with: vit train --resume $tmp/run2/checkpoint.safetensors" -- "$vit" train "${small[@]}" --out "$tmp/run2" --max-steps 2
# Ctrl-C: a checkpoint at the next step boundary, the resume command, exit status 130.
"$vit" train --train-limit 500 --test-limit 200 --batch-size 50 --threads 2 --epochs 30 --log-every 1 --out "$tmp/int" > "$tmp/int.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "step" "$tmp/int.log" 2>/dev/null && break; sleep 0.2; done
kill -INT "$pid"
wait "$pid"
rc=$?
expect sigint_exit 130 "resume with: vit train --resume $tmp/int/checkpoint.safetensors" -- bash -c "cat '$tmp/int.log'; exit $rc"
expect sigint_resumable 0 'next_batch' -- grep -a -o 'next_batch' "$tmp/int/checkpoint.safetensors"
expect print_recipe 0 '"kind": "fashion-mnist"' -- "$vit" train --print-recipe
# The default recipe trains in bf16 where the CPU has bf16 products and falls back to fp32.
expect long_recipe 0 '"epochs": 50' -- "$vit" train --recipe "$root/examples/fashion_mnist_long.json" --print-recipe
expect print_recipe_fp32 0 '"precision": "fp32"' -- env ONEDNN_MAX_CPU_ISA=AVX2 "$vit" train --print-recipe
expect bad_optimizer 2 "--optimizer: must be one of \"adamw\", \"adam\", \"sgd\", got \"lamb\"" -- "$vit" train --optimizer lamb
expect bad_schedule 2 "--schedule: must be one of \"cosine\", \"step\", \"constant\", got \"linear\"" -- "$vit" train --schedule linear
expect epochs_fraction 2 "--epochs: must be an integer in [1, 100000], got '2.5'" -- "$vit" train --epochs 2.5
expect lr_word 2 "--lr: must be a number in (0, 10), got 'fast'" -- "$vit" train --lr fast
expect lr_nan 2 "--lr: must be a number in (0, 10), got nan" -- "$vit" train --lr nan
expect batch_alias 0 '"batch_size": 32,' -- "$vit" train --batch-size 32 --print-recipe
expect batch_flag 0 '"batch_size": 48,' -- "$vit" train --batch 48 --print-recipe
expect shortened_warmup 0 '"warmup_epochs": 0.05,' -- "$vit" train --recipe cifar10 --epochs 1 --print-recipe
expect as_written 0 '"lr": 0.002,' -- "$vit" train --print-recipe
expect bad_lr 2 "--lr: must be a number in (0, 10), got -1" -- "$vit" train --lr -1
expect bad_data_kind 2 "--data-kind: must be one of \"fashion-mnist\", \"mnist\", \"cifar10\", \"cifar100\", \"folder\", \"filenames\", got \"svhn\"" -- "$vit" train --data-kind svhn
expect unknown_recipe 1 "error: recipe 'imagenet' is neither a built-in recipe (fashion-mnist, cifar10) nor an existing file" -- "$vit" train --recipe imagenet
printf '{"training": {"epoch": 3}}' > "$tmp/typo.json"
expect recipe_typo 1 "unknown key 'training.epoch' (valid keys: epochs," -- "$vit" train --recipe "$tmp/typo.json"
expect missing_data 1 "error: dataset path '$tmp/nowhere' does not exist" -- "$vit" train --data "$tmp/nowhere"
mkdir -p "$tmp/fm"
printf 'garbage' > "$tmp/fm/train-images-idx3-ubyte"
printf 'garbage' > "$tmp/fm/train-labels-idx1-ubyte"
expect corrupt_idx 1 "train-images-idx3-ubyte' is not an IDX file: 7 bytes, shorter than the 16-byte header" -- "$vit" train --data "$tmp/fm"
expect resume_weights_only 1 "is not a training checkpoint (no vit.train_state metadata)" -- "$vit" train --resume "$tmp/run/model.safetensors"
printf 'x' > "$tmp/afile"
expect out_is_file 1 "error: cannot create the output folder '$tmp/afile/sub'" -- "$vit" train "${small[@]}" --out "$tmp/afile/sub"
expect eval_missing 1 "error: cannot open '$tmp/none.safetensors'" -- "$vit" eval --weights "$tmp/none.safetensors"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
