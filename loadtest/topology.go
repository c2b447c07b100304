package loadtest

import (
	"sync"

	"github.com/chatgate/chatgate/protocol"
)

// topology places a run's users and devices: user i has id UserBase+i,
// devices 1..k, all connected to the user's gateway. Device index
// i*k + (sn-1) names a device everywhere in the harness.
type topology struct {
	ids    []int64
	userGW []int
	k      int
	nGW    int
}

// chatTopology puts the two users of pair p on different gateways: user 2p
// on gateway p mod n and user 2p+1 on the next one, so that every 1:1
// message crosses gateways and both directions are used evenly.
func chatTopology(c Config, nGW int) *topology {
	t := newTopology(c, nGW)
	for u := range t.ids {
		t.userGW[u] = (u/2 + u%2) % nGW
	}
	return t
}

// roundRobinTopology spreads users over the gateways in turn, so that the
// members of any group of consecutive users land on every gateway.
func roundRobinTopology(c Config, nGW int) *topology {
	t := newTopology(c, nGW)
	for u := range t.ids {
		t.userGW[u] = u % nGW
	}
	return t
}

func newTopology(c Config, nGW int) *topology {
	n := c.Users()
	t := &topology{ids: make([]int64, n), userGW: make([]int, n), k: c.DevicesPerUser, nGW: nGW}
	for u := range t.ids {
		t.ids[u] = c.UserBase + int64(u)
	}
	return t
}

func (t *topology) users() int   { return len(t.ids) }
func (t *topology) devices() int { return len(t.ids) * t.k }

// device is the key of device index i.
func (t *topology) device(i int) DeviceKey {
	return DeviceKey{User: t.ids[i/t.k], Device: int32(i%t.k) + 1}
}

// deviceGW is the gateway index device i connects to.
func (t *topology) deviceGW(i int) int { return t.userGW[i/t.k] }

// appendUserDevices appends the devices of user u except device index skip.
func (t *topology) appendUserDevices(dst []DeviceKey, u, skip int) []DeviceKey {
	for d := 0; d < t.k; d++ {
		if u*t.k+d != skip {
			dst = append(dst, t.device(u*t.k+d))
		}
	}
	return dst
}

// sendPlan is one message of a traffic scenario: who sends it, to whom, and
// which devices must receive it (the ledger's targets).
type sendPlan struct {
	from    int // device index
	toUser  int64
	toGroup int64
	conv    string
	targets []DeviceKey
}

// planner turns the n-th event of the schedule into a send.
type planner interface {
	plan(n int64) sendPlan
	// maxDeviceRate is the highest send rate of any one device when the
	// whole run sends rate messages per second.
	maxDeviceRate(rate float64) float64
	// senders is how many distinct devices send.
	senders() int
	// sender is the device index of plan(n).from, cheaply.
	sender(n int64) int
}

// chatPlanner sends 1:1 messages from the first `sending` users, each to
// its pair partner, rotating over every device of the sender.
type chatPlanner struct {
	t       *topology
	sending int
	// targets[i] are the devices a message from device i must reach: every
	// device of the partner and the sender's other devices.
	targets [][]DeviceKey
}

func newChatPlanner(t *topology, sending int) *chatPlanner {
	if sending <= 0 || sending > t.users() {
		sending = t.users()
	}
	p := &chatPlanner{t: t, sending: sending, targets: make([][]DeviceKey, t.devices())}
	for i := range p.targets {
		u := i / t.k
		tg := make([]DeviceKey, 0, 2*t.k-1)
		tg = t.appendUserDevices(tg, u^1, -1)
		p.targets[i] = t.appendUserDevices(tg, u, i)
	}
	return p
}

func (p *chatPlanner) plan(n int64) sendPlan {
	u := int(n % int64(p.sending))
	d := int(n/int64(p.sending)) % p.t.k
	from := u*p.t.k + d
	peer := p.t.ids[u^1]
	return sendPlan{
		from:    from,
		toUser:  peer,
		conv:    protocol.ConvID(p.t.ids[u], peer, 0),
		targets: p.targets[from],
	}
}

func (p *chatPlanner) maxDeviceRate(rate float64) float64 {
	return rate / float64(p.sending*p.t.k)
}

func (p *chatPlanner) senders() int { return p.sending * p.t.k }

// groupPlanner sends to groups in turn; within a group the members take
// turns, and within a member its devices. Group g has the members
// (g*size + j) mod users for j < size: consecutive users, so with a round-
// robin topology every group spans every gateway.
type groupPlanner struct {
	t      *topology
	size   int
	groups int
	base   int64
	mu     sync.Mutex
	// cache holds the targets of (group, sending device), built on first
	// use: most runs touch only a fraction of the combinations, and all of
	// them at once would be groups x size^2 x devices^2 keys.
	cache map[[2]int][]DeviceKey
}

func newGroupPlanner(t *topology, size, groups int, base int64) *groupPlanner {
	return &groupPlanner{t: t, size: size, groups: groups, base: base, cache: map[[2]int][]DeviceKey{}}
}

// member is the user index of the j-th member of group g.
func (p *groupPlanner) member(g, j int) int { return (g*p.size + j) % p.t.users() }

// members returns the user ids of group g.
func (p *groupPlanner) members(g int) []int64 {
	out := make([]int64, p.size)
	for j := range out {
		out[j] = p.t.ids[p.member(g, j)]
	}
	return out
}

func (p *groupPlanner) gid(g int) int64 { return p.base + int64(g) }

func (p *groupPlanner) plan(n int64) sendPlan {
	g := int(n % int64(p.groups))
	j := int(n/int64(p.groups)) % p.size
	d := int(n/int64(p.groups*p.size)) % p.t.k
	from := p.member(g, j)*p.t.k + d
	gid := p.gid(g)
	return sendPlan{from: from, toGroup: gid, conv: protocol.ConvID(0, 0, gid), targets: p.targetsOf(g, from)}
}

func (p *groupPlanner) targetsOf(g, from int) []DeviceKey {
	key := [2]int{g, from}
	p.mu.Lock()
	defer p.mu.Unlock()
	if tg, ok := p.cache[key]; ok {
		return tg
	}
	tg := make([]DeviceKey, 0, p.size*p.t.k-1)
	for j := 0; j < p.size; j++ {
		tg = p.t.appendUserDevices(tg, p.member(g, j), from)
	}
	p.cache[key] = tg
	return tg
}

func (p *groupPlanner) maxDeviceRate(rate float64) float64 {
	// A user in m groups sends m times per cycle of groups*size events.
	in := make([]int, p.t.users())
	most := 0
	for g := 0; g < p.groups; g++ {
		for j := 0; j < p.size; j++ {
			u := p.member(g, j)
			in[u]++
			most = max(most, in[u])
		}
	}
	return rate * float64(most) / float64(p.groups*p.size*p.t.k)
}

func (p *groupPlanner) senders() int {
	return min(p.groups*p.size, p.t.users()) * p.t.k
}

// sender is the device index that sends event n, without building the
// rest of the plan: a worker process skips the events of other workers'
// devices with it.
func (p *chatPlanner) sender(n int64) int {
	u := int(n % int64(p.sending))
	d := int(n/int64(p.sending)) % p.t.k
	return u*p.t.k + d
}

func (p *groupPlanner) sender(n int64) int {
	g := int(n % int64(p.groups))
	j := int(n/int64(p.groups)) % p.size
	d := int(n/int64(p.groups*p.size)) % p.t.k
	return p.member(g, j)*p.t.k + d
}

// mixedPlanner interleaves 1:1 and group sends: event n is a group send
// when it carries the running share of group sends over a whole number
// (floor((n+1)s) > floor(ns)), so groups get exactly share s of any long
// enough stretch, evenly spread, and each sub-planner sees its own events
// numbered 0, 1, 2, ... as if it ran alone.
type mixedPlanner struct {
	chat  *chatPlanner
	group *groupPlanner
	share float64
}

// split says whether event n goes to the groups and its number within its
// sub-planner.
func (p *mixedPlanner) split(n int64) (group bool, k int64) {
	before := int64(float64(n) * p.share)
	after := int64(float64(n+1) * p.share)
	if after > before {
		return true, before
	}
	return false, n - before
}

func (p *mixedPlanner) plan(n int64) sendPlan {
	g, k := p.split(n)
	if g {
		return p.group.plan(k)
	}
	return p.chat.plan(k)
}

func (p *mixedPlanner) sender(n int64) int {
	g, k := p.split(n)
	if g {
		return p.group.sender(k)
	}
	return p.chat.sender(k)
}

func (p *mixedPlanner) maxDeviceRate(rate float64) float64 {
	// A device may both chat and be in groups; the sum bounds it.
	return p.chat.maxDeviceRate(rate*(1-p.share)) + p.group.maxDeviceRate(rate*p.share)
}

func (p *mixedPlanner) senders() int { return p.chat.senders() }
