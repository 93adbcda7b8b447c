// The compute thread: gathers batches across requests, decodes and preprocesses their images on
// the OpenMP pool, runs the forward pass and hands each request its rows of logits.
#include "serve/batcher.h"

#include <algorithm>
#include <cstring>

#include "vit/error.h"
#include "vit/image_io.h"

namespace vit::serve {

struct Batcher::Pending {
    InferenceJob job;
    Clock::time_point queued_at;
    int64_t taken = 0;     // images put into a batch so far
    int64_t finished = 0;  // images whose batch has run
    std::vector<float> logits;
    std::string error;     // the first bad image's
};

namespace {
double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
}  // namespace

Batcher::Batcher(std::vector<BatchedModel> models, const BatcherOptions& options, Metrics& metrics)
    : models_(std::move(models)), options_(options), metrics_(metrics), queues_(models_.size()) {
    thread_ = std::thread([this] { loop(); });
}

Batcher::~Batcher() {
    stop();
    thread_.join();
}

void Batcher::stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
}

Batcher::Admission Batcher::submit(InferenceJob job) {
    VIT_CHECK(job.model < models_.size() && job.count > 0, "job for model {} with {} images", job.model, job.count);
    std::lock_guard lock(mutex_);
    if (stopping_) return Admission::Stopped;
    if (queued_images_ + job.count > options_.queue_images) return Admission::QueueFull;
    auto pending = std::make_shared<Pending>();
    pending->queued_at = Clock::now();
    queued_images_ += job.count;
    const size_t m = job.model;
    pending->job = std::move(job);
    queues_[m].push_back(std::move(pending));
    metrics_.set_queue_images(queued_images_);
    wake_.notify_all();
    return Admission::Queued;
}

std::vector<Batcher::Slot> Batcher::take_batch(size_t m, std::vector<std::shared_ptr<Pending>>& expired) {
    std::vector<Slot> slots;
    const Clock::time_point now = Clock::now();
    auto& queue = queues_[m];
    while (!queue.empty() && static_cast<int64_t>(slots.size()) < options_.max_batch) {
        std::shared_ptr<Pending> p = queue.front();
        if (p->taken == 0 && p->job.deadline < now) {
            queued_images_ -= p->job.count;
            expired.push_back(std::move(p));
            queue.pop_front();
            continue;
        }
        if (p->taken == 0) metrics_.observe_queue(models_[m].name, seconds_between(p->queued_at, now));
        const int64_t n = std::min(p->job.count - p->taken, options_.max_batch - static_cast<int64_t>(slots.size()));
        for (int64_t i = 0; i < n; i++) slots.push_back({p, p->taken + i});
        p->taken += n;
        queued_images_ -= n;
        if (p->taken == p->job.count) queue.pop_front();
    }
    metrics_.set_queue_images(queued_images_);
    return slots;
}

void Batcher::loop() {
    const auto max_delay = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double, std::milli>(options_.max_delay_ms));
    for (;;) {
        std::vector<Slot> slots;
        std::vector<std::shared_ptr<Pending>> expired;
        size_t model = 0;
        {
            std::unique_lock lock(mutex_);
            // the model whose oldest waiting request is oldest
            const std::deque<std::shared_ptr<Pending>>* oldest = nullptr;
            for (size_t m = 0; m < queues_.size(); m++) {
                if (!queues_[m].empty() && (oldest == nullptr || queues_[m].front()->queued_at < oldest->front()->queued_at)) {
                    oldest = &queues_[m];
                    model = m;
                }
            }
            if (oldest == nullptr) {
                if (stopping_) return;
                wake_.wait(lock);
                continue;
            }
            int64_t waiting = 0;
            for (const auto& p : *oldest) waiting += p->job.count - p->taken;
            const Clock::time_point start_by = oldest->front()->queued_at + max_delay;
            if (waiting < options_.max_batch && Clock::now() < start_by && !stopping_) {
                wake_.wait_until(lock, start_by);
                continue;
            }
            slots = take_batch(model, expired);
        }
        for (const auto& p : expired) {
            metrics_.count_rejection("timeout");
            p->job.done({.outcome = JobOutcome::TimedOut,
                         .logits = {},
                         .error = fmt::format("the request waited {:.1f} s for its turn, past its deadline",
                                              seconds_between(p->queued_at, Clock::now()))});
        }
        if (!slots.empty()) run_batch(model, slots);
    }
}

void Batcher::run_batch(size_t m, const std::vector<Slot>& slots) {
    const BatchedModel& bm = models_[m];
    const Clock::time_point t0 = Clock::now();
    const int64_t B = static_cast<int64_t>(slots.size()), per_image = bm.pipeline.sample_size();
    const int64_t K = bm.model.config().output_dim();
    inputs_.resize(static_cast<size_t>(B * per_image));
    std::vector<std::string> errors(static_cast<size_t>(B));
    const int64_t shorter_side = decode_shorter_side(bm.pipeline.steps());
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t b = 0; b < B; b++) {
        const Slot& s = slots[static_cast<size_t>(b)];
        float* out = inputs_.data() + b * per_image;
        try {
            if (s.job->job.input == ImageInput::Pixels) {
                std::memcpy(out, s.job->job.pixels.data() + s.index * per_image, static_cast<size_t>(per_image) * sizeof(float));
            } else {
                Rng rng(0);  // evaluation transforms draw nothing
                const std::string name = fmt::format("image {} of {}", s.index + 1, s.job->job.count);
                bm.pipeline.apply(decode_image(s.job->job.encoded[static_cast<size_t>(s.index)], name,
                                               options_.max_pixels, shorter_side),
                                  rng, out);
            }
        } catch (const std::exception& e) {
            errors[static_cast<size_t>(b)] = e.what();
            std::fill_n(out, per_image, 0.0f);  // its row of logits is ignored
        }
    }
    const float* logits = nullptr;
    std::string failure;
    try {
        logits = bm.model.forward(inputs_.data(), B, {});
    } catch (const std::exception& e) {
        failure = e.what();
    }
    metrics_.observe_batch(bm.name, B, seconds_between(t0, Clock::now()));
    for (int64_t b = 0; b < B; b++) {
        const Slot& s = slots[static_cast<size_t>(b)];
        Pending& p = *s.job;
        if (p.logits.empty()) p.logits.resize(static_cast<size_t>(p.job.count * K));
        if (logits != nullptr) std::copy_n(logits + b * K, K, p.logits.data() + s.index * K);
        const std::string& e = errors[static_cast<size_t>(b)];
        if (!e.empty() && p.error.empty()) p.error = e;
        if (++p.finished < p.job.count) continue;
        if (logits == nullptr) {
            p.job.done({.outcome = JobOutcome::Failed, .logits = {}, .error = failure});
        } else if (!p.error.empty()) {
            p.job.done({.outcome = JobOutcome::BadImage, .logits = {}, .error = p.error});
        } else {
            p.job.done({.outcome = JobOutcome::Done, .logits = std::move(p.logits), .error = {}});
        }
    }
}

}  // namespace vit::serve
