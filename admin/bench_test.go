package admin_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkUserSettings measures GET /user/settings, the cheap
// authenticated read, through a real socket to the shared server:
//
//	go test ./admin -run '^$' -bench UserSettings -benchtime 20000x
//
// scripts/bench-api.sh measures the same with wrk against a separate
// process; this one exists for profiling (-cpuprofile).
func BenchmarkUserSettings(b *testing.B) {
	t := &testing.T{}
	e := newEnv(t)
	e.t = t
	r := e.ok("POST", "/user/register/v2", map[string]string{"access-token": ""}, map[string]string{"username": "bench_user", "password": "pw"})
	var reg struct {
		UserID int64 `json:"user_id"`
	}
	r.into(t, &reg)
	tok := e.userToken(reg.UserID)
	c := &fasthttp.HostClient{Addr: strings.TrimPrefix(e.base, "http://"), MaxConns: 64,
		Dial: func(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(res)
		req.SetRequestURI(e.base + "/user/settings")
		req.Header.Set("app_id", e.app)
		req.Header.Set("access-token", tok)
		for pb.Next() {
			if err := c.Do(req, res); err != nil || !strings.Contains(string(res.Body()), `"code":200`) {
				b.Fatalf("%v %s", err, res.Body())
			}
		}
	})
}
