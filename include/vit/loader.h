// DataLoader: batches of transformed images, prepared by worker threads ahead of the consumer.
// The order of an epoch and every sample's augmentation are functions of (seed, epoch, index),
// so the batches are the same for any worker count and can be resumed from any batch.
//
// Example:
//   vit::DataLoader loader(train, pipeline, {.batch_size = 128, .shuffle = true, .seed = 0, .workers = 1});
//   loader.start_epoch(epoch, /*first_batch=*/0);
//   while (const vit::Batch* b = loader.next()) model.forward(b->images.data(), b->size, ...);
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "vit/data.h"
#include "vit/transforms.h"

namespace vit {

struct Batch {
    int64_t size = 0;
    std::vector<float> images;   // [size, C, H, W]
    std::vector<int32_t> labels;  // [size]
    int64_t first = 0;           // the place of images[0] in the whole batch (0 unless shared)
    int64_t whole = 0;           // the size of the whole batch
    // With LoaderOptions::partners: the image and label paired with each image for Mixup and
    // CutMix, sample whole-1-(first+j) of the whole batch for image j.
    std::vector<float> partner_images;
    std::vector<int32_t> partner_labels;
};

struct LoaderOptions {
    int64_t batch_size = 64;
    bool shuffle = false;
    bool drop_last = false;  // drop a final partial batch
    uint64_t seed = 0;
    int workers = 1;         // 0: prepare batches on the calling thread
    int prefetch = 2;        // batches prepared ahead per worker
    // This process's part of each batch when `parts` processes share it: samples
    // [B part / parts, B (part + 1) / parts) of a batch of B (the rounding leaves the larger parts last).
    int part = 0, parts = 1;
    bool partners = false;   // also prepare each image's Mixup/CutMix partner
};

class DataLoader {
  public:
    DataLoader(DatasetPtr data, Pipeline pipeline, const LoaderOptions& options);
    ~DataLoader();
    DataLoader(const DataLoader&) = delete;
    DataLoader& operator=(const DataLoader&) = delete;

    int64_t batches_per_epoch() const;
    // Begins an epoch at batch `first_batch` (for resuming).
    void start_epoch(int64_t epoch, int64_t first_batch = 0);
    // The next batch of the epoch, or nullptr at its end. The batch stays valid until the next
    // call. Rethrows a worker's error (a corrupt image, say) as vit::Error.
    const Batch* next();
    const Dataset& dataset() const { return *data_; }

  private:
    void fill(int64_t batch_index, Batch& out) const;
    void worker_loop();
    void stop_workers();

    DatasetPtr data_;
    Pipeline pipeline_;
    LoaderOptions options_;
    int64_t epoch_ = 0;
    std::vector<int64_t> order_;

    // Ring of prepared batches: slot k % slots holds batch k once ready_[slot] is set.
    std::vector<Batch> slots_;
    std::vector<int64_t> slot_batch_;  // which batch a slot holds or is being filled with (-1: none)
    std::vector<bool> ready_;
    int64_t next_to_fill_ = 0, next_to_take_ = 0, end_ = 0;
    std::exception_ptr error_;
    bool stopping_ = false;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::thread> threads_;
    Batch current_;
};

}  // namespace vit
