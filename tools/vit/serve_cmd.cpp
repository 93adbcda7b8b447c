// vit serve: the inference server. It listens at once (live, not ready), loads the models on
// another thread (ready when all are loaded), serves until SIGINT or SIGTERM, then answers what
// it has read and exits 0.
#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <thread>

#include "commands.h"
#include "serve/http_server.h"
#include "serve/service.h"
#include "vit/data.h"
#include "vit/error.h"
#include "vit/predict.h"
#include "vit/threads.h"

namespace vit::tools {

namespace {

struct NamedWeights {
    std::string name, path;
};

std::vector<NamedWeights> models_to_serve(const ServeCliOptions& o) {
    std::vector<NamedWeights> out;
    if (!o.weights.empty()) out.push_back({o.name, o.weights});
    for (const std::string& spec : o.models) {
        const size_t eq = spec.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
            fail("--model must be NAME=PATH (e.g. --model tiny=vit_tiny.safetensors), got '{}'", spec);
        }
        out.push_back({spec.substr(0, eq), spec.substr(eq + 1)});
    }
    if (out.empty()) fail("vit serve needs weights: --weights FILE (served as --name, default 'vit') or --model NAME=FILE");
    for (size_t i = 0; i < out.size(); i++) {
        if (!serve::valid_model_name(out[i].name)) {
            fail("model name '{}' must be 1 to 64 of A-Z a-z 0-9 _ . - (without '..'): it is part of the URL", out[i].name);
        }
        for (size_t j = 0; j < i; j++) {
            if (out[j].name == out[i].name) fail("model name '{}' is given twice; each model needs its own name", out[i].name);
        }
    }
    return out;
}

// The key in --api-key-file: its first line, at least 16 characters, no spaces.
std::string read_api_key(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file(path, 4096);
    std::string key(bytes.begin(), bytes.end());
    key = key.substr(0, key.find_first_of("\r\n"));
    if (key.size() < 16) fail("--api-key-file '{}': the key (its first line) has {} characters; use at least 16", path, key.size());
    if (std::any_of(key.begin(), key.end(), [](unsigned char c) { return !std::isgraph(c); })) {
        fail("--api-key-file '{}': the key holds spaces or control characters", path);
    }
    return key;
}

serve::ServedModel load_served(const NamedWeights& nw, const ServeCliOptions& o) {
    ModelSource source;
    source.weights = nw.path;
    source.num_heads = o.num_heads;
    InferenceModel loaded = load_for_inference(source, o.precision, o.non_strict);
    serve::ServedModel m{.name = nw.name,
                         .weights = nw.path,
                         .model = std::move(loaded.model),
                         .pipeline = eval_pipeline_for(loaded.weights, loaded.config, o.preprocess),
                         .labels = {},
                         .precision = o.precision};
    m.labels = class_names_for(loaded, "");
    // the first batch plans the activation buffers at their largest: no request pays for it
    const ViTConfig& c = loaded.config;
    std::vector<float> zeros(static_cast<size_t>(o.max_batch * c.channels * c.image_height * c.image_width));
    m.model->forward(zeros.data(), o.max_batch, {});
    fmt::print("vit serve: model '{}' ready: {} ({}x{}x{}, {} classes, {})\n", nw.name, nw.path, c.channels,
               c.image_height, c.image_width, c.num_classes, precision_name(o.precision));
    return m;
}

}  // namespace

int run_serve(const ServeCliOptions& o) {
    const std::vector<NamedWeights> wanted = models_to_serve(o);
    serve::ServiceOptions so{.batcher = {.max_batch = o.max_batch,
                                         .max_delay_ms = o.max_delay_ms,
                                         .queue_images = o.queue,
                                         .max_pixels = o.max_pixels},
                             .timeout_s = o.timeout_s,
                             .api_key = std::nullopt,
                             .version = VIT_VERSION};
    if (!o.api_key_file.empty()) so.api_key = read_api_key(o.api_key_file);
    set_num_threads(o.threads > 0 ? o.threads : num_cores());
    std::vector<std::string> names;
    for (const NamedWeights& nw : wanted) names.push_back(nw.name);
    serve::Service service(names, so);
    const serve::HttpLimits limits{.max_body_bytes = o.max_body_mb << 20,
                                   .max_header_bytes = int64_t{16} << 10,
                                   .max_header_fields = 64,
                                   .timeout_s = o.timeout_s,
                                   .max_connections = o.max_connections};
    serve::HttpServer server(o.host, o.port, limits, service.handler());
    fmt::print("vit serve: listening on http://{}:{} (loading {} model{})\n", o.host, server.port(), wanted.size(),
               wanted.size() == 1 ? "" : "s");
    std::fflush(stdout);

    std::string load_error;
    std::thread loading([&] {
        try {
            std::vector<serve::ServedModel> models;
            for (const NamedWeights& nw : wanted) models.push_back(load_served(nw, o));
            service.start(std::move(models));
            fmt::print("vit serve: ready\n");
        } catch (const std::exception& e) {
            load_error = e.what();
            server.stop();
        }
        std::fflush(stdout);
    });
    server.run([](int signal) {
        fmt::print("vit serve: {}: answering the requests in flight, then exiting\n", signal == SIGINT ? "SIGINT" : "SIGTERM");
        std::fflush(stdout);
    });
    loading.join();
    service.stop();
    if (!load_error.empty()) fail("{}", load_error);
    fmt::print("vit serve: stopped\n");
    return 0;
}

}  // namespace vit::tools
