// Datasets: labelled images read from Fashion-MNIST/MNIST IDX files, CIFAR-10/100 binary batches
// and folders of JPEG/PNG images. Every file is validated before use; a bad file gives a
// vit::Error naming the file, what was expected and what was found.
//
// Example:
//   vit::DatasetPtr train = vit::open_dataset({.kind = "fashion-mnist",
//                                              .path = "/usr/share/datasets/fashion-mnist"},
//                                             vit::Split::Train);
//   vit::Image first = train->load(0);       // 28x28x1, values in [0, 1]
//   int32_t label = train->label(0);         // class index into train->class_names()
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace vit {

// Pillow's decompression-bomb limit (about 89 million pixels): the default for every image decoder.
inline constexpr int64_t kMaxImagePixels = 89'478'485;

// A decoded image: channel-last floats in [0, 1] (ToTensor's scaling, before normalisation).
struct Image {
    int64_t height = 0, width = 0, channels = 0;
    std::vector<float> hwc;
    float* at(int64_t y, int64_t x) { return hwc.data() + (y * width + x) * channels; }
    const float* at(int64_t y, int64_t x) const { return hwc.data() + (y * width + x) * channels; }
};

class Dataset {
  public:
    virtual ~Dataset() = default;
    virtual int64_t size() const = 0;
    virtual int32_t label(int64_t i) const = 0;
    // Decodes sample i; safe to call from several threads at once.
    virtual Image load(int64_t i) const = 0;
    virtual const std::vector<std::string>& class_names() const = 0;
    int64_t num_classes() const { return static_cast<int64_t>(class_names().size()); }
};
using DatasetPtr = std::shared_ptr<const Dataset>;

enum class Split { Train, Test };

struct DatasetSpec {
    // fashion-mnist | mnist: a folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
    // cifar10: a folder with data_batch_{1..5}.bin, test_batch.bin [, batches.meta.txt]
    // cifar100: a folder with train.bin, test.bin [, fine_label_names.txt]
    // folder: PATH/train/<class>/*.{jpg,png} and PATH/test/<class>/... (or PATH/<class>/...)
    // filenames: PATH/train/<label>.<anything>.{jpg,png} (e.g. cat.12.jpg) and PATH/test/...
    std::string kind;
    std::string path;
    int64_t max_image_pixels = kMaxImagePixels;  // images larger than this are refused before decoding
    int64_t decode_shorter_side = 0;  // > 0: huge JPEGs may decode smaller, down to this (decode_image)
};

// The names accepted in DatasetSpec::kind.
const std::vector<std::string>& dataset_kinds();

// Whether the dataset has this split (folders may lack a test subfolder).
bool dataset_has_split(const DatasetSpec& spec, Split split);

// Opens one split of a dataset. Throws vit::Error for an unknown kind, a missing or malformed file.
DatasetPtr open_dataset(const DatasetSpec& spec, Split split);

// Readers, for tests and for users with their own file names.
DatasetPtr read_idx(const std::string& images_path, const std::string& labels_path,
                    std::vector<std::string> class_names);
DatasetPtr read_cifar(const std::vector<std::string>& batch_files, int label_bytes,
                      std::vector<std::string> class_names);

// The samples `indices` of `base`, in that order.
DatasetPtr subset(DatasetPtr base, std::vector<int64_t> indices);

// A seeded, stratified subset of about n samples (`data` itself when n <= 0 or n >= its size).
DatasetPtr stratified_subset(DatasetPtr data, int64_t n, uint64_t seed);

// Seeded, stratified split: from every class, round(fraction * count) samples go to the second
// part. Throws vit::Error unless 0 <= fraction < 1.
struct SplitIndices {
    std::vector<int64_t> first, second;
};
SplitIndices stratified_split(const Dataset& data, double fraction, uint64_t seed);

// Sequential read of a whole file, refusing files over `max_bytes`. Throws vit::Error naming it.
std::vector<uint8_t> read_file(const std::string& path, int64_t max_bytes);
// For formats whose first `bytes` bytes say how long the whole file is: `total` reads them and
// returns the whole length (or throws vit::Error for a bad header).
struct SizeFromHeader {
    size_t bytes = 0;  // 0: no header to read
    std::function<int64_t(const uint8_t* header)> total;
};
// The same, but gzip data (by its magic bytes) is inflated, refusing more than `max_bytes` of
// output, and more than the header promises as soon as the header is out (a small .gz cannot
// make it inflate gigabytes first). Throws vit::Error naming the file.
std::vector<uint8_t> read_file_bytes(const std::string& path, int64_t max_bytes, const SizeFromHeader& header = {});

}  // namespace vit
