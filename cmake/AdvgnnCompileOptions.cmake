# Warning and sanitizer flags, applied per target by advgnn_target_defaults().

set(ADVGNN_WARNING_FLAGS -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wno-unused-parameter)
if(ADVGNN_WERROR)
  list(APPEND ADVGNN_WARNING_FLAGS -Werror)
endif()

if(ADVGNN_SANITIZE)
  set(ADVGNN_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer)
  add_compile_options(${ADVGNN_SANITIZER_FLAGS})
  add_link_options(-fsanitize=address,undefined)
endif()

if(ADVGNN_BUILD_FUZZERS)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ADVGNN_BUILD_FUZZERS needs clang (libFuzzer): configure with -DCMAKE_C_COMPILER=clang")
  endif()
  # Coverage instrumentation for every object; the fuzz programs add libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

function(advgnn_target_defaults target)
  target_compile_options(${target} PRIVATE ${ADVGNN_WARNING_FLAGS})
endfunction()
