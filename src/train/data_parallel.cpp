// Data-parallel training's collective steps.
#include "train/data_parallel.h"

#include <algorithm>
#include <cmath>
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

void sum_gradients(Communicator& ranks, ViT& model, int64_t bucket_floats) {
    if (ranks.size() == 1) {
        return;
    }
    float* g = model.grad_data();
    const int64_t n = model.param_buffer_size();
    for (int64_t at = 0; at < n; at += bucket_floats) {
        ranks.sum(g + at, std::min(bucket_floats, n - at));
    }
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
