// Splitting one fuzzer input into operations: a tiny reader over the bytes
// libFuzzer hands a target (clang's FuzzedDataProvider is not available to
// the gcc build that runs the regression tests). Reads past the end return
// zeros / empty strings, so every input is a valid program of operations.
#ifndef KEN_FUZZ_FUZZ_INPUT_H_
#define KEN_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace ken::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(Byte() | (Byte() << 8)); }
  // A chunk: a 16-bit little-endian length, then that many bytes (fewer at
  // the end of the input).
  std::string Chunk() {
    size_t n = U16();
    if (n > size_ - pos_) n = size_ - pos_;
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  // Everything not read yet.
  std::string Rest() {
    std::string s(reinterpret_cast<const char*>(data_ + pos_), size_ - pos_);
    pos_ = size_;
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Appends a chunk as FuzzInput::Chunk reads it (for seed corpora).
inline void AppendChunk(std::string* out, const std::string& bytes) {
  const size_t n = bytes.size() > 0xFFFF ? 0xFFFF : bytes.size();
  out->push_back(static_cast<char>(n & 0xFF));
  out->push_back(static_cast<char>(n >> 8));
  out->append(bytes, 0, n);
}

}  // namespace ken::fuzz

#endif  // KEN_FUZZ_FUZZ_INPUT_H_
