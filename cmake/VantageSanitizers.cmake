# ASan + UBSan for the whole build when VANTAGE_SANITIZE is on (preset "asan").
if(VANTAGE_SANITIZE)
  set(_vantage_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_compile_options(${_vantage_san})
  add_link_options(${_vantage_san})
endif()
