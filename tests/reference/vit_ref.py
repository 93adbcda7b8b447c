"""A Vision Transformer in PyTorch with timm's parameter names: the oracle the C++ engine is
compared against. Written for Debian's PyTorch 1.13; every option of vit::ViTConfig is here."""
import json
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, dim, heads, head_dim, qkv_bias):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.qkv = nn.Linear(dim, 3 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, dim)
        self.last_attn = None

    def forward(self, x):
        B, N, _ = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.head_dim ** -0.5
        attn = attn.softmax(dim=-1)
        self.last_attn = attn
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, -1))


class Mlp(nn.Module):
    def __init__(self, dim, hidden, gelu):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh" if gelu == "tanh" else "none")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


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
        self.patch, self.patch_norm = P, c["patch_norm"]
        if self.patch_norm:
            self.norm_pre = nn.LayerNorm(C * P * P, eps=c["layernorm_eps"])
        self.proj = nn.Conv2d(C, D, P, P)
        if self.patch_norm:
            self.norm = nn.LayerNorm(D, eps=c["layernorm_eps"])

    def forward(self, img):
        if not self.patch_norm:
            return self.proj(img).flatten(2).transpose(1, 2)
        patches = F.unfold(img, self.patch, stride=self.patch).transpose(1, 2)
        x = F.linear(self.norm_pre(patches), self.proj.weight.flatten(1), self.proj.bias)
        return self.norm(x)


class PreLogits(nn.Module):
    def __init__(self, dim, out):
        super().__init__()
        self.fc = nn.Linear(dim, out)

    def forward(self, x):
        return torch.tanh(self.fc(x))


class ViT(nn.Module):
    def __init__(self, c):
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
