// vit info and vit bench.
#include "commands.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "peak.h"
#include "vit/checkpoint.h"
#include "vit/data.h"
#include "vit/error.h"
#include "vit/model.h"
#include "vit/optimizer.h"
#include "vit/rng.h"
#include "vit/threads.h"

namespace vit::tools {

namespace {

// The weight file of --weights, opened once per command.
std::optional<WeightSource> open_model_weights(const ModelSource& m) {
    if (m.weights.empty()) return std::nullopt;
    return open_weights(m.weights);
}

int64_t parameter_count(const ViTConfig& c) {
    int64_t n = 0;
    for (const ParamInfo& p : param_table_build(c)) {
        n += p.numel;
    }
    return n;
}

double peak_rss_mib() {
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

struct Timing {
    double min_s = 0.0, median_s = 0.0;
};

template <typename F>
Timing time_repeats(int warmup, int repeats, F&& run) {
    for (int i = 0; i < warmup; i++) {
        run();
    }
    std::vector<double> seconds;
    for (int i = 0; i < repeats; i++) {
        auto t0 = std::chrono::steady_clock::now();
        run();
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(seconds.begin(), seconds.end());
    return {seconds.front(), seconds[seconds.size() / 2]};
}

}  // namespace

ViTConfig resolve_config(const ModelSource& m, const std::optional<WeightSource>& weights) {
    ViTConfig c;
    if (weights) {
        c = config_from_weights(*weights, m.num_heads);
        if (auto note = heads_guess_note(*weights, m.num_heads)) fmt::print(stderr, "warning: {}\n", *note);
    } else if (!m.config.empty()) {
        std::vector<uint8_t> text = read_file(m.config, int64_t{1} << 20);
        try {
            c = ViTConfig::from_json(std::string(text.begin(), text.end()));
        } catch (const Error& e) {
            fail("{}: {}", m.config, e.what());
        }
        if (m.num_heads > 0) {
            c.num_heads = m.num_heads;
        }
    } else {
        c = preset(m.preset.empty() ? "vit_base_patch16_224" : m.preset);
        if (m.num_heads > 0) {
            c.num_heads = m.num_heads;
        }
    }
    if (m.num_classes >= 0) {
        c.num_classes = m.num_classes;
    }
    if (m.image_size > 0) {
        c.image_height = c.image_width = m.image_size;
    }
    c.validate();
    return c;
}

int run_info(const InfoOptions& o) {
    const std::optional<WeightSource> w = open_model_weights(o.model);
    const ViTConfig c = resolve_config(o.model, w);
    const int64_t params = parameter_count(c);
    if (o.json) {
        nlohmann::ordered_json j = nlohmann::ordered_json::parse(c.to_json());
        j["parameters"] = params;
        j["forward_gflops_per_image"] = c.forward_flops() / 1e9;
        if (w) {
            j["weights"] = {{"path", w->path}, {"format", weight_format_name(w->format)},
                            {"names", name_scheme_name(w->scheme)}, {"tensors", w->tensors.size()}};
        }
        fmt::print("{}\n", j.dump());
        return 0;
    }
    if (w) {
        fmt::print("{:<18} {} ({}, {} names, {} tensors)\n", "weights", w->path, weight_format_name(w->format),
                   name_scheme_name(w->scheme), w->tensors.size());
    }
    fmt::print("{:<18} {}x{}x{} (patch {}, grid {}x{}, {} tokens)\n", "input", c.channels,
               c.image_height, c.image_width, c.patch_size, c.grid_height(), c.grid_width(),
               c.num_tokens());
    if (c.hybrid) {
        fmt::print("{:<18} ResNet-v2 stem {} channels, stages [{}] -> {}x{}x{} feature map\n", "hybrid backbone",
                   c.hybrid_width, fmt::join(c.hybrid_layers, ", "), c.embed_in_height(), c.embed_in_width(),
                   c.embed_in_channels());
    }
    fmt::print("{:<18} {}\n", "embed_dim", c.embed_dim);
    fmt::print("{:<18} {}\n", "depth", c.depth);
    fmt::print("{:<18} {} x {} (inner {})\n", "heads x head_dim", c.num_heads, c.head_size(), c.inner_dim());
    fmt::print("{:<18} {}\n", "mlp_dim", c.mlp_dim);
    fmt::print("{:<18} {}\n", "qkv_bias", c.qkv_bias);
    fmt::print("{:<18} {}{}\n", "pool", c.pool == Pool::Token ? "class token" : "mean of patches",
               c.fc_norm ? " (norm after pooling)" : "");
    fmt::print("{:<18} {}\n", "pre_logits_dim", c.pre_logits_dim);
    fmt::print("{:<18} {}\n", "num_classes", c.num_classes);
    fmt::print("{:<18} {}\n", "pos_embed", pos_embed_name(c.pos_embed));
    fmt::print("{:<18} {}\n", "block", c.post_norm ? "post-norm (nn.TransformerEncoderLayer)" : "pre-norm (timm)");
    fmt::print("{:<18} {}\n", "mlp activation", c.mlp_relu ? "relu" : c.gelu == Gelu::Erf ? "gelu, erf (exact)" : "gelu, tanh");
    fmt::print("{:<18} {}\n", "layernorm_eps", c.layernorm_eps);
    fmt::print("{:<18} drop {} attn_drop {} drop_path {}\n", "regularisation", c.drop_rate,
               c.attn_drop_rate, c.drop_path_rate);
    fmt::print("{:<18} {} ({:.2f} M)\n", "parameters", params, static_cast<double>(params) / 1e6);
    fmt::print("{:<18} {:.2f} GFLOP per image\n", "forward", c.forward_flops() / 1e9);
    return 0;
}

int run_bench(const BenchOptions& o) {
    set_num_threads(o.threads);
    const std::optional<WeightSource> weights = open_model_weights(o.model);
    const ViTConfig c = resolve_config(o.model, weights);
    const int64_t B = o.batch;
    // The training step runs on fp32 master weights; the forward pass runs as vit predict does:
    // weights packed for inference, the matrices kept in bf16 only under bf16.
    const Precision precision = o.precision;
    // Fractions are of the peak of the precision the products run in.
    std::optional<double> peak_fp32, peak_bf16, peak;
    if (o.peak) {
        peak_fp32 = measure_fp32_peak_gflops(o.threads, 0.5);
        if (precision == Precision::BF16) {
            peak_bf16 = measure_bf16_peak_gflops(o.threads, 0.5);
        }
        peak = precision == Precision::BF16 ? peak_bf16 : peak_fp32;
    }
    const bool timing_train = o.mode == "train" || o.mode == "both";
    const bool timing_forward = o.mode == "forward" || o.mode == "both";
    auto make_model = [&](WeightStorage storage) {
        auto m = std::make_unique<ViT>(c, storage);
        if (weights) {
            load_weights(*m, *weights, {.strict = true});
        } else {
            m->init_weights(/*seed=*/0);
        }
        if (storage == WeightStorage::F32) m->set_precision(precision);
        return m;
    };
    std::vector<float> images(static_cast<size_t>(B * c.channels * c.image_height * c.image_width));
    Rng rng(1);
    for (float& x : images) {
        x = static_cast<float>(rng.normal());
    }
    const double flops_fwd = c.forward_flops() * static_cast<double>(B);
    nlohmann::ordered_json out;
    out["batch"] = B;
    out["threads"] = o.threads;
    out["precision"] = precision_name(o.precision);
    out["forward_gflops_per_image"] = c.forward_flops() / 1e9;
    if (peak_fp32) {
        out["peak_fp32_gflops"] = *peak_fp32;
    }
    if (peak_bf16) {
        out["peak_bf16_gflops"] = *peak_bf16;
    }
    auto report = [&](const char* name, Timing t, double flops) {
        double ips_best = static_cast<double>(B) / t.min_s;
        double ips_median = static_cast<double>(B) / t.median_s;
        double gflops = flops / t.min_s / 1e9;
        out[name] = {{"images_per_s_best", ips_best},
                     {"images_per_s_median", ips_median},
                     {"ms_per_batch_best", t.min_s * 1e3},
                     {"ms_per_batch_median", t.median_s * 1e3},
                     {"gflops", gflops}};
        if (peak) {
            out[name]["fraction_of_peak"] = gflops / *peak;
        }
        if (!o.json) {
            fmt::print("{:<8} {:8.2f} images/s best, {:8.2f} median  ({:.1f} ms/batch, {:.1f} GFLOP/s{})\n",
                       name, ips_best, ips_median, t.min_s * 1e3, gflops,
                       peak ? fmt::format(", {:.0f}% of {} peak", 100.0 * gflops / *peak, precision_name(o.precision)) : "");
        }
    };
    if (!o.json) {
        fmt::print("model {}x{} patch {} dim {} depth {} heads {}, batch {}, {} threads, {}, {:.2f} GFLOP/image forward\n",
                   c.image_height, c.image_width, c.patch_size, c.embed_dim, c.depth, c.num_heads, B,
                   o.threads, precision_name(o.precision), c.forward_flops() / 1e9);
        if (peak_fp32) {
            fmt::print("machine fp32 peak (measured, {} threads): {:.1f} GFLOP/s\n", o.threads, *peak_fp32);
        }
        if (peak_bf16) {
            fmt::print("machine bf16 peak (measured, {} threads): {:.1f} GFLOP/s\n", o.threads, *peak_bf16);
        }
    }
    if (timing_train) {
        std::unique_ptr<ViT> model_ptr = make_model(WeightStorage::F32);
        ViT& model = *model_ptr;
        std::vector<int32_t> targets(static_cast<size_t>(B));
        for (int64_t b = 0; b < B; b++) {
            targets[static_cast<size_t>(b)] = static_cast<int32_t>(b % std::max<int64_t>(c.num_classes, 1));
        }
        Optimizer optimizer(model, {});
        uint64_t step = 0;
        Timing t = time_repeats(o.warmup, o.repeats, [&] {
            model.zero_grad();
            const float* out_ptr = model.forward(images.data(), B, {.training = true, .dropout_seed = step++});
            if (c.num_classes > 0) {
                Loss loss = cross_entropy(out_ptr, targets.data(), B, c.num_classes, 0.0f);
                model.backward(loss.dlogits.data());
            } else {
                std::vector<float> dfeatures(static_cast<size_t>(B * c.feature_dim()), 1.0f / static_cast<float>(B));
                model.backward(dfeatures.data());
            }
            optimizer.step();
        });
        report("train", t, 3.0 * flops_fwd);
    }
    if (timing_forward) {
        std::unique_ptr<ViT> model = make_model(inference_storage(precision));
        model->pack_for_inference();
        Timing t = time_repeats(o.warmup, o.repeats, [&] { model->forward(images.data(), B, {}); });
        report("forward", t, flops_fwd);
    }
    out["peak_rss_mib"] = peak_rss_mib();
    if (o.json) {
        fmt::print("{}\n", out.dump());
    } else {
        fmt::print("peak resident memory: {:.0f} MiB\n", peak_rss_mib());
    }
    return 0;
}

}  // namespace vit::tools
