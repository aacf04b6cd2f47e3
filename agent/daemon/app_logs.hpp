// `ferry logs`: a container's output, read back from the size-bounded files the runtime writes
// (<state_dir>/logs/<app>/<revision>.log, and <revision>.log.1 after a rotation; see
// agent/runtime/log_rotation.cpp and docs/operations.md).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ferry/core/result.hpp"
#include "ferry/engine/layout.hpp"
#include "ferry/store/state_store.hpp"

namespace ferry::daemon {

struct LogRequest {
  std::string app;
  std::optional<std::string> revision;  // default: the app's current revision
  std::size_t lines = 100;              // the last lines to show (a first call)
  std::optional<std::uint64_t> from;    // a follow-up call: bytes of the log from this offset
};

// Most bytes one reply carries; a follower catches up over several calls.
inline constexpr std::size_t kMaxLogReply = 256u << 10;

// Parses the `logs` method's parameters: {"app", "revision"?, "lines"?, "from"?}.
// Errc::kInvalidArgument for a missing or malformed one.
Result<LogRequest> ParseLogRequest(const nlohmann::json& params);

// Reads what `request` asks for. Without `from`: the last `lines` lines of the rotated and the
// live file together. With `from`: what the live file holds past `from` (from its start again
// when it is shorter than `from`: it was rotated). Replies {"app", "revision", "path", "text",
// "position"}, where `position` is the offset to pass as `from` next time. Invalid UTF-8 in the
// output becomes U+FFFD. Errc::kNotFound for an unknown app or revision, or an app with no
// current revision and none named.
Result<nlohmann::json> ReadAppLogs(store::StateStore& store, const engine::Layout& layout,
                                   const LogRequest& request);

// `text` with every byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string ValidUtf8(std::string_view text);

}  // namespace ferry::daemon
