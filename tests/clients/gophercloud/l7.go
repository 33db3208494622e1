package main

import (
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/l7policies"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/pools"
)

func (t *T) listMonitors(opts monitors.ListOpts) []monitors.Monitor {
	return all(t, "health monitors", monitors.List(t.lb, opts), monitors.ExtractMonitors)
}

func monitorIDs(xs []monitors.Monitor) []string {
	return ids(xs, func(x monitors.Monitor) string { return x.ID })
}

func (t *T) monitors(w *world) {
	t.Step("health monitor create (HTTP)")
	hm, err := monitors.Create(t.lb, monitors.CreateOpts{
		PoolID: w.web, Type: monitors.TypeHTTP, Delay: 5, Timeout: 3, MaxRetries: 2,
		MaxRetriesDown: 4, URLPath: "/healthz", HTTPMethod: "HEAD", ExpectedCodes: "200-204",
		Name: "web-check",
	}).Extract()
	t.Must(err, "create health monitor")
	t.Equal("provisioning_status", hm.ProvisioningStatus, "PENDING_CREATE")
	t.Equal("type", hm.Type, "HTTP")
	t.Equal("delay", hm.Delay, 5)
	t.Equal("timeout", hm.Timeout, 3)
	t.Equal("max_retries", hm.MaxRetries, 2)
	t.Equal("max_retries_down", hm.MaxRetriesDown, 4)
	t.Equal("url_path", hm.URLPath, "/healthz")
	t.Equal("http_method", hm.HTTPMethod, "HEAD")
	t.Equal("expected_codes", hm.ExpectedCodes, "200-204")
	t.Equal("pools", hm.Pools, []monitors.PoolID{{ID: w.web}})
	t.Equal("project_id", hm.ProjectID, t.o.project)
	w.hm = hm.ID
	t.WaitLB(w.lb)
	p, err := pools.Get(t.lb, w.web).Extract()
	t.Must(err, "get pool")
	t.Equal("the pool's healthmonitor_id", p.MonitorID, w.hm)

	t.Step("health monitor update")
	hm, err = monitors.Update(t.lb, w.hm, monitors.UpdateOpts{
		Delay: 7, Timeout: 4, MaxRetriesDown: 5, URLPath: "/ready", HTTPMethod: "GET",
		ExpectedCodes: "200", Name: ptr("web-check2"),
	}).Extract()
	t.Must(err, "update health monitor")
	t.Equal("provisioning_status after update", hm.ProvisioningStatus, "PENDING_UPDATE")
	t.WaitLB(w.lb)
	hm, err = monitors.Get(t.lb, w.hm).Extract()
	t.Must(err, "get health monitor")
	t.Equal("name", hm.Name, "web-check2")
	t.Equal("delay", hm.Delay, 7)
	t.Equal("timeout", hm.Timeout, 4)
	t.Equal("max_retries (kept)", hm.MaxRetries, 2)
	t.Equal("max_retries_down", hm.MaxRetriesDown, 5)
	t.Equal("url_path", hm.URLPath, "/ready")
	t.Equal("http_method", hm.HTTPMethod, "GET")
	t.Equal("expected_codes", hm.ExpectedCodes, "200")

	t.Step("health monitor create (TCP); list")
	hm, err = monitors.Create(t.lb, monitors.CreateOpts{
		PoolID: w.tcpPool, Type: monitors.TypeTCP, Delay: 3, Timeout: 2, MaxRetries: 3,
		Name: "tcp-check",
	}).Extract()
	t.Must(err, "create TCP health monitor")
	t.Equal("max_retries_down (default)", hm.MaxRetriesDown, 3)
	w.hmTCP = hm.ID
	t.WaitLB(w.lb)
	byName := monitors.ListOpts{ProjectID: t.o.project, Limit: 1, SortKey: "name"}
	t.Equal("monitors by name, limit 1", monitorIDs(t.listMonitors(byName)),
		[]string{w.hmTCP, w.hm})
	t.Equal("type=TCP", monitorIDs(t.listMonitors(monitors.ListOpts{Type: "TCP"})),
		[]string{w.hmTCP})
	t.Equal("pool_id filter", monitorIDs(t.listMonitors(monitors.ListOpts{PoolID: w.web})),
		[]string{w.hm})
	t.Equal("delay=7", monitorIDs(t.listMonitors(monitors.ListOpts{Delay: 7})),
		[]string{w.hm})
}

func (t *T) listPolicies(opts l7policies.ListOpts) []l7policies.L7Policy {
	return all(t, "L7 policies", l7policies.List(t.lb, opts), l7policies.ExtractL7Policies)
}

func policyIDs(xs []l7policies.L7Policy) []string {
	return ids(xs, func(x l7policies.L7Policy) string { return x.ID })
}

func (t *T) listRules(policy string, opts l7policies.ListRulesOpts) []l7policies.Rule {
	return all(t, "L7 rules", l7policies.ListRules(t.lb, policy, opts), l7policies.ExtractRules)
}

func ruleIDs(xs []l7policies.Rule) []string {
	return ids(xs, func(x l7policies.Rule) string { return x.ID })
}

func (t *T) position(policy string) int32 {
	p, err := l7policies.Get(t.lb, policy).Extract()
	t.Must(err, "get L7 policy")
	return p.Position
}

func (t *T) l7(w *world) {
	t.Step("L7 policies: create at positions")
	p, err := l7policies.Create(t.lb, l7policies.CreateOpts{
		ListenerID: w.http, Action: l7policies.ActionRedirectToPool, RedirectPoolID: w.api,
		Name: "to-api", Description: "the API", Position: 1,
	}).Extract()
	t.Must(err, "create REDIRECT_TO_POOL policy")
	t.Equal("provisioning_status", p.ProvisioningStatus, "PENDING_CREATE")
	t.Equal("action", p.Action, "REDIRECT_TO_POOL")
	t.Equal("redirect_pool_id", p.RedirectPoolID, w.api)
	t.Equal("listener_id", p.ListenerID, w.http)
	t.Equal("position", p.Position, int32(1))
	t.Equal("rules", len(p.Rules), 0)
	w.toAPI = p.ID
	t.WaitLB(w.lb)
	p, err = l7policies.Create(t.lb, l7policies.CreateOpts{
		ListenerID: w.http, Action: l7policies.ActionReject, Name: "deny", Position: 1,
	}).Extract()
	t.Must(err, "create REJECT policy")
	w.deny = p.ID
	t.WaitLB(w.lb)
	t.Equal("position of the policy pushed down", t.position(w.toAPI), int32(2))
	p, err = l7policies.Create(t.lb, l7policies.CreateOpts{
		ListenerID: w.http, Action: l7policies.ActionRedirectToURL,
		RedirectURL: "https://www.example.org/moved", Name: "moved",
	}).Extract()
	t.Must(err, "create REDIRECT_TO_URL policy")
	t.Equal("position (appended)", p.Position, int32(3))
	t.Equal("redirect_url", p.RedirectURL, "https://www.example.org/moved")
	w.moved = p.ID
	t.WaitLB(w.lb)

	t.Step("L7 rules: create, get, update")
	r, err := l7policies.CreateRule(t.lb, w.toAPI, l7policies.CreateRuleOpts{
		RuleType: l7policies.TypePath, CompareType: l7policies.CompareTypeStartWith,
		Value: "/api"}).Extract()
	t.Must(err, "create PATH rule")
	t.Equal("provisioning_status", r.ProvisioningStatus, "PENDING_CREATE")
	t.Equal("type", r.RuleType, "PATH")
	t.Equal("compare_type", r.CompareType, "STARTS_WITH")
	t.Equal("value", r.Value, "/api")
	t.Equal("invert", r.Invert, false)
	w.rPath = r.ID
	t.WaitLB(w.lb)
	r, err = l7policies.CreateRule(t.lb, w.toAPI, l7policies.CreateRuleOpts{
		RuleType: l7policies.TypeHeader, CompareType: l7policies.CompareTypeEqual,
		Key: "X-Version", Value: "2", Invert: true}).Extract()
	t.Must(err, "create HEADER rule")
	w.rHeader = r.ID
	t.WaitLB(w.lb)
	r, err = l7policies.GetRule(t.lb, w.toAPI, w.rHeader).Extract()
	t.Must(err, "get rule")
	t.Equal("key", r.Key, "X-Version")
	t.Equal("invert", r.Invert, true)
	t.Equal("project_id", r.ProjectID, t.o.project)
	r, err = l7policies.UpdateRule(t.lb, w.toAPI, w.rHeader, l7policies.UpdateRuleOpts{
		RuleType: l7policies.TypeHostName, CompareType: l7policies.CompareTypeEndWith,
		Value: ".example.org", Key: ptr(""), Invert: ptr(false)}).Extract()
	t.Must(err, "update rule HEADER -> HOST_NAME (key: null)")
	t.Equal("provisioning_status after update", r.ProvisioningStatus, "PENDING_UPDATE")
	t.WaitLB(w.lb)
	r, err = l7policies.GetRule(t.lb, w.toAPI, w.rHeader).Extract()
	t.Must(err, "get rule")
	t.Equal("type", r.RuleType, "HOST_NAME")
	t.Equal("compare_type", r.CompareType, "ENDS_WITH")
	t.Equal("key (cleared)", r.Key, "")
	t.Equal("invert", r.Invert, false)

	t.Step("L7 rules: list, filter, pagination")
	byValue := l7policies.ListRulesOpts{Limit: 1, SortKey: "value", SortDir: "asc"}
	t.Equal("rules by value, limit 1", ruleIDs(t.listRules(w.toAPI, byValue)),
		[]string{w.rHeader, w.rPath})
	sizes := pageSizes(t, l7policies.ListRules(t.lb, w.toAPI, byValue), l7policies.ExtractRules)
	t.Equal("page sizes", sizes, []int{1, 1})
	t.Equal("type=PATH", ruleIDs(t.listRules(w.toAPI, l7policies.ListRulesOpts{
		RuleType: l7policies.TypePath})), []string{w.rPath})
	p, err = l7policies.Get(t.lb, w.toAPI).Extract()
	t.Must(err, "get policy")
	t.Equal("the policy's rules", sorted(ids(p.Rules, func(x l7policies.Rule) string {
		return x.ID
	})), sorted([]string{w.rPath, w.rHeader}))

	t.Step("L7 policy update: REDIRECT_TO_URL -> REDIRECT_TO_POOL (redirect_url: null)")
	p, err = l7policies.Update(t.lb, w.moved, l7policies.UpdateOpts{
		Action: l7policies.ActionRedirectToPool, RedirectPoolID: ptr(w.api),
		RedirectURL: ptr(""), Position: 1, Name: ptr("moved-to-api"),
	}).Extract()
	t.Must(err, "update policy")
	t.Equal("provisioning_status after update", p.ProvisioningStatus, "PENDING_UPDATE")
	t.WaitLB(w.lb)
	p, err = l7policies.Get(t.lb, w.moved).Extract()
	t.Must(err, "get policy")
	t.Equal("action", p.Action, "REDIRECT_TO_POOL")
	t.Equal("redirect_pool_id", p.RedirectPoolID, w.api)
	t.Equal("redirect_url (cleared)", p.RedirectURL, "")
	t.Equal("position", p.Position, int32(1))

	t.Step("L7 policy list: order, filters, pagination")
	byPosition := l7policies.ListOpts{ListenerID: w.http, Limit: 1, SortKey: "position",
		SortDir: "asc"}
	all := t.listPolicies(byPosition)
	t.Equal("policies by position, limit 1", policyIDs(all),
		[]string{w.moved, w.deny, w.toAPI})
	t.Equal("positions", ids(all, func(x l7policies.L7Policy) int32 { return x.Position }),
		[]int32{1, 2, 3})
	t.Equal("action=REJECT", policyIDs(t.listPolicies(l7policies.ListOpts{
		Action: "REJECT"})), []string{w.deny})
	t.Equal("redirect_pool_id filter", sorted(policyIDs(t.listPolicies(l7policies.ListOpts{
		RedirectPoolID: w.api}))), sorted([]string{w.moved, w.toAPI}))

	l, err := listeners.Get(t.lb, w.http).Extract()
	t.Must(err, "get listener")
	t.Equal("the listener's l7policies", sorted(policyIDs(l.L7Policies)),
		sorted([]string{w.moved, w.deny, w.toAPI}))

	t.Step("L7 rule and policy delete")
	t.DeleteAndWait("rule "+w.rPath, w.lb, func() error {
		return l7policies.DeleteRule(t.lb, w.toAPI, w.rPath).ExtractErr()
	}, func() error {
		_, err := l7policies.GetRule(t.lb, w.toAPI, w.rPath).Extract()
		return err
	})
	t.DeleteAndWait("policy "+w.deny, w.lb, func() error {
		return l7policies.Delete(t.lb, w.deny).ExtractErr()
	}, func() error {
		_, err := l7policies.Get(t.lb, w.deny).Extract()
		return err
	})
	t.Equal("positions after the delete", ids(t.listPolicies(l7policies.ListOpts{
		ListenerID: w.http, SortKey: "position"}), func(x l7policies.L7Policy) string {
		return x.ID
	}), []string{w.moved, w.toAPI})
	t.Equal("position of the last policy", t.position(w.toAPI), int32(2))
}
