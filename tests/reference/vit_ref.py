"""A Vision Transformer in PyTorch with timm's parameter names: the oracle the C++ engine is
compared against. Written for Debian's PyTorch 1.13; every option of vit::ViTConfig is here."""
import json
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def round_bf16(t):
    """Round to the nearest bf16 value (ties to even) and back to fp32."""
    return t.bfloat16().float()


# The mixed-precision products, softmax and GELU computed in float64 and rounded to fp32: the same
# math as the default fp32 sums in another rounding order. make_fixtures.py compares the two to
# reject inputs where a value lands so close to a bf16 rounding boundary that the order of an
# fp32 sum decides which way it rounds.
FLOAT64_PROBE = False


def mm(a, b):
    return (a.double() @ b.double()).float() if FLOAT64_PROBE else a @ b


def probe(f, x):
    return f(x.double()).float() if FLOAT64_PROBE else f(x)


class Bf16Linear(torch.autograd.Function):
    """The mixed-precision Linear of the C++ engine: the products take bf16-rounded operands
    (exact in fp32) and sum in fp32; the bias and all outputs stay fp32. The backward rounds the
    output gradient for both products and sums it unrounded for the bias."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        xr, wr = round_bf16(x), round_bf16(weight)
        ctx.save_for_backward(xr, wr)
        ctx.has_bias = bias is not None
        out = mm(xr, wr.t())
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx, g):
        xr, wr = ctx.saved_tensors
        g2 = g.reshape(-1, g.shape[-1])
        gr = round_bf16(g2)
        dx = mm(gr, wr).reshape(*g.shape[:-1], wr.shape[1])
        dw = mm(gr.t(), xr.reshape(-1, xr.shape[-1]))
        db = g2.sum(0) if ctx.has_bias else None
        return dx, dw, db


class Bf16Matmul(torch.autograd.Function):
    """The engine's mixed-precision attention product a @ b (batched): bf16-rounded operands,
    fp32 sums; the backward rounds the output gradient for both products."""

    @staticmethod
    def forward(ctx, a, b):
        ar, br = round_bf16(a), round_bf16(b)
        ctx.save_for_backward(ar, br)
        return mm(ar, br)

    @staticmethod
    def backward(ctx, g):
        ar, br = ctx.saved_tensors
        gr = round_bf16(g)
        return mm(gr, br.transpose(-2, -1)), mm(ar.transpose(-2, -1), gr)


def matmul(a, b, bf16):
    """a @ b, or its mixed-precision form."""
    return Bf16Matmul.apply(a, b) if bf16 else a @ b


def linear(layer, x, bf16):
    """layer(x), or its mixed-precision form."""
    return Bf16Linear.apply(x, layer.weight, layer.bias) if bf16 else layer(x)


class Attention(nn.Module):
    def __init__(self, dim, heads, head_dim, qkv_bias):
        super().__init__()
        self.bf16 = False
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.qkv = nn.Linear(dim, 3 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, dim)
        self.last_attn = None

    def forward(self, x):
        B, N, _ = x.shape
        qkv = linear(self.qkv, x, self.bf16).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = matmul(q, k.transpose(-2, -1), self.bf16) * self.head_dim ** -0.5
        attn = probe(lambda t: t.softmax(dim=-1), attn)
        self.last_attn = attn
        return linear(self.proj, matmul(attn, v, self.bf16).transpose(1, 2).reshape(B, N, -1), self.bf16)


class Mlp(nn.Module):
    def __init__(self, dim, hidden, gelu):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh" if gelu == "tanh" else "none")
        self.fc2 = nn.Linear(hidden, dim)
        self.bf16 = False

    def forward(self, x):
        return linear(self.fc2, probe(self.act, linear(self.fc1, x, self.bf16)), self.bf16)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        dim, eps = c["embed_dim"], c["layernorm_eps"]
        head_dim = c["head_dim"] or dim // c["num_heads"]
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, c["num_heads"], head_dim, c["qkv_bias"])
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, c["mlp_dim"], c["gelu"])

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Conv2d(kernel = stride = P); with patch_norm, lucidrains' LayerNorm before and after the
    projection, computed on unfolded patches in the conv weight's (c, py, px) order."""

    def __init__(self, c):
        super().__init__()
        P, C, D = c["patch_size"], c["channels"], c["embed_dim"]
        self.patch, self.patch_norm, self.bf16 = P, c["patch_norm"], False
        if self.patch_norm:
            self.norm_pre = nn.LayerNorm(C * P * P, eps=c["layernorm_eps"])
        self.proj = nn.Conv2d(C, D, P, P)
        if self.patch_norm:
            self.norm = nn.LayerNorm(D, eps=c["layernorm_eps"])

    def forward(self, img):
        if not self.patch_norm and not self.bf16:
            return self.proj(img).flatten(2).transpose(1, 2)
        patches = F.unfold(img, self.patch, stride=self.patch).transpose(1, 2)
        if self.patch_norm:
            patches = self.norm_pre(patches)
        weight = self.proj.weight.flatten(1)
        if self.bf16:
            x = Bf16Linear.apply(patches, weight, self.proj.bias)
        else:
            x = F.linear(patches, weight, self.proj.bias)
        return self.norm(x) if self.patch_norm else x


class PreLogits(nn.Module):
    def __init__(self, dim, out):
        super().__init__()
        self.fc = nn.Linear(dim, out)

    def forward(self, x):
        return torch.tanh(self.fc(x))


class ViT(nn.Module):
    """bf16=True: the patch projection and the blocks' Linears in the engine's mixed precision."""

    def __init__(self, c, bf16=False):
        super().__init__()
        self.c = c
        D = c["embed_dim"]
        n_tokens = (c["image_height"] // c["patch_size"]) * (c["image_width"] // c["patch_size"]) + 1
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, n_tokens, D))
        self.patch_embed = PatchEmbed(c)
        self.blocks = nn.ModuleList([Block(c) for _ in range(c["depth"])])
        if c["fc_norm"]:
            self.fc_norm = nn.LayerNorm(D, eps=c["layernorm_eps"])
        else:
            self.norm = nn.LayerNorm(D, eps=c["layernorm_eps"])
        feat = D
        if c["pre_logits_dim"]:
            self.pre_logits = PreLogits(D, c["pre_logits_dim"])
            feat = c["pre_logits_dim"]
        if c["num_classes"]:
            self.head = nn.Linear(feat, c["num_classes"])
        for m in self.modules():
            if isinstance(m, (Attention, Mlp, PatchEmbed)):
                m.bf16 = bf16

    def forward(self, img):
        x = self.patch_embed(img)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        if not self.c["fc_norm"]:
            x = self.norm(x)
        x = x[:, 1:].mean(dim=1) if self.c["pool"] == "mean" else x[:, 0]
        if self.c["fc_norm"]:
            x = self.fc_norm(x)
        if self.c["pre_logits_dim"]:
            x = self.pre_logits(x)
        if self.c["num_classes"]:
            x = self.head(x)
        return x


def param_groups(model, weight_decay):
    """AdamW groups as the C++ engine: no decay on biases, norms, class token, position table."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        is_norm = ".norm" in name or name.startswith("norm") or name.startswith("fc_norm")
        if name.endswith(".bias") or is_norm or name in ("cls_token", "pos_embed"):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def state_dict_for_file(model):
    """timm names with the conv weight kept as [D, C, P, P]."""
    return {k: v.detach().contiguous() for k, v in model.state_dict().items()}


def write_safetensors(path, tensors, metadata):
    """A plain safetensors writer (F32 and I64), so fixtures also exercise the C++ reader."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        arr = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        if arr.dtype == np.int64:
            dtype = "I64"
        else:
            arr, dtype = arr.astype(np.float32), "F32"
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def attention_rollout(attns):
    """Attention rollout (Abnar & Zuidema 2020) of per-layer probabilities [B, H, N, N], first layer
    first: R = A_L ... A_1 with A_l = 0.5 mean_h(attn_l) + 0.5 I, rows renormalised. [B, N, N], float64."""
    B, _, N, _ = attns[0].shape
    eye = torch.eye(N, dtype=torch.float64)
    r = eye.expand(B, N, N).clone()
    for attn in attns:
        a = 0.5 * attn.double().mean(dim=1) + 0.5 * eye
        r = (a / a.sum(dim=-1, keepdim=True)) @ r
    return r


def mean_attention_distance(attns, grid_h, grid_w, patch):
    """[B, layers, heads] in pixels: each patch query's attention over the patch keys, renormalised,
    weighting the distances between patch centres; averaged over the queries."""
    ys, xs = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    centres = torch.stack([ys.flatten(), xs.flatten()], dim=1).double() * patch
    dist = torch.cdist(centres, centres)
    per_layer = []
    for attn in attns:
        w = attn.double()[:, :, 1:, 1:]
        w = w / w.sum(dim=-1, keepdim=True)
        per_layer.append((w * dist).sum(dim=-1).mean(dim=-1))
    return torch.stack(per_layer, dim=1)
