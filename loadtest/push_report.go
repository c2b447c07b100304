package loadtest

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// writePush prints the push campaign's part of the summary.
func writePush(w io.Writer, p *PushReport) {
	if p == nil {
		return
	}
	fmt.Fprintf(w, "push: task %d to %s: %d devices (%d APNs, %d FCM) set up in %.1f s; /push/notify answered in %.1f ms\n",
		p.TaskID, p.Audience, p.Devices, p.APNs, p.FCM, p.SetupSeconds, p.NotifyMs)
	fmt.Fprintf(w, "  campaign %.2f s: %.0f push/s (APNs %.0f/s, FCM %.0f/s); reached %d, lost %d, duplicates %d, unexpected %d\n",
		p.Seconds, p.PushRate, p.APNsRate, p.FCMRate, p.Reached, p.Lost, p.Duplicates, p.Unexpected)
	fmt.Fprintf(w, "  notify->push    %s\n", p.Reach)
	for _, prov := range sortedKeys(p.Fake) {
		f := p.Fake[prov]
		var st []string
		codes := make([]int, 0, len(f.ByStatus))
		for c := range f.ByStatus {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		for _, c := range codes {
			st = append(st, fmt.Sprintf("%d=%d", c, f.ByStatus[c]))
		}
		fmt.Fprintf(w, "  fake %-4s: %d requests, %d accepted, %d tokens; statuses %s\n", prov, f.Requests, f.Accepted, f.Tokens, strings.Join(st, " "))
	}
	if len(p.Task) > 0 {
		var parts []string
		for _, k := range sortedKeys(p.Task) {
			if v, ok := p.Task[k].(float64); ok && v != 0 {
				parts = append(parts, fmt.Sprintf("%s=%.0f", k, v))
			}
		}
		fmt.Fprintf(w, "  task: state=%v %s\n", p.Task["state"], strings.Join(parts, " "))
	}
}
