#include "cni/json_read.h"

namespace isthmus::cni {

using nlohmann::json;

std::string json_path(std::string_view where, std::string_view key) {
  std::string p(where);
  if (!p.empty()) p += '.';
  p.append(key);
  return p;
}

std::string json_path(std::string_view where, size_t index) {
  std::string p(where);
  p += '[';
  p += std::to_string(index);
  p += ']';
  return p;
}

std::string_view json_type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number";
    default:
      return "a value of another kind";
  }
}

CniError wrong_type(std::string_view path, std::string_view expected, const json& got) {
  std::string msg(path);
  msg += ": expected ";
  msg.append(expected);
  msg += ", got ";
  msg.append(json_type_name(got));
  return cni_error(Code::kDecodingFailure, std::move(msg));
}

namespace {
const json* find(const json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}
}  // namespace

Expected<std::optional<std::string>, CniError> opt_string(const json& obj, std::string_view key,
                                                          std::string_view where) {
  const json* v = find(obj, key);
  if (!v) return std::optional<std::string>{};
  if (!v->is_string()) return unexpected(wrong_type(json_path(where, key), "a string", *v));
  return std::optional<std::string>(v->get<std::string>());
}

Expected<std::optional<uint32_t>, CniError> opt_uint(const json& obj, std::string_view key,
                                                     std::string_view where) {
  const json* v = find(obj, key);
  if (!v) return std::optional<uint32_t>{};
  if (v->is_number_unsigned() && v->get<uint64_t>() <= UINT32_MAX)
    return std::optional<uint32_t>(static_cast<uint32_t>(v->get<uint64_t>()));
  if (v->is_number_integer() && v->get<int64_t>() >= 0 && v->get<int64_t>() <= UINT32_MAX)
    return std::optional<uint32_t>(static_cast<uint32_t>(v->get<int64_t>()));
  return unexpected(wrong_type(json_path(where, key), "an unsigned 32-bit integer", *v));
}

Expected<std::optional<bool>, CniError> opt_bool(const json& obj, std::string_view key,
                                                 std::string_view where) {
  const json* v = find(obj, key);
  if (!v) return std::optional<bool>{};
  if (!v->is_boolean()) return unexpected(wrong_type(json_path(where, key), "true or false", *v));
  return std::optional<bool>(v->get<bool>());
}

Expected<const json*, CniError> opt_array(const json& obj, std::string_view key,
                                          std::string_view where) {
  const json* v = find(obj, key);
  if (v && !v->is_array()) return unexpected(wrong_type(json_path(where, key), "an array", *v));
  return v;
}

Expected<const json*, CniError> opt_object(const json& obj, std::string_view key,
                                           std::string_view where) {
  const json* v = find(obj, key);
  if (v && !v->is_object()) return unexpected(wrong_type(json_path(where, key), "an object", *v));
  return v;
}

Expected<std::optional<std::vector<std::string>>, CniError> opt_strings(const json& obj,
                                                                        std::string_view key,
                                                                        std::string_view where) {
  auto a = opt_array(obj, key, where);
  if (!a) return unexpected(a.error());
  if (!*a) return std::optional<std::vector<std::string>>{};
  std::vector<std::string> out;
  auto path = json_path(where, key);
  for (size_t i = 0; i < (*a)->size(); ++i) {
    const json& e = (**a)[i];
    if (!e.is_string()) return unexpected(wrong_type(json_path(path, i), "a string", e));
    out.push_back(e.get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

}  // namespace isthmus::cni
