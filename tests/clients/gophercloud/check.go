package main

import (
	"fmt"
	"net"
	"os"
	"reflect"
	"sort"
	"time"

	"github.com/gophercloud/gophercloud"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/pagination"
)

// T carries the clients and the step being run; every failure ends the program.
type T struct {
	lb, net, keys *gophercloud.ServiceClient
	o             options
	step          string
	checks        int
}

func (t *T) Step(name string) {
	t.step = name
	fmt.Printf("--- %s\n", name)
}

func (t *T) Fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL [%s]: %s\n", t.step, fmt.Sprintf(format, args...))
	os.Exit(1)
}

// Check fails the scenario unless ok.
func (t *T) Check(ok bool, format string, args ...interface{}) {
	t.checks++
	if !ok {
		t.Fatalf(format, args...)
	}
}

// Must fails the scenario on a call's error.
func (t *T) Must(err error, call string) {
	t.checks++
	if err != nil {
		t.Fatalf("%s: %v", call, err)
	}
}

// Equal compares with reflect.DeepEqual.
func (t *T) Equal(what string, got, want interface{}) {
	t.Check(reflect.DeepEqual(got, want), "%s: got %#v, want %#v", what, got, want)
}

// Status checks that a call failed with the HTTP status code `want`.
func (t *T) Status(err error, want int, call string) {
	t.checks++
	if err == nil {
		t.Fatalf("%s: succeeded, want HTTP %d", call, want)
	}
	coded, ok := err.(gophercloud.StatusCodeError)
	if !ok {
		t.Fatalf("%s: %T %v, want HTTP %d", call, err, err, want)
	}
	if coded.GetStatusCode() != want {
		t.Fatalf("%s: HTTP %d (%v), want %d", call, coded.GetStatusCode(), err, want)
	}
}

// IsNotFound is how Terraform's provider tells a deleted resource: gophercloud's 404 type.
func IsNotFound(err error) bool {
	_, ok := err.(gophercloud.ErrDefault404)
	return ok
}

// Recent checks a timestamp the client parsed: set and not in the future by more than
// clock skew, nor older than an hour.
func (t *T) Recent(what string, at time.Time) {
	now := time.Now().UTC()
	t.Check(!at.IsZero(), "%s: no timestamp", what)
	t.Check(at.After(now.Add(-time.Hour)) && at.Before(now.Add(time.Minute)),
		"%s: %v is not a time of this run (now %v)", what, at, now)
}

// WaitLB polls the load balancer until it is ACTIVE, as Terraform's provider does after
// every change (its StateChangeConf: pending PENDING_*, target ACTIVE, ERROR fails).
func (t *T) WaitLB(id string) *loadbalancers.LoadBalancer {
	deadline := time.Now().Add(t.o.timeout)
	for {
		lb, err := loadbalancers.Get(t.lb, id).Extract()
		if err != nil {
			t.Fatalf("waiting for load balancer %s: %v", id, err)
		}
		switch lb.ProvisioningStatus {
		case "ACTIVE":
			t.checks++
			return lb
		case "ERROR":
			t.Fatalf("load balancer %s went to ERROR", id)
		}
		if time.Now().After(deadline) {
			t.Fatalf("load balancer %s still %s after %v", id, lb.ProvisioningStatus, t.o.timeout)
		}
		time.Sleep(t.o.poll)
	}
}

// WaitGone polls get() until it answers 404 (the resource is deleted).
func (t *T) WaitGone(what string, get func() error) {
	deadline := time.Now().Add(t.o.timeout)
	for {
		err := get()
		if IsNotFound(err) {
			t.checks++
			return
		}
		if err != nil {
			t.Fatalf("waiting for %s to go: %v", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there after %v", what, t.o.timeout)
		}
		time.Sleep(t.o.poll)
	}
}

// all lists every page of a pager, following the "<plural>_links" next hrefs as
// AllPages does, and extracts the resources.
func all[R any](t *T, what string, pager pagination.Pager,
	extract func(pagination.Page) ([]R, error)) []R {
	pages, err := pager.AllPages()
	t.Must(err, "list "+what)
	xs, err := extract(pages)
	t.Must(err, "extract "+what)
	return xs
}

// pageSizes walks a pager page by page and returns the size of each page.
func pageSizes[R any](t *T, pager pagination.Pager,
	extract func(pagination.Page) ([]R, error)) []int {
	var sizes []int
	err := pager.EachPage(func(page pagination.Page) (bool, error) {
		xs, err := extract(page)
		sizes = append(sizes, len(xs))
		return true, err
	})
	t.Must(err, "walk pages")
	return sizes
}

// DeleteAndWait deletes with del, waits for the load balancer lb (if any) to be ACTIVE
// again and for get to answer 404.
func (t *T) DeleteAndWait(what, lb string, del func() error, get func() error) {
	t.Must(del(), "delete "+what)
	if lb != "" {
		t.WaitLB(lb)
	}
	t.WaitGone(what, get)
}

// HostIn is the address `n` places into the CIDR.
func (t *T) HostIn(cidr string, n int) string {
	_, ipnet, err := net.ParseCIDR(cidr)
	t.Must(err, "parse CIDR "+cidr)
	ip := make(net.IP, len(ipnet.IP))
	copy(ip, ipnet.IP)
	for i := len(ip) - 1; i >= 0 && n > 0; i-- {
		sum := int(ip[i]) + n
		ip[i] = byte(sum % 256)
		n = sum / 256
	}
	return ip.String()
}

func sorted(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}

func ptr[V any](v V) *V { return &v }

// ids maps a list of resources to one attribute each (their ids, mostly), in order.
func ids[R, V any](xs []R, id func(R) V) []V {
	out := make([]V, 0, len(xs))
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}
