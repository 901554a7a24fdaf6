#!/bin/bash
#
# devstack/plugin.sh: the nova-docker devstack plugin.
#
#   enable_plugin nova-docker <this repository> [branch]
#
# devstack sources this file as `plugin.sh <mode> <phase>` (modes stack,
# unstack, clean; stack phases pre-install, install, post-config, extra,
# test-config). See devstack/local.conf.sample.

# Save trace setting
_XTRACE_NOVA_DOCKER=$(set +o | grep xtrace)
set -o xtrace

# shellcheck source=devstack/lib/nova-docker
source "$NOVA_DOCKER_DIR/devstack/lib/nova-docker"

if [[ "$1" == "stack" ]]; then
    case "$2" in
        install)
            if is_nova_docker_compute; then
                echo_summary "Installing the Docker engine"
                install_nova_docker_engine
                if [[ "$NOVA_DOCKER_UPLOAD_IMAGE" == "True" ]]; then
                    install_package "$NOVA_DOCKER_BUSYBOX_PACKAGE"
                fi
                echo_summary "Installing nova-docker"
                install_nova_docker
            fi
            if [[ "$NOVA_DOCKER_ISOLATE_HOSTS" == "True" ]] && \
                    { is_nova_docker_compute || is_service_enabled n-api; }; then
                pip_install osc-placement
            fi
            ;;
        post-config)
            if is_nova_docker_compute; then
                echo_summary "Configuring nova-compute for nova-docker"
                configure_nova_docker_compute
            fi
            if is_service_enabled n-sch; then
                echo_summary "Configuring the scheduler for Docker hosts"
                configure_nova_docker_scheduler
            fi
            if is_service_enabled g-api; then
                echo_summary "Configuring Glance for docker images"
                configure_nova_docker_glance
            fi
            ;;
        extra)
            if is_nova_docker_compute && [[ "$NOVA_DOCKER_UPLOAD_IMAGE" == "True" ]]; then
                echo_summary "Uploading the default docker image $NOVA_DOCKER_IMAGE_NAME"
                upload_nova_docker_image
            fi
            ;;
        test-config)
            # The last phase: nova-compute has registered and devstack has
            # discovered it, so the host can join an aggregate.
            if [[ "$NOVA_DOCKER_ISOLATE_HOSTS" == "True" ]]; then
                if is_nova_docker_compute; then
                    echo_summary "Isolating this Docker host in $NOVA_DOCKER_AGGREGATE"
                    isolate_nova_docker_host
                elif is_service_enabled n-api; then
                    echo_summary "Creating $NOVA_DOCKER_AGGREGATE for Docker hosts"
                    ensure_nova_docker_aggregate
                fi
            fi
            if is_nova_docker_compute && is_service_enabled tempest; then
                echo_summary "Configuring tempest for nova-docker"
                configure_nova_docker_tempest
            fi
            ;;
    esac
fi

if [[ "$1" == "unstack" ]]; then
    if is_nova_docker_compute; then
        remove_nova_docker_containers
    fi
fi

if [[ "$1" == "clean" ]]; then
    if is_nova_docker_compute; then
        remove_nova_docker_containers
        remove_nova_docker_images
    fi
    remove_nova_docker_shim
fi

# Restore xtrace
$_XTRACE_NOVA_DOCKER
