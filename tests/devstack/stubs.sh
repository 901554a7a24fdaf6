#!/bin/bash
# Stand-ins for the devstack functions (functions-common, inc/ini-config,
# inc/python) and host commands devstack/plugin.sh calls. Each records its
# call, one shell-quoted line per call in $STUB_LOG; iniset/iniget work on
# real ini files; docker and openstack are fakes over state files.
# Needs: STUB_DIR STUB_LOG STUB_PY STUB_DOCKER_STATE STUB_OPENSTACK_STATE
#        STUB_HOSTNAME STUB_NOVA_VIRT_DIR STUB_NOVA_SHIM_INSTALLED

_stub_record() {
    local quoted
    printf -v quoted '%q ' "$@"
    echo "${quoted% }" >> "$STUB_LOG"
}

# -- functions-common ---------------------------------------------------------

define_plugin() { _stub_record define_plugin "$@"; }
echo_summary() { _stub_record echo_summary "$@"; }
install_package() { _stub_record install_package "$@"; }
add_user_to_group() { _stub_record add_user_to_group "$@"; }
start_service() { _stub_record start_service "$@"; }
stop_service() { _stub_record stop_service "$@"; }
is_ubuntu() { return 0; }

die() {
    _stub_record die "$@"
    echo "die: $*" >&2
    exit 1
}

is_service_enabled() {
    local service
    for service in "$@"; do
        [[ ",$ENABLED_SERVICES," == *",$service,"* ]] && return 0
    done
    return 1
}

# trueorfalse DEFAULT VARNAME, as devstack's.
trueorfalse() {
    local default=$1 testval=${!2:-}
    case "$testval" in
        1|yes|Yes|YES|true|True|TRUE|on|On|ON) echo True ;;
        0|no|No|NO|false|False|FALSE|off|Off|OFF) echo False ;;
        *) echo "$default" ;;
    esac
}

# -- inc/ini-config -------------------------------------------------------------

iniset() {
    [[ "$1" == "-sudo" ]] && shift
    _stub_record iniset "$@"
    "$STUB_PY" "$STUB_DIR/ini.py" set "$@"
}

iniget() {
    "$STUB_PY" "$STUB_DIR/ini.py" get "$@"
}

# -- inc/python -----------------------------------------------------------------

pip_install() { _stub_record pip_install "$@"; }

# $PYTHON: answers the plugin's two questions about Nova.
stub_python() {
    _stub_record python "$@"
    case "$2" in
        'import nova.virt.novadocker')
            [[ "$STUB_NOVA_SHIM_INSTALLED" == 1 || \
               -f "$STUB_NOVA_VIRT_DIR/novadocker/__init__.py" ]] ;;
        *nova.virt.__file__*) echo "$STUB_NOVA_VIRT_DIR" ;;
        *) return 2 ;;
    esac
}

# -- host commands ----------------------------------------------------------------

sudo() { _stub_record sudo "$@"; "$@"; }
sleep() { :; }
hostname() { echo "$STUB_HOSTNAME"; }

docker() {
    _stub_record docker "$@"
    "$STUB_PY" "$STUB_DIR/fake_docker.py" "$@"
}

# openstack: image show fails until image create has run; aggregates and
# placement answer just enough for the host isolation.
openstack() {
    _stub_record openstack "$@"
    if [[ "$1" == --os-placement-api-version ]]; then
        shift 2
    fi
    local last=${!#}
    case "$1 $2" in
        'image show')
            grep -qx "$last" "$STUB_OPENSTACK_STATE" 2>/dev/null || return 1
            if [[ " $* " == *" -c id "* ]]; then echo "id-of-$last"; fi ;;
        'image create')
            local prev='' arg
            for arg in "$@"; do
                [[ "$prev" == --file ]] && cp "$arg" "$STUB_OPENSTACK_STATE.$last"
                prev=$arg
            done
            echo "$last" >> "$STUB_OPENSTACK_STATE" ;;
        'aggregate show')
            grep -qx "aggregate $last" "$STUB_OPENSTACK_STATE" 2>/dev/null ;;
        'aggregate create')
            echo "aggregate $last" >> "$STUB_OPENSTACK_STATE" ;;
        'aggregate add') ;;
        'trait create') ;;
        'resource provider')
            case "$3 $4" in
                'list --name') echo "rp-of-$5" ;;
                'trait list') printf '%s\n' COMPUTE_NODE COMPUTE_IMAGE_TYPE_RAW ;;
                'trait set') ;;
                *) return 2 ;;
            esac ;;
        *) return 2 ;;
    esac
}
