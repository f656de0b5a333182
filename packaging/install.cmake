# packaging/install.cmake — `cmake --install` rules and the Debian package (CPack DEB).
# Included at the end of the top-level CMakeLists.txt. docs/operations.md ("Installing
# from a package / cmake --install") describes the result; tests/package/check.sh tests it.
#
# Installed: runwayd, runwayctl, runway-sim (bin), the systemd unit, the example
# configuration, the credentials directory (packaging/layout.cmake, at install time: their
# paths follow the prefix used), README.md and docs/ (share/doc/runwayd). Nothing else:
# the test and fuzz executables have no install rule.
#
#   cmake --install build --prefix /usr      # /usr/bin, /lib/systemd/system, /etc/runwayd
#   cmake --install build                    # CMAKE_INSTALL_PREFIX (default /usr/local)
#   cpack --config build/CPackConfig.cmake   # runwayd_<version>_<arch>.deb, prefix /usr
include(GNUInstallDirs)

install(TARGETS runwayd runwayctl runway-sim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

file(GLOB RUNWAYD_DOC_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${RUNWAYD_DOC_FILES} ${CMAKE_SOURCE_DIR}/docs/alerts.yml
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${CMAKE_SOURCE_DIR}/systemd/runwayd.toml DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

set(RUNWAYD_SYSTEMD_UNITDIR "" CACHE PATH
    "Where the systemd unit goes (empty: /lib/systemd/system for prefix /usr, else <prefix>/lib/systemd/system)")
install(CODE "
  set(RUNWAYD_SRC [[${CMAKE_SOURCE_DIR}]])
  set(RUNWAYD_BINDIR [[${CMAKE_INSTALL_BINDIR}]])
  set(RUNWAYD_SYSCONFDIR [[${CMAKE_INSTALL_SYSCONFDIR}]])
  set(RUNWAYD_DOCDIR [[${CMAKE_INSTALL_DOCDIR}]])
  set(RUNWAYD_UNITDIR [[${RUNWAYD_SYSTEMD_UNITDIR}]])
  include([[${CMAKE_SOURCE_DIR}/packaging/layout.cmake]])
")

# The Debian package. Always prefix /usr, CPack DEB's CPACK_PACKAGING_INSTALL_PREFIX
# (binaries in /usr/bin, the unit in /lib/systemd/system, /etc/runwayd/runwayd.toml a
# conffile), whatever the build's CMAKE_INSTALL_PREFIX. The maintainer scripts
# (packaging/postinst, prerm, postrm) enable the unit; they start nothing on a first
# install (the service needs an API key first).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME runwayd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "runwayd maintainers")
set(CPACK_PACKAGE_CONTACT "runwayd maintainers <maintainers@users.noreply.r-seed-54e03395.example>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Redis-queued video generation jobs to the Runway API")
set(CPACK_PACKAGE_DESCRIPTION
"runwayd takes generation jobs from a Redis queue, submits them to the RunwayML API,
polls them to completion and writes each result back to Redis, spending credits from
one or more accounts within their limits. It runs as a hardened systemd service.
This package also contains runwayctl, the operators' command line tool, and
runway-sim, a simulator of the Runway API for tests and demonstrations.")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
find_program(RUNWAYD_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(RUNWAYD_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  # Debian 12's names for what the binaries link (ldd build/bin/*); dpkg-dev has
  # dpkg-shlibdeps, which computes this with versions.
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libc6, libstdc++6, libgcc-s1, libuv1, libcurl4, libhiredis0.14, libsimdjson14, libspdlog1.10, libfmt9, libmicrohttpd12, libsystemd0")
endif()
# HTTPS to the Runway API needs the CA store; Redis may well be on another host.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "ca-certificates")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "redis-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/conffiles
    ${CMAKE_SOURCE_DIR}/packaging/postinst
    ${CMAKE_SOURCE_DIR}/packaging/prerm
    ${CMAKE_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# `cpack --config build/CPackSourceConfig.cmake` (or the package_source target): sources only.
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "^${CMAKE_SOURCE_DIR}/build[^/]*/" "/node_modules/" "/__pycache__/")
include(CPack)
