"""The amphora side: its agent, the desired-state specs and the haproxy renderer."""

# The PING health check script, written by the agent into its base_dir and named by
# the rendered haproxy configuration (`external-check command`).
PING_CHECK = "ping-check"
