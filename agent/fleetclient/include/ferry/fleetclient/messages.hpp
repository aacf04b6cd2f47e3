// The fleet API's device messages as text: building requests and checking replies. Kept apart from
// the transfer so that every rule about hostile replies is tested without a network.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/result.hpp"
#include "ferry/fleetclient/fleet_client.hpp"

namespace ferry::fleetclient {

// Replies nest no deeper than this (the documented ones need 3 levels).
inline constexpr int kMaxReplyDepth = 32;

// Parses a reply body as one JSON value, refusing nesting deeper than kMaxReplyDepth before the
// parser sees it. Fails with kMalformed.
Result<nlohmann::json> ParseReplyJson(std::string_view body);

// Checks and converts the body of a 200 to GET /v1/device/assignment. Every field is checked
// (device id, app names, semver versions, deployment ids, the downgrade flag, no app twice); one
// bad entry fails the whole reply with kMalformed and a message naming the field
// ("apps[1].version: ..."). Unknown fields are ignored. The etag is left empty.
Result<Assignment> ParseAssignment(std::string_view body);

// The body of POST /v1/device/events: a JSON array, empty strings and time 0 left out.
std::string EventsBody(const std::vector<DeviceEvent>& events);

// highest_sequence from the body of a 200 to POST /v1/device/events (an integer >= 0).
Result<std::int64_t> ParseEventsReply(std::string_view body);

// Checks the body of a 200 to PUT /v1/device/inventory ({"stored": true}).
Status ParseInventoryReply(std::string_view body);

// The "error" text of an error reply, made safe to log: at most 300 bytes, control characters
// replaced by '?'. Empty when the body is not {"error": "..."}.
std::string ServerErrorText(std::string_view body);

// Whether `etag` may be sent back in If-None-Match: 1 to 256 visible ASCII characters.
bool ValidEtag(std::string_view etag);

}  // namespace ferry::fleetclient
