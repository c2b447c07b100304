package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisInfo is the part of Redis INFO a load test cares about.
type redisInfo struct {
	at              time.Time
	usedMemory      float64
	usedMemoryRSS   float64
	cpuSeconds      float64 // used_cpu_sys + used_cpu_user of the server
	clients         float64
	commands        float64 // total_commands_processed
	keys            float64
	instantaneousOp float64
}

func readRedisInfo(ctx context.Context, rdb redis.UniversalClient) (*redisInfo, error) {
	// The default section set holds everything below and, unlike a list of
	// sections, works on Redis before 7.
	s, err := rdb.Info(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("redis INFO: %w", err)
	}
	return parseRedisInfo(s), nil
}

// parseRedisInfo reads the "key:value" lines of INFO; unknown lines are
// ignored because their set changes between Redis versions.
func parseRedisInfo(s string) *redisInfo {
	info := &redisInfo{at: time.Now()}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if strings.HasPrefix(k, "db") {
			// db0:keys=12,expires=3,avg_ttl=0
			for _, kv := range strings.Split(v, ",") {
				if n, ok := strings.CutPrefix(kv, "keys="); ok {
					f, _ := strconv.ParseFloat(n, 64)
					info.keys += f
				}
			}
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		switch k {
		case "used_memory":
			info.usedMemory = f
		case "used_memory_rss":
			info.usedMemoryRSS = f
		case "used_cpu_sys", "used_cpu_user":
			info.cpuSeconds += f
		case "connected_clients":
			info.clients = f
		case "total_commands_processed":
			info.commands = f
		case "instantaneous_ops_per_sec":
			info.instantaneousOp = f
		}
	}
	return info
}

// RedisReport is what Redis spent during a run.
type RedisReport struct {
	Addr               string  `json:"addr"`
	UsedMemoryBefore   float64 `json:"used_memory_before_bytes"`
	UsedMemoryAfter    float64 `json:"used_memory_after_bytes"`
	UsedMemoryRSSAfter float64 `json:"used_memory_rss_after_bytes"`
	CPUSeconds         float64 `json:"cpu_seconds"`
	CPUPercent         float64 `json:"cpu_percent"`
	Commands           float64 `json:"commands"`
	CommandsPerSecond  float64 `json:"commands_per_second"`
	ClientsAfter       float64 `json:"clients_after"`
	KeysAfter          float64 `json:"keys_after"`
	Error              string  `json:"error,omitempty"`
}

func redisReport(addr string, before, after *redisInfo) RedisReport {
	r := RedisReport{Addr: addr}
	if before == nil || after == nil {
		return r
	}
	el := after.at.Sub(before.at).Seconds()
	r.UsedMemoryBefore = before.usedMemory
	r.UsedMemoryAfter = after.usedMemory
	r.UsedMemoryRSSAfter = after.usedMemoryRSS
	r.CPUSeconds = after.cpuSeconds - before.cpuSeconds
	r.Commands = after.commands - before.commands
	r.ClientsAfter = after.clients
	r.KeysAfter = after.keys
	if el > 0 {
		r.CPUPercent = 100 * r.CPUSeconds / el
		r.CommandsPerSecond = r.Commands / el
	}
	return r
}
