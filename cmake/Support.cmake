# The supported range, from one place: leakhound's version (project()), its
# build (git), the Go releases (scripts/go-versions.txt: the oldest and newest
# toolchain listed are the range) and the architectures (LEAKHOUND_ARCHES below).
# Writes <build>/generated/leakhound/support.h, which the code, the tests and
# `leakhound --version` read; support_test checks README and docs against it.
file(STRINGS ${CMAKE_SOURCE_DIR}/scripts/go-versions.txt lh_go_lines)
set(lh_go_toolchains "")
foreach(line IN LISTS lh_go_lines)
  string(STRIP "${line}" line)
  if(line MATCHES "^1\\.([0-9]+)\\.[0-9]+$")
    list(APPEND lh_go_toolchains "${line}")
    list(APPEND lh_go_minors "${CMAKE_MATCH_1}")
  elseif(NOT line STREQUAL "" AND NOT line MATCHES "^#")
    message(FATAL_ERROR "scripts/go-versions.txt: '${line}' is not a Go release 1.N.P")
  endif()
endforeach()
list(LENGTH lh_go_minors lh_n)
if(lh_n EQUAL 0)
  message(FATAL_ERROR "scripts/go-versions.txt lists no Go release")
endif()
list(GET lh_go_minors 0 LH_GO_MIN_MINOR)
list(GET lh_go_minors -1 LH_GO_MAX_MINOR)
set(lh_prev ${LH_GO_MIN_MINOR})
foreach(m IN LISTS lh_go_minors)
  math(EXPR lh_next "${lh_prev} + 1")
  if(NOT m EQUAL LH_GO_MIN_MINOR AND NOT m EQUAL lh_next)
    message(FATAL_ERROR "scripts/go-versions.txt: one toolchain per minor release, in order "
                        "(1.${lh_prev} is followed by 1.${m})")
  endif()
  set(lh_prev ${m})
endforeach()
list(TRANSFORM lh_go_toolchains PREPEND "\"go")
list(TRANSFORM lh_go_toolchains APPEND "\"")
list(JOIN lh_go_toolchains ", " LH_GO_TOOLCHAINS)

# Architectures: name, and what has been run there (the runs below say where).
set(LH_ARCHES
    "{\"amd64\", \"x86-64\", \"attach, daemon and every e2e suite\"}, \
{\"arm64\", \"AArch64\", \"parsers and unwinder (unit, fuzz; goroutine stacks against Go's own traceback under qemu-user); emulated guest (scripts/arm64-vm.sh, 2026-12-04 run 6): heap, goroutine and native (cgo, cgo with slow churn, C with frame pointers) e2e pass on Go 1.18 and 1.27\"}")

# What was run where: place, architecture, Go releases, what ran and passed.
# `leakhound --version` prints it as a table (README's support block);
# docs/testing.md shows the same table, and support_test keeps both equal to
# this and every release in it inside the supported range.
set(lh_all "1.${LH_GO_MIN_MINOR}-1.${LH_GO_MAX_MINOR}")
set(lh_ends "1.${LH_GO_MIN_MINOR}, 1.${LH_GO_MAX_MINOR}")
set(LH_RUNS
    "{\"amd64 host (Linux 6.18)\", \"amd64\", \"${lh_all}\", \"every unit test and e2e suite (CI: oldest, newest and one middle release per build variant; all with --full)\"}, \
{\"qemu-user (qemu-aarch64-static)\", \"arm64\", \"${lh_all}\", \"arm64_stacks_test: goroutine stacks unwound as leakhound does = Go's own traceback\"}, \
{\"emulated arm64 guest (scripts/arm64-vm.sh, Debian 6.1 kernel)\", \"arm64\", \"${lh_ends}\", \"heap_e2e leak, goroutine_e2e goroutines, native_e2e cgo and cgo slow churn on both; native_e2e c fp\"}, \
{\"real programs (tests/real)\", \"amd64\", \"1.19.8, 1.20.14, 1.24.4\", \"bookworm prometheus, go tool trace, trixie pushgateway and dockerd: heap and goroutines equal their own pprof\"}")

find_package(Git QUIET)
set(LH_BUILD "unknown")
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty --abbrev=12
                  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR} OUTPUT_VARIABLE lh_git
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE lh_rc)
  if(lh_rc EQUAL 0 AND lh_git)
    set(LH_BUILD "git ${lh_git}")
  endif()
endif()
# Re-run when go-versions.txt changes; the git build is the one configured
# (a clean CI build configures afresh).
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${CMAKE_SOURCE_DIR}/scripts/go-versions.txt)
configure_file(${CMAKE_SOURCE_DIR}/agent/support/support.h.in
               ${CMAKE_BINARY_DIR}/generated/leakhound/support.h @ONLY)
