// The data loader's ring of prepared batches. Workers claim batch numbers in order and fill the
// ring slot `batch % slots`; a slot is refilled only after the consumer has taken its batch.
#include "vit/loader.h"

#include <algorithm>
#include <numeric>

#include "vit/error.h"

namespace vit {

DataLoader::DataLoader(DatasetPtr data, Pipeline pipeline, const LoaderOptions& options)
    : data_(std::move(data)), pipeline_(std::move(pipeline)), options_(options) {
    if (options.batch_size < 1) fail("batch size must be at least 1, got {}", options.batch_size);
    if (options.workers < 0 || options.workers > 64) fail("loader workers must be in [0, 64], got {}", options.workers);
    if (options.prefetch < 1) fail("loader prefetch must be at least 1, got {}", options.prefetch);
    if (data_->size() == 0) fail("the dataset is empty");
    if (options.parts < 1 || options.part < 0 || options.part >= options.parts) {
        fail("loader part {} of {} is not a part", options.part, options.parts);
    }
    const int slots = std::max(1, options.workers * options.prefetch);
    slots_.resize(static_cast<size_t>(slots));
    slot_batch_.assign(static_cast<size_t>(slots), -1);
    ready_.assign(static_cast<size_t>(slots), false);
    for (int i = 0; i < options.workers; i++) {
        threads_.emplace_back([this] { worker_loop(); });
    }
}

DataLoader::~DataLoader() { stop_workers(); }

void DataLoader::stop_workers() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    for (std::thread& t : threads_) {
        t.join();
    }
    threads_.clear();
}

int64_t DataLoader::batches_per_epoch() const {
    const int64_t n = data_->size(), B = options_.batch_size;
    return options_.drop_last ? n / B : (n + B - 1) / B;
}

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
    std::unique_lock<std::mutex> lock(mutex_);
    end_ = next_to_fill_;  // no new claims; wait for the batches being filled
    changed_.wait(lock, [&] {
        return std::all_of(slot_batch_.begin(), slot_batch_.end(), [](int64_t b) { return b != -2; });
    });
    epoch_ = epoch;
    order_.resize(static_cast<size_t>(data_->size()));
    std::iota(order_.begin(), order_.end(), int64_t{0});
    if (options_.shuffle) {
        Rng rng(mix64(options_.seed ^ mix64(0x0d3e5ull + static_cast<uint64_t>(epoch))));
        for (size_t i = order_.size(); i > 1; i--) {
            std::swap(order_[i - 1], order_[rng.next_u64() % i]);
        }
    }
    std::fill(ready_.begin(), ready_.end(), false);
    std::fill(slot_batch_.begin(), slot_batch_.end(), -1);
    error_ = nullptr;
    next_to_fill_ = next_to_take_ = std::clamp<int64_t>(first_batch, 0, batches_per_epoch());
    end_ = batches_per_epoch();
    lock.unlock();
    changed_.notify_all();
}

void DataLoader::fill(int64_t batch_index, Batch& out) const {
    const int64_t B = options_.batch_size, sample = pipeline_.sample_size();
    const int64_t first = batch_index * B;
    out.whole = std::min(B, data_->size() - first);
    out.first = out.whole * options_.part / options_.parts;
    out.size = out.whole * (options_.part + 1) / options_.parts - out.first;
    // Position p of the whole batch into image slot j of `images`.
    auto load = [&](int64_t p, int64_t j, std::vector<float>& images, std::vector<int32_t>& labels) {
        const int64_t index = order_[static_cast<size_t>(first + p)];
        Rng rng(sample_seed(options_.seed, epoch_, index));
        pipeline_.apply(data_->load(index), rng, images.data() + j * sample);
        labels[static_cast<size_t>(j)] = data_->label(index);
    };
    out.images.resize(static_cast<size_t>(out.size * sample));
    out.labels.resize(static_cast<size_t>(out.size));
    for (int64_t j = 0; j < out.size; j++) {
        load(out.first + j, j, out.images, out.labels);
    }
    if (!options_.partners) {
        return;
    }
    out.partner_images.resize(out.images.size());
    out.partner_labels.resize(out.labels.size());
    for (int64_t j = 0; j < out.size; j++) {
        const int64_t p = out.whole - 1 - (out.first + j);
        if (p >= out.first && p < out.first + out.size) {  // a sample of this part: copied, not prepared again
            std::copy_n(out.images.begin() + (p - out.first) * sample, sample, out.partner_images.begin() + j * sample);
            out.partner_labels[static_cast<size_t>(j)] = out.labels[static_cast<size_t>(p - out.first)];
        } else {
            load(p, j, out.partner_images, out.partner_labels);
        }
    }
}

void DataLoader::worker_loop() {
    const int64_t slots = static_cast<int64_t>(slots_.size());
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        changed_.wait(lock, [&] { return stopping_ || (next_to_fill_ < end_ && next_to_fill_ < next_to_take_ + slots); });
        if (stopping_) {
            return;
        }
        const int64_t k = next_to_fill_++;
        const size_t slot = static_cast<size_t>(k % slots);
        slot_batch_[slot] = -2;  // being filled
        lock.unlock();
        std::exception_ptr error;
        try {
            fill(k, slots_[slot]);
        } catch (...) {
            error = std::current_exception();
        }
        lock.lock();
        slot_batch_[slot] = k;
        ready_[slot] = true;
        if (error && !error_) {
            error_ = error;
        }
        changed_.notify_all();
    }
}

const Batch* DataLoader::next() {
    if (next_to_take_ >= batches_per_epoch()) {
        return nullptr;
    }
    if (threads_.empty()) {
        fill(next_to_take_++, current_);
        return &current_;
    }
    const size_t slot = static_cast<size_t>(next_to_take_ % static_cast<int64_t>(slots_.size()));
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return error_ || (ready_[slot] && slot_batch_[slot] == next_to_take_); });
    if (error_) {
        std::rethrow_exception(error_);
    }
    std::swap(current_, slots_[slot]);
    ready_[slot] = false;
    next_to_take_++;
    lock.unlock();
    changed_.notify_all();
    return &current_;
}

}  // namespace vit
