// Zip archives (the container of PyTorch .pth files and NumPy .npz files), read in place and
// treated as hostile: the central directory must lie inside the file, every entry's data must
// lie inside the file, names may not be absolute or contain "..", only stored and deflated
// entries are accepted, inflated sizes are capped at the declared size, and CRCs are checked.
// Zip64 sizes and offsets are understood.
//
// Example:
//   vit::ZipArchive zip = vit::ZipArchive::open("weights.npz");
//   for (const auto& e : zip.entries()) fmt::print("{} {} bytes\n", e.name, e.size);
//   std::vector<uint8_t> bytes = zip.read(*zip.find("head.npy"));
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/mapped_file.h"

namespace vit {

struct ZipEntry {
    std::string name;
    uint16_t method = 0;          // 0 stored, 8 deflated
    uint32_t crc32 = 0;
    uint64_t compressed_size = 0;
    uint64_t size = 0;            // uncompressed
    uint64_t data_offset = 0;     // of the (compressed) data in the file
};

class ZipArchive {
  public:
    // Maps the file and validates the directory. Throws vit::Error naming the file.
    static ZipArchive open(const std::string& path);
    static ZipArchive open(MappedFile file);

    const std::string& path() const { return file_.path(); }
    const std::vector<ZipEntry>& entries() const { return entries_; }
    const ZipEntry* find(std::string_view name) const;  // nullptr when absent

    // The bytes of a stored entry, in place (no copy), CRC checked the first time unless `verify`
    // is false (tensors that share one storage do not hash it again); throws for a deflated entry.
    std::span<const uint8_t> stored_bytes(const ZipEntry& entry, bool verify = true) const;
    // The uncompressed bytes of any entry, CRC checked.
    std::vector<uint8_t> read(const ZipEntry& entry) const;
    // Drops the pages of an entry's data from resident memory once they have been copied.
    void release(const ZipEntry& entry) const { file_.release(entry.data_offset, entry.compressed_size); }

  private:
    MappedFile file_;
    std::vector<ZipEntry> entries_;
    mutable std::vector<bool> crc_checked_;  // parallel to entries_
};

}  // namespace vit
