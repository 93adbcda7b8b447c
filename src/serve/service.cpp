// Routing, access and answers of vit serve. Everything a request could get wrong is answered
// with its status and an {"error": ...} that names the problem; nothing internal is shown.
#include "serve/service.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>

#include "serve/kserve.h"
#include "serve/multipart.h"
#include "vit/predict.h"

namespace vit::serve {

namespace {

enum class Endpoint { Live, Ready, Server, Metrics, Model, ModelReady, Infer, Classify };

constexpr size_t kMaxFilenameShown = 256;

HttpResponse json_error(int status, const std::string& message) {
    HttpResponse r;
    r.status = status;
    r.body = nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (status == 503) r.headers.emplace_back("Retry-After", "1");
    if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
}

HttpResponse json_ok(std::string body) {
    HttpResponse r;
    r.body = std::move(body);
    return r;
}

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> parts;
    while (!path.empty()) {
        if (path.front() == '/') {
            path.remove_prefix(1);
            continue;
        }
        const size_t end = std::min(path.find('/'), path.size());
        parts.push_back(path.substr(0, end));
        path.remove_prefix(end);
    }
    return parts;
}

// Constant-time in the key's content: every byte is compared whatever the first difference.
bool same_secret(std::string_view given, std::string_view expected) {
    unsigned diff = given.size() == expected.size() ? 0u : 1u;
    for (size_t i = 0; i < expected.size(); i++) {
        const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
        diff |= g ^ static_cast<unsigned char>(expected[i]);
    }
    return diff == 0;
}

std::string text_for(std::string_view untrusted) {
    std::string s(untrusted.substr(0, 64));
    for (char& c : s) {
        if (!std::isprint(static_cast<unsigned char>(c)) || c == '"' || c == '\\') c = '?';
    }
    return untrusted.size() > 64 ? s + "..." : s;
}

// ?top_k=N of the classify endpoint (default 5), at most the model's classes.
int64_t top_k_of(std::string_view target, int64_t classes) {
    const size_t q = target.find('?');
    if (q == std::string_view::npos) return std::min<int64_t>(5, classes);
    const std::string_view query = target.substr(q + 1);
    if (!query.starts_with("top_k=")) refuse(400, "the only query parameter is top_k=N, got '{}'", text_for(query));
    const std::string_view v = query.substr(6);
    int64_t k = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), k);
    if (ec != std::errc() || end != v.data() + v.size() || k < 1) refuse(400, "top_k must be a whole number >= 1, got '{}'", text_for(v));
    return std::min(k, classes);
}

}  // namespace

struct Service::Route {
    Endpoint endpoint = Endpoint::Live;
    size_t model = 0;  // for the model endpoints
};

bool valid_model_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || name.find("..") != std::string_view::npos || name == ".") return false;
    return std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '.' || c == '-'; });
}

Service::Service(std::vector<std::string> model_names, ServiceOptions options)
    : names_(std::move(model_names)), options_(std::move(options)) {}

Service::~Service() = default;

void Service::start(std::vector<ServedModel> models) {
    std::vector<BatchedModel> batched;
    for (ServedModel& m : models) batched.push_back({.name = m.name, .model = *m.model, .pipeline = m.pipeline});
    models_ = std::move(models);
    batcher_ = std::make_unique<Batcher>(std::move(batched), options_.batcher, metrics_);
    ready_.store(true, std::memory_order_release);
}

void Service::stop() {
    if (ready_.load(std::memory_order_acquire)) batcher_->stop();
}

HttpHandler Service::handler() {
    return {.screen = [this](const HttpRequest& r) { return screen(r); },
            .handle = [this](HttpRequest r, Respond respond) { handle(std::move(r), std::move(respond)); }};
}

namespace {

// The endpoint of a method and path, or the answer for a path that names none.
struct Routing {
    Endpoint endpoint = Endpoint::Live;
    std::string_view model;      // for the model endpoints
    std::optional<HttpResponse> refusal;
};

Routing route_of(std::string_view method, std::string_view path) {
    const std::vector<std::string_view> p = split_path(path);
    auto want = [&](Endpoint e, std::string_view m, std::string_view name = {}) {
        if (method != m) {
            HttpResponse r = json_error(405, fmt::format("{} takes {}, not {}", text_for(path), m, text_for(method)));
            r.headers.emplace_back("Allow", std::string(m));
            return Routing{.endpoint = e, .model = name, .refusal = r};
        }
        return Routing{.endpoint = e, .model = name, .refusal = std::nullopt};
    };
    const size_t n = p.size();
    if (n == 3 && p[0] == "v2" && p[1] == "health" && p[2] == "live") return want(Endpoint::Live, "GET");
    if (n == 3 && p[0] == "v2" && p[1] == "health" && p[2] == "ready") return want(Endpoint::Ready, "GET");
    if (n == 1 && p[0] == "v2") return want(Endpoint::Server, "GET");
    if (n == 1 && p[0] == "metrics") return want(Endpoint::Metrics, "GET");
    if (n >= 3 && (p[0] == "v2" || p[0] == "v1") && p[1] == "models") {
        if (n == 3 && p[0] == "v2") return want(Endpoint::Model, "GET", p[2]);
        if (n == 4 && p[0] == "v2" && p[3] == "ready") return want(Endpoint::ModelReady, "GET", p[2]);
        if (n == 4 && p[0] == "v2" && p[3] == "infer") return want(Endpoint::Infer, "POST", p[2]);
        if (n == 4 && p[0] == "v1" && p[3] == "classify") return want(Endpoint::Classify, "POST", p[2]);
    }
    return {.endpoint = Endpoint::Live, .model = {},
            .refusal = json_error(404, fmt::format("no endpoint {}; see GET /v2 and /v2/models/NAME", text_for(path)))};
}

}  // namespace

std::optional<HttpResponse> Service::screen(const HttpRequest& request) const {
    const Routing r = route_of(request.method, request.path());
    if (r.refusal) return r.refusal;
    if (options_.api_key && r.endpoint != Endpoint::Live && r.endpoint != Endpoint::Ready) {
        const std::string_view given = request.header("authorization").value_or("");
        if (!same_secret(given, "Bearer " + *options_.api_key)) {
            return json_error(401, given.empty() ? "this server needs an API key: Authorization: Bearer KEY"
                                                 : "the API key is not valid");
        }
    }
    if (r.model.empty() && r.endpoint != Endpoint::Model) return std::nullopt;
    if (!valid_model_name(r.model)) {
        return json_error(400, fmt::format("'{}' is not a model name (1 to 64 of A-Z a-z 0-9 _ . -, without '..')",
                                           text_for(r.model)));
    }
    if (std::find(names_.begin(), names_.end(), r.model) == names_.end()) {
        std::string served;
        for (const std::string& name : names_) {
            if (!served.empty()) served += ", ";
            served += name;
        }
        return json_error(404, fmt::format("model '{}' is not served here; this server serves {}", r.model, served));
    }
    if (!ready_.load(std::memory_order_acquire)) {
        return json_error(503, fmt::format("model '{}' is still loading", r.model));
    }
    return std::nullopt;
}

void Service::handle(HttpRequest request, Respond respond) {
    if (std::optional<HttpResponse> refusal = screen(request)) return respond(std::move(*refusal));
    const Routing routing = route_of(request.method, request.path());
    Route route{.endpoint = routing.endpoint, .model = 0};
    if (!routing.model.empty()) {
        route.model = static_cast<size_t>(std::find(names_.begin(), names_.end(), routing.model) - names_.begin());
    }
    switch (route.endpoint) {
        case Endpoint::Live: return respond(json_ok("{\"live\":true}"));
        case Endpoint::Ready:
            if (!ready_.load(std::memory_order_acquire)) return respond(json_error(503, "the models are still loading"));
            return respond(json_ok("{\"ready\":true}"));
        case Endpoint::Server:
            return respond(json_ok(fmt::format("{{\"name\":\"vit\",\"version\":\"{}\",\"extensions\":"
                                               "[\"binary_tensor_data\",\"classification\"]}}",
                                               options_.version)));
        case Endpoint::Metrics: {
            HttpResponse r = json_ok(metrics_.prometheus_text());
            r.content_type = "text/plain; version=0.0.4";
            return respond(std::move(r));
        }
        case Endpoint::Model: {
            const ViTConfig& c = model_at(route.model).model->config();
            return respond(json_ok(model_metadata_json(names_[route.model],
                                                       {c.channels, c.image_height, c.image_width, c.num_classes})));
        }
        case Endpoint::ModelReady: return respond(json_ok("{\"ready\":true}"));
        case Endpoint::Infer:
        case Endpoint::Classify: {
            const std::string& name = names_[route.model];
            Respond counted = [this, name, respond](HttpResponse r) {
                metrics_.count_request(name, r.status);
                respond(std::move(r));
            };
            try {
                if (route.endpoint == Endpoint::Infer) {
                    infer(route, request, counted);
                } else {
                    classify(route, request, counted);
                }
            } catch (const HttpError& e) {
                counted(json_error(e.status(), e.what()));
            }
            return;
        }
    }
}

void Service::submit(size_t model, InferenceJob job, const Respond& respond) {
    job.model = model;
    job.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.timeout_s));
    switch (batcher_->submit(std::move(job))) {
        case Batcher::Admission::Queued: return;
        case Batcher::Admission::QueueFull:
            metrics_.count_rejection("queue_full");
            return respond(json_error(503, fmt::format("the queue is full (it holds {} images); retry later",
                                                       options_.batcher.queue_images)));
        case Batcher::Admission::Stopped:
            metrics_.count_rejection("shutting_down");
            return respond(json_error(503, "the server is shutting down"));
    }
}

namespace {
// The answer for a job that did not produce logits.
HttpResponse failed_job(const JobResult& r, double timeout_s) {
    switch (r.outcome) {
        case JobOutcome::BadImage: return json_error(400, r.error);
        case JobOutcome::TimedOut: return json_error(503, fmt::format("{} (--timeout {} s); retry later", r.error, timeout_s));
        default: return json_error(500, "internal error");
    }
}
}  // namespace

void Service::infer(const Route& route, const HttpRequest& request, Respond respond) {
    const ServedModel& m = model_at(route.model);
    const ViTConfig& c = m.model->config();
    auto parsed = std::make_shared<InferRequest>(
        parse_infer_request(request, {c.channels, c.image_height, c.image_width, c.num_classes}, options_.batcher.queue_images));
    InferenceJob job;
    job.input = parsed->input;
    job.encoded = std::move(parsed->encoded);
    job.pixels = std::move(parsed->pixels);
    job.count = parsed->count;
    job.done = [this, &m, parsed, respond](JobResult r) {
        if (r.outcome != JobOutcome::Done) return respond(failed_job(r, options_.timeout_s));
        respond(infer_response(*parsed, m.name, r.logits, m.labels));
    };
    submit(route.model, std::move(job), respond);
}

void Service::classify(const Route& route, const HttpRequest& request, Respond respond) {
    const ServedModel& m = model_at(route.model);
    const int64_t K = m.model->config().num_classes;
    if (K == 0) refuse(400, "model '{}' has no classifier head; use /v2/models/{}/infer for its features", m.name, m.name);
    const int64_t top_k = top_k_of(request.target, K);
    std::string_view image = request.body;
    std::string filename = "upload";
    const std::string_view type = request.header("content-type").value_or("");
    std::string lower_type(type.substr(0, 19));
    std::transform(lower_type.begin(), lower_type.end(), lower_type.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (lower_type == "multipart/form-data") {
        const FormFile f = first_form_file(type, request.body);
        image = f.content;
        filename = f.filename.substr(0, kMaxFilenameShown);
    }
    if (image.empty()) refuse(400, "the request holds no image: send a JPEG or PNG file as the body, or as a multipart/form-data file");
    InferenceJob job;
    job.input = ImageInput::Encoded;
    job.encoded.emplace_back(image.begin(), image.end());
    job.count = 1;
    job.done = [this, &m, top_k, filename, respond](JobResult r) {
        if (r.outcome != JobOutcome::Done) return respond(failed_job(r, options_.timeout_s));
        Prediction p = top_classes(r.logits.data(), static_cast<int64_t>(r.logits.size()), top_k);
        p.path = filename;
        respond(json_ok(predictions_json(m.weights, m.model->config(), m.precision, {p}, m.labels, std::nullopt)));
    };
    submit(route.model, std::move(job), respond);
}

}  // namespace vit::serve
