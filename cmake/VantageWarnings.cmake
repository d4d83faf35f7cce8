# The one place where Vantage's compiler warnings are defined.
set(VANTAGE_WARNINGS
    -Wall
    -Wextra
    -Wshadow
    -Wconversion
    -Wnon-virtual-dtor
    -Woverloaded-virtual
    -Wimplicit-fallthrough
    -Wformat=2)

function(vantage_set_warnings target)
  target_compile_options(${target} PRIVATE ${VANTAGE_WARNINGS})
  if(VANTAGE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Generated code (protoc, grpc_cpp_plugin) is not ours to fix: no warnings.
function(vantage_quiet_warnings target)
  target_compile_options(${target} PRIVATE -w)
endfunction()
