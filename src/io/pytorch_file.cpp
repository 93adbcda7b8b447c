// PyTorch .pth/.pt/.bin files (torch.save's zip format): the pickled state dict is interpreted
// by the restricted machine of pickle.cpp, and each tensor is read from its storage entry.
#include <algorithm>
#include <limits>

#include "io/pickle.h"
#include "vit/error.h"
#include "vit/params.h"
#include "vit/weights.h"
#include "io/zip_formats.h"

namespace vit {

namespace {

struct StorageType {
    const char* name;
    DType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", DType::F32}, {"DoubleStorage", DType::F64}, {"HalfStorage", DType::F16},
    {"BFloat16Storage", DType::BF16}, {"LongStorage", DType::I64}, {"IntStorage", DType::I32},
    {"ShortStorage", DType::I16}, {"CharStorage", DType::I8}, {"ByteStorage", DType::U8},
    {"BoolStorage", DType::BOOL},
};

DType storage_dtype(const std::string& type, const std::string& path) {
    for (const StorageType& s : kStorageTypes) {
        if (type == s.name) {
            return s.dtype;
        }
    }
    fail("'{}': unsupported storage type '{}'", path, type);
}

// The dict of tensors in a pickled object: the object itself, or a dict under one of the keys
// training scripts use for the model's weights.
const pickle::Value* find_state_dict(const pickle::Value* root, const std::string& path) {
    if (root->kind != pickle::Kind::Dict) {
        fail("'{}' holds a pickled {}, not a dict of tensors", path, pickle::kind_name(root->kind));
    }
    auto has_tensor = [](const pickle::Value* d) {
        return std::any_of(d->entries.begin(), d->entries.end(),
                           [](const auto& kv) { return kv.second->kind == pickle::Kind::Tensor; });
    };
    if (has_tensor(root)) {
        return root;
    }
    for (const char* key : {"state_dict", "model", "model_state_dict", "module", "state_dict_ema", "model_ema"}) {
        for (const auto& [k, v] : root->entries) {
            if (k->kind == pickle::Kind::String && k->s == key && v->kind == pickle::Kind::Dict && has_tensor(v)) {
                return v;
            }
        }
    }
    fail("'{}' holds a dict without tensors (looked at the top level and under 'state_dict', 'model', "
         "'model_state_dict', 'module', 'state_dict_ema', 'model_ema')", path);
}

// Checks that a view (offset, shape, stride) stays inside its storage, without overflow.
void check_view(const pickle::Value& t, const std::string& name, const std::string& path) {
    if (t.shape.size() != t.stride.size() || t.offset < 0) {
        fail("'{}': tensor '{}' has {} sizes, {} strides and offset {}", path, name, t.shape.size(),
             t.stride.size(), t.offset);
    }
    int64_t numel = 1, last = t.offset;
    for (size_t d = 0; d < t.shape.size(); d++) {
        if (t.shape[d] < 0 || t.stride[d] < 0) {
            fail("'{}': tensor '{}' has a negative size or stride", path, name);
        }
        if (t.shape[d] > 0 && __builtin_mul_overflow(numel, t.shape[d], &numel)) {
            fail("'{}': tensor '{}' has an element count that overflows", path, name);
        }
        if (t.shape[d] == 0) {
            numel = 0;
        }
        int64_t reach = 0;
        if (t.shape[d] > 0 && (__builtin_mul_overflow(t.shape[d] - 1, t.stride[d], &reach) ||
                               __builtin_add_overflow(last, reach, &last))) {
            fail("'{}': tensor '{}' has strides that overflow", path, name);
        }
    }
    if (numel > 0 && last >= t.storage_numel) {
        fail("'{}': tensor '{}' {} reaches element {} of a storage of {} elements", path, name,
             shape_string(t.shape), last, t.storage_numel);
    }
}

// Copies a strided view to a contiguous fp32 array.
void gather_f32(const uint8_t* storage, DType dtype, const pickle::Value& t, float* dst) {
    const int64_t rank = static_cast<int64_t>(t.shape.size());
    const int64_t esize = dtype_size(dtype);
    const int64_t numel = shape_numel(t.shape);
    bool contiguous = true;
    for (int64_t d = rank - 1, expect = 1; d >= 0; d--) {
        contiguous &= t.shape[static_cast<size_t>(d)] == 1 || t.stride[static_cast<size_t>(d)] == expect;
        expect *= t.shape[static_cast<size_t>(d)];
    }
    if (contiguous || numel == 0) {
        convert_to_f32(dtype, storage + t.offset * esize, numel, dst);
        return;
    }
    std::vector<int64_t> index(static_cast<size_t>(rank), 0);
    for (int64_t i = 0; i < numel; i++) {
        int64_t off = t.offset;
        for (int64_t d = 0; d < rank; d++) off += index[static_cast<size_t>(d)] * t.stride[static_cast<size_t>(d)];
        convert_to_f32(dtype, storage + off * esize, 1, dst + i);
        for (int64_t d = rank - 1; d >= 0; d--) {
            if (++index[static_cast<size_t>(d)] < t.shape[static_cast<size_t>(d)]) break;
            index[static_cast<size_t>(d)] = 0;
        }
    }
}

}  // namespace

WeightSource read_pytorch_zip(std::shared_ptr<const ZipArchive> zip) {
    const std::string& path = zip->path();
    std::string prefix;
    const ZipEntry* pkl = nullptr;
    for (const ZipEntry& e : zip->entries()) {
        if (e.name.ends_with("data.pkl") && std::count(e.name.begin(), e.name.end(), '/') == 1 &&
            e.name.substr(e.name.find('/') + 1) == "data.pkl") {
            if (pkl != nullptr) {
                fail("'{}' holds more than one data.pkl", path);
            }
            pkl = &e;
            prefix = e.name.substr(0, e.name.size() - std::string("data.pkl").size());
        }
    }
    if (pkl == nullptr) {
        fail("'{}' is a zip archive without '<name>/data.pkl', so not a file written by torch.save", path);
    }
    if (const ZipEntry* order = zip->find(prefix + "byteorder")) {
        const std::vector<uint8_t> b = zip->read(*order);
        if (std::string(b.begin(), b.end()) != "little") {
            fail("'{}' was written with byte order '{}'; only little-endian files are supported", path,
                 std::string(b.begin(), b.end()));
        }
    }
    if (pkl->size > (uint64_t{1} << 30)) {
        fail("'{}': data.pkl is {} bytes, more than a state dict needs", path, pkl->size);
    }
    auto program = std::make_shared<pickle::Result>(pickle::run(zip->read(*pkl), path));
    const pickle::Value* dict = find_state_dict(program->root, path);

    WeightSource w;
    w.path = path;
    w.format = WeightFormat::PyTorch;
    std::vector<std::string> names;
    for (const auto& [key, value] : dict->entries) {
        if (value->kind != pickle::Kind::Tensor || key->kind != pickle::Kind::String) {
            continue;  // e.g. an integer version counter
        }
        const std::string& name = key->s;
        const pickle::Value& t = *value;
        const DType dtype = storage_dtype(t.s, path);
        check_view(t, name, path);
        const ZipEntry* data = zip->find(prefix + "data/" + t.storage_key);
        if (data == nullptr) {
            fail("'{}': tensor '{}' refers to storage '{}', which the archive lacks", path, name, t.storage_key);
        }
        uint64_t bytes = 0;
        if (__builtin_mul_overflow(static_cast<uint64_t>(t.storage_numel), static_cast<uint64_t>(dtype_size(dtype)), &bytes) ||
            bytes != data->size) {
            fail("'{}': storage '{}' of tensor '{}' should hold {} elements of {} but is {} bytes", path,
                 t.storage_key, name, t.storage_numel, dtype_name(dtype), data->size);
        }
        SourceTensor s;
        s.name = name;
        s.shape = t.shape;
        s.dtype = dtype;
        s.read = [zip = zip.get(), data, dtype, &t](float* dst) {
            if (data->method == 0) {
                gather_f32(zip->stored_bytes(*data).data(), dtype, t, dst);
                zip->release(*data);
            } else {
                gather_f32(zip->read(*data).data(), dtype, t, dst);
            }
        };
        w.tensors.push_back(std::move(s));
    }
    // DataParallel prefixes every name with "module.".
    if (!w.tensors.empty() && std::all_of(w.tensors.begin(), w.tensors.end(),
                                          [](const SourceTensor& s) { return s.name.starts_with("module."); })) {
        for (SourceTensor& s : w.tensors) s.name = s.name.substr(7);
    }
    w.owner = std::make_shared<std::pair<std::shared_ptr<const ZipArchive>, std::shared_ptr<pickle::Result>>>(zip, program);
    return w;
}

}  // namespace vit
