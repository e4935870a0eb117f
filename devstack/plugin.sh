#!/usr/bin/env bash
# OSVDI devstack plugin: stack.sh / unstack.sh / clean.sh call this file as
#   plugin.sh stack install|post-config|extra, plugin.sh unstack|clean
# SPDX-License-Identifier: Apache-2.0
#
# Every step that the all-in-one test (tests/openstack/aio-test.sh) also
# runs is the same function of tests/openstack/aio-lib.sh: the Nova patch
# series (aio_nova_patch / aio_nova_unpatch), Nova's options
# (aio_nova_osvdi_conf), the provider config (aio_provider_config), the
# flavors (aio_flavor_create) and the launcher's configuration
# (aio_launcher_conf).  What only devstack does here: building and
# installing the project, and running the launcher as a devstack service.

# The stack is this host itself (no chroot).
AIO_ROOT=""
AIO_NOVA_PATCHES=$OSVDI_DIR/openstack/nova
source "$OSVDI_DIR/tests/openstack/aio-lib.sh"
source "$OSVDI_DIR/scripts/lib.sh"

# devstack's admin credentials instead of the test's.
aio_os () { openstack --os-cloud devstack-admin --os-region-name "$REGION_NAME" "$@"; }

function osvdi_install {
    # Debian/Ubuntu build dependencies: devstack/files/debs/osvdi.
    osvdi_build "$OSVDI_BUILD_DIR" -Dlauncher=enabled -Dspicesink=enabled \
        -Dvfiodmabufsrc=enabled -Dtests=disabled
    sudo meson install -C "$OSVDI_BUILD_DIR" --no-rebuild
    # Nova from git ($NOVA_DIR, installed editable): patch that tree.
    sudo -E bash -c "AIO_ROOT= AIO_NOVA_PATCHES='$AIO_NOVA_PATCHES' \
        source '$OSVDI_DIR/tests/openstack/aio-lib.sh' && aio_nova_patch '$NOVA_DIR'"
}

function osvdi_configure {
    local conf
    # nova-compute reads $NOVA_CPU_CONF on a multi-node devstack.
    for conf in "$NOVA_CONF" "${NOVA_CPU_CONF:-}"; do
        [ -n "$conf" ] && [ -f "$conf" ] || continue
        sudo -E bash -c "AIO_ROOT= source '$OSVDI_DIR/tests/openstack/aio-lib.sh' && \
            aio_nova_osvdi_conf '$conf' '$OSVDI_PROVIDER_CONFIG_DIR'"
    done
    sudo -E bash -c "AIO_ROOT= AIO_LAUNCHER=/usr/local/bin/osvdi-launcher \
        source '$OSVDI_DIR/tests/openstack/aio-lib.sh' && \
        aio_provider_config '$OSVDI_PROVIDER_CONFIG_DIR/osvdi.yaml' \
        $( [ -x /usr/local/bin/osvdi-launcher ] && /usr/local/bin/osvdi-launcher --help 2>&1 \
           | grep -q -- --write-provider-config || echo "$OSVDI_ENCODER_SESSIONS")"
    sudo -E bash -c "AIO_ROOT= AIO_LAUNCHER_STATE='$OSVDI_STATE_DIR' \
        source '$OSVDI_DIR/tests/openstack/aio-lib.sh' && \
        aio_launcher_conf '$OSVDI_CONF_DIR' qemu:///system \
          $OSVDI_SPICE_PORT_MIN $OSVDI_SPICE_PORT_MAX /usr/local/bin/osvdi-pipeline \
          $OSVDI_FLAVORS"
    /usr/local/bin/osvdi-launcher --config "$OSVDI_CONF_DIR/launcher.conf" --check-config
}

function osvdi_extra {
    local f
    for f in $OSVDI_FLAVORS; do
        aio_os flavor show "$f" >/dev/null 2>&1 || \
            aio_flavor_create "$f" "$OSVDI_FLAVOR_RAM" "$OSVDI_FLAVOR_DISK" "$OSVDI_FLAVOR_VCPUS"
    done
    # As root: the launcher talks to qemu:///system and opens QEMU's display.
    run_process osvdi-launcher \
        "/usr/local/bin/osvdi-launcher --config $OSVDI_CONF_DIR/launcher.conf" root root
}

if is_service_enabled osvdi-launcher; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing OSVDI and patching Nova"
        osvdi_install
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring Nova and the OSVDI launcher"
        osvdi_configure
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "OSVDI flavors and the launcher"
        osvdi_extra
    fi
    if [[ "$1" == "unstack" ]]; then
        stop_process osvdi-launcher
    fi
    if [[ "$1" == "clean" ]]; then
        sudo -E bash -c "AIO_ROOT= AIO_NOVA_PATCHES='$AIO_NOVA_PATCHES' \
            source '$OSVDI_DIR/tests/openstack/aio-lib.sh' && aio_nova_unpatch '$NOVA_DIR'"
        sudo rm -rf "$OSVDI_CONF_DIR" "$OSVDI_STATE_DIR" \
            "$OSVDI_PROVIDER_CONFIG_DIR/osvdi.yaml"
    fi
fi
