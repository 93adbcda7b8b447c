// The single-process communicator and the choice of communicator for a launch.
#include "vit/communicator.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "dist/mpi_communicator.h"
#include "vit/error.h"

namespace vit {

namespace {

class SingleProcess final : public Communicator {
  public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    std::string describe() const override { return "one process"; }
    void sum(double*, int64_t) override {}
    void start_sum(float*, int64_t) override {}
    void wait_sums() override {}
    void sum_parts(float*, const std::vector<int64_t>&) override {}
    void share_parts(float*, const std::vector<int64_t>&) override {}
    void collect_parts(const float* part, float* whole, const std::vector<int64_t>& counts) override {
        std::copy_n(part, counts.at(0), whole);
    }
    std::vector<uint64_t> gather(uint64_t value) override { return {value}; }
    [[noreturn]] void abort(int code) override { std::exit(code); }
};

// The world size a launcher announced in the environment (Open MPI, MPICH/Hydra), or 0.
int announced_size() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"}) {
        if (const char* v = std::getenv(name)) {
            char* end = nullptr;
            const long n = std::strtol(v, &end, 10);
            if (end != v && *end == '\0' && n >= 1 && n <= (1 << 20)) return static_cast<int>(n);
        }
    }
    return 0;
}

}  // namespace

Communicator& single_process() {
    static SingleProcess one;
    return one;
}

bool launched_by_mpi() { return announced_size() > 0 || std::getenv("PMIX_RANK") != nullptr; }

std::unique_ptr<Communicator> join_launch(const LaunchOptions& options) {
    const int size = announced_size();
    if (!launched_by_mpi() || size == 1) {
        return std::make_unique<SingleProcess>();
    }
    if (!mpi_available()) {
        fail("mpirun started {} ranks, but this vit was built without MPI and cannot join them; install Open MPI "
             "(apt install libopenmpi-dev openmpi-bin, or scripts/install_deps.sh) and rebuild",
             size > 0 ? std::to_string(size) : std::string("several"));
    }
    return join_mpi(options);
}

}  // namespace vit
