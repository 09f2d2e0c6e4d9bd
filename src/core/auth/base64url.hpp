#pragma once

// Base64url without padding (RFC 7515 §2, RFC 4648 §5), the encoding of every JWS segment and JWK
// member. Decoding is strict: padding, whitespace, characters of the standard alphabet ('+', '/')
// and non-zero trailing bits are refused, so that one value has exactly one encoding and a token
// cannot be altered without changing its bytes.

#include <optional>
#include <string>
#include <string_view>

namespace olympus::auth {

std::string base64url_encode(std::string_view bytes);
// The decoded bytes, or nothing when `text` is not canonical unpadded base64url.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace olympus::auth
