package loadtest

import (
	"math"
	"slices"
	"strconv"
	"testing"
	"time"
)

func topoConfig(conns, devices int) Config {
	c := DefaultConfig()
	c.Connections, c.DevicesPerUser, c.UserBase = conns, devices, 100
	return c
}

func TestChatTopologyCrossesGateways(t *testing.T) {
	for _, nGW := range []int{2, 3, 5} {
		topo := chatTopology(topoConfig(40, 2), nGW)
		perGW := make([]int, nGW)
		for u := 0; u < topo.users(); u += 2 {
			if topo.userGW[u] == topo.userGW[u+1] {
				t.Fatalf("%d gateways: pair %d/%d on one gateway", nGW, u, u+1)
			}
		}
		for i := 0; i < topo.devices(); i++ {
			perGW[topo.deviceGW(i)]++
		}
		for g, n := range perGW {
			if n == 0 {
				t.Fatalf("%d gateways: gateway %d gets no device", nGW, g)
			}
		}
	}
}

func TestChatPlanner(t *testing.T) {
	topo := chatTopology(topoConfig(8, 2), 2) // users 100..103, 2 devices each
	p := newChatPlanner(topo, 0)
	if p.senders() != 8 {
		t.Fatalf("senders %d, want 8", p.senders())
	}
	sent := map[int]int{}
	for n := int64(0); n < 8; n++ {
		sp := p.plan(n)
		sent[sp.from]++
		from := topo.device(sp.from)
		wantTo := topo.ids[(sp.from/2)^1]
		if sp.toUser != wantTo || sp.toGroup != 0 {
			t.Fatalf("event %d: %s sends to %d, want its partner %d", n, from, sp.toUser, wantTo)
		}
		// Every device of the partner plus the sender's other device, never
		// the sender itself.
		if len(sp.targets) != 3 || slices.Contains(sp.targets, from) {
			t.Fatalf("event %d from %s: targets %v", n, from, sp.targets)
		}
		other := DeviceKey{User: from.User, Device: 3 - from.Device}
		if !slices.Contains(sp.targets, other) {
			t.Fatalf("event %d: sender's other device %s is not a target: %v", n, other, sp.targets)
		}
		lo, hi := min(from.User, wantTo), max(from.User, wantTo)
		if sp.conv != "u:"+itoa(lo)+":"+itoa(hi) {
			t.Fatalf("conv %q", sp.conv)
		}
	}
	if len(sent) != 8 {
		t.Fatalf("8 events used %d distinct devices, want all 8: %v", len(sent), sent)
	}
	if got := p.maxDeviceRate(800); got != 100 {
		t.Fatalf("max device rate %v, want 100", got)
	}
}

func TestGroupPlanner(t *testing.T) {
	topo := roundRobinTopology(topoConfig(12, 1), 3) // users 100..111 on 3 gateways
	p := newGroupPlanner(topo, 6, 3, 500)            // 18 member slots over 12 users: overlap
	for g := 0; g < 3; g++ {
		gws := map[int]bool{}
		for j := 0; j < 6; j++ {
			gws[topo.userGW[p.member(g, j)]] = true
		}
		if len(gws) != 3 {
			t.Fatalf("group %d spans %d gateways, want 3", g, len(gws))
		}
	}
	sp := p.plan(4) // group 1, second member
	if sp.toGroup != 501 || sp.conv != "g:501" {
		t.Fatalf("plan(4) = %+v", sp)
	}
	from := topo.device(sp.from)
	if len(sp.targets) != 5 || slices.Contains(sp.targets, from) {
		t.Fatalf("targets of a 6-member group from %s: %v", from, sp.targets)
	}
	if again := p.plan(4); &again.targets[0] != &sp.targets[0] {
		t.Fatal("targets of the same (group, sender) are rebuilt instead of shared")
	}
	// Users 0..5 are in groups 0 and 2, so they send twice per cycle of 18.
	if got, want := p.maxDeviceRate(180), 20.0; math.Abs(got-want) > 1e-9 {
		t.Fatalf("max device rate %v, want %v", got, want)
	}
	if m := p.members(2); m[0] != 100 || m[5] != 105 {
		t.Fatalf("group 2 members %v, want to wrap to 100..105", m)
	}
}

func TestLT(t *testing.T) {
	now := time.Unix(1732500000, 123456789)
	got, ok := parseLT(formatLT(now))
	if !ok || got != now.UnixNano() {
		t.Fatalf("round trip: %v %v", got, ok)
	}
	for _, bad := range []string{"", "{}", `{"lt":}`, `{"lt":-5}`, `{"lt":12`, `{"lt":"12"}`, `{"x":1,"lt":5}`} {
		if _, ok := parseLT(bad); ok {
			t.Errorf("parseLT(%q) accepted", bad)
		}
	}
}

func TestIDAt(t *testing.T) {
	epoch := time.UnixMilli(idEpochMs)
	if idAt(epoch.Add(-time.Hour)) != 0 {
		t.Fatal("id before the epoch is not 0")
	}
	if got := idAt(epoch.Add(time.Second)); got != 1000<<22 {
		t.Fatalf("idAt(epoch+1s) = %d", got)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
