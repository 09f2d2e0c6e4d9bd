# Compiler cache, fast linker, sanitizers and the warning set applied to project code.

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
    set(CMAKE_CXX_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
endif()

# mold links the test binaries in milliseconds instead of a second each.
find_program(MOLD_PROGRAM mold)
if(MOLD_PROGRAM AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_link_options(-fuse-ld=mold)
endif()

if(OLYMPUS_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    add_link_options(-fsanitize=address,undefined)
endif()

# Warnings are errors on project code only (never on third-party headers, which are SYSTEM).
# -Wnull-dereference is left out: with GCC 12 at -O2 it fires inside Asio's any_executor once
# inlined into our files, a false positive we cannot fix at its source. -Wrestrict (GCC bug 105329)
# and -Wmaybe-uninitialized likewise misfire inside libstdc++ at -O3 in GCC 12, so in Release they
# stay warnings; the dev build, which CI runs, keeps them errors.
function(olympus_warnings target)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                             -Wold-style-cast -Wcast-align -Woverloaded-virtual
                                             -Wimplicit-fallthrough -Werror
                                             $<$<CONFIG:Release>:-Wno-error=restrict>
                                             $<$<CONFIG:Release>:-Wno-error=maybe-uninitialized>)
endfunction()
