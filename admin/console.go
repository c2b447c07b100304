package admin

import (
	"embed"
	"errors"
	"io/fs"
	"mime"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/chatgate/chatgate/store"
)

// The operator console (docs/operations.md "Operator console"): static
// files under /console, which call the REST API with an app's admin token
// (kept in the browser's sessionStorage), plus the few read-only
// operations below that the Lanying API has no equivalent for.

//go:embed console/*.html console/*.js console/*.css
var consoleFiles embed.FS

const consolePath = "/console"

// Node reports older than nodeAlive are shown as lost; older than nodeKeep
// they are forgotten (store.NodeStatuses prunes them).
const (
	nodeAlive = 15 * time.Second
	nodeKeep  = 10 * time.Minute
)

// serveConsole answers GET (and HEAD) /console and the console's static
// files; it reports false for every other request, including
// /console/api/*, which are operations of the route table.
func (s *Server) serveConsole(hc *fasthttp.RequestCtx, method, p string) bool {
	if p != consolePath && !strings.HasPrefix(p, consolePath+"/") || strings.HasPrefix(p, consolePath+"/api/") {
		return false
	}
	if method != fasthttp.MethodGet && method != fasthttp.MethodHead {
		hc.Response.Header.Set("Allow", "GET, HEAD")
		hc.SetStatusCode(fasthttp.StatusMethodNotAllowed)
		return true
	}
	name := strings.TrimPrefix(p, consolePath+"/")
	if p == consolePath || name == "" {
		name = "index.html"
	}
	b, err := fs.ReadFile(consoleFiles, "console/"+path.Clean(name))
	if err != nil || strings.Contains(name, "..") {
		hc.SetStatusCode(fasthttp.StatusNotFound)
		hc.SetContentType("text/plain; charset=utf-8")
		hc.SetBodyString("not found\n")
		return true
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h := &hc.Response.Header
	hc.SetContentType(ctype)
	h.Set("Cache-Control", "no-cache")
	// Only its own files and the API: no inline script, no framing, no
	// token in Referer headers.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	hc.SetBody(b)
	return true
}

func (s *Server) consoleRoutes() []*Route {
	return []*Route{
		{Methods: []string{"GET"}, Path: "/console/api/cluster", Group: "console", Access: AccessAdmin,
			Summary: "chatgate: every process of the deployment with its roles and its own metrics (connections, owned partitions and their lag, push backlog)",
			Result:  clusterResult{}, Handle: s.consoleCluster},
		{Methods: []string{"GET"}, Path: "/console/api/user", Group: "console", Access: AccessAdmin,
			Summary: "chatgate: find a user by id, username, mobile or email; its profile and devices, with the gateway each live one is connected to",
			Query:   []Param{{Name: "q", Type: "string", Required: true, Desc: "a user id, or a username, mobile or email"}},
			Result:  consoleUser{}, Errors: []int{CodeUserNotFound}, Handle: s.consoleUser},
	}
}

// clusterResult is what /console/api/cluster answers.
type clusterResult struct {
	Partitions     int           `json:"partitions" doc:"router.partitions of this process (every process must agree)"`
	PushPartitions int           `json:"push_partitions"`
	Owned          int           `json:"owned" doc:"partitions owned by the live routers together; less than partitions: some have no router"`
	Nodes          []clusterNode `json:"nodes"`
}

type clusterNode struct {
	Node    string   `json:"node"`
	Roles   []string `json:"roles"`
	Version string   `json:"version"`
	Started int64    `json:"started" doc:"unix ms"`
	Updated int64    `json:"updated" doc:"unix ms of the process's last report (every 5 s)"`
	Alive   bool     `json:"alive" doc:"reported within the last 15 s"`
	// Figures picked out of Metrics for the console's tables.
	Connections     float64            `json:"connections" doc:"chatgate_gateway_connections"`
	PartitionsOwned float64            `json:"partitions_owned" doc:"chatgate_router_partitions_owned"`
	Lag             map[string]int64   `json:"lag" doc:"chatgate_router_ingress_lag_entries by owned partition"`
	PushBacklog     map[string]int64   `json:"push_backlog" doc:"chatgate_push_stream_backlog_entries by push stream"`
	Metrics         map[string]float64 `json:"metrics" doc:"every chatgate_ gauge and counter of the process, keyed as /metrics writes the sample"`
}

func (s *Server) consoleCluster(r *Req) (any, error) {
	now := s.now()
	sts, err := s.st.NodeStatuses(r.Ctx, now, nodeKeep)
	if err != nil {
		return nil, err
	}
	res := clusterResult{Partitions: s.deps.Partitions, PushPartitions: s.deps.PushPartitions, Nodes: []clusterNode{}}
	for _, st := range sts {
		n := clusterNode{Node: st.Node, Roles: st.Roles, Version: st.Version, Started: st.Started, Updated: st.Updated,
			Alive: now.UnixMilli()-st.Updated <= nodeAlive.Milliseconds(), Metrics: st.Metrics,
			Connections:     st.Metrics["chatgate_gateway_connections"],
			PartitionsOwned: st.Metrics["chatgate_router_partitions_owned"],
			Lag:             labelled(st.Metrics, "chatgate_router_ingress_lag_entries", "partition"),
			PushBacklog:     labelled(st.Metrics, "chatgate_push_stream_backlog_entries", "partition")}
		if n.Alive {
			res.Owned += int(n.PartitionsOwned)
		}
		res.Nodes = append(res.Nodes, n)
	}
	return res, nil
}

// labelled picks the samples of one single-label metric out of a node's
// metrics, by label value.
func labelled(m map[string]float64, name, label string) map[string]int64 {
	out := map[string]int64{}
	prefix := name + "{" + label + "=\""
	for k, v := range m {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			if val, ok := strings.CutSuffix(rest, "\"}"); ok {
				out[val] = int64(v)
			}
		}
	}
	return out
}

// consoleUser is what /console/api/user answers.
type consoleUser struct {
	UserID      int64           `json:"user_id"`
	Username    string          `json:"username"`
	Nickname    string          `json:"nick_name"`
	Mobile      string          `json:"mobile"`
	Email       string          `json:"email"`
	Description string          `json:"description"`
	Created     int64           `json:"create_time" doc:"unix ms"`
	Disabled    bool            `json:"disabled"`
	Devices     []consoleDevice `json:"devices"`
}

type consoleDevice struct {
	DeviceSN   int32  `json:"device_sn"`
	Platform   int    `json:"platform" doc:"1 ios, 2 android, 3 windows, 4 mac, 5 linux, 6 web; 0 unknown"`
	Online     bool   `json:"online"`
	Node       string `json:"node" doc:"the gateway holding the live connection; empty when offline"`
	Background bool   `json:"background" doc:"the live connection said it is in background (pushes still go out)"`
	LastSeen   int64  `json:"last_seen" doc:"unix ms of the last authentication, 0 if never"`
	PushToken  bool   `json:"push_token" doc:"a push token is registered (the token itself is not shown)"`
	Notifier   string `json:"notifier"`
}

func (s *Server) consoleUser(r *Req) (any, error) {
	q, err := r.QueryString("q", "")
	if err != nil {
		return nil, err
	}
	q = strings.TrimSpace(q)
	if q == "" || len(q) > 256 {
		return nil, BadParam("q", "a user id, username, mobile or email of 1-256 bytes")
	}
	uid, err := s.findUser(r, q)
	if err != nil {
		return nil, err
	}
	u, err := s.st.GetUser(r.Ctx, r.App.ID, uid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errf(CodeUserNotFound, "no user %q", clip(q))
	}
	if err != nil {
		return nil, err
	}
	recips, err := s.st.LookupRecipients(r.Ctx, r.App.ID, []int64{uid}, s.now())
	if err != nil {
		return nil, err
	}
	res := consoleUser{UserID: u.ID, Username: u.Username, Nickname: u.Nickname, Mobile: u.Mobile, Email: u.Email,
		Description: u.Description, Created: u.Created, Disabled: u.Disabled, Devices: []consoleDevice{}}
	byDev := map[int32]*consoleDevice{}
	for _, d := range recips[0].Devices {
		byDev[d.SN] = &consoleDevice{DeviceSN: d.SN, Platform: d.Platform, LastSeen: d.LastSeen, PushToken: d.PushToken != "", Notifier: d.Notifier}
	}
	for _, rt := range recips[0].Routes {
		d := byDev[rt.Device]
		if d == nil {
			d = &consoleDevice{DeviceSN: rt.Device}
			byDev[rt.Device] = d
		}
		d.Online, d.Node, d.Background = true, rt.Node, rt.BG
	}
	for _, d := range byDev {
		res.Devices = append(res.Devices, *d)
	}
	sort.Slice(res.Devices, func(i, j int) bool { return res.Devices[i].DeviceSN < res.Devices[j].DeviceSN })
	return res, nil
}

// findUser resolves q: a user id when it is the id of a user (a username
// is never all digits), else a username, mobile (digits too) or email.
func (s *Server) findUser(r *Req, q string) (int64, error) {
	if id, err := strconv.ParseInt(q, 10, 64); err == nil && id > 0 {
		state, err := s.st.UserState(r.Ctx, r.App.ID, id)
		if err != nil {
			return 0, err
		}
		if state != store.UserMissing {
			return id, nil
		}
	}
	for _, ident := range []string{"username", "mobile", "email"} {
		uid, err := s.st.LookupIdent(r.Ctx, r.App.ID, ident, q)
		if err == nil {
			return uid, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
	}
	return 0, Errf(CodeUserNotFound, "no user with id, username, mobile or email %q", clip(q))
}
