"""Fixtures for end-to-end tests: a real portus, real amphorae, real traffic."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import openstack
import pytest

from tests.e2e.harness import NoNetworks, PortusLab

E2E_READY = os.geteuid() == 0 and shutil.which("ip") is not None and (
    shutil.which("haproxy") is not None or os.path.exists("/usr/sbin/haproxy"))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[PortusLab]:
    if not E2E_READY:
        pytest.skip("needs root, iproute2 and haproxy")
    try:
        lab = PortusLab(tmp_path)
    except NoNetworks as exc:
        pytest.skip(str(exc))
    try:
        lab.network.ensure_networks()
        lab.start()
        yield lab
    finally:
        lab.cleanup()


@pytest.fixture
def sdk(lab: PortusLab) -> openstack.connection.Connection:
    """openstacksdk, as a tenant would use it, without Keystone."""
    return openstack.connection.Connection(
        auth_type="none", auth={"endpoint": lab.endpoint},
        load_balancer_endpoint_override=lab.endpoint + "/v2.0/",
        load_balancer_api_version="2")
