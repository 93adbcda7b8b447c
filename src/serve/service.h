// vit serve's endpoints: KServe v2 (health, server and model metadata, readiness, infer), a
// classify endpoint for people and curl, and Prometheus metrics; with the API key check and
// the request counts.
//
//   GET  /v2/health/live                    200 while the process runs
//   GET  /v2/health/ready                   200 once every model is loaded, 503 before
//   GET  /v2                                server metadata and extensions
//   GET  /v2/models/{name}                  the model's inputs and outputs
//   GET  /v2/models/{name}/ready            200 / 503
//   POST /v2/models/{name}/infer            KServe v2 inference (kserve.h)
//   POST /v1/models/{name}/classify[?top_k=N]  an image (raw body or multipart/form-data) ->
//                                           vit predict --json's object for it
//   GET  /metrics                           Prometheus text (metrics.h)
//
// Example:
//   vit::serve::Service service({"vit"}, options);
//   vit::serve::HttpServer server("127.0.0.1", 8080, limits, service.handler());
//   std::thread loading([&] { service.start(load_models()); });   // ready from here on
//   server.run();
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "serve/batcher.h"
#include "serve/http_server.h"
#include "serve/metrics.h"
#include "vit/model.h"
#include "vit/precision.h"
#include "vit/transforms.h"

namespace vit::serve {

struct ServedModel {
    std::string name;
    std::string weights;  // the file it was loaded from, as given
    std::unique_ptr<ViT> model;
    Pipeline pipeline;
    std::vector<std::string> labels;  // one per class
    Precision precision = Precision::F32;
};

struct ServiceOptions {
    BatcherOptions batcher;
    double timeout_s = 30.0;                // a request's longest wait for its batch
    std::optional<std::string> api_key;     // when set, every endpoint but health needs it
    std::string version;                    // the server's, for GET /v2
};

// A model name as URLs carry it: 1 to 64 of [A-Za-z0-9_.-], not "." or "..", no "..".
bool valid_model_name(std::string_view name);

class Service {
  public:
    // The names of the models to be served, known before they load (so that a request for one of
    // them is told it is loading, and one for another name that it does not exist).
    Service(std::vector<std::string> model_names, ServiceOptions options);
    ~Service();

    // Called once, from any thread, with the loaded models in the order of the names: from here
    // on the service is ready and batches requests.
    void start(std::vector<ServedModel> models);
    // No new inference; the queued requests are still answered.
    void stop();

    HttpHandler handler();

  private:
    struct Route;
    std::optional<HttpResponse> screen(const HttpRequest& request) const;
    void handle(HttpRequest request, Respond respond);
    void infer(const Route& route, const HttpRequest& request, Respond respond);
    void classify(const Route& route, const HttpRequest& request, Respond respond);
    // Queues a job, answering the refusals (queue full, shutting down) itself.
    void submit(size_t model, InferenceJob job, const Respond& respond);
    const ServedModel& model_at(size_t index) const { return models_[index]; }

    std::vector<std::string> names_;
    ServiceOptions options_;
    std::vector<ServedModel> models_;  // filled by start()
    std::atomic<bool> ready_{false};
    Metrics metrics_;
    std::unique_ptr<Batcher> batcher_;
};

}  // namespace vit::serve
