//go:build unix

package loadtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// raiseNoFile raises the soft RLIMIT_NOFILE to the hard limit and checks
// that need descriptors fit. It returns the soft limit in force.
func raiseNoFile(need int) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			lim = raised
		}
	}
	if uint64(need) > lim.Cur {
		return lim.Cur, fmt.Errorf("this run needs %d open files (%d sockets plus headroom) but RLIMIT_NOFILE is %d (hard limit %d); "+
			"raise it (ulimit -n / LimitNOFILE) or lower -connections", need, need-fdHeadroom, lim.Cur, lim.Max)
	}
	return lim.Cur, nil
}

// selfUsage is this process's CPU time (user + system) and peak RSS.
func selfUsage() (cpu float64, maxRSS int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	// ru_maxrss is in KiB on Linux (bytes on macOS; this harness reports
	// Linux numbers).
	return tv(ru.Utime) + tv(ru.Stime), int64(ru.Maxrss) * 1024
}

// machineBusySeconds is the CPU time all cores spent outside idle and
// iowait since boot, from /proc/stat; 0 where there is none.
func machineBusySeconds() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, v := range f[1:] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0
		}
		// Fields: user nice system idle iowait irq softirq steal guest
		// guest_nice; guest time is already in user.
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	// USER_HZ is 100 on every Linux this runs on.
	return busy / 100
}
