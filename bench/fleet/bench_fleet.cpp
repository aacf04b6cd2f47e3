// bench_fleet: load on one ferry-server's fleet API. Starts the server (loopback, port 0) on a
// fresh database, provisions N devices, rolls a release out to all of them, then simulates the
// devices: each polls its assignment with If-None-Match every PERIOD seconds (divided by
// --compress, to pack more time into the run) and every --events-every-th poll posts a batch of
// two events. Prints requests/s, p50/p99/max latency, and the server's peak RSS and CPU. With
// --stalled N, N connections that never send a byte (from 127.0.0.2 and on) are held through the
// run, and their cost in server memory is printed beside the bound in docs/server.md.
//
//   bench_fleet [--devices 10000] [--period 60] [--compress 1] [--duration 30] [--workers 32]
//               [--stalled 0] [--server PATH]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ferry/core/unique_fd.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

const char* kOperatorToken = "8f2c1d9e4b7a6053f1e2d3c4b5a69788e7d6c5b4a3928170f6e5d4c3b2a19080";
pid_t server_pid = -1;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "bench_fleet: %s\n", message.c_str());
  if (server_pid > 0) {
    ::kill(server_pid, SIGTERM);
  }
  std::_Exit(1);
}

// One keep-alive HTTP/1.1 connection to 127.0.0.1:port, blocking.
class Conn {
 public:
  explicit Conn(int port) : port_(port) {}

  // Sends one request; returns the status and fills `body` and `etag`. 0 on a transport error.
  int Request(const std::string& method, const std::string& path, const std::string& token,
              const std::string& body, const std::string& if_none_match, std::string& out_body,
              std::string& out_etag) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!fd_.valid() && !Connect()) {
        return 0;
      }
      std::string req = method + " " + path + " HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer " +
                        token + "\r\n";
      if (!if_none_match.empty()) {
        req += "If-None-Match: " + if_none_match + "\r\n";
      }
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      if (!SendAll(req)) {
        Close();
        continue;
      }
      const int status = ReadResponse(out_body, out_etag);
      if (status == 0) {
        Close();
        continue;
      }
      return status;
    }
    return 0;
  }

 private:
  bool Connect() {
    fd_.Reset(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Close();
      return false;
    }
    int one = 1;
    ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    buffer_.clear();
    return true;
  }
  void Close() { fd_.Reset(); }
  bool SendAll(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::send(fd_.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    return true;
  }
  bool Fill() {
    char buf[16384];
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n <= 0) {
      return false;
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  int ReadResponse(std::string& body, std::string& etag) {
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) {
        return 0;
      }
    }
    const std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    if (head.size() < 12) {
      return 0;
    }
    const int status = std::atoi(head.c_str() + 9);
    std::size_t length = 0;
    etag.clear();
    std::istringstream lines(head);
    std::string line;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      std::string lower = line;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      if (lower.starts_with("content-length:")) {
        length = std::strtoul(line.c_str() + 15, nullptr, 10);
      } else if (lower.starts_with("etag:")) {
        etag = line.substr(line.find_first_not_of(' ', 5));
      }
    }
    while (buffer_.size() < length) {
      if (!Fill()) {
        return 0;
      }
    }
    body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return status;
  }

  int port_;
  ferry::UniqueFd fd_;
  std::string buffer_;
};

struct SimDevice {
  std::string token;
  std::string etag;
  std::int64_t sequence = 0;
  int polls = 0;
};

struct Job {
  Clock::time_point due;
  std::size_t device;
  bool operator>(const Job& other) const { return due > other.due; }
};

std::string Arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == name) {
      return argv[i + 1];
    }
  }
  return def;
}

long ProcField(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key)) {
      return std::atol(line.c_str() + key.size());
    }
  }
  return -1;
}

double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14 || i == 15) {
      ticks += std::atof(f.c_str());
    }
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) {
    return 0;
  }
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  const int devices = std::atoi(Arg(argc, argv, "--devices", "10000").c_str());
  const double period = std::atof(Arg(argc, argv, "--period", "60").c_str());
  const double compress = std::atof(Arg(argc, argv, "--compress", "1").c_str());
  const double duration = std::atof(Arg(argc, argv, "--duration", "30").c_str());
  const int workers = std::atoi(Arg(argc, argv, "--workers", "32").c_str());
  const int events_every = std::atoi(Arg(argc, argv, "--events-every", "5").c_str());
  const int stalled = std::atoi(Arg(argc, argv, "--stalled", "0").c_str());
  const std::string server = Arg(argc, argv, "--server", FERRY_SERVER_PATH);

  const auto dir =
      std::filesystem::temp_directory_path() / ("bench-fleet-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "repo");
  std::ofstream(dir / "operator.token") << kOperatorToken << "\n";

  int out_pipe[2];
  if (::pipe(out_pipe) != 0) {
    return 1;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::close(out_pipe[0]);
    const std::string db = (dir / "fleet.db").string();
    const std::string tok = (dir / "operator.token").string();
    const std::string repo = (dir / "repo").string();
    ::execl(server.c_str(), server.c_str(), "--log-level", "warn", "serve", "--repo", repo.c_str(),
            "--listen", "127.0.0.1:0", "--threads", "2", "--fleet-db", db.c_str(),
            "--operator-token-file", tok.c_str(), "--device-rate", "1000", "--device-burst", "1000",
            "--operator-rate", "100000", "--operator-burst", "100000", "--device-event-rate",
            "1000", "--device-event-burst", "1000", "--max-connections-per-peer", "100000",
            "--header-timeout", "3600", static_cast<char*>(nullptr));
    std::perror("exec ferry-server");
    std::_Exit(127);
  }
  server_pid = pid;
  ::close(out_pipe[1]);
  std::string line;
  char c;
  while (::read(out_pipe[0], &c, 1) == 1 && c != '\n') {
    line.push_back(c);
  }
  std::smatch m;
  if (!std::regex_search(line, m, std::regex(":([0-9]+)$"))) {
    Die("ferry-server did not start: " + line);
  }
  const int port = std::stoi(m[1].str());

  // Provision.
  std::vector<SimDevice> sim(static_cast<std::size_t>(devices));
  const auto provision_start = Clock::now();
  {
    std::atomic<int> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        Conn conn(port);
        std::string body, etag;
        for (int i = next++; i < devices; i = next++) {
          const json req = {{"id", "dev-" + std::to_string(i)}, {"tags", {"bench"}}};
          if (conn.Request("POST", "/v1/devices", kOperatorToken, req.dump(), "", body, etag) !=
              201) {
            Die("provisioning failed: " + body);
          }
          sim[static_cast<std::size_t>(i)].token = json::parse(body)["token"];
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
  }
  const double provision_s = std::chrono::duration<double>(Clock::now() - provision_start).count();
  // Stalled peers, spread over many addresses as a botnet would be, held for the whole run.
  std::vector<int> stalled_fds;
  const long rss_before_stalled = ProcField(pid, "VmRSS:");
  for (int i = 0; i < stalled; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl(0x7f000002u + static_cast<std::uint32_t>(i % 200));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      Die("cannot open stalled connection " + std::to_string(i) + ": " + std::strerror(errno));
    }
    stalled_fds.push_back(fd);
  }
  // Accepted after the stalled ones: once it is answered, they are all held by the server.
  {
    Conn conn(port);
    std::string body, etag;
    const json req = {{"app", "web"}, {"version", "2.0.0"}, {"tags", {"bench"}}, {"phases", {100}}};
    if (conn.Request("POST", "/v1/deployments", kOperatorToken, req.dump(), "", body, etag) !=
        201) {
      Die("deployment failed: " + body);
    }
  }

  const long rss_with_stalled = ProcField(pid, "VmRSS:");

  // Simulate: each device polls every period/compress seconds, phase-shifted at random.
  const double interval = period / compress;
  std::priority_queue<Job, std::vector<Job>, std::greater<>> queue;
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> offset(0, interval);
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  for (std::size_t i = 0; i < sim.size(); ++i) {
    queue.push({start + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(offset(rng))),
                i});
  }
  const auto stop =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration));
  std::mutex mu;
  std::vector<double> poll_ms, event_ms;
  std::atomic<long> errors{0}, not_modified{0}, lag_ms_max{0};
  const double cpu_before = CpuSeconds(pid);
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      Conn conn(port);
      std::vector<double> my_poll, my_events;
      std::string body, etag;
      for (;;) {
        Job job;
        {
          std::lock_guard lock(mu);
          if (queue.empty() || queue.top().due >= stop) {
            break;
          }
          job = queue.top();
          queue.pop();
          queue.push({job.due + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(interval)),
                      job.device});
        }
        std::this_thread::sleep_until(job.due);
        SimDevice& d = sim[job.device];
        const auto t0 = Clock::now();
        const long lag =
            std::chrono::duration_cast<std::chrono::milliseconds>(t0 - job.due).count();
        if (lag > lag_ms_max) {
          lag_ms_max = lag;
        }
        const int status =
            conn.Request("GET", "/v1/device/assignment", d.token, "", d.etag, body, etag);
        my_poll.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (status == 200) {
          d.etag = etag;
        } else if (status == 304) {
          ++not_modified;
        } else {
          ++errors;
        }
        if (++d.polls % events_every == 0) {
          const json events = json::array({{{"sequence", ++d.sequence},
                                            {"kind", "downloading"},
                                            {"app", "web"},
                                            {"version", "2.0.0"}},
                                           {{"sequence", ++d.sequence},
                                            {"kind", "committed"},
                                            {"app", "web"},
                                            {"version", "2.0.0"}}});
          const auto t1 = Clock::now();
          if (conn.Request("POST", "/v1/device/events", d.token, events.dump(), "", body, etag) !=
              200) {
            ++errors;
          }
          my_events.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t1).count());
        }
      }
      std::lock_guard lock(mu);
      poll_ms.insert(poll_ms.end(), my_poll.begin(), my_poll.end());
      event_ms.insert(event_ms.end(), my_events.begin(), my_events.end());
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = CpuSeconds(pid) - cpu_before;
  const long rss_kb = ProcField(pid, "VmHWM:");
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  for (const int fd : stalled_fds) {
    ::close(fd);
  }
  std::filesystem::remove_all(dir);

  std::vector<double> all = poll_ms;
  all.insert(all.end(), event_ms.begin(), event_ms.end());
  const double total = static_cast<double>(all.size());
  std::printf(
      "fleet bench: %d devices, poll every %.0f s (x%.0f compressed: every %.2f s), "
      "events every %d polls, %d client connections, %.0f s\n",
      devices, period, compress, interval, events_every, workers, elapsed);
  std::printf("provisioning:   %d devices in %.1f s (%.0f/s)\n", devices, provision_s,
              devices / provision_s);
  std::printf("requests:       %.0f (%.0f/s): %zu polls (%ld 304), %zu event batches, %ld errors\n",
              total, total / elapsed, poll_ms.size(), not_modified.load(), event_ms.size(),
              errors.load());
  std::printf("poll latency:   p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", Percentile(poll_ms, 0.5),
              Percentile(poll_ms, 0.99), *std::max_element(poll_ms.begin(), poll_ms.end()));
  if (!event_ms.empty()) {
    std::printf("events latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                Percentile(event_ms, 0.5), Percentile(event_ms, 0.99),
                *std::max_element(event_ms.begin(), event_ms.end()));
  }
  std::printf("all requests:   p50 %.2f ms, p99 %.2f ms; client lag behind schedule max %ld ms\n",
              Percentile(all, 0.5), Percentile(all, 0.99), lag_ms_max.load());
  std::printf("server:         peak RSS %.1f MiB, CPU %.1f s over %.0f s (%.0f%% of one core)\n",
              static_cast<double>(rss_kb) / 1024.0, cpu, elapsed, 100.0 * cpu / elapsed);
  if (stalled > 0) {
    std::printf(
        "stalled peers:  %d silent connections held, %.1f KB of server RSS each "
        "(bound 16 KB, docs/server.md)\n",
        stalled, static_cast<double>(rss_with_stalled - rss_before_stalled) / stalled);
  }
  return errors.load() == 0 ? 0 : 1;
}
