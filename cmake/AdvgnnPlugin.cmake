# advgnn_add_plugin(NAME <name> SOURCES <files...> [LIBRARIES <libs...>] [NO_INSTALL]
#                   [OUTPUT_DIRECTORY <dir>])
#
# Builds a plugin shared object named <name>.so that links libadvgnn. Inside
# this project the output goes to the build tree's plugins/ folder, where the
# loader finds it, and `cmake --install` copies it to lib/advgnn/plugins.
# Outside authors get the same function from find_package(advgnn).

function(advgnn_add_plugin)
  cmake_parse_arguments(ARG "NO_INSTALL" "NAME;OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_NAME OR NOT ARG_SOURCES)
    message(FATAL_ERROR "advgnn_add_plugin: NAME and SOURCES are required")
  endif()

  set(target advgnn_plugin_${ARG_NAME})
  add_library(${target} MODULE ${ARG_SOURCES})
  if(TARGET advgnn::advgnn)
    target_link_libraries(${target} PRIVATE advgnn::advgnn ${ARG_LIBRARIES})
  else()
    target_link_libraries(${target} PRIVATE advgnn ${ARG_LIBRARIES})
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${ARG_NAME}
    C_VISIBILITY_PRESET hidden)
  if(COMMAND advgnn_target_defaults)
    advgnn_target_defaults(${target})
  endif()

  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  elseif(DEFINED ADVGNN_BUILD_PLUGIN_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ADVGNN_BUILD_PLUGIN_DIR}")
  endif()

  if(NOT ARG_NO_INSTALL AND DEFINED ADVGNN_INSTALL_PLUGIN_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION "${ADVGNN_INSTALL_PLUGIN_DIR}")
  endif()
endfunction()
