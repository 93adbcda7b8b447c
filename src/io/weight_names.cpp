// Naming schemes -> timm names and layouts.
//   Hugging Face transformers: split query/key/value Linears (concatenated into qkv),
//     layernorm_before/after, optional "vit." prefix; eps 1e-12 unless told otherwise.
//   torchvision: conv_proj, class_token, encoder.layers.encoder_layer_{i} with a fused
//     in_proj (already timm's qkv layout), mlp.0/mlp.3 (or mlp.linear_1/linear_2).
//   JAX (the original vision_transformer release): kernels stored [in, out] (transposed here),
//     the patch kernel [P, P, C, D] (-> [D, C, P, P]), attention kernels per head [D, H, hd];
//     the hybrids' ResNet as conv_root, gn_root and block{s}/unit{u}/{conv,gn}{1,2,3,_proj}, its
//     kernels [kh, kw, in, out] (-> [out, in, kh, kw]).
#include <map>
#include <optional>

#include "vit/error.h"
#include "vit/params.h"
#include "vit/weights.h"

namespace vit {

namespace {

// The source's tensors by name; each is taken (moved out) at most once.
class TensorPool {
  public:
    explicit TensorPool(WeightSource& w) : path_(w.path) {
        for (SourceTensor& t : w.tensors) by_name_.emplace(t.name, std::move(t));
    }
    bool has(const std::string& name) const { return by_name_.contains(name); }
    std::optional<SourceTensor> take(const std::string& name) {
        auto it = by_name_.find(name);
        if (it == by_name_.end()) return std::nullopt;
        SourceTensor t = std::move(it->second);
        by_name_.erase(it);
        return t;
    }
    std::vector<SourceTensor> rest() {
        std::vector<SourceTensor> out;
        for (auto& [name, t] : by_name_) out.push_back(std::move(t));
        return out;
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
    std::map<std::string, SourceTensor> by_name_;
};

// The tensor viewed with `view` (same element count), then with its axes permuted
// (out axis i = view axis perm[i]); an empty perm keeps the order.
SourceTensor permuted(SourceTensor s, std::string name, std::vector<int64_t> view, std::vector<int> perm,
                      const std::string& path) {
    if (view.empty()) view = s.shape;
    if (shape_numel(view) != s.numel() || (!perm.empty() && perm.size() != view.size())) {
        fail("'{}': tensor '{}' has shape {}, which cannot become '{}' (expected {} elements)", path, s.name,
             shape_string(s.shape), name, shape_numel(view));
    }
    SourceTensor out;
    out.name = std::move(name);
    out.dtype = s.dtype;
    if (perm.empty()) {
        out.shape = view;
        out.read = std::move(s.read);
        return out;
    }
    for (int p : perm) out.shape.push_back(view[static_cast<size_t>(p)]);
    out.read = [read = std::move(s.read), view, perm, shape = out.shape](float* dst) {
        const size_t rank = view.size();
        std::vector<float> tmp(static_cast<size_t>(shape_numel(view)));
        read(tmp.data());
        std::vector<int64_t> in_stride(rank, 1);
        for (size_t d = rank - 1; d-- > 0;) in_stride[d] = in_stride[d + 1] * view[d + 1];
        std::vector<int64_t> index(rank, 0);
        for (size_t i = 0; i < tmp.size(); i++) {
            int64_t off = 0;
            for (size_t d = 0; d < rank; d++) off += index[d] * in_stride[static_cast<size_t>(perm[d])];
            dst[i] = tmp[static_cast<size_t>(off)];
            for (size_t d = rank; d-- > 0;) {
                if (++index[d] < shape[d]) break;
                index[d] = 0;
            }
        }
    };
    return out;
}

// Parts stacked along their first axis.
SourceTensor concat0(std::vector<SourceTensor> parts, std::string name, const std::string& path) {
    SourceTensor out;
    out.name = std::move(name);
    out.dtype = parts[0].dtype;
    out.shape = parts[0].shape;
    out.shape[0] = 0;
    for (const SourceTensor& p : parts) {
        if (p.shape.empty() || std::vector<int64_t>(p.shape.begin() + 1, p.shape.end()) !=
                                   std::vector<int64_t>(parts[0].shape.begin() + 1, parts[0].shape.end())) {
            fail("'{}': tensors to join into '{}' have shapes {} and {}", path, out.name, shape_string(parts[0].shape),
                 shape_string(p.shape));
        }
        out.shape[0] += p.shape[0];
    }
    out.read = [parts = std::move(parts)](float* dst) {
        for (const SourceTensor& p : parts) {
            p.read(dst);
            dst += p.numel();
        }
    };
    return out;
}

int64_t count_layers(const TensorPool& pool, const std::string& pattern) {
    int64_t n = 0;
    while (pool.has(fmt::format(fmt::runtime(pattern), n))) n++;
    return n;
}

void rename(TensorPool& pool, std::vector<SourceTensor>& out, const std::string& from, const std::string& to) {
    if (auto t = pool.take(from)) {
        t->name = to;
        out.push_back(std::move(*t));
    }
}

void rename_linear(TensorPool& pool, std::vector<SourceTensor>& out, const std::string& from, const std::string& to) {
    rename(pool, out, from + ".weight", to + ".weight");
    rename(pool, out, from + ".bias", to + ".bias");
}

// Joins separate query, key and value tensors into qkv when all three exist.
void join_qkv(TensorPool& pool, std::vector<SourceTensor>& out, const std::string (&from)[3], const std::string& to,
              const std::function<SourceTensor(SourceTensor)>& convert) {
    if (!pool.has(from[0]) || !pool.has(from[1]) || !pool.has(from[2])) return;
    std::vector<SourceTensor> parts;
    for (const std::string& f : from) parts.push_back(convert(*pool.take(f)));
    out.push_back(concat0(std::move(parts), to, pool.path()));
}

std::vector<SourceTensor> from_huggingface(TensorPool& pool, const std::string& p) {
    std::vector<SourceTensor> out;
    rename(pool, out, p + "embeddings.cls_token", "cls_token");
    rename(pool, out, p + "embeddings.position_embeddings", "pos_embed");
    rename_linear(pool, out, p + "embeddings.patch_embeddings.projection", "patch_embed.proj");
    const int64_t depth = count_layers(pool, p + "encoder.layer.{}.layernorm_before.weight");
    auto same = [](SourceTensor t) { return t; };
    for (int64_t i = 0; i < depth; i++) {
        const std::string l = fmt::format("{}encoder.layer.{}.", p, i), b = fmt::format("blocks.{}.", i);
        rename_linear(pool, out, l + "layernorm_before", b + "norm1");
        for (const char* kind : {".weight", ".bias"}) {
            const std::string a = l + "attention.attention.";
            join_qkv(pool, out, {a + "query" + kind, a + "key" + kind, a + "value" + kind}, b + "attn.qkv" + kind, same);
        }
        rename_linear(pool, out, l + "attention.output.dense", b + "attn.proj");
        rename_linear(pool, out, l + "layernorm_after", b + "norm2");
        rename_linear(pool, out, l + "intermediate.dense", b + "mlp.fc1");
        rename_linear(pool, out, l + "output.dense", b + "mlp.fc2");
    }
    rename_linear(pool, out, p + "layernorm", "norm");
    rename_linear(pool, out, p + "pooler.dense", "pre_logits.fc");
    rename_linear(pool, out, "classifier", "head");
    return out;
}

std::vector<SourceTensor> from_torchvision(TensorPool& pool) {
    std::vector<SourceTensor> out;
    rename(pool, out, "class_token", "cls_token");
    rename(pool, out, "encoder.pos_embedding", "pos_embed");
    rename_linear(pool, out, "conv_proj", "patch_embed.proj");
    const int64_t depth = count_layers(pool, "encoder.layers.encoder_layer_{}.ln_1.weight");
    for (int64_t i = 0; i < depth; i++) {
        const std::string l = fmt::format("encoder.layers.encoder_layer_{}.", i), b = fmt::format("blocks.{}.", i);
        rename_linear(pool, out, l + "ln_1", b + "norm1");
        rename(pool, out, l + "self_attention.in_proj_weight", b + "attn.qkv.weight");
        rename(pool, out, l + "self_attention.in_proj_bias", b + "attn.qkv.bias");
        rename_linear(pool, out, l + "self_attention.out_proj", b + "attn.proj");
        rename_linear(pool, out, l + "ln_2", b + "norm2");
        rename_linear(pool, out, l + "mlp.0", b + "mlp.fc1");
        rename_linear(pool, out, l + "mlp.linear_1", b + "mlp.fc1");
        rename_linear(pool, out, l + "mlp.3", b + "mlp.fc2");
        rename_linear(pool, out, l + "mlp.linear_2", b + "mlp.fc2");
    }
    rename_linear(pool, out, "encoder.ln", "norm");
    rename_linear(pool, out, "heads.pre_logits", "pre_logits.fc");
    rename_linear(pool, out, "heads.head", "head");
    return out;
}

std::vector<SourceTensor> from_jax(TensorPool& pool, const std::string& p, std::map<std::string, std::string>& hints) {
    const std::string& path = pool.path();
    std::vector<SourceTensor> out;
    auto take = [&](const std::string& name) { return pool.take(p + name); };
    auto norm = [&](const std::string& from, const std::string& to) {
        rename(pool, out, p + from + "/scale", to + ".weight");
        rename(pool, out, p + from + "/bias", to + ".bias");
    };
    auto dense = [&](const std::string& from, const std::string& to) {  // kernel [in, out] -> weight [out, in]
        if (auto k = take(from + "/kernel")) out.push_back(permuted(std::move(*k), to + ".weight", {}, {1, 0}, path));
        rename(pool, out, p + from + "/bias", to + ".bias");
    };
    auto conv = [&](const std::string& from, const std::string& to) {  // [kh, kw, in, out] -> [out, in, kh, kw]
        if (auto k = take(from + "/kernel")) out.push_back(permuted(std::move(*k), to + ".weight", {}, {3, 2, 0, 1}, path));
    };
    auto group_norm = [&](const std::string& from, const std::string& to) {  // [C] or [1, 1, 1, C] -> [C]
        for (auto [jax, timm] : {std::pair{"/scale", ".weight"}, std::pair{"/bias", ".bias"}}) {
            if (auto t = take(from + jax)) {
                const int64_t n = t->numel();
                out.push_back(permuted(std::move(*t), to + timm, {n}, {}, path));
            }
        }
    };
    const std::string backbone = "patch_embed.backbone.";
    conv("conv_root", backbone + "stem.conv");
    group_norm("gn_root", backbone + "stem.norm");
    for (int64_t s = 1; pool.has(p + fmt::format("block{}/unit1/conv1/kernel", s)); s++) {
        for (int64_t u = 1; pool.has(p + fmt::format("block{}/unit{}/conv1/kernel", s, u)); u++) {
            const std::string from = fmt::format("block{}/unit{}/", s, u);
            const std::string to = fmt::format("{}stages.{}.blocks.{}.", backbone, s - 1, u - 1);
            for (const char* k : {"1", "2", "3"}) {
                conv(from + "conv" + k, to + "conv" + k);
                group_norm(from + "gn" + k, to + "norm" + k);
            }
            conv(from + "conv_proj", to + "downsample.conv");
            group_norm(from + "gn_proj", to + "downsample.norm");
        }
    }
    conv("embedding", "patch_embed.proj");
    rename(pool, out, p + "embedding/bias", "patch_embed.proj.bias");
    rename(pool, out, p + "cls", "cls_token");
    rename(pool, out, p + "Transformer/posembed_input/pos_embedding", "pos_embed");
    const int64_t depth = count_layers(pool, p + "Transformer/encoderblock_{}/LayerNorm_0/scale");
    for (int64_t i = 0; i < depth; i++) {
        const std::string l = fmt::format("Transformer/encoderblock_{}/", i), b = fmt::format("blocks.{}.", i);
        const std::string a = p + l + "MultiHeadDotProductAttention_1/";
        norm(l + "LayerNorm_0", b + "norm1");
        std::vector<int64_t> qshape;
        if (pool.has(a + "query/kernel")) {  // heads are explicit: [D, heads, head_dim]
            SourceTensor q = *pool.take(a + "query/kernel");
            qshape = q.shape;
            if (qshape.size() != 3) {
                fail("'{}': tensor '{}' has shape {}, expected [embed_dim, heads, head_dim]", path, q.name,
                     shape_string(qshape));
            }
            if (i == 0) hints["vit.num_heads"] = std::to_string(qshape[1]);
            const int64_t D = qshape[0], inner = qshape[1] * qshape[2];
            std::vector<SourceTensor> parts;
            parts.push_back(permuted(std::move(q), "q", {D, inner}, {1, 0}, path));
            for (const char* kv : {"key/kernel", "value/kernel"}) {
                auto t = pool.take(a + kv);
                if (!t) fail("'{}' has '{}query/kernel' but no '{}{}'", path, a, a, kv);
                parts.push_back(permuted(std::move(*t), kv, {D, inner}, {1, 0}, path));
            }
            out.push_back(concat0(std::move(parts), b + "attn.qkv.weight", path));
            if (auto o = pool.take(a + "out/kernel")) {
                out.push_back(permuted(std::move(*o), b + "attn.proj.weight", {inner, D}, {1, 0}, path));
            }
        }
        auto flat = [&](SourceTensor t) {
            const std::string name = t.name;
            const int64_t n = t.numel();
            return permuted(std::move(t), name, {n}, {}, path);
        };
        join_qkv(pool, out, {a + "query/bias", a + "key/bias", a + "value/bias"}, b + "attn.qkv.bias", flat);
        rename(pool, out, a + "out/bias", b + "attn.proj.bias");
        norm(l + "LayerNorm_2", b + "norm2");
        dense(l + "MlpBlock_3/Dense_0", b + "mlp.fc1");
        dense(l + "MlpBlock_3/Dense_1", b + "mlp.fc2");
    }
    norm("Transformer/encoder_norm", "norm");
    dense("pre_logits", "pre_logits.fc");
    dense("head", "head");
    return out;
}

// The prefix under which a name is found ("" when the name itself is there).
std::optional<std::string> prefix_of(const TensorPool& pool, const std::string& name, std::initializer_list<const char*> prefixes) {
    for (const char* p : prefixes) {
        if (pool.has(p + name)) return std::string(p);
    }
    return std::nullopt;
}

}  // namespace

WeightSource to_timm_names(WeightSource w) {
    TensorPool pool(w);
    std::vector<SourceTensor> out;
    if (auto p = prefix_of(pool, "embeddings.patch_embeddings.projection.weight", {"", "vit."})) {
        w.scheme = NameScheme::HuggingFace;
        w.metadata.emplace("vit.layernorm_eps", "1e-12");  // transformers' ViTConfig default
        out = from_huggingface(pool, *p);
    } else if (pool.has("conv_proj.weight")) {
        w.scheme = NameScheme::Torchvision;
        out = from_torchvision(pool);
    } else if (auto jp = prefix_of(pool, "embedding/kernel", {"", "opt/target/", "params/"})) {
        w.scheme = NameScheme::Jax;
        out = from_jax(pool, *jp, w.metadata);
    } else {
        w.scheme = NameScheme::Timm;
    }
    for (SourceTensor& t : pool.rest()) out.push_back(std::move(t));
    w.tensors = std::move(out);
    return w;
}

}  // namespace vit
