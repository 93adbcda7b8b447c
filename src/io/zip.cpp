// Zip reader: end-of-central-directory search, zip64 records, central directory, local headers,
// stored and deflated data (zlib), CRC-32 checks. Reference: PKWARE APPNOTE.TXT 6.3.
#include "io/zip.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "vit/error.h"

namespace vit {

namespace {

constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kEndOfDirectory = 0x06054b50;
constexpr uint32_t kZip64EndOfDirectory = 0x06064b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint64_t kMaxEntries = 1'000'000;

// Little-endian reads from a bounds-checked cursor.
class Reader {
  public:
    Reader(std::span<const uint8_t> bytes, uint64_t pos, const std::string& path, const char* what)
        : bytes_(bytes), pos_(pos), path_(path), what_(what) {}
    template <typename T>
    T get() {
        need(sizeof(T));
        T v = 0;
        for (size_t i = 0; i < sizeof(T); i++) {
            v |= static_cast<T>(static_cast<T>(bytes_[pos_ + i]) << (8 * i));
        }
        pos_ += sizeof(T);
        return v;
    }
    std::string_view text(uint64_t n) {
        need(n);
        std::string_view s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
        pos_ += n;
        return s;
    }
    void skip(uint64_t n) {
        need(n);
        pos_ += n;
    }
    uint64_t pos() const { return pos_; }
    void seek(uint64_t pos) { pos_ = pos; }

  private:
    void need(uint64_t n) const {
        if (pos_ > bytes_.size() || n > bytes_.size() - pos_) {
            fail("'{}' is not a valid zip archive: the {} at byte {} runs past the end of the file", path_,
                 what_, pos_);
        }
    }
    std::span<const uint8_t> bytes_;
    uint64_t pos_;
    const std::string& path_;
    const char* what_;
};

uint64_t find_end_of_directory(std::span<const uint8_t> b, const std::string& path) {
    if (b.size() >= 22) {
        const uint64_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
        for (uint64_t pos = b.size() - 22 + 1; pos-- > lowest;) {
            const uint32_t word = uint32_t{b[pos]} | uint32_t{b[pos + 1]} << 8 | uint32_t{b[pos + 2]} << 16 |
                                  uint32_t{b[pos + 3]} << 24;
            if (word == kEndOfDirectory) {
                return pos;
            }
        }
    }
    fail("'{}' is not a zip archive (no end-of-central-directory record; truncated?)", path);
}

void check_name(const std::string& name, const std::string& path) {
    const bool absolute = name.starts_with('/') || name.find(':') != std::string::npos || name.find('\\') != std::string::npos;
    bool dotdot = false;
    size_t start = 0;
    while (start <= name.size()) {
        size_t end = name.find('/', start);
        if (end == std::string::npos) end = name.size();
        dotdot |= name.compare(start, end - start, "..") == 0 && end - start == 2;
        start = end + 1;
    }
    if (name.empty() || absolute || dotdot || name.find('\0') != std::string::npos) {
        fail("'{}': zip entry name '{}' is not allowed (empty, absolute, or containing '..')", path, name);
    }
}

void check_crc(std::span<const uint8_t> bytes, const ZipEntry& e, const std::string& path) {
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < bytes.size();) {
        const uInt n = static_cast<uInt>(std::min<uint64_t>(bytes.size() - done, 1u << 30));
        crc = crc32(crc, bytes.data() + done, n);
        done += n;
    }
    if (crc != e.crc32) {
        fail("'{}': entry '{}' fails its CRC check (corrupt)", path, e.name);
    }
}

}  // namespace

ZipArchive ZipArchive::open(const std::string& path) { return open(MappedFile::open(path)); }

ZipArchive ZipArchive::open(MappedFile file) {
    ZipArchive zip;
    zip.file_ = std::move(file);
    const std::string& path = zip.file_.path();
    const std::span<const uint8_t> b = zip.file_.bytes();
    const uint64_t eocd = find_end_of_directory(b, path);
    Reader end(b, eocd + 4, path, "end-of-central-directory record");
    const uint16_t disk = end.get<uint16_t>();
    const uint16_t directory_disk = end.get<uint16_t>();
    end.skip(2);
    uint64_t count = end.get<uint16_t>();
    uint64_t directory_size = end.get<uint32_t>();
    uint64_t directory_offset = end.get<uint32_t>();
    if (disk != 0 || directory_disk != 0) {
        fail("'{}': multi-volume zip archives are not supported", path);
    }
    if (eocd >= 20 && Reader(b, eocd - 20, path, "zip64 locator").get<uint32_t>() == kZip64Locator) {
        Reader locator(b, eocd - 12, path, "zip64 locator");
        const uint64_t record = locator.get<uint64_t>();
        Reader r(b, record, path, "zip64 end-of-central-directory record");
        if (r.get<uint32_t>() != kZip64EndOfDirectory) {
            fail("'{}': the zip64 locator points to byte {}, which holds no zip64 directory record", path, record);
        }
        r.skip(8 + 2 + 2 + 4 + 4 + 8);
        count = r.get<uint64_t>();
        directory_size = r.get<uint64_t>();
        directory_offset = r.get<uint64_t>();
    }
    if (directory_offset > b.size() || directory_size > b.size() - directory_offset) {
        fail("'{}': the central directory ({} bytes at byte {}) lies outside the file of {} bytes (truncated?)",
             path, directory_size, directory_offset, b.size());
    }
    if (count > kMaxEntries || count > directory_size / 46) {
        fail("'{}': the central directory claims {} entries, more than its {} bytes can hold", path, count,
             directory_size);
    }
    Reader dir(b.first(directory_offset + directory_size), directory_offset, path, "central directory");
    for (uint64_t i = 0; i < count; i++) {
        if (dir.get<uint32_t>() != kCentralHeader) {
            fail("'{}': central directory entry {} has a bad signature", path, i);
        }
        dir.skip(4);
        const uint16_t flags = dir.get<uint16_t>();
        ZipEntry e;
        e.method = dir.get<uint16_t>();
        dir.skip(4);
        e.crc32 = dir.get<uint32_t>();
        e.compressed_size = dir.get<uint32_t>();
        e.size = dir.get<uint32_t>();
        const uint16_t name_len = dir.get<uint16_t>();
        const uint16_t extra_len = dir.get<uint16_t>();
        const uint16_t comment_len = dir.get<uint16_t>();
        dir.skip(8);
        uint64_t local = dir.get<uint32_t>();
        e.name = std::string(dir.text(name_len));
        const uint64_t directory_end = directory_offset + directory_size;
        if (extra_len > directory_end - dir.pos()) {
            fail("'{}': entry '{}' has an extra field that runs past the central directory", path, e.name);
        }
        Reader extra(b.first(dir.pos() + extra_len), dir.pos(), path, "zip64 extra field");
        while (extra.pos() + 4 <= dir.pos() + extra_len) {
            const uint16_t id = extra.get<uint16_t>();
            const uint16_t len = extra.get<uint16_t>();
            const uint64_t next = extra.pos() + len;
            if (id == 0x0001) {  // zip64: the 64-bit values of the fields saturated above
                if (e.size == 0xffffffffu) e.size = extra.get<uint64_t>();
                if (e.compressed_size == 0xffffffffu) e.compressed_size = extra.get<uint64_t>();
                if (local == 0xffffffffu) local = extra.get<uint64_t>();
            }
            if (next > dir.pos() + extra_len) {
                fail("'{}': entry '{}' has a malformed extra field", path, e.name);
            }
            extra.seek(next);
        }
        dir.skip(uint64_t{extra_len} + comment_len);
        check_name(e.name, path);
        if (flags & 1u) {
            fail("'{}': entry '{}' is encrypted", path, e.name);
        }
        if (e.method != 0 && e.method != 8) {
            fail("'{}': entry '{}' uses compression method {}; only stored (0) and deflated (8) are supported",
                 path, e.name, e.method);
        }
        if (e.method == 0 && e.compressed_size != e.size) {
            fail("'{}': stored entry '{}' has compressed size {} but size {}", path, e.name, e.compressed_size, e.size);
        }
        Reader header(b, local, path, "local header");
        if (header.get<uint32_t>() != kLocalHeader) {
            fail("'{}': entry '{}' points to byte {}, which holds no local header", path, e.name, local);
        }
        header.skip(22);
        const uint16_t local_name = header.get<uint16_t>();
        const uint16_t local_extra = header.get<uint16_t>();
        header.skip(uint64_t{local_name} + local_extra);
        e.data_offset = header.pos();
        if (e.compressed_size > b.size() - e.data_offset) {
            fail("'{}': entry '{}' claims {} bytes at byte {}, past the end of the file of {} bytes (truncated?)",
                 path, e.name, e.compressed_size, e.data_offset, b.size());
        }
        zip.entries_.push_back(std::move(e));
    }
    zip.crc_checked_.assign(zip.entries_.size(), false);
    return zip;
}

const ZipEntry* ZipArchive::find(std::string_view name) const {
    for (const ZipEntry& e : entries_) {
        if (e.name == name) {
            return &e;
        }
    }
    return nullptr;
}

std::span<const uint8_t> ZipArchive::stored_bytes(const ZipEntry& e, bool verify) const {
    if (e.method != 0) {
        fail("'{}': entry '{}' is compressed, not stored", path(), e.name);
    }
    std::span<const uint8_t> bytes = file_.bytes().subspan(e.data_offset, e.size);
    const size_t index = static_cast<size_t>(&e - entries_.data());
    VIT_CHECK(index < entries_.size(), "entry '{}' is not one of this archive's", e.name);
    if (verify && !crc_checked_[index]) {
        check_crc(bytes, e, path());
        crc_checked_[index] = true;
    }
    return bytes;
}

std::vector<uint8_t> ZipArchive::read(const ZipEntry& e) const {
    const std::span<const uint8_t> data = file_.bytes().subspan(e.data_offset, e.compressed_size);
    std::vector<uint8_t> out;
    if (e.method == 0) {
        out.assign(data.begin(), data.end());
    } else {
        // Deflate expands at most ~1032x; a larger claim is a bomb or a lie.
        if (e.size / 1032 > e.compressed_size + 1) {
            fail("'{}': entry '{}' claims {} bytes from {} compressed bytes, beyond what deflate can produce",
                 path(), e.name, e.size, e.compressed_size);
        }
        out.resize(e.size);
        z_stream z{};
        if (inflateInit2(&z, -MAX_WBITS) != Z_OK) {
            fail("'{}': cannot start inflating entry '{}'", path(), e.name);
        }
        uint64_t in_done = 0, out_done = 0;
        int rc = Z_OK;
        while (rc == Z_OK) {
            const uint64_t in_chunk = std::min<uint64_t>(e.compressed_size - in_done, std::numeric_limits<uInt>::max());
            const uint64_t out_chunk = std::min<uint64_t>(e.size - out_done, std::numeric_limits<uInt>::max());
            z.next_in = const_cast<Bytef*>(data.data() + in_done);
            z.avail_in = static_cast<uInt>(in_chunk);
            z.next_out = out.data() + out_done;
            z.avail_out = static_cast<uInt>(out_chunk);
            rc = inflate(&z, Z_NO_FLUSH);
            in_done += in_chunk - z.avail_in;
            out_done += out_chunk - z.avail_out;
            if (rc == Z_OK && z.avail_out == out_chunk && z.avail_in == in_chunk) {
                rc = Z_BUF_ERROR;  // no progress: input ended or output is full
            }
        }
        inflateEnd(&z);
        if (rc != Z_STREAM_END || out_done != e.size) {
            fail("'{}': entry '{}' does not inflate to its declared {} bytes (corrupt or truncated)", path(), e.name,
                 e.size);
        }
    }
    check_crc(out, e, path());
    return out;
}

}  // namespace vit
