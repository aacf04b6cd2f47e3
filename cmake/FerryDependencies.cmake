# Third-party libraries, all from Debian bookworm (scripts/install-deps). Their headers are SYSTEM
# includes, so our warnings do not apply to them.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(CURL REQUIRED)
find_package(LibArchive REQUIRED)
# libarchive is linked from its static archive when installed (libarchive-dev ships it): Ferry
# uses its tar reader and writer and a few filters, and the shared library would load libxml2 and
# ICU (for xar, a format Ferry never reads), libacl and libbz2 into every ferryd, some 200 KiB of
# relocated data an idle agent keeps for nothing (bench/idle). Its own dependencies are linked
# --as-needed, so a program gets only those the parts it uses need.
find_library(FERRY_LIBARCHIVE_STATIC NAMES libarchive.a)
if(FERRY_LIBARCHIVE_STATIC)
  set(archive_deps)
  set(archive_missing)
  foreach(dep nettle acl lzma zstd lz4 bz2 z xml2)
    find_library(FERRY_ARCHIVE_DEP_${dep} NAMES ${dep})
    if(FERRY_ARCHIVE_DEP_${dep})
      list(APPEND archive_deps ${FERRY_ARCHIVE_DEP_${dep}})
    else()
      list(APPEND archive_missing ${dep})
    endif()
  endforeach()
  if(archive_missing)
    # scripts/install-deps installs them; without them the shared library is the one that links.
    message(WARNING "libarchive is linked as a shared library: no development library for "
                    "${archive_missing} (scripts/install-deps installs them)")
  else()
    set_target_properties(LibArchive::LibArchive PROPERTIES
      IMPORTED_LOCATION ${FERRY_LIBARCHIVE_STATIC}
      INTERFACE_LINK_LIBRARIES "-Wl,--push-state,--as-needed;${archive_deps};-Wl,--pop-state")
  endif()
endif()
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Boost 1.74 REQUIRED)
if(FERRY_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(LZMA REQUIRED IMPORTED_TARGET liblzma)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
find_library(DIVSUFSORT_LIBRARY divsufsort REQUIRED)
find_path(DIVSUFSORT_INCLUDE_DIR divsufsort.h REQUIRED)
add_library(ferry_divsufsort INTERFACE)
target_link_libraries(ferry_divsufsort INTERFACE ${DIVSUFSORT_LIBRARY})
target_include_directories(ferry_divsufsort SYSTEM INTERFACE ${DIVSUFSORT_INCLUDE_DIR})
add_library(divsufsort::divsufsort ALIAS ferry_divsufsort)

# Boost.Asio/Beast are header-only here; one INTERFACE target carries the settings we want.
add_library(ferry_asio INTERFACE)
target_link_libraries(ferry_asio INTERFACE Boost::headers Threads::Threads)
target_compile_definitions(ferry_asio INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)
add_library(ferry::asio ALIAS ferry_asio)
