// A read-only memory mapping of a whole file, for readers that parse hostile formats in place
// (safetensors, zip archives) without copying them into memory first.
//
// Example:
//   vit::MappedFile f = vit::MappedFile::open("model.pth");
//   std::span<const uint8_t> bytes = f.bytes();
//   ...                                    // parse, copy tensors out
//   f.release(offset, length);             // drop pages already copied from resident memory
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace vit {

class MappedFile {
  public:
    // Throws vit::Error naming the file when it cannot be opened or mapped.
    static MappedFile open(const std::string& path);
    MappedFile() = default;
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    const std::string& path() const { return path_; }
    std::span<const uint8_t> bytes() const { return {data_, size_}; }
    uint64_t size() const { return size_; }

    // Tells the kernel the pages of [offset, offset + length) are not needed any more; they
    // leave resident memory and are read again from the file if touched.
    void release(uint64_t offset, uint64_t length) const;

  private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
};

}  // namespace vit
