# Installs the library, headers, plugins, pkg-config file and CMake package so
# an outside author can build a plugin against the installed SDK. Every
# installed path is relative to the prefix, so `cmake --install --prefix DIR`
# gives a working tree anywhere.

include(CMakePackageConfigHelpers)

# The library's include folder comes from its INSTALL_INTERFACE, and OpenMP
# from its PUBLIC link; both travel with the exported target.
install(TARGETS advgnn EXPORT advgnnTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY "${PROJECT_SOURCE_DIR}/core/include/advgnn" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# The installed command finds the installed library beside it, whatever the prefix.
if(TARGET advgnn_cli)
  file(RELATIVE_PATH bin_to_lib "/prefix/${CMAKE_INSTALL_BINDIR}" "/prefix/${CMAKE_INSTALL_LIBDIR}")
  set_target_properties(advgnn_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${bin_to_lib}")
endif()

install(EXPORT advgnnTargets NAMESPACE advgnn:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/advgnn)
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/advgnnConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/advgnnConfig.cmake"
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/advgnn
  PATH_VARS ADVGNN_INSTALL_PLUGIN_DIR)
write_basic_package_version_file("${PROJECT_BINARY_DIR}/advgnnConfigVersion.cmake"
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/advgnnConfig.cmake"
  "${PROJECT_BINARY_DIR}/advgnnConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/AdvgnnPlugin.cmake"
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/advgnn)

# pkg-config: the prefix is found from the .pc file's own folder (${pcfiledir}).
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(ADVGNN_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH pc_to_prefix "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" pc_to_prefix "${pc_to_prefix}")
  set(ADVGNN_PC_PREFIX "\${pcfiledir}/${pc_to_prefix}")
endif()
configure_file("${PROJECT_SOURCE_DIR}/cmake/advgnn.pc.in" "${PROJECT_BINARY_DIR}/advgnn.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/advgnn.pc" DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
