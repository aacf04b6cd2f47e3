# Warnings as errors for Ferry's own code, on one INTERFACE target that every Ferry target links.
add_library(ferry_warnings INTERFACE)
add_library(ferry::warnings ALIAS ferry_warnings)
target_compile_options(ferry_warnings INTERFACE
  -Wall -Wextra -Wconversion -Wshadow -Wsuggest-override -Wnon-virtual-dtor -Werror)

# Sanitizers come from the preset (FERRY_SANITIZE=address,undefined or thread).
set(FERRY_SANITIZE "" CACHE STRING "Sanitizers to build with, e.g. address,undefined")
add_library(ferry_sanitizers INTERFACE)
if(FERRY_SANITIZE)
  target_compile_options(ferry_sanitizers INTERFACE -fsanitize=${FERRY_SANITIZE} -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  target_link_options(ferry_sanitizers INTERFACE -fsanitize=${FERRY_SANITIZE})
  if(FERRY_SANITIZE MATCHES "thread")
    # GCC 12 warns that TSan does not model Asio's atomic_thread_fence; that is not our code.
    target_compile_options(ferry_sanitizers INTERFACE -Wno-error=tsan)
  endif()
endif()

# ferry_add_subdirectories(DIR): add_subdirectory for every DIR/*/CMakeLists.txt, sorted.
function(ferry_add_subdirectories dir)
  file(GLOB children LIST_DIRECTORIES true RELATIVE ${CMAKE_CURRENT_SOURCE_DIR}/${dir}
    ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/*)
  list(SORT children)
  foreach(child IN LISTS children)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/${child}/CMakeLists.txt)
      add_subdirectory(${dir}/${child})
    endif()
  endforeach()
endfunction()

# ferry_module(NAME SOURCES … DEPS …): the library target ferry_NAME, alias ferry::NAME.
function(ferry_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(ferry_${name} STATIC ${M_SOURCES})
  add_library(ferry::${name} ALIAS ferry_${name})
  # A user of the module sees its public headers (include/ferry/NAME/) and nothing else; the
  # module's own sources also see the private headers beside them.
  target_include_directories(ferry_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                             PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(ferry_${name} PUBLIC ${M_DEPS} ferry_sanitizers PRIVATE ${M_PRIVATE_DEPS} ferry::warnings)
endfunction()

# ferry_program(NAME SOURCES … DEPS …): an executable installed to bin/.
function(ferry_program name)
  cmake_parse_arguments(P "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${P_SOURCES})
  target_link_libraries(${name} PRIVATE ${P_DEPS} ferry::warnings ferry_sanitizers)
  install(TARGETS ${name} RUNTIME DESTINATION bin)
endfunction()

# ferry_test(NAME LABEL SOURCES … DEPS … [SERIAL]): one gtest binary, registered with ctest under
# LABEL. SERIAL runs its tests one at a time, apart from every other test (real runc, real ports).
function(ferry_test name)
  cmake_parse_arguments(T "SERIAL" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} ferry_testing GTest::gtest_main GTest::gmock
    ferry::warnings ferry_sanitizers)
  set(serial "")
  if(T_SERIAL)
    set(serial RUN_SERIAL TRUE)
  endif()
  # NO_PRETTY_VALUES: a parameterized test is named by its name generator (or index), never by a
  # byte dump of its parameter, which changes from build to build.
  gtest_discover_tests(${name} PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT} ${serial}
    DISCOVERY_TIMEOUT 60 NO_PRETTY_VALUES)
endfunction()
