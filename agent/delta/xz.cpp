#include "xz.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "ferry/delta/delta.hpp"

namespace ferry::delta {
namespace {

constexpr std::size_t kInBuf = 64 * 1024;
constexpr std::uint32_t kEstimateSmallPreset = 3;
constexpr std::uint32_t kEstimateLargePreset = 1;
constexpr std::size_t kEstimateFullPresetMaxSize = 1u << 20;

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

Status XzCompressSpool(const Spool& in, Spool& out, int preset, std::uint32_t dict_cap) {
  lzma_options_lzma opts;
  if (lzma_lzma_preset(&opts, static_cast<std::uint32_t>(preset) | LZMA_PRESET_EXTREME)) {
    return Fail(DeltaErrc::kBadInput, "bad xz preset");
  }
  opts.dict_size = DictFor(static_cast<std::size_t>(in.size()), dict_cap);
  lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &opts}, {LZMA_VLI_UNKNOWN, nullptr}};
  lzma_stream strm = LZMA_STREAM_INIT;
  if (lzma_stream_encoder(&strm, filters, LZMA_CHECK_CRC64) != LZMA_OK) {
    return Fail(DeltaErrc::kBadInput, "cannot start the xz encoder");
  }
  std::unique_ptr<lzma_stream, decltype(&lzma_end)> guard(&strm, lzma_end);
  constexpr std::size_t kChunk = 1u << 20;
  std::vector<std::uint8_t> in_buf(kChunk), out_buf(kChunk);
  std::uint64_t offset = 0;
  for (;;) {
    if (strm.avail_in == 0 && offset < in.size()) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, in.size() - offset));
      FERRY_TRY_STATUS(in.ReadAt(offset, std::span(in_buf.data(), n)), "compressing a stream");
      offset += n;
      strm.next_in = in_buf.data();
      strm.avail_in = n;
    }
    strm.next_out = out_buf.data();
    strm.avail_out = out_buf.size();
    lzma_ret ret = lzma_code(&strm, offset >= in.size() ? LZMA_FINISH : LZMA_RUN);
    std::size_t produced = out_buf.size() - strm.avail_out;
    FERRY_TRY_STATUS(
        out.Append(std::string_view(reinterpret_cast<const char*>(out_buf.data()), produced)),
        "compressing a stream");
    if (ret == LZMA_STREAM_END) {
      return out.Flush();
    }
    if (ret != LZMA_OK) {
      return Fail(DeltaErrc::kBadInput, "xz compression failed: " + std::to_string(ret));
    }
  }
}

struct XzWriter::State {
  Spool out;
  lzma_options_lzma opts{};
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> queue;
  std::size_t queued = 0;
  bool closed = false;
  Status status = Ok();
  unsigned threads = 1;
  std::uint64_t block_size = 0;
  std::thread thread;
};

namespace {
constexpr std::size_t kWriterChunk = 1u << 20;
constexpr std::size_t kWriterQueueMax = 8u << 20;
}  // namespace

XzWriter::XzWriter(Spool out, int preset, std::uint32_t dict_size, unsigned threads,
                   std::uint64_t block_size)
    : state_(std::make_unique<State>()) {
  state_->out = std::move(out);
  state_->threads = std::max(threads, 1u);
  state_->block_size = block_size;
  if (lzma_lzma_preset(&state_->opts, static_cast<std::uint32_t>(preset) | LZMA_PRESET_EXTREME)) {
    state_->status = Fail(DeltaErrc::kBadInput, "bad xz preset");
  }
  state_->opts.dict_size = dict_size;
  pending_.reserve(kWriterChunk);
  state_->thread = std::thread([this] { Run(); });
}

XzWriter::~XzWriter() {
  if (state_->thread.joinable()) {
    {
      std::lock_guard lock(state_->mu);
      state_->closed = true;
    }
    state_->cv.notify_all();
    state_->thread.join();
  }
}

void XzWriter::Push() {
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->queued < kWriterQueueMax; });
  state_->queued += pending_.size();
  state_->queue.push_back(std::move(pending_));
  lock.unlock();
  state_->cv.notify_all();
  pending_ = std::string();
  pending_.reserve(kWriterChunk);
}

void XzWriter::Append(std::string_view bytes) {
  raw_size_ += bytes.size();
  while (!bytes.empty()) {
    std::size_t n = std::min(bytes.size(), kWriterChunk - pending_.size());
    pending_.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
    if (pending_.size() == kWriterChunk) {
      Push();
    }
  }
}

Result<Spool> XzWriter::Finish() {
  if (!pending_.empty()) {
    Push();
  }
  {
    std::lock_guard lock(state_->mu);
    state_->closed = true;
  }
  state_->cv.notify_all();
  state_->thread.join();
  if (!state_->status) {
    return Fail(state_->status.error());
  }
  return std::move(state_->out);
}

void XzWriter::Run() {
  State& st = *state_;
  lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &st.opts}, {LZMA_VLI_UNKNOWN, nullptr}};
  lzma_stream strm = LZMA_STREAM_INIT;
  lzma_mt mt{};
  mt.threads = st.threads;
  mt.block_size = st.block_size;
  mt.filters = filters;
  mt.check = LZMA_CHECK_CRC64;
  bool ok = st.status && (st.block_size == 0 ? lzma_stream_encoder(&strm, filters, LZMA_CHECK_CRC64)
                                             : lzma_stream_encoder_mt(&strm, &mt)) == LZMA_OK;
  std::unique_ptr<lzma_stream, decltype(&lzma_end)> guard(&strm, lzma_end);
  std::vector<std::uint8_t> out_buf(kWriterChunk);
  for (;;) {
    std::string chunk;
    bool last = false;
    {
      std::unique_lock lock(st.mu);
      st.cv.wait(lock, [&] { return !st.queue.empty() || st.closed; });
      if (!st.queue.empty()) {
        chunk = std::move(st.queue.front());
        st.queue.pop_front();
        st.queued -= chunk.size();
      }
      last = st.queue.empty() && st.closed;
    }
    st.cv.notify_all();
    if (!ok) {
      if (last) {
        break;
      }
      continue;
    }
    strm.next_in = reinterpret_cast<const std::uint8_t*>(chunk.data());
    strm.avail_in = chunk.size();
    const lzma_action action = last ? LZMA_FINISH : LZMA_RUN;
    for (;;) {
      strm.next_out = out_buf.data();
      strm.avail_out = out_buf.size();
      lzma_ret ret = lzma_code(&strm, action);
      std::size_t produced = out_buf.size() - strm.avail_out;
      if (auto appended = st.out.Append(
              std::string_view(reinterpret_cast<const char*>(out_buf.data()), produced));
          !appended) {
        st.status = appended;
        ok = false;
        break;
      }
      if (ret == LZMA_STREAM_END) {
        break;
      }
      if (ret != LZMA_OK) {
        st.status = Fail(DeltaErrc::kBadInput, "xz compression failed: " + std::to_string(ret));
        ok = false;
        break;
      }
      if (action == LZMA_RUN && strm.avail_in == 0 && strm.avail_out != 0) {
        break;
      }
    }
    if (last) {
      break;
    }
  }
  if (!ok && st.status) {
    st.status = Fail(DeltaErrc::kBadInput, "cannot start the xz encoder");
  }
  if (ok) {
    st.status = st.out.Flush();
  }
}

std::uint64_t LzmaEstimate(std::string_view data) {
  if (data.empty()) {
    return 0;
  }
  // Fast presets: the streams themselves are compressed at preset 9; this only ranks candidates.
  // Preset 6 took three to five times as long on large inputs, for a ranking that rarely differs
  // there. On inputs up to 1 MiB, preset 3 ranks the Debian bench pair's candidates as preset 6
  // did (the same delta, byte for byte) with about 7 s less CPU in all; preset 6 is slow on the
  // mostly-zero difference bytes (5.2 s for the pair's 22.5 MB, preset 3 0.9 s). Preset 1 there
  // rates LZMA on text below gzip -9. A 4 MiB dictionary bounds the memory to about 30 MiB a
  // worker.
  lzma_options_lzma opts;
  lzma_lzma_preset(&opts, data.size() <= kEstimateFullPresetMaxSize ? kEstimateSmallPreset
                                                                    : kEstimateLargePreset);
  opts.dict_size = DictFor(data.size(), 4u << 20);
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
