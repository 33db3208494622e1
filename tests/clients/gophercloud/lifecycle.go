package main

import (
	"strings"

	"github.com/gophercloud/gophercloud/openstack/keymanager/v1/secrets"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/amphorae"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/l7policies"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/pools"
	"github.com/gophercloud/gophercloud/openstack/networking/v2/ports"
)

const missing = "00000000-0000-4000-8000-000000000000"

func (t *T) statusAndStats(w *world) {
	t.Step("status tree")
	tree, err := loadbalancers.GetStatuses(t.lb, w.lb).Extract()
	t.Must(err, "get statuses")
	t.Check(tree != nil && tree.Loadbalancer != nil, "no loadbalancer in the status tree")
	root := tree.Loadbalancer
	t.Equal("id", root.ID, w.lb)
	t.Equal("name", root.Name, "gc-main")
	t.Equal("provisioning_status", root.ProvisioningStatus, "ACTIVE")
	t.Check(root.OperatingStatus != "", "no operating_status in the status tree")
	byID := map[string]listeners.Listener{}
	for _, l := range root.Listeners {
		byID[l.ID] = l
	}
	t.Equal("listeners in the tree", len(byID), 3)
	http, ok := byID[w.http]
	t.Check(ok, "listener %s missing from the status tree", w.http)
	t.Equal("listener name", http.Name, "http")
	t.Equal("listener provisioning_status", http.ProvisioningStatus, "ACTIVE")
	var web *pools.Pool
	for i := range http.Pools {
		if http.Pools[i].ID == w.web {
			web = &http.Pools[i]
		}
	}
	t.Check(web != nil, "pool %s missing under its listener: %+v", w.web, http.Pools)
	t.Equal("pool provisioning_status", web.ProvisioningStatus, "ACTIVE")
	t.Check(web.OperatingStatus != "", "no operating_status for the pool")
	addresses := ids(web.Members, func(m pools.Member) string { return m.Address })
	t.Equal("member addresses in the tree", sorted(addresses), sorted([]string{
		t.HostIn(w.vipCIDR, 20), t.HostIn(w.vipCIDR, 22), t.HostIn(w.vipCIDR, 23)}))
	for _, m := range web.Members {
		t.Equal("member protocol_port in the tree", m.ProtocolPort, 8080)
		t.Equal("member provisioning_status in the tree", m.ProvisioningStatus, "ACTIVE")
	}

	t.Step("statistics")
	stats, err := loadbalancers.GetStats(t.lb, w.lb).Extract()
	t.Must(err, "load balancer stats")
	t.Equal("load balancer stats", *stats, loadbalancers.Stats{})
}

func (t *T) lbAmphorae(lb string) []amphorae.Amphora {
	return all(t, "amphorae", amphorae.List(t.lb, amphorae.ListOpts{LoadbalancerID: lb}),
		amphorae.ExtractAmphorae)
}

func (t *T) amphorae(w *world) {
	t.Step("amphorae (admin): list, get, pagination")
	amps := t.lbAmphorae(w.lb)
	t.Equal("amphorae of the load balancer", len(amps), 1)
	amp := amps[0]
	t.Equal("loadbalancer_id", amp.LoadbalancerID, w.lb)
	t.Equal("status", amp.Status, "ALLOCATED")
	t.Equal("role", amp.Role, "STANDALONE")
	t.Recent("amphora created_at", amp.CreatedAt)
	t.Check(amp.CertExpiration.After(amp.CreatedAt), "cert_expiration %v", amp.CertExpiration)
	some := all(t, "amphorae", amphorae.List(t.lb, amphorae.ListOpts{LoadbalancerID: w.lb,
		Role: "STANDALONE", Status: "ALLOCATED"}), amphorae.ExtractAmphorae)
	t.Equal("amphorae by role and status", len(some), 1)
	some = all(t, "amphorae", amphorae.List(t.lb, amphorae.ListOpts{ImageID: missing}),
		amphorae.ExtractAmphorae)
	t.Equal("amphorae of an image", len(some), 0)
	got, err := amphorae.Get(t.lb, amp.ID).Extract()
	t.Must(err, "get amphora")
	t.Equal("amphora read back", got.ID, amp.ID)
	t.Equal("lb_network_ip", got.LBNetworkIP, amp.LBNetworkIP)
	paged := all(t, "amphorae", amphorae.List(t.lb, amphorae.ListOpts{Limit: 1}),
		amphorae.ExtractAmphorae)
	seen := map[string]bool{}
	for _, a := range paged {
		t.Check(!seen[a.ID], "amphora %s listed twice across pages", a.ID)
		seen[a.ID] = true
	}
	for _, lb := range []string{w.lb, w.lbA, w.lbB} {
		for _, a := range t.lbAmphorae(lb) {
			t.Check(seen[a.ID], "amphora %s of %s missing from the paged list", a.ID, lb)
		}
	}

	t.Step("amphora failover (admin)")
	t.Must(amphorae.Failover(t.lb, amp.ID).ExtractErr(), "fail over amphora")
	t.WaitLB(w.lb)
	amps = t.lbAmphorae(w.lb)
	t.Equal("amphorae after the failover", len(amps), 1)
	t.Check(amps[0].ID != amp.ID, "amphora %s was not replaced", amp.ID)
	t.Equal("status of the replacement", amps[0].Status, "ALLOCATED")
	w.amphora = amps[0].ID
}

func (t *T) failover(w *world) {
	t.Step("load balancer failover")
	t.Must(loadbalancers.Failover(t.lb, w.lb).ExtractErr(), "fail over load balancer")
	lb := t.WaitLB(w.lb)
	t.Equal("provisioning_status", lb.ProvisioningStatus, "ACTIVE")
	if t.o.amphorae {
		amps := t.lbAmphorae(w.lb)
		t.Equal("amphorae after the failover", len(amps), 1)
		t.Check(amps[0].ID != w.amphora, "amphora %s was not replaced", w.amphora)
	}
}

func (t *T) refusals(w *world) {
	t.Step("errors gophercloud callers rely on")
	_, err := loadbalancers.Get(t.lb, missing).Extract()
	t.Check(IsNotFound(err), "get a missing load balancer: %v, want gophercloud.ErrDefault404", err)
	_, err = listeners.Create(t.lb, listeners.CreateOpts{LoadbalancerID: w.lb,
		Protocol: listeners.ProtocolHTTP, ProtocolPort: 80}).Extract()
	t.Status(err, 409, "create a second listener on port 80")
	_, err = listeners.Create(t.lb, listeners.CreateOpts{LoadbalancerID: w.lb,
		Protocol: "FTP", ProtocolPort: 21}).Extract()
	t.Status(err, 400, "create an FTP listener")
	t.Check(strings.Contains(err.Error(), "protocol"), "the 400 does not name the field: %v", err)
	_, err = pools.CreateMember(t.lb, missing, pools.CreateMemberOpts{
		Address: t.HostIn(w.vipCIDR, 30), ProtocolPort: 80}).Extract()
	t.Check(IsNotFound(err), "member of a missing pool: %v, want 404", err)
	_, err = monitors.Create(t.lb, monitors.CreateOpts{PoolID: w.web, Type: monitors.TypeTCP,
		Delay: 3, Timeout: 2, MaxRetries: 3}).Extract()
	t.Status(err, 409, "a second health monitor on a pool")
	err = loadbalancers.Delete(t.lb, w.lb, nil).ExtractErr()
	t.Status(err, 400, "delete a load balancer with children, without cascade")
	lb := t.WaitLB(w.lb)
	t.Equal("provisioning_status after the refusals", lb.ProvisioningStatus, "ACTIVE")
}

func (t *T) teardown(w *world) {
	t.Step("deletes one by one")
	t.DeleteAndWait("health monitor "+w.hmTCP, w.lb, func() error {
		return monitors.Delete(t.lb, w.hmTCP).ExtractErr()
	}, func() error {
		_, err := monitors.Get(t.lb, w.hmTCP).Extract()
		return err
	})
	t.DeleteAndWait("member "+w.m2, w.lb, func() error {
		return pools.DeleteMember(t.lb, w.web, w.m2).ExtractErr()
	}, func() error {
		_, err := pools.GetMember(t.lb, w.web, w.m2).Extract()
		return err
	})
	t.DeleteAndWait("listener "+w.tcp, w.lb, func() error {
		return listeners.Delete(t.lb, w.tcp).ExtractErr()
	}, func() error {
		_, err := listeners.Get(t.lb, w.tcp).Extract()
		return err
	})
	p, err := pools.Get(t.lb, w.tcpPool).Extract()
	t.Must(err, "get the pool of the deleted listener")
	t.Equal("its listeners", len(p.Listeners), 0)
	t.Must(pools.Delete(t.lb, w.tcpPool).ExtractErr(), "delete pool")
	t.WaitLB(w.lb)

	t.Step("cascade delete, wait for 404")
	t.DeleteAndWait("load balancer "+w.lb+" (cascade)", "", func() error {
		return loadbalancers.Delete(t.lb, w.lb, loadbalancers.DeleteOpts{Cascade: true}).ExtractErr()
	}, func() error {
		_, err := loadbalancers.Get(t.lb, w.lb).Extract()
		return err
	})
	gone := map[string]error{}
	_, gone["listener"] = listeners.Get(t.lb, w.http).Extract()
	_, gone["pool"] = pools.Get(t.lb, w.web).Extract()
	_, gone["member"] = pools.GetMember(t.lb, w.web, w.m1).Extract()
	_, gone["health monitor"] = monitors.Get(t.lb, w.hm).Extract()
	_, gone["L7 policy"] = l7policies.Get(t.lb, w.toAPI).Extract()
	_, gone["L7 rule"] = l7policies.GetRule(t.lb, w.toAPI, w.rHeader).Extract()
	_, gone["VIP port"] = ports.Get(t.net, w.vipPort).Extract()
	for what, err := range gone {
		t.Check(IsNotFound(err), "%s after the cascade delete: %v, want 404", what, err)
	}
	if t.o.amphorae {
		t.Equal("amphorae after the delete", len(t.lbAmphorae(w.lb)), 0)
	}
	for _, id := range []string{w.lbA, w.lbB} {
		t.Must(loadbalancers.Delete(t.lb, id, nil).ExtractErr(), "delete load balancer "+id)
	}
	for _, id := range []string{w.lbA, w.lbB} {
		id := id
		t.WaitGone("load balancer "+id, func() error {
			_, err := loadbalancers.Get(t.lb, id).Extract()
			return err
		})
	}
	t.Equal("load balancers left", len(t.listLBs(loadbalancers.ListOpts{
		ProjectID: t.o.project})), 0)

	t.Step("secret delete, quota reset")
	for _, ref := range []string{w.secretRef, w.noteRef} {
		id := ref[strings.LastIndex(ref, "/")+1:]
		t.Must(secrets.Delete(t.keys, id).ExtractErr(), "delete secret")
		_, err = secrets.Get(t.keys, id).Extract()
		t.Check(IsNotFound(err), "secret after delete: %v, want 404", err)
	}
	_, err = t.lb.Delete(t.quotaURL(), nil)
	t.Must(err, "reset quota")
	t.Equal("quota after the reset", t.getQuota(), quotaSet{-1, -1, -1, -1, -1, -1, -1})
}
