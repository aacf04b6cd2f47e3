// ferry-tuf-client: Ferry's TUF verifier behind the command-line contract of the TUF conformance
// suite, so it can be checked against third-party repositories.
//
//   ferry-tuf-client --metadata-dir D init ROOTFILE
//   ferry-tuf-client --metadata-url U --metadata-dir D refresh
//   ferry-tuf-client --metadata-url U --metadata-dir D --target-name P [--target-name P2 …]
//                    --target-dir T --target-base-url U2 download
//
// Exit status 0 on success, 1 on any failure.
#include <boost/asio/io_context.hpp>
#include <ctime>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "ferry/core/asio_clock.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/core/log.hpp"
#include "ferry/fetch/curl_http_client.hpp"
#include "ferry/trust/file_metadata_store.hpp"
#include "ferry/trust/metadata.hpp"
#include "ferry/trust/updater.hpp"

namespace {

using ferry::Status;

// Wall time from libc time(), so that faketime(1) moves it; timers come from an Asio clock.
class LibcTimeClock final : public ferry::Clock {
 public:
  LibcTimeClock() : timers_(io_) {}
  TimePoint Now() const override { return timers_.Now(); }
  WallTime WallNow() const override {
    return std::chrono::system_clock::from_time_t(::time(nullptr));
  }
  TimerId After(Duration delay, std::function<void()> fn) override {
    return timers_.After(delay, std::move(fn));
  }
  void Cancel(TimerId id) override { timers_.Cancel(id); }

 private:
  boost::asio::io_context io_;
  ferry::AsioClock timers_;
};

struct Options {
  std::string metadata_dir;
  std::string metadata_url;
  std::vector<std::string> target_names;
  std::string target_dir;
  std::string target_base_url;
  std::string command;
  std::vector<std::string> args;
};

constexpr const char* kUsage =
    "usage: ferry-tuf-client --metadata-dir D init ROOTFILE\n"
    "       ferry-tuf-client --metadata-url U --metadata-dir D refresh\n"
    "       ferry-tuf-client --metadata-url U --metadata-dir D --target-name P [--target-name P]…\n"
    "                        --target-dir T --target-base-url U download\n";

bool ParseArgs(int argc, char** argv, Options& opts, std::string& error) {
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (!arg.starts_with("--")) {
      break;
    }
    std::string name = arg;
    std::string value;
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else {
      if (i + 1 >= argc) {
        error = "option " + arg + " needs a value";
        return false;
      }
      value = argv[++i];
    }
    if (name == "--metadata-dir") {
      opts.metadata_dir = value;
    } else if (name == "--metadata-url") {
      opts.metadata_url = value;
    } else if (name == "--target-name") {
      opts.target_names.push_back(value);
    } else if (name == "--target-dir") {
      opts.target_dir = value;
    } else if (name == "--target-base-url") {
      opts.target_base_url = value;
    } else {
      error = "unknown option " + name;
      return false;
    }
  }
  if (i >= argc) {
    error = "no command";
    return false;
  }
  opts.command = argv[i++];
  for (; i < argc; ++i) {
    opts.args.emplace_back(argv[i]);
  }
  return true;
}

Status Init(const Options& opts) {
  if (opts.metadata_dir.empty() || opts.args.size() != 1) {
    return ferry::Fail(ferry::Errc::kInvalidArgument, "init needs --metadata-dir and ROOTFILE");
  }
  auto bytes = ferry::fs::ReadFile(opts.args[0]);
  if (!bytes) {
    return std::unexpected(bytes.error());
  }
  ferry::trust::FileMetadataStore store(opts.metadata_dir);
  // The contract asks for no checks here: the root is verified at the first refresh.
  return ferry::trust::TrustRoot(store, *bytes, /*verify=*/false);
}

Status Download(ferry::trust::Updater& updater, const Options& opts) {
  FERRY_TRY_STATUS(ferry::fs::MakeDirs(opts.target_dir), "creating target dir");
  for (const auto& name : opts.target_names) {
    auto info = updater.GetTargetInfo(name);
    if (!info) {
      return std::unexpected(info.error());
    }
    const auto local =
        std::filesystem::path(opts.target_dir) / ferry::trust::QuoteComponent(info->path);
    // A copy already here with the signed length and hashes is not fetched again.
    if (auto cached = ferry::fs::ReadFile(local, info->length + 1);
        cached &&
        ferry::trust::VerifyLengthAndHashes(*cached, info->length, info->hashes).has_value()) {
      ferry::log::info("{} is up to date", name);
      continue;
    }
    auto bytes = updater.DownloadTarget(*info);
    if (!bytes) {
      return std::unexpected(bytes.error());
    }
    FERRY_TRY_STATUS(ferry::fs::WriteFileAtomic(local, *bytes), "storing " + name);
    ferry::log::info("downloaded {} ({} bytes)", name, bytes->size());
  }
  return ferry::Ok();
}

Status Run(const Options& opts) {
  if (opts.command == "init") {
    return Init(opts);
  }
  if (opts.command != "refresh" && opts.command != "download") {
    return ferry::Fail(ferry::Errc::kInvalidArgument, "unknown command " + opts.command);
  }
  if (opts.metadata_dir.empty() || opts.metadata_url.empty() || !opts.args.empty()) {
    return ferry::Fail(ferry::Errc::kInvalidArgument,
                       opts.command + " needs --metadata-dir and --metadata-url");
  }
  if (opts.command == "download" &&
      (opts.target_names.empty() || opts.target_dir.empty() || opts.target_base_url.empty())) {
    return ferry::Fail(ferry::Errc::kInvalidArgument,
                       "download needs --target-name, --target-dir and --target-base-url");
  }
  ferry::trust::FileMetadataStore store(opts.metadata_dir);
  auto http = ferry::fetch::MakeCurlHttpClient();
  LibcTimeClock clock;
  ferry::trust::UpdaterConfig config;
  config.metadata_base_url = opts.metadata_url;
  config.targets_base_url = opts.target_base_url;
  ferry::trust::Updater updater(store, *http, clock, config);
  if (auto refreshed = updater.Refresh(); !refreshed) {
    return refreshed;
  }
  if (opts.command == "download") {
    return Download(updater, opts);
  }
  return ferry::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    ferry::InitLogging("ferry-tuf-client", "warn");
    Options opts;
    std::string error;
    if (!ParseArgs(argc, argv, opts, error)) {
      std::cerr << "ferry-tuf-client: " << error << "\n" << kUsage;
      return 1;
    }
    if (auto status = Run(opts); !status) {
      std::cerr << "ferry-tuf-client: " << status.error().String() << " ("
                << status.error().code().message() << ")\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ferry-tuf-client: " << e.what() << "\n";
    return 1;
  } catch (...) {
    std::cerr << "ferry-tuf-client: unexpected failure\n";
    return 1;
  }
}
