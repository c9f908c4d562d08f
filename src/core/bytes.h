// Bounded big-endian readers and writers over byte spans. Every byte a peer sends is read
// through a ByteReader: reading past the end yields an empty optional, never undefined behaviour.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "core/bug.h"

namespace isthmus {

class ByteReader {
 public:
  ByteReader() = default;
  explicit ByteReader(std::span<const uint8_t> data) : data_(data) {}

  size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return remaining() == 0; }
  size_t position() const { return pos_; }
  // The bytes not yet read.
  std::span<const uint8_t> rest() const { return data_.subspan(pos_); }

  std::optional<uint8_t> u8() {
    if (remaining() < 1) return std::nullopt;
    return data_[pos_++];
  }
  std::optional<uint16_t> u16() {
    if (remaining() < 2) return std::nullopt;
    uint16_t v = static_cast<uint16_t>(data_[pos_] << 8 | data_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::optional<uint32_t> u24() {
    if (remaining() < 3) return std::nullopt;
    uint32_t v = uint32_t{data_[pos_]} << 16 | uint32_t{data_[pos_ + 1]} << 8 | data_[pos_ + 2];
    pos_ += 3;
    return v;
  }
  std::optional<uint32_t> u32() {
    if (remaining() < 4) return std::nullopt;
    uint32_t v = uint32_t{data_[pos_]} << 24 | uint32_t{data_[pos_ + 1]} << 16 |
                 uint32_t{data_[pos_ + 2]} << 8 | data_[pos_ + 3];
    pos_ += 4;
    return v;
  }
  std::optional<uint64_t> u64() {
    auto hi = u32();
    if (!hi) return std::nullopt;
    auto lo = u32();
    if (!lo) return std::nullopt;
    return uint64_t{*hi} << 32 | *lo;
  }
  // The next n bytes as a span.
  std::optional<std::span<const uint8_t>> bytes(size_t n) {
    if (remaining() < n) return std::nullopt;
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  // The next n bytes as a reader of their own; this reader moves past them.
  std::optional<ByteReader> take(size_t n) {
    auto s = bytes(n);
    if (!s) return std::nullopt;
    return ByteReader(*s);
  }
  template <size_t N>
  std::optional<std::array<uint8_t, N>> array() {
    auto s = bytes(N);
    if (!s) return std::nullopt;
    std::array<uint8_t, N> a;
    std::memcpy(a.data(), s->data(), N);
    return a;
  }
  bool skip(size_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

class ByteWriter {
 public:
  ByteWriter() = default;
  explicit ByteWriter(std::vector<uint8_t>& out) : out_(&out) {}

  void u8(uint8_t v) { buf().push_back(v); }
  void u16(uint16_t v) {
    buf().push_back(static_cast<uint8_t>(v >> 8));
    buf().push_back(static_cast<uint8_t>(v));
  }
  void u24(uint32_t v) {
    u8(static_cast<uint8_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void u64(uint64_t v) {
    u32(static_cast<uint32_t>(v >> 32));
    u32(static_cast<uint32_t>(v));
  }
  void bytes(std::span<const uint8_t> s) { buf().insert(buf().end(), s.begin(), s.end()); }
  void zeros(size_t n) { buf().insert(buf().end(), n, 0); }

  size_t size() const { return buf().size(); }
  // Overwrites two bytes already written at `pos` (for length fields known only afterwards).
  // Patching past what was written is a bug in the encoder, never peer-driven.
  void patch_u16(size_t pos, uint16_t v) {
    if (BUG(pos > buf().size() || buf().size() - pos < 2)) return;
    buf()[pos] = static_cast<uint8_t>(v >> 8);
    buf()[pos + 1] = static_cast<uint8_t>(v);
  }
  void patch_u8(size_t pos, uint8_t v) {
    if (BUG(pos >= buf().size())) return;
    buf()[pos] = v;
  }

  std::vector<uint8_t>& data() { return buf(); }
  std::vector<uint8_t> release() { return std::move(buf()); }

 private:
  std::vector<uint8_t>& buf() { return out_ ? *out_ : own_; }
  const std::vector<uint8_t>& buf() const { return out_ ? *out_ : own_; }
  std::vector<uint8_t> own_;
  std::vector<uint8_t>* out_ = nullptr;
};

}  // namespace isthmus
