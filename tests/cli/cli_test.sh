#!/usr/bin/env bash
# The vit command line: results, error messages and exit codes. usage: cli_test.sh PATH_TO_VIT
set -u
vit="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

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
expect indivisible 1 "error: image size 200x200 must be divisible by patch_size 16" -- "$vit" info --preset vit_base_patch16_224 --image-size 200
expect threads_zero 2 "--threads: Value 0 not in range 1 to 1024" -- "$vit" bench --threads 0
expect threads_text 2 "--threads: Value 2x not in range 1 to 1024" -- "$vit" bench --threads 2x
expect mode_bad 2 "--mode: fast not in {forward,train,both}" -- "$vit" bench --mode fast
expect no_command 2 "A subcommand is required" -- "$vit"
expect both_sources 2 "--preset excludes --weights" -- "$vit" info --preset vit_base_patch16_224 --weights x.safetensors
expect missing_file 1 "error: cannot open 'missing.safetensors': No such file or directory" -- "$vit" info --weights missing.safetensors
printf 'not a safetensors file at all' > "$tmp/bad.safetensors"
expect bad_file 1 "header length" -- "$vit" info --weights "$tmp/bad.safetensors"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
