# Helpers: one CMake library per source folder, tests beside the code, fuzz targets whose corpus
# ctest replays in every build.

# isthmus_library(NAME SOURCES a.cc ... DEPS lib ...)
function(isthmus_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# isthmus_test(NAME SOURCES a_test.cc ... DEPS lib ... [PREFIX p.] [LABEL unit])
# PREFIX goes before every ctest name (ctest -R p.); LABEL: `kernel` for tests that need root.
function(isthmus_test name)
  if(NOT ISTHMUS_TESTS OR ISTHMUS_FUZZ)
    return()
  endif()
  cmake_parse_arguments(ARG "" "PREFIX;LABEL" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_LABEL)
    set(ARG_LABEL unit)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  set(prefix)
  if(ARG_PREFIX)
    set(prefix TEST_PREFIX ${ARG_PREFIX})
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST ${prefix} PROPERTIES LABELS ${ARG_LABEL})
endfunction()

# With ISTHMUS_FUZZ every target is a dependency of the custom target `fuzzers`, which builds
# them and nothing else (scripts/test.sh, scripts/fuzz.sh).
if(ISTHMUS_FUZZ)
  add_custom_target(fuzzers)
endif()

# isthmus_fuzz(NAME SOURCE f.cc DEPS lib ... CORPUS dir [DEFINITIONS NAME=value ...])
# With ISTHMUS_FUZZ: a libFuzzer binary. Otherwise: the same entry point linked with a driver that
# replays every file of the corpus, registered with ctest as fuzz-corpus-NAME. Neither without
# ISTHMUS_TESTS or ISTHMUS_FUZZ.
function(isthmus_fuzz name)
  if(NOT ISTHMUS_TESTS AND NOT ISTHMUS_FUZZ)
    return()
  endif()
  cmake_parse_arguments(ARG "" "SOURCE;CORPUS" "DEPS;DEFINITIONS" ${ARGN})
  add_executable(${name} ${ARG_SOURCE})
  if(ARG_DEFINITIONS)
    target_compile_definitions(${name} PRIVATE ${ARG_DEFINITIONS})
  endif()
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  if(ISTHMUS_FUZZ)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    add_dependencies(fuzzers ${name})
  else()
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.cc)
    if(ISTHMUS_TESTS)
      add_test(NAME fuzz-corpus-${name} COMMAND ${name} ${ARG_CORPUS})
      set_tests_properties(fuzz-corpus-${name} PROPERTIES LABELS fuzz)
    endif()
  endif()
endfunction()
