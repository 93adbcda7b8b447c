// The processes that train one model together and the collective operations between them. One
// process is a communicator of size 1 whose operations do nothing; `mpirun -np N vit train` gives
// MPI's world of N ranks. A GPU backend would add its own (NCCL's) behind the same interface.
//
// Example:
//   std::unique_ptr<vit::Communicator> ranks = vit::join_launch({.timeout_s = 600});
//   ranks->start_sum(model.grad_data(), n);
//   ranks->wait_sums();  // every rank now holds the sum of all ranks' gradients
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vit {

class Communicator {
  public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // "one process", or the transport: "MPI (Open MPI v4.1.4), 2 ranks".
    virtual std::string describe() const = 0;

    // data[i] = the sum over the ranks of data[i], on every rank. The order of the sum depends only
    // on the number of ranks, so a run repeats bit for bit.
    virtual void sum(double* data, int64_t n) = 0;
    // Sums that overlap with computing: start_sum queues data[0, n) for a sum over the ranks
    // (as sum() does in place), done in order by the communicator's own thread; wait_sums returns when every
    // queued sum is done, rethrowing a failure. Between the first start_sum and wait_sums the
    // caller makes no other collective call and leaves the queued data alone.
    virtual void start_sum(float* data, int64_t n) = 0;
    virtual void wait_sums() = 0;
    // For a buffer cut into consecutive parts, counts[r] values for rank r:
    // sum_parts: rank r's part r becomes that part summed over the ranks (a reduce-scatter; the
    //   other parts are left undefined);
    // share_parts: every rank's part r becomes rank r's (an all-gather);
    // collect_parts: rank 0's `whole` gets every rank's `part` in rank order (a gather).
    virtual void sum_parts(float* data, const std::vector<int64_t>& counts) = 0;
    virtual void share_parts(float* data, const std::vector<int64_t>& counts) = 0;
    virtual void collect_parts(const float* part, float* whole, const std::vector<int64_t>& counts) = 0;
    // Every rank's `value`, indexed by rank.
    virtual std::vector<uint64_t> gather(uint64_t value) = 0;
    // Ends every rank's process with `code`: after an error on one rank, the others would wait for
    // it in their next collective forever.
    [[noreturn]] virtual void abort(int code) = 0;
};

// The single process: rank 0 of 1.
Communicator& single_process();

struct LaunchOptions {
    // A collective that waits longer than this for the other ranks ends the job with a message:
    // a rank that stopped answering (stopped, swapping, a dead host) would otherwise hang the rest.
    double timeout_s = 600.0;
};

// True when this process was started by mpirun/mpiexec (Open MPI, MPICH or any PMIx launcher).
bool launched_by_mpi();
// MPI's world when launched by mpirun with more than one rank (initialising MPI), else a
// communicator of one process. Throws vit::Error when mpirun started several ranks of a build
// without MPI, saying how to get it.
std::unique_ptr<Communicator> join_launch(const LaunchOptions& options);

}  // namespace vit
