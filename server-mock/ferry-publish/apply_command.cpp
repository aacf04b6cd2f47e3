// ferry-publish apply --old DIR --delta FILE --out NEW.tar
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>

#include "command.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/delta/delta.hpp"

namespace ferry::publish {

namespace {

struct ApplyArgs {
  std::string old_dir, delta_file, out;
};

// Writes the rebuilt tar to a temp file next to the target; renamed into place on success only.
class FileSink final : public delta::ByteSink {
 public:
  explicit FileSink(int fd) : fd_(fd) {}
  Status Write(std::span<const std::uint8_t> bytes) override {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        return Fail(ErrnoError("write"));
      }
      bytes = bytes.subspan(static_cast<std::size_t>(n));
    }
    return Ok();
  }

 private:
  int fd_;
};

}  // namespace

CommandRun SetupApplyCommand(CLI::App& sub) {
  auto args = std::make_shared<ApplyArgs>();
  sub.add_option("--old", args->old_dir, "Unpacked old layer directory")->required();
  sub.add_option("--delta", args->delta_file, "Delta file")->required();
  sub.add_option("--out", args->out, "New layer tar to write")->required();
  return [args]() -> int {
    std::string tmp = args->out + ".partial";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::fprintf(stderr, "ferry-publish apply: %s\n",
                   ErrnoError("open " + tmp).message().c_str());
      return 1;
    }
    FileSink sink(fd);
    Status st = delta::ApplyDelta(args->old_dir, args->delta_file, sink);
    if (st && ::fsync(fd) != 0) {
      st = Fail(ErrnoError("fsync " + tmp));
    }
    ::close(fd);
    if (st) {
      st = fs::RenameDurable(tmp, args->out);
    }
    if (!st) {
      ::unlink(tmp.c_str());
      std::fprintf(stderr, "ferry-publish apply: %s\n", st.error().String().c_str());
      return 1;
    }
    return 0;
  };
}

}  // namespace ferry::publish
