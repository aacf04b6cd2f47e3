#include "ferry/core/digest.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

namespace ferry {
namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

std::string Finish(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  return FormatSha256Digest({md, len});
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

Result<Digest> Digest::Parse(std::string_view text) {
  if (text.size() != kPrefix.size() + 64 || !text.starts_with(kPrefix) ||
      !IsLowerHex(text.substr(kPrefix.size()))) {
    return Fail(Errc::kInvalidArgument,
                "\"" + std::string(text.substr(0, 100)) +
                    "\" is not a digest: sha256: followed by 64 lowercase hex digits");
  }
  return Digest(std::string(text));
}

Result<Digest> Digest::FromHex(std::string_view hex) {
  if (hex.size() != 64 || !IsLowerHex(hex)) {
    return Fail(Errc::kInvalidArgument, "\"" + std::string(hex.substr(0, 100)) +
                                            "\" is not a sha256 digest: 64 lowercase hex digits");
  }
  return Digest(std::string(kPrefix) + std::string(hex));
}

std::string FormatSha256Digest(std::span<const unsigned char> hash) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  out.reserve(out.size() + 2 * hash.size());
  for (unsigned char byte : hash) {
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0xf]);
  }
  return out;
}

std::string Sha256Digest(std::string_view bytes) {
  MdCtx ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size());
  return Finish(ctx.get());
}

Result<std::string> Sha256FileDigest(const std::filesystem::path& path, const StopRequested& stop) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(ErrnoError("open " + path.string()));
  }
  MdCtx ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::unique_ptr<char[]> buf(new char[1 << 17]);
  for (;;) {
    if (stop && stop()) {
      ::close(fd);
      return Fail(Errc::kCancelled, "ferryd is stopping");
    }
    const ssize_t n = ::read(fd, buf.get(), 1 << 17);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int err = errno;
      ::close(fd);
      return Fail(ErrnoError("read " + path.string(), err));
    }
    if (n == 0) {
      break;
    }
    EVP_DigestUpdate(ctx.get(), buf.get(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return Finish(ctx.get());
}

Status VerifyFile(const std::filesystem::path& path, std::string_view digest, std::uint64_t size,
                  const StopRequested& stop) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Fail(ErrnoError("stat " + path.string()));
  }
  if (static_cast<std::uint64_t>(st.st_size) != size) {
    return Fail(Errc::kCorrupt, path.string() + " is " + std::to_string(st.st_size) +
                                    " bytes, but " + std::to_string(size) + " were signed");
  }
  auto got = Sha256FileDigest(path, stop);
  if (!got) {
    return Fail(got.error());
  }
  if (*got != digest) {
    return Fail(Errc::kCorrupt, path.string() + " has digest " + *got + ", but " +
                                    std::string(digest) + " was signed");
  }
  return Ok();
}

}  // namespace ferry
