// Reading and writing Hugging Face .safetensors weight files. Files are memory-mapped read-only and their headers
// are fully validated, so that a truncated or inconsistent file is a clear error naming the file and tensor.
// WeightFiles gathers every weight file of a model folder (single file, sharded with an index, or loose files).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/dtype.h"

namespace tessera {

// A tensor inside a memory-mapped file. `data` is aligned to the element size when the writer ordered tensors by
// element width (the reference writer and WriteSafetensors do); the format itself does not demand it.
struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;  // points into the mapping; valid while the owning object lives
  size_t nbytes = 0;
  std::string file;  // path of the file it came from
  int64_t numel() const;
};

// One mmap'ed .safetensors file.
class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();  // munmap

  // Sorted by name.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  absl::StatusOr<SafetensorsTensor> Get(std::string_view name) const;  // NotFound names tensor and file
  bool Contains(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // "__metadata__"
  const std::string& path() const { return path_; }
  size_t file_size() const { return mapping_size_; }

 private:
  SafetensorsFile() = default;

  std::string path_;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// All safetensors of a model folder.
class WeightFiles {
 public:
  // dir holds model.safetensors, or model.safetensors.index.json + shards (weight_map), or otherwise every
  // *.safetensors file in the folder. No safetensors at all -> NotFound naming the folder.
  static absl::StatusOr<std::unique_ptr<WeightFiles>> Open(const std::string& dir);

  absl::StatusOr<SafetensorsTensor> Get(std::string_view name) const;  // NotFound: "tensor 'x' not found in <dir>"
  bool Contains(std::string_view name) const;
  std::vector<std::string> Names() const;  // sorted
  // Sum of the byte sizes of every tensor (for memory planning).
  size_t TotalBytes() const;
  const std::string& dir() const { return dir_; }
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  WeightFiles() = default;

  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, SafetensorsTensor, std::less<>> tensors_;
};

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;  // numel * DTypeSize(dtype) bytes; may be null only when numel is 0
};

// Writes a valid safetensors file (header JSON padded to 8 bytes, offsets in order, no holes). Tensors are laid out
// widest element type first, keeping the given order among equal widths, so every tensor is naturally aligned.
// Used by `tessera make-model` and by tests that build broken or sharded files.
absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace tessera
