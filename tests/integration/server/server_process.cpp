#include "server_process.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

namespace ferry::testing {

ServerProcess::ServerProcess(const std::filesystem::path& repo,
                             const std::vector<std::string>& extra,
                             const std::filesystem::path& log)
    : log_(log) {
  std::vector<std::string> argv = {BuiltProgram("ferry-server").string(),
                                   "serve",
                                   "--repo",
                                   repo.string(),
                                   "--listen",
                                   "127.0.0.1:0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  child_ = std::make_unique<Child>(argv, std::map<std::string, std::string>{}, log_);
  const std::regex line("listening on 127\\.0\\.0\\.1:([0-9]+)\n");
  const bool up = WaitFor([&] {
    std::smatch m;
    const std::string text = Log();
    if (std::regex_search(text, m, line)) {
      port_ = static_cast<std::uint16_t>(std::stoi(m[1].str()));
      return true;
    }
    return !child_->running();
  });
  if (!up || port_ == 0) {
    ADD_FAILURE() << "ferry-server did not start; log:\n" << Log();
  }
}

std::string ServerProcess::Log() const {
  std::ifstream in(log_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string PatternBytes(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  std::uint32_t x = 2463534242u ^ seed;
  for (auto& c : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return out;
}

void WriteFile(const std::filesystem::path& path, const std::string& data) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::uint64_t BlobBytesSent(const std::string& log) {
  static const std::regex line("GET /blobs/sha256/[0-9a-f]{64} (200|206) ([0-9]+)");
  std::uint64_t total = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
       ++it) {
    total += std::stoull((*it)[2].str());
  }
  return total;
}

}  // namespace ferry::testing
