// Prometheus text exposition of the server's metrics.
#include "serve/metrics.h"

#include <fmt/format.h>

namespace vit::serve {

namespace {

// Label values are model names (checked to [A-Za-z0-9_.-]) and fixed words: nothing to escape.
template <typename Histograms, typename Bounds>
void write_histogram_family(std::string& out, const std::string& name, const std::string& help,
                            const Histograms& by_model, const Bounds& bounds) {
    out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
    for (const auto& [model, h] : by_model) {
        for (size_t i = 0; i < bounds.size(); i++) {
            out += fmt::format("{}_bucket{{model=\"{}\",le=\"{}\"}} {}\n", name, model, bounds[i], h.counts[i]);
        }
        out += fmt::format("{}_bucket{{model=\"{}\",le=\"+Inf\"}} {}\n", name, model, h.count);
        out += fmt::format("{}_sum{{model=\"{}\"}} {}\n", name, model, h.sum);
        out += fmt::format("{}_count{{model=\"{}\"}} {}\n", name, model, h.count);
    }
}

void write_counter_family(std::string& out, const std::string& name, const std::string& label,
                          const std::string& help, const std::map<std::string, uint64_t>& values) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
    for (const auto& [key, n] : values) out += fmt::format("{}{{{}=\"{}\"}} {}\n", name, label, key, n);
}

}  // namespace

void Metrics::Histogram::observe(double x) {
    for (size_t i = 0; i < kBuckets.size(); i++) {
        if (x <= kBuckets[i]) counts[i]++;
    }
    count++;
    sum += x;
}

void Metrics::count_request(const std::string& model, int status) {
    std::lock_guard lock(mutex_);
    requests_[{model, status}]++;
}

void Metrics::count_rejection(const std::string& reason) {
    std::lock_guard lock(mutex_);
    rejections_[reason]++;
}

void Metrics::observe_queue(const std::string& model, double seconds) {
    std::lock_guard lock(mutex_);
    queue_[model].observe(seconds);
}

void Metrics::observe_batch(const std::string& model, int64_t images, double seconds) {
    std::lock_guard lock(mutex_);
    images_[model] += static_cast<uint64_t>(images);
    batches_[model]++;
    compute_[model].observe(seconds);
}

void Metrics::set_queue_images(int64_t images) {
    std::lock_guard lock(mutex_);
    queue_images_ = images;
}

std::string Metrics::prometheus_text() const {
    std::lock_guard lock(mutex_);
    std::string out;
    out += "# HELP vit_requests_total Inference requests by model and HTTP status.\n"
           "# TYPE vit_requests_total counter\n";
    for (const auto& [key, n] : requests_) {
        out += fmt::format("vit_requests_total{{model=\"{}\",code=\"{}\"}} {}\n", key.first, key.second, n);
    }
    write_counter_family(out, "vit_rejections_total", "reason", "Requests refused without computing, by reason.",
                         rejections_);
    write_counter_family(out, "vit_images_total", "model", "Images inferred.", images_);
    write_counter_family(out, "vit_batches_total", "model",
                         "Forward passes run (mean batch size = images / batches).", batches_);
    write_histogram_family(out, "vit_queue_seconds", "Seconds a request waited before its first batch began.",
                           queue_, kBuckets);
    write_histogram_family(out, "vit_compute_seconds",
                           "Seconds a batch took to decode, preprocess and run its images.", compute_, kBuckets);
    out += fmt::format("# HELP vit_queue_images Images waiting for a batch.\n# TYPE vit_queue_images gauge\n"
                       "vit_queue_images {}\n",
                       queue_images_);
    return out;
}

}  // namespace vit::serve
