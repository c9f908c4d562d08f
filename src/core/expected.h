// Expected<T, E>: a value or the reason there is none. C++23's std::expected for a C++20 code base.
// Used for every failure a peer, a user or the environment can cause; a fault of the program
// itself is a BUG or PANIC (core/bug.h).
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace isthmus {

// A failure described for a human: what was wrong, where, and what to do.
struct Error {
  std::string message;
};

template <class E>
struct Unexpected {
  E error;
};

template <class E>
Unexpected<std::decay_t<E>> unexpected(E&& e) {
  return {std::forward<E>(e)};
}

inline Unexpected<Error> fail(std::string message) { return {Error{std::move(message)}}; }

template <class T, class E = Error>
class [[nodiscard]] Expected {
 public:
  using value_type = T;
  using error_type = E;

  Expected() requires std::is_default_constructible_v<T> : v_(std::in_place_index<0>) {}
  Expected(const T& v) : v_(std::in_place_index<0>, v) {}  // NOLINT(google-explicit-constructor)
  Expected(T&& v) : v_(std::in_place_index<0>, std::move(v)) {}  // NOLINT
  template <class U>
  requires(std::is_constructible_v<T, U> && !std::is_same_v<std::decay_t<U>, T> &&
           !std::is_same_v<std::decay_t<U>, Expected>) Expected(U&& v)
      : v_(std::in_place_index<0>, T(std::forward<U>(v))) {}  // NOLINT
  template <class G>
  Expected(Unexpected<G> u) : v_(std::in_place_index<1>, E(std::move(u.error))) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return check(), std::get<0>(v_); }
  const T& value() const& { return check(), std::get<0>(v_); }
  // From a temporary, the value itself (moved out), not a reference into the temporary: so
  // `for (auto& x : *kernel.fdb())` is safe, as the range's lifetime is extended.
  T value() && { return check(), std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  E& error() & { return std::get<1>(v_); }
  const E& error() const& { return std::get<1>(v_); }
  E&& error() && { return std::get<1>(std::move(v_)); }

 private:
  void check() const {
    if (!has_value()) std::abort();  // Reading the value of a failure is a programming error.
  }
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Expected<void, E> {
 public:
  using value_type = void;
  using error_type = E;

  Expected() = default;
  template <class G>
  Expected(Unexpected<G> u) : err_(E(std::move(u.error))) {}  // NOLINT

  bool has_value() const { return !err_.has_value(); }
  explicit operator bool() const { return has_value(); }
  E& error() & { return *err_; }
  const E& error() const& { return *err_; }

 private:
  std::optional<E> err_;
};

}  // namespace isthmus
