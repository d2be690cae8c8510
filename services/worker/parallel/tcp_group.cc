#include "services/worker/parallel/tcp_group.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tessera::parallel {
namespace {

constexpr uint32_t kHandshakeMagic = 0x54505331;  // "TPS1"

struct Handshake {
  uint32_t magic;
  int32_t rank;
  int32_t world_size;
};

absl::Status ErrnoError(std::string_view what) {
  return absl::UnavailableError(absl::StrCat(std::string(what), ": ", std::strerror(errno)));
}

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) || port <= 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("\"", address, "\" is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::make_pair(host, port);
}

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpGroup>> TcpGroup::Listen(const std::string& host, int port, int world_size,
                                                           std::chrono::milliseconds peer_timeout) {
  if (world_size < 1) return absl::InvalidArgumentError("tensor-parallel size must be at least 1");
  std::unique_ptr<TcpGroup> group(new TcpGroup(0, world_size, peer_timeout));
  group->fds_.assign(world_size, -1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(port);
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port_text.c_str(), &hints, &found); rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot resolve \"", host, "\": ", gai_strerror(rc)));
  }
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(found);
    return ErrnoError("socket");
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, world_size + 4) != 0) {
    absl::Status status = ErrnoError(absl::StrCat("tensor-parallel group: cannot listen on ", host, ":", port));
    freeaddrinfo(found);
    close(fd);
    return status;
  }
  freeaddrinfo(found);
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  const int bound_port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  group->listen_fd_ = fd;
  group->address_ = absl::StrCat(host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host, ":",
                                 bound_port);
  return group;
}

absl::Status TcpGroup::AcceptFollowers(std::chrono::steady_clock::time_point deadline) {
  // Counted from the links already made, so that a caller may wait in several shorter rounds.
  int connected = 0;
  for (int r = 1; r < world_size_; ++r) connected += fds_[r] >= 0 ? 1 : 0;
  while (connected < world_size_ - 1) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError(absl::StrCat("tensor-parallel group: only ", connected, " of ",
                                                      world_size_ - 1, " followers joined in time"));
    }
    pollfd waiting{listen_fd_, POLLIN, 0};
    const int ready = poll(&waiting, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) return ErrnoError("poll");
    if (ready <= 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    SetNoDelay(fd);
    // A connection that does not introduce itself properly is dropped; the rank it claims must be free.
    Handshake hello{};
    pollfd readable{fd, POLLIN, 0};
    if (poll(&readable, 1, 5000) != 1 || recv(fd, &hello, sizeof(hello), MSG_WAITALL) != sizeof(hello) ||
        hello.magic != kHandshakeMagic) {
      close(fd);
      continue;
    }
    uint8_t verdict = 1;
    if (hello.world_size != world_size_ || hello.rank <= 0 || hello.rank >= world_size_ || fds_[hello.rank] >= 0) {
      verdict = 0;
      send(fd, &verdict, 1, MSG_NOSIGNAL);
      close(fd);
      std::fprintf(stderr, "tensor-parallel group: refused a follower claiming rank %d of %d\n", hello.rank,
                   hello.world_size);
      continue;
    }
    if (send(fd, &verdict, 1, MSG_NOSIGNAL) != 1) {
      close(fd);
      continue;
    }
    fds_[hello.rank] = fd;
    ++connected;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TcpGroup>> TcpGroup::Connect(const std::string& leader_address, int rank,
                                                            int world_size,
                                                            std::chrono::steady_clock::time_point connect_deadline,
                                                            std::chrono::milliseconds peer_timeout) {
  if (rank <= 0 || rank >= world_size) {
    return absl::InvalidArgumentError(absl::StrCat("follower rank ", rank, " is not in [1, ", world_size, ")"));
  }
  ASSIGN_OR_RETURN(auto host_port, SplitHostPort(leader_address));
  std::unique_ptr<TcpGroup> group(new TcpGroup(rank, world_size, peer_timeout));
  group->fds_.assign(1, -1);
  absl::Status last_error = absl::UnavailableError("not tried");
  while (std::chrono::steady_clock::now() < connect_deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port_text = std::to_string(host_port.second);
    if (int rc = getaddrinfo(host_port.first.c_str(), port_text.c_str(), &hints, &found); rc != 0) {
      last_error = absl::UnavailableError(absl::StrCat("cannot resolve ", host_port.first, ": ", gai_strerror(rc)));
    } else {
      const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
        freeaddrinfo(found);
        SetNoDelay(fd);
        const Handshake hello{kHandshakeMagic, rank, world_size};
        uint8_t verdict = 0;
        if (send(fd, &hello, sizeof(hello), MSG_NOSIGNAL) != sizeof(hello) ||
            recv(fd, &verdict, 1, MSG_WAITALL) != 1 || verdict != 1) {
          close(fd);
          return absl::FailedPreconditionError(
              absl::StrCat("the tensor-parallel leader at ", leader_address, " refused rank ", rank, " of ",
                           world_size, " (wrong size, or the rank is taken)"));
        }
        group->fds_[0] = fd;
        return group;
      }
      last_error = ErrnoError(absl::StrCat("connect to tensor-parallel leader ", leader_address));
      if (fd >= 0) close(fd);
      freeaddrinfo(found);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return absl::DeadlineExceededError(absl::StrCat("could not join the tensor-parallel leader at ", leader_address,
                                                  " in time: ", last_error.message()));
}

TcpGroup::~TcpGroup() { Close(); }

void TcpGroup::Close() {
  for (int& fd : fds_) {
    if (fd >= 0) {
      shutdown(fd, SHUT_RDWR);
      close(fd);
      fd = -1;
    }
  }
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
  if (broken_.ok()) broken_ = absl::UnavailableError("the tensor-parallel group was closed");
}

absl::Status TcpGroup::Fail(absl::Status status) {
  // One failed exchange leaves the streams out of step, so the group is unusable from then on.
  if (broken_.ok()) broken_ = status;
  for (int& fd : fds_) {
    if (fd >= 0) {
      shutdown(fd, SHUT_RDWR);
      close(fd);
      fd = -1;
    }
  }
  return status;
}

absl::Status TcpGroup::SendAll(int peer_rank, const void* data, size_t bytes) {
  const int fd = fds_[rank_ == 0 ? peer_rank : 0];
  const char* cursor = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t sent = send(fd, cursor, bytes, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) {
      return Fail(absl::UnavailableError(absl::StrCat("tensor-parallel rank ", peer_rank,
                                                      " is gone (send failed: ", std::strerror(errno), ")")));
    }
    cursor += sent;
    bytes -= static_cast<size_t>(sent);
  }
  return absl::OkStatus();
}

absl::Status TcpGroup::ReceiveAll(int peer_rank, void* data, size_t bytes, bool wait_forever) {
  const int fd = fds_[rank_ == 0 ? peer_rank : 0];
  char* cursor = static_cast<char*>(data);
  const auto deadline = std::chrono::steady_clock::now() + peer_timeout_;
  while (bytes > 0) {
    int wait_ms = -1;
    if (!wait_forever) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) {
        return Fail(absl::DeadlineExceededError(absl::StrCat("tensor-parallel rank ", peer_rank, " did not answer within ",
                                                             peer_timeout_.count(), " ms")));
      }
      wait_ms = static_cast<int>(left);
    }
    pollfd readable{fd, POLLIN, 0};
    const int ready = poll(&readable, 1, wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) continue;
    const ssize_t got = ready < 0 ? -1 : recv(fd, cursor, bytes, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      return Fail(absl::UnavailableError(absl::StrCat(
          "tensor-parallel rank ", peer_rank, " is gone (",
          got == 0 ? std::string("connection closed") : std::string(std::strerror(errno)), ")")));
    }
    cursor += got;
    bytes -= static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

absl::Status TcpGroup::Broadcast(std::string& message) {
  RETURN_IF_ERROR(broken_);
  if (rank_ == 0) {
    const uint64_t length = message.size();
    for (int r = 1; r < world_size_; ++r) {
      RETURN_IF_ERROR(SendAll(r, &length, sizeof(length)));
      RETURN_IF_ERROR(SendAll(r, message.data(), message.size()));
    }
    return absl::OkStatus();
  }
  uint64_t length = 0;
  RETURN_IF_ERROR(ReceiveAll(0, &length, sizeof(length), /*wait_forever=*/true));
  message.resize(length);
  return ReceiveAll(0, message.data(), length);
}

absl::Status TcpGroup::AllReduceSumF32(float* data, size_t count) {
  RETURN_IF_ERROR(broken_);
  if (world_size_ == 1) return absl::OkStatus();
  const size_t bytes = count * sizeof(float);
  if (rank_ == 0) {
    // Sum in rank order: rank 0's values, then rank 1's, ... so the result does not depend on arrival order.
    scratch_.resize(count);
    for (int r = 1; r < world_size_; ++r) {
      RETURN_IF_ERROR(ReceiveAll(r, scratch_.data(), bytes));
      for (size_t i = 0; i < count; ++i) data[i] += scratch_[i];
    }
    for (int r = 1; r < world_size_; ++r) RETURN_IF_ERROR(SendAll(r, data, bytes));
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(SendAll(0, data, bytes));
  return ReceiveAll(0, data, bytes);
}

absl::Status TcpGroup::AllGather(const void* data, size_t bytes, void* out) {
  RETURN_IF_ERROR(broken_);
  char* gathered = static_cast<char*>(out);
  if (rank_ == 0) {
    std::memcpy(gathered, data, bytes);
    for (int r = 1; r < world_size_; ++r) RETURN_IF_ERROR(ReceiveAll(r, gathered + r * bytes, bytes));
    for (int r = 1; r < world_size_; ++r) RETURN_IF_ERROR(SendAll(r, gathered, bytes * world_size_));
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(SendAll(0, data, bytes));
  return ReceiveAll(0, gathered, bytes * world_size_);
}

}  // namespace tessera::parallel
