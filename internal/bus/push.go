package bus

import "strconv"

// PushPartition maps a user to one of n push partitions. Every push job of
// one user goes to the same partition, so a push worker sees them in order
// (badge counts, collapsing) whichever process produced them.
func PushPartition(app string, user int64, n int) int {
	// FNV-1a inline: this runs once per pushed device, and the hash.Hash
	// interface of hash/fnv would allocate.
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(app); i++ {
		h = (h ^ uint32(app[i])) * prime
	}
	h *= prime // the 0 separator, as in Partition
	var buf [20]byte
	for _, c := range strconv.AppendInt(buf[:0], user, 10) {
		h = (h ^ uint32(c)) * prime
	}
	return int(h % uint32(n))
}
