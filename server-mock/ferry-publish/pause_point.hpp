// A hook for tests of concurrent ferry-publish runs. With FERRY_PUBLISH_PAUSE=<point>:<fifo> in the
// environment, the first time the process reaches the named point it says "paused at <point>" on
// stderr, opens the FIFO for reading (which waits until a test opens it for writing) and waits
// there until the test closes its end. A test thus knows that the process stands at the point, and
// chooses when it goes on. Without the variable, or at another point, it does nothing.
#pragma once

#include <string_view>

namespace ferry::publish {

// The points: a release that has stored its layer blob and is about to encode its first delta
// (no lock held), and a release that has stored every blob and is about to take the lock to
// write its metadata.
inline constexpr std::string_view kPauseBeforeDelta = "release.before-delta";
inline constexpr std::string_view kPauseBeforeMetadata = "release.before-metadata";

void PausePoint(std::string_view point);

}  // namespace ferry::publish
