//go:build !unix

package loadtest

// raiseNoFile has nothing to raise where there is no RLIMIT_NOFILE.
func raiseNoFile(need int) (uint64, error) { return uint64(need), nil }

// selfUsage is not measured on this platform.
func selfUsage() (cpu float64, maxRSS int64) { return 0, 0 }

// machineBusySeconds is not measured on this platform.
func machineBusySeconds() float64 { return 0 }
