package main

import (
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/pools"
)

func (t *T) listListeners(opts listeners.ListOpts) []listeners.Listener {
	return all(t, "listeners", listeners.List(t.lb, opts), listeners.ExtractListeners)
}

func listenerIDs(xs []listeners.Listener) []string {
	return ids(xs, func(x listeners.Listener) string { return x.ID })
}

func (t *T) listeners(w *world) {
	t.Step("listener create (HTTP)")
	l, err := listeners.Create(t.lb, listeners.CreateOpts{
		LoadbalancerID: w.lb, Protocol: listeners.ProtocolHTTP, ProtocolPort: 80,
		Name: "http", Description: "plain", ConnLimit: ptr(1000),
		InsertHeaders:     map[string]string{"X-Forwarded-For": "true", "X-Forwarded-Port": "true"},
		TimeoutClientData: ptr(30000), TimeoutMemberConnect: ptr(3000),
		AllowedCIDRs: []string{"198.18.0.0/15"},
	}).Extract()
	t.Must(err, "create HTTP listener")
	t.Equal("provisioning_status", l.ProvisioningStatus, "PENDING_CREATE")
	t.Equal("protocol", l.Protocol, "HTTP")
	t.Equal("protocol_port", l.ProtocolPort, 80)
	t.Equal("connection_limit", l.ConnLimit, 1000)
	t.Equal("insert_headers", l.InsertHeaders,
		map[string]string{"X-Forwarded-For": "true", "X-Forwarded-Port": "true"})
	t.Equal("timeout_client_data", l.TimeoutClientData, 30000)
	t.Equal("timeout_member_connect", l.TimeoutMemberConnect, 3000)
	t.Equal("timeout_member_data (default)", l.TimeoutMemberData, 50000)
	t.Equal("timeout_tcp_inspect (default)", l.TimeoutTCPInspect, 0)
	t.Equal("allowed_cidrs", l.AllowedCIDRs, []string{"198.18.0.0/15"})
	t.Equal("loadbalancers", l.Loadbalancers, []listeners.LoadBalancerID{{ID: w.lb}})
	t.Equal("project_id", l.ProjectID, t.o.project)
	t.Equal("default_pool_id", l.DefaultPoolID, "")
	w.http = l.ID
	t.WaitLB(w.lb)
	got, err := listeners.Get(t.lb, w.http).Extract()
	t.Must(err, "get listener")
	t.Equal("listener provisioning_status", got.ProvisioningStatus, "ACTIVE")

	t.Step("listener create (TCP)")
	l, err = listeners.Create(t.lb, listeners.CreateOpts{
		LoadbalancerID: w.lb, Protocol: listeners.ProtocolTCP, ProtocolPort: 8080, Name: "tcp",
	}).Extract()
	t.Must(err, "create TCP listener")
	t.Equal("connection_limit (default)", l.ConnLimit, -1)
	t.Equal("insert_headers (none)", len(l.InsertHeaders), 0)
	w.tcp = l.ID
	t.WaitLB(w.lb)

	t.Step("listener create (TERMINATED_HTTPS, certificate from the key-manager API)")
	t.tlsSecret(w)
	l, err = listeners.Create(t.lb, listeners.CreateOpts{
		LoadbalancerID: w.lb, Protocol: listeners.Protocol("TERMINATED_HTTPS"), ProtocolPort: 443,
		Name: "https", DefaultTlsContainerRef: w.secretRef, SniContainerRefs: []string{w.secretRef},
	}).Extract()
	t.Must(err, "create TERMINATED_HTTPS listener")
	t.Equal("default_tls_container_ref", l.DefaultTlsContainerRef, w.secretRef)
	t.Equal("sni_container_refs", l.SniContainerRefs, []string{w.secretRef})
	w.https = l.ID
	t.WaitLB(w.lb)

	t.Step("listener update")
	l, err = listeners.Update(t.lb, w.http, listeners.UpdateOpts{
		Description: ptr("front door"), ConnLimit: ptr(2000), TimeoutMemberData: ptr(40000),
		InsertHeaders: &map[string]string{"X-Forwarded-For": "true"},
		AllowedCIDRs:  &[]string{"198.18.1.0/24", "198.18.2.0/24"},
	}).Extract()
	t.Must(err, "update listener")
	t.Equal("provisioning_status after update", l.ProvisioningStatus, "PENDING_UPDATE")
	t.WaitLB(w.lb)
	l, err = listeners.Get(t.lb, w.http).Extract()
	t.Must(err, "get listener")
	t.Equal("description", l.Description, "front door")
	t.Equal("connection_limit", l.ConnLimit, 2000)
	t.Equal("timeout_member_data", l.TimeoutMemberData, 40000)
	t.Equal("timeout_client_data (kept)", l.TimeoutClientData, 30000)
	t.Equal("insert_headers", l.InsertHeaders, map[string]string{"X-Forwarded-For": "true"})
	t.Equal("allowed_cidrs", sorted(l.AllowedCIDRs), []string{"198.18.1.0/24", "198.18.2.0/24"})

	t.Step("listener list: filters and pagination")
	byPort := listeners.ListOpts{LoadbalancerID: w.lb, Limit: 1, SortKey: "protocol_port",
		SortDir: "asc"}
	t.Equal("listeners by port, limit 1", listenerIDs(t.listListeners(byPort)),
		[]string{w.http, w.https, w.tcp})
	sizes := pageSizes(t, listeners.List(t.lb, byPort), listeners.ExtractListeners)
	t.Equal("page sizes", sizes, []int{1, 1, 1})
	t.Equal("protocol=HTTP", listenerIDs(t.listListeners(listeners.ListOpts{
		LoadbalancerID: w.lb, Protocol: "HTTP"})), []string{w.http})
	t.Equal("protocol_port=8080", listenerIDs(t.listListeners(listeners.ListOpts{
		LoadbalancerID: w.lb, ProtocolPort: 8080})), []string{w.tcp})
	t.Equal("connection_limit=2000", listenerIDs(t.listListeners(listeners.ListOpts{
		ProjectID: t.o.project, ConnectionLimit: 2000})), []string{w.http})

	stats, err := listeners.GetStats(t.lb, w.http).Extract()
	t.Must(err, "listener stats")
	t.Equal("listener stats", *stats, listeners.Stats{})
}

func (t *T) listPools(opts pools.ListOpts) []pools.Pool {
	return all(t, "pools", pools.List(t.lb, opts), pools.ExtractPools)
}

func poolNames(xs []pools.Pool) []string {
	return ids(xs, func(x pools.Pool) string { return x.Name })
}

func (t *T) pools(w *world) {
	t.Step("pool create on a listener")
	p, err := pools.Create(t.lb, pools.CreateOpts{
		ListenerID: w.http, Protocol: pools.ProtocolHTTP, LBMethod: pools.LBMethodRoundRobin,
		Name: "web", Description: "web servers",
		Persistence: &pools.SessionPersistence{Type: "APP_COOKIE", CookieName: "sid"},
	}).Extract()
	t.Must(err, "create pool")
	t.Equal("provisioning_status", p.ProvisioningStatus, "PENDING_CREATE")
	t.Equal("lb_algorithm", p.LBMethod, "ROUND_ROBIN")
	t.Equal("protocol", p.Protocol, "HTTP")
	t.Equal("session_persistence", p.Persistence,
		pools.SessionPersistence{Type: "APP_COOKIE", CookieName: "sid"})
	t.Equal("listeners", p.Listeners, []pools.ListenerID{{ID: w.http}})
	t.Equal("loadbalancers", p.Loadbalancers, []pools.LoadBalancerID{{ID: w.lb}})
	t.Equal("healthmonitor_id", p.MonitorID, "")
	w.web = p.ID
	t.WaitLB(w.lb)
	l, err := listeners.Get(t.lb, w.http).Extract()
	t.Must(err, "get listener")
	t.Equal("the listener's default_pool_id", l.DefaultPoolID, w.web)

	t.Step("pool create on the load balancer; one for the TCP listener")
	p, err = pools.Create(t.lb, pools.CreateOpts{
		LoadbalancerID: w.lb, Protocol: pools.ProtocolHTTP,
		LBMethod: pools.LBMethodLeastConnections, Name: "api",
	}).Extract()
	t.Must(err, "create pool api")
	t.Equal("listeners of a pool on the load balancer", len(p.Listeners), 0)
	w.api = p.ID
	t.WaitLB(w.lb)
	p, err = pools.Create(t.lb, pools.CreateOpts{
		ListenerID: w.tcp, Protocol: pools.ProtocolTCP, LBMethod: pools.LBMethodSourceIp,
		Name: "tcp", Persistence: &pools.SessionPersistence{Type: "SOURCE_IP"},
	}).Extract()
	t.Must(err, "create pool tcp")
	w.tcpPool = p.ID
	t.WaitLB(w.lb)

	t.Step("listener update: default_pool_id unset (null), then set again")
	l, err = listeners.Update(t.lb, w.tcp, listeners.UpdateOpts{DefaultPoolID: ptr("")}).Extract()
	t.Must(err, "update listener, default_pool_id null")
	t.Equal("default_pool_id (cleared)", l.DefaultPoolID, "")
	t.WaitLB(w.lb)
	l, err = listeners.Update(t.lb, w.tcp, listeners.UpdateOpts{DefaultPoolID: ptr(w.tcpPool)}).Extract()
	t.Must(err, "update listener, default_pool_id set")
	t.Equal("default_pool_id (set)", l.DefaultPoolID, w.tcpPool)
	t.WaitLB(w.lb)

	t.Step("pool update")
	p, err = pools.Update(t.lb, w.web, pools.UpdateOpts{
		Name: ptr("web2"), Description: ptr(""), LBMethod: pools.LBMethodLeastConnections,
	}).Extract()
	t.Must(err, "update pool")
	t.Equal("provisioning_status after update", p.ProvisioningStatus, "PENDING_UPDATE")
	t.WaitLB(w.lb)
	p, err = pools.Get(t.lb, w.web).Extract()
	t.Must(err, "get pool")
	t.Equal("name", p.Name, "web2")
	t.Equal("description", p.Description, "")
	t.Equal("lb_algorithm", p.LBMethod, "LEAST_CONNECTIONS")
	t.Equal("session_persistence (kept)", p.Persistence.CookieName, "sid")
	t.Equal("provisioning_status", p.ProvisioningStatus, "ACTIVE")

	t.Step("pool list: filters and pagination")
	byName := pools.ListOpts{LoadbalancerID: w.lb, Limit: 1, SortKey: "name", SortDir: "asc"}
	t.Equal("pools by name, limit 1", poolNames(t.listPools(byName)),
		[]string{"api", "tcp", "web2"})
	t.Equal("protocol=TCP", poolNames(t.listPools(pools.ListOpts{LoadbalancerID: w.lb,
		Protocol: "TCP"})), []string{"tcp"})
	t.Equal("lb_algorithm=LEAST_CONNECTIONS", poolNames(t.listPools(pools.ListOpts{
		LoadbalancerID: w.lb, LBMethod: "LEAST_CONNECTIONS", SortKey: "name"})),
		[]string{"api", "web2"})
}

func (t *T) listMembers(pool string, opts pools.ListMembersOpts) []pools.Member {
	return all(t, "members", pools.ListMembers(t.lb, pool, opts), pools.ExtractMembers)
}

func memberIDs(xs []pools.Member) []string {
	return ids(xs, func(x pools.Member) string { return x.ID })
}

func (t *T) members(w *world) {
	a1, a2 := t.HostIn(w.vipCIDR, 20), t.HostIn(w.memberCIDR, 21)
	a3, a4 := t.HostIn(w.vipCIDR, 22), t.HostIn(w.vipCIDR, 23)

	t.Step("member create")
	m, err := pools.CreateMember(t.lb, w.web, pools.CreateMemberOpts{
		Name: "m1", Address: a1, ProtocolPort: 8080, SubnetID: t.o.subnet, Weight: ptr(5),
		MonitorAddress: t.HostIn(w.vipCIDR, 120), MonitorPort: ptr(9090),
	}).Extract()
	t.Must(err, "create member m1")
	t.Equal("provisioning_status", m.ProvisioningStatus, "PENDING_CREATE")
	t.Equal("address", m.Address, a1)
	t.Equal("protocol_port", m.ProtocolPort, 8080)
	t.Equal("subnet_id", m.SubnetID, t.o.subnet)
	t.Equal("weight", m.Weight, 5)
	t.Equal("monitor_address", m.MonitorAddress, t.HostIn(w.vipCIDR, 120))
	t.Equal("monitor_port", m.MonitorPort, 9090)
	t.Equal("backup", m.Backup, false)
	t.Equal("admin_state_up", m.AdminStateUp, true)
	t.Equal("project_id", m.ProjectID, t.o.project)
	t.Recent("member created_at", m.CreatedAt)
	w.m1 = m.ID
	t.WaitLB(w.lb)
	m, err = pools.CreateMember(t.lb, w.web, pools.CreateMemberOpts{
		Name: "m2", Address: a2, ProtocolPort: 8080, SubnetID: t.o.memberSubnet,
		Backup: ptr(true),
	}).Extract()
	t.Must(err, "create member m2")
	t.Equal("backup", m.Backup, true)
	t.Equal("weight (default)", m.Weight, 1)
	w.m2 = m.ID
	t.WaitLB(w.lb)

	t.Step("member update")
	m, err = pools.UpdateMember(t.lb, w.web, w.m1, pools.UpdateMemberOpts{
		Name: ptr("m1b"), Weight: ptr(10), AdminStateUp: ptr(false)}).Extract()
	t.Must(err, "update member")
	t.Equal("provisioning_status after update", m.ProvisioningStatus, "PENDING_UPDATE")
	t.WaitLB(w.lb)
	m, err = pools.GetMember(t.lb, w.web, w.m1).Extract()
	t.Must(err, "get member")
	t.Equal("name", m.Name, "m1b")
	t.Equal("weight", m.Weight, 10)
	t.Equal("admin_state_up", m.AdminStateUp, false)
	t.Equal("monitor_port (kept)", m.MonitorPort, 9090)
	t.Recent("member updated_at", m.UpdatedAt)

	t.Step("member list: filters and pagination")
	byAddress := pools.ListMembersOpts{Limit: 1, SortKey: "address", SortDir: "asc"}
	t.Equal("members, limit 1", memberIDs(t.listMembers(w.web, byAddress)),
		[]string{w.m1, w.m2})
	sizes := pageSizes(t, pools.ListMembers(t.lb, w.web, byAddress), pools.ExtractMembers)
	t.Equal("page sizes", sizes, []int{1, 1})
	t.Equal("address filter", memberIDs(t.listMembers(w.web, pools.ListMembersOpts{
		Address: a2})), []string{w.m2})
	t.Equal("weight filter", memberIDs(t.listMembers(w.web, pools.ListMembersOpts{
		Weight: 10})), []string{w.m1})
	t.Equal("admin_state_up filter", memberIDs(t.listMembers(w.web, pools.ListMembersOpts{
		AdminStateUp: ptr(true)})), []string{w.m2})
	t.Equal("members of another pool", len(t.listMembers(w.api, pools.ListMembersOpts{})), 0)

	t.Step("member batch update")
	err = pools.BatchUpdateMembers(t.lb, w.web, []pools.BatchUpdateMemberOpts{
		{Address: a1, ProtocolPort: 8080, Name: ptr("m1c"), Weight: ptr(3),
			SubnetID: ptr(t.o.subnet), AdminStateUp: ptr(true)},
		{Address: a3, ProtocolPort: 8080, Name: ptr("m3"), SubnetID: ptr("")},
		{Address: a4, ProtocolPort: 8080, Name: ptr("m4"), Weight: ptr(0)},
	}).ExtractErr()
	t.Must(err, "batch update members")
	t.WaitLB(w.lb)
	after := t.listMembers(w.web, pools.ListMembersOpts{SortKey: "address"})
	t.Equal("addresses after the batch", ids(after, func(x pools.Member) string {
		return x.Address
	}), []string{a1, a3, a4})
	t.Equal("m1 kept its id", after[0].ID, w.m1)
	t.Equal("m1 name", after[0].Name, "m1c")
	t.Equal("m1 weight", after[0].Weight, 3)
	t.Equal("m1 admin_state_up", after[0].AdminStateUp, true)
	t.Equal("m3 weight (default)", after[1].Weight, 1)
	t.Equal("m4 weight", after[2].Weight, 0)
	for _, x := range after {
		t.Equal("provisioning_status of "+x.Name, x.ProvisioningStatus, "ACTIVE")
	}
	_, err = pools.GetMember(t.lb, w.web, w.m2).Extract()
	t.Check(IsNotFound(err), "m2, left out of the batch, is still there: %v", err)
	p, err := pools.Get(t.lb, w.web).Extract()
	t.Must(err, "get pool")
	t.Equal("the pool's members", sorted(memberIDs(p.Members)), sorted(memberIDs(after)))
	w.m2 = after[2].ID // m4, deleted on its own later
}
