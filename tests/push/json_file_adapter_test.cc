#include "push/json_file_adapter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/push/test_states.h"

namespace vantage::push {
namespace {

TEST(JsonFileAdapterTest, WritesFullStateAtomically) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("vt-push-json-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "weights.json").string();
  JsonFileAdapter adapter(path);
  ASSERT_TRUE(adapter.Apply(testing::TwoPops(0.75, 0.25)).ok());
  ASSERT_TRUE(adapter.Apply(testing::TwoPops(0.5, 0.5)).ok());
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto back = IntendedStateFromJson(ss.str());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, testing::TwoPops(0.5, 0.5));
  EXPECT_NE(ss.str().find("\"link_bandwidth\": 500"), std::string::npos);
  // No temp file is left behind.
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) files++;
  EXPECT_EQ(files, 1);
  JsonFileAdapter bad((dir / "missing-dir" / "w.json").string());
  EXPECT_FALSE(bad.Apply(testing::TwoPops(0.5, 0.5)).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vantage::push
