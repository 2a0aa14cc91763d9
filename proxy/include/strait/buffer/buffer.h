#pragma once

// A byte queue made of slices: appended at the back, drained from the front, written to a socket
// as an iovec without copying. Slices come from a per-thread free list so that steady-state
// traffic allocates nothing. Not thread-safe: a Buffer belongs to one worker.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace strait::buffer {

// A contiguous piece of a Buffer, as handed to writev.
struct RawSlice {
  const char* data;
  size_t len;
};

class Buffer {
 public:
  Buffer() = default;
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;

  void add(const void* data, size_t len);
  void add(std::string_view s) { add(s.data(), s.size()); }
  // Moves every byte of `other` to the end of this buffer; `other` is left empty.
  void move(Buffer& other);
  // Moves the first `len` bytes of `other` to the end of this buffer.
  void move(Buffer& other, size_t len);
  // Appends a copy of every byte of `other`, which is left as it was.
  void addCopy(const Buffer& other);

  size_t length() const { return length_; }
  bool empty() const { return length_ == 0; }
  void drain(size_t len);
  void clear() { drain(length_); }

  // Fills up to `max` slices from the front; returns how many were filled.
  size_t frontSlices(RawSlice* out, size_t max) const;
  // Copies the first `len` bytes to `out` (len <= length()).
  void copyOut(size_t len, void* out) const;
  std::string toString() const;

  // Size of one pooled slice.
  static constexpr size_t kSliceSize = 16 * 1024;

 private:
  struct Slice {
    Slice* next;
    uint32_t capacity;
    uint32_t begin;  // first unread byte
    uint32_t end;    // one past the last written byte
    char* data() { return reinterpret_cast<char*>(this + 1); }
    const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  };
  static Slice* allocSlice(size_t min_capacity);
  static void freeSlice(Slice* s);
  void appendSlice(Slice* s);

  Slice* head_ = nullptr;
  Slice* tail_ = nullptr;
  size_t length_ = 0;
};

}  // namespace strait::buffer
