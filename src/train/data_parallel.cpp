// Data-parallel training's collective steps.
#include "train/data_parallel.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <vector>

#include "kernels/kernels.h"
#include "vit/error.h"
#include "vit/loader.h"

namespace vit {

namespace {

// FNV-1a over bytes.
uint64_t fnv1a(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

uint64_t program_hash() {
    std::ifstream exe("/proc/self/exe", std::ios::binary);
    std::vector<char> chunk(1 << 20);
    uint64_t h = fnv1a(nullptr, 0);
    while (exe.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || exe.gcount() > 0) {
        h = fnv1a(chunk.data(), static_cast<size_t>(exe.gcount()), h);
    }
    return h;
}

// The ranks whose value differs from rank 0's, as "1, 3".
std::string differing(const std::vector<uint64_t>& values) {
    std::string out;
    for (size_t r = 1; r < values.size(); r++) {
        if (values[r] != values[0]) out += (out.empty() ? "" : ", ") + std::to_string(r);
    }
    return out;
}

}  // namespace

void check_ranks_agree(Communicator& ranks, const std::string& recipe_json, const Dataset& train, const ViT& model) {
    uint64_t data = fnv1a(recipe_json.data(), recipe_json.size());
    const int64_t n = train.size();
    data = fnv1a(&n, sizeof n, data);
    for (const std::string& name : train.class_names()) data = fnv1a(name.data(), name.size() + 1, data);
    const struct {
        const char* what;
        uint64_t value;
    } checks[] = {
        {"the vit program (another build?)", program_hash()},
        {"the recipe or the training data (compare --print-recipe and the data paths)", data},
        {"the starting weights", fnv1a(model.param_data(), static_cast<size_t>(model.param_buffer_size()) * sizeof(float))},
    };
    for (const auto& c : checks) {
        const std::string ranks_apart = differing(ranks.gather(c.value));
        if (!ranks_apart.empty()) {
            fail("rank {} differs from rank 0 in {}: every rank must run the same program on the same recipe, data "
                 "and starting weights", ranks_apart, c.what);
        }
    }
}

GradientSum::GradientSum(Communicator& ranks, ViT& model, int64_t bucket_floats)
    : ranks_(ranks),
      grads_(model.grad_data()),
      size_(model.param_buffer_size()),
      bucket_floats_(bucket_floats),
      block_params_(static_cast<size_t>(model.config().depth)),
      touching_(static_cast<size_t>((size_ + bucket_floats - 1) / bucket_floats), 0),
      done_(model.params().size(), false) {
    for (size_t i = 0; i < model.params().size(); i++) {
        const ParamInfo& p = model.params()[i];
        // bucket k holds values [size - (k + 1) b, size - k b)
        const int64_t first = (size_ - (p.offset + p.numel)) / bucket_floats, last = (size_ - 1 - p.offset) / bucket_floats;
        param_buckets_.emplace_back(first, last);
        for (int64_t k = first; k <= last; k++) touching_[static_cast<size_t>(k)]++;
        int block = -1;
        if (std::sscanf(p.name.c_str(), "blocks.%d.", &block) == 1 && block >= 0 &&
            block < static_cast<int>(block_params_.size())) {
            block_params_[static_cast<size_t>(block)].push_back(i);
        }
    }
}

void GradientSum::start() {
    pending_ = touching_;
    std::fill(done_.begin(), done_.end(), false);
    next_bucket_ = 0;
}

void GradientSum::mark_done(size_t param) {
    if (done_[param]) return;
    done_[param] = true;
    for (int64_t k = param_buckets_[param].first; k <= param_buckets_[param].second; k++) pending_[static_cast<size_t>(k)]--;
}

void GradientSum::start_ready_buckets() {
    const int64_t buckets = static_cast<int64_t>(pending_.size());
    while (next_bucket_ < buckets && pending_[static_cast<size_t>(next_bucket_)] == 0) {
        const int64_t end = size_ - next_bucket_ * bucket_floats_, begin = std::max<int64_t>(0, end - bucket_floats_);
        ranks_.start_sum(grads_ + begin, end - begin);
        next_bucket_++;
    }
}

void GradientSum::block_done(int64_t block) {
    for (const size_t i : block_params_[static_cast<size_t>(block)]) mark_done(i);
    start_ready_buckets();
}

void GradientSum::finish() {
    for (size_t i = 0; i < done_.size(); i++) mark_done(i);
    start_ready_buckets();
    ranks_.wait_sums();
}

std::vector<int64_t> parts_of(int64_t n, int ranks) {
    std::vector<int64_t> parts;
    for (int r = 0; r < ranks; r++) parts.push_back(n * (r + 1) / ranks - n * r / ranks);
    return parts;
}

ParamRange part_of(const std::vector<int64_t>& parts, int rank) {
    ParamRange owned;
    for (int r = 0; r < rank; r++) owned.begin += parts[static_cast<size_t>(r)];
    owned.end = owned.begin + parts[static_cast<size_t>(rank)];
    return owned;
}

void clip_gradient_part(Communicator& ranks, ViT& model, ParamRange owned, double max_norm) {
    float* part = model.grad_data() + owned.begin;
    double squares = cpu::sum_of_squares(part, owned.size());
    ranks.sum(&squares, 1);
    const double coef = max_norm / (std::sqrt(squares) + 1e-6);  // as clip_grad_norm
    if (coef < 1.0) cpu::scale(part, owned.size(), static_cast<float>(coef));
}

void share_parameters(Communicator& ranks, ViT& model, const std::vector<int64_t>& parts) {
    ranks.share_parts(model.param_data(), parts);
    model.update_bf16_weights();
}

void collect_optimizer(Communicator& ranks, Optimizer& part, Optimizer* whole, const std::vector<int64_t>& parts) {
    const auto mine = part.state();
    for (size_t k = 0; k < mine.size(); k++) {
        ranks.collect_parts(mine[k].second->data(), whole != nullptr ? whole->state()[k].second->data() : nullptr, parts);
    }
    if (whole != nullptr) {
        whole->set_steps(part.steps());
        whole->set_param_steps(part.param_steps());
    }
}

void take_part(Optimizer& whole, Optimizer& part) {
    const auto all = whole.state(), mine = part.state();
    for (size_t k = 0; k < mine.size(); k++) {
        std::copy_n(all[k].second->data() + part.owned().begin, part.owned().size(), mine[k].second->data());
    }
    part.set_steps(whole.steps());
    part.set_param_steps(whole.param_steps());
}

EvalResult evaluate_on_ranks(Communicator& ranks, ViT& model, const DatasetPtr& data, const Pipeline& pipeline,
                             int64_t batch_size, int workers, bool flip) {
    if (ranks.size() == 1) {
        DataLoader loader(data, pipeline, {.batch_size = batch_size, .workers = workers});
        return evaluate(model, loader, flip);
    }
    const int64_t K = model.config().num_classes;
    std::vector<int64_t> mine;
    for (int64_t first = ranks.rank() * batch_size; first < data->size(); first += ranks.size() * batch_size) {
        for (int64_t i = first; i < std::min(first + batch_size, data->size()); i++) mine.push_back(i);
    }
    EvalSums s{.samples = 0, .top1_hits = 0, .topk_hits = 0, .loss = 0.0,
               .class_counts = std::vector<int64_t>(static_cast<size_t>(K)),
               .confusion = std::vector<int64_t>(static_cast<size_t>(K * K))};
    if (!mine.empty()) {
        DataLoader loader(subset(data, std::move(mine)), pipeline, {.batch_size = batch_size, .workers = workers});
        s = evaluate_sums(model, loader, flip);
    }
    // Counts travel as doubles: exact below 2^53.
    std::vector<double> packed = {static_cast<double>(s.samples), static_cast<double>(s.top1_hits),
                                  static_cast<double>(s.topk_hits), s.loss};
    for (const int64_t c : s.class_counts) packed.push_back(static_cast<double>(c));
    for (const int64_t c : s.confusion) packed.push_back(static_cast<double>(c));
    ranks.sum(packed.data(), static_cast<int64_t>(packed.size()));
    auto count = [&](size_t i) { return static_cast<int64_t>(packed[i]); };
    s.samples = count(0);
    s.top1_hits = count(1);
    s.topk_hits = count(2);
    s.loss = packed[3];
    for (size_t c = 0; c < s.class_counts.size(); c++) s.class_counts[c] = count(4 + c);
    for (size_t c = 0; c < s.confusion.size(); c++) s.confusion[c] = count(4 + s.class_counts.size() + c);
    return eval_result(s, data->class_names());
}

}  // namespace vit
