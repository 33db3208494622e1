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
TOPOLOGY_SINGLE = "SINGLE"

LISTENER_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "PROMETHEUS")
POOL_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2")
LB_ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP")
HM_TYPES = ("HTTP", "HTTPS", "TCP", "TLS-HELLO", "PING")
# Health monitor types that send an HTTP request (and take the http_* fields).
HTTP_HM_TYPES = ("HTTP", "HTTPS")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH")
SESSION_PERSISTENCE_TYPES = ("SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE")

# Listener protocol -> pool protocols it may use (Octavia's VALID_LISTENER_POOL_PROTOCOL_MAP).
LISTENER_POOL_PROTOCOLS = {
    "TCP": ("HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"),
    "HTTP": ("HTTP", "PROXY", "PROXYV2"),
    "HTTPS": ("HTTPS", "PROXY", "PROXYV2", "TCP"),
    "PROMETHEUS": (),  # serves haproxy's own metrics: no pools, no L7 policies
}

# Listeners sharing a port conflict when they share this transport family.
def l4_family(protocol: str) -> str:
    return {"UDP": "UDP", "SCTP": "SCTP"}.get(protocol, "TCP")

MIN_PORT, MAX_PORT = 1, 65535
MIN_WEIGHT, MAX_WEIGHT = 0, 256
MIN_HM_RETRIES, MAX_HM_RETRIES = 1, 10
MAX_TIMEOUT = 2_073_600_000
DEFAULT_CONNECTION_LIMIT = 50000
PROVIDER_AMPHORA = "amphora"
