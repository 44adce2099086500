# The Debian package: `cmake --build build --target deb` writes build/mvproxy_*.deb.
# The man page and changelog are built for it only (not by `all`: sanitizer builds
# would run help2man on an instrumented binary).
# It holds /usr/bin/mvproxy stripped, /etc/mvproxy/mvproxy.yaml as a conffile, the systemd unit,
# mvproxy(1) generated from --help by help2man, copyright and changelog.
# scripts/package-check builds it and runs lintian, dpkg -i/-r/--purge and
# systemd-analyze verify on it.
set(pkg_dir ${PROJECT_SOURCE_DIR}/packaging)
set(pkg_out ${CMAKE_BINARY_DIR}/packaging)

find_program(HELP2MAN help2man)
if(HELP2MAN)
  add_custom_command(
    OUTPUT ${pkg_out}/mvproxy.1.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${pkg_out}
    COMMAND ${pkg_dir}/make-man $<TARGET_FILE:mvproxy> ${pkg_out}/mvproxy.1.gz
    DEPENDS mvproxy ${pkg_dir}/make-man
    COMMENT "mvproxy.1 from --help (help2man)")
  add_custom_target(mvproxy_man DEPENDS ${pkg_out}/mvproxy.1.gz)
  install(FILES ${pkg_out}/mvproxy.1.gz DESTINATION share/man/man1 COMPONENT mvproxy)
endif()

add_custom_command(
  OUTPUT ${pkg_out}/changelog.Debian.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${pkg_out}
  COMMAND ${CMAKE_COMMAND} -E copy ${pkg_dir}/changelog changelog.Debian
  COMMAND gzip -9nf changelog.Debian
  WORKING_DIRECTORY ${pkg_out}
  DEPENDS ${pkg_dir}/changelog)
add_custom_target(mvproxy_changelog DEPENDS ${pkg_out}/changelog.Debian.gz)

install(TARGETS mvproxy RUNTIME DESTINATION bin COMPONENT mvproxy)
install(FILES ${PROJECT_SOURCE_DIR}/config/mvproxy.yaml DESTINATION /etc/mvproxy
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ COMPONENT mvproxy)
install(FILES ${pkg_dir}/mvproxy.service DESTINATION /lib/systemd/system COMPONENT mvproxy)
install(FILES ${pkg_dir}/copyright ${pkg_out}/changelog.Debian.gz
        DESTINATION share/doc/mvproxy COMPONENT mvproxy)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mvproxy)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "mvproxy maintainers <maintainers@users.noreply.b-seed-434bb2ba.example>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL mvproxy)
set(CPACK_DEB_COMPONENT_INSTALL OFF)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "init-system-helpers (>= 1.52)")
# CPack indents the continuation lines itself.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "Mixed Version Proxy sidecar for kube-apiserver
mvproxy runs beside each kube-apiserver of a control plane during an
upgrade and routes every request to an apiserver that serves its
resource, so clients see the union of both versions' APIs (KEP-4020).
This package ships the daemon, a hardened systemd unit (installed, not
enabled) and /etc/mvproxy/mvproxy.yaml with kubeadm's certificate paths.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${pkg_dir}/deb/conffiles ${pkg_dir}/deb/postinst ${pkg_dir}/deb/prerm ${pkg_dir}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

add_custom_target(deb
  COMMAND ${CMAKE_CPACK_COMMAND} -G DEB --config ${CMAKE_BINARY_DIR}/CPackConfig.cmake
  WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
  DEPENDS mvproxy mvproxy_changelog $<$<BOOL:${HELP2MAN}>:mvproxy_man>
  COMMENT "mvproxy_${PROJECT_VERSION}-1_*.deb (CPack)"
  VERBATIM)
