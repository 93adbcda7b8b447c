"""Writes the PyTorch reference fixtures for the C++ tests.

parity_<config>.safetensors: for each config, random weights, inputs, the output, the loss,
every parameter gradient and the losses and parameters of 5 AdamW steps.
parity_bf16_<config>.safetensors: the same for some configs in mixed precision.
inspect.safetensors: random weights, two images, every layer's attention probabilities, their
attention rollout and mean attention distances (vit_ref.attention_rollout, mean_attention_distance).
mix.safetensors: timm's Mixup / CutMix on a batch for given lambdas and boxes (the batch mixed
with its reverse, targets mixed from label-smoothed one-hots) and the soft-target cross-entropy
with its gradient, by autograd.
resample.safetensors: F.interpolate(mode='bicubic' and 'bilinear', align_corners=False) with and
without antialias on random grids, up and down.
weights/: weight files in every supported format and hostile ones; preprocess/: images and the
evaluation preprocessing of timm, torchvision and Hugging Face (make_weight_fixtures.py).

usage: make_fixtures.py OUT_DIR"""
import json
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vit_ref  # noqa: E402
from vit_ref import ViT, param_groups, state_dict_for_file, write_safetensors  # noqa: E402
from make_weight_fixtures import make_preprocess_files, make_weight_files  # noqa: E402

FIXTURE_VERSION = "3"

BASE = dict(image_height=32, image_width=32, patch_size=8, channels=3, embed_dim=64, depth=2,
            num_heads=4, head_dim=0, mlp_dim=128, qkv_bias=True, pool="token", fc_norm=False,
            pre_logits_dim=0, num_classes=10, layernorm_eps=1e-6, gelu="erf", drop_rate=0.0,
            attn_drop_rate=0.0, drop_path_rate=0.0, patch_norm=False)

CONFIGS = {
    # class token, qkv bias, exact GELU, patch 8
    "token_erf": dict(),
    # non-square 32x48, mean pooling with the norm after pooling, no qkv bias, tanh GELU
    "mean_fcnorm_tanh": dict(image_width=48, embed_dim=48, num_heads=3, mlp_dim=96, qkv_bias=False,
                             pool="mean", fc_norm=True, gelu="tanh", num_classes=7),
    # patch 4, explicit head dim (2 x 24 = 48 != 32), pre-logits, HF's LayerNorm eps
    "headdim_prelogits": dict(image_height=16, image_width=16, patch_size=4, embed_dim=32,
                              num_heads=2, head_dim=24, mlp_dim=64, pre_logits_dim=40,
                              num_classes=5, layernorm_eps=1e-12),
    # class count 0: the model returns pooled features (mean pooling, norm before pooling)
    "features": dict(image_height=24, image_width=24, patch_size=4, embed_dim=32, depth=1,
                     pool="mean", num_classes=0),
    # lucidrains' patch-embedding norms, one channel
    "patch_norm": dict(image_height=16, image_width=16, patch_size=4, channels=1, embed_dim=32,
                       num_heads=2, mlp_dim=64, patch_norm=True, pool="mean"),
    # 28x28 grey images (Fashion-MNIST shape), tanh GELU, pre-logits, no qkv bias, depth 3
    "fashion_shape": dict(image_height=28, image_width=28, patch_size=4, channels=1, embed_dim=40,
                          depth=3, num_heads=5, mlp_dim=80, qkv_bias=False, gelu="tanh",
                          pre_logits_dim=16),
    # nn.TransformerEncoderLayer blocks (post-norm, ReLU, eps 1e-5) with no final norm, the
    # seeds' encoder; drop rates 0 so that PyTorch's own layer can check the reference block
    "post_norm_relu": dict(post_norm=True, mlp_relu=True, layernorm_eps=1e-5, depth=3),
    # LayerScale (timm's init_values, DeiT-III): every branch scaled per channel by ls1/ls2.gamma
    "layer_scale": dict(init_values=0.1, embed_dim=48, num_heads=3, mlp_dim=96, depth=2),
    # position tables (the paper's Appendix D.4) on a non-square 3x5 grid, so rows and columns
    # cannot be confused: none, a learned table per axis, MAE's fixed sin-cos table
    "pos_none": dict(image_width=40, pos_embed="none", pool="mean", depth=1),
    "pos_learned_2d": dict(image_height=24, image_width=40, pos_embed="learned_2d", embed_dim=48, num_heads=3,
                           mlp_dim=96),
    "pos_sincos_2d": dict(image_height=24, image_width=40, pos_embed="sincos_2d", embed_dim=48, num_heads=3,
                          mlp_dim=96),
    # hybrid: stem and two stages of ResNet-v2 bottlenecks (an identity block, a stride-2
    # shortcut) on 36x28 images, whose odd maps (18x14 -> 9x7 -> 5x4) pad asymmetrically
    "hybrid_stages": dict(image_height=36, image_width=28, patch_size=1, hybrid=True, hybrid_layers=[2, 1],
                          hybrid_width=32, embed_dim=48, num_heads=3, mlp_dim=96),
    # hybrid stem only, one channel, a 2x2 patch on its 6x10 feature map
    "hybrid_stem_patch2": dict(image_height=24, image_width=40, channels=1, patch_size=2, hybrid=True,
                               hybrid_layers=[], hybrid_width=32, embed_dim=32, num_heads=2, mlp_dim=64,
                               depth=1),
}

# The same configs in mixed precision (bf16 products, fp32 sums) against the emulation in
# vit_ref.Bf16Linear and vit_ref.Bf16Matmul, with the spread of that emulation under
# summation-order noise (bf16_spread), from which the test derives its bounds.
BF16_CONFIGS = ["token_erf", "patch_norm", "fashion_shape", "post_norm_relu", "layer_scale", "pos_learned_2d"]

BATCH = 3
SMOOTHING = 0.1
ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)
STEPS = 5


def randomise(model, gen):
    """Weights far from identity, so every path carries signal."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen) if name.endswith("weight")
                        else 0.2 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                std = 0.5 if name.startswith(("cls_token", "pos_embed")) else 1.0 / fan_in ** 0.5
                p.copy_(std * torch.randn(p.shape, generator=gen))


def objective(model, c, images, targets, dfeatures):
    out = model(images)
    if c["num_classes"]:
        loss = torch.nn.functional.cross_entropy(out, targets, label_smoothing=SMOOTHING)
    else:
        loss = (out * dfeatures).sum()  # d loss / d features = dfeatures
    return out, loss


ORDER_NOISE_RUNS = 16


def relative_spread(runs, expected):
    """How far tensors of correct runs lie from the expected one: [the largest ||run - e|| / ||e||,
    the largest |run_i - e_i| / (|e_i| + rms(e))]."""
    e = expected.double().flatten()
    rms = e.pow(2).mean().sqrt()
    normwise = max(((r.double().flatten() - e).norm() / e.norm().clamp_min(1e-30)).item() for r in runs)
    elementwise = max(((r.double().flatten() - e).abs() / (e.abs() + rms).clamp_min(1e-30)).max().item() for r in runs)
    return [normwise, elementwise]


def run(model, c, images, targets, dfeatures):
    """The fixture's computations on model: the output, the loss and every parameter gradient, then
    STEPS AdamW steps from the same start with their losses and each parameter's change."""
    out, loss = objective(model, c, images, targets, dfeatures)
    loss.backward()
    result = {"output": out.detach(), "loss": loss.detach().reshape(1),
              **{"grad." + n: p.grad.detach().clone() for n, p in model.named_parameters()}}
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(param_groups(model, ADAMW["weight_decay"]), lr=ADAMW["lr"],
                            betas=ADAMW["betas"], eps=ADAMW["eps"])
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        _, loss = objective(model, c, images, targets, dfeatures)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    result["adamw_losses"] = torch.tensor(losses)
    result.update({"update." + n: p.detach() - start[n] for n, p in model.named_parameters()})
    return result


def bf16_spread(c, state, images, targets, dfeatures, plain, seed):
    """Runs the bf16 model ORDER_NOISE_RUNS times with vit_ref.ORDER_NOISE and measures how far each
    result spreads from the plain run's: where a value lies near a bf16 rounding boundary, another
    summation order rounds it the other way, and the step travels on."""
    runs = []
    vit_ref.ORDER_NOISE = torch.Generator().manual_seed(seed)
    for _ in range(ORDER_NOISE_RUNS):
        model = ViT(c, bf16=True)
        model.load_state_dict(state)
        runs.append(run(model, c, images, targets, dfeatures))
    vit_ref.ORDER_NOISE = None
    return {k: relative_spread([r[k] for r in runs], e) for k, e in plain.items()}


def make(name, overrides, out_dir, seed, bf16=False):
    c = dict(BASE)
    c.update(overrides)
    gen = torch.Generator().manual_seed(seed)
    model = ViT(c, bf16=bf16)
    randomise(model, gen)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    tensors = {k: v.clone() for k, v in state_dict_for_file(model).items()}
    if c.get("post_norm") and not bf16:  # the reference block is PyTorch's encoder layer
        x = torch.randn(BATCH, 5, c["embed_dim"], generator=gen)
        for block in model.blocks:
            torch.testing.assert_close(block(x), vit_ref.torch_encoder_layer(block, c)(x), rtol=1e-5, atol=1e-5)

    images = torch.randn(BATCH, c["channels"], c["image_height"], c["image_width"], generator=gen)
    targets = torch.randint(0, max(c["num_classes"], 1), (BATCH,), generator=gen)
    feat = c["pre_logits_dim"] or c["embed_dim"]
    dfeatures = torch.randn(BATCH, feat, generator=gen)

    result = run(model, c, images, targets, dfeatures)
    tensors["input.images"] = images
    tensors["input.targets"] = targets.to(torch.int64)
    tensors["input.dfeatures"] = dfeatures
    tensors["expected.output"] = result["output"]
    tensors["expected.loss"] = result["loss"]
    tensors["expected.adamw_losses"] = result["adamw_losses"]
    for pname, p in model.named_parameters():
        tensors["grad." + pname] = result["grad." + pname]
        tensors["after." + pname] = p.detach().clone()

    meta = {"fixture": "parity", "fixture_version": FIXTURE_VERSION, "vit.config": json.dumps(c),
            "smoothing": str(SMOOTHING), "adamw": json.dumps(ADAMW), "steps": str(STEPS),
            "precision": "bf16" if bf16 else "fp32", "seed": str(seed)}
    if bf16:
        meta["bf16_spread"] = json.dumps(bf16_spread(c, state, images, targets, dfeatures, result, seed))
    prefix = "parity_bf16_" if bf16 else "parity_"
    write_safetensors(os.path.join(out_dir, f"{prefix}{name}.safetensors"), tensors, meta)


RESAMPLE_CASES = [  # (in_h, in_w, out_h, out_w, channels)
    (14, 14, 24, 24, 5), (24, 24, 14, 14, 5), (7, 9, 12, 5, 3), (16, 16, 16, 16, 2), (3, 3, 11, 8, 4),
]


def make_resample(out_dir, seed):
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for i, (ih, iw, oh, ow, ch) in enumerate(RESAMPLE_CASES):
        grid = torch.randn(1, ch, ih, iw, generator=gen)
        tensors[f"case{i}.input"] = grid[0].permute(1, 2, 0)  # channel-last [H, W, C]
        for mode in ("bicubic", "bilinear"):
            for aa in (False, True):
                out = torch.nn.functional.interpolate(grid, size=(oh, ow), mode=mode,
                                                      align_corners=False, antialias=aa)
                tensors[f"case{i}.{mode}.antialias{int(aa)}"] = out[0].permute(1, 2, 0)
    meta = {"fixture": "resample", "fixture_version": FIXTURE_VERSION, "cases": json.dumps(RESAMPLE_CASES)}
    write_safetensors(os.path.join(out_dir, "resample.safetensors"), tensors, meta)


# (batch, lam, CutMix box rows [y0, y1) columns [x0, x1) or None): an even and an odd batch for
# Mixup, a CutMix box inside the image and one at its corner.
MIX_CASES = [(6, 0.3, None), (5, 0.7, None), (6, 0.0, (1, 4, 2, 6)), (4, 0.0, (0, 2, 5, 7))]
MIX_SHAPE = (2, 5, 7)  # C, H, W
MIX_CLASSES, MIX_SMOOTHING = 5, 0.1


def make_mix(out_dir, seed):
    """timm.data.Mixup._mix_batch and mixup_target, written out with torch ops."""
    gen = torch.Generator().manual_seed(seed)
    C, H, W = MIX_SHAPE
    K, eps = MIX_CLASSES, MIX_SMOOTHING
    tensors, cases = {}, []
    for i, (B, lam, box) in enumerate(MIX_CASES):
        x = torch.randn(B, C, H, W, generator=gen)
        labels = torch.randint(0, K, (B,), generator=gen)
        mixed = x.clone()
        if box is not None:
            y0, y1, x0, x1 = box
            mixed[:, :, y0:y1, x0:x1] = mixed.flip(0)[:, :, y0:y1, x0:x1]
            lam = 1.0 - (y1 - y0) * (x1 - x0) / float(H * W)
        else:
            flipped = mixed.flip(0).mul_(1.0 - lam)
            mixed.mul_(lam).add_(flipped)
        off, on = eps / K, 1.0 - eps + eps / K
        y1h = torch.full((B, K), off).scatter_(1, labels.view(-1, 1), on)
        y2h = torch.full((B, K), off).scatter_(1, labels.flip(0).view(-1, 1), on)
        targets = y1h * lam + y2h * (1.0 - lam)
        logits = (3 * torch.randn(B, K, generator=gen)).requires_grad_()
        loss = torch.sum(-targets * torch.nn.functional.log_softmax(logits, dim=-1), dim=-1).mean()
        loss.backward()
        tensors.update({f"case{i}.images": x, f"case{i}.labels": labels.float(), f"case{i}.mixed": mixed,
                        f"case{i}.targets": targets, f"case{i}.logits": logits.detach(),
                        f"case{i}.dlogits": logits.grad, f"case{i}.loss": loss.detach().reshape(1)})
        cases.append({"batch": B, "lam": lam, "box": list(box) if box else None})
    meta = {"fixture": "mix", "fixture_version": FIXTURE_VERSION, "cases": json.dumps(cases),
            "shape": json.dumps(MIX_SHAPE), "classes": str(K), "smoothing": str(eps)}
    write_safetensors(os.path.join(out_dir, "mix.safetensors"), tensors, meta)


def erasing_stats(height, width, draws):
    """torchvision's RandomErasing box on a [1, height, width] image with its defaults (scale 0.02-0.33,
    ratio 0.3-3.3), over many draws: the mean top, left, height and width of the boxes, their mean
    area fraction and the fraction of draws where no try fits."""
    from torchvision.transforms import RandomErasing
    img = torch.zeros(1, height, width)
    boxes, misses = [], 0
    for _ in range(draws):
        i, j, h, w, v = RandomErasing.get_params(img, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=[0.0])
        if v is img:
            misses += 1
        else:
            boxes.append((i, j, h, w))
    b = torch.tensor(boxes, dtype=torch.float64)
    area = (b[:, 2] * b[:, 3] / (height * width)).mean()
    return torch.cat([b.mean(0), area.reshape(1), torch.tensor([misses / draws], dtype=torch.float64)]).float()


def make_images(out_dir, seed):
    """JPEG and PNG files written by Pillow with Pillow's decoded pixels, and torchvision's
    transforms on a fixed float image."""
    import numpy as np
    import torchvision.transforms.functional as TF
    from PIL import Image

    rng = np.random.default_rng(seed)
    tensors = {}
    files = {
        "rgb.png": (Image.fromarray(rng.integers(0, 256, (23, 37, 3), dtype=np.uint8), "RGB"), {}),
        "grey.png": (Image.fromarray(rng.integers(0, 256, (31, 19), dtype=np.uint8), "L"), {}),
        "rgba.png": (Image.fromarray(rng.integers(0, 256, (9, 12, 4), dtype=np.uint8), "RGBA"), {}),
        "rgb.jpg": (Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), "RGB"), {"quality": 90}),
        "grey.jpg": (Image.fromarray(rng.integers(0, 256, (17, 25), dtype=np.uint8), "L"), {"quality": 90}),
        "progressive.jpg": (Image.fromarray(rng.integers(0, 256, (16, 24, 3), dtype=np.uint8), "RGB"),
                            {"quality": 90, "progressive": True}),
    }
    for name, (img, kwargs) in files.items():
        path = os.path.join(out_dir, name)
        img.save(path, **kwargs)
        decoded = Image.open(path)
        decoded = decoded.convert("L" if decoded.mode == "L" else "RGB")
        arr = np.asarray(decoded, dtype=np.float32) / 255.0
        tensors[f"{name}.decoded"] = torch.from_numpy(arr if arr.ndim == 3 else arr[:, :, None]).contiguous()

    # A 4100x4100 photo-like JPEG (more than 16 M pixels, 290 kB): decoded smaller when a
    # resize follows.
    y, x = np.mgrid[0:4100, 0:4100] / 4100.0
    huge = np.stack([np.sin(7 * x + 2 * y), np.cos(5 * y - 3 * x), np.sin(4 * x * y + 1)], -1)
    Image.fromarray((127.5 + 120 * huge).astype(np.uint8), "RGB").save(os.path.join(out_dir, "huge.jpg"), quality=60)

    # A valid progressive JPEG of 100 scans (the DC of all components, each of the 63 AC
    # coefficients of the first component alone, the others' in 18 bands each), made losslessly
    # from progressive.jpg by jpegtran: the decoder must refuse it for its scan count, not for a
    # warning.
    script = os.path.join(out_dir, "scans.txt")
    bands = [(1 + 63 * i // 18, 63 * (i + 1) // 18) for i in range(18)]
    with open(script, "w") as f:
        f.write("0,1,2: 0-0, 0, 0;\n")
        f.write("".join(f"0: {k}-{k}, 0, 0;\n" for k in range(1, 64)))
        f.write("".join(f"{c}: {a}-{b}, 0, 0;\n" for c in (1, 2) for a, b in bands))
    subprocess.run(["jpegtran", "-scans", script, "-outfile", os.path.join(out_dir, "many_scans.jpg"),
                    os.path.join(out_dir, "progressive.jpg")], check=True)

    # torchvision transforms on a float tensor [C, H, W]; stored channel-last like vit::Image.
    t = torch.from_numpy(rng.random((3, 37, 23), dtype=np.float32))
    hwc = lambda x: x.permute(1, 2, 0).contiguous()  # noqa: E731
    bil, bic = TF.InterpolationMode.BILINEAR, TF.InterpolationMode.BICUBIC
    tensors["input"] = hwc(t)
    tensors["resize_bilinear_20x30"] = hwc(TF.resize(t, [20, 30], bil, antialias=True))
    tensors["resize_bicubic_50x40"] = hwc(TF.resize(t, [50, 40], bic, antialias=True))
    tensors["resize_bilinear_shorter_16"] = hwc(TF.resize(t, 16, bil, antialias=True))
    tensors["center_crop_20x15"] = hwc(TF.center_crop(t, [20, 15]))
    tensors["center_crop_40x30"] = hwc(TF.center_crop(t, [40, 30]))
    tensors["resized_crop_3_2_20_15_to_16"] = hwc(TF.resized_crop(t, 3, 2, 20, 15, [16, 16], bil, antialias=True))
    tensors["hflip"] = hwc(TF.hflip(t))
    tensors["pad4_crop_1_6"] = hwc(TF.crop(TF.pad(t, 4), 1, 6, 37, 23))
    tensors["normalize"] = hwc(TF.normalize(t, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]))
    tensors["erase_3_2_20_15"] = hwc(TF.erase(t, 3, 2, 20, 15, torch.tensor(0.25)))
    tensors["erasing_stats"] = erasing_stats(37, 23, draws=20000)
    meta = {"fixture": "images", "fixture_version": FIXTURE_VERSION}
    write_safetensors(os.path.join(out_dir, "images.safetensors"), tensors, meta)


RAND_AUGMENT_OPS = ["Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
                    "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize"]


def make_rand_augment(out_dir, seed):
    """torchvision's RandAugment operations (autoaugment._apply_op, nearest sampling, no fill) on
    uint8 images, each at bins 0, 9 and 30 of 31 and both signs; and the magnitude tables of
    RandAugment._augmentation_space. Images are stored channel-last as floats 0..255."""
    import numpy as np
    from torchvision.transforms import InterpolationMode, RandAugment
    from torchvision.transforms.autoaugment import _apply_op

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:13, 0:17]
    smooth = (np.stack([x * 15, y * 19, (x + y) * 8]) + rng.integers(0, 40, (3, 13, 17))).clip(0, 255)
    images = {"rgb": torch.from_numpy(smooth.astype(np.uint8)),
              "grey": torch.from_numpy(rng.integers(20, 200, (1, 11, 9), dtype=np.uint8))}
    tensors = {}
    for name, img in images.items():
        _, h, w = img.shape
        space = RandAugment()._augmentation_space(31, (h, w))
        tensors[f"{name}.input"] = img.permute(1, 2, 0).float().contiguous()
        for op in RAND_AUGMENT_OPS:
            magnitudes, signed = space[op]
            if magnitudes.ndim > 0:
                tensors[f"{name}.space.{op}"] = magnitudes.double()
            k = 0
            for bin_ in (0, 9, 30):
                for sign in ((1.0, -1.0) if signed else (1.0,)):
                    m = float(magnitudes[bin_].item()) * sign if magnitudes.ndim > 0 else 0.0
                    out = _apply_op(img, op, m, interpolation=InterpolationMode.NEAREST, fill=None)
                    tensors[f"{name}.{op}.{k}"] = out.permute(1, 2, 0).float().contiguous()
                    tensors[f"{name}.{op}.{k}.magnitude"] = torch.tensor([m], dtype=torch.float64)
                    k += 1
    meta = {"fixture": "rand_augment", "fixture_version": FIXTURE_VERSION}
    write_safetensors(os.path.join(out_dir, "rand_augment.safetensors"), tensors, meta)


# Non-square grid (4 x 6 patches), three layers: rollout multiplies through all of them.
INSPECT = dict(image_height=32, image_width=48, patch_size=8, embed_dim=48, depth=3, num_heads=4, mlp_dim=96)


def make_inspect(out_dir, seed):
    c = dict(BASE)
    c.update(INSPECT)
    gen = torch.Generator().manual_seed(seed)
    model = ViT(c)
    randomise(model, gen)
    images = torch.randn(2, c["channels"], c["image_height"], c["image_width"], generator=gen)
    with torch.no_grad():
        model(images)
    attns = [blk.attn.last_attn for blk in model.blocks]
    tensors = {k: v.clone() for k, v in state_dict_for_file(model).items()}
    tensors["input.images"] = images
    for i, attn in enumerate(attns):
        tensors[f"expected.attention.{i}"] = attn
    tensors["expected.rollout"] = vit_ref.attention_rollout(attns)
    tensors["expected.distance"] = vit_ref.mean_attention_distance(
        attns, c["image_height"] // c["patch_size"], c["image_width"] // c["patch_size"], c["patch_size"])
    meta = {"fixture": "inspect", "fixture_version": FIXTURE_VERSION, "vit.config": json.dumps(c)}
    write_safetensors(os.path.join(out_dir, "inspect.safetensors"), tensors, meta)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    for i, (name, overrides) in enumerate(CONFIGS.items()):
        make(name, overrides, out_dir, seed=1000 + i)
        if name in BF16_CONFIGS:
            make(name, overrides, out_dir, seed=1000 + i, bf16=True)
    make_resample(out_dir, seed=7)
    make_mix(out_dir, seed=29)
    make_inspect(out_dir, seed=23)
    make_images(out_dir, seed=11)
    make_rand_augment(out_dir, seed=31)
    make_preprocess_files(out_dir, seed=17)
    make_weight_files(out_dir, seed=13)  # uses preprocess/photo.jpg
    print(f"wrote {len(CONFIGS)} + {len(BF16_CONFIGS)} (bf16) parity fixtures and the resampling fixture to {out_dir}")


if __name__ == "__main__":
    main()
