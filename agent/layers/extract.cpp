#include "ferry/layers/extract.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <optional>
#include <span>

#include "entry_path.hpp"
#include "ferry/core/crashpoint.hpp"
#include "ferry/core/digest.hpp"
#include "tree_writer.hpp"

namespace ferry::layers {
namespace {

FERRY_DEFINE_CRASHPOINT(kBeforeDrain, "layers.extract.before-drain");

// Every byte libarchive reads passes through here: hashed, counted and bounded before libarchive
// sees it, so the digest covers exactly what was extracted.
struct HashingStream {
  ByteSource* source = nullptr;
  EVP_MD_CTX* sha = nullptr;
  std::uint64_t bytes = 0;
  std::uint64_t limit = 0;
  bool ended = false;
  std::optional<Error> error;  // why the stream stopped, when it was not libarchive's doing
  const std::function<bool()>* stop_requested = nullptr;
  std::uint64_t next_stop_check = 0;

  // A stop is honoured within a few MiB of reading, however large the entry being written.
  static constexpr std::uint64_t kStopCheckBytes = 4ull << 20;

  bool StopRequested() const {
    return stop_requested != nullptr && *stop_requested && (*stop_requested)();
  }

  Result<std::span<const std::byte>> Pull() {
    if (ended) {
      return std::span<const std::byte>();
    }
    if (bytes >= next_stop_check) {
      next_stop_check = bytes + kStopCheckBytes;
      if (StopRequested()) {
        return Fail(Errc::kCancelled, "ferryd is stopping");
      }
    }
    auto chunk = source->Next();
    if (!chunk) {
      return Fail(std::move(chunk.error()).WithContext("reading layer"));
    }
    if (chunk->size() > limit - bytes) {
      return Fail(LayersErrc::kLayerTooLarge,
                  "the tar stream is over the limit of " + std::to_string(limit) + " bytes");
    }
    if (chunk->empty()) {
      ended = true;
    } else if (EVP_DigestUpdate(sha, chunk->data(), chunk->size()) != 1) {
      return Fail(Errc::kIo, "sha256 update failed");
    }
    bytes += chunk->size();
    return chunk;
  }
};

la_ssize_t ReadCallback(archive* a, void* client, const void** buffer) {
  auto* stream = static_cast<HashingStream*>(client);
  auto chunk = stream->Pull();
  if (!chunk) {
    archive_set_error(a, EIO, "%s", chunk.error().message().c_str());
    stream->error = std::move(chunk.error());
    return -1;
  }
  *buffer = chunk->data();
  return static_cast<la_ssize_t>(chunk->size());
}

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct MdDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

EntryKind KindOf(archive_entry* e) {
  if (archive_entry_hardlink(e) != nullptr) {
    return EntryKind::kHardlink;
  }
  switch (archive_entry_filetype(e)) {
    case AE_IFREG:
      return EntryKind::kFile;
    case AE_IFDIR:
      return EntryKind::kDirectory;
    case AE_IFLNK:
      return EntryKind::kSymlink;
    case AE_IFCHR:
      return EntryKind::kCharDevice;
    case AE_IFBLK:
      return EntryKind::kBlockDevice;
    case AE_IFIFO:
      return EntryKind::kFifo;
    case AE_IFSOCK:
      return EntryKind::kSocket;
    default:
      return EntryKind::kUnknown;
  }
}

EntryHeader ReadHeader(archive_entry* e) {
  EntryHeader h;
  const char* path = archive_entry_pathname(e);
  h.path = path != nullptr ? path : "";
  h.kind = KindOf(e);
  if (h.kind == EntryKind::kHardlink) {
    h.link_target = archive_entry_hardlink(e);
  } else if (const char* target = archive_entry_symlink(e); target != nullptr) {
    h.link_target = target;
  }
  h.mode = static_cast<std::uint32_t>(archive_entry_perm(e));
  h.uid = archive_entry_uid(e);
  h.gid = archive_entry_gid(e);
  h.dev_major = static_cast<std::uint32_t>(archive_entry_rdevmajor(e));
  h.dev_minor = static_cast<std::uint32_t>(archive_entry_rdevminor(e));
  const la_int64_t size = archive_entry_size(e);
  h.size = size > 0 ? static_cast<std::uint64_t>(size) : 0;
  if (archive_entry_mtime_is_set(e) != 0) {
    h.mtime = timespec{archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
  }
  if (archive_entry_atime_is_set(e) != 0) {
    h.atime = timespec{archive_entry_atime(e), archive_entry_atime_nsec(e)};
  }
  archive_entry_xattr_reset(e);
  const char* name = nullptr;
  const void* value = nullptr;
  size_t value_size = 0;
  while (archive_entry_xattr_next(e, &name, &value, &value_size) == ARCHIVE_OK) {
    h.xattrs.emplace_back(name, std::string(static_cast<const char*>(value), value_size));
  }
  return h;
}

// The error to report when libarchive failed: our own (source, limit) when we caused it.
Error ArchiveError(archive* a, HashingStream& stream, const std::string& where) {
  if (stream.error) {
    return std::move(*stream.error);
  }
  const char* text = archive_error_string(a);
  return MakeError(LayersErrc::kMalformedArchive,
                   where + ": " + (text != nullptr ? text : "unreadable tar data"));
}

std::string HexDigest(EVP_MD_CTX* sha) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(sha, digest, &length);
  return FormatSha256Digest(std::span<const unsigned char>(digest, length));
}

}  // namespace

ExtractPolicy ExtractPolicy::ForCurrentProcess() {
  ExtractPolicy policy;
  if (::geteuid() != 0) {
    policy.ownership = Ownership::kCaller;
    policy.whiteouts = WhiteoutMode::kList;
  }
  return policy;
}

Result<ExtractResult> ExtractLayer(ByteSource& source, const std::filesystem::path& dest_root,
                                   const ExtractPolicy& policy) {
  auto writer = TreeWriter::Open(dest_root, policy);
  if (!writer) {
    return Fail(std::move(writer.error()));
  }
  std::unique_ptr<EVP_MD_CTX, MdDeleter> sha(EVP_MD_CTX_new());
  if (!sha || EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr) != 1) {
    return Fail(Errc::kIo, "cannot start sha256");
  }
  HashingStream stream{
      &source, sha.get(), 0, policy.max_tar_bytes, false, std::nullopt, &policy.stop_requested, 0};
  std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
  if (!a) {
    return Fail(Errc::kNoSpace, "cannot allocate a tar reader");
  }
  // Tar only (ustar, gnu, pax), no decompression filters: a diff_id is the hash of a plain tar.
  archive_read_support_format_tar(a.get());
  if (archive_read_open(a.get(), &stream, nullptr, ReadCallback, nullptr) != ARCHIVE_OK) {
    return Fail(ArchiveError(a.get(), stream, "opening the tar stream"));
  }
  for (;;) {
    if (stream.StopRequested()) {
      return Fail(Errc::kCancelled, "ferryd is stopping");
    }
    archive_entry* entry = nullptr;
    const int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) {
      break;
    }
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return Fail(ArchiveError(
          a.get(), stream, "reading the header after entry " + std::to_string(writer->entries())));
    }
    const EntryHeader header = ReadHeader(entry);
    DataReader read_data = [&]() -> Result<DataBlock> {
      const void* buffer = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      const int rr = archive_read_data_block(a.get(), &buffer, &size, &offset);
      if (rr == ARCHIVE_EOF) {
        return DataBlock{};
      }
      if (rr != ARCHIVE_OK && rr != ARCHIVE_WARN) {
        return Fail(ArchiveError(a.get(), stream, "reading data"));
      }
      if (offset < 0) {
        return Fail(LayersErrc::kMalformedArchive, "negative data offset");
      }
      return DataBlock{static_cast<std::uint64_t>(offset),
                       std::span(static_cast<const std::byte*>(buffer), size)};
    };
    if (auto st = writer->Write(header, read_data); !st) {
      return Fail(std::move(st.error()));
    }
  }
  FERRY_TRY_STATUS(writer->Finish(), "finishing extraction");
  Crashpoint(kBeforeDrain);
  // The digest is of the whole stream: end-of-archive blocks and anything after them included.
  for (;;) {
    auto chunk = stream.Pull();
    if (!chunk) {
      return Fail(std::move(chunk.error()));
    }
    if (chunk->empty()) {
      break;
    }
  }
  ExtractResult result;
  result.digest = HexDigest(sha.get());
  result.tar_bytes = stream.bytes;
  result.entries = writer->entries();
  result.whiteouts = writer->TakeWhiteouts();
  result.set_id_stripped = writer->set_id_stripped();
  result.capabilities_stripped = writer->capabilities_stripped();
  return result;
}

}  // namespace ferry::layers
