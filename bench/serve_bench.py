#!/usr/bin/python3
"""vit serve under load against vit bench's forward pass, in one run on one machine.

For each model (random weights in timm's names, written here): `vit bench --mode forward` at
batch 1 and at --max-batch, then `vit serve` driven by hey at each concurrency with one
preprocessed FP32 image per request (binary tensor data, so that both sides run the same
forward pass and no decoding). Prints images/s, p50 and p99 latency, the mean batch size (from
/metrics), the ratio to vit bench at the same batch, the fraction of the fp32 peak, and the
server's resident memory over a soak.

hey runs on the same cores as the server: on a small machine it takes a share of them.

usage: /usr/bin/python3 bench/serve_bench.py [--vit build/vit] [--models small,base]
           [--concurrency 1,8,32] [--seconds 15] [--soak 60] [--max-batch 8] [--max-delay-ms 0]
"""
import argparse
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))

MODELS = {"small": ("vit_small_patch16_224", 384, 12, 6), "base": ("vit_base_patch16_224", 768, 12, 12)}


def write_weights(path, dim, depth, heads):
    import torch
    from vit_ref import ViT, state_dict_for_file, write_safetensors
    torch.manual_seed(0)
    c = dict(image_height=224, image_width=224, patch_size=16, channels=3, embed_dim=dim, depth=depth,
             num_heads=heads, head_dim=0, mlp_dim=4 * dim, qkv_bias=True, pool="token", fc_norm=False,
             pre_logits_dim=0, num_classes=1000, layernorm_eps=1e-6, gelu="erf", drop_rate=0.0,
             attn_drop_rate=0.0, drop_path_rate=0.0, patch_norm=False)
    write_safetensors(path, state_dict_for_file(ViT(c)), None)


def bench_forward(vit, preset, batch, threads, peak):
    args = [vit, "bench", "--preset", preset, "--mode", "forward", "--batch", str(batch), "--threads", str(threads),
            "--repeats", "10", "--warmup", "2", "--json"]
    if not peak:
        args.append("--no-peak")
    return json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)


def metric(text, name, model):
    m = re.search(rf'{name}{{model="{model}"}} (\d+)', text)
    return int(m.group(1)) if m else 0


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vit", default=os.path.join(HERE, "..", "build", "vit"))
    ap.add_argument("--models", default="small,base")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--soak", type=int, default=60)
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--max-delay-ms", default="0")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="vit_serve_bench_")
    try:
        for key in args.models.split(","):
            preset, dim, depth, heads = MODELS[key]
            weights = os.path.join(tmp, f"{key}.safetensors")
            write_weights(weights, dim, depth, heads)
            one = bench_forward(args.vit, preset, 1, args.threads, peak=True)
            full = bench_forward(args.vit, preset, args.max_batch, args.threads, peak=False)
            peak = one["peak_fp32_gflops"]
            gflop = one["forward_gflops_per_image"]
            print(f"{preset}: vit bench forward batch 1: {one['forward']['ms_per_batch_median']:.1f} ms median "
                  f"({one['forward']['ms_per_batch_best']:.1f} best); batch {args.max_batch}: "
                  f"{full['forward']['images_per_s_median']:.1f} images/s median "
                  f"({full['forward']['images_per_s_best']:.1f} best); fp32 peak {peak:.0f} GFLOP/s", flush=True)
            body = os.path.join(tmp, "body.bin")
            pixels = struct.pack("<f", 0.1) * (3 * 224 * 224)
            header = json.dumps({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 3, 224, 224],
                                             "parameters": {"binary_data_size": len(pixels)}}],
                                 "parameters": {"binary_data_output": True}}).encode()
            with open(body, "wb") as f:
                f.write(header + pixels)
            log = open(os.path.join(tmp, "serve.log"), "w")
            server = subprocess.Popen([args.vit, "serve", "--weights", weights, "--port", "0", "--threads",
                                       str(args.threads), "--max-batch", str(args.max_batch), "--max-delay-ms",
                                       args.max_delay_ms, "--queue", "256"], stdout=log, stderr=subprocess.STDOUT)
            port = None
            for _ in range(1200):
                text = open(log.name).read()
                m = re.search(r"listening on http://[^:]+:(\d+)", text)
                if m and "vit serve: ready" in text:
                    port = int(m.group(1))
                    break
                time.sleep(0.1)
            base = f"http://127.0.0.1:{port}"
            hey = [shutil.which("hey"), "-m", "POST", "-D", body, "-T", "application/octet-stream",
                   "-H", f"Inference-Header-Content-Length: {len(header)}"]
            for c in [int(x) for x in args.concurrency.split(",")]:
                before = urllib.request.urlopen(base + "/metrics").read().decode()
                out = subprocess.run(hey + ["-z", f"{args.seconds}s", "-c", str(c), base + "/v2/models/vit/infer"],
                                     capture_output=True, text=True).stdout
                after = urllib.request.urlopen(base + "/metrics").read().decode()
                images = metric(after, "vit_images_total", "vit") - metric(before, "vit_images_total", "vit")
                batches = metric(after, "vit_batches_total", "vit") - metric(before, "vit_batches_total", "vit")
                rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
                p50 = float(re.search(r"50% in ([\d.]+) secs", out).group(1)) * 1e3
                p99 = float(re.search(r"99% in ([\d.]+) secs", out).group(1)) * 1e3
                codes = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
                mean_batch = images / max(batches, 1)
                print(f"  concurrency {c:>2}: {rate:7.1f} images/s, p50 {p50:7.1f} ms, p99 {p99:7.1f} ms, mean batch "
                      f"{mean_batch:.2f}, {rate / full['forward']['images_per_s_median']:.2f} of vit bench at batch "
                      f"{args.max_batch}, {100 * rate * gflop / peak:.0f}% of peak, codes {codes}", flush=True)
            if args.soak > 0:
                soak = subprocess.Popen(hey + ["-z", f"{args.soak}s", "-c", "8", base + "/v2/models/vit/infer"],
                                        stdout=subprocess.DEVNULL)
                time.sleep(5)
                start = rss_mib(server.pid)
                samples = [start]
                while soak.poll() is None:
                    time.sleep(5)
                    samples.append(rss_mib(server.pid))
                print(f"  soak {args.soak} s at concurrency 8: resident {start:.0f} MiB after 5 s, {samples[-1]:.0f} MiB "
                      f"at the end, most {max(samples):.0f} MiB ({100 * (samples[-1] / start - 1):+.1f}%)", flush=True)
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
