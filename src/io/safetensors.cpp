// safetensors reader (memory-mapped, validated up front) and atomic writer.
#include "vit/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/json_input.h"
#include "core/json_text.h"
#include "io/mapped_file.h"
#include "vit/error.h"
#include "vit/params.h"

namespace vit {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // as the reference implementation

struct DTypeInfo {
    DType dtype;
    const char* name;
    int64_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

std::string dtype_list() {
    std::string s;
    for (const DTypeInfo& d : kDTypes) {
        s += (s.empty() ? "" : ", ") + std::string(d.name);
    }
    return s;
}

float half_to_float(uint16_t h) {
    uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0) {  // zero or subnormal
        float f = static_cast<float>(mant) * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    uint32_t bits = exp == 31 ? (sign | 0x7f800000 | (mant << 13))
                              : (sign | ((exp + 112) << 23) | (mant << 13));
    return std::bit_cast<float>(bits);
}

template <typename T>
T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

}  // namespace

void convert_to_f32(DType dtype, const uint8_t* src, int64_t count, float* dst) {
    if (dtype == DType::F32) {
        std::memcpy(dst, src, static_cast<size_t>(count) * sizeof(float));
        return;
    }
    const int64_t size = dtype_size(dtype);
    for (int64_t i = 0; i < count; i++) {
        const uint8_t* e = src + i * size;
        switch (dtype) {
            case DType::F64: dst[i] = static_cast<float>(load<double>(e)); break;
            case DType::F32: dst[i] = load<float>(e); break;
            case DType::F16: dst[i] = half_to_float(load<uint16_t>(e)); break;
            case DType::BF16: dst[i] = std::bit_cast<float>(static_cast<uint32_t>(load<uint16_t>(e)) << 16); break;
            case DType::I64: dst[i] = static_cast<float>(load<int64_t>(e)); break;
            case DType::I32: dst[i] = static_cast<float>(load<int32_t>(e)); break;
            case DType::I16: dst[i] = static_cast<float>(load<int16_t>(e)); break;
            case DType::I8: dst[i] = static_cast<float>(load<int8_t>(e)); break;
            case DType::U8:
            case DType::BOOL: dst[i] = static_cast<float>(*e); break;
        }
    }
}

std::string_view dtype_name(DType dtype) {
    for (const DTypeInfo& d : kDTypes) {
        if (d.dtype == dtype) {
            return d.name;
        }
    }
    return "?";
}

int64_t dtype_size(DType dtype) {
    for (const DTypeInfo& d : kDTypes) {
        if (d.dtype == dtype) {
            return d.size;
        }
    }
    return 0;
}

int64_t TensorEntry::numel() const { return shape_numel(shape); }

struct SafetensorsFile::Impl {
    std::string path;
    MappedFile file;
    const uint8_t* map = nullptr;
    const uint8_t* data = nullptr;  // start of the data section
    uint64_t data_size = 0;
    std::vector<TensorEntry> tensors;
    std::map<std::string, std::string> metadata;
};

SafetensorsFile::SafetensorsFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

const std::string& SafetensorsFile::path() const { return impl_->path; }
const std::vector<TensorEntry>& SafetensorsFile::tensors() const { return impl_->tensors; }
const std::map<std::string, std::string>& SafetensorsFile::metadata() const { return impl_->metadata; }

const TensorEntry* SafetensorsFile::find(std::string_view name) const {
    for (const TensorEntry& t : impl_->tensors) {
        if (t.name == name) {
            return &t;
        }
    }
    return nullptr;
}

const TensorEntry& SafetensorsFile::get(std::string_view name) const {
    const TensorEntry* t = find(name);
    if (t == nullptr) {
        fail("'{}': no tensor named '{}'", impl_->path, name);
    }
    return *t;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->file = MappedFile::open(path);
    const uint64_t file_size = impl->file.size();
    if (file_size < 8) {
        fail("'{}' is not a safetensors file: {} bytes, expected at least 8 for the header length",
             path, file_size);
    }
    impl->map = impl->file.bytes().data();

    const uint64_t header_len = load<uint64_t>(impl->map);  // little-endian host
    if (header_len > kMaxHeaderBytes) {
        fail("'{}': header length {} exceeds the limit of {} bytes", path, header_len, kMaxHeaderBytes);
    }
    if (header_len > file_size - 8) {
        fail("'{}': header length {} exceeds the {} bytes that follow it (file truncated?)", path,
             header_len, file_size - 8);
    }
    const char* header_text = reinterpret_cast<const char*>(impl->map + 8);
    nlohmann::json header = parse_json_input(std::string_view(header_text, header_len), fmt::format("'{}': header", path));
    if (header.is_discarded()) {
        fail("'{}': the {}-byte header is not valid JSON", path, header_len);
    }
    if (!header.is_object()) {
        fail("'{}': the header must be a JSON object, got {}", path, header.type_name());
    }
    impl->data = impl->map + 8 + header_len;
    impl->data_size = file_size - 8 - header_len;

    for (auto& [name, value] : header.items()) {
        if (name == "__metadata__") {
            if (!value.is_object()) {
                fail("'{}': __metadata__ must be an object of strings, got {}", path, value.type_name());
            }
            for (auto& [k, v] : value.items()) {
                if (!v.is_string()) {
                    fail("'{}': __metadata__ value '{}' must be a string, got {}", path, k, v.type_name());
                }
                impl->metadata[k] = v.get<std::string>();
            }
            continue;
        }
        if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
            !value.contains("data_offsets")) {
            fail("'{}': tensor '{}' must be an object with dtype, shape and data_offsets", path, name);
        }
        TensorEntry t;
        t.name = name;
        const auto& dt = value["dtype"];
        bool known = false;
        for (const DTypeInfo& d : kDTypes) {
            if (dt.is_string() && dt == d.name) {
                t.dtype = d.dtype;
                known = true;
            }
        }
        if (!known) {
            fail("'{}': tensor '{}' has unknown dtype {}; expected one of {}", path, name, shown(dt),
                 dtype_list());
        }
        const auto& shape = value["shape"];
        bool shape_ok = shape.is_array() && shape.size() <= 16;
        if (shape_ok) {
            for (const auto& d : shape) {
                shape_ok = shape_ok && d.is_number_unsigned();
            }
        }
        if (!shape_ok) {
            fail("'{}': tensor '{}' shape must be a list of at most 16 non-negative integers, got {}",
                 path, name, shown(shape));
        }
        // Byte size = element count x dtype size, refusing 64-bit overflow.
        uint64_t bytes = static_cast<uint64_t>(dtype_size(t.dtype));
        for (const auto& d : shape) {
            uint64_t dim = d.get<uint64_t>();
            if (dim > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(bytes, dim, &bytes)) {
                fail("'{}': tensor '{}' shape {} overflows a 64-bit byte count", path, name, shown(shape));
            }
            t.shape.push_back(static_cast<int64_t>(dim));
        }
        const auto& off = value["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
            !off[1].is_number_unsigned() || off[0].get<uint64_t>() > off[1].get<uint64_t>()) {
            fail("'{}': tensor '{}' data_offsets must be [begin, end] with 0 <= begin <= end, got {}",
                 path, name, shown(off));
        }
        t.begin = off[0].get<uint64_t>();
        t.end = off[1].get<uint64_t>();
        if (t.end > impl->data_size) {
            fail("'{}': tensor '{}' data_offsets [{}, {}] lie outside the {}-byte data section", path,
                 name, t.begin, t.end, impl->data_size);
        }
        if (t.end - t.begin != bytes) {
            fail("'{}': tensor '{}' of shape {} and dtype {} needs {} bytes, but data_offsets [{}, {}] "
                 "hold {}", path, name, shape_string(t.shape), dtype_name(t.dtype),
                 bytes, t.begin, t.end, t.end - t.begin);
        }
        impl->tensors.push_back(std::move(t));
    }
    // The tensors must tile the data section exactly: no overlap, no hole, nothing left over.
    std::sort(impl->tensors.begin(), impl->tensors.end(),
              [](const TensorEntry& a, const TensorEntry& b) {
                  return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
              });
    uint64_t covered = 0;
    const TensorEntry* previous = nullptr;
    for (const TensorEntry& t : impl->tensors) {
        if (t.begin < covered) {
            fail("'{}': tensors '{}' and '{}' overlap (bytes [{}, {}) and [{}, {}))", path,
                 previous->name, t.name, previous->begin, previous->end, t.begin, t.end);
        }
        if (t.begin > covered) {
            fail("'{}': bytes [{}, {}) of the data section belong to no tensor", path, covered, t.begin);
        }
        covered = t.end;
        previous = &t;
    }
    if (covered != impl->data_size) {
        fail("'{}': the data section has {} bytes but the tensors cover {}", path, impl->data_size,
             covered);
    }
    return SafetensorsFile(std::move(impl));
}

void SafetensorsFile::read_f32_into(const TensorEntry& t, float* dst) const {
    convert_to_f32(t.dtype, impl_->data + t.begin, t.numel(), dst);
    impl_->file.release(static_cast<uint64_t>(impl_->data - impl_->map) + t.begin, t.end - t.begin);
}

std::vector<float> SafetensorsFile::read_f32(std::string_view name) const {
    const TensorEntry& t = get(name);
    std::vector<float> out(static_cast<size_t>(t.numel()));
    read_f32_into(t, out.data());
    return out;
}

void safetensors_write(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    nlohmann::ordered_json header;
    if (!metadata.empty()) {
        header["__metadata__"] = metadata;
    }
    uint64_t offset = 0;
    for (const TensorToWrite& t : tensors) {
        uint64_t bytes = sizeof(float);
        for (int64_t d : t.shape) {
            if (d < 0) {
                fail("cannot write tensor '{}': negative dimension in shape {}", t.name, shape_string(t.shape));
            }
            bytes *= static_cast<uint64_t>(d);
        }
        header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned

    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fail("cannot create '{}': {}", tmp, std::strerror(errno));
    }
    auto write_all = [&](const void* data, size_t n) {
        const char* p = static_cast<const char*>(data);
        while (n > 0) {
            ssize_t w = ::write(fd, p, n);
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                int err = errno;
                ::close(fd);
                ::unlink(tmp.c_str());
                fail("cannot write '{}': {}", tmp, std::strerror(err));
            }
            p += w;
            n -= static_cast<size_t>(w);
        }
    };
    uint64_t header_len = text.size();
    write_all(&header_len, sizeof(header_len));
    write_all(text.data(), text.size());
    for (const TensorToWrite& t : tensors) {
        int64_t n = 1;
        for (int64_t d : t.shape) {
            n *= d;
        }
        write_all(t.data, static_cast<size_t>(n) * sizeof(float));
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        fail("cannot flush '{}': {}", tmp, std::strerror(err));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        fail("cannot rename '{}' to '{}': {}", tmp, path, std::strerror(err));
    }
}

}  // namespace vit
