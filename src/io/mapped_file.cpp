// Read-only file mappings (mmap) with page release (madvise).
#include "io/mapped_file.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/regular_file.h"
#include "vit/error.h"

namespace vit {

MappedFile MappedFile::open(const std::string& path) {
    MappedFile f;
    f.path_ = path;
    const auto [fd, size] = open_regular_file(path);
    f.size_ = static_cast<uint64_t>(size);
    if (f.size_ > 0) {
        void* m = mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            fail("cannot map '{}': {}", path, std::strerror(err));
        }
        f.data_ = static_cast<const uint8_t*>(m);
    }
    ::close(fd);
    return f;
}

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
    if (this != &other) {
        if (data_ != nullptr) {
            munmap(const_cast<uint8_t*>(data_), size_);
        }
        path_ = std::move(other.path_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

MappedFile::~MappedFile() {
    if (data_ != nullptr) {
        munmap(const_cast<uint8_t*>(data_), size_);
    }
}

void MappedFile::release(uint64_t offset, uint64_t length) const {
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    if (offset >= size_) {
        return;
    }
    length = std::min(length, size_ - offset);
    // The mapping is private and never written, so a dropped page that is needed again is simply
    // read back from the file: rounding outwards to whole pages is safe.
    const uint64_t begin = offset / page * page;
    const uint64_t end = std::min(size_, (offset + length + page - 1) / page * page);
    if (end > begin) {
        madvise(const_cast<uint8_t*>(data_) + begin, end - begin, MADV_DONTNEED);
    }
}

}  // namespace vit
