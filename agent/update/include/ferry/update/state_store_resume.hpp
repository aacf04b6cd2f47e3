// fetch::ResumeStore over ferryd's state database (the downloads table), so a download resumes with
// the right If-Range validator after ferryd restarts.
#pragma once

#include <memory>

#include "ferry/fetch/blob_fetcher.hpp"

namespace ferry::store {
class StateStore;
}

namespace ferry::update {

// `store` must outlive the returned object.
std::unique_ptr<fetch::ResumeStore> MakeStateStoreResume(store::StateStore& store);

}  // namespace ferry::update
