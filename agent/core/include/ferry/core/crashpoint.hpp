// Named crash points for crash-consistency tests. With FERRY_CRASHPOINT=name (or name:n, the n-th
// time the point is passed) in the environment, the process exits abruptly (_exit, no cleanup) when
// it reaches that point, as a power cut or SIGKILL would leave it. With name@pause (or
// name:n@pause) it says so on stderr and holds the thread there for kCrashpointPauseMs instead,
// so that a test can stop the process (SIGTERM) at exactly that point; ReleaseCrashpointPauses (on
// SIGTERM) lets it go at once, so the code after the point runs as it would, with the stop
// requested. With FERRY_CRASHPOINT_TRACE=path every point passed appends its name to that file
// (one line each). Every point is registered by name so `ferryd --list-crashpoints` can list them
// and tests can iterate over all of them.
#pragma once

#include <string_view>
#include <vector>

namespace ferry {

// Declares a crash point at namespace scope: FERRY_DEFINE_CRASHPOINT(kAfterStageSync,
// "stage.after-sync"); then call Crashpoint(kAfterStageSync) where it applies.
struct CrashpointName {
  explicit CrashpointName(std::string_view name);
  std::string_view name;
};

#define FERRY_DEFINE_CRASHPOINT(var, literal) static const ::ferry::CrashpointName var(literal)

// Exits the process with status 137 if FERRY_CRASHPOINT selects this point now.
void Crashpoint(const CrashpointName& point);

// Ends every pause, now and later: a paused thread goes on at once. Safe from any thread.
void ReleaseCrashpointPauses();

// Every crash point linked into this program, sorted by name.
std::vector<std::string_view> RegisteredCrashpoints();

// The exit status used for a crash-point exit (as if killed by SIGKILL).
inline constexpr int kCrashpointExitStatus = 137;
inline constexpr int kCrashpointPauseMs = 3000;

}  // namespace ferry
