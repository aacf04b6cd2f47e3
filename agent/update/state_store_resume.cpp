#include "ferry/update/state_store_resume.hpp"

#include "ferry/store/state_store.hpp"

namespace ferry::update {
namespace {

class StateStoreResume final : public fetch::ResumeStore {
 public:
  explicit StateStoreResume(store::StateStore& store) : store_(store) {}

  Result<std::optional<fetch::ResumeRecord>> Load(const std::string& digest) override {
    auto record = store_.GetDownload(digest);
    if (!record) {
      return Fail(std::move(record.error()));
    }
    if (!*record) {
      return std::optional<fetch::ResumeRecord>();
    }
    const store::DownloadRecord& r = **record;
    return std::optional<fetch::ResumeRecord>(
        fetch::ResumeRecord{r.url, r.bytes_done, r.total_bytes, r.validator});
  }

  Status Save(const std::string& digest, const fetch::ResumeRecord& record) override {
    store::DownloadRecord r;
    r.digest = digest;
    r.url = record.url;
    r.bytes_done = record.bytes_done;
    r.total_bytes = record.total_bytes;
    r.validator = record.validator;
    return store_.PutDownload(r);
  }

  Status Remove(const std::string& digest) override { return store_.RemoveDownload(digest); }

 private:
  store::StateStore& store_;
};

}  // namespace

std::unique_ptr<fetch::ResumeStore> MakeStateStoreResume(store::StateStore& store) {
  return std::make_unique<StateStoreResume>(store);
}

}  // namespace ferry::update
