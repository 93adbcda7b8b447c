"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) and the inputs of past
failures (fuzz/crashes/<target>/): small valid files of every format each reader takes, so that
fuzzing starts from deep inside the parsers, and the hostile files that once crashed, hung or
were accepted. The training checkpoint seed comes from `vit train` (VIT binary).

usage: /usr/bin/python3 fuzz/make_seeds.py VIT_BINARY"""
import base64
import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
from vit_ref import ViT, write_safetensors  # noqa: E402

TINY = dict(image_height=8, image_width=8, patch_size=4, channels=3, embed_dim=8, depth=1, num_heads=2,
            head_dim=0, mlp_dim=16, qkv_bias=True, pool="token", fc_norm=False, pre_logits_dim=0, num_classes=3,
            layernorm_eps=1e-6, gelu="erf", drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.0, patch_norm=False)


def put(target, name, data, kind="corpus"):
    d = os.path.join(HERE, kind, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def weights_seeds():
    torch.manual_seed(0)
    for name, c in (("tiny", TINY), ("layer_scale", dict(TINY, init_values=0.1)),
                    ("learned_2d", dict(TINY, pos_embed="learned_2d"))):
        sd = {k: v.detach() for k, v in ViT(c).state_dict().items()}
        with tempfile.TemporaryDirectory() as d:
            write_safetensors(os.path.join(d, "w"), sd, {"format": "vit", "vit.config": json.dumps(c)})
            put("weights", f"{name}.safetensors", open(os.path.join(d, "w"), "rb").read())
            put("checkpoint", f"{name}.safetensors", open(os.path.join(d, "w"), "rb").read())
    sd = {k: v.detach() for k, v in ViT(TINY).state_dict().items()}
    buf = io.BytesIO()
    torch.save(sd, buf)
    put("weights", "tiny.pth", buf.getvalue())
    buf = io.BytesIO()
    torch.save({k: v.half() for k, v in sd.items()}, buf)
    put("weights", "tiny_fp16.pth", buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, **{k: v.numpy() for k, v in sd.items()})
    put("weights", "tiny.npz", buf.getvalue())
    buf = io.BytesIO()
    np.savez_compressed(buf, **{"Transformer/posembed_input/pos_embedding": sd["pos_embed"].numpy()})
    put("weights", "jax_names_compressed.npz", buf.getvalue())


def checkpoint_seed(vit):
    with tempfile.TemporaryDirectory() as d:
        recipe = json.loads(subprocess.run([vit, "train", "--print-recipe"], check=True, capture_output=True,
                                           text=True).stdout)
        recipe["model"].update(embed_dim=8, depth=1, num_heads=2, mlp_dim=16)
        recipe["training"]["precision"] = "fp32"
        path = os.path.join(d, "r.json")
        json.dump(recipe, open(path, "w"))
        put("recipe", "fashion_mnist_tiny.json", json.dumps(recipe, indent=1))
        subprocess.run([vit, "train", "--recipe", path, "--out", os.path.join(d, "run"), "--max-steps", "1",
                        "--train-limit", "256", "--test-limit", "64", "--batch", "32"], check=True,
                       capture_output=True)
        put("checkpoint", "train_checkpoint.safetensors", open(os.path.join(d, "run", "checkpoint.safetensors"), "rb").read())
        for builtin in ("fashion-mnist", "cifar10"):
            put("recipe", f"{builtin}.json", subprocess.run([vit, "train", "--recipe", builtin, "--print-recipe"],
                                                            check=True, capture_output=True, text=True).stdout)
    put("recipe", "transforms.json", json.dumps({
        "train_transforms": [{"op": "random_resized_crop", "size": 24}, {"op": "horizontal_flip"},
                             {"op": "rand_augment", "num_ops": 2, "magnitude": 9},
                             {"op": "normalize", "mean": [0.5], "std": [0.5]},
                             {"op": "random_erasing", "p": 0.25, "value": "random"}],
        "model": {"preset": "vit_tiny_patch16_224", "image_height": 24, "image_width": 24, "patch_size": 4},
        "training": {"mixup_alpha": 0.2, "cutmix_alpha": 1.0}}))


def config_seeds():
    put("model_config", "tiny.json", json.dumps(TINY))
    put("model_config", "hybrid.json", json.dumps(dict(TINY, image_height=64, image_width=48, patch_size=1, hybrid=True,
                                                       hybrid_layers=[1, 1], hybrid_width=32)))
    put("model_config", "post_norm.json", json.dumps(dict(TINY, post_norm=True, mlp_relu=True, pos_embed="sincos_2d")))


def image_seeds():
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8), "RGB")
    for name, im, kw in (("baseline.jpg", rgb, dict(quality=80)), ("progressive.jpg", rgb, dict(progressive=True)),
                         ("grey.jpg", rgb.convert("L"), {}), ("rgb.png", rgb, {}), ("grey.png", rgb.convert("L"), {}),
                         ("rgba.png", rgb.convert("RGBA"), {}), ("palette.png", rgb.convert("P"), {})):
        buf = io.BytesIO()
        im.save(buf, format="JPEG" if name.endswith(".jpg") else "PNG", **kw)
        put("image", name, buf.getvalue())
    # past failures: a truncated JPEG (accepted, grey-padded), a progressive JPEG whose last scan
    # repeats (decode time without bound)
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", progressive=True)
    data = buf.getvalue()
    put("image", "truncated.jpg", data[: len(data) // 2], kind="crashes")
    last_sos = data.rfind(b"\xff\xda")
    put("image", "repeated_scans.jpg", data[:last_sos] + data[last_sos:-2] * 300 + b"\xff\xd9", kind="crashes")


def idx_seeds():
    images = struct.pack(">IIII", 0x803, 3, 4, 4) + bytes(range(48))
    labels = struct.pack(">II", 0x801, 3) + bytes([0, 1, 2])
    put("idx", "plain", struct.pack("<I", len(images)) + images + labels)
    gz_images, gz_labels = gzip.compress(images), gzip.compress(labels)
    put("idx", "gzipped", struct.pack("<I", len(gz_images)) + gz_images + gz_labels)


def cifar_seeds():
    rng = np.random.default_rng(1)
    put("cifar", "cifar10_2_records.bin", b"".join(bytes([k]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
                                                     for k in (3, 7)))
    put("cifar", "cifar100_1_record.bin", bytes([1, 42]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes())


def serve_request_seeds():
    """vit serve's request bodies; the first byte picks the form (see fuzz_serve_request.cpp)."""
    def put_mode(name, mode, body):
        put("serve_request", name, bytes([mode]) + body)
    pixels = {"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 1, 4, 4], "data": [0.5] * 16}]}
    put_mode("pixels_json", 0, json.dumps(pixels).encode())
    nested = {"id": "x", "inputs": [{"name": "images", "datatype": "FP32", "shape": [2, 1, 4, 4],
                                     "data": [[[[1, 2, 3, 4]] * 4]] * 2}],
              "outputs": [{"name": "logits", "parameters": {"classification": 2}}]}
    put_mode("pixels_nested", 0, json.dumps(nested).encode())
    encoded = {"inputs": [{"name": "image_bytes", "datatype": "BYTES", "shape": [2],
                           "data": [base64.b64encode(b"abc").decode(), base64.b64encode(b"\x89PNG").decode()]}],
               "parameters": {"binary_data_output": True}}
    put_mode("bytes_json", 0, json.dumps(encoded).encode())
    data = struct.pack("<16f", *([0.25] * 16))
    header = json.dumps({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 1, 4, 4],
                                     "parameters": {"binary_data_size": len(data)}}]}).encode()
    header += b" " * (-len(header) % 8)  # mode 1 reads a header of (mode / 4) * 8 bytes
    put_mode("pixels_binary", 1 + 4 * (len(header) // 8), header + data)
    elements = struct.pack("<I", 3) + b"abc" + struct.pack("<I", 2) + b"xy"
    header = json.dumps({"inputs": [{"name": "image_bytes", "datatype": "BYTES", "shape": [2],
                                     "parameters": {"binary_data_size": len(elements)}}],
                         "outputs": [{"name": "logits", "parameters": {"binary_data": True, "classification": 3}}]}).encode()
    put_mode("bytes_binary", 2, str(len(header)).encode() + header + elements)
    put_mode("multipart", 3, b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
             b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0data\r\n--XyZ--\r\n")


def nested_json_crashes():
    deep = "[" * 5000 + "]" * 5000
    put("recipe", "nested_5000.json", '{"training": {"lr": ' + deep + "}}", kind="crashes")
    put("model_config", "nested_5000.json", '{"depth": ' + deep + "}", kind="crashes")
    header = json.dumps({"__metadata__": {"vit.config": "{}"}, "x": {"dtype": "F32", "shape": [1],
                                                                      "data_offsets": [0, 4]}})
    header = header.replace('"shape": [1]', '"shape": ' + deep)
    header += " " * ((8 - len(header) % 8) % 8)
    put("weights", "nested_shape.safetensors", struct.pack("<Q", len(header)) + header.encode() + b"\0" * 4,
        kind="crashes")


if __name__ == "__main__":
    weights_seeds()
    checkpoint_seed(sys.argv[1])
    config_seeds()
    image_seeds()
    idx_seeds()
    cifar_seeds()
    serve_request_seeds()
    nested_json_crashes()
