# packaging/layout.cmake — run by `cmake --install` (and by cpack, which installs the same
# way): puts the systemd unit, the example configuration and the credentials directory in
# place. It runs at install time so that every path follows the prefix actually used
# (`cmake --install build --prefix P`, CPack's /usr), not the one configured.
#
# Layout for prefix P (GNUInstallDirs' rules for sysconfdir):
#   P = /usr or /    unit /lib/systemd/system (Debian 12's place for packaged units),
#                    configuration /etc/runwayd
#   P = /opt/NAME    unit P/lib/systemd/system, configuration /etc/opt/NAME/runwayd
#   any other P      unit P/lib/systemd/system (systemd also reads /usr/local/lib/systemd/
#                    system), configuration P/etc/runwayd
# RUNWAYD_SYSTEMD_UNITDIR (cache) overrides the unit directory.
#
# Set by packaging/install.cmake before including this file: RUNWAYD_SRC, RUNWAYD_BINDIR,
# RUNWAYD_SYSCONFDIR, RUNWAYD_DOCDIR (as configured, relative or absolute),
# RUNWAYD_UNITDIR (empty: derived).

set(_p "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "(.)/+$" "\\1" _p "${_p}")

function(_runwayd_full out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  elseif(_p STREQUAL "/")
    set(${out} "/${dir}" PARENT_SCOPE)
  else()
    set(${out} "${_p}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

_runwayd_full(_bindir "${RUNWAYD_BINDIR}")
_runwayd_full(_docdir "${RUNWAYD_DOCDIR}")
if(IS_ABSOLUTE "${RUNWAYD_SYSCONFDIR}")
  set(_sysconfdir "${RUNWAYD_SYSCONFDIR}")
elseif(RUNWAYD_SYSCONFDIR STREQUAL "etc" AND (_p STREQUAL "/" OR _p STREQUAL "/usr"))
  set(_sysconfdir "/etc")
elseif(RUNWAYD_SYSCONFDIR STREQUAL "etc" AND _p MATCHES "^/opt/")
  set(_sysconfdir "/etc${_p}")
else()
  _runwayd_full(_sysconfdir "${RUNWAYD_SYSCONFDIR}")
endif()
if(RUNWAYD_UNITDIR)
  _runwayd_full(_unitdir "${RUNWAYD_UNITDIR}")
elseif(_p STREQUAL "/" OR _p STREQUAL "/usr")
  set(_unitdir "/lib/systemd/system")
else()
  set(_unitdir "${_p}/lib/systemd/system")
endif()
set(_confdir "${_sysconfdir}/runwayd")

# The unit, with its paths moved to this layout (for prefix /usr it is the source file
# byte for byte).
file(READ "${RUNWAYD_SRC}/systemd/runwayd.service" _unit)
string(REPLACE "/usr/bin/runwayd" "${_bindir}/runwayd" _unit "${_unit}")
string(REPLACE "/etc/runwayd/" "${_confdir}/" _unit "${_unit}")
string(REPLACE "file:///usr/share/doc/runwayd/" "file://${_docdir}/" _unit "${_unit}")
# Written to a private temporary directory, not the build tree: installs with other
# prefixes may run at the same time, or as another user (sudo).
set(_tmp "$ENV{TMPDIR}")
if(NOT _tmp)
  set(_tmp /tmp)
endif()
string(RANDOM LENGTH 16 _r)
set(_gen "${_tmp}/runwayd-install-${_r}")
file(MAKE_DIRECTORY "${_gen}/empty/credentials")
file(WRITE "${_gen}/runwayd.service" "${_unit}")
file(INSTALL DESTINATION "${_unitdir}" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "${_gen}/runwayd.service")

# The example configuration: never over an existing one (a package handles it as a
# conffile; a repeated `cmake --install` must not undo an operator's edits). The pristine
# example is also in the documentation directory (examples/runwayd.toml).
set(_conf "$ENV{DESTDIR}${_confdir}/runwayd.toml")
if(EXISTS "${_conf}")
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${_conf}" "${RUNWAYD_SRC}/systemd/runwayd.toml"
                  RESULT_VARIABLE _differs)
  if(_differs)
    message(STATUS "Keeping: ${_conf} (differs from the example; see ${_docdir}/examples/runwayd.toml)")
  else()
    message(STATUS "Up-to-date: ${_conf}")
  endif()
else()
  file(INSTALL DESTINATION "${_confdir}" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "${RUNWAYD_SRC}/systemd/runwayd.toml")
endif()

# The credentials directory (LoadCredential= reads the API keys from it): root only.
file(INSTALL DESTINATION "${_confdir}" TYPE DIRECTORY
     DIR_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
     FILES "${_gen}/empty/credentials")
file(REMOVE_RECURSE "${_gen}")
