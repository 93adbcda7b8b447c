// The pickle virtual machine, restricted to what torch.save writes for state dicts.
// Reference: Python's Lib/pickletools.py documents every opcode.
#include "io/pickle.h"

#include <bit>
#include <map>
#include <set>

#include "vit/error.h"

namespace vit::pickle {

namespace {

constexpr size_t kMaxStack = 1'000'000;
constexpr size_t kMaxMemo = 10'000'000;

// Globals that may appear; calling any other one is refused.
const std::set<std::string>& allowed_globals() {
    static const std::set<std::string> names = {
        "collections.OrderedDict",       "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch.FloatStorage",            "torch.DoubleStorage",             "torch.HalfStorage",
        "torch.BFloat16Storage",         "torch.LongStorage",               "torch.IntStorage",
        "torch.ShortStorage",            "torch.CharStorage",               "torch.ByteStorage",
        "torch.BoolStorage",
    };
    return names;
}

class Machine {
  public:
    Machine(std::span<const uint8_t> program, const std::string& name) : p_(program), name_(name) {}

    ValuePtr run() {
        for (;;) {
            op_pos_ = pos_;
            const uint8_t op = byte();
            switch (op) {
                case 0x80: byte(); break;                      // PROTO
                case 0x95: bytes(8); break;                    // FRAME: a length hint
                case '}': push(make(Kind::Dict)); break;       // EMPTY_DICT
                case ']': push(make(Kind::List)); break;       // EMPTY_LIST
                case ')': push(make(Kind::Tuple)); break;      // EMPTY_TUPLE
                case '(': marks_.push_back(stack_.size()); break;  // MARK
                case 'N': push(make(Kind::None)); break;
                case 0x88: push(boolean(true)); break;         // NEWTRUE
                case 0x89: push(boolean(false)); break;        // NEWFALSE
                case 'K': push(integer(uint_le(1))); break;    // BININT1
                case 'M': push(integer(uint_le(2))); break;    // BININT2
                case 'J': push(integer(static_cast<int32_t>(uint_le(4)))); break;  // BININT
                case 0x8a: push(integer(long1())); break;      // LONG1
                case 'G': push(float64()); break;              // BINFLOAT
                case 'X': push(text(Kind::String, uint_le(4))); break;   // BINUNICODE
                case 0x8c: push(text(Kind::String, uint_le(1))); break;  // SHORT_BINUNICODE
                case 0x8d: push(text(Kind::String, uint_le(8))); break;  // BINUNICODE8
                case 'T': push(text(Kind::String, uint_le(4))); break;   // BINSTRING
                case 'U': push(text(Kind::String, uint_le(1))); break;   // SHORT_BINSTRING
                case 'B': push(text(Kind::Bytes, uint_le(4))); break;    // BINBYTES
                case 'C': push(text(Kind::Bytes, uint_le(1))); break;    // SHORT_BINBYTES
                case 0x8e: push(text(Kind::Bytes, uint_le(8))); break;   // BINBYTES8
                case 't': push(tuple(pop_mark())); break;      // TUPLE
                case 0x85: push(tuple(pop_n(1))); break;       // TUPLE1
                case 0x86: push(tuple(pop_n(2))); break;       // TUPLE2
                case 0x87: push(tuple(pop_n(3))); break;       // TUPLE3
                case 'q': memo_put(uint_le(1)); break;         // BINPUT
                case 'r': memo_put(uint_le(4)); break;         // LONG_BINPUT
                case 0x94: memo_put(memo_.size()); break;      // MEMOIZE
                case 'h': push(memo_get(uint_le(1))); break;   // BINGET
                case 'j': push(memo_get(uint_le(4))); break;   // LONG_BINGET
                case 'c': global_op(); break;                  // GLOBAL
                case 0x93: stack_global(); break;              // STACK_GLOBAL
                case 'a': append(pop_n(1)); break;             // APPEND
                case 'e': append(pop_mark()); break;           // APPENDS
                case 's': set_items(pop_n(2)); break;          // SETITEM
                case 'u': set_items(pop_mark()); break;        // SETITEMS
                case 'R': reduce(); break;                     // REDUCE
                case 'Q': persistent_load(); break;            // BINPERSID
                case 'b': build(); break;                      // BUILD
                case '.': return stop();                       // STOP
                default:
                    fail("'{}': the pickle uses opcode 0x{:02x} at byte {}, which a state dict does not need; "
                         "refusing to interpret it", name_, op, op_pos_);
            }
        }
    }

    Result take_result(ValuePtr root) {
        return {std::move(arena_), root};
    }

  private:
    Value* make(Kind kind) {
        arena_.push_back(std::make_unique<Value>());
        arena_.back()->kind = kind;
        return arena_.back().get();
    }
    // Containers are mutated in place by APPEND and SETITEM; every value lives in the arena.
    Value* mutable_top() { return const_cast<Value*>(top()); }
    [[noreturn]] void bad(const std::string& what) const {
        fail("'{}': malformed pickle at byte {}: {}", name_, op_pos_, what);
    }
    uint8_t byte() {
        if (pos_ >= p_.size()) bad("the program ends without STOP (truncated?)");
        return p_[pos_++];
    }
    std::span<const uint8_t> bytes(uint64_t n) {
        if (n > p_.size() - pos_) bad(fmt::format("{} bytes requested, {} left", n, p_.size() - pos_));
        auto s = p_.subspan(pos_, n);
        pos_ += n;
        return s;
    }
    uint64_t uint_le(int n) {
        auto b = bytes(static_cast<uint64_t>(n));
        uint64_t v = 0;
        for (int i = 0; i < n; i++) v |= static_cast<uint64_t>(b[static_cast<size_t>(i)]) << (8 * i);
        return v;
    }
    int64_t long1() {
        const uint8_t n = byte();
        if (n > 8) bad(fmt::format("an integer of {} bytes does not fit 64 bits", n));
        uint64_t v = n ? uint_le(n) : 0;
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1u) v |= ~uint64_t{0} << (8 * n);  // sign-extend
        return static_cast<int64_t>(v);
    }
    ValuePtr boolean(bool b) {
        auto v = make(Kind::Bool);
        v->i = b;
        return v;
    }
    ValuePtr integer(int64_t i) {
        auto v = make(Kind::Int);
        v->i = i;
        return v;
    }
    ValuePtr float64() {
        auto b = bytes(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits = bits << 8 | b[static_cast<size_t>(i)];  // big-endian
        auto v = make(Kind::Float);
        v->f = std::bit_cast<double>(bits);
        return v;
    }
    ValuePtr text(Kind kind, uint64_t n) {
        auto b = bytes(n);
        auto v = make(kind);
        v->s.assign(b.begin(), b.end());
        return v;
    }
    ValuePtr tuple(std::vector<ValuePtr> items) {
        auto v = make(Kind::Tuple);
        v->items = std::move(items);
        return v;
    }
    void push(ValuePtr v) {
        if (stack_.size() >= kMaxStack) bad("the stack grows beyond a million values");
        stack_.push_back(v);
    }
    ValuePtr pop() {
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) bad("pop from an empty stack");
        ValuePtr v = stack_.back();
        stack_.pop_back();
        return v;
    }
    ValuePtr top() {
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) bad("the stack is empty");
        return stack_.back();
    }
    std::vector<ValuePtr> pop_n(size_t n) {
        std::vector<ValuePtr> items(n);
        for (size_t i = n; i-- > 0;) items[i] = pop();
        return items;
    }
    std::vector<ValuePtr> pop_mark() {
        if (marks_.empty()) bad("no MARK to pop to");
        const size_t mark = marks_.back();
        marks_.pop_back();
        std::vector<ValuePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
        stack_.resize(mark);
        return items;
    }
    void memo_put(uint64_t index) {
        if (index >= kMaxMemo) bad(fmt::format("memo index {} is too large", index));
        memo_[index] = top();
    }
    ValuePtr memo_get(uint64_t index) {
        auto it = memo_.find(index);
        if (it == memo_.end()) bad(fmt::format("memo index {} was never stored", index));
        return it->second;
    }
    ValuePtr global(const std::string& module, const std::string& name) {
        const std::string full = module + "." + name;
        if (!allowed_globals().contains(full)) {
            fail("'{}': the pickle names the global '{}', which is not allowed (a state dict of tensors needs "
                 "only OrderedDict, tensor rebuilding and storage types); refusing to load it",
                 name_, full);
        }
        auto v = make(Kind::Global);
        v->s = full;
        return v;
    }
    std::string line() {
        std::string s;
        for (char c; (c = static_cast<char>(byte())) != '\n';) {
            if (s.size() > 256) bad("a GLOBAL name longer than 256 bytes");
            s += c;
        }
        return s;
    }
    void global_op() {
        std::string module = line();
        std::string name = line();
        push(global(module, name));
    }
    void stack_global() {
        ValuePtr name = pop(), module = pop();
        if (module->kind != Kind::String || name->kind != Kind::String) bad("STACK_GLOBAL needs two strings");
        push(global(module->s, name->s));
    }
    void append(std::vector<ValuePtr> items) {
        Value* list = mutable_top();
        if (list->kind != Kind::List) bad(fmt::format("APPEND to a {}", kind_name(list->kind)));
        for (ValuePtr v : items) list->items.push_back(v);
    }
    void set_items(std::vector<ValuePtr> kv) {
        Value* dict = mutable_top();
        if (dict->kind != Kind::Dict || kv.size() % 2 != 0) bad("SETITEM(S) needs a dict and key-value pairs");
        for (size_t i = 0; i < kv.size(); i += 2) {
            if (kv[i]->kind != Kind::String && kv[i]->kind != Kind::Int) {
                bad(fmt::format("a dict key of kind {}", kind_name(kv[i]->kind)));
            }
            dict->entries.emplace_back(kv[i], kv[i + 1]);
        }
    }
    std::vector<int64_t> int_tuple(const ValuePtr& v, const char* what) {
        if (v->kind != Kind::Tuple) bad(fmt::format("the tensor {} is a {}, not a tuple", what, kind_name(v->kind)));
        std::vector<int64_t> out;
        for (const ValuePtr& x : v->items) {
            if (x->kind != Kind::Int) bad(fmt::format("the tensor {} holds a {}", what, kind_name(x->kind)));
            out.push_back(x->i);
        }
        return out;
    }
    void reduce() {
        ValuePtr args = pop();
        ValuePtr callable = pop();
        if (callable->kind != Kind::Global || args->kind != Kind::Tuple) bad("REDUCE needs a global and a tuple");
        const std::string& f = callable->s;
        if (f == "collections.OrderedDict") {
            if (!args->items.empty()) bad("OrderedDict with arguments");
            push(make(Kind::Dict));
        } else if (f == "torch._utils._rebuild_tensor_v2") {
            if (args->items.size() < 4 || args->items[0]->kind != Kind::Storage || args->items[1]->kind != Kind::Int) {
                bad("_rebuild_tensor_v2 needs (storage, offset, size, stride, ...)");
            }
            auto t = make(Kind::Tensor);
            const Value& storage = *args->items[0];
            t->s = storage.s;
            t->storage_key = storage.storage_key;
            t->storage_numel = storage.storage_numel;
            t->offset = args->items[1]->i;
            t->shape = int_tuple(args->items[2], "size");
            t->stride = int_tuple(args->items[3], "stride");
            push(t);
        } else if (f == "torch._utils._rebuild_parameter") {
            if (args->items.empty() || args->items[0]->kind != Kind::Tensor) bad("_rebuild_parameter needs a tensor");
            push(args->items[0]);
        } else {
            fail("'{}': the pickle calls '{}', which is not allowed", name_, f);
        }
    }
    void persistent_load() {
        ValuePtr pid = pop();
        // ('storage', storage type, key, location, element count)
        if (pid->kind != Kind::Tuple || pid->items.size() != 5 || pid->items[0]->kind != Kind::String ||
            pid->items[0]->s != "storage" || pid->items[1]->kind != Kind::Global || pid->items[2]->kind != Kind::String ||
            pid->items[4]->kind != Kind::Int) {
            bad("a persistent id that is not ('storage', type, key, location, numel)");
        }
        const std::string& type = pid->items[1]->s;
        if (!type.ends_with("Storage")) bad(fmt::format("'{}' is not a storage type", type));
        auto st = make(Kind::Storage);
        st->s = type.substr(std::string("torch.").size());
        st->storage_key = pid->items[2]->s;
        st->storage_numel = pid->items[4]->i;
        if (st->storage_numel < 0) bad("a storage with a negative size");
        push(st);
    }
    void build() {
        pop();
        // OrderedDict's state (a state dict's '_metadata' attribute) carries no tensors.
        if (top()->kind != Kind::Dict) bad(fmt::format("BUILD on a {}", kind_name(top()->kind)));
    }
    ValuePtr stop() {
        if (stack_.size() != 1 || !marks_.empty()) bad("STOP with a stack that does not hold exactly one value");
        return stack_.back();
    }

    std::span<const uint8_t> p_;
    const std::string& name_;
    uint64_t pos_ = 0, op_pos_ = 0;
    std::vector<ValuePtr> stack_;
    std::vector<size_t> marks_;
    std::map<uint64_t, ValuePtr> memo_;
    std::vector<std::unique_ptr<Value>> arena_;
};

}  // namespace

Result run(std::span<const uint8_t> program, const std::string& name) {
    Machine machine(program, name);
    ValuePtr root = machine.run();
    return machine.take_result(root);
}

const char* kind_name(Kind kind) {
    switch (kind) {
        case Kind::None: return "None";
        case Kind::Bool: return "bool";
        case Kind::Int: return "int";
        case Kind::Float: return "float";
        case Kind::String: return "str";
        case Kind::Bytes: return "bytes";
        case Kind::Tuple: return "tuple";
        case Kind::List: return "list";
        case Kind::Dict: return "dict";
        case Kind::Global: return "global";
        case Kind::Storage: return "storage";
        case Kind::Tensor: return "tensor";
    }
    return "?";
}

}  // namespace vit::pickle
