package main

import (
	"fmt"
	"net"
	"strings"

	"github.com/gophercloud/gophercloud"
	"github.com/gophercloud/gophercloud/openstack/keymanager/v1/secrets"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/apiversions"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/providers"
	"github.com/gophercloud/gophercloud/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/openstack/networking/v2/subnets"
)

// world holds what the scenario made, for the later steps.
type world struct {
	vipCIDR, memberCIDR string
	vipNetwork          string
	lastVIP             string   // the end of the VIP subnet's allocation pool
	networkSubnets      []string // the subnets of the VIP's network
	lb, lbA, lbB        string   // load balancers
	http, tcp, https    string   // listeners of lb
	web, api, tcpPool   string   // pools of lb
	m1, m2              string   // members of web
	hm, hmTCP           string   // health monitors
	toAPI, deny, moved  string   // L7 policies on http
	rPath, rHeader      string   // L7 rules of toAPI
	secretRef, noteRef  string
	vipPort             string
	amphora             string
}

func runScenario(t *T) {
	w := &world{}
	t.discovery()
	t.subnets(w)
	t.quotas(w)
	t.loadBalancers(w)
	t.listeners(w)
	t.pools(w)
	t.members(w)
	t.monitors(w)
	t.l7(w)
	t.statusAndStats(w)
	if t.o.amphorae {
		t.amphorae(w)
	}
	t.failover(w)
	t.refusals(w)
	t.teardown(w)
}

func (t *T) discovery() {
	t.Step("API versions")
	pages, err := apiversions.List(t.lb).AllPages()
	t.Must(err, "list API versions")
	versions, err := apiversions.ExtractAPIVersions(pages)
	t.Must(err, "extract API versions")
	status := map[string]string{}
	current := ""
	for _, v := range versions {
		status[v.ID] = v.Status
		if v.Status == "CURRENT" {
			t.Check(current == "", "two CURRENT versions: %s, %s", current, v.ID)
			current = v.ID
		}
	}
	t.Check(status["v2.0"] != "", "no v2.0 among %+v", versions)
	// cloud-provider-openstack reads the CURRENT version to decide what it may use:
	// allowed_cidrs needs v2.12, so the newest must be at least that.
	var minor int
	_, err = fmt.Sscanf(current, "v2.%d", &minor)
	t.Must(err, "parse the CURRENT version "+current)
	t.Check(minor >= 12, "CURRENT version %s, older than v2.12", current)
	t.Equal("the CURRENT version is the last listed", versions[len(versions)-1].ID, current)

	t.Step("providers")
	pages, err = providers.List(t.lb, providers.ListOpts{}).AllPages()
	t.Must(err, "list providers")
	all, err := providers.ExtractProviders(pages)
	t.Must(err, "extract providers")
	names := map[string]string{}
	for _, p := range all {
		names[p.Name] = p.Description
	}
	t.Check(names["amphora"] != "", "no described amphora provider among %+v", all)
	pages, err = providers.List(t.lb, providers.ListOpts{Fields: []string{"name"}}).AllPages()
	t.Must(err, "list providers with fields=name")
	some, err := providers.ExtractProviders(pages)
	t.Must(err, "extract providers (fields=name)")
	t.Equal("providers with fields=name", len(some), len(all))
	for _, p := range some {
		t.Check(p.Name != "" && p.Description == "", "fields=name gave %+v", p)
	}
}

func (t *T) subnets(w *world) {
	t.Step("subnets through the networking API")
	vip, err := subnets.Get(t.net, t.o.subnet).Extract()
	t.Must(err, "get subnet "+t.o.subnet)
	t.Equal("subnet id", vip.ID, t.o.subnet)
	_, _, err = net.ParseCIDR(vip.CIDR)
	t.Must(err, "the VIP subnet's cidr")
	t.Check(vip.NetworkID != "", "subnet %s has no network_id", vip.ID)
	w.vipCIDR, w.vipNetwork = vip.CIDR, vip.NetworkID
	t.Check(len(vip.AllocationPools) == 1, "allocation_pools %+v", vip.AllocationPools)
	w.lastVIP = vip.AllocationPools[0].End
	t.Check(net.ParseIP(w.lastVIP) != nil, "allocation pool end %q", w.lastVIP)

	pages, err := subnets.List(t.net, subnets.ListOpts{NetworkID: vip.NetworkID}).AllPages()
	t.Must(err, "list the network's subnets")
	onNetwork, err := subnets.ExtractSubnets(pages)
	t.Must(err, "extract subnets")
	w.networkSubnets = ids(onNetwork, func(s subnets.Subnet) string { return s.ID })
	t.Check(len(w.networkSubnets) > 0, "network %s lists no subnet", vip.NetworkID)

	pages, err = subnets.List(t.net, subnets.ListOpts{Name: vip.Name}).AllPages()
	t.Must(err, "list subnets by name")
	named, err := subnets.ExtractSubnets(pages)
	t.Must(err, "extract subnets")
	t.Equal("subnets named "+vip.Name, ids(named, func(s subnets.Subnet) string { return s.ID }),
		[]string{vip.ID})

	other, err := subnets.Get(t.net, t.o.memberSubnet).Extract()
	t.Must(err, "get subnet "+t.o.memberSubnet)
	w.memberCIDR = other.CIDR
}

// quotaSet is the Octavia quota object as later gophercloud releases (and Terraform's
// openstack_lb_quota_v2) spell it: "loadbalancer" and "healthmonitor", with Octavia's
// older "load_balancer" and "health_monitor" still answered beside them. gophercloud
// 0.12 has no load-balancer quota package: these are plain calls through its
// ServiceClient.
type quotaSet struct {
	LoadBalancer  int `json:"loadbalancer"`
	Listener      int `json:"listener"`
	Member        int `json:"member"`
	Pool          int `json:"pool"`
	HealthMonitor int `json:"healthmonitor"`
	L7Policy      int `json:"l7policy"`
	L7Rule        int `json:"l7rule"`
}

type quotaBody struct {
	Quota struct {
		quotaSet
		OldLoadBalancer  *int `json:"load_balancer"`
		OldHealthMonitor *int `json:"health_monitor"`
	} `json:"quota"`
}

// value checks that both spellings agree and returns the quota.
func (t *T) value(body quotaBody) quotaSet {
	q := body.Quota
	t.Check(q.OldLoadBalancer != nil && *q.OldLoadBalancer == q.LoadBalancer,
		"load_balancer %v != loadbalancer %d", q.OldLoadBalancer, q.LoadBalancer)
	t.Check(q.OldHealthMonitor != nil && *q.OldHealthMonitor == q.HealthMonitor,
		"health_monitor %v != healthmonitor %d", q.OldHealthMonitor, q.HealthMonitor)
	return q.quotaSet
}

func (t *T) quotaURL() string { return t.lb.ServiceURL("lbaas", "quotas", t.o.project) }

func (t *T) getQuota() quotaSet {
	var body quotaBody
	_, err := t.lb.Get(t.quotaURL(), &body, nil)
	t.Must(err, "get quota")
	return t.value(body)
}

func (t *T) quotas(w *world) {
	t.Step("quotas: get, update")
	unlimited := quotaSet{-1, -1, -1, -1, -1, -1, -1}
	t.Equal("default quota", t.getQuota(), unlimited)
	want := quotaSet{LoadBalancer: 3, Listener: 6, Member: 20, Pool: 6, HealthMonitor: 6,
		L7Policy: 6, L7Rule: 10}
	var body quotaBody
	_, err := t.lb.Put(t.quotaURL(), map[string]interface{}{"quota": want}, &body,
		&gophercloud.RequestOpts{OkCodes: []int{202}})
	t.Must(err, "update quota")
	t.Equal("updated quota", t.value(body), want)
	t.Equal("quota read back", t.getQuota(), want)
}

func lbIDs(xs []loadbalancers.LoadBalancer) []string {
	return ids(xs, func(x loadbalancers.LoadBalancer) string { return x.ID })
}

func lbNames(xs []loadbalancers.LoadBalancer) []string {
	return ids(xs, func(x loadbalancers.LoadBalancer) string { return x.Name })
}

func (t *T) listLBs(opts loadbalancers.ListOpts) []loadbalancers.LoadBalancer {
	return all(t, "load balancers", loadbalancers.List(t.lb, opts),
		loadbalancers.ExtractLoadBalancers)
}

func (t *T) loadBalancers(w *world) {
	t.Step("load balancer create, wait for ACTIVE")
	created, err := loadbalancers.Create(t.lb, loadbalancers.CreateOpts{
		Name: "gc-web", Description: "made by gophercloud", VipSubnetID: t.o.subnet,
		ProjectID: t.o.project, AdminStateUp: ptr(true), Tags: []string{"gophercloud", "web"},
	}).Extract()
	t.Must(err, "create load balancer")
	t.Equal("provisioning_status after create", created.ProvisioningStatus, "PENDING_CREATE")
	t.Equal("name", created.Name, "gc-web")
	t.Equal("description", created.Description, "made by gophercloud")
	t.Equal("vip_subnet_id", created.VipSubnetID, t.o.subnet)
	t.Equal("vip_network_id", created.VipNetworkID, w.vipNetwork)
	t.Equal("project_id", created.ProjectID, t.o.project)
	t.Equal("tags", sorted(created.Tags), []string{"gophercloud", "web"})
	t.Equal("admin_state_up", created.AdminStateUp, true)
	t.Equal("provider", created.Provider, "amphora")
	_, vipNet, _ := net.ParseCIDR(w.vipCIDR)
	t.Check(vipNet.Contains(net.ParseIP(created.VipAddress)), "vip_address %q not in %s",
		created.VipAddress, w.vipCIDR)
	t.Recent("created_at", created.CreatedAt)
	w.lb = created.ID
	lb := t.WaitLB(w.lb)
	t.Equal("vip_address once ACTIVE", lb.VipAddress, created.VipAddress)
	t.Check(lb.OperatingStatus != "", "no operating_status")

	t.Step("the VIP port through the networking API, as Terraform reads it")
	port, err := ports.Get(t.net, lb.VipPortID).Extract()
	t.Must(err, "get the VIP port "+lb.VipPortID)
	t.Equal("port network_id", port.NetworkID, w.vipNetwork)
	t.Equal("port fixed_ips", port.FixedIPs,
		[]ports.IP{{SubnetID: t.o.subnet, IPAddress: lb.VipAddress}})
	t.Equal("port security_groups", len(port.SecurityGroups), 0)
	t.Equal("port device_id", port.DeviceID, "lb-"+lb.ID)
	t.Equal("port project_id", port.ProjectID, t.o.project)
	portIDs := func(xs []ports.Port) []string {
		return ids(xs, func(p ports.Port) string { return p.ID })
	}
	t.Equal("ports of the load balancer", portIDs(all(t, "ports", ports.List(t.net,
		ports.ListOpts{DeviceID: "lb-" + lb.ID}), ports.ExtractPorts)), []string{port.ID})
	t.Equal("ports with the VIP address", portIDs(all(t, "ports", ports.List(t.net,
		ports.ListOpts{FixedIPs: []ports.FixedIPOpts{{IPAddress: lb.VipAddress}}}),
		ports.ExtractPorts)), []string{port.ID})
	w.vipPort = port.ID

	t.Step("load balancer create: a chosen vip_address, the provider's alias")
	other, err := loadbalancers.Create(t.lb, loadbalancers.CreateOpts{
		Name: "gc-a", VipSubnetID: t.o.subnet, VipAddress: w.lastVIP, Provider: "octavia",
		ProjectID: t.o.project, Tags: []string{"gophercloud"},
	}).Extract()
	t.Must(err, "create load balancer gc-a")
	t.Equal("vip_address asked for", other.VipAddress, w.lastVIP)
	t.Check(other.Provider == "amphora" || other.Provider == "octavia", "provider %q",
		other.Provider)
	w.lbA = other.ID

	t.Step("load balancer create: vip_network_id only (as cloud-provider-openstack may)")
	other, err = loadbalancers.Create(t.lb, loadbalancers.CreateOpts{
		Name: "gc-b", VipNetworkID: w.vipNetwork, ProjectID: t.o.project,
		Tags: []string{"gophercloud"},
	}).Extract()
	t.Must(err, "create load balancer gc-b")
	t.Equal("vip_network_id", other.VipNetworkID, w.vipNetwork)
	if len(w.networkSubnets) == 1 {
		t.Equal("vip_subnet_id picked", other.VipSubnetID, t.o.subnet)
	} else {
		t.Check(other.VipSubnetID != "", "no vip_subnet_id picked")
	}
	w.lbB = other.ID
	t.WaitLB(w.lbA)
	t.WaitLB(w.lbB)

	t.Step("load balancer quota is enforced")
	_, err = loadbalancers.Create(t.lb, loadbalancers.CreateOpts{
		Name: "gc-over", VipSubnetID: t.o.subnet, ProjectID: t.o.project}).Extract()
	t.Status(err, 403, "create a load balancer over the quota")

	t.Step("load balancer list: filters and tags")
	t.Equal("name=gc-web", lbIDs(t.listLBs(loadbalancers.ListOpts{Name: "gc-web"})),
		[]string{w.lb})
	t.Equal("vip_address", lbIDs(t.listLBs(loadbalancers.ListOpts{
		VipAddress: created.VipAddress})), []string{w.lb})
	t.Equal("vip_port_id", lbIDs(t.listLBs(loadbalancers.ListOpts{
		VipPortID: lb.VipPortID})), []string{w.lb})
	t.Equal("vip_subnet_id and vip_network_id", len(t.listLBs(loadbalancers.ListOpts{
		ProjectID: t.o.project, VipSubnetID: t.o.subnet, VipNetworkID: w.vipNetwork})), 3)
	t.Equal("vip_subnet_id of another subnet", len(t.listLBs(loadbalancers.ListOpts{
		VipSubnetID: missing})), 0)
	t.Equal("tags=web", lbIDs(t.listLBs(loadbalancers.ListOpts{Tags: []string{"web"}})),
		[]string{w.lb})
	t.Equal("tags-any", lbIDs(t.listLBs(loadbalancers.ListOpts{
		TagsAny: []string{"web", "nothing"}})), []string{w.lb})
	t.Equal("not-tags=web (before gc-a loses its tags)", sorted(lbIDs(t.listLBs(loadbalancers.ListOpts{
		ProjectID: t.o.project, TagsNot: []string{"web"}}))), sorted([]string{w.lbA, w.lbB}))
	t.Equal("not-tags-any", sorted(lbIDs(t.listLBs(loadbalancers.ListOpts{
		ProjectID: t.o.project, TagsNotAny: []string{"web", "nothing"}}))),
		sorted([]string{w.lbA, w.lbB}))
	t.Equal("provisioning_status=ACTIVE", len(t.listLBs(loadbalancers.ListOpts{
		ProjectID: t.o.project, ProvisioningStatus: "ACTIVE"})), 3)

	t.Step("load balancer list: pagination through loadbalancers_links")
	byName := loadbalancers.ListOpts{ProjectID: t.o.project, Limit: 1, SortKey: "name",
		SortDir: "asc"}
	t.Equal("names, limit 1", lbNames(t.listLBs(byName)), []string{"gc-a", "gc-b", "gc-web"})
	sizes := pageSizes(t, loadbalancers.List(t.lb, byName), loadbalancers.ExtractLoadBalancers)
	t.Equal("page sizes, limit 1", sizes, []int{1, 1, 1})
	t.Equal("names, limit 2, descending", lbNames(t.listLBs(loadbalancers.ListOpts{
		ProjectID: t.o.project, Limit: 2, SortKey: "name", SortDir: "desc"})),
		[]string{"gc-web", "gc-b", "gc-a"})

	t.Step("load balancer update")
	updated, err := loadbalancers.Update(t.lb, w.lb, loadbalancers.UpdateOpts{
		Name: ptr("gc-main"), Description: ptr("renamed"),
		Tags: &[]string{"gophercloud", "web", "prod"},
	}).Extract()
	t.Must(err, "update load balancer")
	t.Equal("provisioning_status after update", updated.ProvisioningStatus, "PENDING_UPDATE")
	t.Equal("name after update", updated.Name, "gc-main")
	lb = t.WaitLB(w.lb)
	t.Equal("name read back", lb.Name, "gc-main")
	t.Equal("description read back", lb.Description, "renamed")
	t.Equal("tags read back", sorted(lb.Tags), []string{"gophercloud", "prod", "web"})
	t.Check(!lb.UpdatedAt.IsZero(), "no updated_at after an update")

	updated, err = loadbalancers.Update(t.lb, w.lbA, loadbalancers.UpdateOpts{
		AdminStateUp: ptr(false), Description: ptr(""), Tags: &[]string{}}).Extract()
	t.Must(err, "update load balancer gc-a")
	t.Equal("admin_state_up after update", updated.AdminStateUp, false)
	lb = t.WaitLB(w.lbA)
	t.Equal("tags cleared", len(lb.Tags), 0)
	t.Equal("description cleared", lb.Description, "")
	t.Equal("admin_state_up=false filter", lbIDs(t.listLBs(loadbalancers.ListOpts{
		ProjectID: t.o.project, AdminStateUp: ptr(false)})), []string{w.lbA})
}

func (t *T) tlsSecret(w *world) {
	payload, err := selfSigned("www.example.org")
	t.Must(err, "make a certificate")
	created, err := secrets.Create(t.keys, secrets.CreateOpts{
		Name: "gc-cert", Payload: payload, PayloadContentType: "text/plain",
		SecretType: secrets.OpaqueSecret,
	}).Extract()
	t.Must(err, "create secret")
	t.Check(strings.Contains(created.SecretRef, "/v1/secrets/"), "secret_ref %q",
		created.SecretRef)
	w.secretRef = created.SecretRef
	id := w.secretRef[strings.LastIndex(w.secretRef, "/")+1:]
	got, err := secrets.Get(t.keys, id).Extract()
	t.Must(err, "get secret")
	t.Equal("secret name", got.Name, "gc-cert")
	t.Equal("secret_ref", got.SecretRef, w.secretRef)
	t.Recent("secret created", got.Created)
	back, err := secrets.GetPayload(t.keys, id, nil).Extract()
	t.Must(err, "get secret payload")
	t.Equal("secret payload", string(back), payload)

	note, err := secrets.Create(t.keys, secrets.CreateOpts{
		Name: "gc-note", Payload: "a note", PayloadContentType: "text/plain",
		SecretType: secrets.PassphraseSecret,
	}).Extract()
	t.Must(err, "create a second secret")
	w.noteRef = note.SecretRef
	refs := func(xs []secrets.Secret) []string {
		return ids(xs, func(x secrets.Secret) string { return x.SecretRef })
	}
	paged := refs(all(t, "secrets", secrets.List(t.keys, secrets.ListOpts{Limit: 1}),
		secrets.ExtractSecrets))
	t.Equal("secrets, one a page", sorted(paged), sorted([]string{w.secretRef, w.noteRef}))
	t.Equal("secrets named gc-cert of type opaque", refs(all(t, "secrets", secrets.List(
		t.keys, secrets.ListOpts{Name: "gc-cert", SecretType: secrets.OpaqueSecret}),
		secrets.ExtractSecrets)), []string{w.secretRef})
	t.Equal("passphrases", refs(all(t, "secrets", secrets.List(t.keys, secrets.ListOpts{
		SecretType: secrets.PassphraseSecret}), secrets.ExtractSecrets)), []string{w.noteRef})
}
