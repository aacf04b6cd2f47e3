#include "layer_generator.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <span>
#include <string_view>
#include <vector>

#include "ferry/core/digest.hpp"
#include "ferry/layers/byte_source.hpp"

namespace ferry::bench {
namespace {

// "sha256:" and the digest in lowercase hex: the layer's diff_id.
std::string DiffId(const unsigned char* digest, unsigned int length) {
  return FormatSha256Digest(std::span<const unsigned char>(digest, length));
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t Next() {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 7;
    s_ ^= s_ << 17;
    return s_;
  }
  std::uint64_t Below(std::uint64_t n) { return Next() % n; }

 private:
  std::uint64_t s_;
};

// The tar goes through sha256 and zstd on its way to the blob file.
struct Sink {
  FILE* file = nullptr;
  ZSTD_CCtx* cctx = nullptr;
  EVP_MD_CTX* sha = nullptr;
  std::vector<char> out = std::vector<char>(ZSTD_CStreamOutSize());
  std::uint64_t tar_bytes = 0;
  std::uint64_t blob_bytes = 0;
  bool ok = true;

  void Compress(const void* data, std::size_t size, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{data, size, 0};
    for (;;) {
      ZSTD_outBuffer o{out.data(), out.size(), 0};
      const std::size_t left = ZSTD_compressStream2(cctx, &o, &in, mode);
      if (ZSTD_isError(left) != 0) {
        ok = false;
        return;
      }
      if (std::fwrite(out.data(), 1, o.pos, file) != o.pos) {
        ok = false;
        return;
      }
      blob_bytes += o.pos;
      const bool done = mode == ZSTD_e_end ? left == 0 : in.pos == in.size;
      if (done) {
        return;
      }
    }
  }
};

la_ssize_t WriteCallback(archive*, void* client, const void* buffer, size_t length) {
  auto* sink = static_cast<Sink*>(client);
  EVP_DigestUpdate(sink->sha, buffer, length);
  sink->tar_bytes += length;
  sink->Compress(buffer, length, ZSTD_e_continue);
  return sink->ok ? static_cast<la_ssize_t>(length) : -1;
}

constexpr std::string_view kWords[] = {
    "device", "update", "layer",  "config", "return", "static", "const", "include", "value",
    "error",  "ferry",  "signal", "buffer", "struct", "while",  "true",  "false",   "0x1f",
    "{",      "}",      ";",      "\n",     "    ",   "=",      "(",     ")",       "int"};

void FillText(Rng& rng, std::string& buf, std::size_t size) {
  buf.clear();
  while (buf.size() < size) {
    buf += kWords[rng.Below(std::size(kWords))];
    buf += ' ';
  }
  buf.resize(size);
}

void FillBinary(Rng& rng, std::string& buf, std::size_t size) {
  buf.resize(size);
  std::size_t i = 0;
  while (i < size) {
    // Runs of random bytes between runs of repeated structure, like code sections and tables.
    const std::size_t run = std::min<std::size_t>(size - i, 64 + rng.Below(512));
    if (rng.Below(3) == 0) {
      for (std::size_t j = 0; j < run; j += 8) {
        const std::uint64_t v = rng.Next();
        for (std::size_t k = 0; k < 8 && j + k < run; ++k) {
          buf[i + j + k] = static_cast<char>(v >> (8 * k));
        }
      }
    } else {
      const char c = static_cast<char>(rng.Below(16));
      for (std::size_t j = 0; j < run; ++j) {
        buf[i + j] = static_cast<char>(c + static_cast<char>(j & 3));
      }
    }
    i += run;
  }
}

// A tar written through a Sink, and what it held.
class TarWriter {
 public:
  TarWriter(const std::filesystem::path& blob, int window_log) : blob_(blob) {
    sink_.file = std::fopen(blob.c_str(), "wb");
    if (sink_.file == nullptr) {
      std::perror(blob.c_str());
      sink_.ok = false;
    }
    sink_.cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(sink_.cctx, ZSTD_c_compressionLevel, 3);
    if (window_log != 0) {
      ZSTD_CCtx_setParameter(sink_.cctx, ZSTD_c_windowLog, window_log);
    }
    sink_.sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(sink_.sha, EVP_sha256(), nullptr);
    a_ = archive_write_new();
    archive_write_set_format_pax_restricted(a_);
    archive_write_open(a_, &sink_, nullptr, WriteCallback, nullptr);
  }

  void Add(const std::string& path, unsigned type, unsigned mode, std::uint64_t size) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_mtime(e, 1'700'000'000, 0);
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    archive_write_header(a_, e);
    archive_entry_free(e);
    ++entries_;
    if (type == AE_IFREG) {
      file_bytes_ += size;
    }
  }
  void Data(const void* data, std::size_t size) { archive_write_data(a_, data, size); }

  bool Finish(GeneratedLayer* result) {
    archive_write_close(a_);
    archive_write_free(a_);
    sink_.Compress(nullptr, 0, ZSTD_e_end);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(sink_.sha, digest, &length);
    EVP_MD_CTX_free(sink_.sha);
    ZSTD_freeCCtx(sink_.cctx);
    if (sink_.file == nullptr || std::fclose(sink_.file) != 0 || !sink_.ok) {
      std::fprintf(stderr, "writing %s failed\n", blob_.c_str());
      return false;
    }
    result->diff_id = DiffId(digest, length);
    result->tar_bytes = sink_.tar_bytes;
    result->blob_bytes = sink_.blob_bytes;
    result->entries = entries_;
    result->file_bytes = file_bytes_;
    return true;
  }

 private:
  std::filesystem::path blob_;
  Sink sink_;
  archive* a_ = nullptr;
  std::uint64_t entries_ = 0;
  std::uint64_t file_bytes_ = 0;
};

}  // namespace

bool GenerateManyFilesLayer(const std::filesystem::path& blob, std::uint64_t dirs,
                            std::uint64_t files_per_dir, GeneratedLayer* out) {
  TarWriter tar(blob, layers::kLayerZstdWindowLog);
  for (std::uint64_t d = 0; d < dirs; ++d) {
    const std::string dir = "d" + std::to_string(d);
    tar.Add(dir, AE_IFDIR, 0755, 0);
    for (std::uint64_t f = 0; f < files_per_dir; ++f) {
      tar.Add(dir + "/f" + std::to_string(f), AE_IFREG, 0644, 1);
      const char byte = static_cast<char>('a' + f % 26);
      tar.Data(&byte, 1);
    }
  }
  out->files = dirs * files_per_dir;
  return tar.Finish(out);
}

bool GenerateManyWhiteoutsLayer(const std::filesystem::path& blob, std::uint64_t dirs,
                                std::uint64_t whiteouts_per_dir, GeneratedLayer* out) {
  TarWriter tar(blob, layers::kLayerZstdWindowLog);
  for (std::uint64_t d = 0; d < dirs; ++d) {
    const std::string dir = "d" + std::to_string(d);
    for (std::uint64_t w = 0; w < whiteouts_per_dir; ++w) {
      tar.Add(dir + "/.wh.f" + std::to_string(w), AE_IFREG, 0644, 0);
    }
  }
  out->files = 0;
  return tar.Finish(out);
}

bool GenerateManyDirectoriesLayer(const std::filesystem::path& blob, std::uint64_t dirs,
                                  std::uint64_t subdirs_per_dir, GeneratedLayer* out) {
  TarWriter tar(blob, layers::kLayerZstdWindowLog);
  for (std::uint64_t d = 0; d < dirs; ++d) {
    const std::string dir = "d" + std::to_string(d);
    tar.Add(dir, AE_IFDIR, 0755, 0);
    for (std::uint64_t s = 0; s < subdirs_per_dir; ++s) {
      tar.Add(dir + "/s" + std::to_string(s), AE_IFDIR, s % 2 == 0 ? 0755 : 0750, 0);
    }
  }
  out->files = 0;
  return tar.Finish(out);
}

bool GenerateZeroBomb(const std::filesystem::path& blob, std::uint64_t bytes, GeneratedLayer* out) {
  TarWriter tar(blob, layers::kLayerZstdWindowLog);
  tar.Add("zeros", AE_IFREG, 0644, bytes);
  const std::vector<char> zeros(1 << 20, '\0');
  for (std::uint64_t left = bytes; left > 0;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, zeros.size()));
    tar.Data(zeros.data(), n);
    left -= n;
  }
  out->files = 1;
  return tar.Finish(out);
}

bool GenerateLayer(const std::filesystem::path& blob, std::uint64_t target_bytes,
                   GeneratedLayer* result) {
  Sink sink;
  sink.file = std::fopen(blob.c_str(), "wb");
  if (sink.file == nullptr) {
    std::perror(blob.c_str());
    return false;
  }
  sink.cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(sink.cctx, ZSTD_c_compressionLevel, 3);
  sink.sha = EVP_MD_CTX_new();
  EVP_DigestInit_ex(sink.sha, EVP_sha256(), nullptr);

  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(a, &sink, nullptr, WriteCallback, nullptr);
  Rng rng(0xfe77f);
  std::string buf;
  std::uint64_t written = 0;
  std::uint64_t files = 0;
  auto add = [&](const std::string& path, unsigned type, unsigned mode, const std::string& data,
                 const char* link) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_mtime(e, 1'700'000'000, 0);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    if (type == AE_IFLNK) {
      archive_entry_set_symlink(e, link);
    } else if (link != nullptr) {
      archive_entry_set_hardlink(e, link);
      archive_entry_set_size(e, 0);
    }
    archive_write_header(a, e);
    if (!data.empty() && link == nullptr) {
      archive_write_data(a, data.data(), data.size());
    }
    archive_entry_free(e);
  };
  // A few large files (a quarter of the data), then many small and medium ones.
  for (int i = 0; i < 4 && written < target_bytes / 4; ++i) {
    const std::size_t size = static_cast<std::size_t>(target_bytes / 16);
    FillBinary(rng, buf, size);
    add("opt/big" + std::to_string(i) + ".bin", AE_IFREG, 0644, buf, nullptr);
    written += size;
    ++files;
  }
  int dir = -1;
  while (written < target_bytes) {
    if (files % 100 == 0) {
      ++dir;
      add("usr/lib/d" + std::to_string(dir), AE_IFDIR, 0755, {}, nullptr);
    }
    const std::string path =
        "usr/lib/d" + std::to_string(dir) + "/f" + std::to_string(files) + ".so";
    const std::size_t size =
        rng.Below(8) == 0 ? 256 * 1024 + rng.Below(768 * 1024) : 512 + rng.Below(48 * 1024);
    if (rng.Below(2) == 0) {
      FillText(rng, buf, size);
    } else {
      FillBinary(rng, buf, size);
    }
    add(path, AE_IFREG, rng.Below(4) == 0 ? 0755 : 0644, buf, nullptr);
    if (files % 50 == 0) {
      add(path + ".link", AE_IFLNK, 0777, {}, ("f" + std::to_string(files) + ".so").c_str());
      add(path + ".hard", AE_IFREG, 0644, {}, path.c_str());
    }
    written += size;
    ++files;
  }
  archive_write_close(a);
  archive_write_free(a);
  sink.Compress(nullptr, 0, ZSTD_e_end);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(sink.sha, digest, &length);
  EVP_MD_CTX_free(sink.sha);
  ZSTD_freeCCtx(sink.cctx);
  if (std::fclose(sink.file) != 0 || !sink.ok) {
    std::fprintf(stderr, "writing %s failed\n", blob.c_str());
    return false;
  }
  result->diff_id = DiffId(digest, length);
  result->tar_bytes = sink.tar_bytes;
  result->blob_bytes = sink.blob_bytes;
  result->files = files;
  return true;
}

}  // namespace ferry::bench
