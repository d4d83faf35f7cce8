# Every external dependency, found once, through CMake's own mechanisms:
# config packages where Debian 12 ships them, pkg-config otherwise.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(PCAP REQUIRED IMPORTED_TARGET libpcap)
pkg_check_modules(CARES REQUIRED IMPORTED_TARGET libcares)

find_package(Boost 1.74 REQUIRED COMPONENTS graph)
find_package(absl CONFIG REQUIRED)
find_package(Protobuf CONFIG QUIET)
if(NOT Protobuf_FOUND)
  find_package(Protobuf REQUIRED)
endif()
find_package(gRPC CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)
if(VANTAGE_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
endif()
if(VANTAGE_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)
endif()

find_program(VANTAGE_PROTOC protoc REQUIRED)
find_program(VANTAGE_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
