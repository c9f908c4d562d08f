// Where and why text is not JSON, without exceptions: nlohmann's DOM parser (with exceptions off)
// only says that it is not; its SAX interface says where. Header-only: for the libraries that
// already use nlohmann-json (the agent's state file, the CNI plugin's input).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace isthmus {

// "parse error at line 3, column 5: syntax error while parsing object key - ..."; for text that
// is valid JSON, "syntax error".
inline std::string json_syntax_error(std::string_view text) {
  struct Sax final : nlohmann::json_sax<nlohmann::json> {
    std::string message;
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return true; }
    bool key(string_t&) override { return true; }
    bool end_object() override { return true; }
    bool start_array(std::size_t) override { return true; }
    bool end_array() override { return true; }
    bool parse_error(std::size_t position, const std::string&,
                     const nlohmann::detail::exception& e) override {
      // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> from "parse".
      message = e.what();
      if (auto at = message.find("parse error"); at != std::string::npos) message.erase(0, at);
      if (message.empty()) message = "syntax error at byte " + std::to_string(position);
      return false;
    }
  } sax;
  (void)nlohmann::json::sax_parse(text, &sax);
  return sax.message.empty() ? std::string("syntax error") : sax.message;
}

}  // namespace isthmus
