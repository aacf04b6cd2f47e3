#include "ferry/core/crashpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace ferry {
namespace {

struct Registry {
  std::mutex mu;
  std::vector<std::string_view> names;
};

Registry& GetRegistry() {
  static Registry registry;
  return registry;
}

struct Selection {
  std::string name;
  bool pause = false;  // hold the thread instead of exiting
  long target = 1;     // exit the n-th time the point is passed
  std::atomic<long> hits{0};
  std::mutex mu;
  std::condition_variable released_cv;
  bool released = false;
};

// Read once: the environment of a running process does not change under it.
Selection* GetSelection() {
  static Selection* selection = []() -> Selection* {
    const char* env = std::getenv("FERRY_CRASHPOINT");
    if (env == nullptr || *env == '\0') {
      return nullptr;
    }
    auto* s = new Selection();  // lives for the whole process
    std::string_view spec(env);
    if (spec.ends_with("@pause")) {
      s->pause = true;
      spec.remove_suffix(6);
    }
    if (const auto colon = spec.rfind(':'); colon != std::string_view::npos) {
      long n = 0;
      const auto tail = spec.substr(colon + 1);
      if (std::from_chars(tail.data(), tail.data() + tail.size(), n).ec == std::errc() && n > 0) {
        s->target = n;
        spec = spec.substr(0, colon);
      }
    }
    s->name = std::string(spec);
    return s;
  }();
  return selection;
}

// FERRY_CRASHPOINT_TRACE=path: every point passed appends its name and a newline to that file, so
// that a test learns which points a run reaches and how often (and so which n to ask for).
int TraceFd() {
  static const int fd = [] {
    const char* path = std::getenv("FERRY_CRASHPOINT_TRACE");
    if (path == nullptr || *path == '\0') {
      return -1;
    }
    return ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  }();
  return fd;
}

void Trace(std::string_view name) {
  const int fd = TraceFd();
  if (fd < 0) {
    return;
  }
  std::string line(name);
  line += '\n';
  // One write of one short line to an O_APPEND file: lines of concurrent threads do not mix.
  (void)!::write(fd, line.data(), line.size());
}

}  // namespace

CrashpointName::CrashpointName(std::string_view point_name) : name(point_name) {
  auto& registry = GetRegistry();
  std::lock_guard lock(registry.mu);
  if (std::find(registry.names.begin(), registry.names.end(), point_name) == registry.names.end()) {
    registry.names.push_back(point_name);
  }
}

void Crashpoint(const CrashpointName& point) {
  Trace(point.name);
  Selection* selection = GetSelection();
  if (selection == nullptr || selection->name != point.name) {
    return;
  }
  if (selection->hits.fetch_add(1) + 1 == selection->target) {
    if (selection->pause) {
      std::fprintf(stderr, "crash point %s reached: pausing\n", selection->name.c_str());
      std::fflush(stderr);
      std::unique_lock lock(selection->mu);
      selection->released_cv.wait_for(lock, std::chrono::milliseconds(kCrashpointPauseMs),
                                      [selection] { return selection->released; });
      return;
    }
    std::fprintf(stderr, "crash point %s reached: exiting abruptly\n", selection->name.c_str());
    std::fflush(stderr);
    ::_exit(kCrashpointExitStatus);
  }
}

void ReleaseCrashpointPauses() {
  Selection* selection = GetSelection();
  if (selection == nullptr) {
    return;
  }
  {
    std::lock_guard lock(selection->mu);
    selection->released = true;
  }
  selection->released_cv.notify_all();
}

std::vector<std::string_view> RegisteredCrashpoints() {
  auto& registry = GetRegistry();
  std::lock_guard lock(registry.mu);
  std::vector<std::string_view> names = registry.names;
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace ferry
