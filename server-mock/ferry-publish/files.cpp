#include "files.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "ferry/core/fs.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/layers/byte_source.hpp"
#include "ferry/trust/crypto.hpp"
#include "pending_blobs.hpp"

namespace ferry::publish {

namespace {

Result<std::size_t> ReadSome(int fd, void* buf, std::size_t n, const std::filesystem::path& p) {
  while (true) {
    ssize_t got = ::read(fd, buf, n);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got < 0) {
      return Fail(ErrnoError("read " + p.string()));
    }
    return static_cast<std::size_t>(got);
  }
}

Status WriteAll(int fd, const void* data, std::size_t n, const std::filesystem::path& p) {
  const auto* bytes = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t put = ::write(fd, bytes, n);
    if (put < 0 && errno == EINTR) {
      continue;
    }
    if (put < 0) {
      return Fail(ErrnoError("write " + p.string()));
    }
    bytes += put;
    n -= static_cast<std::size_t>(put);
  }
  return Ok();
}

Result<UniqueFd> OpenRead(const std::filesystem::path& p) {
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return Fail(ErrnoError("open " + p.string()));
  }
  return fd;
}

Result<UniqueFd> OpenWrite(const std::filesystem::path& p) {
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return Fail(ErrnoError("create " + p.string()));
  }
  return fd;
}

Status Finish(UniqueFd& out, const std::filesystem::path& p) {
  if (::fsync(out.get()) != 0) {
    return Fail(ErrnoError("fsync " + p.string()));
  }
  if (::close(out.Release()) != 0) {
    return Fail(ErrnoError("close " + p.string()));
  }
  return Ok();
}

constexpr std::size_t kChunk = 1 << 20;

// Writes what a stream step makes from a chunk of its input.
using ChunkWriter = std::function<Status(const char* data, std::size_t n)>;

// Reads `in` in chunks of `chunk` bytes and hands each to `step` (then an empty one at the end),
// which writes what it makes to `out`; `out` is synced and closed after the last step. Errors of
// writing carry `what` ("compressing") as context.
Status StreamFile(const std::filesystem::path& in, const std::filesystem::path& out,
                  std::size_t chunk, const std::string& what,
                  const std::function<Status(std::string_view, const ChunkWriter&)>& step) {
  auto src = OpenRead(in);
  if (!src) {
    return Fail(src.error());
  }
  auto dst = OpenWrite(out);
  if (!dst) {
    return Fail(dst.error());
  }
  const ChunkWriter write = [&](const char* data, std::size_t n) -> Status {
    FERRY_TRY_STATUS(WriteAll(dst->get(), data, n, out), what);
    return Ok();
  };
  std::vector<char> buf(chunk);
  while (true) {
    auto n = ReadSome(src->get(), buf.data(), buf.size(), in);
    if (!n) {
      return Fail(n.error());
    }
    if (auto st = step(std::string_view(buf.data(), *n), write); !st) {
      return st;
    }
    if (*n == 0) {
      break;
    }
  }
  return Finish(*dst, out);
}

}  // namespace

Result<std::string> Sha256OfFile(const std::filesystem::path& path) {
  auto fd = OpenRead(path);
  if (!fd) {
    return Fail(fd.error());
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return Fail(Errc::kIo, "sha256: OpenSSL failed to start a digest");
  }
  std::vector<char> buf(kChunk);
  while (true) {
    auto n = ReadSome(fd->get(), buf.data(), buf.size(), path);
    if (!n) {
      return Fail(n.error());
    }
    if (*n == 0) {
      break;
    }
    EVP_DigestUpdate(ctx.get(), buf.data(), *n);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return trust::ToHex(std::string_view(reinterpret_cast<const char*>(md), len));
}

Status CompressZstd(const std::filesystem::path& in, const std::filesystem::path& out) {
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!cctx) {
    return Fail(Errc::kIo, "zstd: cannot create a compression context");
  }
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, 19);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_enableLongDistanceMatching, 1);
  // A device stages a layer within the memory of this window (ferryd refuses larger ones).
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_windowLog, layers::kLayerZstdWindowLog);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);
  std::vector<char> obuf(ZSTD_CStreamOutSize());
  const auto compress = [&](std::string_view chunk, const ChunkWriter& write) -> Status {
    const ZSTD_EndDirective mode = chunk.empty() ? ZSTD_e_end : ZSTD_e_continue;
    ZSTD_inBuffer input{chunk.data(), chunk.size(), 0};
    bool done = false;
    while (!done) {
      ZSTD_outBuffer output{obuf.data(), obuf.size(), 0};
      const std::size_t rest = ZSTD_compressStream2(cctx.get(), &output, &input, mode);
      if (ZSTD_isError(rest)) {
        return Fail(Errc::kIo, std::string("zstd: ") + ZSTD_getErrorName(rest));
      }
      if (auto st = write(obuf.data(), output.pos); !st) {
        return st;
      }
      done = mode == ZSTD_e_end ? rest == 0 : input.pos == input.size;
    }
    return Ok();
  };
  return StreamFile(in, out, ZSTD_CStreamInSize(), "compressing", compress);
}

Status DecompressZstd(const std::filesystem::path& in, const std::filesystem::path& out) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) {
    return Fail(Errc::kIo, "zstd: cannot create a decompression context");
  }
  // Older releases were compressed with a 2^27 window; deltas are still made from them.
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, 27);
  std::vector<char> obuf(ZSTD_DStreamOutSize());
  std::size_t last = 0;
  const auto decompress = [&](std::string_view chunk, const ChunkWriter& write) -> Status {
    if (chunk.empty()) {
      if (last != 0) {
        return Fail(Errc::kCorrupt, in.string() + ": zstd stream ends inside a frame");
      }
      return Ok();
    }
    ZSTD_inBuffer input{chunk.data(), chunk.size(), 0};
    while (input.pos < input.size) {
      ZSTD_outBuffer output{obuf.data(), obuf.size(), 0};
      last = ZSTD_decompressStream(dctx.get(), &output, &input);
      if (ZSTD_isError(last)) {
        return Fail(Errc::kCorrupt, in.string() + ": zstd: " + ZSTD_getErrorName(last));
      }
      if (auto st = write(obuf.data(), output.pos); !st) {
        return st;
      }
    }
    return Ok();
  };
  return StreamFile(in, out, ZSTD_DStreamInSize(), "decompressing", decompress);
}

std::filesystem::path BlobPath(const std::filesystem::path& repo, const std::string& digest) {
  return repo / "blobs" / "sha256" / digest.substr(digest.find(':') + 1);
}

Result<manifest::Blob> StoreBlob(const std::filesystem::path& repo,
                                 const std::filesystem::path& file, PendingBlobs& pending) {
  auto hex = Sha256OfFile(file);
  if (!hex) {
    return Fail(hex.error());
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) {
    return Fail(SystemError("stat " + file.string(), ec));
  }
  manifest::Blob blob{"sha256:" + *hex, size};
  const auto dest = BlobPath(repo, blob.digest);
  FERRY_TRY_STATUS(pending.Add(*hex), "storing blob " + blob.digest);
  FERRY_TRY_STATUS(fs::MakeDirs(dest.parent_path()), "creating the blob store");
  // A blob already stored is kept only when its bytes still match its name (no bit rot).
  if (auto existing = Sha256OfFile(dest); existing && *existing == *hex) {
    std::filesystem::remove(file, ec);
    return blob;
  }
  // The work dir may sit on another filesystem: copy next to the destination, then rename.
  const auto tmp = dest.string() + ".partial." + std::to_string(::getpid());
  std::filesystem::copy_file(file, tmp, std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) {
    return Fail(SystemError("copy " + file.string() + " to " + tmp, ec));
  }
  FERRY_TRY_STATUS(fs::SyncPath(tmp), "storing blob " + blob.digest);
  FERRY_TRY_STATUS(fs::RenameDurable(tmp, dest), "storing blob " + blob.digest);
  std::filesystem::remove(file, ec);
  return blob;
}

WorkDir::WorkDir() {
  std::error_code ec;
  auto base = std::filesystem::temp_directory_path(ec);
  if (ec) {
    base = "/tmp";
  }
  std::string templ = (base / "ferry-publish.XXXXXX").string();
  if (::mkdtemp(templ.data()) != nullptr) {
    path_ = templ;
  }
}

WorkDir::~WorkDir() {
  if (!path_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
}

}  // namespace ferry::publish
