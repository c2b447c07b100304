// Command benchgroups measures the group membership operations of a
// running admin process: /group/invite of 500 users at a time (filling
// groups of -members users) and /group/member_list paging through such a
// group. It prints latency percentiles and the admin process's and
// Redis's CPU per operation (from /proc). scripts/bench-groups.sh starts
// the processes and runs it; BENCHMARKS.md has the results.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/store"
)

func main() {
	base := flag.String("base", "", "REST API base URL")
	app := flag.String("app", "bench", "app id")
	secret := flag.String("secret", "", "app secret")
	redisAddr := flag.String("redis", "", "Redis address (users are created directly in the store)")
	apiPID := flag.Int("api-pid", 0, "admin process id (CPU, RSS)")
	redisPID := flag.Int("redis-pid", 0, "redis-server process id (CPU), 0: not measured")
	members := flag.Int("members", 10_000, "members per group")
	batch := flag.Int("invite", 500, "users per /group/invite")
	groups := flag.Int("groups", 2, "groups to fill")
	walks := flag.Int("walks", 20, "full /group/member_list walks")
	limit := flag.Int("limit", 1000, "member_list page size")
	flag.Parse()
	if *groups < 1 || *members < 2 || *batch < 1 || *walks < 1 || *limit < 1 {
		fmt.Fprintln(os.Stderr, "benchgroups: -groups, -invite, -walks, -limit must be positive and -members at least 2")
		os.Exit(2)
	}
	if err := run(*base, *app, *secret, *redisAddr, *apiPID, *redisPID, *members, *batch, *groups, *walks, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "benchgroups:", err)
		os.Exit(1)
	}
}

type client struct {
	hc         *http.Client
	base, app  string
	adminToken string
}

func (c *client) call(method, path string, actAs int64, body any) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header["app_id"] = []string{c.app}
	req.Header["access-token"] = []string{c.adminToken}
	req.Header["user_id"] = []string{strconv.FormatInt(actAs, 10)}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	var env struct {
		Code int `json:"code"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Code != 200 {
		return nil, fmt.Errorf("%s %s: %.200s", method, path, raw)
	}
	return raw, nil
}

type usage struct{ api, redis float64 } // CPU seconds

func cpuSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func report(name string, lat []time.Duration, before, after usage, apiPID int) {
	if len(lat) == 0 {
		fmt.Printf("%s: no requests\n", name)
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	n := float64(len(lat))
	fmt.Printf("%s: %d requests, p50 %v, p90 %v, p99 %v, max %v; admin CPU %.1f ms/request, Redis CPU %.1f ms/request, admin RSS %.0f MiB\n",
		name, len(lat), pct(.5).Round(10*time.Microsecond), pct(.9).Round(10*time.Microsecond),
		pct(.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond),
		1000*(after.api-before.api)/n, 1000*(after.redis-before.redis)/n, rssMiB(apiPID))
}

func run(base, app, secret, redisAddr string, apiPID, redisPID, members, batch, groups, walks, limit int) error {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	st := store.New(rdb, store.Options{})
	tok, err := auth.Issue([]byte(secret), app, auth.RoleAdmin, 0, time.Hour, time.Now())
	if err != nil {
		return err
	}
	c := &client{hc: &http.Client{Timeout: time.Minute}, base: base, app: app, adminToken: tok}
	measure := func() usage { return usage{cpuSeconds(apiPID), cpuSeconds(redisPID)} }

	// Users, straight into the store (registration is not what is measured).
	uids := make([]int64, members)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	run := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < members; i += 8 {
				u, err := st.CreateUser(ctx, app, store.NewUser{Username: fmt.Sprintf("bg%s_%d", run, i), PasswordHash: "x"}, time.Now())
				if err != nil {
					errs <- err
					return
				}
				uids[i] = u
			}
		}(w)
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	owner := uids[0]
	fmt.Printf("%d users created\n", members)

	var gids []int64
	for g := 0; g < groups; g++ {
		raw, err := c.call("POST", "/group/create", owner, map[string]any{"name": fmt.Sprintf("bench %d", g)})
		if err != nil {
			return err
		}
		var res struct {
			Data struct {
				GroupID int64 `json:"group_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			return err
		}
		gids = append(gids, res.Data.GroupID)
	}

	// /group/invite of batch users, until each group has members.
	var lat []time.Duration
	before := measure()
	for _, gid := range gids {
		for i := 1; i < members; i += batch {
			end := min(i+batch, members)
			t0 := time.Now()
			raw, err := c.call("POST", "/group/invite", owner, map[string]any{"group_id": gid, "user_list": uids[i:end]})
			if err != nil {
				return err
			}
			lat = append(lat, time.Since(t0))
			if n := strings.Count(string(raw), `"success"`); n != end-i {
				return fmt.Errorf("invite: %d of %d succeeded: %.300s", n, end-i, raw)
			}
		}
	}
	report(fmt.Sprintf("POST /group/invite (%d users, groups filled to %d)", batch, members), lat, before, measure(), apiPID)

	// /group/member_list paging.
	lat = lat[:0]
	before = measure()
	for w := 0; w < walks; w++ {
		cursor, seen := "", 0
		for {
			path := fmt.Sprintf("/group/member_list?group_id=%d&limit=%d", gids[0], limit)
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			t0 := time.Now()
			raw, err := c.call("GET", path, owner, nil)
			if err != nil {
				return err
			}
			lat = append(lat, time.Since(t0))
			var page struct {
				Data   []json.RawMessage `json:"data"`
				Cursor string            `json:"cursor"`
			}
			if err := json.Unmarshal(raw, &page); err != nil {
				return err
			}
			seen += len(page.Data)
			if page.Cursor == "" {
				break
			}
			cursor = page.Cursor
		}
		if seen != members {
			return fmt.Errorf("member_list walked %d members, want %d", seen, members)
		}
	}
	report(fmt.Sprintf("GET /group/member_list (limit %d, %d-member group)", limit, members), lat, before, measure(), apiPID)
	return nil
}
