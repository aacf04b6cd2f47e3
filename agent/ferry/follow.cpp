#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>

#include "command.hpp"

namespace ferry::cli {
namespace {

using Json = control::Json;

std::string Mebibytes(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

// One line for an update in flight: "web 2.0.0: staging, 12.0 MiB of 200.0 MiB". The byte counts
// are rounded to a tenth of the total, so that the line changes (and is printed) ten times at most
// per step.
std::string ProgressLine(const std::string& app, const Json& update) {
  std::string line = app + " " + update.value("version", "?") + ": " + update.value("step", "?");
  const auto total = update.value("bytes_total", std::uint64_t{0});
  if (total > 0) {
    const auto done = update.value("bytes_done", std::uint64_t{0});
    line += ", " + std::to_string(std::min<std::uint64_t>(done * 10 / total, 10) * 10) + "% of " +
            Mebibytes(total);
  }
  return line;
}

}  // namespace

int CallAndFollow(const GlobalOptions& options, const std::string& method, const Json& params,
                  Json& result, std::ostream& err) {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  // The call below replies only with the outcome; meanwhile, what ferryd says it is doing.
  std::thread progress([&] {
    std::map<std::string, std::string> printed;
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, std::chrono::seconds(1), [&] { return finished; })) {
      lock.unlock();
      auto status =
          control::Call(options.socket, "status", Json::object(), std::chrono::seconds(5));
      lock.lock();
      if (finished || !status || !(*status)["apps"].is_array()) {
        continue;
      }
      for (const auto& app : (*status)["apps"]) {
        if (!app.contains("update") || !app["update"].is_object() || !app["name"].is_string()) {
          continue;
        }
        const std::string name = app["name"].get<std::string>();
        const std::string line = ProgressLine(name, app["update"]);
        if (!options.json && printed[name] != line) {
          printed[name] = line;
          err << line << "\n" << std::flush;
        }
      }
    }
  });
  auto reply = control::Call(options.socket, method, params, control::kNoTimeout);
  {
    std::lock_guard lock(mu);
    finished = true;
  }
  cv.notify_all();
  progress.join();
  if (!reply) {
    return ReportCallError(reply.error(), err);
  }
  result = std::move(*reply);
  return kExitOk;
}

}  // namespace ferry::cli
