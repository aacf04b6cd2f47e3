// A layer tar rebuilt from a delta, as a ByteSource the extractor can pull from: the delta decoder
// pushes on its own thread into a socket pair, the extractor reads the other end. Memory stays
// bounded by the socket buffer, whatever the layer's size.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>

#include "ferry/core/result.hpp"
#include "ferry/layers/byte_source.hpp"

namespace ferry::engine {

class DeltaSource final : public layers::ByteSource {
 public:
  // `stop_requested` (may be empty) ends decoding early with Errc::kCancelled.
  DeltaSource(std::filesystem::path old_dir, std::filesystem::path delta_path,
              std::function<bool()> stop_requested = {});
  ~DeltaSource() override;  // stops and joins the decoder
  DeltaSource(const DeltaSource&) = delete;
  DeltaSource& operator=(const DeltaSource&) = delete;

  Result<std::span<const std::byte>> Next() override;

  // The decoder's own result, once the stream has been read to its end (or abandoned): a corrupt
  // delta is reported here with the decoder's words.
  Status Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ferry::engine
