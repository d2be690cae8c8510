#include "services/worker/tensor_parallel_launcher.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/worker/engine/engine_flags.h"
#ifdef TESSERA_HAVE_NCCL
#include "services/worker/parallel/nccl_communicator.h"
#endif

namespace tessera::worker {
namespace {

using Clock = std::chrono::steady_clock;

bool IsCudaDevice(const std::string& device) { return device == "cuda" || device.starts_with("cuda:"); }

// "cuda:3" → 3, "cuda" → 0.
int CudaIndex(const std::string& device) {
  int index = 0;
  if (device.size() > 5) std::from_chars(device.data() + 5, device.data() + device.size(), index);
  return index;
}

absl::StatusOr<int> TensorParallelSize(const CommandLine& flags) {
  ASSIGN_OR_RETURN(int64_t size, flags.GetInt("tensor-parallel-size", 1));
  if (size < 1 || size > 64) return absl::InvalidArgumentError("--tensor-parallel-size must be in [1, 64]");
  return static_cast<int>(size);
}

absl::StatusOr<std::chrono::seconds> JoinTimeout(const CommandLine& flags) {
  ASSIGN_OR_RETURN(int64_t seconds, flags.GetInt("tp-join-timeout", 600));
  if (seconds < 1) return absl::InvalidArgumentError("--tp-join-timeout must be at least 1 second");
  return std::chrono::seconds(seconds);
}

// The command line of follower `rank`: the leader's engine flags with this rank's device, and the local
// rendezvous address. Service flags (ports, registration, metrics) stay with the leader, the only rank clients see.
std::vector<std::string> FollowerArguments(const CommandLine& flags, const std::vector<FlagSpec>& engine_specs,
                                           const engine::EngineConfig& config, int rank, int size,
                                           int rendezvous_port) {
  std::vector<std::string> args = {"tessera-worker"};
  for (const FlagSpec& spec : engine_specs) {
    if (!flags.Has(spec.name) || spec.name == "model" || spec.name == "device") continue;
    args.push_back("--" + spec.name);
    if (spec.takes_value) args.push_back(flags.GetString(spec.name));
  }
  args.insert(args.end(), {"--model", config.model, "--device",
                           IsCudaDevice(config.device) ? absl::StrCat("cuda:", CudaIndex(config.device) + rank) : "cpu",
                           "--tensor-parallel-size", std::to_string(size), "--tp-rank", std::to_string(rank),
                           "--leader", absl::StrCat("127.0.0.1:", rendezvous_port)});
  if (flags.Has("tp-join-timeout")) args.insert(args.end(), {"--tp-join-timeout", flags.GetString("tp-join-timeout")});
  return args;
}

absl::StatusOr<pid_t> SpawnFollower(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("cannot start a follower process: ", std::strerror(errno)));
  if (pid == 0) {
    // A follower never outlives its leader, even one killed outright.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv("/proc/self/exe", argv.data());
    std::fprintf(stderr, "tessera-worker: cannot start a follower: %s\n", std::strerror(errno));
    _exit(127);
  }
  return pid;
}

}  // namespace

std::vector<FlagSpec> TensorParallelFlagSpecs() {
  return {
      {"tensor-parallel-size", true, "ranks (GPUs or CPU processes) the model is split over (default 1)"},
      {"tp-followers", true,
       "leader: 'spawn' (default) starts one follower process per further rank on this host; 'external' waits "
       "for followers started with --tp-rank and --leader"},
      {"tp-rendezvous-port", true, "leader: port followers join through (default: any free port)"},
      {"tp-rank", true, "this process's rank in its group; > 0 makes it a follower (needs --leader)"},
      {"leader", true, "follower: host:port of the leader's rendezvous"},
      {"tp-join-timeout", true, "seconds a group may take to form (default 600)"},
  };
}

bool IsTensorParallelFollower(const CommandLine& flags) {
  return flags.Has("tp-rank") && flags.GetString("tp-rank") != "0";
}

absl::StatusOr<std::unique_ptr<TensorParallelLeader>> TensorParallelLeader::Start(
    const CommandLine& flags, const std::vector<FlagSpec>& engine_specs, engine::EngineConfig& config,
    const std::string& host) {
  ASSIGN_OR_RETURN(const int size, TensorParallelSize(flags));
  config.tensor_parallel_size = size;
  const bool cuda = IsCudaDevice(config.device);
  // A whole model needs no group: a one-rank NCCL all-reduce would only add two launches per layer to every step
  // (the one-rank NCCL path is covered by services_worker_engine_tensor_parallel_test on a GPU).
  if (size == 1) return std::unique_ptr<TensorParallelLeader>();
#ifndef TESSERA_HAVE_NCCL
  if (cuda) {
    return absl::UnimplementedError("tensor parallelism on GPUs needs NCCL, which this binary was built without");
  }
#endif
  const std::string mode = flags.GetString("tp-followers", "spawn");
  if (mode != "spawn" && mode != "external") {
    return absl::InvalidArgumentError(absl::StrCat("--tp-followers '", mode, "' is not one of spawn, external"));
  }
  const bool spawn = mode == "spawn";
  std::unique_ptr<TensorParallelLeader> leader(new TensorParallelLeader());
  ASSIGN_OR_RETURN(leader->join_timeout_, JoinTimeout(flags));
  // Spawned followers live on this host, so the group's links stay on loopback.
  const std::string links_host = spawn ? "127.0.0.1" : host;
  ASSIGN_OR_RETURN(leader->links_, parallel::TcpGroup::Listen(links_host, 0, size));
  leader->group_.links = leader->links_.get();
#ifdef TESSERA_HAVE_NCCL
  if (cuda) {
    ASSIGN_OR_RETURN(leader->group_.nccl_unique_id, parallel::CreateNcclUniqueId());
  }
#endif
  ASSIGN_OR_RETURN(int64_t rendezvous_port, flags.GetInt("tp-rendezvous-port", 0));
  if (rendezvous_port < 0 || rendezvous_port > 65535) {
    return absl::InvalidArgumentError("--tp-rendezvous-port must be in [0, 65535]");
  }
  RendezvousInfo info;
  // Followers reach the links at the leader's own host, which they know already.
  info.group_address = absl::StrCat(":", leader->links_->address().substr(leader->links_->address().rfind(':') + 1));
  info.nccl_unique_id = leader->group_.nccl_unique_id;
  info.world_size = size;
  info.model = config.model;
  info.device = cuda ? "cuda" : "cpu";
  ASSIGN_OR_RETURN(leader->rendezvous_, RendezvousServer::Start(spawn ? "127.0.0.1" : host,
                                                                static_cast<int>(rendezvous_port), info));
  std::fprintf(stderr, "tessera-worker: tensor-parallel leader of %d rank(s) on %s, rendezvous on port %d\n", size,
               info.device.c_str(), leader->rendezvous_->port());
  if (spawn) {
    for (int rank = 1; rank < size; ++rank) {
      ASSIGN_OR_RETURN(pid_t pid, SpawnFollower(FollowerArguments(flags, engine_specs, config, rank, size,
                                                                  leader->rendezvous_->port())));
      leader->children_.push_back(pid);
    }
  }
  return leader;
}

absl::Status TensorParallelLeader::AwaitFollowers() {
  const auto deadline = Clock::now() + join_timeout_;
  while (true) {
    absl::Status status = links_->AcceptFollowers(std::min(deadline, Clock::now() + std::chrono::seconds(1)));
    if (status.ok()) return status;
    // A follower that exits while the group forms (bad flags, out of memory) will never join: fail now.
    for (pid_t pid : children_) {
      int wait_status = 0;
      if (waitpid(pid, &wait_status, WNOHANG) == pid) {
        children_.erase(std::find(children_.begin(), children_.end(), pid));
        return absl::FailedPreconditionError(absl::StrCat(
            "a tensor-parallel follower process exited before joining (",
            WIFEXITED(wait_status) ? absl::StrCat("exit code ", WEXITSTATUS(wait_status))
                                   : absl::StrCat("signal ", WTERMSIG(wait_status)),
            "); see its messages above"));
      }
    }
    if (Clock::now() >= deadline) return status;
  }
}

TensorParallelLeader::~TensorParallelLeader() {
  rendezvous_.reset();
  if (links_) links_->Close();
  // The engine's teardown told the followers to stop; give them a moment, then make sure.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  for (pid_t pid : children_) {
    while (waitpid(pid, nullptr, WNOHANG) == 0) {
      if (Clock::now() >= deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

absl::Status RunTensorParallelFollower(const CommandLine& flags, engine::EngineConfig config) {
  ASSIGN_OR_RETURN(const int size, TensorParallelSize(flags));
  ASSIGN_OR_RETURN(int64_t rank, flags.GetInt("tp-rank", 0));
  ASSIGN_OR_RETURN(const std::chrono::seconds timeout, JoinTimeout(flags));
  if (rank < 1 || rank >= size) {
    return absl::InvalidArgumentError(absl::StrCat("--tp-rank ", rank, " is not in [1, ", size, ")"));
  }
  const std::string leader = flags.GetString("leader");
  if (leader.empty()) return absl::InvalidArgumentError("a follower (--tp-rank > 0) needs --leader HOST:PORT");
  config.tensor_parallel_size = size;
  const bool cuda = IsCudaDevice(config.device);
  const auto deadline = Clock::now() + timeout;
  ASSIGN_OR_RETURN(tessera::v1::JoinResponse joined,
                   JoinTensorParallelGroup(leader, static_cast<int>(rank), size, config.model, cuda ? "cuda" : "cpu",
                                           deadline));
  std::string address = joined.group_address();
  if (address.starts_with(":")) address = leader.substr(0, leader.rfind(':')) + address;
  ASSIGN_OR_RETURN(std::unique_ptr<parallel::TcpGroup> links,
                   parallel::TcpGroup::Connect(address, static_cast<int>(rank), size, deadline));
  std::unique_ptr<grpc::Server> health;
  if (flags.Has("port")) {
    ASSIGN_OR_RETURN(int64_t port, flags.GetInt("port", 0));
    int bound = 0;
    ASSIGN_OR_RETURN(health, StartHealthServer(flags.GetString("host", "0.0.0.0"), static_cast<int>(port), &bound));
    std::fprintf(stderr, "tessera-worker: rank %lld health on port %d\n", static_cast<long long>(rank), bound);
  }
  engine::TensorParallelGroup group{links.get(), joined.nccl_unique_id()};
  ASSIGN_OR_RETURN(std::unique_ptr<engine::LLMEngine> engine, engine::LLMEngine::Create(config, &group));
  std::fprintf(stderr, "tessera-worker: tensor-parallel rank %lld of %d on %s:\n", static_cast<long long>(rank), size,
               config.device.c_str());
  engine::LogEngineInfo(*engine);
  absl::Status status = engine->ServeFollower();
  if (health) health->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("tensor-parallel rank ", rank, " lost its leader: ", status.message()));
  }
  std::fprintf(stderr, "tessera-worker: rank %lld stopped with its leader\n", static_cast<long long>(rank));
  return absl::OkStatus();
}

}  // namespace tessera::worker
