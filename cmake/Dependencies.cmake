# Every dependency is a Debian package (see scripts/bootstrap); nothing is downloaded at build time.

find_package(Boost 1.81.0 EXACT REQUIRED CONFIG COMPONENTS json url)
find_package(OpenSSL 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

if(OLYMPUS_BUILD_TESTS)
    find_package(GTest REQUIRED)
endif()

# Storage and messaging clients (pkg-config only for MariaDB Connector/C and libnats).
find_package(SQLite3 REQUIRED)
find_package(mongoc-1.0 1.23 REQUIRED)
pkg_check_modules(MARIADB REQUIRED IMPORTED_TARGET libmariadb)
pkg_check_modules(NATS REQUIRED IMPORTED_TARGET libnats)
