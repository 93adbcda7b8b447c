// IDX files (MNIST, Fashion-MNIST): a big-endian header, magic 0x0000_08_NN (unsigned bytes,
// NN dimensions), NN 32-bit sizes, then the bytes. Images are idx3 [N, rows, cols], labels idx1 [N].
#include <algorithm>

#include "vit/data.h"
#include "vit/error.h"

namespace vit {

namespace {

constexpr int64_t kMaxIdxBytes = int64_t{4} << 30;

uint32_t be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

size_t header_size(int dims) { return 4 + 4 * static_cast<size_t>(dims); }

// The sizes an IDX header with `dims` dimensions states, after checking its magic and that the
// data it promises stays under the limit.
std::vector<int64_t> idx_sizes(const uint8_t* b, int dims, const std::string& path) {
    const uint32_t magic = be32(b);
    const uint32_t expected = 0x0800u | static_cast<uint32_t>(dims);
    if (magic != expected) {
        fail("'{}' has IDX magic 0x{:08x}, expected 0x{:08x} (unsigned bytes, {} dimensions)", path,
             magic, expected, dims);
    }
    std::vector<int64_t> sizes;
    int64_t total = 1;
    for (int d = 0; d < dims; d++) {
        int64_t n = be32(b + 4 + 4 * d);
        sizes.push_back(n);
        if (n > 0 && total > kMaxIdxBytes / n) {
            fail("'{}' claims more than the limit of {} bytes of data (shape [{}...])", path, kMaxIdxBytes, fmt::join(sizes, ", "));
        }
        total *= n;
    }
    return sizes;
}

int64_t data_bytes(const std::vector<int64_t>& sizes) {
    int64_t total = 1;
    for (int64_t n : sizes) total *= n;
    return total;
}

// An IDX file's bytes, inflated when gzipped, no more than its header promises.
std::vector<uint8_t> read_idx_file(const std::string& path, int dims) {
    const SizeFromHeader header{header_size(dims), [&](const uint8_t* b) {
                                    return static_cast<int64_t>(header_size(dims)) + data_bytes(idx_sizes(b, dims, path));
                                }};
    return read_file_bytes(path, kMaxIdxBytes + static_cast<int64_t>(header_size(dims)), header);
}

// Checks a whole IDX file with `dims` dimensions and returns the sizes.
std::vector<int64_t> idx_header(const std::vector<uint8_t>& b, int dims, const std::string& path) {
    const size_t header = header_size(dims);
    if (b.size() < header) {
        fail("'{}' is not an IDX file: {} bytes, shorter than the {}-byte header", path, b.size(), header);
    }
    const std::vector<int64_t> sizes = idx_sizes(b.data(), dims, path);
    const int64_t total = data_bytes(sizes);
    if (static_cast<int64_t>(b.size() - header) != total) {
        fail("'{}' has {} bytes of data after its header, expected {} for shape [{}]{}", path,
             b.size() - header, total, fmt::join(sizes, ", "),
             static_cast<int64_t>(b.size() - header) < total ? " (truncated)" : "");
    }
    return sizes;
}

class IdxDataset final : public Dataset {
  public:
    IdxDataset(std::vector<uint8_t> images, std::vector<uint8_t> labels, int64_t rows, int64_t cols,
               std::vector<std::string> names)
        : images_(std::move(images)), labels_(std::move(labels)), rows_(rows), cols_(cols),
          names_(std::move(names)) {}
    int64_t size() const override { return static_cast<int64_t>(labels_.size()) - 8; }
    int32_t label(int64_t i) const override { return labels_[static_cast<size_t>(8 + i)]; }
    Image load(int64_t i) const override {
        Image img{rows_, cols_, 1, std::vector<float>(static_cast<size_t>(rows_ * cols_))};
        const uint8_t* src = images_.data() + 16 + i * rows_ * cols_;
        for (size_t k = 0; k < img.hwc.size(); k++) {
            img.hwc[k] = static_cast<float>(src[k]) * (1.0f / 255.0f);
        }
        return img;
    }
    const std::vector<std::string>& class_names() const override { return names_; }

  private:
    std::vector<uint8_t> images_, labels_;  // whole files, headers included
    int64_t rows_, cols_;
    std::vector<std::string> names_;
};

}  // namespace

DatasetPtr read_idx(const std::string& images_path, const std::string& labels_path,
                    std::vector<std::string> class_names) {
    std::vector<uint8_t> images = read_idx_file(images_path, 3);
    std::vector<uint8_t> labels = read_idx_file(labels_path, 1);
    std::vector<int64_t> ishape = idx_header(images, 3, images_path);
    std::vector<int64_t> lshape = idx_header(labels, 1, labels_path);
    if (ishape[0] != lshape[0]) {
        fail("'{}' has {} images but '{}' has {} labels", images_path, ishape[0], labels_path, lshape[0]);
    }
    if (ishape[0] == 0 || ishape[1] == 0 || ishape[2] == 0) {
        fail("'{}' holds no pixels: shape [{}]", images_path, fmt::join(ishape, ", "));
    }
    const auto bad = std::find_if(labels.begin() + 8, labels.end(),
                                  [&](uint8_t l) { return l >= class_names.size(); });
    if (bad != labels.end()) {
        fail("'{}': label {} of sample {} is outside [0, {})", labels_path, *bad,
             bad - (labels.begin() + 8), class_names.size());
    }
    return std::make_shared<IdxDataset>(std::move(images), std::move(labels), ishape[1], ishape[2],
                                        std::move(class_names));
}

}  // namespace vit
