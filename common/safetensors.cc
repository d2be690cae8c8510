#include "common/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_util.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Headers beyond this are certainly corrupt; the reference implementation uses the same bound.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;
constexpr std::string_view kMetadataKey = "__metadata__";
constexpr std::string_view kIndexFileName = "model.safetensors.index.json";
constexpr std::string_view kSingleFileName = "model.safetensors";

absl::Status HeaderError(const std::string& path, std::string_view message) {
  return absl::InvalidArgumentError(CatMessage(path, ": invalid safetensors header: ", message));
}

absl::Status TensorError(const std::string& path, std::string_view tensor, std::string_view message) {
  return absl::InvalidArgumentError(CatMessage(path, ": tensor '", tensor, "': ", message));
}

// Element count of a shape, or nullopt on a negative dimension or int64 overflow.
std::optional<int64_t> CheckedNumel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return std::nullopt;
    n *= d;
  }
  return n;
}

// A non-negative integer from the header (shape dims and offsets); the header is untrusted, so floats and
// negative numbers are rejected rather than converted.
std::optional<uint64_t> AsHeaderUint(const json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer()) {
    const int64_t v = value.get<int64_t>();
    if (v < 0) return std::nullopt;
    return static_cast<uint64_t>(v);
  }
  return std::nullopt;
}

uint64_t ReadLittleEndianU64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint64_t>(p[i]);
  return v;
}

struct ParsedEntry {
  SafetensorsTensor tensor;
  uint64_t begin = 0;
  uint64_t end = 0;
};

absl::StatusOr<ParsedEntry> ParseEntry(const std::string& path, const std::string& name, const json& entry,
                                       uint64_t data_size) {
  if (!entry.is_object()) return TensorError(path, name, CatMessage("entry must be an object, got ", entry.dump()));
  auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end()) return TensorError(path, name, "missing 'dtype'");
  if (!dtype_it->is_string()) return TensorError(path, name, CatMessage("'dtype' must be a string, got ", dtype_it->dump()));
  const std::string dtype_name = dtype_it->get<std::string>();
  std::optional<DType> dtype = DTypeFromName(dtype_name);
  if (!dtype) return TensorError(path, name, CatMessage("unknown dtype '", dtype_name, "'"));

  auto shape_it = entry.find("shape");
  if (shape_it == entry.end()) return TensorError(path, name, "missing 'shape'");
  if (!shape_it->is_array()) return TensorError(path, name, CatMessage("'shape' must be a list, got ", shape_it->dump()));
  std::vector<int64_t> shape;
  for (const json& dim : *shape_it) {
    std::optional<uint64_t> d = AsHeaderUint(dim);
    if (!d || *d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return TensorError(path, name, CatMessage("shape ", shape_it->dump(), " has a negative or non-integer dimension"));
    }
    shape.push_back(static_cast<int64_t>(*d));
  }

  auto offsets_it = entry.find("data_offsets");
  if (offsets_it == entry.end()) return TensorError(path, name, "missing 'data_offsets'");
  if (!offsets_it->is_array() || offsets_it->size() != 2) {
    return TensorError(path, name, CatMessage("'data_offsets' must be [begin, end], got ", offsets_it->dump()));
  }
  std::optional<uint64_t> begin = AsHeaderUint((*offsets_it)[0]);
  std::optional<uint64_t> end = AsHeaderUint((*offsets_it)[1]);
  if (!begin || !end) {
    return TensorError(path, name, CatMessage("'data_offsets' ", offsets_it->dump(), " must be non-negative integers"));
  }
  if (*begin > *end) {
    return TensorError(path, name, CatMessage("data_offsets begin ", *begin, " is after end ", *end));
  }
  if (*end > data_size) {
    return TensorError(path, name,
                       CatMessage("data_offsets end ", *end, " is beyond the data section of ", data_size,
                                    " bytes (file truncated?)"));
  }
  std::optional<int64_t> numel = CheckedNumel(shape);
  if (!numel) return TensorError(path, name, CatMessage("shape ", shape_it->dump(), " overflows"));
  const uint64_t nbytes = *end - *begin;
  const size_t elem = DTypeSize(*dtype);
  if (static_cast<uint64_t>(*numel) > std::numeric_limits<uint64_t>::max() / elem ||
      static_cast<uint64_t>(*numel) * elem != nbytes) {
    return TensorError(path, name,
                       CatMessage("byte length ", nbytes, " does not match shape ", shape_it->dump(), " of ",
                                    dtype_name, " (", *numel, " elements x ", elem, " bytes)"));
  }
  ParsedEntry parsed;
  parsed.tensor.name = name;
  parsed.tensor.dtype = *dtype;
  parsed.tensor.shape = std::move(shape);
  parsed.tensor.nbytes = static_cast<size_t>(nbytes);
  parsed.tensor.file = path;
  parsed.begin = *begin;
  parsed.end = *end;
  return parsed;
}

std::string JoinPath(const std::string& dir, std::string_view name) { return (fs::path(dir) / name).string(); }

}  // namespace

int64_t SafetensorsTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(CatMessage("safetensors file not found: ", path));
    return absl::InternalError(CatMessage("cannot open ", path, ": ", std::strerror(err)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::InternalError(CatMessage("cannot stat ", path, ": ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(CatMessage(path, " is not a regular file"));
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    return HeaderError(path, CatMessage("file is ", file_size, " bytes, too small for the 8-byte header length"));
  }
  void* mapping = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_errno = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (mapping == MAP_FAILED) {
    return absl::InternalError(CatMessage("cannot mmap ", path, ": ", std::strerror(mmap_errno)));
  }
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->mapping_ = mapping;
  file->mapping_size_ = static_cast<size_t>(file_size);

  const auto* bytes = static_cast<const std::byte*>(mapping);
  const uint64_t header_size = ReadLittleEndianU64(bytes);
  if (header_size > file_size - 8) {
    return HeaderError(path, CatMessage("header length ", header_size, " is larger than the file (", file_size,
                                          " bytes); file truncated or not safetensors"));
  }
  if (header_size > kMaxHeaderBytes) {
    return HeaderError(path, CatMessage("header length ", header_size, " exceeds the ", kMaxHeaderBytes,
                                          "-byte limit"));
  }
  const std::string_view header_text(reinterpret_cast<const char*>(bytes + 8), header_size);
  json header;
  try {
    header = json::parse(header_text.begin(), header_text.end());
  } catch (const json::exception& e) {
    return HeaderError(path, CatMessage("header is not valid JSON: ", e.what()));
  }
  if (!header.is_object()) return HeaderError(path, CatMessage("header must be a JSON object, got ", header.type_name()));

  const uint64_t data_size = file_size - 8 - header_size;
  const std::byte* data_start = bytes + 8 + header_size;
  std::vector<ParsedEntry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      if (!value.is_object()) return HeaderError(path, "'__metadata__' must be an object of strings");
      for (const auto& [meta_key, meta_value] : value.items()) {
        if (!meta_value.is_string()) {
          return HeaderError(path, CatMessage("'__metadata__' value for '", meta_key, "' must be a string, got ",
                                                meta_value.dump()));
        }
        file->metadata_[meta_key] = meta_value.get<std::string>();
      }
      continue;
    }
    absl::StatusOr<ParsedEntry> entry = ParseEntry(path, key, value, data_size);
    if (!entry.ok()) return entry.status();
    entries.push_back(*std::move(entry));
  }

  // Overlap check on the non-empty ranges sorted by start; empty tensors occupy no bytes and cannot overlap.
  std::vector<const ParsedEntry*> by_offset;
  for (const ParsedEntry& e : entries)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const ParsedEntry* a, const ParsedEntry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const ParsedEntry& prev = *by_offset[i - 1];
    const ParsedEntry& cur = *by_offset[i];
    if (cur.begin < prev.end) {
      return TensorError(path, cur.tensor.name,
                         CatMessage("data_offsets [", cur.begin, ", ", cur.end, ") overlap tensor '",
                                      prev.tensor.name, "' at [", prev.begin, ", ", prev.end, ")"));
    }
  }

  // The format requires the data section to be fully indexed: no holes, nothing after the last tensor.
  uint64_t covered = 0;
  for (const ParsedEntry* e : by_offset) covered += e->end - e->begin;
  if (covered != data_size) {
    return HeaderError(path, CatMessage("tensors cover ", covered, " of the ", data_size,
                                        " bytes of the data section; the rest is not indexed by any tensor"));
  }

  // header.items() iterates keys in sorted order, so tensors_ is sorted by name.
  file->tensors_.reserve(entries.size());
  for (ParsedEntry& e : entries) {
    e.tensor.data = data_start + e.begin;
    file->index_.emplace(e.tensor.name, file->tensors_.size());
    file->tensors_.push_back(std::move(e.tensor));
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

absl::StatusOr<SafetensorsTensor> SafetensorsFile::Get(std::string_view name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return absl::NotFoundError(CatMessage("tensor '", name, "' not found in ", path_));
  return tensors_[it->second];
}

bool SafetensorsFile::Contains(std::string_view name) const { return index_.find(name) != index_.end(); }

absl::StatusOr<std::unique_ptr<WeightFiles>> WeightFiles::Open(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(CatMessage("model folder ", dir, " does not exist or is not a directory"));
  }
  std::unique_ptr<WeightFiles> weights(new WeightFiles());
  weights->dir_ = dir;

  const std::string index_path = JoinPath(dir, kIndexFileName);
  const std::string single_path = JoinPath(dir, kSingleFileName);
  if (fs::exists(index_path, ec)) {
    absl::StatusOr<json> index = ReadJsonFile(index_path);
    if (!index.ok()) return index.status();
    if (!index->is_object() || !index->contains("weight_map") || !(*index)["weight_map"].is_object()) {
      return absl::InvalidArgumentError(CatMessage(index_path, ": missing object 'weight_map'"));
    }
    const json& weight_map = (*index)["weight_map"];
    std::map<std::string, size_t> shard_position;  // shard file name -> index in files_
    for (const auto& [tensor_name, shard_value] : weight_map.items()) {
      if (!shard_value.is_string()) {
        return absl::InvalidArgumentError(CatMessage(index_path, ": weight_map entry for tensor '", tensor_name,
                                                       "' must be a file name, got ", shard_value.dump()));
      }
      const std::string shard = shard_value.get<std::string>();
      auto it = shard_position.find(shard);
      if (it == shard_position.end()) {
        const std::string shard_path = JoinPath(dir, shard);
        if (!fs::exists(shard_path, ec)) {
          return absl::NotFoundError(CatMessage(index_path, ": shard '", shard, "' (holding tensor '", tensor_name,
                                                  "') does not exist"));
        }
        absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(shard_path);
        if (!file.ok()) return file.status();
        it = shard_position.emplace(shard, weights->files_.size()).first;
        weights->files_.push_back(*std::move(file));
      }
      const SafetensorsFile& file = *weights->files_[it->second];
      absl::StatusOr<SafetensorsTensor> tensor = file.Get(tensor_name);
      if (!tensor.ok()) {
        return absl::NotFoundError(CatMessage(index_path, ": weight_map puts tensor '", tensor_name, "' in ",
                                                file.path(), " but that file does not contain it"));
      }
      weights->tensors_.emplace(tensor_name, *std::move(tensor));
    }
    if (weights->files_.empty()) {
      return absl::NotFoundError(CatMessage(index_path, ": weight_map is empty; no safetensors in ", dir));
    }
    return weights;
  }

  std::vector<std::string> paths;
  if (fs::exists(single_path, ec)) {
    paths.push_back(single_path);
  } else {
    for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".safetensors" && entry.is_regular_file(ec)) paths.push_back(entry.path().string());
    }
    if (ec) return absl::InternalError(CatMessage("cannot list model folder ", dir, ": ", ec.message()));
    std::sort(paths.begin(), paths.end());
  }
  if (paths.empty()) return absl::NotFoundError(CatMessage("no .safetensors weight files in model folder ", dir));
  for (const std::string& path : paths) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
    if (!file.ok()) return file.status();
    for (const SafetensorsTensor& tensor : (*file)->tensors()) {
      auto [it, inserted] = weights->tensors_.emplace(tensor.name, tensor);
      if (!inserted) {
        return absl::InvalidArgumentError(CatMessage("tensor '", tensor.name, "' appears in both ", it->second.file,
                                                       " and ", path));
      }
    }
    weights->files_.push_back(*std::move(file));
  }
  return weights;
}

absl::StatusOr<SafetensorsTensor> WeightFiles::Get(std::string_view name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return absl::NotFoundError(CatMessage("tensor '", name, "' not found in ", dir_));
  return it->second;
}

bool WeightFiles::Contains(std::string_view name) const { return tensors_.find(name) != tensors_.end(); }

std::vector<std::string> WeightFiles::Names() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& [name, tensor] : tensors_) names.push_back(name);
  return names;
}

size_t WeightFiles::TotalBytes() const {
  size_t total = 0;
  for (const auto& [name, tensor] : tensors_) total += tensor.nbytes;
  return total;
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) {
    json meta = json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header[std::string(kMetadataKey)] = std::move(meta);
  }
  // Wider element types go first (stable otherwise), as the reference writer does: with the header padded to 8
  // bytes every tensor then starts at a multiple of its element size, so readers may use the mapping in place.
  std::vector<const TensorToWrite*> ordered;
  for (const TensorToWrite& t : tensors) ordered.push_back(&t);
  std::stable_sort(ordered.begin(), ordered.end(), [](const TensorToWrite* a, const TensorToWrite* b) {
    return DTypeSize(a->dtype) > DTypeSize(b->dtype);
  });
  std::vector<size_t> sizes;
  sizes.reserve(tensors.size());
  uint64_t offset = 0;
  for (const TensorToWrite* tensor : ordered) {
    const TensorToWrite& t = *tensor;
    if (t.name.empty() || t.name == kMetadataKey) {
      return absl::InvalidArgumentError(CatMessage(path, ": invalid tensor name '", t.name, "'"));
    }
    if (header.contains(t.name)) {
      return absl::InvalidArgumentError(CatMessage(path, ": tensor '", t.name, "' given twice"));
    }
    std::optional<int64_t> numel = CheckedNumel(t.shape);
    if (!numel) {
      return absl::InvalidArgumentError(CatMessage(path, ": tensor '", t.name, "' has an invalid shape [",
                                                     absl::StrJoin(t.shape, ", "), "]"));
    }
    const size_t nbytes = static_cast<size_t>(*numel) * DTypeSize(t.dtype);
    if (nbytes > 0 && t.data == nullptr) {
      return absl::InvalidArgumentError(CatMessage(path, ": tensor '", t.name, "' has no data"));
    }
    header[t.name] = {{"dtype", std::string(DTypeName(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    sizes.push_back(nbytes);
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  const std::string temp_path = path + ".tmp";
  {
    std::ofstream out(temp_path, std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError(CatMessage("cannot create ", temp_path, ": ", std::strerror(errno)));
    char length_bytes[8];
    uint64_t length = header_text.size();
    for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
    out.write(length_bytes, 8);
    out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
    for (size_t i = 0; i < ordered.size(); ++i) {
      if (sizes[i] > 0) out.write(static_cast<const char*>(ordered[i]->data), static_cast<std::streamsize>(sizes[i]));
    }
    out.close();
    if (!out) {
      std::error_code ec;
      fs::remove(temp_path, ec);
      return absl::InternalError(CatMessage("cannot write ", path));
    }
  }
  std::error_code ec;
  fs::rename(temp_path, path, ec);
  if (ec) return absl::InternalError(CatMessage("cannot rename ", temp_path, " to ", path, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace tessera
