// Command portus-gophercloud drives a whole load-balancer scenario against a portus
// endpoint with gophercloud, the Go library under Terraform's OpenStack provider and
// Kubernetes' cloud-provider-openstack, used unchanged: clients built the way those tools
// build them (openstack.NewLoadBalancerV2 and friends on a ProviderClient whose endpoint
// locator plays the service catalog), pagination through AllPages, waits by polling.
//
// It exits 0 after printing "gophercloud scenario: N checks passed", or 1 with
// "FAIL [step]: what" on stderr at the first call that fails or value that is wrong.
//
// Build it in GOPATH mode against Debian's gophercloud (no network needed):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o portus-gophercloud .
//
// Flags (each also read from the environment variable in brackets):
//
//	-endpoint [PORTUS_ENDPOINT]          portus's base URL, e.g. http://127.0.0.1:9876
//	-subnet [PORTUS_VIP_SUBNET]          the id of the subnet VIPs are taken from
//	-member-subnet [PORTUS_MEMBER_SUBNET] another subnet's id for a member (default: -subnet)
//	-project [PORTUS_PROJECT]            the project the scenario works in
//	-timeout, -poll                      how long one wait may take, how often it polls
//	-amphorae                            also exercise the admin amphora API (needs amphorae)
//
// The project must start empty, with the default (unlimited) quotas: the scenario
// counts what it lists and sets, then resets, the project's quota.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud"
	"github.com/gophercloud/gophercloud/openstack"
)

type options struct {
	endpoint     string
	subnet       string
	memberSubnet string
	project      string
	timeout      time.Duration
	poll         time.Duration
	amphorae     bool
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.endpoint, "endpoint", env("PORTUS_ENDPOINT", "http://127.0.0.1:9876"),
		"portus's base URL")
	flag.StringVar(&o.subnet, "subnet", env("PORTUS_VIP_SUBNET", ""), "VIP subnet id")
	flag.StringVar(&o.memberSubnet, "member-subnet", env("PORTUS_MEMBER_SUBNET", ""),
		"a second subnet id for a member (default: the VIP subnet)")
	flag.StringVar(&o.project, "project", env("PORTUS_PROJECT", "p-gophercloud"), "project id")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long one wait may take")
	flag.DurationVar(&o.poll, "poll", 50*time.Millisecond, "how often a wait polls")
	flag.BoolVar(&o.amphorae, "amphorae", true, "exercise the admin amphora API")
	flag.Parse()
	if o.subnet == "" {
		fmt.Fprintln(os.Stderr, "portus-gophercloud: -subnet (or PORTUS_VIP_SUBNET) is required")
		os.Exit(2)
	}
	if o.memberSubnet == "" {
		o.memberSubnet = o.subnet
	}
	return o
}

// catalog answers gophercloud's endpoint look-ups as a Keystone catalog would: one
// endpoint per service type. portus serves its small networking part under /networking/.
func catalog(base string) gophercloud.EndpointLocator {
	base = strings.TrimRight(base, "/") + "/"
	return func(eo gophercloud.EndpointOpts) (string, error) {
		switch eo.Type {
		case "load-balancer", "key-manager":
			return base, nil
		case "network":
			return base + "networking/", nil
		}
		return "", fmt.Errorf("no %q service in this catalog", eo.Type)
	}
}

func newClients(o options) (*T, error) {
	provider, err := openstack.NewClient(o.endpoint)
	if err != nil {
		return nil, err
	}
	provider.EndpointLocator = catalog(o.endpoint) // no Keystone: no token either
	eo := gophercloud.EndpointOpts{}
	lb, err := openstack.NewLoadBalancerV2(provider, eo)
	if err != nil {
		return nil, err
	}
	network, err := openstack.NewNetworkV2(provider, eo)
	if err != nil {
		return nil, err
	}
	keys, err := openstack.NewKeyManagerV1(provider, eo)
	if err != nil {
		return nil, err
	}
	// noauth: the project comes from this header, as with Octavia's noauth.
	for _, c := range []*gophercloud.ServiceClient{lb, network, keys} {
		c.MoreHeaders = map[string]string{"X-Project-Id": o.project}
	}
	return &T{lb: lb, net: network, keys: keys, o: o}, nil
}

func main() {
	o := parseFlags()
	t, err := newClients(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL [clients]: %v\n", err)
		os.Exit(1)
	}
	start := time.Now()
	runScenario(t)
	fmt.Printf("gophercloud scenario: %d checks passed in %.1fs\n", t.checks,
		time.Since(start).Seconds())
}
