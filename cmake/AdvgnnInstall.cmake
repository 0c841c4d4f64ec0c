# Installs the library, headers, plugins, pkg-config file and CMake package so
# an outside author can build a plugin against the installed SDK.

include(CMakePackageConfigHelpers)

install(TARGETS advgnn EXPORT advgnnTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY "${PROJECT_SOURCE_DIR}/core/include/advgnn" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT advgnnTargets NAMESPACE advgnn:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/advgnn)
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/advgnnConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/advgnnConfig.cmake"
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/advgnn)
write_basic_package_version_file("${PROJECT_BINARY_DIR}/advgnnConfigVersion.cmake"
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/advgnnConfig.cmake"
  "${PROJECT_BINARY_DIR}/advgnnConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/AdvgnnPlugin.cmake"
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/advgnn)

configure_file("${PROJECT_SOURCE_DIR}/cmake/advgnn.pc.in" "${PROJECT_BINARY_DIR}/advgnn.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/advgnn.pc" DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
