#include <zstd.h>
#include <zstd_errors.h>

#include <string>
#include <vector>

#include "ferry/layers/byte_source.hpp"

namespace ferry::layers {

struct ZstdSource::State {
  ByteSource* inner = nullptr;
  ZSTD_DCtx* dctx = nullptr;
  std::span<const std::byte> input;  // what is left of the inner source's current chunk
  std::vector<std::byte> output = std::vector<std::byte>(ZSTD_DStreamOutSize());
  bool inner_done = false;
  bool frame_open = false;  // true while the decoder is inside a frame
  bool done = false;
};

ZstdSource::ZstdSource(ByteSource& inner) : state_(std::make_unique<State>()) {
  state_->inner = &inner;
  state_->dctx = ZSTD_createDCtx();
  if (state_->dctx != nullptr) {
    // A hostile stream must not make the device allocate a huge window.
    ZSTD_DCtx_setParameter(state_->dctx, ZSTD_d_windowLogMax, kLayerZstdWindowLog);
  }
}

ZstdSource::~ZstdSource() { ZSTD_freeDCtx(state_->dctx); }

Result<std::span<const std::byte>> ZstdSource::Next() {
  State& s = *state_;
  if (s.dctx == nullptr) {
    return Fail(Errc::kNoSpace, "zstd: cannot allocate a decompression context");
  }
  while (!s.done) {
    if (s.input.empty() && !s.inner_done) {
      auto chunk = s.inner->Next();
      if (!chunk) {
        return Fail(std::move(chunk.error()));
      }
      s.input = *chunk;
      s.inner_done = chunk->empty();
    }
    if (s.input.empty() && s.inner_done) {
      if (s.frame_open) {
        return Fail(Errc::kCorrupt, "zstd: stream ends inside a frame");
      }
      s.done = true;
      break;
    }
    ZSTD_inBuffer in{s.input.data(), s.input.size(), 0};
    ZSTD_outBuffer out{s.output.data(), s.output.size(), 0};
    const std::size_t ret = ZSTD_decompressStream(s.dctx, &out, &in);
    if (ZSTD_getErrorCode(ret) == ZSTD_error_frameParameter_windowTooLarge) {
      return Fail(Errc::kLimitExceeded,
                  "zstd: a frame needs a window over " +
                      std::to_string((1u << kLayerZstdWindowLog) >> 20) +
                      " MiB, the most ferry-publish writes and ferryd accepts (publish the release "
                      "again with a current ferry-publish)");
    }
    if (ZSTD_isError(ret) != 0) {
      return Fail(Errc::kCorrupt, std::string("zstd: ") + ZSTD_getErrorName(ret));
    }
    s.input = s.input.subspan(in.pos);
    s.frame_open = ret != 0;
    if (out.pos > 0) {
      return std::span<const std::byte>(s.output.data(), out.pos);
    }
  }
  return std::span<const std::byte>();
}

}  // namespace ferry::layers
