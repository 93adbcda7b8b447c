"""Runs `vit bench` and PyTorch on the same ViT config, batch and thread count in one run, and
prints images/s for both, the ratio, and the fraction of the machine's fp32 peak.

PyTorch runs at its best setting found on this machine kind: eager mode under
torch.inference_mode() for the forward pass, with OMP_WAIT_POLICY=PASSIVE (PyTorch 1.13 loses
~10% at 2 threads without it) and torch.set_num_threads(threads).

usage: /usr/bin/python3 bench/compare_torch.py --preset vit_base_patch16_224 --batch 16 --threads 2
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="vit_base_patch16_224")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--mode", choices=["forward", "train", "both"], default="forward")
    ap.add_argument("--vit", default=os.path.join(ROOT, "build", "vit"))
    args = ap.parse_args()

    info = json.loads(subprocess.check_output([args.vit, "info", "--preset", args.preset, "--json"]))
    ours = json.loads(subprocess.check_output(
        [args.vit, "bench", "--preset", args.preset, "--batch", str(args.batch), "--threads",
         str(args.threads), "--repeats", str(args.repeats), "--mode", args.mode, "--json"]))
    peak = ours["peak_fp32_gflops"]
    gflop = info["forward_gflops_per_image"]

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ViT(info)
    images = torch.randn(args.batch, info["channels"], info["image_height"], info["image_width"])
    results = {}
    if args.mode in ("forward", "both"):
        model.eval()

        def forward():
            with torch.inference_mode():
                model(images)
        results["forward"] = time_it(forward, 1, args.repeats)
    if args.mode in ("train", "both"):
        model.train()
        opt = torch.optim.AdamW(param_groups(model, 0.01), lr=1e-3)
        targets = torch.arange(args.batch) % max(info["num_classes"], 1)

        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(images), targets).backward()
            opt.step()
        results["train"] = time_it(step, 1, args.repeats)
    torch_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"{args.preset}, batch {args.batch}, {args.threads} threads, {gflop:.2f} GFLOP/image forward, "
          f"measured fp32 peak {peak:.1f} GFLOP/s")
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
