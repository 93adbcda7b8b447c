// Dynamic batching: requests from many clients join one forward pass of up to max_batch images.
// One compute thread runs every batch on the OpenMP pool (sized once for the whole process, so
// nothing is oversubscribed); a batch starts when max_batch images wait or the oldest has waited
// max_delay_ms. Several models share the thread: the model whose oldest request is oldest goes
// first. A request past its deadline when its turn comes is dropped, not computed.
//
// Example:
//   vit::serve::Batcher batcher(models, {.max_batch = 16, .max_delay_ms = 5}, metrics);
//   batcher.submit({.model = 0, .input = ImageInput::Encoded, .encoded = {jpeg_bytes}, .count = 1,
//                   .deadline = now + 30s, .done = [](JobResult r) { ... }});
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "serve/metrics.h"
#include "vit/data.h"
#include "vit/model.h"
#include "vit/transforms.h"

namespace vit::serve {

using Clock = std::chrono::steady_clock;

struct BatchedModel {
    std::string name;
    ViT& model;
    Pipeline pipeline;  // for encoded images: decoded pixels -> the model's [C, H, W] input
};

enum class ImageInput {
    Encoded,  // JPEG or PNG files: decoded and preprocessed by the model's pipeline
    Pixels,   // the model's input as it is: [count, C, H, W] floats, already preprocessed
};

enum class JobOutcome { Done, BadImage, TimedOut, Failed };

struct JobResult {
    JobOutcome outcome = JobOutcome::Done;
    std::vector<float> logits;  // [count, K] when Done
    std::string error;          // BadImage: which image and why; TimedOut: how long it waited
};

struct InferenceJob {
    size_t model = 0;  // index into the batcher's models
    ImageInput input = ImageInput::Encoded;
    std::vector<std::vector<uint8_t>> encoded;  // Encoded: one file per image
    std::vector<float> pixels;                  // Pixels: count * C * H * W values
    int64_t count = 0;                          // images
    Clock::time_point deadline;
    std::function<void(JobResult)> done;  // called once, on the compute thread
};

struct BatcherOptions {
    int64_t max_batch = 8;
    double max_delay_ms = 0.0;
    int64_t queue_images = 256;          // images waiting, over all models
    int64_t max_pixels = int64_t{1} << 24;  // an encoded image declaring more is refused before decoding
};

class Batcher {
  public:
    Batcher(std::vector<BatchedModel> models, const BatcherOptions& options, Metrics& metrics);
    ~Batcher();  // stop(), then waits for the thread
    Batcher(const Batcher&) = delete;
    Batcher& operator=(const Batcher&) = delete;

    enum class Admission { Queued, QueueFull, Stopped };
    // Queues the job (its images are counted against queue_images); otherwise the job is not
    // taken and `done` is never called.
    Admission submit(InferenceJob job);
    // Refuses new jobs; the queued ones are still computed.
    void stop();
    const BatcherOptions& options() const { return options_; }

  private:
    struct Pending;  // a job and how far it has got
    struct Slot {    // one image of a batch
        std::shared_ptr<Pending> job;
        int64_t index;
    };
    void loop();
    // Under the lock: the next batch of one model, or empty; expired jobs are moved to `expired`.
    std::vector<Slot> take_batch(size_t model, std::vector<std::shared_ptr<Pending>>& expired);
    void run_batch(size_t model, const std::vector<Slot>& slots);

    std::vector<BatchedModel> models_;
    BatcherOptions options_;
    Metrics& metrics_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<std::deque<std::shared_ptr<Pending>>> queues_;  // one per model
    int64_t queued_images_ = 0;
    bool stopping_ = false;
    std::vector<float> inputs_;  // the batch's [B, C, H, W]
    std::thread thread_;
};

}  // namespace vit::serve
