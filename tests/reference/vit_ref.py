"""A Vision Transformer in PyTorch with timm's parameter names: the oracle the C++ engine is
compared against. Written for Debian's PyTorch 1.13; every option of vit::ViTConfig is here."""
import json
import math
import struct
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def round_bf16(t):
    """Round to the nearest bf16 value (ties to even) and back to fp32."""
    return t.bfloat16().float()


# Summation-order noise for the mixed-precision products: when set to a torch.Generator, every
# computed operand is moved by a random relative amount of up to ORDER_NOISE_SIZE before it is
# rounded to bf16, as another fp32 summation order (another library's blocking, another CPU's
# kernel) would move it. Weights, which no sum produces, are rounded as they are.
# make_fixtures.py measures how far such runs spread from the plain one.
ORDER_NOISE = None
ORDER_NOISE_SIZE = 2.0 ** -20


def round_computed_bf16(t):
    """round_bf16 of a computed value, under ORDER_NOISE when set."""
    if ORDER_NOISE is not None:
        u = torch.rand(t.shape, generator=ORDER_NOISE, dtype=t.dtype)
        t = t * (1.0 + ORDER_NOISE_SIZE * (2.0 * u - 1.0))
    return round_bf16(t)


class Bf16Linear(torch.autograd.Function):
    """The mixed-precision Linear of the C++ engine: the products take bf16-rounded operands
    (exact in fp32) and sum in fp32; the bias and all outputs stay fp32. The backward rounds the
    output gradient for both products and sums it unrounded for the bias."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        xr, wr = round_computed_bf16(x), round_bf16(weight)
        ctx.save_for_backward(xr, wr)
        ctx.has_bias = bias is not None
        out = xr @ wr.t()
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx, g):
        xr, wr = ctx.saved_tensors
        g2 = g.reshape(-1, g.shape[-1])
        gr = round_computed_bf16(g2)
        dx = (gr @ wr).reshape(*g.shape[:-1], wr.shape[1])
        dw = gr.t() @ xr.reshape(-1, xr.shape[-1])
        db = g2.sum(0) if ctx.has_bias else None
        return dx, dw, db


class Bf16Matmul(torch.autograd.Function):
    """The engine's mixed-precision attention product a @ b (batched): bf16-rounded operands,
    fp32 sums; the backward rounds the output gradient for both products."""

    @staticmethod
    def forward(ctx, a, b):
        ar, br = round_computed_bf16(a), round_computed_bf16(b)
        ctx.save_for_backward(ar, br)
        return ar @ br

    @staticmethod
    def backward(ctx, g):
        ar, br = ctx.saved_tensors
        gr = round_computed_bf16(g)
        return gr @ br.transpose(-2, -1), ar.transpose(-2, -1) @ gr


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
        attn = attn.softmax(dim=-1)
        self.last_attn = attn
        return linear(self.proj, matmul(attn, v, self.bf16).transpose(1, 2).reshape(B, N, -1), self.bf16)


class Mlp(nn.Module):
    def __init__(self, dim, hidden, gelu, relu=False):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.ReLU() if relu else nn.GELU(approximate="tanh" if gelu == "tanh" else "none")
        self.fc2 = nn.Linear(hidden, dim)
        self.bf16 = False

    def forward(self, x):
        return linear(self.fc2, self.act(linear(self.fc1, x, self.bf16)), self.bf16)


class LayerScale(nn.Module):
    """timm's LayerScale: x * gamma, one factor per channel."""

    def __init__(self, dim, init_values):
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class Block(nn.Module):
    """timm's Block (ls1, ls2 with init_values > 0), or nn.TransformerEncoderLayer with post_norm."""

    def __init__(self, c):
        super().__init__()
        dim, eps = c["embed_dim"], c["layernorm_eps"]
        head_dim = c["head_dim"] or dim // c["num_heads"]
        init_values = c.get("init_values", 0.0)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, c["num_heads"], head_dim, c["qkv_bias"])
        self.ls1 = LayerScale(dim, init_values) if init_values > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, c["mlp_dim"], c["gelu"], c.get("mlp_relu", False))
        self.ls2 = LayerScale(dim, init_values) if init_values > 0 else nn.Identity()
        self.post_norm = c.get("post_norm", False)

    def forward(self, x):
        if self.post_norm:  # nn.TransformerEncoderLayer(norm_first=False)
            x = self.norm1(x + self.attn(x))
            return self.norm2(x + self.mlp(x))
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class StdConv2dSame(nn.Conv2d):
    """timm's StdConv2dSame: TF "same" padding, weight standardised per output channel."""

    def __init__(self, cin, cout, kernel, stride=1, eps=1e-8):
        super().__init__(cin, cout, kernel, stride=stride, padding=0, bias=False)
        self.eps = eps

    def forward(self, x):
        x = pad_same(x, self.kernel_size[0], self.stride[0])
        w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, training=True,
                         momentum=0.0, eps=self.eps).reshape_as(self.weight)
        return F.conv2d(x, w, None, self.stride)


def pad_same(x, kernel, stride, value=0.0):
    ih, iw = x.shape[-2:]
    ph = max((math.ceil(ih / stride) - 1) * stride + kernel - ih, 0)
    pw = max((math.ceil(iw / stride) - 1) * stride + kernel - iw, 0)
    return F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2], value=value)


class GroupNormAct(nn.GroupNorm):
    def __init__(self, channels, act=True):
        super().__init__(32, channels, eps=1e-5)
        self.act = act

    def forward(self, x):
        x = F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        return F.relu(x) if self.act else x


class MaxPool2dSame(nn.Module):
    def forward(self, x):
        return F.max_pool2d(pad_same(x, 3, 2, value=-float("inf")), 3, 2)


class Downsample(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = StdConv2dSame(cin, cout, 1, stride)
        self.norm = GroupNormAct(cout, act=False)

    def forward(self, x):
        return self.norm(self.conv(x))


class Bottleneck(nn.Module):
    """timm's non-pre-activation bottleneck (resnetv2.Bottleneck), stride on the 3x3."""

    def __init__(self, cin, cout, stride, shortcut):
        super().__init__()
        mid = cout // 4
        self.downsample = Downsample(cin, cout, stride) if shortcut else None
        self.conv1 = StdConv2dSame(cin, mid, 1)
        self.norm1 = GroupNormAct(mid)
        self.conv2 = StdConv2dSame(mid, mid, 3, stride)
        self.norm2 = GroupNormAct(mid)
        self.conv3 = StdConv2dSame(mid, cout, 1)
        self.norm3 = GroupNormAct(cout, act=False)

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.norm3(self.conv3(self.norm2(self.conv2(self.norm1(self.conv1(x))))))
        return F.relu(x + shortcut)


class Stage(nn.Module):
    def __init__(self, cin, cout, stride, depth):
        super().__init__()
        self.blocks = nn.Sequential(*[Bottleneck(cin if j == 0 else cout, cout, stride if j == 0 else 1, j == 0)
                                      for j in range(depth)])

    def forward(self, x):
        return self.blocks(x)


class Backbone(nn.Module):
    """The hybrid's ResNet-v2 (timm ResNetV2, preact=False, stem_type='same', no final norm)."""

    def __init__(self, c):
        super().__init__()
        width = c["hybrid_width"]
        self.stem = nn.Sequential(OrderedDict(conv=StdConv2dSame(c["channels"], width, 7, 2),
                                              norm=GroupNormAct(width), pool=MaxPool2dSame()))
        stages, cin = [], width
        for i, depth in enumerate(c["hybrid_layers"]):
            stages.append(Stage(cin, 4 * width * 2 ** i, 1 if i == 0 else 2, depth))
            cin = 4 * width * 2 ** i
        self.stages = nn.Sequential(*stages)
        self.channels = cin

    def forward(self, x):
        return self.stages(self.stem(x))


def embed_input_size(c):
    """(channels, height, width) of what the patch projection reads."""
    if not c.get("hybrid"):
        return c["channels"], c["image_height"], c["image_width"]
    h, w = c["image_height"], c["image_width"]
    for _ in range(2 + max(len(c["hybrid_layers"]) - 1, 0)):
        h, w = (h + 1) // 2, (w + 1) // 2
    layers = c["hybrid_layers"]
    return (4 * c["hybrid_width"] * 2 ** (len(layers) - 1) if layers else c["hybrid_width"]), h, w


class PatchEmbed(nn.Module):
    """Conv2d(kernel = stride = P); with patch_norm, lucidrains' LayerNorm before and after the
    projection, computed on unfolded patches in the conv weight's (c, py, px) order."""

    def __init__(self, c):
        super().__init__()
        P, D = c["patch_size"], c["embed_dim"]
        C = embed_input_size(c)[0]
        self.patch, self.patch_norm, self.bf16 = P, c["patch_norm"], False
        self.backbone = Backbone(c) if c.get("hybrid") else None
        if self.patch_norm:
            self.norm_pre = nn.LayerNorm(C * P * P, eps=c["layernorm_eps"])
        self.proj = nn.Conv2d(C, D, P, P)
        if self.patch_norm:
            self.norm = nn.LayerNorm(D, eps=c["layernorm_eps"])

    def forward(self, img):
        if self.backbone is not None:
            img = self.backbone(img)
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


def sincos_2d_table(gh, gw, dim):
    """MAE's fixed table (get_2d_sincos_pos_embed with a class token), in float64 then float32:
    [1, 1 + gh*gw, dim], the class token's row zero; a patch's first half encodes its column, the
    second its row, each as [sin(p w), cos(p w)] with w_k = 10000^(-k / (dim/4))."""
    omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim // 4))
    rows, cols = np.meshgrid(np.arange(gh, dtype=np.float64), np.arange(gw, dtype=np.float64), indexing="ij")
    def axis(pos):
        out = np.outer(pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)
    table = np.concatenate([axis(cols), axis(rows)], axis=1)
    table = np.concatenate([np.zeros((1, dim)), table], axis=0)
    return torch.from_numpy(table).float()[None]


class ViT(nn.Module):
    """bf16=True: the patch projection and the blocks' Linears in the engine's mixed precision."""

    def __init__(self, c, bf16=False):
        super().__init__()
        self.c = c
        D = c["embed_dim"]
        _, in_h, in_w = embed_input_size(c)
        gh, gw = in_h // c["patch_size"], in_w // c["patch_size"]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_kind = c.get("pos_embed", "learned")
        if self.pos_kind == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, gh * gw + 1, D))
        elif self.pos_kind == "learned_2d":  # the paper's Appendix D.4: a table per axis, D/2 wide
            self.pos_embed_row = nn.Parameter(torch.zeros(gh, D // 2))
            self.pos_embed_col = nn.Parameter(torch.zeros(gw, D // 2))
        elif self.pos_kind == "sincos_2d":
            self.register_buffer("pos_embed", sincos_2d_table(gh, gw, D), persistent=False)  # not a weight
        else:
            assert self.pos_kind == "none"
        self.grid = (gh, gw)
        self.patch_embed = PatchEmbed(c)
        self.blocks = nn.ModuleList([Block(c) for _ in range(c["depth"])])
        if c["fc_norm"]:
            self.fc_norm = nn.LayerNorm(D, eps=c["layernorm_eps"])
        elif not c.get("post_norm"):  # nn.TransformerEncoder's default: no final norm
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
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        if self.pos_kind in ("learned", "sincos_2d"):
            x = x + self.pos_embed
        elif self.pos_kind == "learned_2d":
            gh, gw = self.grid
            rows = self.pos_embed_row[:, None, :].expand(gh, gw, -1)
            cols = self.pos_embed_col[None, :, :].expand(gh, gw, -1)
            grid = torch.cat([rows, cols], dim=-1).reshape(gh * gw, -1)
            x = x + F.pad(grid, (0, 0, 1, 0))[None]  # the class token's row is zero
        for blk in self.blocks:
            x = blk(x)
        if not self.c["fc_norm"] and not self.c.get("post_norm"):
            x = self.norm(x)
        x = x[:, 1:].mean(dim=1) if self.c["pool"] == "mean" else x[:, 0]
        if self.c["fc_norm"]:
            x = self.fc_norm(x)
        if self.c["pre_logits_dim"]:
            x = self.pre_logits(x)
        if self.c["num_classes"]:
            x = self.head(x)
        return x


def torch_encoder_layer(block, c):
    """PyTorch's own nn.TransformerEncoderLayer with the weights of a post-norm Block (the oracle
    the reference block is checked against): in_proj = qkv, out_proj = proj, linear1/2 = fc1/2."""
    layer = nn.TransformerEncoderLayer(c["embed_dim"], c["num_heads"], c["mlp_dim"], dropout=0.0,
                                       activation="relu" if c.get("mlp_relu") else "gelu",
                                       layer_norm_eps=c["layernorm_eps"], batch_first=True, norm_first=False)
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(block.attn.qkv.weight)
        layer.self_attn.in_proj_bias.copy_(block.attn.qkv.bias)
        layer.self_attn.out_proj.weight.copy_(block.attn.proj.weight)
        layer.self_attn.out_proj.bias.copy_(block.attn.proj.bias)
        for ours, theirs in ((block.mlp.fc1, layer.linear1), (block.mlp.fc2, layer.linear2),
                             (block.norm1, layer.norm1), (block.norm2, layer.norm2)):
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
    return layer


def param_groups(model, weight_decay):
    """AdamW groups as the C++ engine: no decay on biases, norms, LayerScale, class token, position table."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        is_norm = ".norm" in name or name.startswith("norm") or name.startswith("fc_norm")
        if name.endswith(".bias") or name.endswith(".gamma") or is_norm or name.startswith(("cls_token", "pos_embed")):
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
