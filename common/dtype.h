// Element types shared by weight files, tensors and kernels, with the scalar conversions between the
// 16-bit float formats and float32 that every backend and loader needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace tessera {

enum class DType : uint8_t { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

// Size of one element in bytes.
size_t DTypeSize(DType dtype);
// The safetensors spelling ("F32", "BF16", ...).
std::string_view DTypeName(DType dtype);
// Parses the safetensors spelling; nullopt for anything unknown.
std::optional<DType> DTypeFromName(std::string_view name);
// Parses the torch spelling used by config.json ("float32", "bfloat16", "float16").
std::optional<DType> DTypeFromTorchName(std::string_view name);
// The torch spelling written to config.json ("float32", "bfloat16", "int64", ...).
std::string_view DTypeTorchName(DType dtype);
inline bool IsFloatingPoint(DType d) {
  return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16 || d == DType::kF64;
}

inline float BF16ToFloat(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// Round-to-nearest-even, NaN kept quiet, as torch does when casting to bfloat16.
inline uint16_t FloatToBF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float F16ToFloat(uint16_t v);
uint16_t FloatToF16(float f);

// Converts `count` elements of any type to float32 (integers and bools by value).
void ConvertToFloat(DType src_dtype, const void* src, float* dst, size_t count);
// Converts `count` float32 values into a floating-point type (F32, F16, BF16).
void ConvertFromFloat(const float* src, DType dst_dtype, void* dst, size_t count);

}  // namespace tessera
