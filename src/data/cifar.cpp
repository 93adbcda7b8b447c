// CIFAR-10 and CIFAR-100 binary batches: fixed-size records of label byte(s) then a 32x32 image
// stored channel by channel (1024 red, 1024 green, 1024 blue bytes). CIFAR-100 records carry
// (coarse, fine) labels; the fine label is used.
#include "vit/data.h"
#include "vit/error.h"

namespace vit {

namespace {

constexpr int64_t kSide = 32;
constexpr int64_t kPixels = 3 * kSide * kSide;

class CifarDataset final : public Dataset {
  public:
    CifarDataset(std::vector<uint8_t> pixels, std::vector<int32_t> labels, std::vector<std::string> names)
        : pixels_(std::move(pixels)), labels_(std::move(labels)), names_(std::move(names)) {}
    int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
    int32_t label(int64_t i) const override { return labels_[static_cast<size_t>(i)]; }
    Image load(int64_t i) const override {
        Image img{kSide, kSide, 3, std::vector<float>(kPixels)};
        const uint8_t* src = pixels_.data() + i * kPixels;
        for (int64_t c = 0; c < 3; c++) {
            for (int64_t p = 0; p < kSide * kSide; p++) {
                img.hwc[static_cast<size_t>(p * 3 + c)] = static_cast<float>(src[c * kSide * kSide + p]) * (1.0f / 255.0f);
            }
        }
        return img;
    }
    const std::vector<std::string>& class_names() const override { return names_; }

  private:
    std::vector<uint8_t> pixels_;  // [N, 3, 32, 32]
    std::vector<int32_t> labels_;
    std::vector<std::string> names_;
};

}  // namespace

DatasetPtr read_cifar(const std::vector<std::string>& batch_files, int label_bytes,
                      std::vector<std::string> class_names) {
    if (label_bytes != 1 && label_bytes != 2) {
        fail("CIFAR records have 1 (CIFAR-10) or 2 (CIFAR-100) label bytes, got {}", label_bytes);
    }
    const int64_t record = label_bytes + kPixels;
    std::vector<uint8_t> pixels;
    std::vector<int32_t> labels;
    for (const std::string& path : batch_files) {
        std::vector<uint8_t> bytes = read_file_bytes(path, int64_t{1} << 31);
        const int64_t n = static_cast<int64_t>(bytes.size());
        if (n == 0 || n % record != 0) {
            fail("'{}' has {} bytes, expected a positive multiple of the {}-byte CIFAR-{} record{}", path,
                 n, record, label_bytes == 1 ? 10 : 100, n % record != 0 ? " (truncated or not a CIFAR batch)" : "");
        }
        for (int64_t r = 0; r < n / record; r++) {
            const uint8_t* rec = bytes.data() + r * record;
            const int32_t label = rec[label_bytes - 1];
            if (label >= static_cast<int32_t>(class_names.size())) {
                fail("'{}': label {} of record {} is outside [0, {})", path, label, r, class_names.size());
            }
            labels.push_back(label);
            pixels.insert(pixels.end(), rec + label_bytes, rec + record);
        }
    }
    return std::make_shared<CifarDataset>(std::move(pixels), std::move(labels), std::move(class_names));
}

}  // namespace vit
