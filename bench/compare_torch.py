"""Runs `vit bench` and PyTorch on the same ViT config, batch, thread count and precision in one
run, and prints images/s for both (best and median of the repeats), the ratio, the fraction of
the machine's peak and the peak resident memory of each process.

PyTorch runs at its best setting found on this machine kind, with OMP_WAIT_POLICY=PASSIVE
(PyTorch 1.13 loses ~10% at 2 threads without it) and torch.set_num_threads(threads); `vit bench`
runs with the caller's environment, as a user runs it:
  - fp32 forward: eager under torch.inference_mode();
  - bf16 forward: traced and frozen under torch.autocast("cpu", torch.bfloat16);
  - fp32 training step: eager, AdamW with the same parameter groups;
  - bf16 training step: forward and loss under autocast, backward and AdamW in fp32 (master weights).
Peak: the peak `vit bench` measures for the precision: fp32 vector FMAs, or the CPU's bf16
dot-product instruction (not a fixed multiple of fp32's: it differs between CPU generations).

usage: /usr/bin/python3 bench/compare_torch.py --preset vit_base_patch16_224 --batch 16
       /usr/bin/python3 bench/compare_torch.py --config bench/configs/fashion_mnist_dim192.json \\
           --batch 128 --mode train --precision bf16
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

if os.environ.get("OMP_WAIT_POLICY") != "PASSIVE":  # must be set before torch starts OpenMP
    # `vit bench` runs with the caller's setting (by default OpenMP's), as users run vit.
    os.environ["VIT_CALLER_OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY", "")
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
from vit_ref import ViT, param_groups  # noqa: E402


def time_it(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def torch_forward(model, images, bf16, repeats):
    model.eval()
    if not bf16:
        def forward():
            with torch.inference_mode():
                model(images)
        return time_it(forward, 1, repeats)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        traced = torch.jit.freeze(torch.jit.trace(model, images, check_trace=False))
        return time_it(lambda: traced(images), 2, repeats)


def torch_train(model, images, targets, bf16, repeats):
    model.train()
    opt = torch.optim.AdamW(param_groups(model, 0.05), lr=1e-3)

    def step():
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(images), targets)
        loss.backward()
        opt.step()
    return time_it(step, 1, repeats)


def main():
    ap = argparse.ArgumentParser()
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--preset", default=None)
    src.add_argument("--config", default=None, help="a JSON file of model fields")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--mode", choices=["forward", "train", "both"], default="forward")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--vit", default=os.path.join(ROOT, "build", "vit"))
    args = ap.parse_args()
    model_flags = ["--config", args.config] if args.config else ["--preset", args.preset or "vit_base_patch16_224"]
    name = args.config or args.preset or "vit_base_patch16_224"

    vit_env = dict(os.environ)
    caller_policy = vit_env.pop("VIT_CALLER_OMP_WAIT_POLICY", None)
    if caller_policy is not None:
        vit_env.pop("OMP_WAIT_POLICY")
        if caller_policy:
            vit_env["OMP_WAIT_POLICY"] = caller_policy
    info = json.loads(subprocess.check_output([args.vit, "info", *model_flags, "--json"], env=vit_env))
    ours = json.loads(subprocess.check_output(
        [args.vit, "bench", *model_flags, "--batch", str(args.batch), "--threads", str(args.threads),
         "--repeats", str(args.repeats), "--mode", args.mode, "--precision", args.precision, "--json"],
        env=vit_env))
    bf16 = args.precision == "bf16"
    peak = ours["peak_bf16_gflops" if bf16 else "peak_fp32_gflops"]
    gflop = info["forward_gflops_per_image"]

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ViT(info)
    images = torch.randn(args.batch, info["channels"], info["image_height"], info["image_width"])
    targets = torch.arange(args.batch) % max(info["num_classes"], 1)
    results = {}
    if args.mode in ("forward", "both"):
        results["forward"] = torch_forward(model, images, bf16, args.repeats)
    if args.mode in ("train", "both"):
        results["train"] = torch_train(model, images, targets, bf16, args.repeats)
    torch_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"{name}, batch {args.batch}, {args.threads} threads, {args.precision}, {gflop:.3f} GFLOP/image forward, "
          f"{args.precision} peak {peak:.1f} GFLOP/s")
    print(f"{'':8} {'vit img/s (best/median)':>26} {'PyTorch img/s':>22} {'ratio':>7} {'vit % peak':>11} {'torch % peak':>13}")
    for mode, (t_min, t_med) in results.items():
        flops = gflop * (3 if mode == "train" else 1)
        ours_best = ours[mode]["images_per_s_best"]
        ours_med = ours[mode]["images_per_s_median"]
        torch_best, torch_med = args.batch / t_min, args.batch / t_med
        print(f"{mode:8} {ours_best:12.2f} / {ours_med:9.2f} {torch_best:10.2f} / {torch_med:9.2f} "
              f"{ours_best / torch_best:7.2f} {100 * ours_best * flops / peak:10.0f}% {100 * torch_best * flops / peak:12.0f}%")
    print(f"peak resident memory: vit {ours['peak_rss_mib']:.0f} MiB, PyTorch process {torch_rss:.0f} MiB")


if __name__ == "__main__":
    main()
