"""The keepalived configuration each amphora of an ACTIVE_STANDBY pair gets."""
from __future__ import annotations

from portus.amphora.render_keepalived import KeepalivedSpec, VirtualAddress, render_keepalived
from portus.common import constants as C
from portus.common.config import Config
from portus.controller.amphorae import AmphoraFailed
from portus.db import models as m
from portus.drivers.compute.base import vip_ifname


def virtual_addresses(cfg: Config, lb: m.LoadBalancer) -> tuple[VirtualAddress, ...]:
    """The VIP, then each additional VIP, on the interface the amphora build gave it."""
    wanted = [(lb.vip.subnet_id, lb.vip.ip_address)]
    wanted += [(av.subnet_id, av.ip_address) for av in lb.additional_vips if av.ip_address]
    out = []
    for index, (subnet_id, address) in enumerate(wanted):
        subnet = cfg.subnet(subnet_id)
        if subnet is None or address is None:
            raise AmphoraFailed(f"VIP subnet {subnet_id} of load balancer {lb.id} is not "
                                f"configured")
        out.append(VirtualAddress(address, subnet.network.prefixlen, vip_ifname(index)))
    return tuple(out)


def keepalived_config(cfg: Config, lb_id: str, generation: int, amp: m.Amphora,
                      pair: list[m.Amphora], vips: tuple[VirtualAddress, ...],
                      base_dir: str) -> str | None:
    """None for an amphora outside a pair (SINGLE: no VRRP)."""
    if amp.role not in (C.ROLE_MASTER, C.ROLE_BACKUP):
        return None
    peers = tuple(p.vrrp_ip for p in pair if p.id != amp.id and p.vrrp_ip)
    assert amp.vrrp_ip and amp.vrrp_interface and amp.vrrp_id is not None
    return render_keepalived(KeepalivedSpec(
        lb_id=lb_id, generation=generation, role=amp.role,
        priority=amp.vrrp_priority or C.VRRP_PRIORITY[amp.role], vrid=amp.vrrp_id,
        interface=amp.vrrp_interface, source_ip=amp.vrrp_ip, peers=peers, vips=vips,
        advert_int=cfg.amphora.vrrp_advert_int, check_interval=cfg.amphora.vrrp_check_interval,
        base_dir=base_dir))
