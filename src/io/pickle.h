// A small pickle interpreter for PyTorch state dicts: it builds plain values (None, bools, ints,
// floats, strings, bytes, tuples, lists, dicts) and tensor references, and refuses everything
// else. It never imports or calls anything: the only globals it accepts are the handful that
// torch.save writes for a dict of tensors (collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter and the torch.*Storage types); any other global, any unknown
// opcode and any malformed program is an error naming what was found.
//
// Example:
//   vit::pickle::Result result = vit::pickle::run(bytes, "model.pth");
//   for (auto& [key, value] : result.root->entries) ...   // value->kind == Kind::Tensor
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace vit::pickle {

enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Storage, Tensor };

// Values point at each other (a pickle may even build cycles); all of them are owned by the
// Result's arena.
struct Value;
using ValuePtr = const Value*;

struct Value {
    Kind kind = Kind::None;
    int64_t i = 0;                  // Bool, Int
    double f = 0.0;                 // Float
    std::string s;                  // String, Bytes; Global: "module.name"; Storage, Tensor: storage type
    std::vector<ValuePtr> items;    // Tuple, List
    std::vector<std::pair<ValuePtr, ValuePtr>> entries;  // Dict, in insertion order
    // Storage and Tensor: the storage's key in the archive and its element count; Tensor: the view.
    std::string storage_key;
    int64_t storage_numel = 0;
    int64_t offset = 0;
    std::vector<int64_t> shape, stride;
};

struct Result {
    std::vector<std::unique_ptr<Value>> arena;
    ValuePtr root = nullptr;
};

// Runs a pickle program (protocols 2 to 5) and returns the value it stops with. `name` prefixes
// error messages.
Result run(std::span<const uint8_t> program, const std::string& name);

const char* kind_name(Kind kind);

}  // namespace vit::pickle
