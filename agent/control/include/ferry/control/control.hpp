// The control socket between ferryd and the local `ferry` CLI: a Unix stream socket, mode 0600,
// carrying one JSON request per line and one JSON reply per line (docs/protocol.md).
//
//   request: {"id": 1, "method": "status", "params": {}}
//   reply:   {"id": 1, "ok": true, "result": {...}}
//            {"id": 1, "ok": false, "error": {"code": "not_found", "message": "no app web"}}
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "ferry/core/result.hpp"

namespace ferry::control {

using Json = nlohmann::json;

inline constexpr std::size_t kMaxLineBytes = 1u << 20;
// Deepest nesting of a request (the longest legitimate one has 3 levels).
inline constexpr int kMaxRequestDepth = 32;

// Sends the reply to one request; call it exactly once, from any thread.
using Reply = std::function<void(Result<Json>)>;
// Handles one method. Long work (an install, a revert) may reply later.
using Handler = std::function<void(const Json& params, Reply reply)>;

// Wraps a handler that answers at once.
Handler Sync(std::function<Result<Json>(const Json& params)> fn);

// The machine-readable code sent for an error ("not_found", "invalid_argument", …).
std::string ErrorCodeName(const Error& error);

// Who may call what. The socket's file mode is only the first fence: every connection's peer is
// checked with SO_PEERCRED (and SO_PEERGROUPS) when it connects.
struct AccessPolicy {
  // Members of this group (primary or supplementary, as the peer had them when it connected) may
  // call `read_only_methods`; nullopt: nobody but root and ferryd's own user.
  std::optional<gid_t> read_group;
  std::set<std::string> read_only_methods = {"ping", "status", "history", "why", "logs"};
};

class ControlServer {
 public:
  // Root and ferryd's own user may call every method; members of `policy.read_group` the
  // read-only methods; every other peer gets `permission_denied` and is disconnected.
  ControlServer(boost::asio::io_context& io, std::filesystem::path socket_path,
                std::map<std::string, Handler> handlers, AccessPolicy policy = {});
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds the socket (mode 0600, or 0660 with the read group as its group, parent created 0755)
  // and starts accepting. Fails when another
  // process is already serving the path; a stale socket file left by a crash is replaced.
  Status Start();
  // Stops accepting, closes every connection and removes the socket file.
  void Stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// A `timeout` for Call that never passes: for an install, which lasts as long as it lasts.
inline constexpr std::chrono::milliseconds kNoTimeout = std::chrono::milliseconds::max();

// Calls one method on the ferryd at `socket_path` and waits for the reply. Fails with
// Errc::kUnavailable when nobody is listening, Errc::kCancelled when ferryd closed the connection
// without answering (it stopped or died meanwhile), Errc::kTimeout after `timeout`, and with the
// error ferryd sent (its code mapped back where known) otherwise.
Result<Json> Call(const std::filesystem::path& socket_path, const std::string& method,
                  const Json& params = Json::object(),
                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace ferry::control
