// Typed reads of optional JSON fields with the path of the field in messages: a field of the wrong
// type is CNI error 6 ("failed to decode content"), `where.key: expected a string, got a number`.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cni/types.h"

namespace isthmus::cni {

// "prevResult" + "ips" -> "prevResult.ips"; "" + "name" -> "name".
std::string json_path(std::string_view where, std::string_view key);
std::string json_path(std::string_view where, size_t index);
// "a string", "a number", ... (the JSON type of `j`, for messages).
std::string_view json_type_name(const nlohmann::json& j);
CniError wrong_type(std::string_view path, std::string_view expected, const nlohmann::json& got);

// Absent or null: nothing. Present with another type: error 6.
Expected<std::optional<std::string>, CniError> opt_string(const nlohmann::json& obj,
                                                          std::string_view key,
                                                          std::string_view where);
Expected<std::optional<uint32_t>, CniError> opt_uint(const nlohmann::json& obj,
                                                     std::string_view key, std::string_view where);
Expected<std::optional<bool>, CniError> opt_bool(const nlohmann::json& obj, std::string_view key,
                                                 std::string_view where);
// The field if it is an array (object); nullptr if absent or null.
Expected<const nlohmann::json*, CniError> opt_array(const nlohmann::json& obj, std::string_view key,
                                                    std::string_view where);
Expected<const nlohmann::json*, CniError> opt_object(const nlohmann::json& obj,
                                                     std::string_view key, std::string_view where);
// An array of strings.
Expected<std::optional<std::vector<std::string>>, CniError> opt_strings(const nlohmann::json& obj,
                                                                        std::string_view key,
                                                                        std::string_view where);

}  // namespace isthmus::cni
