// Opening a dataset by kind and path, subsets, and the stratified train/validation split.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/utf8.h"
#include "vit/data.h"
#include "vit/error.h"
#include "vit/image_io.h"
#include "vit/rng.h"

namespace vit {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kFashionNames = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

// The first of `candidates` that exists in `dir`.
std::string find_file(const std::string& dir, const std::vector<std::string>& candidates) {
    for (const std::string& name : candidates) {
        if (fs::exists(fs::path(dir) / name)) {
            return (fs::path(dir) / name).string();
        }
    }
    fail("'{}' has none of: {}", dir, fmt::join(candidates, ", "));
}

std::vector<std::string> read_names(const std::string& path, int64_t expected) {
    std::vector<uint8_t> bytes = read_file_bytes(path, 1 << 20);
    std::vector<std::string> names;
    std::string line;
    for (uint8_t b : bytes) {
        if (b == '\n') {
            if (!line.empty()) names.push_back(line);
            line.clear();
        } else if (b != '\r') {
            line += static_cast<char>(b);
        }
    }
    if (!line.empty()) names.push_back(line);
    if (static_cast<int64_t>(names.size()) != expected) {
        fail("'{}' lists {} class names, expected {}", path, names.size(), expected);
    }
    return names;
}

std::vector<std::string> numbered_names(int64_t n) {
    std::vector<std::string> names;
    for (int64_t i = 0; i < n; i++) names.push_back(std::to_string(i));
    return names;
}

DatasetPtr open_idx(const DatasetSpec& spec, Split split, std::vector<std::string> names) {
    const std::string prefix = split == Split::Train ? "train" : "t10k";
    std::string images = find_file(spec.path, {prefix + "-images-idx3-ubyte.gz", prefix + "-images-idx3-ubyte",
                                               prefix + "-images.idx3-ubyte"});
    std::string labels = find_file(spec.path, {prefix + "-labels-idx1-ubyte.gz", prefix + "-labels-idx1-ubyte",
                                               prefix + "-labels.idx1-ubyte"});
    return read_idx(images, labels, std::move(names));
}

DatasetPtr open_cifar(const DatasetSpec& spec, Split split, bool hundred) {
    std::vector<std::string> files;
    if (hundred) {
        files.push_back(find_file(spec.path, {split == Split::Train ? "train.bin" : "test.bin"}));
    } else if (split == Split::Train) {
        for (int i = 1; i <= 5; i++) files.push_back(find_file(spec.path, {fmt::format("data_batch_{}.bin", i)}));
    } else {
        files.push_back(find_file(spec.path, {"test_batch.bin"}));
    }
    const int64_t classes = hundred ? 100 : 10;
    const fs::path meta = fs::path(spec.path) / (hundred ? "fine_label_names.txt" : "batches.meta.txt");
    std::vector<std::string> names = fs::exists(meta) ? read_names(meta.string(), classes) : numbered_names(classes);
    return read_cifar(files, hundred ? 2 : 1, std::move(names));
}

// Images listed as (path, label), decoded on demand.
class ImageFilesDataset final : public Dataset {
  public:
    ImageFilesDataset(std::vector<std::string> files, std::vector<int32_t> labels, std::vector<std::string> names,
                      const DatasetSpec& spec)
        : files_(std::move(files)), labels_(std::move(labels)), names_(std::move(names)),
          max_pixels_(spec.max_image_pixels), shorter_side_(spec.decode_shorter_side) {}
    int64_t size() const override { return static_cast<int64_t>(files_.size()); }
    int32_t label(int64_t i) const override { return labels_[static_cast<size_t>(i)]; }
    Image load(int64_t i) const override {
        return decode_image_file(files_[static_cast<size_t>(i)], max_pixels_, shorter_side_);
    }
    const std::vector<std::string>& class_names() const override { return names_; }

  private:
    std::vector<std::string> files_;
    std::vector<int32_t> labels_;
    std::vector<std::string> names_;
    int64_t max_pixels_, shorter_side_;
};

bool is_image_name(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// The class folders (directories) or image files in dir, sorted. Names must be UTF-8: class
// names and image paths are written as JSON (checkpoints, predictions), so a name that is not
// is refused here, before training, rather than at the first checkpoint.
std::vector<fs::path> sorted_entries(const fs::path& dir, bool directories) {
    std::vector<fs::path> out;
    for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
        if (directories ? e.is_directory() : (e.is_regular_file() && is_image_name(e.path()))) {
            if (!is_utf8(e.path().filename().string())) {
                fail("'{}': the name is not valid UTF-8 (class names and image paths are stored as JSON text); "
                     "rename it", utf8_escaped(e.path().string()));
            }
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

// PATH/train and PATH/test when they exist, else PATH itself for the training split.
fs::path split_root(const DatasetSpec& spec, Split split) {
    const fs::path root(spec.path);
    if (!fs::is_directory(root)) {
        fail("dataset folder '{}' does not exist", spec.path);
    }
    const fs::path sub = root / (split == Split::Train ? "train" : "test");
    if (fs::is_directory(sub)) {
        return sub;
    }
    if (split == Split::Test) {
        fail("dataset folder '{}' has no 'test' subfolder; hold out part of the training data with a "
             "validation fraction instead", spec.path);
    }
    return root;
}

DatasetPtr open_class_folders(const DatasetSpec& spec, Split split) {
    std::vector<std::string> names;
    for (const fs::path& d : sorted_entries(split_root(spec, Split::Train), true)) {
        names.push_back(d.filename().string());
    }
    if (names.empty()) {
        fail("'{}' has no class subfolders (expected one folder of images per class)", split_root(spec, Split::Train).string());
    }
    std::vector<std::string> files;
    std::vector<int32_t> labels;
    const fs::path root = split_root(spec, split);
    for (const fs::path& d : sorted_entries(root, true)) {
        auto it = std::find(names.begin(), names.end(), d.filename().string());
        if (it == names.end()) {
            fail("'{}' is a class folder that the training split does not have (classes: {})", d.string(), fmt::join(names, ", "));
        }
        const std::vector<fs::path> images = sorted_entries(d, false);
        if (images.empty()) {
            fail("class folder '{}' has no .jpg, .jpeg or .png files (every class folder needs images)", d.string());
        }
        for (const fs::path& f : images) {
            files.push_back(f.string());
            labels.push_back(static_cast<int32_t>(it - names.begin()));
        }
    }
    if (files.empty()) {
        fail("'{}' has no .jpg, .jpeg or .png files in its class folders", root.string());
    }
    return std::make_shared<ImageFilesDataset>(std::move(files), std::move(labels), std::move(names), spec);
}

// Labels from file names: everything before the first '.' (cat.12.jpg -> "cat").
DatasetPtr open_labelled_files(const DatasetSpec& spec, Split split) {
    auto label_of = [](const fs::path& p) {
        std::string name = p.filename().string();
        size_t dot = name.find('.');
        return dot == std::string::npos || dot == 0 ? std::string() : name.substr(0, dot);
    };
    std::vector<std::string> names;
    for (const fs::path& f : sorted_entries(split_root(spec, Split::Train), false)) {
        std::string l = label_of(f);
        if (l.empty() || l == f.filename().string()) {
            fail("'{}' does not carry a label: expected LABEL.NAME.jpg or LABEL.NAME.png", f.string());
        }
        names.push_back(l);
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::vector<std::string> files;
    std::vector<int32_t> labels;
    for (const fs::path& f : sorted_entries(split_root(spec, split), false)) {
        auto it = std::find(names.begin(), names.end(), label_of(f));
        if (it == names.end()) {
            fail("'{}' has label '{}', which the training split does not have (labels: {})", f.string(), label_of(f),
                 fmt::join(names, ", "));
        }
        files.push_back(f.string());
        labels.push_back(static_cast<int32_t>(it - names.begin()));
    }
    if (files.empty()) {
        fail("'{}' has no .jpg, .jpeg or .png files", split_root(spec, split).string());
    }
    return std::make_shared<ImageFilesDataset>(std::move(files), std::move(labels), std::move(names), spec);
}

class SubsetDataset final : public Dataset {
  public:
    SubsetDataset(DatasetPtr base, std::vector<int64_t> indices) : base_(std::move(base)), indices_(std::move(indices)) {}
    int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
    int32_t label(int64_t i) const override { return base_->label(indices_[static_cast<size_t>(i)]); }
    Image load(int64_t i) const override { return base_->load(indices_[static_cast<size_t>(i)]); }
    const std::vector<std::string>& class_names() const override { return base_->class_names(); }

  private:
    DatasetPtr base_;
    std::vector<int64_t> indices_;
};

}  // namespace

const std::vector<std::string>& dataset_kinds() {
    static const std::vector<std::string> kinds = {"fashion-mnist", "mnist", "cifar10", "cifar100", "folder", "filenames"};
    return kinds;
}

bool dataset_has_split(const DatasetSpec& spec, Split split) {
    if (split == Split::Train || (spec.kind != "folder" && spec.kind != "filenames")) {
        return true;
    }
    return fs::is_directory(fs::path(spec.path) / "test");
}

DatasetPtr open_dataset(const DatasetSpec& spec, Split split) {
    if (spec.path.empty()) {
        fail("dataset '{}' needs a path", spec.kind);
    }
    if (!fs::exists(spec.path)) {
        fail("dataset path '{}' does not exist", spec.path);
    }
    if (spec.kind == "fashion-mnist") return open_idx(spec, split, kFashionNames);
    if (spec.kind == "mnist") return open_idx(spec, split, numbered_names(10));
    if (spec.kind == "cifar10") return open_cifar(spec, split, false);
    if (spec.kind == "cifar100") return open_cifar(spec, split, true);
    if (spec.kind == "folder") return open_class_folders(spec, split);
    if (spec.kind == "filenames") return open_labelled_files(spec, split);
    fail("unknown dataset kind '{}' (expected one of: {})", spec.kind, fmt::join(dataset_kinds(), ", "));
}

DatasetPtr subset(DatasetPtr base, std::vector<int64_t> indices) {
    for (int64_t i : indices) {
        if (i < 0 || i >= base->size()) {
            fail("subset index {} is outside the dataset of {} samples", i, base->size());
        }
    }
    return std::make_shared<SubsetDataset>(std::move(base), std::move(indices));
}

namespace {
// The sample indices of each class, each list shuffled by one generator of the seed.
std::vector<std::vector<int64_t>> shuffled_classes(const Dataset& data, uint64_t seed) {
    std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(data.num_classes()));
    for (int64_t i = 0; i < data.size(); i++) {
        by_class[static_cast<size_t>(data.label(i))].push_back(i);
    }
    Rng rng(mix64(seed ^ 0x5b117ull));
    for (std::vector<int64_t>& members : by_class) {
        for (size_t i = members.size(); i > 1; i--) {  // Fisher-Yates
            std::swap(members[i - 1], members[rng.next_u64() % i]);
        }
    }
    return by_class;
}
}  // namespace

DatasetPtr stratified_subset(DatasetPtr data, int64_t n, uint64_t seed) {
    if (n <= 0 || n >= data->size()) {
        return data;
    }
    // Each class's share of n, rounded down, then the n left over to the classes with the
    // largest remainders (the first of equal ones): exactly n samples.
    std::vector<std::vector<int64_t>> by_class = shuffled_classes(*data, seed);
    std::vector<int64_t> quota(by_class.size());
    std::vector<std::pair<int64_t, size_t>> remainders;  // (remainder x size, class)
    int64_t given = 0;
    for (size_t c = 0; c < by_class.size(); c++) {
        const int64_t share = n * static_cast<int64_t>(by_class[c].size());
        quota[c] = share / data->size();
        given += quota[c];
        remainders.push_back({share % data->size(), c});
    }
    std::stable_sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t k = 0; given < n; k++, given++) quota[remainders[k].second]++;
    std::vector<int64_t> chosen;
    for (size_t c = 0; c < by_class.size(); c++) {
        chosen.insert(chosen.end(), by_class[c].begin(), by_class[c].begin() + static_cast<std::ptrdiff_t>(quota[c]));
    }
    std::sort(chosen.begin(), chosen.end());
    return subset(data, std::move(chosen));
}

SplitIndices stratified_split(const Dataset& data, double fraction, uint64_t seed) {
    if (!(fraction >= 0.0 && fraction < 1.0)) {
        fail("validation fraction must be in [0, 1), got {}", fraction);
    }
    SplitIndices out;
    for (std::vector<int64_t>& members : shuffled_classes(data, seed)) {
        const size_t held = static_cast<size_t>(std::llround(fraction * static_cast<double>(members.size())));
        out.second.insert(out.second.end(), members.begin(), members.begin() + static_cast<std::ptrdiff_t>(held));
        out.first.insert(out.first.end(), members.begin() + static_cast<std::ptrdiff_t>(held), members.end());
    }
    std::sort(out.first.begin(), out.first.end());
    std::sort(out.second.begin(), out.second.end());
    return out;
}

}  // namespace vit
