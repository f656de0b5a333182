# tools/runwayctl/embed.cmake — cmake -DIN=file.lua -DOUT=header.h -P embed.cmake
# Writes IN's text as a C++ raw string literal `kReplayLua` (runwayctl's copy of
# scripts/lua/replay.lua), and only touches OUT when the text changed.
file(READ "${IN}" content)
set(delim "rwctl_lua")
string(FIND "${content}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )${delim}\"")
endif()
set(text "// Generated from ${IN} by tools/runwayctl/embed.cmake: do not edit.\n#pragma once\nnamespace runwayctl {\ninline constexpr char kReplayLua[] = R\"${delim}(${content})${delim}\";\n}  // namespace runwayctl\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL text)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${text}")
