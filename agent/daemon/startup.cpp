#include "startup.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/file.h>
#include <unistd.h>

#include <vector>

#include "ferry/core/error.hpp"

namespace ferry::daemon {

Result<std::optional<gid_t>> ControlGroup(const std::string& name) {
  if (name.empty()) {
    return std::optional<gid_t>();
  }
  std::vector<char> buf(16 * 1024);
  group entry{};
  group* found = nullptr;
  const int rc = ::getgrnam_r(name.c_str(), &entry, buf.data(), buf.size(), &found);
  if (rc == 0 && found != nullptr) {
    return std::optional<gid_t>(found->gr_gid);
  }
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos &&
      name.size() < 10) {
    return std::optional<gid_t>(static_cast<gid_t>(std::stoul(name)));
  }
  return Fail(Errc::kInvalidArgument, "control_group '" + name + "' is not a group on this system");
}

Result<UniqueFd> LockStateDir(const engine::Layout& layout) {
  const std::filesystem::path& dir = layout.root();
  const auto path = layout.lock_file();
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return Fail(ErrnoError("open " + path.string()));
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      return Fail(ErrnoError("flock " + path.string()));
    }
    char pid[32] = {};
    const ssize_t n = ::pread(fd.get(), pid, sizeof(pid) - 1, 0);
    std::string holder = n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : "";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) {
      holder.pop_back();
    }
    return Fail(Errc::kAlreadyExists, "state directory " + dir.string() +
                                          " is in use by another ferryd" +
                                          (holder.empty() ? "" : " (pid " + holder + ")") +
                                          "; it holds " + path.string());
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 ||
      ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return Fail(ErrnoError("write " + path.string()));
  }
  return fd;
}

// A download whose bytes have not grown for this long shows no speed in `ferry status`.
constexpr std::chrono::seconds kStalledAfter{2};

}  // namespace ferry::daemon
