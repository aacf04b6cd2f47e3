#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "ferry/core/crashpoint.hpp"
#include "ferry/core/digest.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/core/unique_fd.hpp"
#include "ferry/layers/beneath.hpp"
#include "ferry/layers/extract.hpp"
#include "ferry/layout/layout.hpp"

namespace ferry::layers {
namespace {

FERRY_DEFINE_CRASHPOINT(kAfterExtract, "layers.stage.after-extract");
FERRY_DEFINE_CRASHPOINT(kAfterSync, "layers.stage.after-sync");
FERRY_DEFINE_CRASHPOINT(kAfterWhiteoutList, "layers.stage.after-whiteout-list");
FERRY_DEFINE_CRASHPOINT(kAfterRename, "layers.stage.after-rename");

// The list file, NUL-separated, written in pieces of about a MiB: a layer may hold a million
// whiteouts, which never are all in memory.
Status WriteWhiteoutList(const WhiteoutList& whiteouts, const fs::ChunkWriter& write) {
  constexpr std::size_t kPieceBytes = 1u << 20;
  std::string piece;
  FERRY_TRY_STATUS(whiteouts.ForEach([&](const Whiteout& w) -> Status {
    if (w.opaque) {
      piece += w.path.empty() ? ".wh..wh..opq" : w.path + "/.wh..wh..opq";
    } else {
      piece += w.path;
    }
    piece += '\0';
    if (piece.size() < kPieceBytes) {
      return Ok();
    }
    auto written = write(piece);
    piece.clear();
    return written;
  }),
                   "writing the list of whiteouts");
  return write(piece);
}

}  // namespace

bool IsValidDiffId(std::string_view diff_id) { return Digest::Parse(diff_id).has_value(); }

Status RemoveTree(const std::filesystem::path& path) {
  const std::filesystem::path parent = path.has_parent_path() ? path.parent_path() : ".";
  UniqueFd parent_fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!parent_fd.valid()) {
    return errno == ENOENT ? Ok() : Fail(ErrnoError("open " + parent.string()));
  }
  return RemoveAt(parent_fd.get(), path.filename().string(), path.string());
}

Result<ExtractResult> StageLayer(ByteSource& source, const std::filesystem::path& layers_dir,
                                 std::string_view expected_diff_id, const ExtractPolicy& policy) {
  const auto diff_id = Digest::Parse(expected_diff_id);
  if (!diff_id) {
    return Fail(LayersErrc::kBadDiffId,
                "diff_id \"" + std::string(expected_diff_id.substr(0, 100)) +
                    "\" is not sha256: followed by 64 lowercase hex digits");
  }
  const std::string context = "staging layer " + std::string(expected_diff_id);
  const std::filesystem::path final_dir = layout::LayerPath(layers_dir, *diff_id);
  const std::filesystem::path partial = layout::LayerStagingPath(layers_dir, *diff_id);
  const std::filesystem::path whiteout_list = layout::LayerWhiteoutsPath(layers_dir, *diff_id);

  FERRY_TRY_STATUS(fs::MakeDirs(layers_dir), context);
  struct stat st {};
  if (::lstat(final_dir.c_str(), &st) == 0) {
    return Fail(Errc::kAlreadyExists, context + ": " + final_dir.string() + " already exists");
  }
  // A leftover of an interrupted attempt is never reused: its content is unverified.
  FERRY_TRY_STATUS(RemoveTree(partial), context);
  if (::mkdir(partial.c_str(), 0755) != 0) {
    return Fail(ErrnoError(context + ": mkdir " + partial.string()));
  }

  auto fail = [&](Error error) -> Result<ExtractResult> {
    if (auto removed = RemoveTree(partial); !removed) {
      error = std::move(error).WithContext("(and " + removed.error().message() + ")");
    }
    return Fail(std::move(error).WithContext(context));
  };

  auto result = ExtractLayer(source, partial, policy);
  if (!result) {
    return fail(std::move(result.error()));
  }
  Crashpoint(kAfterExtract);
  if (result->digest != expected_diff_id) {
    return fail(MakeError(
        LayersErrc::kDigestMismatch,
        "the tar's digest is " + result->digest + ", expected " + std::string(expected_diff_id)));
  }
  {
    // syncfs flushes the whole tree at once and reports writeback errors (Linux >= 5.8).
    UniqueFd fd(::open(partial.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
      return fail(ErrnoError("open " + partial.string()));
    }
    if (::syncfs(fd.get()) != 0) {
      return fail(ErrnoError("syncfs " + partial.string()));
    }
  }
  Crashpoint(kAfterSync);
  if (policy.whiteouts == WhiteoutMode::kList) {
    if (auto st_list = fs::WriteFileAtomicFrom(
            whiteout_list,
            [&](const fs::ChunkWriter& write) {
              return WriteWhiteoutList(result->whiteouts, write);
            },
            0644);
        !st_list) {
      return fail(std::move(st_list.error()));
    }
    Crashpoint(kAfterWhiteoutList);
  }
  if (auto renamed = fs::RenameDurable(partial, final_dir); !renamed) {
    return fail(std::move(renamed.error()));
  }
  Crashpoint(kAfterRename);
  return result;
}

}  // namespace ferry::layers
