#include "xz.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "ferry/delta/delta.hpp"

namespace ferry::delta {
namespace {

constexpr std::size_t kInBuf = 64 * 1024;

std::uint32_t DictFor(std::size_t size, std::uint32_t cap) {
  std::uint32_t dict = 4096;
  while (dict < size && dict < cap) {
    dict <<= 1;
  }
  return std::min(dict, cap);
}

}  // namespace

Result<std::string> XzCompress(std::string_view data, int preset, std::uint32_t dict_cap) {
  lzma_options_lzma opts;
  if (lzma_lzma_preset(&opts, static_cast<std::uint32_t>(preset) | LZMA_PRESET_EXTREME)) {
    return Fail(DeltaErrc::kBadInput, "bad xz preset");
  }
  opts.dict_size = DictFor(data.size(), dict_cap);
  lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &opts}, {LZMA_VLI_UNKNOWN, nullptr}};
  std::string out(lzma_stream_buffer_bound(data.size()), '\0');
  std::size_t out_pos = 0;
  lzma_ret ret = lzma_stream_buffer_encode(
      filters, LZMA_CHECK_CRC64, nullptr, reinterpret_cast<const std::uint8_t*>(data.data()),
      data.size(), reinterpret_cast<std::uint8_t*>(out.data()), &out_pos, out.size());
  if (ret != LZMA_OK) {
    return Fail(DeltaErrc::kBadInput, "xz compression failed: " + std::to_string(ret));
  }
  out.resize(out_pos);
  return out;
}

std::uint64_t LzmaEstimate(std::string_view data) {
  if (data.empty()) {
    return 0;
  }
  lzma_options_lzma opts;
  lzma_lzma_preset(&opts, 6);
  opts.dict_size = DictFor(data.size(), 16u << 20);
  lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &opts}, {LZMA_VLI_UNKNOWN, nullptr}};
  std::string out(data.size() + data.size() / 16 + 1024, '\0');
  std::size_t out_pos = 0;
  if (lzma_raw_buffer_encode(filters, nullptr, reinterpret_cast<const std::uint8_t*>(data.data()),
                             data.size(), reinterpret_cast<std::uint8_t*>(out.data()), &out_pos,
                             out.size()) != LZMA_OK) {
    return data.size();
  }
  return out_pos;
}

XzReader::XzReader(int fd, std::uint64_t offset, std::uint64_t compressed_size,
                   std::uint64_t raw_size, std::uint64_t memlimit, std::string name)
    : fd_(fd),
      next_in_offset_(offset),
      end_offset_(offset + compressed_size),
      raw_size_(raw_size),
      name_(std::move(name)),
      in_buf_(kInBuf) {
  init_ok_ = lzma_stream_decoder(&strm_, memlimit, 0) == LZMA_OK;
}

XzReader::~XzReader() { lzma_end(&strm_); }

Status XzReader::Fill() {
  if (strm_.avail_in != 0 || next_in_offset_ >= end_offset_) {
    return Ok();
  }
  std::size_t want =
      static_cast<std::size_t>(std::min<std::uint64_t>(kInBuf, end_offset_ - next_in_offset_));
  ssize_t n;
  do {
    n = pread(fd_, in_buf_.data(), want, static_cast<off_t>(next_in_offset_));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return Fail(ErrnoError("reading delta " + name_ + " stream"));
  }
  if (n == 0) {
    return Fail(DeltaErrc::kCorrupt, name_ + " stream: delta file is truncated");
  }
  next_in_offset_ += static_cast<std::uint64_t>(n);
  strm_.next_in = in_buf_.data();
  strm_.avail_in = static_cast<std::size_t>(n);
  return Ok();
}

Status XzReader::Read(std::span<std::uint8_t> out) {
  if (!init_ok_) {
    return Fail(DeltaErrc::kCorrupt, name_ + " stream: cannot start the xz decoder");
  }
  if (out.size() > remaining()) {
    return Fail(DeltaErrc::kCorrupt, name_ + " stream: a record reads past the stream's end");
  }
  strm_.next_out = out.data();
  strm_.avail_out = out.size();
  while (strm_.avail_out > 0) {
    if (ended_) {
      return Fail(DeltaErrc::kCorrupt, name_ + " stream: xz data ends before its declared size");
    }
    FERRY_TRY_STATUS(Fill(), "reading delta");
    lzma_action action = next_in_offset_ >= end_offset_ ? LZMA_FINISH : LZMA_RUN;
    lzma_ret ret = lzma_code(&strm_, action);
    if (ret == LZMA_STREAM_END) {
      ended_ = true;
    } else if (ret == LZMA_MEMLIMIT_ERROR) {
      return Fail(DeltaErrc::kLimitExceeded, name_ + " stream: xz dictionary beyond the limit");
    } else if (ret != LZMA_OK) {
      return Fail(DeltaErrc::kCorrupt, name_ + " stream: xz error " + std::to_string(ret));
    }
  }
  produced_ += out.size();
  return Ok();
}

Status XzReader::Finish() {
  if (!init_ok_) {
    return Fail(DeltaErrc::kCorrupt, name_ + " stream: cannot start the xz decoder");
  }
  if (produced_ != raw_size_) {
    return Fail(DeltaErrc::kCorrupt, name_ + " stream: not all bytes were used");
  }
  std::uint8_t scratch = 0;
  while (!ended_) {
    FERRY_TRY_STATUS(Fill(), "reading delta");
    strm_.next_out = &scratch;
    strm_.avail_out = 1;
    lzma_action action = next_in_offset_ >= end_offset_ ? LZMA_FINISH : LZMA_RUN;
    std::size_t in_before = strm_.avail_in;
    lzma_ret ret = lzma_code(&strm_, action);
    if (strm_.avail_out == 0) {
      return Fail(DeltaErrc::kCorrupt, name_ + " stream: more data than declared");
    }
    if (ret == LZMA_STREAM_END) {
      ended_ = true;
    } else if (ret != LZMA_OK ||
               (in_before == 0 && action == LZMA_FINISH && ret == LZMA_OK && strm_.avail_in == 0)) {
      if (ret == LZMA_OK) {
        return Fail(DeltaErrc::kCorrupt, name_ + " stream: xz data is truncated");
      }
      return Fail(DeltaErrc::kCorrupt, name_ + " stream: xz error " + std::to_string(ret));
    }
  }
  if (strm_.avail_in != 0 || next_in_offset_ != end_offset_) {
    return Fail(DeltaErrc::kCorrupt, name_ + " stream: bytes after the end of the xz data");
  }
  return Ok();
}

}  // namespace ferry::delta
