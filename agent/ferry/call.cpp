#include <ostream>

#include "command.hpp"

namespace ferry::cli {

int CallFerryd(const GlobalOptions& options, const std::string& method, const control::Json& params,
               control::Json& result, std::ostream& err) {
  auto reply = control::Call(options.socket, method, params);
  if (reply) {
    result = std::move(*reply);
    return kExitOk;
  }
  return ReportCallError(reply.error(), err);
}

int ReportCallError(const Error& e, std::ostream& err) {
  if (e.Is(Errc::kCancelled)) {
    // Whatever it was doing is resumed or cleaned up when it starts again.
    err << "ferry: ferryd stopped before it finished (" << e.message()
        << "); see ferry status once it runs again\n";
    return kExitUnreachable;
  }
  if (e.Is(Errc::kUnavailable)) {
    err << "ferry: ferryd is not running (" << e.message() << ")\n";
    return kExitUnreachable;
  }
  if (e.Is(Errc::kPermissionDenied)) {
    err << "ferry: not allowed to talk to ferryd (" << e.message() << "); run as root\n";
    return kExitUnreachable;
  }
  if (e.Is(Errc::kTimeout)) {
    err << "ferry: " << e.message() << "\n";
    return kExitUnreachable;
  }
  err << "ferry: " << e.message() << "\n";
  return kExitFailed;
}

}  // namespace ferry::cli
