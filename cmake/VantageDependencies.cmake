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
find_package(nlohmann_json 3.11 CONFIG REQUIRED)
# GLPK's C library (libglpk-dev ships no CMake or pkg-config file): the
# optimizer's N-1 linear program with side constraints.
find_path(GLPK_INCLUDE_DIR glpk.h REQUIRED)
find_library(GLPK_LIBRARY glpk REQUIRED)
if(NOT TARGET GLPK::GLPK)
  add_library(GLPK::GLPK UNKNOWN IMPORTED)
  set_target_properties(GLPK::GLPK PROPERTIES IMPORTED_LOCATION "${GLPK_LIBRARY}"
                                              INTERFACE_INCLUDE_DIRECTORIES "${GLPK_INCLUDE_DIR}")
endif()
if(VANTAGE_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
endif()
if(VANTAGE_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)
endif()

find_program(VANTAGE_PROTOC protoc REQUIRED)
find_program(VANTAGE_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
