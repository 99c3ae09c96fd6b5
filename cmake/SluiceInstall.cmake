# Installs sluice as a CMake package: `cmake --install <build> --prefix <dir>`,
# then a user's project does `find_package(sluice)` and links `sluice::cli`
# (the whole `sluice` CLI, built-in stages and connectors included) together
# with a stage library of its own. See docs/custom-stages.md and
# docs/decisions/0004-custom-stages-link-into-the-cli.md.
#
# What lands under the prefix:
#   bin/sluice
#   lib/libsluice_{pipeline,stages,connectors,config,cli}.a
#   include/pipeline/**.h, include/stages/**.h, include/connectors/**.h,
#   include/tools/cli/*.h, include/tools/config/*.h   (the include paths of
#                                                     the source tree)
#   lib/cmake/sluice/sluiceConfig.cmake, sluiceConfigVersion.cmake,
#   sluiceTargets.cmake (+ per-configuration file)
#
# Exported targets, all in one export set: sluice::pipeline, sluice::stages,
# sluice::connectors, sluice::config, sluice::cli. sluice::cli links the
# stages and connectors with $<LINK_LIBRARY:WHOLE_ARCHIVE,...> (see
# tools/CMakeLists.txt), and the export keeps that, so the built-in
# registrations survive in the user's binary as they do in ours.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SLUICE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/sluice"
    CACHE STRING "Where sluiceConfig.cmake is installed, relative to the prefix")
mark_as_advanced(SLUICE_INSTALL_CMAKEDIR)

set(SLUICE_EXPORTED_LIBRARIES
    sluice_pipeline sluice_stages sluice_connectors sluice_config sluice_ops sluice_cli)

# Two things the libraries' link lines do for this export:
#   - sluice_warnings is linked as $<BUILD_INTERFACE:sluice_warnings>: our
#     -Werror flags are for our build only, and a static library's PRIVATE
#     link items are otherwise exported (as $<LINK_ONLY:...>), which needs
#     the target in the export set;
#   - sluice_cli links `$<LINK_LIBRARY:WHOLE_ARCHIVE,sluice::stages>` by the
#     ALIAS name: CMake 3.25 exports the target name inside $<LINK_LIBRARY>
#     verbatim, and sluice::stages is what the installed target is called
#     (sluice_stages would not exist in the user's project).
get_target_property(_sluice_cli_links sluice_cli INTERFACE_LINK_LIBRARIES)
if(_sluice_cli_links MATCHES "LINK_LIBRARY:WHOLE_ARCHIVE,sluice_")
  message(FATAL_ERROR "tools/CMakeLists.txt: link sluice_cli's whole archives by their "
          "exported names ($<LINK_LIBRARY:WHOLE_ARCHIVE,sluice::stages>), not sluice_*: "
          "the installed sluice::cli would name targets that do not exist there.")
endif()
unset(_sluice_cli_links)

# Users see sluice::<folder>, as the in-tree ALIAS targets are spelled.
set_target_properties(sluice_pipeline PROPERTIES EXPORT_NAME pipeline)
set_target_properties(sluice_stages PROPERTIES EXPORT_NAME stages)
set_target_properties(sluice_connectors PROPERTIES EXPORT_NAME connectors)
set_target_properties(sluice_config PROPERTIES EXPORT_NAME config)
set_target_properties(sluice_cli PROPERTIES EXPORT_NAME cli)

# A sanitizer build installs instrumented archives: whatever links them needs
# the sanitizer's runtime, so the installed targets ask for it at link time.
# (The user's own code may be compiled without it; see docs/custom-stages.md.)
set(SLUICE_SANITIZER_FOR_CONFIG "")
if(SLUICE_SANITIZER)
  set(SLUICE_SANITIZER_FOR_CONFIG "${SLUICE_SANITIZER}")
  target_link_options(sluice_pipeline INTERFACE
    "$<INSTALL_INTERFACE:-fsanitize=${SLUICE_SANITIZER}>")
endif()

install(TARGETS ${SLUICE_EXPORTED_LIBRARIES}
  EXPORT sluiceTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(TARGETS sluice RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Headers keep their repository-root paths (`#include "pipeline/stage.h"`).
# Every .h of these folders, internal ones included (a public header may
# include them); matched when `cmake --install` runs, so a new header needs
# no re-configure.
foreach(folder pipeline stages connectors tools/cli tools/config)
  if(EXISTS "${PROJECT_SOURCE_DIR}/${folder}")
    install(DIRECTORY "${PROJECT_SOURCE_DIR}/${folder}/"
      DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/${folder}"
      FILES_MATCHING PATTERN "*.h")
  endif()
endforeach()

install(EXPORT sluiceTargets
  NAMESPACE sluice::
  DESTINATION ${SLUICE_INSTALL_CMAKEDIR})

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/sluiceConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/sluiceConfig.cmake"
  INSTALL_DESTINATION ${SLUICE_INSTALL_CMAKEDIR})
# 0.x: a minor release may break the stage API, so only the same minor matches.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/sluiceConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/sluiceConfig.cmake"
  "${PROJECT_BINARY_DIR}/sluiceConfigVersion.cmake"
  DESTINATION ${SLUICE_INSTALL_CMAKEDIR})
