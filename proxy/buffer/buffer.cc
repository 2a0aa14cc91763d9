#include "strait/buffer/buffer.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace strait::buffer {

namespace {

// Per-thread free list of standard-size slices. Bounded so a burst does not pin memory forever.
struct SlicePool {
  void* head = nullptr;
  size_t count = 0;
  static constexpr size_t kMaxPooled = 256;  // 4 MiB per worker at most
  ~SlicePool() {
    while (head != nullptr) {
      void* next = *static_cast<void**>(head);
      std::free(head);
      head = next;
    }
  }
};

thread_local SlicePool tls_pool;

}  // namespace

Buffer::~Buffer() { clear(); }

Buffer::Buffer(Buffer&& other) noexcept
    : head_(other.head_), tail_(other.tail_), length_(other.length_) {
  other.head_ = other.tail_ = nullptr;
  other.length_ = 0;
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    clear();
    head_ = other.head_;
    tail_ = other.tail_;
    length_ = other.length_;
    other.head_ = other.tail_ = nullptr;
    other.length_ = 0;
  }
  return *this;
}

Buffer::Slice* Buffer::allocSlice(size_t min_capacity) {
  size_t capacity = std::max(min_capacity, kSliceSize);
  void* mem = nullptr;
  if (capacity == kSliceSize && tls_pool.head != nullptr) {
    mem = tls_pool.head;
    tls_pool.head = *static_cast<void**>(mem);
    tls_pool.count--;
  } else {
    mem = std::malloc(sizeof(Slice) + capacity);
    if (mem == nullptr) {
      throw std::bad_alloc();
    }
  }
  auto* s = static_cast<Slice*>(mem);
  s->next = nullptr;
  s->capacity = static_cast<uint32_t>(capacity);
  s->begin = 0;
  s->end = 0;
  return s;
}

void Buffer::freeSlice(Slice* s) {
  if (s->capacity == kSliceSize && tls_pool.count < SlicePool::kMaxPooled) {
    *reinterpret_cast<void**>(s) = tls_pool.head;
    tls_pool.head = s;
    tls_pool.count++;
    return;
  }
  std::free(s);
}

void Buffer::appendSlice(Slice* s) {
  if (tail_ == nullptr) {
    head_ = tail_ = s;
  } else {
    tail_->next = s;
    tail_ = s;
  }
}

void Buffer::add(const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  length_ += len;
  if (tail_ != nullptr) {
    size_t room = tail_->capacity - tail_->end;
    size_t n = std::min(room, len);
    if (n > 0) {
      std::memcpy(tail_->data() + tail_->end, p, n);
      tail_->end += static_cast<uint32_t>(n);
      p += n;
      len -= n;
    }
  }
  while (len > 0) {
    // Large writes go into one slice sized for them rather than many small copies.
    Slice* s = allocSlice(len > kSliceSize * 4 ? len : kSliceSize);
    size_t n = std::min<size_t>(s->capacity, len);
    std::memcpy(s->data(), p, n);
    s->end = static_cast<uint32_t>(n);
    appendSlice(s);
    p += n;
    len -= n;
  }
}

void Buffer::move(Buffer& other) {
  if (other.head_ == nullptr) {
    return;
  }
  if (tail_ == nullptr) {
    head_ = other.head_;
  } else {
    tail_->next = other.head_;
  }
  tail_ = other.tail_;
  length_ += other.length_;
  other.head_ = other.tail_ = nullptr;
  other.length_ = 0;
}

void Buffer::move(Buffer& other, size_t len) {
  len = std::min(len, other.length_);
  while (len > 0 && other.head_ != nullptr) {
    Slice* s = other.head_;
    size_t avail = s->end - s->begin;
    if (avail <= len) {
      other.head_ = s->next;
      if (other.head_ == nullptr) {
        other.tail_ = nullptr;
      }
      other.length_ -= avail;
      s->next = nullptr;
      appendSlice(s);
      length_ += avail;
      len -= avail;
    } else {
      add(s->data() + s->begin, len);
      other.drain(len);
      len = 0;
    }
  }
}

void Buffer::drain(size_t len) {
  len = std::min(len, length_);
  length_ -= len;
  while (len > 0) {
    Slice* s = head_;
    size_t avail = s->end - s->begin;
    if (avail <= len) {
      len -= avail;
      head_ = s->next;
      freeSlice(s);
    } else {
      s->begin += static_cast<uint32_t>(len);
      len = 0;
    }
  }
  // Drop empty leading slices (a fully drained head) so an idle buffer holds no memory.
  while (head_ != nullptr && head_->begin == head_->end) {
    Slice* s = head_;
    head_ = s->next;
    freeSlice(s);
  }
  if (head_ == nullptr) {
    tail_ = nullptr;
  }
}

void Buffer::addCopy(const Buffer& other) {
  for (const Slice* s = other.head_; s != nullptr; s = s->next) {
    if (s->end > s->begin) {
      add(s->data() + s->begin, s->end - s->begin);
    }
  }
}

size_t Buffer::frontSlices(RawSlice* out, size_t max) const {
  size_t n = 0;
  for (const Slice* s = head_; s != nullptr && n < max; s = s->next) {
    if (s->end > s->begin) {
      out[n++] = RawSlice{s->data() + s->begin, s->end - s->begin};
    }
  }
  return n;
}

void Buffer::copyOut(size_t len, void* out) const {
  char* o = static_cast<char*>(out);
  for (const Slice* s = head_; s != nullptr && len > 0; s = s->next) {
    size_t n = std::min<size_t>(s->end - s->begin, len);
    std::memcpy(o, s->data() + s->begin, n);
    o += n;
    len -= n;
  }
}

std::string Buffer::toString() const {
  std::string out(length_, '\0');
  copyOut(length_, out.data());
  return out;
}

}  // namespace strait::buffer
