// The server's counters, gauges and histograms, written in Prometheus' text format
// (GET /metrics). Safe to update from any thread.
//
//   vit_requests_total{model,code}        inference requests by model and HTTP status
//   vit_rejections_total{reason}          requests refused before computing (queue_full, timeout, ...)
//   vit_images_total{model}               images inferred
//   vit_batches_total{model}              forward passes (mean batch = images / batches)
//   vit_queue_seconds{model}              histogram: a request's wait before its first image's batch
//   vit_compute_seconds{model}            histogram: a batch's decoding, preprocessing and forward pass
//   vit_queue_images                      gauge: images waiting
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace vit::serve {

class Metrics {
  public:
    void count_request(const std::string& model, int status);
    void count_rejection(const std::string& reason);
    void observe_queue(const std::string& model, double seconds);
    void observe_batch(const std::string& model, int64_t images, double seconds);
    void set_queue_images(int64_t images);
    std::string prometheus_text() const;

  private:
    static constexpr std::array<double, 14> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                        0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0};
    struct Histogram {
        std::array<uint64_t, kBuckets.size()> counts{};  // observations <= the bucket's bound
        uint64_t count = 0;
        double sum = 0.0;
        void observe(double x);
    };
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, int>, uint64_t> requests_;
    std::map<std::string, uint64_t> rejections_, images_, batches_;
    std::map<std::string, Histogram> queue_, compute_;
    int64_t queue_images_ = 0;
};

}  // namespace vit::serve
