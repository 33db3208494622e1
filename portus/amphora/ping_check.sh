#!/bin/sh
# PING health monitor check; the portus agent installs it as <base_dir>/ping-check and
# haproxy runs it as an external check (option external-check) for each member.
# haproxy gives only the member address (HAPROXY_SERVER_ADDR) and names the server in
# HAPROXY_PROXY_NAME/HAPROXY_SERVER_NAME; the haproxy.cfg beside this script names the
# address to ping (the member or its monitor_address) and the monitor's timeout on a
# "# ping-target <backend>/<server> <address> <seconds>" line.
# Exit status 0 (member UP) when an echo reply arrives within the timeout.
target=$(awk -v key="$HAPROXY_PROXY_NAME/$HAPROXY_SERVER_NAME" \
    '$1 == "#" && $2 == "ping-target" && $3 == key { print $4, $5; exit }' \
    "${0%/*}/haproxy.cfg")
# Unquoted on purpose: "<address> <seconds>" becomes $1 and $2.
set -- $target
exec ping -n -q -c 1 -w "${2:-1}" "${1:-$HAPROXY_SERVER_ADDR}" >/dev/null 2>&1
