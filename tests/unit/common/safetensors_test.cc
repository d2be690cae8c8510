#include "common/safetensors.h"

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("tessera_safetensors_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes a file with a hand-made header, so that tests can craft headers WriteSafetensors refuses to produce.
  std::string WriteRaw(const std::string& name, const std::string& header, size_t data_bytes,
                       std::optional<uint64_t> declared_header_length = std::nullopt) {
    const std::string path = Path(name);
    std::ofstream out(path, std::ios::binary);
    const uint64_t length = declared_header_length.value_or(header.size());
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((length >> (8 * i)) & 0xff));
    out << header;
    out << std::string(data_bytes, '\x01');
    return path;
  }

  // Opens a crafted file and returns the error message (the test fails if it opened).
  std::string OpenError(const std::string& path) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
    EXPECT_FALSE(file.ok()) << "expected " << path << " to be rejected";
    if (file.ok()) return "";
    EXPECT_THAT(std::string(file.status().message()), HasSubstr(path));
    return std::string(file.status().message());
  }

  fs::path dir_;
};

std::vector<std::byte> Pattern(size_t n, int seed) {
  std::vector<std::byte> bytes(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::byte>((i * 131 + seed * 17 + 7) & 0xff);
  return bytes;
}

TEST_F(SafetensorsTest, RoundTripsEveryDtype) {
  const DType dtypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kI64,
                          DType::kI32, DType::kI16, DType::kI8,   DType::kU8,  DType::kBool};
  std::vector<std::vector<std::byte>> buffers;
  std::vector<TensorToWrite> tensors;
  int seed = 0;
  for (DType dtype : dtypes) {
    const std::vector<int64_t> shape = {3, 5};
    buffers.push_back(Pattern(15 * DTypeSize(dtype), seed++));
    tensors.push_back({std::string("t_") + std::string(DTypeName(dtype)), dtype, shape, buffers.back().data()});
  }
  const std::string path = Path("all.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, tensors, {{"format", "pt"}, {"note", "round trip"}}).ok());

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors().size(), tensors.size());
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  EXPECT_EQ((*file)->metadata().at("note"), "round trip");
  for (size_t i = 0; i < tensors.size(); ++i) {
    absl::StatusOr<SafetensorsTensor> t = (*file)->Get(tensors[i].name);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->name, tensors[i].name);
    EXPECT_EQ(t->dtype, tensors[i].dtype);
    EXPECT_THAT(t->shape, ElementsAre(3, 5));
    EXPECT_EQ(t->numel(), 15);
    EXPECT_EQ(t->nbytes, buffers[i].size());
    EXPECT_EQ(t->file, path);
    EXPECT_EQ(std::memcmp(t->data, buffers[i].data(), t->nbytes), 0) << tensors[i].name;
  }
  // tensors() is sorted by name.
  for (size_t i = 1; i < (*file)->tensors().size(); ++i) {
    EXPECT_LT((*file)->tensors()[i - 1].name, (*file)->tensors()[i].name);
  }
}

TEST_F(SafetensorsTest, HeaderIsPaddedToEightBytesAndOffsetsFollowInputOrder) {
  const float a[3] = {1, 2, 3};
  const float b[1] = {4};
  const std::string path = Path("pad.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"z_first", DType::kF32, {3}, a}, {"a_second", DType::kF32, {1}, b}}).ok());
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(header_length % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_length + 16);
  const std::string header = bytes.substr(8, header_length);
  EXPECT_THAT(header, HasSubstr("\"z_first\":{\"data_offsets\":[0,12]"));
  EXPECT_THAT(header, HasSubstr("\"a_second\":{\"data_offsets\":[12,16]"));

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<SafetensorsTensor> first = (*file)->Get("z_first");
  ASSERT_TRUE(first.ok());
  float values[3];
  std::memcpy(values, first->data, sizeof(values));
  EXPECT_THAT(values, ElementsAre(1.f, 2.f, 3.f));
  EXPECT_TRUE((*file)->metadata().empty());
}

TEST_F(SafetensorsTest, EmptyAndScalarTensorsAreLegal) {
  const int64_t scalar = 42;
  const std::string path = Path("empty.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"empty", DType::kF32, {0, 4}, nullptr},
                                      {"scalar", DType::kI64, {}, &scalar},
                                      {"also_empty", DType::kBF16, {2, 0}, nullptr}})
                  .ok());
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<SafetensorsTensor> empty = (*file)->Get("empty");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->numel(), 0);
  EXPECT_EQ(empty->nbytes, 0u);
  absl::StatusOr<SafetensorsTensor> s = (*file)->Get("scalar");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->numel(), 1);
  int64_t value;
  std::memcpy(&value, s->data, 8);
  EXPECT_EQ(value, 42);
}

TEST_F(SafetensorsTest, FileWithOnlyEmptyHeaderOpens) {
  const std::string path = WriteRaw("nothing.safetensors", "{}      ", 0);
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->tensors().empty());
}

TEST_F(SafetensorsTest, GetMissingTensorNamesTensorAndFile) {
  const float a = 1;
  const std::string path = Path("one.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"a", DType::kF32, {1}, &a}}).ok());
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok());
  absl::StatusOr<SafetensorsTensor> missing = (*file)->Get("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("'nope'"));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(path));
  EXPECT_TRUE((*file)->Contains("a"));
  EXPECT_FALSE((*file)->Contains("nope"));
}

TEST_F(SafetensorsTest, MissingFileIsNotFound) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(Path("absent.safetensors"));
  ASSERT_FALSE(file.ok());
  EXPECT_TRUE(absl::IsNotFound(file.status()));
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("absent.safetensors"));
}

TEST_F(SafetensorsTest, RejectsFileShorterThanHeaderLength) {
  const std::string path = Path("tiny.safetensors");
  std::ofstream(path, std::ios::binary) << "abc";
  OpenError(path);
}

TEST_F(SafetensorsTest, RejectsHeaderLengthLargerThanFile) {
  const std::string path = WriteRaw("long.safetensors", "{}", 0, /*declared_header_length=*/1000);
  EXPECT_THAT(OpenError(path), HasSubstr("header length 1000"));
}

TEST_F(SafetensorsTest, RejectsHeaderThatIsNotJson) {
  EXPECT_THAT(OpenError(WriteRaw("garbage.safetensors", "{not json", 0)), HasSubstr("not valid JSON"));
}

TEST_F(SafetensorsTest, RejectsHeaderThatIsNotAnObject) {
  EXPECT_THAT(OpenError(WriteRaw("array.safetensors", "[1, 2]", 0)), HasSubstr("object"));
}

TEST_F(SafetensorsTest, RejectsEntryWithoutDtype) {
  const std::string msg = OpenError(WriteRaw("f.safetensors", R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4));
  EXPECT_THAT(msg, HasSubstr("'w'"));
  EXPECT_THAT(msg, HasSubstr("dtype"));
}

TEST_F(SafetensorsTest, RejectsEntryWithoutShape) {
  const std::string msg = OpenError(WriteRaw("f.safetensors", R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4));
  EXPECT_THAT(msg, HasSubstr("'w'"));
  EXPECT_THAT(msg, HasSubstr("shape"));
}

TEST_F(SafetensorsTest, RejectsEntryWithoutOffsets) {
  const std::string msg = OpenError(WriteRaw("f.safetensors", R"({"w":{"dtype":"F32","shape":[1]}})", 4));
  EXPECT_THAT(msg, HasSubstr("'w'"));
  EXPECT_THAT(msg, HasSubstr("data_offsets"));
}

TEST_F(SafetensorsTest, RejectsEntryThatIsNotAnObject) {
  EXPECT_THAT(OpenError(WriteRaw("f.safetensors", R"({"w":[1,2,3]})", 0)), HasSubstr("'w'"));
}

TEST_F(SafetensorsTest, RejectsUnknownDtype) {
  const std::string msg =
      OpenError(WriteRaw("f.safetensors", R"({"w":{"dtype":"F8_E9M9","shape":[1],"data_offsets":[0,1]}})", 1));
  EXPECT_THAT(msg, HasSubstr("'w'"));
  EXPECT_THAT(msg, HasSubstr("unknown dtype 'F8_E9M9'"));
}

TEST_F(SafetensorsTest, RejectsNegativeDimension) {
  const std::string msg =
      OpenError(WriteRaw("f.safetensors", R"({"w":{"dtype":"F32","shape":[-1, 4],"data_offsets":[0,16]}})", 16));
  EXPECT_THAT(msg, HasSubstr("'w'"));
  EXPECT_THAT(msg, HasSubstr("negative"));
}

TEST_F(SafetensorsTest, RejectsBeginAfterEnd) {
  const std::string msg =
      OpenError(WriteRaw("f.safetensors", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8));
  EXPECT_THAT(msg, HasSubstr("'w'"));
  EXPECT_THAT(msg, HasSubstr("after end"));
}

TEST_F(SafetensorsTest, RejectsTruncatedDataSection) {
  std::vector<float> values(64, 1.5f);
  const std::string path = Path("truncated.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"first", DType::kF32, {32}, values.data()},
                                      {"second", DType::kF32, {32}, values.data() + 32}})
                  .ok());
  fs::resize_file(path, fs::file_size(path) - 10);
  const std::string msg = OpenError(path);
  EXPECT_THAT(msg, HasSubstr("'second'"));
  EXPECT_THAT(msg, HasSubstr("truncated"));
}

TEST_F(SafetensorsTest, RejectsByteLengthThatDoesNotMatchShape) {
  const std::string msg =
      OpenError(WriteRaw("f.safetensors", R"({"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}})", 8));
  EXPECT_THAT(msg, HasSubstr("'w'"));
  EXPECT_THAT(msg, HasSubstr("does not match shape"));
}

TEST_F(SafetensorsTest, RejectsOverlappingTensors) {
  const std::string msg = OpenError(WriteRaw(
      "f.safetensors",
      R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
      16));
  EXPECT_THAT(msg, HasSubstr("'a'"));
  EXPECT_THAT(msg, HasSubstr("'b'"));
  EXPECT_THAT(msg, HasSubstr("overlap"));
}

TEST_F(SafetensorsTest, RejectsBytesNotIndexedByAnyTensor) {
  // Trailing garbage after the last tensor.
  EXPECT_THAT(OpenError(WriteRaw("tail.safetensors", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12)),
              HasSubstr("not indexed"));
  // A hole between two tensors.
  EXPECT_THAT(OpenError(WriteRaw(
                  "hole.safetensors",
                  R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                  12)),
              HasSubstr("not indexed"));
}

TEST_F(SafetensorsTest, WriterLaysOutWiderTypesFirstSoDataIsAligned) {
  const uint16_t halves[3] = {1, 2, 3};
  const double wide[2] = {0.5, -1.0};
  const float single = 7.0f;
  const std::string path = Path("aligned.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"h", DType::kBF16, {3}, halves},
                                      {"f", DType::kF32, {1}, &single},
                                      {"d", DType::kF64, {2}, wide}})
                  .ok());
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  for (const SafetensorsTensor& t : (*file)->tensors()) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % DTypeSize(t.dtype), 0u) << t.name;
  }
  EXPECT_EQ(*reinterpret_cast<const double*>((*file)->Get("d")->data), 0.5);
  EXPECT_EQ(*reinterpret_cast<const float*>((*file)->Get("f")->data), 7.0f);
  EXPECT_EQ(std::memcmp((*file)->Get("h")->data, halves, sizeof(halves)), 0);
}

TEST_F(SafetensorsTest, RejectsNonStringMetadata) {
  EXPECT_THAT(OpenError(WriteRaw("f.safetensors", R"({"__metadata__":{"format":3}})", 0)), HasSubstr("format"));
}

TEST_F(SafetensorsTest, WriterRejectsDuplicateNamesAndMissingData) {
  const float a = 1;
  EXPECT_FALSE(WriteSafetensors(Path("dup.safetensors"), {{"a", DType::kF32, {1}, &a}, {"a", DType::kF32, {1}, &a}}).ok());
  EXPECT_FALSE(WriteSafetensors(Path("null.safetensors"), {{"a", DType::kF32, {2}, nullptr}}).ok());
  EXPECT_FALSE(WriteSafetensors(Path("neg.safetensors"), {{"a", DType::kF32, {-2}, &a}}).ok());
}

// ----- WeightFiles -----

TEST_F(SafetensorsTest, WeightFilesReadsSingleModelFile) {
  const float a[2] = {1, 2};
  const float ignored = 3;
  ASSERT_TRUE(WriteSafetensors(Path("model.safetensors"), {{"w.a", DType::kF32, {2}, a}}).ok());
  // Other safetensors next to model.safetensors (e.g. golden outputs) are not weights.
  ASSERT_TRUE(WriteSafetensors(Path("golden.safetensors"), {{"g", DType::kF32, {1}, &ignored}}).ok());
  absl::StatusOr<std::unique_ptr<WeightFiles>> weights = WeightFiles::Open(dir_.string());
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_THAT((*weights)->Names(), ElementsAre("w.a"));
  EXPECT_TRUE((*weights)->Contains("w.a"));
  EXPECT_FALSE((*weights)->Contains("g"));
  EXPECT_EQ((*weights)->TotalBytes(), 8u);
  absl::StatusOr<SafetensorsTensor> missing = (*weights)->Get("x");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_EQ(std::string(missing.status().message()), "tensor 'x' not found in " + dir_.string());
}

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

TEST_F(SafetensorsTest, WeightFilesReadsShardedFolderThroughIndex) {
  std::vector<float> a(6), b(4), c(2);
  std::iota(a.begin(), a.end(), 0.f);
  std::iota(b.begin(), b.end(), 10.f);
  std::iota(c.begin(), c.end(), 20.f);
  ASSERT_TRUE(WriteSafetensors(Path("model-00001-of-00002.safetensors"),
                               {{"layers.0.w", DType::kF32, {2, 3}, a.data()}, {"embed", DType::kF32, {4}, b.data()}})
                  .ok());
  ASSERT_TRUE(WriteSafetensors(Path("model-00002-of-00002.safetensors"), {{"layers.1.w", DType::kF32, {2}, c.data()}})
                  .ok());
  WriteText(Path("model.safetensors.index.json"), R"({
    "metadata": {"total_size": 48},
    "weight_map": {
      "layers.0.w": "model-00001-of-00002.safetensors",
      "embed": "model-00001-of-00002.safetensors",
      "layers.1.w": "model-00002-of-00002.safetensors"
    }})");
  absl::StatusOr<std::unique_ptr<WeightFiles>> weights = WeightFiles::Open(dir_.string());
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_THAT((*weights)->Names(), ElementsAre("embed", "layers.0.w", "layers.1.w"));
  EXPECT_EQ((*weights)->files().size(), 2u);
  absl::StatusOr<SafetensorsTensor> second = (*weights)->Get("layers.1.w");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->file, Path("model-00002-of-00002.safetensors"));
  float values[2];
  std::memcpy(values, second->data, sizeof(values));
  EXPECT_THAT(values, ElementsAre(20.f, 21.f));
  absl::StatusOr<SafetensorsTensor> first = (*weights)->Get("layers.0.w");
  ASSERT_TRUE(first.ok());
  EXPECT_THAT(first->shape, ElementsAre(2, 3));
  EXPECT_EQ((*weights)->TotalBytes(), 48u);
}

TEST_F(SafetensorsTest, WeightFilesIndexPointingToMissingShard) {
  const float a = 1;
  ASSERT_TRUE(WriteSafetensors(Path("model-00001-of-00002.safetensors"), {{"a", DType::kF32, {1}, &a}}).ok());
  WriteText(Path("model.safetensors.index.json"),
            R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
  absl::StatusOr<std::unique_ptr<WeightFiles>> weights = WeightFiles::Open(dir_.string());
  ASSERT_FALSE(weights.ok());
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("model-00002-of-00002.safetensors"));
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("'b'"));
}

TEST_F(SafetensorsTest, WeightFilesIndexNamingTensorTheShardLacks) {
  const float a = 1;
  ASSERT_TRUE(WriteSafetensors(Path("shard.safetensors"), {{"a", DType::kF32, {1}, &a}}).ok());
  WriteText(Path("model.safetensors.index.json"),
            R"({"weight_map": {"a": "shard.safetensors", "ghost": "shard.safetensors"}})");
  absl::StatusOr<std::unique_ptr<WeightFiles>> weights = WeightFiles::Open(dir_.string());
  ASSERT_FALSE(weights.ok());
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("'ghost'"));
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("shard.safetensors"));
}

TEST_F(SafetensorsTest, WeightFilesMalformedIndexNamesTheFile) {
  WriteText(Path("model.safetensors.index.json"), R"({"weight_map": )");
  absl::StatusOr<std::unique_ptr<WeightFiles>> weights = WeightFiles::Open(dir_.string());
  ASSERT_FALSE(weights.ok());
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("model.safetensors.index.json"));
}

TEST_F(SafetensorsTest, WeightFilesBrokenShardNamesShardAndTensor) {
  WriteRaw("shard.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  WriteText(Path("model.safetensors.index.json"), R"({"weight_map": {"w": "shard.safetensors"}})");
  absl::StatusOr<std::unique_ptr<WeightFiles>> weights = WeightFiles::Open(dir_.string());
  ASSERT_FALSE(weights.ok());
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("shard.safetensors"));
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("'w'"));
}

TEST_F(SafetensorsTest, WeightFilesFallsBackToEveryFileInFolder) {
  const float a = 1, b = 2;
  ASSERT_TRUE(WriteSafetensors(Path("part-a.safetensors"), {{"a", DType::kF32, {1}, &a}}).ok());
  ASSERT_TRUE(WriteSafetensors(Path("part-b.safetensors"), {{"b", DType::kF32, {1}, &b}}).ok());
  absl::StatusOr<std::unique_ptr<WeightFiles>> weights = WeightFiles::Open(dir_.string());
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_THAT((*weights)->Names(), ElementsAre("a", "b"));
  EXPECT_EQ((*weights)->Get("b")->file, Path("part-b.safetensors"));
}

TEST_F(SafetensorsTest, WeightFilesRejectsTensorInTwoLooseFiles) {
  const float a = 1;
  ASSERT_TRUE(WriteSafetensors(Path("x.safetensors"), {{"a", DType::kF32, {1}, &a}}).ok());
  ASSERT_TRUE(WriteSafetensors(Path("y.safetensors"), {{"a", DType::kF32, {1}, &a}}).ok());
  absl::StatusOr<std::unique_ptr<WeightFiles>> weights = WeightFiles::Open(dir_.string());
  ASSERT_FALSE(weights.ok());
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("'a'"));
}

TEST_F(SafetensorsTest, WeightFilesWithoutSafetensorsIsNotFoundNamingFolder) {
  WriteText(Path("config.json"), "{}");
  absl::StatusOr<std::unique_ptr<WeightFiles>> weights = WeightFiles::Open(dir_.string());
  ASSERT_FALSE(weights.ok());
  EXPECT_TRUE(absl::IsNotFound(weights.status()));
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr(dir_.string()));

  absl::StatusOr<std::unique_ptr<WeightFiles>> absent = WeightFiles::Open(Path("no_such_folder"));
  ASSERT_FALSE(absent.ok());
  EXPECT_TRUE(absl::IsNotFound(absent.status()));
  EXPECT_THAT(std::string(absent.status().message()), HasSubstr("no_such_folder"));
}

// ----- Real fixtures -----

TEST(SafetensorsFixtureTest, GoldenFileHoldsInt64IdsAndFloatLogits) {
  const std::string path = std::string(TESSERA_FIXTURES_DIR) + "/models/tiny-llama/golden.safetensors";
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata().at("max_new_tokens"), "24");
  bool saw_i64 = false, saw_f32 = false;
  for (const SafetensorsTensor& t : (*file)->tensors()) {
    EXPECT_EQ(t.nbytes, static_cast<size_t>(t.numel()) * DTypeSize(t.dtype)) << t.name;
    saw_i64 |= t.dtype == DType::kI64;
    saw_f32 |= t.dtype == DType::kF32;
  }
  EXPECT_TRUE(saw_i64);
  EXPECT_TRUE(saw_f32);
  absl::StatusOr<SafetensorsTensor> ids = (*file)->Get("p0.greedy_ids");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->dtype, DType::kI64);
  EXPECT_THAT(ids->shape, ElementsAre(24));
  for (int64_t i = 0; i < ids->numel(); ++i) {
    int64_t id;
    std::memcpy(&id, ids->data + i * 8, 8);
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 1024);
  }
}

TEST(SafetensorsFixtureTest, EveryFixtureModelAndGoldenFileOpens) {
  for (const char* model : {"tiny-llama", "tiny-llama31", "tiny-qwen2", "tiny-qwen3"}) {
    const std::string dir = std::string(TESSERA_FIXTURES_DIR) + "/models/" + model;
    absl::StatusOr<std::unique_ptr<WeightFiles>> weights = WeightFiles::Open(dir);
    ASSERT_TRUE(weights.ok()) << weights.status();
    EXPECT_TRUE((*weights)->Contains("model.embed_tokens.weight")) << model;
    EXPECT_TRUE((*weights)->Contains("model.layers.1.mlp.down_proj.weight")) << model;
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> golden = SafetensorsFile::Open(dir + "/golden.safetensors");
    EXPECT_TRUE(golden.ok()) << golden.status();
  }
}

TEST(SafetensorsFixtureTest, TinyQwen2WeightsOpen) {
  const std::string dir = std::string(TESSERA_FIXTURES_DIR) + "/models/tiny-qwen2";
  absl::StatusOr<std::unique_ptr<WeightFiles>> weights = WeightFiles::Open(dir);
  ASSERT_TRUE(weights.ok()) << weights.status();
  absl::StatusOr<SafetensorsTensor> embed = (*weights)->Get("model.embed_tokens.weight");
  ASSERT_TRUE(embed.ok()) << embed.status();
  EXPECT_EQ(embed->dtype, DType::kF32);
  EXPECT_THAT(embed->shape, ElementsAre(1024, 128));
  EXPECT_TRUE((*weights)->Contains("model.layers.0.self_attn.q_proj.bias"));
  EXPECT_FALSE((*weights)->Contains("p0.greedy_ids"));  // golden.safetensors is not a weight file
}

}  // namespace
}  // namespace tessera
