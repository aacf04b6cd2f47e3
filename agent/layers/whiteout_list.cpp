#include "ferry/layers/extract.hpp"
#include "ferry/layers/record_spill.hpp"

namespace ferry::layers {
namespace {

// A record: one byte, 'o' for an opaque directory and '-' for a hidden path, then the path.
constexpr char kOpaque = 'o';
constexpr char kHidden = '-';

}  // namespace

WhiteoutList::WhiteoutList() : WhiteoutList(-1) {}

WhiteoutList::WhiteoutList(int dir_fd)
    : records_(std::make_unique<RecordSpill>(dir_fd, "the list of whiteouts")) {}

WhiteoutList::WhiteoutList(WhiteoutList&&) noexcept = default;
WhiteoutList& WhiteoutList::operator=(WhiteoutList&&) noexcept = default;
WhiteoutList::~WhiteoutList() = default;

Status WhiteoutList::Append(const Whiteout& whiteout) {
  if (!records_) {
    records_ = std::make_unique<RecordSpill>(-1, "the list of whiteouts");
  }
  std::string record;
  record.reserve(whiteout.path.size() + 1);
  record += whiteout.opaque ? kOpaque : kHidden;
  record += whiteout.path;
  return records_->Append(record);
}

Status WhiteoutList::ForEach(const std::function<Status(const Whiteout&)>& visit) const {
  if (!records_) {
    return Ok();
  }
  Whiteout w;
  return records_->ForEach([&](std::string_view record) -> Status {
    if (record.empty() || (record[0] != kOpaque && record[0] != kHidden)) {
      return Fail(Errc::kCorrupt, "the list of whiteouts holds a malformed record");
    }
    w.opaque = record[0] == kOpaque;
    w.path.assign(record.substr(1));
    return visit(w);
  });
}

Result<std::vector<Whiteout>> WhiteoutList::ToVector() const {
  std::vector<Whiteout> out;
  out.reserve(static_cast<std::size_t>(size()));
  if (auto st = ForEach([&](const Whiteout& w) -> Status {
        out.push_back(w);
        return Ok();
      });
      !st) {
    return Fail(std::move(st.error()));
  }
  return out;
}

std::uint64_t WhiteoutList::size() const { return records_ ? records_->size() : 0; }

}  // namespace ferry::layers
