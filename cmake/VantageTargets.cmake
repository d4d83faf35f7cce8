# Helpers that create every Vantage target, so that all of them get the same
# standard, warnings, include paths and labels.
#
#   vantage_add_library(<folder> [SOURCES ...] [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
#       The library of one folder, target vantage_<folder>, alias vantage::<folder>.
#       Without SOURCES it is an INTERFACE library (a folder whose issue has not
#       landed yet), so dependants can already name it.
#   vantage_add_executable(<name> SOURCES ... [DEPS ...])
#   vantage_add_test(<name> LABEL <label> SOURCES ... [DEPS ...] [TIMEOUT s] [SERIAL])
#       A GoogleTest binary; each TEST is a ctest test labelled <label>.
#   vantage_add_fuzzer(<name> SOURCES ... [DEPS ...] CORPUS <dir>)
#       A libFuzzer target (LLVMFuzzerTestOneInput). Always built and run over its
#       corpus by ctest (label "fuzz"); linked with -fsanitize=fuzzer when
#       VANTAGE_FUZZ is on (clang only) for real fuzzing.
#   vantage_add_benchmark(<name> SOURCES ... [DEPS ...])
#       A Google Benchmark binary under bench/, never part of ctest.

function(vantage_add_library folder)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  set(target vantage_${folder})
  if(ARG_SOURCES)
    add_library(${target} STATIC ${ARG_SOURCES})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
    vantage_set_warnings(${target})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} INTERFACE ${ARG_PUBLIC_DEPS})
  endif()
  add_library(vantage::${folder} ALIAS ${target})
endfunction()

function(vantage_add_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  vantage_set_warnings(${name})
endfunction()

function(vantage_add_test name)
  cmake_parse_arguments(ARG "SERIAL" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_LABEL)
    message(FATAL_ERROR "vantage_add_test(${name}): LABEL is required")
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 60)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  vantage_set_warnings(${name})
  set(props LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT})
  if(ARG_SERIAL)
    list(APPEND props RUN_SERIAL TRUE)
  endif()
  gtest_discover_tests(${name}
    TEST_PREFIX "${ARG_LABEL}."
    DISCOVERY_TIMEOUT 60
    PROPERTIES ${props})
endfunction()

function(vantage_add_fuzzer name)
  cmake_parse_arguments(ARG "" "CORPUS" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  vantage_set_warnings(${name})
  if(VANTAGE_FUZZ)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    # Replays every corpus file through the target: a regression test.
    target_link_libraries(${name} PRIVATE vantage_fuzz_replay_main)
  endif()
  if(ARG_CORPUS AND NOT VANTAGE_FUZZ)
    add_test(NAME fuzz.${name} COMMAND ${name} ${ARG_CORPUS})
    set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 120)
  endif()
endfunction()

function(vantage_add_benchmark name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} benchmark::benchmark)
  vantage_set_warnings(${name})
endfunction()

# vantage_add_proto_library(<target> PROTOS a.proto ... [GRPC])
#   Runs protoc (and grpc_cpp_plugin with GRPC) at build time; the generated
#   headers are included as "proto/<name>.pb.h".
function(vantage_add_proto_library target)
  cmake_parse_arguments(ARG "GRPC" "" "PROTOS" ${ARGN})
  set(out_dir ${PROJECT_BINARY_DIR}/proto)
  file(MAKE_DIRECTORY ${out_dir})
  set(srcs)
  foreach(proto ${ARG_PROTOS})
    get_filename_component(abs ${proto} ABSOLUTE)
    get_filename_component(stem ${proto} NAME_WE)
    set(outs ${out_dir}/${stem}.pb.cc ${out_dir}/${stem}.pb.h)
    set(args --cpp_out=${out_dir})
    if(ARG_GRPC)
      list(APPEND outs ${out_dir}/${stem}.grpc.pb.cc ${out_dir}/${stem}.grpc.pb.h)
      list(APPEND args --grpc_out=${out_dir} --plugin=protoc-gen-grpc=${VANTAGE_GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND ${VANTAGE_PROTOC} ${args} -I ${CMAKE_CURRENT_SOURCE_DIR} ${abs}
      DEPENDS ${abs} ${VANTAGE_PROTOC}
      COMMENT "protoc ${stem}.proto"
      VERBATIM)
    list(APPEND srcs ${outs})
  endforeach()
  add_library(${target} STATIC ${srcs})
  # SYSTEM: generated code is not held to our warnings.
  target_include_directories(${target} SYSTEM PUBLIC ${PROJECT_BINARY_DIR})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf)
  if(ARG_GRPC)
    target_link_libraries(${target} PUBLIC gRPC::grpc++)
  endif()
  vantage_quiet_warnings(${target})
endfunction()
