"""Weight files in every format users bring, written by PyTorch/NumPy at test time, with the
logits PyTorch computes from the same weights (weights/expected.safetensors), and hostile files.

  timm.pth               torch.save of a timm-named state dict (one tensor a strided view)
  timm_fp16.pth          the same in float16
  checkpoint_dict.pth    {"model": state dict with DataParallel's "module." prefix, "epoch": 3}
  torchvision.pth        torchvision's own VisionTransformer (with a representation layer)
  hf.safetensors         Hugging Face transformers names (split q/k/v, "vit." prefix), eps 1e-12
  jax.npz                the original JAX release's names and layouts (np.savez)
  jax_compressed.npz     the same with np.savez_compressed
  imagenet_classes.pth   a tiny timm model with 1000 classes
  hybrid_timm.pth        a timm-named hybrid (ResNet-v2 stem and two stages), no config
  hybrid_jax.npz         the same hybrid with the JAX release's names and layouts
and logits of the timm model with its position table resampled to 48x48 and 32x48 (bicubic,
antialias, as timm's resample_abs_pos_embed); predict.<file>: the logits for preprocess/photo.jpg
through the preprocessing of the file's origin, as vit predict runs it."""
import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import torch
import torch.nn.functional as F

from vit_ref import ViT, write_safetensors

CONFIG = dict(image_height=32, image_width=32, patch_size=8, channels=3, embed_dim=128, depth=2,
              num_heads=2, head_dim=0, mlp_dim=256, qkv_bias=True, pool="token", fc_norm=False,
              pre_logits_dim=0, num_classes=10, layernorm_eps=1e-6, gelu="erf", drop_rate=0.0,
              attn_drop_rate=0.0, drop_path_rate=0.0, patch_norm=False)


def randomised(c, gen):
    model = ViT(c).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.5 if name.startswith(("cls_token", "pos_embed")) else (p[0].numel() if p.dim() > 1 else 64) ** -0.5
            p.copy_(scale * torch.randn(p.shape, generator=gen) + (1.0 if name.endswith("norm1.weight") else 0.0))
    return model


def hf_state_dict(sd, depth):
    out = {"vit.embeddings.cls_token": sd["cls_token"], "vit.embeddings.position_embeddings": sd["pos_embed"],
           "vit.embeddings.patch_embeddings.projection.weight": sd["patch_embed.proj.weight"],
           "vit.embeddings.patch_embeddings.projection.bias": sd["patch_embed.proj.bias"],
           "vit.layernorm.weight": sd["norm.weight"], "vit.layernorm.bias": sd["norm.bias"],
           "classifier.weight": sd["head.weight"], "classifier.bias": sd["head.bias"]}
    for i in range(depth):
        b, h = f"blocks.{i}.", f"vit.encoder.layer.{i}."
        for kind in ("weight", "bias"):
            q, k, v = sd[b + "attn.qkv." + kind].chunk(3, dim=0)
            out.update({h + "attention.attention.query." + kind: q, h + "attention.attention.key." + kind: k,
                        h + "attention.attention.value." + kind: v,
                        h + "attention.output.dense." + kind: sd[b + "attn.proj." + kind],
                        h + "layernorm_before." + kind: sd[b + "norm1." + kind],
                        h + "layernorm_after." + kind: sd[b + "norm2." + kind],
                        h + "intermediate.dense." + kind: sd[b + "mlp.fc1." + kind],
                        h + "output.dense." + kind: sd[b + "mlp.fc2." + kind]})
    return {k: v.contiguous() for k, v in out.items()}


def jax_arrays(sd, c):
    D, H = c["embed_dim"], c["num_heads"]
    hd = D // H
    a = lambda t: t.detach().numpy().astype(np.float32)  # noqa: E731
    out = {"embedding/kernel": a(sd["patch_embed.proj.weight"].permute(2, 3, 1, 0)),
           "embedding/bias": a(sd["patch_embed.proj.bias"]), "cls": a(sd["cls_token"]),
           "Transformer/posembed_input/pos_embedding": a(sd["pos_embed"]),
           "Transformer/encoder_norm/scale": a(sd["norm.weight"]), "Transformer/encoder_norm/bias": a(sd["norm.bias"]),
           "head/kernel": a(sd["head.weight"].t()), "head/bias": a(sd["head.bias"])}
    # The hybrid's ResNet as the R50+ViT-B/16 release names it: kernels [kh, kw, in, out]; the
    # stem's GroupNorm stored [1, 1, 1, C], the others [C] (both occur).
    r = "patch_embed.backbone."
    if r + "stem.conv.weight" in sd:
        out["conv_root/kernel"] = a(sd[r + "stem.conv.weight"].permute(2, 3, 1, 0))
        out["gn_root/scale"] = a(sd[r + "stem.norm.weight"].reshape(1, 1, 1, -1))
        out["gn_root/bias"] = a(sd[r + "stem.norm.bias"].reshape(1, 1, 1, -1))
        for s, units in enumerate(c["hybrid_layers"]):
            for u in range(units):
                ours, theirs = f"{r}stages.{s}.blocks.{u}.", f"block{s + 1}/unit{u + 1}/"
                pairs = [("conv1", "norm1", "1"), ("conv2", "norm2", "2"), ("conv3", "norm3", "3")]
                if ours + "downsample.conv.weight" in sd:
                    pairs.append(("downsample.conv", "downsample.norm", "_proj"))
                for conv, norm, k in pairs:
                    out[theirs + "conv" + k + "/kernel"] = a(sd[ours + conv + ".weight"].permute(2, 3, 1, 0))
                    out[theirs + "gn" + k + "/scale"] = a(sd[ours + norm + ".weight"])
                    out[theirs + "gn" + k + "/bias"] = a(sd[ours + norm + ".bias"])
    for i in range(c["depth"]):
        b, j = f"blocks.{i}.", f"Transformer/encoderblock_{i}/"
        m = j + "MultiHeadDotProductAttention_1/"
        qw, kw, vw = sd[b + "attn.qkv.weight"].chunk(3, dim=0)
        qb, kb, vb = sd[b + "attn.qkv.bias"].chunk(3, dim=0)
        for name, w, bias in (("query", qw, qb), ("key", kw, kb), ("value", vw, vb)):
            out[m + name + "/kernel"] = a(w.t().reshape(D, H, hd))
            out[m + name + "/bias"] = a(bias.reshape(H, hd))
        out[m + "out/kernel"] = a(sd[b + "attn.proj.weight"].t().reshape(H, hd, D))
        out[m + "out/bias"] = a(sd[b + "attn.proj.bias"])
        for ln, ours in (("LayerNorm_0", "norm1"), ("LayerNorm_2", "norm2")):
            out[j + ln + "/scale"] = a(sd[b + ours + ".weight"])
            out[j + ln + "/bias"] = a(sd[b + ours + ".bias"])
        for dense, ours in (("Dense_0", "fc1"), ("Dense_1", "fc2")):
            out[j + "MlpBlock_3/" + dense + "/kernel"] = a(sd[b + "mlp." + ours + ".weight"].t())
            out[j + "MlpBlock_3/" + dense + "/bias"] = a(sd[b + "mlp." + ours + ".bias"])
    return out


def resampled_logits(model, c, images, height, width):
    """The model at another input size: a learned position table resampled as timm does (bicubic,
    antialiased), each per-axis table along its axis the same way, a sin-cos table made anew."""
    c2 = dict(c, image_height=height, image_width=width)
    m2 = ViT(c2).eval()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    g = c["image_height"] // c["patch_size"]
    new_grid = (height // c["patch_size"], width // c["patch_size"])
    def resample(t, size):  # [h, w, D] -> [size, D]
        t = F.interpolate(t.permute(2, 0, 1)[None], size=size, mode="bicubic", antialias=True, align_corners=False)
        return t[0].permute(1, 2, 0).flatten(0, 1)
    if c.get("pos_embed", "learned") == "learned":
        grid = resample(sd["pos_embed"][0, 1:].reshape(g, g, -1), new_grid)
        sd["pos_embed"] = torch.cat([sd["pos_embed"][:, :1], grid[None]], dim=1)
    elif c["pos_embed"] == "learned_2d":
        sd["pos_embed_row"] = resample(sd["pos_embed_row"][:, None], (new_grid[0], 1))
        sd["pos_embed_col"] = resample(sd["pos_embed_col"][:, None], (new_grid[1], 1))
    m2.load_state_dict(sd)
    x = F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False)
    return x, m2(x)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pickle code ran",))


def write_hostile(d, timm_pth):
    # A torch.save-style archive whose pickle calls os.system.
    with zipfile.ZipFile(os.path.join(d, "evil_global.pth"), "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"head.weight": Evil()}, protocol=2))
    # A zip entry escaping its folder.
    buf = io.BytesIO()
    np.save(buf, np.zeros(3, np.float32))
    with zipfile.ZipFile(os.path.join(d, "dotdot.npz"), "w") as z:
        z.writestr("../escape.npy", buf.getvalue())
    # An object array (pickled Python objects inside .npy).
    np.savez(os.path.join(d, "object.npz"), cls=np.array([{"a": 1}], dtype=object))
    # A .npy header whose shape overflows 64 bits.
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }"
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    with zipfile.ZipFile(os.path.join(d, "overflow.npz"), "w") as z:
        z.writestr("cls.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\0" * 16)
    # Truncated and corrupted archives.
    data = open(timm_pth, "rb").read()
    open(os.path.join(d, "truncated.pth"), "wb").write(data[: len(data) // 2])
    # The pre-1.6 pickle-only format.
    torch.save({"w": torch.zeros(2)}, os.path.join(d, "legacy.pth"), _use_new_zipfile_serialization=False)


def preset_transform(preset, h, w):
    """timm's, torchvision's and Hugging Face's evaluation preprocessing on a PIL image."""
    import torchvision.transforms as T
    from PIL import Image

    half = T.Normalize([0.5] * 3, [0.5] * 3)
    if preset == "timm":
        return T.Compose([T.Resize(int(min(h, w) / 0.9), interpolation=T.InterpolationMode.BICUBIC),
                          T.CenterCrop((h, w)), T.ToTensor(), half])
    if preset == "torchvision":
        return T.Compose([T.Resize(min(h, w) * 256 // 224, interpolation=T.InterpolationMode.BILINEAR),
                          T.CenterCrop((h, w)), T.ToTensor(),
                          T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    return lambda im: half(T.ToTensor()(im.resize((w, h), Image.BILINEAR)))


def make_weight_files(out_dir, seed):
    import torchvision
    from PIL import Image

    photo = Image.open(os.path.join(out_dir, "preprocess", "photo.jpg")).convert("RGB")
    photo_input = {p: preset_transform(p, 32, 32)(photo)[None] for p in ("timm", "torchvision", "hf")}

    d = os.path.join(out_dir, "weights")
    os.makedirs(d, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    c = CONFIG
    images = torch.randn(2, 3, 32, 32, generator=gen)
    expected = {"input.images": images}
    with torch.no_grad():
        model = randomised(c, gen)
        sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
        expected["logits.timm"] = model(images)
        expected["predict.timm.pth"] = model(photo_input["timm"])

        strided = dict(sd)
        strided["head.weight"] = sd["head.weight"].t().contiguous().t()  # strides (1, 10)
        torch.save(strided, os.path.join(d, "timm.pth"))
        torch.save({"model": {"module." + k: v for k, v in sd.items()}, "epoch": 3},
                   os.path.join(d, "checkpoint_dict.pth"))

        # DeiT-III's LayerScale (blocks.N.ls1.gamma, ls2.gamma), told apart by its names alone
        ls_model = randomised(dict(c, init_values=0.1), gen)
        torch.save(ls_model.state_dict(), os.path.join(d, "timm_layer_scale.pth"))
        expected["logits.timm_layer_scale"] = ls_model(images)

        half = {k: v.half() for k, v in sd.items()}
        torch.save(half, os.path.join(d, "timm_fp16.pth"))
        model.load_state_dict({k: v.float() for k, v in half.items()})
        expected["logits.timm_fp16"] = model(images)
        model.load_state_dict(sd)

        for h, w in ((48, 48), (32, 48)):
            x, logits = resampled_logits(model, c, images, h, w)
            expected[f"input.images_{h}x{w}"] = x
            expected[f"logits.timm_{h}x{w}"] = logits

        # the position tables of the paper's Appendix D.4, in files of our own format, at 32x48
        for kind in ("learned_2d", "sincos_2d"):
            kc = dict(c, pos_embed=kind)
            km = randomised(kc, gen)
            write_safetensors(os.path.join(d, f"vit_{kind}.safetensors"), km.state_dict(),
                              {"format": "vit", "vit.config": json.dumps(kc)})
            expected[f"logits.vit_{kind}"] = km(images)
            expected[f"logits.vit_{kind}_32x48"] = resampled_logits(km, kc, images, 32, 48)[1]

        tv = torchvision.models.vision_transformer.VisionTransformer(
            image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=128, mlp_dim=256,
            num_classes=10, representation_size=48).eval()
        for p in tv.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (p[0].numel() if p.dim() > 1 else 64) ** -0.5)
        torch.save(tv.state_dict(), os.path.join(d, "torchvision.pth"))
        expected["logits.torchvision"] = tv(images)
        expected["predict.torchvision.pth"] = tv(photo_input["torchvision"])

        hf_config = dict(c, layernorm_eps=1e-12)
        hf = randomised(hf_config, gen)
        write_safetensors(os.path.join(d, "hf.safetensors"), hf_state_dict(hf.state_dict(), c["depth"]), {})
        expected["logits.hf"] = hf(images)
        expected["predict.hf.safetensors"] = hf(photo_input["hf"])

        jax = randomised(c, gen)
        arrays = jax_arrays(jax.state_dict(), c)
        np.savez(os.path.join(d, "jax.npz"), **arrays)
        np.savez_compressed(os.path.join(d, "jax_compressed.npz"), **arrays)
        expected["logits.jax"] = jax(images)
        expected["predict.jax.npz"] = jax(photo_input["timm"])

        hybrid_config = dict(c, patch_size=1, hybrid=True, hybrid_layers=[1, 1], hybrid_width=32)
        hybrid = randomised(hybrid_config, gen)
        torch.save(hybrid.state_dict(), os.path.join(d, "hybrid_timm.pth"))
        np.savez(os.path.join(d, "hybrid_jax.npz"), **jax_arrays(hybrid.state_dict(), hybrid_config))
        expected["logits.hybrid_timm"] = hybrid(images)

        # 1000 classes: vit predict names them with ImageNet-1k's labels.
        wide = randomised(dict(c, embed_dim=32, num_heads=1, mlp_dim=32, depth=1, num_classes=1000), gen)
        torch.save(wide.state_dict(), os.path.join(d, "imagenet_classes.pth"))

    write_hostile(d, os.path.join(d, "timm.pth"))
    write_safetensors(os.path.join(d, "expected.safetensors"), expected, {"fixture": "weights"})


def make_preprocess_files(out_dir, seed):
    """Images and what timm's, torchvision's and Hugging Face's evaluation preprocessing make of
    them with Pillow (preprocess/expected.safetensors, [3, H, W] per image, preset and size)."""
    from PIL import Image

    d = os.path.join(out_dir, "preprocess")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(seed)

    def smooth(h, w, c):  # photo-like: low-frequency colour fields plus a little noise
        y, x = np.mgrid[0:h, 0:w] / max(h, w)
        chans = [np.sin(6 * x * (k + 1) + 3 * y + k) * np.cos(4 * y * (k + 2)) for k in range(c)]
        img = 127.5 + 100 * np.stack(chans, -1) + rng.normal(0, 12, (h, w, c))
        return np.clip(img, 0, 255).astype(np.uint8)

    images = {"photo.jpg": Image.fromarray(smooth(200, 300, 3), "RGB"),
              "big.png": Image.fromarray(smooth(480, 640, 3), "RGB"),
              "grey.png": Image.fromarray(smooth(260, 150, 1)[:, :, 0], "L"),
              "rgba.png": Image.fromarray(smooth(70, 90, 4), "RGBA")}
    expected = {}
    for name, img in images.items():
        img.save(os.path.join(d, name), **({"quality": 92} if name.endswith(".jpg") else {}))
        rgb = Image.open(os.path.join(d, name)).convert("RGB")
        for h, w in ((224, 224), (64, 96)):
            for preset in ("timm", "torchvision", "hf"):
                expected[f"{name}.{preset}.{h}x{w}"] = preset_transform(preset, h, w)(rgb)
    write_safetensors(os.path.join(d, "expected.safetensors"), expected, {"fixture": "preprocess"})
