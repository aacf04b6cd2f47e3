#include "mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "ferry/core/unique_fd.hpp"
#include "ferry/delta/delta.hpp"

namespace ferry::delta {

Result<MappedFile> MappedFile::Open(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return Fail(DeltaErrc::kBadInput, "cannot open " + path.string());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(DeltaErrc::kBadInput, path.string() + " is not a readable regular file");
  }
  MappedFile file;
  if (st.st_size == 0) {
    return file;
  }
  void* p =
      ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) {
    return Fail(DeltaErrc::kBadInput, "cannot map " + path.string());
  }
  file.data_ = static_cast<const char*>(p);
  file.size_ = static_cast<std::size_t>(st.st_size);
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      released_(std::exchange(other.released_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    this->~MappedFile();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    released_ = std::exchange(other.released_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) {
    ::munmap(const_cast<char*>(data_), size_);
  }
}

void MappedFile::ReleaseBelow(std::uint64_t offset) {
  static const auto kPage = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::uint64_t end = std::min<std::uint64_t>(offset, size_) / kPage * kPage;
  if (data_ == nullptr || end <= released_) {
    return;
  }
  // Advice only: a failure leaves the pages resident, which costs memory, never correctness.
  ::madvise(const_cast<char*>(data_) + released_, end - released_, MADV_DONTNEED);
  released_ = end;
}

}  // namespace ferry::delta
