#!/usr/bin/env python3
"""Compares two training runs of vit: their step losses, final weights and test evaluations.

usage: compare_runs.py RUN_A RUN_B [--loss-rtol R] [--weight-atol A] [--from-step S] [--exact]

Prints the largest differences and exits 1 when one is past its tolerance. --exact asks for
bit-identical losses and weights. Evaluation counts (top-1 hits, confusion matrix) must always
be equal.
"""
import argparse
import json
import struct
import sys

import numpy as np


def step_losses(run, from_step):
    losses = {}
    with open(f"{run}/metrics.jsonl") as f:
        for line in f:
            event = json.loads(line)
            if event["event"] == "step" and event["step"] > from_step:
                losses[event["step"]] = event["loss"]
    return losses


def tensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, end = t["data_offsets"]
        assert t["dtype"] == "F32", (name, t["dtype"])
        out[name] = np.frombuffer(data[begin:end], dtype=np.float32)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--loss-rtol", type=float, default=1e-5)
    p.add_argument("--weight-atol", type=float, default=1e-4)
    p.add_argument("--from-step", type=int, default=0)
    p.add_argument("--exact", action="store_true")
    args = p.parse_args()
    ok = True

    la, lb = step_losses(args.a, args.from_step), step_losses(args.b, args.from_step)
    if sorted(la) != sorted(lb) or not la:
        print(f"the runs log different steps: {len(la)} and {len(lb)}")
        return 1
    worst = max(abs(la[s] - lb[s]) / max(abs(la[s]), 1e-12) for s in la)
    print(f"{len(la)} step losses: largest relative difference {worst:.3g}")
    ok &= worst == 0.0 if args.exact else worst <= args.loss_rtol

    wa, wb = tensors(f"{args.a}/model.safetensors"), tensors(f"{args.b}/model.safetensors")
    if sorted(wa) != sorted(wb):
        print("the weights hold different tensors")
        return 1
    wdiff = max(float(np.max(np.abs(wa[k] - wb[k]))) for k in wa)
    print(f"{len(wa)} weight tensors: largest absolute difference {wdiff:.3g}")
    ok &= wdiff == 0.0 if args.exact else wdiff <= args.weight_atol

    ea, eb = (json.load(open(f"{r}/test_eval.json")) for r in (args.a, args.b))
    same_counts = ea["confusion"] == eb["confusion"] and ea["samples"] == eb["samples"] and ea["top1"] == eb["top1"]
    print(f"test evaluation: top-1 {ea['top1']:.4f} and {eb['top1']:.4f}, confusion matrices "
          f"{'equal' if same_counts else 'DIFFERENT'}, loss {ea['loss']:.6f} and {eb['loss']:.6f}")
    ok &= same_counts
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
