// safetensors: read and write, treating every file as hostile.
//
// Layout: an 8-byte little-endian header length n, n bytes of JSON mapping tensor names to
// {dtype, shape, data_offsets: [begin, end]} (plus an optional "__metadata__" map of strings),
// then the data section. open() validates all of it before anything is read: header length
// within the file, valid JSON, known dtypes, offsets inside the data section, tensors neither
// overlapping nor leaving holes, byte size = element count x dtype size (with overflow checks).
//
// Example:
//   auto file = vit::SafetensorsFile::open("model.safetensors");
//   for (const auto& t : file.tensors()) fmt::print("{} {}\n", t.name, vit::shape_string(t.shape));
//   std::vector<float> w = file.read_f32("head.weight");
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vit {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };
std::string_view dtype_name(DType dtype);
int64_t dtype_size(DType dtype);
// Converts `count` little-endian elements of `dtype` at src to fp32 (integers by value).
void convert_to_f32(DType dtype, const uint8_t* src, int64_t count, float* dst);

struct TensorEntry {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    uint64_t begin = 0;  // offsets into the data section
    uint64_t end = 0;
    int64_t numel() const;
};

class SafetensorsFile {
  public:
    // Maps and validates the file; throws vit::Error naming the file and the first problem.
    static SafetensorsFile open(const std::string& path);
    SafetensorsFile(SafetensorsFile&&) noexcept;
    SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
    ~SafetensorsFile();

    const std::string& path() const;
    const std::vector<TensorEntry>& tensors() const;  // in file order of data
    const std::map<std::string, std::string>& metadata() const;
    const TensorEntry* find(std::string_view name) const;  // nullptr when absent
    const TensorEntry& get(std::string_view name) const;   // throws when absent

    // Converts a floating-point or integer tensor to fp32 into dst[numel], then drops the file's
    // pages of that tensor from resident memory.
    void read_f32_into(const TensorEntry& entry, float* dst) const;
    std::vector<float> read_f32(std::string_view name) const;

  private:
    struct Impl;
    explicit SafetensorsFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

struct TensorToWrite {
    std::string name;
    std::vector<int64_t> shape;
    const float* data = nullptr;  // written as F32
};

// Writes atomically: a temporary file beside `path`, flushed and synced, then renamed over it.
// A failure leaves any existing file at `path` untouched. Throws vit::Error.
void safetensors_write(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace vit
