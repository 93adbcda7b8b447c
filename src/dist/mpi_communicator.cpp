// MPI's world as a Communicator. One thread at a time uses MPI (MPI_THREAD_SERIALIZED): the
// caller's, or the summing thread while sums started with start_sum are under way. A watchdog
// thread ends the process when one collective waits longer than the timeout, naming the
// operation, so that a rank that stopped answering cannot hang the others. (A rank that dies is
// noticed by mpirun itself, which ends the job and names it.)
// The C API only: MPI's deprecated C++ bindings live in another library.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

#include "dist/mpi_communicator.h"
#include "vit/error.h"

namespace vit {

namespace {

using Clock = std::chrono::steady_clock;

class MpiWorld final : public Communicator {
  public:
    explicit MpiWorld(const LaunchOptions& options) : timeout_s_(options.timeout_s) {
        int provided = 0;
        if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
            fail("MPI could not start (MPI_Init_thread failed)");
        }
        if (provided < MPI_THREAD_SERIALIZED) {
            fail("this MPI library does not let a second thread make MPI calls (MPI_THREAD_SERIALIZED), which "
                 "vit's overlapped gradient sums need");
        }
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
        char version[MPI_MAX_LIBRARY_VERSION_STRING];
        int length = 0;
        MPI_Get_library_version(version, &length);
        library_ = std::string(version, static_cast<size_t>(length));
        library_ = library_.substr(0, library_.find(','));  // "Open MPI v4.1.4"
        watchdog_ = std::thread([this] { watch(); });
        summer_ = std::thread([this] { sum_queued(); });
    }

    ~MpiWorld() override {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        changed_.notify_all();
        watchdog_.join();
        summer_.join();
        MPI_Finalize();
    }

    void start_sum(float* data, int64_t n) override {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            queue_.push_back({data, n});
        }
        changed_.notify_all();
    }

    void wait_sums() override {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return queue_.empty() && !summing_; });
        if (sum_error_) {
            std::exception_ptr e = sum_error_;
            sum_error_ = nullptr;
            std::rethrow_exception(e);
        }
    }

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    std::string describe() const override { return fmt::format("MPI ({}), {} ranks", library_, size_); }

    void sum(double* data, int64_t n) override { all_reduce(data, n, MPI_DOUBLE, "a sum of losses and counts"); }

    void sum_parts(float* data, const std::vector<int64_t>& counts) override {
        const Layout l = layout(counts);
        Waiting w(*this, "the sum of the gradients");
        // One reduction to each part's rank: MPI_Reduce_scatter would stage the whole buffer in a
        // temporary copy, the memory that sharding saves.
        for (int r = 0; r < size_; r++) {
            float* part = data + l.offsets[r];
            check(MPI_Reduce(r == rank_ ? MPI_IN_PLACE : part, part, l.counts[r], MPI_FLOAT, MPI_SUM, r, MPI_COMM_WORLD),
                  "MPI_Reduce");
        }
    }

    void share_parts(float* data, const std::vector<int64_t>& counts) override {
        const Layout l = layout(counts);
        Waiting w(*this, "the gathering of the parameters");
        check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, l.counts.data(), l.offsets.data(), MPI_FLOAT,
                             MPI_COMM_WORLD),
              "MPI_Allgatherv");
    }

    void collect_parts(const float* part, float* whole, const std::vector<int64_t>& counts) override {
        const Layout l = layout(counts);
        Waiting w(*this, "the gathering of the optimizer state");
        check(MPI_Gatherv(part, l.counts[rank_], MPI_FLOAT, whole, l.counts.data(), l.offsets.data(), MPI_FLOAT, 0,
                          MPI_COMM_WORLD),
              "MPI_Gatherv");
    }

    std::vector<uint64_t> gather(uint64_t value) override {
        std::vector<uint64_t> all(static_cast<size_t>(size_));
        Waiting w(*this, "a gather of one value per rank");
        check(MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD), "MPI_Allgather");
        return all;
    }

    [[noreturn]] void abort(int code) override {
        MPI_Abort(MPI_COMM_WORLD, code);
        _exit(code);
    }

  private:
    // Marks the time a collective waits, for the watchdog.
    struct Waiting {
        MpiWorld& world;
        Waiting(MpiWorld& w, const char* what) : world(w) {
            world.what_.store(what);
            world.since_.store(Clock::now().time_since_epoch().count());
        }
        ~Waiting() { world.since_.store(0); }
    };

    // MPI's int counts and offsets of consecutive parts.
    struct Layout {
        std::vector<int> counts, offsets;
    };
    Layout layout(const std::vector<int64_t>& counts) const {
        if (static_cast<int>(counts.size()) != size_) fail("{} parts given for {} ranks", counts.size(), size_);
        Layout l;
        int64_t at = 0;
        for (const int64_t c : counts) {
            if (c < 0 || at + c > std::numeric_limits<int>::max()) {
                fail("a buffer of more than {} values cannot be cut into MPI's parts", std::numeric_limits<int>::max());
            }
            l.counts.push_back(static_cast<int>(c));
            l.offsets.push_back(static_cast<int>(at));
            at += c;
        }
        return l;
    }

    void all_reduce(void* data, int64_t n, MPI_Datatype type, const char* what) {
        Waiting w(*this, what);
        constexpr int64_t kMaxCount = int64_t{1} << 30;  // MPI counts are int
        char* bytes = static_cast<char*>(data);
        int size = 0;
        MPI_Type_size(type, &size);
        for (int64_t at = 0; at < n; at += kMaxCount) {
            const int count = static_cast<int>(std::min(kMaxCount, n - at));
            check(MPI_Allreduce(MPI_IN_PLACE, bytes + at * size, count, type, MPI_SUM, MPI_COMM_WORLD),
                  "MPI_Allreduce");
        }
    }

    void check(int status, const char* call) const {
        if (status != MPI_SUCCESS) {
            char text[MPI_MAX_ERROR_STRING];
            int length = 0;
            MPI_Error_string(status, text, &length);
            fail("rank {}: {} failed: {}", rank_, call, std::string(text, static_cast<size_t>(length)));
        }
    }

    // The summing thread: the queued sums in order.
    void sum_queued() {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            const Queued q = queue_.front();
            queue_.pop_front();
            summing_ = true;
            const bool failed_before = sum_error_ != nullptr;  // after a failure the rest are dropped
            lock.unlock();
            std::exception_ptr error;
            try {
                if (!failed_before) all_reduce(q.data, q.n, MPI_FLOAT, "the sum of the gradients");
            } catch (...) {
                error = std::current_exception();
            }
            lock.lock();
            if (error) sum_error_ = error;
            summing_ = false;
            changed_.notify_all();
        }
    }

    void watch() {
        std::unique_lock<std::mutex> lock(mutex_);
        while (!changed_.wait_for(lock, std::chrono::milliseconds(250), [&] { return stopping_; })) {
            const auto since = since_.load();
            if (since == 0) continue;
            const double waited =
                std::chrono::duration<double>(Clock::now().time_since_epoch() - Clock::duration(since)).count();
            if (waited > timeout_s_) {
                std::fprintf(stderr,
                             "rank %d: error: waited %.0f s for the other ranks in %s (--rank-timeout %g); one of "
                             "them has stopped answering, so this rank ends the job\n",
                             rank_, waited, what_.load(), timeout_s_);
                std::fflush(stderr);
                _exit(3);
            }
        }
    }

    double timeout_s_;
    int rank_ = 0, size_ = 1;
    std::string library_;
    std::atomic<Clock::rep> since_{0};
    std::atomic<const char*> what_{""};
    std::mutex mutex_;
    std::condition_variable changed_;
    bool stopping_ = false;
    std::thread watchdog_;
    struct Queued {
        float* data;
        int64_t n;
    };
    std::deque<Queued> queue_;  // sums started, not yet begun
    bool summing_ = false;
    std::exception_ptr sum_error_;
    std::thread summer_;
};

}  // namespace

bool mpi_available() { return true; }

std::unique_ptr<Communicator> join_mpi(const LaunchOptions& options) { return std::make_unique<MpiWorld>(options); }

}  // namespace vit
