// NumPy .npz files (a zip of .npy arrays, as np.savez and np.savez_compressed write them).
// The .npy header is a Python dict literal; this parser accepts exactly the three keys NumPy
// writes and numeric little-endian dtypes, and refuses object arrays and anything else.
#include <cctype>
#include <limits>

#include "vit/error.h"
#include "vit/params.h"
#include "vit/weights.h"
#include "io/zip_formats.h"

namespace vit {

namespace {

struct NpyHeader {
    DType dtype = DType::F32;
    bool fortran_order = false;
    std::vector<int64_t> shape;
    uint64_t data_offset = 0;  // from the start of the .npy bytes
};

struct NpyDtype {
    const char* descr;
    DType dtype;
};
constexpr NpyDtype kNpyDtypes[] = {
    {"<f4", DType::F32}, {"<f8", DType::F64}, {"<f2", DType::F16}, {"<i8", DType::I64}, {"<i4", DType::I32},
    {"<i2", DType::I16}, {"|i1", DType::I8},  {"|u1", DType::U8},  {"|b1", DType::BOOL},
};

// A tokenizer for the header's dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
  public:
    HeaderParser(std::string_view text, const std::string& where) : t_(text), where_(where) {}

    NpyHeader parse() {
        NpyHeader h;
        bool seen_descr = false, seen_order = false, seen_shape = false;
        expect('{');
        while (!peek('}')) {
            const std::string key = string();
            expect(':');
            if (key == "descr") {
                if (peek('[')) {
                    bad("structured dtypes are not supported");
                }
                h.dtype = dtype(string());
                seen_descr = true;
            } else if (key == "fortran_order") {
                h.fortran_order = boolean();
                seen_order = true;
            } else if (key == "shape") {
                h.shape = shape();
                seen_shape = true;
            } else {
                bad(fmt::format("unknown key '{}'", key));
            }
            if (!peek('}')) {
                expect(',');
            }
        }
        expect('}');
        if (!seen_descr || !seen_order || !seen_shape) {
            bad("the header must give descr, fortran_order and shape");
        }
        return h;
    }

  private:
    [[noreturn]] void bad(const std::string& what) const { fail("{}: bad .npy header: {}", where_, what); }
    void skip_space() {
        while (pos_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[pos_]))) pos_++;
    }
    bool peek(char c) {
        skip_space();
        return pos_ < t_.size() && t_[pos_] == c;
    }
    void expect(char c) {
        if (!peek(c)) bad(fmt::format("expected '{}' at character {}", c, pos_));
        pos_++;
    }
    std::string string() {
        skip_space();
        if (pos_ >= t_.size() || (t_[pos_] != '\'' && t_[pos_] != '"')) bad(fmt::format("expected a string at character {}", pos_));
        const char quote = t_[pos_++];
        const size_t end = t_.find(quote, pos_);
        if (end == std::string_view::npos) bad("unterminated string");
        std::string s(t_.substr(pos_, end - pos_));
        pos_ = end + 1;
        return s;
    }
    bool boolean() {
        skip_space();
        for (auto [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
            if (t_.substr(pos_).starts_with(word)) {
                pos_ += std::string_view(word).size();
                return value;
            }
        }
        bad("fortran_order must be True or False");
    }
    std::vector<int64_t> shape() {
        std::vector<int64_t> dims;
        expect('(');
        while (!peek(')')) {
            skip_space();
            int64_t d = 0;
            size_t digits = 0;
            while (pos_ < t_.size() && std::isdigit(static_cast<unsigned char>(t_[pos_]))) {
                if (__builtin_mul_overflow(d, 10, &d) || __builtin_add_overflow(d, t_[pos_] - '0', &d)) bad("a dimension overflows");
                pos_++;
                digits++;
            }
            if (digits == 0) bad("shape must be a tuple of non-negative integers");
            dims.push_back(d);
            if (!peek(')')) expect(',');
        }
        expect(')');
        return dims;
    }
    DType dtype(const std::string& descr) {
        std::string d = descr;
        if (d.size() == 3 && d[0] == '=') d[0] = '<';  // native order on a little-endian host
        if (d.size() == 3 && d[2] == '1' && d[0] != '|') d[0] = '|';
        for (const NpyDtype& n : kNpyDtypes) {
            if (d == n.descr) return n.dtype;
        }
        if (descr.find('O') != std::string::npos) bad(fmt::format("dtype '{}' is an object array (pickled Python objects), refused", descr));
        if (descr.starts_with('>')) bad(fmt::format("dtype '{}' is big-endian, which is not supported", descr));
        bad(fmt::format("dtype '{}' is not a supported numeric type", descr));
    }

    std::string_view t_;
    const std::string& where_;
    size_t pos_ = 0;
};

NpyHeader parse_npy(std::span<const uint8_t> b, const std::string& where) {
    static constexpr uint8_t kMagic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (b.size() < 10 || !std::equal(std::begin(kMagic), std::end(kMagic), b.begin())) {
        fail("{}: not a .npy array (bad magic)", where);
    }
    const uint8_t major = b[6];
    uint64_t len = 0, start = 0;
    if (major == 1) {
        len = b[8] | static_cast<uint64_t>(b[9]) << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (b.size() < 12) fail("{}: truncated .npy header", where);
        len = b[8] | static_cast<uint64_t>(b[9]) << 8 | static_cast<uint64_t>(b[10]) << 16 | static_cast<uint64_t>(b[11]) << 24;
        start = 12;
    } else {
        fail("{}: .npy format version {} is not supported", where, major);
    }
    if (len > b.size() - start) {
        fail("{}: the .npy header claims {} bytes, the entry has {} (truncated?)", where, len, b.size() - start);
    }
    NpyHeader h = HeaderParser(std::string_view(reinterpret_cast<const char*>(b.data() + start), len), where).parse();
    h.data_offset = start + len;
    uint64_t bytes = static_cast<uint64_t>(dtype_size(h.dtype));
    for (int64_t d : h.shape) {
        if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) fail("{}: the .npy array size overflows", where);
    }
    if (bytes != b.size() - h.data_offset) {
        fail("{}: a .npy array of {} {} needs {} bytes of data, the entry has {}", where, dtype_name(h.dtype),
             shape_string(h.shape), bytes, b.size() - h.data_offset);
    }
    return h;
}

// Fortran-order data of shape (d0, ..., dn) is C-order data of shape (dn, ..., d0): transpose it.
void fortran_to_c(const float* src, const std::vector<int64_t>& shape, float* dst) {
    const size_t rank = shape.size();
    const int64_t numel = shape_numel(shape);
    std::vector<int64_t> index(rank, 0);
    for (int64_t i = 0; i < numel; i++) {  // i walks dst in C order
        int64_t off = 0, stride = 1;
        for (size_t d = 0; d < rank; d++) {
            off += index[d] * stride;
            stride *= shape[d];
        }
        dst[i] = src[off];
        for (size_t d = rank; d-- > 0;) {
            if (++index[d] < shape[d]) break;
            index[d] = 0;
        }
    }
}

}  // namespace

WeightSource read_npz_zip(std::shared_ptr<const ZipArchive> zip) {
    const std::string& path = zip->path();
    // Deflated arrays (np.savez_compressed) are inflated once, here, and kept.
    auto inflated = std::make_shared<std::vector<std::vector<uint8_t>>>();
    inflated->reserve(zip->entries().size());
    WeightSource w;
    w.path = path;
    w.format = WeightFormat::Npz;
    for (const ZipEntry& e : zip->entries()) {
        if (!e.name.ends_with(".npy")) {
            fail("'{}': entry '{}' is not a .npy array", path, e.name);
        }
        const std::string where = fmt::format("'{}' entry '{}'", path, e.name);
        const std::vector<uint8_t>* owned = nullptr;
        std::span<const uint8_t> bytes;
        if (e.method == 0) {
            bytes = zip->stored_bytes(e, /*verify=*/false);  // the header only; checked when read
        } else {
            inflated->push_back(zip->read(e));
            owned = &inflated->back();
            bytes = *owned;
        }
        const NpyHeader h = parse_npy(bytes, where);
        if (owned == nullptr) zip->release(e);
        SourceTensor s;
        s.name = e.name.substr(0, e.name.size() - 4);
        s.shape = h.shape;
        s.dtype = h.dtype;
        s.read = [zip = zip.get(), &e, owned, h](float* dst) {
            std::span<const uint8_t> b = owned != nullptr ? std::span<const uint8_t>(*owned) : zip->stored_bytes(e);
            const int64_t numel = shape_numel(h.shape);
            if (!h.fortran_order) {
                convert_to_f32(h.dtype, b.data() + h.data_offset, numel, dst);
            } else {
                std::vector<float> tmp(static_cast<size_t>(numel));
                convert_to_f32(h.dtype, b.data() + h.data_offset, numel, tmp.data());
                fortran_to_c(tmp.data(), h.shape, dst);
            }
            if (owned == nullptr) zip->release(e);
        };
        w.tensors.push_back(std::move(s));
    }
    w.owner = std::make_shared<std::pair<std::shared_ptr<const ZipArchive>, std::shared_ptr<std::vector<std::vector<uint8_t>>>>>(zip, inflated);
    return w;
}

}  // namespace vit
