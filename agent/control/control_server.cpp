#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <mutex>
#include <set>
#include <vector>

#include "ferry/control/control.hpp"
#include "ferry/core/fs.hpp"
#include "ferry/core/json_depth.hpp"
#include "ferry/core/log.hpp"

namespace ferry::control {

namespace asio = boost::asio;
using Protocol = asio::local::stream_protocol;

Handler Sync(std::function<Result<Json>(const Json& params)> fn) {
  return [fn = std::move(fn)](const Json& params, Reply reply) { reply(fn(params)); };
}

std::string ErrorCodeName(const Error& error) {
  if (error.code().category() == CoreCategory()) {
    switch (static_cast<Errc>(error.code().value())) {
      case Errc::kInvalidArgument:
        return "invalid_argument";
      case Errc::kNotFound:
        return "not_found";
      case Errc::kAlreadyExists:
        return "already_exists";
      case Errc::kIo:
        return "io";
      case Errc::kCorrupt:
        return "corrupt";
      case Errc::kUnavailable:
        return "unavailable";
      case Errc::kTimeout:
        return "timeout";
      case Errc::kCancelled:
        return "cancelled";
      case Errc::kPermissionDenied:
        return "permission_denied";
      case Errc::kNoSpace:
        return "no_space";
      case Errc::kUnsupported:
        return "unsupported";
      case Errc::kLimitExceeded:
        return "limit_exceeded";
      case Errc::kFailedPrecondition:
        return "failed_precondition";
    }
  }
  return "error";
}

namespace {

void SetCloseOnExec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) {
    ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
}

enum class Access { kNone, kReadOnly, kFull };

// Who is at the other end, as the kernel saw it at connect time. A peer whose credentials
// cannot be read is nobody.
struct Peer {
  Access access = Access::kNone;
  std::string who;  // "uid 65534 (pid 123)", for messages and the log
};

bool InGroup(int fd, const ucred& cred, gid_t group) {
  if (cred.gid == group) {
    return true;
  }
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return std::find(groups.begin(), groups.end(), group) != groups.end();
    }
    if (errno != ERANGE) {
      return false;
    }
    groups.resize(len / sizeof(gid_t) + 1);
  }
  return false;
}

Peer PeerOf(int fd, const AccessPolicy& policy) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred)) {
    return Peer{Access::kNone, "a peer whose credentials cannot be read"};
  }
  Peer peer{Access::kNone,
            "uid " + std::to_string(cred.uid) + " (pid " + std::to_string(cred.pid) + ")"};
  if (cred.uid == 0 || cred.uid == ::geteuid()) {
    peer.access = Access::kFull;
  } else if (policy.read_group && InGroup(fd, cred, *policy.read_group)) {
    peer.access = Access::kReadOnly;
  }
  return peer;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Protocol::socket socket, std::shared_ptr<const std::map<std::string, Handler>> handlers,
          std::shared_ptr<const AccessPolicy> policy, Peer peer,
          std::function<void(Session*)> on_close)
      : socket_(std::move(socket)),
        handlers_(std::move(handlers)),
        policy_(std::move(policy)),
        peer_(std::move(peer)),
        buffer_(kMaxLineBytes),
        on_close_(std::move(on_close)) {}

  void Start() { ReadNext(); }
  void Close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

 private:
  void ReadNext() {
    asio::async_read_until(socket_, buffer_, '\n',
                           [self = shared_from_this()](const boost::system::error_code& ec,
                                                       std::size_t n) { self->OnLine(ec, n); });
  }

  void OnLine(const boost::system::error_code& ec, std::size_t n) {
    if (ec == asio::error::not_found) {
      // The line is longer than we accept: answer once and hang up, as the stream is unusable.
      Send(Json{{"id", nullptr},
                {"ok", false},
                {"error",
                 {{"code", "invalid_argument"},
                  {"message",
                   "request line longer than " + std::to_string(kMaxLineBytes) + " bytes"}}}},
           /*close_after=*/true);
      return;
    }
    if (ec) {
      on_close_(this);
      return;
    }
    std::string line(asio::buffers_begin(buffer_.data()),
                     asio::buffers_begin(buffer_.data()) + static_cast<std::ptrdiff_t>(n - 1));
    buffer_.consume(n);
    Dispatch(line);
  }

  void Dispatch(const std::string& line) {
    if (peer_.access == Access::kNone) {
      // Checked before the line is even parsed: a stranger gets nothing but this answer.
      Send(ErrorReply(nullptr, "permission_denied",
                      "ferryd's control socket is for root" +
                          std::string(policy_->read_group ? " and its read group" : "") + "; " +
                          peer_.who + " may not use it"),
           /*close_after=*/true);
      return;
    }
    auto parsed = ParseBoundedJson(line, JsonBounds{kMaxLineBytes, kMaxRequestDepth});
    if (!parsed) {
      Send(ErrorReply(nullptr, "invalid_argument",
                      "request is not a JSON object: " + parsed.error().message()),
           false);
      return;
    }
    Json request = std::move(*parsed);
    if (!request.is_object()) {
      Send(ErrorReply(nullptr, "invalid_argument", "request is not a JSON object"), false);
      return;
    }
    Json id = request.contains("id") ? request["id"] : Json(nullptr);
    if (!request.contains("method") || !request["method"].is_string()) {
      Send(ErrorReply(id, "invalid_argument", "request has no \"method\" string"), false);
      return;
    }
    const std::string method = request["method"];
    Json params = request.value("params", Json::object());
    if (!params.is_object()) {
      Send(ErrorReply(id, "invalid_argument", "\"params\" must be an object"), false);
      return;
    }
    auto it = handlers_->find(method);
    if (it == handlers_->end()) {
      Send(ErrorReply(id, "unknown_method", "unknown method '" + method + "'"), false);
      return;
    }
    if (peer_.access == Access::kReadOnly && !policy_->read_only_methods.contains(method)) {
      Send(ErrorReply(id, "permission_denied",
                      "'" + method + "' is for root only; " + peer_.who +
                          " may call only read-only methods (status, history, why, logs)"),
           false);
      return;
    }
    auto self = shared_from_this();
    auto replied = std::make_shared<std::once_flag>();
    it->second(params, [self, id, replied](Result<Json> result) {
      std::call_once(*replied, [&] {
        Json reply = result
                         ? Json{{"id", id}, {"ok", true}, {"result", std::move(*result)}}
                         : ErrorReply(id, ErrorCodeName(result.error()), result.error().message());
        // Replies may come from worker threads; the socket is touched only on its executor.
        asio::post(self->socket_.get_executor(),
                   [self, reply = std::move(reply)] { self->Send(reply, false); });
      });
    });
  }

  static Json ErrorReply(const Json& id, const std::string& code, const std::string& message) {
    return Json{{"id", id}, {"ok", false}, {"error", {{"code", code}, {"message", message}}}};
  }

  void Send(const Json& reply, bool close_after) {
    auto out = std::make_shared<std::string>(
        reply.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n");
    asio::async_write(socket_, asio::buffer(*out),
                      [self = shared_from_this(), out, close_after](
                          const boost::system::error_code& ec, std::size_t) {
                        if (ec || close_after) {
                          self->Close();
                          self->on_close_(self.get());
                          return;
                        }
                        self->ReadNext();
                      });
  }

  Protocol::socket socket_;
  std::shared_ptr<const std::map<std::string, Handler>> handlers_;
  std::shared_ptr<const AccessPolicy> policy_;
  Peer peer_;
  asio::streambuf buffer_;
  std::function<void(Session*)> on_close_;
};

}  // namespace

struct ControlServer::Impl : std::enable_shared_from_this<ControlServer::Impl> {
  Impl(asio::io_context& io_context, std::filesystem::path path,
       std::map<std::string, Handler> method_handlers, AccessPolicy access)
      : io(io_context),
        socket_path(std::move(path)),
        handlers(
            std::make_shared<const std::map<std::string, Handler>>(std::move(method_handlers))),
        policy(std::make_shared<const AccessPolicy>(std::move(access))),
        acceptor(io_context) {}

  void Accept() {
    acceptor.async_accept(
        [self = shared_from_this()](const boost::system::error_code& ec, Protocol::socket socket) {
          if (ec) {
            if (ec != asio::error::operation_aborted) {
              log::warn("control socket: accept failed: {}", ec.message());
            }
            if (!self->stopped) {
              self->Accept();
            }
            return;
          }
          SetCloseOnExec(socket.native_handle());
          Peer peer = PeerOf(socket.native_handle(), *self->policy);
          if (peer.access == Access::kNone) {
            log::warn("control socket: refusing {}", peer.who);
          }
          std::weak_ptr<Impl> weak = self;
          auto session = std::make_shared<Session>(std::move(socket), self->handlers, self->policy,
                                                   std::move(peer), [weak](Session* s) {
                                                     if (auto impl = weak.lock()) {
                                                       impl->sessions.erase(s);
                                                     }
                                                   });
          self->sessions.emplace(session.get(), session);
          session->Start();
          self->Accept();
        });
  }

  asio::io_context& io;
  std::filesystem::path socket_path;
  std::shared_ptr<const std::map<std::string, Handler>> handlers;
  std::shared_ptr<const AccessPolicy> policy;
  Protocol::acceptor acceptor;
  std::map<Session*, std::weak_ptr<Session>> sessions;
  bool stopped = false;
};

ControlServer::ControlServer(asio::io_context& io, std::filesystem::path socket_path,
                             std::map<std::string, Handler> handlers, AccessPolicy policy)
    : impl_(std::make_shared<Impl>(io, std::move(socket_path), std::move(handlers),
                                   std::move(policy))) {}

ControlServer::~ControlServer() { Stop(); }

Status ControlServer::Start() {
  const auto& path = impl_->socket_path;
  if (path.string().size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Fail(Errc::kInvalidArgument, "socket path too long: " + path.string());
  }
  if (auto st = fs::MakeDirs(path.parent_path(), 0755); !st) {
    return Fail(st.error().WithContext("control socket"));
  }
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::symlink_status(path, ec))) {
    // Someone answering means another ferryd; silence means a stale file from a crash.
    Protocol::socket probe(impl_->io);
    boost::system::error_code probe_ec;
    probe.connect(Protocol::endpoint(path.string()), probe_ec);
    if (!probe_ec) {
      return Fail(Errc::kAlreadyExists, "another ferryd is already serving " + path.string());
    }
    std::filesystem::remove(path, ec);
    if (ec) {
      return Fail(SystemError("removing stale socket " + path.string(), ec));
    }
  }
  boost::system::error_code bec;
  impl_->acceptor.open(Protocol(), bec);
  if (!bec) {
    // Created with mode 0600 from the start: no window in which others could connect.
    const mode_t old_mask = ::umask(0177);
    impl_->acceptor.bind(Protocol::endpoint(path.string()), bec);
    ::umask(old_mask);
  }
  if (!bec && impl_->policy->read_group) {
    // The read group must be able to connect; what each peer may call is checked per connection.
    if (::chown(path.c_str(), static_cast<uid_t>(-1), *impl_->policy->read_group) != 0 ||
        ::chmod(path.c_str(), 0660) != 0) {
      return Fail(ErrnoError("control socket " + path.string() + ": giving it to the read group"));
    }
  }
  if (!bec) {
    // Children (runc and what it starts) must not inherit the socket: a leftover listener would
    // make the next ferryd think another one is still serving.
    SetCloseOnExec(impl_->acceptor.native_handle());
    impl_->acceptor.listen(asio::socket_base::max_listen_connections, bec);
  }
  if (bec) {
    return Fail(Errc::kIo, "control socket " + path.string() + ": " + bec.message());
  }
  impl_->Accept();
  return Ok();
}

void ControlServer::Stop() {
  if (impl_->stopped) {
    return;
  }
  impl_->stopped = true;
  boost::system::error_code ec;
  if (impl_->acceptor.is_open()) {
    impl_->acceptor.close(ec);
    std::error_code fec;
    std::filesystem::remove(impl_->socket_path, fec);
  }
  auto sessions = impl_->sessions;
  for (auto& [ptr, weak] : sessions) {
    if (auto s = weak.lock()) {
      s->Close();
    }
  }
  impl_->sessions.clear();
}

}  // namespace ferry::control
