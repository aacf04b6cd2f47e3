// Logging through spdlog. Under systemd (JOURNAL_STREAM set) lines carry a "<N>" syslog priority
// prefix and no timestamp of our own, so journald records the right priority and time.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace ferry {

// Installs the default logger on stderr. `level` is one of trace, debug, info, warn, error.
void InitLogging(std::string_view program, std::string_view level = "info");

// True when stderr is connected to the journal (JOURNAL_STREAM names our stderr's device:inode).
bool StderrIsJournal();

}  // namespace ferry

namespace ferry::log {
using spdlog::critical;
using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::trace;
using spdlog::warn;
}  // namespace ferry::log
