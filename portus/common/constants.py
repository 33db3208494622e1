"""Enums and limits shared by the API, the database and the controller.

Values are those of the Octavia v2 API (see docs/architecture.md)."""
from __future__ import annotations

# provisioning_status
ACTIVE = "ACTIVE"
PENDING_CREATE = "PENDING_CREATE"
PENDING_UPDATE = "PENDING_UPDATE"
PENDING_DELETE = "PENDING_DELETE"
DELETED = "DELETED"
ERROR = "ERROR"
PENDING_STATUSES = (PENDING_CREATE, PENDING_UPDATE, PENDING_DELETE)

# operating_status
ONLINE = "ONLINE"
OFFLINE = "OFFLINE"
DEGRADED = "DEGRADED"
NO_MONITOR = "NO_MONITOR"
DRAINING = "DRAINING"

# amphora status and role
AMP_BOOTING = "BOOTING"
AMP_ALLOCATED = "ALLOCATED"
AMP_READY = "READY"
AMP_PENDING_CREATE = "PENDING_CREATE"
AMP_PENDING_DELETE = "PENDING_DELETE"
AMP_DELETED = "DELETED"
AMP_ERROR = "ERROR"
ROLE_STANDALONE = "STANDALONE"
ROLE_MASTER = "MASTER"
ROLE_BACKUP = "BACKUP"
TOPOLOGY_SINGLE = "SINGLE"
TOPOLOGY_ACTIVE_STANDBY = "ACTIVE_STANDBY"
TOPOLOGIES = (TOPOLOGY_SINGLE, TOPOLOGY_ACTIVE_STANDBY)
# keepalived priorities of an ACTIVE_STANDBY pair (the higher one holds the VIP).
VRRP_PRIORITY = {ROLE_MASTER: 150, ROLE_BACKUP: 100}

LISTENER_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS", "UDP", "SCTP", "PROMETHEUS")
POOL_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2", "UDP", "SCTP")
LB_ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP")
HM_TYPES = ("HTTP", "HTTPS", "TCP", "TLS-HELLO", "PING", "UDP-CONNECT", "SCTP")
# Listener/pool protocols carried by the nftables data plane instead of HAProxy.
L4_PROTOCOLS = ("UDP", "SCTP")
# Health monitor types a UDP or SCTP pool accepts (Octavia v2.16), and those only they take.
L4_POOL_HM_TYPES = ("UDP-CONNECT", "SCTP", "TCP", "HTTP")
L4_ONLY_HM_TYPES = ("UDP-CONNECT", "SCTP")
# Health monitor types that send an HTTP request (and take the http_* fields).
HTTP_HM_TYPES = ("HTTP", "HTTPS")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH")
SESSION_PERSISTENCE_TYPES = ("SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE")

# Listener protocol -> pool protocols it may use (Octavia's VALID_LISTENER_POOL_PROTOCOL_MAP).
LISTENER_POOL_PROTOCOLS = {
    "TCP": ("HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"),
    "HTTP": ("HTTP", "PROXY", "PROXYV2"),
    "HTTPS": ("HTTPS", "PROXY", "PROXYV2", "TCP"),
    "TERMINATED_HTTPS": ("HTTP", "PROXY", "PROXYV2"),
    "UDP": ("UDP",),
    "SCTP": ("SCTP",),
    "PROMETHEUS": (),  # serves haproxy's own metrics: no pools, no L7 policies
}
# Listeners that speak HTTP to clients (HTTP mode in haproxy: headers, L7 policies).
HTTP_LISTENERS = ("HTTP", "TERMINATED_HTTPS")

# TLS, in protocol order (a minimum_tls_version compares positions).
TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0")
CLIENT_AUTH_MODES = ("NONE", "OPTIONAL", "MANDATORY")
# Insert headers that only a TLS-terminating listener can fill.
SSL_INSERT_HEADERS = ("X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN",
                      "X-SSL-Client-CN", "X-SSL-Issuer", "X-SSL-Client-SHA1",
                      "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After")

# Listeners sharing a port conflict when they share this transport family.
def l4_family(protocol: str) -> str:
    return {"UDP": "UDP", "SCTP": "SCTP"}.get(protocol, "TCP")

MIN_PORT, MAX_PORT = 1, 65535
MIN_WEIGHT, MAX_WEIGHT = 0, 256
MIN_HM_RETRIES, MAX_HM_RETRIES = 1, 10
MAX_TIMEOUT = 2_073_600_000
DEFAULT_CONNECTION_LIMIT = 50000
PROVIDER_AMPHORA = "amphora"

# The words WSME (so Octavia) reads as booleans, in request bodies and query strings.
TRUE_WORDS = ("true", "t", "yes", "y", "on", "1")
FALSE_WORDS = ("false", "f", "no", "n", "off", "0")
